-- The master patient index (store.MPI, package empi). mpi_record holds, per
-- indexed Patient, the record it was linked with (JSON) and the Person it
-- belongs to; mpi_key its blocking keys (rule number, 64-bit hash of the
-- key); mpi_pair the pairs under review and the decisions people made;
-- mpi_state named documents such as the trained model.
CREATE TABLE mpi_record (
	patient text   NOT NULL PRIMARY KEY,
	person  text   NOT NULL,
	body    bytea  NOT NULL,
	updated bigint NOT NULL
);
CREATE INDEX mpi_record_person ON mpi_record (person);
CREATE TABLE mpi_key (
	rule    smallint NOT NULL,
	key     bigint   NOT NULL,
	patient text     NOT NULL,
	PRIMARY KEY (rule, key, patient)
);
CREATE INDEX mpi_key_patient ON mpi_key (patient);
CREATE TABLE mpi_pair (
	a           text             NOT NULL,
	b           text             NOT NULL,
	status      text             NOT NULL,
	probability double precision NOT NULL,
	evidence    bytea            NOT NULL,
	decided_by  text             NOT NULL,
	created     bigint           NOT NULL,
	decided     bigint           NOT NULL,
	PRIMARY KEY (a, b)
);
CREATE INDEX mpi_pair_status ON mpi_pair (status, created);
CREATE INDEX mpi_pair_b ON mpi_pair (b);
CREATE TABLE mpi_state (
	name    text   NOT NULL PRIMARY KEY,
	body    bytea  NOT NULL,
	updated bigint NOT NULL
);
