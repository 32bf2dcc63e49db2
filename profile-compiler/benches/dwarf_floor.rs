//! The DWARF reader against the floor of reading the same DWARF (issue 19).
//!
//!     cargo bench -p profile-compiler --bench dwarf_floor [-- ELF...]
//!
//! For each ELF file (default: the Debian vmlinux that
//! `../shared/bench/get-vmlinux.sh` caches in ~/.cache/profile-bench, when
//! present), in one run:
//! - **floor**: gimli walks every unit, every DIE and every attribute,
//!   parsing each value and resolving each `DW_AT_name` to its string, on
//!   1 thread and on 2 (units shared out by rayon); nothing is kept;
//! - **reader**: `dwarf::read_bytes` (types, variables, symbols: the IR),
//!   on 1 thread and on 2;
//! - **whole**: reading the file, the reader, the emitter and the Rekall
//!   JSON serialisation (what `convert_profile` does, output kept in memory).
//!
//! Minimum of several runs after a warm-up (the figure to compare on a busy
//! machine); wall time and, for the 1-thread runs, that is also CPU time.
//! Figures go to docs/benchmarks.md.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gimli::{EndianSlice, RunTimeEndian};
use object::{Object, ObjectSection};
use profile_compiler::__private::dwarf;
use profile_compiler::{emit, EmitOptions};
use rayon::prelude::*;

/// The allocator `profc` uses, for the floor and profc's code alike.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn min_of<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    drop(f());
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            let out = f();
            let t = start.elapsed();
            drop(out);
            t
        })
        .min()
        .unwrap_or_default()
}

type Slice<'a> = EndianSlice<'a, RunTimeEndian>;

/// Counts every DIE and attribute; names are resolved to their bytes.
fn walk_unit(d: &gimli::Dwarf<Slice<'_>>, header: gimli::UnitHeader<Slice<'_>>) -> (u64, u64) {
    let Ok(unit) = d.unit(header) else {
        return (0, 0);
    };
    let (mut dies, mut attrs) = (0u64, 0u64);
    let mut cursor = unit.entries();
    while let Ok(Some(e)) = cursor.next_dfs() {
        dies += 1;
        // gimli 0.34 parses a DIE's attributes as the cursor reaches it.
        for a in e.attrs() {
            attrs += 1;
            if a.name() == gimli::DW_AT_name {
                if let Ok(s) = d.attr_string(&unit, a.value()) {
                    attrs += u64::from(s.is_empty());
                }
            }
        }
    }
    (dies, attrs)
}

/// The floor: every unit, DIE and attribute, on the current rayon pool.
fn floor(bytes: &[u8]) -> (u64, u64) {
    let file = object::File::parse(bytes).expect("ELF");
    let endian = if file.is_little_endian() {
        RunTimeEndian::Little
    } else {
        RunTimeEndian::Big
    };
    let load = |id: gimli::SectionId| -> Result<Slice<'_>, gimli::Error> {
        let data = file
            .section_by_name(id.name())
            .and_then(|s| s.data().ok())
            .unwrap_or(&[]);
        Ok(EndianSlice::new(data, endian))
    };
    let d = gimli::Dwarf::load(load).expect("DWARF");
    let mut headers = Vec::new();
    let mut units = d.units();
    while let Ok(Some(h)) = units.next() {
        headers.push(h);
    }
    headers
        .into_par_iter()
        .map(|h| walk_unit(&d, h))
        .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn bench(path: &Path) {
    let bytes = std::fs::read(path).expect("read");
    let runs = if bytes.len() > 50 << 20 { 3 } else { 10 };
    let (dies, attrs) = floor(&bytes);
    let info = object::File::parse(&*bytes)
        .ok()
        .and_then(|f| f.section_by_name(".debug_info").map(|s| s.size()))
        .unwrap_or(0);
    println!(
        "{}: {:.1} MB, .debug_info {:.1} MB, {dies} DIEs, {attrs} attributes",
        path.display(),
        bytes.len() as f64 / 1e6,
        info as f64 / 1e6
    );
    let mut rows = Vec::new();
    for threads in [1, 2] {
        let p = pool(threads);
        let f = p.install(|| min_of(runs, || black_box(floor(&bytes))));
        let r = p.install(|| min_of(runs, || black_box(dwarf::read_bytes(&bytes, path))));
        rows.push((threads, f, r));
    }
    let whole = min_of(runs, || {
        let bytes = std::fs::read(path).expect("read");
        let ir = dwarf::read_bytes(&bytes, path).expect("DWARF");
        let e = emit(&ir, EmitOptions::default());
        black_box(e.profile.to_canonical_json())
    });
    for (threads, f, r) in &rows {
        println!(
            "  {threads} thread(s): floor {:8.1} ms  reader {:8.1} ms  ratio {:.2}",
            ms(*f),
            ms(*r),
            r.as_secs_f64() / f.as_secs_f64()
        );
    }
    let (f1, r1) = (rows[0].1, rows[0].2);
    let (f2, r2) = (rows[1].1, rows[1].2);
    println!(
        "  second core: floor {:.2}x, reader {:.2}x; whole (2 threads, read+IR+emit+JSON) {:.1} ms = {:.2}x the 2-thread floor",
        f1.as_secs_f64() / f2.as_secs_f64(),
        r1.as_secs_f64() / r2.as_secs_f64(),
        ms(whole),
        whole.as_secs_f64() / f2.as_secs_f64()
    );
}

fn main() {
    let mut files: Vec<PathBuf> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .collect();
    if files.is_empty() {
        let home = PathBuf::from(std::env::var_os("HOME").unwrap_or_default());
        let v = home.join(".cache/profile-bench/6.1.0-57-amd64/vmlinux");
        if v.exists() {
            files.push(v);
        }
    }
    if files.is_empty() {
        eprintln!("dwarf_floor: no input (give ELF files, or run ../shared/bench/get-vmlinux.sh)");
        return;
    }
    for f in &files {
        bench(f);
    }
}
