-- Every version of every resource. seq, the store-wide write order, is the rowid:
-- history pages scan it directly and max(seq) is O(1). Instants are UTC
-- milliseconds since the epoch, the precision of FHIR instants here.
-- Distribution: the key is (type, id); sharding on the patient compartment needs
-- a patient key column that the search issue adds, and seq is a global order.
CREATE TABLE resource_versions (
	seq     INTEGER PRIMARY KEY,
	type    TEXT    NOT NULL,
	id      TEXT    NOT NULL,
	version INTEGER NOT NULL,
	updated INTEGER NOT NULL,
	deleted INTEGER NOT NULL,
	body    BLOB,
	UNIQUE (type, id, version)
);
CREATE INDEX resource_versions_type_seq ON resource_versions (type, seq);

-- The current version of each resource, for reads and search.
CREATE TABLE resources (
	type    TEXT    NOT NULL,
	id      TEXT    NOT NULL,
	version INTEGER NOT NULL,
	updated INTEGER NOT NULL,
	deleted INTEGER NOT NULL,
	seq     INTEGER NOT NULL,
	PRIMARY KEY (type, id),
	FOREIGN KEY (type, id, version) REFERENCES resource_versions (type, id, version)
) WITHOUT ROWID;
CREATE INDEX resources_type_updated ON resources (type, updated);
CREATE INDEX resources_updated ON resources (updated);
