-- Initial schema. Times are epoch milliseconds; JSON documents are stored as
-- bytea: they are opaque to SQL except for the columns pulled out for
-- indexing, and bytea costs no parsing on the way in or out.

CREATE TABLE namespaces (
    name     text PRIMARY KEY,
    subject  text NOT NULL,
    uuid     text NOT NULL UNIQUE,
    key_hash text NOT NULL,
    limits   text NOT NULL DEFAULT '{}',
    created  bigint NOT NULL
);

-- Actions, packages, triggers and rules share one key space per path, as in
-- OpenWhisk where the document id is path/name: the primary key makes a
-- create in another collection under a taken name a conflict.
CREATE TABLE entities (
    path       text NOT NULL,
    name       text NOT NULL,
    collection text NOT NULL,
    namespace  text NOT NULL,
    rev        bigint NOT NULL,
    updated    bigint NOT NULL,
    publish    boolean NOT NULL DEFAULT false,
    body       bytea NOT NULL,
    PRIMARY KEY (path, name)
);
-- Both listing shapes (whole namespace, one package) read in the order they
-- return, so a page costs its length, not the collection's size.
CREATE INDEX entities_by_namespace ON entities (namespace, collection, updated DESC, name);
CREATE INDEX entities_by_path ON entities (path, collection, updated DESC, name);

-- activation_id is the primary key: the one record per accepted activation
-- of RELIABILITY.md (P3) is this constraint, and writers insert with
-- ON CONFLICT DO NOTHING so that a rerun after a redelivery keeps the first.
--
-- An activation is found by name the way OpenWhisk's activations view keys
-- it: a record of a packaged action (or one run through a binding) only under
-- pkg_name "pkg/name", any other only under its bare name. So the two name
-- indexes are partial and disjoint.
--
-- seq breaks ties between records started in the same millisecond (later
-- insert first). Every listing index ends in (start DESC, seq DESC), the
-- order of a page, so a page of a namespace with millions of records is read
-- from the front of one index with no sort.
CREATE TABLE activations (
    activation_id text PRIMARY KEY,
    seq           bigint GENERATED ALWAYS AS IDENTITY,
    namespace     text NOT NULL,
    name          text NOT NULL,
    pkg_name      text,
    start         bigint NOT NULL,
    doc           bytea NOT NULL
);
CREATE INDEX activations_by_start ON activations (namespace, start DESC, seq DESC);
CREATE INDEX activations_by_name ON activations (namespace, name, start DESC, seq DESC)
    WHERE pkg_name IS NULL;
CREATE INDEX activations_by_pkg_name ON activations (namespace, pkg_name, start DESC, seq DESC)
    WHERE pkg_name IS NOT NULL;

-- The durable queue of the single-process bus, for parity with the SQLite
-- store; a cluster carries accepted work on JetStream instead.
CREATE TABLE queue (
    id           text PRIMARY KEY,
    seq          bigint GENERATED ALWAYS AS IDENTITY,
    body         bytea NOT NULL,
    attempts     integer NOT NULL DEFAULT 0,
    owner        text,
    lease_until  bigint,
    available_at bigint NOT NULL,
    enqueued     bigint NOT NULL
);
CREATE INDEX queue_by_age ON queue (enqueued, seq);
CREATE INDEX queue_by_owner ON queue (owner) WHERE owner IS NOT NULL;
