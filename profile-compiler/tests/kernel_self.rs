//! Profiles from the kernel itself (issue 16): the live system's files,
//! a vmlinuz alone, a memory image alone, split module BTF. Checked against
//! independent truth: the -dbg package's System.map and DWARF, the guest's
//! own /proc/version, pahole on the modules' DWARF.
//!
//! Real inputs live under `$PROFC_IMAGES` (default ~/.cache/profile-images,
//! made by ../shared/images/linux-qemu-image.sh and scripts/guest-files.sh).
//! Missing inputs print `SKIPPED ...`; with CI=true they fail.

#[path = "../../tests/support.rs"]
mod support;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use profile_compiler::__private::{btf, kallsyms, kernel, system_map, vmlinuz};
use profile_compiler::ir::{Ir, SymbolKind, Type};
use profile_compiler::{emit, EmitOptions};
use profile_runtime::{Descriptor, Profile, StructDef};

/// A kernel the shared image script prepares.
#[derive(Clone, Copy)]
struct Kernel {
    kver: &'static str,
    /// Image folders of this kernel (`KVER-Nlevel`).
    images: &'static [&'static str],
    /// CONFIG_KALLSYMS_ALL: data symbols in kallsyms (Debian amd64 yes,
    /// arm64 no: text symbols only).
    all_symbols: bool,
    /// Fewest symbols expected.
    min_symbols: usize,
}

const AMD64: Kernel = Kernel {
    kver: "6.1.0-57-amd64",
    images: &["6.1.0-57-amd64-4level", "6.1.0-57-amd64-5level"],
    all_symbols: true,
    min_symbols: 90_000,
};
const ARM64: Kernel = Kernel {
    kver: "6.1.0-57-arm64",
    images: &["6.1.0-57-arm64-4level"],
    all_symbols: false,
    min_symbols: 45_000,
};

fn images() -> PathBuf {
    std::env::var_os("PROFC_IMAGES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/profile-images")
        })
}

/// The paths, or `None` after a SKIPPED line (a failure with CI=true).
fn need(test: &str, paths: &[PathBuf]) -> Option<()> {
    let missing: Vec<_> = paths.iter().filter(|p| !p.exists()).collect();
    if missing.is_empty() {
        return Some(());
    }
    let msg = format!(
        "SKIPPED {test}: missing {} (run ../shared/images/linux-qemu-image.sh and scripts/guest-files.sh, or set PROFC_IMAGES)",
        missing
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let required = missing
        .iter()
        .any(|p| support::in_image_matrix(&p.to_string_lossy()));
    if support::ci() && required {
        panic!("{msg}");
    }
    let _ = writeln!(std::io::stderr(), "{msg}");
    None
}

impl Kernel {
    fn dir(&self) -> PathBuf {
        images().join("kernel").join(self.kver)
    }
    fn image_dir(&self) -> PathBuf {
        images().join(self.images[0])
    }
    /// scripts/guest-files.sh output.
    fn guest(&self, name: &str) -> PathBuf {
        self.image_dir().join("guest").join(name)
    }
    fn version_text(&self) -> String {
        String::from_utf8(read(&self.guest("version")))
            .unwrap()
            .trim_end()
            .to_owned()
    }
}

fn report(line: String) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// System.map as name -> addresses.
fn system_map(path: &Path) -> HashMap<String, Vec<u64>> {
    let map = system_map::read_file(path).unwrap();
    let mut m: HashMap<String, Vec<u64>> = HashMap::new();
    for s in map.symbols {
        m.entry(s.name).or_default().push(s.address);
    }
    m
}

/// Every data symbol of the IR (every kallsyms symbol is one) is in
/// System.map at the same address. Returns (matched, total, System.map
/// names absent from the IR).
fn check_symbols(
    test: &str,
    k: Kernel,
    ir: &Ir,
    map: &HashMap<String, Vec<u64>>,
) -> (usize, usize, usize) {
    let mut total = 0;
    let mut wrong = Vec::new();
    let mut seen = HashSet::new();
    for s in ir.symbols.iter().filter(|s| s.kind == SymbolKind::Data) {
        total += 1;
        seen.insert(s.name.as_str());
        match map.get(&s.name) {
            Some(addrs) if addrs.contains(&s.address) => {}
            other => wrong.push(format!(
                "{} {:#x} (System.map: {:x?})",
                s.name, s.address, other
            )),
        }
    }
    let absent = map.keys().filter(|n| !seen.contains(n.as_str())).count();
    report(format!(
        "{test}: {}/{total} kallsyms symbols equal System.map; {absent} of {} System.map names not in kallsyms",
        total - wrong.len(),
        map.len()
    ));
    assert!(
        wrong.is_empty(),
        "{test}: {} differ, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
    assert!(total > k.min_symbols, "{test}: only {total} symbols");
    (total - wrong.len(), total, absent)
}

fn emitted(ir: &Ir) -> Profile {
    emit(ir, EmitOptions::default()).profile
}

/// Layout of a struct for comparison: (size, member -> absolute bit offset),
/// as `vmlinux_btf_equals_dwarf` in tests/btf.rs compares them.
fn layout(def: &StructDef) -> (Option<u64>, Vec<(String, Option<u64>)>) {
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
}

/// Every named DWARF struct that BTF also has matches a same-name BTF
/// definition in size and member offsets. Returns how many were compared.
fn structs_equal(btf: &Profile, dwarf: &Profile) -> usize {
    let mut by_name: HashMap<&str, Vec<_>> = HashMap::new();
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
    compared
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The common checks of a kernel-only IR: symbols equal System.map, the
/// banner equals the guest's /proc/version, well-known symbols typed.
fn check_kernel_ir(test: &str, k: Kernel, ir: &Ir, shift_expected: Option<u64>) {
    let map = system_map(&k.dir().join("System.map"));
    check_symbols(test, k, ir, &map);
    assert_eq!(
        ir.metadata.get("Banner").and_then(|v| v.as_str()),
        Some(k.version_text().as_str()),
        "{test}: banner"
    );
    let shift = ir.metadata["KaslrShift"].as_str().unwrap().to_owned();
    report(format!("{test}: KaslrShift {shift}"));
    if let Some(want) = shift_expected {
        assert_eq!(shift, format!("{want:#x}"), "{test}");
    }
    let typed = ir.symbols.iter().filter(|s| s.ty.is_some()).count();
    report(format!("{test}: {typed} typed symbols"));
    if !k.all_symbols {
        // Text symbols only: nothing to type.
        return;
    }
    // init_task is typed (well-known table), a per-cpu variable too (BTF VAR).
    let ty = |name: &str| {
        ir.symbols
            .iter()
            .find(|s| s.name == name && s.kind == SymbolKind::Data)
            .and_then(|s| s.ty)
    };
    let init_task = ty("init_task").expect("init_task typed");
    assert!(
        matches!(ir.get(init_task), Type::Record(r) if r.name.as_deref() == Some("task_struct"))
    );
    let cpu_number = ty("cpu_number").expect("cpu_number typed from BTF VAR");
    assert!(matches!(
        ir.get(ir.resolve(cpu_number)),
        Type::Base { size: 4, .. }
    ));
}

/// The live system: /sys/kernel/btf/vmlinux + /proc/kallsyms + /proc/version.
fn live_system(k: Kernel) {
    let t = format!("live_system_files ({})", k.kver);
    let files = ["version", "kallsyms", "btf-vmlinux"].map(|f| k.guest(f));
    if need(&t, &[&files[..], &[k.dir().join("System.map")]].concat()).is_none() {
        return;
    }
    let ir = kernel::from_live_system(
        &read(&files[2]),
        &files[2],
        &read(&files[1]),
        &files[1],
        Some(&k.version_text()),
        None,
    )
    .unwrap();
    check_kernel_ir(&t, k, &ir, None);
    // The guest had loop, brd and dummy loaded: their symbols are left out.
    assert!(ir
        .warnings
        .iter()
        .any(|w| w.contains("module symbols left out")));
    assert!(!ir.symbols.iter().any(|s| s.name == "loop_set_status"));
}

#[test]
fn live_system_files_give_system_map_symbols_amd64() {
    live_system(AMD64);
}

#[test]
fn live_system_files_give_system_map_symbols_arm64() {
    live_system(ARM64);
}

/// The vmlinuz alone.
fn vmlinuz_alone(k: Kernel) {
    let t = format!("vmlinuz_alone ({})", k.kver);
    let v = k.dir().join("vmlinuz");
    if need(
        &t,
        &[
            v.clone(),
            k.guest("version"),
            k.guest("btf-vmlinux"),
            k.dir().join("System.map"),
        ],
    )
    .is_none()
    {
        return;
    }
    let data = read(&v);
    let image = vmlinuz::read_bytes(&data, &v).unwrap();
    report(format!(
        "{t}: {:?} payload -> {} bytes ({:?})",
        image.compression,
        image.data.len(),
        image.format
    ));
    let ir = kernel::from_kernel_image(&image, &v).unwrap();
    // The image is at its link address.
    check_kernel_ir(&t, k, &ir, Some(0));
    // Its BTF is the running kernel's, byte for byte.
    let blob = match image.format {
        vmlinuz::ImageFormat::Elf => {
            use object::{Object, ObjectSection};
            let elf = object::File::parse(&image.data[..]).unwrap();
            elf.section_by_name(".BTF")
                .unwrap()
                .data()
                .unwrap()
                .to_vec()
        }
        vmlinuz::ImageFormat::RawArm64 => image.data[btf::find_raw(&image.data).unwrap()].to_vec(),
    };
    assert!(
        blob == read(&k.guest("btf-vmlinux")),
        "{t}: BTF differs from /sys/kernel/btf/vmlinux"
    );
    // The emitted profile, through the project's symbol oracle: every
    // System.map name but those kallsyms omits by design.
    if let Some(shared) = support::shared_dir() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("vmlinuz.json");
        emitted(&ir)
            .save(&out, profile_runtime::WriteMode::Overwrite)
            .unwrap();
        let (_, last, _) = support::compare_symbols(&shared, &out, &k.dir().join("System.map"));
        report(format!("{t}: compare_symbols.py: {last}"));
        let (matched, total) = last
            .rsplit(' ')
            .next()
            .and_then(|f| f.split_once('/'))
            .map(|(a, b)| (a.parse::<usize>().unwrap(), b.parse::<usize>().unwrap()))
            .unwrap();
        // amd64: the 14 names of docs/kernel-only.md; arm64: text symbols only.
        let omitted = if k.all_symbols {
            14
        } else {
            total - k.min_symbols
        };
        assert!(matched + omitted >= total, "{t}: {last}");
    }
}

#[test]
fn vmlinuz_alone_gives_system_map_symbols_btf_and_banner_amd64() {
    vmlinuz_alone(AMD64);
}

#[test]
fn vmlinuz_alone_gives_system_map_symbols_btf_and_banner_arm64() {
    vmlinuz_alone(ARM64);
}

/// A raw physical image and an ELF core of each guest.
fn memory_image_alone(k: Kernel) {
    for folder in k.images {
        let dir = images().join(folder);
        let t = format!("memory_image_alone ({folder})");
        let raw = dir.join("mem.raw");
        let core = dir.join("core.elf");
        let vmcoreinfo = dir.join("vmcoreinfo.txt");
        if need(
            &t,
            &[
                raw.clone(),
                core.clone(),
                vmcoreinfo.clone(),
                k.guest("version"),
                k.guest("btf-vmlinux"),
                k.dir().join("System.map"),
            ],
        )
        .is_none()
        {
            continue;
        }
        let info = String::from_utf8(read(&vmcoreinfo)).unwrap();
        let offset = info
            .lines()
            .find_map(|l| l.strip_prefix("KERNELOFFSET="))
            .map(|h| u64::from_str_radix(h, 16).unwrap())
            .unwrap();
        for path in [&raw, &core] {
            let name = format!("{t} {}", path.file_name().unwrap().to_string_lossy());
            let ir = kernel::from_memory_image(path).unwrap();
            check_kernel_ir(&name, k, &ir, Some(offset));
        }
        // The BTF carved out of RAM is the kernel's, byte for byte.
        let data = read(&raw);
        let parts = kernel::scan_pieces(&[(0, &data[..])]);
        assert!(
            parts.btf.as_deref() == Some(&read(&k.guest("btf-vmlinux"))[..]),
            "{t}: BTF"
        );
        assert_eq!(parts.kernel_offset, Some(offset));
    }
}

#[test]
fn memory_image_alone_gives_system_map_symbols_btf_and_banner_amd64() {
    memory_image_alone(AMD64);
}

#[test]
fn memory_image_alone_gives_system_map_symbols_btf_and_banner_arm64() {
    memory_image_alone(ARM64);
}

/// BTF-derived structs equal the DWARF-derived ones (the -dbg vmlinux),
/// for the BTF of the live system, which the vmlinuz and memory-image tests
/// show to be the same bytes.
#[test]
fn kernel_btf_structs_equal_dwarf() {
    let k = AMD64;
    let t = "kernel_btf_structs_equal_dwarf";
    let vmlinux = k.dir().join("vmlinux");
    let b = k.guest("btf-vmlinux");
    let ks = k.guest("kallsyms");
    if need(t, &[vmlinux.clone(), b.clone(), ks.clone()]).is_none() {
        return;
    }
    let ir = kernel::from_live_system(&read(&b), &b, &read(&ks), &ks, None, None).unwrap();
    let btf_profile = emitted(&ir);
    let dwarf = profile_compiler::__private::dwarf::read_file(&vmlinux).unwrap();
    let dwarf_profile = emitted(&dwarf);
    let n = structs_equal(&btf_profile, &dwarf_profile);
    report(format!(
        "{t}: {n} named structs compared ({} BTF, {} DWARF), all equal",
        btf_profile.structs.len(),
        dwarf_profile.structs.len()
    ));
    assert!(n > 5000, "only {n} structs in common");
}

/// A module's split BTF over its base: `/sys/kernel/btf/loop` of the guest
/// and the `.BTF` section of loop.ko give the same module types, which
/// continue the base's ids, and the module's structs are complete.
#[test]
fn split_btf_of_loop_from_sysfs_and_ko_agree() {
    let k = AMD64;
    let t = "split_btf_of_loop";
    let base = k.guest("btf-vmlinux");
    let sys = k.guest("btf-loop");
    let ko = k.dir().join("modules/loop.ko");
    if need(t, &[base.clone(), sys.clone(), ko.clone()]).is_none() {
        return;
    }
    let base_bytes = read(&base);
    let (base_ir, _) = btf::read_with_vars(&base_bytes, &base, 8).unwrap();
    let (from_sys, _) = btf::read_split(&read(&sys), &base_bytes, &sys, &base, 8).unwrap();
    let (from_ko, _) = btf::read_split(&read(&ko), &base_bytes, &ko, &base, 8).unwrap();
    let added = from_sys.types.len() - base_ir.types.len();
    report(format!(
        "{t}: base {} types, loop adds {added}",
        base_ir.types.len()
    ));
    assert!(added > 50, "{added}");
    // The base part is untouched; the module's types are the same both ways.
    assert_eq!(from_sys.types[..base_ir.types.len()], base_ir.types[..]);
    assert_eq!(from_sys.types, from_ko.types);
    let p = emitted(&from_sys);
    let ld = &p.structs["loop_device"];
    // Module types refer to base types (struct block_device *, gendisk...).
    assert!(
        ld.fields.contains_key("lo_device"),
        "{:?}",
        ld.fields.keys()
    );
    assert!(ld.size.unwrap() > 200);
    // A module type's name comes from the module's own strings, a base
    // type's from the base's.
    assert!(p.structs.contains_key("loop_cmd"));
    assert!(p.structs.contains_key("task_struct"));
}

/// The -dbg package's modules (with DWARF), for pahole: extracted from
/// linux-image-KVER-dbg into `$PROFC_DBG_MODULES` (default
/// ~/.cache/kernel-dbg/usr/lib/debug/lib/modules/KVER).
fn dbg_module(kver: &str, rel: &str) -> PathBuf {
    std::env::var_os("PROFC_DBG_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/kernel-dbg/usr/lib/debug/lib/modules")
                .join(kver)
        })
        .join(rel)
}

/// Split BTF of loop.ko and brd.ko (the stock modules' `.BTF` over the
/// kernel's BTF) equals the modules' DWARF layouts, as pahole reads them
/// from the -dbg modules: every struct pahole lists, exact.
#[test]
fn split_btf_of_modules_equals_pahole_on_dwarf() {
    let k = AMD64;
    let t = "split_btf_of_modules_equals_pahole";
    let Some(shared) = support::shared(t) else {
        return;
    };
    let base = k.guest("btf-vmlinux");
    let mods = [
        ("loop", "kernel/drivers/block/loop.ko"),
        ("brd", "kernel/drivers/block/brd.ko"),
    ];
    let mut paths = vec![base.clone()];
    for (m, rel) in mods {
        paths.push(k.dir().join(format!("modules/{m}.ko")));
        paths.push(dbg_module(k.kver, rel));
    }
    if need(t, &paths).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let base_bytes = read(&base);
    for (m, rel) in mods {
        let ko = k.dir().join(format!("modules/{m}.ko"));
        let (ir, _) = btf::read_split(&read(&ko), &base_bytes, &ko, &base, 8).unwrap();
        let out = dir.path().join(format!("{m}.json"));
        emitted(&ir)
            .save(&out, profile_runtime::WriteMode::Overwrite)
            .unwrap();
        let (ok, last, text) = support::compare_layouts(&shared, &out, &dbg_module(k.kver, rel));
        report(format!("{t}: {m}.ko: {last}"));
        assert!(ok, "{m}: {text}");
        assert!(last.contains("missing=0"), "{m}: {last}");
    }
}

/// Every compression a bzImage can carry: the real vmlinux.bin (its first
/// 12 MiB, enough for several lz4 and lzo blocks) compressed by the
/// compressors' own command-line tools with the kernel's options (legacy lz4
/// frame, lzop container, xz with the x86 BCJ filter, lzma-alone), the
/// kernel's size word appended, put in the real bzImage's setup header in
/// place of its xz payload: each decompresses to the same bytes.
#[test]
fn every_kernel_compression_decompresses() {
    let t = "every_kernel_compression_decompresses";
    let v = AMD64.dir().join("vmlinuz");
    if need(t, std::slice::from_ref(&v)).is_none() {
        return;
    }
    let bz = read(&v);
    let image = vmlinuz::read_bytes(&bz, &v).unwrap();
    let plain = &image.data[..12 << 20];
    let (off, _) = vmlinuz::bzimage_payload(&bz).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("vmlinux.bin");
    std::fs::write(&input, plain).unwrap();
    // (tool, arguments, expected) as the kernel's Makefile.lib runs them,
    // at fast levels (the format does not depend on the level).
    let cases: &[(&str, &[&str], vmlinuz::Compression)] = &[
        ("gzip", &["-n", "-1", "-c"], vmlinuz::Compression::Gzip),
        ("bzip2", &["-1", "-c"], vmlinuz::Compression::Bzip2),
        ("lzma", &["-1", "-c"], vmlinuz::Compression::Lzma),
        (
            "xz",
            &["--check=crc32", "--x86", "--lzma2=preset=1", "-c"],
            vmlinuz::Compression::Xz,
        ),
        ("lzop", &["-1", "-c"], vmlinuz::Compression::Lzo),
        ("lzop", &["-9", "-c"], vmlinuz::Compression::Lzo),
        ("lz4", &["-l", "-1", "-c"], vmlinuz::Compression::Lz4),
        ("zstd", &["-1", "-c", "-q"], vmlinuz::Compression::Zstd),
    ];
    let mut done = 0;
    for &(tool, args, want) in cases {
        let out = match std::process::Command::new(tool)
            .args(args)
            .arg(&input)
            .output()
        {
            Ok(o) if o.status.success() => o.stdout,
            _ => {
                need(
                    &format!("{t} ({tool})"),
                    &[PathBuf::from(format!("/usr/bin/{tool}"))],
                );
                continue;
            }
        };
        let mut payload = out;
        payload.extend_from_slice(&(plain.len() as u32).to_le_bytes());
        // A bzImage with this payload: setup and the decompressor as they are,
        // payload_length patched (payload_offset is kept).
        let mut file = bz[..off].to_vec();
        file.extend_from_slice(&payload);
        file[0x24c..0x250].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        let got =
            vmlinuz::read_bytes(&file, Path::new(tool)).unwrap_or_else(|e| panic!("{tool}: {e}"));
        assert_eq!(got.compression, Some(want), "{tool}");
        assert!(got.data == plain, "{tool}: decompressed bytes differ");
        // Truncated streams are errors, not panics or partial images.
        for cut in [payload.len() / 3, payload.len() - 9] {
            let mut f = file.clone();
            f.truncate(off + cut);
            f[0x24c..0x250].copy_from_slice(&(cut as u32).to_le_bytes());
            assert!(
                vmlinuz::read_bytes(&f, Path::new(tool)).is_err(),
                "{tool} cut at {cut}"
            );
        }
        // The cap holds.
        let capped = vmlinuz::read_bytes_capped(&file, Path::new(tool), 1 << 20);
        assert!(capped.unwrap_err().to_string().contains("cap"), "{tool}");
        done += 1;
    }
    report(format!(
        "{t}: {done}/{} compressions round-trip",
        cases.len()
    ));
}

/// Missing parts are named, with what else would do.
#[test]
fn missing_btf_or_kallsyms_says_which_and_what_else() {
    let dir = tempfile::tempdir().unwrap();
    // No BTF at all (and no tables): the BTF is named first.
    let zeros = dir.path().join("zeros.raw");
    std::fs::write(&zeros, vec![0u8; 1 << 20]).unwrap();
    let e = kernel::from_memory_image(&zeros).unwrap_err().to_string();
    assert!(
        e.contains("no BTF found") && e.contains("debug package"),
        "{e}"
    );
    // BTF present (the project's small fixture), no kallsyms tables.
    let btf_only = dir.path().join("btf-only.raw");
    let mut data = vec![0u8; 4096];
    data.extend(std::fs::read(support::fixtures().join("btf/btf_types.btf")).unwrap());
    data.resize(data.len() + 4096, 0);
    std::fs::write(&btf_only, &data).unwrap();
    let e = kernel::from_memory_image(&btf_only)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no kallsyms tables") && e.contains("System.map"),
        "{e}"
    );
    // A vmlinuz that is not one.
    let e = kernel::from_vmlinuz(b"not a kernel at all", Path::new("x"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a vmlinuz"), "{e}");
    // kallsyms read without privileges.
    let hidden = b"0000000000000000 T _text\n0000000000000000 T startup_64\n";
    let btf = std::fs::read(support::fixtures().join("btf/btf_types.btf")).unwrap();
    let e = kernel::from_live_system(&btf, Path::new("b"), hidden, Path::new("k"), None, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("as root"), "{e}");
}

/// Damaged tables in a real image: every corruption gives an error or a
/// result, never a panic, and a flipped name byte is caught by the
/// markers (the search does not return a wrong table silently).
#[test]
fn damaged_kallsyms_tables_are_rejected_not_misread() {
    let t = "damaged_kallsyms_tables";
    let v = AMD64.dir().join("vmlinuz");
    if need(t, std::slice::from_ref(&v)).is_none() {
        return;
    }
    let image = vmlinuz::read_bytes(&read(&v), &v).unwrap();
    let opts = kallsyms::RecoverOptions::default();
    let good = kallsyms::recover(&image.data, &opts).unwrap();
    let l = good.layout.clone();
    // The first names entry's length byte changed: the decoding no longer lands on
    // the markers, so this copy of the tables is refused.
    let mut bad = image.data.clone();
    bad[l.names] ^= 0x01;
    assert!(kallsyms::recover(&bad, &opts).is_none());
    // A token index entry changed: the token table is refused.
    let mut bad = image.data.clone();
    bad[l.token_index + 2 * 0x41] ^= 0x10;
    assert!(kallsyms::recover(&bad, &opts).is_none());
    // The tables cut short anywhere: no panic.
    for cut in [
        l.names + 1000,
        l.markers + 8,
        l.token_table + 100,
        l.token_index + 300,
    ] {
        assert!(
            kallsyms::recover(&image.data[..cut], &opts).is_none(),
            "cut at {cut}"
        );
    }
    report(format!(
        "{t}: {} symbols at names {:#x}, markers {:#x}, token table {:#x}; damaged copies refused",
        l.num_syms, l.names, l.markers, l.token_table
    ));
}

/// Split BTF on the project's own fixture: a module blob whose struct is
/// named from its own strings and whose member is a base type.
#[test]
fn split_btf_ids_and_strings_continue_after_the_base() {
    let base = std::fs::read(support::fixtures().join("btf/btf_types.btf")).unwrap();
    let str_len = u32::from_le_bytes(base[20..24].try_into().unwrap());
    let (base_ir, _) = btf::read_with_vars(&base, Path::new("base"), 8).unwrap();
    let n = base_ir.types.len() as u32; // the module's first id
    let strings = b"\0mod_struct\0field\0next\0";
    let mut types = Vec::new();
    // struct mod_struct { <base type 1> field; struct mod_struct *next; }
    for w in [
        str_len + 1,
        (4 << 24) | 2,
        16,
        str_len + 12,
        1,
        0,
        str_len + 18,
        n + 1,
        64,
    ] {
        types.extend_from_slice(&w.to_le_bytes());
    }
    // id n+1: pointer to id n
    for w in [0, 2 << 24, n] {
        types.extend_from_slice(&w.to_le_bytes());
    }
    let mut module = Vec::new();
    module.extend_from_slice(&[0x9f, 0xeb, 1, 0]);
    for w in [
        24u32,
        0,
        types.len() as u32,
        types.len() as u32,
        strings.len() as u32,
    ] {
        module.extend_from_slice(&w.to_le_bytes());
    }
    module.extend_from_slice(&types);
    module.extend_from_slice(strings);
    let (ir, _) = btf::read_split(&module, &base, Path::new("m"), Path::new("base"), 8).unwrap();
    assert_eq!(ir.types.len() as u32, n + 2);
    let Type::Record(r) = &ir.types[n as usize] else {
        panic!("{:?}", ir.types[n as usize])
    };
    assert_eq!(r.name.as_deref(), Some("mod_struct"));
    assert_eq!(r.members[0].name.as_deref(), Some("field"));
    assert_eq!(r.members[0].ty.0, 1);
    assert_eq!(r.members[1].offset, 8);
    assert!(matches!(ir.types[n as usize + 1], Type::Pointer { target, .. } if target.0 == n));
    let p = emitted(&ir);
    assert_eq!(p.structs["mod_struct"].size, Some(16));
    assert_eq!(p.structs["mod_struct"].fields["next"].offset, Some(8));
    // Base types are all there too.
    assert!(p.structs.contains_key("task"));
    // A truncated module blob is an error naming BTF.
    let e =
        btf::read_split(&module[..40], &base, Path::new("m"), Path::new("base"), 8).unwrap_err();
    assert!(e.to_string().contains("BTF"), "{e}");
    // The kinds have names.
    assert_eq!(btf::Kind::from_raw(14), Some(btf::Kind::Var));
    assert_eq!(btf::Kind::from_raw(20), None);
}

/// The well-known table types symbols from the IR's own types, and leaves
/// alone those whose type the IR lacks.
#[test]
fn well_known_variables_are_typed_from_the_irs_own_types() {
    use profile_compiler::ir::{Record, RecordKind, Symbol};
    let mut ir = Ir::default();
    ir.push(Type::Void);
    let task = ir.push(Type::Record(Record {
        kind: RecordKind::Struct,
        name: Some("task_struct".into()),
        size: 64,
        members: vec![],
        declaration: false,
        origin: 1,
    }));
    let ch = ir.push(Type::Base {
        name: "char".into(),
        size: 1,
        signed: true,
    });
    for name in ["init_task", "linux_banner", "prb", "unknown_thing"] {
        ir.symbols.push(Symbol {
            name: name.into(),
            address: 0x1000,
            kind: SymbolKind::Data,
            ty: None,
        });
    }
    let n = btf::type_well_known_symbols(&mut ir);
    assert_eq!(n, 2);
    let ty = |name: &str| ir.symbols.iter().find(|s| s.name == name).unwrap().ty;
    assert_eq!(ty("init_task"), Some(task));
    let banner = ty("linux_banner").unwrap();
    assert!(matches!(ir.get(banner), Type::Array { element, count: 0 } if *element == ch));
    // No struct printk_ringbuffer in this IR: prb stays untyped.
    assert_eq!(ty("prb"), None);
    assert_eq!(ty("unknown_thing"), None);
}
