//! Processes and modules of a located Linux kernel.

use rustc_hash::FxHashSet;
use serde::Serialize;

use super::{Hints, LinuxKernel};
use crate::image::Image;
use crate::object::Timestamp;
use crate::session::Session;
use crate::space::{AddressSpace, Space};
use crate::MAX_LIST_ENTRIES;

/// Most modules listed (a guard against a corrupt list).
pub const MAX_MODULES: usize = 1 << 16;

/// `PF_KTHREAD` in `task_struct.flags`.
const PF_KTHREAD: u64 = 0x0020_0000;

/// One task (a process, or with threads a thread).
///
/// As Volatility's `linux.pslist`: `pid` is the thread group id (what `ps`
/// calls the PID), `tid` the task's own id, `ppid` the thread group id of
/// `real_parent` (what `/proc/PID/stat` reports; Volatility reads `parent`,
/// which differs only while the task is being traced).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Task {
    /// Virtual address of the `task_struct`.
    pub offset: u64,
    /// Process id (`tgid`).
    pub pid: i64,
    /// Thread id (`pid`).
    pub tid: i64,
    /// Parent process id (`real_parent->tgid`; 0 for the kernel's first tasks).
    pub ppid: i64,
    /// `comm` (at most 15 bytes).
    pub comm: String,
    /// A kernel thread (`PF_KTHREAD`).
    pub kernel_thread: bool,
    /// Whether this task leads its thread group (every task listed without
    /// threads does).
    pub thread_group_leader: bool,
    /// Start time in nanoseconds since boot (`start_boottime`, counting
    /// suspend; else `real_start_time`, else `start_time`).
    pub start_time_ns: Option<u64>,
    /// Wall-clock start time (UTC): the boot time (`tk_core.timekeeper`'s
    /// `offs_real - offs_boot`) plus `start_time_ns`, when the timekeeper
    /// can be read.
    pub create_time: Option<String>,
}

/// One loaded kernel module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Module {
    /// Virtual address of the `struct module`.
    pub offset: u64,
    /// `name`.
    pub name: String,
    /// Base of its core (text) allocation: `core_layout.base`, or
    /// `mem[MOD_TEXT].base` from 6.4.
    pub base: u64,
    /// Size as `/proc/modules` gives it: `core_layout.size +
    /// init_layout.size` (and `data_layout.size` where it exists), or the
    /// sum of `mem[].size` from 6.4.
    pub size: u64,
    /// `state` (`MODULE_STATE_LIVE`...), when the profile names it.
    pub state: Option<String>,
}

/// Member offsets, resolved once.
struct TaskLayout {
    tasks: u64,
    pid: u64,
    tgid: u64,
    comm: u64,
    comm_len: usize,
    real_parent: u64,
    flags: Option<u64>,
    start: Option<u64>,
    thread_group: Option<u64>,
}

fn off(session: &Session, s: &str, m: &str) -> Result<u64, String> {
    session
        .offset_of(s, m)
        .ok_or_else(|| format!("the profile has no {s}.{m}"))
}

impl TaskLayout {
    fn of(session: &Session) -> Result<TaskLayout, String> {
        let comm_len = session
            .member_type("task_struct", "comm")
            .and_then(|t| session.size_of_type(&t, None, None))
            .unwrap_or(16)
            .clamp(1, 64) as usize;
        Ok(TaskLayout {
            tasks: off(session, "task_struct", "tasks")?,
            pid: off(session, "task_struct", "pid")?,
            tgid: off(session, "task_struct", "tgid")?,
            comm: off(session, "task_struct", "comm")?,
            comm_len,
            real_parent: off(session, "task_struct", "real_parent")
                .or_else(|_| off(session, "task_struct", "parent"))?,
            flags: session.offset_of("task_struct", "flags"),
            start: session
                .offset_of("task_struct", "start_boottime")
                .or_else(|| session.offset_of("task_struct", "real_start_time"))
                .or_else(|| session.offset_of("task_struct", "start_time")),
            thread_group: session.offset_of("task_struct", "thread_group"),
        })
    }
}

fn rd64(space: &dyn AddressSpace, addr: u64) -> Option<u64> {
    let mut b = [0u8; 8];
    space
        .read(addr, &mut b)
        .is_complete()
        .then(|| u64::from_le_bytes(b))
}

fn rd32(space: &dyn AddressSpace, addr: u64) -> Option<u32> {
    let mut b = [0u8; 4];
    space
        .read(addr, &mut b)
        .is_complete()
        .then(|| u32::from_le_bytes(b))
}

fn text(bytes: &[u8]) -> String {
    let n = bytes.iter().position(|&c| c == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..n]).into_owned()
}

/// Walks a circular `list_head` list from `head`: the addresses of the
/// entries (not the head). Errors on an unreadable link, a loop that does
/// not return to the head, or more than `max` entries.
fn walk_list(
    space: &dyn AddressSpace,
    head: u64,
    max: usize,
    what: &str,
) -> Result<Vec<u64>, String> {
    let mut out = Vec::new();
    let mut seen = FxHashSet::default();
    let mut cur = rd64(space, head)
        .ok_or_else(|| format!("{what}: the list head at {head:#x} cannot be read"))?;
    while cur != head {
        if out.len() >= max {
            return Err(format!("{what}: more than {max} entries"));
        }
        if !seen.insert(cur) {
            return Err(format!(
                "{what}: the list loops at {cur:#x} without returning to its head ({} entries read)",
                out.len()
            ));
        }
        out.push(cur);
        cur = rd64(space, cur).ok_or_else(|| {
            format!(
                "{what}: the link at {cur:#x} cannot be read ({} entries read)",
                out.len()
            )
        })?;
        if cur == 0 {
            return Err(format!("{what}: a NULL link after {} entries", out.len()));
        }
    }
    Ok(out)
}

/// Wall-clock boot time in nanoseconds since 1970, from
/// `tk_core.timekeeper` (`offs_real - offs_boot`).
fn boot_time_ns(session: &Session, kernel: &LinuxKernel) -> Option<i128> {
    let tk = kernel.symbol(session, "tk_core")?;
    // tk_core is `struct { seqcount_raw_spinlock_t seq; struct timekeeper
    // timekeeper; }`: find that anonymous struct, else assume offset 8.
    let inner = session
        .profile()
        .struct_names()
        .filter(|n| n.starts_with("__unnamed"))
        .find_map(|n| {
            let o = session.offset_of(n, "timekeeper")?;
            session.offset_of(n, "seq").map(|_| o)
        })
        .unwrap_or(8);
    let real = session.offset_of("timekeeper", "offs_real")?;
    let boot = session.offset_of("timekeeper", "offs_boot")?;
    let space = kernel.space();
    let r = rd64(&**space, tk + inner + real)? as i64;
    let b = rd64(&**space, tk + inner + boot)? as i64;
    let t = i128::from(r) - i128::from(b);
    // Between 1990 and 2200, else not a boot time.
    (631_152_000_000_000_000..7_258_118_400_000_000_000)
        .contains(&t)
        .then_some(t)
}

fn timestamp(ns: i128) -> String {
    Timestamp {
        unix_seconds: ns.div_euclid(1_000_000_000) as i64,
        nanos: ns.rem_euclid(1_000_000_000) as u32,
    }
    .to_string()
}

/// The processes of the kernel: `init_task.tasks`, thread group leaders
/// only, `init_task` itself (pid 0, `swapper/0`) excluded, as Volatility's
/// `linux.pslist` and `ps` list them. See [`pslist_with`].
pub fn pslist(session: &Session, kernel: &LinuxKernel) -> crate::Result<Vec<Task>> {
    pslist_with(session, kernel, false)
}

/// [`pslist`], and with `threads` every thread of each group after its
/// leader (from the leader's `thread_group` list). A broken task list (an
/// unreadable link, a loop that misses `init_task`, more than
/// [`MAX_LIST_ENTRIES`] tasks) is an error.
pub fn pslist_with(
    session: &Session,
    kernel: &LinuxKernel,
    threads: bool,
) -> crate::Result<Vec<Task>> {
    let err = |m: String| crate::Error::Kernel {
        image: "pslist".into(),
        message: m,
    };
    let l = TaskLayout::of(session).map_err(err)?;
    let init = kernel
        .symbol(session, "init_task")
        .ok_or_else(|| err("the profile has no init_task symbol".into()))?;
    let space: &Space = kernel.space();
    let links = walk_list(
        &**space,
        init + l.tasks,
        MAX_LIST_ENTRIES,
        "init_task.tasks",
    )
    .map_err(err)?;
    let boot = boot_time_ns(session, kernel);
    let mut out = Vec::with_capacity(links.len());
    for link in links {
        let t = link.wrapping_sub(l.tasks);
        out.push(read_task(&**space, &l, t, boot, true));
        if threads {
            if let Some(tg) = l.thread_group {
                // Other threads of the group; a broken thread list ends
                // the group's threads (it does not fail the listing).
                if let Ok(members) = walk_list(&**space, t + tg, MAX_LIST_ENTRIES, "thread_group") {
                    for m in members {
                        out.push(read_task(&**space, &l, m.wrapping_sub(tg), boot, false));
                    }
                }
            }
        }
    }
    Ok(out)
}

fn read_task(
    space: &dyn AddressSpace,
    l: &TaskLayout,
    t: u64,
    boot: Option<i128>,
    leader: bool,
) -> Task {
    let int = |o: u64| {
        rd32(space, t + o)
            .map(|v| i64::from(v as i32))
            .unwrap_or(-1)
    };
    let mut comm = vec![0u8; l.comm_len];
    space.read(t + l.comm, &mut comm);
    let parent = rd64(space, t + l.real_parent).unwrap_or(0);
    let ppid = if parent == 0 || parent == t {
        0
    } else {
        rd32(space, parent + l.tgid)
            .map(|v| i64::from(v as i32))
            .unwrap_or(-1)
    };
    let flags = l.flags.and_then(|f| rd32(space, t + f)).map(u64::from);
    let start = l.start.and_then(|s| rd64(space, t + s));
    Task {
        offset: t,
        pid: int(l.tgid),
        tid: int(l.pid),
        ppid,
        comm: text(&comm),
        kernel_thread: flags.is_some_and(|f| f & PF_KTHREAD != 0),
        thread_group_leader: leader,
        start_time_ns: start,
        create_time: match (boot, start) {
            (Some(b), Some(s)) => Some(timestamp(b + i128::from(s))),
            _ => None,
        },
    }
}

/// The loaded modules: the `modules` list of `struct module`, in list
/// order. A broken list is an error; at most [`MAX_MODULES`].
pub fn lsmod(session: &Session, kernel: &LinuxKernel) -> crate::Result<Vec<Module>> {
    let err = |m: String| crate::Error::Kernel {
        image: "lsmod".into(),
        message: m,
    };
    let head = kernel
        .symbol(session, "modules")
        .ok_or_else(|| err("the profile has no modules symbol".into()))?;
    let list = off(session, "module", "list").map_err(err)?;
    let name = off(session, "module", "name").map_err(err)?;
    let name_len = session
        .member_type("module", "name")
        .and_then(|t| session.size_of_type(&t, None, None))
        .unwrap_or(56)
        .clamp(1, 256) as usize;
    let state = session.offset_of("module", "state");
    let state_ty = session.member_type("module", "state");
    let enum_name = match &state_ty {
        Some(crate::types::Type::Enumeration {
            choices: crate::types::Choices::Named(n),
            ..
        }) => Some(n.to_string()),
        _ => None,
    };
    // 6.1: core_layout / init_layout (/ data_layout); 6.4+: mem[MOD_MEM_NUM_TYPES].
    let layout = session.offset_of("module", "core_layout").map(|core| {
        (
            core,
            session.offset_of("module", "init_layout"),
            session.offset_of("module", "data_layout"),
        )
    });
    let lbase = session.offset_of("module_layout", "base").unwrap_or(0);
    let lsize = session.offset_of("module_layout", "size").unwrap_or(8);
    let mem = session.offset_of("module", "mem");
    let mem_elem = session.size_of("module_memory");
    let mem_count = session
        .member_type("module", "mem")
        .and_then(|t| session.size_of_type(&t, None, None))
        .zip(mem_elem)
        .map(|(total, e)| total.checked_div(e).unwrap_or(0))
        .unwrap_or(0)
        .min(16);
    let mbase = session.offset_of("module_memory", "base").unwrap_or(0);
    let msize = session.offset_of("module_memory", "size").unwrap_or(8);
    if layout.is_none() && mem.is_none() {
        return Err(err(
            "the profile's struct module has neither core_layout nor mem".into(),
        ));
    }
    let space = kernel.space();
    let links = walk_list(&**space, head, MAX_MODULES, "modules").map_err(err)?;
    let mut out = Vec::with_capacity(links.len());
    for link in links {
        let m = link.wrapping_sub(list);
        let mut nb = vec![0u8; name_len];
        space.read(m + name, &mut nb);
        let (base, size) = match (layout, mem) {
            (Some((core, init, data)), _) => {
                let base = rd64(&**space, m + core + lbase).unwrap_or(0);
                let sz = |o: Option<u64>| {
                    o.and_then(|o| rd32(&**space, m + o + lsize))
                        .map(u64::from)
                        .unwrap_or(0)
                };
                (base, sz(Some(core)) + sz(init) + sz(data))
            }
            (None, Some(mem)) => {
                let e = mem_elem.unwrap_or(0);
                let base = rd64(&**space, m + mem + mbase).unwrap_or(0);
                let size = (0..mem_count)
                    .filter_map(|i| rd32(&**space, m + mem + i * e + msize))
                    .map(u64::from)
                    .sum();
                (base, size)
            }
            (None, None) => (0, 0),
        };
        let state = state.and_then(|o| rd32(&**space, m + o)).map(|v| {
            enum_name
                .as_deref()
                .and_then(|n| session.enum_name(n, i128::from(v)))
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string())
        });
        out.push(Module {
            offset: m,
            name: text(&nb),
            base,
            size,
            state,
        });
    }
    Ok(out)
}

/// Whether a profile fits an image.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    /// True when every check passed.
    pub ok: bool,
    /// The checks that failed, each with why.
    pub reasons: Vec<String>,
    /// The checks that passed.
    pub passed: Vec<String>,
    /// Processes listed.
    pub tasks: usize,
    /// Modules listed.
    pub modules: usize,
}

/// Locates the profile's kernel in `image` and checks it (see
/// [`check_kernel`]); a kernel that cannot be located fails with the
/// locating error as its reason.
pub fn check(image: &Image, session: &Session, hints: &Hints) -> CheckReport {
    match LinuxKernel::locate(image, session, hints) {
        Ok(k) => {
            let mut r = check_kernel(session, &k);
            r.passed.insert(
                0,
                "the kernel was located and linux_banner reads the profile's banner".into(),
            );
            r
        }
        Err(e) => CheckReport {
            ok: false,
            reasons: vec![e.to_string()],
            ..CheckReport::default()
        },
    }
}

fn printable(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// Checks a located kernel against the profile: `init_task` reads pid 0
/// and a `swapper` comm; the task list closes; pids are unique and in range
/// (1 to 4194304, `PID_MAX_LIMIT`); every comm is printable; every parent
/// is listed; pid 1 exists; the module list walks, with printable names and
/// sizes below 1 GiB.
pub fn check_kernel(session: &Session, kernel: &LinuxKernel) -> CheckReport {
    let mut r = CheckReport::default();
    let pass = |r: &mut CheckReport, ok: bool, what: String, why: String| {
        if ok {
            r.passed.push(what);
        } else {
            r.reasons.push(why);
        }
    };
    if let Some(n) = kernel
        .notes()
        .iter()
        .find(|n| n.contains("differs from the profile") || n.contains("used as given"))
    {
        r.reasons.push(n.clone());
    }
    match (TaskLayout::of(session), kernel.symbol(session, "init_task")) {
        (Ok(l), Some(init)) => {
            let t = read_task(&**kernel.space(), &l, init, None, true);
            pass(
                &mut r,
                t.tid == 0 && t.comm.starts_with("swapper"),
                "init_task has pid 0 and comm swapper".into(),
                format!(
                    "init_task reads pid {} comm {:?} (want 0, swapper...)",
                    t.tid, t.comm
                ),
            );
        }
        (Err(e), _) => r.reasons.push(e),
        (_, None) => r.reasons.push("the profile has no init_task symbol".into()),
    }
    match pslist(session, kernel) {
        Ok(tasks) => {
            r.tasks = tasks.len();
            r.passed
                .push(format!("the task list closes ({} processes)", tasks.len()));
            let mut seen = FxHashSet::default();
            let dup: Vec<i64> = tasks
                .iter()
                .filter(|t| !seen.insert(t.tid))
                .map(|t| t.tid)
                .take(5)
                .collect();
            pass(
                &mut r,
                dup.is_empty(),
                "pids are unique".into(),
                format!("repeated pids: {dup:?}"),
            );
            let bad: Vec<i64> = tasks
                .iter()
                .filter(|t| !(1..=4_194_304).contains(&t.tid) || t.pid != t.tid)
                .map(|t| t.tid)
                .take(5)
                .collect();
            pass(
                &mut r,
                bad.is_empty(),
                "pids are in range and leaders' tgid = pid".into(),
                format!("pids out of range or tgid != pid: {bad:?}"),
            );
            let bad: Vec<String> = tasks
                .iter()
                .filter(|t| !printable(&t.comm))
                .map(|t| format!("{:?}", t.comm))
                .take(5)
                .collect();
            pass(
                &mut r,
                bad.is_empty(),
                "every comm is printable".into(),
                format!("unprintable comms: {}", bad.join(", ")),
            );
            let orphans: Vec<i64> = tasks
                .iter()
                .filter(|t| t.ppid != 0 && !seen.contains(&t.ppid))
                .map(|t| t.tid)
                .take(5)
                .collect();
            pass(
                &mut r,
                orphans.is_empty(),
                "every parent is listed".into(),
                format!("tasks whose parent is not listed: {orphans:?}"),
            );
            pass(
                &mut r,
                seen.contains(&1),
                "pid 1 exists".into(),
                "no pid 1".into(),
            );
        }
        Err(e) => r.reasons.push(e.to_string()),
    }
    match lsmod(session, kernel) {
        Ok(mods) => {
            r.modules = mods.len();
            r.passed
                .push(format!("the module list closes ({} modules)", mods.len()));
            let bad: Vec<String> = mods
                .iter()
                .filter(|m| !printable(&m.name) || m.size == 0 || m.size >= 1 << 30)
                .map(|m| format!("{:?} ({} bytes)", m.name, m.size))
                .take(5)
                .collect();
            pass(
                &mut r,
                bad.is_empty(),
                "module names are printable and sizes sane".into(),
                format!("bad modules: {}", bad.join(", ")),
            );
        }
        Err(e) => r.reasons.push(e.to_string()),
    }
    r.ok = r.reasons.is_empty();
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::BufferSpace;
    use std::sync::Arc;

    #[test]
    fn list_walks_end_on_loops_nulls_and_caps() {
        let mut mem = vec![0u8; 0x100];
        let w = |m: &mut Vec<u8>, a: usize, v: u64| m[a..a + 8].copy_from_slice(&v.to_le_bytes());
        let head = 0x80;
        // head -> 0x10 -> 0x20 -> 0x10 (a loop that misses the head)
        w(&mut mem, head as usize, 0x10);
        w(&mut mem, 0x10, 0x20);
        w(&mut mem, 0x20, 0x10);
        let s = BufferSpace::new(mem.clone());
        assert!(walk_list(&s, head, 100, "t").unwrap_err().contains("loops"));
        w(&mut mem, 0x20, head);
        let s = BufferSpace::new(mem.clone());
        assert_eq!(walk_list(&s, head, 100, "t").unwrap(), vec![0x10, 0x20]);
        assert!(walk_list(&s, head, 1, "t")
            .unwrap_err()
            .contains("more than 1"));
        w(&mut mem, 0x20, 0);
        let s = BufferSpace::new(mem.clone());
        assert!(walk_list(&s, head, 100, "t").unwrap_err().contains("NULL"));
        w(&mut mem, 0x10, 0x1000);
        let s: Space = Arc::new(BufferSpace::new(mem));
        assert!(walk_list(&*s, head, 100, "t")
            .unwrap_err()
            .contains("cannot be read"));
    }
}
