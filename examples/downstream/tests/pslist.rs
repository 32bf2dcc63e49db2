//! The downstream crate walks a Linux task list with its generated typed
//! API: on a synthetic image laid out per the real Debian 6.1 profile
//! (offsets read from the profile JSON directly, behind x86-64 page tables,
//! with and without a KASLR shift), and on a flat image laid out per the
//! small profile shipped in the crate (runs without the shared fixtures).

#[path = "../../../runtime/tests/common/mod.rs"]
mod common;
#[path = "../../../tests/support.rs"]
mod support;

use std::path::Path;
use std::sync::Arc;

use common::{Amd64, PhysMem};
use downstream_example::{layout, tasks, Task};
use profile_runtime::{Amd64Paging, BufferSpace, Session, Space};
use serde_json::Value;

const TASKS: [(i32, &str); 4] = [
    (0, "swapper/0"),
    (1, "systemd"),
    (2, "kthreadd"),
    (4242, "bash"),
];

struct Offsets {
    size: u64,
    tasks: u64,
    pid: u64,
    comm: u64,
}

fn offsets(profile: &Path) -> (Offsets, Value) {
    let v: Value = serde_json::from_slice(&std::fs::read(profile).unwrap()).unwrap();
    let ts = &v["$STRUCTS"]["task_struct"];
    let off = |m: &str| ts[1][m][0].as_u64().unwrap();
    let o = Offsets {
        size: ts[0].as_u64().unwrap(),
        tasks: off("tasks"),
        pid: off("pid"),
        comm: off("comm"),
    };
    (o, v)
}

fn write_task(m: &mut [u8], pa: u64, o: &Offsets, pid: i32, comm: &str, next: u64, prev: u64) {
    let pa = pa as usize;
    let put = |m: &mut [u8], at: u64, b: &[u8]| {
        m[pa + at as usize..pa + at as usize + b.len()].copy_from_slice(b)
    };
    put(m, o.pid, &pid.to_le_bytes());
    let mut c = [0u8; 16];
    c[..comm.len()].copy_from_slice(comm.as_bytes());
    put(m, o.comm, &c);
    put(m, o.tasks, &next.to_le_bytes());
    put(m, o.tasks + 8, &prev.to_le_bytes());
}

fn expected(list: &[Task]) -> Vec<(i32, String)> {
    list.iter().map(|t| (t.pid, t.comm.clone())).collect()
}

#[test]
fn walks_tasks_of_a_real_profile_layout_behind_page_tables() {
    let Some(shared) = support::shared("downstream walks_tasks_of_a_real_profile_layout") else {
        return;
    };
    let profile = shared.join("fixtures/rekall/Linux/6.1.0-56-amd64.dwarf4.rekall.json");
    let (o, json) = offsets(&profile);
    let init_sym = json["$CONSTANTS"]["init_task"].as_u64().unwrap();
    let session = Session::open(&profile).unwrap();
    let layout = layout(&session).unwrap();
    for shift in [0u64, 0x1e0_0000] {
        let mut m = PhysMem::new(6 << 20, 0x1_0000);
        let t = Amd64::new(&mut m);
        let init_va = init_sym.wrapping_add(shift) | 0xffff_0000_0000_0000;
        let page = init_va & !0xfff;
        let span = (init_va + o.size + 0xfff - page) & !0xfff;
        t.map_range(&mut m, page, 0x10_0000, span);
        let direct = 0xffff_8880_0020_0000u64;
        t.map_2m(&mut m, direct, 0x20_0000);
        let vas = [init_va, direct, direct + 0x3000, direct + 0x6000];
        let pas = [
            0x10_0000 + (init_va - page),
            0x20_0000,
            0x20_3000,
            0x20_6000,
        ];
        for i in 0..4 {
            let next = vas[(i + 1) % 4] + o.tasks;
            let prev = vas[(i + 3) % 4] + o.tasks;
            write_task(&mut m.mem, pas[i], &o, TASKS[i].0, TASKS[i].1, next, prev);
        }
        let phys: Space = Arc::new(BufferSpace::new(m.mem));
        let kernel: Space = Arc::new(Amd64Paging::new(phys, t.pml4));
        // The symbol is masked to 48 bits in the profile: paging takes it as is.
        let list = tasks(&layout, &*kernel, init_sym.wrapping_add(shift)).unwrap();
        // The typed reads equal the runtime's string-named reads.
        for t in &list {
            let o = session.object("task_struct", t.address, &kernel);
            assert_eq!(Some(i64::from(t.pid)), o.member("pid").as_i64());
            assert_eq!(Some(t.comm.clone()), o.member("comm").as_string());
            let typed = layout.task_struct(&*kernel, t.address);
            assert_eq!(
                typed.tasks().next().map(|p| p.address()),
                o.get("tasks.next").as_u64()
            );
        }
        let want: Vec<(i32, String)> = TASKS.iter().map(|(p, c)| (*p, c.to_string())).collect();
        assert_eq!(expected(&list), want, "shift {shift:#x}");
        assert_eq!(list[1].address, direct);
    }
}

#[test]
fn walks_tasks_of_the_shipped_profile_layout_and_reports_loops() {
    let profile = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/minimal-linux.json");
    let (o, _) = offsets(&profile);
    let session = Session::open(&profile).unwrap();
    let layout = layout(&session).unwrap();
    let addrs = [0x1000u64, 0x2000, 0x3000, 0x4000];
    let mut mem = vec![0u8; 0x5000];
    for i in 0..4 {
        let next = addrs[(i + 1) % 4] + o.tasks;
        let prev = addrs[(i + 3) % 4] + o.tasks;
        write_task(&mut mem, addrs[i], &o, TASKS[i].0, TASKS[i].1, next, prev);
    }
    let space = BufferSpace::new(mem.clone());
    let list = tasks(&layout, &space, 0x1000).unwrap();
    assert_eq!(list.len(), 4);
    assert_eq!(list[3].pid, 4242);
    assert_eq!(list[3].comm, "bash");
    // The last task links back to the second: a loop, reported.
    write_task(
        &mut mem,
        addrs[3],
        &o,
        4242,
        "bash",
        addrs[1] + o.tasks,
        addrs[2] + o.tasks,
    );
    let err = tasks(&layout, &BufferSpace::new(mem), 0x1000).unwrap_err();
    assert!(err.contains("loops"), "{err}");
}
