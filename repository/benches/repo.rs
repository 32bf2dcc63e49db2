//! Repository benchmarks (plain timing harness; `cargo bench -p
//! profile-repository --bench repo`). Figures go in docs/bench/repo.md.
//!
//! 1. Lookup of one profile among 10,000 in a synthetic repository: by
//!    name, through a symlink, by GUID_AGE (inventory), by banner.
//! 2. Adding one profile to that repository (lock, write, inventory refresh).
//! 3. `build` of many sources with 1 and 2 worker threads.

use std::path::Path;
use std::time::{Duration, Instant};

use profile_repository::build::{self, BuildOptions, Source, SourceKind};
use profile_repository::{Layout, Location, Query, Repository, SearchPath};
use profile_runtime::{Descriptor, Field, Profile, StructDef, WriteMode};

fn profile(i: usize, structs: usize) -> Profile {
    let mut p = Profile::new();
    p.set_metadata("ProfileClass", "Ntkrnlmp");
    p.set_metadata("PDBFile", "ntkrnlmp.pdb");
    p.set_metadata("GUID_AGE", format!("{i:032X}1"));
    p.set_metadata("arch", "AMD64");
    for s in 0..structs {
        let mut d = StructDef { size: Some(24), ..Default::default() };
        for (f, off) in [("Flink", 0u64), ("Blink", 8), ("Value", 16)] {
            let descriptor = if f == "Value" {
                Descriptor::Named("unsigned long long".into())
            } else {
                Descriptor::Pointer { target: Box::new(Descriptor::Named(format!("_S{s}"))) }
            };
            d.fields.insert(format!("{f}{s}"), Field { offset: Some(off), descriptor });
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
            w.put_profile(&format!("nt/GUID/{i:032X}1"), &profile(i, 2), false).unwrap();
        }
        w.put_profile(&format!("ntoskrnl.exe/AMD64/6.1.7601.17514/{:032X}1", 0xFFFF), &profile(0xFFFF, 2), false).unwrap();
        w.put_symlink("Win7SP1x64", &format!("nt/GUID/{:032X}1", 4242), false).unwrap();
        let mut l = Profile::new();
        l.set_metadata("ProfileClass", "Linux");
        l.set_metadata("Banner", "Linux version 6.1.0-56-amd64 (gcc) #1 SMP");
        w.put_profile("Linux/6.1.0-56-amd64", &l, false).unwrap();
        w.commit().unwrap();
    }
    println!("create {N} profiles + inventory: {:.2?}", t.elapsed());
    let inv_size = std::fs::metadata(repo.root().join("inventory.gz")).unwrap().len();
    println!("inventory.gz: {inv_size} bytes");

    let sp = SearchPath::new(vec![Location::Local(repo.root().into())], None);
    let name = Query::Name(format!("nt/GUID/{:032X}1", 7777));
    let link = Query::Name("Win7SP1x64".into());
    let guid = Query::GuidAge(format!("{:032X}1", 9999));
    let readable = Query::GuidAge(format!("{:032X}1", 0xFFFF));
    let banner = Query::Banner("Linux version 6.1.0-56-amd64 (gcc) #1 SMP".into());
    for (what, q) in [("by name", &name), ("by symlink", &link), ("by GUID_AGE (nt/GUID layout)", &guid), ("by GUID_AGE (readable layout, via the index)", &readable), ("by banner", &banner)] {
        // Fresh SearchPath each time: a cold process would do the same work.
        let d = time(21, || SearchPath::new(vec![Location::Local(repo.root().into())], None).find(q).unwrap());
        println!("lookup {what} among {N}: median {d:.2?}");
    }
    let _ = sp;
    let mut k = 0;
    let d = time(5, || {
        k += 1;
        let w = repo.lock().unwrap();
        w.put_profile(&format!("extra/p{k}"), &profile(k, 2), false).unwrap();
        w.commit().unwrap()
    });
    println!("add one profile to a repository of {N} (lock + write + inventory refresh): median {d:.2?}");
}

fn build_bench(dir: &Path) {
    const SOURCES: usize = 48;
    let src = dir.join("sources");
    std::fs::create_dir_all(&src).unwrap();
    let mut sources = Vec::new();
    for i in 0..SOURCES {
        let path = src.join(format!("s{i}.json"));
        profile(i, 1500).save(&path, WriteMode::Overwrite).unwrap();
        sources.push(Source {
            key: format!("file:{}", path.display()),
            kind: SourceKind::Profile,
            path: Some(path),
            pdb: None,
            guid: None,
            name: None,
            symlinks: Vec::new(),
            file_version: None,
        });
    }
    let bytes: u64 = sources.iter().map(|s| std::fs::metadata(s.path.as_ref().unwrap()).unwrap().len()).sum();
    println!("build: {SOURCES} profile sources, {} MB of JSON", bytes / 1_000_000);
    let compile = |s: &Source| Profile::load(s.path.as_ref().unwrap()).map_err(|e| e.to_string());
    for jobs in [1, 2] {
        let repo = Repository::create(dir.join(format!("built{jobs}"))).unwrap();
        let opts = BuildOptions { layout: Layout::Rekall, jobs: Some(jobs), force: true };
        let t = Instant::now();
        let report = build::build(&repo, &sources, opts, &compile, &|_| {}).unwrap();
        assert_eq!(report.counts().0, SOURCES);
        println!("build --jobs {jobs}: {:.2?}", t.elapsed());
    }
    let repo = Repository::open(dir.join("built2")).unwrap();
    let opts = BuildOptions { layout: Layout::Rekall, jobs: Some(2), force: false };
    let t = Instant::now();
    let report = build::build(&repo, &sources, opts, &compile, &|_| {}).unwrap();
    assert_eq!(report.counts().1, SOURCES);
    println!("build again, nothing changed (hashing only): {:.2?}", t.elapsed());
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    lookup_bench(dir.path());
    build_bench(dir.path());
}
