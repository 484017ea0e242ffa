-- History statistics aggregate in SQL without reading the wide rows:
-- severity (AlertRecord::severity(): the classification's, else the
-- `severity` label's, canonical name) and the `namespace` label ('' when
-- absent) become plain columns the writers fill, and covering indexes serve
-- the interval scans of alerts (by last_changed, and by namespace) and
-- events (by kind, at).

ALTER TABLE alertkit_alerts ADD COLUMN severity TEXT NOT NULL DEFAULT 'unknown';
ALTER TABLE alertkit_alerts ADD COLUMN namespace TEXT NOT NULL DEFAULT '';

-- Rows written before this migration: the same mapping as Severity::from_label.
UPDATE alertkit_alerts SET
    namespace = coalesce(json_extract(labels, '$.namespace'), ''),
    severity = coalesce(
        json_extract(classification, '$.severity'),
        CASE
            WHEN lower(trim(json_extract(labels, '$.severity'))) IN (
                'critical', 'crit', 'fatal', 'emergency', 'emerg', 'alert', 'disaster',
                'page', 'paging', 'pager', 'high', 'major', 'error', 'err', 'severe',
                'urgent', 'p0', 'p1', 'sev0', 'sev1', 'sev-0', 'sev-1', 's0', 's1', '0', '1')
                THEN 'critical'
            WHEN lower(trim(json_extract(labels, '$.severity'))) IN (
                'warning', 'warn', 'medium', 'moderate', 'average', 'minor', 'p2', 'p3',
                'sev2', 'sev3', 'sev-2', 'sev-3', 's2', 's3', '2', '3')
                THEN 'warning'
            WHEN lower(trim(json_extract(labels, '$.severity'))) IN (
                'info', 'informational', 'information', 'notice', 'low', 'debug', 'ok',
                'p4', 'p5', 'sev4', 'sev5', 'sev-4', 'sev-5', 's4', 's5', '4', '5')
                THEN 'info'
            WHEN lower(trim(json_extract(labels, '$.severity'))) IN ('noise', 'none')
                THEN 'noise'
            ELSE 'unknown'
        END);

CREATE INDEX alertkit_alerts_stats ON alertkit_alerts (last_changed, status, severity);
-- Per-namespace counts: one index range per namespace, no sort.
CREATE INDEX alertkit_alerts_namespace ON alertkit_alerts (namespace, last_changed);
CREATE INDEX alertkit_events_stats ON alertkit_events (kind, at, fingerprint, starts_at, ends_at);
