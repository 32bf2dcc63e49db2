//! Generated code for every struct of a real kernel profile (Debian 6.1,
//! DWARF 4) is byte-identical across runs and compiles warning-free under
//! `cargo clippy -D warnings`, in both modes, as modules of a fresh crate
//! that depends on `profile-runtime` by path.

#[path = "../../tests/support.rs"]
mod support;

use std::process::Command;

use profile_codegen::{generate, Mode, Options};
use profile_runtime::Profile;

#[test]
fn every_struct_of_a_kernel_profile_compiles_clippy_clean() {
    let Some(shared) =
        support::shared("codegen every_struct_of_a_kernel_profile_compiles_clippy_clean")
    else {
        return;
    };
    let path = shared.join("fixtures/rekall/Linux/6.1.0-56-amd64.dwarf4.rekall.json");
    let profile = Profile::load(&path).unwrap();
    let root = support::workspace_root();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let mut lib = String::from("//! Generated kernel accessors.\n");
    for (mode, name) in [
        (Mode::Static, "kernel_static"),
        (Mode::Dynamic, "kernel_dynamic"),
    ] {
        let opts = Options {
            types: vec!["*".into()],
            mode,
            source_name: "6.1.0-56-amd64.dwarf4.rekall.json".into(),
            ..Options::default()
        };
        let a = generate(&profile, &opts).unwrap();
        let b = generate(&Profile::load(&path).unwrap(), &opts).unwrap();
        assert!(a == b, "{name}: two runs differ");
        assert!(a.starts_with("// @generated"));
        // Every struct has its view type.
        for s in ["task_struct", "list_head", "mm_struct", "__unnamed_890"] {
            assert!(
                a.contains(&format!("pub struct {s}<'a>")),
                "{name}: no view for {s}"
            );
        }
        std::fs::write(src.join(format!("{name}.rs")), &a).unwrap();
        lib.push_str(&format!("/// {name}\npub mod {name};\n"));
    }
    // Names that are not Rust identifiers, or collide with each other or
    // with generated items, in both modes.
    let crafted = Profile::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/names.json"),
    )
    .unwrap();
    for (mode, name) in [
        (Mode::Static, "names_static"),
        (Mode::Dynamic, "names_dynamic"),
    ] {
        let opts = Options {
            mode,
            source_name: "names.json".into(),
            ..Options::default()
        };
        std::fs::write(
            src.join(format!("{name}.rs")),
            generate(&crafted, &opts).unwrap(),
        )
        .unwrap();
        lib.push_str(&format!("/// {name}\npub mod {name};\n"));
    }
    std::fs::write(src.join("lib.rs"), lib).unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        format!(
            "[package]\nname = \"gen-check\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
             [dependencies]\nprofile-runtime = {{ path = {:?} }}\n\n[workspace]\n\n\
             [profile.dev.package.\"*\"]\nopt-level = 2\n\n[lints.rust]\nmissing_docs = \"warn\"\nmissing_debug_implementations = \"warn\"\nrust_2018_idioms = \"warn\"\n",
            root.join("runtime").display().to_string()
        ),
    )
    .unwrap();
    std::fs::copy(root.join("Cargo.lock"), dir.path().join("Cargo.lock")).unwrap();
    let target = root.join("target/codegen-check");
    let out = Command::new(env!("CARGO"))
        .args(["clippy", "--quiet", "--", "-D", "warnings"])
        .current_dir(dir.path())
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let _ = std::fs::write(target.join("last-clippy.txt"), stderr.as_bytes());
    assert!(
        out.status.success(),
        "cargo clippy failed:\n{}",
        &stderr[..stderr.len().min(20_000)]
    );
    assert!(!stderr.contains("warning"), "warnings:\n{stderr}");
}
