//! Label matchers: parsing a 5-matcher list and evaluating it against a 10-label set.
//!
//! The matcher list (`alertkit_benches::FIVE_MATCHERS`) mixes `=`, `!=`,
//! `=~` and `!~`. Both the matching and the non-matching label sets make
//! `Matchers::matches` evaluate all five matchers (the non-matching one fails
//! only the last, a `!~` regex), so neither case is a short-circuit.
//!
//! `matchers/parse/5` includes compiling the three regexes (`=~`, `!~`) and
//! dropping the parsed list.

use std::hint::black_box;

use alertkit_benches::{FIVE_MATCHERS, matching_labels, non_matching_labels};
use alertkit_core::Matchers;
use criterion::{Criterion, criterion_group, criterion_main};

fn matchers(c: &mut Criterion) {
    let mut group = c.benchmark_group("matchers");
    let matchers = Matchers::parse(FIVE_MATCHERS).expect("fixture matchers parse");
    let hit = matching_labels();
    let miss = non_matching_labels();
    assert!(matchers.matches(&hit));
    assert!(!matchers.matches(&miss));
    group.bench_function("match/5_of_10/hit", |b| {
        b.iter(|| black_box(&matchers).matches(black_box(&hit)));
    });
    group.bench_function("match/5_of_10/miss", |b| {
        b.iter(|| black_box(&matchers).matches(black_box(&miss)));
    });
    group.bench_function("parse/5", |b| {
        b.iter(|| Matchers::parse(black_box(FIVE_MATCHERS)).expect("fixture matchers parse"));
    });
    group.finish();
}

criterion_group!(benches, matchers);
criterion_main!(benches);
