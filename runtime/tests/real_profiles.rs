//! Reading real Rekall profiles lazily: layouts checked against the
//! independent oracles (pahole for the Linux module, llvm-pdbutil for the
//! PDBs), legacy descriptor forms, 64-bit symbol values above 2^63, data
//! models, and that opening parses no struct.

#[path = "../../tests/support.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use profile_runtime::{BufferSpace, DataModel, LazyProfile, Session, Space, Type, Value};

fn fixture(test: &str, rel: &str) -> Option<PathBuf> {
    Some(support::shared(test)?.join("fixtures").join(rel))
}

/// A top-level member of a pahole struct: byte offset, size, and for a bit
/// field (LSB-relative start bit, width).
#[derive(Debug)]
struct PaholeMember {
    offset: u64,
    size: u64,
    bits: Option<(u32, u32)>,
}

/// Parses the first definition of every struct in a pahole dump: its size and
/// its top-level (one tab deep) named members.
fn pahole(path: &Path) -> BTreeMap<String, (u64, BTreeMap<String, PaholeMember>)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = BTreeMap::new();
    let mut cur: Option<(String, BTreeMap<String, PaholeMember>)> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("struct ").filter(|r| r.ends_with(" {")) {
            cur = Some((rest.trim_end_matches(" {").to_owned(), BTreeMap::new()));
            continue;
        }
        let Some((name, members)) = cur.as_mut() else {
            continue;
        };
        if let Some(size) = line.trim().strip_prefix("/* size: ") {
            let size: u64 = size.split(',').next().unwrap().trim().parse().unwrap();
            let (name, members) = cur.take().unwrap();
            out.entry(name).or_insert((size, members));
            continue;
        }
        // "\tTYPE NAME[:W];  /* OFF[: BIT] SIZE */" at depth one only.
        if !line.starts_with('\t') || line.starts_with("\t\t") || line.starts_with("\t}") {
            continue;
        }
        let (Some(semi), Some(c0), Some(c1)) = (line.find(';'), line.find("/*"), line.find("*/"))
        else {
            continue;
        };
        let decl = &line[..semi];
        let Some(last) = decl.split_whitespace().last() else {
            continue;
        };
        let (mname, width) = match last.split_once(':') {
            Some((n, w)) => (n, w.parse::<u32>().ok()),
            None => (last, None),
        };
        if mname.contains('[') || mname.contains('(') || mname.starts_with('*') {
            continue;
        }
        let comment = &line[c0 + 2..c1];
        let nums: Vec<&str> = comment
            .split(|c: char| c.is_whitespace() || c == ':')
            .filter(|s| !s.is_empty())
            .collect();
        let parsed: Vec<u64> = nums.iter().filter_map(|s| s.parse().ok()).collect();
        let m = match (width, parsed.as_slice()) {
            (Some(w), [off, bit, size]) => PaholeMember {
                offset: *off,
                size: *size,
                bits: Some((*bit as u32, w)),
            },
            (None, [off, size]) => PaholeMember {
                offset: *off,
                size: *size,
                bits: None,
            },
            _ => continue,
        };
        let _ = name;
        members.insert(mname.to_owned(), m);
    }
    out
}

#[test]
fn linux_profile_layouts_match_pahole_and_stay_lazy() {
    let (Some(profile), Some(oracle)) = (
        fixture(
            "linux lazy profile",
            "rekall/Linux/6.1.0-56-amd64.dwarf4.rekall.json",
        ),
        fixture(
            "linux pahole oracle",
            "oracles/pahole/6.1.0-56-amd64.dwarf4.module_dwarf.ko.pahole.txt",
        ),
    ) else {
        return;
    };
    let session = Session::open(&profile).unwrap();
    let lazy = session.profile();
    assert!(lazy.struct_count() > 1000);
    assert_eq!(lazy.parsed_struct_count(), 0, "opening parses no struct");
    assert_eq!(session.data_model(), DataModel::LP64);

    let oracle = pahole(&oracle);
    let checked = [
        "task_struct",
        "list_head",
        "mm_struct",
        "cred",
        "files_struct",
        "fs_struct",
        "signal_struct",
    ];
    let mut members = 0;
    let mut bitfields = 0;
    for s in checked {
        let Some((size, ms)) = oracle.get(s) else {
            continue;
        };
        assert_eq!(session.size_of(s), Some(*size), "sizeof {s}");
        for (m, pm) in ms {
            let Some(off) = session.offset_of(s, m) else {
                continue;
            };
            assert_eq!(off, pm.offset, "{s}.{m}");
            members += 1;
            if let Some((bit, width)) = pm.bits {
                // Set exactly this bit field's bits in its storage unit; the
                // runtime must read all ones, and its neighbours nothing.
                let mut mem = vec![0u8; (*size as usize) + 16];
                let storage = (((1u128 << width) - 1) << bit).to_le_bytes();
                mem[pm.offset as usize..(pm.offset + pm.size) as usize]
                    .copy_from_slice(&storage[..pm.size as usize]);
                let sp: Space = Arc::new(BufferSpace::new(mem));
                let obj = session.object(s, 0, &sp);
                assert_eq!(obj.member(m).as_u64(), Some((1u64 << width) - 1), "{s}.{m}");
                for (other, po) in ms {
                    if other != m && po.bits.is_some() && po.offset == pm.offset {
                        assert_eq!(
                            obj.member(other).as_u64(),
                            Some(0),
                            "{s}.{other} beside {m}"
                        );
                    }
                }
                bitfields += 1;
            }
        }
    }
    eprintln!("{members} member offsets and {bitfields} bit fields match pahole");
    assert!(members > 300, "only {members} members compared");
    assert!(bitfields > 10, "only {bitfields} bit fields compared");
    assert!(
        lazy.parsed_struct_count() < 60,
        "parsed {} structs",
        lazy.parsed_struct_count()
    );

    // Symbols: Rekall masks Linux addresses to 48 bits.
    let init = session.constant("init_task").unwrap();
    assert_eq!(init >> 48, 0);
    assert_eq!(profile_runtime::canonical_address(init) >> 48, 0xffff);
    // A native spelled the DWARF way, a member type.
    assert!(matches!(
        session.member_type("task_struct", "comm"),
        Some(Type::Array { .. })
    ));
    assert_eq!(session.size_of("long unsigned int"), Some(8));
}

#[test]
fn debian8_legacy_forms() {
    let Some(profile) = fixture("debian8 legacy forms", "rekall/Linux/Debian8.rekall.json") else {
        return;
    };
    let raw: serde_json::Value = serde_json::from_slice(&std::fs::read(&profile).unwrap()).unwrap();
    let session = Session::open(&profile).unwrap();
    let ts = &raw["$STRUCTS"]["task_struct"];
    // ['pointer', ['mm_struct']] and ['array', 16, ['char']].
    assert_eq!(ts[1]["mm"][1][0], "pointer");
    assert_eq!(ts[1]["comm"][1][0], "array");
    let mm = ts[1]["mm"][0].as_u64().unwrap();
    let comm = ts[1]["comm"][0].as_u64().unwrap();
    let size = ts[0].as_u64().unwrap();
    let mut mem = vec![0u8; 2 * size as usize];
    mem[comm as usize..comm as usize + 5].copy_from_slice(b"init\0");
    mem[mm as usize..mm as usize + 8].copy_from_slice(&size.to_le_bytes());
    let sp: Space = Arc::new(BufferSpace::new(mem));
    let task = session.object("task_struct", 0, &sp);
    assert_eq!(task.member("comm").as_string().as_deref(), Some("init"));
    assert_eq!(task.member("mm").value(), Value::Pointer(size));
    assert_eq!(task.member("mm").deref().type_name(), "mm_struct");
    assert_eq!(task.get("tasks.next").type_name(), "Pointer<list_head>");
}

#[test]
fn osx_profile_with_symbols_above_2_63() {
    let Some(profile) = fixture(
        "osx legacy profile",
        "rekall/OSX/HighSierra_10.13.3_17D47.json",
    ) else {
        return;
    };
    let text = std::fs::read_to_string(&profile).unwrap();
    let raw: serde_json::Value = serde_json::from_str(&text).unwrap();
    let session = Session::open(&profile).unwrap();
    assert_eq!(session.data_model(), DataModel::LP64);
    assert_eq!(session.profile().parsed_struct_count(), 0);
    let allproc = raw["$CONSTANTS"]["_allproc"].as_u64().unwrap();
    assert!(allproc > 1 << 63);
    assert_eq!(session.constant("_allproc"), Some(allproc));
    // Every constant survives, whatever its size.
    let n = raw["$CONSTANTS"].as_object().unwrap().len();
    assert_eq!(session.profile().constants().len(), n);
    assert_eq!(session.size_of("proc"), raw["$STRUCTS"]["proc"][0].as_u64());
    // list_head here has prev at 0 and next at 8: the class's link member is
    // looked up by name, so a walk follows `next`.
    assert_eq!(session.offset_of("list_head", "next"), Some(8));
    // Every struct of the profile opens, and every member reads, over zeros.
    let sp: Space = Arc::new(BufferSpace::new(vec![0u8; 1 << 16]));
    let mut names: Vec<&str> = session.profile().struct_names().collect();
    names.sort_unstable();
    for name in names {
        let o = session.object(name, 0x100, &sp);
        for m in o.members() {
            let _ = o.member(&m).value();
        }
    }
}

/// `LF_STRUCTURE` sizes and `LF_MEMBER` offsets of an llvm-pdbutil dump:
/// name -> (size, member -> offset), for structs with one definition.
fn pdbutil(path: &Path) -> BTreeMap<String, (u64, BTreeMap<String, u64>)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut fieldlists: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut structs: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
    let mut cur_list: Option<String> = None;
    let mut cur_struct: Option<String> = None;
    let mut cur_fl: Option<String> = None;
    for line in text.lines() {
        let t = line.trim();
        if let Some((id, rest)) = t.split_once(" | ").filter(|(id, _)| id.starts_with("0x")) {
            cur_list = None;
            cur_struct = None;
            if rest.starts_with("LF_FIELDLIST") {
                cur_list = Some(id.to_owned());
                fieldlists.entry(id.to_owned()).or_default();
            } else if rest.starts_with("LF_STRUCTURE") || rest.starts_with("LF_UNION") {
                cur_struct = rest.split('`').nth(1).map(str::to_owned);
            }
            continue;
        }
        if let (Some(l), Some(rest)) = (&cur_list, t.strip_prefix("- LF_MEMBER [name = `")) {
            let name = rest.split('`').next().unwrap().to_owned();
            if let Some(off) = rest.split("offset = ").nth(1) {
                let off: u64 = off.split(',').next().unwrap().trim().parse().unwrap();
                fieldlists.get_mut(l).unwrap().insert(name, off);
            }
        }
        if cur_struct.is_some() {
            if let Some(fl) = t.split("field list: ").nth(1) {
                cur_fl = Some(fl.trim().to_owned());
            }
            if let Some(size) = t.split("sizeof ").nth(1) {
                let size: u64 = size.trim().parse().unwrap();
                if let (Some(s), Some(fl)) = (&cur_struct, cur_fl.take()) {
                    if !t.contains("forward ref") {
                        structs.entry(s.clone()).or_default().push((size, fl));
                    }
                }
            }
        }
    }
    structs
        .into_iter()
        .filter(|(_, defs)| defs.len() == 1)
        .filter_map(|(name, defs)| {
            let (size, fl) = &defs[0];
            Some((name, (*size, fieldlists.get(fl)?.clone())))
        })
        .collect()
}

#[test]
fn pdb_profiles_match_llvm_pdbutil_and_data_models() {
    for (arch, model) in [
        ("x86", DataModel::ILP32_WINDOWS),
        ("amd64", DataModel::LLP64),
    ] {
        let (Some(profile), Some(oracle)) = (
            fixture(
                "pdb profile",
                &format!("rekall/parse_pdb/debugpy-1.8.22_attach_{arch}.rekall.json"),
            ),
            fixture(
                "pdb oracle",
                &format!("oracles/llvm-pdbutil/debugpy-1.8.22_attach_{arch}.dump.txt"),
            ),
        ) else {
            return;
        };
        let session = Session::new(Arc::new(LazyProfile::open(&profile).unwrap()));
        assert_eq!(session.data_model(), model, "{arch}");
        let oracle = pdbutil(&oracle);
        let (mut sizes, mut offsets) = (0, 0);
        for (name, (size, members)) in &oracle {
            if !session.profile().has_struct(name) {
                continue;
            }
            assert_eq!(session.size_of(name), Some(*size), "{arch} sizeof {name}");
            sizes += 1;
            for (m, off) in members {
                // Rekall's parse_pdb puts members of a nested unnamed type at
                // offset 0 (its defect, not the runtime's): skip those.
                let nested = session
                    .member_type(name, m)
                    .is_some_and(|t| t.to_string().contains("<unnamed"));
                if nested {
                    continue;
                }
                if let Some(o) = session.offset_of(name, m) {
                    assert_eq!(o, *off, "{arch} {name}.{m}");
                    offsets += 1;
                }
            }
        }
        eprintln!("{arch}: {sizes} struct sizes and {offsets} member offsets match llvm-pdbutil");
        assert!(
            sizes > 50 && offsets > 200,
            "{arch}: {sizes} sizes, {offsets} offsets compared"
        );
        // A _UNICODE_STRING inside _RTL_USER_PROCESS_PARAMETERS, read with
        // this data model's pointer size.
        let ptr = u64::from(model.pointer_size);
        let at = session
            .offset_of("_RTL_USER_PROCESS_PARAMETERS", "ImagePathName")
            .unwrap();
        let buf_off = session.offset_of("_UNICODE_STRING", "Buffer").unwrap();
        assert_eq!(buf_off, ptr, "Buffer follows two USHORTs, pointer-aligned");
        let text: Vec<u8> = "python.exe"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let mut mem = vec![0u8; 0x400];
        let s = at as usize;
        mem[s..s + 2].copy_from_slice(&(text.len() as u16).to_le_bytes());
        mem[s + 2..s + 4].copy_from_slice(&(text.len() as u16).to_le_bytes());
        mem[s + buf_off as usize..s + buf_off as usize + ptr as usize]
            .copy_from_slice(&0x200u64.to_le_bytes()[..ptr as usize]);
        mem[0x200..0x200 + text.len()].copy_from_slice(&text);
        let sp: Space = Arc::new(BufferSpace::new(mem));
        let params = session.object("_RTL_USER_PROCESS_PARAMETERS", 0, &sp);
        assert_eq!(
            params.member("ImagePathName").as_string().as_deref(),
            Some("python.exe"),
            "{arch}"
        );
    }
}

/// Every struct of every real profile, read over pseudo-random bytes (so
/// pointers point anywhere, lengths are anything): no panic, and every
/// failure is a NoneObject with a reason.
#[test]
fn every_real_struct_reads_over_random_bytes_without_panic() {
    let Some(shared) = support::shared("random reads of real profiles") else {
        return;
    };
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut mem = vec![0u8; 1 << 16];
    for b in &mut mem {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        *b = seed as u8;
    }
    // Some pointers into the buffer itself, so derefs succeed too.
    for i in (0..mem.len()).step_by(64) {
        let target = ((i * 7919) % (1 << 16)) as u64;
        mem[i..i + 8].copy_from_slice(&target.to_le_bytes());
    }
    let sp: Space = Arc::new(BufferSpace::new(mem));
    let files = [
        "rekall/Linux/6.1.0-56-amd64.dwarf4.rekall.json",
        "rekall/Linux/Debian8.rekall.json",
        "rekall/OSX/HighSierra_10.13.3_17D47.json",
        "rekall/parse_pdb/debugpy-1.8.22_attach_amd64.rekall.json",
        "rekall/parse_pdb/debugpy-1.8.22_attach_x86.rekall.json",
    ];
    for f in files {
        let session = Session::open(&shared.join("fixtures").join(f)).unwrap();
        let mut names: Vec<String> = session
            .profile()
            .struct_names()
            .map(str::to_owned)
            .collect();
        names.sort_unstable();
        let (mut reads, mut nones) = (0usize, 0usize);
        for (i, name) in names.iter().enumerate() {
            let o = session.object(name, (i as u64 * 40) % 0xf000, &sp);
            for m in o.members().iter().take(48) {
                let mo = o.member(m);
                for v in [mo.value(), mo.deref().value(), mo.index(1).value()] {
                    reads += 1;
                    if let Value::None(n) = &v {
                        nones += 1;
                        assert!(!n.reason().is_empty());
                    }
                    let _ = v.to_string();
                }
                let _ = mo.as_string();
            }
        }
        eprintln!("{f}: {reads} reads, {nones} NoneObjects");
        assert!(reads > nones, "{f}");
    }
}
