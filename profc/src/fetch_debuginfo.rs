//! `profc fetch_debuginfo` (a debuginfod client: Linux debug files by GNU
//! build id) and `profc build_linux_profile` (memory image -> build id ->
//! repository hit, or debuginfod -> compile -> added to the repository).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use profile_compiler::fetch::debuginfod::{self, Artifact, BuildId, Client, Fetched, Progress};
use profile_compiler::progress::Progress as _;
use profile_compiler::{Input, InputKind};
use profile_repository::matching::{candidates, KernelKey};
use profile_repository::{default_name, Naming, Repository};
use profile_runtime::{identify, Image};

use crate::cli::{report_notes, report_warnings};
use crate::progress::Bar;

/// Where to fetch from (shared by both commands).
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// A debuginfod server (repeatable, tried in order); default: the
    /// space-separated URLs of $DEBUGINFOD_URLS.
    #[arg(long = "server", value_name = "URL")]
    pub servers: Vec<String>,
    /// The debuginfod client cache (default: $DEBUGINFOD_CACHE_PATH, else
    /// $XDG_CACHE_HOME/debuginfod_client, shared with elfutils, gdb, drgn).
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
}

impl ServerArgs {
    /// elfutils' environment, then what the command line gives.
    fn options(&self) -> anyhow::Result<debuginfod::Options> {
        let mut o = debuginfod::Options::from_env()?;
        if !self.servers.is_empty() {
            o.servers = self.servers.clone();
        }
        if let Some(c) = &self.cache {
            o.cache = c.clone();
        }
        if o.servers.is_empty() {
            bail!("no debuginfod server: give --server URL or set DEBUGINFOD_URLS");
        }
        Ok(o)
    }
}

/// Arguments of `fetch_debuginfo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The GNU build id (hex), as `readelf -n`, VMCOREINFO's BUILD-ID or
    /// `profc identify` show it.
    #[arg(
        long = "build-id",
        value_name = "ID",
        required_unless_present = "vmlinux_of"
    )]
    pub build_id: Option<String>,
    /// Take the build id of the Linux kernel found in this memory image.
    #[arg(long = "vmlinux-of", value_name = "IMAGE", conflicts_with = "build_id")]
    pub vmlinux_of: Option<PathBuf>,
    /// Fetch the executable instead of the separate debug file.
    #[arg(long)]
    pub executable: bool,
    /// Also copy the file here.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Replace --output if it exists.
    #[arg(long)]
    pub overwrite: bool,
    #[command(flatten)]
    pub servers: ServerArgs,
}

/// The Linux kernel's build id in a memory image, with its banner.
fn kernel_of(image: &Path) -> anyhow::Result<(BuildId, Option<String>)> {
    let img = Image::open(image)?;
    let bar = Bar::new();
    let mut started = false;
    let what = format!("scanning {}", image.display());
    let id = identify::scan(&img, &mut |done, total| {
        if !started {
            bar.start(&what, Some(total));
            started = true;
        }
        bar.advance(done);
    });
    bar.finish();
    let k = id
        .kernels
        .iter()
        .find(|k| k.os == "linux" && k.build_id.is_some())
        .ok_or_else(|| {
            anyhow!(
                "{}: no Linux kernel build id found (no VMCOREINFO BUILD-ID or build-id note; see `profc identify`)",
                image.display()
            )
        })?;
    let hex = k.build_id.as_deref().unwrap_or_default();
    Ok((hex.parse()?, k.banner.clone()))
}

/// Fetches with a progress bar on a terminal; notes each retry and each
/// server given up.
fn fetch(opts: debuginfod::Options, id: &BuildId, artifact: Artifact) -> anyhow::Result<Fetched> {
    let client = Client::new(opts)?;
    let bar = Bar::new();
    let started = std::cell::Cell::new(false);
    let report = |p: Progress<'_>| match p {
        Progress::Download {
            url,
            received,
            total,
        } => {
            if !started.replace(true) {
                bar.start(&format!("downloading {url}"), total);
            }
            bar.advance(received);
        }
        Progress::Retry { url, cause, delay } => {
            bar.note(&format!("{url}: {cause}; retrying in {delay:?}"));
        }
        Progress::Failed(a) => bar.note(&format!("{a}")),
        Progress::Request { .. } | Progress::Verifying { .. } => {}
    };
    let r = client.fetch(id, artifact, &report);
    bar.finish();
    Ok(r?)
}

pub(crate) fn run(a: Args) -> anyhow::Result<()> {
    let mut opts = a.servers.options()?;
    let id: BuildId = match (&a.build_id, &a.vmlinux_of) {
        (Some(id), _) => id.parse()?,
        (None, Some(image)) => kernel_of(image)?.0,
        (None, None) => bail!("give --build-id ID or --vmlinux-of IMAGE"),
    };
    if let Some(out) = &a.output {
        crate::cli::check_output(out, a.overwrite, &[])?;
        opts.output = Some(out.clone());
    }
    let artifact = if a.executable {
        Artifact::Executable
    } else {
        Artifact::Debuginfo
    };
    let f = fetch(opts, &id, artifact)?;
    for failed in &f.failed {
        eprintln!("profc: note: {failed}");
    }
    let from = match &f.origin {
        debuginfod::Origin::Cache => "the cache".to_owned(),
        debuginfod::Origin::Server(u) => u.clone(),
    };
    eprintln!(
        "profc: {} of build-id {id} ({} bytes) from {from}{}",
        artifact,
        f.size,
        f.archive
            .as_deref()
            .map(|p| format!(", package {p}"))
            .unwrap_or_default()
    );
    crate::cli::print(&format!(
        "{}\n",
        f.output.as_deref().unwrap_or(&f.path).display()
    ))
}

/// Arguments of `build_linux_profile`.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The memory image (its kernel's build id names the profile).
    pub image: PathBuf,
    /// The local repository to look in and add to (created if missing).
    #[arg(long, value_name = "DIR")]
    pub repository: PathBuf,
    #[command(flatten)]
    pub servers: ServerArgs,
}

/// Image -> build id -> the repository's profile, or the debug vmlinux from
/// debuginfod compiled and added. Prints the profile's path.
pub(crate) fn build(a: BuildArgs, verbose: bool) -> anyhow::Result<()> {
    let (id, banner) = kernel_of(&a.image)?;
    let key = KernelKey {
        os: "linux".into(),
        banner: banner.clone(),
        build_id: Some(id.to_hex()),
        ..KernelKey::default()
    };
    let repo = Repository::create(&a.repository)?;
    if let Some(inv) = repo.inventory()? {
        let hit = candidates(&inv, &key, 0)
            .into_iter()
            .find(|c| c.matched.is_some());
        if let Some(c) = hit {
            eprintln!(
                "profc: {} is in {} (matched by build id or banner)",
                c.name,
                a.repository.display()
            );
            return crate::cli::print(&format!("{}\n", repo.file_of(&c.name)?.display()));
        }
    }
    let f = fetch(a.servers.options()?, &id, Artifact::Debuginfo)
        .with_context(|| format!("fetching the vmlinux of build-id {id}"))?;
    eprintln!("profc: compiling {}", f.path.display());
    let input = Input::with_kind(&f.path, InputKind::Dwarf)?;
    // The debug vmlinux has no System.map beside it: its own symbol table
    // gives the symbols; the image's banner stands in if it has none (a
    // separate debug file keeps no .rodata).
    let mut compiled = profile_compiler::compile(&input, &profile_compiler::Options::new())?;
    if compiled.profile.metadata_str("Banner").is_none() {
        if let Some(b) = &banner {
            compiled.profile.set_metadata("Banner", b.as_str());
        }
    }
    report_notes(&compiled);
    report_warnings(&compiled.warnings, verbose);
    match compiled.profile.metadata_str("BuildId") {
        Some(b) if b.eq_ignore_ascii_case(&id.to_hex()) => {}
        other => bail!(
            "{}: the compiled profile's build id is {other:?}, not {id}",
            f.path.display()
        ),
    }
    let name = default_name(&compiled.profile, Naming::Rekall, None, None)?;
    // A repository that publishes Volatility 3's view gets the compiler's
    // own ISF (typed symbols, known unions), as `repo add` hands over.
    let isf = match crate::repo::publishes_isf(&a.repository)? {
        true => Some(compiled.to_isf()?.json),
        false => None,
    };
    let w = repo.lock()?;
    w.put_profile(&name, &compiled.profile, false)?;
    if let Some(doc) = &isf {
        w.put_isf(&name, doc)?;
    }
    crate::repo::commit(w)?;
    eprintln!("profc: added {name} to {}", a.repository.display());
    crate::cli::print(&format!("{}\n", repo.file_of(&name)?.display()))
}
