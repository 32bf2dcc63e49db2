//! The `pslist` example on synthetic memory images: a Linux task list laid
//! out per the real Rekall profile of Debian's 6.1 kernel (offsets read from
//! the profile's JSON directly, not through the runtime), and a Windows
//! process list per a crafted LLP64 profile, both behind x86-64 page tables
//! the test builds.

mod common;

#[path = "../../tests/support.rs"]
mod support;

#[allow(dead_code)]
#[path = "../examples/pslist.rs"]
mod pslist;

use std::io::Write;
use std::path::Path;

use common::{Amd64, PhysMem};
use serde_json::Value;

/// Offsets of the Linux layout, from the profile JSON.
struct LinuxLayout {
    size: u64,
    tasks: u64,
    pid: u64,
    tgid: u64,
    comm: u64,
    init_task: u64,
    init_top_pgt: u64,
}

fn linux_layout(profile: &Path) -> LinuxLayout {
    let v: Value = serde_json::from_slice(&std::fs::read(profile).unwrap()).unwrap();
    let ts = &v["$STRUCTS"]["task_struct"];
    let off = |m: &str| ts[1][m][0].as_u64().unwrap();
    LinuxLayout {
        size: ts[0].as_u64().unwrap(),
        tasks: off("tasks"),
        pid: off("pid"),
        tgid: off("tgid"),
        comm: off("comm"),
        init_task: v["$CONSTANTS"]["init_task"].as_u64().unwrap(),
        init_top_pgt: v["$CONSTANTS"]["init_top_pgt"].as_u64().unwrap(),
    }
}

const DIRECT_MAP: u64 = 0xffff_8880_0020_0000;
const DIRECT_PA: u64 = 0x20_0000;

fn canonical(a: u64) -> u64 {
    if a & (1 << 47) != 0 {
        a | 0xffff_0000_0000_0000
    } else {
        a
    }
}

#[derive(Clone, Copy)]
enum Corruption {
    None,
    /// The last task links back to the second one (a loop).
    Loop,
    /// The second task links to an unmapped address.
    BadPointer,
}

/// Builds a physical image: init_task at its symbol (+ `shift`) in 4 KiB
/// kernel pages, three more tasks in a 2 MiB direct-map page. Returns the
/// image and the DTB.
fn linux_image(l: &LinuxLayout, shift: u64, corrupt: Corruption) -> (Vec<u8>, u64) {
    linux_image_with_tables_at(l, shift, corrupt, 0x1_0000)
}

/// As [`linux_image`], the page tables allocated from physical `tables_at`.
fn linux_image_with_tables_at(
    l: &LinuxLayout,
    shift: u64,
    corrupt: Corruption,
    tables_at: u64,
) -> (Vec<u8>, u64) {
    let size = (6 << 20).max(tables_at as usize + (1 << 20));
    let mut m = PhysMem::new(size, tables_at);
    let t = Amd64::new(&mut m);
    let init_va = canonical(l.init_task + shift);
    let page = init_va & !0xfff;
    let span = (init_va + l.size + 0xfff - page) & !0xfff;
    let init_pa_page = 0x10_0000;
    t.map_range(&mut m, page, init_pa_page, span);
    t.map_2m(&mut m, DIRECT_MAP, DIRECT_PA);
    let init_pa = init_pa_page + (init_va - page);

    let tasks: Vec<(u64, u64, i32, &str)> = vec![
        (init_va, init_pa, 0, "swapper/0"),
        (DIRECT_MAP, DIRECT_PA, 1, "systemd"),
        (DIRECT_MAP + 0x3000, DIRECT_PA + 0x3000, 2, "kthreadd"),
        (DIRECT_MAP + 0x6000, DIRECT_PA + 0x6000, 4242, "bash"),
    ];
    for (i, (va, pa, pid, comm)) in tasks.iter().enumerate() {
        m.write(pa + l.pid, &pid.to_le_bytes());
        m.write(pa + l.tgid, &pid.to_le_bytes());
        let mut c = [0u8; 16];
        c[..comm.len()].copy_from_slice(comm.as_bytes());
        m.write(pa + l.comm, &c);
        let next = tasks[(i + 1) % tasks.len()].0 + l.tasks;
        let prev = tasks[(i + tasks.len() - 1) % tasks.len()].0 + l.tasks;
        let next = match (corrupt, i) {
            (Corruption::Loop, 3) => tasks[1].0 + l.tasks,
            (Corruption::BadPointer, 1) => 0xffff_c900_dead_0000,
            _ => next,
        };
        m.write_u64(pa + l.tasks, next);
        m.write_u64(pa + l.tasks + 8, prev);
        let _ = va;
    }
    (m.mem, t.pml4)
}

fn write_temp(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(bytes).unwrap();
    f.flush().unwrap();
    f
}

fn run(args: &[&str]) -> Result<String, String> {
    pslist::run(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
}

/// (pid, name) rows of the listing, and the `None (...)` lines. Linux
/// listings (`PID TID PPID COMM OFFSET CREATED`) have the name fourth.
fn parse_rows(out: &str) -> (Vec<(i64, String)>, Vec<String>) {
    let mut rows = Vec::new();
    let mut nones = Vec::new();
    let name_at = if out.lines().next().is_some_and(|h| h.contains("TID")) {
        3
    } else {
        1
    };
    for line in out.lines().skip(1) {
        if line.starts_with("None (") {
            nones.push(line.to_owned());
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        rows.push((f[0].parse().unwrap(), f[name_at].to_owned()));
    }
    (rows, nones)
}

fn linux_profile() -> Option<std::path::PathBuf> {
    let shared = support::shared("pslist on a Linux layout")?;
    Some(shared.join("fixtures/rekall/Linux/6.1.0-56-amd64.dwarf4.rekall.json"))
}

#[test]
fn linux_task_list_with_and_without_kaslr() {
    let Some(profile) = linux_profile() else {
        return;
    };
    let l = linux_layout(&profile);
    for shift in [0u64, 0x1e0_0000] {
        let (img, dtb) = linux_image(&l, shift, Corruption::None);
        let f = write_temp(&img);
        let out = run(&[
            f.path().to_str().unwrap(),
            profile.to_str().unwrap(),
            "--dtb",
            &format!("{dtb:#x}"),
            "--shift",
            &format!("{shift:#x}"),
        ])
        .unwrap();
        let (rows, nones) = parse_rows(&out);
        assert!(nones.is_empty(), "{out}");
        // init_task (pid 0) is not listed, as Volatility and ps do not.
        assert_eq!(
            rows,
            vec![
                (1, "systemd".into()),
                (2, "kthreadd".into()),
                (4242, "bash".into())
            ],
            "{out}"
        );
    }
    // The wrong shift finds nothing readable at init_task: an error.
    let (img, dtb) = linux_image(&l, 0x1e0_0000, Corruption::None);
    let f = write_temp(&img);
    let err = run(&[
        f.path().to_str().unwrap(),
        profile.to_str().unwrap(),
        "--dtb",
        &format!("{dtb:#x}"),
    ])
    .unwrap_err();
    assert!(err.contains("cannot be read"), "{err}");
}

#[test]
fn linux_task_list_loops_and_bad_pointers_end_with_a_reason() {
    let Some(profile) = linux_profile() else {
        return;
    };
    let l = linux_layout(&profile);
    let (img, dtb) = linux_image(&l, 0, Corruption::Loop);
    let f = write_temp(&img);
    let err = run(&[
        f.path().to_str().unwrap(),
        profile.to_str().unwrap(),
        "--dtb",
        &format!("{dtb:#x}"),
    ])
    .unwrap_err();
    assert!(
        err.contains("loops") && err.contains("3 entries read"),
        "{err}"
    );

    let (img, dtb) = linux_image(&l, 0, Corruption::BadPointer);
    let f = write_temp(&img);
    let err = run(&[
        f.path().to_str().unwrap(),
        profile.to_str().unwrap(),
        "--dtb",
        &format!("{dtb:#x}"),
    ])
    .unwrap_err();
    assert!(
        err.contains("cannot be read") && err.contains("2 entries read"),
        "{err}"
    );
}

#[test]
fn windows_process_list_from_a_gzipped_llp64_profile() {
    // A crafted ntoskrnl-like profile (the real fixtures have no _EPROCESS).
    let doc = serde_json::json!({
        "$METADATA": {"ProfileClass": "Ntkrnlmp", "Type": "Profile", "arch": "AMD64", "PDBFile": "ntkrnlmp.pdb"},
        "$STRUCTS": {
            "_LIST_ENTRY": [16, {"Flink": [0, ["Pointer", {"target": "_LIST_ENTRY"}]], "Blink": [8, ["Pointer", {"target": "_LIST_ENTRY"}]]}],
            "_EPROCESS": [0x850, {
                "UniqueProcessId": [0x440, ["Pointer", {"target": "Void"}]],
                "ActiveProcessLinks": [0x448, ["_LIST_ENTRY", {}]],
                "ImageFileName": [0x5a8, ["Array", {"count": 15, "target": "unsigned char"}]],
                "Flags": [0x464, ["unsigned long", {}]]
            }]
        },
        "$CONSTANTS": {"PsActiveProcessHead": 0xc1e050u64}
    });
    let profile = profile_runtime::Profile::from_json(doc).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ppath = dir.path().join("ntkrnlmp.gz");
    profile
        .save(&ppath, profile_runtime::WriteMode::CreateNew)
        .unwrap();

    let base = 0xffff_f800_0200_0000_u64;
    let mut m = PhysMem::new(4 << 20, 0x1_0000);
    let t = Amd64::new(&mut m);
    // The kernel image's data page holding PsActiveProcessHead.
    let head_va = base + 0xc1e050;
    t.map_4k(&mut m, head_va & !0xfff, 0x10_0000);
    let head_pa = 0x10_0000 + (head_va & 0xfff);
    // Processes in a 2 MiB pool page.
    let pool = 0xffff_a000_0000_0000u64;
    t.map_2m(&mut m, pool, 0x20_0000);
    let procs = [(4u64, "System"), (88, "Registry"), (4711, "explorer.exe")];
    let links: Vec<u64> = (0..procs.len() as u64)
        .map(|i| pool + i * 0x1000 + 0x448)
        .collect();
    let mut chain = vec![head_va];
    chain.extend(&links);
    for (i, at) in chain.iter().enumerate() {
        let pa = if i == 0 {
            head_pa
        } else {
            0x20_0000 + (at - pool)
        };
        m.write_u64(pa, chain[(i + 1) % chain.len()]);
        m.write_u64(pa + 8, chain[(i + chain.len() - 1) % chain.len()]);
    }
    for (i, (pid, name)) in procs.iter().enumerate() {
        let pa = 0x20_0000 + i as u64 * 0x1000;
        m.write_u64(pa + 0x440, *pid);
        m.write(pa + 0x5a8, name.as_bytes());
    }
    let f = write_temp(&m.mem);
    let out = run(&[
        f.path().to_str().unwrap(),
        ppath.to_str().unwrap(),
        "--dtb",
        &format!("{:#x}", t.pml4),
        "--image-base",
        &format!("{base:#x}"),
    ])
    .unwrap();
    let (rows, nones) = parse_rows(&out);
    assert!(nones.is_empty(), "{out}");
    assert_eq!(
        rows,
        vec![
            (4, "System".into()),
            (88, "Registry".into()),
            (4711, "explorer.exe".into())
        ],
        "{out}"
    );
}

#[test]
fn bad_command_lines_are_errors() {
    assert!(run(&[]).is_err());
    assert!(run(&["a", "/no/profile"])
        .unwrap_err()
        .contains("/no/profile"));
    assert!(run(&["a", "b", "--dtb", "zz"])
        .unwrap_err()
        .contains("not a number"));
    assert!(run(&["/no/image", "/no/profile", "--dtb", "0x1000"])
        .unwrap_err()
        .contains("/no/profile"));
}

#[test]
fn darwin_process_chain_above_2_63_with_a_p_comm_overlay() {
    let Some(shared) = support::shared("pslist on a macOS layout") else {
        return;
    };
    let profile = shared.join("fixtures/rekall/OSX/HighSierra_10.13.3_17D47.json");
    let v: Value = serde_json::from_slice(&std::fs::read(&profile).unwrap()).unwrap();
    let proc_ = &v["$STRUCTS"]["proc"][1];
    let p_list = proc_["p_list"][0].as_u64().unwrap();
    let link_type = proc_["p_list"][1][0].as_str().unwrap();
    let le_next = v["$STRUCTS"][link_type][1]["le_next"][0].as_u64().unwrap();
    let p_pid = proc_["p_pid"][0].as_u64().unwrap();
    let p_comm = proc_["p_comm"][0].as_u64().unwrap();
    let lh_first = v["$STRUCTS"]["proclist"][1]["lh_first"][0]
        .as_u64()
        .unwrap();
    let allproc = v["$CONSTANTS"]["_allproc"].as_u64().unwrap();
    assert!(allproc > 1 << 63);
    let shift = 0x0400_0000u64;

    let mut m = PhysMem::new(4 << 20, 0x1_0000);
    let t = Amd64::new(&mut m);
    let va = allproc + shift;
    t.map_4k(&mut m, va & !0xfff, 0x10_0000);
    let allproc_pa = 0x10_0000 + (va & 0xfff);
    let zone = 0xffff_ff80_4000_0000u64;
    t.map_2m(&mut m, zone, 0x20_0000);
    let procs = [(0i32, "kernel_task"), (1, "launchd"), (312, "WindowServer")];
    m.write_u64(allproc_pa + lh_first, zone);
    for (i, (pid, name)) in procs.iter().enumerate() {
        let pa = 0x20_0000 + i as u64 * 0x1000;
        let next = if i + 1 < procs.len() {
            zone + (i as u64 + 1) * 0x1000
        } else {
            0
        };
        m.write_u64(pa + p_list + le_next, next);
        m.write(pa + p_pid, &pid.to_le_bytes());
        m.write(pa + p_comm, name.as_bytes());
    }
    let f = write_temp(&m.mem);
    let out = run(&[
        f.path().to_str().unwrap(),
        profile.to_str().unwrap(),
        "--dtb",
        &format!("{:#x}", t.pml4),
        "--shift",
        &format!("{shift:#x}"),
    ])
    .unwrap();
    let (rows, nones) = parse_rows(&out);
    assert!(nones.is_empty(), "{out}");
    let no_dtb = run(&[f.path().to_str().unwrap(), profile.to_str().unwrap()]);
    assert!(no_dtb.unwrap_err().contains("--dtb"));
    assert_eq!(
        rows,
        vec![
            (0, "kernel_task".into()),
            (1, "launchd".into()),
            (312, "WindowServer".into())
        ],
        "{out}"
    );
}

#[test]
fn linux_task_list_from_a_lime_image_with_a_hole() {
    let Some(profile) = linux_profile() else {
        return;
    };
    let l = linux_layout(&profile);
    let (img, dtb) = linux_image(&l, 0, Corruption::None);
    // Two LiME ranges around an unmapped hole at [0x1f0000, 0x200000).
    let mut lime = Vec::new();
    for (start, end) in [(0usize, 0x1f_0000usize), (0x20_0000, img.len())] {
        lime.extend_from_slice(&0x4C69_4D45u32.to_le_bytes());
        lime.extend_from_slice(&1u32.to_le_bytes());
        lime.extend_from_slice(&(start as u64).to_le_bytes());
        lime.extend_from_slice(&(end as u64 - 1).to_le_bytes());
        lime.extend_from_slice(&[0u8; 8]);
        lime.extend_from_slice(&img[start..end]);
    }
    let f = write_temp(&lime);
    let out = run(&[
        f.path().to_str().unwrap(),
        profile.to_str().unwrap(),
        "--dtb",
        &format!("{dtb:#x}"),
    ])
    .unwrap();
    let (rows, nones) = parse_rows(&out);
    assert!(nones.is_empty(), "{out}");
    assert_eq!(rows.len(), 3, "{out}");
    assert_eq!(rows[2], (4242, "bash".into()));
    // Forced raw, the same file is garbage: no process, an error instead.
    assert!(run(&[
        f.path().to_str().unwrap(),
        profile.to_str().unwrap(),
        "--dtb",
        &format!("{dtb:#x}"),
        "--format",
        "raw",
    ])
    .is_err());
    assert!(run(&[
        f.path().to_str().unwrap(),
        profile.to_str().unwrap(),
        "--dtb",
        "0",
        "--format",
        "x"
    ])
    .is_err());
}

#[test]
fn linux_dtb_defaults_to_init_top_pgt() {
    let Some(profile) = linux_profile() else {
        return;
    };
    let l = linux_layout(&profile);
    // Linux maps its text at __START_KERNEL_map = 0xffffffff80000000 + phys_base.
    let shift = 0x20_0000u64;
    let pgd_pa = canonical(l.init_top_pgt + shift) - 0xffff_ffff_8000_0000;
    let (img, dtb) = linux_image_with_tables_at(&l, shift, Corruption::None, pgd_pa);
    assert_eq!(dtb, pgd_pa);
    let f = write_temp(&img);
    let args = [
        f.path().to_str().unwrap(),
        profile.to_str().unwrap(),
        "--shift",
        "0x200000",
    ];
    let out = run(&args).unwrap();
    let (rows, nones) = parse_rows(&out);
    assert!(nones.is_empty(), "{out}");
    assert_eq!(rows.len(), 3, "{out}");
    // A wrong physical base finds no tables.
    let mut bad: Vec<&str> = args.to_vec();
    bad.extend(["--phys-base", "0x1000000"]);
    assert!(run(&bad).is_err());
}
