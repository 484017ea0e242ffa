//! The LLM classifier's metrics (through the `metrics` facade).

use std::time::Duration;

use alertkit_core::{Classification, ClassifyError};

use super::parse::Repair;
use super::wire::Usage;

/// Classifications by `status`: `success` and `error` here, `fallback` from
/// the [chain](crate::chain) when the fallback classifier answered instead.
pub const CLASSIFICATIONS: &str = "alert_history_business_llm_classifications_total";
/// Failed classifications and failed attempts by `reason`
/// (`timeout`, `unavailable`, `overloaded`, `invalid_response`, `rejected`) and `stage`
/// (`attempt` for each HTTP attempt, `final` once retries are exhausted).
pub const ERRORS: &str = "alert_history_business_llm_errors_total";
/// Tokens the server reported, by `kind` (`prompt`, `completion`).
pub const TOKENS: &str = "alert_history_business_llm_tokens_total";
/// Time per classification (retries and waiting for a slot included), by `status`.
pub const DURATION: &str = "alert_history_business_llm_duration_seconds";
/// Answers that needed repair, by `kind` (`extracted`, `closed`).
pub const REPAIRS: &str = "alert_history_business_llm_repairs_total";

fn reason(e: &ClassifyError) -> &'static str {
    match e {
        ClassifyError::Timeout => "timeout",
        ClassifyError::Overloaded => "overloaded",
        ClassifyError::Unavailable(_) => "unavailable",
        ClassifyError::InvalidResponse(_) => "invalid_response",
        ClassifyError::Rejected(_) => "rejected",
        _ => "other",
    }
}

pub(crate) fn classified(result: &Result<Classification, ClassifyError>, elapsed: Duration) {
    let status = match result {
        Ok(_) => "success",
        Err(e) => {
            metrics::counter!(ERRORS, "reason" => reason(e), "stage" => "final").increment(1);
            "error"
        }
    };
    metrics::counter!(CLASSIFICATIONS, "status" => status).increment(1);
    metrics::histogram!(DURATION, "status" => status).record(elapsed.as_secs_f64());
}

pub(crate) fn attempt_failed(e: &ClassifyError) {
    metrics::counter!(ERRORS, "reason" => reason(e), "stage" => "attempt").increment(1);
}

pub(crate) fn tokens(usage: &Usage) {
    if let Some(n) = usage.prompt_tokens {
        metrics::counter!(TOKENS, "kind" => "prompt").increment(n);
    }
    if let Some(n) = usage.completion_tokens {
        metrics::counter!(TOKENS, "kind" => "completion").increment(n);
    }
}

pub(crate) fn repaired(repair: Repair) {
    if repair != Repair::None {
        metrics::counter!(REPAIRS, "kind" => repair.as_str()).increment(1);
    }
}
