//! DWARF reader: Linux kernels and modules (ELF), macOS kernels and dSYMs
//! (Mach-O, fat or thin), and Rekall's Linux profile zips (`module_dwarf.ko`
//! + `System.map-<version>` + `config-<version>`).
//!
//! Types come from `.debug_info` (DWARF 2 to 5, gcc and clang); symbols from
//! a System.map when one is given, else from the object's symbol table.
//! Relocatable objects (`.ko`, `.o`) have their debug sections relocated
//! first; compressed sections are inflated. Units are parsed in parallel and
//! merged in file order: a type defined identically in many compilation
//! units appears once in the IR (see `docs/dwarf.md`).

mod merge;
mod sections;
mod unit;
mod zip;

use std::path::Path;

use gimli::SectionId;
use object::{Object, ObjectSection, ObjectSymbol};
use rayon::prelude::*;
use serde_json::Value;

use crate::ir::meta;
use crate::ir::{Ir, Symbol, SymbolKind};
use crate::{Error, Result};

pub use self::zip::{parse_config, read_zip, version_from_name, zip_names};

/// The magic an input file starts with (the DWARF reader's own check,
/// which [`crate::Input::detect`] reuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Magic {
    /// An ELF file (kernel image, module, object file).
    Elf,
    /// A thin Mach-O file (macOS kernel, dSYM companion, object file).
    MachO,
    /// A fat (universal) Mach-O file.
    MachOFat,
    /// A zip archive (Rekall's Linux profile input or a Volatility 2 profile).
    Zip,
    /// System.map / kallsyms text.
    SystemMap,
    /// None of these.
    Unknown,
}

/// Detects the kind of input from its first bytes.
pub fn detect(bytes: &[u8]) -> Magic {
    let magic = |n: usize| bytes.get(..n);
    if magic(4) == Some(b"\x7fELF") {
        return Magic::Elf;
    }
    if magic(2) == Some(b"PK") {
        return Magic::Zip;
    }
    if let Some(m) = magic(4) {
        let le = u32::from_le_bytes([m[0], m[1], m[2], m[3]]);
        let be = u32::from_be_bytes([m[0], m[1], m[2], m[3]]);
        if matches!(le, 0xfeed_face | 0xfeed_facf) || matches!(be, 0xfeed_face | 0xfeed_facf) {
            return Magic::MachO;
        }
        // Fat headers are big-endian. 0xcafebabe is also a Java class file,
        // whose next word (a version, >= 45) is never a small arch count.
        if matches!(be, 0xcafe_babe | 0xcafe_babf) {
            let n = bytes
                .get(4..8)
                .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
            if matches!(n, Some(1..=30)) {
                return Magic::MachOFat;
            }
        }
    }
    if crate::input::system_map::looks_like(bytes) {
        return Magic::SystemMap;
    }
    Magic::Unknown
}

/// Reads an ELF or Mach-O file (memory-mapped) into the IR.
pub fn read_file(path: &Path) -> Result<Ir> {
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    // SAFETY: the map is read-only and private to this process; a concurrent
    // truncation of the input by another process could fault, as with any
    // reader of memory-mapped files, but cannot corrupt memory safety of
    // the checked parsing below, which treats the bytes as untrusted.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_bytes(&map, path)
}

/// Reads ELF or Mach-O bytes (thin or fat) into the IR.
pub fn read_bytes(bytes: &[u8], path: &Path) -> Result<Ir> {
    match detect(bytes) {
        Magic::Elf | Magic::MachO => {}
        Magic::MachOFat => {
            // A slice is read as a thin file: a slice that is itself fat
            // (possibly the whole file again, at offset 0) would loop.
            let slice = fat_slice(bytes, path)?;
            if detect(slice) == Magic::MachOFat {
                return Err(Error::input(
                    path,
                    "malformed fat Mach-O file: an architecture slice is itself a fat file",
                ));
            }
            return read_bytes(slice, path);
        }
        _ => return Err(Error::input(path, "not an ELF or Mach-O file")),
    }
    let file = object::File::parse(bytes)
        .map_err(|e| Error::input(path, format!("malformed object file: {e}")))?;
    let mut ir = read_types(&file, path)?;
    let macho = file.format() == object::BinaryFormat::MachO;
    let arch = arch_name(file.architecture());
    ir.metadata.insert("Type".into(), meta("Profile"));
    ir.metadata.insert("Version".into(), Value::from(1));
    ir.metadata.insert("arch".into(), meta(arch));
    let class = if macho {
        if file.is_64() {
            "Darwin64"
        } else {
            "Darwin32"
        }
    } else {
        "Linux"
    };
    ir.metadata.insert("ProfileClass".into(), meta(class));
    // The GNU build id: what a memory image's VMCOREINFO (BUILD-ID) and
    // debuginfod name a kernel by; repositories match images with it.
    if !macho {
        if let Ok(Some(id)) = file.build_id() {
            let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
            if !hex.is_empty() {
                ir.metadata.insert("BuildId".into(), meta(&hex));
            }
        }
    }
    ir.conventions.mask48 = !macho;
    // Symbols of a linked image (a relocatable object's are section offsets).
    if file.kind() != object::ObjectKind::Relocatable || macho {
        add_symbols(&file, &mut ir);
    }
    for (symbol, key) in [("linux_banner", "Banner"), ("_version", "Banner")] {
        if let Some(text) = read_string_symbol(&file, symbol) {
            if key == "Banner" && !ir.metadata.contains_key("Banner") {
                let text = text.trim_end().to_owned();
                if let Some(v) = text
                    .strip_prefix("Linux version ")
                    .and_then(|r| r.split_whitespace().next())
                {
                    ir.metadata.insert("KernelVersion".into(), meta(v));
                }
                ir.metadata.insert(key.into(), meta(text));
            }
        }
    }
    Ok(ir)
}

/// The slice of a fat Mach-O file to read: x86-64 first, then arm64, then
/// the first architecture.
fn fat_slice<'a>(bytes: &'a [u8], path: &Path) -> Result<&'a [u8]> {
    use object::read::macho::{FatArch, MachOFatFile32, MachOFatFile64};
    let bad = |e: object::Error| Error::input(path, format!("malformed fat Mach-O file: {e}"));
    let mut slices: Vec<(object::Architecture, &'a [u8])> = Vec::new();
    let magic = bytes
        .get(..4)
        .map(|m| u32::from_be_bytes([m[0], m[1], m[2], m[3]]));
    if magic == Some(0xcafe_babf) {
        let fat = MachOFatFile64::parse(bytes).map_err(bad)?;
        for a in fat.arches() {
            slices.push((a.architecture(), a.data(bytes).map_err(bad)?));
        }
    } else {
        let fat = MachOFatFile32::parse(bytes).map_err(bad)?;
        for a in fat.arches() {
            slices.push((a.architecture(), a.data(bytes).map_err(bad)?));
        }
    }
    [object::Architecture::X86_64, object::Architecture::Aarch64]
        .iter()
        .find_map(|want| slices.iter().find(|(a, _)| a == want))
        .or(slices.first())
        .map(|(_, d)| *d)
        .ok_or_else(|| Error::input(path, "fat Mach-O file with no architecture"))
}

/// Rekall's name of an architecture.
fn arch_name(a: object::Architecture) -> String {
    use object::Architecture as A;
    match a {
        A::X86_64 | A::X86_64_X32 => "AMD64".into(),
        A::I386 => "I386".into(),
        A::Aarch64 | A::Aarch64_Ilp32 => "ARM64".into(),
        A::Arm => "ARM".into(),
        other => format!("{other:?}").to_uppercase(),
    }
}

/// Reads the types of every unit of `file`.
fn read_types(file: &object::File<'_>, path: &Path) -> Result<Ir> {
    let secs = sections::Sections::load(file, path)?;
    let info = secs.get(SectionId::DebugInfo);
    if info.is_empty() {
        let hint = if file.format() == object::BinaryFormat::MachO {
            "; a Mach-O executable keeps its DWARF in a dSYM: convert `NAME.dSYM/Contents/Resources/DWARF/NAME`"
        } else {
            ""
        };
        return Err(Error::input(
            path,
            format!("no DWARF debug information (no .debug_info section){hint}"),
        ));
    }
    let endian = secs.endian;
    let ctx = unit::Ctx {
        debug_abbrev: gimli::DebugAbbrev::new(secs.get(SectionId::DebugAbbrev), endian),
        debug_str: secs.get(SectionId::DebugStr),
        debug_line_str: secs.get(SectionId::DebugLineStr),
        debug_str_offsets: secs.get(SectionId::DebugStrOffsets),
        endian,
    };
    let mut headers = Vec::new();
    let mut warnings = Vec::new();
    let mut iter = gimli::DebugInfo::new(info, endian).units();
    loop {
        match iter.next() {
            Ok(Some(h)) => headers.push((h, 0u64)),
            Ok(None) => break,
            Err(e) => {
                if headers.is_empty() {
                    return Err(Error::input(path, format!("malformed .debug_info: {e}")));
                }
                warnings.push(format!(
                    "malformed .debug_info after {} units ({e}); the rest is ignored",
                    headers.len()
                ));
                break;
            }
        }
    }
    // DWARF 4 type units, each `.debug_types` section in its own offset space.
    for (k, types) in secs.types.iter().enumerate() {
        let base = (k as u64 + 1) << unit::TYPES_SHIFT;
        let mut iter = gimli::DebugTypes::new(types, endian).units();
        loop {
            match iter.next() {
                Ok(Some(h)) => headers.push((h, base)),
                Ok(None) => break,
                Err(e) => {
                    warnings.push(format!(
                        "malformed .debug_types ({e}); the rest of it is ignored"
                    ));
                    break;
                }
            }
        }
    }
    let started = std::time::Instant::now();
    let mut merger = merge::Merger::default();
    merger.cross_unit = headers.len() > 1
        && headers
            .iter()
            .any(|(h, _)| uses_ref_addr(secs.get(SectionId::DebugAbbrev), h));
    // Parse in parallel, merge in order; a bounded window keeps memory
    // flat. The next window is parsed while the current one is merged, so
    // the serial merge does not leave the other cores idle.
    let window = rayon::current_num_threads().max(1) * 16;
    let mut failed = 0usize;
    let mut first_error = None;
    let chunks: Vec<_> = headers.chunks(window).collect();
    let mut next = chunks
        .first()
        .map(|c| parse_window(&ctx, c))
        .unwrap_or_default();
    for i in 0..chunks.len() {
        let units = std::mem::take(&mut next);
        let merge = || {
            for (offset, u) in units {
                match u {
                    Ok(u) => merger.add(u),
                    Err(e) => {
                        failed += 1;
                        if first_error.is_none() {
                            let at = offset.0;
                            first_error = Some(format!("unit at .debug_info+{at:#x}: {e}"));
                        }
                    }
                }
            }
        };
        let ((), parsed) = rayon::join(merge, || {
            chunks
                .get(i + 1)
                .map(|c| parse_window(&ctx, c))
                .unwrap_or_default()
        });
        next = parsed;
    }
    if failed == headers.len() {
        return Err(Error::input(
            path,
            format!(
                "no readable DWARF unit ({})",
                first_error.unwrap_or_else(|| "no units".into())
            ),
        ));
    }
    let missing_externals = merger.resolve_externals();
    merger.notes.unresolved_refs += missing_externals;
    let mut ir = merger.ir;
    ir.warnings = warnings;
    if failed > 0 {
        ir.warnings.push(format!(
            "{failed} of {} DWARF units could not be read and were skipped (first: {})",
            headers.len(),
            first_error.unwrap_or_default()
        ));
    }
    if merger.notes.unresolved_refs > 0 {
        ir.warnings.push(format!(
            "{} type references point outside their unit (type units, other units) and read as void",
            merger.notes.unresolved_refs
        ));
    }
    if merger.notes.unparsed_locations > 0 {
        ir.warnings.push(format!(
            "{} member locations are not constants; those members are placed at offset 0",
            merger.notes.unparsed_locations
        ));
    }
    if secs.skipped_relocations > 0 {
        ir.warnings.push(format!(
            "{} relocations in debug sections are of unsupported kinds and were not applied",
            secs.skipped_relocations
        ));
    }
    if std::env::var_os("PROFC_DWARF_STATS").is_some() {
        eprintln!(
            "profc: dwarf: {} units, {} type nodes read, {} IR types after merging, {:.2} s",
            headers.len(),
            merger.nodes_seen,
            ir.types.len(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(ir)
}

/// The units of one window, read in parallel, in order.
fn parse_window<'a>(
    ctx: &unit::Ctx<'a>,
    chunk: &[(gimli::UnitHeader<unit::R<'a>>, u64)],
) -> Vec<(gimli::UnitSectionOffset, gimli::Result<unit::LocalUnit<'a>>)> {
    chunk
        .par_iter()
        .map(|(h, base)| (h.offset(), unit::read_unit(ctx, h, *base)))
        .collect()
}

/// Whether the unit's abbreviations use `DW_FORM_ref_addr` (references
/// into other units, as link-time optimisation writes).
fn uses_ref_addr(debug_abbrev: &[u8], header: &gimli::UnitHeader<unit::R<'_>>) -> bool {
    let Some(mut bytes) = debug_abbrev.get(header.debug_abbrev_offset().0..) else {
        return false;
    };
    // code, tag, children flag, then (attribute, form[, implicit const])
    // pairs ending in (0, 0); a code of 0 ends the table.
    loop {
        let Some(code) = unit::uleb_advance(&mut bytes) else {
            return false;
        };
        if code == 0 {
            return false;
        }
        if unit::uleb_advance(&mut bytes).is_none() || bytes.is_empty() {
            return false;
        }
        bytes = &bytes[1..];
        loop {
            let (Some(attr), Some(form)) = (
                unit::uleb_advance(&mut bytes),
                unit::uleb_advance(&mut bytes),
            ) else {
                return false;
            };
            if attr == 0 && form == 0 {
                break;
            }
            if form == u64::from(gimli::DW_FORM_ref_addr.0) {
                return true;
            }
            if form == u64::from(gimli::DW_FORM_implicit_const.0)
                && unit::uleb_advance(&mut bytes).is_none()
            {
                return false;
            }
        }
    }
}

/// Adds the defined symbols of the object's symbol table: every named data
/// or code symbol to `$CONSTANTS`, code symbols also to `$FUNCTIONS` (the
/// System.map convention).
fn add_symbols(file: &object::File<'_>, ir: &mut Ir) {
    for s in file.symbols() {
        if !s.is_definition() {
            continue;
        }
        let kind = s.kind();
        if !matches!(
            kind,
            object::SymbolKind::Text | object::SymbolKind::Data | object::SymbolKind::Unknown
        ) {
            continue;
        }
        let Ok(name) = s.name() else { continue };
        if name.is_empty() {
            continue;
        }
        ir.symbols.push(Symbol {
            name: name.to_owned(),
            address: s.address(),
            kind: SymbolKind::Data,
            ty: None,
        });
        if kind == object::SymbolKind::Text {
            ir.symbols.push(Symbol {
                name: name.to_owned(),
                address: s.address(),
                kind: SymbolKind::Function,
                ty: None,
            });
        }
    }
}

/// The kernel banner (`linux_banner`) of an ELF vmlinux, if its symbol
/// table names it.
pub fn banner_of_elf(data: &[u8]) -> Option<String> {
    let file = object::File::parse(data).ok()?;
    let text = read_string_symbol(&file, "linux_banner")?;
    let text = text.trim_end();
    text.starts_with("Linux version ").then(|| text.to_owned())
}

/// The NUL-terminated string a data symbol points at (the kernel banner).
fn read_string_symbol(file: &object::File<'_>, name: &str) -> Option<String> {
    let sym = file.symbol_by_name(name)?;
    let index = sym.section_index()?;
    let section = file.section_by_index(index).ok()?;
    let data = section.data().ok()?;
    let start = usize::try_from(sym.address().checked_sub(section.address())?).ok()?;
    let rest = data.get(start..)?;
    let end = rest.iter().take(4096).position(|&b| b == 0)?;
    let text = std::str::from_utf8(&rest[..end]).ok()?;
    (!text.is_empty()).then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_kinds_by_content() {
        assert_eq!(detect(b"\x7fELF\x02\x01"), Magic::Elf);
        assert_eq!(detect(b"PK\x03\x04"), Magic::Zip);
        assert_eq!(detect(&0xfeed_facf_u32.to_le_bytes()), Magic::MachO);
        assert_eq!(detect(&0xfeed_face_u32.to_be_bytes()), Magic::MachO);
        assert_eq!(detect(b"\xca\xfe\xba\xbe\x00\x00\x00\x02"), Magic::MachOFat);
        // A Java class file (version 52) is not a fat Mach-O.
        assert_eq!(detect(b"\xca\xfe\xba\xbe\x00\x00\x00\x34"), Magic::Unknown);
        assert_eq!(detect(b"ffffffff81000000 T _text\n"), Magic::SystemMap);
        assert_eq!(detect(b""), Magic::Unknown);
        assert_eq!(detect(b"\x01\x02random"), Magic::Unknown);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let p = Path::new("x");
        assert!(read_bytes(b"", p).is_err());
        assert!(read_bytes(b"\x7fELF\x02\x01\x01", p).is_err());
        assert!(read_bytes(b"\xcf\xfa\xed\xfe\x07", p).is_err());
        assert!(read_bytes(b"\xca\xfe\xba\xbe\x00\x00\x00\x02\xff", p).is_err());
    }

    /// Fuzzing regression (fuzz target `dwarf`): a fat Mach-O whose only
    /// slice starts at offset 0 is itself fat; reading it used to loop
    /// forever. Minimised from the fuzzer's input.
    #[test]
    fn fat_slice_that_is_the_fat_file_itself_is_an_error() {
        let mut bytes = vec![0u8; 0x1000];
        bytes[..28].copy_from_slice(&[
            0xca, 0xfe, 0xba, 0xbe, // FAT_MAGIC
            0, 0, 0, 1, // one architecture
            0x01, 0, 0, 7, // cputype x86-64
            0, 0, 0, 3, // cpusubtype
            0, 0, 0, 0, // offset 0: the fat header again
            0, 0, 0x10, 0, // size 0x1000
            0, 0, 0, 12, // align
        ]);
        let err = read_bytes(&bytes, Path::new("loop.fat")).unwrap_err();
        assert!(err.to_string().contains("itself a fat file"), "{err}");
    }
}

#[cfg(test)]
mod robustness {
    use super::*;

    /// Corrupting bytes anywhere in a real object must give an error or a
    /// profile, never a panic (a cheap stand-in for a fuzz target).
    #[test]
    fn corrupted_objects_do_not_panic() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/elf/out");
        for name in [
            "types.gcc.dwarf4.o",
            "types.clang.dwarf5.o",
            "types.gcc.i386.dwarf4.o",
            "types.clang.macho.o",
            "types.gcc.typeunits.dwarf4.o",
            "types.clang.lto.elf",
        ] {
            let original = std::fs::read(dir.join(name)).unwrap();
            let mut state = 0x2545_f491_4f6c_dd1du64;
            for round in 0..300 {
                let mut bytes = original.clone();
                for _ in 0..(1 + round % 8) {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let at = (state % bytes.len() as u64) as usize;
                    bytes[at] = (state >> 32) as u8;
                }
                let _ = read_bytes(&bytes, Path::new(name));
            }
            for cut in (0..original.len()).step_by(97) {
                let _ = read_bytes(&original[..cut], Path::new(name));
            }
        }
    }
}
