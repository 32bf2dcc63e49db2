//! Real memory images (issue 15): a stock Debian kernel booted under QEMU
//! by `../shared/images/linux-qemu-image.sh`, imaged raw and as an ELF core,
//! x86-64 4-level and 5-level and arm64. With no address given, `identify`
//! must report the banner, build id, KASLR shift, phys_base /
//! kimage_voffset, page-table root and paging mode, and `pslist` / `lsmod`
//! through a profile built here from the kernel's own vmlinux + System.map
//! must equal what the guest itself printed (`/proc/PID/stat`,
//! `/proc/modules`). Each image is also tried with its VMCOREINFO text
//! overwritten with zeros (a copy made in a temporary directory).
//!
//! Truth is the guest's (groundtruth.txt: kallsyms, /proc/iomem,
//! /proc/version, /proc/PID/stat, /proc/modules) and the kernel's
//! System.map, never the runtime's own reading.
//!
//! Images live in `$PROFC_IMAGES` (default `~/.cache/profile-images`); a
//! missing image set prints `SKIPPED ...` (and fails with CI=true, for the
//! sets CI boots: see `support::in_image_matrix`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use profile_compiler::{compile, Format, Input, Options};
use profile_runtime::identify::{self, Identification};
use profile_runtime::linux::{self, Hints, LinuxKernel};
use profile_runtime::{Image, LazyProfile, Paging, Session, WriteMode};

use crate::guest_truth::{cached_profile_path, same_comm, truth, Truth};

pub(crate) fn skip(test: &str, why: &str) {
    if crate::support::ci() && crate::support::in_image_matrix(why) {
        panic!("{test}: {why}, and CI=true requires it");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

pub(crate) fn images_dir() -> PathBuf {
    std::env::var_os("PROFC_IMAGES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/profile-images")
        })
}

/// One image set: `<images>/<name>/` and its kernel `<images>/kernel/<kver>/`.
struct Set {
    name: &'static str,
    dir: PathBuf,
    kernel: PathBuf,
    arm64: bool,
    la57: bool,
}

fn set(test: &str, name: &'static str, kver: &str) -> Option<Set> {
    let root = images_dir();
    let dir = root.join(name);
    let kernel = root.join("kernel").join(kver);
    for f in [
        dir.join("mem.raw"),
        dir.join("core.elf"),
        dir.join("groundtruth.txt"),
        dir.join("vmcoreinfo.txt"),
        kernel.join("vmlinux"),
        kernel.join("System.map"),
    ] {
        if !f.exists() {
            skip(
                test,
                &format!(
                    "{} is missing (run ../shared/images/linux-qemu-image.sh; PROFC_IMAGES={})",
                    f.display(),
                    root.display()
                ),
            );
            return None;
        }
    }
    Some(Set {
        name,
        dir,
        kernel,
        arm64: kver.ends_with("arm64"),
        la57: name.ends_with("5level"),
    })
}

/// The profile of a kernel, built in-process from its vmlinux (DWARF) and
/// System.map as `profc convert_profile --system-map` does, cached under the
/// target directory by the vmlinux's size and modification time.
fn profile(kernel: &Path) -> Arc<LazyProfile> {
    static CACHE: OnceLock<Mutex<BTreeMap<PathBuf, Arc<LazyProfile>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = cache.get(kernel) {
        return Arc::clone(p);
    }
    let vmlinux = kernel.join("vmlinux");
    let path = cached_profile_path(Path::new(env!("CARGO_TARGET_TMPDIR")), kernel);
    if !path.exists() {
        let mut options = Options::new();
        options.system_map = Some(kernel.join("System.map"));
        let compiled = compile(&Input::detect(&vmlinux).unwrap(), &options).unwrap();
        compiled
            .save(&path, Format::Rekall, WriteMode::Overwrite)
            .unwrap();
    }
    let p = Arc::new(LazyProfile::open(&path).unwrap());
    cache.insert(kernel.to_path_buf(), Arc::clone(&p));
    p
}

/// A copy of `src` in `dir` with every VMCOREINFO text (from `OSRELEASE=`
/// to its NUL) overwritten with zeros.
fn zeroed_copy(src: &Path, dir: &Path) -> PathBuf {
    let dst = dir.join("zeroed-vmcoreinfo.raw");
    let mut bytes = std::fs::read(src).unwrap();
    let hits: Vec<usize> = memchr::memmem::find_iter(&bytes, b"OSRELEASE=").collect();
    assert!(!hits.is_empty(), "{}: no VMCOREINFO to zero", src.display());
    for a in hits {
        let end = memchr::memchr(0, &bytes[a..]).map_or(bytes.len(), |n| a + n);
        bytes[a..end].fill(0);
    }
    assert!(memchr::memmem::find(&bytes, b"OSRELEASE=").is_none());
    std::fs::write(&dst, &bytes).unwrap();
    dst
}

fn check_identify(set: &Set, t: &Truth, id: &Identification, what: &str) {
    let linux: Vec<_> = id.kernels.iter().filter(|k| k.os == "linux").collect();
    assert_eq!(linux.len(), 1, "{what}: {:#?}", id.kernels);
    let k = linux[0];
    assert_eq!(
        k.banner.as_deref(),
        Some(t.version.as_str()),
        "{what}: banner"
    );
    assert_eq!(
        k.build_id.as_deref(),
        Some(t.build_id.as_str()),
        "{what}: build id"
    );
    assert_eq!(
        k.kaslr_shift,
        Some(t.shift),
        "{what}: shift {:#x?}",
        k.kaslr_shift
    );
    if set.arm64 {
        assert_eq!(k.kimage_voffset, Some(t.offset), "{what}: kimage_voffset");
        assert_eq!(k.paging, Some(Paging::AArch64 { va_bits: 48 }), "{what}");
    } else {
        assert_eq!(
            k.phys_base,
            Some(t.offset),
            "{what}: phys_base {:#x?}",
            k.phys_base
        );
        let want = if set.la57 {
            Paging::Amd64La57
        } else {
            Paging::Amd64
        };
        assert_eq!(k.paging, Some(want), "{what}: paging");
    }
    assert_eq!(
        k.dtb,
        Some(t.dtb),
        "{what}: dtb {:#x?} want {:#x}",
        k.dtb,
        t.dtb
    );
}

fn check_lists(set: &Set, t: &Truth, image: &Image, what: &str) {
    let session = Session::new(profile(&set.kernel));
    let k = LinuxKernel::locate(image, &session, &Hints::default())
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(k.shift(), t.shift, "{what}: shift");
    assert_eq!(k.dtb(), t.dtb, "{what}: dtb");
    if set.arm64 {
        assert_eq!(k.kimage_voffset(), Some(t.offset), "{what}");
    } else {
        assert_eq!(k.phys_base(), Some(t.offset), "{what}");
    }
    assert_eq!(k.banner(), Some(t.version.as_str()), "{what}");
    let tasks = linux::pslist(&session, &k).unwrap();
    let ours: BTreeMap<i64, (i64, String)> = tasks
        .iter()
        .map(|t| (t.pid, (t.ppid, t.comm.clone())))
        .collect();
    assert_eq!(ours.len(), tasks.len(), "{what}: repeated pids");
    for (pid, (ppid, comm)) in &t.tasks {
        let Some((p, c)) = ours.get(pid) else {
            panic!("{what}: pid {pid} ({comm}) of the guest's /proc is not listed: {ours:?}")
        };
        assert_eq!(p, ppid, "{what}: ppid of {pid}");
        assert!(
            same_comm(c, comm),
            "{what}: comm of {pid}: {c:?} vs {comm:?}"
        );
    }
    // Processes started after the guest printed its list (its idle loop's
    // `sleep`) may be there too, no more than a few.
    let extra: Vec<_> = ours
        .iter()
        .filter(|(p, _)| !t.tasks.contains_key(p))
        .collect();
    assert!(extra.len() <= 3, "{what}: unexpected processes {extra:?}");
    assert!(
        tasks.iter().all(|x| x.create_time.is_some()),
        "{what}: start times"
    );
    let mods = linux::lsmod(&session, &k).unwrap();
    let names: Vec<&str> = mods.iter().map(|m| m.name.as_str()).collect();
    if t.modules.is_empty() {
        // The arm64 guest's /proc/modules came back empty; its init loads
        // the same three modules as the amd64 one.
        assert_eq!(names.len(), 3, "{what}: {names:?}");
    } else {
        let want: Vec<&str> = t.modules.keys().map(String::as_str).collect();
        let mut got = names.clone();
        got.sort_unstable();
        assert_eq!(got, want, "{what}: module names");
        for m in &mods {
            let (size, base) = t.modules[&m.name];
            assert_eq!((m.size, m.base), (size, base), "{what}: module {}", m.name);
        }
    }
    let report = linux::check_kernel(&session, &k);
    assert!(report.ok, "{what}: {report:#?}");
}

/// A kdump-compressed dump of `set`'s RAM written by makedumpfile itself
/// (`-c -d 31`: zlib, free/cache/zero pages filtered), from an ELF core
/// laid out as the kernel's /proc/vmcore is (a VMCOREINFO note, one
/// PT_LOAD of RAM at its direct-map address) around mem.raw. makedumpfile
/// 1.7 does not take QEMU's own core. `None` (and a printed SKIPPED line)
/// without makedumpfile.
fn kdump_of(set: &Set, dir: &Path) -> Option<PathBuf> {
    use std::io::Write;
    if std::process::Command::new("makedumpfile")
        .arg("-v")
        .output()
        .is_err()
    {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {} kdump-compressed: makedumpfile is not installed (apt-get install makedumpfile)",
            set.name
        );
        return None;
    }
    let raw = set.dir.join("mem.raw");
    let text = std::fs::read(set.dir.join("vmcoreinfo.txt")).unwrap();
    let size = std::fs::metadata(&raw).unwrap().len();
    let mut note = Vec::new();
    note.extend_from_slice(&11u32.to_le_bytes());
    note.extend_from_slice(&(text.len() as u32).to_le_bytes());
    note.extend_from_slice(&0u32.to_le_bytes());
    note.extend_from_slice(b"VMCOREINFO\0\0");
    note.extend_from_slice(&text);
    note.resize(note.len().div_ceil(4) * 4, 0);
    let phoff = 64u64;
    let noff = phoff + 2 * 56;
    let loff = (noff + note.len() as u64).div_ceil(4096) * 4096;
    let mut h = vec![0u8; loff as usize];
    h[..8].copy_from_slice(b"\x7fELF\x02\x01\x01\0");
    h[16..18].copy_from_slice(&4u16.to_le_bytes()); // ET_CORE
    h[18..20].copy_from_slice(&62u16.to_le_bytes()); // x86-64
    h[20..24].copy_from_slice(&1u32.to_le_bytes());
    h[0x20..0x28].copy_from_slice(&phoff.to_le_bytes());
    h[0x34..0x36].copy_from_slice(&64u16.to_le_bytes());
    h[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
    h[0x38..0x3a].copy_from_slice(&2u16.to_le_bytes());
    let mut ph = |i: usize, ty: u32, off: u64, va: u64, len: u64| {
        let b = phoff as usize + i * 56;
        h[b..b + 4].copy_from_slice(&ty.to_le_bytes());
        h[b + 8..b + 16].copy_from_slice(&off.to_le_bytes());
        h[b + 16..b + 24].copy_from_slice(&va.to_le_bytes());
        h[b + 32..b + 40].copy_from_slice(&len.to_le_bytes());
        h[b + 40..b + 48].copy_from_slice(&len.to_le_bytes());
    };
    ph(0, 4, noff, 0, note.len() as u64);
    ph(1, 1, loff, 0xffff_8880_0000_0000, size);
    h[noff as usize..noff as usize + note.len()].copy_from_slice(&note);
    let elf = dir.join("vmcore.elf");
    let mut f = std::fs::File::create(&elf).unwrap();
    f.write_all(&h).unwrap();
    std::io::copy(&mut std::fs::File::open(&raw).unwrap(), &mut f).unwrap();
    drop(f);
    let out = dir.join("dump.kdump");
    let st = std::process::Command::new("makedumpfile")
        .args(["-c", "-d", "31"])
        .arg(&elf)
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        out.exists(),
        "makedumpfile failed: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    std::fs::remove_file(&elf).unwrap();
    Some(out)
}

fn run_set(test: &str, name: &'static str, kver: &str) {
    let Some(set) = set(test, name, kver) else {
        return;
    };
    let t = truth(&set.dir, &set.kernel, set.arm64);
    let tmp = tempfile::tempdir().unwrap();
    let zeroed = zeroed_copy(&set.dir.join("mem.raw"), tmp.path());
    let mut images = vec![
        ("mem.raw", set.dir.join("mem.raw")),
        ("core.elf", set.dir.join("core.elf")),
        ("zeroed VMCOREINFO", zeroed),
    ];
    // makedumpfile 1.7.2 takes only the 4-level x86-64 vmcore so made.
    if !set.arm64 && !set.la57 {
        if let Some(k) = kdump_of(&set, tmp.path()) {
            images.push(("kdump-compressed", k));
        }
    }
    for (what, path) in images {
        let what = format!("{}/{what}", set.name);
        let image = Image::open(&path).unwrap();
        let mut last = (0, 0);
        let id = identify::scan(&image, &mut |d, n| last = (d, n));
        assert!(last.1 > 0 && last.0 == last.1, "{what}: progress {last:?}");
        if what.ends_with("zeroed VMCOREINFO") {
            assert!(id.vmcoreinfo.is_empty(), "{what}: {:?}", id.vmcoreinfo);
        } else {
            assert!(
                !id.vmcoreinfo.is_empty(),
                "{what}: VMCOREINFO in RAM not found"
            );
        }
        check_identify(&set, &t, &id, &what);
        check_lists(&set, &t, &image, &what);
    }
}

#[test]
fn amd64_4level_images() {
    run_set(
        "real images (amd64 4-level)",
        "6.1.0-57-amd64-4level",
        "6.1.0-57-amd64",
    );
}

#[test]
fn amd64_5level_images() {
    run_set(
        "real images (amd64 5-level)",
        "6.1.0-57-amd64-5level",
        "6.1.0-57-amd64",
    );
}

#[test]
fn arm64_images() {
    run_set(
        "real images (arm64)",
        "6.1.0-57-arm64-4level",
        "6.1.0-57-arm64",
    );
}

#[test]
fn a_profile_of_another_kernel_does_not_fit() {
    let test = "real images (wrong profile)";
    let (Some(amd), Some(arm)) = (
        set(test, "6.1.0-57-amd64-4level", "6.1.0-57-amd64"),
        set(test, "6.1.0-57-arm64-4level", "6.1.0-57-arm64"),
    ) else {
        return;
    };
    let image = Image::open(&amd.dir.join("core.elf")).unwrap();
    let wrong = Session::new(profile(&arm.kernel));
    let r = linux::check(&image, &wrong, &Hints::default());
    assert!(!r.ok && !r.reasons.is_empty(), "{r:#?}");
    // A near match: the right kernel, a profile whose task_struct.tasks is
    // off by one pointer.
    let right = Session::new(profile(&amd.kernel));
    let off = right.offset_of("task_struct", "tasks").unwrap();
    let near = right.with_overlay(profile_runtime::Overlay::new().member(
        "task_struct",
        "tasks",
        profile_runtime::Count::Fixed(off + 8),
        None,
    ));
    let r = linux::check(&image, &near, &Hints::default());
    assert!(!r.ok, "{r:#?}");
    let r = linux::check(&image, &right, &Hints::default());
    assert!(r.ok, "{r:#?}");
    // Hints override: a wrong shift given by hand is used (and fails).
    let k = LinuxKernel::locate(
        &image,
        &right,
        &Hints {
            shift: Some(0x20_0000),
            ..Hints::default()
        },
    );
    if let Ok(k) = k {
        assert_eq!(k.shift(), 0x20_0000);
        assert!(!linux::check_kernel(&right, &k).ok);
    }
}
