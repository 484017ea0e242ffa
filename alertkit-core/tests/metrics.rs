//! The pipeline's per-stage metrics, read through a debugging recorder.

#![allow(clippy::unwrap_used)] // tests fail loudly

use std::collections::HashMap;
use std::sync::Arc;

use alertkit_core::layer::{DirectHandoff, FanOut};
use alertkit_core::memory::{LabelClassifier, MemoryHistoryStore, RecordingPublisher};
use alertkit_core::pipeline::Pipeline;
use alertkit_core::{Alert, LabelSet, Origin, SourceBatch};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

#[test]
fn every_stage_reports() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let sink = Arc::new(RecordingPublisher::new("sink", 100));
        let pipeline = Pipeline::builder(
            Arc::new(MemoryHistoryStore::default()),
            Arc::new(DirectHandoff::new(FanOut::new().with_publisher(sink))),
        )
        .classifier(Arc::new(LabelClassifier))
        .spawn();
        let alerts: Vec<Alert> = (0..3)
            .map(|i| {
                Alert::firing(
                    LabelSet::from_pairs([("alertname", format!("M{i}"))]),
                    time::OffsetDateTime::now_utc(),
                )
            })
            .collect();
        let batch = SourceBatch::new(Origin::named("metrics"), alerts);
        pipeline.ingest().submit(batch.clone()).await.unwrap();
        pipeline.ingest().submit(batch).await.unwrap();
        pipeline.shutdown().await;
    });

    let mut counters: HashMap<String, u64> = HashMap::new();
    let mut histograms: HashMap<String, usize> = HashMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let (_, key) = key.into_parts();
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let name = if labels.is_empty() {
            key.name().to_owned()
        } else {
            format!("{}{{{}}}", key.name(), labels.join(","))
        };
        match value {
            DebugValue::Counter(n) => {
                counters.insert(name, n);
            }
            DebugValue::Histogram(v) => {
                histograms.insert(name, v.len());
            }
            DebugValue::Gauge(_) => {}
        }
    }
    assert_eq!(
        counters.get("alert_history_business_alerts_received_total"),
        Some(&6),
        "{counters:?}"
    );
    assert_eq!(
        counters.get("alertkit_pipeline_duplicates_total"),
        Some(&3),
        "{counters:?}"
    );
    assert_eq!(
        counters.get("alertkit_pipeline_changes_total{kind=firing}"),
        Some(&3),
        "{counters:?}"
    );
    assert_eq!(
        counters.get("alertkit_pipeline_classifications_total{outcome=ok}"),
        Some(&3),
        "{counters:?}"
    );
    assert_eq!(
        counters.get("alertkit_pipeline_handoff_total{outcome=ok}"),
        Some(&3),
        "{counters:?}"
    );
    assert_eq!(
        counters.get("alertkit_publish_total{target=sink,outcome=delivered}"),
        Some(&3),
        "{counters:?}"
    );
    assert_eq!(
        histograms.get("alert_history_business_alert_processing_duration_seconds"),
        Some(&3),
        "{histograms:?}"
    );
    assert!(
        histograms.contains_key("alertkit_pipeline_record_duration_seconds"),
        "{histograms:?}"
    );
    assert!(
        histograms.contains_key("alertkit_pipeline_classify_duration_seconds"),
        "{histograms:?}"
    );
}
