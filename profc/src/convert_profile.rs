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
    #[value(alias = "elf", alias = "macho")]
    Dwarf,
    /// Rekall's Linux zip: `module_dwarf.ko` + `System.map-<version>` (+ `config-<version>`).
    #[value(name = "linux-zip")]
    LinuxZip,
    /// Rekall's name for its Linux converter, which reads Rekall's and
    /// Volatility 2's Linux zips: detected by content.
    #[value(name = "LinuxConverter")]
    RekallLinux,
    /// Rekall's name for its macOS converter (Volatility 2 Mac zips, DWARF):
    /// detected by content.
    #[value(name = "OSXConverter")]
    RekallOsx,
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
            Converter::Auto | Converter::RekallLinux | Converter::RekallOsx => return None,
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
    /// zip, a System.map, a PDB or a profile; or a directory holding an
    /// unpacked Rekall or Volatility 2 profile zip (as Rekall takes).
    pub source: PathBuf,
    /// Where to write the profile (gzipped unless the name ends in `.json`;
    /// `-`: standard output).
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
    // Rekall reads a directory as the zip it was unpacked from.
    let packed = if args.source.is_dir() {
        Some(pack_directory(&args.source)?)
    } else {
        None
    };
    let source = packed.as_ref().map_or(args.source.as_path(), |p| p.path());
    let input = match kind {
        Some(kind) => Input::with_kind(source, kind)?,
        None => Input::detect(source)?,
    };
    let mut options = args.out_args.compile_options();
    options.banner = args.banner.clone();
    options.banner_file = args.banner_file.clone();
    if !input.kind.is_profile() {
        options.system_map = args.system_map.clone();
        options.kallsyms = args.kallsyms.clone();
        options.base_btf = args.base_btf.clone();
    }
    let compiled = profile_compiler::compile(&input, &options).with_context(|| match &packed {
        Some(_) => format!(
            "{} (a directory, read as a zip of its files)",
            args.source.display()
        ),
        None => args.source.display().to_string(),
    })?;
    write_compiled(&compiled, &args.out, &args.out_args, verbose)
        .with_context(|| format!("writing {}", args.out.display()))
}

/// Packs the files under `dir` (relative names, sorted; stored, not
/// compressed) into a temporary zip, which the zip readers take.
fn pack_directory(dir: &Path) -> anyhow::Result<tempfile::NamedTempFile> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| d.display().to_string())? {
            let e = e.with_context(|| d.display().to_string())?;
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    if files.is_empty() {
        anyhow::bail!("{}: an empty directory", dir.display());
    }
    let tmp = tempfile::Builder::new()
        .prefix("profc-dir-")
        .suffix(".zip")
        .tempfile()
        .context("creating a temporary zip")?;
    let mut zip = zip::ZipWriter::new(tmp.reopen()?);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    for f in &files {
        let rel = f.strip_prefix(dir).unwrap_or(f);
        let name = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        zip.start_file(name, opts)?;
        let mut src = std::fs::File::open(f).with_context(|| f.display().to_string())?;
        std::io::copy(&mut src, &mut zip).with_context(|| f.display().to_string())?;
    }
    zip.finish()?;
    Ok(tmp)
}
