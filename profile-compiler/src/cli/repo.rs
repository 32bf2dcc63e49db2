//! `profc repo ...`: maintain profile repositories and look profiles up.
//!
//! `add` and `build` go through one function, [`compile_input`], which
//! decides by content what an input is (a profile, a PDB, a Volatility 2 or
//! Linux zip, an ELF kernel, a PE executable) and runs the right reader and
//! the emitter.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use clap::{Subcommand, ValueEnum};
use profile_repository::build::{
    self, BuildOptions, Config, Outcome, Source, SourceKind, SourceResult,
};
use profile_repository::{
    default_name, describe_entry, input_stem, EntryExt, Layout, Location, Query, Repository,
    SearchPath,
};
use profile_runtime::{Profile, WriteMode};

/// Arguments of `repo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: RepoCommand,
}

#[derive(Debug, Subcommand)]
enum RepoCommand {
    /// Add profiles to a repository, from profiles or any compiler input
    /// (PDB, executable, Linux zip, vmlinux, Volatility 2 zip).
    Add(AddArgs),
    /// Give a profile another name (a symlink file).
    Symlink(SymlinkArgs),
    /// Remove profiles or symlinks.
    Remove(RemoveArgs),
    /// List a repository's profiles and symlinks.
    List(ListArgs),
    /// Search names and metadata for a text.
    Search(SearchArgs),
    /// Check every profile, symlink and the inventory; report each problem.
    Verify(VerifyArgs),
    /// Rebuild the inventory from the files.
    Inventory(InventoryArgs),
    /// Build a repository from a configuration file of sources.
    Build(BuildArgs),
    /// Look a profile up along a search path and write it out.
    Get(GetArgs),
}

/// `--layout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LayoutArg {
    /// `nt/GUID/<GUID_AGE>`, `Linux/<version>`, `OSX/<name>`.
    Rekall,
    /// `<image>/<arch>/<version>/<GUID_AGE>` for Windows modules.
    Readable,
}

impl From<LayoutArg> for Layout {
    fn from(l: LayoutArg) -> Layout {
        match l {
            LayoutArg::Rekall => Layout::Rekall,
            LayoutArg::Readable => Layout::Readable,
        }
    }
}

#[derive(Debug, clap::Args)]
struct AddArgs {
    /// The repository folder (created if missing).
    repo: PathBuf,
    /// Profiles (JSON or gzipped) or compiler inputs.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The profile's name in the repository (one input only); default
    /// derived from its metadata.
    #[arg(long)]
    name: Option<String>,
    /// Also create this symlink to the profile (repeatable; one input only).
    #[arg(long = "symlink", value_name = "NAME")]
    symlinks: Vec<String>,
    /// Naming scheme for derived names.
    #[arg(long, value_enum, default_value = "rekall")]
    layout: LayoutArg,
    /// The module's file version, for `--layout readable`.
    #[arg(long, value_name = "VERSION")]
    file_version: Option<String>,
    /// Record this Linux kernel banner in the profile's metadata (`Banner`),
    /// so it can be looked up by banner.
    #[arg(long)]
    banner: Option<String>,
    /// Replace existing entries.
    #[arg(long)]
    overwrite: bool,
}

#[derive(Debug, clap::Args)]
struct SymlinkArgs {
    /// The repository folder.
    repo: PathBuf,
    /// The new name.
    name: String,
    /// The profile (or symlink) it points to.
    target: String,
    /// Replace an existing entry of that name.
    #[arg(long)]
    overwrite: bool,
}

#[derive(Debug, clap::Args)]
struct RemoveArgs {
    /// The repository folder.
    repo: PathBuf,
    /// Names to remove.
    #[arg(required = true)]
    names: Vec<String>,
    /// Remove even when symlinks point to it (they are left dangling).
    #[arg(long)]
    force: bool,
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    /// The repository folder.
    repo: PathBuf,
    /// Show type, class, architecture, GUID and symlink targets.
    #[arg(long, short)]
    long: bool,
}

#[derive(Debug, clap::Args)]
struct SearchArgs {
    /// The repository folder.
    repo: PathBuf,
    /// Text to find (case-insensitive) in names and metadata values.
    text: String,
}

#[derive(Debug, clap::Args)]
struct VerifyArgs {
    /// The repository folder.
    repo: PathBuf,
}

#[derive(Debug, clap::Args)]
struct InventoryArgs {
    /// The repository folder.
    repo: PathBuf,
}

#[derive(Debug, clap::Args)]
struct BuildArgs {
    /// The repository folder (created if missing).
    repo: PathBuf,
    /// The configuration file (TOML; see docs/repository.md).
    config: PathBuf,
    /// Worker threads (default: one per core).
    #[arg(long, short)]
    jobs: Option<usize>,
    /// Rebuild every source even if unchanged.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, clap::Args)]
struct GetArgs {
    /// A profile name or symlink (`nt/GUID/...`, `Win7SP1x64`), a GUID_AGE,
    /// or a Linux banner (`Linux version ...`).
    query: Option<String>,
    /// Look up by GUID_AGE.
    #[arg(long, conflicts_with_all = ["query", "banner"])]
    guid: Option<String>,
    /// Look up a Linux profile by kernel banner.
    #[arg(long, conflicts_with_all = ["query"])]
    banner: Option<String>,
    /// A repository folder or HTTP(S) URL; repeatable, searched in order.
    #[arg(
        long = "repository-path",
        alias = "repository_path",
        value_name = "PATH_OR_URL",
        required = true
    )]
    repository_path: Vec<String>,
    /// Cache folder for remote repositories (default: $PROFC_CACHE_DIR,
    /// else $XDG_CACHE_HOME/profc, else ~/.cache/profc).
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    /// Use only the cache for remote repositories.
    #[arg(long)]
    offline: bool,
    /// Where to write the profile (gzipped unless the name ends in `.json`).
    #[arg(long, short)]
    output: PathBuf,
    /// Replace the output file if it exists.
    #[arg(long)]
    overwrite: bool,
}

pub(crate) fn run(args: Args, verbose: bool) -> anyhow::Result<()> {
    match args.command {
        RepoCommand::Add(a) => add(a, verbose),
        RepoCommand::Symlink(a) => {
            let repo = Repository::open(&a.repo)?;
            let w = repo.lock()?;
            w.put_symlink(&a.name, &a.target, a.overwrite)?;
            w.commit()?;
            println!("{} -> {}", a.name, a.target);
            Ok(())
        }
        RepoCommand::Remove(a) => {
            let repo = Repository::open(&a.repo)?;
            let w = repo.lock()?;
            for n in &a.names {
                w.remove(n, a.force)?;
                println!("removed {n}");
            }
            w.commit()?;
            Ok(())
        }
        RepoCommand::List(a) => list(&a.repo, None, a.long),
        RepoCommand::Search(a) => list(&a.repo, Some(&a.text), true),
        RepoCommand::Verify(a) => {
            let repo = Repository::open(&a.repo)?;
            let problems = repo.verify()?;
            for p in &problems {
                println!("{p}");
            }
            if problems.is_empty() {
                println!("{}: OK", a.repo.display());
                Ok(())
            } else {
                bail!("{}: {} problem(s) found", a.repo.display(), problems.len())
            }
        }
        RepoCommand::Inventory(a) => {
            let repo = Repository::open(&a.repo)?;
            let inv = repo.lock()?.commit()?;
            println!("{}: {} entries", a.repo.display(), inv.entries.len());
            Ok(())
        }
        RepoCommand::Build(a) => build_cmd(a, verbose),
        RepoCommand::Get(a) => get(a),
    }
}

// ---------------------------------------------------------------------------
// compile_input: any input -> profile
// ---------------------------------------------------------------------------

/// What an input file is, by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// A Rekall profile (JSON, or gzip).
    Profile,
    /// An MSF 7.00 PDB.
    Pdb,
    /// A Volatility 2 profile zip.
    Vol2Zip,
    /// Another zip: a Linux profile zip (Rekall's `convert_profile` input).
    LinuxZip,
    /// An ELF file (a vmlinux).
    Elf,
    /// A PE executable (`MZ`).
    Executable,
}

/// The PDB 7.00 (MSF) signature.
const PDB_MAGIC: &[u8] = b"Microsoft C/C++ MSF 7.00";

/// Decides what `path` is by its first bytes (and, for a zip, its member
/// names).
pub fn detect_input(path: &Path) -> anyhow::Result<InputKind> {
    let mut head = Vec::with_capacity(64);
    std::fs::File::open(path)
        .and_then(|f| f.take(64).read_to_end(&mut head))
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let first = head.iter().copied().find(|b| !b.is_ascii_whitespace());
    if head.starts_with(PDB_MAGIC) {
        Ok(InputKind::Pdb)
    } else if profile_runtime::is_gzip(&head) || first == Some(b'{') {
        Ok(InputKind::Profile)
    } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        let f = std::fs::File::open(path)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        let zip = zip::ZipArchive::new(f)
            .map_err(|e| anyhow!("{}: not a readable zip: {e}", path.display()))?;
        let names: Vec<String> = zip
            .file_names()
            .filter_map(|n| n.ok())
            .map(|n| n.into_owned())
            .collect();
        if crate::input::vol2::is_vol2_zip(&names) {
            Ok(InputKind::Vol2Zip)
        } else {
            Ok(InputKind::LinuxZip)
        }
    } else if head.starts_with(b"\x7fELF") {
        Ok(InputKind::Elf)
    } else if head.starts_with(b"MZ") {
        Ok(InputKind::Executable)
    } else {
        bail!(
            "{}: not a recognised input (expected a profile, a PDB, a zip, an ELF kernel or a PE executable)",
            path.display()
        )
    }
}

/// Compiles any input into a profile: a profile is read as it is; a PDB,
/// a Volatility 2 zip, a Linux zip, a vmlinux or an executable goes through
/// its reader and the emitter. Emitter warnings are discarded (see
/// [`compile_input_with`]).
pub fn compile_input(path: &Path) -> anyhow::Result<Profile> {
    compile_input_with(path, None, &mut Vec::new())
}

/// [`compile_input`] with a forced kind and the warnings collected.
pub fn compile_input_with(
    path: &Path,
    kind: Option<InputKind>,
    warnings: &mut Vec<String>,
) -> anyhow::Result<Profile> {
    let kind = match kind {
        Some(k) => k,
        None => detect_input(path)?,
    };
    let ir = match kind {
        InputKind::Profile => return Ok(Profile::load(path)?),
        InputKind::Pdb => crate::input::pdb::read_file(path)?,
        InputKind::Vol2Zip => crate::input::vol2::read_zip(path)?,
        InputKind::LinuxZip | InputKind::Elf => compile_linux(path)?,
        InputKind::Executable => compile_executable(path)?,
    };
    let emitted = crate::emit::emit(&ir, crate::emit::EmitOptions::default());
    warnings.extend(emitted.warnings);
    Ok(emitted.profile)
}

/// A Linux profile zip, a vmlinux or module (DWARF, or BTF when that is all
/// it has) -> IR, as `convert_profile` reads them.
fn compile_linux(path: &Path) -> anyhow::Result<crate::ir::Ir> {
    let mut ir =
        super::convert_profile::read_source(path, super::convert_profile::Converter::Auto)?;
    ir.metadata
        .entry("Type".into())
        .or_insert_with(|| crate::emit::meta("Profile"));
    ir.metadata
        .entry("ProfileClass".into())
        .or_insert_with(|| crate::emit::meta("Linux"));
    Ok(ir)
}

/// Symbol-server settings for repository builds: `_NT_SYMBOL_PATH` and the
/// defaults of `fetch_pdb`.
fn default_symbol_source() -> anyhow::Result<super::fetch_pdb::SourceArgs> {
    #[derive(clap::Parser)]
    struct Defaults {
        #[command(flatten)]
        source: super::fetch_pdb::SourceArgs,
    }
    use clap::Parser as _;
    Ok(Defaults::try_parse_from(["profc"])?.source)
}

/// A PE executable -> its RSDS record -> the PDB from the symbol server
/// (verified) -> IR.
fn compile_executable(path: &Path) -> anyhow::Result<crate::ir::Ir> {
    let (name, id) = super::fetch_pdb::key_from_executable(path)?;
    let got = super::fetch_pdb::fetch_one(&default_symbol_source()?, &name, &id)?;
    Ok(crate::input::pdb::read_file(&got.path)?)
}

/// A PDB named by file name and GUID_AGE, fetched from the symbol server
/// (verified) -> IR.
fn compile_guid(pdb: &str, guid: &str) -> anyhow::Result<crate::ir::Ir> {
    let id = crate::fetch::codeview::PdbId::parse_key(guid)
        .ok_or_else(|| anyhow!("{pdb}/{guid}: not a GUID_AGE key (32 hex digits and the age)"))?;
    let got = super::fetch_pdb::fetch_one(&default_symbol_source()?, pdb, &id)?;
    Ok(crate::input::pdb::read_file(&got.path)?)
}

/// Compiles one build source.
fn compile_source(s: &Source) -> anyhow::Result<Profile> {
    if s.kind == SourceKind::Guid {
        let (Some(pdb), Some(guid)) = (&s.pdb, &s.guid) else {
            bail!("{}: a guid source needs pdb and guid", s.key)
        };
        let ir = compile_guid(pdb, guid)?;
        return Ok(crate::emit::emit(&ir, crate::emit::EmitOptions::default()).profile);
    }
    let path = s
        .path
        .as_deref()
        .ok_or_else(|| anyhow!("{}: no path", s.key))?;
    let kind = match s.kind {
        SourceKind::Auto => None,
        SourceKind::Profile => Some(InputKind::Profile),
        SourceKind::Pdb => Some(InputKind::Pdb),
        SourceKind::Executable => Some(InputKind::Executable),
        SourceKind::Vol2 => Some(InputKind::Vol2Zip),
        SourceKind::Linux => match detect_input(path)? {
            InputKind::Elf => Some(InputKind::Elf),
            _ => Some(InputKind::LinuxZip),
        },
        SourceKind::Guid => None,
    };
    compile_input_with(path, kind, &mut Vec::new())
}

// ---------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------

fn add(a: AddArgs, verbose: bool) -> anyhow::Result<()> {
    if a.inputs.len() > 1 && (a.name.is_some() || !a.symlinks.is_empty()) {
        bail!("--name and --symlink need a single input");
    }
    // Compile everything first (slow, no lock held); write nothing unless
    // every input converts.
    let mut staged = Vec::new();
    for input in &a.inputs {
        let mut warnings = Vec::new();
        let mut profile = compile_input_with(input, None, &mut warnings)?;
        super::report_warnings(&warnings, verbose);
        if let Some(b) = &a.banner {
            profile.set_metadata("Banner", b.as_str());
        }
        let name = match &a.name {
            Some(n) => profile_repository::validate_name(n)?,
            None => {
                let stem = input.file_name().map(|n| input_stem(&n.to_string_lossy()));
                default_name(
                    &profile,
                    a.layout.into(),
                    stem.as_deref(),
                    a.file_version.as_deref(),
                )
                .with_context(|| input.display().to_string())?
            }
        };
        staged.push((input, name, profile));
    }
    let repo = Repository::create(&a.repo)?;
    let w = repo.lock()?;
    for (input, name, profile) in &staged {
        w.put_profile(name, profile, a.overwrite)?;
        println!("added {name} (from {})", input.display());
        for l in &a.symlinks {
            w.put_symlink(l, name, a.overwrite)?;
            println!("added {l} -> {name}");
        }
    }
    w.commit()?;
    Ok(())
}

fn list(path: &Path, text: Option<&str>, long: bool) -> anyhow::Result<()> {
    let repo = Repository::open(path)?;
    let inv = match repo.inventory()? {
        Some(i) => i,
        None => {
            eprintln!(
                "profc: note: {} has no inventory; listing files (run `profc repo inventory`)",
                path.display()
            );
            let mut i = profile_repository::Inventory::default();
            for n in repo.list_files()? {
                i.entries.insert(n, Default::default());
            }
            i
        }
    };
    let needle = text.map(str::to_lowercase);
    for (name, entry) in &inv.entries {
        if let Some(t) = &needle {
            let hit = name.to_lowercase().contains(t)
                || entry
                    .values()
                    .any(|v| v.as_str().is_some_and(|s| s.to_lowercase().contains(t)));
            if !hit {
                continue;
            }
        }
        if long {
            println!("{name}  {}", describe_entry(entry));
        } else if entry.kind() == Some("Symlink") {
            println!("{name} -> {}", entry.target().unwrap_or("?"));
        } else {
            println!("{name}");
        }
    }
    Ok(())
}

fn build_cmd(a: BuildArgs, verbose: bool) -> anyhow::Result<()> {
    let config = Config::load(&a.config)?;
    let sources = config.expand(&a.config)?;
    let repo = Repository::create(&a.repo)?;
    let options = BuildOptions {
        layout: config.layout.into(),
        jobs: a.jobs,
        force: a.force,
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(sources.len() as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} {msg}",
        ) {
            b.set_style(style.progress_chars("=> "));
        }
        b
    });
    let progress = |r: &SourceResult| {
        let line = match &r.outcome {
            Outcome::Built(n) => format!("built {n} from {}", r.key),
            Outcome::Unchanged(n) => format!("unchanged {n} ({})", r.key),
            Outcome::Failed(e) => format!("FAILED {}: {e}", r.key),
        };
        match &bar {
            Some(b) => {
                if verbose || matches!(r.outcome, Outcome::Failed(_)) {
                    b.println(&line);
                }
                b.set_message(r.key.rsplit('/').next().unwrap_or("").to_owned());
                b.inc(1);
            }
            None => eprintln!("{line}"),
        }
    };
    let compile = |s: &Source| {
        compile_source(s).map_err(|e| {
            e.chain()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(": ")
        })
    };
    let report = build::build(&repo, &sources, options, &compile, &progress)?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let (built, unchanged, failed) = report.counts();
    println!(
        "{}: {built} built, {unchanged} unchanged, {failed} failed",
        a.repo.display()
    );
    if failed > 0 {
        for r in &report.results {
            if let Outcome::Failed(e) = &r.outcome {
                println!("failed: {}: {e}", r.key);
            }
        }
        bail!(
            "{failed} of {} sources failed (recorded in {}/{})",
            report.results.len(),
            a.repo.display(),
            build::STATE_FILE
        );
    }
    Ok(())
}

/// The default cache folder.
fn default_cache() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("PROFC_CACHE_DIR")
        .or_else(|| env("XDG_CACHE_HOME").map(|p| p.join("profc")))
        .or_else(|| env("HOME").map(|p| p.join(".cache").join("profc")))
}

fn get(a: GetArgs) -> anyhow::Result<()> {
    let locations: Vec<Location> = a
        .repository_path
        .iter()
        .map(|s| Location::parse(s))
        .collect();
    let cache = a.cache.clone().or_else(default_cache);
    let search = SearchPath::new(locations, cache).offline(a.offline);
    let found = match (&a.query, &a.guid, &a.banner) {
        (_, Some(g), _) => search.find(&Query::GuidAge(g.clone()))?,
        (_, _, Some(b)) => search.find(&Query::Banner(b.clone()))?,
        (Some(q), _, _) => search.find_text(q)?,
        (None, None, None) => bail!("give a profile name, --guid or --banner"),
    };
    for n in &found.notes {
        eprintln!("profc: note: {n}");
    }
    let mode = if a.overwrite {
        WriteMode::Overwrite
    } else {
        WriteMode::CreateNew
    };
    found.profile.save(&a.output, mode)?;
    let whence = match (&found.location, found.from_cache) {
        (Location::Remote(u), true) => format!("{u} (from the cache)"),
        (Location::Remote(u), false) => format!("{u} (downloaded)"),
        (Location::Local(p), _) => p.display().to_string(),
    };
    eprintln!(
        "profc: {} found in {whence}; written to {}",
        found.name,
        a.output.display()
    );
    Ok(())
}
