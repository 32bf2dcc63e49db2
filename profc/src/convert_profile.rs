//! `profc convert_profile`: DWARF (ELF or Mach-O), BTF, Rekall's Linux
//! zips, Volatility 2 zips, System.map files, PDBs and profiles to a
//! profile.

use std::path::{Path, PathBuf};

use anyhow::Context;
use profile_compiler::{Input, InputKind};

use crate::cli::{check_output, write_compiled, OutputArgs};

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
    /// A compressed kernel (vmlinuz: bzImage, arm64 Image or Image.gz, EFI
    /// zboot): its own BTF, kallsyms and banner.
    Vmlinuz,
    /// A memory image (raw, LiME, ELF core, kdump): the kernel's BTF,
    /// kallsyms and banner carved out of it (as `--from-image`).
    Image,
}

impl Converter {
    /// The input kind this converter reads (`None`: detect).
    fn kind(self) -> Option<InputKind> {
        Some(match self {
            Converter::Auto => return None,
            Converter::Dwarf => InputKind::Dwarf,
            Converter::LinuxZip => InputKind::LinuxZip,
            Converter::Vol2 => InputKind::Vol2Zip,
            Converter::SystemMap => InputKind::SystemMap,
            Converter::Btf => InputKind::Btf,
            Converter::Pdb => InputKind::Pdb,
            Converter::Profile => InputKind::RekallProfile,
            Converter::Vmlinuz => InputKind::Vmlinuz,
            Converter::Image => InputKind::MemoryImage,
        })
    }
}

/// Arguments of `convert_profile`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The input: a kernel image or module with DWARF (ELF), a macOS kernel or
    /// dSYM (Mach-O, fat or thin), BTF, a Rekall Linux zip, a Volatility 2
    /// zip, a System.map, a PDB or a profile.
    pub source: PathBuf,
    /// Where to write the profile (gzipped unless the name ends in `.json`).
    pub out: PathBuf,
    /// A System.map whose symbols replace the input's own (Linux).
    #[arg(long = "system-map", alias = "system_map", value_name = "FILE")]
    pub system_map: Option<PathBuf>,
    /// The converter to use (default: detect by content).
    #[arg(long, value_enum, default_value_t = Converter::Auto)]
    pub converter: Converter,
    /// The source is a memory image (a raw image has no magic to detect):
    /// carve the kernel's BTF, kallsyms and banner out of it.
    #[arg(long = "from-image", alias = "from_image")]
    pub from_image: bool,
    /// The kernel banner to record (`"$(cat /proc/version)"`): what
    /// Volatility 3 matches against an image.
    #[arg(long, value_name = "TEXT", conflicts_with = "banner_file")]
    pub banner: Option<String>,
    /// Read the kernel banner from this file (`/proc/version`, or the first
    /// `Linux version ...` string anywhere in it).
    #[arg(long = "banner-file", alias = "banner_file", value_name = "FILE")]
    pub banner_file: Option<PathBuf>,
    /// With raw BTF (`/sys/kernel/btf/vmlinux`): the running kernel's
    /// `/proc/kallsyms` (read as root); its KASLR shift is removed and recorded.
    #[arg(long, value_name = "FILE")]
    pub kallsyms: Option<PathBuf>,
    /// With a module's split BTF (`/sys/kernel/btf/MODULE`, a `.ko`): the
    /// base BTF it continues (`/sys/kernel/btf/vmlinux`, or a vmlinux).
    #[arg(long = "base-btf", alias = "base_btf", value_name = "FILE")]
    pub base_btf: Option<PathBuf>,
    #[command(flatten)]
    pub out_args: OutputArgs,
}

pub(crate) fn run(args: Args, verbose: bool) -> anyhow::Result<()> {
    // Refuse early: converting a kernel takes a while.
    let inputs: Vec<&Path> = std::iter::once(args.source.as_path())
        .chain(args.system_map.as_deref())
        .chain(args.kallsyms.as_deref())
        .chain(args.base_btf.as_deref())
        .chain(args.banner_file.as_deref())
        .collect();
    check_output(&args.out, args.out_args.overwrite, &inputs)?;
    let kind = if args.from_image {
        Some(InputKind::MemoryImage)
    } else {
        args.converter.kind()
    };
    let input = match kind {
        Some(kind) => Input::with_kind(&args.source, kind)?,
        None => Input::detect(&args.source)?,
    };
    let mut options = args.out_args.compile_options();
    options.banner = args.banner.clone();
    options.banner_file = args.banner_file.clone();
    if !input.kind.is_profile() {
        options.system_map = args.system_map.clone();
        options.kallsyms = args.kallsyms.clone();
        options.base_btf = args.base_btf.clone();
    }
    let compiled = profile_compiler::compile(&input, &options)?;
    write_compiled(&compiled, &args.out, &args.out_args, verbose)
        .with_context(|| format!("writing {}", args.out.display()))
}
