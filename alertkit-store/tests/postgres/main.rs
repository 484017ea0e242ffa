//! The Postgres history store against the real server on 127.0.0.1:5432
//! (`DATABASE_URL` overrides). Each store gets its own schema, so tests run
//! in parallel. Without a reachable server the tests are skipped with a
//! printed reason, unless `ALERTKIT_REQUIRE_SERVICES=1` (set by `.ci/run`).

#![allow(clippy::unwrap_used)] // tests fail loudly

#[path = "../common/mod.rs"]
mod common;
mod stats;

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

/// Opened with `migrate = false`, a store checks that its schema holds
/// exactly this build's migrations (the checks themselves are the SQLite
/// test's; this is the Postgres catalogue and search path).
#[tokio::test]
async fn opening_without_migrating_checks_the_schema() {
    use alertkit_store::SchemaError;

    let Some(migrated) = fresh().await else {
        return;
    };
    let open = |schema: String| async move {
        let mut options = PostgresOptions::new(url()).schema(schema);
        options.migrate = false;
        match PostgresHistoryStore::open_with(options).await {
            Ok(store) => {
                store.close().await;
                None
            }
            Err(e) => Some(
                std::error::Error::source(&e)
                    .and_then(|s| s.downcast_ref::<SchemaError>())
                    .unwrap_or_else(|| panic!("not a schema error: {e:?}"))
                    .clone(),
            ),
        }
    };
    assert_eq!(open(sqlx_schema(&migrated).await).await, None);
    // The same check on an open store, through its own search path.
    migrated.check_schema().await.unwrap();
    let (partial, pool) = migrated_to(20261122000005, "partial").await;
    pool.close().await;
    assert!(matches!(
        open(partial).await,
        Some(SchemaError::Pending {
            version: 20261205000006,
            ..
        })
    ));
    // A schema nothing has migrated (the store creates it, empty).
    let empty = format!("{}_empty", sqlx_schema(&migrated).await);
    assert!(matches!(
        open(empty).await,
        Some(SchemaError::Pending {
            version: 20261122000001,
            ..
        })
    ));
}

/// A role that may use alertkit's tables but not change the schema (no
/// CREATE on the database) opens a migrated schema without migrating, and
/// records: the store asks nothing of it beyond the tables.
#[tokio::test]
async fn a_role_without_ddl_rights_opens_without_migrating() {
    let Some(migrated) = fresh().await else {
        return;
    };
    let schema = sqlx_schema(&migrated).await;
    let admin = sqlx::PgPool::connect(&url()).await.unwrap();
    let role = format!("alertkit_user_{}", std::process::id());
    let run = |sql: String| {
        let admin = admin.clone();
        async move { sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&admin).await }
    };
    if run(format!("DROP OWNED BY {role}")).await.is_ok() {
        run(format!("DROP ROLE {role}")).await.unwrap();
    }
    for sql in [
        format!("CREATE ROLE {role} LOGIN PASSWORD 'alertkit-test'"),
        format!("GRANT USAGE ON SCHEMA {schema} TO {role}"),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}"),
        format!("GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {schema} TO {role}"),
    ] {
        run(sql).await.unwrap();
    }
    // The same server and database as the role.
    let base = url();
    let rest = base
        .split_once('@')
        .map_or(base.as_str(), |(_, rest)| rest)
        .trim_start_matches("postgres://")
        .trim_start_matches("postgresql://");
    let as_role = format!("postgres://{role}:alertkit-test@{rest}");

    let mut options = PostgresOptions::new(as_role).schema(schema);
    options.migrate = false;
    let opened = PostgresHistoryStore::open_with(options).await;
    let result = match &opened {
        Ok(store) => {
            let alert = Alert::firing(
                LabelSet::from_pairs([("alertname", "NoDdl")]),
                OffsetDateTime::now_utc(),
            );
            let fp = alert.fingerprint();
            store
                .record(&[Receipt::new(alert, OffsetDateTime::now_utc())])
                .await
                .map(|_| fp)
                .map_err(|e| format!("record: {e:?}"))
        }
        Err(e) => Err(format!("open: {e:?}")),
    };
    if let Ok(store) = opened {
        store.close().await;
    }
    run(format!("DROP OWNED BY {role}")).await.unwrap();
    run(format!("DROP ROLE {role}")).await.unwrap();
    let fp = result.unwrap();
    assert!(migrated.get(fp).await.unwrap().is_some());
}
