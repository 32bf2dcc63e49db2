//! Profile names: relative, `/`-separated paths inside a repository, checked
//! so that no name or symlink target can reach outside it.

use crate::error::{Error, Result};

/// Longest accepted name, in bytes.
pub const MAX_NAME_LEN: usize = 512;

/// Names that are reserved at the repository's top level.
const RESERVED: [&str; 1] = ["inventory"];

/// Checks a profile name and returns it normalised (a trailing `.gz` is
/// dropped: names never carry the storage extension).
///
/// Accepted: components of ASCII letters, digits and `._-+@~,=`, separated by
/// single `/`; no component may be empty, `.`, `..`, or start with `.`
/// (hidden names are the repository's own: lock, state, temporary files).
/// Refused: absolute paths, `\`, drive letters, control characters, and the
/// top-level name `inventory`.
pub fn validate_name(name: &str) -> Result<String> {
    let trimmed = name.strip_suffix(".gz").unwrap_or(name);
    if trimmed.is_empty() {
        return Err(Error::bad_name(name, "empty name"));
    }
    if trimmed.len() > MAX_NAME_LEN {
        return Err(Error::bad_name(
            name,
            format!("longer than {MAX_NAME_LEN} bytes"),
        ));
    }
    if trimmed.starts_with('/') {
        return Err(Error::bad_name(
            name,
            "absolute paths are not allowed; names are relative to the repository",
        ));
    }
    if trimmed.contains('\\') {
        return Err(Error::bad_name(
            name,
            "`\\` is not allowed; use `/` between components",
        ));
    }
    for comp in trimmed.split('/') {
        match comp {
            "" => return Err(Error::bad_name(name, "empty path component")),
            "." | ".." => {
                return Err(Error::bad_name(
                    name,
                    "`.` and `..` components are not allowed (names cannot leave the repository)",
                ))
            }
            c if c.starts_with('.') => {
                return Err(Error::bad_name(
                    name,
                    format!(
                        "component {c:?} starts with `.` (reserved for the repository's own files)"
                    ),
                ))
            }
            c => {
                if let Some(bad) = c
                    .chars()
                    .find(|ch| !(ch.is_ascii_alphanumeric() || "._-+@~,=".contains(*ch)))
                {
                    return Err(Error::bad_name(
                        name,
                        format!(
                            "character {bad:?} is not allowed (use letters, digits and ._-+@~,=)"
                        ),
                    ));
                }
            }
        }
    }
    if RESERVED.contains(&trimmed) {
        return Err(Error::bad_name(
            name,
            "reserved for the repository's inventory",
        ));
    }
    Ok(trimmed.to_owned())
}

/// Whether `s` looks like a symbol-server key: 32 hex digits of GUID and at
/// least one hex digit of age (`GUID_AGE`).
pub fn is_guid_age(s: &str) -> bool {
    (33..=40).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_names() {
        assert_eq!(validate_name("nt/GUID/ABC.gz").unwrap(), "nt/GUID/ABC");
        assert_eq!(validate_name("Win7SP1x64").unwrap(), "Win7SP1x64");
        assert_eq!(
            validate_name("Linux/Debian/8/AMD64/3.16.0-4-amd64").unwrap(),
            "Linux/Debian/8/AMD64/3.16.0-4-amd64"
        );
        assert_eq!(
            validate_name("ntoskrnl.exe/AMD64/6.1.7601.17514/X").unwrap(),
            "ntoskrnl.exe/AMD64/6.1.7601.17514/X"
        );
    }

    #[test]
    fn hostile_names() {
        for bad in [
            "../../x",
            "/etc/passwd",
            "a/../b",
            "a//b",
            "a/./b",
            ".lock",
            "a/.hidden",
            "C:\\x",
            "a\\b",
            "x\0y",
            "",
            "inventory",
            "inventory.gz",
            "a b",
            "a/",
            "..",
            "~/x/\n",
        ] {
            let e = validate_name(bad);
            assert!(e.is_err(), "{bad:?} accepted");
        }
        assert!(validate_name(&"a".repeat(600)).is_err());
    }

    #[test]
    fn guid_age() {
        assert!(is_guid_age("3844DBB920174967BE7AA4A2C20430FA2"));
        assert!(!is_guid_age("-1"));
        assert!(!is_guid_age("3844DBB920174967BE7AA4A2C20430FA"));
    }
}
