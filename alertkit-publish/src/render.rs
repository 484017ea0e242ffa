//! Text and link helpers shared by the vendor publishers.
// Each publisher uses a subset; builds with only some of them enabled leave the rest unused.
#![cfg_attr(
    not(all(
        feature = "slack",
        feature = "pagerduty",
        feature = "rootly",
        feature = "webhook"
    )),
    allow(dead_code)
)]

use std::borrow::Cow;

use alertkit_core::{Alert, Notification, Severity};

/// The ellipsis appended to truncated text.
pub(crate) const ELLIPSIS: char = '…';

/// `s` cut to at most `max` characters (not bytes), ending with `…` when cut.
pub(crate) fn truncate(s: &str, max: usize) -> Cow<'_, str> {
    if max == 0 {
        return Cow::Borrowed("");
    }
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some(_) => {
            // Keep max-1 characters and the ellipsis.
            let cut = s.char_indices().nth(max - 1).map_or(s.len(), |(i, _)| i);
            let mut out = String::with_capacity(cut + ELLIPSIS.len_utf8());
            out.push_str(&s[..cut]);
            out.push(ELLIPSIS);
            Cow::Owned(out)
        }
    }
}

/// The severity publishers present: the classification's, else the `severity` label's.
pub(crate) fn effective_severity(n: &Notification) -> Severity {
    n.classification
        .as_ref()
        .map_or_else(|| n.alert.label_severity(), |c| c.severity)
}

/// The alert's name, or a placeholder.
pub(crate) fn alert_name(alert: &Alert) -> &str {
    alert.alertname().unwrap_or("unnamed alert")
}

/// The entity an alert is about: `service`, else `job`, else `instance`.
pub(crate) fn subject(alert: &Alert) -> Option<&str> {
    ["service", "job", "instance"]
        .into_iter()
        .find_map(|k| alert.labels.get(k))
}

/// Whether `s` is an absolute http(s) URL of sane length.
pub(crate) fn is_http_url(s: &str, max_len: usize) -> bool {
    (s.starts_with("https://") || s.starts_with("http://")) && s.len() <= max_len && s.len() > 8
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Lowercase hex of `bytes`.
#[cfg(any(feature = "webhook", feature = "pagerduty"))]
pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    const LOWER: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(LOWER[usize::from(b >> 4)]));
        out.push(char::from(LOWER[usize::from(b & 0xf)]));
    }
    out
}

/// SHA-256 hex of `parts` joined by nothing.
#[cfg(any(feature = "webhook", feature = "pagerduty"))]
pub(crate) fn sha256_hex(parts: &[&[u8]]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update(p);
    }
    hex_lower(&h.finalize())
}

/// Alertmanager's "new silence" link for the alert's labels, when `external_url` is http(s).
pub(crate) fn silence_url(external_url: &str, alert: &Alert) -> Option<String> {
    let base = external_url.trim_end_matches('/');
    if !is_http_url(base, 2000) || alert.labels.is_empty() {
        return None;
    }
    let mut filter = String::from("{");
    for (i, (name, value)) in alert.labels.iter().enumerate() {
        if i > 0 {
            filter.push(',');
        }
        filter.push_str(name);
        filter.push_str("=\"");
        for c in value.chars() {
            match c {
                '"' => filter.push_str("\\\""),
                '\\' => filter.push_str("\\\\"),
                '\n' => filter.push_str("\\n"),
                c => filter.push(c),
            }
        }
        filter.push('"');
    }
    filter.push('}');
    Some(format!(
        "{base}/#/silences/new?filter={}",
        percent_encode(&filter)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate("héllo", 5), "héllo");
        assert_eq!(truncate("héllo", 4), "hél…");
        assert_eq!(truncate("ééé", 1), "…");
        assert_eq!(truncate("abc", 0), "");
    }

    #[test]
    fn encodes() {
        assert_eq!(percent_encode("{a=\"b c\"}"), "%7Ba%3D%22b%20c%22%7D");
    }
}
