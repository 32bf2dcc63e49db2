//! Reading a kernel debug package in place, against dpkg-deb and tar.
//!
//!     cargo bench -p profile-compiler --bench package -- PACKAGE [RUNS]
//!
//! PACKAGE defaults to `~/.cache/profc-ci/linux-image-*-dbg_*.deb` (the
//! real Debian kernel debug package, ~850 MB; see
//! tests/tools/get-kernel-dbg.sh). Measured, best of RUNS (default 3):
//!
//! 1. `find_kernel` (vmlinux and System.map into memory; stops once both
//!    are read), with the default (multi-threaded) xz decoder and with one
//!    thread;
//! 2. the same through `dpkg-deb --fsys-tarfile PKG | tar -xO ./PATH >
//!    /dev/null` (what a user would type; tar reads the whole archive), and
//!    with `tar --occurrence=1` (stops at the member, as profc does);
//! 3. a whole pass (`members()`) against `dpkg-deb --fsys-tarfile PKG |
//!    tar -t > /dev/null`.
//!
//! Figures go to docs/bench/fetch.md. A plain timing harness keeps the
//! dependency tree small.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use profile_compiler::__private::package::{self, Limits, Select};

fn best<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        // One result alive at a time: peak memory is that of one run.
        drop(last.take());
        let s = Instant::now();
        let out = f();
        best = best.min(s.elapsed());
        last = Some(out);
    }
    (best, last.expect("at least one run"))
}

fn sh(cmd: &str) -> Duration {
    let s = Instant::now();
    let st = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .status()
        .expect("run sh");
    assert!(st.success(), "{cmd} failed");
    s.elapsed()
}

fn default_package() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("HOME")?).join(".cache/profc-ci");
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            let n = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            n.starts_with("linux-image-") && n.contains("-dbg_") && n.ends_with(".deb")
        })
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let Some(pkg) = args.first().map(PathBuf::from).or_else(default_package) else {
        println!("SKIPPED bench package: no package given and none in ~/.cache/profc-ci");
        return;
    };
    let runs: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(3);
    let size = std::fs::metadata(&pkg).expect("package").len();
    println!("package {} ({size} bytes), best of {runs}", pkg.display());
    let p = package::open(&pkg).expect("open");
    for threads in [0u32, 1] {
        let p = p.clone().with_limits(Limits {
            threads,
            ..Limits::default()
        });
        let (t, k) = best(runs, || {
            p.find_kernel(&Select::kernel()).expect("find_kernel")
        });
        let v = k.vmlinux.as_ref().expect("vmlinux");
        println!(
            "find_kernel (threads {}): {:.2} s  vmlinux {} ({} bytes), System.map {} bytes, {:.0} MB/s of vmlinux",
            if threads == 0 { "auto".to_owned() } else { threads.to_string() },
            t.as_secs_f64(),
            v.path,
            v.data.len(),
            k.system_map.as_ref().map_or(0, |m| m.data.len()),
            v.data.len() as f64 / t.as_secs_f64() / 1e6
        );
    }
    let k = p.find_kernel(&Select::kernel()).expect("find_kernel");
    let vpath = k.vmlinux.expect("vmlinux").path;
    let q = pkg.display();
    let t = (0..runs)
        .map(|_| {
            sh(&format!(
                "dpkg-deb --fsys-tarfile '{q}' | tar -xO './{vpath}' > /dev/null"
            ))
        })
        .min()
        .unwrap_or_default();
    println!(
        "dpkg-deb --fsys-tarfile | tar -xO ./{vpath}: {:.2} s",
        t.as_secs_f64()
    );
    let t = (0..runs)
        .map(|_| {
            sh(&format!(
                "dpkg-deb --fsys-tarfile '{q}' 2>/dev/null | tar --occurrence=1 -xO './{vpath}' > /dev/null"
            ))
        })
        .min()
        .unwrap_or_default();
    println!(
        "dpkg-deb --fsys-tarfile | tar --occurrence=1 -xO: {:.2} s",
        t.as_secs_f64()
    );
    let (t, m) = best(1, || p.members().expect("members"));
    println!(
        "members (whole pass): {:.2} s, {} entries",
        t.as_secs_f64(),
        m.len()
    );
    let t = sh(&format!(
        "dpkg-deb --fsys-tarfile '{q}' | tar -t > /dev/null"
    ));
    println!("dpkg-deb --fsys-tarfile | tar -t: {:.2} s", t.as_secs_f64());
}
