//! `info` and `dt` read a Rekall profile and the ISF made from it the same
//! way: through the lazy runtime, every type's `dt` identical, the same
//! section counts. On every fixture the project ships (its golden Rekall
//! and ISF outputs, compiled independently from the same input, and ISF
//! exported from the Rekall output in every compression) and on real inputs
//! (`../shared`: PDBs compiled here, Rekall's own published profiles).

use std::path::Path;

use profile_compiler::inspect::{render_dt, render_info};
use profile_compiler::{compile, load_profile_file, Format, Input, Options};
use profile_runtime::{LazyProfile, ProfileFormat, WriteMode};

use crate::support;

/// The "Sections:" part of `info` (the metadata differ by design: ISF
/// carries less of it), without `$CONFIG` (a Linux kernel's configuration,
/// which ISF has no place for).
fn sections(p: &LazyProfile) -> String {
    let info = render_info(p).unwrap();
    info[info.find("Sections:").unwrap()..]
        .lines()
        .filter(|l| !l.trim_start().starts_with("$CONFIG"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every type's `dt` (depth 1) in `rekall` and `isf`, which must differ in
/// nothing; returns how many types were compared.
fn assert_same(rekall: &Path, isf: &Path) -> usize {
    assert_same_but(rekall, isf, false)
}

/// A `dt` line without the storage type of its bit field: Rekall's own
/// profiles leave it out (`["BitField", {"start_bit": ..}]`), ISF must name
/// one, so the export picks the narrowest (docs/interop.md).
fn without_bitfield_storage(line: &str) -> String {
    let Some(at) = line.find("BitField [") else {
        return line.to_owned();
    };
    let Some(close) = line[at..].find(')').map(|c| at + c + 1) else {
        return line.to_owned();
    };
    let rest = &line[close..];
    match rest.strip_prefix(" of ") {
        Some(t) => format!("{}{}", &line[..close], &t[t.find(')').unwrap_or(t.len())..]),
        None => line.to_owned(),
    }
}

/// [`assert_same`]; with `legacy`, bit fields may differ in the storage type
/// only (Rekall's published profiles).
fn assert_same_but(rekall: &Path, isf: &Path, legacy: bool) -> usize {
    let r = LazyProfile::open(rekall).unwrap_or_else(|e| panic!("{e}"));
    let i = LazyProfile::open(isf).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.format(), ProfileFormat::Rekall, "{}", rekall.display());
    assert_eq!(i.format(), ProfileFormat::Isf, "{}", isf.display());
    assert_eq!(
        sections(&r),
        sections(&i),
        "{} vs {}",
        rekall.display(),
        isf.display()
    );
    let mut structs: Vec<&str> = r.struct_names().collect();
    structs.sort_unstable();
    let mut isf_structs: Vec<&str> = i.struct_names().collect();
    isf_structs.sort_unstable();
    assert_eq!(structs, isf_structs, "{}", isf.display());
    let mut enums = r.enum_names();
    enums.sort_unstable();
    let mut isf_enums = i.enum_names();
    isf_enums.sort_unstable();
    assert_eq!(enums, isf_enums, "{}", isf.display());
    let mut n = 0;
    for name in structs.iter().chain(&enums) {
        let a = render_dt(&r, name, 1).unwrap().expect(name);
        let b = render_dt(&i, name, 1).unwrap().expect(name);
        let (a, b) = if legacy {
            let strip = |t: &str| t.lines().map(without_bitfield_storage).collect::<Vec<_>>();
            (strip(&a).join("\n"), strip(&b).join("\n"))
        } else {
            (a, b)
        };
        if a != b {
            let first = a.lines().zip(b.lines()).find(|(x, y)| x != y);
            panic!(
                "{name}: {} vs {}: first difference {first:?}",
                rekall.display(),
                isf.display()
            );
        }
        n += 1;
    }
    // Only what `dt` showed was parsed... and then every struct was.
    assert_eq!(i.parsed_struct_count(), structs.len());
    n
}

/// Exports `rekall` (a profile file) as ISF in every compression and checks
/// each against it.
fn export_and_compare(rekall: &Path, dir: &Path) -> usize {
    export_and_compare_but(rekall, dir, false)
}

fn export_and_compare_but(rekall: &Path, dir: &Path, legacy: bool) -> usize {
    let compiled = load_profile_file(rekall).unwrap_or_else(|e| panic!("{e}"));
    let mut n = 0;
    for ext in ["json", "json.gz", "json.xz"] {
        let out = dir.join(format!("isf.{ext}"));
        compiled
            .save(&out, Format::Isf, WriteMode::Overwrite)
            .unwrap();
        n = assert_same_but(rekall, &out, legacy);
    }
    n
}

#[test]
fn dt_and_info_agree_on_rekall_and_isf_of_every_fixture() {
    let golden = support::workspace_root().join("tests/golden");
    let dir = tempfile::tempdir().unwrap();
    let mut pairs = 0;
    let mut types = 0;
    for e in std::fs::read_dir(&golden).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".rekall.json") else {
            continue;
        };
        // Compiled independently (the emitter's union knowledge) ...
        types += assert_same(&path, &golden.join(format!("{stem}.isf.json")));
        // ... and exported from the Rekall profile.
        types += export_and_compare(&path, dir.path());
        pairs += 1;
    }
    assert!(pairs >= 20, "{pairs} golden pairs");
    assert!(types > 400, "{types} types compared");
}

#[test]
fn dt_and_info_agree_on_real_pdbs_and_rekall_profiles() {
    let Some(shared) = support::shared("dt_and_info_agree_on_real_pdbs_and_rekall_profiles") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pdbs = shared.join("fixtures/pdb/debugpy-1.8.22");
    let mut n = 0;
    for e in std::fs::read_dir(&pdbs).unwrap() {
        let pdb = e.unwrap().path();
        if pdb.extension().is_none_or(|x| x != "pdb") {
            continue;
        }
        let input = Input::detect(&pdb).unwrap();
        let compiled = compile(&input, &Options::default()).unwrap();
        let rekall = dir.path().join("p.json.gz");
        compiled
            .save(&rekall, Format::Rekall, WriteMode::Overwrite)
            .unwrap();
        let isf = dir.path().join("p.isf.json.xz");
        compiled
            .save(&isf, Format::Isf, WriteMode::Overwrite)
            .unwrap();
        n += assert_same(&rekall, &isf);
        n += export_and_compare(&rekall, dir.path());
    }
    // Rekall's own Linux profile (its DWARF converter), exported.
    assert_eq!(
        without_bitfield_storage("  0x04e8  x  Enumeration e (BitField [16:32) of unsigned int)"),
        "  0x04e8  x  Enumeration e (BitField [16:32))"
    );
    let linux = shared.join("fixtures/rekall/Linux/6.1.0-56-amd64.dwarf4.rekall.json");
    n += export_and_compare_but(&linux, dir.path(), true);
    // Rekall's own PDB profile has descriptors ISF cannot hold (the
    // byte-sized `Array` form without an element size, `Pointer -> String`
    // with no length: the export warns): the section counts still agree.
    let pdb = shared.join("fixtures/rekall/parse_pdb/debugpy-1.8.22_inject_dll_amd64.rekall.json");
    let out = dir.path().join("rekall-pdb.isf.json.gz");
    load_profile_file(&pdb)
        .unwrap()
        .save(&out, Format::Isf, WriteMode::Overwrite)
        .unwrap();
    let (r, i) = (
        LazyProfile::open(&pdb).unwrap(),
        LazyProfile::open(&out).unwrap(),
    );
    assert_eq!(sections(&r), sections(&i));
    assert_eq!(r.metadata_str("PDBFile"), i.metadata_str("PDBFile"));
    assert_eq!(
        r.metadata_str("ProfileClass"),
        i.metadata_str("ProfileClass")
    );
    assert!(n > 5000, "{n} types compared");
}
