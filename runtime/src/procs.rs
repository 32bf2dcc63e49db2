//! Process lists of Windows and macOS kernels, walked through a profile.
//!
//! Linux has its own, hands-free path ([`crate::linux::pslist`]); these two
//! walk a list from one symbol and need the kernel's page-table root:
//! Windows `PsActiveProcessHead` (`_EPROCESS.ActiveProcessLinks`, relative to
//! the kernel image base) and macOS `_allproc` (`proc.p_list`, shifted by
//! the KASLR slide).

use std::sync::Arc;

use serde::Serialize;

use crate::{
    Amd64Paging, Image, Object, Overlay, PaePaging, Paging, Session, Space, Type, X86Paging,
};

/// Which kernel's process list to walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    /// `init_task.tasks` (see [`crate::linux::pslist`]).
    Linux,
    /// `PsActiveProcessHead`.
    Windows,
    /// `_allproc`.
    Darwin,
}

impl Os {
    /// The system a profile describes: its `ProfileClass` (`Linux`,
    /// `Darwin*`), else Windows when it has `PsActiveProcessHead`.
    pub fn of(session: &Session) -> Option<Os> {
        let class = session.profile().metadata_str("ProfileClass");
        if class == Some("Linux") {
            Some(Os::Linux)
        } else if class.is_some_and(|c| c.starts_with("Darwin")) {
            Some(Os::Darwin)
        } else if session.constant("PsActiveProcessHead").is_some() {
            Some(Os::Windows)
        } else {
            None
        }
    }
}

/// One process of a Windows or macOS list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Process {
    /// Process id.
    pub pid: i64,
    /// Process name.
    pub name: String,
    /// Virtual address of the `_EPROCESS` / `proc`.
    pub offset: u64,
}

/// The kernel's virtual address space over `image` from its page-table
/// root (default paging: x86-64 4-level).
pub fn kernel_space(image: &Image, dtb: u64, paging: Option<Paging>) -> crate::Result<Space> {
    let physical = Arc::clone(image.physical());
    Ok(match paging.unwrap_or(Paging::Amd64) {
        Paging::Amd64 => Arc::new(Amd64Paging::new(physical, dtb)),
        Paging::Pae => Arc::new(PaePaging::new(physical, dtb)),
        Paging::X86 => Arc::new(X86Paging::new(physical, dtb)),
        p => p.space(physical, dtb)?,
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
        offset: task.address().unwrap_or(0),
    })
}

/// The Windows or macOS processes of the list, in list order; `Err` for an
/// entry that could not be read (with the NoneObject's reason). `base` is
/// the Windows kernel image base, or the macOS KASLR slide.
pub fn processes(
    session: &Session,
    space: &Space,
    os: Os,
    base: u64,
) -> Result<Vec<Result<Process, String>>, String> {
    let mut out = Vec::new();
    match os {
        Os::Linux => return Err("Linux lists go through profile_runtime::linux::pslist".into()),
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
