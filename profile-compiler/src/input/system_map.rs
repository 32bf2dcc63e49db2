//! Linux `System.map` and `/proc/kallsyms` text.
//!
//! Each line is `ADDRESS TYPE NAME [\[MODULE\]]`. Conventions (Rekall's, see
//! `docs/conventions.md`): every symbol goes to `$CONSTANTS` (where Rekall,
//! LibVMI and DRAKVUF look up `init_task`, `linux_banner` and functions
//! alike); text symbols (`T`, `t`, `W`, `w`) are also listed in `$FUNCTIONS`.
//! Rekall-format Linux profiles store addresses masked to 48 bits
//! ([`crate::ir::Conventions::mask48`]); the IR keeps them whole.

use std::path::Path;

use crate::ir::{Ir, Symbol, SymbolKind};
use crate::{Error, Result};

/// One System.map line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapSymbol {
    /// Address as written.
    pub address: u64,
    /// The nm type letter (`T`, `t`, `D`, `b`, `A`, ...).
    pub kind: char,
    /// Symbol name.
    pub name: String,
    /// Module name, for kallsyms lines of loaded modules (`[ext4]`).
    pub module: Option<String>,
}

/// Parses System.map / kallsyms text. Lines that do not have the shape
/// `HEX TYPE NAME` are skipped and counted; a text with no symbol at all is
/// an error.
pub fn parse(text: &str, path: &Path) -> Result<(Vec<MapSymbol>, usize)> {
    let mut out = Vec::new();
    let mut skipped = 0;
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let (Some(addr), Some(kind), Some(name)) = (parts.next(), parts.next(), parts.next())
        else {
            if !line.trim().is_empty() {
                skipped += 1;
            }
            continue;
        };
        let kind_char = kind.chars().next().filter(|_| kind.len() == 1);
        let address = (addr.len() <= 16)
            .then(|| u64::from_str_radix(addr, 16).ok())
            .flatten();
        match (address, kind_char) {
            (Some(address), Some(kind)) if kind.is_ascii_alphabetic() || kind == '?' => {
                let module = parts
                    .next()
                    .and_then(|m| m.strip_prefix('[').and_then(|m| m.strip_suffix(']')))
                    .map(str::to_owned);
                out.push(MapSymbol {
                    address,
                    kind,
                    name: name.to_owned(),
                    module,
                });
            }
            _ => skipped += 1,
        }
    }
    if out.is_empty() {
        return Err(Error::input(
            path,
            "not a System.map: no `ADDRESS TYPE NAME` line found",
        ));
    }
    Ok((out, skipped))
}

/// A parsed System.map: its symbols and how many lines were not symbols.
#[derive(Debug, Clone, Default)]
pub struct SystemMap {
    /// The symbols, in file order.
    pub symbols: Vec<MapSymbol>,
    /// Non-empty lines skipped because they were not `ADDRESS TYPE NAME`.
    pub skipped: usize,
}

/// Reads and parses a System.map file.
pub fn read_file(path: &Path) -> Result<SystemMap> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_bytes(&bytes, path)
}

/// Parses System.map bytes (invalid UTF-8 is replaced, not rejected).
pub fn parse_bytes(bytes: &[u8], path: &Path) -> Result<SystemMap> {
    let text = String::from_utf8_lossy(bytes);
    let (symbols, skipped) = parse(&text, path)?;
    Ok(SystemMap { symbols, skipped })
}

/// Whether `bytes` look like System.map text (used for input detection).
pub fn looks_like(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(4096)];
    let Ok(text) = std::str::from_utf8(head) else {
        return false;
    };
    let mut lines = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(4)
        .peekable();
    lines.peek().is_some()
        && lines.all(|l| {
            let p: Vec<&str> = l.split_whitespace().collect();
            p.len() >= 3
                && p[0].len() <= 16
                && u64::from_str_radix(p[0], 16).is_ok()
                && p[1].len() == 1
        })
}

/// Adds the symbols to the IR: all to `$CONSTANTS`, text symbols also to
/// `$FUNCTIONS`. Module symbols (kallsyms) are left out of a kernel profile
/// unless `with_modules`.
pub fn add_to_ir(ir: &mut Ir, map: &SystemMap, with_modules: bool) {
    let symbols = &map.symbols;
    if map.skipped > 0 {
        ir.warnings.push(format!(
            "System.map: {} malformed lines skipped (not `ADDRESS TYPE NAME`)",
            map.skipped
        ));
    }
    let mut zero = 0usize;
    for s in symbols {
        if s.module.is_some() && !with_modules {
            continue;
        }
        if s.address == 0 && s.kind != 'A' && s.kind != 'a' {
            zero += 1;
        }
        ir.symbols.push(Symbol {
            name: s.name.clone(),
            address: s.address,
            kind: SymbolKind::Data,
            ty: None,
        });
        if matches!(s.kind, 'T' | 't' | 'W' | 'w') {
            ir.symbols.push(Symbol {
                name: s.name.clone(),
                address: s.address,
                kind: SymbolKind::Function,
                ty: None,
            });
        }
    }
    if zero > symbols.len() / 2 && zero > 0 {
        ir.warnings.push(format!(
            "{zero} symbols have address 0: a /proc/kallsyms read without privileges hides addresses"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_system_map_and_kallsyms_lines() {
        let text = "ffffffff81000000 T _text\nffffffff82a1aa40 D init_task\n\
                    0000000000000000 A fixed_percpu_data\nffffffffc0a00000 t ext4_fill_super\t[ext4]\n\
                    garbage line\n";
        let (syms, skipped) = parse(text, Path::new("m")).unwrap();
        assert_eq!(skipped, 1);
        assert_eq!(syms.len(), 4);
        assert_eq!(
            syms[1],
            MapSymbol {
                address: 0xffffffff82a1aa40,
                kind: 'D',
                name: "init_task".into(),
                module: None
            }
        );
        assert_eq!(syms[3].module.as_deref(), Some("ext4"));
        let mut ir = Ir::default();
        add_to_ir(
            &mut ir,
            &SystemMap {
                symbols: syms,
                skipped,
            },
            false,
        );
        assert_eq!(ir.symbols.len(), 4);
        assert!(
            ir.warnings[0].contains("1 malformed lines skipped"),
            "{:?}",
            ir.warnings
        ); // _text twice (data + function), init_task, fixed_percpu_data
        assert!(looks_like(text.as_bytes()));
        assert!(!looks_like(b"\x7fELF...."));
    }

    #[test]
    fn empty_or_binary_input_is_an_error() {
        assert!(parse("", Path::new("m")).is_err());
        assert!(parse_bytes(&[0xff, 0xfe, 0, 1, 2], Path::new("m")).is_err());
        assert!(parse("ffffffffffffffffff T toolong\n", Path::new("m")).is_err());
    }
}
