//! Webhook v4 parsing and emitting.
//!
//! `parse/webhook/{10,100}` time [`WebhookMessage::from_json`] on a realistic
//! kube-prometheus body (see `alertkit_benches::webhook_body`), reported in
//! alerts per second. The input bytes are built once; each iteration parses,
//! validates and fingerprints the body and also drops the parsed message
//! (`Bencher::iter` drops outputs inside the timed loop), which is the
//! conservative figure: freeing those ~30 allocations per alert is work the
//! process does for every webhook it accepts.
//!
//! `emit/webhook/100` times `serde_json::to_vec` of the parsed 100-alert message.
//!
//! Target (issue, 2-core machine): parse ≥ 200k alerts/s.

use std::hint::black_box;

use alertkit_benches::webhook_body;
use alertkit_core::WebhookMessage;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse/webhook");
    for n in [10usize, 100] {
        let body = webhook_body(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(n.to_string(), |b| {
            b.iter(|| WebhookMessage::from_json(black_box(&body)).expect("fixture body parses"));
        });
    }
    group.finish();
}

fn emit(c: &mut Criterion) {
    let n = 100usize;
    let msg = WebhookMessage::from_json(&webhook_body(n)).expect("fixture body parses");
    let mut group = c.benchmark_group("emit/webhook");
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function(n.to_string(), |b| {
        b.iter(|| serde_json::to_vec(black_box(&msg)).expect("message serialises"));
    });
    group.finish();
}

criterion_group!(benches, parse, emit);
criterion_main!(benches);
