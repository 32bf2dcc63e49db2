//! `profc version_scan`: find CodeView RSDS records in any file (a raw
//! memory image, a crash dump, a disk image).

use std::path::PathBuf;

use anyhow::anyhow;

use crate::outln;

/// Arguments of `version_scan`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file to scan (Rekall: `-f IMAGE` before the command,
    /// `--scan_filename`).
    pub file: PathBuf,
    /// Only list records whose PDB name contains this text (any case).
    #[arg(long, value_name = "TEXT")]
    pub name: Option<String>,
    /// Only list records whose PDB name this regular expression finds (any
    /// case, as Rekall's `--name_regex`): `.`, `[...]`, `*`, `+`, `?`, `^`,
    /// `$`, `|`, `(...)`, `\d`, `\w`, `\s` and `\.`-style escapes.
    #[arg(long = "name-regex", alias = "name_regex", value_name = "REGEX")]
    pub name_regex: Option<String>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let path = &args.file;
    let regex = match &args.name_regex {
        Some(r) => Some(Regex::new(r).map_err(|e| anyhow!("--name_regex {r}: {e}"))?),
        None => None,
    };
    let hits = profile_compiler::codeview::scan_file(path)?;
    let needle = args.name.as_deref().map(str::to_ascii_lowercase);
    outln!("{:<18} {:<42} {:<32} Path", "Offset", "GUID_AGE", "PDB")?;
    let mut n = 0usize;
    for h in &hits {
        let name = h.rsds.pdb_name();
        if needle
            .as_ref()
            .is_some_and(|w| !name.to_ascii_lowercase().contains(w))
            || regex.as_ref().is_some_and(|r| !r.is_match(name))
        {
            continue;
        }
        n += 1;
        outln!(
            "{:<#18x} {:<42} {:<32} {}",
            h.offset,
            h.rsds.id.key(),
            name,
            h.rsds.path
        )?;
    }
    let s = if n == 1 { "" } else { "s" };
    eprintln!("profc: {}: {n} RSDS record{s}", path.display());
    Ok(())
}

/// One element of a pattern.
#[derive(Debug)]
enum Node {
    /// A character (compared in any case).
    Char(char),
    /// `.`
    Any,
    /// `[...]`: ranges, negated or not.
    Class(Vec<(char, char)>, bool),
    /// `^`
    Start,
    /// `$`
    End,
    /// `(a|b)`: alternatives.
    Group(Vec<Vec<Node>>),
    /// `x*`, `x+`, `x?`: node, least, most.
    Repeat(Box<Node>, usize, usize),
}

/// The small regular-expression language of `--name_regex` (a search,
/// case-insensitive, backtracking: PDB names are short).
#[derive(Debug)]
pub struct Regex(Vec<Vec<Node>>);

fn class_escape(c: char) -> Option<Vec<(char, char)>> {
    Some(match c {
        'd' => vec![('0', '9')],
        'w' => vec![('a', 'z'), ('A', 'Z'), ('0', '9'), ('_', '_')],
        's' => vec![(' ', ' '), ('\t', '\r')],
        _ => return None,
    })
}

impl Regex {
    /// Parses `pattern`.
    pub fn new(pattern: &str) -> Result<Regex, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut pos = 0;
        let alts = Self::alternatives(&chars, &mut pos)?;
        if pos < chars.len() {
            return Err("unbalanced )".into());
        }
        Ok(Regex(alts))
    }

    fn alternatives(c: &[char], pos: &mut usize) -> Result<Vec<Vec<Node>>, String> {
        let mut alts = vec![Vec::new()];
        while *pos < c.len() {
            let ch = c[*pos];
            *pos += 1;
            let node = match ch {
                ')' => {
                    *pos -= 1;
                    break;
                }
                '|' => {
                    alts.push(Vec::new());
                    continue;
                }
                '(' => {
                    if c.get(*pos) == Some(&'?') && c.get(*pos + 1) == Some(&':') {
                        *pos += 2;
                    }
                    let inner = Self::alternatives(c, pos)?;
                    if c.get(*pos) != Some(&')') {
                        return Err("missing )".into());
                    }
                    *pos += 1;
                    Node::Group(inner)
                }
                '.' => Node::Any,
                '^' => Node::Start,
                '$' => Node::End,
                '*' | '+' | '?' | '{' => {
                    let last = alts.last_mut().and_then(Vec::pop);
                    let Some(last) = last.filter(|n| !matches!(n, Node::Repeat(..))) else {
                        return Err(format!("nothing to repeat before {ch}"));
                    };
                    let (min, max) = match ch {
                        '*' => (0, usize::MAX),
                        '+' => (1, usize::MAX),
                        '?' => (0, 1),
                        _ => return Err("{n} repetitions are not supported".into()),
                    };
                    Node::Repeat(Box::new(last), min, max)
                }
                '[' => {
                    let neg = c.get(*pos) == Some(&'^');
                    if neg {
                        *pos += 1;
                    }
                    let mut ranges = Vec::new();
                    let mut first = true;
                    loop {
                        let Some(&x) = c.get(*pos) else {
                            return Err("missing ]".into());
                        };
                        *pos += 1;
                        if x == ']' && !first {
                            break;
                        }
                        first = false;
                        let lo = if x == '\\' {
                            let Some(&e) = c.get(*pos) else {
                                return Err("trailing \\".into());
                            };
                            *pos += 1;
                            if let Some(r) = class_escape(e) {
                                ranges.extend(r);
                                continue;
                            }
                            e
                        } else {
                            x
                        };
                        if c.get(*pos) == Some(&'-') && c.get(*pos + 1).is_some_and(|&h| h != ']') {
                            let hi = c[*pos + 1];
                            *pos += 2;
                            ranges.push((lo, hi));
                        } else {
                            ranges.push((lo, lo));
                        }
                    }
                    Node::Class(ranges, neg)
                }
                '\\' => {
                    let Some(&e) = c.get(*pos) else {
                        return Err("trailing \\".into());
                    };
                    *pos += 1;
                    match class_escape(e) {
                        Some(r) => Node::Class(r, false),
                        None => Node::Char(e),
                    }
                }
                other => Node::Char(other),
            };
            alts.last_mut()
                .expect("one alternative at least")
                .push(node);
        }
        Ok(alts)
    }

    /// Whether the pattern matches anywhere in `text` (any case).
    pub fn is_match(&self, text: &str) -> bool {
        let t: Vec<char> = text.chars().collect();
        (0..=t.len()).any(|start| {
            self.0
                .iter()
                .any(|alt| matches_seq(alt, &t, start, &mut |_| true))
        })
    }
}

fn same(a: char, b: char) -> bool {
    a == b || a.to_lowercase().eq(b.to_lowercase())
}

fn one(node: &Node, t: &[char], pos: usize) -> bool {
    let Some(&c) = t.get(pos) else { return false };
    match node {
        Node::Char(p) => same(*p, c),
        Node::Any => c != '\n',
        Node::Class(ranges, neg) => {
            let lower = c.to_lowercase().next().unwrap_or(c);
            let upper = c.to_uppercase().next().unwrap_or(c);
            let hit = ranges
                .iter()
                .any(|&(lo, hi)| [c, lower, upper].iter().any(|x| (lo..=hi).contains(x)));
            hit != *neg
        }
        _ => false,
    }
}

fn matches_seq(nodes: &[Node], t: &[char], pos: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
    let Some((first, rest)) = nodes.split_first() else {
        return k(pos);
    };
    match first {
        Node::Start => pos == 0 && matches_seq(rest, t, pos, k),
        Node::End => pos == t.len() && matches_seq(rest, t, pos, k),
        Node::Group(alts) => alts
            .iter()
            .any(|alt| matches_seq(alt, t, pos, &mut |p| matches_seq(rest, t, p, k))),
        Node::Repeat(inner, min, max) => repeat(inner, *min, *max, rest, t, pos, 0, k),
        single => one(single, t, pos) && matches_seq(rest, t, pos + 1, k),
    }
}

#[allow(clippy::too_many_arguments)]
fn repeat(
    inner: &Node,
    min: usize,
    max: usize,
    rest: &[Node],
    t: &[char],
    pos: usize,
    count: usize,
    k: &mut dyn FnMut(usize) -> bool,
) -> bool {
    // Greedy: one more first, then what follows.
    if count < max {
        let more = matches_seq(std::slice::from_ref(inner), t, pos, &mut |p| {
            p > pos && repeat(inner, min, max, rest, t, p, count + 1, k)
        });
        if more {
            return true;
        }
    }
    count >= min && matches_seq(rest, t, pos, k)
}

#[cfg(test)]
mod tests {
    use super::Regex;

    #[test]
    fn regex() {
        let m = |p: &str, t: &str| Regex::new(p).unwrap().is_match(t);
        assert!(m("^ntkrnl.*\\.pdb$", "ntkrnlmp.pdb"));
        assert!(m("^ntkrnl.*\\.pdb$", "NTKRNLPA.PDB"));
        assert!(!m("^ntkrnl.*\\.pdb$", "xntkrnlmp.pdb"));
        assert!(m("krnl", "ntkrnlmp.pdb"));
        assert!(m("^(ntoskrnl|ntkrnlmp)\\.pdb", "ntkrnlmp.pdb"));
        assert!(!m("^(ntoskrnl|ntkrnlpa)\\.pdb", "ntkrnlmp.pdb"));
        assert!(m("^[a-z_]+\\d+\\.pdb$", "inject_dll_x86.pdb"));
        assert!(!m("^[a-z_]+\\d?\\.pdb$", "inject_dll_x86.pdb"));
        assert!(m("^[a-z_]+\\d*\\.pdb$", "attach_amd64.pdb"));
        assert!(!m("^[^a]", "attach.pdb"));
        assert!(m(".", "x"));
        assert!(m("a(b)*c", "ac"));
        assert!(Regex::new("(a").is_err());
        assert!(Regex::new("*a").is_err());
        assert!(Regex::new("[a").is_err());
    }
}
