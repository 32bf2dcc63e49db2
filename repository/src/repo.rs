//! A local repository: a folder of gzipped profiles and symlinks with an
//! `inventory.gz`, written under an advisory lock.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use profile_runtime::{write_atomic, Profile, WriteMode};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::inventory::{make_entry, sha256_hex, EntryExt, Inventory, INVENTORY_FILE};
use crate::isf_view::{IsfConvert, ViewState, Written};
use crate::name::validate_name;

/// Name of the advisory lock file at the repository root.
pub const LOCK_FILE: &str = ".lock";

/// Longest symlink chain followed before giving up.
pub const MAX_SYMLINK_DEPTH: usize = 32;

/// Deepest folder nesting walked when listing a repository.
const MAX_WALK_DEPTH: usize = 32;

/// Largest stored file read (compressed), 2 GiB.
const MAX_FILE_BYTES: u64 = 2 << 30;

/// What a repository file holds.
#[derive(Debug, Clone)]
pub enum Stored {
    /// A profile.
    Profile(Box<Profile>),
    /// A symlink to another name of the same repository.
    Symlink(String),
}

/// The metadata document of a symlink file.
pub fn symlink_document(target: &str) -> Profile {
    let mut p = Profile::default();
    p.set_metadata("Type", "Symlink");
    p.set_metadata("Target", target);
    p
}

/// Interprets a parsed file: symlink or profile.
fn classify(p: Profile, name: &str) -> Result<Stored> {
    if p.metadata_str("Type") == Some("Symlink") {
        let target = p.metadata_str("Target").ok_or_else(|| Error::Symlink {
            name: name.to_owned(),
            message: "no $METADATA.Target".into(),
        })?;
        let target = validate_name(target).map_err(|e| Error::Symlink {
            name: name.to_owned(),
            message: format!("target refused: {e}"),
        })?;
        Ok(Stored::Symlink(target))
    } else {
        Ok(Stored::Profile(Box::new(p)))
    }
}

/// A local profile repository rooted at a folder.
#[derive(Debug, Clone)]
pub struct Repository {
    root: PathBuf,
}

/// One problem `verify` found, named by the profile it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The profile or symlink name.
    pub name: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.message)
    }
}

impl Repository {
    /// Opens an existing repository folder.
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref();
        let md = std::fs::metadata(root).map_err(|e| Error::io(root, e))?;
        if !md.is_dir() {
            return Err(Error::Other(format!("{}: not a folder", root.display())));
        }
        Ok(Repository {
            root: root.to_path_buf(),
        })
    }

    /// Opens a repository folder, creating it if needed.
    pub fn create(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref();
        std::fs::create_dir_all(root).map_err(|e| Error::io(root, e))?;
        Self::open(root)
    }

    /// The repository folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file that stores `name` (`<root>/<name>.gz`), after checking the
    /// name.
    pub fn file_of(&self, name: &str) -> Result<PathBuf> {
        let name = validate_name(name)?;
        Ok(self.root.join(format!("{name}.gz")))
    }

    /// Refuses a path that resolves (through OS symlinks: the file itself
    /// or a parent folder) outside the repository: `ln -s /elsewhere/x.json.gz
    /// REPO/outside.gz` is not served, and `repo verify` reports it.
    fn check_contained(&self, name: &str, path: &Path) -> Result<()> {
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
            return match path.canonicalize() {
                Ok(real) => self.within(name, &real),
                // Dangling: reading it fails as "not found" anyway.
                Err(_) => Ok(()),
            };
        }
        let Some(parent) = path.parent() else {
            return Ok(());
        };
        let Ok(real_parent) = parent.canonicalize() else {
            // Not created yet: nothing there can point elsewhere... unless an
            // ancestor does; check the nearest existing ancestor.
            let mut a = parent;
            while let Some(up) = a.parent() {
                if let Ok(real) = up.canonicalize() {
                    return self.within(name, &real);
                }
                a = up;
            }
            return Ok(());
        };
        self.within(name, &real_parent)
    }

    fn within(&self, name: &str, real: &Path) -> Result<()> {
        let root = self
            .root
            .canonicalize()
            .map_err(|e| Error::io(&self.root, e))?;
        if real.starts_with(&root) {
            Ok(())
        } else {
            Err(Error::bad_name(
                name,
                format!("resolves to {} outside the repository", real.display()),
            ))
        }
    }

    /// Reads one stored entry (no symlink following).
    pub fn read(&self, name: &str) -> Result<Stored> {
        let name = validate_name(name)?;
        let path = self.file_of(&name)?;
        self.check_contained(&name, &path)?;
        let bytes = match read_limited(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound {
                    name,
                    searched: self.root.display().to_string(),
                })
            }
            Err(e) => return Err(Error::io(&path, e)),
        };
        let p = Profile::from_bytes(bytes, &path.display().to_string())?;
        classify(p, &name)
    }

    /// Follows symlinks from `name` to a profile; returns the profile's name
    /// and the profile. Chains are followed up to [`MAX_SYMLINK_DEPTH`];
    /// cycles and dangling targets are errors naming the symlink.
    pub fn load(&self, name: &str) -> Result<(String, Profile)> {
        let start = validate_name(name)?;
        let mut current = start.clone();
        let mut seen = vec![start.clone()];
        loop {
            match self.read(&current) {
                Ok(Stored::Profile(p)) => return Ok((current, *p)),
                Ok(Stored::Symlink(target)) => {
                    if seen.contains(&target) {
                        seen.push(target);
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
                    seen.push(target.clone());
                    current = target;
                }
                Err(Error::NotFound { .. }) if current != start => {
                    return Err(Error::Symlink {
                        name: start,
                        message: format!(
                            "dangling: target {current:?} does not exist ({})",
                            seen.join(" -> ")
                        ),
                    })
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether `name` exists (as a profile or a symlink).
    pub fn exists(&self, name: &str) -> Result<bool> {
        Ok(self.file_of(name)?.is_file())
    }

    /// The inventory, if the repository has one.
    pub fn inventory(&self) -> Result<Option<Inventory>> {
        Inventory::load(&self.root.join(INVENTORY_FILE))
    }

    /// Names of every stored file (`.gz`, not hidden, not the inventory),
    /// sorted.
    pub fn list_files(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        walk(&self.root, "", 0, &mut out, None)?;
        out.sort();
        Ok(out)
    }

    /// Takes the repository's write lock (blocking until other writers are
    /// done) and returns a guard through which changes are made.
    pub fn lock(&self) -> Result<WriteGuard<'_>> {
        let path = self.root.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        file.lock().map_err(|e| Error::io(&path, e))?;
        // Read the inventory only once the lock is held, so no change made
        // by an earlier writer is lost.
        let inventory = match self.inventory() {
            Ok(Some(i)) => i,
            // A missing or unreadable inventory is rebuilt on commit.
            _ => Inventory::default(),
        };
        // An unreadable view file does not block changes to the Rekall
        // tree: the commit says so, and `publish-isf` rewrites it.
        let (view, broken) = match ViewState::load(&self.root) {
            Ok(v) => (v, None),
            Err(e) => (None, Some(e.to_string())),
        };
        Ok(WriteGuard {
            repo: self,
            _lock: file,
            state: Mutex::new(GuardState {
                inventory,
                touched: BTreeSet::new(),
                isf_written: BTreeMap::new(),
            }),
            view: Mutex::new(ViewChange {
                current: view,
                broken,
                set: None,
            }),
        })
    }

    /// Checks the whole repository: every profile parses, every symlink
    /// resolves, and the inventory matches the files. Returns every problem.
    pub fn verify(&self) -> Result<Vec<Problem>> {
        let mut problems = Vec::new();
        let files = self.list_files()?;
        let mut facts: BTreeMap<String, (u64, String)> = BTreeMap::new();
        let mut symlinks = Vec::new();
        // OS symlinks (`ln -s`) among the stored files: one that resolves
        // outside the root is never served; say so.
        let mut links = Vec::new();
        walk(&self.root, "", 0, &mut Vec::new(), Some(&mut links))?;
        for name in &links {
            let path = self.root.join(format!("{name}.gz"));
            if let Err(e) = self.check_contained(name, &path) {
                problems.push(Problem {
                    name: name.clone(),
                    message: format!("an OS symlink that is not served: {e}"),
                });
            }
        }
        for name in &files {
            let path = self.root.join(format!("{name}.gz"));
            if let Err(e) = self.check_contained(name, &path) {
                problems.push(Problem {
                    name: name.clone(),
                    message: format!("not served: {e}"),
                });
                continue;
            }
            let bytes = match read_limited(&path) {
                Ok(b) => b,
                Err(e) => {
                    problems.push(Problem {
                        name: name.clone(),
                        message: format!("cannot read: {e}"),
                    });
                    continue;
                }
            };
            facts.insert(name.clone(), (bytes.len() as u64, sha256_hex(&bytes)));
            match Profile::from_bytes(bytes, name)
                .map_err(Error::from)
                .and_then(|p| classify(p, name))
            {
                Ok(Stored::Symlink(_)) => symlinks.push(name.clone()),
                Ok(Stored::Profile(_)) => {}
                Err(e) => problems.push(Problem {
                    name: name.clone(),
                    message: format!("corrupt profile: {e}"),
                }),
            }
        }
        for name in &symlinks {
            if let Err(e) = self.load(name) {
                problems.push(Problem {
                    name: name.clone(),
                    message: e.to_string(),
                });
            }
        }
        match self.inventory() {
            Ok(None) => problems.push(Problem {
                name: INVENTORY_FILE.into(),
                message: "missing (run `profc repo inventory`)".into(),
            }),
            Err(e) => problems.push(Problem {
                name: INVENTORY_FILE.into(),
                message: format!("unreadable: {e}"),
            }),
            Ok(Some(inv)) => {
                for (name, entry) in &inv.entries {
                    match facts.get(name) {
                        None if !files.contains(name) => problems.push(Problem {
                            name: name.clone(),
                            message: "listed in the inventory but there is no such file".into(),
                        }),
                        Some((size, sha))
                            if entry.sha256().is_some_and(|s| s != sha)
                                || entry.size().is_some_and(|s| s != *size) =>
                        {
                            problems.push(Problem {
                                name: name.clone(),
                                message:
                                    "the file differs from its inventory entry (size or Sha256)"
                                        .into(),
                            });
                        }
                        _ => {}
                    }
                }
                for name in &files {
                    if !inv.entries.contains_key(name) {
                        problems.push(Problem {
                            name: name.clone(),
                            message: "file not listed in the inventory".into(),
                        });
                    }
                }
            }
        }
        self.verify_isf_view(&files, &facts, &symlinks, &mut problems)?;
        Ok(problems)
    }

    /// The ISF view's problems: every profile has a current ISF file (the
    /// one recorded), and `banners.json` is the one the state makes.
    fn verify_isf_view(
        &self,
        files: &[String],
        facts: &BTreeMap<String, (u64, String)>,
        symlinks: &[String],
        problems: &mut Vec<Problem>,
    ) -> Result<()> {
        use crate::isf_view::{banners_bytes, isf_path, BANNERS_FILE, VIEW_FILE};
        let state = match ViewState::load(&self.root) {
            Ok(Some(s)) => s,
            Ok(None) => return Ok(()),
            Err(e) => {
                problems.push(Problem {
                    name: VIEW_FILE.into(),
                    message: format!("unreadable: {e}"),
                });
                return Ok(());
            }
        };
        for name in files.iter().filter(|n| !symlinks.contains(n)) {
            let Some((_, sha)) = facts.get(name) else {
                continue;
            };
            let message = match state.entries.get(name) {
                None => "not in the ISF view (run `profc repo publish-isf`)".to_owned(),
                Some(e) if &e.profile_sha256 != sha => {
                    "its ISF is stale (made from another version of the profile)".to_owned()
                }
                Some(e) => {
                    let path = self.root.join(isf_path(name));
                    match read_limited(&path) {
                        Ok(b) if sha256_hex(&b) == e.isf_sha256 => continue,
                        Ok(_) => format!("{} differs from the one recorded", isf_path(name)),
                        Err(err) => format!("{}: {err}", isf_path(name)),
                    }
                }
            };
            problems.push(Problem {
                name: name.clone(),
                message,
            });
        }
        for name in state.entries.keys() {
            if !files.contains(name) {
                problems.push(Problem {
                    name: name.clone(),
                    message: "in the ISF view but there is no such profile".into(),
                });
            }
        }
        let path = self.root.join(BANNERS_FILE);
        match std::fs::read(&path) {
            Ok(b) if b == banners_bytes(&state) => {}
            Ok(_) => problems.push(Problem {
                name: BANNERS_FILE.into(),
                message: "differs from the ISF view's state (run `profc repo publish-isf`)".into(),
            }),
            Err(e) => problems.push(Problem {
                name: BANNERS_FILE.into(),
                message: format!("cannot read: {e}"),
            }),
        }
        Ok(())
    }
}

/// Removes the folders in `dirs` (deepest first) that are empty; a folder
/// another writer has filled meanwhile stays.
fn remove_empty(dirs: &[PathBuf]) {
    for d in dirs {
        if std::fs::remove_dir(d).is_err() {
            break;
        }
    }
}

/// Reads a file, refusing one larger than [`MAX_FILE_BYTES`].
fn read_limited(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let f = File::open(path)?;
    let mut out = Vec::new();
    f.take(MAX_FILE_BYTES + 1).read_to_end(&mut out)?;
    if out.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {MAX_FILE_BYTES} bytes"
        )));
    }
    Ok(out)
}

fn walk(
    dir: &Path,
    prefix: &str,
    depth: usize,
    out: &mut Vec<String>,
    mut links: Option<&mut Vec<String>>,
) -> Result<()> {
    if depth > MAX_WALK_DEPTH {
        return Ok(());
    }
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let fname = entry.file_name();
        let Some(fname) = fname.to_str() else {
            continue;
        };
        if fname.starts_with('.') {
            continue;
        }
        // file_type() does not follow OS symlinks: they are never walked.
        let ft = entry.file_type().map_err(|e| Error::io(entry.path(), e))?;
        if ft.is_dir() {
            walk(
                &entry.path(),
                &format!("{prefix}{fname}/"),
                depth + 1,
                out,
                links.as_deref_mut(),
            )?;
        } else if ft.is_symlink() {
            if let (Some(links), Some(stem)) = (links.as_deref_mut(), fname.strip_suffix(".gz")) {
                links.push(format!("{prefix}{stem}"));
            }
        } else if ft.is_file() {
            if let Some(stem) = fname.strip_suffix(".gz") {
                if depth == 0 && fname == INVENTORY_FILE {
                    continue;
                }
                let name = format!("{prefix}{stem}");
                if validate_name(&name).is_ok() {
                    out.push(name);
                }
            }
        }
    }
    Ok(())
}

/// Gives a stored file the usual `rw-r--r--` mode: the atomic writer's
/// temporary files are private (0600), but a repository is meant to be read
/// by others (an HTTP server, other users).
pub(crate) fn make_readable(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
            .map_err(|e| Error::io(path, e))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Modification time (unix seconds) and size of a file.
fn stat(path: &Path) -> Result<(u64, u64)> {
    let md = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let mtime = md
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    Ok((mtime, md.len()))
}

/// The stored form of a profile: canonical JSON, deterministic gzip.
pub fn encode(doc: &Profile) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    doc.write_canonical_gzip(&mut bytes)
        .map_err(|e| Error::Other(format!("encoding a profile: {e}")))?;
    Ok(bytes)
}

/// Exclusive write access to a repository. Changes are written at once
/// (atomically, file by file); [`WriteGuard::commit`] brings the inventory
/// up to date and releases the lock. Dropping the guard without committing
/// releases the lock and leaves the inventory as it was (the next commit or
/// `profc repo inventory` repairs it).
///
/// The guard is `Sync`: threads may store different names through it at
/// once (files are written in parallel; only the inventory bookkeeping is
/// serialised).
#[derive(Debug)]
pub struct WriteGuard<'a> {
    repo: &'a Repository,
    _lock: File,
    state: Mutex<GuardState>,
    view: Mutex<ViewChange>,
}

#[derive(Debug, Default)]
struct GuardState {
    inventory: Inventory,
    touched: BTreeSet<String>,
    /// ISF files written through this guard, by profile name.
    isf_written: BTreeMap<String, Written>,
}

/// The ISF view as the lock found it, and the change asked for.
#[derive(Debug, Default)]
struct ViewChange {
    current: Option<ViewState>,
    /// Why the view file could not be read, when it could not.
    broken: Option<String>,
    /// `Some(Some(url))`: publish at that base URL; `Some(None)`: withdraw.
    set: Option<Option<String>>,
}

/// What [`WriteGuard::commit_with`] did.
#[derive(Debug, Clone, Default)]
pub struct Committed {
    /// The inventory written.
    pub inventory: Inventory,
    /// The ISF view after the commit (`None`: not published).
    pub isf_view: Option<ViewState>,
    /// Profiles left out of the ISF view, and why.
    pub notes: Vec<String>,
}

impl WriteGuard<'_> {
    /// The repository.
    pub fn repository(&self) -> &Repository {
        self.repo
    }

    fn state(&self) -> std::sync::MutexGuard<'_, GuardState> {
        // A thread that panicked while holding the lock left only
        // bookkeeping behind; the files themselves are written atomically.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The inventory as this writer sees it (a copy).
    pub fn inventory(&self) -> Inventory {
        self.state().inventory.clone()
    }

    fn write_doc(&self, name: &str, doc: &Profile, overwrite: bool) -> Result<()> {
        let bytes = encode(doc)?;
        self.store_encoded(name, doc, &bytes, overwrite)
    }

    /// Stores bytes made by [`encode`] from `doc` under `name` (the slow
    /// encoding can so run outside any lock shared between threads).
    pub fn store_encoded(
        &self,
        name: &str,
        doc: &Profile,
        bytes: &[u8],
        overwrite: bool,
    ) -> Result<()> {
        let name = validate_name(name)?;
        let path = self.repo.file_of(&name)?;
        if !overwrite && path.exists() {
            return Err(Error::Exists {
                name,
                repo: self.repo.root.clone(),
            });
        }
        // The folders this write creates, deepest first: removed again when
        // the write fails (a full disk must not leave empty folders).
        let mut created = Vec::new();
        if let Some(parent) = path.parent() {
            self.repo.check_contained(&name, &path)?;
            let mut a = parent;
            while !a.exists() && a.starts_with(&self.repo.root) && a != self.repo.root {
                created.push(a.to_path_buf());
                match a.parent() {
                    Some(up) => a = up,
                    None => break,
                }
            }
            let made = std::fs::create_dir_all(parent)
                .map_err(|e| Error::io(parent, e))
                .and_then(|()| self.repo.check_contained(&name, &path));
            if let Err(e) = made {
                remove_empty(&created);
                return Err(e);
            }
        }
        let mode = if overwrite {
            WriteMode::Overwrite
        } else {
            WriteMode::CreateNew
        };
        write_atomic(&path, mode, |w| w.write_all(bytes)).map_err(|e| {
            remove_empty(&created);
            match e {
                profile_runtime::Error::Exists(_) => Error::Exists {
                    name: name.clone(),
                    repo: self.repo.root.clone(),
                },
                other => other.into(),
            }
        })?;
        make_readable(&path)?;
        let (mtime, size) = stat(&path)?;
        let entry = make_entry(doc, mtime, &sha256_hex(bytes), size);
        let mut st = self.state();
        st.inventory.entries.insert(name.clone(), entry);
        st.touched.insert(name);
        Ok(())
    }

    /// Stores a profile under `name` (`<name>.gz`, canonical deterministic
    /// gzip). A symlink document is refused here: use [`Self::put_symlink`].
    pub fn put_profile(&self, name: &str, profile: &Profile, overwrite: bool) -> Result<()> {
        if profile.metadata_str("Type") == Some("Symlink") {
            let target = profile.metadata_str("Target").unwrap_or("").to_owned();
            return self.put_symlink(name, &target, overwrite);
        }
        self.write_doc(name, profile, overwrite)
    }

    /// Makes `name` a symlink to `target`. The target must resolve to a
    /// profile in this repository, and the link must not close a cycle.
    pub fn put_symlink(&self, name: &str, target: &str, overwrite: bool) -> Result<()> {
        let name = validate_name(name)?;
        let target = validate_name(target).map_err(|e| Error::Symlink {
            name: name.clone(),
            message: format!("target refused: {e}"),
        })?;
        if name == target {
            return Err(Error::Symlink {
                name,
                message: "a symlink cannot point to itself".into(),
            });
        }
        // Walk the target's chain: it must end at a profile without coming
        // back through `name`.
        let mut current = target.clone();
        for _ in 0..=MAX_SYMLINK_DEPTH {
            if current == name {
                return Err(Error::Symlink {
                    name: name.clone(),
                    message: format!("would form a cycle through {target:?}"),
                });
            }
            match self.repo.read(&current) {
                Ok(Stored::Profile(_)) => {
                    return self.write_doc(&name, &symlink_document(&target), overwrite)
                }
                Ok(Stored::Symlink(next)) => current = next,
                Err(Error::NotFound { .. }) => {
                    return Err(Error::Symlink {
                        name,
                        message: format!("target {current:?} does not exist in the repository"),
                    })
                }
                Err(e) => {
                    return Err(Error::Symlink {
                        name,
                        message: format!("target {current:?}: {e}"),
                    })
                }
            }
        }
        Err(Error::Symlink {
            name,
            message: format!("target chain longer than {MAX_SYMLINK_DEPTH}"),
        })
    }

    /// Symlinks (by the inventory) whose target is `name`.
    pub fn links_to(&self, name: &str) -> Vec<String> {
        self.state()
            .inventory
            .entries
            .iter()
            .filter(|(_, e)| e.target() == Some(name))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Removes `name`. Refused while symlinks point to it, unless `force`.
    pub fn remove(&self, name: &str, force: bool) -> Result<()> {
        let name = validate_name(name)?;
        let path = self.repo.file_of(&name)?;
        self.repo.check_contained(&name, &path)?;
        if !path.is_file() {
            return Err(Error::NotFound {
                name,
                searched: self.repo.root.display().to_string(),
            });
        }
        let links = self.links_to(&name);
        if !links.is_empty() && !force {
            return Err(Error::Other(format!(
                "{name:?} is the target of symlink(s) {}; remove them first or use --force",
                links.join(", ")
            )));
        }
        std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        // Tidy folders left empty, up to the root (best effort).
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d == self.repo.root || std::fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
        let mut st = self.state();
        st.inventory.entries.remove(&name);
        st.touched.insert(name);
        Ok(())
    }

    /// Whether this repository publishes an ISF view (or will, after a
    /// [`Self::set_isf_view`] in this guard): callers then hand over each
    /// profile's ISF with [`Self::put_isf`].
    pub fn isf_view_enabled(&self) -> bool {
        let v = self.view.lock().unwrap_or_else(|p| p.into_inner());
        match &v.set {
            Some(s) => s.is_some(),
            None => v.current.is_some(),
        }
    }

    /// Publishes the ISF view at `base_url` (where the repository folder is
    /// served; checked, given a trailing `/`), or withdraws it (`None`:
    /// its files are removed). Takes effect at commit.
    pub fn set_isf_view(&self, base_url: Option<&str>) -> Result<()> {
        let set = base_url
            .map(crate::isf_view::normalize_base_url)
            .transpose()?;
        self.view.lock().unwrap_or_else(|p| p.into_inner()).set = Some(set);
        Ok(())
    }

    /// Stores the ISF document of the profile stored as `name` in the ISF
    /// view (`isf/<name>.json.xz`, atomically). Nothing is written when the
    /// repository publishes no view.
    pub fn put_isf(&self, name: &str, isf: &Value) -> Result<()> {
        if !self.isf_view_enabled() {
            return Ok(());
        }
        let name = validate_name(name)?;
        let path = self.repo.root.join(crate::isf_view::isf_path(&name));
        self.repo.check_contained(&name, &path)?;
        let w = crate::isf_view::write_isf(&self.repo.root, &name, isf)?;
        self.state().isf_written.insert(name, w);
        Ok(())
    }

    /// [`Self::commit_with`] without a converter: profiles whose ISF was not
    /// handed over are left out of the ISF view (with a note).
    pub fn commit(self) -> Result<Inventory> {
        Ok(self.commit_with(None)?.inventory)
    }

    /// Brings the inventory up to date with the files (entries of files
    /// written through this guard are exact; other files are re-read when
    /// their time or size changed; entries of vanished files are dropped),
    /// writes it atomically, brings the ISF view (if published) up to date
    /// (`convert` makes the ISF of profiles stored without one), and
    /// releases the lock.
    pub fn commit_with(self, convert: Option<&IsfConvert<'_>>) -> Result<Committed> {
        let mut st = self.state.into_inner().unwrap_or_else(|p| p.into_inner());
        let inventory = refresh(self.repo, &mut st)?;
        let path = self.repo.root.join(INVENTORY_FILE);
        inventory.save(&path)?;
        make_readable(&path)?;
        crate::index::write(self.repo.root(), &inventory)?;
        let view = self.view.into_inner().unwrap_or_else(|p| p.into_inner());
        let mut committed = Committed {
            inventory,
            ..Committed::default()
        };
        if let (Some(why), None) = (&view.broken, &view.set) {
            committed.notes.push(format!(
                "the ISF view was not updated: {why} (`profc repo publish-isf` rewrites it)"
            ));
            return Ok(committed);
        }
        let state = match (view.current, view.set) {
            (Some(old), Some(None)) => {
                crate::isf_view::withdraw(&self.repo.root, &old)?;
                None
            }
            (None, Some(None)) if view.broken.is_some() => {
                crate::isf_view::withdraw(&self.repo.root, &ViewState::default())?;
                None
            }
            (None, Some(None)) | (None, None) => None,
            (Some(old), None) => Some(old),
            (old, Some(Some(url))) => Some(ViewState {
                base_url: url,
                entries: old.map(|o| o.entries).unwrap_or_default(),
            }),
        };
        if let Some(mut state) = state {
            committed.notes = crate::isf_view::sync(
                self.repo,
                &mut state,
                &committed.inventory,
                &st.isf_written,
                convert,
            )?;
            committed.isf_view = Some(state);
        }
        Ok(committed)
    }
}

fn refresh(repo: &Repository, st: &mut GuardState) -> Result<Inventory> {
    let files = repo.list_files()?;
    let mut fresh = Inventory::default();
    for name in files {
        let path = repo.root.join(format!("{name}.gz"));
        let old = st.inventory.entries.remove(&name);
        let (mtime, size) = stat(&path)?;
        let keep = old.filter(|e| {
            st.touched.contains(&name)
                || (e.last_modified() == Some(mtime)
                    && e.size() == Some(size)
                    && e.sha256().is_some())
        });
        let entry = match keep {
            Some(e) => e,
            None => {
                let bytes = match read_limited(&path) {
                    Ok(b) => b,
                    Err(_) => continue,
                };
                let sha = sha256_hex(&bytes);
                match Profile::from_bytes(bytes, &name) {
                    Ok(p) => make_entry(&p, mtime, &sha, size),
                    // Unreadable files stay out of the inventory; `verify` names them.
                    Err(_) => continue,
                }
            }
        };
        fresh.entries.insert(name, entry);
    }
    Ok(fresh)
}

/// A summary line of an inventory entry, for listings.
pub fn describe_entry(entry: &crate::inventory::Entry) -> String {
    let mut parts = Vec::new();
    match entry.kind() {
        Some("Symlink") => parts.push(format!("-> {}", entry.target().unwrap_or("?"))),
        Some(k) => parts.push(k.to_owned()),
        None => {}
    }
    for key in ["ProfileClass", "arch", "GUID_AGE", "PDBFile"] {
        if let Some(v) = entry.get(key) {
            let v = v
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string());
            parts.push(format!("{key}={v}"));
        }
    }
    if let Some(b) = crate::layout::BANNER_KEYS
        .iter()
        .find_map(|k| entry.get(*k).and_then(Value::as_str))
    {
        parts.push(format!("Banner={b:?}"));
    }
    parts.join(" ")
}
