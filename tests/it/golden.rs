//! Golden profiles: every fixture the project ships (`tests/fixtures`) is
//! compiled through the one pipeline and written as Rekall JSON and as ISF;
//! the outputs (pretty-printed, so a change reads as a reviewable diff) and
//! the warnings must equal the checked-in files under `tests/golden/`.
//!
//! Regenerate them after a deliberate change of the output with
//! `UPDATE_GOLDEN=1 cargo test -p profc-tests --test it golden`, then read
//! the diff.

use std::path::{Path, PathBuf};

use profile_compiler::{compile, Format, Input, Options};
use profile_runtime::WriteMode;

use crate::support;

/// The fixtures with golden outputs: every compiler input under
/// `tests/fixtures` (PDBs, BTF, ELF and Mach-O objects).
fn fixtures() -> Vec<PathBuf> {
    let root = support::fixtures();
    let mut out = Vec::new();
    for (dir, keep) in [
        (
            "pdb",
            &(|n: &str| n.ends_with(".pdb")) as &dyn Fn(&str) -> bool,
        ),
        ("btf", &|n: &str| n.ends_with(".btf") || n.ends_with(".o")),
        ("elf/out", &|_: &str| true),
    ] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.file_name().is_some_and(|n| keep(&n.to_string_lossy())))
            .collect();
        files.sort();
        out.extend(files);
    }
    out
}

/// A JSON document pretty-printed (keys are sorted: serde_json's maps are
/// ordered), ending in a newline.
fn pretty(bytes: &[u8], what: &Path) -> String {
    let v: serde_json::Value = serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("{}: not JSON: {e}", what.display()));
    let mut s = serde_json::to_string_pretty(&v).unwrap();
    s.push('\n');
    s
}

#[test]
fn golden_profiles_of_the_project_fixtures() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let golden = support::workspace_root().join("tests/golden");
    let out = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut expected_files = Vec::new();
    let fixtures = fixtures();
    assert!(fixtures.len() >= 20, "fixtures missing: {fixtures:?}");
    for input in fixtures {
        let name = input.file_name().unwrap().to_string_lossy().into_owned();
        let compiled = compile(&Input::detect(&input).unwrap(), &Options::new())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut warnings = compiled.warnings.clone();
        for (format, ext) in [(Format::Rekall, "rekall.json"), (Format::Isf, "isf.json")] {
            let path = out.path().join(format!("{name}.{ext}"));
            warnings.extend(compiled.save(&path, format, WriteMode::CreateNew).unwrap());
            let file = format!("{name}.{ext}");
            let text = pretty(&std::fs::read(&path).unwrap(), &path);
            // The same input gives the same bytes.
            let again = out.path().join(format!("again.{file}"));
            compiled.save(&again, format, WriteMode::CreateNew).unwrap();
            assert_eq!(
                std::fs::read(&path).unwrap(),
                std::fs::read(&again).unwrap(),
                "{file}: two writes differ"
            );
            expected_files.push(file.clone());
            check(&golden.join(&file), &text, update, &mut failures);
        }
        let file = format!("{name}.warnings.txt");
        expected_files.push(file.clone());
        let text: String = warnings.iter().map(|w| format!("{w}\n")).collect();
        check(&golden.join(&file), &text, update, &mut failures);
    }
    // No stale golden file for a fixture that is gone.
    let mut present: Vec<String> = std::fs::read_dir(&golden)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != "README.md")
                .collect()
        })
        .unwrap_or_default();
    present.sort();
    expected_files.sort();
    for stale in present.iter().filter(|p| !expected_files.contains(p)) {
        if update {
            std::fs::remove_file(golden.join(stale)).unwrap();
        } else {
            failures.push(format!(
                "{stale}: no fixture produces it (stale golden file)"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden file(s) differ (UPDATE_GOLDEN=1 regenerates them; review the diff):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn check(golden: &Path, actual: &str, update: bool, failures: &mut Vec<String>) {
    let expected = std::fs::read_to_string(golden).ok();
    if expected.as_deref() == Some(actual) {
        return;
    }
    if update {
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        std::fs::write(golden, actual).unwrap();
        return;
    }
    let name = golden.file_name().unwrap().to_string_lossy();
    match expected {
        None => failures.push(format!("{name}: missing")),
        Some(e) => {
            let line = e
                .lines()
                .zip(actual.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| e.lines().count().min(actual.lines().count()));
            failures.push(format!("{name}: first difference at line {}", line + 1));
        }
    }
}
