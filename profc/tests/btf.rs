//! BTF input: raw BTF files and the `.BTF` section of ELF files.

#[path = "../../tests/support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use profile_runtime::{Descriptor, Profile};

fn profc(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_profc"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn fixture(name: &str) -> PathBuf {
    support::fixtures().join("btf").join(name)
}

fn convert(input: &Path, dir: &Path, name: &str, extra: &[&str]) -> Profile {
    let out = dir.join(name);
    let mut args = vec![
        "convert_profile",
        input.to_str().unwrap(),
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (ok, err) = profc(&args);
    assert!(ok, "{err}");
    Profile::load(&out).unwrap()
}

#[test]
fn raw_btf_and_elf_btf_give_the_source_layouts() {
    let dir = tempfile::tempdir().unwrap();
    let raw = convert(&fixture("btf_types.btf"), dir.path(), "raw.json", &[]);
    let elf = convert(
        &fixture("btf_types.o"),
        dir.path(),
        "elf.json",
        &["--converter", "btf"],
    );
    for p in [&raw, &elf] {
        assert_eq!(p.metadata_str("ProfileClass"), Some("Linux"));
        let task = &p.structs["task"];
        assert_eq!(task.size, Some(136));
        let off = |f: &str| task.fields[f].offset.unwrap();
        assert_eq!(
            (off("state"), off("pid"), off("tasks"), off("comm")),
            (0, 8, 16, 32)
        );
        // The anonymous union is reachable both ways.
        assert_eq!(off("as_int"), 48);
        assert_eq!(off("bytes"), 48);
        assert_eq!(off("children"), 136);
        assert_eq!(
            task.fields["blocked"].descriptor,
            Descriptor::named("sigset_t")
        );
        assert_eq!(
            task.fields["callback"].descriptor,
            Descriptor::pointer(Descriptor::Function)
        );
        // pahole 1.24 encodes int[2][3] as one 6-element BTF array; newer
        // versions may nest. Either way six ints at offset 96.
        let nested = Descriptor::array(2, Descriptor::array(3, Descriptor::named("int")));
        let flat = Descriptor::array(6, Descriptor::named("int"));
        assert!([nested, flat].contains(&task.fields["matrix"].descriptor));
        assert_eq!(off("matrix"), 96);
        let flags = &p.structs["flags"];
        let bits = |f: &str| match &flags.fields[f].descriptor {
            Descriptor::BitField {
                start_bit, end_bit, ..
            } => (flags.fields[f].offset.unwrap(), *start_bit, *end_bit),
            Descriptor::Enumeration { target, .. } => match target.as_ref() {
                Descriptor::BitField {
                    start_bit, end_bit, ..
                } => (flags.fields[f].offset.unwrap(), *start_bit, *end_bit),
                other => panic!("{other:?}"),
            },
            other => panic!("{f}: {other:?}"),
        };
        // Absolute bit positions as gcc laid them out (checked with pahole).
        let abs = |(o, s, _): (u64, u32, u32)| o * 8 + u64::from(s);
        assert_eq!(abs(bits("a")), 0);
        assert_eq!(abs(bits("b")), 1);
        assert_eq!(abs(bits("c")), 4);
        assert_eq!(abs(bits("wide")), 64);
        assert_eq!(bits("wide").2 - bits("wide").1, 40);
        assert_eq!(abs(bits("e")), 106);
        assert_eq!(p.enums["big_enum"][&0x1_0000_0000], "BIG_B");
        assert_eq!(p.enums["neg_enum"][&-3], "NEG_A");
    }
    assert_eq!(raw.structs, elf.structs);
}

#[test]
fn btf_layouts_match_pahole() {
    let Some(shared) = support::shared("btf_layouts_match_pahole") else {
        return;
    };
    if Command::new("pahole").arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "CI must have pahole"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    convert(&fixture("btf_types.btf"), dir.path(), "raw.json", &[]);
    // pahole reads the object's DWARF: an oracle independent of the BTF.
    let (ok, last, text) = support::compare_layouts(
        &shared,
        &dir.path().join("raw.json"),
        &fixture("btf_types.o"),
    );
    assert!(ok, "{text}");
    assert!(last.contains("missing=0"), "{last}");
}

#[test]
fn bad_btf_is_a_one_line_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(fixture("btf_types.btf")).unwrap();
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("header", good[..20].to_vec()),
        ("half", good[..good.len() / 2].to_vec()),
    ];
    let mut bad_len = good.clone();
    bad_len[12..16].copy_from_slice(&u32::MAX.to_le_bytes()); // type_len
    cases.push(("type_len", bad_len));
    for (name, bytes) in cases {
        let input = dir.path().join(format!("{name}.btf"));
        std::fs::write(&input, bytes).unwrap();
        let out = dir.path().join(format!("{name}.json"));
        let (ok, err) = profc(&[
            "convert_profile",
            input.to_str().unwrap(),
            out.to_str().unwrap(),
        ]);
        assert!(!ok, "{name}");
        assert_eq!(err.trim().lines().count(), 1, "{name}: {err}");
        assert!(err.contains("BTF"), "{name}: {err}");
        assert!(!out.exists());
    }
    assert_eq!(
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "json"))
            .count(),
        0
    );
}

/// The whole Debian kernel: BTF and DWARF conversions of the same vmlinux
/// agree on every struct both contain. Needs `PROFC_VMLINUX` (a vmlinux with
/// DWARF and .BTF, e.g. from ../shared/bench/get-vmlinux.sh).
#[test]
fn vmlinux_btf_equals_dwarf() {
    let Some(vmlinux) = std::env::var_os("PROFC_VMLINUX") else {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "SKIPPED vmlinux_btf_equals_dwarf: set PROFC_VMLINUX to a vmlinux (../shared/bench/get-vmlinux.sh)");
        return;
    };
    let vmlinux = PathBuf::from(vmlinux);
    let dir = tempfile::tempdir().unwrap();
    let btf = convert(&vmlinux, dir.path(), "btf.json", &["--converter", "btf"]);
    let dwarf = convert(
        &vmlinux,
        dir.path(),
        "dwarf.json",
        &["--converter", "dwarf"],
    );
    // A name with several definitions (static types of different files)
    // may list them in another order: match each DWARF definition with any
    // BTF definition of the same name (`NAME`, `NAME@2`, ...).
    let layout = |def: &profile_runtime::StructDef| {
        // Bit fields compare by absolute bit position: the storage unit a
        // reader picks does not matter.
        let bit = |d: &Descriptor| match d {
            Descriptor::BitField { start_bit, .. } => u64::from(*start_bit),
            Descriptor::Enumeration { target, .. } => match target.as_ref() {
                Descriptor::BitField { start_bit, .. } => u64::from(*start_bit),
                _ => 0,
            },
            _ => 0,
        };
        let mut m: Vec<(String, Option<u64>)> = def
            .fields
            .iter()
            .filter(|(n, _)| !n.starts_with('u') || n.parse::<u64>().is_err())
            .map(|(n, f)| (n.clone(), f.offset.map(|o| o * 8 + bit(&f.descriptor))))
            .collect();
        m.sort();
        (def.size, m)
    };
    let mut by_name: std::collections::HashMap<&str, Vec<_>> = std::collections::HashMap::new();
    for (name, def) in &btf.structs {
        by_name
            .entry(name.split('@').next().unwrap())
            .or_default()
            .push(layout(def));
    }
    let mut compared = 0;
    for (name, d) in &dwarf.structs {
        if name.starts_with("__unnamed") {
            continue;
        }
        let Some(candidates) = by_name.get(name.split('@').next().unwrap()) else {
            continue;
        };
        let (size, members) = layout(d);
        // Anonymous members are named by position (`u1`...) on both sides,
        // and their lifted members are compared by name and offset.
        let found = candidates.iter().any(|(s, m)| {
            *s == size
                && members
                    .iter()
                    .all(|(n, o)| m.iter().find(|(k, _)| k == n).is_none_or(|(_, p)| p == o))
        });
        assert!(
            found,
            "{name}: no BTF definition with size {size:?} and the same member offsets"
        );
        compared += 1;
    }
    assert!(compared > 5000, "only {compared} structs in common");
}
