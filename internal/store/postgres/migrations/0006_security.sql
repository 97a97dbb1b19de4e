-- Users, OAuth clients and token signing keys (store.Accounts): JSON documents
-- beside the resources, never reachable through the FHIR API.
CREATE TABLE accounts (
	kind    text   NOT NULL,
	name    text   NOT NULL,
	body    bytea  NOT NULL,
	updated bigint NOT NULL,
	PRIMARY KEY (kind, name)
);

-- The audit trail (store.AuditLog): numbered without gaps, each entry's hash
-- chained to its predecessor's. patients lists the entry's patients, space-
-- separated; audit_patients indexes them. The triggers refuse edits and deletes through
-- SQL; the hash chain detects those made around them.
CREATE TABLE audit_log (
	seq      bigint PRIMARY KEY,
	recorded bigint NOT NULL,
	agent    text   NOT NULL,
	patients text   NOT NULL,
	body     bytea  NOT NULL,
	hash     bytea  NOT NULL
);
CREATE INDEX audit_log_agent ON audit_log (agent, seq);
CREATE INDEX audit_log_recorded ON audit_log (recorded);
CREATE TABLE audit_patients (
	patient text   NOT NULL,
	seq     bigint NOT NULL,
	PRIMARY KEY (patient, seq)
);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
	FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
