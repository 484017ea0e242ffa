//! Replays the cargo-fuzz corpora (`fuzz/corpus/<target>/`) as ordinary tests,
//! through the same bodies the fuzz targets run.

#![allow(clippy::unwrap_used)] // tests fail loudly

use std::path::Path;

use alertkit_core::testing::fuzz;

fn replay(target: &str, body: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        if let Err(panic) = std::panic::catch_unwind(|| body(&data)) {
            std::panic::resume_unwind(Box::new(format!("{} failed: {panic:?}", path.display())));
        }
        count += 1;
    }
    assert!(count > 0, "empty corpus {}", dir.display());
}

#[test]
fn webhook_corpus() {
    replay("webhook", fuzz::webhook);
}

#[test]
fn api_v2_corpus() {
    replay("api_v2", fuzz::api_v2);
}

#[test]
fn matchers_corpus() {
    replay("matchers", fuzz::matchers);
}
