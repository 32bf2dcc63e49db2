//! `profc convert_profile`: DWARF (ELF or Mach-O), Rekall's Linux zips,
//! Volatility 2 zips and System.map files to a profile.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::OutputArgs;
use crate::emit::meta;
use crate::input::dwarf::{self, InputKind};
use crate::input::{system_map, vol2};
use crate::ir::Ir;

/// Which converter reads the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Converter {
    /// Detect by content (ELF or Mach-O magic, zip, System.map text).
    Auto,
    /// An ELF or Mach-O file with DWARF (vmlinux, a module, a macOS kernel or dSYM).
    #[value(alias = "elf", alias = "macho", alias = "OSXConverter")]
    Dwarf,
    /// Rekall's Linux zip: `module_dwarf.ko` + `System.map-<version>` (+ `config-<version>`).
    #[value(name = "linux-zip", alias = "LinuxConverter")]
    LinuxZip,
    /// A Volatility 2 profile zip.
    #[value(alias = "vol2-zip")]
    Vol2,
    /// A System.map (symbols only).
    #[value(name = "system-map", alias = "system_map")]
    SystemMap,
    /// BTF: a raw BTF file (a copy of `/sys/kernel/btf/vmlinux`) or the
    /// `.BTF` section of an ELF file.
    Btf,
    /// A Windows PDB file.
    Pdb,
    /// A profile (Rekall JSON or Volatility 3 ISF), converted to `--format`.
    Profile,
}

/// Arguments of `convert_profile`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The input: a kernel image or module with DWARF (ELF), a macOS kernel or
    /// dSYM (Mach-O, fat or thin), a Rekall Linux zip, a Volatility 2 zip or a
    /// System.map.
    pub source: PathBuf,
    /// Where to write the profile (gzipped unless the name ends in `.json`).
    pub out: PathBuf,
    /// A System.map whose symbols replace the input's own (Linux).
    #[arg(long = "system-map", alias = "system_map", value_name = "FILE")]
    pub system_map: Option<PathBuf>,
    /// The converter to use (default: detect by content).
    #[arg(long, value_enum, default_value_t = Converter::Auto)]
    pub converter: Converter,
    #[command(flatten)]
    pub out_args: OutputArgs,
}

/// The first bytes of `path`, for detection.
fn head(path: &Path) -> anyhow::Result<Vec<u8>> {
    let file = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    let mut buf = Vec::with_capacity(4096);
    file.take(4096)
        .read_to_end(&mut buf)
        .with_context(|| format!("{}", path.display()))?;
    Ok(buf)
}

/// Reads `source` with the chosen (or detected) converter.
pub(crate) fn read_source(source: &Path, converter: Converter) -> anyhow::Result<Ir> {
    let converter = match converter {
        Converter::Auto => {
            let bytes = head(source)?;
            if crate::input::btf::is_raw_btf(&bytes) {
                Converter::Btf
            } else if crate::input::pdb::is_pdb(&bytes) {
                Converter::Pdb
            } else if looks_like_profile(&bytes) {
                Converter::Profile
            } else {
                match dwarf::detect(&bytes) {
                    InputKind::Elf if elf_has_only_btf(source)? => Converter::Btf,
                    InputKind::Elf | InputKind::MachO | InputKind::MachOFat => Converter::Dwarf,
                    InputKind::Zip => {
                        if vol2::is_vol2_zip(&dwarf::zip_names(source)?) {
                            Converter::Vol2
                        } else {
                            Converter::LinuxZip
                        }
                    }
                    InputKind::SystemMap => Converter::SystemMap,
                    InputKind::Unknown if bytes.is_empty() => {
                        bail!("{}: empty file", source.display())
                    }
                    InputKind::Unknown => bail!(
                        "{}: unrecognised input (not ELF, Mach-O, a zip or a System.map)",
                        source.display()
                    ),
                }
            }
        }
        c => c,
    };
    Ok(match converter {
        Converter::Dwarf => dwarf::read_file(source)?,
        Converter::LinuxZip => dwarf::read_zip(source)?,
        Converter::Vol2 => vol2::read_zip(source)?,
        Converter::Btf => read_btf(source)?,
        Converter::Pdb => crate::input::pdb::read_file(source)?,
        Converter::Profile => bail!(
            "{}: is a profile, not debug information (convert it with `profc export`)",
            source.display()
        ),
        Converter::SystemMap | Converter::Auto => {
            let mut ir = Ir::default();
            ir.metadata.insert("ProfileClass".into(), meta("Linux"));
            ir.conventions.mask48 = true;
            add_system_map(&mut ir, source)?;
            ir
        }
    })
}

/// Profiles (Rekall JSON or ISF), plain or compressed.
fn looks_like_profile(head: &[u8]) -> bool {
    let first = head.iter().find(|b| !b.is_ascii_whitespace());
    first == Some(&b'{')
        || profile_runtime::is_gzip(head)
        || head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0])
}

fn map_file(path: &Path) -> anyhow::Result<memmap2::Mmap> {
    let file = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    // SAFETY: the map is read-only; profc reads inputs that it does not
    // modify, and a concurrent truncation by another process is the same
    // hazard every mmap-based reader (gimli users, pahole) accepts.
    let map =
        unsafe { memmap2::Mmap::map(&file) }.with_context(|| format!("{}", path.display()))?;
    Ok(map)
}

/// An ELF with a `.BTF` section and no DWARF (a stripped vmlinux).
fn elf_has_only_btf(path: &Path) -> anyhow::Result<bool> {
    use object::Object;
    let map = map_file(path)?;
    let Ok(file) = object::File::parse(&*map) else {
        return Ok(false);
    };
    Ok(file.section_by_name(".BTF").is_some() && file.section_by_name(".debug_info").is_none())
}

fn read_btf(path: &Path) -> anyhow::Result<Ir> {
    let map = map_file(path)?;
    let ir = if crate::input::btf::is_raw_btf(&map) {
        crate::input::btf::read_bytes(&map, path, 8)?
    } else {
        crate::input::btf::read_elf(&map, path)?
    };
    Ok(ir)
}

/// Replaces the symbols of `ir` with those of a System.map.
fn add_system_map(ir: &mut Ir, map: &Path) -> anyhow::Result<()> {
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

pub(crate) fn run(args: Args, verbose: bool) -> anyhow::Result<()> {
    // Refuse early: converting a kernel takes a while.
    super::check_output(&args.out, args.out_args.overwrite)?;
    let is_profile = args.converter == Converter::Profile
        || (args.converter == Converter::Auto && looks_like_profile(&head(&args.source)?));
    if is_profile {
        let mut profile = super::load_any_profile(&args.source)?;
        if let Some(class) = &args.out_args.profile_class {
            profile.set_metadata("ProfileClass", class.as_str());
        }
        if args.out_args.concise {
            profile.revenums = None;
        }
        let isf = crate::emit::isf::IsfOptions::default();
        return super::save_as(&profile, &args.out, &args.out_args, &isf, verbose);
    }
    let mut ir = read_source(&args.source, args.converter)?;
    if let Some(map) = &args.system_map {
        add_system_map(&mut ir, map)?;
    }
    ir.metadata
        .entry("Type".into())
        .or_insert_with(|| meta("Profile"));
    ir.metadata
        .entry("Version".into())
        .or_insert_with(|| serde_json::Value::from(1));
    ir.metadata
        .entry("ProfileClass".into())
        .or_insert_with(|| meta("Linux"));
    // Volatility 3 records the hashes of the debug information and of the
    // symbol table an ISF was made from.
    let types_kind = if ir.metadata.contains_key("PDBFile") {
        "symtab"
    } else {
        "dwarf"
    };
    let mut inputs = vec![(types_kind, args.source.as_path())];
    if let Some(map) = &args.system_map {
        inputs.push(("system-map", map.as_path()));
    }
    super::write_profile_from(&ir, None, &args.out, &args.out_args, verbose, inputs)
        .with_context(|| format!("writing {}", args.out.display()))?;
    Ok(())
}
