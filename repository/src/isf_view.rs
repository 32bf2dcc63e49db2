//! Volatility 3's remote-ISF view of a repository: beside the Rekall tree,
//! `isf/<name>.json.xz` (each profile in Volatility 3's Intermediate Symbol
//! Format) and `banners.json`, the identifier list that Volatility 3's
//! `--remote-isf-url` reads.
//!
//! `banners.json` (format version 1, as Volatility 3 reads it):
//! `{"version": 1, "linux": {B64: [URL, ...]}, "mac": {...}, "windows": {...}}`
//! where `B64` is the base64 of the identifier bytes Volatility 3 itself
//! derives from an ISF file: a Linux ISF's `symbols.linux_banner.constant_data`
//! (the kernel banner, which it then scans memory for), a macOS ISF's
//! `symbols.version.constant_data`, a Windows ISF's
//! `<pdb name>|<GUID upper case>|<age in decimal>` from `metadata.windows.pdb`.
//! Volatility 3 opens the URLs as they are (no resolution against the
//! location of `banners.json`), so they are absolute: the view's base URL
//! (where the repository folder is served) followed by `isf/<name>.json.xz`.
//!
//! The view is opt-in: [`WriteGuard::set_isf_view`] records the base URL in
//! `.isf-view.json` (hidden, with what each ISF file was made from); from
//! then on every commit brings the view up to date with the Rekall tree.
//!
//! [`WriteGuard::set_isf_view`]: crate::WriteGuard::set_isf_view

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use profile_runtime::{write_atomic, Profile, WriteMode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::inventory::{sha256_hex, EntryExt, Inventory};

/// The view's settings and state file at the repository root (hidden).
pub const VIEW_FILE: &str = ".isf-view.json";

/// The identifier list Volatility 3 reads (`--remote-isf-url URL/banners.json`).
pub const BANNERS_FILE: &str = "banners.json";

/// The folder of ISF files, at the repository root.
pub const ISF_DIR: &str = "isf";

/// The `banners.json` format version written (the one Volatility 3 reads).
pub const BANNERS_VERSION: u64 = 1;

/// Volatility 3's operating-system categories, in `banners.json`.
pub const OS_KEYS: [&str; 3] = ["linux", "mac", "windows"];

/// The view's settings and what each ISF file was made from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewState {
    /// Where the repository folder is served (ends in `/`).
    pub base_url: String,
    /// By profile name.
    #[serde(default)]
    pub entries: BTreeMap<String, ViewEntry>,
}

/// One published ISF file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewEntry {
    /// `Sha256` of the stored profile (`<name>.gz`) it was made from; an
    /// entry whose profile changed is stale.
    pub profile_sha256: String,
    /// SHA-256 of the `.json.xz` file.
    pub isf_sha256: String,
    /// `linux`, `mac` or `windows`; absent when the ISF has no identifier
    /// (then it is not in `banners.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// The identifier, base64 (as `banners.json` keys it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    /// Made from the stored Rekall profile rather than from the compiler's
    /// output (so without symbol types; unions guessed).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_rekall: bool,
}

/// Converts a stored profile to ISF, for profiles whose ISF was not handed
/// over when they were stored (the compiler lives in the binary). Called
/// with the profile's name.
pub type IsfConvert<'a> =
    dyn Fn(&str, &Profile) -> std::result::Result<Value, crate::build::BoxError> + Sync + 'a;

/// The identifier Volatility 3 derives from an ISF document, and its
/// operating system (`linux`, `mac`, `windows`), by the same rules as its
/// symbol cache: Windows from `metadata.windows.pdb` (`database`, `GUID`,
/// `age`), macOS from `symbols.version.constant_data`, Linux from
/// `symbols.linux_banner.constant_data` (base64). Trailing white space and
/// NULs of a banner are dropped (Volatility 3 drops them from remote
/// identifiers; the text before them is what it scans memory for).
pub fn identifier(isf: &Value) -> Option<(&'static str, Vec<u8>)> {
    let pdb = &isf["metadata"]["windows"]["pdb"];
    if let (Some(guid), Some(age), Some(db)) = (
        pdb["GUID"].as_str(),
        pdb["age"].as_u64(),
        pdb["database"].as_str(),
    ) {
        if !guid.is_empty() && age != 0 && !db.is_empty() {
            let id = format!("{db}|{}|{age}", guid.to_ascii_uppercase());
            return Some(("windows", id.into_bytes()));
        }
    }
    for (os, symbol) in [("mac", "version"), ("linux", "linux_banner")] {
        let Some(data) = isf["symbols"][symbol]["constant_data"].as_str() else {
            continue;
        };
        let Ok(mut bytes) = base64::engine::general_purpose::STANDARD.decode(data) else {
            continue;
        };
        while bytes
            .last()
            .is_some_and(|b| *b == 0 || b.is_ascii_whitespace())
        {
            bytes.pop();
        }
        if !bytes.is_empty() {
            return Some((os, bytes));
        }
    }
    None
}

/// The ISF file of a profile name, relative to the repository root.
pub fn isf_path(name: &str) -> String {
    format!("{ISF_DIR}/{name}.json.xz")
}

/// Checks a base URL (it needs a scheme Volatility 3 can open) and gives it
/// a trailing `/`.
pub fn normalize_base_url(url: &str) -> Result<String> {
    let u = url.trim();
    let scheme_ok = ["http://", "https://", "file://"]
        .iter()
        .any(|s| u.len() > s.len() && u[..s.len()].eq_ignore_ascii_case(s));
    if !scheme_ok {
        return Err(Error::Other(format!(
            "base URL {url:?}: give an absolute http://, https:// or file:// URL (Volatility 3 opens banners.json's URLs as they are)"
        )));
    }
    if u.chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '"')
    {
        return Err(Error::Other(format!(
            "base URL {url:?}: white space, quotes and control characters are not allowed"
        )));
    }
    let mut u = u.to_owned();
    if !u.ends_with('/') {
        u.push('/');
    }
    Ok(u)
}

impl ViewState {
    /// Reads the view file of the repository at `root`: `None` when the
    /// view is not enabled.
    pub fn load(root: &Path) -> Result<Option<ViewState>> {
        let path = root.join(VIEW_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::format(path.display().to_string(), e.to_string()))
    }

    pub(crate) fn save(&self, root: &Path) -> Result<()> {
        let path = root.join(VIEW_FILE);
        let mut json = serde_json::to_vec_pretty(self).map_err(|e| Error::Other(e.to_string()))?;
        json.push(b'\n');
        write_atomic(&path, WriteMode::Overwrite, |w| w.write_all(&json))?;
        Ok(())
    }

    /// The `banners.json` document of this state.
    pub fn banners(&self) -> Value {
        let mut by_os: BTreeMap<&str, BTreeMap<&str, Vec<String>>> =
            OS_KEYS.iter().map(|k| (*k, BTreeMap::new())).collect();
        for (name, e) in &self.entries {
            if let (Some(os), Some(id)) = (e.os.as_deref(), e.identifier.as_deref()) {
                if let Some(m) = by_os.get_mut(os) {
                    m.entry(id)
                        .or_default()
                        .push(format!("{}{}", self.base_url, isf_path(name)));
                }
            }
        }
        let mut doc = serde_json::Map::new();
        doc.insert("version".into(), Value::from(BANNERS_VERSION));
        for (os, ids) in by_os {
            let m: serde_json::Map<String, Value> = ids
                .into_iter()
                .map(|(id, urls)| (id.to_owned(), Value::from(urls)))
                .collect();
            doc.insert(os.into(), Value::Object(m));
        }
        Value::Object(doc)
    }
}

/// The bytes of `banners.json`: pretty-printed, sorted keys, a final newline.
pub fn banners_bytes(state: &ViewState) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(&state.banners()).unwrap_or_default();
    out.push(b'\n');
    out
}

/// Writes `banners.json` atomically (a temporary file renamed over the old
/// one: if it cannot be written, the previous one stays).
pub(crate) fn write_banners(root: &Path, state: &ViewState) -> Result<()> {
    let path = root.join(BANNERS_FILE);
    let bytes = banners_bytes(state);
    write_atomic(&path, WriteMode::Overwrite, |w| w.write_all(&bytes))?;
    crate::repo::make_readable(&path)
}

/// The xz bytes of an ISF document (compact JSON, sorted keys; one-threaded
/// xz at preset 2, so the same document gives the same bytes).
pub fn encode_isf(isf: &Value) -> Result<Vec<u8>> {
    let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 2);
    serde_json::to_writer(&mut xz, isf)
        .map_err(|e| Error::Other(format!("encoding an ISF document: {e}")))?;
    xz.finish()
        .map_err(|e| Error::Other(format!("compressing an ISF document: {e}")))
}

/// What writing one ISF file gave.
#[derive(Debug, Clone)]
pub(crate) struct Written {
    pub isf_sha256: String,
    pub os: Option<String>,
    pub identifier: Option<String>,
}

/// Writes the ISF file of `name` atomically.
pub(crate) fn write_isf(root: &Path, name: &str, isf: &Value) -> Result<Written> {
    let bytes = encode_isf(isf)?;
    let path = root.join(isf_path(name));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    write_atomic(&path, WriteMode::Overwrite, |w| w.write_all(&bytes))?;
    crate::repo::make_readable(&path)?;
    let id = identifier(isf);
    Ok(Written {
        isf_sha256: sha256_hex(&bytes),
        os: id.as_ref().map(|(os, _)| (*os).to_owned()),
        identifier: id.map(|(_, b)| base64::engine::general_purpose::STANDARD.encode(b)),
    })
}

/// Removes the ISF file of `name` and the folders it leaves empty under
/// `isf/` (best effort for the folders).
pub(crate) fn remove_isf(root: &Path, name: &str) -> Result<()> {
    let path = root.join(isf_path(name));
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(&path, e)),
    }
    let top = root.join(ISF_DIR);
    let mut dir = path.parent().map(PathBuf::from);
    while let Some(d) = dir {
        if !d.starts_with(&top) || std::fs::remove_dir(&d).is_err() {
            break;
        }
        if d == top {
            break;
        }
        dir = d.parent().map(PathBuf::from);
    }
    Ok(())
}

/// Brings the view up to date with `inventory`: ISF files handed over in
/// `written` are recorded, current ones kept, others converted with
/// `convert` (or dropped without it), entries of vanished profiles
/// removed; then `banners.json` and the view file are written. Returns one
/// note per profile left out.
pub(crate) fn sync(
    repo: &crate::Repository,
    state: &mut ViewState,
    inventory: &Inventory,
    written: &BTreeMap<String, Written>,
    convert: Option<&IsfConvert<'_>>,
) -> Result<Vec<String>> {
    let root = repo.root();
    let mut notes = Vec::new();
    let mut fresh = BTreeMap::new();
    for (name, entry) in &inventory.entries {
        if entry.kind() == Some("Symlink") {
            continue;
        }
        let Some(sha) = entry.sha256() else { continue };
        if let Some(w) = written.get(name) {
            fresh.insert(
                name.clone(),
                ViewEntry {
                    profile_sha256: sha.to_owned(),
                    isf_sha256: w.isf_sha256.clone(),
                    os: w.os.clone(),
                    identifier: w.identifier.clone(),
                    from_rekall: false,
                },
            );
            continue;
        }
        if let Some(old) = state.entries.get(name) {
            if old.profile_sha256 == sha && root.join(isf_path(name)).is_file() {
                fresh.insert(name.clone(), old.clone());
                continue;
            }
        }
        let Some(convert) = convert else {
            // Stale or missing, and no converter here: leave it out.
            remove_isf(root, name)?;
            notes.push(format!(
                "{name}: not in the ISF view (run `profc repo publish-isf`)"
            ));
            continue;
        };
        let made = match repo.read(name) {
            Ok(crate::Stored::Profile(p)) => convert(name, &p).map_err(|e| e.to_string()),
            Ok(crate::Stored::Symlink(_)) => continue,
            Err(e) => Err(e.to_string()),
        };
        match made {
            Ok(isf) => {
                let w = write_isf(root, name, &isf)?;
                fresh.insert(
                    name.clone(),
                    ViewEntry {
                        profile_sha256: sha.to_owned(),
                        isf_sha256: w.isf_sha256,
                        os: w.os,
                        identifier: w.identifier,
                        from_rekall: true,
                    },
                );
            }
            Err(e) => {
                remove_isf(root, name)?;
                notes.push(format!("{name}: not in the ISF view: {e}"));
            }
        }
    }
    for name in state.entries.keys() {
        if !fresh.contains_key(name) {
            remove_isf(root, name)?;
        }
    }
    state.entries = fresh;
    // banners.json first: if it cannot be written, the view file still
    // describes the previous one (and the next commit writes both).
    write_banners(root, state)?;
    state.save(root)?;
    Ok(notes)
}

/// Withdraws the view: removes every ISF file it lists (every `.json.xz`
/// under `isf/` when the list is lost), `banners.json` and the view file.
pub(crate) fn withdraw(root: &Path, state: &ViewState) -> Result<()> {
    for name in state.entries.keys() {
        remove_isf(root, name)?;
    }
    if state.entries.is_empty() {
        remove_xz_under(&root.join(ISF_DIR), 0);
    }
    for f in [BANNERS_FILE, VIEW_FILE] {
        let path = root.join(f);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&path, e)),
        }
    }
    let _ = std::fs::remove_dir(root.join(ISF_DIR));
    Ok(())
}

/// Removes `*.json.xz` files below `dir` and the folders left empty (best
/// effort; OS symlinks are not followed).
fn remove_xz_under(dir: &Path, depth: usize) {
    if depth > 32 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            remove_xz_under(&e.path(), depth + 1);
        } else if ft.is_file() && e.file_name().to_string_lossy().ends_with(".json.xz") {
            let _ = std::fs::remove_file(e.path());
        }
    }
    let _ = std::fs::remove_dir(dir);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(s: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn identifiers_follow_volatility3() {
        let linux = json!({"symbols": {"linux_banner": {"address": 1,
            "constant_data": b64(b"Linux version 6.1.0 (x) #1 SMP\n\0")}}});
        assert_eq!(
            identifier(&linux),
            Some(("linux", b"Linux version 6.1.0 (x) #1 SMP".to_vec()))
        );
        let mac = json!({"symbols": {"version": {"address": 1,
            "constant_data": b64(b"Darwin Kernel Version 17.4.0")}}});
        assert_eq!(
            identifier(&mac),
            Some(("mac", b"Darwin Kernel Version 17.4.0".to_vec()))
        );
        let win = json!({"metadata": {"windows": {"pdb": {"GUID": "3844dbb920174967be7aa4a2c20430fa",
            "age": 2, "database": "ntkrnlmp.pdb"}}}});
        assert_eq!(
            identifier(&win),
            Some((
                "windows",
                b"ntkrnlmp.pdb|3844DBB920174967BE7AA4A2C20430FA|2".to_vec()
            ))
        );
        assert_eq!(identifier(&json!({"symbols": {}})), None);
        let bad = json!({"symbols": {"linux_banner": {"constant_data": "%%%"}}});
        assert_eq!(identifier(&bad), None);
    }

    #[test]
    fn base_urls_are_absolute() {
        assert_eq!(
            normalize_base_url("http://h:8000/repo").unwrap(),
            "http://h:8000/repo/"
        );
        assert_eq!(normalize_base_url("HTTPS://h/").unwrap(), "HTTPS://h/");
        for bad in ["repo/", "/srv/repo", "http://", "ftp://h/", "http://h/a b"] {
            assert!(normalize_base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn banners_group_by_os_and_identifier() {
        let mut st = ViewState {
            base_url: "http://h/r/".into(),
            ..Default::default()
        };
        for (name, os, id) in [
            ("b", Some("linux"), Some("QQ==")),
            ("a", Some("linux"), Some("QQ==")),
            ("w", Some("windows"), Some("Vw==")),
            ("none", None, None),
        ] {
            st.entries.insert(
                name.into(),
                ViewEntry {
                    os: os.map(Into::into),
                    identifier: id.map(Into::into),
                    ..Default::default()
                },
            );
        }
        let doc = st.banners();
        assert_eq!(
            doc,
            json!({"version": 1, "mac": {},
                "linux": {"QQ==": ["http://h/r/isf/a.json.xz", "http://h/r/isf/b.json.xz"]},
                "windows": {"Vw==": ["http://h/r/isf/w.json.xz"]}})
        );
        assert_eq!(banners_bytes(&st), banners_bytes(&st.clone()));
    }
}
