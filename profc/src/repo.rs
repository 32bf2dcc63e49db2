//! `profc repo ...`: maintain profile repositories and look profiles up.
//!
//! `add` and `build` compile their inputs with the compiler's one pipeline
//! (`profile_compiler::compile`): every input `convert_profile` takes, they
//! take.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use clap::{Subcommand, ValueEnum};
use profile_compiler::{Compiled, Input, InputKind};
use profile_repository::build::{
    self, BuildOptions, BuildSource, Built, Config, Outcome, SourceResult,
};
use profile_repository::isf_view::ViewState;
use profile_repository::{
    default_name, input_stem, EntryExt, Location, Naming, Query, Repository, SearchPath,
};
use profile_runtime::{Profile, WriteMode};

use crate::outln;

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
    /// Publish (or withdraw) Volatility 3's remote-ISF view of the
    /// repository: `isf/<name>.json.xz` and `banners.json`, for `vol
    /// --remote-isf-url BASE/banners.json`; kept up to date by every later
    /// change.
    #[command(name = "publish-isf", alias = "publish_isf")]
    PublishIsf(PublishIsfArgs),
}

#[derive(Debug, clap::Args)]
struct PublishIsfArgs {
    /// The repository folder.
    repo: PathBuf,
    /// The URL the repository folder is served at (`http://host:8000/repo/`):
    /// Volatility 3 needs absolute URLs in banners.json. Needed the first
    /// time; later runs keep the recorded one unless given.
    #[arg(long = "base-url", alias = "base_url", value_name = "URL")]
    base_url: Option<String>,
    /// Remove the view (its ISF files, banners.json) and stop keeping it.
    #[arg(long, conflicts_with = "base_url")]
    withdraw: bool,
}

/// `--layout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum NamingArg {
    /// `nt/GUID/<GUID_AGE>`, `Linux/<version>`, `OSX/<name>`.
    Rekall,
    /// `<image>/<arch>/<version>/<GUID_AGE>` for Windows modules.
    Readable,
}

impl From<NamingArg> for Naming {
    fn from(l: NamingArg) -> Naming {
        match l {
            NamingArg::Rekall => Naming::Rekall,
            NamingArg::Readable => Naming::Readable,
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
    layout: NamingArg,
    /// The module's file version, for `--layout readable`.
    #[arg(long, value_name = "VERSION")]
    file_version: Option<String>,
    /// Record this Linux kernel banner in the profile's metadata (`Banner`),
    /// so it can be looked up by banner.
    #[arg(long, conflicts_with = "banner_file")]
    banner: Option<String>,
    /// Read the banner from this file (`/proc/version`, or the first
    /// `Linux version ...` string in it).
    #[arg(long = "banner-file", alias = "banner_file", value_name = "FILE")]
    banner_file: Option<PathBuf>,
    /// A System.map whose symbols replace the input's own (Linux inputs).
    #[arg(long = "system-map", alias = "system_map", value_name = "FILE")]
    system_map: Option<PathBuf>,
    /// Replace existing entries.
    #[arg(long)]
    overwrite: bool,
    /// Add a profile even when records of a damaged input (PDB) could not
    /// be read and were dropped (without it: an error saying which).
    #[arg(long)]
    partial: bool,
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
            commit(w)?;
            outln!("{} -> {}", a.name, a.target)
        }
        RepoCommand::Remove(a) => {
            let repo = Repository::open(&a.repo)?;
            let w = repo.lock()?;
            for n in &a.names {
                w.remove(n, a.force)?;
                outln!("removed {n}")?;
            }
            commit(w)?;
            Ok(())
        }
        RepoCommand::List(a) => list(&a.repo, None, a.long).map(drop),
        RepoCommand::Search(a) => {
            // Like grep: status 1 when nothing matches.
            if list(&a.repo, Some(&a.text), true)? == 0 {
                eprintln!("profc: no profile matches {:?}", a.text);
                std::process::exit(1);
            }
            Ok(())
        }
        RepoCommand::Verify(a) => {
            let repo = Repository::open(&a.repo)?;
            let problems = repo.verify()?;
            for p in &problems {
                outln!("{p}")?;
            }
            if problems.is_empty() {
                outln!("{}: OK", a.repo.display())
            } else {
                bail!("{}: {} problem(s) found", a.repo.display(), problems.len())
            }
        }
        RepoCommand::Inventory(a) => {
            let repo = Repository::open(&a.repo)?;
            let inv = commit(repo.lock()?)?;
            outln!("{}: {} entries", a.repo.display(), inv.entries.len())
        }
        RepoCommand::Build(a) => build_cmd(a, verbose),
        RepoCommand::Get(a) => get(a),
        RepoCommand::PublishIsf(a) => publish_isf(a),
    }
}

// ---------------------------------------------------------------------------
// The ISF view
// ---------------------------------------------------------------------------

/// The ISF of a profile stored in the repository (for the ISF view of
/// profiles stored before it was published, or copied in by hand): the
/// Rekall form has no symbol types, and unions are guessed from the layout.
fn isf_of_stored(_name: &str, profile: &Profile) -> Result<serde_json::Value, build::BoxError> {
    let compiled = Compiled {
        profile: profile.clone(),
        unions: None,
        symbol_types: Default::default(),
        warnings: Vec::new(),
        notes: Vec::new(),
        kind: InputKind::RekallProfile,
        sources: Vec::new(),
    };
    Ok(compiled.to_isf()?.json)
}

/// Commits, bringing the ISF view up to date (converting stored profiles
/// it lacks); prints its notes.
pub(crate) fn commit(
    w: profile_repository::WriteGuard<'_>,
) -> anyhow::Result<profile_repository::Inventory> {
    let done = w.commit_with(Some(&isf_of_stored))?;
    print_view_notes(&done.notes);
    Ok(done.inventory)
}

fn print_view_notes(notes: &[String]) {
    for n in notes {
        eprintln!("profc: note: {n}");
    }
}

/// Whether the repository at `root` publishes an ISF view.
pub(crate) fn publishes_isf(root: &Path) -> anyhow::Result<bool> {
    Ok(ViewState::load(root)?.is_some())
}

fn publish_isf(a: PublishIsfArgs) -> anyhow::Result<()> {
    let repo = match a.withdraw {
        true => Repository::open(&a.repo)?,
        false => Repository::create(&a.repo)?,
    };
    let w = repo.lock()?;
    if a.withdraw {
        w.set_isf_view(None)?;
        commit(w)?;
        return outln!("{}: ISF view withdrawn", a.repo.display());
    }
    let url = match (&a.base_url, ViewState::load(repo.root())?) {
        (Some(u), _) => u.clone(),
        (None, Some(v)) => v.base_url,
        (None, None) => bail!(
            "{}: no ISF view yet: give --base-url (the URL the repository folder is served at)",
            a.repo.display()
        ),
    };
    w.set_isf_view(Some(&url))?;
    let done = w.commit_with(Some(&isf_of_stored))?;
    print_view_notes(&done.notes);
    let Some(view) = done.isf_view else {
        bail!("{}: the ISF view was not written", a.repo.display())
    };
    let count = |os: &str| {
        view.entries
            .values()
            .filter(|e| e.os.as_deref() == Some(os))
            .count()
    };
    let rekall = view.entries.values().filter(|e| e.from_rekall).count();
    outln!(
        "{}: ISF view at {}{}: {} profiles ({} linux, {} mac, {} windows){}",
        a.repo.display(),
        view.base_url,
        profile_repository::isf_view::BANNERS_FILE,
        view.entries.len(),
        count("linux"),
        count("mac"),
        count("windows"),
        if rekall > 0 {
            format!(
                "; {rekall} converted from their stored Rekall form (no symbol types: re-add them from their inputs)"
            )
        } else {
            String::new()
        }
    )
}

// ---------------------------------------------------------------------------
// Compiling inputs and build sources
// ---------------------------------------------------------------------------

/// The input kinds a build configuration's `kind = "linux"` accepts.
const LINUX_KINDS: [InputKind; 5] = [
    InputKind::Dwarf,
    InputKind::Btf,
    InputKind::LinuxZip,
    InputKind::SystemMap,
    InputKind::Vol2Zip,
];

/// The input a build source names: `auto` detects, `linux` detects a Linux
/// input, any other kind is forced.
fn source_input(path: &Path, kind: &str) -> anyhow::Result<Input> {
    if kind.eq_ignore_ascii_case(build::AUTO_KIND) {
        return Ok(Input::detect(path)?);
    }
    if kind.eq_ignore_ascii_case("linux") {
        let input = Input::detect(path)?;
        if !LINUX_KINDS.contains(&input.kind) {
            bail!(
                "{}: is {}, not a Linux input",
                path.display(),
                input.kind.describe()
            );
        }
        return Ok(input);
    }
    Ok(Input::with_kind(path, kind.parse::<InputKind>()?)?)
}

/// Compiles one build source.
fn compile_source(s: &BuildSource) -> anyhow::Result<Compiled> {
    if s.kind.eq_ignore_ascii_case(build::GUID_KIND) {
        let (Some(pdb), Some(guid)) = (&s.pdb, &s.guid) else {
            bail!("{}: a guid source needs pdb and guid", s.key)
        };
        let id = profile_compiler::codeview::PdbId::parse_key(guid).ok_or_else(|| {
            anyhow!("{pdb}/{guid}: not a GUID_AGE key (32 hex digits and the age)")
        })?;
        let fetcher = profile_compiler::fetch::Fetcher::new(
            profile_compiler::fetch::FetchOptions::from_env()?,
        )?;
        let got = fetcher.fetch(pdb, &id)?;
        let input = Input::with_kind(&got.path, InputKind::Pdb)?;
        return Ok(profile_compiler::compile(
            &input,
            &profile_compiler::Options::new(),
        )?);
    }
    let path = s
        .path
        .as_deref()
        .ok_or_else(|| anyhow!("{}: no path", s.key))?;
    let input = source_input(path, &s.kind)?;
    Ok(profile_compiler::compile(
        &input,
        &profile_compiler::Options::new(),
    )?)
}

/// A build converter error: the anyhow chain, as one error.
#[derive(Debug)]
struct SourceError(String);

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SourceError {}

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
    let mut options = profile_compiler::Options::new();
    options.banner = a.banner.clone();
    options.banner_file = a.banner_file.clone();
    options.partial = a.partial;
    options.system_map = a.system_map.clone();
    let isf_view = publishes_isf(&a.repo).unwrap_or(false);
    for input in &a.inputs {
        let compiled = profile_compiler::compile(&Input::detect(input)?, &options)?;
        crate::cli::report_notes(&compiled);
        crate::cli::report_warnings(&compiled.warnings, verbose);
        // The ISF from the compiler's output (symbol types, unions), not
        // from the stored Rekall form.
        let isf = match isf_view {
            true => Some(compiled.to_isf()?.json),
            false => None,
        };
        let profile = compiled.profile;
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
        staged.push((input, name, profile, isf));
    }
    let repo = Repository::create(&a.repo)?;
    let w = repo.lock()?;
    for (input, name, profile, isf) in &staged {
        w.put_profile(name, profile, a.overwrite)?;
        if let Some(doc) = isf {
            w.put_isf(name, doc)?;
        }
        outln!("added {name} (from {})", input.display())?;
        for l in &a.symlinks {
            w.put_symlink(l, name, a.overwrite)?;
            outln!("added {l} -> {name}")?;
        }
    }
    commit(w)?;
    Ok(())
}

/// Lists (or searches) a repository's profiles; returns how many it listed.
/// `long`: one aligned column per field (kind, class, arch, GUID, PDB,
/// banner; `-` where an entry has none).
fn list(path: &Path, text: Option<&str>, long: bool) -> anyhow::Result<usize> {
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
    let mut rows: Vec<Vec<String>> = Vec::new();
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
            rows.push(long_row(name, entry));
        } else if entry.kind() == Some("Symlink") {
            outln!("{name} -> {}", entry.target().unwrap_or("?"))?;
        } else {
            outln!("{name}")?;
        }
        if !long {
            rows.push(Vec::new());
        }
    }
    if !long {
        return Ok(rows.len());
    }
    let header: Vec<String> = [
        "Name",
        "Kind",
        "ProfileClass",
        "Arch",
        "GUID_AGE",
        "PDBFile",
        "Banner",
    ]
    .iter()
    .map(|h| (*h).to_owned())
    .collect();
    let n = rows.len();
    if n > 0 {
        let all: Vec<&Vec<String>> = std::iter::once(&header).chain(&rows).collect();
        let widths: Vec<usize> = (0..header.len())
            .map(|i| all.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        for r in all {
            let mut line = String::new();
            for (i, cell) in r.iter().enumerate() {
                if i + 1 == r.len() {
                    line.push_str(cell);
                } else {
                    let pad = widths[i] - cell.chars().count();
                    line.push_str(cell);
                    line.push_str(&" ".repeat(pad + 2));
                }
            }
            outln!("{}", line.trim_end())?;
        }
    }
    Ok(n)
}

/// One row of `repo list --long`.
fn long_row(name: &str, entry: &profile_repository::Entry) -> Vec<String> {
    let get = |k: &str| {
        entry.get(k).map(|v| {
            v.as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string())
        })
    };
    let kind = match entry.kind() {
        Some("Symlink") => format!("-> {}", entry.target().unwrap_or("?")),
        Some(k) => k.to_owned(),
        None => "-".to_owned(),
    };
    let banner = profile_repository::layout::BANNER_KEYS
        .iter()
        .find_map(|k| entry.get(*k).and_then(|v| v.as_str()))
        .map(|b| format!("{b:?}"));
    let mut row = vec![name.to_owned(), kind];
    for k in ["ProfileClass", "arch", "GUID_AGE", "PDBFile"] {
        row.push(get(k).unwrap_or_else(|| "-".to_owned()));
    }
    row.push(banner.unwrap_or_else(|| "-".to_owned()));
    row
}

fn build_cmd(a: BuildArgs, verbose: bool) -> anyhow::Result<()> {
    let config = Config::load(&a.config)?;
    let sources = config.expand(&a.config)?;
    let repo = Repository::create(&a.repo)?;
    let options = BuildOptions {
        layout: config.layout,
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
    let isf_view = publishes_isf(repo.root())?;
    let compile = |s: &BuildSource| -> Result<Built, build::BoxError> {
        let made = compile_source(s).and_then(|c| {
            let isf = match isf_view {
                true => Some(c.to_isf()?.json),
                false => None,
            };
            Ok(Built {
                profile: c.profile,
                isf,
            })
        });
        made.map_err(|e| -> build::BoxError { Box::new(SourceError(crate::cli::one_line(&e))) })
    };
    let report = build::build_with(
        &repo,
        &sources,
        options,
        &compile,
        &progress,
        Some(&isf_of_stored),
    )?;
    print_view_notes(&report.notes);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let (built, unchanged, failed) = report.counts();
    outln!(
        "{}: {built} built, {unchanged} unchanged, {failed} failed",
        a.repo.display()
    )?;
    if failed > 0 {
        for r in &report.results {
            if let Outcome::Failed(e) = &r.outcome {
                outln!("failed: {}: {e}", r.key)?;
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

fn get(a: GetArgs) -> anyhow::Result<()> {
    let locations: Vec<Location> = a
        .repository_path
        .iter()
        .map(|s| Location::parse(s))
        .collect();
    let cache = a
        .cache
        .clone()
        .or_else(profile_repository::default_cache_dir);
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
