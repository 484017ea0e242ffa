//! The texts rules look at: the alertname split into words, the summary, the
//! description and the PromQL expression from the generator URL, capped in
//! length. The pattern sets are ASCII case-insensitive, so the summary and
//! description are matched in place, without a lowercased copy.

use alertkit_core::Alert;

/// Longest haystack kept per field, in bytes: rules look at the start of long
/// descriptions only, which bounds the time one alert can take.
pub(crate) const MAX_FIELD_BYTES: usize = 2048;

/// The four haystacks of one alert.
#[derive(Debug, Default)]
pub(crate) struct Haystacks<'a> {
    /// `alertname` split into lowercase words (`KubePodCrashLooping` → `kube pod crash looping`).
    pub(crate) alertname: Vec<u8>,
    /// The `summary` annotation.
    pub(crate) summary: &'a [u8],
    /// The `description` annotation (else `message`).
    pub(crate) description: &'a [u8],
    /// The `g0.expr` of the generator URL, URL-decoded and lowercased.
    pub(crate) expr: Vec<u8>,
}

impl<'a> Haystacks<'a> {
    pub(crate) fn of(alert: &'a Alert) -> Self {
        let description = alert
            .annotations
            .get("description")
            .or_else(|| alert.annotations.get("message"))
            .unwrap_or_default();
        Self {
            alertname: split_words(alert.alertname().unwrap_or_default()),
            summary: capped(alert.annotations.get("summary").unwrap_or_default()),
            description: capped(description),
            expr: generator_expr(&alert.generator_url),
        }
    }
}

/// At most [`MAX_FIELD_BYTES`] of `s`.
fn capped(s: &str) -> &[u8] {
    &s.as_bytes()[..s.len().min(MAX_FIELD_BYTES)]
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Lower,
    Upper,
    Digit,
    Other,
}

fn class(b: u8) -> Class {
    match b {
        b'a'..=b'z' => Class::Lower,
        b'A'..=b'Z' => Class::Upper,
        b'0'..=b'9' => Class::Digit,
        // Non-ASCII bytes are kept as part of words.
        0x80.. => Class::Lower,
        _ => Class::Other,
    }
}

/// Splits an identifier into lowercase words separated by single spaces:
/// CamelCase humps, acronym runs (`HTTPServer` → `http server`), letter/digit
/// changes (`Expiry7Days` → `expiry 7 days`, but `5xx` stays whole) and any
/// punctuation (`node_down`, `disk-full`).
pub(crate) fn split_words(name: &str) -> Vec<u8> {
    let b = &name.as_bytes()[..name.len().min(MAX_FIELD_BYTES / 2)];
    let mut out = Vec::with_capacity(b.len() + b.len() / 4);
    for (i, &c) in b.iter().enumerate() {
        let cur = class(c);
        if cur == Class::Other {
            if out.last().is_some_and(|&l| l != b' ') {
                out.push(b' ');
            }
            continue;
        }
        if let Some(&p) = i.checked_sub(1).and_then(|j| b.get(j)) {
            let prev = class(p);
            let next = b.get(i + 1).map(|&n| class(n));
            let boundary = match (prev, cur) {
                (Class::Lower | Class::Digit, Class::Upper)
                | (Class::Lower | Class::Upper, Class::Digit) => true,
                // The last capital of an acronym run starts the next word.
                (Class::Upper, Class::Upper) => next == Some(Class::Lower),
                _ => false,
            };
            if boundary && out.last().is_some_and(|&l| l != b' ') {
                out.push(b' ');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    if out.last() == Some(&b' ') {
        out.pop();
    }
    out
}

/// The PromQL expression Prometheus puts in the generator URL as `g0.expr=`,
/// percent-decoded (`+` is a space) and lowercased; empty when absent.
pub(crate) fn generator_expr(url: &str) -> Vec<u8> {
    let Some(query_start) = url.find('?') else {
        return Vec::new();
    };
    let query = &url[query_start + 1..];
    let query = query.split('#').next().unwrap_or_default();
    let Some(raw) = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("g0.expr="))
    else {
        return Vec::new();
    };
    percent_decode_lower(raw.as_bytes())
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%XX` and `+`, keeping malformed escapes literally; lowercases;
/// stops at [`MAX_FIELD_BYTES`] of output. Runs of plain bytes are copied
/// whole.
fn percent_decode_lower(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len().min(MAX_FIELD_BYTES));
    let mut rest = raw;
    while out.len() < MAX_FIELD_BYTES {
        let plain = rest
            .iter()
            .position(|&b| b == b'%' || b == b'+')
            .unwrap_or(rest.len())
            .min(MAX_FIELD_BYTES - out.len());
        let (run, tail) = rest.split_at(plain);
        out.extend_from_slice(run);
        rest = match tail {
            [] => break,
            [b'+', tail @ ..] => {
                out.push(b' ');
                tail
            }
            [b'%', h, l, tail @ ..] if hex(*h).is_some() && hex(*l).is_some() => {
                out.push((hex(*h).unwrap_or(0) << 4) | hex(*l).unwrap_or(0));
                tail
            }
            [c, tail @ ..] => {
                out.push(*c);
                tail
            }
        };
    }
    out.truncate(MAX_FIELD_BYTES);
    out.make_ascii_lowercase();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> String {
        String::from_utf8(split_words(s)).unwrap_or_default()
    }

    #[test]
    fn splits_alertnames_into_words() {
        for (name, want) in [
            ("KubePodCrashLooping", "kube pod crash looping"),
            (
                "HAProxyHighHTTP4xxErrorRateBackend",
                "ha proxy high http 4xx error rate backend",
            ),
            (
                "MySQLTooManyConnections80",
                "my sql too many connections 80",
            ),
            ("SSLCertificateExpiry7Days", "ssl certificate expiry 7 days"),
            ("node_down", "node down"),
            ("disk-full!", "disk full"),
            ("PodOOMKilled", "pod oom killed"),
            ("CPUThrottlingHigh", "cpu throttling high"),
            (
                "ThanosRuleNoEvaluationFor10Intervals",
                "thanos rule no evaluation for 10 intervals",
            ),
            ("", ""),
            ("__", ""),
            ("éÉ", "éÉ"),
        ] {
            assert_eq!(words(name), want, "{name}");
        }
    }

    #[test]
    fn extracts_the_generator_expression() {
        let url = "http://prom:9090/graph?g0.expr=rate%28http_requests_total%7Bcode%3D~%225..%22%7D%5B5m%5D%29+%3E+0.1&g0.tab=1";
        assert_eq!(
            String::from_utf8(generator_expr(url)).unwrap_or_default(),
            r#"rate(http_requests_total{code=~"5.."}[5m]) > 0.1"#
        );
        assert!(generator_expr("").is_empty());
        assert!(generator_expr("http://x/graph?g1.expr=up").is_empty());
        assert_eq!(generator_expr("http://x/?a=b&g0.expr=UP%2"), b"up%2");
        assert_eq!(generator_expr("http://x/?g0.expr=up%zz#frag"), b"up%zz");
    }
}
