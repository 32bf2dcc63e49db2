//! `profc convert_profile` on DWARF inputs: the project's own ELF / Mach-O
//! fixtures (facts from `tests/fixtures/elf/src/types.c`, and pahole as an
//! oracle), Rekall's real Linux zips (pahole oracles, System.map symbols,
//! Rekall's own output), and bad inputs.

#[path = "../../tests/support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn profc(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_profc"))
        .args(args)
        .output()
        .expect("run profc")
}

fn fixture(name: &str) -> PathBuf {
    support::fixtures().join("elf/out").join(name)
}

/// Converts `input` to a plain-JSON profile in `dir` and parses it.
fn convert(input: &Path, dir: &Path, extra: &[&str]) -> (PathBuf, Value) {
    let out = dir.join(format!(
        "{}.json",
        input.file_name().unwrap().to_string_lossy()
    ));
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "convert_profile".as_ref(),
        input.as_os_str(),
        out.as_os_str(),
    ];
    args.extend(extra.iter().map(|s| std::ffi::OsStr::new(*s)));
    let o = profc(&args);
    assert!(
        o.status.success(),
        "profc failed on {}: {}",
        input.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    let json: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    (out, json)
}

fn structs(p: &Value) -> &serde_json::Map<String, Value> {
    p["$STRUCTS"].as_object().expect("$STRUCTS")
}

fn size(p: &Value, s: &str) -> u64 {
    p["$STRUCTS"][s][0]
        .as_u64()
        .unwrap_or_else(|| panic!("no struct {s}"))
}

/// (offset, descriptor) of `s.f`.
fn field<'a>(p: &'a Value, s: &str, f: &str) -> (u64, &'a Value) {
    let v = &p["$STRUCTS"][s][1][f];
    (
        v[0].as_u64().unwrap_or_else(|| panic!("no field {s}.{f}")),
        &v[1],
    )
}

/// Absolute (LSB-relative) bit position and length of bit field `s.f`; the
/// field must also lie inside its target type, so it can be read.
fn bits(p: &Value, s: &str, f: &str, target_size: u32) -> (u64, u64) {
    let (off, d) = field(p, s, f);
    assert_eq!(d[0], "BitField", "{s}.{f} is a bit field: {d}");
    let start = d[1]["start_bit"].as_u64().unwrap_or(0);
    let end = d[1]["end_bit"].as_u64().unwrap();
    assert!(
        end <= u64::from(target_size) * 8,
        "{s}.{f} ends at bit {end}, past its {target_size}-byte target"
    );
    (off * 8 + start, end - start)
}

/// Facts of `types.c` common to every target.
fn check_common(p: &Value, what: &str) {
    // Typedefs and qualifiers resolve; DWARF base type names are kept.
    assert_eq!(
        field(p, "list", "next").1,
        &serde_json::json!(["Pointer", {"target": "list"}]),
        "{what}"
    );
    assert_eq!(
        size(p, "point_t"),
        8,
        "{what}: anonymous struct named by its typedef"
    );
    assert_eq!(field(p, "point_t", "y").0, 4, "{what}");
    assert_eq!(
        size(p, "local_only"),
        8,
        "{what}: a type defined inside a function"
    );
    assert_eq!(
        field(p, "local_only", "b").1,
        &serde_json::json!(["Array", {"count": 3, "target": "char"}])
    );
    // Bit fields in the first unsigned int, and a short holding `e`.
    assert_eq!(bits(p, "flags", "a", 4), (0, 1), "{what}");
    assert_eq!(bits(p, "flags", "b", 4), (1, 3), "{what}");
    assert_eq!(bits(p, "flags", "c", 4), (4, 5), "{what}");
    assert_eq!(field(p, "flags", "d").0, 2, "{what}");
    assert_eq!(bits(p, "flags", "e", 2), (24, 7), "{what}");
    assert_eq!(
        field(p, "flags", "c").1[1]["target"],
        "int",
        "{what}: signed bit field"
    );
    // Anonymous union with an anonymous struct: members lifted to the parent.
    assert_eq!(field(p, "outer", "link").1[0], "list", "{what}");
    let named = field(p, "outer", "named").1[0].as_str().unwrap().to_owned();
    assert!(named.starts_with("__unnamed_"), "{what}: {named}");
    assert_eq!(field(p, &named, "val").0, 2, "{what}");
    // Arrays: multi-dimensional nest, flexible is 0.
    assert_eq!(
        field(p, "arrays", "grid"),
        (
            0,
            &serde_json::json!(["Array", {"count": 3, "target": "Array", "target_args": {"count": 4, "target": "int"}}])
        ),
        "{what}"
    );
    assert_eq!(
        field(p, "arrays", "name").1,
        &serde_json::json!(["Array", {"count": 16, "target": "char"}])
    );
    assert_eq!(
        field(p, "arrays", "pts").1,
        &serde_json::json!(["Array", {"count": 2, "target": "point_t"}])
    );
    assert_eq!(
        field(p, "arrays", "cv"),
        (80, &serde_json::json!(["int", {}])),
        "{what}: const volatile"
    );
    assert_eq!(
        field(p, "arrays", "tail").1,
        &serde_json::json!(["Array", {"count": 0, "target": "int"}])
    );
    // Enumerations of 1, 2, 4 and 8 bytes, signed where the values are.
    let small = field(p, "arrays", "small").1;
    assert_eq!(
        small,
        &serde_json::json!(["Enumeration", {"enum_name": "e8", "target": "signed char"}]),
        "{what}"
    );
    assert_eq!(
        field(p, "arrays", "medium").1[1]["target"],
        "unsigned short",
        "{what}"
    );
    assert_eq!(field(p, "arrays", "normal").1[1]["target"], "int", "{what}");
    assert_eq!(p["$ENUMS"]["e8"]["-1"], "E8_NEG", "{what}");
    assert_eq!(p["$ENUMS"]["e16"]["300"], "E16_B", "{what}");
    assert_eq!(p["$ENUMS"]["e32"]["-2147483648"], "E32_MIN", "{what}");
    assert_eq!(p["$ENUMS"]["e64"]["4294967296"], "E64_BIG", "{what}");
    assert_eq!(p["$ENUMS"]["e64"]["-5"], "E64_NEG", "{what}");
    if let Some(rev) = p.get("$REVENUMS") {
        assert_eq!(rev["e8"]["E8_NEG"], -1, "{what}");
    }
    // A forward declaration is no struct of its own.
    assert!(!structs(p).contains_key("forward_only"), "{what}");
    assert_eq!(
        field(p, "uses_forward", "p").1,
        &serde_json::json!(["Pointer", {"target": "forward_only"}])
    );
    assert_eq!(p["$METADATA"]["Type"], "Profile");
    assert_eq!(p["$METADATA"]["Version"], 1);
}

/// LP64 facts (x86-64, AArch64).
fn check_lp64(p: &Value, what: &str) {
    check_common(p, what);
    assert_eq!(size(p, "flags"), 16, "{what}");
    assert_eq!(field(p, "outer", "lo").0, 8, "{what}");
    assert_eq!(field(p, "outer", "hi").0, 12, "{what}");
    assert_eq!(field(p, "outer", "whole").0, 8, "{what}");
    assert_eq!(size(p, "outer"), 40, "{what}");
    assert_eq!(bits(p, "flags", "f", 8), (64, 40), "{what}");
    assert_eq!(bits(p, "flags", "g", 8), (104, 24), "{what}");
    assert_eq!(field(p, "list", "prev").0, 8, "{what}");
    assert_eq!(size(p, "arrays"), 144, "{what}");
    assert_eq!(
        field(p, "arrays", "rp"),
        (88, &serde_json::json!(["Pointer", {"target": "int"}])),
        "{what}"
    );
    // Base type names keep each compiler's spelling (gcc `long int`, clang `long`).
    let counter = field(p, "arrays", "counter");
    assert_eq!(counter.0, 96, "{what}");
    assert!(
        ["long int", "long"].contains(&counter.1[0].as_str().unwrap()),
        "{what}: _Atomic long {}",
        counter.1
    );
    let fnptr = serde_json::json!(["Pointer", {"target": "Function"}]);
    assert_eq!(
        field(p, "arrays", "handler"),
        (104, &fnptr),
        "{what}: typedef'd function pointer"
    );
    assert_eq!(field(p, "arrays", "callback"), (112, &fnptr), "{what}");
    assert_eq!(
        field(p, "arrays", "wide"),
        (
            128,
            &serde_json::json!(["Enumeration", {"enum_name": "e64", "target": "long long"}])
        )
    );
    let n = field(p, "arrays", "n");
    assert_eq!(n.0, 136, "{what}");
    assert!(
        ["long unsigned int", "unsigned long"].contains(&n.1[0].as_str().unwrap()),
        "{what}: size_t {}",
        n.1
    );
}

/// ILP32 facts (i386: 8-byte integers aligned to 4).
fn check_i386(p: &Value, what: &str) {
    check_common(p, what);
    assert_eq!(size(p, "flags"), 12, "{what}");
    assert_eq!(field(p, "outer", "lo").0, 4, "{what}");
    assert_eq!(field(p, "outer", "hi").0, 8, "{what}");
    assert_eq!(field(p, "outer", "whole").0, 4, "{what}");
    assert_eq!(size(p, "outer"), 24, "{what}");
    assert_eq!(
        bits(p, "flags", "f", 8),
        (32, 40),
        "{what}: a field straddling its unit"
    );
    assert_eq!(bits(p, "flags", "g", 8), (72, 24), "{what}");
    assert_eq!(field(p, "list", "prev").0, 4, "{what}");
    assert_eq!(size(p, "arrays"), 120, "{what}");
    assert_eq!(field(p, "arrays", "handler").0, 92, "{what}");
    assert_eq!(
        field(p, "arrays", "n"),
        (116, &serde_json::json!(["unsigned int", {}])),
        "{what}: size_t"
    );
    assert_eq!(p["$METADATA"]["arch"], "I386");
}

const LP64_ELF: &[&str] = &[
    "types.gcc.dwarf2.o",
    "types.gcc.dwarf3.o",
    "types.gcc.dwarf4.o",
    "types.gcc.dwarf5.o",
    "types.clang.dwarf4.o",
    "types.clang.dwarf5.o",
    "types.gcc.dwarf5.elf",
    "types.clang.dwarf4.elf",
    "types.gcc.gz.dwarf5.o",
    "types.gcc.zdebug.dwarf4.o",
    "types.gcc.typeunits.dwarf4.o",
    "types.gcc.typeunits.dwarf5.elf",
    "types.clang.aarch64.dwarf5.o",
];

#[test]
fn elf_fixtures_have_the_layout_of_the_c_source() {
    let dir = tempfile::tempdir().unwrap();
    for name in LP64_ELF {
        let (_, p) = convert(&fixture(name), dir.path(), &[]);
        check_lp64(&p, name);
        assert_eq!(p["$METADATA"]["ProfileClass"], "Linux", "{name}");
        let arch = if name.contains("aarch64") {
            "ARM64"
        } else {
            "AMD64"
        };
        assert_eq!(p["$METADATA"]["arch"], arch, "{name}");
    }
    for name in ["types.gcc.i386.dwarf4.o", "types.clang.i386.dwarf5.o"] {
        let (_, p) = convert(&fixture(name), dir.path(), &[]);
        check_i386(&p, name);
    }
}

#[test]
fn lto_cross_unit_references_resolve() {
    // After link-time optimisation, units refer to each other's DIEs
    // (DW_FORM_ref_addr): `holder.n` is the `int` of another unit.
    let dir = tempfile::tempdir().unwrap();
    let (_, p) = convert(&fixture("types.clang.lto.elf"), dir.path(), &[]);
    check_lp64(&p, "lto");
    assert_eq!(
        field(&p, "holder", "n"),
        (24, &serde_json::json!(["int", {}]))
    );
    assert_eq!(
        field(&p, "holder", "l"),
        (0, &serde_json::json!(["list", {}]))
    );
    assert_eq!(
        field(&p, "holder", "f").1,
        &serde_json::json!(["Pointer", {"target": "flags"}])
    );
    assert_eq!(size(&p, "holder"), 32);
}

#[test]
fn linked_executables_list_their_symbols_and_objects_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let (_, exe) = convert(&fixture("types.gcc.dwarf5.elf"), dir.path(), &[]);
    let main = exe["$FUNCTIONS"]["main"]
        .as_u64()
        .expect("main in $FUNCTIONS");
    assert_eq!(exe["$CONSTANTS"]["main"].as_u64(), Some(main));
    assert!(exe["$CONSTANTS"]["g_flags"].as_u64().is_some());
    let (_, obj) = convert(&fixture("types.gcc.dwarf5.o"), dir.path(), &[]);
    assert!(obj
        .get("$CONSTANTS")
        .is_none_or(|c| c.as_object().is_some_and(|c| c.is_empty())));
}

#[test]
fn macho_object_gives_a_darwin_profile_with_full_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let (_, p) = convert(&fixture("types.clang.macho.o"), dir.path(), &[]);
    check_lp64(&p, "mach-o");
    assert_eq!(p["$METADATA"]["ProfileClass"], "Darwin64");
    assert_eq!(p["$METADATA"]["arch"], "AMD64");
    // Mach-O symbol names keep their leading underscore.
    assert!(p["$CONSTANTS"]["_g_flags"].is_u64());
    assert!(p["$FUNCTIONS"]["_use_local"].is_u64());
    // A dSYM companion of a linked executable, thin and inside a fat file
    // (after an arm64 slice): symbols at full 64-bit addresses, no mask.
    for name in ["types.macho.dsym", "types.macho.fat"] {
        let (_, d) = convert(&fixture(name), dir.path(), &[]);
        check_lp64(&d, name);
        assert_eq!(d["$METADATA"]["arch"], "AMD64", "{name}: the x86-64 slice");
        let g = d["$CONSTANTS"]["_g_flags"].as_u64().unwrap();
        assert!(
            g > 1 << 32,
            "{name}: _g_flags at {g:#x}, above the 4 GiB __PAGEZERO"
        );
        assert!(d["$FUNCTIONS"]["_main"].as_u64().unwrap() > 1 << 32);
    }
    // --profile_class overrides.
    let (_, q) = convert(
        &fixture("types.clang.macho.o"),
        &dir.path().join(""),
        &["--overwrite", "--profile_class", "Darwin"],
    );
    assert_eq!(q["$METADATA"]["ProfileClass"], "Darwin");
}

#[test]
fn gcc_fixtures_match_pahole() {
    // pahole 1.24 misprints some clang-made anonymous types (it nests them
    // in the wrong parent), cannot read Mach-O and ignores (or crashes on)
    // type units: gcc outputs without type units only.
    let Some(shared) = support::shared("gcc_fixtures_match_pahole") else {
        return;
    };
    if Command::new("pahole").arg("--version").output().is_err() {
        eprintln!("SKIPPED gcc_fixtures_match_pahole: pahole is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for name in LP64_ELF
        .iter()
        .chain(&["types.gcc.i386.dwarf4.o"])
        .filter(|n| n.contains("gcc") && !n.contains("typeunits"))
    {
        let elf = fixture(name);
        let (out, _) = convert(&elf, dir.path(), &[]);
        let (ok, last, text) = support::compare_layouts(&shared, &out, &elf);
        assert!(ok && last.contains("missing=0"), "{name}: {last}\n{text}");
    }
}

fn rekall_zip(shared: &Path, dwarf4: bool) -> PathBuf {
    let name = if dwarf4 {
        "6.1.0-56-amd64.dwarf4.zip"
    } else {
        "6.1.0-56-amd64.zip"
    };
    shared.join("fixtures/linux").join(name)
}

#[test]
fn rekall_linux_zips_match_pahole_and_system_map() {
    let Some(shared) = support::shared("rekall_linux_zips_match_pahole_and_system_map") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for dwarf4 in [false, true] {
        let zip = rekall_zip(&shared, dwarf4);
        let (out, p) = convert(&zip, dir.path(), &[]);
        let oracle = shared.join("fixtures/oracles/pahole").join(if dwarf4 {
            "6.1.0-56-amd64.dwarf4.module_dwarf.ko.pahole.txt"
        } else {
            "6.1.0-56-amd64.module_dwarf.ko.pahole.txt"
        });
        let (ok, last, text) = support::compare_layouts(&shared, &out, &oracle);
        assert!(
            ok && last.contains("missing=0"),
            "{}: {last}\n{text}",
            zip.display()
        );
        let (ok, last, text) = support::compare_symbols(&shared, &out, &zip);
        assert!(ok, "{}: {last}\n{text}", zip.display());
        assert_eq!(p["$METADATA"]["ProfileClass"], "Linux");
        assert_eq!(p["$METADATA"]["arch"], "AMD64");
        assert_eq!(p["$METADATA"]["KernelVersion"], "6.1.0-56-amd64");
        assert_eq!(p["$CONFIG"]["CONFIG_HZ"], "250");
        assert_eq!(p["$CONFIG"]["CONFIG_DEFAULT_HOSTNAME"], "(none)");
        // Rekall's 48-bit convention: init_task at 0xffffffff82a1aa40 in the System.map.
        let init_task = p["$CONSTANTS"]["init_task"].as_u64().unwrap();
        assert_eq!(init_task >> 48, 0);
        assert_eq!(init_task & 0xffff_ffff, 0x82a1_aa40 & 0xffff_ffff);
    }
}

#[test]
fn rekall_zip_agrees_with_rekalls_own_conversion() {
    let Some(shared) = support::shared("rekall_zip_agrees_with_rekalls_own_conversion") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_, ours) = convert(&rekall_zip(&shared, true), dir.path(), &[]);
    let rekall: Value = serde_json::from_slice(
        &std::fs::read(shared.join("fixtures/rekall/Linux/6.1.0-56-amd64.dwarf4.rekall.json"))
            .unwrap(),
    )
    .unwrap();
    let mut compared = 0;
    for (name, def) in structs(&rekall) {
        // Rekall names anonymous types by DIE offset, and names one
        // anonymous union `__kernel_sa_family_t` (a known Rekall defect).
        if name.starts_with("__unnamed") || name == "__kernel_sa_family_t" {
            continue;
        }
        let mine = &ours["$STRUCTS"][name];
        assert_eq!(mine[0], def[0], "size of {name}");
        compared += 1;
    }
    assert!(compared > 700, "{compared}");
    assert_eq!(
        ours["$CONFIG"].as_object().unwrap().len(),
        rekall["$CONFIG"].as_object().unwrap().len() + 1
    );
}

#[test]
fn system_map_alone_gives_symbols() {
    let Some(shared) = support::shared("system_map_alone_gives_symbols") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Extract the System.map from the zip with the zip crate's reader.
    let file = std::fs::File::open(rekall_zip(&shared, false)).unwrap();
    let mut archive = zip::ZipArchive::new(file).unwrap();
    let mut member = archive.by_name("boot/System.map-6.1.0-56-amd64").unwrap();
    let map = dir.path().join("System.map-6.1.0-56-amd64");
    std::io::copy(&mut member, &mut std::fs::File::create(&map).unwrap()).unwrap();
    let (out, p) = convert(&map, dir.path(), &[]);
    assert_eq!(p["$METADATA"]["ProfileClass"], "Linux");
    assert_eq!(p["$METADATA"]["KernelVersion"], "6.1.0-56-amd64");
    assert!(p
        .get("$STRUCTS")
        .is_none_or(|s| s.as_object().is_some_and(|s| s.is_empty())));
    let (ok, last, _) = support::compare_symbols(&shared, &out, &map);
    assert!(ok, "{last}");
    // And as --system-map beside an object file.
    let (_, q) = convert(
        &fixture("types.gcc.dwarf5.o"),
        dir.path(),
        &["--system-map", map.to_str().unwrap(), "--overwrite"],
    );
    assert!(q["$CONSTANTS"]["init_task"].is_u64());
    assert_eq!(size(&q, "point_t"), 8);
}

/// Runs profc expecting failure: one line on stderr, no output file.
fn fails(input: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "convert_profile".as_ref(),
        input.as_os_str(),
        out.as_os_str(),
    ];
    args.extend(extra.iter().map(|s| std::ffi::OsStr::new(*s)));
    let o = profc(&args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "{} should fail", input.display());
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one-line error expected: {err}"
    );
    assert!(err.starts_with("profc: error: "), "{err}");
    err
}

#[test]
fn bad_inputs_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("out.json");
    let write = |name: &str, bytes: &[u8]| {
        let p = d.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let empty = write("empty", b"");
    assert!(fails(&empty, &out, &[]).contains("empty"));
    let elf = std::fs::read(fixture("types.gcc.dwarf5.o")).unwrap();
    let truncated = write("truncated.o", &elf[..elf.len() / 3]);
    fails(&truncated, &out, &[]);
    let random: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let random = write("random.bin", &random);
    assert!(fails(&random, &out, &[]).contains("unrecognised"));
    // An ELF file without DWARF: strip the fixture's debug sections.
    let stripped = d.join("nodwarf.o");
    let st = Command::new("objcopy")
        .arg("--strip-debug")
        .arg(fixture("types.gcc.dwarf5.o"))
        .arg(&stripped)
        .status();
    if st.is_ok_and(|s| s.success()) {
        assert!(fails(&stripped, &out, &[]).contains("no DWARF"));
    }
    // A zip with no module in it.
    let zip_path = d.join("nomodule.zip");
    {
        let mut w = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
        w.start_file(
            "boot/System.map-1.0",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        std::io::Write::write_all(&mut w, b"ffffffff81000000 T _text\n").unwrap();
        w.finish().unwrap();
    }
    assert!(fails(&zip_path, &out, &[]).contains("no kernel module"));
    // A truncated zip.
    let zip_bytes = std::fs::read(&zip_path).unwrap();
    let bad_zip = write("bad.zip", &zip_bytes[..zip_bytes.len() / 2]);
    fails(&bad_zip, &out, &[]);
    assert!(!out.exists(), "no output after failures");
    // Unwritable output (a directory that does not exist).
    fails(
        &fixture("types.gcc.dwarf5.o"),
        &d.join("no/such/dir/out.json"),
        &[],
    );
    // Existing output without --overwrite is kept untouched.
    std::fs::write(&out, b"keep").unwrap();
    assert!(fails(&fixture("types.gcc.dwarf5.o"), &out, &[]).contains("--overwrite"));
    assert_eq!(std::fs::read(&out).unwrap(), b"keep");
    // A missing input.
    fails(&d.join("missing.o"), &d.join("other.json"), &[]);
    assert!(!d.join("other.json").exists());
}

#[test]
fn gzipped_output_and_determinism() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture("types.clang.dwarf5.o");
    let a = dir.path().join("a.gz");
    let b = dir.path().join("b.gz");
    for out in [&a, &b] {
        let o = profc(&[
            "convert-profile".as_ref(),
            input.as_os_str(),
            out.as_os_str(),
            "--concise".as_ref(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let bytes = std::fs::read(&a).unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b]);
    assert_eq!(bytes, std::fs::read(&b).unwrap(), "same input, same bytes");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
        .unwrap();
    let p: Value = serde_json::from_str(&text).unwrap();
    assert!(
        p.get("$REVENUMS").is_none(),
        "--concise leaves out $REVENUMS"
    );
    check_lp64(&p, "gz");
}

#[test]
fn converter_choice_and_zip_routing() {
    let Some(shared) = support::shared("converter_choice_and_zip_routing") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.json");
    // A forced converter that does not fit the input fails cleanly.
    let zip = rekall_zip(&shared, false);
    let err = fails(&zip, &out, &["--converter", "dwarf"]);
    assert!(err.contains("not an ELF or Mach-O"), "{err}");
    // A Volatility 2 zip goes to the Volatility 2 reader, not to the Linux
    // zip reader (which would complain about a missing module).
    let vol2 = shared.join("fixtures/vol2/Debian8.zip");
    let o = profc(&[
        "convert_profile".as_ref(),
        vol2.as_os_str(),
        out.as_os_str(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() || !err.contains("no kernel module"),
        "{err}"
    );
}

/// Rewrites one zip member (name, bytes), or drops it.
type Edit<'a> = dyn Fn(&str, &[u8]) -> Option<(String, Vec<u8>)> + 'a;

/// Zips that are not quite Rekall's: no System.map, a member whose name
/// climbs out of the archive, a System.map with malformed lines. Each gives
/// a profile and a warning that says what was skipped.
#[test]
fn odd_rekall_zips_are_stated_skips() {
    let Some(shared) = support::shared("odd_rekall_zips_are_stated_skips") else {
        return;
    };
    let real = rekall_zip(&shared, false);
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&real).unwrap()).unwrap();
    let mut members = Vec::new();
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).unwrap();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut data).unwrap();
        let name = f.name().map(|n| n.to_string()).unwrap();
        members.push((name, data));
    }
    let dir = tempfile::tempdir().unwrap();
    let make = |name: &str, edit: &Edit<'_>| {
        let p = dir.path().join(name);
        let mut w = zip::ZipWriter::new(std::fs::File::create(&p).unwrap());
        for (n, d) in &members {
            if let Some((n, d)) = edit(n, d) {
                w.start_file(n, zip::write::SimpleFileOptions::default())
                    .unwrap();
                std::io::Write::write_all(&mut w, &d).unwrap();
            }
        }
        w.finish().unwrap();
        p
    };
    let is_map = |n: &str| n.contains("System.map");
    let cases = [
        (
            make("nomap.zip", &|n, d| {
                (!is_map(n)).then(|| (n.to_owned(), d.to_vec()))
            }),
            "no System.map",
        ),
        (
            make("traversal.zip", &|n, d| {
                Some((
                    if is_map(n) {
                        format!("../../{n}")
                    } else {
                        n.to_owned()
                    },
                    d.to_vec(),
                ))
            }),
            "unsafe names skipped",
        ),
        (
            make("badlines.zip", &|n, d| {
                let mut d = d.to_vec();
                if is_map(n) {
                    d.extend_from_slice(b"garbage\nffffffff81000000\n\xff\xfe bad\n");
                }
                Some((n.to_owned(), d))
            }),
            "3 malformed lines skipped",
        ),
    ];
    for (zip, expected) in cases {
        let out = dir.path().join("out.json");
        let o = profc(
            &[
                zip.as_os_str(),
                out.as_os_str(),
                "--overwrite".as_ref(),
                "--verbose".as_ref(),
            ]
            .iter()
            .copied()
            .fold(vec!["convert_profile".as_ref()], |mut v, a| {
                v.push(a);
                v
            }),
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{}: {err}", zip.display());
        assert!(err.contains(expected), "{}: {err}", zip.display());
        let p = profile_runtime::Profile::load(&out).unwrap();
        assert!(p.structs.contains_key("task_struct"));
    }
}
