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
}
