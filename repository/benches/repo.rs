//! Repository benchmarks (plain timing harness; `cargo bench -p
//! profile-repository --bench repo`). Figures go in docs/bench/repo.md.
//!
//! 1. Lookup of one profile among 10,000 in a synthetic repository: by
//!    name, through a symlink, by GUID_AGE (inventory), by banner.
//! 2. Adding one profile to that repository (lock, write, inventory refresh).
//! 3. `build` of many sources with 1 and 2 worker threads.

use std::path::Path;
use std::time::{Duration, Instant};

use profile_repository::build::{self, BuildOptions, BuildSource, Built};
use profile_repository::{Location, Naming, Query, Repository, SearchPath};
use profile_runtime::{Descriptor, Field, Profile, StructDef, WriteMode};

fn profile(i: usize, structs: usize) -> Profile {
    let mut p = Profile::new();
    p.set_metadata("ProfileClass", "Ntkrnlmp");
    p.set_metadata("PDBFile", "ntkrnlmp.pdb");
    p.set_metadata("GUID_AGE", format!("{i:032X}1"));
    p.set_metadata("arch", "AMD64");
    for s in 0..structs {
        let mut d = StructDef {
            size: Some(24),
            ..Default::default()
        };
        for (f, off) in [("Flink", 0u64), ("Blink", 8), ("Value", 16)] {
            let descriptor = if f == "Value" {
                Descriptor::Named("unsigned long long".into())
            } else {
                Descriptor::Pointer {
                    target: Box::new(Descriptor::Named(format!("_S{s}"))),
                }
            };
            d.fields.insert(
                format!("{f}{s}"),
                Field {
                    offset: Some(off),
                    descriptor,
                },
            );
        }
        p.structs.insert(format!("_S{s}"), d);
        p.constants.insert(format!("Sym{s}"), 0x1000 + s as u64);
    }
    p
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    let mut v = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        std::hint::black_box(f());
        v.push(t.elapsed());
    }
    median(v)
}

fn lookup_bench(dir: &Path) {
    const N: usize = 10_000;
    let repo = Repository::create(dir.join("big")).unwrap();
    let t = Instant::now();
    {
        let w = repo.lock().unwrap();
        for i in 0..N {
            w.put_profile(&format!("nt/GUID/{i:032X}1"), &profile(i, 2), false)
                .unwrap();
        }
        w.put_profile(
            &format!("ntoskrnl.exe/AMD64/6.1.7601.17514/{:032X}1", 0xFFFF),
            &profile(0xFFFF, 2),
            false,
        )
        .unwrap();
        w.put_symlink("Win7SP1x64", &format!("nt/GUID/{:032X}1", 4242), false)
            .unwrap();
        let mut l = Profile::new();
        l.set_metadata("ProfileClass", "Linux");
        l.set_metadata("Banner", "Linux version 6.1.0-56-amd64 (gcc) #1 SMP");
        w.put_profile("Linux/6.1.0-56-amd64", &l, false).unwrap();
        w.commit().unwrap();
    }
    println!("create {N} profiles + inventory: {:.2?}", t.elapsed());
    let inv_size = std::fs::metadata(repo.root().join("inventory.gz"))
        .unwrap()
        .len();
    println!("inventory.gz: {inv_size} bytes");

    let sp = SearchPath::new(vec![Location::Local(repo.root().into())], None);
    let name = Query::Name(format!("nt/GUID/{:032X}1", 7777));
    let link = Query::Name("Win7SP1x64".into());
    let guid = Query::GuidAge(format!("{:032X}1", 9999));
    let readable = Query::GuidAge(format!("{:032X}1", 0xFFFF));
    let banner = Query::Banner("Linux version 6.1.0-56-amd64 (gcc) #1 SMP".into());
    for (what, q) in [
        ("by name", &name),
        ("by symlink", &link),
        ("by GUID_AGE (nt/GUID layout)", &guid),
        ("by GUID_AGE (readable layout, via the index)", &readable),
        ("by banner", &banner),
    ] {
        // Fresh SearchPath each time: a cold process would do the same work.
        let d = time(21, || {
            SearchPath::new(vec![Location::Local(repo.root().into())], None)
                .find(q)
                .unwrap()
        });
        println!("lookup {what} among {N}: median {d:.2?}");
    }
    let _ = sp;
    let mut k = 0;
    let d = time(5, || {
        k += 1;
        let w = repo.lock().unwrap();
        w.put_profile(&format!("extra/p{k}"), &profile(k, 2), false)
            .unwrap();
        w.commit().unwrap()
    });
    println!(
        "add one profile to a repository of {N} (lock + write + inventory refresh): median {d:.2?}"
    );
}

fn build_bench(dir: &Path) {
    const SOURCES: usize = 16;
    let src = dir.join("sources");
    std::fs::create_dir_all(&src).unwrap();
    let mut sources = Vec::new();
    for i in 0..SOURCES {
        let path = src.join(format!("s{i}.json"));
        profile(i, 15000).save(&path, WriteMode::Overwrite).unwrap();
        sources.push(BuildSource {
            key: format!("file:{}", path.display()),
            kind: "profile".into(),
            path: Some(path),
            pdb: None,
            guid: None,
            name: None,
            symlinks: Vec::new(),
            file_version: None,
        });
    }
    let bytes: u64 = sources
        .iter()
        .map(|s| std::fs::metadata(s.path.as_ref().unwrap()).unwrap().len())
        .sum();
    println!(
        "build: {SOURCES} profile sources, {} MB of JSON",
        bytes / 1_000_000
    );
    // Per source: from the start of its conversion to the end of its
    // storing (the progress report), to see whether two are in flight at once.
    let spans = std::sync::Mutex::new(std::collections::HashMap::<String, (f64, f64)>::new());
    let t0 = Instant::now();
    let compile = |s: &BuildSource| {
        let a = t0.elapsed().as_secs_f64();
        spans.lock().unwrap().insert(s.key.clone(), (a, a));
        Profile::load(s.path.as_ref().unwrap())
            .map(|profile| Built { profile, isf: None })
            .map_err(|e| e.into())
    };
    let progress = |r: &build::SourceResult| {
        if let Some(span) = spans.lock().unwrap().get_mut(&r.key) {
            span.1 = t0.elapsed().as_secs_f64();
        }
    };
    for jobs in [1, 2] {
        let repo = Repository::create(dir.join(format!("built{jobs}"))).unwrap();
        let opts = BuildOptions {
            layout: Naming::Rekall,
            jobs: Some(jobs),
            force: true,
        };
        spans.lock().unwrap().clear();
        let t = Instant::now();
        let cpu = cpu_seconds();
        let report = build::build(&repo, &sources, opts, &compile, &progress).unwrap();
        assert_eq!(report.counts().0, SOURCES);
        let wall = t.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu;
        println!(
            "build --jobs {jobs}: wall {wall:.2}s, CPU (user+sys) {cpu:.2}s, CPU/wall {:.2}",
            cpu / wall
        );
        // Independent of machine load: how much of the time had two sources
        // being converted and stored at once.
        let mut ev: Vec<(f64, i32)> = spans
            .lock()
            .unwrap()
            .values()
            .flat_map(|&(a, b)| [(a, 1), (b, -1)])
            .collect();
        ev.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
        let (mut n, mut last, mut busy, mut both) = (0, 0.0, 0.0, 0.0);
        for (t, d) in ev {
            if n >= 1 {
                busy += t - last;
            }
            if n >= 2 {
                both += t - last;
            }
            n += d;
            last = t;
        }
        println!(
            "  converting+storing: {busy:.2}s, of which two sources at once: {both:.2}s ({:.0}%)",
            100.0 * both / busy.max(1e-9)
        );
    }
    let repo = Repository::open(dir.join("built2")).unwrap();
    let opts = BuildOptions {
        layout: Naming::Rekall,
        jobs: Some(2),
        force: false,
    };
    let t = Instant::now();
    let report = build::build(&repo, &sources, opts, &compile, &|_| {}).unwrap();
    assert_eq!(report.counts().1, SOURCES);
    println!(
        "build again, nothing changed (hashing only): {:.2?}",
        t.elapsed()
    );
}

/// This process's user+system CPU time in seconds (Linux `/proc/self/stat`).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<i64> = rest
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here
    // (state is not numeric and was skipped).
    match (f.get(10), f.get(11)) {
        (Some(u), Some(s)) => (u + s) as f64 / 100.0, // USER_HZ is 100 on Linux
        _ => 0.0,
    }
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    if std::env::var_os("BENCH_BUILD_ONLY").is_none() {
        lookup_bench(dir.path());
    }
    build_bench(dir.path());
}
