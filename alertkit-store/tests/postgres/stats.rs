//! History statistics on Postgres: the conformance suite, the stats
//! migration, and the hourly counters.

use alertkit_core::testing::conformance;
use alertkit_core::{Alert, HistoryStore, LabelSet, Receipt};
use alertkit_store::{PostgresHistoryStore, PostgresOptions};
use time::OffsetDateTime;

use super::{common, fresh, migrated_to, sqlx_schema, url};

#[test]
fn postgres_history_stats_conform() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    if rt.block_on(fresh()).is_none() {
        return;
    }
    drop(rt);
    conformance::history_stats(|| async { fresh().await.unwrap() });
}

/// Rows written before the stats migration get their severity (the
/// classification's, else the label's, with `Severity::from_label`'s
/// spellings) and namespace filled in when it runs.
#[tokio::test]
async fn stats_migration_fills_rows_written_before_it() {
    use alertkit_core::traits::{HistoryStats, StatsQuery};
    use alertkit_core::{Category, Classification, ClassificationSource, Severity};

    if fresh().await.is_none() {
        return;
    }
    let (schema, pool) = migrated_to(20261122000003, "premigration").await;
    let verdict = serde_json::to_string(&Classification::new(
        Severity::Info,
        Category::Availability,
        0.5,
        ClassificationSource::Rules,
    ))
    .unwrap();
    let rows: [(i64, &str, Option<&str>); 4] = [
        (
            1,
            r#"{"alertname":"A","namespace":"web","severity":"P1"}"#,
            None,
        ),
        (
            2,
            r#"{"alertname":"B","severity":"critical"}"#,
            Some(&verdict),
        ),
        (
            3,
            r#"{"alertname":"C","namespace":"web","severity":" Warn "}"#,
            None,
        ),
        (4, r#"{"alertname":"D","namespace":"db"}"#, None),
    ];
    let at = OffsetDateTime::now_utc().unix_timestamp_nanos() as i64;
    for (fp, labels, classification) in rows {
        sqlx::query(
            "INSERT INTO alertkit_alerts (fingerprint, labels, annotations, status, starts_at, \
             first_seen, last_seen, last_changed, fire_count, transitions, classification, \
             generator_url) VALUES ($1, $2, '{}', 0, $3, $3, $3, $3, 1, 0, $4, '')",
        )
        .bind(fp)
        .bind(labels)
        .bind(at)
        .bind(classification)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;
    let store = PostgresHistoryStore::open_with(PostgresOptions::new(url()).schema(schema))
        .await
        .unwrap();
    let now = OffsetDateTime::now_utc();
    let report = store
        .stats(&StatsQuery::new(
            now - time::Duration::hours(1),
            now + time::Duration::hours(1),
        ))
        .await
        .unwrap();
    assert_eq!(report.unique_fingerprints, 4);
    assert_eq!(report.severity(Severity::Critical), 1, "P1");
    assert_eq!(
        report.severity(Severity::Info),
        1,
        "the classification wins"
    );
    assert_eq!(report.severity(Severity::Warning), 1, "' Warn '");
    assert_eq!(report.severity(Severity::Unknown), 1, "no severity label");
    assert_eq!(
        report.by_namespace,
        [
            ("web".to_owned(), 2),
            (String::new(), 1),
            ("db".to_owned(), 1)
        ]
    );
}

/// The hourly statistics counters hold exactly what a recount of the stored
/// rows gives, after records with and without verdicts, stale replays,
/// attached verdicts that move severities, and retention; and the stats
/// they answer (whole hours from counters, partial hours row by row) equal
/// the in-memory store's for intervals aligned to hours or not.
#[tokio::test]
async fn hourly_stats_counters_agree_with_the_rows() {
    use alertkit_core::Severity::{Critical, Info, Noise, Unknown, Warning};
    use alertkit_core::memory::{MemoryHistoryConfig, MemoryHistoryStore};
    use alertkit_core::traits::{HistoryStats, StatsQuery};
    use alertkit_store::RetentionPolicy;

    let Some(store) = fresh().await else { return };
    let memory = MemoryHistoryStore::new(MemoryHistoryConfig::default());
    // 30 hours of history starting 35 days and 15 hours ago, off the hour.
    let now = OffsetDateTime::now_utc();
    let base = (now - time::Duration::days(35) - time::Duration::hours(15))
        .replace_minute(17)
        .unwrap();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let severities = [Critical, Warning, Info, Noise, Unknown];
    let alert = |i: u64, starts: OffsetDateTime| {
        Alert::firing(
            LabelSet::from_pairs([
                ("alertname", format!("A{i}")),
                ("namespace", format!("ns{}", i % 4)),
                (
                    "severity",
                    ["critical", "warning", "page", "x"][(i % 4) as usize].to_owned(),
                ),
            ]),
            starts,
        )
    };
    let mut at = base;
    let mut last: Vec<Option<Alert>> = vec![None; 24];
    for _ in 0..60 {
        let mut receipts = Vec::new();
        let mut verdicts = Vec::new();
        for _ in 0..=next(4) {
            at += time::Duration::minutes(next(50) as i64);
            let i = next(24);
            let a = match last[i as usize].take() {
                Some(a) if a.ends_at.is_none() && next(2) == 0 => a.resolved_at(at),
                Some(a) if next(4) == 0 => a, // a stale or repeated delivery
                _ => alert(i, at),
            };
            last[i as usize] = Some(a.clone());
            receipts.push(Receipt::new(a, at));
            verdicts.push((next(3) == 0).then(|| common::verdict(severities[next(5) as usize])));
        }
        store.record_classified(&receipts, &verdicts).await.unwrap();
        memory
            .record_classified(&receipts, &verdicts)
            .await
            .unwrap();
        if next(3) == 0 {
            let i = next(24) as usize;
            if let Some(a) = &last[i] {
                let item = [(a.state_key(), common::verdict(severities[next(5) as usize]))];
                let attached = store.attach_classifications(&item, at).await.unwrap();
                assert_eq!(
                    attached,
                    memory.attach_classifications(&item, at).await.unwrap()
                );
            }
        }
    }
    assert!(
        at - base > time::Duration::hours(24),
        "the history spans a day"
    );
    let hours = |h: i64, m: i64| base + time::Duration::hours(h) + time::Duration::minutes(m);
    for (from, to) in [
        (hours(0, -17), hours(40, -17)), // whole hours only
        (hours(0, 0), hours(40, 0)),     // partial hours at both ends
        (hours(3, 5), hours(17, 50)),
        (hours(5, 1), hours(5, 40)), // inside one hour
        (hours(5, 1), hours(6, 40)), // across one boundary, no whole hour
        (hours(-100, 0), hours(100, 0)),
    ] {
        let q = StatsQuery::new(from, to).with_limit(3);
        let (mut got, want) = (
            store.stats(&q).await.unwrap(),
            memory.stats(&q).await.unwrap(),
        );
        // The memory store truncates the mean to the nanosecond; SQL rounds.
        let (g, w) = (got.mean_time_to_resolve, want.mean_time_to_resolve);
        assert!(
            g.zip(w).map_or(g == w, |(g, w)| g.abs_diff(w)
                <= std::time::Duration::from_nanos(1)),
            "mean time to resolve over [{from}, {to}): {g:?} against {w:?}"
        );
        got.mean_time_to_resolve = want.mean_time_to_resolve;
        assert_eq!(got, want, "stats over [{from}, {to})");
    }
    let schema = sqlx_schema(&store).await;
    let pool = sqlx::PgPool::connect(&url()).await.unwrap();
    assert_counters_match_rows(&pool, &schema).await;
    // Keep the last 3 hours of the history: most of it goes.
    let mut policy = RetentionPolicy::keep_days(0);
    policy.history = Some((now - at + time::Duration::hours(3)).try_into().unwrap());
    let report = store.prune(&policy).await.unwrap();
    assert!(report.events > 0 && report.alerts > 0, "{report:?}");
    assert_counters_match_rows(&pool, &schema).await;
    // The hours retention emptied leave no counter rows behind.
    let cutoff_hour = (at - time::Duration::hours(3)).unix_timestamp() / 3600;
    let empty: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {schema}.alertkit_stats_hourly WHERE hour < $1 AND \
         (alerts, firing, critical, warning, info, noise, firings, resolutions, ttr_count, \
          ttr_sum) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)"
    )))
    .bind(cutoff_hour)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(empty, 0, "empty counter rows before the cutoff");
}

/// Asserts `schema`'s non-zero hourly counters equal a recount of its rows.
async fn assert_counters_match_rows(pool: &sqlx::PgPool, schema: &str) {
    // (dim, hour, namespace, the ten counts as text).
    type Row = (i16, i64, String, String);
    let counters = format!(
        "SELECT dim, hour, namespace, concat_ws(' ', alerts, firing, critical, warning, info, \
           noise, firings, resolutions, ttr_count, ttr_sum) FROM {schema}.alertkit_stats_hourly \
         WHERE (alerts, firing, critical, warning, info, noise, firings, resolutions, \
           ttr_count, ttr_sum) <> (0, 0, 0, 0, 0, 0, 0, 0, 0, 0) \
         ORDER BY 1, 2, 3"
    );
    let h = "3600000000000";
    let recount = format!(
        "SELECT 0::smallint, last_changed / {h} - (last_changed % {h} < 0)::int AS hr, \
           namespace, concat_ws(' ', count(*), count(*) FILTER (WHERE status = 0), \
           count(*) FILTER (WHERE severity = 'critical'), \
           count(*) FILTER (WHERE severity = 'warning'), \
           count(*) FILTER (WHERE severity = 'info'), \
           count(*) FILTER (WHERE severity = 'noise'), 0, 0, 0, 0) \
         FROM {schema}.alertkit_alerts GROUP BY 2, 3 \
         UNION ALL \
         SELECT 1::smallint, at / {h} - (at % {h} < 0)::int, '', concat_ws(' ', 0, 0, 0, 0, 0, 0, \
           count(*) FILTER (WHERE kind <> 'resolved'), count(*) FILTER (WHERE kind = 'resolved'), \
           count(*) FILTER (WHERE kind = 'resolved' AND ends_at IS NOT NULL), \
           coalesce(sum(greatest(ends_at::numeric - starts_at, 0)) \
             FILTER (WHERE kind = 'resolved' AND ends_at IS NOT NULL), 0)) \
         FROM {schema}.alertkit_events WHERE kind IN ('firing', 'refired', 'resolved') \
         GROUP BY 2 ORDER BY 1, 2, 3"
    );
    let counted: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(counters))
        .fetch_all(pool)
        .await
        .unwrap();
    let recounted: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(recount))
        .fetch_all(pool)
        .await
        .unwrap();
    assert!(!recounted.is_empty());
    assert_eq!(counted, recounted);
}

/// Replicas writing, classifying and pruning the same hours and namespaces
/// at once never deadlock on the hourly counters, and the counters still
/// match the rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_keep_the_hourly_counters_exact() {
    use alertkit_store::RetentionPolicy;

    let Some(a) = fresh().await else { return };
    let schema = sqlx_schema(&a).await;
    let b = PostgresHistoryStore::open_with(PostgresOptions::new(url()).schema(schema.clone()))
        .await
        .unwrap();
    let now = OffsetDateTime::now_utc();
    let mut tasks = Vec::new();
    for w in 0..4u64 {
        let store = if w % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            for round in 0..30u64 {
                // Alerts spread over 8 namespaces and 3 hours, in an order
                // that differs per writer; every other round resolves.
                let receipts: Vec<Receipt> = (0..16u64)
                    .map(|i| {
                        let n = (i * (w + 3) + round) % 24;
                        let starts = now - time::Duration::hours((n % 3) as i64 + 1);
                        let alert = Alert::firing(
                            LabelSet::from_pairs([
                                ("alertname", format!("C{n}")),
                                ("namespace", format!("ns{}", (n + w) % 8)),
                            ]),
                            starts,
                        );
                        let alert = if round % 2 == 1 {
                            alert.resolved_at(starts + time::Duration::minutes(1))
                        } else {
                            alert
                        };
                        Receipt::new(alert, starts + time::Duration::minutes(round as i64))
                    })
                    .collect();
                store.record(&receipts).await.unwrap();
                let items: Vec<_> = receipts
                    .iter()
                    .step_by(3)
                    .map(|r| {
                        let severity = [
                            alertkit_core::Severity::Critical,
                            alertkit_core::Severity::Info,
                        ][((round + w) % 2) as usize];
                        (r.alert.state_key(), common::verdict(severity))
                    })
                    .collect();
                store.attach_classifications(&items, now).await.unwrap();
                if round % 5 == 4 {
                    // Prunes whatever resolved over 2 hours ago.
                    let mut policy = RetentionPolicy::keep_days(0);
                    policy.history = Some(std::time::Duration::from_secs(7200));
                    store.prune(&policy).await.unwrap();
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let pool = sqlx::PgPool::connect(&url()).await.unwrap();
    assert_counters_match_rows(&pool, &schema).await;
}

/// Retention's drop of empty counter rows locks them in primary-key order,
/// as every upsert does, so it cannot deadlock with a writer. Fifty empty
/// rows lie in the table against key order; a writer holds the first by
/// key. The drop, started next, must wait for that row before it locks any
/// other, so the writer can still lock all the others. A drop that locked
/// them in another order (physical, or a hash of their row ids, as a plain
/// `DELETE … WHERE ctid IN (… LIMIT)` does) would hold some of them while it
/// waits, and Postgres would report 40P01 (deadlock detected).
#[tokio::test]
async fn dropping_empty_counters_locks_them_in_key_order() {
    use alertkit_store::RetentionPolicy;

    let Some(store) = fresh().await else { return };
    let schema = sqlx_schema(&store).await;
    let pool = sqlx::PgPool::connect(&url()).await.unwrap();
    let table = format!("{schema}.alertkit_stats_hourly");
    // Hour 1 (1970): wholly before any retention cutoff.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {table} (dim, hour, namespace) \
         SELECT 0, 1, format('ns%s', lpad(n::text, 2, '0')) FROM generate_series(49, 0, -1) AS n"
    )))
    .execute(&pool)
    .await
    .unwrap();
    let mut writer = pool.begin().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT 1 FROM {table} WHERE dim = 0 AND hour = 1 AND namespace = 'ns00' FOR UPDATE"
    )))
    .execute(&mut *writer)
    .await
    .unwrap();
    let writer_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *writer)
        .await
        .unwrap();

    let pruning = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut policy = RetentionPolicy::keep_days(1);
            policy.batch = 100;
            store.prune(&policy).await
        })
    };
    // Until the drop waits for the writer.
    let started = std::time::Instant::now();
    loop {
        let blocked: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
        )
        .bind(writer_pid)
        .fetch_one(&pool)
        .await
        .unwrap();
        if blocked > 0 {
            break;
        }
        assert!(
            !pruning.is_finished(),
            "the drop did not wait for the writer's row"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the drop never waited"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The writer locks the rest in key order, as an upsert does, and holds
    // them past deadlock_timeout (1 s), when Postgres looks for cycles.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT 1 FROM {table} WHERE dim = 0 AND hour = 1 AND namespace > 'ns00' \
         ORDER BY dim, hour, namespace FOR UPDATE"
    )))
    .execute(&mut *writer)
    .await
    .expect("the writer locks the rows the drop has not reached");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    writer.commit().await.unwrap();

    pruning
        .await
        .unwrap()
        .expect("the drop finishes once the writer commits");
    let left: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {table} WHERE hour = 1"
    )))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        left, 0,
        "every empty row is dropped once the writer commits"
    );
}
