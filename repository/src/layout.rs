//! Where a profile goes in a repository: the default name derived from its
//! metadata, in Rekall's public layout or the readable one.

use profile_runtime::Profile;

use crate::error::{Error, Result};
use crate::name::{is_guid_age, validate_name};

/// Which naming scheme [`default_name`] follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Naming {
    /// Rekall's public repository: `nt/GUID/<GUID_AGE>`,
    /// `<module>/GUID/<GUID_AGE>`, `Linux/<version>`, `OSX/<name>`.
    #[default]
    Rekall,
    /// By module, architecture and version:
    /// `ntoskrnl.exe/AMD64/6.1.7601.17514/<GUID_AGE>` (Windows only; other
    /// systems use the Rekall names).
    Readable,
}

/// PDB names of the Windows kernel, stored under `nt/` as Rekall does.
const NT_KERNELS: [&str; 5] = ["ntoskrnl", "ntkrnlmp", "ntkrnlpa", "ntkrpamp", "ntkrla57"];

/// Metadata keys that may hold a Linux kernel banner (`Linux version ...`).
pub const BANNER_KEYS: [&str; 5] = [
    "Banner",
    "banner",
    "linux_banner",
    "LinuxBanner",
    "KernelBanner",
];

/// Metadata keys that may hold a kernel release (`6.1.0-56-amd64`).
const KERNEL_VERSION_KEYS: [&str; 4] = [
    "KernelVersion",
    "kernel_version",
    "KernelRelease",
    "release",
];

/// The Linux banner a profile's metadata records, if any.
pub fn banner_of(p: &Profile) -> Option<&str> {
    BANNER_KEYS
        .iter()
        .find_map(|k| p.metadata_str(k))
        .filter(|b| !b.is_empty())
}

/// The kernel release in a banner: `Linux version 6.1.0-56-amd64 (...)`
/// gives `6.1.0-56-amd64`.
pub fn release_from_banner(banner: &str) -> Option<&str> {
    let rest = banner.trim_start().strip_prefix("Linux version ")?;
    rest.split_whitespace().next()
}

/// What kind of system a profile describes, from `$METADATA`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// A PE module with PDB metadata (`PDBFile` / `GUID_AGE`).
    Windows,
    /// `ProfileClass` `Linux`.
    Linux,
    /// `ProfileClass` `Darwin*`.
    Darwin,
    /// Anything else.
    Unknown,
}

/// Classifies a profile by its metadata.
pub fn family(p: &Profile) -> Family {
    let class = p.metadata_str("ProfileClass").unwrap_or("");
    if class.eq_ignore_ascii_case("Linux") || class.starts_with("Linux") {
        Family::Linux
    } else if class.starts_with("Darwin") || class.eq_ignore_ascii_case("OSX") {
        Family::Darwin
    } else if p.metadata.contains_key("PDBFile") || p.metadata.contains_key("GUID_AGE") {
        Family::Windows
    } else {
        Family::Unknown
    }
}

/// The module directory of a PDB-made profile: `nt` for the kernel, else
/// the PDB's stem in lower case (`tcpip.pdb` -> `tcpip`).
pub fn module_of(pdb_file: &str) -> String {
    let base = pdb_file.rsplit(['/', '\\']).next().unwrap_or(pdb_file);
    let stem = base
        .rsplit_once('.')
        .map_or(base, |(s, _)| s)
        .to_ascii_lowercase();
    if NT_KERNELS.contains(&stem.as_str()) {
        "nt".to_owned()
    } else {
        stem
    }
}

/// Turns free text into a single safe name component.
fn component(s: &str) -> String {
    let c: String = s
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || "._-+@~,=".contains(ch) {
                ch
            } else {
                '_'
            }
        })
        .collect();
    let c = c.trim_start_matches('.').to_owned();
    if c.is_empty() {
        "_".to_owned()
    } else {
        c
    }
}

/// The name a profile gets in a repository when none is given.
///
/// `stem` is the input file's name without extensions (used for Linux and
/// macOS profiles whose metadata names no version, as Rekall names them after
/// their source zip); `file_version` is the module's file version for the
/// readable layout.
pub fn default_name(
    p: &Profile,
    layout: Naming,
    stem: Option<&str>,
    file_version: Option<&str>,
) -> Result<String> {
    let name = match family(p) {
        Family::Windows => {
            let guid = p.metadata_str("GUID_AGE").filter(|g| is_guid_age(g)).ok_or_else(|| {
                Error::Other(format!(
                    "cannot derive a name: $METADATA.GUID_AGE is {} (not a 33-hex-digit symbol-server key); give one with --name",
                    p.metadata.get("GUID_AGE").map_or_else(|| "missing".to_owned(), |v| v.to_string())
                ))
            })?;
            let guid = guid.to_ascii_uppercase();
            let pdb = p.metadata_str("PDBFile").unwrap_or("unknown.pdb");
            match layout {
                Naming::Rekall => format!("{}/GUID/{guid}", component(&module_of(pdb))),
                Naming::Readable => {
                    let module = module_of(pdb);
                    let image = p
                        .metadata_str("ImageName")
                        .or_else(|| p.metadata_str("OriginalFilename"))
                        .map(str::to_owned)
                        .unwrap_or_else(|| if module == "nt" { "ntoskrnl.exe".to_owned() } else { module.clone() });
                    let arch = p.metadata_str("arch").unwrap_or("unknown-arch");
                    let version = file_version
                        .or_else(|| p.metadata_str("FileVersion"))
                        .unwrap_or("unknown-version");
                    format!("{}/{}/{}/{guid}", component(&image), component(arch), component(version))
                }
            }
        }
        Family::Linux => {
            let version = KERNEL_VERSION_KEYS
                .iter()
                .find_map(|k| p.metadata_str(k))
                .or_else(|| banner_of(p).and_then(release_from_banner))
                .or(stem)
                .ok_or_else(|| Error::Other("cannot derive a name for this Linux profile: no kernel version or banner in $METADATA; give one with --name".into()))?;
            format!("Linux/{}", component(version))
        }
        Family::Darwin => {
            let n = p
                .metadata_str("Name")
                .or(stem)
                .ok_or_else(|| Error::Other("cannot derive a name for this macOS profile; give one with --name".into()))?;
            format!("OSX/{}", component(n))
        }
        Family::Unknown => {
            return Err(Error::Other(
                "cannot derive a name: $METADATA says neither PDB (GUID_AGE), Linux nor Darwin; give one with --name".into(),
            ))
        }
    };
    validate_name(&name)
}

/// The input stem used by [`default_name`]: the file name without `.gz`,
/// `.json`, `.zip` and Rekall's `.rekall` infix.
pub fn input_stem(file_name: &str) -> String {
    let mut s = file_name;
    for ext in [".gz", ".json", ".zip", ".rekall"] {
        if let Some(t) = s.strip_suffix(ext) {
            s = t;
        }
    }
    s.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdb_profile(pdb: &str, guid: &str) -> Profile {
        let mut p = Profile::new();
        p.set_metadata("PDBFile", pdb);
        p.set_metadata("GUID_AGE", guid);
        p.set_metadata("arch", "AMD64");
        p.set_metadata("ProfileClass", "Ntkrnlmp");
        p
    }

    #[test]
    fn windows_names() {
        let g = "3844DBB920174967BE7AA4A2C20430FA2";
        let p = pdb_profile("ntkrnlmp.pdb", g);
        assert_eq!(
            default_name(&p, Naming::Rekall, None, None).unwrap(),
            format!("nt/GUID/{g}")
        );
        assert_eq!(
            default_name(&p, Naming::Readable, None, Some("6.1.7601.17514")).unwrap(),
            format!("ntoskrnl.exe/AMD64/6.1.7601.17514/{g}")
        );
        let p = pdb_profile("tcpip.pdb", &g.to_lowercase());
        assert_eq!(
            default_name(&p, Naming::Rekall, None, None).unwrap(),
            format!("tcpip/GUID/{g}")
        );
        let p = pdb_profile("x.pdb", "-1");
        assert!(default_name(&p, Naming::Rekall, None, None)
            .unwrap_err()
            .to_string()
            .contains("--name"));
    }

    #[test]
    fn linux_and_darwin_names() {
        let mut p = Profile::new();
        p.set_metadata("ProfileClass", "Linux");
        assert_eq!(
            default_name(&p, Naming::Rekall, Some("Debian8"), None).unwrap(),
            "Linux/Debian8"
        );
        p.set_metadata(
            "Banner",
            "Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) (gcc-12) #1 SMP",
        );
        assert_eq!(
            default_name(&p, Naming::Rekall, Some("x"), None).unwrap(),
            "Linux/6.1.0-56-amd64"
        );
        let mut d = Profile::new();
        d.set_metadata("ProfileClass", "Darwin64");
        assert_eq!(
            default_name(
                &d,
                Naming::Rekall,
                Some(&input_stem("HighSierra_10.13.3_17D47.json")),
                None
            )
            .unwrap(),
            "OSX/HighSierra_10.13.3_17D47"
        );
        assert!(default_name(&Profile::new(), Naming::Rekall, Some("x"), None).is_err());
    }
}
