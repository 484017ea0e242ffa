//! Quoting and escaping used to render matchers.

use std::fmt::{self, Write};

use super::MatchOp;

/// Whether `c` cannot appear in an unquoted token (Alertmanager's
/// `isReserved`: Unicode whitespace or one of ``{ } ! = ~ , \ " ' ` ``).
pub(super) fn is_reserved(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '{' | '}' | '!' | '=' | '~' | ',' | '\\' | '"' | '\'' | '`'
        )
}

/// Whether `name` is a classic Prometheus-style identifier,
/// `[a-zA-Z_][a-zA-Z0-9_]*`, which [`Display`](fmt::Display) renders bare.
pub(super) fn is_bare_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Writes `name op "value"` in the [`Display`](fmt::Display) form: the name
/// bare when [`is_bare_name`], otherwise Go-quoted; the value always Go-quoted.
pub(super) fn write_matcher<W: Write>(
    out: &mut W,
    name: &str,
    op: MatchOp,
    value: &str,
) -> fmt::Result {
    if is_bare_name(name) {
        out.write_str(name)?;
    } else {
        write_go_quoted(out, name)?;
    }
    out.write_str(op.as_str())?;
    write_go_quoted(out, value)
}

/// Writes a matcher the way Alertmanager's `labels.Matcher.String()` does
/// (used in route keys): if the name holds a reserved character, both name
/// and value are Go-quoted (`strconv.Quote`); otherwise the name is bare and
/// the value is double-quoted with OpenMetrics escaping (`\\`, `\n`, `\"`).
pub(super) fn write_canonical<W: Write>(
    out: &mut W,
    name: &str,
    op: MatchOp,
    value: &str,
) -> fmt::Result {
    if name.chars().any(is_reserved) {
        write_go_quoted(out, name)?;
        out.write_str(op.as_str())?;
        write_go_quoted(out, value)
    } else {
        out.write_str(name)?;
        out.write_str(op.as_str())?;
        out.write_char('"')?;
        write_escaped(out, value, openmetrics_escape)?;
        out.write_char('"')
    }
}

/// Writes `s` double-quoted with Go escapes, like Go's `strconv.Quote`.
///
/// Control characters, separators other than the ASCII space, format
/// characters and private-use characters are escaped as `\xNN`, `\uNNNN` or
/// `\UNNNNNNNN`; everything else is written as is. (Go also escapes
/// unassigned code points; without Unicode tables those are kept literal.)
pub(super) fn write_go_quoted<W: Write>(out: &mut W, s: &str) -> fmt::Result {
    out.write_char('"')?;
    write_escaped(out, s, go_escape)?;
    out.write_char('"')
}

/// An escape for one character: a fixed string or a numeric form.
enum Escape {
    Str(&'static str),
    Hex2(u32),
    Hex4(u32),
    Hex8(u32),
}

/// Writes `s`, replacing each character for which `escape` returns `Some`,
/// in runs so that plain text is copied in bulk.
fn write_escaped<W: Write>(
    out: &mut W,
    s: &str,
    escape: fn(char) -> Option<Escape>,
) -> fmt::Result {
    let mut run_start = 0;
    for (i, c) in s.char_indices() {
        let Some(esc) = escape(c) else { continue };
        out.write_str(s.get(run_start..i).unwrap_or_default())?;
        run_start = i + c.len_utf8();
        match esc {
            Escape::Str(text) => out.write_str(text)?,
            Escape::Hex2(n) => write!(out, "\\x{n:02x}")?,
            Escape::Hex4(n) => write!(out, "\\u{n:04x}")?,
            Escape::Hex8(n) => write!(out, "\\U{n:08x}")?,
        }
    }
    out.write_str(s.get(run_start..).unwrap_or_default())
}

/// OpenMetrics escaping, as Alertmanager's `openMetricsEscape`.
fn openmetrics_escape(c: char) -> Option<Escape> {
    match c {
        '\\' => Some(Escape::Str("\\\\")),
        '"' => Some(Escape::Str("\\\"")),
        '\n' => Some(Escape::Str("\\n")),
        _ => None,
    }
}

/// Go `strconv.Quote` escaping.
fn go_escape(c: char) -> Option<Escape> {
    let esc = match c {
        '\\' => Escape::Str("\\\\"),
        '"' => Escape::Str("\\\""),
        '\u{07}' => Escape::Str("\\a"),
        '\u{08}' => Escape::Str("\\b"),
        '\u{0c}' => Escape::Str("\\f"),
        '\n' => Escape::Str("\\n"),
        '\r' => Escape::Str("\\r"),
        '\t' => Escape::Str("\\t"),
        '\u{0b}' => Escape::Str("\\v"),
        '\0'..='\u{1f}' | '\u{7f}' => Escape::Hex2(u32::from(c)),
        c if is_printable(c) => return None,
        c if u32::from(c) < 0x1_0000 => Escape::Hex4(u32::from(c)),
        c => Escape::Hex8(u32::from(c)),
    };
    Some(esc)
}

/// An approximation of Go's `strconv.IsPrint`: false for control (Cc),
/// separator (Z*, except U+0020), format (Cf), private-use (Co) characters
/// and the noncharacters U+FFFE/U+FFFF.
fn is_printable(c: char) -> bool {
    !(c.is_control()
        || (c != ' ' && c.is_whitespace())
        || matches!(
            c,
            '\u{ad}'
                | '\u{600}'..='\u{605}'
                | '\u{61c}'
                | '\u{6dd}'
                | '\u{70f}'
                | '\u{890}'..='\u{891}'
                | '\u{8e2}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206f}'
                | '\u{e000}'..='\u{f8ff}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
                | '\u{fffe}'..='\u{ffff}'
                | '\u{110bd}'
                | '\u{110cd}'
                | '\u{13430}'..='\u{1343f}'
                | '\u{1bca0}'..='\u{1bca3}'
                | '\u{1d173}'..='\u{1d17a}'
                | '\u{e0001}'
                | '\u{e0020}'..='\u{e007f}'
                | '\u{f0000}'..='\u{ffffd}'
                | '\u{100000}'..='\u{10fffd}'
        ))
}
