-- Search indexes: one table per kind of search parameter value, holding the rows
-- that package search's Indexer extracts from the current version of each
-- resource. A row is keyed by the head's seq (unique: every version has its own),
-- so an update or delete drops the old rows by one integer and joins to
-- resources stay on an integer key. type repeats the resource type so that the
-- (type, param, value) indexes select one type's rows without a join.
-- grp is 0 for plain rows. The component values of one composite entry are
-- stored under param "<composite code>$<component index>" with grp g > 0 for
-- the first component and -g for the others, so composite search reuses the
-- matching of each component's kind: it finds the first component by value
-- and the others by (seq, grp). The value indexes leave the others out
-- (WHERE grp >= 0), as no search starts from them.
-- Distribution: these tables would be co-located with resources on the same
-- patient key; today they are keyed like resources.
CREATE UNIQUE INDEX resources_seq ON resources (seq);

CREATE TABLE idx_string (
	seq   INTEGER NOT NULL,
	type  TEXT    NOT NULL,
	param TEXT    NOT NULL,
	grp   INTEGER NOT NULL,
	value TEXT    NOT NULL, -- normalized (case and accents folded), for starts-with and :contains
	exact TEXT    NOT NULL  -- as written, for :exact
);
CREATE INDEX idx_string_value ON idx_string (type, param, value) WHERE grp >= 0;
CREATE INDEX idx_string_seq ON idx_string (seq, param);

CREATE TABLE idx_token (
	seq         INTEGER NOT NULL,
	type        TEXT    NOT NULL,
	param       TEXT    NOT NULL,
	grp         INTEGER NOT NULL,
	system      TEXT    NOT NULL,
	code        TEXT    NOT NULL,
	text        TEXT    NOT NULL, -- normalized display or CodeableConcept.text, for :text
	type_system TEXT    NOT NULL, -- an Identifier's type, for :of-type
	type_code   TEXT    NOT NULL
);
CREATE INDEX idx_token_code ON idx_token (type, param, code, system) WHERE grp >= 0;
CREATE INDEX idx_token_seq ON idx_token (seq, param);

CREATE TABLE idx_reference (
	seq          INTEGER NOT NULL,
	type         TEXT    NOT NULL,
	param        TEXT    NOT NULL,
	grp          INTEGER NOT NULL,
	ref_type     TEXT    NOT NULL, -- the target when the reference ends in Type/id, else ''
	ref_id       TEXT    NOT NULL,
	url          TEXT    NOT NULL, -- an absolute URL or canonical as written; '' for a relative Type/id
	ident_system TEXT    NOT NULL, -- Reference.identifier, for :identifier
	ident_value  TEXT    NOT NULL
);
-- By target first: chains, _has, _revinclude, compartments and $everything all
-- start from the referenced resource.
CREATE INDEX idx_reference_target ON idx_reference (ref_id, ref_type, type, param) WHERE grp >= 0;
CREATE INDEX idx_reference_seq ON idx_reference (seq, param);
CREATE INDEX idx_reference_url ON idx_reference (type, param, url) WHERE grp >= 0 AND url <> '';
CREATE INDEX idx_reference_ident ON idx_reference (type, param, ident_value) WHERE grp >= 0 AND ident_value <> '';

CREATE TABLE idx_date (
	seq   INTEGER NOT NULL,
	type  TEXT    NOT NULL,
	param TEXT    NOT NULL,
	grp   INTEGER NOT NULL,
	lo    INTEGER NOT NULL, -- [lo, hi) in UTC milliseconds
	hi    INTEGER NOT NULL
);
CREATE INDEX idx_date_lo ON idx_date (type, param, lo) WHERE grp >= 0;
CREATE INDEX idx_date_hi ON idx_date (type, param, hi) WHERE grp >= 0;
CREATE INDEX idx_date_seq ON idx_date (seq, param);

CREATE TABLE idx_number (
	seq   INTEGER NOT NULL,
	type  TEXT    NOT NULL,
	param TEXT    NOT NULL,
	grp   INTEGER NOT NULL,
	value REAL    NOT NULL,
	lo    REAL    NOT NULL,
	hi    REAL    NOT NULL
);
CREATE INDEX idx_number_value ON idx_number (type, param, value) WHERE grp >= 0;
CREATE INDEX idx_number_seq ON idx_number (seq, param);

CREATE TABLE idx_quantity (
	seq         INTEGER NOT NULL,
	type        TEXT    NOT NULL,
	param       TEXT    NOT NULL,
	grp         INTEGER NOT NULL,
	system      TEXT    NOT NULL,
	code        TEXT    NOT NULL,
	value       REAL    NOT NULL,
	canon_code  TEXT    NOT NULL, -- the unit's UCUM base (mg/dL → g/L), or code when not convertible
	canon_value REAL    NOT NULL
);
CREATE INDEX idx_quantity_value ON idx_quantity (type, param, value) WHERE grp >= 0;
CREATE INDEX idx_quantity_canon ON idx_quantity (type, param, canon_code, canon_value) WHERE grp >= 0;
CREATE INDEX idx_quantity_seq ON idx_quantity (seq, param);

CREATE TABLE idx_uri (
	seq   INTEGER NOT NULL,
	type  TEXT    NOT NULL,
	param TEXT    NOT NULL,
	grp   INTEGER NOT NULL,
	uri   TEXT    NOT NULL
);
CREATE INDEX idx_uri_value ON idx_uri (type, param, uri) WHERE grp >= 0;
CREATE INDEX idx_uri_seq ON idx_uri (seq, param);
