//! Volatility 2 profile zips (issue 3): Linux ones hold `module.dwarf`
//! (dwarfdump text) and a System.map; macOS ones hold a `.vtypes` file (a
//! Python literal) and a `.dsymutil` symbol listing. Parsed as data, never
//! evaluated. Both kinds are read into the IR, so one emitter serves them.
//!
//! Conventions (see `docs/vol2.md`):
//! - Linux: `ProfileClass` `Linux`, symbols from the System.map masked to
//!   48 bits on output (Rekall's convention), base types under their DWARF
//!   names (`long unsigned int`), `arch` `AMD64` or `I386` from the pointer
//!   size (or the System.map address width).
//! - macOS: `ProfileClass` `Darwin64` / `Darwin32` (the class names real
//!   Rekall macOS profiles carry), full 64-bit addresses.

pub mod dsymutil;
pub mod dwarfdump;
pub mod pyliteral;
pub mod vtypes;

use std::io::Read;
use std::path::Path;

use serde_json::Value;

use crate::input::system_map;
use crate::ir::{Ir, Symbol, SymbolKind};
use crate::{Error, Result};

/// Largest zip member read (uncompressed); larger ones are refused, so a
/// hostile zip cannot exhaust memory.
pub const MAX_MEMBER_BYTES: u64 = 1 << 30;

/// Largest System.map member read (uncompressed): real ones are under
/// 10 MB; a larger one is refused before it is inflated (the same cap as
/// `dwarf::zip::MAX_SYSTEM_MAP_BYTES`).
pub const MAX_SYSTEM_MAP_BYTES: u64 = 64 << 20;

/// Whether a zip with these member names is a Volatility 2 profile (it
/// holds a `*.dwarf` or a `*.vtypes` member; case-insensitive).
pub fn is_vol2_zip(names: &[String]) -> bool {
    names.iter().any(|n| {
        let n = n.to_ascii_lowercase();
        n.ends_with(".dwarf") || n.ends_with(".vtypes")
    })
}

/// Names of the zip's regular members, skipping macOS metadata (`__MACOSX/`,
/// `._*`).
fn member_names(
    zip: &mut zip::ZipArchive<std::fs::File>,
    path: &Path,
) -> Result<Vec<(usize, String)>> {
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let f = zip
            .by_index(i)
            .map_err(|e| Error::input(path, format!("unreadable zip entry {i}: {e}")))?;
        if f.is_dir() {
            continue;
        }
        let name = f
            .name()
            .map_err(|e| Error::input(path, format!("zip entry {i}: {e}")))?
            .into_owned();
        let base = name.rsplit('/').next().unwrap_or(&name);
        if name.starts_with("__MACOSX/") || base.starts_with("._") {
            continue;
        }
        out.push((i, name));
    }
    Ok(out)
}

fn read_member(
    zip: &mut zip::ZipArchive<std::fs::File>,
    path: &Path,
    index: usize,
    name: &str,
) -> Result<Vec<u8>> {
    let limit = if base_name(name).contains("System.map") {
        MAX_SYSTEM_MAP_BYTES
    } else {
        MAX_MEMBER_BYTES
    };
    let f = zip
        .by_index(index)
        .map_err(|e| Error::input(path, format!("{name}: {e}")))?;
    if f.size() > limit {
        return Err(Error::input(
            path,
            format!(
                "{name}: {} bytes uncompressed, more than the {limit} accepted",
                f.size()
            ),
        ));
    }
    let mut buf = Vec::with_capacity(f.size().min(limit).min(1 << 28) as usize);
    // The declared size may lie: never read more than the limit.
    f.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::input(path, format!("{name}: {e}")))?;
    if buf.len() as u64 > limit {
        return Err(Error::input(
            path,
            format!("{name}: more than {limit} bytes uncompressed"),
        ));
    }
    Ok(buf)
}

/// The one member whose name satisfies `pred`; an error when there are several.
fn find_one<'a>(
    names: &'a [(usize, String)],
    path: &Path,
    what: &str,
    pred: impl Fn(&str) -> bool,
) -> Result<Option<&'a (usize, String)>> {
    let hits: Vec<_> = names.iter().filter(|(_, n)| pred(n)).collect();
    if hits.len() > 1 {
        let list: Vec<&str> = hits.iter().map(|(_, n)| n.as_str()).collect();
        return Err(Error::input(
            path,
            format!("several {what} in the zip: {}", list.join(", ")),
        ));
    }
    Ok(hits.first().copied())
}

fn base_name(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// Reads a Volatility 2 profile zip (Linux or macOS) into the IR.
pub fn read_zip(path: &Path) -> Result<Ir> {
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| Error::input(path, format!("not a readable zip: {e}")))?;
    let names = member_names(&mut zip, path)?;
    let lower = |n: &str| n.to_ascii_lowercase();
    let dwarf = find_one(&names, path, "*.dwarf files", |n| {
        lower(n).ends_with(".dwarf")
    })?;
    let vtypes = find_one(&names, path, "*.vtypes files", |n| {
        lower(n).ends_with(".vtypes")
    })?;
    match (dwarf, vtypes) {
        (Some((i, name)), _) => {
            let map = find_one(&names, path, "System.map files", |n| base_name(n).contains("System.map"))?;
            let dwarf_bytes = read_member(&mut zip, path, *i, name)?;
            let map_bytes = match map {
                Some((mi, mname)) => Some((read_member(&mut zip, path, *mi, mname)?, mname.clone())),
                None => None,
            };
            linux(
                path,
                LinuxTypes::Dwarf(&dwarf_bytes, name),
                map_bytes.as_ref().map(|(b, n)| (b.as_slice(), n.as_str())),
            )
        }
        (None, Some((i, name))) => {
            let sym = find_one(&names, path, "*.dsymutil files", |n| lower(n).ends_with(".dsymutil"))?;
            let vt_bytes = read_member(&mut zip, path, *i, name)?;
            let map = find_one(&names, path, "System.map files", |n| base_name(n).contains("System.map"))?;
            if let (None, Some((mi, mname))) = (sym, map) {
                // Linux vtypes (`linux_types = {...}`) with a System.map.
                let map_bytes = read_member(&mut zip, path, *mi, mname)?;
                return linux(path, LinuxTypes::Vtypes(&vt_bytes, name), Some((&map_bytes, mname)));
            }
            let sym_bytes = match sym {
                Some((si, sname)) => Some((read_member(&mut zip, path, *si, sname)?, sname.clone())),
                None => None,
            };
            mac(path, name, &vt_bytes, sym_bytes.as_ref().map(|(b, n)| (b.as_slice(), n.as_str())))
        }
        (None, None) => Err(Error::input(
            path,
            "not a Volatility 2 profile: the zip holds neither module.dwarf (Linux) nor a *.vtypes file (macOS)",
        )),
    }
}

/// The path used in messages about a zip member.
fn member_path(zip: &Path, member: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("{}:{member}", zip.display()))
}

/// The types file of a Linux profile.
enum LinuxTypes<'a> {
    /// `module.dwarf` bytes and member name.
    Dwarf(&'a [u8], &'a str),
    /// `*.vtypes` bytes and member name (`linux_types = {...}`).
    Vtypes(&'a [u8], &'a str),
}

fn linux(path: &Path, types: LinuxTypes<'_>, map: Option<(&[u8], &str)>) -> Result<Ir> {
    let mut ir = Ir::default();
    let mut wide_addresses = None;
    let mut symbols = None;
    if let Some((bytes, name)) = map {
        let parsed = system_map::parse_bytes(bytes, &member_path(path, name))?;
        wide_addresses = Some(
            parsed
                .symbols
                .iter()
                .any(|s| s.address > u64::from(u32::MAX)),
        );
        symbols = Some(parsed);
    }
    let (dpath, pointer_size) = match types {
        LinuxTypes::Dwarf(bytes, name) => {
            let p = member_path(path, name);
            let size = dwarfdump::parse_into(&String::from_utf8_lossy(bytes), &p, &mut ir)?;
            (p, size)
        }
        LinuxTypes::Vtypes(bytes, name) => {
            let p = member_path(path, name);
            let size = if wide_addresses == Some(false) { 4 } else { 8 };
            vtypes::parse_into(&String::from_utf8_lossy(bytes), &p, &mut ir, size)?;
            (p, None)
        }
    };
    match symbols {
        Some(symbols) => system_map::add_to_ir(&mut ir, &symbols, false),
        None => ir.warnings.push(format!(
            "{}: no System.map in the zip: the profile has no symbols",
            path.display()
        )),
    }
    let arch = match (pointer_size, wide_addresses) {
        (Some(8), _) | (None, Some(true)) => "AMD64",
        (Some(4), _) | (None, Some(false)) => "I386",
        (Some(n), _) => {
            return Err(Error::input(
                dpath,
                format!("pointers of {n} bytes: neither a 32- nor a 64-bit kernel"),
            ));
        }
        (None, None) => "AMD64",
    };
    if let (Some(p), Some(wide)) = (pointer_size, wide_addresses) {
        if (p == 8) != wide {
            ir.warnings.push(format!(
                "{}: the System.map addresses are {} but the types use {p}-byte pointers",
                path.display(),
                if wide { "64-bit" } else { "32-bit" }
            ));
        }
    }
    ir.conventions.mask48 = true;
    set_metadata(&mut ir, "Linux", arch);
    Ok(ir)
}

fn mac(
    path: &Path,
    vtypes_name: &str,
    vtypes: &[u8],
    symbols: Option<(&[u8], &str)>,
) -> Result<Ir> {
    let mut ir = Ir::default();
    let listing = symbols.map(|(b, n)| (dsymutil::parse(&String::from_utf8_lossy(b)), n));
    let arch = match listing.as_ref().and_then(|(l, _)| l.arch.as_deref()) {
        Some(a) if a.contains("i386") => "I386",
        _ => "AMD64",
    };
    let pointer_size = if arch == "I386" { 4 } else { 8 };
    let text = String::from_utf8_lossy(vtypes);
    vtypes::parse_into(
        &text,
        &member_path(path, vtypes_name),
        &mut ir,
        pointer_size,
    )?;
    match listing {
        Some((l, name)) => {
            let spath = member_path(path, name);
            if l.symbols.is_empty() {
                return Err(Error::input(
                    spath,
                    "not a dsymutil -s listing: no `[INDEX] ... 'NAME'` symbol line",
                ));
            }
            if l.bad_lines > 0 {
                ir.warnings.push(format!(
                    "{}: {} symbol lines could not be read",
                    spath.display(),
                    l.bad_lines
                ));
            }
            for (name, address) in l.symbols {
                ir.symbols.push(Symbol {
                    name,
                    address,
                    kind: SymbolKind::Data,
                    ty: None,
                });
            }
        }
        None => ir.warnings.push(format!(
            "{}: no *.dsymutil in the zip: the profile has no symbols",
            path.display()
        )),
    }
    let class = if arch == "I386" {
        "Darwin32"
    } else {
        "Darwin64"
    };
    set_metadata(&mut ir, class, arch);
    Ok(ir)
}

fn set_metadata(ir: &mut Ir, class: &str, arch: &str) {
    ir.metadata
        .insert("ProfileClass".into(), Value::String(class.into()));
    ir.metadata
        .insert("Type".into(), Value::String("Profile".into()));
    ir.metadata
        .insert("arch".into(), Value::String(arch.into()));
    ir.metadata.insert("Version".into(), Value::from(1));
}
