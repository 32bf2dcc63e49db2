//! `profc info` and `profc dt` on real Rekall profiles, and the profile
//! model's round trip over them.

#[path = "../../tests/support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use profile_runtime::{Descriptor, Profile, WriteMode};

fn profc(args: &[&std::ffi::OsStr]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_profc"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn rekall_profiles(shared: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for dir in ["rekall/Linux", "rekall/OSX", "rekall/parse_pdb"] {
        for e in std::fs::read_dir(shared.join("fixtures").join(dir)).unwrap() {
            v.push(e.unwrap().path());
        }
    }
    v.sort();
    v
}

#[test]
fn info_and_dt_read_rekall_profiles() {
    let Some(shared) = support::shared("info_and_dt_read_rekall_profiles") else {
        return;
    };
    let f = shared.join("fixtures/rekall");
    let osx = f.join("OSX/HighSierra_10.13.3_17D47.json");
    let (ok, out, err) = profc(&["info".as_ref(), osx.as_os_str()]);
    assert!(ok, "{err}");
    assert!(out.contains("Darwin64"), "{out}");
    assert!(out.contains("$CONSTANTS     22972"), "{out}");

    let linux = f.join("Linux/6.1.0-56-amd64.dwarf4.rekall.json");
    let (ok, out, err) = profc(&["dt".as_ref(), linux.as_os_str(), "list_head".as_ref()]);
    assert!(ok, "{err}");
    assert!(out.contains("[list_head] size 0x10 (16 bytes)"), "{out}");
    assert!(out.contains("0x0008     prev"), "{out}");
    assert!(out.contains("Pointer -> list_head"), "{out}");

    let pdb = f.join("parse_pdb/debugpy-1.8.22_inject_dll_x86.rekall.json");
    let (ok, out, _) = profc(&["info".as_ref(), pdb.as_os_str()]);
    assert!(ok);
    assert!(out.contains("PDBFile        inject_dll_x86.pdb"), "{out}");

    let (ok, _, err) = profc(&[
        "dt".as_ref(),
        linux.as_os_str(),
        "no_such_type_anywhere".as_ref(),
    ]);
    assert!(!ok);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no type named"), "{err}");
}

#[test]
fn rekall_profiles_round_trip_through_the_model() {
    let Some(shared) = support::shared("rekall_profiles_round_trip_through_the_model") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for path in rekall_profiles(&shared) {
        let p = Profile::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!p.structs.is_empty(), "{}", path.display());
        let out = dir.path().join("p.gz");
        p.save(&out, WriteMode::Overwrite).unwrap();
        let q = Profile::load(&out).unwrap();
        // Descriptors are canonicalised on save (legacy forms rewritten), so
        // compare the re-saved bytes: a second round trip must be identical.
        let out2 = dir.path().join("q.gz");
        q.save(&out2, WriteMode::Overwrite).unwrap();
        assert_eq!(
            std::fs::read(&out).unwrap(),
            std::fs::read(&out2).unwrap(),
            "{}",
            path.display()
        );
        assert_eq!(p.structs.len(), q.structs.len());
        // The streaming serialiser writes what the JSON form says.
        for def in q.structs.values() {
            for f in def.fields.values() {
                if !matches!(f.descriptor, Descriptor::Other { .. }) {
                    let streamed: serde_json::Value =
                        serde_json::from_slice(&serde_json::to_vec(&f.descriptor).unwrap())
                            .unwrap();
                    assert_eq!(streamed, f.descriptor.to_json());
                }
            }
        }
        assert_eq!(p.constants, q.constants);
        assert_eq!(p.enums, q.enums);
        assert_eq!(p.metadata, q.metadata);
    }
}

#[test]
fn legacy_descriptors_of_the_osx_profile_are_understood() {
    let Some(shared) = support::shared("legacy_descriptors_of_the_osx_profile_are_understood")
    else {
        return;
    };
    let p =
        Profile::load(&shared.join("fixtures/rekall/OSX/HighSierra_10.13.3_17D47.json")).unwrap();
    // Addresses above 2^63 survive.
    assert!(p.constants.values().any(|&v| v > 1 << 63));
    // No descriptor of this profile falls back to an unknown class with
    // arguments: legacy pointer/array forms are parsed.
    let mut others = 0;
    for def in p.structs.values() {
        for f in def.fields.values() {
            if let Descriptor::Other { args: Some(a), .. } = &f.descriptor {
                if !a.is_empty() {
                    others += 1;
                }
            }
        }
    }
    assert_eq!(others, 0);
}

#[test]
fn info_reports_bad_input_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, b"\x1f\x8b\x08\x00garbage").unwrap();
    let missing = dir.path().join("missing.json");
    let notjson = dir.path().join("text.json");
    std::fs::write(&notjson, b"[1, 2").unwrap();
    for p in [&garbage, &missing, &notjson] {
        let (ok, _, err) = profc(&["info".as_ref(), p.as_os_str()]);
        assert!(!ok);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(&*p.file_name().unwrap().to_string_lossy()),
            "{err}"
        );
    }
}

#[test]
fn info_and_dt_read_isf_in_every_compression() {
    let golden = support::workspace_root().join("tests/golden");
    let rekall = golden.join("fixture_x64.pdb.rekall.json");
    let dir = tempfile::tempdir().unwrap();
    let (_, want_info, _) = profc(&["info".as_ref(), rekall.as_os_str()]);
    let sections = |s: &str| s[s.find("Sections:").unwrap()..].to_owned();
    for ext in ["json", "json.gz", "json.xz"] {
        let isf = dir.path().join(format!("p.isf.{ext}"));
        let (ok, _, err) = profc(&[
            "export".as_ref(),
            rekall.as_os_str(),
            isf.as_os_str(),
            "--format".as_ref(),
            "isf".as_ref(),
        ]);
        assert!(ok, "{err}");
        let (ok, info, err) = profc(&["info".as_ref(), isf.as_os_str()]);
        assert!(ok, "{err}");
        assert!(info.starts_with("Format: Volatility 3 ISF 6.2.0"), "{info}");
        assert_eq!(sections(&info), sections(&want_info));
        for ty in ["Widget", "Big"] {
            let (ok, want, err) = profc(&["dt".as_ref(), rekall.as_os_str(), ty.as_ref()]);
            assert!(ok, "{err}");
            let (ok, got, err) = profc(&["dt".as_ref(), isf.as_os_str(), ty.as_ref()]);
            assert!(ok, "{err}");
            assert_eq!(got, want, "{ty} {ext}");
        }
        // Truncated: one line naming the file, no panic.
        let bytes = std::fs::read(&isf).unwrap();
        let cut = dir.path().join(format!("cut.{ext}"));
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let (ok, _, err) = profc(&["dt".as_ref(), cut.as_os_str(), "Widget".as_ref()]);
        assert!(!ok);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("cut."), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}
