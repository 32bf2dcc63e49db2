//! Opening a whole-kernel profile and reading one member offset, against
//! Python's `json.load(gzip.open(F))` on the same file, in the same run (a
//! bench script: `harness = false`, no timing assertions).
//!
//! ```text
//! PROFC_BENCH_PROFILE=/tmp/vmlinux.json.gz cargo bench -p profile-runtime --bench open_kernel
//! ```
//!
//! (`runtime/benches/open_vs_python.sh` makes the profile and runs this.)
//!
//! For the gzipped profile and a plain copy of it, prints min and median of
//! `RUNS` runs of:
//!
//! - `rust in-process`: `Session::open(F)` then `offset_of("task_struct",
//!   "pid")` (reads, inflates, scans, parses one struct);
//! - the stages of that open (read, inflate, UTF-8 check, scan);
//! - `rust process`: this bench binary started as a child that does the
//!   same and exits (process start-up included, as for Python);
//! - `python3 -c 'import gzip,json; json.load(gzip.open(F))'` as a process
//!   (the command of the target), and Python's own timing of the `json.load`
//!   alone (interpreter start-up excluded).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use profile_runtime::{read_maybe_gzip, LazyProfile, Session};

const RUNS: usize = 9;

fn stats(mut times: Vec<Duration>) -> (f64, f64) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    (ms(times[0]), ms(times[times.len() / 2]))
}

fn time(label: &str, mut f: impl FnMut() -> String) -> (f64, f64) {
    let mut times = Vec::with_capacity(RUNS);
    let mut check = String::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        check = std::hint::black_box(f());
        times.push(t.elapsed());
    }
    let (min, median) = stats(times);
    println!("  {label:<52} min {min:>8.1} ms  median {median:>8.1} ms  ({check})");
    (min, median)
}

fn open_and_read(path: &Path) -> String {
    let s = Session::open(path).expect("open");
    let off = s.offset_of("task_struct", "pid").expect("task_struct.pid");
    format!(
        "pid at {off}, {} of {} structs parsed",
        s.profile().parsed_struct_count(),
        s.profile().struct_count()
    )
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run child");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let path = PathBuf::from(&args[i + 1]);
        println!("{}", open_and_read(&path));
        return;
    }
    let gz = std::env::var_os("PROFC_BENCH_PROFILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/vmlinux.json.gz"));
    if !gz.is_file() {
        eprintln!(
            "SKIPPED: no profile at {} (set PROFC_BENCH_PROFILE; see runtime/benches/open_vs_python.sh)",
            gz.display()
        );
        return;
    }
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let dir = tempfile::tempdir().expect("temp dir");
    let plain = dir.path().join("vmlinux.json");
    let raw = std::fs::read(&gz).expect("read profile");
    let text = read_maybe_gzip(raw.clone(), "profile", u64::MAX).expect("inflate");
    std::fs::write(&plain, &text).expect("plain copy");
    let lazy = LazyProfile::open(&gz).expect("open");
    println!(
        "profile: {} ({} bytes gzipped, {} bytes of JSON, {} structs), {RUNS} runs each",
        gz.display(),
        raw.len(),
        text.len(),
        lazy.struct_count()
    );
    drop(lazy);
    let me = std::env::current_exe().expect("current exe");

    for (kind, path, py_open) in [
        ("gzip", &gz, "gzip.open(F)"),
        ("plain", &plain, "open(F, 'rb')"),
    ] {
        println!("{kind}:");
        let (rust_min, rust_med) =
            time("rust in-process: open + offset_of(task_struct.pid)", || {
                open_and_read(path)
            });
        let bytes = std::fs::read(path).expect("read");
        time("  stage: read file", || {
            std::fs::read(path).expect("read").len().to_string()
        });
        time("  stage: inflate (if gzip)", || {
            read_maybe_gzip(bytes.clone(), "p", u64::MAX)
                .expect("inflate")
                .len()
                .to_string()
        });
        time("  stage: UTF-8 check", || {
            std::str::from_utf8(&text)
                .map(str::len)
                .unwrap_or(0)
                .to_string()
        });
        time("  stage: LazyProfile::from_bytes (all of the open)", || {
            LazyProfile::from_bytes(bytes.clone(), "p")
                .expect("open")
                .struct_count()
                .to_string()
        });
        let (proc_min, proc_med) = time("rust process: the same, as a child process", || {
            run(Command::new(&me).arg("--child").arg(path))
        });
        // The target's command, with the file name passed as an argument.
        let script = format!(
            "import gzip,json,sys; json.load({})",
            py_open.replace('F', "sys.argv[1]")
        );
        let label = format!("python3 -c 'import gzip,json; json.load({py_open})'");
        let (py_min, py_med) = time(&label, || {
            run(Command::new(&python).arg("-c").arg(&script).arg(path));
            String::from("loaded")
        });
        let timed = format!(
            "import gzip,json,sys,time; t=time.perf_counter(); json.load({}); print(f'{{(time.perf_counter()-t)*1e3:.1f}}')",
            py_open.replace('F', "sys.argv[1]")
        );
        let mut inproc = Vec::new();
        for _ in 0..RUNS {
            let ms: f64 = run(Command::new(&python).arg("-c").arg(&timed).arg(path))
                .parse()
                .unwrap_or(f64::NAN);
            inproc.push(Duration::from_secs_f64(ms / 1e3));
        }
        let (pyi_min, pyi_med) = stats(inproc);
        println!(
            "  {:<52} min {pyi_min:>8.1} ms  median {pyi_med:>8.1} ms",
            "python json.load alone (timed inside python)"
        );
        println!(
            "  ratio python process / rust in-process: {:.1}x (min) {:.1}x (median)",
            py_min / rust_min,
            py_med / rust_med
        );
        println!(
            "  ratio python process / rust process:    {:.1}x (min) {:.1}x (median)",
            py_min / proc_min,
            py_med / proc_med
        );
        println!(
            "  ratio python json.load alone / rust in-process: {:.1}x (min) {:.1}x (median)",
            pyi_min / rust_min,
            pyi_med / rust_med
        );
    }
}
