//! The file journal: conformance, durability across reopening, torn tails,
//! segment rollover and moving an older SQLite journal's entries over; and
//! the validation both journals share.

#![allow(clippy::unwrap_used)] // tests fail loudly

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use alertkit_core::testing::conformance;
use alertkit_core::{Alert, Annotations, Journal, LabelSet, Receipt, StoreError};
use alertkit_store::{FileJournal, SqliteJournal};
use time::OffsetDateTime;

/// A fresh path per journal (a directory, or a database to put one beside).
fn temp_path(what: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!("alertkit-file-journal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{what}-{}", N.fetch_add(1, Ordering::Relaxed)))
}

fn receipt(name: &str) -> Receipt {
    let alert = Alert::firing(
        LabelSet::from_pairs([("alertname", name), ("nul", "a\0b"), ("q", "'; --")]),
        OffsetDateTime::now_utc(),
    );
    Receipt::new(alert, OffsetDateTime::now_utc())
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files
}

fn seqs(entries: &[alertkit_core::traits::JournalEntry]) -> Vec<u64> {
    entries.iter().map(|e| e.seq).collect()
}

#[test]
fn file_journal_conforms() {
    conformance::journal(|| async { FileJournal::open(temp_path("conformance")).await.unwrap() });
}

#[tokio::test]
async fn entries_survive_reopening_and_sequence_numbers_keep_growing() {
    let dir = temp_path("reopen");
    let r = receipt("Journaled");
    let (first, second) = {
        let journal = FileJournal::open(&dir).await.unwrap();
        let first = journal.append(std::slice::from_ref(&r)).await.unwrap();
        let second = journal.append(std::slice::from_ref(&r)).await.unwrap();
        journal.close().await;
        (first, second)
    };
    assert!(second > first);
    let journal = FileJournal::open(&dir).await.unwrap();
    let entries = journal.unconsumed().await.unwrap();
    assert_eq!(seqs(&entries), [first, second]);
    assert_eq!(entries[0].receipts[0].alert, r.alert);
    assert_eq!(entries[0].receipts[0].received_at, r.received_at);
    journal.consume(first).await.unwrap();
    drop(journal);

    // The consumed mark survives too; after consuming everything and
    // reopening, numbers still never go back.
    let journal = FileJournal::open(&dir).await.unwrap();
    assert_eq!(seqs(&journal.unconsumed().await.unwrap()), [second]);
    journal.consume(second).await.unwrap();
    drop(journal);
    let journal = FileJournal::open(&dir).await.unwrap();
    assert!(journal.unconsumed().await.unwrap().is_empty());
    let third = journal.append(&[r]).await.unwrap();
    assert!(
        third > second,
        "a consumed journal never reuses sequence numbers"
    );
}

#[tokio::test]
async fn one_process_at_a_time() {
    let dir = temp_path("locked");
    let journal = FileJournal::open(&dir).await.unwrap();
    let err = FileJournal::open(&dir).await.unwrap_err();
    let why = std::error::Error::source(&err).unwrap().to_string();
    assert!(why.contains("in use by another process"), "{why}");
    drop(journal);
    FileJournal::open(&dir).await.unwrap();
}

#[tokio::test]
async fn a_torn_or_corrupt_tail_is_cut_and_the_rest_kept() {
    use std::io::Write;

    let dir = temp_path("torn");
    {
        let journal = FileJournal::open(&dir).await.unwrap();
        for name in ["A", "B", "C"] {
            journal.append(&[receipt(name)]).await.unwrap();
        }
        journal.close().await;
    }
    let segment = segments(&dir).pop().unwrap();
    // A crash in the middle of a write: half a frame at the end.
    let whole = std::fs::read(&segment).unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&segment)
        .unwrap()
        .write_all(&whole[..20])
        .unwrap();
    let journal = FileJournal::open(&dir).await.unwrap();
    let entries = journal.unconsumed().await.unwrap();
    assert_eq!(
        entries.len(),
        3,
        "the half frame is cut, the three entries kept"
    );
    assert_eq!(
        std::fs::read(&segment).unwrap(),
        whole,
        "the segment is cut back"
    );
    let fourth = journal.append(&[receipt("D")]).await.unwrap();
    assert!(fourth > entries[2].seq);
    assert_eq!(journal.unconsumed().await.unwrap().len(), 4);
    journal.close().await;
    drop(journal);

    // A flipped byte in the last frame of the first segment: that entry
    // fails its checksum and is cut; the other segment's entry stays.
    let mut bytes = std::fs::read(&segment).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&segment, &bytes).unwrap();
    let journal = FileJournal::open(&dir).await.unwrap();
    let names: Vec<String> = journal
        .unconsumed()
        .await
        .unwrap()
        .iter()
        .map(|e| {
            e.receipts[0]
                .alert
                .labels
                .get("alertname")
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(names, ["A", "B", "D"]);
}

#[tokio::test]
async fn segments_roll_over_and_consumed_ones_are_deleted() {
    let dir = temp_path("roll");
    let journal = FileJournal::open(&dir).await.unwrap();
    let big = "x".repeat(64 * 1024);
    let mut last = 0;
    // About 1.2 times the 64 MiB a segment holds.
    for i in 0..1200 {
        let mut r = receipt(&format!("Big{i}"));
        r.alert.annotations = Annotations::from_pairs([("description", big.as_str())]);
        last = journal.append(&[r]).await.unwrap();
    }
    assert!(segments(&dir).len() >= 2, "{:?}", segments(&dir));
    let entries = journal.unconsumed().await.unwrap();
    assert_eq!(entries.len(), 1200);
    assert_eq!(
        entries[0].receipts[0].alert.annotations.get("description"),
        Some(big.as_str())
    );
    journal.consume(last).await.unwrap();
    assert!(journal.unconsumed().await.unwrap().is_empty());
    assert_eq!(
        segments(&dir).len(),
        1,
        "only the segment appends go to is left"
    );
    journal.close().await;
    drop(journal);
    let journal = FileJournal::open(&dir).await.unwrap();
    assert!(journal.unconsumed().await.unwrap().is_empty());
    assert!(journal.append(&[receipt("After")]).await.unwrap() > last);
}

/// An append with a time the history stores cannot hold fails naming the
/// receipt and appends nothing.
async fn refuses_far_times(journal: &dyn Journal) {
    let now = OffsetDateTime::now_utc();
    let far = Alert::firing(
        LabelSet::from_pairs([("alertname", "Far")]),
        time::macros::datetime!(9999-01-01 00:00 UTC),
    );
    let err = journal
        .append(&[receipt("Ok"), Receipt::new(far, now)])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert!(err.to_string().contains("receipts[1].startsAt"), "{err}");
    assert!(
        journal.unconsumed().await.unwrap().is_empty(),
        "nothing appended"
    );
}

#[tokio::test]
async fn appends_refuse_what_history_would_refuse_naming_the_receipt() {
    refuses_far_times(&FileJournal::open(temp_path("invalid")).await.unwrap()).await;
    assert!(FileJournal::open_beside("sqlite::memory:").await.is_err());
    let db = format!("sqlite://{}.db", temp_path("invalid-sqlite").display());
    refuses_far_times(&SqliteJournal::open_beside(&db).await.unwrap()).await;
    assert!(SqliteJournal::open_beside("sqlite::memory:").await.is_err());
}

#[tokio::test]
async fn opening_beside_a_database_moves_the_older_sqlite_journal_over() {
    let db = format!("sqlite://{}.db", temp_path("legacy").display());
    let legacy = SqliteJournal::path_beside(&db).unwrap();
    {
        let old = SqliteJournal::open_beside(&db).await.unwrap();
        let first = old.append(&[receipt("Consumed")]).await.unwrap();
        old.consume(first).await.unwrap();
        old.append(&[receipt("Left1"), receipt("Left2")])
            .await
            .unwrap();
        old.append(&[receipt("Left3")]).await.unwrap();
        old.close().await;
    }
    assert!(Path::new(&legacy).exists());
    let journal = FileJournal::open_beside(&db).await.unwrap();
    let names: Vec<Vec<String>> = journal
        .unconsumed()
        .await
        .unwrap()
        .iter()
        .map(|e| {
            e.receipts
                .iter()
                .map(|r| r.alert.labels.get("alertname").unwrap().to_owned())
                .collect()
        })
        .collect();
    assert_eq!(names, [vec!["Left1", "Left2"], vec!["Left3"]]);
    assert!(
        !Path::new(&legacy).exists(),
        "the SQLite journal is removed once moved"
    );
    assert!(FileJournal::path_beside(&db).unwrap().is_dir());
}
