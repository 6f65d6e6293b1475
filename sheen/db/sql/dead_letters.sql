-- name: audit_many
-- One audit row per letter id, from two parallel arrays: one statement for 100,000 letters.
INSERT INTO dead_letter_audit (action, letter_id, job, actor, details)
SELECT :action, t.letter_id, t.job, :actor, CAST(:details AS jsonb)
FROM unnest(CAST(:ids AS text[]), CAST(:jobs AS text[])) AS t(letter_id, job);
