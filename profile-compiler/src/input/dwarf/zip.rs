//! Rekall's Linux profile input: a zip holding a kernel module built with
//! debug information (`module_dwarf.ko`), the kernel's `System.map-<version>`
//! and optionally its `config-<version>`, at any depth inside the archive.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde_json::Value;

use crate::ir::meta;
use crate::ir::Ir;
use crate::{Error, Result};

/// Largest zip member read into memory (a kernel module with full debug
/// information is tens of MB; a System.map a few MB).
const MEMBER_LIMIT: u64 = 2 << 30;

/// Largest System.map (or config) member read: real ones are under 10 MB
/// (a kernel's System.map is about 5 MB); a larger one is refused before
/// it is inflated, so a zip of repeated lines cannot cost gigabytes.
pub const MAX_SYSTEM_MAP_BYTES: u64 = 64 << 20;

/// A member name that is absolute or climbs out of the archive.
fn is_hostile_name(name: &str) -> bool {
    name.starts_with('/')
        || name.starts_with('\\')
        || name.split(['/', '\\']).any(|c| c == "..")
        || name.as_bytes().get(1) == Some(&b':')
}

/// The base name of a zip member (`boot/System.map-6.1.0` -> `System.map-6.1.0`).
fn base_name(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or(name)
}

/// The kernel version in a file name such as `System.map-6.1.0-56-amd64` or
/// `config-6.1.0-56-amd64`.
pub fn version_from_name(name: &str) -> Option<String> {
    let base = base_name(name);
    ["System.map-", "config-", "vmlinux-", "vmlinuz-"]
        .iter()
        .find_map(|p| base.strip_prefix(p))
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// Parses a kernel `.config`: `CONFIG_X=value` lines; values are kept as
/// strings with surrounding double quotes removed (as Rekall does);
/// comments (`# CONFIG_X is not set`) are skipped.
pub fn parse_config(text: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if !line.starts_with("CONFIG_") {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v);
        out.insert(k.trim().to_owned(), Value::String(v.to_owned()));
    }
    out
}

/// What a member must start with before more of it is inflated.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// An object file (ELF, Mach-O): its magic is checked on the first
    /// bytes, so a zip bomb of zeros is refused after inflating 8 bytes.
    Object,
    /// Text (System.map, config): no magic, only the size cap.
    Any,
}

fn read_member(
    archive: &mut ::zip::ZipArchive<std::fs::File>,
    index: usize,
    path: &Path,
    limit: u64,
    expect: Expect,
) -> Result<(String, Vec<u8>)> {
    let member = archive
        .by_index(index)
        .map_err(|e| Error::input(path, format!("zip member #{index}: {e}")))?;
    let name = member
        .name()
        .map(|n| n.into_owned())
        .unwrap_or_else(|_| format!("#{index}"));
    if member.size() > limit {
        return Err(Error::input(
            path,
            format!(
                "zip member {name} is too large ({} bytes uncompressed, more than the {limit} accepted)",
                member.size()
            ),
        ));
    }
    let declared = member.size();
    let mut member = member.take(limit + 1);
    let read_err = |e: std::io::Error| Error::input(path, format!("zip member {name}: {e}"));
    let mut data = Vec::new();
    if expect == Expect::Object {
        (&mut member)
            .take(8)
            .read_to_end(&mut data)
            .map_err(read_err)?;
        if !matches!(
            super::detect(&data),
            super::Magic::Elf | super::Magic::MachO | super::Magic::MachOFat
        ) {
            return Err(Error::input(
                path,
                format!(
                    "zip member {name}: not an ELF or Mach-O object (starts with {:02x?}); nothing more was inflated",
                    data
                ),
            ));
        }
    }
    // The declared size may lie: never more than the limit.
    data.reserve(declared.min(limit) as usize);
    member.read_to_end(&mut data).map_err(read_err)?;
    if data.len() as u64 > limit {
        return Err(Error::input(
            path,
            format!("zip member {name}: more than {limit} bytes uncompressed"),
        ));
    }
    Ok((name, data))
}

/// The member names of a zip file.
pub fn zip_names(path: &Path) -> Result<Vec<String>> {
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let archive = ::zip::ZipArchive::new(file)
        .map_err(|e| Error::input(path, format!("not a readable zip file: {e}")))?;
    Ok(archive
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.into_owned()))
        .collect())
}

/// Reads a Rekall-style Linux profile zip into the IR: types from the
/// module's DWARF, symbols from the System.map, `$CONFIG` from the config,
/// the kernel version from their file names.
pub fn read_zip(path: &Path) -> Result<Ir> {
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut archive = ::zip::ZipArchive::new(file)
        .map_err(|e| Error::input(path, format!("not a readable zip file: {e}")))?;
    let names: Vec<(usize, String)> = (0..archive.len())
        .filter_map(|i| {
            archive
                .name_for_index(i)
                .and_then(|n| n.ok())
                .map(|n| (i, n.into_owned()))
        })
        .filter(|(_, n)| !n.ends_with('/'))
        .collect();
    // Members are read in memory, never extracted, but a name that climbs out
    // of the archive (`../x`, `/etc/x`) says the zip was not made by Rekall's
    // tools: such members are skipped, and said so.
    let (names, hostile): (Vec<_>, Vec<_>) =
        names.into_iter().partition(|(_, n)| !is_hostile_name(n));
    let hostile_warning = (!hostile.is_empty()).then(|| {
        let list: Vec<&str> = hostile.iter().map(|(_, n)| n.as_str()).take(5).collect();
        format!(
            "{} zip members with unsafe names skipped: {}",
            hostile.len(),
            list.join(", ")
        )
    });
    let module = names
        .iter()
        .find(|(_, n)| base_name(n) == "module_dwarf.ko")
        .or_else(|| names.iter().find(|(_, n)| n.ends_with(".ko")))
        .or_else(|| {
            names
                .iter()
                .find(|(_, n)| n.ends_with(".o") || n.ends_with(".ko.debug"))
        })
        .ok_or_else(|| {
            Error::input(
                path,
                "no kernel module (*.ko) with debug information in the zip",
            )
        })?;
    let (module_name, bytes) =
        read_member(&mut archive, module.0, path, MEMBER_LIMIT, Expect::Object)?;
    let inner = path.join(&module_name);
    let mut ir = super::read_bytes(&bytes, &inner).map_err(|e| match e {
        Error::Input { message, .. } => Error::input(path, format!("{module_name}: {message}")),
        other => other,
    })?;
    drop(bytes);
    ir.warnings.extend(hostile_warning);
    let mut version = None;
    if let Some((i, _)) = names
        .iter()
        .find(|(_, n)| base_name(n).starts_with("System.map"))
    {
        let (name, data) = read_member(&mut archive, *i, path, MAX_SYSTEM_MAP_BYTES, Expect::Any)?;
        let syms = crate::input::system_map::parse_bytes(&data, &path.join(&name))?;
        ir.symbols.clear();
        crate::input::system_map::add_to_ir(&mut ir, &syms, false);
        version = version_from_name(&name);
    } else {
        ir.warnings
            .push("the zip holds no System.map: the profile has no symbols".into());
    }
    let config = names.iter().find(|(_, n)| {
        let b = base_name(n);
        b.starts_with("config-") || b == "config" || b == ".config"
    });
    if let Some((i, _)) = config {
        let (name, data) = read_member(&mut archive, *i, path, MAX_SYSTEM_MAP_BYTES, Expect::Any)?;
        ir.config = parse_config(&String::from_utf8_lossy(&data));
        version = version.or_else(|| version_from_name(&name));
    }
    if let Some(v) = version {
        ir.metadata.insert("KernelVersion".into(), meta(v));
    }
    Ok(ir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_values_are_unquoted_strings() {
        let c = parse_config("# comment\nCONFIG_HZ=250\nCONFIG_LOCALVERSION=\"\"\n# CONFIG_X is not set\nCONFIG_DEFAULT_HOSTNAME=\"(none)\"\nCONFIG_M=m\n");
        assert_eq!(c.len(), 4);
        assert_eq!(c["CONFIG_HZ"], Value::String("250".into()));
        assert_eq!(c["CONFIG_LOCALVERSION"], Value::String("".into()));
        assert_eq!(c["CONFIG_DEFAULT_HOSTNAME"], Value::String("(none)".into()));
    }

    #[test]
    fn versions_from_file_names() {
        assert_eq!(
            version_from_name("boot/System.map-6.1.0-56-amd64").as_deref(),
            Some("6.1.0-56-amd64")
        );
        assert_eq!(
            version_from_name("config-5.10.0").as_deref(),
            Some("5.10.0")
        );
        assert_eq!(version_from_name("System.map"), None);
    }
}
