-- Alarm schedules (store.Schedules), shared by every controller of a
-- cluster. next_fire is 0 for a schedule that is never due. owner and
-- lease_until are the claim of the process firing it: a claim is one
-- UPDATE … FOR UPDATE SKIP LOCKED, so two processes never fire the same due
-- row, and a lease that ran out (its holder died) is claimable again.
CREATE TABLE schedules (
    namespace    text NOT NULL,
    trigger_name text NOT NULL,
    config       bytea NOT NULL,
    status       bytea NOT NULL,
    next_fire    bigint NOT NULL DEFAULT 0,
    rev          bigint NOT NULL,
    owner        text,
    lease_until  bigint,
    updated      bigint NOT NULL,
    PRIMARY KEY (namespace, trigger_name)
);
CREATE INDEX schedules_due ON schedules (next_fire) WHERE next_fire > 0;
