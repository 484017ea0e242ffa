//! RFC 3339 timestamps as Alertmanager writes them.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// The text Alertmanager sends for "no time" (Go's zero `time.Time`).
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Parses an RFC 3339 timestamp; Go's zero time (`0001-01-01T00:00:00Z`, in any
/// offset or precision) reads as `None`.
pub(crate) fn parse_optional(s: &str) -> Result<Option<OffsetDateTime>, time::error::Parse> {
    let t = OffsetDateTime::parse(s, &Rfc3339)?;
    Ok(if is_go_zero(t) { None } else { Some(t) })
}

/// Whether `t` is Go's zero time (year 1, January 1st, midnight UTC).
fn is_go_zero(t: OffsetDateTime) -> bool {
    let utc = t.to_offset(UtcOffset::UTC);
    utc.year() == 1 && utc.ordinal() == 1 && utc.time() == time::Time::MIDNIGHT
}

/// Formats like Go's `time.RFC3339Nano`: fractional seconds without trailing
/// zeros, `Z` for UTC, the original offset otherwise.
pub fn format_rfc3339(t: OffsetDateTime) -> String {
    use std::fmt::Write as _;
    let (year, month, day) = t.to_calendar_date();
    let (h, m, s, nanos) = t.to_hms_nano();
    let mut out = String::with_capacity(35);
    // Years outside 0..=9999 cannot be written in RFC 3339; clamp like Go's encoder refuses them.
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        year.clamp(0, 9999),
        u8::from(month),
        day,
        h,
        m,
        s
    );
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    let offset = t.offset();
    if offset.is_utc() {
        out.push('Z');
    } else {
        let (oh, om, _) = offset.as_hms();
        let sign = if offset.is_negative() { '-' } else { '+' };
        let _ = write!(
            out,
            "{sign}{:02}:{:02}",
            oh.unsigned_abs(),
            om.unsigned_abs()
        );
    }
    out
}

/// Formats an optional time, writing Go's zero time for `None`.
pub(crate) fn format_optional(t: Option<OffsetDateTime>) -> String {
    t.map_or_else(|| ZERO_TIME.to_owned(), format_rfc3339)
}

/// A timestamp field on the wire: RFC 3339, Go's zero time reading as `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WireTime(pub(crate) Option<OffsetDateTime>);

impl<'de> serde::Deserialize<'de> for WireTime {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Parsed from the input in place: a `String` (or serde's
        // `Cow<str>`, which always owns) cost two allocations per alert.
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = WireTime;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an RFC 3339 time")
            }

            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<WireTime, E> {
                parse_optional(s).map(WireTime).map_err(|_| {
                    let shown: String = s.chars().take(40).collect();
                    E::custom(format_args!("invalid RFC 3339 time {shown:?}"))
                })
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_zero_time_is_none() {
        assert_eq!(parse_optional(ZERO_TIME).unwrap(), None);
        assert_eq!(parse_optional("0001-01-01T00:00:00.000Z").unwrap(), None);
        assert!(parse_optional("0001-01-01T00:00:01Z").unwrap().is_some());
        assert!(parse_optional("not a time").is_err());
    }

    #[test]
    fn wire_times_parse_with_and_without_escapes() {
        let t: WireTime = serde_json::from_str(r#""2026-08-22T10:00:00Z""#).unwrap();
        assert!(t.0.is_some());
        // An escaped character: parsed from a copy, the same time.
        let escaped: WireTime = serde_json::from_str(r#""2026-08-22T10:00:00\u005a""#).unwrap();
        assert_eq!(escaped, t);
        let zero: WireTime = serde_json::from_str(r#""0001-01-01T00:00:00Z""#).unwrap();
        assert_eq!(zero.0, None);
        let err = serde_json::from_str::<WireTime>(r#""yesterday""#).unwrap_err();
        assert!(
            err.to_string()
                .contains("invalid RFC 3339 time \"yesterday\""),
            "{err}"
        );
        assert!(serde_json::from_str::<WireTime>("12").is_err());
    }

    #[test]
    fn formats_like_go_rfc3339nano() {
        for s in [
            "2026-08-22T10:00:00.123456789Z",
            "2026-08-22T10:00:00.1Z",
            "2026-08-22T10:00:00Z",
            "2026-08-22T10:00:00.5+02:00",
            "2026-08-22T10:00:00-05:30",
        ] {
            let t = parse_optional(s).unwrap().unwrap();
            assert_eq!(format_rfc3339(t), s);
        }
        assert_eq!(format_optional(None), ZERO_TIME);
    }
}
