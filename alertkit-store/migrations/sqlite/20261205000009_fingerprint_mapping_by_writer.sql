-- The writer maps new alerts' fingerprints itself (…08 did it with a row
-- trigger on alertkit_alerts). SQLite runs an INSERT on a table with row
-- triggers through a temporary table: every ~1 KB alert row was copied
-- once more before it was inserted. The mapping tables keep one alert per
-- fingerprint: each is keyed by fingerprint, and a fingerprint that is
-- settled cannot be mapped again as recent. Their rows are two integers,
-- so the trigger's temporary copy costs little there.
DROP TRIGGER alertkit_alerts_mapped;

CREATE TRIGGER alertkit_fingerprints_unique
    BEFORE INSERT ON alertkit_fingerprints_recent
    WHEN EXISTS (SELECT 1 FROM alertkit_fingerprints_settled
                 WHERE fingerprint = new.fingerprint)
BEGIN
    SELECT RAISE(FAIL, 'UNIQUE constraint failed: alertkit_fingerprints.fingerprint');
END;
