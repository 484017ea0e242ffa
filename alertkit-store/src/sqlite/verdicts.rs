//! Alert rows that name the timeline row carrying their verdict.
//!
//! A verdict is a few hundred bytes of JSON, and a new alert's current
//! verdict is nearly always the one recorded with its firing, in the same
//! batch. Instead of writing it twice, the alert row's
//! `classification_event` names that event (migration `…10`); the view
//! `alertkit_alerts_current` reads it back, and a trigger moves it into the
//! alert row before retention deletes the event.
//!
//! [`VerdictRefs`] decides, per row written, whether a stored event holds
//! exactly the row's verdict: one this batch writes, or the one the row
//! already named. Identity is the [`Arc`], never equal text, so an alert
//! names an event only when the verdict was recorded there.

use std::collections::HashMap;
use std::sync::Arc;

use alertkit_core::{Classification, StateKey};

use crate::sql::codec::fp_key;

/// Per alert (by fingerprint key): a verdict and the event row storing it.
#[derive(Debug, Default)]
pub(super) struct VerdictRefs(HashMap<i64, (Arc<Classification>, i64)>);

impl VerdictRefs {
    /// Notes that event `event` of the alert `key` stores `verdict`; a later
    /// note for the same alert replaces an earlier one.
    pub(super) fn note(&mut self, key: i64, verdict: &Arc<Classification>, event: i64) {
        self.0.insert(key, (Arc::clone(verdict), event));
    }

    /// The event the alert `key` can name for its verdict `current`: the
    /// last one noted for it, if that stores this very verdict.
    pub(super) fn event_for(&self, key: i64, current: &Arc<Classification>) -> Option<i64> {
        self.0
            .get(&key)
            .filter(|(verdict, _)| Arc::ptr_eq(verdict, current))
            .map(|&(_, event)| event)
    }
}

/// What `attach_classifications` points alerts at, as `ATTACH_NAMED`'s
/// JSON rows `{a: alert id, e: event id, sev}`: per alert, the newest of the
/// `classified` events it `logged` (`(event, alert, fingerprint key,
/// starts_at)`), so that later items for the same alert win as if applied
/// in order, with that item's severity.
pub(super) fn newest_attached(
    items: &[(StateKey, Arc<Classification>)],
    logged: &[(i64, i64, i64, i64)],
) -> Vec<serde_json::Value> {
    let mut severities = HashMap::new();
    for (key, c) in items {
        severities.insert(
            (fp_key(key.fingerprint), key.starts_at),
            c.severity.as_str(),
        );
    }
    let mut newest: HashMap<i64, (i64, i64, i64)> = HashMap::new();
    for &(event, alert, fp, starts_at) in logged {
        let slot = newest.entry(alert).or_insert((event, fp, starts_at));
        if event > slot.0 {
            *slot = (event, fp, starts_at);
        }
    }
    newest
        .into_iter()
        .map(|(alert, (event, fp, starts_at))| {
            let sev = severities.get(&(fp, i128::from(starts_at)));
            serde_json::json!({"a": alert, "e": event, "sev": sev})
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict() -> Arc<Classification> {
        Arc::new(Classification::new(
            alertkit_core::Severity::Warning,
            alertkit_core::Category::Other,
            0.5,
            alertkit_core::ClassificationSource::Rules,
        ))
    }

    #[test]
    fn names_the_event_only_for_the_same_verdict() {
        let (a, b) = (verdict(), verdict());
        let mut refs = VerdictRefs::default();
        refs.note(1, &a, 10);
        assert_eq!(refs.event_for(1, &a), Some(10));
        assert_eq!(
            refs.event_for(1, &b),
            None,
            "equal text is not the same verdict"
        );
        assert_eq!(refs.event_for(2, &a), None, "another alert's event");
        refs.note(1, &b, 11);
        assert_eq!(refs.event_for(1, &b), Some(11), "the later note wins");
        assert_eq!(refs.event_for(1, &a), None);
    }
}
