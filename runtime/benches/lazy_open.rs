//! Lazy versus full loading of a real profile (a bench script: `harness =
//! false`, no timing assertions).
//!
//! ```text
//! PROFC_SHARED=/work/shared cargo bench -p profile-runtime --bench lazy_open
//! ```
//!
//! For each of the plain and the gzipped Rekall Linux profile (4.9 MB JSON),
//! times (a) a full parse with `Profile::load` then reading the offset of
//! `task_struct.tasks`, and (b) `Session::open` (lazy) then reading
//! `task_struct.tasks.next` through an object; prints min and median of N runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use profile_runtime::{BufferSpace, Profile, Session, Space, WriteMode};

const RUNS: usize = 15;

fn shared() -> Option<PathBuf> {
    let p = std::env::var_os("PROFC_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    p.join("fixtures").is_dir().then_some(p)
}

fn time(label: &str, mut f: impl FnMut() -> u64) {
    let mut times: Vec<Duration> = Vec::with_capacity(RUNS);
    let mut check = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        check = std::hint::black_box(f());
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "{label:<44} min {:>8.2} ms  median {:>8.2} ms  (result {check})",
        times[0].as_secs_f64() * 1e3,
        times[RUNS / 2].as_secs_f64() * 1e3
    );
}

fn main() {
    let Some(shared) = shared() else {
        eprintln!("SKIPPED: set PROFC_SHARED to the shared folder");
        return;
    };
    let plain = shared.join("fixtures/rekall/Linux/6.1.0-56-amd64.dwarf4.rekall.json");
    let dir = tempfile::tempdir().expect("temp dir");
    let gz = dir.path().join("linux.gz");
    Profile::load(&plain)
        .expect("profile")
        .save(&gz, WriteMode::CreateNew)
        .expect("gz copy");
    let space: Space = Arc::new(BufferSpace::new(vec![0x11u8; 16 << 10]));
    println!(
        "profile: {} ({} bytes; gzipped copy {} bytes), {RUNS} runs each",
        plain.display(),
        std::fs::metadata(&plain).map(|m| m.len()).unwrap_or(0),
        std::fs::metadata(&gz).map(|m| m.len()).unwrap_or(0)
    );
    for (kind, path) in [("plain", &plain), ("gzip", &gz)] {
        time(
            &format!("{kind}: full parse + task_struct.tasks offset"),
            || {
                let p = Profile::load(path).expect("load");
                p.structs["task_struct"].fields["tasks"].offset.unwrap_or(0)
            },
        );
        time(
            &format!("{kind}: lazy open + read task_struct.tasks.next"),
            || {
                let s = Session::open(path).expect("open");
                let next = s
                    .object("task_struct", 0, &space)
                    .get("tasks.next")
                    .as_u64()
                    .unwrap_or(0);
                assert_eq!(s.profile().parsed_struct_count(), 2);
                next
            },
        );
    }
    let s = Session::open(&plain).expect("open");
    time("lazy session: 1000 reads of tasks.next", || {
        let mut acc = 0u64;
        for i in 0..1000u64 {
            acc = acc.wrapping_add(
                s.object("task_struct", i, &space)
                    .get("tasks.next")
                    .as_u64()
                    .unwrap_or(0),
            );
        }
        acc
    });
    time("lazy session: first symbol lookup (88k constants)", || {
        let s = Session::open(&plain).expect("open");
        s.constant("init_task").unwrap_or(0)
    });
}
