//! Which stored profile fits a kernel found in a memory image, and, when
//! none does, which come closest and what differs.
//!
//! A profile matches by the kernel's GNU build id (`BuildId` metadata,
//! written for ELF inputs), by its banner (`Linux version ...`, equal after
//! white space is collapsed, or the same release with the stored banner a
//! prefix of the image's), or by a Windows kernel's `GUID_AGE`. Near
//! misses are ranked by how many parts of the banner agree (release,
//! builder, compiler, build number, version and date) or, for Windows, by
//! the PDB name.

use serde::Serialize;

use crate::index::{banner_matches, normalize_banner};
use crate::inventory::{EntryExt, Inventory};
use crate::layout::BANNER_KEYS;

/// What is known of a kernel in an image.
#[derive(Debug, Clone, Default)]
pub struct KernelKey {
    /// `linux`, `windows` or `macos`.
    pub os: String,
    /// Linux banner or macOS version string.
    pub banner: Option<String>,
    /// GNU build id (hex).
    pub build_id: Option<String>,
    /// Windows: PDB file name (`ntkrnlmp.pdb`).
    pub pdb_name: Option<String>,
    /// Windows: the symbol-server key (GUID then age, hex).
    pub guid_age: Option<String>,
}

/// How a candidate matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MatchedBy {
    /// The GNU build id.
    BuildId,
    /// The banner, exactly.
    Banner,
    /// The same release, the stored banner a prefix of the image's.
    BannerPrefix,
    /// The PDB GUID and age.
    GuidAge,
}

/// A stored profile considered for a kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    /// Its name in the repository.
    pub name: String,
    /// How it matched; `None` for a near miss.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<MatchedBy>,
    /// For a near miss: each part that differs, `part: stored ≠ image`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<String>,
    /// How many parts agree (higher is nearer).
    pub score: u32,
}

/// The parts of a Linux banner: `Linux version RELEASE (BUILDER) (COMPILER)
/// #BUILD REST`, where REST holds the configuration words, the
/// distribution's version and the build date.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BannerParts {
    /// `6.1.0-57-amd64`.
    pub release: String,
    /// `debian-kernel@lists.debian.org`.
    pub builder: String,
    /// `gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0, GNU ld ...`.
    pub compiler: String,
    /// `#1`.
    pub build: String,
    /// `SMP PREEMPT_DYNAMIC Debian 6.1.158-1 (2025-11-08)`.
    pub rest: String,
}

/// Reads a (normalised) banner into its parts; `None` unless it starts
/// with `Linux version `.
pub fn banner_parts(banner: &str) -> Option<BannerParts> {
    let b = normalize_banner(banner);
    let rest = b.strip_prefix("Linux version ")?;
    let (release, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let mut groups = Vec::new();
    // Up to two balanced parenthesised groups: builder, compiler.
    while groups.len() < 2 && rest.starts_with('(') {
        let mut depth = 0usize;
        let mut end = None;
        for (i, c) in rest.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(end) = end else { break };
        groups.push(rest[1..end].to_owned());
        rest = rest[end + 1..].trim_start();
    }
    let (build, rest) = match rest.strip_prefix('#') {
        Some(r) => {
            let (n, r) = r.split_once(' ').unwrap_or((r, ""));
            (format!("#{n}"), r)
        }
        None => (String::new(), rest),
    };
    let mut g = groups.into_iter();
    Some(BannerParts {
        release: release.to_owned(),
        builder: g.next().unwrap_or_default(),
        compiler: g.next().unwrap_or_default(),
        build,
        rest: rest.to_owned(),
    })
}

fn compare_banners(stored: &BannerParts, image: &BannerParts) -> (u32, Vec<String>) {
    let parts = [
        ("release", &stored.release, &image.release),
        ("builder", &stored.builder, &image.builder),
        ("compiler", &stored.compiler, &image.compiler),
        ("build", &stored.build, &image.build),
        ("version", &stored.rest, &image.rest),
    ];
    let mut score = 0;
    let mut diffs = Vec::new();
    for (what, s, i) in parts {
        if s == i {
            score += 1;
        } else {
            diffs.push(format!("{what}: {s:?} in the profile, {i:?} in the image"));
        }
    }
    // Releases of one series (6.1.0-56 against 6.1.0-57) come nearer than
    // other series.
    if stored.release != image.release {
        let common = stored
            .release
            .split(['.', '-'])
            .zip(image.release.split(['.', '-']))
            .take_while(|(a, b)| a == b)
            .count() as u32;
        score += common.min(3);
    } else {
        score += 3;
    }
    (score, diffs)
}

/// The profiles of `inv` that match `key` (exact matches first, by build
/// id, then banner, then GUID), or, when none does, the `limit` nearest of
/// the same system with what differs. Symlinks are left out.
pub fn candidates(inv: &Inventory, key: &KernelKey, limit: usize) -> Vec<Candidate> {
    let mut exact = Vec::new();
    let mut near = Vec::new();
    let image_banner = key.banner.as_deref().map(normalize_banner);
    let image_parts = key.banner.as_deref().and_then(banner_parts);
    for (name, e) in &inv.entries {
        if e.kind() == Some("Symlink") {
            continue;
        }
        let build_id = e.str_of("BuildId");
        if let (Some(want), Some(have)) = (key.build_id.as_deref(), build_id) {
            if want.eq_ignore_ascii_case(have) {
                exact.push(Candidate {
                    name: name.clone(),
                    matched: Some(MatchedBy::BuildId),
                    differences: Vec::new(),
                    score: u32::MAX,
                });
                continue;
            }
        }
        if let (Some(want), Some(have)) = (
            key.guid_age.as_deref(),
            e.str_of("GUID_AGE")
                .or_else(|| name.rsplit_once("/GUID/").map(|(_, g)| g)),
        ) {
            if want.eq_ignore_ascii_case(have) {
                exact.push(Candidate {
                    name: name.clone(),
                    matched: Some(MatchedBy::GuidAge),
                    differences: Vec::new(),
                    score: u32::MAX - 2,
                });
                continue;
            }
            let same_pdb = key.pdb_name.as_deref().is_some_and(|p| {
                e.str_of("PDBFile")
                    .is_some_and(|f| f.eq_ignore_ascii_case(p))
            });
            if same_pdb {
                near.push(Candidate {
                    name: name.clone(),
                    matched: None,
                    differences: vec![format!(
                        "GUID_AGE: {have} in the profile, {want} in the image"
                    )],
                    score: 1,
                });
            }
            continue;
        }
        let Some(have) = BANNER_KEYS.iter().find_map(|k| e.str_of(k)) else {
            continue;
        };
        let Some(want) = image_banner.as_deref() else {
            continue;
        };
        match banner_matches(want, &normalize_banner(have)) {
            Some(full) => {
                let mut differences = Vec::new();
                if let (Some(want), Some(have)) = (key.build_id.as_deref(), build_id) {
                    // The same banner, another build: say so, do not hide it.
                    differences.push(format!(
                        "build id: {have} in the profile, {want} in the image"
                    ));
                }
                if differences.is_empty() {
                    exact.push(Candidate {
                        name: name.clone(),
                        matched: Some(if full {
                            MatchedBy::Banner
                        } else {
                            MatchedBy::BannerPrefix
                        }),
                        differences,
                        score: u32::MAX - 1 - u32::from(!full),
                    });
                } else {
                    near.push(Candidate {
                        name: name.clone(),
                        matched: None,
                        differences,
                        score: 8,
                    });
                }
            }
            None => {
                let (Some(stored), Some(image)) = (banner_parts(have), image_parts.as_ref()) else {
                    continue;
                };
                let (score, differences) = compare_banners(&stored, image);
                near.push(Candidate {
                    name: name.clone(),
                    matched: None,
                    differences,
                    score,
                });
            }
        }
    }
    let order = |a: &Candidate, b: &Candidate| b.score.cmp(&a.score).then(a.name.cmp(&b.name));
    if !exact.is_empty() {
        exact.sort_by(order);
        return exact;
    }
    near.sort_by(order);
    near.truncate(limit);
    near
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const B57: &str = "Linux version 6.1.0-57-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.158-1 (2025-11-08)";

    fn inv(entries: serde_json::Value) -> Inventory {
        let mut i = Inventory::default();
        for (k, v) in entries.as_object().unwrap() {
            i.entries.insert(k.clone(), v.as_object().unwrap().clone());
        }
        i
    }

    #[test]
    fn banner_parts_split_nested_parentheses() {
        let p = banner_parts(B57).unwrap();
        assert_eq!(p.release, "6.1.0-57-amd64");
        assert_eq!(p.builder, "debian-kernel@lists.debian.org");
        assert!(p
            .compiler
            .starts_with("gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0"));
        assert_eq!(p.build, "#1");
        assert_eq!(p.rest, "SMP PREEMPT_DYNAMIC Debian 6.1.158-1 (2025-11-08)");
        assert!(banner_parts("Darwin Kernel Version 20").is_none());
    }

    #[test]
    fn build_id_beats_banner_and_near_misses_say_what_differs() {
        let b56 = B57
            .replace("6.1.0-57", "6.1.0-56")
            .replace("6.1.158-1", "6.1.153-1");
        let i = inv(json!({
            "a/exact": {"Banner": B57, "BuildId": "aa"},
            "b/same-banner-other-build": {"Banner": B57, "BuildId": "bb"},
            "c/older": {"Banner": b56},
            "d/other-series": {"Banner": B57.replace("6.1.0-57-amd64", "5.10.0-30-amd64")},
            "nt/GUID/X": {"GUID_AGE": "X", "PDBFile": "ntkrnlmp.pdb"},
        }));
        let key = KernelKey {
            os: "linux".into(),
            banner: Some(B57.into()),
            build_id: Some("AA".into()),
            ..KernelKey::default()
        };
        let c = candidates(&i, &key, 5);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(
            (c[0].name.as_str(), c[0].matched),
            ("a/exact", Some(MatchedBy::BuildId))
        );

        let key = KernelKey {
            build_id: Some("cc".into()),
            ..key
        };
        let c = candidates(&i, &key, 5);
        let names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "a/exact",
                "b/same-banner-other-build",
                "c/older",
                "d/other-series"
            ]
        );
        assert!(c.iter().all(|c| c.matched.is_none()));
        assert!(c[0].differences[0].starts_with("build id: aa"), "{c:?}");
        let older = &c[2].differences;
        assert_eq!(older.len(), 2, "{older:?}");
        assert!(
            older[0].starts_with("release: \"6.1.0-56-amd64\""),
            "{older:?}"
        );
        assert!(older[1].starts_with("version: "), "{older:?}");
        assert_eq!(candidates(&i, &key, 1).len(), 1);
    }

    #[test]
    fn windows_by_guid_age_or_the_same_pdb_name() {
        let i = inv(json!({
            "nt/GUID/ABC1": {"GUID_AGE": "ABC1", "PDBFile": "ntkrnlmp.pdb"},
            "nt/GUID/DEF1": {"GUID_AGE": "DEF1", "PDBFile": "ntkrnlmp.pdb"},
            "tcpip/GUID/0001": {"GUID_AGE": "0001", "PDBFile": "tcpip.pdb"},
        }));
        let mut key = KernelKey {
            os: "windows".into(),
            pdb_name: Some("ntkrnlmp.pdb".into()),
            guid_age: Some("abc1".into()),
            ..KernelKey::default()
        };
        let c = candidates(&i, &key, 5);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].matched, Some(MatchedBy::GuidAge));
        key.guid_age = Some("FFFF".into());
        let c = candidates(&i, &key, 5);
        let names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["nt/GUID/ABC1", "nt/GUID/DEF1"]);
    }
}
