-- Users, OAuth clients and token signing keys (store.Accounts): JSON documents
-- beside the resources, never reachable through the FHIR API. The audit trail
-- has a database file of its own (audit/).
CREATE TABLE accounts (
	kind    TEXT    NOT NULL,
	name    TEXT    NOT NULL,
	body    BLOB    NOT NULL,
	updated INTEGER NOT NULL,
	PRIMARY KEY (kind, name)
) WITHOUT ROWID;
