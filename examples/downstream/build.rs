//! Generates typed kernel accessors (dynamic mode) into `OUT_DIR` from a
//! real Linux profile: the Debian 6.1 Rekall profile of the shared fixtures
//! when present (`$PROFC_SHARED`, else `../shared` beside the checkout),
//! else the small profile shipped in `profiles/` (same API for the members
//! the crate uses), so a fresh clone builds without the shared fixtures.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=PROFC_SHARED");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let shared = std::env::var_os("PROFC_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../../../shared"));
    let real = shared.join("fixtures/rekall/Linux/6.1.0-56-amd64.dwarf4.rekall.json");
    let profile = if real.is_file() {
        real
    } else {
        manifest.join("profiles/minimal-linux.json")
    };
    if let Err(e) = profile_codegen::Builder::new()
        .types(["task_struct", "list_head"])
        // Only what the crate reads: other kernels need only these.
        .members("task_struct", ["pid", "comm", "tasks"])
        .mode(profile_codegen::Mode::Dynamic)
        .file_name("kernel.rs")
        .compile(&[profile])
    {
        eprintln!("profile code generation failed: {e}");
        std::process::exit(1);
    }
}
