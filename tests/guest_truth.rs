//! The guest's own view of a real memory image (`groundtruth.txt` and
//! `vmcoreinfo.txt` of ../shared/images/linux-qemu-image.sh, the kernel's
//! System.map): the truth the image tests compare with. Included by path
//! by the test crates that read real images.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

/// Kernel virtual base of the x86-64 direct kernel map (`__START_KERNEL_map`).
pub const MAP: u64 = 0xffff_ffff_8000_0000;

/// What the guest printed.
pub struct Truth {
    pub version: String,
    /// /proc/cmdline.
    pub cmdline: String,
    /// kallsyms: name -> address (the KASLR'd one).
    pub kallsyms: BTreeMap<String, u64>,
    pub build_id: String,
    pub shift: u64,
    /// x86-64 phys_base, or arm64 kimage_voffset.
    pub offset: u64,
    pub dtb: u64,
    /// pid -> (ppid, comm) from /proc/PID/stat.
    pub tasks: BTreeMap<i64, (i64, String)>,
    /// name -> (size, base) from /proc/modules.
    pub modules: BTreeMap<String, (u64, u64)>,
}

pub fn section<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut on = false;
    for l in text.lines() {
        if l.starts_with("## ") || l.starts_with("GROUND-TRUTH") {
            on = l.starts_with(&format!("## {name}"));
            continue;
        }
        if on {
            out.push(l);
        }
    }
    out
}

pub fn system_map_sym(kernel: &Path, name: &str) -> u64 {
    let text = std::fs::read_to_string(kernel.join("System.map")).unwrap();
    text.lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 3 && f[2] == name).then(|| u64::from_str_radix(f[0], 16).unwrap())
        })
        .unwrap_or_else(|| panic!("{name} not in System.map"))
}

pub fn truth(dir: &Path, kernel: &Path, arm64: bool) -> Truth {
    let text = std::fs::read_to_string(dir.join("groundtruth.txt")).unwrap();
    let vmci = std::fs::read_to_string(dir.join("vmcoreinfo.txt")).unwrap();
    let version = section(&text, "version")[0].trim().to_owned();
    let build_id = vmci
        .lines()
        .find_map(|l| l.strip_prefix("BUILD-ID="))
        .unwrap()
        .to_owned();
    let kallsyms: BTreeMap<String, u64> = section(&text, "kallsyms")
        .iter()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 3).then(|| (f[2].to_owned(), u64::from_str_radix(f[0], 16).unwrap()))
        })
        .collect();
    // /proc/iomem "Kernel code": the physical address of the kernel text.
    let code = section(&text, "iomem")
        .iter()
        .find(|l| l.ends_with(": Kernel code"))
        .map(|l| u64::from_str_radix(l.trim().split('-').next().unwrap(), 16).unwrap())
        .unwrap();
    let (shift, offset, dtb) = if arm64 {
        // shift = kallsyms _stext - System.map _stext; the text segment
        // starts at _stext ("Kernel code").
        let stext = kallsyms["_stext"];
        let shift = stext - system_map_sym(kernel, "_stext");
        let voff = stext.wrapping_sub(code);
        let dtb = (system_map_sym(kernel, "swapper_pg_dir") + shift).wrapping_sub(voff);
        (shift, voff, dtb)
    } else {
        let text_va = kallsyms["_text"];
        let shift = text_va - 0xffff_ffff_8100_0000;
        // phys_base is "negative" (two's complement, as VMCOREINFO's
        // NUMBER(phys_base) prints it) when KASLR put the physical text
        // below its link-time offset: wrapping arithmetic, as the kernel's.
        let phys_base = code.wrapping_sub(text_va - MAP);
        let dtb = (kallsyms["init_top_pgt"] - MAP).wrapping_add(phys_base);
        (shift, phys_base, dtb)
    };
    let tasks = proc_stat_tasks(&text);
    let modules = section(&text, "modules")
        .iter()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let base = u64::from_str_radix(f.last()?.trim_start_matches("0x"), 16).ok()?;
            Some((f[0].to_owned(), (f.get(1)?.parse().ok()?, base)))
        })
        .collect();
    let cmdline = section(&text, "cmdline")
        .first()
        .map_or_else(String::new, |l| l.trim().to_owned());
    Truth {
        version,
        cmdline,
        build_id,
        shift,
        offset,
        dtb,
        tasks,
        modules,
        kallsyms,
    }
}

/// pid -> (ppid, comm) from the guest's `/proc/PID/stat` lines.
pub fn proc_stat_tasks(groundtruth: &str) -> BTreeMap<i64, (i64, String)> {
    section(groundtruth, "/proc/PID/stat")
        .iter()
        .filter_map(|l| {
            let open = l.find(" (")?;
            let close = l.rfind(") ")?;
            let pid = l[..open].parse().ok()?;
            let comm = l[open + 2..close].to_owned();
            let rest: Vec<&str> = l[close + 2..].split_whitespace().collect();
            Some((pid, (rest.get(1)?.parse().ok()?, comm)))
        })
        .collect()
}

/// `comm` as the kernel keeps it (15 bytes) against what /proc shows
/// (the whole name of kernel threads; `-<workqueue>` after kworkers).
pub fn same_comm(ours: &str, proc_name: &str) -> bool {
    let mut t = proc_name;
    if ours.starts_with("kworker/") {
        t = t.split('-').next().unwrap_or(t);
    }
    let t = &t.as_bytes()[..t.len().min(15)];
    ours.as_bytes() == t
}

/// Where the test crates cache the Rekall profile of a kernel folder
/// (`vmlinux` + `System.map`), keyed by the vmlinux's size and
/// modification time, under the workspace's `target/tmp`.
pub fn cached_profile_path(tmp: &Path, kernel: &Path) -> std::path::PathBuf {
    let vmlinux = kernel.join("vmlinux");
    let meta = std::fs::metadata(&vmlinux).unwrap();
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let name = kernel.file_name().unwrap().to_string_lossy().into_owned();
    let dir = tmp.join("image-profiles");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{name}-{}-{mtime}.json", meta.len()))
}
