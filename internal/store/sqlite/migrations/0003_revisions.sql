-- Entity revisions come from one store-wide counter, so that a revision
-- names one version of one entity for good: an action deleted and created
-- again under its name must not get its old revision back, or an invoker
-- would hand it a warm sandbox that runs the deleted code.
CREATE TABLE entity_revision (last INTEGER NOT NULL);
INSERT INTO entity_revision (last) SELECT COALESCE(MAX(rev), 0) FROM entities;
