//! A typed member read (static and dynamic mode) against reading the same
//! bytes with `u32::from_le_bytes` at a hand-written offset, from the same
//! address space (a bench script: `harness = false`, no assertions).
//!
//! ```text
//! cargo bench -p profile-generated --bench typed_read
//! ```
//!
//! Each figure is the median of 15 runs of 4 M reads of `Point.y` (offset
//! 4) at addresses spread over a 1 MiB `BufferSpace`, read through `&dyn
//! AddressSpace`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use profile_generated::{fixture_dynamic, fixture_x64};
use profile_runtime::{AddressSpace, BufferSpace, LazyProfile, Session};

const READS: u64 = 4 << 20;
const RUNS: usize = 15;
const MEM: u64 = 1 << 20;

fn addr(i: u64) -> u64 {
    (i.wrapping_mul(0x9e37_79b9) % (MEM - 64)) & !7
}

fn time(label: &str, mut f: impl FnMut() -> u64) -> Duration {
    let mut times = Vec::with_capacity(RUNS);
    let mut check = 0u64;
    for _ in 0..RUNS {
        let t = Instant::now();
        check = check.wrapping_add(black_box(f()));
        times.push(t.elapsed());
    }
    times.sort();
    let median = times[RUNS / 2];
    println!(
        "{label:<40} median {:>8.2} ms  {:>6.2} ns/read  (check {check:x})",
        median.as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e9 / READS as f64
    );
    median
}

fn main() {
    let bytes: Vec<u8> = (0..MEM).map(|i| (i.wrapping_mul(31) >> 3) as u8).collect();
    let space = BufferSpace::new(bytes);
    let space: &dyn AddressSpace = black_box(&space);
    let stat = fixture_x64::Layout::new();
    let session = Session::new(Arc::new(
        LazyProfile::from_profile(&common::fixture_profile("x64")).unwrap(),
    ));
    let dynl = fixture_dynamic::Layout::load(&session).unwrap();
    // The hand-written offset of `Point.y`.
    let off = black_box(4u64);

    let base = time("u32::from_le_bytes at a fixed offset", || {
        let mut sum = 0u64;
        for i in 0..READS {
            let mut b = [0u8; 4];
            space.read(addr(i) + off, &mut b);
            sum = sum.wrapping_add(u64::from(u32::from_le_bytes(b)));
        }
        sum
    });
    let st = time("typed static  Point.y()", || {
        let mut sum = 0u64;
        for i in 0..READS {
            let v = stat.Point(space, addr(i)).y().unwrap_or(0);
            sum = sum.wrapping_add(v as u32 as u64);
        }
        sum
    });
    let dy = time("typed dynamic Point.y()", || {
        let mut sum = 0u64;
        for i in 0..READS {
            let v = dynl.Point(space, addr(i)).y().unwrap_or(0);
            sum = sum.wrapping_add(v as u32 as u64);
        }
        sum
    });
    let obj = time("runtime Object .member(\"y\") (reference)", || {
        let sp: profile_runtime::Space = Arc::new(BufferSpace::new(vec![0u8; 64]));
        let mut sum = 0u64;
        for i in 0..READS / 64 {
            let v = session
                .object("Point", i % 32, &sp)
                .member("y")
                .as_u64()
                .unwrap_or(0);
            sum = sum.wrapping_add(v);
        }
        sum
    });
    let r = |d: Duration| d.as_secs_f64() / base.as_secs_f64();
    println!("static / baseline:  {:.2}x", r(st));
    println!("dynamic / baseline: {:.2}x", r(dy));
    println!(
        "runtime Object read: {:.1} ns/read",
        obj.as_secs_f64() * 1e9 / (READS / 64) as f64
    );
}
