//! `parse_pdb` speed: end to end (read the PDB, build the IR, emit the
//! profile, serialise it to canonical JSON and to gzip) against a floor that
//! only iterates every type record and every symbol record (global and
//! module streams) with pdb2.
//!
//!     cargo bench -p profile-compiler --bench parse_pdb [-- PDB...]
//!
//! Without arguments it measures `$PROFC_SHARED/fixtures/pdb/debugpy-1.8.22/
//! inject_dll_x86.pdb` (5.9 MB) when present, else the project's own
//! fixture. A plain timing harness (median of several runs) keeps the
//! dependency tree small; figures go to docs/bench/pdb.md.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pdb2::FallibleIterator;
use profile_compiler::__private::{emit_with, pdb, symbol_sections};
use profile_compiler::ir::Ir;
use profile_compiler::{emit, EmitOptions};
use profile_runtime::Profile;

/// The allocator `profc` uses (src/main.rs), for the floor and profc's code alike.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// (minimum, median) of `runs` timings of `f` (after one warm-up run). The
/// minimum is the figure to compare on a shared, busy machine. What `f`
/// returns is dropped after the clock stops.
fn median<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, Duration) {
    drop(f());
    let mut t: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            let out = f();
            let elapsed = start.elapsed();
            drop(out);
            elapsed
        })
        .collect();
    t.sort();
    (t[0], t[t.len() / 2])
}

/// Reads the file and walks every type record and every symbol record;
/// with `parse`, also decodes each with pdb2's `parse()` (a second
/// reference: what a reader built on pdb2's own decoding pays).
fn floor(path: &Path, parse: bool) -> usize {
    let bytes = std::fs::read(path).expect("read");
    let mut pdb = pdb2::PDB::open(std::io::Cursor::new(bytes)).expect("open");
    let mut n = 0;
    let tpi = pdb.type_information().expect("tpi");
    let mut it = tpi.iter();
    while let Some(t) = it.next().expect("type") {
        n += t.len();
        if parse {
            n += usize::from(t.parse().is_ok());
        }
    }
    let globals = pdb.global_symbols().expect("globals");
    let mut it = globals.iter();
    while let Some(s) = it.next().expect("symbol") {
        n += s.raw_bytes().len();
        if parse {
            n += usize::from(s.parse().is_ok());
        }
    }
    let dbi = pdb.debug_information().expect("dbi");
    let mut modules = dbi.modules().expect("modules");
    while let Some(m) = modules.next().expect("module") {
        if let Some(info) = pdb.module_info(&m).expect("module info") {
            let mut it = info.symbols().expect("symbols");
            while let Some(s) = it.next().expect("symbol") {
                n += s.raw_bytes().len();
                if parse {
                    n += usize::from(s.parse().is_ok());
                }
            }
        }
    }
    n
}

/// What `profc parse_pdb` does, minus process start-up and the file system:
/// read (the symbol sections built on the reader's symbol thread), emit,
/// serialise. Returns the output's size with the IR and the profile, which
/// the command never frees (it exits next and leaves them to the OS); the
/// caller decides whether freeing them is timed.
fn end_to_end(path: &Path, gzip: bool) -> (usize, (Ir, Profile)) {
    let (ir, symbols) =
        pdb::read_file_with(path, |symbols| symbol_sections(symbols, false)).expect("parse");
    let profile = emit_with(&ir, EmitOptions::default(), Some(symbols)).profile;
    let n = if gzip {
        let mut out = Vec::new();
        profile.write_canonical_gzip(&mut out).expect("gzip");
        out.len()
    } else {
        profile.to_canonical_json().len()
    };
    (n, (ir, profile))
}

fn main() {
    let mut inputs: Vec<PathBuf> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .map(PathBuf::from)
        .collect();
    if inputs.is_empty() {
        let shared = std::env::var_os("PROFC_SHARED")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")));
        let real = shared.join("fixtures/pdb/debugpy-1.8.22/inject_dll_x86.pdb");
        inputs.push(if real.exists() {
            real
        } else {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../tests/fixtures/pdb/fixture_x64.pdb"
            ))
        });
    }
    // `PROFC_BENCH_LOOP=read|emit|json|gzip` repeats one stage (for perf).
    if let Ok(stage) = std::env::var("PROFC_BENCH_LOOP") {
        let path = &inputs[0];
        let ir = pdb::read_file(path).expect("parse");
        for _ in 0..100 {
            match stage.as_str() {
                "read" => black_box(pdb::read_file(path).expect("parse").types.len()),
                "emit" => black_box(emit(&ir, EmitOptions::default()).profile.structs.len()),
                "floor" => black_box(floor(path, false)),
                other => black_box(end_to_end(path, other == "gzip").0),
            };
        }
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: then
    // one quick pass checks that the bench still works.
    let runs = if std::env::args().any(|a| a == "--bench") {
        25
    } else {
        1
    };
    for path in inputs {
        let f = median(runs, || {
            black_box(floor(&path, false));
        });
        let fp = median(runs, || {
            black_box(floor(&path, true));
        });
        let read = median(runs, || black_box(pdb::read_file(&path).expect("parse")));
        let ir = pdb::read_file(&path).expect("parse");
        let em = median(runs, || black_box(emit(&ir, EmitOptions::default())));
        let json = median(runs, || black_box(end_to_end(&path, false)));
        let json_freed = median(runs, || {
            black_box(end_to_end(&path, false).0);
        });
        let gz = median(runs, || black_box(end_to_end(&path, true)));
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let row = |what: &str, (min, med): (Duration, Duration)| {
            println!(
                "  {what:<44} min {:7.2} ms  median {:7.2} ms  (min {:.2}x floor)",
                ms(min),
                ms(med),
                ms(min) / ms(f.0)
            );
        };
        println!("{} ({runs} runs)", path.display());
        row("floor (pdb2: every type + symbol record)", f);
        row("floor + pdb2 parse() of every record", fp);
        row("read_file (PDB -> IR)", read);
        row("emit (IR -> profile model)", em);
        row("end to end, canonical JSON in memory", json);
        row("the same, freeing the IR and profile too", json_freed);
        row("end to end, canonical gzip in memory", gz);
    }
}
