//! Block Kit rendering of one notification, within Slack's limits.

use alertkit_core::{Notification, Status};
use serde_json::{Value, json};

use crate::render::{alert_name, effective_severity, is_http_url, silence_url, subject, truncate};

/// Slack's documented Block Kit limits (api.slack.com/reference/block-kit/blocks).
pub(crate) mod limits {
    /// Blocks per message.
    pub(crate) const BLOCKS: usize = 50;
    /// Characters of a section's `text`.
    pub(crate) const SECTION_TEXT: usize = 3000;
    /// Fields per section.
    pub(crate) const FIELDS: usize = 10;
    /// Characters per section field.
    pub(crate) const FIELD_TEXT: usize = 2000;
    /// Characters of a header's `plain_text`.
    pub(crate) const HEADER_TEXT: usize = 150;
    /// Elements per context block.
    pub(crate) const CONTEXT_ELEMENTS: usize = 10;
    /// Characters of a button's label.
    pub(crate) const BUTTON_TEXT: usize = 75;
    /// Characters of a button's URL.
    pub(crate) const BUTTON_URL: usize = 3000;
    /// Recommended ceiling for the top-level `text`.
    pub(crate) const TEXT: usize = 4000;
    /// Characters of all block texts together (Slack rejects about 13k with
    /// `msg_blocks_too_long`; we stay well below).
    pub(crate) const TOTAL: usize = 11_000;
}

/// Annotations shown in their own places rather than in the annotation list.
const SPECIAL_ANNOTATIONS: [&str; 3] = ["summary", "description", "runbook_url"];

/// Sections of label fields at most (10 labels each); the rest are counted.
const LABEL_SECTIONS: usize = 3;

/// Extra links to render.
#[derive(Debug, Clone, Default)]
pub(crate) struct Links {
    /// Base URL of an alert-history page; the fingerprint is appended.
    pub(crate) history_url: Option<String>,
}

/// A rendered message: the fallback `text` and the blocks.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rendered {
    pub(crate) text: String,
    pub(crate) blocks: Vec<Value>,
}

/// Escapes `&`, `<`, `>` for mrkdwn and plain text, then cuts to `max` characters
/// without splitting an entity.
fn escape_cut(s: &str, max: usize) -> String {
    let mut escaped = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            c => escaped.push(c),
        }
    }
    let cut = match truncate(&escaped, max) {
        std::borrow::Cow::Borrowed(_) => return escaped,
        std::borrow::Cow::Owned(cut) => cut,
    };
    // `…` ends the cut text; drop a dangling partial entity before it.
    let body = cut.trim_end_matches(crate::render::ELLIPSIS);
    let body = match body.rfind('&') {
        Some(i) if !body[i..].contains(';') => &body[..i],
        _ => body,
    };
    format!("{body}{}", crate::render::ELLIPSIS)
}

/// A running total of block text, so the whole message stays under [`limits::TOTAL`].
struct Budget(usize);

impl Budget {
    /// `s` escaped and cut to `max` and to what is left of the budget; `None` when nothing is left.
    fn take(&mut self, s: &str, max: usize) -> Option<String> {
        if self.0 < 16 {
            return None;
        }
        let out = escape_cut(s, max.min(self.0));
        self.0 = self.0.saturating_sub(out.chars().count());
        Some(out)
    }

    /// Like [`take`](Self::take) for `plain_text`, which Slack shows verbatim (no escaping).
    fn take_plain(&mut self, s: &str, max: usize) -> Option<String> {
        if self.0 < 16 {
            return None;
        }
        let out = truncate(s, max.min(self.0)).into_owned();
        self.0 = self.0.saturating_sub(out.chars().count());
        Some(out)
    }

    /// Reserves `n` characters spent elsewhere.
    fn spend(&mut self, n: usize) {
        self.0 = self.0.saturating_sub(n);
    }
}

fn section(text: String) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

/// Renders `n` (see the [module docs](super) for the layout).
pub(crate) fn render(n: &Notification, links: &Links) -> Rendered {
    let alert = &n.alert;
    let firing = alert.status == Status::Firing;
    let state = if firing { "FIRING" } else { "RESOLVED" };
    let name = alert_name(alert);
    let severity = effective_severity(n);
    let headline = match subject(alert) {
        Some(s) => format!("{state}: {name} ({s})"),
        None => format!("{state}: {name}"),
    };
    let mut fallback = format!("[{state}] {name}");
    if let Some(s) = subject(alert) {
        fallback.push(' ');
        fallback.push_str(s);
    }
    fallback.push_str(&format!(" ({severity})"));
    if let Some(summary) = n
        .classification
        .as_ref()
        .map(|c| c.summary.as_str())
        .filter(|s| !s.is_empty())
        .or_else(|| alert.summary())
    {
        fallback.push_str(": ");
        fallback.push_str(summary);
    }
    let text = escape_cut(&fallback, limits::TEXT);

    let mut budget = Budget(limits::TOTAL);

    // Highest priority first: header, main section, classification, actions, context, then lists.
    let header = budget.take_plain(&headline, limits::HEADER_TEXT).map(
        |t| json!({"type": "header", "text": {"type": "plain_text", "text": t, "emoji": true}}),
    );

    let mut main = String::new();
    if let Some(s) = alert.annotations.get("summary") {
        main.push_str(&format!("*Summary:* {s}\n"));
    }
    if let Some(d) = alert.annotations.get("description")
        && Some(d) != alert.annotations.get("summary")
    {
        main.push_str(&format!("*Description:* {d}\n"));
    }
    main.push_str(&format!("*Severity:* {severity}\n"));
    main.push_str(&format!(
        "*Started:* {}",
        alertkit_core::model::format_rfc3339(alert.starts_at)
    ));
    if let Some(end) = alert.ends_at {
        main.push_str(&format!(
            "\n*Resolved:* {}",
            alertkit_core::model::format_rfc3339(end)
        ));
    }
    let main = budget.take(&main, limits::SECTION_TEXT).map(section);

    let classification = n.classification.as_ref().and_then(|c| {
        let mut t = format!(
            "*Classification:* {} · {} · {:.0}% confidence ({})",
            c.severity,
            c.category,
            c.confidence * 100.0,
            source_name(c.source)
        );
        if !c.summary.is_empty() {
            t.push('\n');
            t.push_str(&c.summary);
        }
        if !c.recommendations.is_empty() {
            t.push_str("\n*Recommendations:*");
            for r in &c.recommendations {
                t.push_str("\n• ");
                t.push_str(r);
            }
        }
        budget.take(&t, limits::SECTION_TEXT).map(section)
    });

    let (actions, action_chars) = actions(n, links);
    budget.spend(action_chars);

    let mut context_text = format!("fingerprint `{}`", alert.fingerprint());
    if !n.origin.receiver.is_empty() {
        context_text.push_str(&format!(" · receiver {}", n.origin.receiver));
    }
    context_text.push_str(&format!(" · {}", n.kind));
    let mut context_elements: Vec<Value> = budget
        .take(&context_text, limits::FIELD_TEXT)
        .map(|t| json!({"type": "mrkdwn", "text": t}))
        .into_iter()
        .collect();

    // Labels as fields, ten per section.
    let labels: Vec<(&str, &str)> = alert.labels.iter().collect();
    let mut label_sections = Vec::new();
    let mut shown = 0;
    for chunk in labels.chunks(limits::FIELDS).take(LABEL_SECTIONS) {
        let mut fields = Vec::new();
        for (k, v) in chunk {
            let Some(t) = budget.take(&format!("*{k}*\n{v}"), limits::FIELD_TEXT) else {
                break;
            };
            fields.push(json!({"type": "mrkdwn", "text": t}));
            shown += 1;
        }
        if fields.is_empty() {
            break;
        }
        label_sections.push(json!({"type": "section", "fields": fields}));
    }
    if shown < labels.len() && context_elements.len() < limits::CONTEXT_ELEMENTS {
        context_elements.push(json!({
            "type": "mrkdwn",
            "text": format!("…and {} more labels", labels.len() - shown)
        }));
    }

    let mut annotation_text = String::new();
    for (k, v) in alert.annotations.iter() {
        if SPECIAL_ANNOTATIONS.contains(&k) {
            continue;
        }
        if !annotation_text.is_empty() {
            annotation_text.push('\n');
        }
        annotation_text.push_str(&format!("*{k}:* {v}"));
    }
    let annotations = if annotation_text.is_empty() {
        None
    } else {
        budget
            .take(&annotation_text, limits::SECTION_TEXT)
            .map(section)
    };

    let context = (!context_elements.is_empty())
        .then(|| json!({"type": "context", "elements": context_elements}));

    let mut blocks: Vec<Value> = [header, main, classification]
        .into_iter()
        .flatten()
        .chain(label_sections)
        .chain([annotations, context, actions].into_iter().flatten())
        .collect();
    blocks.truncate(limits::BLOCKS);
    Rendered { text, blocks }
}

fn source_name(s: alertkit_core::ClassificationSource) -> &'static str {
    use alertkit_core::ClassificationSource as S;
    match s {
        S::Rules => "rules",
        S::Llm => "llm",
        S::Cache => "cache",
        _ => "default",
    }
}

/// Link buttons (source, runbook, silence while firing, history) and the characters they use.
fn actions(n: &Notification, links: &Links) -> (Option<Value>, usize) {
    let alert = &n.alert;
    let mut buttons = Vec::new();
    let mut chars = 0;
    let mut push = |id: &str, label: &str, url: &str| {
        if is_http_url(url, limits::BUTTON_URL) {
            chars += label.len() + url.len();
            buttons.push(json!({
                "type": "button",
                "action_id": id,
                "text": {"type": "plain_text", "text": truncate(label, limits::BUTTON_TEXT)},
                "url": url,
            }));
        }
    };
    push("alertkit_source", "Source", &alert.generator_url);
    if let Some(runbook) = alert.annotations.get("runbook_url") {
        push("alertkit_runbook", "Runbook", runbook);
    }
    if alert.status == Status::Firing
        && let Some(url) = silence_url(&n.origin.external_url, alert)
    {
        push("alertkit_silence", "Silence", &url);
    }
    if let Some(base) = &links.history_url {
        let url = format!("{}/{}", base.trim_end_matches('/'), alert.fingerprint());
        push("alertkit_history", "History", &url);
    }
    let block = (!buttons.is_empty()).then(|| json!({"type": "actions", "elements": buttons}));
    (block, chars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_without_splitting_entities() {
        assert_eq!(escape_cut("a<b>&c", 100), "a&lt;b&gt;&amp;c");
        // "a&lt;" cut at 4 chars would leave "a&l…"; the partial entity goes.
        assert_eq!(escape_cut("a<bcdef", 4), "a…");
        assert_eq!(escape_cut("abcdef", 4), "abc…");
    }
}
