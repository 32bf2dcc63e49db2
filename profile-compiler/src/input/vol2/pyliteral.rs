//! A parser for the Python-literal subset Volatility 2 writes its vtypes in.
//!
//! Accepted: a module made of `NAME = LITERAL` assignments (other lines are
//! comments or blank), where a literal is a dict `{k: v, ...}`, a list
//! `[...]`, a tuple `(...)`, a string (single, double or triple quoted, with
//! `r`/`u`/`b` prefixes), an integer (decimal, `0x`/`0o`/`0b`, Python 2 long
//! suffix `L`, unary minus), a float, `None`, `True`, `False`, or
//! `dict(key=LITERAL, ...)` (Volatility writes BitField arguments that way).
//! Trailing commas, comments and line continuations inside brackets are
//! accepted. Nothing is ever evaluated: any other expression is an error that
//! names the line. Nesting is capped at [`MAX_DEPTH`], so hostile input cannot
//! exhaust the stack.

use std::fmt;

/// Deepest nesting of brackets accepted.
pub const MAX_DEPTH: usize = 64;

/// A parsed Python literal.
#[derive(Debug, Clone, PartialEq)]
pub enum PyValue {
    /// `None`
    None,
    /// `True` / `False`
    Bool(bool),
    /// An integer (Python integers are unbounded; values beyond `i128` are errors).
    Int(i128),
    /// A float (kept only so that a file holding one still parses).
    Float(f64),
    /// A string.
    Str(String),
    /// A list or a tuple.
    List(Vec<PyValue>),
    /// A dict, in source order.
    Dict(Vec<(PyValue, PyValue)>),
}

impl PyValue {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            PyValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i128> {
        match self {
            PyValue::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The items, if this is a list or tuple.
    pub fn as_list(&self) -> Option<&[PyValue]> {
        match self {
            PyValue::List(l) => Some(l),
            _ => None,
        }
    }

    /// The entries, if this is a dict.
    pub fn as_dict(&self) -> Option<&[(PyValue, PyValue)]> {
        match self {
            PyValue::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// Looks a string key up in a dict (the last entry wins, as in Python).
    pub fn get(&self, key: &str) -> Option<&PyValue> {
        self.as_dict()?
            .iter()
            .rev()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }
}

/// A parse error with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Line of the offending token.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Int(i128),
    Float(f64),
    Str(String),
    Punct(char),
    Newline,
}

struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    line: usize,
    /// Bracket depth: newlines inside brackets are not statement ends.
    depth: usize,
}

fn err<T>(line: usize, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        line,
        message: message.into(),
    })
}

impl<'a> Lexer<'a> {
    fn peek_byte(&self, ahead: usize) -> Option<u8> {
        self.src.get(self.pos + ahead).copied()
    }

    /// The next token and the line it starts on; `None` at the end.
    fn next(&mut self) -> Result<Option<(Tok, usize)>, ParseError> {
        loop {
            let Some(c) = self.peek_byte(0) else {
                return Ok(None);
            };
            match c {
                b' ' | b'\t' | b'\r' | b'\x0c' => self.pos += 1,
                b'\\' if matches!(self.peek_byte(1), Some(b'\n')) => {
                    self.pos += 2;
                    self.line += 1;
                }
                b'\\' if self.peek_byte(1) == Some(b'\r') && self.peek_byte(2) == Some(b'\n') => {
                    self.pos += 3;
                    self.line += 1;
                }
                b'#' => {
                    while let Some(c) = self.peek_byte(0) {
                        if c == b'\n' {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                b'\n' => {
                    let line = self.line;
                    self.pos += 1;
                    self.line += 1;
                    if self.depth == 0 {
                        return Ok(Some((Tok::Newline, line)));
                    }
                }
                _ => break,
            }
        }
        let line = self.line;
        let Some(c) = self.peek_byte(0) else {
            return Ok(None);
        };
        let tok = match c {
            b'{' | b'[' | b'(' => {
                self.depth += 1;
                self.pos += 1;
                Tok::Punct(c as char)
            }
            b'}' | b']' | b')' => {
                self.depth = self.depth.saturating_sub(1);
                self.pos += 1;
                Tok::Punct(c as char)
            }
            b':' | b',' | b'=' | b'-' | b'+' => {
                self.pos += 1;
                Tok::Punct(c as char)
            }
            b'"' | b'\'' => Tok::Str(self.string(false)?),
            b'0'..=b'9' | b'.' => self.number()?,
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = self.pos;
                while self
                    .peek_byte(0)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
                {
                    self.pos += 1;
                }
                let word = String::from_utf8_lossy(&self.src[start..self.pos]).into_owned();
                // String prefixes: r'', u'', b'', br''...
                let lower = word.to_ascii_lowercase();
                if matches!(self.peek_byte(0), Some(b'"' | b'\''))
                    && matches!(lower.as_str(), "r" | "u" | "b" | "br" | "rb" | "ur")
                {
                    Tok::Str(self.string(lower.contains('r'))?)
                } else {
                    Tok::Name(word)
                }
            }
            other => {
                return err(line, format!("unexpected character {:?}", other as char));
            }
        };
        Ok(Some((tok, line)))
    }

    fn string(&mut self, raw: bool) -> Result<String, ParseError> {
        let start_line = self.line;
        let Some(quote) = self.peek_byte(0) else {
            return err(start_line, "string expected");
        };
        let triple = self.peek_byte(1) == Some(quote) && self.peek_byte(2) == Some(quote);
        self.pos += if triple { 3 } else { 1 };
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(c) = self.peek_byte(0) else {
                return err(start_line, "unterminated string");
            };
            if c == quote {
                if !triple {
                    self.pos += 1;
                    break;
                }
                if self.peek_byte(1) == Some(quote) && self.peek_byte(2) == Some(quote) {
                    self.pos += 3;
                    break;
                }
            }
            if c == b'\n' {
                if !triple {
                    return err(start_line, "unterminated string");
                }
                self.line += 1;
            }
            if c == b'\\' && !raw {
                let Some(e) = self.peek_byte(1) else {
                    return err(start_line, "unterminated string");
                };
                self.pos += 2;
                match e {
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    b'r' => out.push(b'\r'),
                    b'0' => out.push(0),
                    b'\\' | b'\'' | b'"' => out.push(e),
                    b'\n' => self.line += 1,
                    b'x' => {
                        let hex = self.src.get(self.pos..self.pos + 2).unwrap_or_default();
                        let v = std::str::from_utf8(hex)
                            .ok()
                            .and_then(|h| u8::from_str_radix(h, 16).ok());
                        match v {
                            Some(v) => {
                                out.push(v);
                                self.pos += 2;
                            }
                            None => return err(self.line, "bad \\x escape in string"),
                        }
                    }
                    other => {
                        out.push(b'\\');
                        out.push(other);
                    }
                }
                continue;
            }
            if c == b'\\' && raw {
                // A raw string still cannot end on an escaped quote.
                out.push(c);
                self.pos += 1;
                if let Some(n) = self.peek_byte(0) {
                    out.push(n);
                    self.pos += 1;
                    if n == b'\n' {
                        self.line += 1;
                    }
                }
                continue;
            }
            out.push(c);
            self.pos += 1;
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    fn number(&mut self) -> Result<Tok, ParseError> {
        let line = self.line;
        let start = self.pos;
        while self
            .peek_byte(0)
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'_')
        {
            self.pos += 1;
        }
        let text = String::from_utf8_lossy(&self.src[start..self.pos]).replace('_', "");
        let body = text.strip_suffix(['L', 'l']).unwrap_or(&text);
        let lower = body.to_ascii_lowercase();
        let parsed = if let Some(h) = lower.strip_prefix("0x") {
            i128::from_str_radix(h, 16).ok()
        } else if let Some(o) = lower.strip_prefix("0o") {
            i128::from_str_radix(o, 8).ok()
        } else if let Some(b) = lower.strip_prefix("0b") {
            i128::from_str_radix(b, 2).ok()
        } else if lower.len() > 1
            && lower.starts_with('0')
            && lower.bytes().all(|c| c.is_ascii_digit())
        {
            // Python 2 octal (0755).
            i128::from_str_radix(&lower[1..], 8).ok()
        } else {
            lower.parse::<i128>().ok()
        };
        if let Some(v) = parsed {
            return Ok(Tok::Int(v));
        }
        if lower
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e'))
        {
            if let Ok(f) = lower.parse::<f64>() {
                return Ok(Tok::Float(f));
            }
        }
        err(line, format!("bad number {text:?}"))
    }
}

struct Parser<'a> {
    lex: Lexer<'a>,
    peeked: Option<Option<(Tok, usize)>>,
}

impl<'a> Parser<'a> {
    fn peek(&mut self) -> Result<Option<&(Tok, usize)>, ParseError> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lex.next()?);
        }
        Ok(self.peeked.as_ref().and_then(|p| p.as_ref()))
    }

    fn bump(&mut self) -> Result<Option<(Tok, usize)>, ParseError> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lex.next(),
        }
    }

    fn line(&self) -> usize {
        self.lex.line
    }

    fn expect(&mut self, c: char) -> Result<(), ParseError> {
        match self.bump()? {
            Some((Tok::Punct(p), _)) if p == c => Ok(()),
            Some((t, line)) => err(line, format!("expected `{c}`, found {}", describe(&t))),
            None => err(
                self.line(),
                format!("expected `{c}`, found the end of the file"),
            ),
        }
    }

    fn value(&mut self, depth: usize) -> Result<PyValue, ParseError> {
        if depth > MAX_DEPTH {
            return err(
                self.line(),
                format!("literal nested deeper than {MAX_DEPTH} levels"),
            );
        }
        let Some((tok, line)) = self.bump()? else {
            return err(self.line(), "value expected, found the end of the file");
        };
        match tok {
            Tok::Int(i) => Ok(PyValue::Int(i)),
            Tok::Float(f) => Ok(PyValue::Float(f)),
            Tok::Str(mut s) => {
                // Adjacent string literals concatenate.
                while let Some((Tok::Str(_), _)) = self.peek()? {
                    if let Some((Tok::Str(more), _)) = self.bump()? {
                        s.push_str(&more);
                    }
                }
                Ok(PyValue::Str(s))
            }
            Tok::Punct('-') => match self.value(depth + 1)? {
                PyValue::Int(i) => Ok(PyValue::Int(-i)),
                PyValue::Float(f) => Ok(PyValue::Float(-f)),
                _ => err(line, "`-` must precede a number"),
            },
            Tok::Punct('+') => match self.value(depth + 1)? {
                v @ (PyValue::Int(_) | PyValue::Float(_)) => Ok(v),
                _ => err(line, "`+` must precede a number"),
            },
            Tok::Name(n) => match n.as_str() {
                "None" => Ok(PyValue::None),
                "True" => Ok(PyValue::Bool(true)),
                "False" => Ok(PyValue::Bool(false)),
                "dict" => self.dict_call(depth + 1, line),
                _ => err(
                    line,
                    format!("`{n}` is not a literal (nothing is evaluated)"),
                ),
            },
            Tok::Punct('[') => Ok(PyValue::List(self.sequence(']', depth + 1)?)),
            Tok::Punct('(') => Ok(PyValue::List(self.sequence(')', depth + 1)?)),
            Tok::Punct('{') => self.dict(depth + 1),
            other => err(line, format!("value expected, found {}", describe(&other))),
        }
    }

    fn sequence(&mut self, close: char, depth: usize) -> Result<Vec<PyValue>, ParseError> {
        let mut out = Vec::new();
        loop {
            if let Some((Tok::Punct(p), _)) = self.peek()? {
                if *p == close {
                    self.bump()?;
                    return Ok(out);
                }
            }
            out.push(self.value(depth)?);
            match self.bump()? {
                Some((Tok::Punct(','), _)) => {}
                Some((Tok::Punct(p), _)) if p == close => return Ok(out),
                Some((t, line)) => {
                    return err(
                        line,
                        format!("expected `,` or `{close}`, found {}", describe(&t)),
                    )
                }
                None => {
                    return err(
                        self.line(),
                        format!("unclosed `{close}` at the end of the file"),
                    )
                }
            }
        }
    }

    fn dict(&mut self, depth: usize) -> Result<PyValue, ParseError> {
        let mut out = Vec::new();
        loop {
            if let Some((Tok::Punct('}'), _)) = self.peek()? {
                self.bump()?;
                return Ok(PyValue::Dict(out));
            }
            let k = self.value(depth)?;
            self.expect(':')?;
            let v = self.value(depth)?;
            out.push((k, v));
            match self.bump()? {
                Some((Tok::Punct(','), _)) => {}
                Some((Tok::Punct('}'), _)) => return Ok(PyValue::Dict(out)),
                Some((t, line)) => {
                    return err(
                        line,
                        format!("expected `,` or `}}`, found {}", describe(&t)),
                    )
                }
                None => return err(self.line(), "unclosed `{` at the end of the file"),
            }
        }
    }

    /// `dict(key=value, ...)` with keyword arguments only.
    fn dict_call(&mut self, depth: usize, line: usize) -> Result<PyValue, ParseError> {
        match self.bump()? {
            Some((Tok::Punct('('), _)) => {}
            _ => return err(line, "`dict` is only accepted as dict(key=literal, ...)"),
        }
        let mut out = Vec::new();
        loop {
            match self.bump()? {
                Some((Tok::Punct(')'), _)) => return Ok(PyValue::Dict(out)),
                Some((Tok::Name(k), _)) => {
                    self.expect('=')?;
                    let v = self.value(depth)?;
                    out.push((PyValue::Str(k), v));
                }
                Some((t, line)) => {
                    return err(
                        line,
                        format!("dict(): keyword expected, found {}", describe(&t)),
                    )
                }
                None => return err(self.line(), "unclosed `dict(` at the end of the file"),
            }
            match self.bump()? {
                Some((Tok::Punct(','), _)) => {}
                Some((Tok::Punct(')'), _)) => return Ok(PyValue::Dict(out)),
                Some((t, line)) => {
                    return err(line, format!("expected `,` or `)`, found {}", describe(&t)))
                }
                None => return err(self.line(), "unclosed `dict(` at the end of the file"),
            }
        }
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Name(n) => format!("`{n}`"),
        Tok::Int(i) => format!("the number {i}"),
        Tok::Float(f) => format!("the number {f}"),
        Tok::Str(_) => "a string".into(),
        Tok::Punct(c) => format!("`{c}`"),
        Tok::Newline => "the end of the line".into(),
    }
}

/// Parses a module of `NAME = LITERAL` assignments into (name, value) pairs,
/// in source order. A lone literal expression (a file holding only `{...}`)
/// is returned under the name `""`. `import` / `from` lines are skipped.
pub fn parse_assignments(text: &str) -> Result<Vec<(String, PyValue)>, ParseError> {
    let mut p = Parser {
        lex: Lexer {
            src: text.as_bytes(),
            pos: 0,
            line: 1,
            depth: 0,
        },
        peeked: None,
    };
    let mut out = Vec::new();
    loop {
        let Some((tok, line)) = p.peek()?.cloned() else {
            return Ok(out);
        };
        match tok {
            Tok::Newline => {
                p.bump()?;
            }
            Tok::Name(n) if n == "import" || n == "from" => {
                // Skip the statement to the end of its line.
                while let Some((t, _)) = p.bump()? {
                    if t == Tok::Newline {
                        break;
                    }
                }
            }
            Tok::Name(n) if !matches!(n.as_str(), "None" | "True" | "False" | "dict") => {
                p.bump()?;
                match p.bump()? {
                    Some((Tok::Punct('='), _)) => {}
                    _ => {
                        return err(
                            line,
                            format!(
                                "`{n}` is not followed by `=`; only `NAME = literal` is accepted"
                            ),
                        )
                    }
                }
                let v = p.value(0)?;
                out.push((n, v));
                end_of_statement(&mut p)?;
            }
            _ => {
                let v = p.value(0)?;
                out.push((String::new(), v));
                end_of_statement(&mut p)?;
            }
        }
    }
}

fn end_of_statement(p: &mut Parser<'_>) -> Result<(), ParseError> {
    match p.bump()? {
        None | Some((Tok::Newline, _)) => Ok(()),
        Some((Tok::Punct(';'), _)) => Ok(()),
        Some((t, line)) => err(line, format!("unexpected {} after a literal", describe(&t))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vtypes_like_text() {
        let text = "# comment\nmac_types = {\n  'proc': [ 0x10, {\n    'p_pid': [0x8, ['int']],  # pid\n    \
                    'p_list': [0x0, ['pointer', ['proc']]],\n    'f': [12L, ['BitField', dict(start_bit = 0, end_bit = 3)]],\n\
                    't': (1, -2, None, True, \"x\\\"y\"),\n}],\n}\nother = [1,\n 2,]\n";
        let a = parse_assignments(text).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].0, "mac_types");
        let proc_ = a[0].1.get("proc").unwrap().as_list().unwrap();
        assert_eq!(proc_[0], PyValue::Int(16));
        let f = proc_[1].get("f").unwrap().as_list().unwrap();
        assert_eq!(f[0], PyValue::Int(12));
        assert_eq!(
            f[1].as_list().unwrap()[1].get("end_bit"),
            Some(&PyValue::Int(3))
        );
        let t = proc_[1].get("t").unwrap().as_list().unwrap();
        assert_eq!(t[1], PyValue::Int(-2));
        assert_eq!(t[4], PyValue::Str("x\"y".into()));
        assert_eq!(
            a[1].1,
            PyValue::List(vec![PyValue::Int(1), PyValue::Int(2)])
        );
    }

    #[test]
    fn rejects_code_and_hostile_input() {
        for bad in [
            "x = __import__('os')\n",
            "x = {'a': 1 + 2}\n",
            "x = {'a': 'unterminated}\n",
            "x = [1, 2\n",
            "x = lambda: 1\n",
            "x = 0xZZ\n",
            "x = {'a' 1}\n",
        ] {
            let e = parse_assignments(bad).unwrap_err();
            assert!(!e.message.is_empty(), "{bad}");
        }
        let deep = format!("x = {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let e = parse_assignments(&deep).unwrap_err();
        assert!(e.message.contains("nested deeper"), "{e}");
    }
}
