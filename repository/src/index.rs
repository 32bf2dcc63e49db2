//! `.lookup-index`: a small line-oriented index written next to the
//! inventory, so that lookups by GUID_AGE or banner in a large local
//! repository need not parse the whole inventory.
//!
//! One line per key: `G<TAB><GUID_AGE upper case><TAB><name>` or
//! `B<TAB><banner, white space collapsed><TAB><name>`. It is derived from
//! the inventory on every commit; when it is missing, lookups fall back to
//! the inventory.

use std::path::Path;

use profile_runtime::{write_atomic, WriteMode};

use crate::error::{Error, Result};
use crate::inventory::{EntryExt, Inventory};
use crate::layout::{release_from_banner, BANNER_KEYS};

/// The index file at the repository root (hidden: not a profile).
pub const INDEX_FILE: &str = ".lookup-index";

/// A banner with NULs and runs of white space collapsed to one space.
pub fn normalize_banner(b: &str) -> String {
    b.split(|c: char| c.is_whitespace() || c == '\0')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether a stored banner `have` matches a wanted banner `want` (both
/// normalised): equal, or the same kernel release with `have` a prefix of
/// `want` (a memory image's banner may carry more text).
pub fn banner_matches(want: &str, have: &str) -> Option<bool> {
    if want == have {
        return Some(true);
    }
    let same = release_from_banner(want).is_some()
        && release_from_banner(want) == release_from_banner(have)
        && want.starts_with(have);
    same.then_some(false)
}

/// Writes the index for `inv`.
pub(crate) fn write(root: &Path, inv: &Inventory) -> Result<()> {
    let mut out = String::new();
    for (name, e) in &inv.entries {
        if e.kind() == Some("Symlink") {
            continue;
        }
        if let Some(g) = e.str_of("GUID_AGE").filter(|g| crate::name::is_guid_age(g)) {
            out.push_str(&format!("G\t{}\t{name}\n", g.to_ascii_uppercase()));
        }
        if let Some(b) = BANNER_KEYS.iter().find_map(|k| e.str_of(k)) {
            let b = normalize_banner(b);
            if !b.is_empty() {
                out.push_str(&format!("B\t{b}\t{name}\n"));
            }
        }
    }
    let path = root.join(INDEX_FILE);
    write_atomic(&path, WriteMode::Overwrite, |w| w.write_all(out.as_bytes()))?;
    crate::repo::make_readable(&path)
}

/// Looks `key` up in the index: `Ok(None)` when there is no index file,
/// `Ok(Some(names))` otherwise (best matches first).
pub(crate) fn lookup(root: &Path, kind: char, key: &str) -> Result<Option<Vec<String>>> {
    let path = root.join(INDEX_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let mut exact = Vec::new();
    let mut near = Vec::new();
    for line in text.lines() {
        let mut it = line.splitn(3, '\t');
        let (Some(k), Some(v), Some(name)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        if !k.starts_with(kind) {
            continue;
        }
        match kind {
            'G' if v.eq_ignore_ascii_case(key) => exact.push(name.to_owned()),
            'B' => match banner_matches(key, v) {
                Some(true) => exact.push(name.to_owned()),
                Some(false) => near.push(name.to_owned()),
                None => {}
            },
            _ => {}
        }
    }
    exact.extend(near);
    Ok(Some(exact))
}
