//! `dsymutil -s` symbol-table text (the `.dsymutil` file of a Volatility 2
//! macOS profile).
//!
//! ```text
//! ----------------------------------------------------------------------
//! Symbol table for: '/mach_kernel' (x86_64)
//! ----------------------------------------------------------------------
//! Index    n_strx   n_type             n_sect n_desc n_value
//! ======== -------- ------------------ ------ ------ ----------------
//! [     0] 00000002 64 (N_SO         ) 00     0000   0000000000000000 '/SourceCache/...'
//! [  1234] 000150ab 0f (     SECT EXT) 01     0000   ffffff8000222e10 '_version'
//! ```
//!
//! A symbol line is `[INDEX] N_STRX N_TYPE (TYPE) N_SECT N_DESC N_VALUE 'NAME'`.
//! Debugging (stab) entries, whose type in parentheses starts with `N_`, and
//! undefined or zero-address entries are skipped, as Volatility 2 does. A name
//! listed several times keeps its highest address, except `_IdlePML4`, which
//! keeps its lowest (Volatility 2's rule: kernels list most symbols twice).

use std::collections::BTreeMap;

/// The symbols and what the listing says about the architecture.
#[derive(Debug, Default)]
pub struct Listing {
    /// Name -> address, after Volatility 2's duplicate rule.
    pub symbols: BTreeMap<String, u64>,
    /// Architecture from the `Symbol table for: '...' (ARCH)` line.
    pub arch: Option<String>,
    /// Lines that looked like symbol lines but could not be read.
    pub bad_lines: usize,
    /// Names that appeared more than once.
    pub duplicates: usize,
}

/// Parses `dsymutil -s` text.
pub fn parse(text: &str) -> Listing {
    let mut out = Listing::default();
    for line in text.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("Symbol table for:") {
            if let Some(open) = rest.rfind('(') {
                let arch = rest[open + 1..].trim_end_matches(')').trim();
                if out.arch.is_none() && !arch.is_empty() {
                    out.arch = Some(arch.to_owned());
                }
            }
            continue;
        }
        if !t.starts_with('[') {
            continue;
        }
        match symbol_line(t) {
            Some(None) => {}
            Some(Some((name, addr))) => match out.symbols.get_mut(name) {
                Some(old) => {
                    out.duplicates += 1;
                    let keep_lower = name == "_IdlePML4";
                    if (keep_lower && addr < *old) || (!keep_lower && addr > *old) {
                        *old = addr;
                    }
                }
                None => {
                    out.symbols.insert(name.to_owned(), addr);
                }
            },
            None => out.bad_lines += 1,
        }
    }
    out
}

/// `Some(Some((name, address)))` for a kept symbol, `Some(None)` for a
/// skipped one (stab, undefined, address 0), `None` when unreadable.
fn symbol_line(t: &str) -> Option<Option<(&str, u64)>> {
    let (_, rest) = t.split_once(']')?;
    // The name is the last quoted string on the line.
    let q_end = rest.rfind('\'')?;
    let q_start = rest[..q_end].find('\'')?;
    let name = &rest[q_start + 1..q_end];
    let fields = &rest[..q_start];
    let (before_paren, after) = fields.split_once('(')?;
    let (kind, after) = after.split_once(')')?;
    let _ = before_paren;
    let kind = kind.trim();
    let value = after.split_whitespace().last()?;
    if value.len() > 16 {
        return None;
    }
    let address = u64::from_str_radix(value.trim_start_matches("0x"), 16).ok()?;
    if kind.starts_with("N_") || kind.contains("UNDF") || address == 0 || name.is_empty() {
        return Some(None);
    }
    Some(Some((name, address)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_symbols_and_arch() {
        let text = "----\nSymbol table for: '/mach_kernel' (x86_64)\n----\n\
Index    n_strx   n_type             n_sect n_desc n_value\n\
[     0] 00000002 64 (N_SO         ) 00     0000   0000000000000000 '/SourceCache/xnu'\n\
[     1] 000150ab 0f (     SECT EXT) 01     0000   ffffff8000222e10 '_version'\n\
[     2] 000150ab 0f (     SECT EXT) 01     0000   ffffff8000222e00 '_version'\n\
[     3] 000150ff 0f (     SECT EXT) 01     0000   ffffff8000100000 '_IdlePML4'\n\
[     4] 000150ff 0f (     SECT EXT) 01     0000   0000000000100000 '_IdlePML4'\n\
[     5] 00015100 01 (     UNDF EXT) 00     0000   0000000000000000 '_undefined'\n\
[     6] garbage\n";
        let l = parse(text);
        assert_eq!(l.arch.as_deref(), Some("x86_64"));
        assert_eq!(l.symbols.get("_version"), Some(&0xffffff8000222e10));
        assert_eq!(l.symbols.get("_IdlePML4"), Some(&0x100000));
        assert_eq!(l.symbols.len(), 2);
        assert_eq!(l.bad_lines, 1);
        assert_eq!(l.duplicates, 2);
    }
}
