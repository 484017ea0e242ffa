use proptest::prelude::*;

use super::*;

const VALID: &str = r#"{"severity":"critical","category":"availability","confidence":0.9,"summary":"api is down","recommendations":["kubectl get pods -n api","check the load balancer"]}"#;

fn ok(content: &str) -> (Verdict, Repair) {
    parse_reply(content).unwrap_or_else(|e| panic!("{content:?}: {e}"))
}

fn err(content: &str) -> String {
    match parse_reply(content) {
        Ok(v) => panic!("{content:?} parsed: {v:?}"),
        Err(ClassifyError::InvalidResponse(m)) => m,
        Err(other) => panic!("{content:?}: unexpected {other:?}"),
    }
}

#[test]
fn a_valid_answer() {
    let (v, repair) = ok(VALID);
    assert_eq!(repair, Repair::None);
    assert_eq!(v.severity, Severity::Critical);
    assert_eq!(v.category, Category::Availability);
    assert_eq!(v.confidence, 0.9);
    assert_eq!(v.summary, "api is down");
    assert_eq!(v.recommendations.len(), 2);
}

#[test]
fn case_and_extra_fields_are_tolerated() {
    let (v, _) = ok(
        r#"{"severity":"Warning","category":"LATENCY","confidence":1,"summary":"slow","reasoning":"p99 up"}"#,
    );
    assert_eq!(v.severity, Severity::Warning);
    assert_eq!(v.category, Category::Latency);
    assert!(v.recommendations.is_empty());
}

#[test]
fn invalid_values_name_the_field() {
    for (content, field) in [
        (
            r#"{"severity":"urgent","category":"errors","confidence":0.5,"summary":"x"}"#,
            "severity: expected one of",
        ),
        (
            r#"{"severity":"unknown","category":"errors","confidence":0.5,"summary":"x"}"#,
            "severity",
        ),
        (
            r#"{"severity":"info","category":"weather","confidence":0.5,"summary":"x"}"#,
            "category: expected one of",
        ),
        (
            r#"{"severity":"info","category":"errors","confidence":1.5,"summary":"x"}"#,
            "confidence: 1.5 is outside",
        ),
        (
            r#"{"severity":"info","category":"errors","confidence":-0.1,"summary":"x"}"#,
            "confidence",
        ),
        (
            r#"{"severity":"info","category":"errors","confidence":"0.5","summary":"x"}"#,
            "confidence: expected a number",
        ),
        (
            r#"{"severity":"info","category":"errors","summary":"x"}"#,
            "confidence: missing",
        ),
        (
            r#"{"severity":"info","category":"errors","confidence":0.5}"#,
            "summary: missing",
        ),
        (
            r#"{"category":"errors","confidence":0.5,"summary":"x"}"#,
            "severity: missing",
        ),
        (
            r#"{"severity":3,"category":"errors","confidence":0.5,"summary":"x"}"#,
            "severity: expected a string",
        ),
        (
            r#"{"severity":"info","category":"errors","confidence":0.5,"summary":"x","recommendations":"do it"}"#,
            "recommendations: expected an array",
        ),
        (
            r#"{"severity":"info","category":"errors","confidence":0.5,"summary":"x","recommendations":[1]}"#,
            "recommendations[0]",
        ),
        ("[1,2]", "expected a JSON object"),
        ("", "empty"),
        ("I cannot classify this alert.", "no JSON object"),
    ] {
        let message = err(content);
        assert!(message.contains(field), "{content}: {message}");
    }
}

#[test]
fn prose_around_the_object_is_dropped() {
    for content in [
        format!("Here is the classification:\n```json\n{VALID}\n```\nHope this helps!"),
        format!("<think>the {{alert}} is bad</think>{VALID}"),
        format!("{{\"note\": \"example\"}} and the answer: {VALID}"),
    ] {
        let (v, repair) = ok(&content);
        assert_eq!(repair, Repair::Extracted, "{content}");
        assert_eq!(v.severity, Severity::Critical);
    }
}

#[test]
fn truncated_objects_are_closed_only_when_complete_enough() {
    // Cut inside the recommendations: the finished ones are kept.
    let cut = &VALID[..VALID.find("check the").unwrap() + 5];
    let (v, repair) = ok(cut);
    assert_eq!(repair, Repair::Closed);
    assert_eq!(
        v.recommendations,
        vec!["kubectl get pods -n api".to_owned()]
    );
    // Cut right after the summary.
    let cut = &VALID[..VALID.find(",\"recommendations").unwrap()];
    assert_eq!(ok(cut).1, Repair::Closed);
    // Cut inside the summary: a required field is unfinished.
    let cut = &VALID[..VALID.find("is down").unwrap()];
    let message = err(cut);
    assert!(
        message.contains("truncated") && message.contains("summary: missing"),
        "{message}"
    );
    // Cut in the confidence number: never completed.
    let cut = r#"{"severity":"critical","category":"errors","confidence":0.8"#;
    assert!(err(cut).contains("confidence: missing"));
}

#[test]
fn long_fields_are_bounded() {
    let long = "y".repeat(5000);
    let recs: Vec<String> = (0..50).map(|i| format!("step {i}")).collect();
    let content = serde_json::json!({
        "severity": "info", "category": "other", "confidence": 0.2,
        "summary": long, "recommendations": recs,
    })
    .to_string();
    let (v, _) = ok(&content);
    assert!(v.summary.chars().count() <= MAX_SUMMARY_CHARS + 1);
    assert_eq!(v.recommendations.len(), MAX_RECOMMENDATIONS);
    let huge = "z".repeat(MAX_CONTENT_BYTES + 1);
    assert!(err(&huge).contains("content:"));
}

fn contents() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        any::<String>(),
        (0..VALID.len()).prop_map(|end| VALID[..end].to_owned()),
        (any::<String>(), any::<String>()).prop_map(|(a, b)| format!("{a}{VALID}{b}")),
        (0..VALID.len(), any::<char>()).prop_map(|(at, c)| {
            let mut s = VALID.to_owned();
            s.insert(at, c);
            s
        }),
        "[{}\\[\\]\":,a-z0-9 .\\\\-]{0,200}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any reply yields a well-formed verdict or an `InvalidResponse`, never a panic.
    #[test]
    fn any_content_is_a_verdict_or_invalid(content in contents()) {
        match parse_reply(&content) {
            Ok((v, _)) => {
                prop_assert!((0.0..=1.0).contains(&v.confidence));
                prop_assert!(v.severity != Severity::Unknown);
                prop_assert!(v.recommendations.iter().all(|r| !r.is_empty()));
                prop_assert!(v.recommendations.len() <= MAX_RECOMMENDATIONS);
            }
            Err(e) => prop_assert!(matches!(e, ClassifyError::InvalidResponse(_)), "{e:?}"),
        }
    }

    /// Every prefix of a valid answer that still holds the four required fields repairs to it.
    #[test]
    fn prefixes_with_required_fields_repair(end in VALID.find(",\"recommendations").unwrap()..VALID.len()) {
        let (v, _) = parse_reply(&VALID[..end]).unwrap();
        prop_assert_eq!(v.severity, Severity::Critical);
        prop_assert_eq!(v.summary, "api is down");
    }
}
