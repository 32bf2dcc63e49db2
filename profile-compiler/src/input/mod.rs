//! Inputs: what a file is ([`Input::detect`], by content, with each
//! reader's own magic checks) and one reader per format. Readers fill an
//! [`crate::ir::Ir`] (or, for profiles, the profile model) and never write
//! output.

pub mod btf;
pub mod dwarf;
pub mod isf;
pub mod kallsyms;
pub mod kernel;
pub mod package;
pub mod pdb;
pub mod system_map;
pub mod vmlinuz;
pub mod vol2;

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::{Error, Result};

/// What an input is. Every command that takes debug information or a
/// profile decides it the same way ([`Input::detect`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum InputKind {
    /// A Windows PDB (MSF 7.00).
    Pdb,
    /// DWARF in an ELF file (vmlinux, module, object) or a Mach-O file
    /// (thin or fat: a macOS kernel, a dSYM companion).
    Dwarf,
    /// BTF: a raw blob (a copy of `/sys/kernel/btf/vmlinux`) or the `.BTF`
    /// section of an ELF file.
    Btf,
    /// Rekall's Linux zip: `module_dwarf.ko` + `System.map-<version>` (+
    /// `config-<version>`).
    LinuxZip,
    /// A Volatility 2 profile zip (`*.dwarf` or `*.vtypes` + System.map).
    Vol2Zip,
    /// A System.map (symbols only).
    SystemMap,
    /// A Rekall profile (JSON, plain or gzipped).
    RekallProfile,
    /// A Volatility 3 ISF (JSON, plain, gzipped or xz).
    Isf,
    /// A PE executable or DLL: its CodeView record names the PDB to fetch.
    Executable,
    /// A compressed kernel (`vmlinuz`: an x86 bzImage, an arm64 `Image` or
    /// `Image.gz`, an EFI zboot image): its own BTF, kallsyms and banner.
    Vmlinuz,
    /// A memory image (raw, LiME, ELF core, kdump): the kernel's BTF,
    /// kallsyms and banner carved out of it. Raw images have no magic: say
    /// so (`--from-image`).
    MemoryImage,
    /// A distribution package (`.deb`, `.ddeb`, `.rpm`) holding a kernel's
    /// debug vmlinux (or a module) and its System.map, read in place.
    Package,
}

impl InputKind {
    /// Every kind, in the order [`fmt::Display`] names them in help texts.
    pub const ALL: [InputKind; 12] = [
        InputKind::Pdb,
        InputKind::Dwarf,
        InputKind::Btf,
        InputKind::LinuxZip,
        InputKind::Vol2Zip,
        InputKind::SystemMap,
        InputKind::RekallProfile,
        InputKind::Isf,
        InputKind::Executable,
        InputKind::Vmlinuz,
        InputKind::MemoryImage,
        InputKind::Package,
    ];

    /// The kind's name on the command line and in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            InputKind::Pdb => "pdb",
            InputKind::Dwarf => "dwarf",
            InputKind::Btf => "btf",
            InputKind::LinuxZip => "linux-zip",
            InputKind::Vol2Zip => "vol2",
            InputKind::SystemMap => "system-map",
            InputKind::RekallProfile => "profile",
            InputKind::Isf => "isf",
            InputKind::Executable => "executable",
            InputKind::Vmlinuz => "vmlinuz",
            InputKind::MemoryImage => "image",
            InputKind::Package => "package",
        }
    }

    /// What the kind is, in words (for messages).
    pub fn describe(self) -> &'static str {
        match self {
            InputKind::Pdb => "a PDB",
            InputKind::Dwarf => "an ELF or Mach-O file with DWARF",
            InputKind::Btf => "BTF",
            InputKind::LinuxZip => "a Rekall Linux profile zip",
            InputKind::Vol2Zip => "a Volatility 2 profile zip",
            InputKind::SystemMap => "a System.map",
            InputKind::RekallProfile => "a Rekall profile",
            InputKind::Isf => "a Volatility 3 ISF",
            InputKind::Executable => "a PE executable",
            InputKind::Vmlinuz => "a compressed kernel (vmlinuz)",
            InputKind::MemoryImage => "a memory image",
            InputKind::Package => "a package (.deb or .rpm)",
        }
    }

    /// Whether the input is a profile already (no debug information to
    /// compile).
    pub fn is_profile(self) -> bool {
        matches!(self, InputKind::RekallProfile | InputKind::Isf)
    }
}

impl fmt::Display for InputKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for InputKind {
    type Err = Error;

    /// The names of [`InputKind::name`] and the aliases users know from
    /// Rekall (`LinuxConverter`, `OSXConverter`) and profc's earlier
    /// spellings (`elf`, `macho`, `system_map`, `vol2-zip`, `linux`).
    fn from_str(s: &str) -> Result<Self> {
        let k = s.to_ascii_lowercase().replace('_', "-");
        Ok(match k.as_str() {
            "pdb" => InputKind::Pdb,
            "dwarf" | "elf" | "macho" | "mach-o" | "osxconverter" => InputKind::Dwarf,
            "btf" => InputKind::Btf,
            "linux-zip" | "linuxconverter" | "zip" => InputKind::LinuxZip,
            "vol2" | "vol2-zip" | "volatility2" => InputKind::Vol2Zip,
            "system-map" | "systemmap" => InputKind::SystemMap,
            "profile" | "rekall" | "json" => InputKind::RekallProfile,
            "isf" => InputKind::Isf,
            "executable" | "exe" | "pe" => InputKind::Executable,
            "vmlinuz" | "bzimage" | "kernel" => InputKind::Vmlinuz,
            "package" | "deb" | "ddeb" | "rpm" => InputKind::Package,
            "image" | "memory-image" | "from-image" | "lime" | "kdump" | "raw" => {
                InputKind::MemoryImage
            }
            _ => {
                return Err(Error::input(
                    s,
                    format!(
                        "not an input kind (one of: {})",
                        InputKind::ALL.map(InputKind::name).join(", ")
                    ),
                ))
            }
        })
    }
}

/// An input file and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// The file.
    pub path: PathBuf,
    /// What it is.
    pub kind: InputKind,
}

/// Bytes read for detection: enough for every magic and for a profile's
/// first keys.
const HEAD: u64 = 64 * 1024;

impl Input {
    /// Decides what `path` is by its content.
    pub fn detect(path: impl Into<PathBuf>) -> Result<Input> {
        let path = path.into();
        let kind = detect_kind(&path)?;
        Ok(Input { path, kind })
    }

    /// `path` read as `kind`, whatever its content (a wrong kind is an
    /// error of the reader). A profile kind is a profile in either format:
    /// Rekall or ISF is still told by content.
    pub fn with_kind(path: impl Into<PathBuf>, kind: InputKind) -> Result<Input> {
        let path = path.into();
        let kind = if kind.is_profile() {
            match detect_kind(&path)? {
                k if k.is_profile() => k,
                other => {
                    return Err(Error::input(
                        &path,
                        format!("is not a profile (it is {})", other.describe()),
                    ))
                }
            }
        } else {
            kind
        };
        Ok(Input { path, kind })
    }
}

/// The first bytes of `path`.
fn head(path: &Path) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::input(path, "is a directory, not a file"));
    }
    let mut buf = Vec::with_capacity(4096);
    file.take(HEAD)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(path, e))?;
    Ok(buf)
}

fn detect_kind(path: &Path) -> Result<InputKind> {
    let bytes = head(path)?;
    if btf::is_raw_btf(&bytes) {
        return Ok(InputKind::Btf);
    }
    if pdb::is_pdb(&bytes) {
        return Ok(InputKind::Pdb);
    }
    if vmlinuz::looks_like(&bytes) {
        return Ok(InputKind::Vmlinuz);
    }
    if package::detect(&bytes).is_some() {
        return Ok(InputKind::Package);
    }
    if let Some(kind) = profile_kind(&bytes) {
        return Ok(kind);
    }
    if bytes.starts_with(b"MZ") {
        return Ok(InputKind::Executable);
    }
    if is_memory_image(&bytes) {
        return Ok(InputKind::MemoryImage);
    }
    match dwarf::detect(&bytes) {
        dwarf::Magic::Elf if elf_has_only_btf(path)? => Ok(InputKind::Btf),
        dwarf::Magic::Elf | dwarf::Magic::MachO | dwarf::Magic::MachOFat => Ok(InputKind::Dwarf),
        dwarf::Magic::Zip => {
            if vol2::is_vol2_zip(&dwarf::zip_names(path)?) {
                Ok(InputKind::Vol2Zip)
            } else {
                Ok(InputKind::LinuxZip)
            }
        }
        dwarf::Magic::SystemMap => Ok(InputKind::SystemMap),
        dwarf::Magic::Unknown if bytes.is_empty() => Err(Error::input(path, "empty file")),
        dwarf::Magic::Unknown => Err(Error::input(
            path,
            "unrecognised input (not a PDB, an ELF or Mach-O file, BTF, a zip, a System.map, \
             a profile or a PE executable)",
        )),
    }
}

/// A profile (Rekall JSON or ISF), plain or compressed: which one, by its
/// first keys.
fn profile_kind(head: &[u8]) -> Option<InputKind> {
    let first = head.iter().find(|b| !b.is_ascii_whitespace());
    let compressed = profile_runtime::is_gzip(head) || isf::is_xz(head);
    if first != Some(&b'{') && !compressed {
        return None;
    }
    let text = if compressed {
        isf::decompress_head(head)
    } else {
        head.to_vec()
    };
    if text.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    Some(if isf::looks_like(&text) {
        InputKind::Isf
    } else {
        InputKind::RekallProfile
    })
}

/// A memory image with a magic: an ELF core (`ET_CORE`), LiME (`EMiL`), a
/// kdump-compressed dump (`KDUMP   `).
fn is_memory_image(head: &[u8]) -> bool {
    let elf_core = head.starts_with(b"\x7fELF")
        && head.len() >= 18
        && match head[5] {
            1 => u16::from_le_bytes([head[16], head[17]]) == 4,
            2 => u16::from_be_bytes([head[16], head[17]]) == 4,
            _ => false,
        };
    elf_core || head.starts_with(b"EMiL") || head.starts_with(b"KDUMP   ")
}

/// Memory-maps a whole input file.
pub(crate) fn map_file(path: &Path) -> Result<memmap2::Mmap> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    // SAFETY: the map is read-only and private to this process; the bytes
    // are parsed as untrusted. Another process truncating the file while it
    // is read could fault, the hazard every reader of mapped files (gimli's
    // users, pahole) accepts.
    unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))
}

/// An ELF with a `.BTF` section and no DWARF (a stripped vmlinux).
fn elf_has_only_btf(path: &Path) -> Result<bool> {
    use object::Object;
    let map = map_file(path)?;
    let Ok(file) = object::File::parse(&*map) else {
        return Ok(false);
    };
    Ok(file.section_by_name(".BTF").is_some() && file.section_by_name(".debug_info").is_none())
}
