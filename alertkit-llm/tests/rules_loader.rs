//! Loading rule packs: the TOML format and its error messages.

#![allow(clippy::unwrap_used)]

use alertkit_core::{Category, Severity};
use alertkit_llm::rules::{DEFAULT_PACK_TOML, RulePack, RulePackError};

const GOOD: &str = r#"
name = "tiny"
version = "1.2"
description = "two rules"

[[rule]]
name = "down"
matchers = '{env="prod"}'
when = [
    { title = ['\bdown\b'] },
    { expr = '(^|[^a-z_])up\s*==\s*0' },
]
unless.title = 'slow(ing)? down'
severity = "critical"
category = "availability"
confidence = 0.9
summary = "{instance} is down"
recommendations = ["Check {instance}"]

[[rule]]
name = "rest"
severity = "warning"
"#;

/// The error for `text`, which must fail.
fn error(text: &str) -> RulePackError {
    match RulePack::from_toml_str(text) {
        Ok(_) => panic!("pack unexpectedly loaded:\n{text}"),
        Err(e) => e,
    }
}

/// A pack whose only rule has `body` (after its name).
fn one_rule(body: &str) -> String {
    format!(
        "version = \"1\"\n[[rule]]\nname = \"first\"\nseverity = \"info\"\n\n[[rule]]\nname = \"bad-one\"\n{body}\n"
    )
}

#[test]
fn good_pack_loads() {
    let pack = RulePack::from_toml_str(GOOD).unwrap();
    assert_eq!(pack.name(), "tiny");
    assert_eq!(pack.version(), "1.2");
    assert_eq!(pack.description(), "two rules");
    assert_eq!(pack.rules().len(), 2);
    let down = &pack.rules()[0];
    assert_eq!(down.name(), "down");
    assert_eq!(down.severity(), Some(Severity::Critical));
    assert_eq!(down.category(), Some(Category::Availability));
    assert!((down.confidence() - 0.9).abs() < f64::EPSILON);
    assert_eq!(pack.rules()[1].category(), None);
    assert_eq!(pack.pattern_count(), 3);
    assert!(pack.id().starts_with("rules/tiny@1.2+"), "{}", pack.id());
}

#[test]
fn id_changes_with_the_pack_text() {
    let a = RulePack::from_toml_str(GOOD).unwrap();
    let b =
        RulePack::from_toml_str(&GOOD.replace("Check {instance}", "Look at {instance}")).unwrap();
    assert_ne!(a.id(), b.id());
    assert_eq!(a.id(), RulePack::from_toml_str(GOOD).unwrap().id());
}

#[test]
fn default_pack_loads() {
    let pack = RulePack::from_toml_str(DEFAULT_PACK_TOML).unwrap();
    assert_eq!(pack.name(), "default");
    assert!(pack.rules().len() > 50);
    assert_eq!(RulePack::default_pack().id(), pack.id());
    // Every rule that sets a category also explains itself.
    for rule in pack.rules().iter().filter(|r| r.category().is_some()) {
        assert!(
            rule.severity().is_some(),
            "{} sets a category but no severity",
            rule.name()
        );
    }
}

#[test]
fn bad_regex_names_rule_and_field() {
    let e = error(&one_rule(
        "when.expr = ['ok', '(unclosed']\nseverity = \"critical\"",
    ));
    let msg = e.to_string();
    assert!(
        matches!(&e, RulePackError::Rule { index: 1, name, field, .. } if name == "bad-one" && field == "when.expr[1]"),
        "{e:?}"
    );
    assert!(
        msg.starts_with(r#"rule 1 ("bad-one"): invalid when.expr[1]: "#),
        "{msg}"
    );

    let e = error(&one_rule(
        "when = [{ title = 'a' }, { text = ['b', '['] }]\nseverity = \"info\"",
    ));
    assert!(e.to_string().contains("invalid when[1].text[1]"), "{e}");

    let e = error(&one_rule("unless.summary = '*'\nseverity = \"info\""));
    assert!(e.to_string().contains("invalid unless.summary: "), "{e}");

    let e = error(&one_rule("when.alertname = ''\nseverity = \"info\""));
    assert!(
        e.to_string()
            .contains("invalid when.alertname: empty regex"),
        "{e}"
    );
}

#[test]
fn bad_matcher_names_rule_and_field() {
    let e = error(&one_rule("matchers = '{env=}'\nseverity = \"info\""));
    assert!(
        e.to_string()
            .starts_with(r#"rule 1 ("bad-one"): invalid matchers: "#),
        "{e}"
    );
    let e = error(&one_rule("matchers = '{env=~\"(\"}'\nseverity = \"info\""));
    assert!(
        e.to_string().contains("invalid matchers: invalid regex"),
        "{e}"
    );
}

#[test]
fn unknown_severity_and_category_name_rule_and_field() {
    let e = error(&one_rule("severity = \"sever\""));
    let msg = e.to_string();
    assert!(
        msg.starts_with(r#"rule 1 ("bad-one"): invalid severity: unknown severity "sever""#),
        "{msg}"
    );

    let e = error(&one_rule("severity = \"unknown\""));
    assert!(
        e.to_string()
            .contains("invalid severity: \"unknown\" is not a verdict"),
        "{e}"
    );

    let e = error(&one_rule("category = \"disk\""));
    let msg = e.to_string();
    assert!(
        msg.starts_with(r#"rule 1 ("bad-one"): invalid category: unknown variant `disk`"#),
        "{msg}"
    );
}

#[test]
fn other_rule_errors_are_named() {
    for (body, field) in [
        ("severity = \"info\"\nconfidence = 1.5", "confidence"),
        (
            "severity = \"info\"\nrecommendations = ['ok', ' ']",
            "recommendations[1]",
        ),
        ("when.title = 'x'", "severity"),
        ("severity = \"info\"\nseverty = \"critical\"", "rule"),
        ("severity = \"info\"\nwhen.titel = 'x'", "rule"),
        ("severity = \"info\"\nwhen.title = 3", "rule"),
        ("severity = \"info\"\nwhen = [{}]", "when"),
    ] {
        let e = error(&one_rule(body));
        assert!(
            matches!(&e, RulePackError::Rule { index: 1, field: f, .. } if f == field),
            "{body}: {e:?}"
        );
    }
    // A typo'd key is named in the message.
    let e = error(&one_rule("severity = \"info\"\nseverty = \"critical\""));
    assert!(e.to_string().contains("severty"), "{e}");
}

#[test]
fn duplicate_and_missing_names() {
    let e = error(
        "version = \"1\"\n[[rule]]\nname = \"a\"\nseverity = \"info\"\n[[rule]]\nname = \"a\"\nseverity = \"info\"\n",
    );
    assert_eq!(
        e.to_string(),
        r#"rule 1 ("a"): invalid name: another rule has the same name"#
    );
    let e = error("version = \"1\"\n[[rule]]\nseverity = \"info\"\n");
    assert!(
        e.to_string()
            .starts_with(r#"rule 0 (""): invalid rule: missing field `name`"#),
        "{e}"
    );
}

#[test]
fn pack_level_errors() {
    assert!(matches!(error("name = \"x\""), RulePackError::Syntax(_)));
    assert!(matches!(
        error("this is not toml"),
        RulePackError::Syntax(_)
    ));
    assert!(
        matches!(error("version = \"1\"\nrules = []"), RulePackError::Syntax(m) if m.contains("rules"))
    );
    let e = error("version = \"has space\"");
    assert_eq!(
        e.to_string(),
        "rule pack: invalid version: must be 1 to 64 characters of letters, digits, '-', '_' or '.'"
    );
    assert!(matches!(
        error("name = \"\"\nversion = \"1\""),
        RulePackError::Pack { field: "name", .. }
    ));
    // An empty pack is valid: every alert gets the fallback verdict.
    assert!(
        RulePack::from_toml_str("version = \"0\"")
            .unwrap()
            .rules()
            .is_empty()
    );
}

#[test]
fn from_path_reads_files_and_reports_io_errors() {
    let dir = std::env::temp_dir().join(format!("alertkit-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("pack.toml");
    std::fs::write(&path, GOOD).unwrap();
    let pack = RulePack::from_path(&path).unwrap();
    assert_eq!(pack.name(), "tiny");
    let missing = dir.join("missing.toml");
    let e = RulePack::from_path(&missing).unwrap_err();
    assert!(
        matches!(&e, RulePackError::Io { path, .. } if *path == missing),
        "{e:?}"
    );
    assert!(
        e.to_string().starts_with("could not read rule pack "),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
