-- The audit trail lives in a file of its own beside the database (hip.db →
-- hip-audit.db): in WAL mode every commit makes the other connections drop
-- their page cache, and an audit record is written for nearly every read, so
-- in the main file it made every search read its pages anew.
-- The audit trail (store.AuditLog): numbered without gaps, each entry's hash
-- chained to its predecessor's. patients lists the entry's patients, space-
-- separated; audit_patients indexes them. The triggers refuse edits and deletes through
-- SQL; the hash chain detects those made around them.
CREATE TABLE audit_log (
	seq      INTEGER PRIMARY KEY,
	recorded INTEGER NOT NULL,
	agent    TEXT    NOT NULL,
	patients TEXT    NOT NULL,
	body     BLOB    NOT NULL,
	hash     BLOB    NOT NULL
);
CREATE INDEX audit_log_agent ON audit_log (agent, seq);
CREATE INDEX audit_log_recorded ON audit_log (recorded);
CREATE TABLE audit_patients (
	patient TEXT    NOT NULL,
	seq     INTEGER NOT NULL,
	PRIMARY KEY (patient, seq)
) WITHOUT ROWID;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
