-- The store-wide write order. A transaction reserves a block of 64 numbers
-- per nextval (seqBlock in postgres.go) and numbers its writes from it, so
-- commits may land slightly out of seq order and there are gaps; history
-- cursors only need it increasing.
CREATE SEQUENCE resource_seq INCREMENT BY 64;

-- Every version of every resource. Instants are UTC milliseconds since the
-- epoch, the precision of FHIR instants here, identical to the SQLite backend.
-- body is bytea to keep the exact JSON bytes as stored.
-- Distribution (Citus): the key is (type, id) today; sharding on the patient
-- compartment needs a patient key column (added with compartment search) in
-- both primary keys and in the foreign key. resource_seq and the seq index
-- stay global: system-level history is a cross-shard merge on seq.
CREATE TABLE resource_versions (
	type    text    NOT NULL,
	id      text    NOT NULL,
	version bigint  NOT NULL,
	updated bigint  NOT NULL,
	deleted boolean NOT NULL,
	body    bytea,
	seq     bigint  NOT NULL,
	PRIMARY KEY (type, id, version)
);
CREATE INDEX resource_versions_seq ON resource_versions (seq);
CREATE INDEX resource_versions_type_seq ON resource_versions (type, seq);

-- The current version of each resource, for reads and search; Put locks its row.
CREATE TABLE resources (
	type    text    NOT NULL,
	id      text    NOT NULL,
	version bigint  NOT NULL,
	updated bigint  NOT NULL,
	deleted boolean NOT NULL,
	seq     bigint  NOT NULL,
	PRIMARY KEY (type, id),
	FOREIGN KEY (type, id, version) REFERENCES resource_versions (type, id, version)
);
CREATE INDEX resources_type_updated ON resources (type, updated);
CREATE INDEX resources_updated ON resources (updated);
