-- Only an equal date (contained in the search value's range) drives a search,
-- from idx_date_lo; no plan read idx_date_hi, and each date row paid for it.
DROP INDEX IF EXISTS idx_date_hi;
