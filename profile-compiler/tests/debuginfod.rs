//! The debuginfod client (`fetch::debuginfod`) against a REAL debuginfod
//! (elfutils', Debian package `debuginfod`) started here on 127.0.0.1,
//! indexing real Debian packages built with `dpkg-deb` around real ELF
//! files: the debug kernel module of ../shared (DWARF, build-id) and
//! `/usr/bin/dpkg-deb` itself (an executable with a build-id). Fault modes
//! go through a small proxy in this file, in front of the real server.
//!
//! Every server stops by itself: debuginfod runs under `timeout`, and is
//! killed when its test ends; the proxy accepts a bounded number of
//! connections within a bounded time. Nothing but 127.0.0.1 is contacted.
//!
//! Needs debuginfod and debuginfod-find (package debuginfod), dpkg-deb
//! (dpkg), timeout (coreutils); without them a test prints `SKIPPED ...`,
//! with CI=true it fails.

#[path = "../../tests/support.rs"]
mod support;

#[path = "../../tests/pkgtools.rs"]
mod pkgtools;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pkgtools::{build_deb, files_under, fixtures, free_port, require, sha256, Debuginfod};
use profile_compiler::fetch::debuginfod::{
    Answer, Artifact, BuildId, Client, DebuginfodError, Options, Origin, Progress,
};

const TOOLS: &[(&str, &str)] = &[
    ("debuginfod", "debuginfod"),
    // debuginfod reads .deb archives with bsdtar.
    ("bsdtar", "libarchive-tools"),
    ("dpkg-deb", "dpkg"),
    ("timeout", "coreutils"),
];

/// The test packages: the debug module (debuginfo) and dpkg-deb (an
/// executable), each in a .deb of its own, in `work/debs`.
struct Packages {
    module: Vec<u8>,
    module_id: BuildId,
    exe: Vec<u8>,
    exe_id: BuildId,
    debs: PathBuf,
}

fn packages(test: &str, work: &Path) -> Option<Packages> {
    let fx = fixtures(test)?;
    let exe_path = Path::new("/usr/bin/dpkg-deb");
    let exe = std::fs::read(exe_path).expect("read /usr/bin/dpkg-deb");
    let debs = work.join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    let module_id = BuildId::from_hex(&pkgtools::build_id_hex(&fx.module)).unwrap();
    let exe_id = BuildId::from_hex(&pkgtools::build_id_hex(&exe)).unwrap();
    let dbg_path = format!(
        "usr/lib/debug/.build-id/{}/{}.debug",
        &module_id.to_hex()[..2],
        &module_id.to_hex()[2..]
    );
    build_deb(
        &work.join("root-dbg"),
        "profc-test-dbgsym",
        &[(dbg_path.as_str(), &fx.module)],
        "xz",
        &debs.join("profc-test-dbgsym_1.0-1_amd64.deb"),
    );
    build_deb(
        &work.join("root-exe"),
        "profc-test-exe",
        &[("usr/bin/profc-test-tool", &exe)],
        "zstd",
        &debs.join("profc-test-exe_1.0-1_amd64.deb"),
    );
    Some(Packages {
        module: fx.module,
        module_id,
        exe,
        exe_id,
        debs,
    })
}

fn opts(servers: Vec<String>, cache: &Path) -> Options {
    let mut o = Options::new(servers, cache.to_owned());
    o.timeout = Some(Duration::from_secs(3));
    o.backoff = Duration::from_millis(50);
    o
}

fn quiet(_: Progress<'_>) {}

/// What the cache holds, relative to it.
fn cache_listing(cache: &Path) -> Vec<String> {
    files_under(cache)
        .iter()
        .map(|p| p.strip_prefix(cache).unwrap().display().to_string())
        .collect()
}

#[test]
fn fetches_from_a_real_debuginfod() {
    let test = "fetches_from_a_real_debuginfod";
    if !require(test, TOOLS) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let Some(pk) = packages(test, work.path()) else {
        return;
    };
    let srv = Debuginfod::start(work.path(), &pk.debs, Duration::from_secs(60));
    let cache = work.path().join("cache");

    // debuginfo by build-id: the bytes of the original file, at
    // CACHE/ID/debuginfo, read-only, nothing else left.
    let seen = Mutex::new(Vec::new());
    let client = Client::new(opts(vec![srv.url()], &cache)).unwrap();
    let f = client
        .fetch(&pk.module_id, Artifact::Debuginfo, &|p| {
            if let Progress::Download {
                received, total, ..
            } = p
            {
                seen.lock().unwrap().push((received, total));
            }
        })
        .unwrap();
    assert_eq!(
        f.origin,
        Origin::Server(format!("{}/buildid/{}/debuginfo", srv.url(), pk.module_id))
    );
    assert_eq!(f.path, cache.join(pk.module_id.to_hex()).join("debuginfo"));
    assert_eq!(sha256(&std::fs::read(&f.path).unwrap()), sha256(&pk.module));
    assert_eq!(f.size, pk.module.len() as u64);
    assert!(f.failed.is_empty());
    assert!(
        f.archive
            .as_deref()
            .unwrap()
            .ends_with("profc-test-dbgsym_1.0-1_amd64.deb"),
        "{:?}",
        f.archive
    );
    let seen = seen.into_inner().unwrap();
    assert_eq!(
        seen.last().copied(),
        Some((pk.module.len() as u64, Some(pk.module.len() as u64)))
    );
    assert_eq!(
        cache_listing(&cache),
        vec![format!("{}/debuginfo", pk.module_id)]
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&f.path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o400);
        let mode = std::fs::metadata(f.path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o700);
    }

    // The second time it comes from the cache, with no server at all.
    let f2 = Client::new(opts(vec![], &cache))
        .unwrap()
        .fetch(&pk.module_id, Artifact::Debuginfo, &quiet)
        .unwrap();
    assert_eq!(f2.origin, Origin::Cache);
    assert_eq!(f2.path, f.path);

    // executable, with a copy to an output file.
    let out = work.path().join("out/tool");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let mut o = opts(vec![srv.url()], &cache);
    o.output = Some(out.clone());
    let f = Client::new(o)
        .unwrap()
        .fetch(&pk.exe_id, Artifact::Executable, &quiet)
        .unwrap();
    assert_eq!(f.output.as_deref(), Some(out.as_path()));
    assert_eq!(std::fs::read(&out).unwrap(), pk.exe);
    assert_eq!(
        std::fs::read(cache.join(pk.exe_id.to_hex()).join("executable")).unwrap(),
        pk.exe
    );
    assert_eq!(
        files_under(out.parent().unwrap()),
        vec![out.clone()],
        "no temporary file left"
    );
    // The module is no executable (ET_REL): the server says 404.
    let e = client
        .fetch(&pk.module_id, Artifact::Executable, &quiet)
        .unwrap_err();
    assert!(e.to_string().contains("HTTP 404"), "{e}");

    // A build-id nobody has: the error lists each server and its answer.
    let unknown = BuildId::from_hex("00112233445566778899aabbccddeeff00112233").unwrap();
    let dead = format!("http://127.0.0.1:{}", free_port());
    let before = cache_listing(&cache);
    let e = Client::new(opts(vec![srv.url(), dead.clone()], &cache))
        .unwrap()
        .fetch(&unknown, Artifact::Debuginfo, &quiet)
        .unwrap_err();
    let DebuginfodError::NotFound { ref attempts, .. } = e else {
        panic!("{e}")
    };
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].server, srv.url());
    assert_eq!(attempts[0].answer, Answer::NotFound { status: Some(404) });
    assert!(
        matches!(attempts[1].answer, Answer::Network(ref m) if m.contains("cannot connect")),
        "{e}"
    );
    assert_eq!(
        attempts[1].tries, 3,
        "a network failure is retried (retry limit 2)"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("no server has the debuginfo of build-id 00112233") && msg.contains(&dead),
        "{msg}"
    );
    assert_eq!(
        cache_listing(&cache),
        before,
        "a miss leaves nothing in the cache"
    );

    // Two servers, the first a real debuginfod without the file (404).
    let empty = work.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let srv0 = Debuginfod::start(work.path(), &empty, Duration::from_secs(60));
    let cache2 = work.path().join("cache2");
    let f = Client::new(opts(vec![srv0.url(), srv.url()], &cache2))
        .unwrap()
        .fetch(&pk.module_id, Artifact::Debuginfo, &quiet)
        .unwrap();
    assert_eq!(std::fs::read(&f.path).unwrap(), pk.module);
    assert_eq!(f.failed.len(), 1);
    assert_eq!(f.failed[0].server, srv0.url());
    assert_eq!(f.failed[0].answer, Answer::NotFound { status: Some(404) });

    // The size cap, sent as X-DEBUGINFOD-MAXSIZE: debuginfod answers 406.
    let mut o = opts(vec![srv.url()], &work.path().join("cache3"));
    o.max_size = 1000;
    let e = Client::new(o)
        .unwrap()
        .fetch(&pk.module_id, Artifact::Debuginfo, &quiet)
        .unwrap_err();
    assert!(e.to_string().contains("over the size cap of 1000"), "{e}");
    assert!(files_under(&work.path().join("cache3")).is_empty());
}

/// The cache is elfutils': debuginfod-find finds what this client fetched,
/// and this client finds what debuginfod-find fetched.
#[test]
fn shares_the_cache_with_elfutils() {
    let test = "shares_the_cache_with_elfutils";
    if !require(test, TOOLS) || !require(test, &[("debuginfod-find", "debuginfod")]) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let Some(pk) = packages(test, work.path()) else {
        return;
    };
    let srv = Debuginfod::start(work.path(), &pk.debs, Duration::from_secs(60));
    let find = |cache: &Path, urls: &str, id: &BuildId| {
        Command::new("debuginfod-find")
            .args(["debuginfo", &id.to_hex()])
            .env("DEBUGINFOD_CACHE_PATH", cache)
            .env("DEBUGINFOD_URLS", urls)
            .env("HOME", work.path())
            .env_remove("DEBUGINFOD_PROGRESS")
            .env_remove("DEBUGINFOD_VERBOSE")
            .output()
            .expect("run debuginfod-find")
    };
    // Ours first; debuginfod-find then asks a dead server and still finds
    // the file in the cache.
    let cache = work.path().join("ours");
    let f = Client::new(opts(vec![srv.url()], &cache))
        .unwrap()
        .fetch(&pk.module_id, Artifact::Debuginfo, &quiet)
        .unwrap();
    let dead = format!("http://127.0.0.1:{}", free_port());
    let out = find(&cache, &dead, &pk.module_id);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        f.path.display().to_string()
    );
    // Theirs first; ours finds it with no server.
    let cache = work.path().join("theirs");
    let out = find(&cache, &srv.url(), &pk.module_id);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let f = Client::new(opts(vec![], &cache))
        .unwrap()
        .fetch(&pk.module_id, Artifact::Debuginfo, &quiet)
        .unwrap();
    assert_eq!(f.origin, Origin::Cache);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        f.path.display().to_string()
    );
    assert_eq!(std::fs::read(&f.path).unwrap(), pk.module);
}

/// What the proxy does with one request.
#[derive(Clone)]
enum Mode {
    /// Relay the real server's answer.
    Forward,
    /// Answer with this status and no body.
    Status(u16),
    /// Relay the head and half the body, then close.
    DropMidBody,
    /// Relay the head and 100 bytes, then send nothing for this long.
    Stall(Duration),
    /// Relay the head, then one byte every 50 ms for this long.
    Trickle(Duration),
    /// Answer 200 with these bytes.
    Serve(Arc<Vec<u8>>),
}

struct Proxy {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Proxy {
    /// A proxy before `upstream` (host:port) following `script` (the last
    /// mode repeats). At most 40 connections, for at most 120 s.
    fn start(upstream: u16, script: Vec<Mode>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (requests.clone(), stop.clone());
        let handle = std::thread::spawn(move || {
            let end = Instant::now() + Duration::from_secs(120);
            let mut n = 0usize;
            while n < 40 && Instant::now() < end && !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let mode = script[n.min(script.len() - 1)].clone();
                        n += 1;
                        let _ = serve(conn, upstream, mode, &r, &s);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Proxy {
            port,
            requests,
            stop,
            handle: Some(handle),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn hits(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The real server's answer to `GET path`: (status line, X-DEBUGINFOD
/// headers, body).
fn upstream_get(port: u16, path: &str) -> std::io::Result<(String, Vec<String>, Vec<u8>)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut all = Vec::new();
    s.read_to_end(&mut all)?;
    let split = memchr::memmem::find(&all, b"\r\n\r\n").unwrap_or(all.len());
    let head = String::from_utf8_lossy(&all[..split]).into_owned();
    let body = all.get(split + 4..).unwrap_or_default().to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap_or("HTTP/1.1 502 Bad Gateway")
        .to_owned();
    let extra = lines
        .filter(|l| l.to_ascii_lowercase().starts_with("x-debuginfod"))
        .map(str::to_owned)
        .collect();
    Ok((status, extra, body))
}

fn serve(
    conn: TcpStream,
    upstream: u16,
    mode: Mode,
    requests: &Mutex<Vec<String>>,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
    }
    requests.lock().unwrap().push(path.clone());
    let mut w = conn;
    let head = |status: &str, extra: &[String], len: usize| {
        let mut h = format!("{status}\r\nContent-Length: {len}\r\nConnection: close\r\n");
        for x in extra {
            h.push_str(x);
            h.push_str("\r\n");
        }
        h.push_str("\r\n");
        h
    };
    match mode {
        Mode::Status(code) => {
            write!(w, "{}", head(&format!("HTTP/1.1 {code} Scripted"), &[], 0))?;
        }
        Mode::Serve(bytes) => {
            write!(w, "{}", head("HTTP/1.1 200 OK", &[], bytes.len()))?;
            w.write_all(&bytes)?;
        }
        Mode::Forward => {
            let (status, extra, body) = upstream_get(upstream, &path)?;
            write!(w, "{}", head(&status, &extra, body.len()))?;
            w.write_all(&body)?;
        }
        Mode::DropMidBody => {
            let (status, extra, body) = upstream_get(upstream, &path)?;
            write!(w, "{}", head(&status, &extra, body.len()))?;
            w.write_all(&body[..body.len() / 2])?;
        }
        Mode::Stall(d) => {
            let (status, extra, body) = upstream_get(upstream, &path)?;
            write!(w, "{}", head(&status, &extra, body.len()))?;
            w.write_all(&body[..100.min(body.len())])?;
            w.flush()?;
            let end = Instant::now() + d;
            while Instant::now() < end && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Mode::Trickle(d) => {
            let (status, extra, body) = upstream_get(upstream, &path)?;
            write!(w, "{}", head(&status, &extra, body.len()))?;
            let end = Instant::now() + d;
            let mut i = 0;
            while Instant::now() < end && i < body.len() && !stop.load(Ordering::Relaxed) {
                w.write_all(&body[i..i + 1])?;
                w.flush()?;
                i += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    w.flush()?;
    let _ = w.shutdown(std::net::Shutdown::Both);
    Ok(())
}

#[test]
fn fault_modes_never_leave_partial_files() {
    let test = "fault_modes_never_leave_partial_files";
    if !require(test, TOOLS) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let Some(pk) = packages(test, work.path()) else {
        return;
    };
    let srv = Debuginfod::start(work.path(), &pk.debs, Duration::from_secs(60));
    let id = &pk.module_id;
    let fetch = |servers: Vec<String>, cache: &Path| {
        Client::new(opts(servers, cache))
            .unwrap()
            .fetch(id, Artifact::Debuginfo, &quiet)
    };
    let want = sha256(&pk.module);
    let mut n = 0;
    let mut fresh = || {
        n += 1;
        work.path().join(format!("cache-{n}"))
    };

    // 500, then success: retried with back-off, the file arrives whole.
    let p = Proxy::start(srv.port, vec![Mode::Status(500), Mode::Forward]);
    let cache = fresh();
    let retries = Mutex::new(0);
    let f = Client::new(opts(vec![p.url()], &cache))
        .unwrap()
        .fetch(id, Artifact::Debuginfo, &|pr| {
            if let Progress::Retry { cause, .. } = pr {
                assert!(cause.to_string().contains("HTTP 500"), "{cause}");
                *retries.lock().unwrap() += 1;
            }
        })
        .unwrap();
    assert_eq!(sha256(&std::fs::read(&f.path).unwrap()), want);
    assert_eq!((p.hits(), *retries.lock().unwrap()), (2, 1));
    assert_eq!(cache_listing(&cache).len(), 1);

    // 500 every time: given up after the retry limit, nothing left.
    let p = Proxy::start(srv.port, vec![Mode::Status(503)]);
    let cache = fresh();
    let e = fetch(vec![p.url()], &cache).unwrap_err();
    assert!(
        e.to_string().contains("HTTP 503") && e.to_string().contains("after 3 tries"),
        "{e}"
    );
    assert_eq!(p.hits(), 3);
    assert!(files_under(&cache).is_empty(), "{:?}", files_under(&cache));
    assert!(
        !cache.join(id.to_hex()).exists(),
        "the empty ID directory is removed"
    );

    // A connection dropped mid-body, every time: an error, no partial file.
    let p = Proxy::start(srv.port, vec![Mode::DropMidBody]);
    let cache = fresh();
    let e = fetch(vec![p.url()], &cache).unwrap_err();
    let DebuginfodError::NotFound { ref attempts, .. } = e else {
        panic!("{e}")
    };
    assert!(
        matches!(attempts[0].answer, Answer::Network(ref m) if m.contains("transfer broken")),
        "{e}"
    );
    assert!(files_under(&cache).is_empty(), "{:?}", files_under(&cache));
    // ... once, then whole.
    let p = Proxy::start(srv.port, vec![Mode::DropMidBody, Mode::Forward]);
    let cache = fresh();
    let f = fetch(vec![p.url()], &cache).unwrap();
    assert_eq!(sha256(&std::fs::read(&f.path).unwrap()), want);
    assert_eq!(cache_listing(&cache).len(), 1);

    // A server that stalls past the timeout (1 s): given up, nothing left.
    let p = Proxy::start(srv.port, vec![Mode::Stall(Duration::from_secs(4))]);
    let cache = fresh();
    let mut o = opts(vec![p.url()], &cache);
    o.timeout = Some(Duration::from_secs(1));
    o.retries = 0;
    let t = Instant::now();
    let e = Client::new(o)
        .unwrap()
        .fetch(id, Artifact::Debuginfo, &quiet)
        .unwrap_err();
    assert!(e.to_string().contains("timed out after 100 bytes"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert!(files_under(&cache).is_empty());

    // A trickle (20 bytes/s) under the low-speed limit: abandoned after a
    // timeout period although bytes keep coming.
    let p = Proxy::start(srv.port, vec![Mode::Trickle(Duration::from_secs(4))]);
    let cache = fresh();
    let mut o = opts(vec![p.url()], &cache);
    o.timeout = Some(Duration::from_secs(1));
    o.retries = 0;
    let e = Client::new(o)
        .unwrap()
        .fetch(id, Artifact::Debuginfo, &quiet)
        .unwrap_err();
    assert!(e.to_string().contains("too slow"), "{e}");
    assert!(files_under(&cache).is_empty());

    // DEBUGINFOD_MAXTIME: the whole query is given up.
    let p = Proxy::start(srv.port, vec![Mode::Trickle(Duration::from_secs(4))]);
    let cache = fresh();
    let mut o = opts(vec![p.url()], &cache);
    o.timeout = Some(Duration::from_secs(10));
    o.max_time = Some(Duration::from_secs(1));
    let t = Instant::now();
    let e = Client::new(o)
        .unwrap()
        .fetch(id, Artifact::Debuginfo, &quiet)
        .unwrap_err();
    assert!(e.to_string().contains("time limit"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(3));
    assert!(files_under(&cache).is_empty());

    // Content whose build-id differs (a real ELF of another build): rejected,
    // the next server asked, and only the right file enters the cache.
    let p = Proxy::start(srv.port, vec![Mode::Serve(Arc::new(pk.exe.clone()))]);
    let cache = fresh();
    let e = fetch(vec![p.url()], &cache).unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("its build-id is {}, not {id}", pk.exe_id)),
        "{e}"
    );
    assert!(files_under(&cache).is_empty(), "the cache is not poisoned");
    let p = Proxy::start(
        srv.port,
        vec![Mode::Serve(Arc::new(b"<html>not found</html>".to_vec()))],
    );
    let f = fetch(vec![p.url(), srv.url()], &cache).unwrap();
    assert!(
        matches!(f.failed[0].answer, Answer::Rejected(ref m) if m.contains("not an ELF")),
        "{:?}",
        f.failed
    );
    assert_eq!(sha256(&std::fs::read(&f.path).unwrap()), want);

    // A wrong file already in the cache (put there by someone else) is
    // replaced by the right one.
    let cache = fresh();
    let slot = cache.join(id.to_hex());
    std::fs::create_dir_all(&slot).unwrap();
    std::fs::write(slot.join("debuginfo"), &pk.exe).unwrap();
    let f = fetch(vec![srv.url()], &cache).unwrap();
    assert_eq!(f.failed[0].server, "cache");
    assert_eq!(sha256(&std::fs::read(&f.path).unwrap()), want);
    // An empty file there (elfutils' record of a miss) is asked again.
    let cache = fresh();
    let slot = cache.join(id.to_hex());
    std::fs::create_dir_all(&slot).unwrap();
    std::fs::write(slot.join("debuginfo"), b"").unwrap();
    let f = fetch(vec![srv.url()], &cache).unwrap();
    assert!(f.failed.is_empty() && matches!(f.origin, Origin::Server(_)));
    assert_eq!(sha256(&std::fs::read(&f.path).unwrap()), want);
}

/// A `file://` server (a directory laid out like one), needing no daemon.
#[test]
fn file_urls() {
    let test = "file_urls";
    let Some(fx) = fixtures(test) else { return };
    let work = tempfile::tempdir().unwrap();
    let id = BuildId::from_hex(&pkgtools::build_id_hex(&fx.module)).unwrap();
    let store = work.path().join("store");
    let slot = store.join("buildid").join(id.to_hex());
    std::fs::create_dir_all(&slot).unwrap();
    std::fs::write(slot.join("debuginfo"), &fx.module).unwrap();
    let cache = work.path().join("cache");
    let url = format!("file://{}", store.display());
    let f = Client::new(opts(vec![format!("{url}/")], &cache))
        .unwrap()
        .fetch(&id, Artifact::Debuginfo, &quiet)
        .unwrap();
    assert_eq!(std::fs::read(&f.path).unwrap(), fx.module);
    let e = Client::new(opts(vec![url], &cache))
        .unwrap()
        .fetch(&id, Artifact::Executable, &quiet)
        .unwrap_err();
    assert!(e.to_string().contains("not found"), "{e}");
    let e = Client::new(opts(vec!["ftp://x".into()], &cache))
        .unwrap()
        .fetch(
            &BuildId::from_hex("abcd").unwrap(),
            Artifact::Debuginfo,
            &quiet,
        )
        .unwrap_err();
    assert!(e.to_string().contains("bad server URL"), "{e}");
    assert!(matches!(
        Client::new(opts(vec![], &cache)).unwrap().fetch(
            &BuildId::from_hex("abcd").unwrap(),
            Artifact::Debuginfo,
            &quiet
        ),
        Err(DebuginfodError::NoServers)
    ));
}

/// `Options::from_env`, read in a child process (the environment is
/// process-wide): elfutils' variables and cache places.
#[test]
fn options_from_the_environment() {
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let headers = work.path().join("headers");
    std::fs::write(&headers, "Authorization: Bearer t\n").unwrap();
    let run = |case: &str, env: &[(&str, &str)]| {
        let mut c = Command::new(std::env::current_exe().unwrap());
        c.args(["--exact", "env_child", "--ignored", "--test-threads=1"]);
        for v in [
            "DEBUGINFOD_URLS",
            "DEBUGINFOD_CACHE_PATH",
            "DEBUGINFOD_TIMEOUT",
            "DEBUGINFOD_MAXTIME",
            "DEBUGINFOD_MAXSIZE",
            "DEBUGINFOD_RETRY_LIMIT",
            "DEBUGINFOD_HEADERS_FILE",
            "XDG_CACHE_HOME",
        ] {
            c.env_remove(v);
        }
        c.env("PROFC_ENV_CASE", case).env("HOME", &home);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "case {case}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("1 passed"),
            "case {case} did not run"
        );
    };
    let xdg = work.path().join("xdg");
    run(
        "full",
        &[
            (
                "DEBUGINFOD_URLS",
                "http://127.0.0.1:1/ ima:enforcing  https://127.0.0.1:2",
            ),
            ("DEBUGINFOD_TIMEOUT", "7"),
            ("DEBUGINFOD_MAXTIME", "30"),
            ("DEBUGINFOD_MAXSIZE", "123456"),
            ("DEBUGINFOD_RETRY_LIMIT", "5"),
            ("DEBUGINFOD_HEADERS_FILE", headers.to_str().unwrap()),
            ("XDG_CACHE_HOME", xdg.to_str().unwrap()),
            (
                "EXPECT_CACHE",
                xdg.join("debuginfod_client").to_str().unwrap(),
            ),
        ],
    );
    run(
        "defaults",
        &[(
            "EXPECT_CACHE",
            home.join(".cache/debuginfod_client").to_str().unwrap(),
        )],
    );
    run(
        "cache-path",
        &[
            ("DEBUGINFOD_CACHE_PATH", "/somewhere/else"),
            ("XDG_CACHE_HOME", xdg.to_str().unwrap()),
            ("EXPECT_CACHE", "/somewhere/else"),
        ],
    );
    run("bad", &[("DEBUGINFOD_TIMEOUT", "soon")]);
    std::fs::create_dir_all(home.join(".debuginfod_client_cache")).unwrap();
    run(
        "legacy",
        &[
            ("XDG_CACHE_HOME", xdg.to_str().unwrap()),
            (
                "EXPECT_CACHE",
                home.join(".debuginfod_client_cache").to_str().unwrap(),
            ),
        ],
    );
}

#[test]
#[ignore = "run by options_from_the_environment in a child process"]
fn env_child() {
    let Ok(case) = std::env::var("PROFC_ENV_CASE") else {
        return;
    };
    let expect_cache = std::env::var("EXPECT_CACHE").ok().map(PathBuf::from);
    match case.as_str() {
        "full" => {
            let o = Options::from_env().unwrap();
            assert_eq!(
                o.servers,
                vec!["http://127.0.0.1:1/", "https://127.0.0.1:2"]
            );
            assert_eq!(o.timeout, Some(Duration::from_secs(7)));
            assert_eq!(o.max_time, Some(Duration::from_secs(30)));
            assert_eq!(o.max_size, 123456);
            assert_eq!(o.retries, 5);
            assert_eq!(
                o.headers,
                vec![("Authorization".to_owned(), "Bearer t".to_owned())]
            );
            assert_eq!(Some(o.cache), expect_cache);
        }
        "defaults" | "cache-path" | "legacy" => {
            let o = Options::from_env().unwrap();
            assert!(o.servers.is_empty());
            assert_eq!(o.timeout, Some(Duration::from_secs(90)));
            assert_eq!(o.max_time, None);
            assert_eq!(o.retries, 2);
            assert_eq!(Some(o.cache), expect_cache);
        }
        "bad" => {
            let e = Options::from_env().unwrap_err();
            assert!(e.to_string().contains("DEBUGINFOD_TIMEOUT"), "{e}");
        }
        other => panic!("unknown case {other}"),
    }
}
