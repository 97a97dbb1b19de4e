-- Searches without _sort list their matches in seq order; one without a
-- clause that drives it reads the heads of its type in that order from here
-- and stops at the end of the page.
CREATE INDEX resources_type_seq ON resources (type, seq);
