//! `profc parse_pdb` end to end: real MSVC PDBs against llvm-pdbutil, the
//! project's own clang-cl fixtures against facts from their C sources, GUID_AGE
//! against the executables' RSDS records, determinism and bad input.

#[path = "../../tests/support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const REAL: [&str; 6] = [
    "attach_amd64",
    "attach_x86",
    "inject_dll_amd64",
    "inject_dll_x86",
    "run_code_on_dllmain_amd64",
    "run_code_on_dllmain_x86",
];

fn profc(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_profc"))
        .args(args)
        .output()
        .expect("run profc")
}

/// Runs `profc parse_pdb PDB --output OUT [extra]` and asserts success.
fn parse(pdb: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "parse_pdb".as_ref(),
        pdb.as_os_str(),
        "--output".as_ref(),
        out.as_os_str(),
    ];
    args.extend(extra.iter().map(|s| std::ffi::OsStr::new(*s)));
    let o = profc(&args);
    assert!(
        o.status.success(),
        "profc parse_pdb {} failed: {}",
        pdb.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn load(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("read profile")).expect("profile is JSON")
}

/// The symbol-server key of an executable: GUID (as `{:08X}{:04X}{:04X}` +
/// 8 bytes) and age (upper-case hex) from its RSDS CodeView record.
fn rsds_key(exe: &Path) -> String {
    use object::Object;
    let data = std::fs::read(exe).expect("read executable");
    let file = object::File::parse(&*data).expect("parse PE");
    let cv = file
        .pdb_info()
        .expect("debug directory")
        .expect("RSDS record");
    let g = cv.guid();
    let mut key = format!(
        "{:08X}{:04X}{:04X}",
        u32::from_le_bytes([g[0], g[1], g[2], g[3]]),
        u16::from_le_bytes([g[4], g[5]]),
        u16::from_le_bytes([g[6], g[7]])
    );
    for b in &g[8..] {
        key.push_str(&format!("{b:02X}"));
    }
    key.push_str(&format!("{:X}", cv.age()));
    key
}

fn fixture(name: &str) -> PathBuf {
    support::fixtures().join("pdb").join(name)
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

// ---------------------------------------------------------------- real PDBs

#[test]
fn real_pdbs_match_llvm_pdbutil_and_rsds() {
    let Some(shared) = support::shared("real_pdbs_match_llvm_pdbutil_and_rsds") else {
        return;
    };
    let dir = tempdir();
    let fixtures = shared.join("fixtures");
    for name in REAL {
        let pdb = fixtures.join(format!("pdb/debugpy-1.8.22/{name}.pdb"));
        let oracle = fixtures.join(format!(
            "oracles/llvm-pdbutil/debugpy-1.8.22_{name}.dump.txt"
        ));
        let out = dir.path().join(format!("{name}.json"));
        parse(&pdb, &out, &[]);

        let (ok, last, text) = support::compare_layouts(&shared, &out, &oracle);
        assert!(ok, "{name}: {last}\n{text}");
        assert!(last.contains("missing=0"), "{name}: {last}");
        let (ok, last, text) = support::compare_symbols(&shared, &out, &oracle);
        assert!(ok, "{name}: {last}\n{text}");
        // Every public and every global data/procedure name is present, at
        // consistent addresses, in the right section.
        for needle in [
            "function/data placement right ($FUNCTIONS vs $CONSTANTS, info): ",
            "name-matched publics at a consistent address (info): ",
        ] {
            let line = text.lines().find(|l| l.starts_with(needle)).expect(needle);
            let (a, b) = line[needle.len()..].split_once(" of ").expect("N of M");
            assert_eq!(a.trim(), b.trim(), "{name}: {line}");
        }
        assert!(
            text.contains("-> same"),
            "{name}: GUID_AGE differs from llvm-pdbutil's\n{text}"
        );

        let profile = load(&out);
        let meta = &profile["$METADATA"];
        let exe = ["dll", "exe"]
            .iter()
            .map(|e| pdb.with_extension(e))
            .find(|p| p.exists())
            .expect("matching executable");
        assert_eq!(meta["GUID_AGE"], rsds_key(&exe).as_str(), "{name}");
        assert_eq!(meta["PDBFile"], format!("{name}.pdb").as_str());
        assert_eq!(meta["ProfileClass"], "BasicPEProfile");
        assert_eq!(meta["Type"], "Profile");
        assert_eq!(meta["Version"], 20000404);
        assert_eq!(
            meta["arch"],
            if name.ends_with("x86") {
                "I386"
            } else {
                "AMD64"
            }
        );
        let ts = meta["Timestamp"].as_str().expect("Timestamp");
        assert!(
            ts.len() == 20 && ts.ends_with('Z') && ts.as_bytes()[10] == b' ',
            "{ts}"
        );
    }
}

#[test]
fn real_pdb_details() {
    let Some(shared) = support::shared("real_pdb_details") else {
        return;
    };
    let dir = tempdir();
    let pdb = shared.join("fixtures/pdb/debugpy-1.8.22/attach_x86.pdb");
    let out = dir.path().join("a.json");
    parse(&pdb, &out, &[]);
    let p = load(&out);
    // Rekall's own profile has this timestamp (signature 1789503578) but
    // GUID_AGE "-1"; the age is the DBI's.
    assert_eq!(p["$METADATA"]["Timestamp"], "2026-09-15 20:19:38Z");
    assert_eq!(
        p["$METADATA"]["GUID_AGE"],
        "7C2DC359EBFE45DD858242E8FE7A47221"
    );
    // A C++ base class is a member named __base_<Base> at its offset.
    assert_eq!(p["$STRUCTS"]["PyFrameObject"][1]["__base_PyObject"][0], 0);
    // Absolute linker symbols keep their value.
    assert_eq!(p["$CONSTANTS"]["__ImageBase"], 0);
}

#[test]
fn two_runs_are_byte_identical() {
    let dir = tempdir();
    let mut inputs = vec![fixture("fixture_x64.pdb")];
    if let Some(shared) = support::shared("two_runs_are_byte_identical") {
        inputs.push(shared.join("fixtures/pdb/debugpy-1.8.22/inject_dll_x86.pdb"));
    }
    for pdb in inputs {
        for ext in ["json", "json.gz"] {
            let a = dir.path().join(format!("a.{ext}"));
            let b = dir.path().join(format!("b.{ext}"));
            parse(&pdb, &a, &["--overwrite"]);
            parse(&pdb, &b, &["--overwrite"]);
            let (x, y) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
            assert!(!x.is_empty());
            assert!(x == y, "{}: two runs differ ({ext})", pdb.display());
        }
    }
}

// ------------------------------------------------------ the project's fixtures

/// Member `name` of struct `s`: (offset, descriptor).
fn member<'a>(p: &'a Value, s: &str, name: &str) -> (u64, &'a Value) {
    let m = &p["$STRUCTS"][s][1][name];
    assert!(!m.is_null(), "{s}.{name} missing");
    (m[0].as_u64().expect("offset"), &m[1])
}

fn size(p: &Value, s: &str) -> u64 {
    p["$STRUCTS"][s][0]
        .as_u64()
        .unwrap_or_else(|| panic!("struct {s} missing"))
}

fn bitfield(p: &Value, s: &str, name: &str) -> (u64, u64, u64) {
    let (off, d) = member(p, s, name);
    let bf = if d[0] == "BitField" {
        &d[1]
    } else {
        &d[1]["target_args"]
    };
    (
        off,
        bf["start_bit"].as_u64().unwrap(),
        bf["end_bit"].as_u64().unwrap(),
    )
}

fn check_fixture(arch: &str, ptr: u64) {
    let dir = tempdir();
    let pdb = fixture(&format!("fixture_{arch}.pdb"));
    let out = dir.path().join("f.json");
    parse(&pdb, &out, &[]);
    let p = load(&out);
    let s = |n| size(&p, n);

    let meta = &p["$METADATA"];
    assert_eq!(
        meta["GUID_AGE"],
        rsds_key(&fixture(&format!("fixture_{arch}.dll"))).as_str()
    );
    let expected_arch = match arch {
        "x86" => "I386",
        "x64" => "AMD64",
        _ => "ARM64",
    };
    assert_eq!(meta["arch"], expected_arch);
    assert_eq!(meta["PDBFile"], format!("fixture_{arch}.pdb").as_str());

    // struct Point { int x; int y; }
    assert_eq!(s("Point"), 8);
    assert_eq!(member(&p, "Point", "y").0, 4);
    assert_eq!(member(&p, "Point", "x").1, &serde_json::json!(["int", {}]));

    // union Value: every member at 0, size of the double.
    assert_eq!(s("Value"), 8);
    for m in ["i", "f", "d", "bytes"] {
        assert_eq!(member(&p, "Value", m).0, 0);
    }
    assert_eq!(member(&p, "Value", "bytes").1[1]["count"], 8);

    // Anonymous union/struct members are flattened (as MSVC does); a named
    // member of anonymous type points at a struct named by the emitter.
    assert_eq!(s("Anon"), 16);
    assert_eq!(member(&p, "Anon", "as_int").0, 4);
    assert_eq!(member(&p, "Anon", "as_float").0, 4);
    assert_eq!(member(&p, "Anon", "lo").0, 8);
    assert_eq!(member(&p, "Anon", "hi").0, 10);
    let (off, d) = member(&p, "Anon", "named_union");
    assert_eq!(off, 12);
    let inner = d[0].as_str().unwrap();
    assert!(inner.starts_with("__unnamed_"), "{inner}");
    assert_eq!(member(&p, inner, "b").0, 0);

    // A struct named only by a typedef keeps that name; an anonymous enum
    // gets a generated name that the member refers to.
    assert_eq!(member(&p, "AnonTypedef", "r").0, 4);
    let (off, d) = member(&p, "HasAnonEnum", "inner");
    assert_eq!(off, 4);
    let en = d[1]["enum_name"].as_str().unwrap();
    assert!(en.starts_with("__unnamed_enum_"), "{en}");
    assert_eq!(p["$ENUMS"][en]["2"], "INNER_Y");

    // Bit fields: storage unit offset, bit range, storage type.
    assert_eq!(s("Bits"), 24);
    assert_eq!(bitfield(&p, "Bits", "a"), (0, 0, 3));
    assert_eq!(bitfield(&p, "Bits", "b"), (0, 3, 8));
    assert_eq!(bitfield(&p, "Bits", "c"), (0, 8, 12));
    assert_eq!(member(&p, "Bits", "c").1[1]["target"], "int");
    assert_eq!(bitfield(&p, "Bits", "color"), (0, 12, 14));
    assert_eq!(member(&p, "Bits", "color").1[1]["enum_name"], "Color");
    assert_eq!(bitfield(&p, "Bits", "wide"), (8, 0, 40));
    assert_eq!(
        member(&p, "Bits", "wide").1[1]["target"],
        "unsigned long long"
    );
    assert_eq!(member(&p, "Bits", "tail").0, 16);

    // Arrays: nested dimensions, char[N] as String, zero-length arrays.
    assert_eq!(s("Arrays"), 80);
    let grid = member(&p, "Arrays", "grid").1;
    assert_eq!(grid[1]["count"], 3);
    assert_eq!(grid[1]["target_args"]["count"], 4);
    assert_eq!(grid[1]["target_args"]["target"], "int");
    assert_eq!(
        member(&p, "Arrays", "name"),
        (48, &serde_json::json!(["String", {"length": 16}]))
    );
    assert_eq!(member(&p, "Arrays", "pts").0, 64);
    assert_eq!(member(&p, "Arrays", "pts").1[1]["count"], 2);
    assert_eq!(member(&p, "Arrays", "empty").0, 80);
    assert_eq!(member(&p, "Arrays", "empty").1[1]["count"], 0);
    assert_eq!(member(&p, "Flex", "data").1[1]["count"], 0);

    // Function pointers.
    let fnptr = serde_json::json!(["Pointer", {"target": "Function"}]);
    assert_eq!(member(&p, "FnPtrs", "callback").1, &fnptr);
    let (off, handlers) = member(&p, "FnPtrs", "handlers");
    assert_eq!(off, ptr);
    assert_eq!(handlers[1]["count"], 4);
    assert_eq!(handlers[1]["target"], "Pointer");
    assert_eq!(s("FnPtrs"), 5 * ptr);

    // const/volatile are transparent; pointers to pointers; pointer sizes.
    assert_eq!(
        member(&p, "Qualified", "ci").1,
        &serde_json::json!(["int", {}])
    );
    assert_eq!(
        member(&p, "Qualified", "vl").1,
        &serde_json::json!(["unsigned long", {}])
    );
    assert_eq!(
        member(&p, "Qualified", "name"),
        (8, &serde_json::json!(["Pointer", {"target": "char"}]))
    );
    assert_eq!(member(&p, "Qualified", "pp").0, 8 + ptr);
    assert_eq!(
        member(&p, "Qualified", "pp").1[1]["target_args"]["target"],
        "int"
    );
    assert_eq!(
        member(&p, "Qualified", "pv"),
        (
            8 + 2 * ptr,
            &serde_json::json!(["Pointer", {"target": "Void"}])
        )
    );
    assert_eq!(
        member(&p, "Qualified", "ppp").1[1]["target_args"]["target"],
        "Point"
    );
    let ll = (8 + 5 * ptr).next_multiple_of(8);
    assert_eq!(member(&p, "Qualified", "bytes").0, 8 + 4 * ptr);
    assert_eq!(member(&p, "Qualified", "ll").0, ll);
    assert_eq!(s("Qualified"), ll + 8);

    // Two different structs named Same (layout.c, other.c) are both there.
    let same: Vec<u64> = ["Same", "Same@2"].iter().map(|n| s(n)).collect();
    assert!(same.contains(&4) && same.contains(&16), "{same:?}");

    // C++: base classes at their offsets; methods/static members are not data.
    assert_eq!(s("Derived"), 24);
    assert_eq!(
        member(&p, "Derived", "__base_Base1"),
        (0, &serde_json::json!(["Base1", {}]))
    );
    assert_eq!(
        member(&p, "Derived", "__base_Base2"),
        (8, &serde_json::json!(["Base2", {}]))
    );
    assert_eq!(member(&p, "Derived", "d").0, 16);
    let widget = p["$STRUCTS"]["Widget"][1].as_object().unwrap();
    let mut names: Vec<&str> = widget.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(names, ["id", "inner", "weight"]);
    assert_eq!(member(&p, "Widget", "inner").1[0], "Widget::Inner");

    // The vtable pointer is not a member; a virtual base (no fixed offset)
    // is left out; templates keep their names.
    let fields = |n: &str| -> Vec<String> {
        let mut v: Vec<String> = p["$STRUCTS"][n][1]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        v.sort();
        v
    };
    assert_eq!(fields("VBase"), ["vb"]);
    assert_eq!(member(&p, "VBase", "vb").0, ptr);
    assert_eq!(member(&p, "VDerived", "__base_VBase").0, 0);
    assert_eq!(member(&p, "VDerived", "vd").0, 2 * ptr);
    assert_eq!(fields("VirtDerived"), ["y"]);
    assert_eq!(member(&p, "VirtDerived", "y").0, ptr);
    assert_eq!(
        member(&p, "Box<double>", "next"),
        (
            8,
            &serde_json::json!(["Pointer", {"target": "Box<double>"}])
        )
    );
    assert_eq!(member(&p, "Box<int>", "next").0, ptr.max(4));

    // wchar_t[N] is a UnicodeString; bool, char16_t, char32_t.
    assert_eq!(
        member(&p, "Wide", "name"),
        (0, &serde_json::json!(["UnicodeString", {"length": 16}]))
    );
    assert_eq!(member(&p, "Wide", "flag").1[0], "bool");
    assert_eq!(member(&p, "Wide", "c16").1[0], "char16_t");

    // Enums: negative and 64-bit values, both directions.
    let e = &p["$ENUMS"];
    assert_eq!(e["Signed"]["-5"], "NEG");
    assert_eq!(e["Color"]["2"], "BLUE");
    assert_eq!(e["Big"]["18446744069414584320"], "Huge");
    assert_eq!(e["Neg64"]["-8070450532247928832"], "MinVal");
    assert_eq!(e["Neg64"]["-1"], "MinusOne");
    assert_eq!(p["$REVENUMS"]["Neg64"]["MinVal"], -0x7000_0000_0000_0000i64);
    assert_eq!(
        member(&p, "Wide", "big").1[1]["target"],
        "unsigned long long"
    );

    // Symbols: publics (decorated on x86), global data, static functions
    // from the module streams, all RVAs inside the image.
    let (f, c) = (&p["$FUNCTIONS"], &p["$CONSTANTS"]);
    let public = |n: &str| {
        if arch == "x86" {
            format!("_{n}")
        } else {
            n.to_string()
        }
    };
    assert!(f[public("add_points")].is_u64());
    assert_eq!(
        f["helper"].as_u64().map(|a| a > 0x1000),
        Some(true),
        "static function"
    );
    assert!(c[public("g_point")].is_u64());
    assert_eq!(c["g_point"], c[public("g_point")]);
    assert!(c["s_counter"].is_u64());
    assert!(f[public("g_point")].is_null() && c[public("add_points")].is_null());
}

#[test]
fn fixture_x86_facts() {
    check_fixture("x86", 4);
}

#[test]
fn fixture_x64_facts() {
    check_fixture("x64", 8);
}

#[test]
fn fixture_arm64_facts() {
    check_fixture("arm64", 8);
}

/// The PDB information stream's age can be bumped by tools after linking;
/// the symbol-server key uses the DBI age, which the image's RSDS carries.
#[test]
fn guid_age_uses_the_dbi_age() {
    let good = std::fs::read(fixture("fixture_x64.pdb")).unwrap();
    let msf = read_msf(&good);
    let info = streams(&msf.dir, msf.block)[1].1[0] as usize * msf.block;
    let mut bumped = good.clone();
    // PDB information stream: version, signature, age, GUID.
    bumped[info + 8..info + 12].copy_from_slice(&7u32.to_le_bytes());
    let dir = tempdir();
    let pdb = dir.path().join("fixture_x64.pdb");
    std::fs::write(&pdb, &bumped).unwrap();
    let out = dir.path().join("a.json");
    parse(&pdb, &out, &[]);
    let key = rsds_key(&fixture("fixture_x64.dll"));
    assert!(key.ends_with('1'));
    assert_eq!(load(&out)["$METADATA"]["GUID_AGE"], key.as_str());
}

#[test]
fn fixtures_match_llvm_pdbutil() {
    if Command::new("llvm-pdbutil")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED fixtures_match_llvm_pdbutil: llvm-pdbutil is not on PATH");
        return;
    }
    let Some(shared) = support::shared("fixtures_match_llvm_pdbutil") else {
        return;
    };
    let dir = tempdir();
    for arch in ["x86", "x64", "arm64"] {
        let pdb = fixture(&format!("fixture_{arch}.pdb"));
        let dump = Command::new("llvm-pdbutil")
            .args(["dump", "-summary", "-types", "-globals", "-publics"])
            .arg(&pdb)
            .output()
            .expect("llvm-pdbutil");
        assert!(dump.status.success());
        let oracle = dir.path().join(format!("{arch}.dump.txt"));
        std::fs::write(&oracle, &dump.stdout).unwrap();
        let out = dir.path().join(format!("{arch}.json"));
        parse(&pdb, &out, &[]);
        let (ok, last, text) = support::compare_layouts(&shared, &out, &oracle);
        assert!(ok && last.contains("missing=0"), "{arch}: {last}\n{text}");
        let (ok, last, text) = support::compare_symbols(&shared, &out, &oracle);
        assert!(ok, "{arch}: {last}\n{text}");
        assert!(text.contains("-> same"), "{arch}: GUID_AGE differs\n{text}");
    }
}

#[test]
fn options_profile_class_and_concise() {
    let dir = tempdir();
    let out = dir.path().join("c.json");
    parse(
        &fixture("fixture_x64.pdb"),
        &out,
        &["--concise", "--profile_class", "Ntkrnlmp"],
    );
    let p = load(&out);
    assert_eq!(p["$METADATA"]["ProfileClass"], "Ntkrnlmp");
    assert!(p.get("$REVENUMS").is_none());
    assert!(p["$ENUMS"]["Color"].is_object());
    // Rekall's rule: a PDB named like a Rekall profile class gets that class.
    let renamed = dir.path().join("NTDLL.pdb");
    std::fs::copy(fixture("fixture_x64.pdb"), &renamed).unwrap();
    let out = dir.path().join("n.json");
    parse(&renamed, &out, &[]);
    assert_eq!(load(&out)["$METADATA"]["ProfileClass"], "Ntdll");
    assert_eq!(load(&out)["$METADATA"]["PDBFile"], "NTDLL.pdb");
}

// ------------------------------------------------------------------ bad input

/// Asserts a failed run: non-zero exit, one line on stderr naming `names`
/// and containing `problem`, no output and no temporary file in `dir`.
fn assert_fails(args: &[&std::ffi::OsStr], dir: &Path, names: &Path, problem: &str) {
    let before: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let o = profc(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success(),
        "expected failure for {}: {err}",
        names.display()
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one-line error expected, got: {err}");
    assert!(lines[0].starts_with("profc: error: "), "{err}");
    assert!(
        lines[0].contains(&*names.to_string_lossy()),
        "error must name {}: {err}",
        names.display()
    );
    assert!(
        lines[0].to_lowercase().contains(problem),
        "error must say '{problem}': {err}"
    );
    let after: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after, "files appeared or vanished: {err}");
}

fn bad_pdb(dir: &Path, name: &str, bytes: &[u8], problem: &str) {
    let pdb = dir.join(name);
    std::fs::write(&pdb, bytes).unwrap();
    let out = dir.join("out.json");
    assert_fails(
        &[
            "parse_pdb".as_ref(),
            pdb.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
        ],
        dir,
        &pdb,
        problem,
    );
    assert!(!out.exists());
}

#[test]
fn bad_inputs_give_one_line_errors() {
    let dir = tempdir();
    let d = dir.path();
    let good = std::fs::read(fixture("fixture_x86.pdb")).unwrap();
    bad_pdb(d, "empty.pdb", &[], "empty");
    for cut in [1, 31, 100, 4096, 4096 * 3 + 17, good.len() / 2] {
        bad_pdb(d, &format!("cut{cut}.pdb"), &good[..cut], "");
    }
    // Random bytes (a fixed xorshift stream), with and without the magic.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut random: Vec<u8> = (0..20_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    bad_pdb(d, "random.pdb", &random, "not a readable pdb");
    random[..32].copy_from_slice(&good[..32]);
    bad_pdb(d, "random_magic.pdb", &random, "");
    // A PDB whose type stream is gone.
    bad_pdb(
        d,
        "notpi.pdb",
        &without_stream(&good, 2),
        "no type information",
    );
    // ... or whose type stream header is zeroed.
    bad_pdb(d, "badtpi.pdb", &zero_stream_start(&good, 2), "type stream");
    // A directory, and a missing file.
    let missing = d.join("missing.pdb");
    let out = d.join("out.json");
    assert_fails(
        &[
            "parse_pdb".as_ref(),
            missing.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
        ],
        d,
        &missing,
        "no such file",
    );
}

#[test]
fn mutated_pdbs_never_crash() {
    // Byte flips all over the fixture: any outcome but a crash or a
    // multi-line error is fine.
    let good = std::fs::read(fixture("fixture_x64.pdb")).unwrap();
    let dir = tempdir();
    let pdb = dir.path().join("m.pdb");
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for round in 0..24 {
        let mut bytes = good.clone();
        for _ in 0..(1 + round * 4) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let i = (x as usize) % bytes.len();
            bytes[i] = (x >> 32) as u8;
        }
        std::fs::write(&pdb, &bytes).unwrap();
        let out = dir.path().join(format!("m{round}.json"));
        let o = profc(&[
            "parse_pdb".as_ref(),
            pdb.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            o.status.code().is_some(),
            "round {round}: killed by a signal"
        );
        assert!(!err.contains("panicked"), "round {round}: {err}");
        if !o.status.success() {
            assert_eq!(
                err.lines()
                    .filter(|l| l.starts_with("profc: error"))
                    .count(),
                1,
                "{err}"
            );
        }
    }
}

#[test]
fn output_errors() {
    let dir = tempdir();
    let d = dir.path();
    let pdb = fixture("fixture_x86.pdb");
    // Parent is a regular file: cannot create the output.
    let blocker = d.join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let out = blocker.join("out.json");
    assert_fails(
        &[
            "parse_pdb".as_ref(),
            pdb.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
        ],
        d,
        &out,
        "",
    );
    // Missing directory.
    let out = d.join("nodir/out.json");
    assert_fails(
        &[
            "parse_pdb".as_ref(),
            pdb.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
        ],
        d,
        &out,
        "",
    );
    // Existing output without --overwrite: refused and left unchanged.
    let out = d.join("exists.json");
    std::fs::write(&out, b"keep me").unwrap();
    assert_fails(
        &[
            "parse_pdb".as_ref(),
            pdb.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
        ],
        d,
        &out,
        "exists",
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    parse(&pdb, &out, &["--overwrite"]);
    assert!(load(&out)["$STRUCTS"]["Point"].is_array());
}

// ------------------------------------------------- MSF surgery for bad inputs

struct Msf {
    block: usize,
    dir_blocks: Vec<usize>,
    dir: Vec<u8>,
}

fn u32_at(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize
}

fn read_msf(pdb: &[u8]) -> Msf {
    assert!(pdb.starts_with(b"Microsoft C/C++ MSF 7.00\r\n\x1aDS\0\0\0"));
    let block = u32_at(pdb, 32);
    let dir_bytes = u32_at(pdb, 44);
    let map = u32_at(pdb, 52) * block;
    let n = dir_bytes.div_ceil(block);
    let dir_blocks: Vec<usize> = (0..n).map(|i| u32_at(pdb, map + 4 * i)).collect();
    let mut dir: Vec<u8> = dir_blocks
        .iter()
        .flat_map(|b| pdb[b * block..(b + 1) * block].to_vec())
        .collect();
    dir.truncate(dir_bytes);
    Msf {
        block,
        dir_blocks,
        dir,
    }
}

/// Stream sizes and block lists from the directory.
fn streams(dir: &[u8], block: usize) -> Vec<(u32, Vec<u32>)> {
    let n = u32_at(dir, 0);
    let mut at = 4 + 4 * n;
    (0..n)
        .map(|i| {
            let size = u32_at(dir, 4 + 4 * i) as u32;
            let blocks = if size == u32::MAX {
                0
            } else {
                (size as usize).div_ceil(block)
            };
            let list = (0..blocks)
                .map(|j| u32_at(dir, at + 4 * j) as u32)
                .collect();
            at += 4 * blocks;
            (size, list)
        })
        .collect()
}

/// The PDB with stream `index` emptied (size 0, no blocks) in its directory.
fn without_stream(pdb: &[u8], index: usize) -> Vec<u8> {
    let msf = read_msf(pdb);
    let mut s = streams(&msf.dir, msf.block);
    s[index] = (0, Vec::new());
    let mut dir = (s.len() as u32).to_le_bytes().to_vec();
    for (size, _) in &s {
        dir.extend(size.to_le_bytes());
    }
    for (_, list) in &s {
        for b in list {
            dir.extend(b.to_le_bytes());
        }
    }
    let mut out = pdb.to_vec();
    out[44..48].copy_from_slice(&(dir.len() as u32).to_le_bytes());
    for (chunk, b) in dir.chunks(msf.block).zip(&msf.dir_blocks) {
        out[b * msf.block..b * msf.block + chunk.len()].copy_from_slice(chunk);
    }
    out
}

/// The PDB with the first block of stream `index` zeroed.
fn zero_stream_start(pdb: &[u8], index: usize) -> Vec<u8> {
    let msf = read_msf(pdb);
    let s = streams(&msf.dir, msf.block);
    let first = s[index].1[0] as usize;
    let mut out = pdb.to_vec();
    out[first * msf.block..(first + 1) * msf.block].fill(0);
    out
}
