-- Index rows keyed by k = seq << 20 | n, the rowid, where n numbers the rows of
-- one resource in one table (package sqlstore, rowKeyBits). A resource's rows
-- are then one range of the table itself: the (seq, param) indexes go (a third
-- of the B-tree inserts of a write), and every value index, whose entries end
-- in the rowid, yields a row's seq (k >> 20) without reading the row.
-- Existing rows are renumbered in their earlier order.
-- idx_date_hi is not rebuilt: only equal dates drive a search, from lo.

CREATE TABLE idx_string_k (
	k     INTEGER PRIMARY KEY,
	type  TEXT    NOT NULL,
	param TEXT    NOT NULL,
	grp   INTEGER NOT NULL,
	value TEXT NOT NULL,
	exact TEXT NOT NULL
);
INSERT INTO idx_string_k (k, type, param, grp, value, exact)
	SELECT (seq << 20) + row_number() OVER (PARTITION BY seq ORDER BY rowid) - 1, type, param, grp, value, exact FROM idx_string;
DROP TABLE idx_string;
ALTER TABLE idx_string_k RENAME TO idx_string;
CREATE INDEX idx_string_value ON idx_string (type, param, value) WHERE grp >= 0;

CREATE TABLE idx_token_k (
	k     INTEGER PRIMARY KEY,
	type  TEXT    NOT NULL,
	param TEXT    NOT NULL,
	grp   INTEGER NOT NULL,
	system TEXT NOT NULL,
	code TEXT NOT NULL,
	text TEXT NOT NULL,
	type_system TEXT NOT NULL,
	type_code TEXT NOT NULL
);
INSERT INTO idx_token_k (k, type, param, grp, system, code, text, type_system, type_code)
	SELECT (seq << 20) + row_number() OVER (PARTITION BY seq ORDER BY rowid) - 1, type, param, grp, system, code, text, type_system, type_code FROM idx_token;
DROP TABLE idx_token;
ALTER TABLE idx_token_k RENAME TO idx_token;
CREATE INDEX idx_token_code ON idx_token (type, param, code, system) WHERE grp >= 0;

CREATE TABLE idx_reference_k (
	k     INTEGER PRIMARY KEY,
	type  TEXT    NOT NULL,
	param TEXT    NOT NULL,
	grp   INTEGER NOT NULL,
	ref_type TEXT NOT NULL,
	ref_id TEXT NOT NULL,
	url TEXT NOT NULL,
	ident_system TEXT NOT NULL,
	ident_value TEXT NOT NULL
);
INSERT INTO idx_reference_k (k, type, param, grp, ref_type, ref_id, url, ident_system, ident_value)
	SELECT (seq << 20) + row_number() OVER (PARTITION BY seq ORDER BY rowid) - 1, type, param, grp, ref_type, ref_id, url, ident_system, ident_value FROM idx_reference;
DROP TABLE idx_reference;
ALTER TABLE idx_reference_k RENAME TO idx_reference;
CREATE INDEX idx_reference_target ON idx_reference (ref_id, ref_type, type, param) WHERE grp >= 0;
CREATE INDEX idx_reference_url ON idx_reference (type, param, url) WHERE grp >= 0 AND url <> '';
CREATE INDEX idx_reference_ident ON idx_reference (type, param, ident_value) WHERE grp >= 0 AND ident_value <> '';

CREATE TABLE idx_date_k (
	k     INTEGER PRIMARY KEY,
	type  TEXT    NOT NULL,
	param TEXT    NOT NULL,
	grp   INTEGER NOT NULL,
	lo INTEGER NOT NULL,
	hi INTEGER NOT NULL
);
INSERT INTO idx_date_k (k, type, param, grp, lo, hi)
	SELECT (seq << 20) + row_number() OVER (PARTITION BY seq ORDER BY rowid) - 1, type, param, grp, lo, hi FROM idx_date;
DROP TABLE idx_date;
ALTER TABLE idx_date_k RENAME TO idx_date;
CREATE INDEX idx_date_lo ON idx_date (type, param, lo) WHERE grp >= 0;

CREATE TABLE idx_number_k (
	k     INTEGER PRIMARY KEY,
	type  TEXT    NOT NULL,
	param TEXT    NOT NULL,
	grp   INTEGER NOT NULL,
	value REAL NOT NULL,
	lo REAL NOT NULL,
	hi REAL NOT NULL
);
INSERT INTO idx_number_k (k, type, param, grp, value, lo, hi)
	SELECT (seq << 20) + row_number() OVER (PARTITION BY seq ORDER BY rowid) - 1, type, param, grp, value, lo, hi FROM idx_number;
DROP TABLE idx_number;
ALTER TABLE idx_number_k RENAME TO idx_number;
CREATE INDEX idx_number_value ON idx_number (type, param, value) WHERE grp >= 0;

CREATE TABLE idx_quantity_k (
	k     INTEGER PRIMARY KEY,
	type  TEXT    NOT NULL,
	param TEXT    NOT NULL,
	grp   INTEGER NOT NULL,
	system TEXT NOT NULL,
	code TEXT NOT NULL,
	value REAL NOT NULL,
	canon_code TEXT NOT NULL,
	canon_value REAL NOT NULL
);
INSERT INTO idx_quantity_k (k, type, param, grp, system, code, value, canon_code, canon_value)
	SELECT (seq << 20) + row_number() OVER (PARTITION BY seq ORDER BY rowid) - 1, type, param, grp, system, code, value, canon_code, canon_value FROM idx_quantity;
DROP TABLE idx_quantity;
ALTER TABLE idx_quantity_k RENAME TO idx_quantity;
CREATE INDEX idx_quantity_value ON idx_quantity (type, param, value) WHERE grp >= 0;
CREATE INDEX idx_quantity_canon ON idx_quantity (type, param, canon_code, canon_value) WHERE grp >= 0;

CREATE TABLE idx_uri_k (
	k     INTEGER PRIMARY KEY,
	type  TEXT    NOT NULL,
	param TEXT    NOT NULL,
	grp   INTEGER NOT NULL,
	uri TEXT NOT NULL
);
INSERT INTO idx_uri_k (k, type, param, grp, uri)
	SELECT (seq << 20) + row_number() OVER (PARTITION BY seq ORDER BY rowid) - 1, type, param, grp, uri FROM idx_uri;
DROP TABLE idx_uri;
ALTER TABLE idx_uri_k RENAME TO idx_uri;
CREATE INDEX idx_uri_value ON idx_uri (type, param, uri) WHERE grp >= 0;
-- The planner's statistics of the dropped indexes went with them.
PRAGMA analysis_limit = 2000;
ANALYZE;
