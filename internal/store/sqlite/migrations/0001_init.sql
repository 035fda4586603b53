-- Initial schema. Times are epoch milliseconds; JSON documents are stored as
-- BLOBs and are opaque to SQL except for the columns pulled out for indexing.

CREATE TABLE namespaces (
    name     TEXT PRIMARY KEY,
    subject  TEXT NOT NULL,
    uuid     TEXT NOT NULL UNIQUE,
    key_hash TEXT NOT NULL,
    limits   TEXT NOT NULL DEFAULT '{}',
    created  INTEGER NOT NULL
);

-- Actions, packages, triggers and rules share one key space per path, as in
-- OpenWhisk where the document id is path/name: the primary key makes a
-- create in another collection under a taken name a conflict.
CREATE TABLE entities (
    path       TEXT NOT NULL,
    name       TEXT NOT NULL,
    collection TEXT NOT NULL,
    namespace  TEXT NOT NULL,
    rev        INTEGER NOT NULL,
    updated    INTEGER NOT NULL,
    publish    INTEGER NOT NULL DEFAULT 0,
    body       BLOB NOT NULL,
    PRIMARY KEY (path, name)
);
-- Both listing shapes (whole namespace, one package) read in the order they
-- return, so a page costs its length, not the collection's size.
CREATE INDEX entities_by_namespace ON entities (namespace, collection, updated DESC, name);
CREATE INDEX entities_by_path ON entities (path, collection, updated DESC, name);

-- An activation is found by name the way OpenWhisk's activations view keys
-- it: a record of a packaged action (or one run through a binding) only under
-- pkg_name "pkg/name", any other only under its bare name. So the two name
-- indexes are partial and disjoint.
--
-- seq is an explicit rowid so that the tie-break between activations started
-- in the same millisecond (insertion order) survives VACUUM. Lists read
-- "start DESC, seq DESC": these ascending indexes, whose entries all end in
-- seq, give exactly that order scanned backwards, where a DESC start column
-- would not (the implicit seq suffix stays ascending).
CREATE TABLE activations (
    seq       INTEGER PRIMARY KEY,
    id        TEXT NOT NULL UNIQUE,
    namespace TEXT NOT NULL,
    name      TEXT NOT NULL,
    pkg_name  TEXT,
    start     INTEGER NOT NULL,
    doc       BLOB NOT NULL
);
CREATE INDEX activations_by_start ON activations (namespace, start);
CREATE INDEX activations_by_name ON activations (namespace, name, start)
    WHERE pkg_name IS NULL;
CREATE INDEX activations_by_pkg_name ON activations (namespace, pkg_name, start)
    WHERE pkg_name IS NOT NULL;

CREATE TABLE queue (
    seq          INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    body         BLOB NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    owner        TEXT,
    lease_until  INTEGER,
    available_at INTEGER NOT NULL,
    enqueued     INTEGER NOT NULL
);
CREATE INDEX queue_by_age ON queue (enqueued);
