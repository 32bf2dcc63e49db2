//! Looking profiles up along a search path of local folders and HTTP(S)
//! repositories, with a local cache for remote ones.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use profile_runtime::{write_atomic, Profile, WriteMode};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::inventory::{make_entry, sha256_hex, Entry, EntryExt, Inventory, INVENTORY_FILE};
use crate::name::{is_guid_age, validate_name};
use crate::remote::{is_url, join_url, Http, Response};
use crate::repo::{Repository, Stored, MAX_SYMLINK_DEPTH};

/// One entry of a search path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local repository or plain folder of profiles.
    Local(PathBuf),
    /// An HTTP(S) repository (its base URL; `<base>/inventory.gz` and
    /// `<base>/<name>.gz` are fetched).
    Remote(String),
}

impl Location {
    /// A URL (`http://`, `https://`) becomes [`Location::Remote`], anything
    /// else a local path.
    pub fn parse(s: &str) -> Location {
        if is_url(s) {
            Location::Remote(s.trim_end_matches('/').to_owned())
        } else {
            Location::Local(PathBuf::from(s))
        }
    }

    fn describe(&self) -> String {
        match self {
            Location::Local(p) => p.display().to_string(),
            Location::Remote(u) => u.clone(),
        }
    }
}

/// What to look up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// A profile or symlink name (`nt/GUID/...`, `Win7SP1x64`).
    Name(String),
    /// A symbol-server key (`GUID_AGE`), matched against inventory metadata
    /// and `*/GUID/<key>` names.
    GuidAge(String),
    /// A Linux kernel banner (`Linux version 6.1.0-56-amd64 ...`).
    Banner(String),
}

impl Query {
    /// Interprets free text: a banner when it starts with `Linux version`, a
    /// GUID_AGE when it is 33-40 hex digits, else a name.
    pub fn from_text(s: &str) -> Query {
        if s.trim_start().starts_with("Linux version ") {
            Query::Banner(s.to_owned())
        } else if is_guid_age(s) {
            Query::GuidAge(s.to_owned())
        } else {
            Query::Name(s.to_owned())
        }
    }

    fn describe(&self) -> String {
        match self {
            Query::Name(n) => n.clone(),
            Query::GuidAge(g) => format!("GUID_AGE {g}"),
            Query::Banner(b) => format!("banner {b:?}"),
        }
    }
}

/// A profile found along a search path.
#[derive(Debug, Clone)]
pub struct Found {
    /// The profile (symlinks resolved).
    pub profile: Profile,
    /// Its name in the repository where it was found.
    pub name: String,
    /// The search-path entry that held it.
    pub location: Location,
    /// Served from the local cache without downloading it.
    pub from_cache: bool,
    /// Things worth telling the user (a remote unreachable, the cache used
    /// instead, ...).
    pub notes: Vec<String>,
}

/// The default cache folder for remote repositories: `$PROFC_CACHE_DIR`,
/// else `$XDG_CACHE_HOME/profc`, else `~/.cache/profc`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("PROFC_CACHE_DIR")
        .or_else(|| env("XDG_CACHE_HOME").map(|p| p.join("profc")))
        .or_else(|| env("HOME").map(|p| p.join(".cache").join("profc")))
}

/// A search path of repositories, searched in order.
#[derive(Debug)]
pub struct SearchPath {
    locations: Vec<Location>,
    cache_dir: Option<PathBuf>,
    offline: bool,
    http: OnceLock<Http>,
    remote_inventories: Mutex<HashMap<String, Option<Inventory>>>,
    notes: Mutex<Vec<String>>,
}

/// Name of the remote inventory copy inside a remote's cache folder.
const CACHED_INVENTORY: &str = "remote-inventory.gz";
/// Name of the cache's record of what each cached file was.
const CACHE_STATE: &str = "cache-state.json";

/// What the cache knows of one cached file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
struct CachedFile {
    #[serde(rename = "LastModified", default)]
    last_modified: Option<u64>,
    #[serde(rename = "Sha256")]
    sha256: String,
}

impl SearchPath {
    /// A search path over `locations`; remote ones are cached under
    /// `cache_dir` (required for remote locations).
    pub fn new(locations: Vec<Location>, cache_dir: Option<PathBuf>) -> Self {
        SearchPath {
            locations,
            cache_dir,
            offline: false,
            http: OnceLock::new(),
            remote_inventories: Mutex::new(HashMap::new()),
            notes: Mutex::new(Vec::new()),
        }
    }

    /// In offline mode remote repositories are served from the cache only.
    pub fn offline(mut self, offline: bool) -> Self {
        self.offline = offline;
        self
    }

    /// The locations, in search order.
    pub fn locations(&self) -> &[Location] {
        &self.locations
    }

    fn note(&self, s: String) {
        if let Ok(mut n) = self.notes.lock() {
            n.push(s);
        }
    }

    fn take_notes(&self) -> Vec<String> {
        self.notes
            .lock()
            .map(|mut n| std::mem::take(&mut *n))
            .unwrap_or_default()
    }

    /// Looks `query` up in each location in order; the first hit wins.
    pub fn find(&self, query: &Query) -> Result<Found> {
        if let Query::Name(n) = query {
            validate_name(n)?;
        }
        for loc in &self.locations {
            let r = match loc {
                Location::Local(p) => self.find_local(p, query),
                Location::Remote(u) => self.find_remote(u, query),
            };
            match r {
                Ok((name, profile, from_cache)) => {
                    return Ok(Found {
                        profile,
                        name,
                        location: loc.clone(),
                        from_cache,
                        notes: self.take_notes(),
                    })
                }
                Err(e) if e.is_not_found() => continue,
                Err(e @ Error::Http { .. }) => {
                    self.note(format!("skipped {}: {e}", loc.describe()))
                }
                Err(e) => return Err(e),
            }
        }
        let mut searched: Vec<String> = self.locations.iter().map(Location::describe).collect();
        if searched.is_empty() {
            searched.push("an empty search path".into());
        }
        let notes = self.take_notes();
        let mut where_ = searched.join(", ");
        if !notes.is_empty() {
            where_.push_str(&format!(" ({})", notes.join("; ")));
        }
        Err(Error::NotFound {
            name: query.describe(),
            searched: where_,
        })
    }

    /// Like [`SearchPath::find`] for free text (see [`Query::from_text`]);
    /// a GUID-like text is first tried as a name.
    pub fn find_text(&self, text: &str) -> Result<Found> {
        let q = Query::from_text(text);
        if matches!(q, Query::GuidAge(_)) {
            match self.find(&Query::Name(text.to_owned())) {
                Err(e) if e.is_not_found() => {}
                other => return other,
            }
        }
        self.find(&q)
    }

    /// The inventory of one location: a local repository's (or, for a
    /// folder without one, made by reading its files), a remote one's
    /// (fetched once, or the cached copy when offline or unreachable).
    /// `None` when there is nothing to read (a missing folder, offline
    /// with nothing cached).
    pub fn inventory_of(&self, loc: &Location) -> Result<Option<Inventory>> {
        match loc {
            Location::Local(root) => {
                let repo = match Repository::open(root) {
                    Ok(r) => r,
                    Err(Error::Io { .. }) => return Ok(None),
                    Err(e) => return Err(e),
                };
                match repo.inventory()? {
                    Some(i) => Ok(Some(i)),
                    None => scan_inventory(&repo).map(Some),
                }
            }
            Location::Remote(base) => self.remote_inventory(base),
        }
    }

    /// Loads profile `name` from `loc` alone (symlinks resolved).
    pub fn load_from(&self, loc: &Location, name: &str) -> Result<Found> {
        let query = Query::Name(name.to_owned());
        validate_name(name)?;
        let (name, profile, from_cache) = match loc {
            Location::Local(p) => self.find_local(p, &query)?,
            Location::Remote(u) => self.find_remote(u, &query)?,
        };
        Ok(Found {
            profile,
            name,
            location: loc.clone(),
            from_cache,
            notes: self.take_notes(),
        })
    }

    // -- local ------------------------------------------------------------

    fn find_local(&self, root: &Path, query: &Query) -> Result<(String, Profile, bool)> {
        let repo = match Repository::open(root) {
            Ok(r) => r,
            Err(Error::Io { .. }) => {
                return Err(Error::NotFound {
                    name: query.describe(),
                    searched: root.display().to_string(),
                })
            }
            Err(e) => return Err(e),
        };
        let not_found = || Error::NotFound {
            name: query.describe(),
            searched: root.display().to_string(),
        };
        let name = match query {
            Query::Name(n) => n.clone(),
            // Fast paths first: Rekall's `*/GUID/<key>` layout, then the
            // lookup index, then the inventory (or reading every file).
            Query::GuidAge(g) => match guid_by_scan(&repo, g) {
                Some(n) => n,
                None => match crate::index::lookup(root, 'G', &g.to_ascii_uppercase())? {
                    Some(names) => names.into_iter().next().ok_or_else(not_found)?,
                    None => {
                        let inv = match repo.inventory().ok().flatten() {
                            Some(i) => i,
                            None => scan_inventory(&repo)?,
                        };
                        inv.find_guid(g)
                            .first()
                            .map(|s| s.to_string())
                            .ok_or_else(not_found)?
                    }
                },
            },
            Query::Banner(b) => {
                match crate::index::lookup(root, 'B', &crate::index::normalize_banner(b))? {
                    Some(names) => names.into_iter().next().ok_or_else(not_found)?,
                    None => {
                        let inv = match repo.inventory().ok().flatten() {
                            Some(i) => i,
                            None => scan_inventory(&repo)?,
                        };
                        inv.find_banner(b)
                            .first()
                            .map(|s| s.to_string())
                            .ok_or_else(not_found)?
                    }
                }
            }
        };
        let (name, p) = repo.load(&name)?;
        Ok((name, p, false))
    }

    // -- remote -----------------------------------------------------------

    fn http(&self) -> Result<&Http> {
        if let Some(h) = self.http.get() {
            return Ok(h);
        }
        let h = Http::new()?;
        Ok(self.http.get_or_init(|| h))
    }

    fn cache_root(&self, base: &str) -> Result<PathBuf> {
        let dir = self.cache_dir.as_ref().ok_or_else(|| {
            Error::Other(format!(
                "{base}: a cache folder is needed for remote repositories"
            ))
        })?;
        Ok(dir.join(cache_key(base)))
    }

    /// The remote inventory: fetched once per search path when online (and
    /// saved to the cache), else the cached copy.
    fn remote_inventory(&self, base: &str) -> Result<Option<Inventory>> {
        if let Some(inv) = self
            .remote_inventories
            .lock()
            .ok()
            .and_then(|m| m.get(base).cloned())
        {
            return Ok(inv);
        }
        let cache = self.cache_root(base)?;
        let cached_path = cache.join(CACHED_INVENTORY);
        let inv = if self.offline {
            Inventory::load(&cached_path)?
        } else {
            let url = join_url(base, INVENTORY_FILE);
            match self.http()?.get(&url) {
                Ok(Response::Body(bytes)) => {
                    let inv = Inventory::from_bytes(bytes.clone(), &url)?;
                    std::fs::create_dir_all(&cache).map_err(|e| Error::io(&cache, e))?;
                    write_atomic(&cached_path, WriteMode::Overwrite, |w| w.write_all(&bytes))?;
                    Some(inv)
                }
                Ok(Response::Missing) => {
                    return Err(Error::NotFound {
                        name: INVENTORY_FILE.into(),
                        searched: base.to_owned(),
                    });
                }
                Err(e) => {
                    // Unreachable: use the cache as it is (as Rekall does).
                    let cached = Inventory::load(&cached_path)?;
                    if cached.is_some() {
                        self.note(format!("{e}; using the cached inventory of {base}"));
                    } else {
                        return Err(e);
                    }
                    cached
                }
            }
        };
        if let Ok(mut m) = self.remote_inventories.lock() {
            m.insert(base.to_owned(), inv.clone());
        }
        Ok(inv)
    }

    fn find_remote(&self, base: &str, query: &Query) -> Result<(String, Profile, bool)> {
        let not_found = || Error::NotFound {
            name: query.describe(),
            searched: base.to_owned(),
        };
        let Some(inv) = self.remote_inventory(base)? else {
            if self.offline {
                self.note(format!("{base}: nothing cached (offline)"));
            }
            return Err(not_found());
        };
        let start = match query {
            Query::Name(n) => validate_name(n)?,
            Query::GuidAge(g) => inv
                .find_guid(g)
                .first()
                .map(|s| s.to_string())
                .ok_or_else(not_found)?,
            Query::Banner(b) => inv
                .find_banner(b)
                .first()
                .map(|s| s.to_string())
                .ok_or_else(not_found)?,
        };
        let mut current = start.clone();
        let mut seen = vec![start.clone()];
        let mut all_cached = true;
        loop {
            let Some(entry) = inv.get(&current) else {
                if current == start {
                    return Err(not_found());
                }
                return Err(Error::Symlink {
                    name: start,
                    message: format!(
                        "dangling in {base}: target {current:?} is not in its inventory"
                    ),
                });
            };
            let next = if entry.kind() == Some("Symlink") && entry.target().is_some() {
                let t = entry.target().unwrap_or_default();
                validate_name(t).map_err(|e| Error::Symlink {
                    name: current.clone(),
                    message: format!("target refused: {e}"),
                })?
            } else {
                let (stored, from_cache) = self.fetch_cached(base, &current, entry)?;
                all_cached &= from_cache;
                match stored {
                    Stored::Profile(p) => return Ok((current, *p, all_cached)),
                    Stored::Symlink(t) => t,
                }
            };
            if seen.contains(&next) {
                seen.push(next);
                return Err(Error::Symlink {
                    name: start,
                    message: format!("cycle: {}", seen.join(" -> ")),
                });
            }
            if seen.len() > MAX_SYMLINK_DEPTH {
                return Err(Error::Symlink {
                    name: start,
                    message: format!("chain longer than {MAX_SYMLINK_DEPTH}"),
                });
            }
            seen.push(next.clone());
            current = next;
        }
    }

    /// A remote file, from the cache when the cached copy is still what the
    /// remote inventory lists, else downloaded (and checked against the
    /// inventory's `Sha256`) and cached.
    fn fetch_cached(&self, base: &str, name: &str, entry: &Entry) -> Result<(Stored, bool)> {
        let name = validate_name(name)?;
        let cache = self.cache_root(base)?;
        let file = cache.join("profiles").join(format!("{name}.gz"));
        let state_path = cache.join(CACHE_STATE);
        let state = load_state(&state_path)?;
        let cached = state.get(&name);
        if let (Some(rec), Ok(bytes)) = (cached, std::fs::read(&file)) {
            let intact = sha256_hex(&bytes) == rec.sha256;
            // Same content hash means current; without a hash (a Rekall
            // inventory) a LastModified newer than ours means changed.
            let current = match entry.sha256() {
                Some(s) => s == rec.sha256,
                None => match (entry.last_modified(), rec.last_modified) {
                    (Some(remote), Some(local)) => remote <= local,
                    _ => true,
                },
            };
            if intact && (current || self.offline) {
                if !current {
                    self.note(format!("{name}: cached copy may be stale (offline)"));
                }
                let p = Profile::from_bytes(bytes, &file.display().to_string())?;
                return Ok((classify_cached(p, &name)?, true));
            }
        }
        if self.offline {
            return Err(Error::NotFound {
                name: name.clone(),
                searched: format!("the cache of {base} (offline)"),
            });
        }
        let url = join_url(base, &format!("{name}.gz"));
        let bytes = match self.http()?.get(&url)? {
            Response::Body(b) => b,
            Response::Missing => {
                return Err(Error::NotFound {
                    name,
                    searched: base.to_owned(),
                })
            }
        };
        let sha = sha256_hex(&bytes);
        if let Some(want) = entry.sha256() {
            if want != sha {
                return Err(Error::Http {
                    url,
                    message: format!("downloaded file has Sha256 {sha}, the inventory says {want}"),
                });
            }
        }
        let p = Profile::from_bytes(bytes.clone(), &url)?;
        let stored = classify_cached(p, &name)?;
        // Store file first, then the record: a crash in between leaves a
        // file whose record is missing or old, which is simply re-fetched.
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let _lock = lock_file(&cache.join(".lock"))?;
        write_atomic(&file, WriteMode::Overwrite, |w| w.write_all(&bytes))?;
        let mut state = load_state(&state_path)?;
        state.insert(
            name,
            CachedFile {
                last_modified: entry.last_modified(),
                sha256: sha,
            },
        );
        let json = serde_json::to_vec(&state)
            .map_err(|e| Error::format(state_path.display().to_string(), e.to_string()))?;
        write_atomic(&state_path, WriteMode::Overwrite, |w| w.write_all(&json))?;
        Ok((stored, false))
    }
}

fn classify_cached(p: Profile, name: &str) -> Result<Stored> {
    if p.metadata_str("Type") == Some("Symlink") {
        let t = p.metadata_str("Target").unwrap_or_default();
        let t = validate_name(t).map_err(|e| Error::Symlink {
            name: name.to_owned(),
            message: format!("target refused: {e}"),
        })?;
        Ok(Stored::Symlink(t))
    } else {
        Ok(Stored::Profile(Box::new(p)))
    }
}

fn lock_file(path: &Path) -> Result<std::fs::File> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    f.lock().map_err(|e| Error::io(path, e))?;
    Ok(f)
}

fn load_state(path: &Path) -> Result<BTreeMap<String, CachedFile>> {
    match std::fs::read(path) {
        // A damaged record only costs re-downloads.
        Ok(b) => Ok(serde_json::from_slice(&b).unwrap_or_default()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// A cache folder name for a base URL: readable and unique.
fn cache_key(base: &str) -> String {
    let readable: String = base
        .split_once("://")
        .map_or(base, |(_, rest)| rest)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    let hash = sha256_hex(base.as_bytes());
    format!("{readable}-{}", &hash[..12])
}

/// Finds `*/GUID/<guid>.gz` by listing the top-level folders.
fn guid_by_scan(repo: &Repository, guid: &str) -> Option<String> {
    let rd = std::fs::read_dir(repo.root()).ok()?;
    let mut dirs: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| !n.starts_with('.'))
        .collect();
    dirs.sort();
    for d in dirs {
        for g in [guid.to_owned(), guid.to_ascii_uppercase()] {
            let name = format!("{d}/GUID/{g}");
            if repo.file_of(&name).is_ok_and(|p| p.is_file()) {
                return Some(name);
            }
        }
    }
    None
}

/// An inventory built by reading every file (for folders without one).
fn scan_inventory(repo: &Repository) -> Result<Inventory> {
    let mut inv = Inventory::default();
    for name in repo.list_files()? {
        if let Ok(Stored::Profile(p)) = repo.read(&name) {
            inv.entries.insert(name, make_entry(&p, 0, "", 0));
        }
    }
    Ok(inv)
}
