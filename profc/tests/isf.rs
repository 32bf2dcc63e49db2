//! Volatility 3 ISF export and import, and `profc diff`.

#[path = "../../tests/support.rs"]
mod support;

use std::path::Path;
use std::process::Command;

use profile_runtime::Profile;

fn profc(args: &[&str]) -> (bool, String, String) {
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

/// Runs tests/tools/validate_isf.py; `None` when volatility3 is missing
/// (outside CI only).
fn validate_with_volatility(isf: &Path, members: &[&str]) -> Option<String> {
    let script = support::workspace_root().join("tests/tools/validate_isf.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(isf)
        .args(members)
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    match out.status.code() {
        Some(0) => Some(text),
        Some(2) if std::env::var("CI").map_or(true, |v| v != "true") => {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "SKIPPED Volatility 3 validation: volatility3 is not installed (pip install volatility3)");
            None
        }
        _ => panic!(
            "{}: volatility 3 rejected the ISF:\n{text}{}",
            isf.display(),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

#[test]
fn isf_export_validates_and_loads_in_volatility3_and_round_trips() {
    let Some(shared) =
        support::shared("isf_export_validates_and_loads_in_volatility3_and_round_trips")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, &[&str]); 3] = [
        (
            "rekall/Linux/6.1.0-56-amd64.dwarf4.rekall.json",
            "linux.json.xz",
            &["task_struct.tasks", "list_head.prev", "task_struct.comm"],
        ),
        (
            "rekall/parse_pdb/debugpy-1.8.22_inject_dll_amd64.rekall.json",
            "win.json.gz",
            &["_UNICODE_STRING.Buffer", "_UNICODE_STRING.MaximumLength"],
        ),
        (
            "rekall/OSX/HighSierra_10.13.3_17D47.json",
            "mac.json",
            &["proc.p_pid"],
        ),
    ];
    for (input, name, members) in cases {
        let input = shared.join("fixtures").join(input);
        let isf = dir.path().join(name);
        let (ok, _, err) = profc(&[
            "export",
            "--format",
            "isf",
            input.to_str().unwrap(),
            isf.to_str().unwrap(),
        ]);
        assert!(ok, "{err}");
        let original = Profile::load(&input).unwrap();
        if let Some(report) = validate_with_volatility(&isf, members) {
            // Volatility 3 sees the same offsets as the profile.
            for m in members {
                let (t, f) = m.split_once('.').unwrap();
                let expected = original.structs[t].fields[f].offset.unwrap();
                assert!(
                    report.contains(&format!("{m} {expected}\n")),
                    "{m}: {report}"
                );
            }
            assert!(
                report.contains(&format!("{} user types loaded", original.structs.len())),
                "{report}"
            );
        }
        // Round trip: ISF -> profile keeps every struct, member, enum and symbol.
        let back = dir.path().join(format!("{name}.back.json"));
        let (ok, _, err) = profc(&["export", isf.to_str().unwrap(), back.to_str().unwrap()]);
        assert!(ok, "{err}");
        let round = Profile::load(&back).unwrap();
        assert_eq!(original.structs.len(), round.structs.len(), "{name}");
        for (sname, def) in &original.structs {
            let r = &round.structs[sname];
            assert_eq!(def.size, r.size, "{sname}");
            for (fname, f) in &def.fields {
                assert_eq!(f.offset, r.fields[fname].offset, "{sname}.{fname}");
            }
        }
        // Inline enumerations (macOS profiles) get named enums in ISF.
        let named = |p: &Profile| {
            p.enums
                .keys()
                .filter(|k| !k.starts_with("__inline_enum_"))
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(named(&original), named(&round));
        let mask = |v: u64| v & ((1 << 48) - 1);
        for (k, v) in original.constants.iter() {
            assert_eq!(
                mask(*v),
                mask(
                    round
                        .constants
                        .get(k)
                        .or(round.functions.get(k))
                        .copied()
                        .unwrap_or(!0)
                ),
                "{k}"
            );
        }
        // And the diff tool agrees that nothing changed in the layouts.
        let (ok, out, err) = profc(&[
            "diff",
            input.to_str().unwrap(),
            back.to_str().unwrap(),
            "--json",
        ]);
        assert!(ok, "{err}");
        let d: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(d["types"]["added"].as_array().unwrap().len(), 0);
        assert_eq!(d["types"]["removed"].as_array().unwrap().len(), 0);
        assert_eq!(
            d["symbols"]["constants"]["moved"]
                .as_object()
                .unwrap()
                .len(),
            0,
            "{name}"
        );
    }
}

#[test]
fn diff_reports_real_changes() {
    let dir = tempfile::tempdir().unwrap();
    let a = serde_json::json!({
        "$METADATA": {"Type": "Profile", "ProfileClass": "Linux", "arch": "AMD64"},
        "$STRUCTS": {
            "task": [16, {"pid": [0, ["int", {}]], "comm": [4, ["Array", {"count": 8, "target": "char"}]], "u1": [12, ["__unnamed_10", {}]]}],
            "__unnamed_10": [4, {"x": [0, ["int", {}]]}],
            "gone": [4, {}]
        },
        "$ENUMS": {"color": {"0": "RED", "1": "GREEN"}},
        "$CONSTANTS": {"init_task": 100, "old": 5}
    });
    let b = serde_json::json!({
        "$METADATA": {"Type": "Profile", "ProfileClass": "Linux", "arch": "AMD64"},
        "$STRUCTS": {
            "task": [24, {"pid": [8, ["int", {}]], "comm": [12, ["Array", {"count": 8, "target": "char"}]], "u1": [20, ["__unnamed_99", {}]], "tgid": [4, ["int", {}]]}],
            "__unnamed_99": [4, {"x": [0, ["unsigned int", {}]]}],
            "new": [8, {}]
        },
        "$ENUMS": {"color": {"0": "RED", "2": "GREEN"}},
        "$CONSTANTS": {"init_task": 200, "fresh": 7}
    });
    let (pa, pb) = (dir.path().join("a.json"), dir.path().join("b.json"));
    std::fs::write(&pa, a.to_string()).unwrap();
    std::fs::write(&pb, b.to_string()).unwrap();
    let (ok, out, err) = profc(&["diff", pa.to_str().unwrap(), pb.to_str().unwrap(), "--json"]);
    assert!(ok, "{err}");
    let d: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(d["types"]["added"][0]["name"], "new");
    assert_eq!(d["types"]["removed"][0]["name"], "gone");
    let task = &d["types"]["changed"]["task"];
    assert_eq!(task["size"], serde_json::json!([16, 24]));
    assert_eq!(task["changed"]["pid"]["offset"], serde_json::json!([0, 8]));
    assert_eq!(task["added"]["tgid"]["offset"], 4);
    // The anonymous member is compared by content, not by its build-specific name.
    assert_eq!(
        task["changed"]["u1.x"]["type"],
        serde_json::json!(["int", "unsigned int"])
    );
    assert_eq!(
        d["enums"]["changed"]["color"]["GREEN"],
        serde_json::json!(["1", "2"])
    );
    assert_eq!(
        d["symbols"]["constants"]["moved"]["init_task"],
        serde_json::json!([100, 200])
    );
    assert_eq!(d["symbols"]["constants"]["added"][0], "fresh");
    // The text report and --exit-code.
    let (ok, out, _) = profc(&["diff", pa.to_str().unwrap(), pb.to_str().unwrap()]);
    assert!(ok);
    assert!(out.contains("~ task: size 16 -> 24"), "{out}");
    let (ok, _, _) = profc(&[
        "diff",
        pa.to_str().unwrap(),
        pb.to_str().unwrap(),
        "--exit-code",
    ]);
    assert!(!ok);
    let (ok, out, _) = profc(&[
        "diff",
        pa.to_str().unwrap(),
        pa.to_str().unwrap(),
        "--exit-code",
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("no differences"));
}

#[test]
fn diff_of_real_kernels() {
    let Some(shared) = support::shared("diff_of_real_kernels") else {
        return;
    };
    let f = shared.join("fixtures");
    let dir = tempfile::tempdir().unwrap();
    let out = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    for (input, name) in [
        ("linux/6.1.0-56-amd64.zip", "d5.json"),
        ("linux/6.1.0-56-amd64.dwarf4.zip", "d4.json"),
        ("vol2/Debian8.zip", "deb8.json"),
    ] {
        let (ok, _, err) = profc(&[
            "convert_profile",
            f.join(input).to_str().unwrap(),
            &out(name),
        ]);
        assert!(ok, "{input}: {err}");
    }
    // The same module built with DWARF 4 and DWARF 5: no layout change, no
    // symbol change, although every anonymous type has another DIE offset.
    let (ok, text, err) = profc(&["diff", &out("d4.json"), &out("d5.json"), "--exit-code"]);
    assert!(ok, "{text}{err}");
    assert!(text.contains("no differences"), "{text}");
    // Debian 8's 3.16 kernel against 6.1: real changes, e.g. task_struct.
    let (ok, json, err) = profc(&["diff", &out("deb8.json"), &out("d5.json"), "--json"]);
    assert!(ok, "{err}");
    let d: serde_json::Value = serde_json::from_str(&json).unwrap();
    let task = &d["types"]["changed"]["task_struct"];
    let (old, new) = (
        task["size"][0].as_u64().unwrap(),
        task["size"][1].as_u64().unwrap(),
    );
    let p4 = Profile::load(Path::new(&out("deb8.json"))).unwrap();
    let p5 = Profile::load(Path::new(&out("d5.json"))).unwrap();
    assert_eq!(
        (old, new),
        (
            p4.structs["task_struct"].size.unwrap(),
            p5.structs["task_struct"].size.unwrap()
        )
    );
    assert_ne!(old, new);
    // `__state` replaced `state` in 5.14.
    assert!(task["added"].get("__state").is_some(), "{task}");
    assert!(task["removed"].get("state").is_some(), "{task}");
}

#[test]
fn convert_profile_writes_isf_with_source_hashes() {
    let Some(shared) = support::shared("convert_profile_writes_isf_with_source_hashes") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let zip = shared.join("fixtures/linux/6.1.0-56-amd64.zip");
    let out = dir.path().join("linux.json.xz");
    let (ok, _, err) = profc(&[
        "convert_profile",
        zip.to_str().unwrap(),
        out.to_str().unwrap(),
        "--format",
        "isf",
    ]);
    assert!(ok, "{err}");
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut liblzma::read::XzDecoder::new(std::fs::File::open(&out).unwrap()),
        &mut bytes,
    )
    .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let types = &doc["metadata"]["linux"]["types"][0];
    assert_eq!(types["kind"], "dwarf");
    assert_eq!(types["name"], "6.1.0-56-amd64.zip");
    // An independent sha256 of the input (coreutils).
    let sum = Command::new("sha256sum").arg(&zip).output().unwrap();
    let expected = String::from_utf8_lossy(&sum.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(types["hash_value"], expected.as_str());
    // Full kernel addresses (Volatility 3 needs them), not Rekall's 48-bit ones.
    assert_eq!(
        doc["symbols"]["init_task"]["address"].as_u64().unwrap(),
        0xffff_ffff_82a1_aa40
    );
    if let Some(report) = validate_with_volatility(&out, &["task_struct.tasks"]) {
        assert!(report.contains("task_struct.tasks "), "{report}");
    }
}
