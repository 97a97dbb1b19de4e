-- Every value index ends in the row's seq, and replaces the index that is its
-- prefix. A driver's seqs then come from the index alone (an index-only scan;
-- before, each match read its table row: the 2,619 given names 浩… of the
-- benchmark region took 17 ms), and the matches of one value (a code, a
-- reference, an exact string) come in seq order, so that a page in write order
-- reads them in that order and stops at the page's end instead of reading and
-- sorting them all first (53,376 glucose results).
CREATE INDEX idx_string_value_seq ON idx_string (type, param, value, seq) WHERE grp >= 0;
DROP INDEX idx_string_value;
CREATE INDEX idx_token_code_seq ON idx_token (type, param, code, system, seq) WHERE grp >= 0;
DROP INDEX idx_token_code;
CREATE INDEX idx_reference_target_seq ON idx_reference (ref_id, ref_type, type, param, seq) WHERE grp >= 0;
DROP INDEX idx_reference_target;
CREATE INDEX idx_reference_url_seq ON idx_reference (type, param, url, seq) WHERE grp >= 0 AND url <> '';
DROP INDEX idx_reference_url;
CREATE INDEX idx_reference_ident_seq ON idx_reference (type, param, ident_value, seq) WHERE grp >= 0 AND ident_value <> '';
DROP INDEX idx_reference_ident;
CREATE INDEX idx_date_lo_seq ON idx_date (type, param, lo, seq) WHERE grp >= 0;
DROP INDEX idx_date_lo;
CREATE INDEX idx_number_value_seq ON idx_number (type, param, value, seq) WHERE grp >= 0;
DROP INDEX idx_number_value;
CREATE INDEX idx_quantity_value_seq ON idx_quantity (type, param, value, seq) WHERE grp >= 0;
DROP INDEX idx_quantity_value;
CREATE INDEX idx_quantity_canon_seq ON idx_quantity (type, param, canon_code, canon_value, seq) WHERE grp >= 0;
DROP INDEX idx_quantity_canon;
CREATE INDEX idx_uri_value_seq ON idx_uri (type, param, uri, seq) WHERE grp >= 0;
DROP INDEX idx_uri_value;
