//! Finding the JSON object in a model's reply: prose around it, or cut short.
//!
//! A small scanner walks the text from a `{` with JSON's structure (strings
//! and escapes included) and reports either the end of a balanced object or,
//! if the text ends first, the last point where a member or element was
//! complete, with the brackets that would close it there. Partial members
//! are dropped, never completed: a verdict is only built from values the
//! model finished writing.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Obj {
    /// After `{`: a key or `}`.
    KeyOrEnd,
    /// After `,`: a key.
    Key,
    /// After a key: `:`.
    Colon,
    /// After `:`: a value.
    Value,
    /// After a value: `,` or `}`.
    CommaOrEnd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arr {
    ValueOrEnd,
    Value,
    CommaOrEnd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    Obj(Obj),
    Arr(Arr),
}

/// What scanning from a `{` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scan {
    /// A balanced object ends at this byte offset (exclusive).
    Balanced(usize),
    /// The text ended inside the object; `repaired` closes it at the last
    /// complete member, if there was one.
    Truncated { repaired: Option<String> },
    /// Not JSON's structure.
    Invalid,
}

/// Scans `text`, which must start with `{`.
pub(crate) fn scan(text: &str) -> Scan {
    let bytes = text.as_bytes();
    if bytes.first() != Some(&b'{') {
        return Scan::Invalid;
    }
    let mut stack: Vec<Frame> = Vec::with_capacity(8);
    // The last safe cut: byte offset and the closers needed there.
    let mut cut: Option<(usize, String)> = None;
    let mut in_string = false;
    let mut escaped = false;
    let mut scalar = false;
    let mut i = 0;

    // Marks the value that just ended at `end` complete in the top frame.
    fn complete(stack: &mut [Frame], cut: &mut Option<(usize, String)>, end: usize) {
        if let Some(top) = stack.last_mut() {
            *top = match *top {
                Frame::Obj(_) => Frame::Obj(Obj::CommaOrEnd),
                Frame::Arr(_) => Frame::Arr(Arr::CommaOrEnd),
            };
            let closers = stack
                .iter()
                .rev()
                .map(|f| match f {
                    Frame::Obj(_) => '}',
                    Frame::Arr(_) => ']',
                })
                .collect();
            *cut = Some((end, closers));
        }
    }

    fn expects_value(stack: &[Frame]) -> bool {
        matches!(
            stack.last(),
            None | Some(Frame::Obj(Obj::Value) | Frame::Arr(Arr::Value | Arr::ValueOrEnd))
        )
    }

    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
                match stack.last_mut() {
                    Some(Frame::Obj(state @ (Obj::KeyOrEnd | Obj::Key))) => *state = Obj::Colon,
                    _ => complete(&mut stack, &mut cut, i + 1),
                }
            }
            i += 1;
            continue;
        }
        let delimiter = matches!(b, b',' | b'}' | b']' | b':' | b' ' | b'\t' | b'\n' | b'\r');
        if scalar && delimiter {
            scalar = false;
            complete(&mut stack, &mut cut, i);
        }
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => {}
            b'"' => {
                let key_position =
                    matches!(stack.last(), Some(Frame::Obj(Obj::KeyOrEnd | Obj::Key)));
                if !key_position && !expects_value(&stack) {
                    return Scan::Invalid;
                }
                in_string = true;
            }
            b'{' | b'[' => {
                if !expects_value(&stack) {
                    return Scan::Invalid;
                }
                stack.push(if b == b'{' {
                    Frame::Obj(Obj::KeyOrEnd)
                } else {
                    Frame::Arr(Arr::ValueOrEnd)
                });
            }
            b'}' | b']' => {
                let closes = matches!(
                    (b, stack.last()),
                    (b'}', Some(Frame::Obj(Obj::KeyOrEnd | Obj::CommaOrEnd)))
                        | (b']', Some(Frame::Arr(Arr::ValueOrEnd | Arr::CommaOrEnd)))
                );
                if !closes {
                    return Scan::Invalid;
                }
                stack.pop();
                if stack.is_empty() {
                    return Scan::Balanced(i + 1);
                }
                complete(&mut stack, &mut cut, i + 1);
            }
            b':' => match stack.last_mut() {
                Some(Frame::Obj(state @ Obj::Colon)) => *state = Obj::Value,
                _ => return Scan::Invalid,
            },
            b',' => match stack.last_mut() {
                Some(Frame::Obj(state @ Obj::CommaOrEnd)) => *state = Obj::Key,
                Some(Frame::Arr(state @ Arr::CommaOrEnd)) => *state = Arr::Value,
                _ => return Scan::Invalid,
            },
            _ => {
                if !scalar {
                    if !expects_value(&stack) || stack.is_empty() {
                        return Scan::Invalid;
                    }
                    scalar = true;
                }
            }
        }
        i += 1;
    }
    let repaired = cut.map(|(end, closers)| {
        let mut s = String::with_capacity(end + closers.len());
        s.push_str(&text[..end]);
        s.push_str(&closers);
        s
    });
    Scan::Truncated { repaired }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_objects_end_where_they_close() {
        let text = r#"{"a":"}","b":[1,{"c":null}]} trailing"#;
        assert_eq!(scan(text), Scan::Balanced(text.len() - " trailing".len()));
        assert_eq!(scan(r#"{"s":"\"}"}"#), Scan::Balanced(11));
    }

    #[test]
    fn truncated_objects_close_at_the_last_complete_member() {
        for (text, want) in [
            (r#"{"a":1,"b":"par"#, Some(r#"{"a":1}"#)),
            (r#"{"a":1,"b":2"#, Some(r#"{"a":1}"#)),
            (r#"{"a":1,"b":2,"#, Some(r#"{"a":1,"b":2}"#)),
            (
                r#"{"a":"x","r":["one","tw"#,
                Some(r#"{"a":"x","r":["one"]}"#),
            ),
            (r#"{"a":"x","r":["one"],"#, Some(r#"{"a":"x","r":["one"]}"#)),
            (r#"{"a":{"b":true}"#, Some(r#"{"a":{"b":true}}"#)),
            (r#"{"a""#, None),
            ("{", None),
        ] {
            let Scan::Truncated { repaired } = scan(text) else {
                panic!("{text}");
            };
            assert_eq!(repaired.as_deref(), want, "{text}");
        }
    }

    #[test]
    fn prose_is_not_json() {
        assert_eq!(scan("{note} then"), Scan::Invalid);
        assert_eq!(scan("nope"), Scan::Invalid);
        assert_eq!(scan(r#"{"a" "b"}"#), Scan::Invalid);
    }
}
