//! Fixture profiles built from the committed PDB fixtures, and the options
//! the checked-in modules are generated with.
#![allow(dead_code)]

use std::path::PathBuf;

use profile_codegen::{Mode, Options};
use profile_runtime::Profile;

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The profile of `tests/fixtures/pdb/fixture_{arch}.pdb`, built with the
/// compiler's PDB reader and emitter.
pub fn fixture_profile(arch: &str) -> Profile {
    let pdb = root().join(format!("tests/fixtures/pdb/fixture_{arch}.pdb"));
    let input = profile_compiler::Input::with_kind(&pdb, profile_compiler::InputKind::Pdb)
        .expect("fixture PDB opens");
    profile_compiler::compile(&input, &profile_compiler::Options::new())
        .expect("fixture PDB reads")
        .profile
}

/// Every checked-in module: (file under generated/src, PDB arch, options).
pub fn modules() -> Vec<(&'static str, &'static str, Options)> {
    let base = |arch: &str, mode| Options {
        types: vec!["*".into()],
        mode,
        source_name: format!("fixture_{arch}.pdb"),
        ..Options::default()
    };
    let mut dynamic = base("x64", Mode::Dynamic);
    // `Wide.c32` may be absent; `Point.y` may be called `py` elsewhere.
    dynamic.optional.insert(("Wide".into(), "c32".into()));
    dynamic
        .aliases
        .insert(("Point".into(), "y".into()), vec!["py".into()]);
    vec![
        ("fixture_x64.rs", "x64", base("x64", Mode::Static)),
        ("fixture_x86.rs", "x86", base("x86", Mode::Static)),
        ("fixture_dynamic.rs", "x64", dynamic),
    ]
}
