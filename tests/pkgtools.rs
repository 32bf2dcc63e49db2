//! Helpers of the package and debuginfod tests: real fixtures, real
//! packages built with the distributions' own tools, skips that fail in CI.
#![allow(dead_code)]

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::support;

/// Whether CI=true (or 1): missing tools and data fail instead of skipping.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Prints `SKIPPED test: why` on the real stderr (not captured), or panics
/// in CI.
pub fn skip(test: &str, why: &str) {
    if in_ci() {
        panic!("{test}: {why}, and CI=true requires it");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// Whether `tool` is on the PATH.
pub fn have(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// True when every tool is present; otherwise skips (or fails in CI)
/// naming the Debian package that has it.
pub fn require(test: &str, tools: &[(&str, &str)]) -> bool {
    for (tool, package) in tools {
        if !have(tool) {
            skip(
                test,
                &format!("{tool} not found (Debian package {package})"),
            );
            return false;
        }
    }
    true
}

/// Real files from the shared fixtures: a kernel module of Debian's
/// 6.1.0-56-amd64 with DWARF and a build-id (`module_dwarf.ko`, built by
/// Volatility's dwarf2json recipe), and that kernel's real System.map and
/// config.
pub struct Fixtures {
    /// `module_dwarf.ko`.
    pub module: Vec<u8>,
    /// `System.map-6.1.0-56-amd64`.
    pub system_map: Vec<u8>,
    /// `config-6.1.0-56-amd64`.
    pub config: Vec<u8>,
}

/// The release the fixtures come from.
pub const FIXTURE_RELEASE: &str = "6.1.0-56-amd64";

/// Loads [`Fixtures`] from `../shared` (skips when absent).
pub fn fixtures(test: &str) -> Option<Fixtures> {
    let shared = support::shared(test)?;
    let zip = shared.join("fixtures/linux/6.1.0-56-amd64.zip");
    let mut z = zip::ZipArchive::new(std::fs::File::open(&zip).expect("open the fixture zip"))
        .expect("zip");
    let mut read = |name: &str| {
        let mut v = Vec::new();
        z.by_name(name).expect(name).read_to_end(&mut v).unwrap();
        v
    };
    Some(Fixtures {
        module: read("module_dwarf.ko"),
        system_map: read("boot/System.map-6.1.0-56-amd64"),
        config: read("boot/config-6.1.0-56-amd64"),
    })
}

/// The GNU build-id of ELF bytes, in hexadecimal.
pub fn build_id_hex(elf: &[u8]) -> String {
    use object::Object;
    let f = object::File::parse(elf).expect("ELF");
    f.build_id()
        .expect("notes")
        .expect("a build-id note")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Lays `files` (path relative to `/`, bytes) out under `root/`, with a
/// DEBIAN/control, and builds `out` with `dpkg-deb --build -Z comp`.
pub fn build_deb(root: &Path, name: &str, files: &[(&str, &[u8])], comp: &str, out: &Path) {
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::write(
        root.join("DEBIAN/control"),
        format!(
            "Package: {name}\nVersion: 1.0-1\nArchitecture: amd64\nMaintainer: profc tests <profc@localhost>\nDescription: test package for profc\n"
        ),
    )
    .unwrap();
    for (p, data) in files {
        let dest = root.join(p);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(&dest, data).unwrap();
    }
    let st = Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Z", comp, "--build"])
        .arg(root)
        .arg(out)
        .stdout(Stdio::null())
        .status()
        .expect("run dpkg-deb");
    assert!(st.success(), "dpkg-deb --build failed");
}

/// SHA-256 of bytes, in hexadecimal.
pub fn sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// SHA-256 of the standard output of `sh -c cmd` (streamed, not kept).
pub fn sha256_of_command(cmd: &str) -> (String, u64) {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdout(Stdio::piped())
        .spawn()
        .expect("run sh");
    let mut out = child.stdout.take().unwrap();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = out.read(&mut buf).unwrap();
        if k == 0 {
            break;
        }
        n += k as u64;
        h.update(&buf[..k]);
    }
    let _ = child.wait();
    (h.finalize().iter().map(|b| format!("{b:02x}")).collect(), n)
}

/// The real Debian kernel debug package: `$PROFC_KERNEL_DBG_DEB`, else the
/// first `linux-image-*-dbg_*.deb` in `~/.cache/profc-ci` (fetched by
/// tests/tools/get-kernel-dbg.sh). Skips (fails in CI) when absent.
pub fn kernel_dbg_deb(test: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PROFC_KERNEL_DBG_DEB") {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Some(p);
        }
    }
    let dir = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/profc-ci"));
    let found = dir.and_then(|d| {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let n = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                n.starts_with("linux-image-") && n.contains("-dbg_") && n.ends_with(".deb")
            })
            .collect();
        v.sort();
        v.pop()
    });
    if found.is_none() {
        skip(
            test,
            "the real kernel debug package is not in ~/.cache/profc-ci (run tests/tools/get-kernel-dbg.sh, or set PROFC_KERNEL_DBG_DEB)",
        );
    }
    found
}

/// Files left in `dir` (recursively), for checks that nothing partial
/// stays behind.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// A real debuginfod on 127.0.0.1, indexing `scan` (.deb files).
pub struct Debuginfod {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A GET of `path` from 127.0.0.1:`port` with a short timeout (HTTP/1.0,
/// std only): (status, body).
fn get(port: u16, path: &str) -> Option<(u16, Vec<u8>)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut all = Vec::new();
    s.read_to_end(&mut all).ok()?;
    let split = all.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&all[..split]).into_owned();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, all[split + 4..].to_vec()))
}

impl Debuginfod {
    /// Starts debuginfod over `scan` and waits until its first scan is done
    /// (within `index_time`).
    pub fn start(work: &Path, scan: &Path, index_time: Duration) -> Debuginfod {
        Self::start_with(work, scan, index_time, &[])
    }

    /// [`start`](Self::start) with more options (`-L`: follow symbolic
    /// links).
    pub fn start_with(work: &Path, scan: &Path, index_time: Duration, more: &[&str]) -> Debuginfod {
        for _ in 0..3 {
            let port = free_port();
            let log = work.join(format!("debuginfod-{port}.log"));
            let child = Command::new("timeout")
                .args(["-s", "KILL", "900", "debuginfod"])
                .args(["-p", &port.to_string()])
                .arg("-d")
                .arg(work.join(format!("index-{port}.sqlite")))
                .args(["-U", "-t", "0", "-g", "0", "-v"])
                .args(more)
                .arg(scan)
                // No federation: debuginfod would ask $DEBUGINFOD_URLS.
                .env_remove("DEBUGINFOD_URLS")
                .env("HOME", work)
                .env("TMPDIR", work)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .expect("start debuginfod");
            let mut s = Debuginfod { child, port, log };
            if s.wait_ready(index_time) {
                return s;
            }
            eprintln!(
                "debuginfod on port {port} did not come up:\n{}",
                s.log_text()
            );
        }
        panic!("debuginfod did not start");
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn metric(text: &str, name: &str) -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
            .map(|v| v as u64)
    }

    /// Up, and done with its first traversal and every scan it queued.
    fn wait_ready(&mut self, within: Duration) -> bool {
        let end = Instant::now() + within;
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Some((200, body)) = get(self.port, "/metrics") {
                let t = String::from_utf8_lossy(&body);
                let m = |n| Self::metric(&t, n);
                if m("thread_work_total{role=\"traverse\"}").unwrap_or(0) >= 1
                    && m("thread_busy{role=\"traverse\"}") == Some(0)
                    // Not reported before anything was queued.
                    && m("thread_work_pending{role=\"scan\"}").unwrap_or(0) == 0
                    && m("thread_busy{role=\"scan\"}") == Some(0)
                {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        false
    }
}

impl Drop for Debuginfod {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
