-- Cheaper ingest (physical only; the logical schema is unchanged): one
-- index serves both the keyset listing by (last_changed, fingerprint) and
-- the interval stats over status and severity (it covers them), so every
-- alert write updates one index fewer. Postgres's 0005 makes the same change.
DROP INDEX alertkit_alerts_stats;
DROP INDEX alertkit_alerts_last_changed;
CREATE INDEX alertkit_alerts_last_changed
    ON alertkit_alerts (last_changed, fingerprint, status, severity);
