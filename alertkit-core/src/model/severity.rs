//! Alert severity and the mapping from the spellings found in label values.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How urgently an alert needs a human.
///
/// Parsed leniently from label values with [`Severity::from_label`]; the
/// mapping, case-insensitive and ignoring surrounding whitespace, is:
///
/// | Severity | Label values |
/// |---|---|
/// | `Critical` | `critical`, `crit`, `fatal`, `emergency`, `emerg`, `alert`, `disaster`, `page`, `paging`, `pager`, `high`, `major`, `error`, `err`, `severe`, `urgent`, `p0`, `p1`, `sev0`, `sev1`, `sev-0`, `sev-1`, `s0`, `s1`, `0`, `1` |
/// | `Warning` | `warning`, `warn`, `medium`, `moderate`, `average`, `minor`, `p2`, `p3`, `sev2`, `sev3`, `sev-2`, `sev-3`, `s2`, `s3`, `2`, `3` |
/// | `Info` | `info`, `informational`, `information`, `notice`, `low`, `debug`, `ok`, `p4`, `p5`, `sev4`, `sev5`, `sev-4`, `sev-5`, `s4`, `s5`, `4`, `5` |
/// | `Noise` | `noise`, `none` (kube-prometheus uses `none` for its `Watchdog` heartbeat) |
/// | `Unknown` | anything else, including an absent label |
///
/// `error` and `high` map to `Critical` because alertkit has three human
/// levels and both sit above "warning" in every scheme that uses them
/// (PagerDuty's `error`, Zabbix's and Opsgenie's `high`); missing a page costs
/// more than an extra one.
///
/// [`Severity::rank`] orders severities for "at least" filters; `Unknown`
/// ranks with `Warning` so that an unrecognised spelling is delivered rather
/// than silently dropped by a `min_severity = warning` filter.
///
/// ```
/// use alertkit_core::Severity;
///
/// assert_eq!(Severity::from_label("P1"), Severity::Critical);
/// assert_eq!(Severity::from_label(" Warn "), Severity::Warning);
/// assert_eq!(Severity::from_label("whatever"), Severity::Unknown);
/// assert!(Severity::Critical.at_least(Severity::Warning));
/// assert_eq!("critical".parse::<Severity>().unwrap(), Severity::Critical);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Severity {
    /// Wake someone up.
    Critical,
    /// Needs attention during working hours.
    Warning,
    /// For the record.
    Info,
    /// Not worth a human's attention (heartbeats, test alerts, known flukes).
    Noise,
    /// No severity given, or a spelling not in the table.
    #[default]
    Unknown,
}

impl Severity {
    /// Every severity, most urgent first.
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::Warning,
        Severity::Info,
        Severity::Noise,
        Severity::Unknown,
    ];

    /// Maps a label value (any spelling in the table above) to a severity.
    pub fn from_label(value: &str) -> Severity {
        let v = value.trim();
        // Most alerts use one of the canonical spellings exactly: skip the lowercase copy.
        match v {
            "critical" => return Severity::Critical,
            "warning" => return Severity::Warning,
            "info" => return Severity::Info,
            _ => {}
        }
        if v.len() > 16 {
            return Severity::Unknown;
        }
        match v.to_ascii_lowercase().as_str() {
            "critical" | "crit" | "fatal" | "emergency" | "emerg" | "alert" | "disaster"
            | "page" | "paging" | "pager" | "high" | "major" | "error" | "err" | "severe"
            | "urgent" | "p0" | "p1" | "sev0" | "sev1" | "sev-0" | "sev-1" | "s0" | "s1" | "0"
            | "1" => Severity::Critical,
            "warning" | "warn" | "medium" | "moderate" | "average" | "minor" | "p2" | "p3"
            | "sev2" | "sev3" | "sev-2" | "sev-3" | "s2" | "s3" | "2" | "3" => Severity::Warning,
            "info" | "informational" | "information" | "notice" | "low" | "debug" | "ok" | "p4"
            | "p5" | "sev4" | "sev5" | "sev-4" | "sev-5" | "s4" | "s5" | "4" | "5" => {
                Severity::Info
            }
            "noise" | "none" => Severity::Noise,
            _ => Severity::Unknown,
        }
    }

    /// The canonical lowercase name (`critical`, `warning`, `info`, `noise`, `unknown`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
            Severity::Noise => "noise",
            Severity::Unknown => "unknown",
        }
    }

    /// Urgency for "at least" comparisons: critical 3, warning and unknown 2, info 1, noise 0.
    pub const fn rank(self) -> u8 {
        match self {
            Severity::Critical => 3,
            Severity::Warning | Severity::Unknown => 2,
            Severity::Info => 1,
            Severity::Noise => 0,
        }
    }

    /// Whether `self` is at least as urgent as `min` (see [`Severity::rank`]).
    pub const fn at_least(self, min: Severity) -> bool {
        self.rank() >= min.rank()
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for a severity name that is not one of the five canonical names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown severity {0:?}: expected critical, warning, info, noise or unknown")]
pub struct InvalidSeverity(pub String);

impl FromStr for Severity {
    type Err = InvalidSeverity;

    /// Strict: only the canonical names (any case). Use [`Severity::from_label`]
    /// for lenient label mapping.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|sev| sev.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| InvalidSeverity(s.chars().take(64).collect()))
    }
}

impl Serialize for Severity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Severity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        super::deserialize_parsed(deserializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_spellings() {
        for (v, want) in [
            ("critical", Severity::Critical),
            ("CRITICAL", Severity::Critical),
            ("page", Severity::Critical),
            ("P1", Severity::Critical),
            ("error", Severity::Critical),
            ("high", Severity::Critical),
            ("warning", Severity::Warning),
            ("Warn", Severity::Warning),
            ("medium", Severity::Warning),
            ("P3", Severity::Warning),
            ("info", Severity::Info),
            ("low", Severity::Info),
            ("none", Severity::Noise),
            ("", Severity::Unknown),
            ("bogus", Severity::Unknown),
            ("a-very-long-severity-value", Severity::Unknown),
        ] {
            assert_eq!(Severity::from_label(v), want, "{v:?}");
        }
    }

    #[test]
    fn canonical_names_round_trip() {
        for sev in Severity::ALL {
            assert_eq!(sev.as_str().parse::<Severity>(), Ok(sev));
            assert_eq!(Severity::from_label(sev.as_str()), sev);
            let json = serde_json::to_string(&sev).unwrap();
            assert_eq!(serde_json::from_str::<Severity>(&json).unwrap(), sev);
        }
        assert!("page".parse::<Severity>().is_err());
    }

    #[test]
    fn ranks() {
        assert!(Severity::Unknown.at_least(Severity::Warning));
        assert!(!Severity::Info.at_least(Severity::Warning));
        assert!(Severity::Noise.at_least(Severity::Noise));
    }
}
