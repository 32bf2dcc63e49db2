//! `profc repo build`: fill a repository from a configuration file of
//! sources, converting in parallel, skipping sources whose content has not
//! changed, recording failures without stopping.
//!
//! The configuration is TOML (see `docs/repository.md`):
//! ```toml
//! layout = "rekall"            # or "readable" (optional)
//!
//! [[source]]
//! path = "pdbs"                # a file, or a folder: every file in it
//! kind = "auto"                # auto | guid | an input kind: pdb, executable, linux, vol2, btf, ...
//! symlinks = ["Win7SP1x64"]    # optional human names (single-file sources)
//!
//! [[source]]
//! kind = "guid"
//! pdb = "ntkrnlmp.pdb"
//! guid = "3844DBB920174967BE7AA4A2C20430FA2"
//! ```

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use profile_runtime::{write_atomic, Profile, WriteMode};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::inventory::sha256_hex;
use crate::isf_view::IsfConvert;
use crate::layout::{default_name, input_stem, Naming};
use crate::name::{is_guid_age, validate_name};
use crate::repo::{encode, Repository};

/// The build state file at the repository root (hidden: not a profile).
pub const STATE_FILE: &str = ".build-state.json";

/// The `kind` of a source that names a PDB by file name and GUID_AGE
/// (fetched from the symbol server) instead of a file.
pub const GUID_KIND: &str = "guid";

/// The default `kind`: decide by content.
pub const AUTO_KIND: &str = "auto";

fn auto_kind() -> String {
    AUTO_KIND.to_owned()
}

/// One `[[source]]` table of the configuration.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// What the source is: `auto` (the default: decided by content),
    /// `guid`, or an input kind of the compiler (`pdb`, `executable`,
    /// `dwarf`, `btf`, `linux-zip`, `vol2`, `system-map`, `profile`, `isf`,
    /// `linux` for any Linux input...), which the converter checks.
    #[serde(default = "auto_kind")]
    pub kind: String,
    /// A file, or a folder whose files (not recursive) are each a source.
    /// Relative to the configuration file's folder.
    pub path: Option<PathBuf>,
    /// For `guid` sources: the PDB file name (`ntkrnlmp.pdb`).
    pub pdb: Option<String>,
    /// For `guid` sources: the GUID_AGE.
    pub guid: Option<String>,
    /// The profile name; default derived from its metadata.
    pub name: Option<String>,
    /// Symlinks to create to the profile.
    #[serde(default)]
    pub symlinks: Vec<String>,
    /// File version for the readable layout.
    pub file_version: Option<String>,
}

/// A whole configuration file.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Naming scheme for profiles without an explicit name.
    #[serde(default)]
    pub layout: Naming,
    /// The sources, in order.
    #[serde(default, rename = "source")]
    pub sources: Vec<SourceSpec>,
}

/// One expanded source: a single file or a single GUID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSource {
    /// Stable identity in the state file (`file:<path>` or `guid:<pdb>/<GUID_AGE>`).
    pub key: String,
    /// What it is ([`SourceSpec::kind`]).
    pub kind: String,
    /// The input file (not for `guid`).
    pub path: Option<PathBuf>,
    /// PDB file name (`guid`).
    pub pdb: Option<String>,
    /// GUID_AGE (`guid`).
    pub guid: Option<String>,
    /// Explicit profile name.
    pub name: Option<String>,
    /// Symlinks to create.
    pub symlinks: Vec<String>,
    /// File version for the readable layout.
    pub file_version: Option<String>,
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let cfg: Config = toml::from_str(&text).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            message: e.to_string().lines().collect::<Vec<_>>().join(" "),
        })?;
        Ok(cfg)
    }

    /// The sources, folders expanded (sorted by file name), paths made
    /// relative to `base_dir`; every spec is checked.
    pub fn expand(&self, config_path: &Path) -> Result<Vec<BuildSource>> {
        let base_dir = config_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let cfg_err = |i: usize, m: String| Error::Config {
            path: config_path.to_path_buf(),
            message: format!("source #{}: {m}", i + 1),
        };
        let mut out = Vec::new();
        for (i, spec) in self.sources.iter().enumerate() {
            if let Some(n) = &spec.name {
                validate_name(n).map_err(|e| cfg_err(i, e.to_string()))?;
            }
            for l in &spec.symlinks {
                validate_name(l).map_err(|e| cfg_err(i, e.to_string()))?;
            }
            if spec.kind.eq_ignore_ascii_case(GUID_KIND) {
                let (Some(pdb), Some(guid)) = (&spec.pdb, &spec.guid) else {
                    return Err(cfg_err(i, "a guid source needs `pdb` and `guid`".into()));
                };
                if !is_guid_age(guid) {
                    return Err(cfg_err(
                        i,
                        format!("{guid:?} is not a GUID_AGE (33-40 hex digits)"),
                    ));
                }
                if pdb.contains(['/', '\\']) || pdb.starts_with('.') {
                    return Err(cfg_err(i, format!("{pdb:?} is not a plain PDB file name")));
                }
                out.push(BuildSource {
                    key: format!("guid:{pdb}/{}", guid.to_ascii_uppercase()),
                    kind: GUID_KIND.to_owned(),
                    path: None,
                    pdb: Some(pdb.clone()),
                    guid: Some(guid.to_ascii_uppercase()),
                    name: spec.name.clone(),
                    symlinks: spec.symlinks.clone(),
                    file_version: spec.file_version.clone(),
                });
                continue;
            }
            let Some(rel) = &spec.path else {
                return Err(cfg_err(
                    i,
                    "needs `path` (or kind = \"guid\" with `pdb` and `guid`)".into(),
                ));
            };
            let path = base_dir.join(rel);
            let md = std::fs::metadata(&path)
                .map_err(|e| cfg_err(i, format!("{}: {e}", path.display())))?;
            let files = if md.is_dir() {
                let mut v: Vec<PathBuf> = std::fs::read_dir(&path)
                    .map_err(|e| cfg_err(i, format!("{}: {e}", path.display())))?
                    .filter_map(|e| e.ok())
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                    .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                    .map(|e| e.path())
                    .collect();
                v.sort();
                // A PDB and its executable (`x.pdb` beside `x.exe`, `.dll`,
                // `.sys`...) are one source: the PDB, read in place.
                drop_executables_beside_their_pdb(&mut v);
                if (spec.name.is_some() || !spec.symlinks.is_empty()) && v.len() != 1 {
                    return Err(cfg_err(
                        i,
                        "`name` and `symlinks` need a single-file source".into(),
                    ));
                }
                v
            } else {
                vec![path]
            };
            for f in files {
                let abs = std::path::absolute(&f).unwrap_or_else(|_| f.clone());
                out.push(BuildSource {
                    key: format!("file:{}", abs.display()),
                    kind: spec.kind.clone(),
                    path: Some(f),
                    pdb: None,
                    guid: None,
                    name: spec.name.clone(),
                    symlinks: spec.symlinks.clone(),
                    file_version: spec.file_version.clone(),
                });
            }
        }
        let mut seen = std::collections::HashSet::new();
        for s in &out {
            if !seen.insert(&s.key) {
                return Err(Error::Config {
                    path: config_path.to_path_buf(),
                    message: format!("{} is listed twice", s.key),
                });
            }
        }
        Ok(out)
    }
}

/// What became of one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Converted and stored under this name.
    Built(String),
    /// Unchanged since the last successful build of it (stored under this name).
    Unchanged(String),
    /// Failed, with the one-line reason.
    Failed(String),
}

/// The outcome of one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceResult {
    /// [`BuildSource::key`].
    pub key: String,
    /// What happened.
    pub outcome: Outcome,
}

/// What a build did.
#[derive(Debug, Clone, Default)]
pub struct BuildReport {
    /// One result per source, in configuration order.
    pub results: Vec<SourceResult>,
    /// Profiles left out of the ISF view, and why.
    pub notes: Vec<String>,
}

impl BuildReport {
    /// Counts of (built, unchanged, failed).
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for r in &self.results {
            match r.outcome {
                Outcome::Built(_) => c.0 += 1,
                Outcome::Unchanged(_) => c.1 += 1,
                Outcome::Failed(_) => c.2 += 1,
            }
        }
        c
    }
}

/// The state file: what each source last produced.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct State {
    /// By [`BuildSource::key`].
    #[serde(default)]
    pub sources: BTreeMap<String, SourceState>,
}

/// The state of one source.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct SourceState {
    /// SHA-256 of the source's content (or of its key, for `guid`).
    pub hash: String,
    /// The profile name it produced, when it succeeded.
    pub name: Option<String>,
    /// Symlinks made to it.
    #[serde(default)]
    pub symlinks: Vec<String>,
    /// The error of the last attempt, when it failed.
    pub error: Option<String>,
    /// When it was last attempted (unix seconds).
    pub time: u64,
}

impl State {
    /// Reads the state file of `repo` (empty when absent or unreadable).
    pub fn load(repo: &Repository) -> State {
        std::fs::read(repo.root().join(STATE_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn save(&self, repo: &Repository) -> Result<()> {
        let path = repo.root().join(STATE_FILE);
        let json = serde_json::to_vec_pretty(self).map_err(|e| Error::Other(e.to_string()))?;
        write_atomic(&path, WriteMode::Overwrite, |w| w.write_all(&json))?;
        Ok(())
    }
}

/// Hash of a source's content, streamed.
fn source_hash(s: &BuildSource) -> Result<String> {
    use sha2::Digest;
    let Some(path) = &s.path else {
        return Ok(sha256_hex(s.key.as_bytes()));
    };
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Options of [`build`].
#[derive(Debug, Clone, Copy, Default)]
pub struct BuildOptions {
    /// Naming scheme for sources without a name.
    pub layout: Naming,
    /// Worker threads (`None`: rayon's default, one per core).
    pub jobs: Option<usize>,
    /// Rebuild every source, changed or not.
    pub force: bool,
}

/// An error of the converter, as it gives it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What the converter gives for one source.
#[derive(Debug, Clone)]
pub struct Built {
    /// The profile, stored in the Rekall tree.
    pub profile: Profile,
    /// Its ISF document, for a repository that publishes an ISF view
    /// ([`crate::WriteGuard::put_isf`]); `None`: made from the stored
    /// profile by the converter given to [`build_with`], if any.
    pub isf: Option<serde_json::Value>,
}

/// The converter a build calls for each source: compiles it into a profile.
pub type Compile<'a> = dyn Fn(&BuildSource) -> std::result::Result<Built, BoxError> + Sync + 'a;

/// Builds `sources` into `repo`: each changed source is compiled (in
/// parallel), stored under its name (overwriting the previous build), its
/// symlinks made; failures are recorded in the state file and the report
/// without stopping the rest. The repository lock is held throughout; the
/// inventory is rebuilt once at the end.
pub fn build(
    repo: &Repository,
    sources: &[BuildSource],
    options: BuildOptions,
    compile: &Compile<'_>,
    progress: &(dyn Fn(&SourceResult) + Sync),
) -> Result<BuildReport> {
    build_with(repo, sources, options, compile, progress, None)
}

/// [`build`], bringing the repository's ISF view (if it publishes one) up to
/// date at the end: ISF documents the converter handed over
/// ([`Built::isf`]) are stored, other profiles not yet in the view are
/// converted with `isf_convert`.
pub fn build_with(
    repo: &Repository,
    sources: &[BuildSource],
    options: BuildOptions,
    compile: &Compile<'_>,
    progress: &(dyn Fn(&SourceResult) + Sync),
    isf_convert: Option<&IsfConvert<'_>>,
) -> Result<BuildReport> {
    let guard = repo.lock()?;
    let old_state = State::load(repo);
    let claimed: Mutex<HashMap<String, String>> = Mutex::new(HashMap::new());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());

    let work = |s: &BuildSource| -> (SourceResult, Option<SourceState>) {
        let (outcome, state) =
            build_one(repo, s, options, compile, &old_state, &guard, &claimed, now);
        let r = SourceResult {
            key: s.key.clone(),
            outcome,
        };
        progress(&r);
        (r, state)
    };
    let results: Vec<(SourceResult, Option<SourceState>)> = match options.jobs {
        Some(n) => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n.max(1))
                .build()
                .map_err(|e| Error::Other(format!("starting {n} worker threads: {e}")))?;
            pool.install(|| sources.par_iter().map(work).collect())
        }
        None => sources.par_iter().map(work).collect(),
    };

    let mut state = old_state.clone();
    let mut report = BuildReport::default();
    for (r, st) in results {
        if let Some(st) = st {
            state.sources.insert(r.key.clone(), st);
        }
        report.results.push(r);
    }
    state.save(repo)?;
    report.notes = guard.commit_with(isf_convert)?.notes;
    Ok(report)
}

/// An error and its causes on one line.
fn error_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut line = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = c.source();
    }
    line
}

#[allow(clippy::too_many_arguments)]
fn build_one(
    repo: &Repository,
    s: &BuildSource,
    options: BuildOptions,
    compile: &Compile<'_>,
    old: &State,
    guard: &crate::repo::WriteGuard<'_>,
    claimed: &Mutex<HashMap<String, String>>,
    now: u64,
) -> (Outcome, Option<SourceState>) {
    let fail = |hash: String, e: String| {
        (
            Outcome::Failed(e.clone()),
            Some(SourceState {
                hash,
                name: None,
                symlinks: Vec::new(),
                error: Some(e),
                time: now,
            }),
        )
    };
    let hash = match source_hash(s) {
        Ok(h) => h,
        Err(e) => return fail(String::new(), e.to_string()),
    };
    if !options.force {
        if let Some(prev) = old.sources.get(&s.key) {
            let outputs_there = prev
                .name
                .as_deref()
                .is_some_and(|n| repo.exists(n).unwrap_or(false))
                && prev
                    .symlinks
                    .iter()
                    .all(|l| repo.exists(l).unwrap_or(false))
                && prev.symlinks == s.symlinks
                && (s.name.is_none() || s.name == prev.name);
            if prev.hash == hash && prev.error.is_none() && outputs_there {
                let name = prev.name.clone().unwrap_or_default();
                if let Ok(mut c) = claimed.lock() {
                    c.insert(name.clone(), s.key.clone());
                }
                return (Outcome::Unchanged(name), None);
            }
        }
    }
    let compiled = catch_unwind(AssertUnwindSafe(|| compile(s))).unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown".into());
        Err(format!("the converter crashed: {msg}").into())
    });
    let (profile, isf) = match compiled {
        Ok(b) => (b.profile, b.isf),
        Err(e) => return fail(hash, error_line(&*e)),
    };
    let stem = s
        .path
        .as_ref()
        .and_then(|p| p.file_name())
        .map(|n| input_stem(&n.to_string_lossy()));
    let name = match &s.name {
        Some(n) => n.clone(),
        None => match default_name(
            &profile,
            options.layout,
            stem.as_deref(),
            s.file_version.as_deref(),
        ) {
            Ok(n) => n,
            Err(e) => return fail(hash, e.to_string()),
        },
    };
    if let Ok(mut c) = claimed.lock() {
        if let Some(other) = c.get(&name) {
            if other != &s.key {
                return fail(hash, format!("profile name {name:?} is also produced by {other}; give one of them a `name`"));
            }
        }
        c.insert(name.clone(), s.key.clone());
    }
    let bytes = match encode(&profile) {
        Ok(b) => b,
        Err(e) => return fail(hash, e.to_string()),
    };
    let stored = guard
        .store_encoded(&name, &profile, &bytes, true)
        .and_then(|()| match &isf {
            Some(doc) => guard.put_isf(&name, doc),
            None => Ok(()),
        })
        .and_then(|()| {
            for l in &s.symlinks {
                guard.put_symlink(l, &name, true)?;
            }
            Ok(())
        });
    if let Err(e) = stored {
        return fail(hash, e.to_string());
    }
    (
        Outcome::Built(name.clone()),
        Some(SourceState {
            hash,
            name: Some(name),
            symlinks: s.symlinks.clone(),
            error: None,
            time: now,
        }),
    )
}

/// Removes from a folder's files each executable whose PDB (same stem, any
/// case, `.pdb`) is among them: both would make the same profile.
fn drop_executables_beside_their_pdb(files: &mut Vec<PathBuf>) {
    let lower = |p: &Path, what: fn(&Path) -> Option<&std::ffi::OsStr>| {
        what(p).map(|s| s.to_string_lossy().to_ascii_lowercase())
    };
    let pdb_stems: std::collections::HashSet<String> = files
        .iter()
        .filter(|p| lower(p, Path::extension).as_deref() == Some("pdb"))
        .filter_map(|p| lower(p, Path::file_stem))
        .collect();
    files.retain(|p| {
        let ext = lower(p, Path::extension);
        let is_exe = matches!(
            ext.as_deref(),
            Some("exe" | "dll" | "sys" | "efi" | "ocx" | "drv" | "cpl" | "scr")
        );
        !(is_exe && lower(p, Path::file_stem).is_some_and(|s| pdb_stems.contains(&s)))
    });
}
