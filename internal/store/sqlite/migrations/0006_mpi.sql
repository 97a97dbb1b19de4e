-- The master patient index (store.MPI, package empi). mpi_record holds, per
-- indexed Patient, the record it was linked with (JSON) and the Person it
-- belongs to; mpi_key its blocking keys (rule number, 64-bit hash of the
-- key); mpi_pair the pairs under review and the decisions people made;
-- mpi_state named documents such as the trained model.
CREATE TABLE mpi_record (
	patient TEXT    NOT NULL PRIMARY KEY,
	person  TEXT    NOT NULL,
	body    BLOB    NOT NULL,
	updated INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX mpi_record_person ON mpi_record (person);
CREATE TABLE mpi_key (
	rule    INTEGER NOT NULL,
	key     INTEGER NOT NULL,
	patient TEXT    NOT NULL,
	PRIMARY KEY (rule, key, patient)
) WITHOUT ROWID;
CREATE INDEX mpi_key_patient ON mpi_key (patient);
CREATE TABLE mpi_pair (
	a           TEXT    NOT NULL,
	b           TEXT    NOT NULL,
	status      TEXT    NOT NULL,
	probability REAL    NOT NULL,
	evidence    BLOB    NOT NULL,
	decided_by  TEXT    NOT NULL,
	created     INTEGER NOT NULL,
	decided     INTEGER NOT NULL,
	PRIMARY KEY (a, b)
) WITHOUT ROWID;
CREATE INDEX mpi_pair_status ON mpi_pair (status, created);
CREATE INDEX mpi_pair_b ON mpi_pair (b);
CREATE TABLE mpi_state (
	name    TEXT    NOT NULL PRIMARY KEY,
	body    BLOB    NOT NULL,
	updated INTEGER NOT NULL
) WITHOUT ROWID;
