//! Strict validation of the model's answer, with safe repairs.

use alertkit_core::{Category, ClassifyError, Severity};
use serde_json::{Map, Value};

use super::prompt::{CATEGORIES, SEVERITIES};
use super::repair::{Scan, scan};

/// Longest reply content looked at, in bytes.
pub(crate) const MAX_CONTENT_BYTES: usize = 64 * 1024;
/// `{` positions tried when looking for the object inside prose.
const MAX_CANDIDATES: usize = 16;
const MAX_SUMMARY_CHARS: usize = 300;
const MAX_RECOMMENDATIONS: usize = 10;
const MAX_RECOMMENDATION_CHARS: usize = 500;

/// A validated answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Verdict {
    pub(crate) severity: Severity,
    pub(crate) category: Category,
    pub(crate) confidence: f64,
    pub(crate) summary: String,
    pub(crate) recommendations: Vec<String>,
}

/// How the answer had to be repaired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repair {
    /// The content was exactly one JSON object.
    None,
    /// The object was surrounded by other text.
    Extracted,
    /// The object was cut short and closed after its last complete member.
    Closed,
}

impl Repair {
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Repair::None => "none",
            Repair::Extracted => "extracted",
            Repair::Closed => "closed",
        }
    }
}

fn invalid(message: impl Into<String>) -> ClassifyError {
    ClassifyError::InvalidResponse(message.into())
}

/// A model-written value, shortened and quoted for an error message.
fn quoted(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(40) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s,
    }
}

fn cut(s: &str, max: usize) -> String {
    let s = s.trim();
    match s.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s.to_owned(),
    }
}

/// Parses and validates the content of the model's reply.
pub(crate) fn parse_reply(content: &str) -> Result<(Verdict, Repair), ClassifyError> {
    if content.len() > MAX_CONTENT_BYTES {
        return Err(invalid(format!(
            "content: {} bytes, more than the {MAX_CONTENT_BYTES} accepted",
            content.len()
        )));
    }
    let trimmed = content.trim();
    if trimmed.is_empty() {
        return Err(invalid("content: empty"));
    }
    // The happy path: exactly one object. Its validation errors are final.
    if let Ok(value) = serde_json::from_str::<Value>(trimmed) {
        return match value {
            Value::Object(map) => validate(&map).map(|v| (v, Repair::None)),
            other => Err(invalid(format!(
                "content: expected a JSON object, got {}",
                quoted(&other)
            ))),
        };
    }
    let mut first_error = None;
    let mut truncated = None;
    for (start, _) in trimmed.match_indices('{').take(MAX_CANDIDATES) {
        let candidate = &trimmed[start..];
        match scan(candidate) {
            Scan::Balanced(end) => {
                let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&candidate[..end])
                else {
                    continue;
                };
                match validate(&map) {
                    Ok(v) => return Ok((v, Repair::Extracted)),
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            Scan::Truncated { repaired } => {
                if truncated.is_none() {
                    truncated = Some(repaired);
                }
                // Anything after an unclosed object is inside it.
                break;
            }
            Scan::Invalid => {}
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    match truncated {
        Some(Some(repaired)) => match serde_json::from_str::<Value>(&repaired) {
            Ok(Value::Object(map)) => validate(&map).map(|v| (v, Repair::Closed)).map_err(|e| {
                invalid(format!(
                    "truncated JSON that cannot be completed safely ({})",
                    message(&e)
                ))
            }),
            _ => Err(invalid("content: truncated JSON that cannot be repaired")),
        },
        Some(None) => Err(invalid("content: truncated JSON with no complete field")),
        None => Err(invalid("content: no JSON object found")),
    }
}

fn message(e: &ClassifyError) -> String {
    match e {
        ClassifyError::InvalidResponse(m) => m.clone(),
        other => other.to_string(),
    }
}

fn required<'a>(map: &'a Map<String, Value>, field: &str) -> Result<&'a Value, ClassifyError> {
    map.get(field)
        .filter(|v| !v.is_null())
        .ok_or_else(|| invalid(format!("{field}: missing")))
}

fn string<'a>(map: &'a Map<String, Value>, field: &str) -> Result<&'a str, ClassifyError> {
    let v = required(map, field)?;
    v.as_str()
        .ok_or_else(|| invalid(format!("{field}: expected a string, got {}", quoted(v))))
}

/// Checks every field of the answer; unknown extra fields are ignored.
pub(crate) fn validate(map: &Map<String, Value>) -> Result<Verdict, ClassifyError> {
    let severity_text = string(map, "severity")?;
    let severity = SEVERITIES
        .iter()
        .find(|s| s.eq_ignore_ascii_case(severity_text.trim()))
        .and_then(|s| s.parse::<Severity>().ok())
        .ok_or_else(|| {
            invalid(format!(
                "severity: expected one of {}, got {}",
                SEVERITIES.join(", "),
                quoted(&Value::from(severity_text))
            ))
        })?;

    let category_text = string(map, "category")?;
    let category = CATEGORIES
        .iter()
        .find(|c| c.eq_ignore_ascii_case(category_text.trim()))
        .and_then(|c| serde_json::from_value::<Category>(Value::from(*c)).ok())
        .ok_or_else(|| {
            invalid(format!(
                "category: expected one of {}, got {}",
                CATEGORIES.join(", "),
                quoted(&Value::from(category_text))
            ))
        })?;

    let confidence_value = required(map, "confidence")?;
    let confidence = confidence_value.as_f64().ok_or_else(|| {
        invalid(format!(
            "confidence: expected a number, got {}",
            quoted(confidence_value)
        ))
    })?;
    if !(0.0..=1.0).contains(&confidence) {
        return Err(invalid(format!(
            "confidence: {confidence} is outside 0..=1"
        )));
    }

    let summary = cut(string(map, "summary")?, MAX_SUMMARY_CHARS);

    let recommendations = match map.get("recommendations") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let text = item.as_str().ok_or_else(|| {
                    invalid(format!(
                        "recommendations[{i}]: expected a string, got {}",
                        quoted(item)
                    ))
                })?;
                let text = cut(text, MAX_RECOMMENDATION_CHARS);
                if !text.is_empty() && out.len() < MAX_RECOMMENDATIONS {
                    out.push(text);
                }
            }
            out
        }
        Some(other) => {
            return Err(invalid(format!(
                "recommendations: expected an array of strings, got {}",
                quoted(other)
            )));
        }
    };

    Ok(Verdict {
        severity,
        category,
        confidence,
        summary,
        recommendations,
    })
}

#[cfg(test)]
mod tests;
