//! How SQLite runs the statements that look alerts up through the views.
//!
//! A view over two tables (`alertkit_fingerprints`) or a correlated lookup
//! (`alertkit_alerts_current`) is only cheap while SQLite pushes the lookup
//! into each table's key. One join with the fingerprint view once made
//! SQLite materialize all of it on every call (430 ms per 1,000 attached
//! verdicts at 1M alerts, and growing), and no functional test noticed.
//! These tests read `EXPLAIN QUERY PLAN` of every such statement and refuse
//! a full scan of a table or an index (but the ones a statement is meant to
//! make), a materialized view or an automatic index: plans, not timings, so
//! they hold on any machine. They see the plans SQLite picks for an empty,
//! unanalyzed database with NULL parameters, which is what a new Lite
//! install runs.

#![allow(clippy::unwrap_used)] // tests fail loudly

use sqlx::{Connection, Row};

use super::{MIGRATOR, outbox, queries};

/// The index scan the list pages are: ordered by `last_changed`, stopped
/// by `LIMIT`.
const LIST_SCAN: &[&str] = &["SCAN a USING INDEX alertkit_alerts_last_changed"];

/// Every statement that reads alerts by fingerprint or through
/// `alertkit_alerts_current`, by name, with the scans it may make.
const STATEMENTS: [(&str, &str, &[&str]); 11] = [
    ("SELECT_ALERT", queries::SELECT_ALERT, &[]),
    ("TIMELINE", queries::TIMELINE, &[]),
    ("STORED", queries::STORED, &[]),
    ("ATTACH_EVENTS", queries::ATTACH_EVENTS, &[]),
    ("ATTACH_NAMED", queries::ATTACH_NAMED, &[]),
    ("NEWEST_FIRST", queries::NEWEST_FIRST, LIST_SCAN),
    ("OLDEST_FIRST", queries::OLDEST_FIRST, LIST_SCAN),
    ("CLAIMED", outbox::CLAIMED, &[]),
    ("TOP_FIRING", crate::sql::stats::TOP_FIRING_SQLITE, &[]),
    ("FLAPPING", crate::sql::stats::FLAPPING_SQLITE, &[]),
    // The body of migration 0010's `alertkit_events_verdict_kept` trigger
    // (`old.*` as parameters): `EXPLAIN` of a DELETE does not show it.
    (
        "VERDICT_KEPT",
        "UPDATE alertkit_alerts SET classification = coalesce(classification, ?1), \
         classification_event = NULL WHERE id = ?2 AND classification_event = ?3",
        &[],
    ),
];

/// The highest `?N` placeholder in `sql`.
fn parameters(sql: &str) -> usize {
    sql.split('?')
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .max()
        .unwrap_or(0)
}

/// The plan lines that read a whole table or index, or build one the
/// schema lacks, other than the scans in `allowed`. Scanning a co-routine
/// (a `LIMIT`ed subquery the plan computes first) is fine.
fn unbounded<'a>(plan: &'a [String], allowed: &[&str]) -> Vec<&'a str> {
    let coroutines: Vec<&str> = plan
        .iter()
        .filter_map(|d| d.strip_prefix("CO-ROUTINE "))
        .collect();
    plan.iter()
        .map(String::as_str)
        .filter(|d| {
            let scans = d
                .strip_prefix("SCAN ")
                .is_some_and(|what| !what.contains("VIRTUAL TABLE") && !coroutines.contains(&what));
            (scans && !allowed.contains(d))
                || d.starts_with("MATERIALIZE")
                || d.contains("AUTOMATIC")
        })
        .collect()
}

#[tokio::test]
async fn lookups_through_the_views_stay_on_keys_and_indexes() {
    let dir = std::env::temp_dir().join(format!("alertkit-plans-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("plans.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    MIGRATOR.run(&mut conn).await.unwrap();
    let mut refused = Vec::new();
    for (name, sql, allowed) in STATEMENTS {
        let explain = format!("EXPLAIN QUERY PLAN {sql}");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(explain));
        for _ in 0..parameters(sql) {
            query = query.bind(None::<i64>);
        }
        let plan: Vec<String> = query
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .iter()
            .map(|row| row.get::<String, _>("detail"))
            .collect();
        assert!(!plan.is_empty(), "{name}: no plan");
        if !unbounded(&plan, allowed).is_empty() {
            refused.push(format!("{name}:\n  {}", plan.join("\n  ")));
        }
    }
    assert!(refused.is_empty(), "{}", refused.join("\n"));
    drop(conn);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unbounded_plans_are_recognised() {
    let plan = |lines: &[&str]| -> Vec<String> { lines.iter().map(|l| l.to_string()).collect() };
    for bad in [
        "MATERIALIZE alertkit_fingerprints",
        "SCAN alertkit_fingerprints_settled",
        "SEARCH f USING AUTOMATIC COVERING INDEX (fingerprint=?)",
        "SCAN a",
        "SCAN e USING COVERING INDEX alertkit_events_alert",
    ] {
        assert_eq!(unbounded(&plan(&[bad]), &[]), [bad]);
    }
    let fine = plan(&[
        "CO-ROUTINE t",
        "SCAN t",
        "SCAN j VIRTUAL TABLE INDEX 1:",
        "SEARCH a USING INTEGER PRIMARY KEY (rowid=?)",
        "SEARCH e USING COVERING INDEX alertkit_events_stats (kind=? AND at>? AND at<?)",
    ]);
    assert!(unbounded(&fine, &[]).is_empty());
    let list = plan(LIST_SCAN);
    assert_eq!(unbounded(&list, &[]), LIST_SCAN);
    assert!(unbounded(&list, LIST_SCAN).is_empty());
    assert_eq!(parameters("a = ?1 AND b IN (?12, ?3)"), 12);
}
