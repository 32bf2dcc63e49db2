//! Helpers shared by every integration-test binary of the workspace.
//!
//! Included by path (`#[path = "../../tests/support.rs"] mod support;`) so
//! that test binaries of any crate can use it without a dependency cycle.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    // The crate running the tests is somewhere below the workspace root,
    // which is the nearest ancestor holding tests/support.rs.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|p| p.join("tests/support.rs").is_file())
        .expect("the workspace root holds tests/support.rs")
        .to_path_buf()
}

/// The project's own fixtures (`tests/fixtures`).
pub fn fixtures() -> PathBuf {
    workspace_root().join("tests/fixtures")
}

/// `../shared` beside the checkout, or `$PROFC_SHARED`.
pub fn shared_dir() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PROFC_SHARED") {
        let p = PathBuf::from(p);
        return p.join("fixtures").is_dir().then_some(p);
    }
    let p = workspace_root().join("../shared");
    p.join("fixtures").is_dir().then_some(p)
}

/// The shared folder for a test that needs real fixtures. Without it the
/// test is skipped with a clear message, except in CI (`CI=true`), where a
/// missing `../shared` is a failure.
pub fn shared(test: &str) -> Option<PathBuf> {
    match shared_dir() {
        Some(p) => Some(p),
        None if ci() => {
            panic!("{test}: ../shared is missing, and CI=true requires it")
        }
        None => {
            // Written to the real stderr (not eprintln!, which the test
            // harness captures) so the skip shows in every test run.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: ../shared (real fixtures) not found; set PROFC_SHARED to run it"
            );
            None
        }
    }
}

/// Runs `../shared/tools/compare_layouts.py PROFILE ORACLE` and returns
/// (success, last line, full output).
pub fn compare_layouts(shared: &Path, profile: &Path, oracle: &Path) -> (bool, String, String) {
    run_tool(shared, "compare_layouts.py", profile, oracle)
}

/// Runs `../shared/tools/compare_symbols.py PROFILE ORACLE`.
pub fn compare_symbols(shared: &Path, profile: &Path, oracle: &Path) -> (bool, String, String) {
    run_tool(shared, "compare_symbols.py", profile, oracle)
}

fn run_tool(shared: &Path, tool: &str, profile: &Path, oracle: &Path) -> (bool, String, String) {
    let out = Command::new("python3")
        .arg(shared.join("tools").join(tool))
        .arg(profile)
        .arg(oracle)
        .output()
        .expect("python3 must be installed to run the oracle comparisons");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .to_owned();
    (out.status.success(), last, text)
}

/// `CI=true` (or `1`).
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Whether CI requires the real-image input named by `what` (an image set
/// such as `6.1.0-57-amd64-5level`, or a path below one). CI boots one
/// kernel, amd64 with 4-level paging; the wider matrix (5-level paging,
/// arm64) is required only with `PROFC_IMAGE_MATRIX=full`, and otherwise
/// skipped with a `SKIPPED` line even under `CI=true`.
pub fn in_image_matrix(what: &str) -> bool {
    std::env::var("PROFC_IMAGE_MATRIX").is_ok_and(|v| v == "full")
        || !(what.contains("arm64") || what.contains("5level"))
}
