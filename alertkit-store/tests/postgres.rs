//! The Postgres history store against the real server on 127.0.0.1:5432
//! (`DATABASE_URL` overrides). Each store gets its own schema, so tests run
//! in parallel. Without a reachable server the tests are skipped with a
//! printed reason, unless `ALERTKIT_REQUIRE_SERVICES=1` (set by `.ci/run`).

#![allow(clippy::unwrap_used)] // tests fail loudly

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use alertkit_core::testing::conformance;
use alertkit_core::{Alert, HistoryStore, LabelSet, Receipt};
use alertkit_store::{OutboxOptions, PostgresHistoryStore, PostgresOptions};
use time::OffsetDateTime;

fn url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Drops test schemas left by runs more than an hour old (their names carry
/// the creation time), once per process.
async fn drop_stale_schemas() {
    static DONE: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    DONE.get_or_init(|| async {
        let Ok(pool) = sqlx::PgPool::connect(&url()).await else {
            return;
        };
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'alertkit_test_%'",
        )
        .fetch_all(&pool)
        .await
        .unwrap_or_default();
        let cutoff = OffsetDateTime::now_utc().unix_timestamp() - 3600;
        for name in names {
            let created = name.split('_').nth(3).and_then(|t| t.parse::<i64>().ok());
            let safe = name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if safe && created.is_some_and(|t| t < cutoff) {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {name} CASCADE")))
                    .execute(&pool)
                    .await;
            }
        }
        pool.close().await;
    })
    .await;
}

/// A store in a fresh schema, or `None` (skip) when Postgres is unreachable
/// and not required.
async fn fresh() -> Option<PostgresHistoryStore> {
    static N: AtomicUsize = AtomicUsize::new(0);
    drop_stale_schemas().await;
    let schema = format!(
        "alertkit_test_{}_{}_{}",
        std::process::id(),
        OffsetDateTime::now_utc().unix_timestamp(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    match PostgresHistoryStore::open_with(PostgresOptions::new(url()).schema(schema)).await {
        Ok(store) => Some(store),
        Err(e) if e.is_transient() && std::env::var_os("ALERTKIT_REQUIRE_SERVICES").is_none() => {
            eprintln!("skipped: PostgreSQL at {} is unreachable: {e:?}", url());
            None
        }
        Err(e) => panic!("PostgreSQL at {}: {e:?}", url()),
    }
}

#[test]
fn postgres_history_store_conforms() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    if rt.block_on(fresh()).is_none() {
        return;
    }
    drop(rt);
    conformance::history_store(|| async { fresh().await.unwrap() });
}

#[test]
fn postgres_outbox_conforms() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    if rt.block_on(fresh()).is_none() {
        return;
    }
    drop(rt);
    conformance::outbox(|setup| async move {
        let store = fresh().await.unwrap();
        store.set_outbox(OutboxOptions::new(setup.targets, setup.hold));
        store
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_database_record_each_receipt_once() {
    let Some(a) = fresh().await else { return };
    // A second pool on the same schema: another replica.
    let schema: String = sqlx_schema(&a).await;
    let b = PostgresHistoryStore::open_with(PostgresOptions::new(url()).schema(schema))
        .await
        .unwrap();
    let now = OffsetDateTime::now_utc();
    let receipts: Vec<Receipt> = (0..300)
        .map(|i| {
            Receipt::new(
                Alert::firing(
                    LabelSet::from_pairs([
                        ("alertname", "Replicas".to_owned()),
                        ("i", i.to_string()),
                    ]),
                    now,
                ),
                now,
            )
        })
        .collect();
    let (ra, rb) = tokio::join!(async { a.record(&receipts).await.unwrap() }, async {
        let mut reversed = receipts.clone();
        reversed.reverse();
        b.record(&reversed).await.unwrap()
    });
    let changed = ra.changes.iter().flatten().count() + rb.changes.iter().flatten().count();
    assert_eq!(
        changed, 300,
        "each receipt recorded exactly once across replicas"
    );
    for r in receipts.iter().take(20) {
        assert_eq!(a.timeline(r.alert.fingerprint()).await.unwrap().len(), 1);
    }
}

async fn sqlx_schema(store: &PostgresHistoryStore) -> String {
    store.current_schema().await.unwrap()
}

#[tokio::test]
async fn nul_characters_are_stored_without_losing_the_alert() {
    let Some(store) = fresh().await else { return };
    let mut alert = Alert::firing(
        LabelSet::from_pairs([("alertname", "Nul"), ("value", "a\u{0}b")]),
        OffsetDateTime::now_utc(),
    );
    alert.generator_url = Arc::from("http://x/\u{0}");
    store
        .record(&[Receipt::new(alert.clone(), OffsetDateTime::now_utc())])
        .await
        .unwrap();
    let rec = store.get(alert.fingerprint()).await.unwrap().unwrap();
    assert_eq!(
        rec.labels.get("value"),
        Some("a\u{0}b"),
        "labels read back exactly"
    );
    assert_eq!(
        &*rec.generator_url, "http://x/%00",
        "a raw NUL in a URL is percent-encoded"
    );
}

#[tokio::test]
async fn an_unreachable_server_is_a_transient_error() {
    let err = PostgresHistoryStore::open_with({
        let mut o = PostgresOptions::new("postgres://postgres@127.0.0.1:1/test");
        o.acquire_timeout = std::time::Duration::from_secs(2);
        o
    })
    .await
    .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
}

#[tokio::test]
async fn retention_prunes_old_history_in_batches() {
    let Some(store) = fresh().await else { return };
    store.set_outbox(OutboxOptions::new(["t"], std::time::Duration::ZERO));
    common::retention(&store, |p| {
        let store = store.clone();
        async move { store.prune(&p).await.unwrap() }
    })
    .await;
    // The pruned alert's recent `classified` event went with it.
    let events: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {}.alertkit_events",
        sqlx_schema(&store).await
    )))
    .fetch_one(&sqlx::PgPool::connect(&url()).await.unwrap())
    .await
    .unwrap();
    assert_eq!(events, 1, "only the current alert's firing is left");
}

#[test]
fn postgres_history_stats_conform() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    if rt.block_on(fresh()).is_none() {
        return;
    }
    drop(rt);
    conformance::history_stats(|| async { fresh().await.unwrap() });
}

/// A fresh schema (named with `tag`) migrated up to `version` (inclusive),
/// and a pool whose connections use it.
async fn migrated_to(version: i64, tag: &str) -> (String, sqlx::PgPool) {
    use std::str::FromStr;

    let schema = format!(
        "alertkit_test_{}_{}_{tag}",
        std::process::id(),
        OffsetDateTime::now_utc().unix_timestamp()
    );
    let connect = sqlx::postgres::PgConnectOptions::from_str(&url())
        .unwrap()
        .options([("search_path", schema.as_str())]);
    let pool = sqlx::PgPool::connect_with(connect).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&pool)
        .await
        .unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
    sqlx::migrate::Migrator::new(dir)
        .await
        .unwrap()
        .run_to(version, &pool)
        .await
        .unwrap();
    (schema, pool)
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

#[tokio::test]
async fn sql_timelines_match_the_memory_store() {
    let Some(store) = fresh().await else { return };
    common::timelines_match_memory(&store).await;
}

/// Timelines written before the timeline migration (keyed by fingerprint)
/// are keyed by their alert's row id when it runs.
#[tokio::test]
async fn timeline_migration_keys_old_events_by_their_alert() {
    if fresh().await.is_none() {
        return;
    }
    let (schema, pool) = migrated_to(20261122000005, "pretimeline").await;
    let (alert, key) = common::premigration_alert();
    let starts = alert.starts_at.unix_timestamp_nanos() as i64;
    let pg = |sql: &str| sqlx::AssertSqlSafe(sql.replace('?', "$"));
    sqlx::query(pg(common::PREMIGRATION_ALERT_SQL))
        .bind(key)
        .bind(starts)
        .execute(&pool)
        .await
        .unwrap();
    for kind in ["firing", "classified"] {
        sqlx::query(pg(common::PREMIGRATION_EVENT_SQL))
            .bind(key)
            .bind(kind)
            .bind(starts)
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
    let store = PostgresHistoryStore::open_with(PostgresOptions::new(url()).schema(schema.clone()))
        .await
        .unwrap();
    common::migrated_timeline_reads_back(&store).await;
    // What a replica of an earlier version would write is refused.
    let err = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {schema}.alertkit_events (fingerprint, kind, at, status, starts_at) \
         VALUES (1, 'firing', 1, 0, 1)"
    )))
    .execute(&sqlx::PgPool::connect(&url()).await.unwrap())
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("alertkit_events_alert_id"),
        "{err}"
    );
}

fn classification(severity: alertkit_core::Severity) -> Arc<alertkit_core::Classification> {
    Arc::new(alertkit_core::Classification::new(
        severity,
        alertkit_core::Category::Availability,
        0.9,
        alertkit_core::ClassificationSource::Rules,
    ))
}

/// One batch of verdicts: every item for the current instance is logged in
/// item order, the last one for an alert is its verdict, and items for a
/// past instance or an unknown alert attach nothing.
#[tokio::test]
async fn classifications_attach_as_one_batch_in_item_order() {
    use alertkit_core::{EventKind, Severity};

    let Some(store) = fresh().await else { return };
    let now = OffsetDateTime::now_utc();
    let alert =
        |name: &str| Alert::firing(LabelSet::from_pairs([("alertname", name.to_owned())]), now);
    let (a, b) = (alert("A"), alert("B"));
    store
        .record(&[Receipt::new(a.clone(), now), Receipt::new(b.clone(), now)])
        .await
        .unwrap();
    let mut stale = b.state_key();
    stale.starts_at -= 1;
    let unknown = alert("Unknown").state_key();
    let items = vec![
        (a.state_key(), classification(Severity::Info)),
        (stale, classification(Severity::Noise)),
        (a.state_key(), classification(Severity::Critical)),
        (unknown, classification(Severity::Info)),
        (b.state_key(), classification(Severity::Warning)),
    ];
    let attached = store.attach_classifications(&items, now).await.unwrap();
    assert_eq!(attached, [true, false, true, false, true]);
    let rec = store.get(a.fingerprint()).await.unwrap().unwrap();
    assert_eq!(
        rec.classification.map(|c| c.severity),
        Some(Severity::Critical),
        "the last item wins"
    );
    let verdicts: Vec<Severity> = store
        .timeline(a.fingerprint())
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == EventKind::Classified)
        .filter_map(|e| e.classification.map(|c| c.severity))
        .collect();
    assert_eq!(verdicts, [Severity::Info, Severity::Critical]);
    let rec = store.get(b.fingerprint()).await.unwrap().unwrap();
    assert_eq!(
        rec.classification.map(|c| c.severity),
        Some(Severity::Warning)
    );
}

/// One batch of settlements of every outcome: each lease is settled once
/// (a repeat in the same call, or a stale attempt, is refused), and the
/// target's id for the message is kept.
#[tokio::test]
async fn settlements_apply_as_one_batch_fenced_per_lease() {
    use alertkit_core::traits::{LeaseRef, Outbox, Settlement};

    let Some(store) = fresh().await else { return };
    store.set_outbox(OutboxOptions::new(["t"], std::time::Duration::ZERO));
    let now = OffsetDateTime::now_utc();
    let receipts: Vec<Receipt> = (0..3)
        .map(|i| {
            Receipt::new(
                Alert::firing(
                    LabelSet::from_pairs([("alertname", format!("Settle{i}"))]),
                    now,
                ),
                now,
            )
        })
        .collect();
    store.record(&receipts).await.unwrap();
    let mut claimed = store
        .claim(
            "w",
            &[Arc::from("t")],
            10,
            std::time::Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3);
    claimed.sort_by_key(|d| d.lease.id);
    let (l0, l1, l2) = (claimed[0].lease, claimed[1].lease, claimed[2].lease);
    let stale = LeaseRef {
        id: l0.id,
        attempt: l0.attempt + 1,
    };
    let held = store
        .settle(&[
            Settlement::delivered(stale),
            Settlement::delivered(l0).with_remote_id(Some("r0".to_owned())),
            Settlement::delivered(l0),
            Settlement::retry(l1, now + time::Duration::hours(1), "503"),
            Settlement::dead(l2, "gone"),
        ])
        .await
        .unwrap();
    assert_eq!(held, [false, true, false, true, true]);
    let fp = |d: &alertkit_core::traits::Delivery| d.notification.alert.fingerprint();
    let log = store.deliveries(fp(&claimed[0])).await.unwrap();
    assert_eq!(log.len(), 1, "one attempt logged: {log:?}");
    assert_eq!(store.deliveries(fp(&claimed[1])).await.unwrap().len(), 1);
    let depth = store.depth().await.unwrap();
    assert_eq!(
        depth
            .iter()
            .map(|d| (d.pending, d.in_flight, d.dead))
            .collect::<Vec<_>>(),
        [(1, 0, 1)],
        "one retry pending, one dead letter"
    );
    let dead = store
        .dead_letters(&alertkit_core::traits::DeadLetterQuery::default())
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, l2.id);
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
