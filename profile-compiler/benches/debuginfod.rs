//! debuginfod client download speed on loopback, against curl.
//!
//!     cargo bench -p profile-compiler --bench debuginfod -- [ELF] [RUNS]
//!
//! ELF (an ELF file with a build-id) defaults to the real Debian vmlinux in
//! `~/.cache/profile-bench/*/vmlinux` (633 MB; ../shared/bench/get-vmlinux.sh).
//! A directory laid out as a debuginfod server (`buildid/ID/debuginfo`, a
//! symbolic link to ELF) is served by `python3 -m http.server` on
//! 127.0.0.1; then, best of RUNS (default 5), each to a file on the same
//! disk:
//!
//! 1. `curl -s -o FILE URL`;
//! 2. the client (`Client::fetch` into an empty cache: the HTTP transfer to
//!    a temporary file, the build-id check, the rename).
//!
//! The peak resident memory of this process (VmHWM) is printed last: the
//! client streams, so it stays far below the file's size. Figures go to
//! docs/bench/fetch.md.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use profile_compiler::fetch::debuginfod::{Artifact, BuildId, Client, Options};

fn default_elf() -> Option<PathBuf> {
    let base = PathBuf::from(std::env::var_os("HOME")?).join(".cache/profile-bench");
    let mut v: Vec<PathBuf> = std::fs::read_dir(base)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("vmlinux")))
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v.into_iter().next()
}

fn build_id(path: &Path) -> BuildId {
    use object::Object;
    // Headers and notes only: the file is not read whole.
    let cache = object::ReadCache::new(std::fs::File::open(path).expect("open ELF"));
    let f = object::File::parse(&cache).expect("ELF");
    BuildId::from_bytes(f.build_id().expect("notes").expect("a build-id")).unwrap()
}

fn vm_hwm() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        })
        .unwrap_or_else(|| "?".into())
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let Some(elf) = args.first().map(PathBuf::from).or_else(default_elf) else {
        println!("SKIPPED bench debuginfod: no ELF given and no ~/.cache/profile-bench/*/vmlinux");
        return;
    };
    let runs: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(5);
    let elf = elf.canonicalize().expect("ELF path");
    let size = std::fs::metadata(&elf).unwrap().len();
    let id = build_id(&elf);
    let t = tempfile::tempdir().unwrap();
    let slot = t.path().join("srv/buildid").join(id.to_hex());
    std::fs::create_dir_all(&slot).unwrap();
    std::os::unix::fs::symlink(&elf, slot.join("debuginfo")).unwrap();
    let mut srv = Command::new("timeout")
        .args([
            "600",
            "python3",
            "-u",
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            "0",
        ])
        .current_dir(t.path().join("srv"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 -m http.server");
    let mut line = String::new();
    std::io::BufReader::new(srv.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line
        .split("port ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .expect("server port");
    let server = format!("http://127.0.0.1:{port}");
    let url = format!("{server}/buildid/{id}/debuginfo");
    println!(
        "{} ({size} bytes), build-id {id}, best of {runs}",
        elf.display()
    );

    let mut best_curl = Duration::MAX;
    let mut best_ours = Duration::MAX;
    for _ in 0..runs {
        let out = t.path().join("curl.out");
        let s = Instant::now();
        let st = Command::new("curl")
            .args(["-s", "--noproxy", "*", "-o"])
            .arg(&out)
            .arg(&url)
            .status()
            .expect("curl");
        best_curl = best_curl.min(s.elapsed());
        assert!(st.success());
        assert_eq!(std::fs::metadata(&out).unwrap().len(), size);
        std::fs::remove_file(&out).unwrap();

        let cache = t.path().join("cache");
        let client = Client::new(Options::new(vec![server.clone()], cache.clone())).unwrap();
        let s = Instant::now();
        let f = client
            .fetch(&id, Artifact::Debuginfo, &|_| {})
            .expect("fetch");
        best_ours = best_ours.min(s.elapsed());
        assert_eq!(f.size, size);
        make_writable(&cache);
        std::fs::remove_dir_all(&cache).unwrap();
    }
    let mb = |d: Duration| size as f64 / d.as_secs_f64() / 1e6;
    println!(
        "curl -o FILE:        {:.3} s  {:.0} MB/s",
        best_curl.as_secs_f64(),
        mb(best_curl)
    );
    println!(
        "Client::fetch:       {:.3} s  {:.0} MB/s",
        best_ours.as_secs_f64(),
        mb(best_ours)
    );
    println!(
        "ratio (ours / curl): {:.2}",
        best_ours.as_secs_f64() / best_curl.as_secs_f64()
    );
    println!("peak RSS of this process: {}", vm_hwm());
    let _ = srv.kill();
    let _ = srv.wait();
}

fn make_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            make_writable(&p);
        }
        let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700));
    }
}
