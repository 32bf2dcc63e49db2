//! The one compile pipeline: [`Input`] -> IR -> profile, used by every
//! command that makes a profile (`convert_profile`, `parse_pdb`,
//! `build_local_profile`, `repo add`, `repo build`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use profile_runtime::{Descriptor, Profile};
use serde_json::Value;

use crate::emit::{self, EmitOptions};
use crate::input::{btf, dwarf, isf, pdb, system_map, vol2, Input, InputKind};
use crate::ir::meta;
use crate::ir::Ir;
use crate::{Error, Result};

/// How to compile an input. The default reads the input alone.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Options {
    /// A System.map whose symbols replace the input's own (Linux).
    pub system_map: Option<PathBuf>,
    /// Overrides `$METADATA.ProfileClass`.
    pub profile_class: Option<String>,
    /// Records this kernel banner in `$METADATA.Banner`.
    pub banner: Option<String>,
    /// Reads the kernel banner from this file: its first line when it
    /// starts with `Linux version ` (`/proc/version`), else the first
    /// banner found anywhere in it (a kernel image, a memory image).
    pub banner_file: Option<PathBuf>,
    /// `/proc/kallsyms` (read as root) of the running kernel whose raw BTF
    /// is the input: the symbols, unshifted (the KASLR shift is recorded).
    pub kallsyms: Option<PathBuf>,
    /// The base BTF (`/sys/kernel/btf/vmlinux`, or a vmlinux) of a module's
    /// split BTF input (`/sys/kernel/btf/<module>`, a `.ko`).
    pub base_btf: Option<PathBuf>,
    /// In a package input: convert this module (`loop.ko`, `loop`) instead
    /// of the kernel's vmlinux.
    pub member: Option<String>,
    /// Leaves out `$REVENUMS` (Rekall's `--concise`).
    pub concise: bool,
    /// Builds the profile even when records of the input could not be read
    /// and were dropped ([`Ir::dropped`]); without it that is an error.
    pub partial: bool,
    /// Where the PDB of an executable input is looked for (symbol servers,
    /// symbol stores, the cache); default: [`crate::fetch::FetchOptions::from_env`].
    pub symbols: Option<crate::fetch::FetchOptions>,
}

impl Options {
    /// Options with nothing set.
    pub fn new() -> Options {
        Options::default()
    }
}

/// A compiled profile and what the Rekall format has no place for (which
/// records are unions, the symbols' types), ready to be written in either
/// format ([`Compiled::save`]).
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The profile.
    pub profile: Profile,
    /// Names of the records that are unions; `None` when unknown (a Rekall
    /// profile read from disk: the ISF writer then guesses from the layout).
    pub unions: Option<BTreeSet<String>>,
    /// The types of the data symbols that have one.
    pub symbol_types: BTreeMap<String, Descriptor>,
    /// One line per noteworthy decision of the reader or the emitter.
    pub warnings: Vec<String>,
    /// Facts worth telling the user (where a PDB came from).
    pub notes: Vec<String>,
    /// What the input was.
    pub kind: InputKind,
    /// The files the profile was made from: an ISF records their hashes.
    pub sources: Vec<SourceFile>,
}

/// An input file of a compiled profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Its role: `dwarf`, `symtab`, `system-map` (Volatility 3's kinds),
    /// `btf`, `kallsyms`.
    pub kind: String,
    /// The file.
    pub path: PathBuf,
    /// The part of the file that was read (`.BTF`), when not all of it.
    pub part: Option<String>,
    /// The sha256 of what was read, when already known (else the writer
    /// hashes the file).
    pub sha256: Option<String>,
}

impl SourceFile {
    /// A whole file in a role.
    pub fn new(kind: &str, path: &Path) -> SourceFile {
        SourceFile {
            kind: kind.to_owned(),
            path: path.to_path_buf(),
            part: None,
            sha256: None,
        }
    }
}

/// Reads an input of debug information into the IR (with the options'
/// System.map and banner applied). Profiles have no IR: they are an error
/// here (use [`compile`]).
pub fn read(input: &Input, options: &Options) -> Result<Ir> {
    let (mut notes, mut sources) = (Vec::new(), Vec::new());
    let (ir, _) = read_ir(input, options, false, &mut notes, &mut sources)?;
    Ok(ir)
}

/// Compiles `input` into a profile.
pub fn compile(input: &Input, options: &Options) -> Result<Compiled> {
    let path = &input.path;
    let mut notes = Vec::new();
    match input.kind {
        InputKind::RekallProfile | InputKind::Isf => {
            let mut compiled = load_profile(input)?;
            if let Some(class) = &options.profile_class {
                compiled
                    .profile
                    .set_metadata("ProfileClass", class.as_str());
            }
            if let Some(b) = &options.banner {
                compiled.profile.set_metadata("Banner", b.as_str());
            }
            if options.concise {
                compiled.profile.revenums = None;
            }
            Ok(compiled)
        }
        kind => {
            let mut sources = Vec::new();
            let (mut ir, symbols) = read_ir(input, options, true, &mut notes, &mut sources)?;
            check_dropped(&mut ir, path, options.partial)?;
            let emitted = emit::emit_with(
                &ir,
                EmitOptions {
                    concise: options.concise,
                },
                symbols,
            );
            let mut profile = emitted.profile;
            if let Some(class) = &options.profile_class {
                profile.set_metadata("ProfileClass", class.as_str());
            }
            let _ = path;
            Ok(Compiled {
                profile,
                unions: Some(emitted.unions),
                symbol_types: emitted.symbol_types,
                warnings: emitted.warnings,
                notes,
                kind,
                sources,
            })
        }
    }
}

/// Reads a profile (Rekall JSON, or ISF) as it is.
pub fn load_profile(input: &Input) -> Result<Compiled> {
    let path = &input.path;
    let (profile, unions, symbol_types) = match input.kind {
        InputKind::Isf => {
            let read = isf::read_file(path)?;
            (read.profile, Some(read.unions), read.symbol_types)
        }
        InputKind::RekallProfile => (Profile::load(path)?, None, BTreeMap::new()),
        other => {
            return Err(Error::input(
                path,
                format!("is {}, not a profile", other.describe()),
            ))
        }
    };
    Ok(Compiled {
        profile,
        unions,
        symbol_types,
        warnings: Vec::new(),
        notes: Vec::new(),
        kind: input.kind,
        sources: Vec::new(),
    })
}

/// Reads any profile file (Rekall or ISF, told by content).
pub fn load_profile_file(path: &Path) -> Result<Compiled> {
    load_profile(&Input::with_kind(path, InputKind::RekallProfile)?)
}

/// The IR of an input (and, for a PDB, the symbol sections built on the
/// reader's symbol thread when `ahead`).
fn read_ir(
    input: &Input,
    options: &Options,
    ahead: bool,
    notes: &mut Vec<String>,
    sources: &mut Vec<SourceFile>,
) -> Result<(Ir, Option<emit::SymbolSections>)> {
    let path = input.path.as_path();
    let mut symbols = None;
    // Volatility 3 records the hashes of the debug information and of the
    // symbol table an ISF was made from (its schema knows `dwarf`, `symtab`
    // and `system-map`; other kinds are listed under the producer).
    let role = match input.kind {
        InputKind::Pdb | InputKind::Executable => Some("symtab"),
        InputKind::SystemMap => Some("system-map"),
        InputKind::Btf | InputKind::MemoryImage | InputKind::Vmlinuz | InputKind::Package => None,
        _ => Some("dwarf"),
    };
    if let Some(role) = role {
        sources.push(SourceFile::new(role, path));
    }
    let mut ir = match input.kind {
        InputKind::Pdb if ahead && options.system_map.is_none() => {
            // The symbol sections are built on the reader's symbol thread
            // while it converts the types.
            let (ir, s) = pdb::read_file_with(path, |syms| emit::symbol_sections(syms, false))?;
            symbols = Some(s);
            ir
        }
        InputKind::Pdb => pdb::read_file(path)?,
        InputKind::Dwarf => dwarf::read_file(path)?,
        InputKind::Btf => read_btf(path, options, sources)?,
        InputKind::Vmlinuz => {
            let map = crate::input::map_file(path)?;
            sources.push(SourceFile::new("vmlinuz", path));
            crate::input::kernel::from_vmlinuz(&map, path)?
        }
        // Hashing a memory image for the metadata would cost as much as
        // reading it: none is recorded.
        InputKind::MemoryImage => crate::input::kernel::from_memory_image(path)?,
        InputKind::Package => read_package(path, options, sources)?,
        InputKind::LinuxZip => dwarf::read_zip(path)?,
        InputKind::Vol2Zip => vol2::read_zip(path)?,
        InputKind::SystemMap => {
            let mut ir = Ir::default();
            ir.metadata.insert("ProfileClass".into(), meta("Linux"));
            ir.conventions.mask48 = true;
            add_system_map(&mut ir, path)?;
            ir
        }
        InputKind::Executable => read_executable(path, options, notes)?,
        InputKind::RekallProfile | InputKind::Isf => {
            return Err(Error::input(
                path,
                "is a profile, not debug information (convert it with `profc export`)",
            ))
        }
    };
    if let Some(map) = &options.system_map {
        add_system_map(&mut ir, map)?;
        sources.push(SourceFile::new("system-map", map));
    }
    // Symbols of a symbol table get the types of the variables the debug
    // information describes (DWARF variables, BTF VARs); BTF, which names
    // few variables, gets the well-known kernel variables typed from its
    // own types.
    ir.type_symbols();
    if matches!(
        input.kind,
        InputKind::Btf | InputKind::Vmlinuz | InputKind::MemoryImage
    ) {
        btf::type_well_known_symbols(&mut ir);
    }
    if let Some(file) = &options.banner_file {
        let b = banner_in_file(file)?;
        ir.metadata.insert("Banner".into(), meta(b));
    }
    if let Some(b) = &options.banner {
        ir.metadata.insert("Banner".into(), meta(b.trim_end()));
    }
    ir.metadata
        .entry("Type".into())
        .or_insert_with(|| meta("Profile"));
    ir.metadata
        .entry("Version".into())
        .or_insert_with(|| Value::from(1));
    ir.metadata
        .entry("ProfileClass".into())
        .or_insert_with(|| meta("Linux"));
    let linux = ir.metadata.get("ProfileClass").and_then(Value::as_str) == Some("Linux");
    // (A kernel profile: one with symbols. A module's or an object's types
    // need no banner.)
    if linux && !ir.symbols.is_empty() && !ir.metadata.contains_key("Banner") {
        ir.warnings.push(
            "no kernel banner (`Linux version ...`): Volatility 3 cannot match this profile to an \
             image; give --banner TEXT (e.g. \"$(cat /proc/version)\") or --banner-file FILE"
                .into(),
        );
    }
    Ok((ir, symbols))
}

/// The kernel banner in a file: its first line when it starts with
/// `Linux version ` (`/proc/version`), else the first banner anywhere in it.
pub fn banner_in_file(path: &Path) -> Result<String> {
    let map = crate::input::map_file(path)?;
    if map.starts_with(b"Linux version ") {
        let end = memchr::memchr2(b'\n', 0, &map)
            .unwrap_or(map.len())
            .min(4096);
        return Ok(String::from_utf8_lossy(&map[..end]).trim_end().to_owned());
    }
    crate::input::kallsyms::find_banner(&map)
        .map(|b| b.trim_end().to_owned())
        .ok_or_else(|| Error::input(path, "no kernel banner (`Linux version ...`) in this file"))
}

/// A package: its vmlinux (or `--member` module) read from the package in
/// memory, with the package's System.map, config and the vmlinux's banner.
fn read_package(path: &Path, options: &Options, sources: &mut Vec<SourceFile>) -> Result<Ir> {
    use crate::input::package::{self, Select};
    let pkg = package::open(path)?;
    let select = match &options.member {
        Some(m) => Select::module(m.clone()),
        None => Select::kernel(),
    };
    let found = pkg.find_kernel(&select)?;
    let file = match (&options.member, &found.vmlinux, &found.member) {
        (Some(_), _, Some(m)) => m,
        (None, Some(v), _) => v,
        _ => {
            return Err(Error::input(
                path,
                "the package holds neither a vmlinux nor the module asked for",
            ))
        }
    };
    let inner = path.join(&file.path);
    let mut ir = dwarf::read_bytes(&file.data, &inner)?;
    sources.push(SourceFile {
        kind: "dwarf".into(),
        path: path.to_path_buf(),
        part: Some(file.path.clone()),
        sha256: Some(crate::output::sha256_hex(&file.data)),
    });
    // A module's symbols are section offsets: only a vmlinux takes the
    // System.map (unless the caller gives one).
    if options.member.is_none() && options.system_map.is_none() {
        if let Some(map) = &found.system_map {
            let syms = system_map::parse_bytes(&map.data, &path.join(&map.path))?;
            ir.symbols.clear();
            system_map::add_to_ir(&mut ir, &syms, false);
            sources.push(SourceFile {
                kind: "system-map".into(),
                path: path.to_path_buf(),
                part: Some(map.path.clone()),
                sha256: Some(crate::output::sha256_hex(&map.data)),
            });
        }
    }
    if let Some(config) = &found.config {
        ir.config = dwarf::parse_config(&String::from_utf8_lossy(&config.data));
    }
    if let Some(release) = &found.release {
        ir.metadata
            .entry("KernelVersion".into())
            .or_insert_with(|| meta(release.as_str()));
    }
    if let (None, Some(b)) = (&options.member, &found.banner) {
        ir.metadata
            .entry("Banner".into())
            .or_insert_with(|| meta(b.trim_end()));
    }
    Ok(ir)
}

/// Raw BTF or the `.BTF` section of an ELF file: a module's split BTF with
/// its base, a running system's with its kallsyms, or alone.
fn read_btf(path: &Path, options: &Options, sources: &mut Vec<SourceFile>) -> Result<Ir> {
    use crate::input::kernel;
    let map = crate::input::map_file(path)?;
    let btf_bytes: &[u8] = if btf::is_raw_btf(&map) {
        &map
    } else {
        elf_section(&map, ".BTF").ok_or_else(|| Error::input(path, "no .BTF section"))?
    };
    sources.push(SourceFile {
        kind: "btf".into(),
        path: path.to_path_buf(),
        part: (!btf::is_raw_btf(&map)).then(|| ".BTF".to_owned()),
        sha256: Some(crate::output::sha256_hex(btf_bytes)),
    });
    if let Some(base) = &options.base_btf {
        let base_map = crate::input::map_file(base)?;
        let (mut ir, vars) = btf::read_split(&map, &base_map, path, base, 8)?;
        btf::type_symbols_from_vars(&mut ir, &vars);
        return Ok(ir);
    }
    if let Some(kallsyms) = &options.kallsyms {
        let text = std::fs::read(kallsyms).map_err(|e| Error::io(kallsyms, e))?;
        sources.push(SourceFile::new("kallsyms", kallsyms));
        return kernel::from_live_system(btf_bytes, path, &text, kallsyms, None, None);
    }
    let mut ir = if btf::is_raw_btf(&map) {
        btf::read_bytes(&map, path, 8)?
    } else {
        btf::read_elf(&map, path)?
    };
    // A vmlinux carries its banner.
    if !btf::is_raw_btf(&map) {
        if let Some(b) = dwarf::banner_of_elf(&map) {
            kernel::set_banner(&mut ir, &b);
        }
    }
    Ok(ir)
}

/// The bytes of an ELF section.
fn elf_section<'a>(data: &'a [u8], name: &str) -> Option<&'a [u8]> {
    use object::{Object, ObjectSection};
    let file = object::File::parse(data).ok()?;
    file.section_by_name(name)?.data().ok()
}

/// Replaces the symbols of `ir` with those of a System.map.
fn add_system_map(ir: &mut Ir, map: &Path) -> Result<()> {
    let syms = system_map::read_file(map)?;
    ir.symbols.clear();
    system_map::add_to_ir(ir, &syms, false);
    if !ir.metadata.contains_key("KernelVersion") {
        if let Some(v) = map
            .file_name()
            .and_then(|n| dwarf::version_from_name(&n.to_string_lossy()))
        {
            ir.metadata.insert("KernelVersion".into(), meta(v));
        }
    }
    Ok(())
}

/// A PE executable -> its RSDS record -> the PDB (verified) -> IR.
fn read_executable(path: &Path, options: &Options, notes: &mut Vec<String>) -> Result<Ir> {
    let (name, id) = crate::pe::pdb_key(path)?;
    // The executable's own folder comes first, as debuggers search it: a
    // PDB beside it with the right GUID and age is read in place, with no
    // cache and no network.
    if let Some(beside) = pdb_beside(path, &name, &id) {
        notes.push(format!(
            "{name} {id}: found beside the executable ({})",
            beside.display()
        ));
        return pdb::read_file(&beside);
    }
    let fetch = match &options.symbols {
        Some(o) => o.clone(),
        None => crate::fetch::FetchOptions::from_env()?,
    };
    let got = crate::fetch::Fetcher::new(fetch)?.fetch(&name, &id)?;
    notes.extend(got.describe(&name, &id));
    pdb::read_file(&got.path)
}

/// Refuses an input some of whose records were dropped (unreadable), saying
/// how many and the first few, unless `partial`; with it, one warning says so.
fn check_dropped(ir: &mut Ir, path: &Path, partial: bool) -> Result<()> {
    if ir.dropped == 0 {
        return Ok(());
    }
    let what = format!(
        "{} records could not be read and were dropped (first: {})",
        ir.dropped,
        ir.dropped_examples.join("; ")
    );
    if partial {
        // First, so the summary of warnings always shows it.
        ir.warnings
            .insert(0, format!("{what}; kept going (--partial)"));
        return Ok(());
    }
    Err(Error::input(
        path,
        format!("{what}; the file is damaged: use --partial to build the profile from the rest"),
    ))
}

/// The PDB named `name` (any case) in `exe`'s folder, when its GUID and age
/// are `id`.
pub fn pdb_beside(exe: &Path, name: &str, id: &crate::codeview::PdbId) -> Option<PathBuf> {
    let dir = match exe.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let found = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .find(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
                && e.file_type().is_ok_and(|t| t.is_file() || t.is_symlink())
        })?;
    let path = found.path();
    (crate::fetch::verify::pdb_id(&path).ok()? == *id).then_some(path)
}
