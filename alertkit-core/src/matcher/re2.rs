//! Compiling RE2 (Go `regexp`) patterns with the `regex` crate.
//!
//! The two dialects are close; the differences that would silently change
//! what matches are smoothed over here:
//!
//! * `\d \D \w \W \s \S` and `\b \B` are ASCII-only in RE2 but Unicode-aware
//!   in `regex`, so they are rewritten to their ASCII forms (nested classes
//!   such as `[^0-9]` are valid inside `[...]` in `regex`).
//! * `\Q...\E` (quoted literal text) exists only in RE2 and is expanded.
//! * Octal escapes (`\012`) are enabled, as in RE2.
//!
//! Remaining differences make a pattern fail to compile rather than change
//! its meaning, except for `regex`-only syntax (class set operations such as
//! `[a&&b]`, the `x` flag, `\<`), which RE2 would reject or read literally.

use std::borrow::Cow;

use regex::{Regex, RegexBuilder};

/// Compiles `pattern` fully anchored, as `^(?:pattern)$`.
///
/// A pattern that could escape the anchoring group (`a)|(b`) is rejected:
/// when it contains `)`, it must also compile on its own. So must one
/// ending in a backslash, whose error would otherwise be about the group.
pub(super) fn compile_anchored(pattern: &str) -> Result<Regex, String> {
    let translated = translate(pattern);
    if translated.contains(')') || translated.ends_with('\\') {
        build(&translated)?;
    }
    build(&format!("^(?:{translated})$"))
}

fn build(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .octal(true)
        .build()
        .map_err(|err| describe(&err))
}

/// A one-line, lowercase description of a `regex` error (its syntax
/// errors span several lines, with a caret diagram of the pattern).
fn describe(err: &regex::Error) -> String {
    if let regex::Error::Syntax(msg) = err {
        return msg
            .lines()
            .rev()
            .find_map(|line| line.trim().strip_prefix("error: "))
            .map_or_else(
                || msg.split_whitespace().collect::<Vec<_>>().join(" "),
                str::to_owned,
            );
    }
    if let regex::Error::CompiledTooBig(limit) = err {
        return format!("compiled regex exceeds the size limit of {limit} bytes");
    }
    let text = err.to_string();
    text.trim_end_matches('.').to_lowercase()
}

/// Rewrites the RE2-specific escapes of `pattern` for the `regex` crate.
fn translate(pattern: &str) -> Cow<'_, str> {
    if !pattern.contains('\\') {
        return Cow::Borrowed(pattern);
    }
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut rest = pattern;
    while let Some(pos) = rest.find('\\') {
        out.push_str(rest.get(..pos).unwrap_or_default());
        let after = rest.get(pos + 1..).unwrap_or_default();
        let mut chars = after.chars();
        let Some(esc) = chars.next() else {
            // A trailing lone backslash: keep it, so the pattern fails to compile.
            out.push('\\');
            rest = "";
            break;
        };
        rest = chars.as_str();
        match esc {
            'd' => out.push_str("[0-9]"),
            'D' => out.push_str("[^0-9]"),
            'w' => out.push_str("[0-9A-Za-z_]"),
            'W' => out.push_str("[^0-9A-Za-z_]"),
            's' => out.push_str("[\\t\\n\\f\\r ]"),
            'S' => out.push_str("[^\\t\\n\\f\\r ]"),
            'b' => out.push_str("(?-u:\\b)"),
            'B' => out.push_str("(?-u:\\B)"),
            'Q' => {
                let (literal, tail) = rest.split_once("\\E").unwrap_or((rest, ""));
                out.push_str(&regex::escape(literal));
                rest = tail;
            }
            other => {
                out.push('\\');
                out.push(other);
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translate_rewrites_only_real_escapes() {
        assert_eq!(translate("a.b"), "a.b");
        assert_eq!(translate(r"\d+"), "[0-9]+");
        assert_eq!(translate(r"\\d"), r"\\d");
        assert_eq!(translate(r"[\w-]"), "[[0-9A-Za-z_]-]");
        assert_eq!(translate(r"\Qa.b\E+"), r"a\.b+");
        assert_eq!(translate(r"\Qa(b"), r"a\(b");
        assert_eq!(translate(r"\pL\x41"), r"\pL\x41");
        assert_eq!(translate("x\\"), "x\\");
        assert_eq!(translate("é\\sü"), "é[\\t\\n\\f\\r ]ü");
    }

    #[test]
    fn perl_classes_are_ascii_like_re2() -> Result<(), String> {
        let digits = compile_anchored(r"\d+")?;
        assert!(digits.is_match("123"));
        assert!(
            !digits.is_match("١٢٣"),
            "Arabic-Indic digits are not \\d in RE2"
        );
        let word = compile_anchored(r"\w+")?;
        assert!(word.is_match("abc_1"));
        assert!(!word.is_match("é"));
        let not_digit = compile_anchored(r"[^\D]")?;
        assert!(not_digit.is_match("7"));
        assert!(!not_digit.is_match("x"));
        let space = compile_anchored(r"a\sb")?;
        assert!(space.is_match("a b"));
        assert!(!space.is_match("a\u{a0}b"));
        let boundary = compile_anchored(r".*\bé.*")?;
        assert!(boundary.is_match("aé"), "é is not an ASCII word character");
        let unicode = compile_anchored(r"\p{Greek}+")?;
        assert!(unicode.is_match("αβγ"));
        let octal = compile_anchored(r"\101")?;
        assert!(octal.is_match("A"));
        Ok(())
    }

    #[test]
    fn anchoring_cannot_be_escaped() {
        assert!(compile_anchored("a)|(b").is_err());
        assert!(compile_anchored(r"\Qa)|(b\E").is_ok_and(|re| re.is_match("a)|(b")));
        assert!(compile_anchored("(a|b)").is_ok_and(|re| re.is_match("a") && !re.is_match("ab")));
    }

    #[test]
    fn errors_are_one_line() {
        let err = compile_anchored("(").err().unwrap_or_default();
        assert_eq!(err, "unclosed group");
        let err = compile_anchored("a\\").err().unwrap_or_default();
        assert_eq!(
            err,
            "incomplete escape sequence, reached end of pattern prematurely"
        );
        let err = compile_anchored("a{99999}{99999}")
            .err()
            .unwrap_or_default();
        assert!(!err.contains('\n'), "{err}");
    }
}
