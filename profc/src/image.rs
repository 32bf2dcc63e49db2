//! `profc identify`, `pslist`, `lsmod` and `check`: memory images, through
//! `profile_runtime` (image formats, kernel location, the lists) and
//! `profile_repository::matching` (which stored profile fits).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use profile_compiler::progress::Progress;
use profile_repository::matching::{candidates, Candidate, KernelKey};
use profile_repository::{Location, SearchPath};
use profile_runtime::identify::{self, Identification, KernelId};
use profile_runtime::linux::{self, Hints, LinuxKernel};
use profile_runtime::procs::{kernel_space, processes, Os};
use profile_runtime::{parse_number, Image, LazyProfile, Paging, Radix, Session};
use serde::Serialize;
use serde_json::{json, Value};

use crate::cli::print;
use crate::progress::Bar;

/// Candidates shown per kernel when no profile matches.
const NEAREST: usize = 3;

/// Where to look profiles up.
#[derive(Debug, Clone, clap::Args)]
pub struct RepoArgs {
    /// A profile repository (folder or HTTP(S) URL); repeatable, searched
    /// in order.
    #[arg(
        long = "repository",
        visible_alias = "repository-path",
        alias = "repository_path",
        value_name = "PATH_OR_URL"
    )]
    pub repository: Vec<String>,
    /// Cache folder for remote repositories (default: $PROFC_CACHE_DIR,
    /// else $XDG_CACHE_HOME/profc, else ~/.cache/profc).
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// Use only the cache for remote repositories.
    #[arg(long)]
    pub offline: bool,
}

/// Values that override what is found in the image. Numbers are read as
/// VMCOREINFO prints them: `0x` hex, `-` decimal (two's complement), bare
/// digits hex (decimal for `--phys-base`, as `NUMBER(phys_base)`), a hex
/// letter making any of them hex.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct HintArgs {
    /// The kernel's page-table root (CR3 / TTBR1).
    #[arg(long, value_name = "N", value_parser = hex_number)]
    pub dtb: Option<u64>,
    /// The KASLR shift (Linux, macOS).
    #[arg(long, value_name = "N", value_parser = hex_number)]
    pub shift: Option<u64>,
    /// x86-64 `phys_base` (Linux).
    #[arg(long = "phys-base", alias = "phys_base", value_name = "N", value_parser = decimal_number)]
    pub phys_base: Option<u64>,
    /// arm64 `kimage_voffset` (Linux).
    #[arg(long = "kimage-voffset", value_name = "N", value_parser = hex_number)]
    pub kimage_voffset: Option<u64>,
    /// Paging: amd64, amd64-la57, aarch64-48, pae, x86.
    #[arg(long, value_name = "MODE", value_parser = paging)]
    pub paging: Option<Paging>,
    /// Physical address of a raw image's first byte (arm64 RAM above 0).
    #[arg(long = "raw-base", value_name = "N", value_parser = hex_number)]
    pub raw_base: Option<u64>,
    /// The Windows kernel image base (Windows lists need it and --dtb).
    #[arg(long = "image-base", value_name = "N", value_parser = hex_number)]
    pub image_base: Option<u64>,
}

fn number(s: &str, radix: Radix) -> Result<u64, String> {
    parse_number(s, radix).ok_or_else(|| format!("{s:?} is not a number"))
}
fn hex_number(s: &str) -> Result<u64, String> {
    number(s, Radix::Hex)
}
fn decimal_number(s: &str) -> Result<u64, String> {
    number(s, Radix::Decimal)
}
fn paging(s: &str) -> Result<Paging, String> {
    s.parse::<Paging>().map_err(|e| e.to_string())
}

impl HintArgs {
    fn hints(&self) -> Hints {
        Hints {
            dtb: self.dtb,
            shift: self.shift,
            phys_base: self.phys_base,
            kimage_voffset: self.kimage_voffset,
            paging: self.paging,
            raw_base: self.raw_base,
        }
    }
}

/// Arguments of `identify`.
#[derive(Debug, clap::Args)]
pub struct IdentifyArgs {
    /// The memory image (raw, LiME, ELF core, kdump; detected by content).
    pub image: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub repo: RepoArgs,
}

/// Arguments of `pslist` and `lsmod`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// The memory image.
    pub image: PathBuf,
    /// The profile (Rekall or ISF; gzipped or plain).
    #[arg(long, short, conflicts_with = "repository")]
    pub profile: Option<PathBuf>,
    #[command(flatten)]
    pub repo: RepoArgs,
    #[command(flatten)]
    pub hints: HintArgs,
    /// Every thread, not only thread-group leaders (pslist, Linux).
    #[arg(long)]
    pub threads: bool,
    /// Print JSON (an array of objects).
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The memory image.
    pub image: PathBuf,
    /// The profile to check (Rekall or ISF).
    pub profile: PathBuf,
    #[command(flatten)]
    pub hints: HintArgs,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

fn open_image(path: &Path) -> anyhow::Result<Image> {
    Ok(Image::open(path)?)
}

/// Searches the image for kernels, with a progress bar on a terminal.
fn scan(image: &Image) -> Identification {
    let bar = Bar::new();
    let mut started = false;
    let what = format!("scanning {}", image.name());
    let id = identify::scan(image, &mut |done, total| {
        if !started {
            bar.start(&what, Some(total));
            started = true;
        }
        bar.advance(done);
    });
    bar.finish();
    id
}

/// A profile from a file: Rekall profiles are opened lazily, ISF (and
/// anything else `profc` reads as a profile) through the converter.
fn open_profile(path: &Path) -> anyhow::Result<Session> {
    match Session::open(path) {
        Ok(s) => Ok(s),
        Err(first) => match profile_compiler::load_profile_file(path) {
            Ok(c) => Ok(Session::new(Arc::new(LazyProfile::from_profile(
                &c.profile,
            )?))),
            Err(_) => Err(first.into()),
        },
    }
}

fn key_of(k: &KernelId) -> KernelKey {
    KernelKey {
        os: k.os.to_owned(),
        banner: k.banner.clone(),
        build_id: k.build_id.clone(),
        pdb_name: k.codeview.as_ref().map(|c| c.pdb_name.clone()),
        guid_age: k.codeview.as_ref().map(|c| c.pdb_id.clone()),
    }
}

/// A candidate and the location that holds it.
#[derive(Debug, Clone, Serialize)]
struct Placed {
    location: String,
    #[serde(flatten)]
    candidate: Candidate,
}

fn describe(loc: &Location) -> String {
    match loc {
        Location::Local(p) => p.display().to_string(),
        Location::Remote(u) => u.clone(),
    }
}

/// The profiles of the search path for one kernel: the exact matches of
/// the first location that has any, else the nearest of all locations.
fn match_kernel(search: &SearchPath, k: &KernelId, notes: &mut Vec<String>) -> Vec<Placed> {
    let key = key_of(k);
    let mut near = Vec::new();
    for loc in search.locations() {
        let inv = match search.inventory_of(loc) {
            Ok(Some(inv)) => inv,
            Ok(None) => {
                notes.push(format!("{}: nothing to search", describe(loc)));
                continue;
            }
            Err(e) => {
                notes.push(format!("{}: {e}", describe(loc)));
                continue;
            }
        };
        let found = candidates(&inv, &key, NEAREST);
        let placed = found.into_iter().map(|candidate| Placed {
            location: describe(loc),
            candidate,
        });
        let placed: Vec<Placed> = placed.collect();
        if placed.iter().any(|p| p.candidate.matched.is_some()) {
            return placed;
        }
        near.extend(placed);
    }
    near.sort_by_key(|p| std::cmp::Reverse(p.candidate.score));
    near.truncate(NEAREST);
    near
}

fn search_path(r: &RepoArgs) -> SearchPath {
    let locations = r.repository.iter().map(|s| Location::parse(s)).collect();
    let cache = r
        .cache
        .clone()
        .or_else(profile_repository::default_cache_dir);
    SearchPath::new(locations, cache).offline(r.offline)
}

fn hex(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:#x}"))
}

fn kernel_text(s: &mut String, k: &KernelId) {
    let _ = writeln!(s, "kernel  {} ({})", k.os, kind_name(k));
    let mut row = |what: &str, v: &str| {
        let _ = writeln!(s, "  {what:<15} {v}");
    };
    if let Some(b) = &k.banner {
        row("banner", b);
    }
    if let Some(r) = &k.release {
        row("release", r);
    }
    if let Some(b) = &k.build_id {
        row("build id", b);
    }
    if let Some(c) = &k.codeview {
        row("pdb", &c.pdb_name);
        row("guid", &c.guid);
        row("age", &c.age.to_string());
        row("pdb id", &c.pdb_id);
        row("kernel base", &hex(c.pe_physical_base));
    }
    if k.os == "linux" {
        row("kaslr shift", &hex(k.kaslr_shift));
        if k.kimage_voffset.is_some() {
            row("kimage_voffset", &hex(k.kimage_voffset));
        } else {
            row("phys_base", &hex(k.phys_base));
        }
        row("dtb", &hex(k.dtb));
        row(
            "paging",
            &k.paging.map_or_else(|| "-".into(), |p| p.to_string()),
        );
        if k.text_address.is_some() {
            row("_text", &hex(k.text_address));
        }
        if k.raw_base.is_some() {
            row("raw base", &hex(k.raw_base));
        }
        if !k.found.is_empty() {
            let how: Vec<String> = k
                .found
                .iter()
                .map(|(what, how)| format!("{what}: {}", found_name(how)))
                .collect();
            row("found by", &how.join(", "));
        }
    }
    if !k.banner_addresses.is_empty() {
        let a: Vec<String> = k
            .banner_addresses
            .iter()
            .map(|a| format!("{a:#x}"))
            .collect();
        row("at (physical)", &a.join(" "));
    }
    for n in &k.notes {
        row("note", n);
    }
}

/// The serde name of a value (`linux-banner`, `page-tables`...).
fn serde_name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}
fn kind_name(k: &KernelId) -> String {
    serde_name(&k.kind)
}
fn found_name(f: &linux::Found) -> String {
    serde_name(f)
}

fn identify_text(id: &Identification, matches: Option<&[Vec<Placed>]>) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "image   {} ({}{}, {} physical bytes)",
        id.image,
        id.format,
        id.arch.map(|a| format!(", {a:?}")).unwrap_or_default(),
        id.physical_bytes
    );
    if id.kernels.is_empty() {
        let _ = writeln!(
            s,
            "no kernel found (no Linux banner, VMCOREINFO, Windows kernel CodeView record or macOS version string)"
        );
    }
    for (i, k) in id.kernels.iter().enumerate() {
        kernel_text(&mut s, k);
        if let Some(m) = matches.map(|m| &m[i]) {
            match m.first() {
                None => {
                    let _ = writeln!(s, "  profile         none in the repositories searched");
                }
                Some(p) if p.candidate.matched.is_some() => {
                    for p in m {
                        let _ = writeln!(
                            s,
                            "  profile         {} in {} (by {})",
                            p.candidate.name,
                            p.location,
                            p.candidate
                                .matched
                                .map(|b| serde_name(&b))
                                .unwrap_or_default()
                        );
                    }
                }
                Some(_) => {
                    let _ = writeln!(s, "  profile         none matches; nearest:");
                    for p in m {
                        let _ = writeln!(s, "    {} in {}", p.candidate.name, p.location);
                        for d in &p.candidate.differences {
                            let _ = writeln!(s, "      {d}");
                        }
                    }
                }
            }
        }
    }
    for v in &id.vmcoreinfo {
        let e = &v.entries;
        let _ = writeln!(
            s,
            "vmcoreinfo ({}{}, {} entries)",
            v.source,
            v.address.map(|a| format!(" at {a:#x}")).unwrap_or_default(),
            e.len()
        );
        for key in [
            "OSRELEASE",
            "BUILD-ID",
            "KERNELOFFSET",
            "NUMBER(phys_base)",
            "NUMBER(pgtable_l5_enabled)",
            "NUMBER(kimage_voffset)",
            "NUMBER(PHYS_OFFSET)",
            "SYMBOL(init_top_pgt)",
            "SYMBOL(swapper_pg_dir)",
            "SYMBOL(_stext)",
        ] {
            if let Some(v) = e.get(key) {
                let _ = writeln!(s, "  {key:<27} {v}");
            }
        }
    }
    for c in &id.cpus {
        let _ = writeln!(
            s,
            "cpu {}   pc {} cr3 {} cr4 {}",
            c.cpu,
            hex(c.pc),
            hex(c.cr3),
            hex(c.cr4)
        );
    }
    s
}

pub(crate) fn identify(a: IdentifyArgs) -> anyhow::Result<()> {
    let image = open_image(&a.image)?;
    let id = scan(&image);
    let mut notes = Vec::new();
    let matches: Option<Vec<Vec<Placed>>> = (!a.repo.repository.is_empty()).then(|| {
        let search = search_path(&a.repo);
        id.kernels
            .iter()
            .map(|k| match_kernel(&search, k, &mut notes))
            .collect()
    });
    for n in &notes {
        eprintln!("profc: note: {n}");
    }
    if a.json {
        let mut v = serde_json::to_value(&id)?;
        if let (Some(m), Some(ks)) = (&matches, v.get_mut("kernels").and_then(Value::as_array_mut))
        {
            for (k, m) in ks.iter_mut().zip(m) {
                k["profiles"] = serde_json::to_value(m)?;
            }
        }
        return print(&(serde_json::to_string_pretty(&v)? + "\n"));
    }
    print(&identify_text(&id, matches.as_deref()))
}

/// The session for a list: the given profile, or the repository's match
/// for the image's kernel.
fn session_for(a: &ListArgs, image: &Image) -> anyhow::Result<Session> {
    if let Some(p) = &a.profile {
        return open_profile(p);
    }
    if a.repo.repository.is_empty() {
        bail!("give --profile FILE or --repository PATH_OR_URL");
    }
    let id = scan(image);
    if id.kernels.is_empty() {
        bail!(
            "{}: no kernel found in the image (see `profc identify`)",
            image.name()
        );
    }
    let search = search_path(&a.repo);
    let mut notes = Vec::new();
    let mut nearest = Vec::new();
    for k in &id.kernels {
        let m = match_kernel(&search, k, &mut notes);
        if let Some(p) = m.iter().find(|p| p.candidate.matched.is_some()) {
            let loc = Location::parse(&p.location);
            let found = search
                .load_from(&loc, &p.candidate.name)
                .with_context(|| format!("loading {} from {}", p.candidate.name, p.location))?;
            eprintln!(
                "profc: profile {} from {} (matched by {})",
                found.name,
                p.location,
                p.candidate
                    .matched
                    .map(|b| serde_name(&b))
                    .unwrap_or_default()
            );
            return Ok(Session::new(Arc::new(LazyProfile::from_profile(
                &found.profile,
            )?)));
        }
        nearest.extend(m);
    }
    for n in &notes {
        eprintln!("profc: note: {n}");
    }
    let what = id
        .kernels
        .iter()
        .map(|k| {
            k.banner
                .clone()
                .or_else(|| k.codeview.as_ref().map(|c| c.pdb_id.clone()))
                .unwrap_or_else(|| k.os.to_owned())
        })
        .collect::<Vec<_>>()
        .join("; ");
    let mut msg = format!(
        "no profile in {} matches {what}",
        a.repo.repository.join(", ")
    );
    if !nearest.is_empty() {
        let near: Vec<String> = nearest
            .iter()
            .map(|p| {
                format!(
                    "{} ({})",
                    p.candidate.name,
                    p.candidate.differences.join("; ")
                )
            })
            .collect();
        msg.push_str(&format!("; nearest: {}", near.join(", ")));
    }
    Err(anyhow!(msg))
}

fn to_json<T: Serialize>(v: &T) -> anyhow::Result<()> {
    print(&(serde_json::to_string_pretty(v)? + "\n"))
}

/// Windows and macOS lists (from a page-table root given by hand).
fn other_os(a: &ListArgs, session: &Session, image: &Image, os: Os) -> anyhow::Result<()> {
    let dtb = a.hints.dtb.ok_or_else(|| {
        anyhow!("--dtb is required (the kernel's CR3) for Windows and macOS profiles")
    })?;
    let space = kernel_space(image, dtb, a.hints.paging)?;
    let base = if os == Os::Windows {
        a.hints.image_base.unwrap_or(0)
    } else {
        a.hints.shift.unwrap_or(0)
    };
    let list = processes(session, &space, os, base).map_err(|e| anyhow!(e))?;
    if a.json {
        let rows: Vec<Value> = list
            .iter()
            .map(|p| match p {
                Ok(p) => json!({"offset": p.offset, "pid": p.pid, "comm": p.name}),
                Err(e) => json!({"error": e}),
            })
            .collect();
        return to_json(&rows);
    }
    let mut out = format!("{:<18}  {:>8}  {}\n", "OFFSET (V)", "PID", "COMM");
    for p in list {
        match p {
            Ok(p) => {
                let _ = writeln!(out, "{:#018x}  {:>8}  {}", p.offset, p.pid, p.name);
            }
            Err(e) => {
                let _ = writeln!(out, "{e}");
            }
        }
    }
    print(&out)
}

fn locate(session: &Session, image: &Image, hints: &HintArgs) -> anyhow::Result<LinuxKernel> {
    let k = LinuxKernel::locate(image, session, &hints.hints())?;
    for n in k.notes() {
        eprintln!("profc: note: {n}");
    }
    Ok(k)
}

pub(crate) fn pslist(a: ListArgs) -> anyhow::Result<()> {
    let image = open_image(&a.image)?;
    let session = session_for(&a, &image)?;
    match Os::of(&session) {
        Some(Os::Linux) => {}
        Some(os) => return other_os(&a, &session, &image, os),
        None => bail!("the profile is neither Linux, Darwin nor Windows (no PsActiveProcessHead)"),
    }
    let kernel = locate(&session, &image, &a.hints)?;
    let tasks = linux::pslist_with(&session, &kernel, a.threads)?;
    if a.json {
        return to_json(&tasks);
    }
    // Volatility's linux.pslist columns.
    let mut out = format!(
        "{:<18}  {:>8}  {:>8}  {:>8}  {:<16}  {}\n",
        "OFFSET (V)", "PID", "TID", "PPID", "COMM", "CREATION TIME"
    );
    for t in tasks {
        let _ = writeln!(
            out,
            "{:#018x}  {:>8}  {:>8}  {:>8}  {:<16}  {}",
            t.offset,
            t.pid,
            t.tid,
            t.ppid,
            t.comm,
            t.create_time.as_deref().unwrap_or("-")
        );
    }
    print(&out)
}

pub(crate) fn lsmod(a: ListArgs) -> anyhow::Result<()> {
    let image = open_image(&a.image)?;
    let session = session_for(&a, &image)?;
    if Os::of(&session) != Some(Os::Linux) {
        bail!("lsmod walks Linux module lists; the profile is not a Linux one");
    }
    let kernel = locate(&session, &image, &a.hints)?;
    let mods = linux::lsmod(&session, &kernel)?;
    if a.json {
        return to_json(&mods);
    }
    let mut out = format!(
        "{:<18}  {:<24}  {:>10}  {:<18}  {}\n",
        "OFFSET (V)", "NAME", "SIZE", "BASE", "STATE"
    );
    for m in mods {
        let _ = writeln!(
            out,
            "{:#018x}  {:<24}  {:>10}  {:#018x}  {}",
            m.offset,
            m.name,
            m.size,
            m.base,
            m.state.as_deref().unwrap_or("-")
        );
    }
    print(&out)
}

/// Exit status of `check` when the profile does not fit.
pub const CHECK_MISMATCH: u8 = 2;

/// Returns whether the profile fits.
pub(crate) fn check(a: CheckArgs) -> anyhow::Result<bool> {
    let image = open_image(&a.image)?;
    let session = open_profile(&a.profile)?;
    if Os::of(&session) != Some(Os::Linux) {
        bail!(
            "{}: check tests Linux profiles; this one is not",
            a.profile.display()
        );
    }
    let report = linux::check(&image, &session, &a.hints.hints());
    if a.json {
        to_json(&report)?;
        return Ok(report.ok);
    }
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}: {} {} {}",
        if report.ok { "OK" } else { "MISMATCH" },
        a.profile.display(),
        if report.ok { "fits" } else { "does not fit" },
        a.image.display()
    );
    for p in &report.passed {
        let _ = writeln!(s, "  ok    {p}");
    }
    for r in &report.reasons {
        let _ = writeln!(s, "  FAIL  {r}");
    }
    if report.ok {
        let _ = writeln!(
            s,
            "  ({} processes, {} modules)",
            report.tasks, report.modules
        );
    }
    print(&s)?;
    Ok(report.ok)
}
