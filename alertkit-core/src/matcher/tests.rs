//! Unit and property tests for matchers.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use proptest::prelude::*;

use super::MatchOp::{Equal, NotEqual, NotRegex, Regex};
use super::*;
use crate::LabelSet;

fn m(name: &str, op: MatchOp, value: &str) -> Matcher {
    Matcher::new(name, op, value).unwrap()
}

fn parse(s: &str) -> Vec<Matcher> {
    Matchers::parse(s).unwrap().into_vec()
}

fn parse_err(s: &str) -> String {
    match Matchers::parse(s) {
        Ok(ms) => panic!("{s:?} parsed as {ms}"),
        Err(err) => err.to_string(),
    }
}

fn labels(pairs: &[(&str, &str)]) -> LabelSet {
    LabelSet::from_pairs(pairs.iter().copied())
}

#[test]
fn match_op_strings_and_flags() {
    let ops = [
        (Equal, "="),
        (NotEqual, "!="),
        (Regex, "=~"),
        (NotRegex, "!~"),
    ];
    for (op, s) in ops {
        assert_eq!(op.to_string(), s);
        assert_eq!(op.as_str(), s);
        assert_eq!(MatchOp::from_flags(op.is_regex(), op.is_equal()), op);
    }
    assert!(Regex.is_regex() && !Equal.is_regex());
    assert!(Regex.is_equal() && !NotRegex.is_equal());
}

#[test]
fn operators() {
    let values = [Some("db"), Some("web"), None];
    let expect = |matcher: Matcher, want: [bool; 3]| {
        for (value, want) in values.into_iter().zip(want) {
            assert_eq!(
                matcher.matches_value(value),
                want,
                "{matcher} against {value:?}"
            );
        }
    };
    expect(m("svc", Equal, "db"), [true, false, false]);
    expect(m("svc", NotEqual, "db"), [false, true, true]);
    expect(m("svc", Regex, "db|web"), [true, true, false]);
    expect(m("svc", NotRegex, "db|web"), [false, false, true]);
}

#[test]
fn regexes_are_fully_anchored() {
    let b = m("foo", Regex, "b");
    assert!(!b.matches_value(Some("abc")));
    assert!(b.matches_value(Some("b")));
    assert!(m("foo", Regex, ".*b.*").matches_value(Some("abc")));
    let alt = m("foo", Regex, "a|b");
    assert!(alt.matches_value(Some("a")) && !alt.matches_value(Some("ab")));
    assert!(m("foo", NotRegex, "b").matches_value(Some("abc")));
    // Alternation inside the value cannot escape the anchoring group.
    assert!(!m("foo", Regex, "x|.*").matches_value(Some("a\nb")));
    assert!(m("foo", Regex, "(?s).*").matches_value(Some("a\nb")));
    // `$` and `^` inside the value are harmless.
    assert!(m("foo", Regex, "^abc$").matches_value(Some("abc")));
}

#[test]
fn absent_label_is_empty() {
    let set = labels(&[("present", "x"), ("empty", "")]);
    assert!(m("missing", Equal, "").matches(&set));
    assert!(m("empty", Equal, "").matches(&set));
    assert!(!m("present", Equal, "").matches(&set));
    assert!(m("present", NotEqual, "").matches(&set));
    assert!(!m("missing", NotEqual, "").matches(&set));
    assert!(m("missing", Regex, ".*").matches(&set));
    assert!(!m("missing", Regex, ".+").matches(&set));
    assert!(m("missing", NotRegex, ".+").matches(&set));
    assert!(m("missing", Regex, "|x").matches(&set));
}

#[test]
fn matchers_are_anded() {
    let ms = Matchers::parse(r#"{env="prod", svc=~"db|web", team!="ops"}"#).unwrap();
    assert!(ms.matches(&labels(&[("env", "prod"), ("svc", "db")])));
    assert!(!ms.matches(&labels(&[("env", "prod"), ("svc", "db"), ("team", "ops")])));
    assert!(!ms.matches(&labels(&[("env", "dev"), ("svc", "db")])));
    assert!(Matchers::default().matches(&labels(&[])));
    assert!(Matchers::default().matches(&labels(&[("a", "b")])));
}

#[test]
fn quoted_and_unquoted_tokens() {
    let want = vec![m("foo", Equal, "bar")];
    for input in [
        "foo=bar",
        r#"foo="bar""#,
        r#""foo"="bar""#,
        r#""foo"=bar"#,
        "{foo=bar}",
        "  {  foo  =  bar  }  ",
        "foo=bar,",
        "{foo=bar,}",
        "\t{\nfoo =\"bar\" ,\n}\n",
    ] {
        assert_eq!(parse(input), want, "{input:?}");
    }
    assert_eq!(parse("foo=~[a-z]+"), vec![m("foo", Regex, "[a-z]+")]);
    assert_eq!(parse("foo!~[a-z]+"), vec![m("foo", NotRegex, "[a-z]+")]);
    assert_eq!(parse("foo!=bar"), vec![m("foo", NotEqual, "bar")]);
    assert_eq!(parse("foo=🙂bar"), vec![m("foo", Equal, "🙂bar")]);
    assert_eq!(
        parse("foo:bar=a.b-c/d"),
        vec![m("foo:bar", Equal, "a.b-c/d")]
    );
    assert_eq!(parse(r#"foo="""#), vec![m("foo", Equal, "")]);
    assert_eq!(
        parse(r#"foo="a, b} {c=d""#),
        vec![m("foo", Equal, "a, b} {c=d")]
    );
}

#[test]
fn lists() {
    let want = vec![m("a", Equal, "b"), m("c", Regex, "d|e")];
    for input in [
        r#"{a="b", c=~"d|e"}"#,
        r#"a="b",c=~"d|e""#,
        r#"a="b" , c=~"d|e" ,"#,
        r#"{a="b",c=~"d|e",}"#,
        "{a=b,c=~d|e}",
    ] {
        assert_eq!(parse(input), want, "{input:?}");
    }
    assert!(parse("").is_empty());
    assert!(parse("{}").is_empty());
    assert!(parse(" { } ").is_empty());
    assert!(parse("   ").is_empty());
    // Order is kept, duplicates too.
    let dup = parse("b=1,a=2,b=1");
    assert_eq!(
        dup.iter().map(Matcher::name).collect::<Vec<_>>(),
        ["b", "a", "b"]
    );
}

#[test]
fn go_escapes() {
    let cases = [
        (r#""a\"b""#, "a\"b"),
        (r#""a\\b""#, "a\\b"),
        (r#""a\nb\tc\rd""#, "a\nb\tc\rd"),
        (r#""\a\b\f\v""#, "\u{7}\u{8}\u{c}\u{b}"),
        (r#""\u00e9\U0001F642""#, "é🙂"),
        (r#""\xf0\x9f\x99\x82""#, "🙂"),
        (r#""\101\060""#, "A0"),
        ("\"line\nfeed\"", "line\nfeed"),
        ("\"tab\tliteral\"", "tab\tliteral"),
    ];
    for (value, want) in cases {
        let input = format!("foo={value}");
        assert_eq!(parse(&input), vec![m("foo", Equal, want)], "{input:?}");
    }
    assert_eq!(parse(r#""a\"b"=c"#), vec![m("a\"b", Equal, "c")]);
}

#[test]
fn classic_fallback_for_invalid_go_literals() {
    let cases = [
        (r#""\d+""#, r"\d+"),
        (r#""C:\dir\sub""#, r"C:\dir\sub"),
        (r#""\d\n\"""#, "\\d\n\""),
        (r#""\xf0\x9f""#, r"\xf0\x9f"),
        (r#""\ud800""#, r"\ud800"),
        (r#""\'""#, r"\'"),
        (r#""\u12""#, r"\u12"),
        (r#""\400""#, r"\400"),
    ];
    for (value, want) in cases {
        let input = format!("foo={value}");
        assert_eq!(parse(&input), vec![m("foo", Equal, want)], "{input:?}");
    }
    assert!(parse(r#"code=~"5\d\d""#)[0].matches_value(Some("503")));
}

#[test]
fn unicode_names_and_values() {
    assert_eq!(
        parse(r#""🙂 name"="ünï""#),
        vec![m("🙂 name", Equal, "ünï")]
    );
    assert_eq!(parse("ñame=välue"), vec![m("ñame", Equal, "välue")]);
    assert_eq!(parse(r#""a=b,c"!~"x""#), vec![m("a=b,c", NotRegex, "x")]);
    let greek = m("lang", Regex, r"\p{Greek}+");
    assert!(greek.matches_value(Some("αβγ")) && !greek.matches_value(Some("abc")));
    // RE2's \d and \w are ASCII-only.
    assert!(!m("n", Regex, r"\d+").matches_value(Some("١٢٣")));
    assert!(m("n", Regex, r"(?i)straße").matches_value(Some("STRAßE")));
}

#[test]
fn display() {
    let cases = [
        (m("foo", Equal, "bar"), r#"foo="bar""#),
        (m("foo", NotEqual, ""), r#"foo!="""#),
        (m("_a1", Regex, "a|b"), r#"_a1=~"a|b""#),
        (m("foo", NotRegex, r"\d+"), r#"foo!~"\\d+""#),
        (
            m("foo", Equal, "a\"b\\c\nd\te\u{1}\u{7f}\u{85}\u{200b}é🙂"),
            r#"foo="a\"b\\c\nd\te\x01\x7f\u0085\u200bé🙂""#,
        ),
        (m("foo-bar", Equal, "x"), r#""foo-bar"="x""#),
        (m("1abc", Equal, "x"), r#""1abc"="x""#),
        (m("a b\"", Equal, "x"), r#""a b\""="x""#),
        (m("ümlaut", Equal, "x"), r#""ümlaut"="x""#),
    ];
    for (matcher, want) in cases {
        assert_eq!(matcher.to_string(), want);
        assert_eq!(want.parse::<Matcher>().unwrap(), matcher);
    }
    let ms = Matchers::new(vec![m("b", Equal, "1"), m("a", Regex, "x")]);
    assert_eq!(ms.to_string(), r#"{b="1", a=~"x"}"#);
    assert_eq!(Matchers::default().to_string(), "{}");
    assert_eq!(
        format!("{:?}", m("foo", Regex, "a.*")),
        r#"Matcher { name: "foo", op: Regex, value: "a.*" }"#
    );
}

#[test]
fn canonical_string() {
    let ms =
        Matchers::parse(r#"{svc!="db", env=~"p.*", env="prod", env="dev", team="a\"b\\c\nd\te"}"#)
            .unwrap();
    assert_eq!(
        ms.to_canonical_string(),
        "{env=\"dev\",env=~\"p.*\",env=\"prod\",svc!=\"db\",team=\"a\\\"b\\\\c\\nd\te\"}"
    );
    assert_eq!(Matchers::default().to_canonical_string(), "{}");
    // Same value, different operators: Alertmanager's Type order.
    let ops = Matchers::parse("a!~x,a=~x,a!=x,a=x").unwrap();
    assert_eq!(ops.to_canonical_string(), r#"{a="x",a!="x",a=~"x",a!~"x"}"#);
    // Names with reserved characters are Go-quoted along with the value;
    // other non-identifier names stay bare, as in Alertmanager.
    let odd = Matchers::parse(r#""a b"="x\ty", foo-bar="1", "🙂"="2""#).unwrap();
    assert_eq!(
        odd.to_canonical_string(),
        r#"{"a b"="x\ty",foo-bar="1",🙂="2"}"#
    );
    // The canonical form parses back to the same (sorted) matchers.
    for set in [&ms, &ops, &odd] {
        let mut sorted = set.clone().into_vec();
        sorted.sort_by(Matcher::canonical_cmp);
        assert_eq!(
            Matchers::parse(&set.to_canonical_string())
                .unwrap()
                .into_vec(),
            sorted
        );
    }
}

#[test]
fn error_messages() {
    let cases = [
        (
            "foo",
            r#"expected an operator after "foo" at offset 3, found end of input"#,
        ),
        (
            "foo bar",
            r#"expected an operator after "foo" at offset 4, found "bar""#,
        ),
        (
            "foo=",
            r#"expected a label value after "foo=" at offset 4, found end of input"#,
        ),
        (
            "foo=,",
            r#"expected a label value after "foo=" at offset 4, found ",""#,
        ),
        (
            "foo==bar",
            r#"expected a label value after "foo=" at offset 4, found "=""#,
        ),
        (
            r#"foo=~"(""#,
            r#"invalid regex in matcher foo=~"(": unclosed group"#,
        ),
        (
            r#"foo!~"a)|(b""#,
            r#"invalid regex in matcher foo!~"a)|(b": unopened group"#,
        ),
        (
            r#"foo="bar"#,
            "unterminated quoted string starting at offset 4",
        ),
        (
            r#"foo="bar\""#,
            "unterminated quoted string starting at offset 4",
        ),
        (
            "foo=\"bar\\",
            "unterminated quoted string starting at offset 4",
        ),
        (
            "{foo=bar",
            "missing closing brace for the opening brace at offset 0",
        ),
        (
            "{",
            "missing closing brace for the opening brace at offset 0",
        ),
        (
            " { a=b,",
            "missing closing brace for the opening brace at offset 1",
        ),
        (
            "foo=bar}",
            "unexpected closing brace at offset 7 without an opening brace",
        ),
        (
            "}",
            "unexpected closing brace at offset 0 without an opening brace",
        ),
        (
            "{a=b} c",
            r#"unexpected "c" at offset 6 after the closing brace"#,
        ),
        (
            "{a=b}}",
            r#"unexpected "}" at offset 5 after the closing brace"#,
        ),
        (r#"""=x"#, "empty label name at offset 0"),
        (r#"a=b, ""=x"#, "empty label name at offset 5"),
        (",", r#"expected a label name at offset 0, found ",""#),
        ("{,}", r#"expected a label name at offset 1, found ",""#),
        ("a=b,,", r#"expected a label name at offset 4, found ",""#),
        ("=bar", r#"expected a label name at offset 0, found "=""#),
        ("{{a=b}}", r#"expected a label name at offset 1, found "{""#),
        (
            "foo=bar baz",
            r#"expected a comma or closing brace at offset 8, found "baz""#,
        ),
        (
            r#"foo=:"bar""#,
            r#"expected a comma or closing brace at offset 5, found "\"bar\"""#,
        ),
        (
            "foo!bar",
            "invalid operator at offset 3: '!' must be followed by '=' or '~'",
        ),
        ("foo=bar\\n", r"unexpected character '\\' at offset 7"),
        ("foo='bar'", r"unexpected character '\'' at offset 4"),
        ("foo=~~x", "unexpected character '~' at offset 5"),
        ("a=`b`", "unexpected character '`' at offset 2"),
        (
            "🙂 x",
            r#"expected an operator after "🙂" at offset 5, found "x""#,
        ),
    ];
    for (input, want) in cases {
        assert_eq!(parse_err(input), want, "{input:?}");
    }
    let long = format!("a=b {}", "x".repeat(100));
    let msg = parse_err(&long);
    assert!(
        msg.ends_with(&format!("found \"{}…\"", "x".repeat(40))),
        "{msg}"
    );
}

#[test]
fn constructor_errors() {
    assert_eq!(
        Matcher::new("", Equal, "x").unwrap_err(),
        MatcherError::EmptyLabelName { offset: None }
    );
    assert_eq!(
        Matcher::new("", Equal, "x").unwrap_err().to_string(),
        "empty label name"
    );
    let err = Matcher::new("foo", Regex, "(").unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"invalid regex in matcher foo=~"(": unclosed group"#
    );
    let err = Matcher::new("a b", NotRegex, "[").unwrap_err();
    assert!(
        err.to_string()
            .starts_with(r#"invalid regex in matcher "a b"!~"[": "#),
        "{err}"
    );
    // Regex syntax is not checked for the equality operators.
    assert!(Matcher::new("foo", Equal, "(").is_ok());
}

#[test]
fn single_matcher_from_str() {
    assert_eq!(
        "foo=bar".parse::<Matcher>().unwrap(),
        m("foo", Equal, "bar")
    );
    assert_eq!(
        "{foo=bar,}".parse::<Matcher>().unwrap(),
        m("foo", Equal, "bar")
    );
    let count = |s: &str| s.parse::<Matcher>().unwrap_err();
    assert_eq!(count(""), MatcherError::NotOneMatcher { found: 0 });
    assert_eq!(count("{}"), MatcherError::NotOneMatcher { found: 0 });
    assert_eq!(
        count("a=b,c=d").to_string(),
        "expected exactly one matcher, found 2"
    );
    assert!(matches!(count("a="), MatcherError::ExpectedValue { .. }));
}

#[test]
fn equality_and_hash_ignore_regex_internals() {
    let a = m("foo", Regex, "a+");
    let b = a.clone();
    assert_eq!(a, b);
    assert_ne!(a, m("foo", NotRegex, "a+"));
    assert_ne!(a, m("foo", Equal, "a+"));
    assert_ne!(a, m("fo", Regex, "a+"));
    let set: HashSet<Matcher> = [a.clone(), b, m("foo", Regex, "a+")].into_iter().collect();
    assert_eq!(set.len(), 1);
    assert_eq!(a.name(), "foo");
    assert_eq!(a.op(), Regex);
    assert_eq!(a.value(), "a+");
}

#[test]
fn thread_safe_and_unwind_safe() {
    fn check<T: Send + Sync + UnwindSafe + RefUnwindSafe + Clone>() {}
    check::<Matcher>();
    check::<Matchers>();
    check::<MatcherError>();
}

#[test]
fn collection_api() {
    let mut ms: Matchers = [m("a", Equal, "1"), m("b", Equal, "2")]
        .into_iter()
        .collect();
    ms.push(m("c", Equal, "3"));
    assert_eq!(ms.len(), 3);
    assert!(!ms.is_empty());
    assert_eq!(ms.iter().count(), 3);
    assert_eq!((&ms).into_iter().count(), 3);
    assert_eq!(ms.first().map(Matcher::name), Some("a"));
    assert_eq!(ms, Matchers::from(ms.clone().into_vec()));
    assert_eq!(ms.clone().into_iter().count(), 3);
    assert_eq!("a=1,b=2,c=3".parse::<Matchers>().unwrap(), ms);
}

#[test]
fn serde_round_trip() {
    let ms = Matchers::parse(r#"{a="b", "c d"=~"e|f\n"}"#).unwrap();
    let json = serde_json::to_string(&ms).unwrap();
    assert_eq!(json, r#""{a=\"b\", \"c d\"=~\"e|f\\n\"}""#);
    assert_eq!(serde_json::from_str::<Matchers>(&json).unwrap(), ms);

    let one = m("foo", NotEqual, "x");
    let json = serde_json::to_string(&one).unwrap();
    assert_eq!(json, r#""foo!=\"x\"""#);
    assert_eq!(serde_json::from_str::<Matcher>(&json).unwrap(), one);

    let err = serde_json::from_str::<Matchers>(r#""foo=""#)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(r#"expected a label value after "foo=" at offset 4"#),
        "{err}"
    );
    let err = serde_json::from_str::<Matcher>(r#""a=~\"(\"""#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid regex in matcher"), "{err}");
    let err = serde_json::from_str::<Matcher>("42")
        .unwrap_err()
        .to_string();
    assert!(err.contains("a label matcher"), "{err}");
}

/// Names and values drawn from syntax-heavy characters or arbitrary Unicode.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_]{1,8}",
        "[a-zA-Z0-9 _\"\\\\{}=~!,'`\n\t\r.*+|()\\[\\]🙂é\u{0}\u{1}\u{7f}\u{85}\u{a0}\u{200b}\u{2028}]{0,12}",
        any::<String>(),
    ]
}

fn op() -> impl Strategy<Value = MatchOp> {
    prop_oneof![Just(Equal), Just(NotEqual), Just(Regex), Just(NotRegex)]
}

fn matcher() -> impl Strategy<Value = Matcher> {
    (text(), op(), text()).prop_filter_map("empty name", |(name, op, value)| {
        let value = if op.is_regex() {
            ::regex::escape(&value)
        } else {
            value
        };
        Matcher::new(name, op, value).ok()
    })
}

/// Input that often resembles matcher syntax.
fn input() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ab=!~,{}\"\\\\ 'x`\n\u{e9}🙂unx0-9.*()|\\[\\]]{0,40}",
        proptest::collection::vec(
            prop_oneof![
                Just("a".to_owned()),
                Just("=".to_owned()),
                Just("!=".to_owned()),
                Just("=~".to_owned()),
                Just("!~".to_owned()),
                Just(",".to_owned()),
                Just("{".to_owned()),
                Just("}".to_owned()),
                Just(" ".to_owned()),
                "\"[a\\\\\"nux0-9🙂(]{0,6}\"?",
            ],
            0..16
        )
        .prop_map(|parts| parts.concat()),
    ]
}

proptest! {
    #[test]
    fn display_parse_round_trip(matcher in matcher()) {
        let shown = matcher.to_string();
        prop_assert_eq!(shown.parse::<Matcher>(), Ok(matcher), "{}", shown);
    }

    #[test]
    fn escaped_literal_regex_matches_only_itself(literal in text(), other in text()) {
        let re = m("x", Regex, &::regex::escape(&literal));
        prop_assert!(re.matches_value(Some(&literal)));
        prop_assert_eq!(re.matches_value(Some(&other)), other == literal);
        prop_assert_eq!(re.matches_value(None), literal.is_empty());
    }

    #[test]
    fn list_round_trip(list in proptest::collection::vec(matcher(), 0..5)) {
        let ms = Matchers::new(list);
        prop_assert_eq!(Matchers::parse(&ms.to_string()), Ok(ms.clone()));
        let mut sorted = ms.clone().into_vec();
        sorted.sort_by(Matcher::canonical_cmp);
        prop_assert_eq!(Matchers::parse(&ms.to_canonical_string()), Ok(Matchers::new(sorted)));
        let json = serde_json::to_string(&ms).unwrap();
        prop_assert_eq!(serde_json::from_str::<Matchers>(&json).unwrap(), ms);
    }

    #[test]
    fn parsing_never_panics(s in input()) {
        // Whatever parses must render and re-parse to the same value.
        if let Ok(ms) = Matchers::parse(&s) {
            prop_assert_eq!(Matchers::parse(&ms.to_string()), Ok(ms.clone()));
            let _ = ms.to_canonical_string();
        }
        if let Ok(one) = s.parse::<Matcher>() {
            prop_assert_eq!(one.to_string().parse::<Matcher>(), Ok(one));
        }
        if let Err(err) = Matchers::parse(&s) {
            let msg = err.to_string();
            prop_assert!(!msg.is_empty() && !msg.ends_with('.'), "{}", msg);
        }
    }
}
