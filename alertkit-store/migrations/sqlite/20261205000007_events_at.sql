-- One index fewer per timeline row (physical only): retention finds old
-- events through alertkit_events_stats (kind, at, ...), one range per kind,
-- instead of its own index on `at`.
DROP INDEX alertkit_events_at;
