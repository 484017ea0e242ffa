//! The JSON-lines publisher passes the core `Publisher` conformance suite.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use alertkit_core::testing::conformance::{self, Observer};
use alertkit_example_custom_publisher::JsonLinesPublisher;

fn fresh_path() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!("alertkit-jsonl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{}.jsonl", N.fetch_add(1, Ordering::Relaxed)))
}

#[test]
fn json_lines_publisher_conforms() {
    conformance::publisher(|| async {
        let path = fresh_path();
        let publisher = JsonLinesPublisher::open("jsonl", &path).await.unwrap();
        // The observer reads back the dedup keys of the lines written.
        let observer: Observer = Arc::new(move || {
            std::fs::read_to_string(&path)
                .unwrap_or_default()
                .lines()
                .map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).unwrap();
                    v["dedup_key"].as_str().unwrap().to_owned()
                })
                .collect()
        });
        (publisher, Some(observer))
    });
    let dir = std::env::temp_dir().join(format!("alertkit-jsonl-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(dir);
}
