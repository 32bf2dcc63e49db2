//! A structural JSON scanner: finds where the values of an object's keys
//! start and end without building them.
//!
//! Opening a lazy profile only needs the byte range of each top-level section
//! and of each `$STRUCTS` entry. This scanner does that in one pass over the
//! text: strings are skipped with `memchr`, brackets are matched with an
//! explicit stack (no recursion, so any nesting depth is safe), and nothing is
//! allocated except the index itself. It checks the *structure* (an object at
//! the top, balanced and properly matched brackets, terminated strings,
//! `key: value` pairs separated by commas, nothing after the end) but not the
//! grammar inside values it skips: a number like `1x2` inside a struct is
//! reported by serde_json when that struct is parsed, on first use.

use std::ops::Range;

/// A scanning error: what is wrong, and the byte offset where it was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScanError {
    pub(crate) message: &'static str,
    pub(crate) at: usize,
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte {}", self.message, self.at)
    }
}

type Scan<T> = std::result::Result<T, ScanError>;

/// A key of an object: its raw text between the quotes, and whether it holds
/// escapes (then it must be decoded with serde_json).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Key {
    pub(crate) raw: Range<usize>,
    pub(crate) escaped: bool,
}

impl Key {
    /// The error for a key whose escapes are invalid.
    pub(crate) fn bad_escape(&self) -> ScanError {
        ScanError {
            message: "invalid escape in a key",
            at: self.raw.start,
        }
    }

    /// The key's text: borrowed when it has no escapes, decoded otherwise
    /// (`None` when the escapes are invalid).
    pub(crate) fn text<'a>(&self, text: &'a str) -> Option<std::borrow::Cow<'a, str>> {
        // `raw` excludes the quotes; widen by one on each side to decode.
        if self.escaped {
            let quoted = text.get(self.raw.start.checked_sub(1)?..self.raw.end.checked_add(1)?)?;
            serde_json::from_str::<String>(quoted)
                .ok()
                .map(std::borrow::Cow::Owned)
        } else {
            text.get(self.raw.clone()).map(std::borrow::Cow::Borrowed)
        }
    }
}

/// A cursor over JSON text.
pub(crate) struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

fn err<T>(message: &'static str, at: usize) -> Scan<T> {
    Err(ScanError { message, at })
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Self {
        Scanner { b, i: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(c) = self.peek() {
            if matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    /// At a `"`: skips the string; returns the range of its contents and
    /// whether it holds escapes.
    fn string(&mut self) -> Scan<Key> {
        let start = self.i + 1;
        let mut j = start;
        let mut escaped = false;
        loop {
            let rest = self.b.get(j..).unwrap_or(&[]);
            match memchr::memchr2(b'"', b'\\', rest) {
                Some(k) => {
                    let at = j + k;
                    if self.b.get(at) == Some(&b'"') {
                        self.i = at + 1;
                        return Ok(Key {
                            raw: start..at,
                            escaped,
                        });
                    }
                    escaped = true;
                    j = at + 2; // skip the escaped character
                }
                None => return err("unterminated string", self.i),
            }
        }
    }

    /// Skips one value of any kind (after whitespace), checking brackets
    /// match; returns its byte range.
    fn value(&mut self) -> Scan<Range<usize>> {
        self.ws();
        let start = self.i;
        match self.peek() {
            None => err("expected a value, found the end", start),
            Some(b'"') => {
                self.string()?;
                Ok(start..self.i)
            }
            Some(b'{' | b'[') => {
                self.container()?;
                Ok(start..self.i)
            }
            Some(b'}' | b']' | b',' | b':') => err("expected a value", start),
            Some(_) => {
                // A number or literal: up to the next delimiter.
                while let Some(c) = self.peek() {
                    if matches!(
                        c,
                        b',' | b'}'
                            | b']'
                            | b':'
                            | b' '
                            | b'\n'
                            | b'\r'
                            | b'\t'
                            | b'"'
                            | b'{'
                            | b'['
                    ) {
                        break;
                    }
                    self.i += 1;
                }
                Ok(start..self.i)
            }
        }
    }

    /// At `{` or `[`: skips to just after the matching bracket.
    fn container(&mut self) -> Scan<()> {
        // Open brackets not yet closed (`true`: `{`).
        let mut stack: Vec<bool> = Vec::new();
        while let Some(c) = self.peek() {
            match c {
                b'"' => {
                    self.string()?;
                    continue;
                }
                b'{' | b'[' => stack.push(c == b'{'),
                b'}' | b']' => match stack.pop() {
                    Some(open) if open == (c == b'}') => {
                        if stack.is_empty() {
                            self.i += 1;
                            return Ok(());
                        }
                    }
                    _ => return err("mismatched bracket", self.i),
                },
                _ => {}
            }
            self.i += 1;
        }
        err("unterminated object or array", self.i)
    }

    /// At an object (after whitespace): calls `f(key, scanner)` for each
    /// entry, in order, with the cursor just after the `:`; `f` must consume
    /// the value (with [`Scanner::skip`] or [`Scanner::object`]).
    pub(crate) fn object(
        &mut self,
        mut f: impl FnMut(Key, &mut Scanner<'a>) -> Scan<()>,
    ) -> Scan<()> {
        self.ws();
        if self.peek() != Some(b'{') {
            return err("expected an object", self.i);
        }
        self.i += 1;
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return err("expected a string key", self.i);
            }
            let key = self.string()?;
            self.ws();
            if self.peek() != Some(b':') {
                return err("expected ':' after a key", self.i);
            }
            self.i += 1;
            f(key, self)?;
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return err("expected ',' or '}' in an object", self.i),
            }
        }
    }

    /// At an array (after whitespace): calls `f(index, scanner)` for each
    /// element, in order; `f` must consume the element.
    pub(crate) fn array(
        &mut self,
        mut f: impl FnMut(usize, &mut Scanner<'a>) -> Scan<()>,
    ) -> Scan<()> {
        self.ws();
        if self.peek() != Some(b'[') {
            return err("expected an array", self.i);
        }
        self.i += 1;
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(());
        }
        let mut index = 0;
        loop {
            f(index, self)?;
            index += 1;
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return err("expected ',' or ']' in an array", self.i),
            }
        }
    }

    /// Skips the next value; returns its range.
    pub(crate) fn skip(&mut self) -> Scan<Range<usize>> {
        self.value()
    }

    /// The byte offset of the cursor.
    pub(crate) fn position(&self) -> usize {
        self.i
    }

    /// Skips whitespace and peeks at the next byte.
    pub(crate) fn next_byte(&mut self) -> Option<u8> {
        self.ws();
        self.peek()
    }

    /// Checks that only whitespace is left.
    pub(crate) fn end(&mut self) -> Scan<()> {
        self.ws();
        match self.peek() {
            None => Ok(()),
            Some(_) => err("trailing characters after the top-level object", self.i),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(doc: &str) -> Scan<Vec<(String, String)>> {
        let mut s = Scanner::new(doc.as_bytes());
        let mut out = Vec::new();
        s.object(|k, s| {
            let r = s.skip()?;
            out.push((k.text(doc).unwrap().into_owned(), doc[r].to_owned()));
            Ok(())
        })?;
        s.end()?;
        Ok(out)
    }

    #[test]
    fn finds_values_and_decodes_keys() {
        let doc = r#" { "a" : [1, {"x": "]}\"["}], "b\"q": "s\\", "c": -1.5e3 , "d": {} } "#;
        let e = entries(doc).unwrap();
        assert_eq!(
            e,
            vec![
                ("a".into(), r#"[1, {"x": "]}\"["}]"#.into()),
                ("b\"q".into(), r#""s\\""#.into()),
                ("c".into(), "-1.5e3".into()),
                ("d".into(), "{}".into()),
            ]
        );
        assert_eq!(entries("{}").unwrap(), vec![]);
    }

    #[test]
    fn rejects_bad_structure() {
        for doc in [
            "",
            "[]",
            "{",
            "{\"a\"}",
            "{\"a\": }",
            "{\"a\": [}",
            "{\"a\": [1}]}",
            "{\"a\": \"x}",
            "{\"a\": 1 \"b\": 2}",
            "{\"a\": 1} x",
            "{\"a\": 1,}",
            "{a: 1}",
        ] {
            assert!(entries(doc).is_err(), "{doc:?} was accepted");
        }
        // Deep nesting is not recursion: no stack overflow.
        let deep = format!("{{\"a\": {}{}}}", "[".repeat(1 << 20), "]".repeat(1 << 20));
        assert_eq!(entries(&deep).unwrap()[0].1.len(), 2 << 20);
    }
}
