-- Entity revisions come from one store-wide sequence, so that a revision
-- names one version of one entity for good: an action deleted and created
-- again under its name must not get its old revision back, or an invoker
-- would hand it a warm sandbox that runs the deleted code.
CREATE SEQUENCE entity_revision;
SELECT setval('entity_revision', (SELECT COALESCE(MAX(rev), 0) + 1 FROM entities), false);
