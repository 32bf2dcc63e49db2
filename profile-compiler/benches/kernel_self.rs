//! Kernel-only profiles (issue 16): time from the inputs to a profile in
//! memory (IR, emitted profile, canonical JSON), for the three sources and
//! for the reference, the vmlinux file's own `.BTF`:
//!
//! * `vmlinuz`: the bzImage alone (target: under 2 s);
//! * `memory image`: a raw physical image (512 MiB guest; target: under 3 s);
//! * `live system`: /sys/kernel/btf/vmlinux + /proc/kallsyms (target: within
//!   1.5x of the -dbg vmlinux file's `.BTF` with its System.map, what
//!   `convert_profile vmlinux --converter btf --system-map System.map` does;
//!   `.BTF` alone, without symbols, is shown too).
//!
//!     cargo bench -p profile-compiler --bench kernel_self
//!
//! Inputs under `$PROFC_IMAGES` (default ~/.cache/profile-images; see
//! scripts/guest-files.sh). Figures go to docs/bench/kernel-only.md.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use profile_compiler::__private::{btf, kernel, system_map, vmlinuz};
use profile_compiler::ir::Ir;
use profile_compiler::{emit, EmitOptions};

/// The allocator `profc` uses (src/main.rs).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// (minimum, median) of `runs` timings of `f` after one warm-up run.
fn timings<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, Duration) {
    drop(f());
    let mut t: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            let out = f();
            let e = start.elapsed();
            drop(out);
            e
        })
        .collect();
    t.sort();
    (t[0], t[t.len() / 2])
}

/// IR -> profile -> canonical JSON bytes (what `profc` then writes).
fn to_json(ir: &Ir) -> usize {
    let p = emit(ir, EmitOptions::default()).profile;
    let mut out = Vec::with_capacity(64 << 20);
    p.write_canonical_json(&mut out).expect("json");
    out.len()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let images = std::env::var_os("PROFC_IMAGES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/profile-images")
        });
    let kdir = images.join("kernel/6.1.0-57-amd64");
    let idir = images.join("6.1.0-57-amd64-4level");
    let vmlinuz_path = kdir.join("vmlinuz");
    let vmlinux_path = kdir.join("vmlinux");
    let raw = idir.join("mem.raw");
    let btf_path = idir.join("guest/btf-vmlinux");
    let ks_path = idir.join("guest/kallsyms");
    for p in [&vmlinuz_path, &vmlinux_path, &raw, &btf_path, &ks_path] {
        if !p.exists() {
            println!("SKIPPED kernel_self bench: {} missing", p.display());
            return;
        }
    }
    let runs = 5;
    println!(
        "{:<28} {:>9} {:>9}   (ms, {runs} runs after a warm-up)",
        "", "min", "median"
    );
    let row = |name: &str, (min, med): (Duration, Duration)| {
        println!("{name:<28} {:>9.0} {:>9.0}", ms(min), ms(med));
        min
    };

    // vmlinuz: read the file, decompress, carve, build, emit, serialise.
    let t_vmlinuz = timings(runs, || {
        let data = std::fs::read(&vmlinuz_path).expect("read");
        let ir = kernel::from_vmlinuz(&data, &vmlinuz_path).expect("vmlinuz");
        to_json(&ir)
    });
    row("vmlinuz -> profile", t_vmlinuz);
    let data = std::fs::read(&vmlinuz_path).expect("read");
    row(
        "  of which decompression",
        timings(runs, || {
            vmlinuz::read_bytes(&data, &vmlinuz_path)
                .expect("xz")
                .data
                .len()
        }),
    );

    // Memory image (mapped), carved and built.
    let size = std::fs::metadata(&raw).map(|m| m.len() >> 20).unwrap_or(0);
    row(
        &format!("memory image ({size} MiB) -> profile"),
        timings(runs, || {
            let ir = kernel::from_memory_image(&raw).expect("image");
            to_json(&ir)
        }),
    );

    // Live system vs the vmlinux file's .BTF.
    let live = row(
        "live system -> profile",
        timings(runs, || {
            let b = std::fs::read(&btf_path).expect("btf");
            let k = std::fs::read(&ks_path).expect("kallsyms");
            let ir =
                kernel::from_live_system(&b, &btf_path, &k, &ks_path, None, None).expect("live");
            to_json(&ir)
        }),
    );
    let file = std::fs::File::open(&vmlinux_path).expect("vmlinux");
    // SAFETY: read-only map of a file nobody modifies during the bench.
    let map = unsafe { memmap2::Mmap::map(&file) }.expect("map");
    let map_path = kdir.join("System.map");
    // What `convert_profile vmlinux --converter btf --system-map System.map`
    // does: the same types and as many symbols.
    let reference = row(
        "vmlinux .BTF + System.map",
        timings(runs, || {
            let mut ir = btf::read_elf(&map, Path::new("vmlinux")).expect("btf");
            let syms = system_map::read_file(&map_path).expect("System.map");
            system_map::add_to_ir(&mut ir, &syms, false);
            to_json(black_box(&ir))
        }),
    );
    row(
        "vmlinux .BTF alone",
        timings(runs, || {
            let ir = btf::read_elf(&map, Path::new("vmlinux")).expect("btf");
            to_json(black_box(&ir))
        }),
    );
    println!(
        "live system / (vmlinux .BTF + System.map): {:.2}x (target <= 1.5x)",
        live.as_secs_f64() / reference.as_secs_f64()
    );
}
