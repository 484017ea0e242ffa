//! Secret-looking values are removed before anything reaches the model.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

/// What replaces a secret.
pub(crate) const REDACTED: &str = "[redacted]";

/// Label and annotation names whose values are secrets whatever they look like.
const SECRET_NAMES: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "authorization",
    "credential",
    "private_key",
    "privatekey",
    "cookie",
    "session",
    "signature",
    "access_key",
    "accesskey",
];

/// Whether a label or annotation named `name` holds a secret.
pub(crate) fn is_secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_NAMES.iter().any(|s| lower.contains(s))
}

struct Rule {
    re: Regex,
    replacement: &'static str,
}

#[allow(clippy::expect_used)] // constant patterns, checked by the tests
static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    [
        // PEM private keys, possibly cut short.
        (
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----(?s:.*?)(?:-----END [A-Z ]*PRIVATE KEY-----|\z)",
            REDACTED,
        ),
        // Credentials in URLs: scheme://user:password@host
        (
            r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@",
            "${1}[redacted]@",
        ),
        // Authorization schemes (`token` only before something with a digit,
        // so "token expired" stays readable).
        (
            r"(?i)\b(bearer)(\s+)[A-Za-z0-9._~+/=-]{8,}",
            "${1}${2}[redacted]",
        ),
        (r"\b(Basic)(\s+)[A-Za-z0-9+/]{8,}={0,2}", "${1}${2}[redacted]"),
        (
            r"(?i)\b(token)(\s+)[A-Za-z0-9._~+/=-]*[0-9][A-Za-z0-9._~+/=-]*",
            "${1}${2}[redacted]",
        ),
        // key=value, key: value, "key": "value" for secret-looking keys.
        (
            r#"(?i)\b((?:[a-z0-9]+[_-])*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|signature|sig|auth))(["']?\s*[:=]\s*["']?)([^\s&"',;}]+)"#,
            "${1}${2}[redacted]",
        ),
        // Well-known token shapes.
        (r"\bsk-[A-Za-z0-9_-]{16,}", REDACTED),
        (r"\bgh[pousr]_[A-Za-z0-9]{20,}", REDACTED),
        (r"\bgithub_pat_[A-Za-z0-9_]{20,}", REDACTED),
        (r"\bglpat-[A-Za-z0-9_-]{20,}", REDACTED),
        (r"\bxox[abprs]-[A-Za-z0-9-]{10,}", REDACTED),
        (r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", REDACTED),
        (r"\bAIza[0-9A-Za-z_-]{35}\b", REDACTED),
        (
            r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
            REDACTED,
        ),
    ]
    .into_iter()
    .map(|(pattern, replacement)| Rule {
        re: Regex::new(pattern).expect("valid redaction pattern"),
        replacement,
    })
    .collect()
});

/// `value` with everything that looks like a secret replaced by `[redacted]`.
///
/// Borrowed when nothing matched.
pub(crate) fn redact(value: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(value);
    for rule in RULES.iter() {
        if let Cow::Owned(replaced) = rule.re.replace_all(&out, rule.replacement) {
            out = Cow::Owned(replaced);
        }
    }
    out
}

/// `s` cut to at most `max` characters, with a marker when cut.
pub(crate) fn truncate(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some((end, _)) => Cow::Owned(format!("{}…[truncated]", &s[..end])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted() {
        for (input, leaked) in [
            (
                "Authorization: Bearer abcdef0123456789xyz",
                "abcdef0123456789xyz",
            ),
            ("curl -H 'token 0123456789abcdef'", "0123456789abcdef"),
            ("see https://admin:hunter2@db.example.com:5432/x", "hunter2"),
            ("postgres://user:s3cr3t@10.0.0.1/db", "s3cr3t"),
            ("password=hunter2&user=bob", "hunter2"),
            ("db_password: correct-horse", "correct-horse"),
            (r#"{"api_key": "abc123def"}"#, "abc123def"),
            ("https://x/?sig=deadbeefcafe&a=1", "deadbeefcafe"),
            (
                "key sk-proj-ABCDEFGHIJKLMNOPQRSTUV",
                "ABCDEFGHIJKLMNOPQRSTUV",
            ),
            ("ghp_0123456789abcdefghijABCDEFGHIJ", "0123456789abcdefghij"),
            ("slack xoxb-1234-5678-abcdefgh", "1234-5678-abcdefgh"),
            ("aws AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
            (
                "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
                "dozjgNryP4J3jVmNHl0w5N",
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
                "MIIEowIBAAKCAQEA",
            ),
            (
                "-----BEGIN PRIVATE KEY-----\nMIIEowIBAAKCAQEA",
                "MIIEowIBAAKCAQEA",
            ),
        ] {
            let out = redact(input);
            assert!(!out.contains(leaked), "{input:?} -> {out:?}");
            assert!(out.contains(REDACTED), "{input:?} -> {out:?}");
        }
    }

    #[test]
    fn ordinary_text_is_kept() {
        for input in [
            "CPU usage above 90% on node-1 for 5m",
            "https://prometheus.example.com/graph?g0.expr=up%3D%3D0",
            "Disk /var/lib/postgresql is 95% full",
            "Check the runbook: https://runbooks.example.com/HighLatency",
            "tokens per second dropped",
            "token expired yesterday; basic authentication failed",
        ] {
            assert!(matches!(redact(input), Cow::Borrowed(_)), "{input:?}");
        }
    }

    #[test]
    fn names_and_truncation() {
        assert!(is_secret_name("DB_PASSWORD"));
        assert!(is_secret_name("slack_token"));
        assert!(!is_secret_name("summary"));
        assert_eq!(truncate("héllo", 10), "héllo");
        assert_eq!(truncate("héllo", 2), "hé…[truncated]");
    }
}
