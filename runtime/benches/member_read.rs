//! Cost of reading one `u32`-sized member: by hand, through a
//! [`MemberHandle`], and through the dynamic object API (a bench script:
//! `harness = false`, no timing assertions).
//!
//! ```text
//! PROFC_SHARED=/work/shared cargo bench -p profile-runtime --bench member_read
//! ```
//!
//! Profile: Rekall's Linux 6.1.0-56 profile (`task_struct.pid` is an `int` at
//! offset 2416). Memory: a [`BufferSpace`] of 64 KiB holding a `task_struct`
//! at 0x1000 with pid 4242, behind a [`Space`] (`Arc<dyn AddressSpace>`), as
//! objects hold it. Each job runs `ITERS` reads in a loop, the struct address
//! passed through `black_box` every time so nothing is hoisted; the figure is
//! the best of `BATCHES` batches, in nanoseconds per read.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use profile_runtime::{AddressSpace, BufferSpace, Session, Space};

const ITERS: u64 = 2_000_000;
const BATCHES: usize = 7;
/// `task_struct.pid` in the profile, written by hand (checked against the
/// profile before timing).
const PID_OFFSET: u64 = 2416;
const BASE: u64 = 0x1000;

fn shared() -> Option<PathBuf> {
    let p = std::env::var_os("PROFC_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    p.join("fixtures").is_dir().then_some(p)
}

/// Best ns per iteration over the batches.
fn time(label: &str, mut f: impl FnMut(u64) -> u64) -> f64 {
    let mut best = f64::MAX;
    let mut check = 0;
    for _ in 0..BATCHES {
        let t = Instant::now();
        let mut acc = 0u64;
        for _ in 0..ITERS {
            acc = acc.wrapping_add(f(black_box(BASE)));
        }
        let ns = t.elapsed().as_secs_f64() * 1e9 / ITERS as f64;
        best = best.min(ns);
        check = black_box(acc) / ITERS;
    }
    println!("{label:<58} {best:>8.2} ns/read  (value {check})");
    best
}

fn main() {
    let Some(shared) = shared() else {
        eprintln!("SKIPPED: set PROFC_SHARED to the shared folder");
        return;
    };
    let path = shared.join("fixtures/rekall/Linux/6.1.0-56-amd64.dwarf4.rekall.json");
    let session = Session::open(&path).expect("profile");
    assert_eq!(
        session.offset_of("task_struct", "pid"),
        Some(PID_OFFSET),
        "hand-written offset"
    );
    let mut mem = vec![0u8; 64 << 10];
    let at = (BASE + PID_OFFSET) as usize;
    mem[at..at + 4].copy_from_slice(&4242u32.to_le_bytes());
    let space: Space = Arc::new(BufferSpace::new(mem));
    let task = session.object("task_struct", BASE, &space);
    let handle = session.member_handle("task_struct", "pid").expect("handle");
    assert_eq!(task.member("pid").as_u64(), Some(4242));
    assert_eq!(handle.read_u32(&space, BASE), Ok(4242));

    println!("profile: {}", path.display());
    println!("{ITERS} reads per batch, best of {BATCHES} batches");
    let direct = time(
        "direct: space.read(base + 2416, &mut [u8; 4]) + from_le",
        |base| {
            let mut b = [0u8; 4];
            let _ = space.read(base + PID_OFFSET, &mut b);
            u64::from(u32::from_le_bytes(b))
        },
    );
    let handle_ns = time("handle: h.read_u32(&space, base)", |base| {
        u64::from(handle.read_u32(&space, base).unwrap_or(0))
    });
    let object_ns = time(
        "object: task.member(\"pid\").as_u64() (task made once)",
        |_| task.member("pid").as_u64().unwrap_or(0),
    );
    time("object: task.get(\"pid\").as_u64()", |_| {
        task.get("pid").as_u64().unwrap_or(0)
    });
    time(
        "object: session.object(\"task_struct\", base).member(\"pid\")",
        |base| {
            session
                .object("task_struct", base, &space)
                .member("pid")
                .as_u64()
                .unwrap_or(0)
        },
    );
    println!(
        "handle / direct = {:.2}x (target <= 3x); object member read = {object_ns:.1} ns (target < 100 ns)",
        handle_ns / direct
    );
}
