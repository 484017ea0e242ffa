//! The SQLite history store: conformance, durability across reopen, and migrations.

#![allow(clippy::unwrap_used)] // tests fail loudly

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use alertkit_core::testing::conformance;
use alertkit_core::{Alert, EventKind, HistoryStore, LabelSet, Receipt, StoreError};
use alertkit_store::{OutboxOptions, SqliteHistoryStore, SqliteOptions};
use time::OffsetDateTime;

/// A fresh database file per store, removed at the end of the test process.
fn temp_db() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!("alertkit-sqlite-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("history-{}.db", N.fetch_add(1, Ordering::Relaxed)))
}

/// A store on `path` with the default options.
async fn store_at(path: &std::path::Path) -> SqliteHistoryStore {
    SqliteHistoryStore::open(path.to_str().unwrap())
        .await
        .unwrap()
}

/// A store on `path` that merges its recent fingerprints once `min` have
/// gathered (1: after every batch, so every lookup crosses both levels).
async fn store_merging_at(path: &std::path::Path, min: u64) -> SqliteHistoryStore {
    let mut options = SqliteOptions::new(path.to_str().unwrap());
    options.fingerprint_merge_min = min;
    SqliteHistoryStore::open_with(options).await.unwrap()
}

/// A plain pool on the database at `path`, for checks in SQL.
async fn pool_at(path: &std::path::Path) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap()
}

#[test]
fn sqlite_history_store_conforms() {
    conformance::history_store(|| async {
        SqliteHistoryStore::open(temp_db().to_str().unwrap())
            .await
            .unwrap()
    });
}

#[tokio::test]
async fn history_survives_reopening_and_migrations_are_idempotent() {
    let path = temp_db();
    let url = format!("sqlite://{}", path.display());
    let alert = Alert::firing(
        LabelSet::from_pairs([
            ("alertname", "Durable"),
            ("quote", "it's \"quoted\"; DROP TABLE x; --"),
        ]),
        OffsetDateTime::now_utc(),
    );
    let receipt = Receipt::new(alert.clone(), OffsetDateTime::now_utc());
    {
        let store = SqliteHistoryStore::open(&url).await.unwrap();
        assert_eq!(
            store
                .record(std::slice::from_ref(&receipt))
                .await
                .unwrap()
                .changes,
            [Some(EventKind::Firing)]
        );
        store.close().await;
    }
    let store = SqliteHistoryStore::open(&url).await.unwrap();
    let rec = store.get(alert.fingerprint()).await.unwrap().unwrap();
    assert_eq!(rec.labels, alert.labels);
    assert_eq!(
        store.record(&[receipt]).await.unwrap().changes,
        [None],
        "replay after reopen"
    );
    assert_eq!(store.timeline(alert.fingerprint()).await.unwrap().len(), 1);
}

#[tokio::test]
async fn unstorable_times_are_rejected_naming_the_receipt() {
    let store = SqliteHistoryStore::open(temp_db().to_str().unwrap())
        .await
        .unwrap();
    let far = OffsetDateTime::from_unix_timestamp(10_000_000_000).unwrap(); // year 2286
    let alert = Alert::firing(LabelSet::from_pairs([("alertname", "Future")]), far);
    let ok = Alert::firing(
        LabelSet::from_pairs([("alertname", "Fine")]),
        OffsetDateTime::now_utc(),
    );
    let receipts = [
        Receipt::new(ok.clone(), OffsetDateTime::now_utc()),
        Receipt::new(alert, OffsetDateTime::now_utc()),
    ];
    match store.record(&receipts).await {
        Err(StoreError::Invalid(m)) => assert!(m.starts_with("receipts[1].startsAt"), "{m}"),
        other => panic!("expected an invalid-input error, got {other:?}"),
    }
    assert!(
        store.get(ok.fingerprint()).await.unwrap().is_none(),
        "the batch is atomic"
    );
}

#[test]
fn sqlite_outbox_conforms() {
    conformance::outbox(|setup| async move {
        let store = SqliteHistoryStore::open(temp_db().to_str().unwrap())
            .await
            .unwrap();
        store.set_outbox(OutboxOptions::new(setup.targets, setup.hold));
        store
    });
}

#[tokio::test]
async fn retention_prunes_old_history_in_batches() {
    let path = temp_db();
    // Merging after every batch: pruned alerts' fingerprints are settled.
    let store = store_merging_at(&path, 1).await;
    store.set_outbox(OutboxOptions::new(["t"], std::time::Duration::ZERO));
    common::retention(&store, |p| {
        let store = store.clone();
        async move { store.prune(&p).await.unwrap() }
    })
    .await;
    // The pruned alert's recent `classified` event went with it.
    let pool = pool_at(&path).await;
    let (events,): (i64,) = sqlx::query_as("SELECT count(*) FROM alertkit_events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(events, 1, "only the current alert's firing is left");
    // Their fingerprints went too: a pruned alert that fires again is new.
    let (unmapped, stale): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM alertkit_alerts a WHERE NOT EXISTS \
                   (SELECT 1 FROM alertkit_fingerprints f WHERE f.alert_id = a.id \
                      AND f.fingerprint = a.fingerprint)), \
                (SELECT count(*) FROM alertkit_fingerprints f WHERE NOT EXISTS \
                   (SELECT 1 FROM alertkit_alerts a WHERE a.id = f.alert_id))",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((unmapped, stale), (0, 0));
}

/// A verdict recorded with its firing is stored once, in the event, and the
/// alert row names that event; a later write that keeps the verdict keeps
/// naming it, and a verdict attached later is named in its `classified`
/// event. When retention deletes the event of an alert that is still
/// firing, the verdict moves into the alert row and stays readable.
#[tokio::test]
async fn verdicts_are_stored_once_and_outlive_their_event() {
    use alertkit_core::{Classification, HistoryQuery, Severity};
    use alertkit_store::RetentionPolicy;
    use std::sync::Arc;

    let path = temp_db();
    let store = store_at(&path).await;
    let old = OffsetDateTime::now_utc() - time::Duration::days(40);
    let alert = Alert::firing(LabelSet::from_pairs([("alertname", "StillFiring")]), old);
    let fp = alert.fingerprint();
    let verdict = common::verdict(Severity::Critical);
    store
        .record_classified(
            &[Receipt::new(alert.clone(), old)],
            &[Some(verdict.clone())],
        )
        .await
        .unwrap();
    let pool = pool_at(&path).await;
    let stored = || async {
        sqlx::query_as::<_, (Option<String>, Option<i64>)>(
            "SELECT classification, classification_event FROM alertkit_alerts",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    let (inline, named) = stored().await;
    assert!(
        inline.is_none(),
        "the verdict is not copied into the alert row"
    );
    let (event_verdict,): (Option<String>,) =
        sqlx::query_as("SELECT classification FROM alertkit_events WHERE id = ?1")
            .bind(named.expect("the alert row names its firing's event"))
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(event_verdict.is_some());
    // A replay (no new verdict) keeps naming the same event.
    store
        .record(&[Receipt::new(
            alert.clone(),
            old + time::Duration::minutes(1),
        )])
        .await
        .unwrap();
    assert_eq!(stored().await, (None, named));
    let read = |verdict: Arc<Classification>, what: &'static str| {
        let store = store.clone();
        async move {
            let got = store.get(fp).await.unwrap().unwrap();
            assert_eq!(got.classification.as_deref(), Some(&*verdict), "get {what}");
            let page = store.list(&HistoryQuery::default()).await.unwrap();
            assert_eq!(
                page.records[0].classification.as_deref(),
                Some(&*verdict),
                "list {what}"
            );
        }
    };
    read(verdict.clone(), "while the firing's event names it").await;
    // A later verdict: the alert row names its `classified` event instead.
    let mut later = Classification::clone(&verdict);
    later.severity = Severity::Info;
    let later = Arc::new(later);
    let attached = store
        .attach_classifications(
            &[(alert.state_key(), later.clone())],
            old + time::Duration::minutes(2),
        )
        .await
        .unwrap();
    assert_eq!(attached, [true]);
    let (inline, renamed) = stored().await;
    assert!(inline.is_none() && renamed.is_some() && renamed != named);
    let got = store.get(fp).await.unwrap().unwrap();
    assert_eq!(
        got.severity(),
        Severity::Info,
        "the later verdict's severity"
    );
    read(later.clone(), "after a later verdict").await;

    let report = store
        .prune(&RetentionPolicy::keep_days(30).with_deliveries(None))
        .await
        .unwrap();
    assert_eq!((report.events, report.alerts), (2, 0), "{report:?}");
    let (inline, named) = stored().await;
    assert!(inline.is_some() && named.is_none(), "moved into the row");
    read(later, "after its event was pruned").await;
}

/// A verdict already in the alert row wins over the one in the event it
/// names when that event is deleted: a binary older than migration `…10`
/// writes verdicts into the row and leaves `classification_event` as it was.
#[tokio::test]
async fn a_deleted_event_does_not_overwrite_a_verdict_in_the_row() {
    use alertkit_core::Severity;

    let path = temp_db();
    let store = store_at(&path).await;
    let now = OffsetDateTime::now_utc();
    let alert = Alert::firing(LabelSet::from_pairs([("alertname", "Mixed")]), now);
    store
        .record_classified(
            &[Receipt::new(alert.clone(), now)],
            &[Some(common::verdict(Severity::Critical))],
        )
        .await
        .unwrap();
    let pool = pool_at(&path).await;
    let newer = serde_json::to_string(&*common::verdict(Severity::Info)).unwrap();
    sqlx::query("UPDATE alertkit_alerts SET classification = ?1")
        .bind(&newer)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM alertkit_events")
        .execute(&pool)
        .await
        .unwrap();
    let (kept, named): (Option<String>, Option<i64>) =
        sqlx::query_as("SELECT classification, classification_event FROM alertkit_alerts")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((kept.as_deref(), named), (Some(&*newer), None));
    let got = store.get(alert.fingerprint()).await.unwrap().unwrap();
    assert_eq!(got.classification.unwrap().severity, Severity::Info);
}

/// The writer leaves checkpoints to a background task: rows reach the
/// database file itself, not only its WAL, without any explicit checkpoint
/// and long before the writer's own threshold (256 MiB of WAL).
#[tokio::test]
async fn a_background_task_checkpoints_the_history_wal() {
    let path = temp_db();
    let store = store_at(&path).await;
    let size = || std::fs::metadata(&path).unwrap().len();
    let before = size();
    let now = OffsetDateTime::now_utc();
    let text = "x".repeat(400);
    let receipts: Vec<Receipt> = (0..8000)
        .map(|i| {
            let labels = LabelSet::from_pairs([("alertname", "Bulk"), ("n", &*i.to_string())]);
            let alert = Alert::firing(labels, now).with_annotations(
                alertkit_core::Annotations::from_pairs([("summary", &*text)]),
            );
            Receipt::new(alert, now)
        })
        .collect();
    store.record(&receipts).await.unwrap();
    for _ in 0..200 {
        if size() >= before + (2 << 20) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "the database file stayed at {} bytes: nothing checkpointed the WAL",
        size()
    );
}

#[test]
fn sqlite_history_stats_conform() {
    conformance::history_stats(|| async {
        SqliteHistoryStore::open(temp_db().to_str().unwrap())
            .await
            .unwrap()
    });
}

/// A fresh database migrated up to `version` (inclusive), and a pool on it.
async fn migrated_to(version: i64) -> (PathBuf, sqlx::SqlitePool) {
    let path = temp_db();
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    sqlx::migrate::Migrator::new(dir)
        .await
        .unwrap()
        .run_to(version, &pool)
        .await
        .unwrap();
    (path, pool)
}

/// Rows written before the stats migration get their severity (the
/// classification's, else the label's, with `Severity::from_label`'s
/// spellings) and namespace filled in when it runs.
#[tokio::test]
async fn stats_migration_fills_rows_written_before_it() {
    use alertkit_core::traits::{HistoryStats, StatsQuery};
    use alertkit_core::{Category, Classification, ClassificationSource, Severity};

    let (path, pool) = migrated_to(20261122000003).await;
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
             generator_url) VALUES (?1, ?2, '{}', 0, ?3, ?3, ?3, ?3, 1, 0, ?4, '')",
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
    let store = store_at(&path).await;
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
    let store = SqliteHistoryStore::open(temp_db().to_str().unwrap())
        .await
        .unwrap();
    common::timelines_match_memory(&store).await;
}

/// Timelines written before the timeline migration (keyed by fingerprint)
/// are keyed by their alert's row id when it runs.
#[tokio::test]
async fn timeline_migration_keys_old_events_by_their_alert() {
    let (path, pool) = migrated_to(20261122000005).await;
    let (alert, key) = common::premigration_alert();
    let starts = alert.starts_at.unix_timestamp_nanos() as i64;
    sqlx::query(common::PREMIGRATION_ALERT_SQL)
        .bind(key)
        .bind(starts)
        .execute(&pool)
        .await
        .unwrap();
    for kind in ["firing", "classified"] {
        sqlx::query(common::PREMIGRATION_EVENT_SQL)
            .bind(key)
            .bind(kind)
            .bind(starts)
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
    let store = store_at(&path).await;
    common::migrated_timeline_reads_back(&store).await;
}

// --- fingerprint lookups in two levels ---------------------------------------------

/// A fresh store that merges after every batch.
async fn merging_store() -> SqliteHistoryStore {
    store_merging_at(&temp_db(), 1).await
}

#[test]
fn sqlite_history_store_conforms_while_merging_fingerprints() {
    conformance::history_store(merging_store);
}

#[test]
fn sqlite_history_stats_conform_while_merging_fingerprints() {
    conformance::history_stats(merging_store);
}

/// Counts of (recent, settled) fingerprints.
async fn levels(path: &std::path::Path) -> (i64, i64) {
    let pool = pool_at(path).await;
    let counts = sqlx::query_as(
        "SELECT (SELECT count(*) FROM alertkit_fingerprints_recent), \
                (SELECT count(*) FROM alertkit_fingerprints_settled)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    counts
}

/// Fingerprints move from the recent table to the settled one a slice per
/// batch; replays find them on either side, and the database itself
/// refuses a second mapping for a fingerprint and a changed fingerprint.
#[tokio::test]
async fn fingerprints_settle_and_stay_unique() {
    let path = temp_db();
    let store = store_merging_at(&path, 64).await;
    let now = OffsetDateTime::now_utc();
    let receipts: Vec<Receipt> = (0..200)
        .map(|i| {
            let alert = Alert::firing(
                LabelSet::from_pairs([("alertname", "Settle"), ("n", &i.to_string())]),
                now,
            );
            Receipt::new(alert, now)
        })
        .collect();
    for chunk in receipts.chunks(10) {
        store.record(chunk).await.unwrap();
    }
    let (recent, settled) = levels(&path).await;
    assert_eq!(recent + settled, 200);
    assert!(
        settled > 0 && recent > 0,
        "{recent} recent, {settled} settled"
    );
    // Every alert is found (a replay changes nothing) and readable.
    for chunk in receipts.chunks(50) {
        let changes = store.record(chunk).await.unwrap().changes;
        assert!(changes.iter().all(Option::is_none), "{changes:?}");
    }
    for r in &receipts {
        let fp = r.alert.fingerprint();
        assert!(store.get(fp).await.unwrap().is_some());
        assert_eq!(store.timeline(fp).await.unwrap().len(), 1);
    }
    let (recent, settled) = levels(&path).await;
    assert_eq!(recent + settled, 200, "replays map nothing new");

    let pool = pool_at(&path).await;
    let (settled_fp,): (i64,) =
        sqlx::query_as("SELECT fingerprint FROM alertkit_fingerprints_settled LIMIT 1")
            .fetch_one(&pool)
            .await
            .unwrap();
    // One alert per fingerprint: a settled fingerprint cannot be mapped
    // again as recent, nor a recent one twice.
    let (recent_fp,): (i64,) =
        sqlx::query_as("SELECT fingerprint FROM alertkit_fingerprints_recent LIMIT 1")
            .fetch_one(&pool)
            .await
            .unwrap();
    for fp in [settled_fp, recent_fp] {
        let duplicate = sqlx::query(
            "INSERT INTO alertkit_fingerprints_recent (fingerprint, alert_id) VALUES (?1, 1)",
        )
        .bind(fp)
        .execute(&pool)
        .await
        .unwrap_err();
        assert!(duplicate.to_string().contains("UNIQUE"), "{duplicate}");
    }
    let changed = sqlx::query(
        "UPDATE alertkit_alerts SET fingerprint = fingerprint + 1 WHERE fingerprint = ?1",
    )
    .bind(settled_fp)
    .execute(&pool)
    .await
    .unwrap_err();
    assert!(changed.to_string().contains("cannot change"), "{changed}");
    pool.close().await;
}

// --- the intake journal ------------------------------------------------------------

#[test]
fn sqlite_journal_conforms() {
    conformance::journal(|| async {
        alertkit_store::SqliteJournal::open(temp_db().to_str().unwrap())
            .await
            .unwrap()
    });
}

#[tokio::test]
async fn journal_entries_survive_reopening_and_sequence_numbers_keep_growing() {
    use alertkit_core::Journal;
    use alertkit_store::SqliteJournal;

    let db = format!("sqlite://{}", temp_db().display());
    let alert = Alert::firing(
        LabelSet::from_pairs([("alertname", "Journaled"), ("nul", "a\0b"), ("q", "'; --")]),
        OffsetDateTime::now_utc(),
    );
    let receipt = Receipt::new(alert.clone(), OffsetDateTime::now_utc());
    let (first, second) = {
        let journal = SqliteJournal::open_beside(&db).await.unwrap();
        let first = journal
            .append(std::slice::from_ref(&receipt))
            .await
            .unwrap();
        let second = journal
            .append(std::slice::from_ref(&receipt))
            .await
            .unwrap();
        journal.close().await;
        (first, second)
    };
    assert!(second > first);
    let journal = SqliteJournal::open_beside(&db).await.unwrap();
    let entries = journal.unconsumed().await.unwrap();
    assert_eq!(
        entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [first, second]
    );
    assert_eq!(entries[0].receipts[0].alert, alert);
    assert_eq!(entries[0].receipts[0].received_at, receipt.received_at);
    journal.consume(second).await.unwrap();
    assert!(journal.unconsumed().await.unwrap().is_empty());
    let third = journal.append(&[receipt]).await.unwrap();
    assert!(
        third > second,
        "a consumed journal never reuses sequence numbers"
    );
}

#[tokio::test]
async fn a_pipeline_on_the_journal_records_what_a_crash_left() {
    use std::sync::Arc;

    use alertkit_core::layer::{DirectHandoff, FanOut};
    use alertkit_core::memory::RecordingPublisher;
    use alertkit_core::pipeline::Pipeline;
    use alertkit_core::{Journal, Origin, SourceBatch};
    use alertkit_store::SqliteJournal;

    let db = format!("sqlite://{}", temp_db().display());
    let alerts: Vec<Alert> = (0..300)
        .map(|i| {
            Alert::firing(
                LabelSet::from_pairs([("alertname", "Crash".to_owned()), ("i", i.to_string())]),
                OffsetDateTime::now_utc(),
            )
        })
        .collect();
    // Acknowledged through the journal, then the process "dies" before recording.
    {
        let journal = SqliteJournal::open_beside(&db).await.unwrap();
        let now = OffsetDateTime::now_utc();
        let receipts: Vec<Receipt> = alerts[..200]
            .iter()
            .map(|a| Receipt::new(a.clone(), now))
            .collect();
        journal.append(&receipts[..120]).await.unwrap();
        journal.append(&receipts[120..]).await.unwrap();
        journal.close().await;
    }
    let store = Arc::new(SqliteHistoryStore::open(&db).await.unwrap());
    let journal = Arc::new(SqliteJournal::open_beside(&db).await.unwrap());
    let sink = Arc::new(RecordingPublisher::new("sink", 10_000));
    let pipeline = Pipeline::builder(
        store.clone(),
        Arc::new(DirectHandoff::new(
            FanOut::new().with_publisher(sink.clone()),
        )),
    )
    .journal(journal.clone())
    .spawn();
    let ingest = pipeline.ingest();
    // New batches, some repeating replayed alerts.
    let ack = ingest
        .submit(SourceBatch::new(
            Origin::named("after"),
            alerts[150..].to_vec(),
        ))
        .await
        .unwrap();
    assert_eq!(ack.received, 150);
    ingest.sync().await;
    let mut q = alertkit_core::HistoryQuery::default();
    q.limit = 1000;
    assert_eq!(store.list(&q).await.unwrap().records.len(), 300);
    assert!(journal.unconsumed().await.unwrap().is_empty());
    pipeline.shutdown().await;
    assert_eq!(sink.notifications().len(), 300, "each alert notified once");
}

/// The error a store opened with `migrate = false` refuses `path` with.
async fn schema_error(path: &std::path::Path) -> Option<alertkit_store::SchemaError> {
    let mut options = SqliteOptions::new(path.to_str().unwrap());
    options.migrate = false;
    match SqliteHistoryStore::open_with(options).await {
        Ok(store) => {
            store.close().await;
            None
        }
        Err(e) => Some(schema_of(&e)),
    }
}

/// The [`alertkit_store::SchemaError`] behind `e`.
fn schema_of(e: &StoreError) -> alertkit_store::SchemaError {
    let source = std::error::Error::source(e).expect("a schema error as the source");
    source
        .downcast_ref::<alertkit_store::SchemaError>()
        .unwrap_or_else(|| panic!("not a schema error: {e:?}"))
        .clone()
}

/// Opened with `migrate = false`, a store checks that the database holds
/// exactly this build's migrations and names the first difference.
#[tokio::test]
async fn opening_without_migrating_checks_the_schema() {
    use alertkit_store::SchemaError;

    // An empty file, and one migrated part of the way.
    let empty = temp_db();
    assert!(matches!(
        schema_error(&empty).await,
        Some(SchemaError::Pending { version: 20261122000001, ref description }) if description == "history"
    ));
    let (partial, pool) = migrated_to(20261122000005).await;
    pool.close().await;
    assert!(matches!(
        schema_error(&partial).await,
        Some(SchemaError::Pending {
            version: 20261205000006,
            ..
        })
    ));

    // Fully migrated: opens, and keeps refusing once the record is altered;
    // a store already open sees the change too (its readiness check).
    let path = temp_db();
    let live = store_at(&path).await;
    live.check_schema().await.unwrap();
    assert_eq!(schema_error(&path).await, None);
    let pool = pool_at(&path).await;
    let alter = |sql: &'static str| {
        let pool = pool.clone();
        async move { sqlx::query(sql).execute(&pool).await.unwrap() }
    };
    alter("UPDATE _sqlx_migrations SET checksum = x'00' WHERE version = 20261122000002").await;
    assert_eq!(
        schema_of(&live.check_schema().await.unwrap_err()),
        SchemaError::Modified {
            version: 20261122000002
        }
    );
    assert_eq!(
        schema_error(&path).await,
        Some(SchemaError::Modified {
            version: 20261122000002
        })
    );
    alter("UPDATE _sqlx_migrations SET success = 0 WHERE version = 20261122000002").await;
    assert_eq!(
        schema_error(&path).await,
        Some(SchemaError::Failed {
            version: 20261122000002
        })
    );
    alter(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (29991231000001, 'from the future', 1, x'00', 0)",
    )
    .await;
    assert_eq!(
        schema_error(&path).await,
        Some(SchemaError::Unknown {
            version: 29991231000001
        })
    );
    live.close().await;
    pool.close().await;
}
