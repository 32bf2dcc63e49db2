//! Volatility 2 profile zips, end to end through the library:
//! `input::vol2::read_zip` -> `emit::emit` -> `Profile::save`, checked with
//! the shared oracle tools (the zip is its own oracle: compare_layouts parses
//! its module.dwarf / vtypes itself, compare_symbols its System.map).

#[path = "../../tests/support.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use profile_compiler::ir::Ir;
use profile_compiler::{emit, EmitOptions, Input, InputKind, Options};

/// A Volatility 2 zip read into the IR through the compiler's pipeline.
fn read_zip(zip: &Path) -> profile_compiler::Result<Ir> {
    profile_compiler::read(&Input::with_kind(zip, InputKind::Vol2Zip)?, &Options::new())
}
use profile_runtime::{Profile, WriteMode};

/// Converts `zip` and saves the profile as `dir/out.json`.
fn convert(zip: &Path, dir: &Path) -> (Profile, Vec<String>, PathBuf) {
    let ir = read_zip(zip).unwrap_or_else(|e| panic!("{e}"));
    let emitted = emit(&ir, EmitOptions::default());
    let out = dir.join("out.json");
    emitted.profile.save(&out, WriteMode::CreateNew).unwrap();
    (emitted.profile, emitted.warnings, out)
}

/// Writes a zip holding `members` (name, bytes).
fn make_zip(path: &Path, members: &[(&str, &[u8])]) {
    let f = std::fs::File::create(path).unwrap();
    let mut z = zip::ZipWriter::new(f);
    for (name, data) in members {
        z.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(data).unwrap();
    }
    z.finish().unwrap();
}

fn zip_member(zip: &Path, pred: impl Fn(&str) -> bool) -> Vec<u8> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        if pred(f.name().unwrap().as_ref()) {
            let mut v = Vec::new();
            f.read_to_end(&mut v).unwrap();
            return v;
        }
    }
    panic!("no such member in {}", zip.display());
}

fn debian8(test: &str) -> Option<PathBuf> {
    let shared = support::shared(test)?;
    Some(shared.join("fixtures/vol2/Debian8.zip"))
}

#[test]
fn debian8_layouts_match_its_own_module_dwarf() {
    let Some(zip) = debian8("debian8_layouts_match_its_own_module_dwarf") else {
        return;
    };
    let shared = support::shared_dir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (profile, warnings, out) = convert(&zip, dir.path());
    let (ok, last, text) = support::compare_layouts(&shared, &out, &zip);
    assert!(ok, "{text}");
    assert!(
        last.starts_with("layout: 554/554 structs exact") && last.ends_with("missing=0"),
        "{last}"
    );
    assert_eq!(profile.metadata_str("ProfileClass"), Some("Linux"));
    assert_eq!(profile.metadata_str("arch"), Some("AMD64"));
    assert_eq!(profile.metadata_str("Type"), Some("Profile"));
    // Identical definitions of the two compile units merge: no NAME@2.
    assert!(
        !warnings.iter().any(|w| w.contains("different definitions")),
        "{warnings:?}"
    );
    // DWARF base type names are kept.
    let list_head = &profile.structs["list_head"];
    assert_eq!(list_head.size, Some(16));
    let kernel_symbol = &profile.structs["kernel_symbol"];
    assert_eq!(
        kernel_symbol.fields["value"].descriptor.to_json(),
        serde_json::json!(["long unsigned int", {}])
    );
}

#[test]
fn debian8_symbols_match_its_system_map() {
    let Some(zip) = debian8("debian8_symbols_match_its_system_map") else {
        return;
    };
    let shared = support::shared_dir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (profile, _, out) = convert(&zip, dir.path());
    let (ok, last, text) = support::compare_symbols(&shared, &out, &zip);
    assert!(ok, "{text}");
    assert_eq!(last, "symbols: 63749/63749");

    // Independent reading of the System.map: every address of a name listed
    // several times is kept (NAME, NAME_1, ... in address order), masked to
    // 48 bits; text symbols are also in $FUNCTIONS.
    let map = zip_member(&zip, |n| n.contains("System.map"));
    let mut addrs: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    let mut text_syms = BTreeSet::new();
    for line in String::from_utf8_lossy(&map).lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 3 {
            continue;
        }
        let a = u64::from_str_radix(f[0], 16).unwrap() & ((1 << 48) - 1);
        addrs.entry(f[2].to_owned()).or_default().insert(a);
        if matches!(f[1], "T" | "t" | "W" | "w") {
            text_syms.insert(f[2].to_owned());
        }
    }
    let mut multi = 0;
    for (name, set) in &addrs {
        if set.len() < 2 {
            continue;
        }
        multi += 1;
        let mut got = BTreeSet::new();
        got.insert(profile.constants[name]);
        for n in 1..set.len() {
            got.insert(profile.constants[&format!("{name}_{n}")]);
        }
        assert_eq!(&got, set, "{name}");
    }
    assert_eq!(multi, 361);
    assert!(text_syms.len() > 20_000);
    for name in &text_syms {
        assert!(
            profile.functions.contains_key(name),
            "{name} missing from $FUNCTIONS"
        );
    }
}

#[test]
fn debian8_keeps_what_rekall_drops() {
    let Some(zip) = debian8("debian8_keeps_what_rekall_drops") else {
        return;
    };
    let shared = support::shared_dir().unwrap();
    let rekall = Profile::load(&shared.join("fixtures/rekall/Linux/Debian8.rekall.json")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (profile, _, _) = convert(&zip, dir.path());
    // Rekall inlines enumerations and drops their names; module.dwarf has
    // `enum zone_type { ZONE_DMA, ZONE_DMA32, ZONE_NORMAL, ... }`.
    assert!(rekall.enums.is_empty());
    let zone = &profile.enums["zone_type"];
    assert_eq!(zone.get(&2).map(String::as_str), Some("ZONE_NORMAL"));
    // Every named enumeration of module.dwarf is in $ENUMS.
    let dwarf = String::from_utf8(zip_member(&zip, |n| n.ends_with("module.dwarf"))).unwrap();
    let named: BTreeSet<&str> = dwarf
        .lines()
        .filter(|l| l.contains("><DW_TAG_enumeration_type>"))
        .filter_map(|l| l.split("DW_AT_name<\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(named.len(), 25);
    for n in named {
        assert!(profile.enums.contains_key(n), "enum {n}");
    }
    // Rekall has no $FUNCTIONS and one address per duplicated name.
    assert!(rekall.functions.is_empty());
    assert!(profile.functions.contains_key("start_kernel"));
    assert!(profile.constants.len() > rekall.constants.len());
    // Rekall names typedef'd anonymous structs by DIE offset; the typedef
    // name is what users look up.
    assert!(profile.structs.contains_key("atomic_t"));
    assert!(!rekall.structs.contains_key("atomic_t"));
}

const MAC_VTYPES: &str = r#"# Shape of Volatility 2's tools/mac/convert.py output (mach_kernel 10.x).
mac_types = {
  'queue_entry': [ 0x10, {
    'next': [0x0, ['pointer', ['queue_entry']]],
    'prev': [0x8, ['pointer', ['queue_entry']]],
}],
  '__unnamed_0x5a1': [ 0x10, {
    'le_next': [0x0, ['pointer', ['proc']]],
    'le_prev': [0x8, ['pointer', ['pointer', ['proc']]]],
}],
  '__unnamed_0x7f0': [ 0x8, {
    'u_int': [0x0, ['unsigned int']],
    'u_ptr': [0x0, ['pointer', ['void']]],
}],
  'proc': [ 0x3e0, {
    'p_list': [0x0, ['__unnamed_0x5a1']],
    'p_pid': [0x10, ['int']],
    '__unnamed_0x7f0': [0x18, ['__unnamed_0x7f0']],
    'p_stat': [0x20, ['Enumeration', {'target': 'long', 'choices': {1: 'SIDL', 2: 'SRUN', 3: 'SSLEEP'}}]],
    'p_flag': [0x24, ['unsigned int']],
    'p_comm': [0x2a4, ['array', 17, ['char']]],
    'p_fd': [0x100, ['pointer', ['filedesc']]],
}],
  'vm_map_entry': [ 0x50, {
    'links': [0x0, ['queue_entry']],
    'is_shared': [0x48, ['BitField', {'end_bit': 1, 'start_bit': 0}]],
    'is_sub_map': [0x48, ['BitField', {'end_bit': 2, 'start_bit': 1}]],
    'protection': [0x48, ['BitField', {'end_bit': 10, 'start_bit': 7}]],
    'wired_count': [0x4c, ['unsigned short']],
}],
  'filedesc': [ 0x58, {
    'fd_ofiles': [0x0, ['pointer', ['pointer', ['fileproc']]]],
    'fd_nfiles': [0x28, ['int']],
    'fd_cmask': [0x50, ['unsigned short']],
}],
}

mac_gvars = {
  '_kernproc': [0xffffff80008a6c78L, ['pointer', ['proc']]],
}
"#;

const MAC_DSYMUTIL: &str = "----------------------------------------------------------------------
Symbol table for: '/mach_kernel' (x86_64)
----------------------------------------------------------------------
Index    n_strx   n_type             n_sect n_desc n_value
======== -------- ------------------ ------ ------ ----------------
[     0] 00000002 64 (N_SO         ) 00     0000   0000000000000000 '/SourceCache/xnu/xnu-2050.18.24/'
[     1] 0000001e 24 (N_FUN        ) 01     0000   ffffff8000200000 '_start'
[     2] 00000100 0f (     SECT EXT) 08     0000   ffffff80008a6c78 '_kernproc'
[     3] 00000100 0f (     SECT EXT) 08     0000   ffffff80008a6c70 '_kernproc'
[     4] 0000010a 0f (     SECT EXT) 01     0000   ffffff8000222e10 '_version'
[     5] 00000113 0f (     SECT EXT) 08     0000   ffffff80008c3000 '_IdlePML4'
[     6] 00000113 0f (     SECT EXT) 08     0000   00000000008c3000 '_IdlePML4'
[     7] 0000011d 01 (     UNDF EXT) 00     0000   0000000000000000 '_undefined_thing'
";

#[test]
fn mac_vtypes_zip_matches_its_own_vtypes() {
    let Some(shared) = support::shared("mac_vtypes_zip_matches_its_own_vtypes") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("MountainLion_10.8.3_AMD.zip");
    make_zip(
        &zip,
        &[
            (
                "MountainLion_10.8.3_AMD/10.8.3_AMD.vtypes",
                MAC_VTYPES.as_bytes(),
            ),
            (
                "MountainLion_10.8.3_AMD/10.8.3_AMD.symbol.dsymutil",
                MAC_DSYMUTIL.as_bytes(),
            ),
        ],
    );
    let (profile, _, out) = convert(&zip, dir.path());
    let (ok, last, text) = support::compare_layouts(&shared, &out, &zip);
    assert!(ok, "{text}");
    assert_eq!(
        last, "layout: 4/4 structs exact, 20/20 members exact, missing=0",
        "{text}"
    );
    assert_eq!(profile.metadata_str("ProfileClass"), Some("Darwin64"));
    assert_eq!(profile.metadata_str("arch"), Some("AMD64"));
    // Full 64-bit addresses; Volatility 2's duplicate rule.
    assert_eq!(profile.constants["_version"], 0xffffff8000222e10);
    assert_eq!(profile.constants["_kernproc"], 0xffffff80008a6c78);
    assert_eq!(profile.constants["_IdlePML4"], 0x8c3000);
    assert_eq!(profile.constants.len(), 3, "{:?}", profile.constants);
    // The anonymous union member is also reachable directly.
    assert_eq!(profile.structs["proc"].fields["u_ptr"].offset, Some(0x18));
    assert!(profile
        .enums
        .values()
        .any(|c| c.get(&2).map(String::as_str) == Some("SRUN")));
}

/// Every hostile input gives a one-line error naming the file, or a
/// profile with warnings: never a panic.
#[test]
fn hostile_inputs_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let zip = |name: &str, members: &[(&str, &[u8])]| {
        let p = dir.path().join(name);
        make_zip(&p, members);
        p
    };
    let map: &[u8] = b"ffffffff81000000 T _text\nffffffff81a11000 D init_task\n";
    let cu = "<0><0x0+0xb><DW_TAG_compile_unit> DW_AT_name<\"m.c\">\n";

    // Not a zip, an empty zip, a zip with neither kind of file.
    let not_zip = dir.path().join("not.zip");
    std::fs::write(&not_zip, b"PK\x03\x04 truncated").unwrap();
    for p in [
        not_zip,
        zip("empty.zip", &[]),
        zip("other.zip", &[("README", b"hi")]),
    ] {
        let e = read_zip(&p).unwrap_err().to_string();
        assert!(
            e.contains(&*p.display().to_string()) && !e.contains('\n'),
            "{e}"
        );
    }
    // Two module.dwarf files: ambiguous.
    let two = zip(
        "two.zip",
        &[
            ("a/module.dwarf", cu.as_bytes()),
            ("b/module.dwarf", cu.as_bytes()),
        ],
    );
    assert!(read_zip(&two).unwrap_err().to_string().contains("several"));
    // Garbage only.
    let e = read_zip(&zip(
        "garbage.zip",
        &[
            ("module.dwarf", b"\x00\xff garbage\n<<<>>>\n"),
            ("System.map", map),
        ],
    ))
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("module.dwarf") && e.contains("no dwarfdump DIE line"),
        "{e}"
    );

    // Missing references, cycles, absurd bounds, a DIE cut mid-line.
    let text = format!(
        "{cu}<1><0x10><DW_TAG_structure_type> DW_AT_name<\"s\"> DW_AT_byte_size<0x00000010>\n\
<2><0x18><DW_TAG_member> DW_AT_name<\"a\"> DW_AT_type<<0x00000077>> DW_AT_data_member_location<0>\n\
<2><0x20><DW_TAG_member> DW_AT_name<\"b\"> DW_AT_type<<0x00000030>> DW_AT_data_member_location<8>\n\
<2><0x28><DW_TAG_member> DW_AT_name<\"c\"> DW_AT_type<<0x00000040>> DW_AT_data_member_location<len 0x0002: 0x9108>\n\
<1><0x30><DW_TAG_array_type> DW_AT_type<<0x00000030>>\n\
<2><0x34><DW_TAG_subrange_type> DW_AT_upper_bound<0xfffffffffffffffe>\n\
<1><0x40><DW_TAG_typedef> DW_AT_name<\"t1\"> DW_AT_type<<0x00000048>>\n\
<1><0x48><DW_TAG_const_type> DW_AT_type<<0x00000040>>\n\
<1><0x50><DW_TAG_structure_type> DW_AT_name<\"cut\"> DW_AT_byte_size<0x000"
    );
    let ir = read_zip(&zip(
        "hostile.zip",
        &[("module.dwarf", text.as_bytes()), ("System.map", map)],
    ))
    .unwrap();
    let emitted = emit(&ir, EmitOptions::default());
    let w = emitted.warnings.join("\n");
    assert!(w.contains("point to no DIE"), "{w}");
    assert!(w.contains("count 0"), "{w}");
    assert!(w.contains("unsupported DW_AT_data_member_location"), "{w}");
    assert!(emitted.profile.structs.contains_key("s"));
    emitted
        .profile
        .save(&dir.path().join("hostile.json"), WriteMode::CreateNew)
        .unwrap();

    // Records that contain themselves, and anonymous members of anonymous
    // types nested many times over (hostile: C cannot express either), end.
    let mut text = format!(
        "{cu}<1><0x20><DW_TAG_structure_type> DW_AT_name<\"loop\"> DW_AT_byte_size<0x00000010>\n\
<2><0x28><DW_TAG_member> DW_AT_name<\"a\"> DW_AT_type<<0x00000040>> DW_AT_data_member_location<0>\n\
<1><0x40><DW_TAG_structure_type> DW_AT_byte_size<0x00000010>\n"
    );
    for k in 0..12 {
        text.push_str(&format!(
            "<2><0x{:x}><DW_TAG_member> DW_AT_type<<0x00000040>> DW_AT_data_member_location<{k}>\n",
            0x100 + k
        ));
    }
    for k in 0..40u32 {
        let off = 0x1000 + k * 0x20;
        text.push_str(&format!(
            "<1><0x{off:x}><DW_TAG_union_type> DW_AT_byte_size<0x00000008>\n"
        ));
        for j in 0..3u32 {
            text.push_str(&format!(
                "<2><0x{:x}><DW_TAG_member> DW_AT_type<<0x{:x}>>\n",
                off + 1 + j,
                off + 0x20
            ));
        }
    }
    let ir = read_zip(&zip(
        "cycles.zip",
        &[("module.dwarf", text.as_bytes()), ("System.map", map)],
    ))
    .unwrap();
    let emitted = emit(&ir, EmitOptions::default());
    assert!(emitted.profile.structs.contains_key("loop"));

    // A truncated real module.dwarf still converts (what is there).
    if let Some(real) = debian8("hostile_inputs_fail_cleanly") {
        let dwarf = zip_member(&real, |n| n.ends_with("module.dwarf"));
        let half = &dwarf[..dwarf.len() / 2 + 17];
        let ir = read_zip(&zip(
            "half.zip",
            &[("module.dwarf", half), ("System.map", map)],
        ))
        .unwrap();
        let emitted = emit(&ir, EmitOptions::default());
        assert!(emitted.profile.structs.contains_key("task_struct"));
    }

    // vtypes: deep nesting, unterminated string, code, no dict.
    let deep = format!(
        "mac_types = {}{}\n",
        "[".repeat(200_000),
        "]".repeat(200_000)
    );
    for (name, body, expect) in [
        ("deep.zip", deep.as_str(), "nested deeper"),
        (
            "unterminated.zip",
            "mac_types = {'proc': [8, {'x': [0, ['int]]}]}\n",
            "unterminated string",
        ),
        (
            "code.zip",
            "mac_types = __import__('os').system('true')\n",
            "is not a literal",
        ),
        ("nodict.zip", "x = 1\n", "no `NAME_types"),
        (
            "open.zip",
            "mac_types = {'proc': [8, {\n",
            "end of the file",
        ),
    ] {
        let p = zip(
            name,
            &[
                ("k.vtypes", body.as_bytes()),
                ("k.dsymutil", MAC_DSYMUTIL.as_bytes()),
            ],
        );
        let e = read_zip(&p).unwrap_err().to_string();
        assert!(
            e.contains("k.vtypes") && e.contains(expect) && !e.contains('\n'),
            "{name}: {e}"
        );
    }
    // A dsymutil listing without symbols.
    let p = zip(
        "nosyms.zip",
        &[
            ("k.vtypes", MAC_VTYPES.as_bytes()),
            ("k.dsymutil", b"nothing here\n"),
        ],
    );
    assert!(read_zip(&p)
        .unwrap_err()
        .to_string()
        .contains("not a dsymutil"));
}

/// A small deterministic generator for the mutation tests.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// `base` with a few random edits: bytes replaced by syntax characters,
/// ranges deleted or duplicated, the end cut off.
fn mutate(base: &[u8], rng: &mut Lcg) -> Vec<u8> {
    const INTERESTING: &[u8] = b"<>0x9f\"' \n[]{}(),:-L#\\=+.eDW_AT_";
    let mut v = base.to_vec();
    for _ in 0..1 + rng.below(12) {
        if v.is_empty() {
            break;
        }
        let at = rng.below(v.len());
        match rng.below(4) {
            0 => v[at] = INTERESTING[rng.below(INTERESTING.len())],
            1 => {
                let end = (at + rng.below(64)).min(v.len());
                v.drain(at..end);
            }
            2 => {
                let end = (at + rng.below(256)).min(v.len());
                let copy = v[at..end].to_vec();
                let to = rng.below(v.len());
                v.splice(to..to, copy);
            }
            _ => v.truncate(at),
        }
    }
    v
}

/// Mutated dwarfdump text and vtypes literals never panic the readers or
/// the emitter: each gives an error or a profile.
#[test]
fn mutated_inputs_never_panic() {
    use profile_compiler::__private::vol2::{dwarfdump, vtypes};
    use profile_compiler::ir::Ir;

    let mut rng = Lcg(0x5eed);
    let mut dwarf_bases: Vec<Vec<u8>> = vec![b"<0><0x0+0xb><DW_TAG_compile_unit> DW_AT_name<\"m.c\">
<1><0x10><DW_TAG_base_type> DW_AT_byte_size<0x00000004> DW_AT_encoding<DW_ATE_unsigned> DW_AT_name<\"unsigned int\">
<1><0x20><DW_TAG_structure_type> DW_AT_name<\"s\"> DW_AT_byte_size<0x00000010>
<2><0x28><DW_TAG_member> DW_AT_name<\"a\"> DW_AT_type<<0x00000010>> DW_AT_byte_size<0x00000004> DW_AT_bit_size<0x00000004> DW_AT_bit_offset<0x0000001c> DW_AT_data_member_location<4>
<2><0x30><DW_TAG_member> DW_AT_type<<0x00000040>> DW_AT_data_member_location<len 0x0002: 0x2308>
<1><0x40><DW_TAG_union_type> DW_AT_byte_size<0x00000008>
<2><0x48><DW_TAG_member> DW_AT_name<\"x\"> DW_AT_type<<0x00000050>>
<1><0x50><DW_TAG_array_type> DW_AT_type<<0x00000010>>
<2><0x58><DW_TAG_subrange_type> DW_AT_upper_bound<1>
<1><0x60><DW_TAG_enumeration_type> DW_AT_name<\"e\"> DW_AT_byte_size<0x00000004>
<2><0x68><DW_TAG_enumerator> DW_AT_name<\"E0\"> DW_AT_const_value<0x00000000>
"
    .to_vec()];
    if let Some(real) = debian8("mutated_inputs_never_panic") {
        let dwarf = zip_member(&real, |n| n.ends_with("module.dwarf"));
        // A slice of real text (the first 1,500 DIEs) keeps the debug-build test quick.
        let cut = dwarf
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(1500)
            .map_or(dwarf.len(), |(i, _)| i);
        dwarf_bases.push(dwarf[..cut].to_vec());
    }
    for base in &dwarf_bases {
        for _ in 0..60 {
            let text = mutate(base, &mut rng);
            let mut ir = Ir::default();
            if dwarfdump::parse_into(&String::from_utf8_lossy(&text), Path::new("m"), &mut ir)
                .is_ok()
            {
                let _ = emit(&ir, EmitOptions::default())
                    .profile
                    .to_canonical_json();
            }
        }
    }
    for _ in 0..400 {
        let text = mutate(MAC_VTYPES.as_bytes(), &mut rng);
        let mut ir = Ir::default();
        if vtypes::parse_into(&String::from_utf8_lossy(&text), Path::new("v"), &mut ir, 8).is_ok() {
            let _ = emit(&ir, EmitOptions::default())
                .profile
                .to_canonical_json();
        }
    }
}

/// A Linux vtypes zip (`linux_types = {...}` + System.map) is a Linux profile.
#[test]
fn linux_vtypes_zip_is_a_linux_profile() {
    use profile_compiler::__private::vol2::is_vol2_zip;
    assert!(is_vol2_zip(&[
        "Ubuntu/module.dwarf".into(),
        "boot/System.map-3.2".into()
    ]));
    assert!(is_vol2_zip(&["x/10.8.3.VTYPES".into()]));
    assert!(!is_vol2_zip(&[
        "module_dwarf.ko".into(),
        "boot/System.map-6.1".into()
    ]));

    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("linux-vtypes.zip");
    let vt = "linux_types = {\n  'list_head': [16, {'next': [0, ['pointer', ['list_head']]], 'prev': [8, ['pointer', ['list_head']]]}],\n\
  'task_struct': [1000, {'tasks': [640, ['list_head']], 'pid': [820, ['int']], 'comm': [1264, ['array', 16, ['char']]]}],\n}\n";
    let map = "ffffffff81000000 T _text\nffffffff81a11000 D init_task\n";
    make_zip(
        &zip,
        &[
            ("linux.vtypes", vt.as_bytes()),
            ("boot/System.map-3.2.0", map.as_bytes()),
        ],
    );
    let (profile, _, out) = convert(&zip, dir.path());
    assert_eq!(profile.metadata_str("ProfileClass"), Some("Linux"));
    assert_eq!(profile.metadata_str("arch"), Some("AMD64"));
    assert_eq!(profile.constants["init_task"], 0xffff81a11000);
    assert_eq!(
        profile.structs["task_struct"].fields["pid"].offset,
        Some(820)
    );
    if let Some(shared) = support::shared("linux_vtypes_zip_is_a_linux_profile") {
        let (ok, last, text) = support::compare_layouts(&shared, &out, &zip);
        assert!(ok, "{text}");
        assert_eq!(
            last,
            "layout: 2/2 structs exact, 5/5 members exact, missing=0"
        );
    }
}
