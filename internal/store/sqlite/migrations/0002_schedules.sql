-- Alarm schedules (store.Schedules). One row per trigger with an alarm feed.
-- next_fire is 0 for a schedule that is never due (paused, expired,
-- disabled). owner and lease_until are the claim of the process firing it:
-- a claim is one UPDATE under the write lock, so two processes never fire
-- the same due row; a lease that ran out (its holder died) is claimable
-- again, which makes a missed fire happen once, late, rather than never.
CREATE TABLE schedules (
    namespace    TEXT NOT NULL,
    trigger_name TEXT NOT NULL,
    config       BLOB NOT NULL,
    status       BLOB NOT NULL,
    next_fire    INTEGER NOT NULL DEFAULT 0,
    rev          INTEGER NOT NULL,
    owner        TEXT,
    lease_until  INTEGER,
    updated      INTEGER NOT NULL,
    PRIMARY KEY (namespace, trigger_name)
);
CREATE INDEX schedules_due ON schedules (next_fire) WHERE next_fire > 0;
