//! Lexer and parser for matcher lists (`{a="b", c=~"d|e"}`).
//!
//! Grammar (UTF-8 syntax of Alertmanager's `matcher/parse`):
//!
//! ```text
//! list    = [ "{" ] [ matcher { "," matcher } [ "," ] ] [ "}" ]   (braces paired)
//! matcher = token op token
//! op      = "=" | "!=" | "=~" | "!~"
//! token   = unquoted | quoted
//! ```
//!
//! Whitespace may surround every token. An unquoted token is a run of
//! characters that are neither whitespace nor one of ``{ } ! = ~ , \ " ' ` ``.
//! A quoted token is a double-quoted Go string literal; if it is not a valid
//! one (an unknown escape such as `"\d+"`), it is read with the lenient
//! classic rules instead: `\\`, `\"` and `\n` are escapes and any other
//! backslash is literal, as Alertmanager's default fallback parser does.

use std::str::Chars;

use super::render::is_reserved;
use super::{MatchOp, Matcher, MatcherError};

/// The longest part of an offending token quoted in an error message.
const MAX_SNIPPET_CHARS: usize = 40;

/// Parses a (possibly empty) list of matchers.
pub(super) fn parse_matchers(src: &str) -> Result<Vec<Matcher>, MatcherError> {
    let mut lexer = Lexer { src, pos: 0 };
    let mut matchers = Vec::new();
    let mut tok = lexer.next()?;
    let open = match tok {
        Some(Token {
            kind: Kind::OpenBrace,
            start,
            ..
        }) => {
            tok = lexer.next()?;
            Some(start)
        }
        _ => None,
    };
    let mut closed = false;
    // `tok` is where a matcher may start: at the beginning or after a comma.
    while let Some(t) = tok.take() {
        let name = match t.kind {
            Kind::Str(name) => name,
            Kind::CloseBrace => {
                check_close(open, t.start)?;
                closed = true;
                break;
            }
            _ => {
                return Err(MatcherError::ExpectedLabelName {
                    offset: t.start,
                    found: describe(src, Some(&t)),
                });
            }
        };
        matchers.push(parse_rest(&mut lexer, name, t.start, t.end)?);
        match lexer.next()? {
            None => break,
            Some(Token {
                kind: Kind::Comma, ..
            }) => tok = lexer.next()?,
            Some(Token {
                kind: Kind::CloseBrace,
                start,
                ..
            }) => {
                check_close(open, start)?;
                closed = true;
                break;
            }
            Some(other) => {
                return Err(MatcherError::ExpectedCommaOrCloseBrace {
                    offset: other.start,
                    found: describe(src, Some(&other)),
                });
            }
        }
    }
    if closed {
        if let Some(extra) = lexer.next()? {
            return Err(MatcherError::TrailingInput {
                offset: extra.start,
                found: describe(src, Some(&extra)),
            });
        }
    } else if let Some(offset) = open {
        return Err(MatcherError::MissingCloseBrace { offset });
    }
    Ok(matchers)
}

/// A closing brace at `offset` is only allowed after an opening one.
fn check_close(open: Option<usize>, offset: usize) -> Result<(), MatcherError> {
    match open {
        Some(_) => Ok(()),
        None => Err(MatcherError::UnexpectedCloseBrace { offset }),
    }
}

/// Parses the operator and value of a matcher whose name token spans
/// `name_start..name_end`.
fn parse_rest(
    lexer: &mut Lexer<'_>,
    name: String,
    name_start: usize,
    name_end: usize,
) -> Result<Matcher, MatcherError> {
    if name.is_empty() {
        return Err(MatcherError::EmptyLabelName {
            offset: Some(name_start),
        });
    }
    let op = match lexer.next()? {
        Some(Token {
            kind: Kind::Op(op), ..
        }) => op,
        other => {
            return Err(MatcherError::ExpectedOperator {
                offset: lexer.offset_of(other.as_ref(), name_end),
                found: describe(lexer.src, other.as_ref()),
                name,
            });
        }
    };
    let value = match lexer.next()? {
        Some(Token {
            kind: Kind::Str(value),
            ..
        }) => value,
        other => {
            return Err(MatcherError::ExpectedValue {
                offset: lexer.offset_of(other.as_ref(), name_end),
                found: describe(lexer.src, other.as_ref()),
                matcher: format!("{name}{op}"),
            });
        }
    };
    Matcher::new(name, op, value)
}

/// How an offending token (or the end of input) reads in an error message.
fn describe(src: &str, tok: Option<&Token>) -> String {
    let Some(tok) = tok else {
        return "end of input".to_owned();
    };
    let text = src.get(tok.start..tok.end).unwrap_or_default();
    let mut snippet: String = text.chars().take(MAX_SNIPPET_CHARS).collect();
    if snippet.len() < text.len() {
        snippet.push('…');
    }
    format!("{snippet:?}")
}

#[derive(Debug)]
enum Kind {
    OpenBrace,
    CloseBrace,
    Comma,
    Op(MatchOp),
    /// A name or value, unquoted or already decoded.
    Str(String),
}

#[derive(Debug)]
struct Token {
    kind: Kind,
    /// Byte offset of the first character.
    start: usize,
    /// Byte offset just past the last character.
    end: usize,
}

struct Lexer<'a> {
    src: &'a str,
    /// Byte offset of the next character; always on a char boundary.
    pos: usize,
}

impl Lexer<'_> {
    fn peek_char(&self) -> Option<char> {
        self.src.get(self.pos..)?.chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek_char()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn eat(&mut self, expected: char) -> bool {
        let found = self.peek_char() == Some(expected);
        if found {
            self.pos += expected.len_utf8();
        }
        found
    }

    /// Where a token was expected: at `tok`, or at the end of input; never
    /// before `min`.
    fn offset_of(&self, tok: Option<&Token>, min: usize) -> usize {
        tok.map_or(self.src.len(), |t| t.start).max(min)
    }

    /// The next token, `None` at the end of input.
    fn next(&mut self) -> Result<Option<Token>, MatcherError> {
        while self.peek_char().is_some_and(char::is_whitespace) {
            self.bump();
        }
        let start = self.pos;
        let Some(c) = self.bump() else {
            return Ok(None);
        };
        let kind = match c {
            '{' => Kind::OpenBrace,
            '}' => Kind::CloseBrace,
            ',' => Kind::Comma,
            '=' if self.eat('~') => Kind::Op(MatchOp::Regex),
            '=' => Kind::Op(MatchOp::Equal),
            '!' if self.eat('=') => Kind::Op(MatchOp::NotEqual),
            '!' if self.eat('~') => Kind::Op(MatchOp::NotRegex),
            '!' => return Err(MatcherError::InvalidOperator { offset: start }),
            '"' => Kind::Str(self.quoted(start)?),
            c if is_reserved(c) => {
                return Err(MatcherError::UnexpectedCharacter {
                    ch: c,
                    offset: start,
                });
            }
            _ => {
                while self.peek_char().is_some_and(|c| !is_reserved(c)) {
                    self.bump();
                }
                Kind::Str(self.src.get(start..self.pos).unwrap_or_default().to_owned())
            }
        };
        Ok(Some(Token {
            kind,
            start,
            end: self.pos,
        }))
    }

    /// Scans the rest of a quoted string whose opening quote is at `start`
    /// and returns its decoded content.
    fn quoted(&mut self, start: usize) -> Result<String, MatcherError> {
        let body_start = self.pos;
        let body_end = loop {
            let here = self.pos;
            match self.bump() {
                None => return Err(MatcherError::UnterminatedString { offset: start }),
                Some('"') => break here,
                Some('\\') => {
                    if self.bump().is_none() {
                        return Err(MatcherError::UnterminatedString { offset: start });
                    }
                }
                Some(_) => {}
            }
        };
        let body = self.src.get(body_start..body_end).unwrap_or_default();
        if !body.contains('\\') {
            return Ok(body.to_owned());
        }
        Ok(unquote_go(body).unwrap_or_else(|| unquote_classic(body)))
    }
}

/// Decodes the body of a Go double-quoted string literal (`strconv.Unquote`
/// rules, except that a literal newline is tolerated). `None` if an escape
/// is invalid or the decoded bytes are not UTF-8.
pub(super) fn unquote_go(body: &str) -> Option<String> {
    let mut out: Vec<u8> = Vec::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
            continue;
        }
        let esc = chars.next()?;
        let byte = match esc {
            'a' => 0x07,
            'b' => 0x08,
            'f' => 0x0c,
            'n' => b'\n',
            'r' => b'\r',
            't' => b'\t',
            'v' => 0x0b,
            '\\' => b'\\',
            '"' => b'"',
            'x' => u8::try_from(digits(&mut chars, 16, 2)?).ok()?,
            '0'..='7' => {
                let high = esc.to_digit(8)?;
                u8::try_from(high * 64 + digits(&mut chars, 8, 2)?).ok()?
            }
            'u' | 'U' => {
                let len = if esc == 'u' { 4 } else { 8 };
                let c = char::from_u32(digits(&mut chars, 16, len)?)?;
                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                continue;
            }
            _ => return None,
        };
        out.push(byte);
    }
    String::from_utf8(out).ok()
}

/// Reads exactly `count` digits in `radix` (at most 8 hex digits, so the
/// value fits a `u32`).
fn digits(chars: &mut Chars<'_>, radix: u32, count: usize) -> Option<u32> {
    let mut value: u32 = 0;
    for _ in 0..count {
        let digit = chars.next()?.to_digit(radix)?;
        value = value.checked_mul(radix)?.checked_add(digit)?;
    }
    Some(value)
}

/// Decodes a quoted body with the classic (OpenMetrics) rules: `\\`, `\"`
/// and `\n` are escapes, any other backslash is kept literally.
pub(super) fn unquote_classic(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some(esc @ ('"' | '\\')) => out.push(esc),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}
