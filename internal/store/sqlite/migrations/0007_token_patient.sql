-- The patient a resource's rows of the code parameter belong to: the id of
-- the Patient its type's `patient` search parameter refers to, '' when it
-- refers to none, '*' when to several (a search then checks such rows
-- through idx_reference). With it one seek finds a patient's rows of one
-- code: a chain through the patient (the results of one test for the
-- residents a clinic manages) and a _has through it (the residents with a
-- diagnosis) no longer read every resource of every patient to probe its
-- code. Other token rows leave it '' and stay out of the index. param is
-- not an index column: PostgreSQL drops a condition its predicate implies
-- from the index conditions, and could then not seek past it.
ALTER TABLE idx_token ADD COLUMN patient TEXT NOT NULL DEFAULT '';

CREATE TEMP TABLE token_patient (seq INTEGER PRIMARY KEY, patient TEXT NOT NULL);
INSERT INTO token_patient (seq, patient)
	SELECT k >> 20, CASE WHEN count(DISTINCT ref_id) = 1 THEN max(ref_id) ELSE '*' END
	FROM idx_reference WHERE param = 'patient' AND ref_type = 'Patient' AND grp >= 0
	GROUP BY k >> 20;
UPDATE idx_token SET patient = token_patient.patient FROM token_patient
	WHERE token_patient.seq = idx_token.k >> 20 AND idx_token.param = 'code';
DROP TABLE token_patient;

CREATE INDEX idx_token_patient ON idx_token (type, patient, code, system) WHERE grp >= 0 AND param = 'code' AND patient <> '';

-- Statistics for the new index, so that the planner weighs it against
-- idx_token_code (ANALYZE at the end of bulk loads keeps them).
PRAGMA analysis_limit = 2000;
ANALYZE idx_token_patient;
