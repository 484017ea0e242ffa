-- Hourly counters for the history statistics (Postgres only; derived data,
-- the logical schema is unchanged). Over a long interval the statistics
-- read these rows for every whole hour and scan the stored rows only for
-- the two partial hours at its ends; counting 1M alerts and their events
-- row by row took about 270 ms on two cores.
--
-- `hour` numbers hours since the Unix epoch (floor of nanoseconds / 3.6e12).
-- `dim` 0: the alerts whose last change falls in the hour, one row per
-- namespace, by status and severity (`unknown` is `alerts` minus the four
-- named severities). `dim` 1: the hour's timeline events (namespace '').
--
-- Writers of alerts and events (record, attach_classifications) add their
-- deltas in the statement that writes the rows; deletes (retention, and
-- the timelines a prune of alerts takes along) take theirs out by trigger.
-- Each writer's counter upserts are sorted by the primary key and, within
-- a transaction, dim 0 before dim 1: every writer locks counter rows in one
-- global order, so none can deadlock.
CREATE TABLE alertkit_stats_hourly (
    dim          SMALLINT NOT NULL,
    hour         BIGINT   NOT NULL,
    namespace    TEXT     NOT NULL,
    alerts       BIGINT   NOT NULL DEFAULT 0,
    firing       BIGINT   NOT NULL DEFAULT 0,
    critical     BIGINT   NOT NULL DEFAULT 0,
    warning      BIGINT   NOT NULL DEFAULT 0,
    info         BIGINT   NOT NULL DEFAULT 0,
    noise        BIGINT   NOT NULL DEFAULT 0,
    firings      BIGINT   NOT NULL DEFAULT 0,   -- firing and refired events
    resolutions  BIGINT   NOT NULL DEFAULT 0,
    ttr_count    BIGINT   NOT NULL DEFAULT 0,   -- resolutions with an end time
    ttr_sum      NUMERIC  NOT NULL DEFAULT 0,   -- their max(ends_at - starts_at, 0), ns
    PRIMARY KEY (dim, hour, namespace)
);

-- What is stored already.
INSERT INTO alertkit_stats_hourly
    (dim, hour, namespace, alerts, firing, critical, warning, info, noise)
SELECT 0, last_changed / 3600000000000 - (last_changed % 3600000000000 < 0)::int,
    namespace, count(*), count(*) FILTER (WHERE status = 0),
    count(*) FILTER (WHERE severity = 'critical'), count(*) FILTER (WHERE severity = 'warning'),
    count(*) FILTER (WHERE severity = 'info'), count(*) FILTER (WHERE severity = 'noise')
FROM alertkit_alerts GROUP BY 2, 3;

INSERT INTO alertkit_stats_hourly
    (dim, hour, namespace, firings, resolutions, ttr_count, ttr_sum)
SELECT 1, at / 3600000000000 - (at % 3600000000000 < 0)::int, '',
    count(*) FILTER (WHERE kind <> 'resolved'), count(*) FILTER (WHERE kind = 'resolved'),
    count(*) FILTER (WHERE kind = 'resolved' AND ends_at IS NOT NULL),
    coalesce(sum(greatest(ends_at::numeric - starts_at, 0))
        FILTER (WHERE kind = 'resolved' AND ends_at IS NOT NULL), 0)
FROM alertkit_events WHERE kind IN ('firing', 'refired', 'resolved') GROUP BY 2;

-- Deletes (retention, and the timelines a prune of alerts takes along)
-- take their rows out of the counters by trigger, whatever deleted them.
CREATE FUNCTION alertkit_events_deleted() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO alertkit_stats_hourly AS s
        (dim, hour, namespace, firings, resolutions, ttr_count, ttr_sum)
    SELECT 1, at / 3600000000000 - (at % 3600000000000 < 0)::int AS h, '',
        -count(*) FILTER (WHERE kind <> 'resolved'), -count(*) FILTER (WHERE kind = 'resolved'),
        -count(*) FILTER (WHERE kind = 'resolved' AND ends_at IS NOT NULL),
        -coalesce(sum(greatest(ends_at::numeric - starts_at, 0))
            FILTER (WHERE kind = 'resolved' AND ends_at IS NOT NULL), 0)
    FROM gone WHERE kind IN ('firing', 'refired', 'resolved') GROUP BY h ORDER BY h
    ON CONFLICT (dim, hour, namespace) DO UPDATE SET
        firings = s.firings + excluded.firings,
        resolutions = s.resolutions + excluded.resolutions,
        ttr_count = s.ttr_count + excluded.ttr_count,
        ttr_sum = s.ttr_sum + excluded.ttr_sum;
    RETURN NULL;
END
$$;

CREATE TRIGGER alertkit_events_deleted AFTER DELETE ON alertkit_events
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION alertkit_events_deleted();

-- A prune of alerts: their counts first (dim 0), then their timelines,
-- whose trigger takes the events' counts (dim 1): the global lock order.
CREATE OR REPLACE FUNCTION alertkit_alerts_pruned() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO alertkit_stats_hourly AS s
        (dim, hour, namespace, alerts, firing, critical, warning, info, noise)
    SELECT 0, last_changed / 3600000000000 - (last_changed % 3600000000000 < 0)::int AS h,
        namespace, -count(*), -count(*) FILTER (WHERE status = 0),
        -count(*) FILTER (WHERE severity = 'critical'), -count(*) FILTER (WHERE severity = 'warning'),
        -count(*) FILTER (WHERE severity = 'info'), -count(*) FILTER (WHERE severity = 'noise')
    FROM pruned GROUP BY h, namespace ORDER BY h, namespace
    ON CONFLICT (dim, hour, namespace) DO UPDATE SET
        alerts = s.alerts + excluded.alerts,
        firing = s.firing + excluded.firing,
        critical = s.critical + excluded.critical,
        warning = s.warning + excluded.warning,
        info = s.info + excluded.info,
        noise = s.noise + excluded.noise;
    DELETE FROM alertkit_events e USING pruned p WHERE e.alert_id = p.id;
    RETURN NULL;
END
$$;
