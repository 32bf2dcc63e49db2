//! The checked-in modules of `generated/src` are what the generator now
//! produces from the fixture PDBs. Regenerate them with
//! `UPDATE_GENERATED=1 cargo test -p profile-generated --test up_to_date`.

mod common;

#[test]
fn checked_in_code_is_up_to_date() {
    let update = std::env::var_os("UPDATE_GENERATED").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for (file, arch, opts) in common::modules() {
        let code = profile_codegen::generate(&common::fixture_profile(arch), &opts).unwrap();
        let path = common::root().join("generated/src").join(file);
        if update {
            profile_codegen::write_if_changed(&path, &code).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(code.as_str()) {
            stale.push(file);
        }
    }
    assert!(
        stale.is_empty(),
        "generated/src/{{{}}} differ from what the generator produces; run \
         UPDATE_GENERATED=1 cargo test -p profile-generated --test up_to_date",
        stale.join(",")
    );
}
