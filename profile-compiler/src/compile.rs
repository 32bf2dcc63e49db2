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
    /// Leaves out `$REVENUMS` (Rekall's `--concise`).
    pub concise: bool,
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
    /// The files the profile was made from, with their role (`dwarf`,
    /// `symtab`, `system-map`): an ISF records their hashes.
    pub sources: Vec<(String, PathBuf)>,
}

/// Reads an input of debug information into the IR (with the options'
/// System.map and banner applied). Profiles have no IR: they are an error
/// here (use [`compile`]).
pub fn read(input: &Input, options: &Options) -> Result<Ir> {
    let mut notes = Vec::new();
    let (ir, _) = read_ir(input, options, false, &mut notes)?;
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
            let (ir, symbols) = read_ir(input, options, true, &mut notes)?;
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
            // Volatility 3 records the hashes of the debug information and
            // of the symbol table an ISF was made from.
            // (Volatility 3's schema knows `dwarf`, `symtab` and
            // `system-map`; other kinds are listed under the producer.)
            let types_kind = match kind {
                InputKind::Pdb | InputKind::Executable => "symtab",
                InputKind::Btf => "btf",
                InputKind::SystemMap => "system-map",
                _ => "dwarf",
            };
            let mut sources = vec![(types_kind.to_owned(), path.clone())];
            if let Some(map) = &options.system_map {
                sources.push(("system-map".to_owned(), map.clone()));
            }
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
) -> Result<(Ir, Option<emit::SymbolSections>)> {
    let path = input.path.as_path();
    let mut symbols = None;
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
        InputKind::Btf => read_btf(path)?,
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
    }
    // Symbols of a symbol table get the types of the variables the debug
    // information describes (DWARF variables, BTF VARs).
    ir.type_symbols();
    if let Some(b) = &options.banner {
        ir.metadata.insert("Banner".into(), meta(b.as_str()));
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
    Ok((ir, symbols))
}

/// Raw BTF, or the `.BTF` section of an ELF file.
fn read_btf(path: &Path) -> Result<Ir> {
    let map = crate::input::map_file(path)?;
    if btf::is_raw_btf(&map) {
        btf::read_bytes(&map, path, 8)
    } else {
        btf::read_elf(&map, path)
    }
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
    let fetch = match &options.symbols {
        Some(o) => o.clone(),
        None => crate::fetch::FetchOptions::from_env()?,
    };
    let got = crate::fetch::Fetcher::new(fetch)?.fetch(&name, &id)?;
    notes.extend(got.describe(&name, &id));
    pdb::read_file(&got.path)
}
