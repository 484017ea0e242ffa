//! Recently committed alert states, for duplicate detection at intake.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use rustc_hash::FxBuildHasher;

use crate::StateKey;

/// A bounded, approximately-TTL'd set of [`StateKey`]s in two generations.
///
/// Inserts go to the current generation; lookups check both. The current
/// generation becomes the previous one (and the old previous one is dropped)
/// when it is `ttl` old or holds half the capacity. So a key is remembered
/// for at least `ttl` unless more than `capacity / 2` newer keys arrive in
/// that time, never longer than `2 × ttl`, and the set never holds more than
/// `capacity` keys. No per-entry timers, no locks (one task owns it).
#[derive(Debug)]
pub(super) struct RecentStates {
    current: HashSet<StateKey, FxBuildHasher>,
    previous: HashSet<StateKey, FxBuildHasher>,
    started: Instant,
    ttl: Duration,
    half: usize,
}

impl RecentStates {
    pub(super) fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            current: HashSet::default(),
            previous: HashSet::default(),
            started: Instant::now(),
            ttl,
            half: (capacity / 2).max(1),
        }
    }

    pub(super) fn contains(&self, key: &StateKey) -> bool {
        self.current.contains(key) || self.previous.contains(key)
    }

    pub(super) fn insert(&mut self, key: StateKey) {
        if self.current.len() >= self.half || self.started.elapsed() >= self.ttl {
            self.previous = std::mem::take(&mut self.current);
            self.started = Instant::now();
        }
        self.current.insert(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Alert, LabelSet};

    fn key(i: usize) -> StateKey {
        Alert::firing(
            LabelSet::from_pairs([("i", i.to_string())]),
            time::OffsetDateTime::UNIX_EPOCH,
        )
        .state_key()
    }

    #[test]
    fn remembers_within_capacity_and_forgets_beyond() {
        let mut recent = RecentStates::new(Duration::from_secs(3600), 10);
        for i in 0..5 {
            recent.insert(key(i));
        }
        assert!((0..5).all(|i| recent.contains(&key(i))));
        for i in 5..10 {
            recent.insert(key(i));
        }
        assert!(
            (0..10).all(|i| recent.contains(&key(i))),
            "capacity not reached yet"
        );
        for i in 10..15 {
            recent.insert(key(i));
        }
        assert!(!recent.contains(&key(0)), "oldest generation dropped");
        assert!((5..15).all(|i| recent.contains(&key(i))));
        assert!(recent.current.len() + recent.previous.len() <= 10);
    }

    #[test]
    fn forgets_after_two_ttls() {
        let mut recent = RecentStates::new(Duration::ZERO, 1000);
        recent.insert(key(1));
        recent.insert(key(2));
        recent.insert(key(3));
        assert!(!recent.contains(&key(1)));
        assert!(recent.contains(&key(2)) && recent.contains(&key(3)));
    }
}
