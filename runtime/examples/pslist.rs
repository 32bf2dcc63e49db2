//! `pslist`: lists the processes of a kernel in a memory image, through a
//! Rekall profile.
//!
//! ```text
//! cargo run -p profile-runtime --example pslist -- IMAGE PROFILE [--dtb ADDR] [--phys-base ADDR]
//!     [--paging amd64|pae|x86] [--shift ADDR] [--image-base ADDR] [--os linux|windows|darwin]
//!     [--format auto|raw|lime|elf]
//! ```
//!
//! - Linux (`ProfileClass` `Linux`): starts at the symbol `init_task` (plus the
//!   KASLR shift `--shift`) and walks `task_struct.tasks`; prints `pid` and `comm`.
//! - Windows: starts at `PsActiveProcessHead` (an RVA, plus the kernel's image
//!   base `--image-base`) and walks `_EPROCESS.ActiveProcessLinks`; prints
//!   `UniqueProcessId` and `ImageFileName`.
//! - macOS (`ProfileClass` `Darwin*`): starts at `_allproc` (plus the KASLR
//!   shift) and follows `proc.p_list.le_next` to NULL; prints `p_pid` and
//!   `p_comm`. Old profiles give `p_comm` as a zero-length array: a profile
//!   modification (an overlay, for this session only) reads it as a
//!   17-byte string.
//!
//! IMAGE is raw physical memory, a LiME image or an ELF core (detected by
//! its magic, or `--format`). `--dtb` is the page-table root (CR3) of the
//! kernel; for x86-64 Linux it defaults to the physical address of
//! `init_top_pgt` (its symbol, plus `--shift`, minus `0xffffffff80000000`,
//! plus `--phys-base`, default 0). Broken entries (bad pointers, loops) are printed as `None (...)`
//! lines, and the walk goes on as far as it can.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use profile_runtime::{
    canonical_address, Amd64Paging, FileSpace, Object, Overlay, PaePaging, Session, Space,
    SparseSpace, Type, X86Paging,
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(out) => print!("{out}"),
        Err(e) => {
            eprintln!("pslist: {e}");
            std::process::exit(1);
        }
    }
}

/// Which kernel's process list to walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    /// `init_task.tasks`.
    Linux,
    /// `PsActiveProcessHead`.
    Windows,
    /// `_allproc`.
    Darwin,
}

/// One line of the listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// Process id.
    pub pid: i64,
    /// Process name.
    pub name: String,
    /// Address of the `task_struct` / `_EPROCESS`.
    pub address: u64,
}

fn parse_u64(s: &str) -> Result<u64, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(&h.replace('_', ""), 16),
        None => s.replace('_', "").parse(),
    };
    r.map_err(|_| format!("{s:?} is not a number"))
}

/// Runs the command line (without the program name); returns the listing.
pub fn run(args: &[String]) -> Result<String, String> {
    let mut positional = Vec::new();
    let (mut dtb, mut paging, mut shift, mut base, mut os) =
        (None, "amd64".to_owned(), 0u64, 0u64, None);
    let mut format = "auto".to_owned();
    let mut phys_base = 0u64;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--dtb" => dtb = Some(parse_u64(value()?)?),
            "--paging" => paging = value()?.clone(),
            "--shift" => shift = parse_u64(value()?)?,
            "--image-base" => base = parse_u64(value()?)?,
            "--format" => format = value()?.clone(),
            "--phys-base" => phys_base = parse_u64(value()?)?,
            "--os" => {
                os = Some(match value()?.as_str() {
                    "linux" => Os::Linux,
                    "windows" => Os::Windows,
                    "darwin" | "macos" => Os::Darwin,
                    other => {
                        return Err(format!("unknown --os {other:?} (linux, windows or darwin)"))
                    }
                })
            }
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            _ => positional.push(a.clone()),
        }
    }
    let [image, profile] = positional.as_slice() else {
        return Err("usage: pslist IMAGE PROFILE [--dtb ADDR] [--phys-base ADDR] [--paging amd64|pae|x86] [--shift ADDR] [--image-base ADDR] [--os linux|windows|darwin] [--format auto|raw|lime|elf]".into());
    };
    let session = Session::open(Path::new(profile)).map_err(|e| e.to_string())?;
    let os = match os {
        Some(os) => os,
        None if session.profile().metadata_str("ProfileClass") == Some("Linux") => Os::Linux,
        None if session
            .profile()
            .metadata_str("ProfileClass")
            .is_some_and(|c| c.starts_with("Darwin")) =>
        {
            Os::Darwin
        }
        None if session.constant("PsActiveProcessHead").is_some() => Os::Windows,
        None => {
            return Err(format!(
                "{profile}: neither a Linux or Darwin profile nor one with PsActiveProcessHead; use --os"
            ))
        }
    };
    let file: Space = Arc::new(FileSpace::open(Path::new(image)).map_err(|e| e.to_string())?);
    let physical = physical_space(file, &format).map_err(|e| format!("{image}: {e}"))?;
    let dtb = match dtb {
        Some(d) => d,
        None if os == Os::Linux && paging == "amd64" => linux_dtb(&session, shift, phys_base)?,
        None => return Err("--dtb is required (the kernel's CR3)".into()),
    };
    let kernel: Space = match paging.as_str() {
        "amd64" => Arc::new(Amd64Paging::new(physical, dtb)),
        "pae" => Arc::new(PaePaging::new(physical, dtb)),
        "x86" => Arc::new(X86Paging::new(physical, dtb)),
        other => return Err(format!("unknown --paging {other:?} (amd64, pae or x86)")),
    };
    let procs = processes(
        &session,
        &kernel,
        os,
        if os == Os::Windows { base } else { shift },
    )?;
    let mut out = String::new();
    let _ = writeln!(out, "{:>8}  {:<16}  {:>18}", "PID", "NAME", "ADDRESS");
    for p in procs {
        match p {
            Ok(p) => {
                let _ = writeln!(out, "{:>8}  {:<16}  {:#18x}", p.pid, p.name, p.address);
            }
            Err(none) => {
                let _ = writeln!(out, "{none}");
            }
        }
    }
    Ok(out)
}

/// The x86-64 Linux kernel's page-table root, from its symbol
/// (`init_top_pgt`, before 4.13 `init_level4_pgt`): kernel text is mapped at
/// `__START_KERNEL_map` (`0xffffffff80000000`) plus the physical load offset
/// `phys_base`.
fn linux_dtb(session: &Session, shift: u64, phys_base: u64) -> Result<u64, String> {
    const START_KERNEL_MAP: u64 = 0xffff_ffff_8000_0000;
    let sym = ["init_top_pgt", "init_level4_pgt"]
        .iter()
        .find_map(|s| session.symbol_address(s, shift))
        .ok_or("no --dtb given and the profile has no init_top_pgt symbol")?;
    canonical_address(sym)
        .checked_sub(START_KERNEL_MAP)
        .map(|p| p.wrapping_add(phys_base))
        .ok_or_else(|| {
            format!("init_top_pgt {sym:#x} is not in the kernel text mapping; give --dtb")
        })
}

/// The physical memory of an image file: raw, LiME or an ELF core, by
/// `format` or (`auto`) by the file's magic.
fn physical_space(file: Space, format: &str) -> Result<Space, String> {
    let mut magic = [0u8; 4];
    file.read(0, &mut magic);
    let format = match format {
        "auto" if magic == *b"EMiL" => "lime",
        "auto" if magic == *b"\x7fELF" => "elf",
        "auto" => "raw",
        other => other,
    };
    Ok(match format {
        "raw" => file,
        "lime" => Arc::new(SparseSpace::lime(file).map_err(|e| e.to_string())?),
        "elf" => Arc::new(SparseSpace::elf_core(file).map_err(|e| e.to_string())?),
        other => {
            return Err(format!(
                "unknown --format {other:?} (auto, raw, lime or elf)"
            ))
        }
    })
}

fn process(task: &Object, pid: &str, name: &str) -> Result<Process, String> {
    if let Some(why) = task.none_reason() {
        return Err(format!("None ({why})"));
    }
    let pid = task.member(pid);
    let name = task.member(name);
    Ok(Process {
        pid: pid.as_i64().ok_or_else(|| pid.value().to_string())?,
        name: name.as_string().unwrap_or_else(|| name.value().to_string()),
        address: task.address().unwrap_or(0),
    })
}

/// The processes of the list, in list order; `Err` for an entry that could
/// not be read (with the NoneObject's reason).
pub fn processes(
    session: &Session,
    space: &Space,
    os: Os,
    base: u64,
) -> Result<Vec<Result<Process, String>>, String> {
    let mut out = Vec::new();
    match os {
        Os::Linux => {
            let addr = session
                .symbol_address("init_task", base)
                .ok_or("the profile has no init_task symbol")?;
            let init = session.object("task_struct", addr, space);
            out.push(process(&init, "pid", "comm"));
            for task in init.member("tasks").list_of("task_struct", "tasks") {
                out.push(process(&task, "pid", "comm"));
            }
        }
        Os::Windows => {
            let addr = session
                .symbol_address("PsActiveProcessHead", base)
                .ok_or("the profile has no PsActiveProcessHead symbol")?;
            let head = session.object("_LIST_ENTRY", addr, space);
            for p in head.list_of("_EPROCESS", "ActiveProcessLinks") {
                out.push(process(&p, "UniqueProcessId", "ImageFileName"));
            }
        }
        Os::Darwin => {
            // MAXCOMLEN + 1 bytes; old profiles say `["array", 0, ["char"]]`.
            let session = session.with_overlay(Overlay::new().member(
                "proc",
                "p_comm",
                None,
                Type::string(17u64),
            ));
            let allproc = session.symbol_object("_allproc", "proclist", base, space);
            for p in allproc.member("lh_first").follow("p_list.le_next") {
                out.push(process(&p, "p_pid", "p_comm"));
            }
        }
    }
    Ok(out)
}
