//! Summary and recommendation templates: `{label}` placeholders.

use std::fmt::Write as _;

use alertkit_core::Alert;

/// Longest label value or annotation inserted into a rendered template.
const MAX_VALUE_CHARS: usize = 160;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// A label value, or `<name>` when the alert lacks the label.
    Label(String),
    /// The alert's own summary (annotation `summary`, `description`,
    /// `message`, else the alertname).
    Summary,
}

/// A text with `{name}` placeholders.
///
/// `{name}` (a Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`) is replaced by
/// the alert's label value, or by `<name>` when the alert has no such label,
/// which reads naturally in command lines (`kubectl logs -n <namespace> …`).
/// `{summary}` is the alert's own summary annotation (else `description`,
/// `message`, else the alertname). Anything else in braces, such as a PromQL
/// selector `{job="api"}`, is kept literally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template(Vec<Segment>);

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Template {
    pub(crate) fn parse(text: &str) -> Self {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let placeholder = after
                .find('}')
                .map(|close| &after[..close])
                .filter(|name| is_label_name(name));
            match placeholder {
                Some(name) => {
                    literal.push_str(&rest[..open]);
                    if !literal.is_empty() {
                        segments.push(Segment::Literal(std::mem::take(&mut literal)));
                    }
                    segments.push(if name == "summary" {
                        Segment::Summary
                    } else {
                        Segment::Label(name.to_owned())
                    });
                    rest = &after[name.len() + 1..];
                }
                None => {
                    literal.push_str(&rest[..=open]);
                    rest = after;
                }
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal));
        }
        // Literals are made one-line once, here, so rendering is a plain concatenation.
        let last = segments.len().saturating_sub(1);
        for (i, segment) in segments.iter_mut().enumerate() {
            if let Segment::Literal(text) = segment {
                let lead = i > 0 && text.starts_with(char::is_whitespace);
                let trail = i < last && text.ends_with(char::is_whitespace);
                let core = one_line(text);
                *text = match (core.is_empty(), lead, trail) {
                    (true, false, false) => String::new(),
                    (true, _, _) => " ".to_owned(),
                    (false, lead, trail) => format!(
                        "{}{core}{}",
                        if lead { " " } else { "" },
                        if trail { " " } else { "" }
                    ),
                };
            }
        }
        Self(segments)
    }

    /// The text for `alert`, on one line (control characters become spaces).
    pub(crate) fn render(&self, alert: &Alert) -> String {
        let mut out = String::with_capacity(self.len_hint());
        for segment in &self.0 {
            match segment {
                Segment::Literal(s) => out.push_str(s),
                Segment::Label(name) => match alert.labels.get(name) {
                    Some(v) if !v.trim().is_empty() => push_clean(&mut out, v),
                    _ => {
                        let _ = write!(out, "<{name}>");
                    }
                },
                Segment::Summary => push_clean(&mut out, alert_summary(alert)),
            }
        }
        out
    }

    fn len_hint(&self) -> usize {
        self.0
            .iter()
            .map(|s| match s {
                Segment::Literal(l) => l.len(),
                _ => 24,
            })
            .sum()
    }
}

/// The alert's own summary: annotation `summary`, else `description`, else
/// `message`, else the alertname.
pub(crate) fn alert_summary(alert: &Alert) -> &str {
    alert
        .summary()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| alert.alertname())
        .unwrap_or("alert")
}

/// Appends at most [`MAX_VALUE_CHARS`] characters of `v`, trimmed, with
/// runs of whitespace and control characters turned into one space.
fn push_clean(out: &mut String, v: &str) {
    let mut n = 0;
    let mut gap = false;
    for c in v
        .trim_matches(|c: char| c.is_whitespace() || c.is_control())
        .chars()
    {
        if c.is_whitespace() || c.is_control() {
            gap = true;
            continue;
        }
        if n == MAX_VALUE_CHARS {
            out.push('…');
            return;
        }
        if gap {
            out.push(' ');
            gap = false;
        }
        out.push(c);
        n += 1;
    }
}

/// Control characters (newlines, tabs, NUL) become spaces and runs of
/// whitespace collapse, so the text stays on one line.
pub(crate) fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split(|c: char| c.is_whitespace() || c.is_control()) {
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use alertkit_core::{Annotations, LabelSet};

    use super::*;

    fn alert() -> Alert {
        Alert::firing(
            LabelSet::from_pairs([("alertname", "PodCrashLooping"), ("namespace", "payments")]),
            time::OffsetDateTime::UNIX_EPOCH,
        )
        .with_annotations(Annotations::from_pairs([("summary", "pod\nrestarting")]))
    }

    #[test]
    fn renders_labels_summary_and_literal_braces() {
        let t = Template::parse(
            "kubectl logs -n {namespace} {pod} --previous; rate(x{job=\"a\"}[5m]) {summary} {",
        );
        assert_eq!(
            t.render(&alert()),
            "kubectl logs -n payments <pod> --previous; rate(x{job=\"a\"}[5m]) pod restarting {"
        );
        assert_eq!(Template::parse("").render(&alert()), "");
        assert_eq!(Template::parse("{}{1a}{ a}").render(&alert()), "{}{1a}{ a}");
    }

    #[test]
    fn summary_falls_back_to_alertname() {
        let a = Alert::firing(
            LabelSet::from_pairs([("alertname", "X")]),
            time::OffsetDateTime::UNIX_EPOCH,
        );
        assert_eq!(Template::parse("{summary}").render(&a), "X");
    }
}
