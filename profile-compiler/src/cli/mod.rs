//! Command-line interface of `profc`: clap argument structs and glue only.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use profile_runtime::{Profile, WriteMode};

mod build_local_profile;
mod convert_profile;
mod diff;
mod fetch_pdb;
mod gen_rust;
mod inspect;
mod parse_pdb;
mod peinfo;
pub mod repo;
mod version_scan;

/// Compiles debug information into memory-forensics profiles (Rekall format).
#[derive(Debug, Parser)]
#[command(name = "profc", version, about, long_about = None)]
pub struct Cli {
    /// Print every warning instead of a summary.
    #[arg(long, short, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build a profile from a Windows PDB file.
    #[command(name = "parse_pdb", alias = "parse-pdb")]
    ParsePdb(parse_pdb::Args),
    /// Build a profile from DWARF (a Linux kernel or module, a macOS kernel),
    /// a Rekall or Volatility 2 Linux zip, or a System.map.
    #[command(name = "convert_profile", alias = "convert-profile")]
    ConvertProfile(convert_profile::Args),
    /// Show a profile's metadata and section counts.
    Info(inspect::InfoArgs),
    /// Show the layout of one type of a profile, as Rekall's `dt` does.
    Dt(inspect::DtArgs),
    /// Show what changed between two profiles (types, members, enums, symbols).
    Diff(diff::Args),
    /// Write a profile (Rekall JSON or ISF) in another format.
    Export(ExportArgs),
    /// Show a PE file's headers, sections, CodeView (RSDS) record and version resource.
    Peinfo(peinfo::Args),
    /// Download a PDB from symbol servers, verify its GUID and age, and cache it.
    #[command(name = "fetch_pdb", alias = "fetch-pdb")]
    FetchPdb(fetch_pdb::Args),
    /// List the CodeView (RSDS) records found anywhere in a file (e.g. a memory image).
    #[command(name = "version_scan", alias = "version-scan")]
    VersionScan(version_scan::Args),
    /// Fetch the PDB of an executable, verify it and build its profile, in one step.
    #[command(name = "build_local_profile", alias = "build-local-profile")]
    BuildLocalProfile(build_local_profile::Args),
    /// Maintain profile repositories and look profiles up in them.
    Repo(repo::Args),
    /// Generate typed Rust accessors (static or dynamic offsets) from a profile.
    #[command(name = "gen_rust", alias = "gen-rust")]
    GenRust(gen_rust::Args),
}

/// Arguments of `export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The profile to read (Rekall JSON, gzipped or plain, or Volatility 3 ISF).
    pub input: PathBuf,
    /// Where to write.
    pub output: PathBuf,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Entry point of the binary: parses arguments, runs, prints a one-line
/// error on failure.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::ParsePdb(a) => parse_pdb::run(a, cli.verbose),
        Command::ConvertProfile(a) => convert_profile::run(a, cli.verbose),
        Command::Info(a) => inspect::info(a),
        Command::Dt(a) => inspect::dt(a),
        Command::Diff(a) => diff::run(a).map(|differs| {
            if differs {
                std::process::exit(1)
            }
        }),
        Command::Export(a) => export(a, cli.verbose),
        Command::Peinfo(a) => peinfo::run(a),
        Command::GenRust(a) => gen_rust::run(a),
        Command::FetchPdb(a) => fetch_pdb::run(a),
        Command::VersionScan(a) => version_scan::run(a),
        Command::BuildLocalProfile(a) => build_local_profile::run(a, cli.verbose),
        Command::Repo(a) => repo::run(a, cli.verbose),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the chain of causes joined, leaving out a cause
            // whose text the line already holds (an I/O error's source).
            let mut msg = String::new();
            for cause in e.chain() {
                let text = cause.to_string();
                if msg.contains(&text) {
                    continue;
                }
                if !msg.is_empty() {
                    msg.push_str(": ");
                }
                msg.push_str(&text);
            }
            eprintln!("profc: error: {}", msg.replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

/// Output options shared by every command that writes a profile.
#[derive(Debug, clap::Args)]
pub struct OutputArgs {
    /// Replace the output file if it exists.
    #[arg(long)]
    pub overwrite: bool,
    /// Leave out `$REVENUMS`.
    #[arg(long)]
    pub concise: bool,
    /// Override `$METADATA.ProfileClass`.
    #[arg(long = "profile_class", alias = "profile-class", value_name = "NAME")]
    pub profile_class: Option<String>,
    /// Output format: Rekall's profile JSON, or Volatility 3's ISF.
    #[arg(long, value_enum, default_value_t = Format::Rekall)]
    pub format: Format,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Rekall profile JSON (gzipped unless the name ends in `.json`).
    Rekall,
    /// Volatility 3 Intermediate Symbol Format (`.json`, `.json.gz` or `.json.xz`).
    Isf,
}

impl OutputArgs {
    /// The write mode these options ask for.
    pub fn mode(&self) -> WriteMode {
        if self.overwrite {
            WriteMode::Overwrite
        } else {
            WriteMode::CreateNew
        }
    }
}

/// Emits `ir` and writes the profile to `out` (gzipped unless it ends in
/// `.json`); reports warnings on stderr. `symbols`: the symbol sections when
/// the reader built them ahead ([`crate::emit::symbol_sections`]).
pub(crate) fn write_profile(
    ir: &crate::ir::Ir,
    symbols: Option<crate::emit::SymbolSections>,
    out: &Path,
    opts: &OutputArgs,
    verbose: bool,
) -> anyhow::Result<Profile> {
    write_profile_from(ir, symbols, out, opts, verbose, Vec::new())
}

/// [`write_profile`] naming the input files, whose sha256 an ISF output
/// records (Volatility 3's `metadata.linux.symbols/types`).
pub(crate) fn write_profile_from(
    ir: &crate::ir::Ir,
    symbols: Option<crate::emit::SymbolSections>,
    out: &Path,
    opts: &OutputArgs,
    verbose: bool,
    inputs: Vec<(&'static str, &Path)>,
) -> anyhow::Result<Profile> {
    let emitted = crate::emit::emit_with(
        ir,
        crate::emit::EmitOptions {
            concise: opts.concise,
        },
        symbols,
    );
    let mut profile = emitted.profile;
    if let Some(class) = &opts.profile_class {
        profile.set_metadata("ProfileClass", class.as_str());
    }
    report_warnings(&emitted.warnings, verbose);
    let mut sources = Vec::new();
    if opts.format == Format::Isf {
        for (kind, path) in inputs {
            let name = path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            sources.push((kind.to_owned(), name, sha256_file(path)?));
        }
    }
    let isf = crate::emit::isf::IsfOptions {
        unions: Some(emitted.unions),
        sources,
    };
    save_as(&profile, out, opts, &isf, verbose)?;
    Ok(profile)
}

/// Writes `profile` to `out` in the format `opts` asks for.
pub(crate) fn save_as(
    profile: &Profile,
    out: &Path,
    opts: &OutputArgs,
    isf: &crate::emit::isf::IsfOptions,
    verbose: bool,
) -> anyhow::Result<()> {
    match opts.format {
        Format::Rekall => profile.save(out, opts.mode())?,
        Format::Isf => {
            let doc = crate::emit::isf::to_isf(profile, isf);
            report_warnings(&doc.warnings, verbose);
            crate::emit::isf::save(&doc.json, out, opts.mode())?;
        }
    }
    Ok(())
}

/// Prints warnings: all of them with `--verbose`, else the first few and a count.
pub(crate) fn report_warnings(warnings: &[String], verbose: bool) {
    let shown = if verbose {
        warnings.len()
    } else {
        warnings.len().min(5)
    };
    for w in &warnings[..shown] {
        eprintln!("profc: warning: {w}");
    }
    if shown < warnings.len() {
        eprintln!(
            "profc: {} more warnings (use --verbose to see them)",
            warnings.len() - shown
        );
    }
}

/// The default output name for an input: `<stem>.json`... in the current
/// directory is not guessed; commands require or derive an explicit path.
pub(crate) fn default_output(input: &Path, extension: &str) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "profile".into());
    PathBuf::from(format!("{stem}.{extension}"))
}

/// Reads a profile in either format: Volatility 3 ISF (plain, gzip or xz) or
/// Rekall JSON (plain or gzip), told apart by content.
pub(crate) fn load_any_profile(path: &Path) -> anyhow::Result<Profile> {
    let bytes = std::fs::read(path).map_err(|source| crate::Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let bytes = crate::input::isf::decompress(bytes, path)?;
    if crate::input::isf::looks_like(&bytes) {
        let doc: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| crate::Error::input(path, format!("not valid JSON: {e}")))?;
        return Ok(crate::input::isf::from_json(&doc).map_err(|m| crate::Error::input(path, m))?);
    }
    Ok(Profile::from_bytes(bytes, &path.display().to_string())?)
}

fn export(args: ExportArgs, verbose: bool) -> anyhow::Result<()> {
    let mut profile = load_any_profile(&args.input)?;
    if let Some(class) = &args.out.profile_class {
        profile.set_metadata("ProfileClass", class.as_str());
    }
    if args.out.concise {
        profile.revenums = None;
    }
    save_as(
        &profile,
        &args.output,
        &args.out,
        &crate::emit::isf::IsfOptions::default(),
        verbose,
    )
}

/// Refuses an existing output (without `--overwrite`) and an output whose
/// folder does not exist, with one clear line each, before any slow work.
pub(crate) fn check_output(out: &Path, overwrite: bool) -> anyhow::Result<()> {
    if !overwrite && out.exists() {
        return Err(profile_runtime::Error::Exists(out.to_path_buf()).into());
    }
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        anyhow::bail!(
            "{}: cannot write here: {} is not an existing directory",
            out.display(),
            dir.display()
        );
    }
    Ok(())
}

/// The sha256 of a file, in lower-case hex, read in chunks.
fn sha256_file(path: &Path) -> anyhow::Result<String> {
    use sha2::Digest as _;
    use std::io::Read as _;
    let mut file = std::fs::File::open(path).map_err(|source| crate::Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|source| crate::Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}
