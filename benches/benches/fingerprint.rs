//! Label-set construction, which is where the fingerprint is computed.
//!
//! - `fingerprint/hash/*`: the FNV-1a fingerprint alone
//!   (`Fingerprint::of_sorted` over pre-sorted pairs), for the realistic
//!   kube-prometheus fixture (10 labels, 279 bytes hashed) and a compact
//!   10-label set (86 bytes hashed). FNV-1a is one dependent xor+multiply per
//!   byte, so its cost is linear in the bytes hashed.
//!
//! The `build/*` benchmarks time `LabelSet::from_pairs`, where the
//! fingerprint is computed once and cached: the hash **plus** copying the
//! strings into the set's one text buffer, a sortedness check (or stable sort
//! and de-duplication), dropping empty values, and the set's three
//! allocations (`Arc`, text, offset table).
//!
//! - `fingerprint/build/owned_unsorted`: 10 owned pairs in producer order (the
//!   API v2 / hand-built case).
//! - `fingerprint/build/owned_sorted`: 10 owned pairs already in name order (the
//!   webhook case: Alertmanager sends sorted keys); the sort is a single pass.
//! - `fingerprint/build/borrowed`: 10 `(&str, String)` pairs held by the caller.
//!
//! The owned pairs are cloned by `iter_batched`'s setup, outside the timed
//! section, and the built sets are dropped outside it too.
//!
//! Target (issue): fingerprint ≤ 100 ns for 10 labels.

use std::hint::black_box;

use alertkit_benches::{LABELS_PER_ALERT, alert_labels, sorted_label_pairs, unsorted_label_pairs};
use alertkit_core::{Fingerprint, LabelSet};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

fn fingerprint(c: &mut Criterion) {
    let mut group = c.benchmark_group("fingerprint");
    let realistic = sorted_label_pairs(42);
    group.bench_function("hash/10_labels_realistic", |b| {
        b.iter(|| Fingerprint::of_sorted(black_box(&realistic).iter().map(|(k, v)| (&**k, &**v))));
    });
    let compact = [
        ("alertname", "NodeDown"),
        ("cluster", "eu1"),
        ("env", "prod"),
        ("instance", "10.0.0.7:9100"),
        ("job", "node"),
        ("region", "eu-west"),
        ("service", "api"),
        ("severity", "critical"),
        ("team", "sre"),
        ("zone", "a"),
    ];
    group.bench_function("hash/10_labels_compact", |b| {
        b.iter(|| Fingerprint::of_sorted(black_box(compact)));
    });
    let unsorted = unsorted_label_pairs(42);
    let sorted = sorted_label_pairs(42);
    assert_eq!(unsorted.len(), LABELS_PER_ALERT);
    group.bench_function("build/owned_unsorted", |b| {
        b.iter_batched(
            || unsorted.clone(),
            |pairs| LabelSet::from_pairs(black_box(pairs)),
            BatchSize::SmallInput,
        );
    });
    group.bench_function("build/owned_sorted", |b| {
        b.iter_batched(
            || sorted.clone(),
            |pairs| LabelSet::from_pairs(black_box(pairs)),
            BatchSize::SmallInput,
        );
    });
    let borrowed = alert_labels(42);
    group.bench_function("build/borrowed", |b| {
        b.iter_batched(
            || (),
            |()| LabelSet::from_pairs(black_box(&borrowed).iter().map(|(k, v)| (*k, v.as_str()))),
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, fingerprint);
criterion_main!(benches);
