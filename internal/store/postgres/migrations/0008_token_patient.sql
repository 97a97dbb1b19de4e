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
ALTER TABLE idx_token ADD COLUMN patient text NOT NULL DEFAULT '';

UPDATE idx_token t SET patient = p.patient
	FROM (SELECT seq, CASE WHEN count(DISTINCT ref_id) = 1 THEN max(ref_id) ELSE '*' END AS patient
		FROM idx_reference WHERE param = 'patient' AND ref_type = 'Patient' AND grp >= 0
		GROUP BY seq) p
	WHERE t.seq = p.seq AND t.param = 'code';

CREATE INDEX idx_token_patient ON idx_token (type, patient, code, system, seq) WHERE grp >= 0 AND param = 'code' AND patient <> '';
