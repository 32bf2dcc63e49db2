//! `inventory.gz`: the repository's index, in Rekall's format.
//!
//! ```json
//! {"$METADATA": {"Type": "Inventory", "ProfileClass": "Inventory"},
//!  "$INVENTORY": {"nt/GUID/3844...2": {"LastModified": 1700000000,
//!      "Sha256": "...", "Size": 123456, "Type": "Profile",
//!      "ProfileClass": "Ntkrnlmp", "GUID_AGE": "3844...2", "PDBFile": "ntkrnlmp.pdb", "arch": "AMD64"},
//!   "Win7SP1x64": {"LastModified": 1700000000, "Sha256": "...", "Size": 80,
//!      "Type": "Symlink", "Target": "nt/GUID/3844...2"}}}
//! ```
//! Rekall's own repository manager writes `LastModified` (the file's
//! modification time); its older build script copied each profile's
//! `$METADATA`. Both are kept here, plus the `Sha256` and `Size` of the
//! stored (gzipped) file, so a client can tell a changed profile even within
//! one second, and check what it downloaded.

use std::collections::BTreeMap;
use std::path::Path;

use profile_runtime::{Profile, WriteMode};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The inventory's file name at the repository root.
pub const INVENTORY_FILE: &str = "inventory.gz";

/// Longest metadata string copied into an inventory entry.
const MAX_COPIED_STRING: usize = 4096;

/// One inventory entry: free-form keys, the known ones read by accessors.
pub type Entry = Map<String, Value>;

/// The whole inventory: profile name (without `.gz`) -> entry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inventory {
    /// Entries by profile name.
    pub entries: BTreeMap<String, Entry>,
}

/// Accessors of the keys an entry may carry.
pub trait EntryExt {
    /// `LastModified` (unix seconds; Rekall writes a float, rounded down here).
    fn last_modified(&self) -> Option<u64>;
    /// `Sha256` of the stored file, lower-case hex.
    fn sha256(&self) -> Option<&str>;
    /// `Size` of the stored file in bytes.
    fn size(&self) -> Option<u64>;
    /// `Type` (`Profile`, `Symlink`, ...).
    fn kind(&self) -> Option<&str>;
    /// `Target` of a symlink.
    fn target(&self) -> Option<&str>;
    /// A string value.
    fn str_of(&self, key: &str) -> Option<&str>;
}

impl EntryExt for Entry {
    fn last_modified(&self) -> Option<u64> {
        let v = self.get("LastModified")?;
        v.as_u64().or_else(|| {
            v.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(|f| f as u64)
        })
    }
    fn sha256(&self) -> Option<&str> {
        self.str_of("Sha256")
    }
    fn size(&self) -> Option<u64> {
        self.get("Size").and_then(Value::as_u64)
    }
    fn kind(&self) -> Option<&str> {
        self.str_of("Type")
    }
    fn target(&self) -> Option<&str> {
        self.str_of("Target")
    }
    fn str_of(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }
}

/// Builds the entry of a stored file from its profile metadata and file facts.
pub fn make_entry(profile: &Profile, last_modified: u64, sha256: &str, size: u64) -> Entry {
    let mut e = Entry::new();
    for (k, v) in &profile.metadata {
        let keep = match v {
            Value::String(s) => s.len() <= MAX_COPIED_STRING,
            Value::Number(_) | Value::Bool(_) => true,
            _ => false,
        };
        if keep {
            e.insert(k.clone(), v.clone());
        }
    }
    e.insert("LastModified".into(), last_modified.into());
    e.insert("Sha256".into(), sha256.into());
    e.insert("Size".into(), size.into());
    e
}

impl Inventory {
    /// Parses an inventory document (gzipped or plain); `what` names it in errors.
    pub fn from_bytes(bytes: Vec<u8>, what: &str) -> Result<Self> {
        let bytes = profile_runtime::read_maybe_gzip(bytes, what, 1 << 30)?;
        let doc: Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::format(what, format!("not valid JSON: {e}")))?;
        let Value::Object(mut top) = doc else {
            return Err(Error::format(what, "not a JSON object"));
        };
        let kind = top
            .get("$METADATA")
            .and_then(|m| m.get("Type"))
            .and_then(Value::as_str);
        if kind != Some("Inventory") {
            return Err(Error::format(what, "$METADATA.Type is not \"Inventory\""));
        }
        let mut inv = Inventory::default();
        match top.remove("$INVENTORY") {
            Some(Value::Object(m)) => {
                for (name, entry) in m {
                    match entry {
                        Value::Object(e) => {
                            inv.entries.insert(name, e);
                        }
                        // Tolerate odd entries from other tools: keep the name.
                        _ => {
                            inv.entries.insert(name, Entry::new());
                        }
                    }
                }
            }
            None | Some(Value::Null) => {}
            Some(_) => return Err(Error::format(what, "$INVENTORY is not an object")),
        }
        Ok(inv)
    }

    /// Reads `path`; `Ok(None)` when it does not exist.
    pub fn load(path: &Path) -> Result<Option<Self>> {
        match std::fs::read(path) {
            Ok(b) => Self::from_bytes(b, &path.display().to_string()).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// The inventory as a profile document (canonical, deterministic bytes).
    pub fn to_document(&self) -> Profile {
        let mut p = Profile::default();
        p.set_metadata("Type", "Inventory");
        p.set_metadata("ProfileClass", "Inventory");
        let inv: Map<String, Value> = self
            .entries
            .iter()
            .map(|(k, v)| (k.clone(), Value::Object(v.clone())))
            .collect();
        p.other.insert("$INVENTORY".into(), Value::Object(inv));
        p
    }

    /// Writes the inventory atomically (gzipped, canonical).
    pub fn save(&self, path: &Path) -> Result<()> {
        self.to_document().save(path, WriteMode::Overwrite)?;
        Ok(())
    }

    /// The entry of `name`.
    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.get(name)
    }

    /// Names of profiles whose `GUID_AGE` is `guid` (case-insensitive), or
    /// whose name ends in `/GUID/<guid>`; symlinks are not included.
    pub fn find_guid(&self, guid: &str) -> Vec<&str> {
        let mut out = Vec::new();
        for (name, e) in &self.entries {
            if e.kind() == Some("Symlink") {
                continue;
            }
            let by_meta = e
                .str_of("GUID_AGE")
                .is_some_and(|g| g.eq_ignore_ascii_case(guid));
            let by_name = name
                .rsplit_once("/GUID/")
                .is_some_and(|(_, g)| g.eq_ignore_ascii_case(guid));
            if by_meta || by_name {
                out.push(name.as_str());
            }
        }
        out
    }

    /// Names of Linux profiles whose banner matches `banner`: equal after
    /// trimming, or, failing that, the same kernel release
    /// (`Linux version X ...`) and the same compiler/build string prefix.
    pub fn find_banner(&self, banner: &str) -> Vec<&str> {
        let want = crate::index::normalize_banner(banner);
        let mut exact = Vec::new();
        let mut near = Vec::new();
        for (name, e) in &self.entries {
            if e.kind() == Some("Symlink") {
                continue;
            }
            let Some(have) = crate::layout::BANNER_KEYS.iter().find_map(|k| e.str_of(k)) else {
                continue;
            };
            match crate::index::banner_matches(&want, &crate::index::normalize_banner(have)) {
                Some(true) => exact.push(name.as_str()),
                Some(false) => near.push(name.as_str()),
                None => {}
            }
        }
        exact.extend(near);
        exact
    }
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_rekall_compat() {
        // Rekall writes float LastModified and nothing else.
        let rekall = br#"{"$METADATA": {"Type": "Inventory", "ProfileClass": "Inventory"},
            "$INVENTORY": {"nt/GUID/ABC": {"LastModified": 1438011231.5}, "odd": 3}}"#;
        let inv = Inventory::from_bytes(rekall.to_vec(), "t").unwrap();
        assert_eq!(
            inv.get("nt/GUID/ABC").unwrap().last_modified(),
            Some(1438011231)
        );
        assert!(inv.get("odd").unwrap().is_empty());
        let mut bytes = Vec::new();
        inv.to_document().write_canonical_gzip(&mut bytes).unwrap();
        // Canonical output drops empty entries (Rekall's empty-dict rule).
        let back = Inventory::from_bytes(bytes, "t").unwrap();
        assert_eq!(back.get("nt/GUID/ABC"), inv.get("nt/GUID/ABC"));
        assert_eq!(back.entries.len(), 1);
        assert!(
            Inventory::from_bytes(br#"{"$METADATA": {"Type": "Profile"}}"#.to_vec(), "t").is_err()
        );
    }

    #[test]
    fn find_by_guid_and_banner() {
        let mut inv = Inventory::default();
        let mut e = Entry::new();
        e.insert("GUID_AGE".into(), "AA11".into());
        inv.entries.insert("x/one".into(), e);
        inv.entries.insert("nt/GUID/BB22".into(), Entry::new());
        let mut l = Entry::new();
        l.insert(
            "Banner".into(),
            "Linux version 6.1.0-56-amd64 (gcc) #1 SMP".into(),
        );
        inv.entries.insert("Linux/a".into(), l);
        assert_eq!(inv.find_guid("aa11"), vec!["x/one"]);
        assert_eq!(inv.find_guid("BB22"), vec!["nt/GUID/BB22"]);
        assert_eq!(
            inv.find_banner("Linux version 6.1.0-56-amd64 (gcc) #1 SMP\n\0"),
            vec!["Linux/a"]
        );
        assert!(inv
            .find_banner("Linux version 6.1.0-57-amd64 (gcc) #1 SMP")
            .is_empty());
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
