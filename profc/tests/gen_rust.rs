//! `profc gen_rust` on a real kernel profile: the written module, the
//! refusal to overwrite, one-line errors for unknown types.

#[path = "../../tests/support.rs"]
mod support;

use std::process::Command;

fn profc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_profc"))
}

#[test]
fn gen_rust_writes_a_module_for_chosen_types() {
    let Some(shared) = support::shared("gen_rust_writes_a_module_for_chosen_types") else {
        return;
    };
    let profile = shared.join("fixtures/rekall/Linux/6.1.0-56-amd64.dwarf4.rekall.json");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("kernel.rs");
    let run = |extra: &[&str]| {
        profc()
            .arg("gen_rust")
            .arg(&profile)
            .args([
                "--types",
                "task_struct,list_head",
                "--mode",
                "dynamic",
                "--out",
            ])
            .arg(&out)
            .args(extra)
            .output()
            .unwrap()
    };
    let r = run(&[
        "--optional",
        "task_struct.stack_canary",
        "--alias",
        "task_struct.__state=state",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let code = std::fs::read_to_string(&out).unwrap();
    assert!(code.starts_with("// @generated"));
    assert!(code.contains("pub struct task_struct<'a>"));
    assert!(code.contains("pub struct list_head<'a>"));
    // Embedded structs come along; pointer targets not chosen stay opaque.
    assert!(code.contains("pub struct sched_entity<'a>"));
    assert!(!code.contains("pub struct mm_struct<'a>"));
    assert!(
        code.contains(r#"&["__state", "state"]"#),
        "alias in the load table"
    );
    assert!(code.contains("pub fn stack_canary(&self) -> ::core::option::Option<u64>"));
    // The same command gives the same bytes; without --overwrite it refuses.
    let again = run(&[]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
    let r = run(&[
        "--overwrite",
        "--optional",
        "task_struct.stack_canary",
        "--alias",
        "task_struct.__state=state",
    ]);
    assert!(r.status.success());
    assert_eq!(std::fs::read_to_string(&out).unwrap(), code);
}

#[test]
fn gen_rust_unknown_type_is_one_line_naming_it() {
    let Some(shared) = support::shared("gen_rust_unknown_type_is_one_line_naming_it") else {
        return;
    };
    let profile = shared.join("fixtures/rekall/Linux/6.1.0-56-amd64.dwarf4.rekall.json");
    let r = profc()
        .arg("gen-rust")
        .arg(&profile)
        .args(["--types", "task_struct,no_such_struct"])
        .output()
        .unwrap();
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("no_such_struct"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[test]
fn gen_rust_members_restricts_what_is_generated() {
    let Some(shared) = support::shared("gen_rust_members_restricts_what_is_generated") else {
        return;
    };
    let profile = shared.join("fixtures/rekall/Linux/6.1.0-56-amd64.dwarf4.rekall.json");
    let r = profc()
        .arg("gen_rust")
        .arg(&profile)
        .args([
            "--types",
            "task_struct",
            "--members",
            "task_struct=pid/comm/tasks",
            "--mode",
            "static",
        ])
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let code = String::from_utf8(r.stdout).unwrap();
    assert!(code.contains("pub fn pid(&self) -> ::core::option::Option<i32>"));
    assert!(code.contains("pub fn tasks(&self) -> list_head<'a>"));
    assert!(!code.contains("pub fn mm("));
    // Only what the chosen members embed comes along.
    assert!(code.contains("pub struct list_head<'a>"));
    assert!(!code.contains("pub struct sched_entity<'a>"));
}
