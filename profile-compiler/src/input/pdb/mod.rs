//! Windows PDB reader: PDB -> IR (types, symbols, metadata).
//!
//! pdb2 reads the MSF container, the PDB information and DBI streams, the
//! symbol streams and the section map (section:offset -> RVA). The type
//! records are decoded by this module's own bounds-checked reader (`leaf`,
//! `types`): see `leaf.rs` for why. Conventions are documented for users in
//! `docs/pdb.md`:
//! - a C++ base class is a member named `__base_<BaseName>` at its offset
//!   (virtual bases, whose offset is not fixed, are left out);
//! - compiler placeholders (`<unnamed-tag>`, `X::<unnamed-tag>`,
//!   `<unnamed-type-x>`, `<unnamed-enum-A>`, `__unnamed`) make a type
//!   anonymous; the emitter names it (typedef name or `__unnamed_<index>`);
//! - symbols are RVAs: publics (function flag -> `$FUNCTIONS`, else
//!   `$CONSTANTS`), global/static/thread data from the global stream, and
//!   procedures from the module streams (undecorated names);
//! - `GUID_AGE` uses the DBI stream's age (the one the image's RSDS record
//!   carries), not the PDB information stream's.

use std::path::Path;
use std::sync::Arc;

use pdb2::{FallibleIterator, MachineType};
use serde_json::Value;

use crate::ir::Ir;
use crate::{Error, Result};

mod leaf;
mod symbols;
mod types;

/// Rekall's profile classes of PE modules and the rule naming them (in the
/// runtime, whose ISF reader needs them too).
pub use profile_runtime::isf::{profile_class, PROFILE_CLASSES};

/// Reads a PDB file into the IR. A regular file is memory-mapped (only the
/// pages of the streams the reader needs are touched); anything else (a
/// pipe, a device) is read into memory.
pub fn read_file(path: &Path) -> Result<Ir> {
    read_file_with(path, |_| ()).map(|(ir, ())| ir)
}

/// [`read_file`], running `on_symbols` on the reader's symbol thread as
/// soon as the symbols are read (they also go to the IR), while the types
/// are still being converted; its result comes back with the IR. `profc
/// parse_pdb` builds the symbol sections there
/// ([`crate::emit::symbol_sections`]).
pub fn read_file_with<T: Send>(
    path: &Path,
    on_symbols: impl FnOnce(&[crate::ir::Symbol]) -> T + Send,
) -> Result<(Ir, T)> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        let bytes = std::fs::read(path).map_err(io)?;
        return read_source(path, Bytes::Owned(bytes), on_symbols);
    }
    if meta.len() == 0 {
        return Err(Error::input(path, "empty file (not a PDB)"));
    }
    // SAFETY: a read-only private map; the bytes are parsed as untrusted.
    // As with any reader of mapped files, another process truncating the
    // file while it is read could fault.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
    read_source(path, Bytes::Mapped(map), on_symbols)
}

/// Reads a PDB held in memory; `path` names it in errors and metadata.
pub fn read_bytes(path: &Path, bytes: Vec<u8>) -> Result<Ir> {
    read_source(path, Bytes::Owned(bytes), |_| ()).map(|(ir, ())| ir)
}

fn read_source<T: Send>(
    path: &Path,
    bytes: Bytes,
    on_symbols: impl FnOnce(&[crate::ir::Symbol]) -> T + Send,
) -> Result<(Ir, T)> {
    if bytes.is_empty() {
        return Err(Error::input(path, "empty file (not a PDB)"));
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Last resort: pdb2 has a few assertions and debug-build `unreachable!`s
    // on malformed numeric leaves in code paths we cannot avoid (MSF, DBI,
    // symbol records). The reader avoids them where it can (it parses only
    // the symbol kinds it needs and decodes type records itself); a panic
    // that still happens becomes an input error here.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        read_pdb(&name, bytes, on_symbols)
    })) {
        Ok(Ok(read)) => Ok(read),
        Ok(Err(message)) => Err(Error::input(path, message)),
        Err(_) => Err(Error::input(
            path,
            "malformed PDB: the PDB parser gave up on it",
        )),
    }
}

/// The PDB's bytes: mapped from a file or owned.
#[derive(Debug)]
enum Bytes {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

/// A pdb2 source over the file's bytes in memory that hands out streams
/// without copying when their pages are contiguous (the common case:
/// linkers write streams page after page), and copies them together
/// otherwise. (pdb2's views must be `'static`, hence the shared buffer.)
#[derive(Debug)]
struct MemorySource(Arc<Bytes>);

#[derive(Debug)]
enum MemoryView {
    Shared(Arc<Bytes>, std::ops::Range<usize>),
    Owned(Vec<u8>),
}

impl pdb2::SourceView<'_> for MemoryView {
    fn as_slice(&self) -> &[u8] {
        match self {
            // The range was checked against this buffer when the view was made.
            MemoryView::Shared(data, r) => data.get(r.clone()).unwrap_or_default(),
            MemoryView::Owned(v) => v,
        }
    }
}

impl<'s> pdb2::Source<'s> for MemorySource {
    fn view(
        &mut self,
        slices: &[pdb2::SourceSlice],
    ) -> std::result::Result<Box<dyn pdb2::SourceView<'s> + Send + Sync>, std::io::Error> {
        let data = &self.0;
        let range = |offset: u64, size: usize| {
            let start = usize::try_from(offset).ok()?;
            let end = start.checked_add(size)?;
            (end <= data.len()).then_some(start..end)
        };
        let eof = || {
            std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "failed to fill whole buffer",
            )
        };
        let contiguous = slices
            .windows(2)
            .all(|w| w[0].offset.checked_add(w[0].size as u64) == Some(w[1].offset));
        if let (true, Some(first)) = (contiguous, slices.first()) {
            let total = slices
                .iter()
                .try_fold(0usize, |acc, s| acc.checked_add(s.size))
                .ok_or_else(eof)?;
            let r = range(first.offset, total).ok_or_else(eof)?;
            return Ok(Box::new(MemoryView::Shared(Arc::clone(data), r)));
        }
        let mut out = Vec::new();
        for s in slices {
            let r = range(s.offset, s.size).ok_or_else(eof)?;
            out.extend_from_slice(&data[r]);
        }
        Ok(Box::new(MemoryView::Owned(out)))
    }
}

/// The MSF 7.00 signature every PDB starts with.
const MSF7: &[u8] = b"Microsoft C/C++ MSF 7.00\r\n\x1aDS\0\0\0";

/// Whether `head` starts with the PDB (MSF 7.00) signature.
pub fn is_pdb(head: &[u8]) -> bool {
    head.starts_with(MSF7)
}

fn read_pdb<T: Send>(
    pdb_name: &str,
    bytes: Bytes,
    on_symbols: impl FnOnce(&[crate::ir::Symbol]) -> T + Send,
) -> std::result::Result<(Ir, T), String> {
    let has_magic = is_pdb(&bytes);
    let mapped = matches!(bytes, Bytes::Mapped(_));
    let mut pdb = pdb2::PDB::open(MemorySource(Arc::new(bytes))).map_err(|e| match e {
        pdb2::Error::UnrecognizedFileFormat if has_magic => {
            "not a readable PDB file: the MSF header is truncated or corrupt".to_string()
        }
        e => format!("not a readable PDB file: {}", describe(&e)),
    })?;
    let info = pdb
        .pdb_information()
        .map_err(|e| format!("cannot read the PDB information stream: {}", describe(&e)))?;
    let mut ir = Ir::default();
    let dbi = match pdb.debug_information() {
        Ok(d) => Some(d),
        Err(e) => {
            ir.warnings.push(format!("no debug information (DBI) stream ({e}): no symbols, age from the PDB information stream"));
            None
        }
    };
    let tpi = match pdb.raw_stream(pdb2::StreamIndex(2)) {
        Ok(Some(s)) if !s.is_empty() => s,
        Ok(_) => {
            return Err(
                "the PDB has no type information (its TPI stream is missing or empty)".into(),
            )
        }
        Err(e) => {
            return Err(format!(
                "cannot read the type stream (TPI): {}",
                describe(&e)
            ))
        }
    };
    let machine = dbi
        .as_ref()
        .and_then(|d| d.machine_type().ok())
        .unwrap_or(MachineType::Unknown);
    let age = dbi.as_ref().and_then(|d| d.age()).unwrap_or(info.age);

    // The symbol streams are read on a second thread while this one splits
    // and converts the types; then the S_UDT typedefs (which name anonymous
    // types) are applied, in stream order, as a serial run would.
    let mut globals = None;
    let mut sym_warnings = Vec::new();
    let (symbols, done, ts) = std::thread::scope(|scope| {
        let (pdb, globals, warnings) = (&mut pdb, &mut globals, &mut sym_warnings);
        let reader = scope.spawn(move || {
            let (udts, symbols, unparsed) = read_symbols(pdb, dbi, globals, warnings);
            let done = on_symbols(&symbols);
            (udts, symbols, done, unparsed)
        });
        let ts = match types::TypeStream::parse(&tpi, &mut ir.warnings) {
            Ok(ts) => ts,
            Err(e) => {
                // Joined before returning, so no thread outlives the read
                // (its own outcome does not matter any more).
                let _ = reader.join();
                return Err(e);
            }
        };
        let (arch, ptr_size) = match machine {
            MachineType::X86 => ("I386", 4),
            MachineType::Amd64 => ("AMD64", 8),
            MachineType::Arm64 => ("ARM64", 8),
            MachineType::Arm | MachineType::ArmNT | MachineType::Thumb => ("ARM", 4),
            MachineType::Ia64 => ("IA64", 8),
            _ => {
                let size = ts.guess_pointer_size().unwrap_or(4);
                ir.warnings.push(format!(
                    "unknown machine type {machine}: arch guessed from the pointer size ({size} bytes)"
                ));
                (if size == 8 { "AMD64" } else { "I386" }, size)
            }
        };
        metadata(&mut ir, pdb_name, &info, age, arch);
        let mut types = types::Types::new(&ts, &mut ir, ptr_size);
        types.convert_all();
        // A panic in pdb2 on the other thread is re-raised here and caught
        // by `read_source`.
        let (udts, mut symbols, done, unparsed) = reader
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        for (name, ti) in udts {
            types.typedef(name, ti);
        }
        // Data symbols carry their raw type index until now.
        for s in &mut symbols {
            if let Some(ti) = s.ty {
                s.ty = Some(types.ty(ti.0, 0));
            }
        }
        types.finish();
        ir.drop_records(unparsed, format!("{unparsed} malformed symbol records"));
        ir.drop_records(
            ts.missing,
            format!(
                "{} type records the type stream announces but does not hold",
                ts.missing
            ),
        );
        Ok::<_, String>((symbols, done, ts))
    })?;
    ir.symbols = symbols;
    ir.warnings.append(&mut sym_warnings);
    // A mapping and its streams are released off the caller's path (the
    // unmapping and the frees cost as much as a tenth of the reading); if no
    // thread can be started, here (a failed spawn drops what it was given).
    drop(ts);
    let leftovers = (pdb, tpi, info, globals);
    if mapped {
        let _ = std::thread::Builder::new()
            .name("pdb-release".into())
            .spawn(move || drop(leftovers));
    }
    Ok((ir, done))
}

/// `$METADATA` from the PDB information stream and the DBI age.
fn metadata(ir: &mut Ir, pdb_name: &str, info: &pdb2::PDBInformation<'_>, age: u32, arch: &str) {
    let (d1, d2, d3, d4) = info.guid.as_fields();
    let mut guid_age = format!("{d1:08X}{d2:04X}{d3:04X}");
    for b in d4 {
        guid_age.push_str(&format!("{b:02X}"));
    }
    guid_age.push_str(&format!("{age:X}"));
    let version = match info.version {
        pdb2::HeaderVersion::V41 => 930803,
        pdb2::HeaderVersion::V50 => 19960307,
        pdb2::HeaderVersion::V60 => 19970606,
        pdb2::HeaderVersion::V70 => 19990903,
        pdb2::HeaderVersion::V110 => 20091201,
        pdb2::HeaderVersion::OtherValue(v) => v,
        _ => 0,
    };
    let meta = &mut ir.metadata;
    meta.insert("Type".into(), Value::from("Profile"));
    meta.insert("ProfileClass".into(), Value::from(profile_class(pdb_name)));
    meta.insert("PDBFile".into(), Value::from(pdb_name));
    meta.insert("GUID_AGE".into(), Value::from(guid_age));
    meta.insert("arch".into(), Value::from(arch));
    meta.insert("Timestamp".into(), Value::from(timestamp(info.signature)));
    meta.insert("Version".into(), Value::from(version));
    ir.conventions.string_arrays = true;
}

/// The symbols (publics and global data from the global stream, procedures
/// from the module streams) and the `S_UDT` typedefs (name, type index), in
/// stream order; the global stream is kept in `globals` (the names borrow
/// from it).
fn read_symbols<'s, 'g, S: pdb2::Source<'s> + Send + 's>(
    pdb: &mut pdb2::PDB<'s, S>,
    dbi: Option<pdb2::DebugInformation<'s>>,
    globals: &'g mut Option<pdb2::SymbolTable<'s>>,
    warnings: &mut Vec<String>,
) -> ReadSymbols<'g> {
    let mut syms = symbols::Symbols::default();
    let mut udts = Vec::new();
    let map = match (&dbi, pdb.address_map()) {
        (None, _) => None,
        (Some(_), Err(e)) => {
            warnings.push(format!("no section map ({e}): symbols left out"));
            None
        }
        (Some(_), Ok(map)) => Some(map),
    };
    if let (Some(dbi), Some(map)) = (&dbi, &map) {
        syms.absolute_sections = absolute_sections(dbi);
        match pdb.global_symbols() {
            Ok(table) => {
                let table = globals.insert(table);
                if let Err(e) = syms.read(table.iter(), map, Some(&mut udts), false) {
                    warnings.push(format!(
                        "global symbol stream: {e}; later symbols are missing"
                    ));
                }
            }
            Err(e) => warnings.push(format!("no global symbol stream ({e})")),
        }
        module_procedures(pdb, dbi, map, &mut syms, warnings);
    }
    let unparsed = syms.unparsed;
    (udts, syms.finish(warnings), unparsed)
}

/// What [`read_symbols`] gives: the S_UDT typedefs (name, type index), the
/// symbols, and how many symbol records were malformed.
type ReadSymbols<'g> = (Vec<(&'g [u8], u32)>, Vec<crate::ir::Symbol>, usize);

/// pdb2's errors in words a user can act on.
fn describe(e: &pdb2::Error) -> String {
    match e {
        pdb2::Error::UnrecognizedFileFormat => {
            "no MSF 7.0 signature (not a PDB, or an old PDB 2.0 file)".into()
        }
        pdb2::Error::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            "the file is truncated (a stream reaches past its end)".into()
        }
        pdb2::Error::PageReferenceOutOfRange(p) => {
            format!("the file is truncated or corrupt (page {p} is outside the file)")
        }
        pdb2::Error::UnexpectedEof => {
            "the file is truncated or corrupt (a record ends early)".into()
        }
        other => other.to_string(),
    }
}

/// Section numbers (1-based, as in symbols) whose section-map entry has
/// the absolute-address flag.
fn absolute_sections(dbi: &pdb2::DebugInformation<'_>) -> Vec<u16> {
    let mut out = Vec::new();
    if let Ok(mut map) = dbi.section_map() {
        let mut n: u16 = 0;
        while let Ok(Some(item)) = map.next() {
            n = n.saturating_add(1);
            if item.section_type & 0x02 != 0 {
                out.push(n);
            }
        }
    }
    out
}

/// Procedures (`S_GPROC32`, `S_LPROC32`) from every module stream; static
/// functions are not among the publics.
fn module_procedures<'s, S: pdb2::Source<'s> + Send + 's>(
    pdb: &mut pdb2::PDB<'s, S>,
    dbi: &pdb2::DebugInformation<'_>,
    map: &pdb2::AddressMap<'_>,
    syms: &mut symbols::Symbols,
    warnings: &mut Vec<String>,
) {
    let mut failed = 0usize;
    let mut modules = match dbi.modules() {
        Ok(m) => m,
        Err(e) => {
            warnings.push(format!(
                "module list unreadable ({e}): procedures of modules left out"
            ));
            return;
        }
    };
    loop {
        let module = match modules.next() {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(e) => {
                warnings.push(format!(
                    "module list truncated ({e}): later modules left out"
                ));
                break;
            }
        };
        let ok = match pdb.module_info(&module) {
            Ok(Some(info)) => match info.symbols() {
                Ok(iter) => syms.read(iter, map, None, true).is_ok(),
                Err(_) => false,
            },
            Ok(None) => true,
            Err(_) => false,
        };
        if !ok {
            failed += 1;
        }
    }
    if failed > 0 {
        warnings.push(format!(
            "{failed} module symbol streams were unreadable; their procedures may be missing"
        ));
    }
}

/// A Unix time as `YYYY-MM-DD HH:MM:SSZ` (UTC), Rekall's `Timestamp` form.
pub fn timestamp(secs: u32) -> String {
    profile_runtime::Timestamp {
        unix_seconds: i64::from(secs),
        nanos: 0,
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(0), "1970-01-01 00:00:00Z");
        // Rekall's parse_pdb of attach_x86.pdb (signature 1789503578).
        assert_eq!(timestamp(1_789_503_578), "2026-09-15 20:19:38Z");
        assert_eq!(timestamp(951_782_400), "2000-02-29 00:00:00Z");
        assert_eq!(timestamp(u32::MAX), "2106-02-07 06:28:15Z");
    }

    #[test]
    fn profile_classes() {
        assert_eq!(profile_class("ntkrnlmp.pdb"), "Ntkrnlmp");
        assert_eq!(profile_class("NTKRNLPA.PDB"), "Ntkrnlpa");
        assert_eq!(profile_class("win32k.pdb"), "Win32k");
        assert_eq!(profile_class("ntdll.pdb"), "Ntdll");
        assert_eq!(profile_class("attach_x86.pdb"), "BasicPEProfile");
        assert_eq!(profile_class(""), "BasicPEProfile");
    }
}
