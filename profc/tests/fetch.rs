//! `profc peinfo`, `fetch_pdb`, `version_scan` and `build_local_profile`,
//! run as real processes against real HTTP servers on 127.0.0.1 only.
//!
//! Servers: `python3 -m http.server` over a symbol store laid out in a
//! temporary directory (the happy paths), and a small scripted server in
//! this file for the faults (404, 500, hangs, dropped connections, ...).
//! Every server here stops by itself: it accepts a bounded number of
//! connections within a bounded time.

#[path = "../../tests/support.rs"]
mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const PDB_DIR: &str = "fixtures/pdb/debugpy-1.8.22";
/// The six executables and the PDB each names.
const PAIRS: [(&str, &str); 6] = [
    ("attach_amd64.dll", "attach_amd64.pdb"),
    ("attach_x86.dll", "attach_x86.pdb"),
    ("inject_dll_amd64.exe", "inject_dll_amd64.pdb"),
    ("inject_dll_x86.exe", "inject_dll_x86.pdb"),
    (
        "run_code_on_dllmain_amd64.dll",
        "run_code_on_dllmain_amd64.pdb",
    ),
    ("run_code_on_dllmain_x86.dll", "run_code_on_dllmain_x86.pdb"),
];

fn fixtures(test: &str) -> Option<PathBuf> {
    support::shared(test).map(|s| s.join(PDB_DIR))
}

/// `profc` with a clean environment: no proxies, no symbol path, and a
/// default cache inside `home` so that nothing outside the test is touched.
fn profc(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_profc"));
    for v in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "_NT_SYMBOL_PATH",
        "PROFC_SYMBOL_CACHE",
        "XDG_CACHE_HOME",
    ] {
        c.env_remove(v);
    }
    c.env("HOME", home)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .stdin(Stdio::null());
    c
}

fn run(c: &mut Command) -> Output {
    c.output().expect("run profc")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// GUID_AGE of a PDB, computed with pdb2 directly (GUID of the PDB
/// information stream, age of the DBI stream).
fn pdb_key(path: &Path) -> String {
    let mut pdb = pdb2::PDB::open(std::fs::File::open(path).unwrap()).unwrap();
    let info = pdb.pdb_information().unwrap();
    let age = pdb.debug_information().unwrap().age().unwrap_or(info.age);
    let (d1, d2, d3, d4) = info.guid.as_fields();
    let mut s = format!("{d1:08X}{d2:04X}{d3:04X}");
    for b in d4 {
        s.push_str(&format!("{b:02X}"));
    }
    format!("{s}{age:X}")
}

/// GUID_AGE from the llvm-pdbutil oracle's summary (`GUID: {...}`, `Age: N`).
fn oracle_key(shared: &Path, pdb_name: &str) -> Option<String> {
    let stem = pdb_name.trim_end_matches(".pdb");
    let text = std::fs::read_to_string(shared.join(format!(
        "fixtures/oracles/llvm-pdbutil/debugpy-1.8.22_{stem}.dump.txt"
    )))
    .ok()?;
    let guid = text.lines().find_map(|l| l.trim().strip_prefix("GUID: "))?;
    let age: u32 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Age: "))?
        .trim()
        .parse()
        .ok()?;
    let hex: String = guid.chars().filter(char::is_ascii_hexdigit).collect();
    Some(format!("{}{age:X}", hex.to_uppercase()))
}

/// Every regular file under `dir` (recursively).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A MSZIP cabinet holding `data` under `name`, as a symbol server's `NAM_`.
fn make_cab(name: &str, data: &[u8]) -> Vec<u8> {
    let mut b = cab::CabinetBuilder::new();
    b.add_folder(cab::CompressionType::MsZip).add_file(name);
    let mut w = b.build(std::io::Cursor::new(Vec::new())).unwrap();
    while let Some(mut f) = w.next_file().unwrap() {
        f.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// An LZX cabinet holding `data` under `name`, written by hand: no tool
/// here compresses LZX, but the format has stored ("uncompressed") blocks,
/// which go through the whole LZX decoder path (bitstream header, block
/// header, alignment, repeated-offset registers, 32 KiB frames).
fn make_lzx_cab(name: &str, data: &[u8]) -> Vec<u8> {
    const FRAME: usize = 32 * 1024;
    assert!(!data.is_empty() && data.len() < 1 << 24);
    // LZX stream: 1 bit "no E8 translation", 3 bits block type 3
    // (uncompressed), 24 bits block size, padded to 16 bits; then R0..R2
    // (u32 LE) and the raw bytes (plus a pad byte if the size is odd).
    // Bits are read MSB-first from 16-bit little-endian words.
    let v: u32 = ((0b011 << 24) | data.len() as u32) << 4;
    let mut stream = Vec::new();
    stream.extend_from_slice(&((v >> 16) as u16).to_le_bytes());
    stream.extend_from_slice(&(v as u16).to_le_bytes());
    for _ in 0..3 {
        stream.extend_from_slice(&1u32.to_le_bytes());
    }
    let header = stream.len();
    stream.extend_from_slice(data);
    if data.len() % 2 == 1 {
        stream.push(0);
    }
    // One CFDATA per 32 KiB of output; the first also carries the header.
    let mut blocks: Vec<(&[u8], u16)> = Vec::new();
    let mut pos = 0;
    for (i, chunk) in data.chunks(FRAME).enumerate() {
        let start = pos;
        pos = header + (i * FRAME) + chunk.len();
        if pos == stream.len() - 1 {
            pos += 1; // the pad byte travels with the last frame
        }
        blocks.push((&stream[start..pos], chunk.len() as u16));
    }
    let name_z = [name.as_bytes(), &[0]].concat();
    let files_off = 36 + 8;
    let data_off = files_off + 16 + name_z.len();
    let total = data_off + blocks.iter().map(|(b, _)| 8 + b.len()).sum::<usize>();
    let mut cab = Vec::with_capacity(total);
    cab.extend_from_slice(b"MSCF");
    for v in [0u32, total as u32, 0, files_off as u32, 0] {
        cab.extend_from_slice(&v.to_le_bytes());
    }
    cab.extend_from_slice(&[3, 1]); // version 1.3
    for v in [1u16, 1, 0, 0, 0] {
        cab.extend_from_slice(&v.to_le_bytes()); // folders, files, flags, set id, index
    }
    cab.extend_from_slice(&(data_off as u32).to_le_bytes());
    cab.extend_from_slice(&(blocks.len() as u16).to_le_bytes());
    cab.extend_from_slice(&(3u16 | (21 << 8)).to_le_bytes()); // LZX, 2 MiB window
    cab.extend_from_slice(&(data.len() as u32).to_le_bytes());
    cab.extend_from_slice(&0u32.to_le_bytes()); // offset in folder
    let date: u16 = ((2020 - 1980) << 9) | (1 << 5) | 1;
    for v in [0u16, date, 0, 0x20] {
        cab.extend_from_slice(&v.to_le_bytes()); // folder, date, time, attributes
    }
    cab.extend_from_slice(&name_z);
    for (b, out) in blocks {
        cab.extend_from_slice(&0u32.to_le_bytes()); // no checksum
        cab.extend_from_slice(&(b.len() as u16).to_le_bytes());
        cab.extend_from_slice(&out.to_le_bytes());
        cab.extend_from_slice(b);
    }
    assert_eq!(cab.len(), total);
    cab
}

fn store_path(root: &Path, name: &str, key: &str, file: &str) -> PathBuf {
    let d = root.join(name).join(key);
    std::fs::create_dir_all(&d).unwrap();
    d.join(file)
}

// ---------------------------------------------------------------------------
// python3 -m http.server

struct PyServer {
    child: Child,
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
    _reader: JoinHandle<()>,
}

impl PyServer {
    /// Serves `root` with Python's `http.server` on 127.0.0.1 (an ephemeral
    /// port). The server exits by itself after 120 s if the test does not
    /// stop it first.
    fn start(root: &Path) -> PyServer {
        const SERVER: &str = "import http.server, os, threading\n\
            threading.Timer(120, os._exit, [0]).start()\n\
            srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), http.server.SimpleHTTPRequestHandler)\n\
            print('Serving HTTP on 127.0.0.1 port %d' % srv.server_address[1], flush=True)\n\
            srv.serve_forever()\n";
        let mut child = Command::new("python3")
            .args(["-u", "-c", SERVER])
            .current_dir(root)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 must be installed");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        // "Serving HTTP on 127.0.0.1 port 45678 (http://127.0.0.1:45678/) ..."
        let port = line
            .split_whitespace()
            .skip_while(|w| *w != "port")
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected http.server banner {line:?}"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let err = child.stderr.take().unwrap();
        let l2 = log.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                l2.lock().unwrap().push(line);
            }
        });
        PyServer {
            child,
            port,
            log,
            _reader: reader,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Access-log lines requesting `path` (waits briefly for the log).
    fn gets(&self, path: &str) -> usize {
        std::thread::sleep(Duration::from_millis(200));
        let needle = format!("\"GET {path} ");
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(&needle))
            .count()
    }
}

impl Drop for PyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// A scripted server for the faults

#[derive(Clone)]
enum Reply {
    Status(u16),
    Body(Vec<u8>),
    /// Accept the request and never answer (until the server stops).
    Hang,
    /// Announce the whole body, send `usize` bytes of it, close.
    Truncate(Vec<u8>, usize),
    /// Announce the whole body, send `usize` bytes of it, then stall.
    Stall(Vec<u8>, usize),
    /// Body without Content-Length, ended by closing the connection.
    Unsized(Vec<u8>),
}

type Script = dyn Fn(&str, usize) -> Reply + Send + Sync;

struct FaultServer {
    port: u16,
    hits: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    main: Option<JoinHandle<()>>,
}

impl FaultServer {
    /// `script(path, n)` answers the n-th (from 0) request for `path`.
    /// At most 64 connections, for at most 60 s.
    fn start(script: impl Fn(&str, usize) -> Reply + Send + Sync + 'static) -> FaultServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let script: Arc<Script> = Arc::new(script);
        let (h, s) = (hits.clone(), stop.clone());
        let main = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut served = 0;
            let mut workers = Vec::new();
            while !s.load(Ordering::SeqCst) && Instant::now() < deadline && served < 64 {
                match listener.accept() {
                    Ok((stream, _)) => {
                        served += 1;
                        let (h, s, script) = (h.clone(), s.clone(), script.clone());
                        workers.push(std::thread::spawn(move || serve(stream, &h, &s, &*script)));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            s.store(true, Ordering::SeqCst);
            for w in workers {
                let _ = w.join();
            }
        });
        FaultServer {
            port,
            hits,
            stop,
            main: Some(main),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn count(&self, path: &str) -> usize {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|p| *p == path)
            .count()
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(m) = self.main.take() {
            let _ = m.join();
        }
    }
}

fn serve(mut stream: TcpStream, hits: &Mutex<Vec<String>>, stop: &AtomicBool, script: &Script) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 16 * 1024 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&req);
    let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let n = {
        let mut h = hits.lock().unwrap();
        let n = h.iter().filter(|p| **p == path).count();
        h.push(path.clone());
        n
    };
    let head = |code: u16, len: Option<usize>| {
        let mut s = format!("HTTP/1.1 {code} X\r\nConnection: close\r\n");
        if let Some(l) = len {
            s.push_str(&format!("Content-Length: {l}\r\n"));
        }
        s.push_str("\r\n");
        s.into_bytes()
    };
    let _ = match script(&path, n) {
        Reply::Status(code) => stream.write_all(&head(code, Some(0))),
        Reply::Body(b) => stream
            .write_all(&head(200, Some(b.len())))
            .and_then(|_| stream.write_all(&b)),
        Reply::Unsized(b) => stream
            .write_all(&head(200, None))
            .and_then(|_| stream.write_all(&b)),
        Reply::Truncate(b, k) => stream
            .write_all(&head(200, Some(b.len())))
            .and_then(|_| stream.write_all(&b[..k.min(b.len())])),
        Reply::Stall(b, k) => {
            let _ = stream
                .write_all(&head(200, Some(b.len())))
                .and_then(|_| stream.write_all(&b[..k.min(b.len())]));
            let _ = stream.flush();
            let until = Instant::now() + Duration::from_secs(30);
            while !stop.load(Ordering::SeqCst) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(())
        }
        Reply::Hang => {
            let until = Instant::now() + Duration::from_secs(30);
            while !stop.load(Ordering::SeqCst) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(())
        }
    };
    let _ = stream.flush();
}

// ---------------------------------------------------------------------------
// peinfo

#[test]
fn peinfo_reports_rsds_matching_the_pdb_beside_it() {
    let Some(dir) = fixtures("peinfo_reports_rsds_matching_the_pdb_beside_it") else {
        return;
    };
    let shared = dir
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .unwrap()
        .to_path_buf();
    let home = tempfile::tempdir().unwrap();
    for (exe, pdb) in PAIRS {
        let o = run(profc(home.path()).arg("peinfo").arg(dir.join(exe)));
        assert!(o.status.success(), "{exe}: {}", stderr(&o));
        let out = stdout(&o);
        let field = |k: &str| {
            out.lines()
                .find_map(|l| {
                    l.strip_prefix(k)
                        .filter(|r| r.starts_with(' '))
                        .map(|r| r.trim().to_owned())
                })
                .unwrap_or_else(|| panic!("{exe}: no {k} line in\n{out}"))
        };
        assert_eq!(field("PDB"), pdb, "{exe}");
        let key = field("GUID/Age");
        assert_eq!(
            key,
            pdb_key(&dir.join(pdb)),
            "{exe}: GUID_AGE differs from the PDB's (pdb2)"
        );
        if let Some(k) = oracle_key(&shared, pdb) {
            assert_eq!(
                key, k,
                "{exe}: GUID_AGE differs from llvm-pdbutil's summary"
            );
        }
        let machine = field("Machine");
        let want = if exe.contains("amd64") {
            "AMD64"
        } else {
            "I386"
        };
        assert!(machine.starts_with(want), "{exe}: machine {machine}");
        assert!(out.contains(".text"), "{exe}: no .text section listed");
        assert!(field("SizeOfImage").starts_with("0x"), "{exe}");
    }
}

/// The version resource, on real PE files that carry one (pip's vendored
/// distlib launchers, when this Python has them; skipped otherwise).
#[test]
fn peinfo_version_resource_of_a_real_launcher() {
    let found = Command::new("python3")
        .args([
            "-c",
            "import os, pip._vendor.distlib as d; print(os.path.dirname(d.__file__))",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let Some(dir) = found.filter(|d| d.join("t64.exe").is_file()) else {
        eprintln!(
            "SKIPPED peinfo_version_resource_of_a_real_launcher: pip's distlib launchers not found"
        );
        return;
    };
    let home = tempfile::tempdir().unwrap();
    for exe in ["t64.exe", "w64.exe", "t32.exe"] {
        let p = dir.join(exe);
        if !p.is_file() {
            continue;
        }
        let o = run(profc(home.path()).arg("peinfo").arg(&p));
        assert!(o.status.success(), "{exe}: {}", stderr(&o));
        let out = stdout(&o);
        let version = out.split("Version Information:").nth(1).unwrap_or("");
        // Independent check: the UTF-16 strings are in the file's bytes.
        let bytes = std::fs::read(&p).unwrap();
        let utf16 = |s: &str| {
            s.encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect::<Vec<u8>>()
        };
        let has = |s: &str| bytes.windows(s.len() * 2).any(|w| w == utf16(s).as_slice());
        let line = version
            .lines()
            .find(|l| l.starts_with("OriginalFilename"))
            .expect("OriginalFilename");
        let value = line["OriginalFilename".len()..].trim();
        assert_eq!(value, exe, "{exe}");
        assert!(has("OriginalFilename") && has(value));
        let fv = version
            .lines()
            .find(|l| l.get(..32).is_some_and(|k| k.trim() == "FileVersion"))
            .expect("FileVersion string");
        assert!(has(fv[32..].trim()), "{exe}: {fv}");
    }
}

#[test]
fn peinfo_and_version_scan_survive_bad_inputs() {
    let home = tempfile::tempdir().unwrap();
    let t = home.path();
    // (what, bytes, RSDS records version_scan must find)
    let mut inputs: Vec<(&str, Vec<u8>, usize)> = vec![
        ("empty", Vec::new(), 0),
        ("mz", b"MZ".to_vec(), 0),
        ("random", prng_bytes(7, 100_000), 0),
        (
            "rsds-junk",
            {
                let mut v = b"RSDS".to_vec();
                v.extend(prng_bytes(3, 30));
                v
            },
            0,
        ),
    ];
    if let Some(dir) = support::shared_dir().map(|s| s.join(PDB_DIR)) {
        let dll = std::fs::read(dir.join("attach_amd64.dll")).unwrap();
        for cut in [64, 300, 1024, 4096, dll.len() / 2] {
            inputs.push(("truncated", dll[..cut].to_vec(), 0));
        }
        // Headers intact, sections and debug data overwritten with noise.
        let mut noisy = dll.clone();
        let noise = prng_bytes(11, noisy.len());
        noisy[0x400..].copy_from_slice(&noise[0x400..]);
        inputs.push(("noisy", noisy, 0));
        // Corrupt e_lfanew and section count.
        let mut bad = dll;
        bad[0x3c] = 0xff;
        bad[0x3d] = 0xff;
        // The headers are unusable but the record itself is intact.
        inputs.push(("bad-lfanew", bad, 1));
    }
    for (i, (what, data, records)) in inputs.iter().enumerate() {
        let f = t.join(format!("in{i}.bin"));
        std::fs::write(&f, data).unwrap();
        let o = run(profc(t).arg("peinfo").arg(&f));
        let e = stderr(&o);
        assert!(!e.contains("panicked"), "{what}: peinfo panicked: {e}");
        if !o.status.success() {
            assert_eq!(e.lines().count(), 1, "{what}: error must be one line: {e}");
            assert!(
                e.contains(&f.display().to_string()),
                "{what}: error must name the file: {e}"
            );
        }
        let o = run(profc(t).arg("version_scan").arg(&f));
        let e = stderr(&o);
        assert!(
            !e.contains("panicked"),
            "{what}: version_scan panicked: {e}"
        );
        assert!(o.status.success(), "{what}: version_scan failed: {e}");
        assert_eq!(
            stdout(&o).lines().count(),
            1 + records,
            "{what}: {}",
            stdout(&o)
        );
    }
    let o = run(profc(t).arg("peinfo").arg(t.join("missing.dll")));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("missing.dll"));
}

// ---------------------------------------------------------------------------
// version_scan

fn prng_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// File offset of the CodeView record, from the PE debug directory (read
/// with the `object` crate's raw structures, not with profc's code).
fn rsds_file_offset(pe: &[u8]) -> u64 {
    use object::pe::{ImageDebugDirectory, IMAGE_DEBUG_TYPE_CODEVIEW, IMAGE_DIRECTORY_ENTRY_DEBUG};
    use object::read::pe::{ImageNtHeaders, PeFile64};
    use object::LittleEndian as LE;
    // Both fixtures used below are 64-bit.
    let f = PeFile64::parse(pe).unwrap();
    let dd = f.data_directory(IMAGE_DIRECTORY_ENTRY_DEBUG).unwrap();
    let data = dd.data(pe, &f.section_table()).unwrap();
    let dirs: &[ImageDebugDirectory] = object::pod::slice_from_all_bytes(data).unwrap();
    let _ = f.nt_headers().file_header();
    let cv = dirs
        .iter()
        .find(|d| d.typ.get(LE) == IMAGE_DEBUG_TYPE_CODEVIEW)
        .unwrap();
    u64::from(cv.pointer_to_raw_data.get(LE))
}

#[test]
fn version_scan_finds_embedded_images_at_their_offsets() {
    let Some(dir) = fixtures("version_scan_finds_embedded_images_at_their_offsets") else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let a = std::fs::read(dir.join("attach_amd64.dll")).unwrap();
    let b = std::fs::read(dir.join("inject_dll_amd64.exe")).unwrap();
    let mut image = prng_bytes(42, 2_000_000);
    let (oa, ob) = (100_003usize, 1_234_567usize);
    image[oa..oa + a.len()].copy_from_slice(&a);
    image[ob..ob + b.len()].copy_from_slice(&b);
    let f = home.path().join("memory.raw");
    std::fs::write(&f, &image).unwrap();
    let o = run(profc(home.path()).arg("version_scan").arg(&f));
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 2, "expected exactly two records:\n{out}");
    let want = [
        (
            oa as u64 + rsds_file_offset(&a),
            pdb_key(&dir.join("attach_amd64.pdb")),
            "attach_amd64.pdb",
        ),
        (
            ob as u64 + rsds_file_offset(&b),
            pdb_key(&dir.join("inject_dll_amd64.pdb")),
            "inject_dll_amd64.pdb",
        ),
    ];
    for (row, (off, key, name)) in rows.iter().zip(want) {
        assert_eq!(row[0], format!("{off:#x}"), "{name}: offset");
        assert_eq!(row[1], key, "{name}: GUID_AGE");
        assert_eq!(row[2], name);
    }
    // The name filter.
    let o = run(profc(home.path())
        .args(["version_scan", "--name", "INJECT"])
        .arg(&f));
    assert_eq!(stdout(&o).lines().count(), 2, "{}", stdout(&o));
}

// ---------------------------------------------------------------------------
// fetch_pdb: successful paths

#[test]
fn fetch_pdb_from_python_server_plain_then_cache() {
    let Some(dir) = fixtures("fetch_pdb_from_python_server_plain_then_cache") else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let (store, cache, dump) = (
        t.path().join("store"),
        t.path().join("cache"),
        t.path().join("dump"),
    );
    let key = pdb_key(&dir.join("attach_amd64.pdb"));
    let original = std::fs::read(dir.join("attach_amd64.pdb")).unwrap();
    std::fs::write(
        store_path(&store, "attach_amd64.pdb", &key, "attach_amd64.pdb"),
        &original,
    )
    .unwrap();
    // A decoy: another PDB under another name, never requested.
    std::fs::copy(
        dir.join("attach_x86.pdb"),
        store_path(&store, "attach_x86.pdb", "0", "attach_x86.pdb"),
    )
    .unwrap();
    let server = PyServer::start(&store);
    let url = server.url();
    let fetch = |extra: &[&str]| {
        run(profc(t.path())
            .args(["fetch_pdb", "--filename"])
            .arg(dir.join("attach_amd64.dll"))
            .args(["--server", &url, "--cache"])
            .arg(&cache)
            .arg("--dump-dir")
            .arg(&dump)
            .args(extra))
    };
    let o = fetch(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dumped = dump.join("attach_amd64.pdb");
    assert_eq!(stdout(&o).trim(), dumped.display().to_string());
    assert_eq!(
        std::fs::read(&dumped).unwrap(),
        original,
        "dumped PDB differs from the original"
    );
    let cached = cache
        .join("attach_amd64.pdb")
        .join(&key)
        .join("attach_amd64.pdb");
    assert_eq!(
        std::fs::read(&cached).unwrap(),
        original,
        "cached PDB differs"
    );
    assert_eq!(
        files_under(&cache),
        vec![cached.clone()],
        "only the PDB in the cache (no temp files)"
    );
    assert_eq!(files_under(&dump), vec![dumped.clone()]);
    let pdb_url = format!("/attach_amd64.pdb/{key}/attach_amd64.pdb");
    assert_eq!(server.gets(&pdb_url), 1);

    // Second run: served from the cache, nothing downloaded again.
    let o = fetch(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("cache"), "{}", stderr(&o));
    assert_eq!(server.gets(&pdb_url), 1, "the PDB was downloaded twice");
    drop(server);
    // And with the server gone.
    let o = fetch(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn fetch_pdb_mszip_cab_through_symbol_path() {
    let Some(dir) = fixtures("fetch_pdb_mszip_cab_through_symbol_path") else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let (store, cache, dump) = (
        t.path().join("store"),
        t.path().join("cache"),
        t.path().join("dump"),
    );
    let name = "inject_dll_x86.pdb";
    let key = pdb_key(&dir.join(name));
    let original = std::fs::read(dir.join(name)).unwrap();
    let cab = make_cab(name, &original);
    assert!(cab.len() < original.len(), "the CAB should be compressed");
    std::fs::write(store_path(&store, name, &key, "inject_dll_x86.pd_"), &cab).unwrap();
    let server = PyServer::start(&store);
    // Cache and server from _NT_SYMBOL_PATH, a 404-ing local store first.
    let sym = format!(
        "{};srv*{}*{}",
        t.path().join("empty-store").display(),
        cache.display(),
        server.url()
    );
    let o = run(profc(t.path())
        .env("_NT_SYMBOL_PATH", &sym)
        .args(["fetch_pdb", "--pdb", name, "--guid", &key, "--dump-dir"])
        .arg(&dump));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(dump.join(name)).unwrap(),
        original,
        "decompressed PDB differs"
    );
    let cached = cache.join(name).join(&key).join(name);
    assert_eq!(files_under(&cache), vec![cached]);
    assert_eq!(server.gets(&format!("/{name}/{key}/inject_dll_x86.pd_")), 1);
    // The plain name was asked for first (and was missing).
    assert_eq!(server.gets(&format!("/{name}/{key}/{name}")), 1);
}

#[test]
fn fetch_pdb_lzx_cab() {
    let Some(dir) = fixtures("fetch_pdb_lzx_cab") else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let name = "run_code_on_dllmain_x86.pdb";
    let key = pdb_key(&dir.join(name));
    let original = std::fs::read(dir.join(name)).unwrap();
    let cab = make_lzx_cab(name, &original);
    // The cabinet really is LZX (type 3 in the folder entry).
    assert_eq!(u16::from_le_bytes([cab[36 + 6], cab[36 + 7]]) & 0xf, 3);
    let server = FaultServer::start(move |p, _| {
        if p.ends_with(".pd_") {
            Reply::Body(cab.clone())
        } else {
            Reply::Status(404)
        }
    });
    let (cache, dump) = (t.path().join("cache"), t.path().join("dump"));
    let o = run(profc(t.path())
        .args([
            "fetch_pdb",
            "--pdb",
            name,
            "--guid",
            &key,
            "--server",
            &server.url(),
            "--cache",
        ])
        .arg(&cache)
        .arg("--dump-dir")
        .arg(&dump));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(dump.join(name)).unwrap(),
        original,
        "LZX-decoded PDB differs"
    );
    assert_eq!(
        server.count(&format!("/{name}/{key}/run_code_on_dllmain_x86.pd_")),
        1
    );
}

/// A cabinet written by an independent tool (gcab, MSZIP), when installed.
#[test]
fn fetch_pdb_gcab_mszip_cab() {
    let Some(dir) = fixtures("fetch_pdb_gcab_mszip_cab") else {
        return;
    };
    if Command::new("gcab").arg("--version").output().is_err() {
        eprintln!("SKIPPED fetch_pdb_gcab_mszip_cab: gcab not installed (apt-get install gcab)");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let name = "attach_x86.pdb";
    let key = pdb_key(&dir.join(name));
    let packed = store_path(&t.path().join("store"), name, &key, "attach_x86.pd_");
    let st = Command::new("gcab")
        .args(["-c", "-z", "-n"])
        .arg(&packed)
        .arg(name)
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(st.success());
    let server = PyServer::start(&t.path().join("store"));
    let cache = t.path().join("cache");
    let o = run(profc(t.path())
        .args(["fetch_pdb", "--filename"])
        .arg(dir.join("attach_x86.dll"))
        .args(["--server", &server.url(), "--cache"])
        .arg(&cache));
    assert!(o.status.success(), "{}", stderr(&o));
    let cached = cache.join(name).join(&key).join(name);
    assert_eq!(stdout(&o).trim(), cached.display().to_string());
    assert_eq!(
        std::fs::read(&cached).unwrap(),
        std::fs::read(dir.join(name)).unwrap()
    );
}

/// Local symbol stores from the symbol path (plain, compressed and
/// file.ptr to a local path), and a bad cached file being replaced.
#[test]
fn fetch_pdb_from_local_stores_and_bad_cache_entry() {
    let Some(dir) = fixtures("fetch_pdb_from_local_stores_and_bad_cache_entry") else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let cache = t.path().join("cache");
    for (i, name) in [
        "attach_amd64.pdb",
        "attach_x86.pdb",
        "run_code_on_dllmain_amd64.pdb",
    ]
    .iter()
    .enumerate()
    {
        let key = pdb_key(&dir.join(name));
        let original = std::fs::read(dir.join(name)).unwrap();
        let store = t.path().join(format!("store{i}"));
        match i {
            0 => std::fs::write(store_path(&store, name, &key, name), &original).unwrap(),
            1 => {
                let packed = format!("{}_", &name[..name.len() - 1]);
                std::fs::write(
                    store_path(&store, name, &key, &packed),
                    make_cab(name, &original),
                )
                .unwrap()
            }
            _ => {
                let elsewhere = t.path().join("elsewhere.pdb");
                std::fs::write(&elsewhere, &original).unwrap();
                std::fs::write(
                    store_path(&store, name, &key, "file.ptr"),
                    format!("PATH:{}", elsewhere.display()),
                )
                .unwrap();
            }
        }
        // A wrong file already in the cache slot: replaced, with a warning.
        if i == 0 {
            let slot = store_path(&cache, name, &key, name);
            std::fs::copy(dir.join("attach_x86.pdb"), slot).unwrap();
        }
        let sym = format!("srv*{}*{}", cache.display(), store.display());
        let o = run(profc(t.path()).args([
            "fetch_pdb",
            "--pdb",
            name,
            "--guid",
            &key,
            "--symbol-path",
            &sym,
        ]));
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let cached = cache.join(name).join(&key).join(name);
        assert_eq!(stdout(&o).trim(), cached.display().to_string());
        assert_eq!(std::fs::read(&cached).unwrap(), original, "{name}");
        if i == 0 {
            assert!(stderr(&o).contains("replacing it"), "{}", stderr(&o));
        }
    }
    assert_eq!(files_under(&cache).len(), 3, "{:?}", files_under(&cache));
}

#[test]
fn fetch_pdb_follows_file_ptr() {
    let Some(dir) = fixtures("fetch_pdb_follows_file_ptr") else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let pdb = std::fs::read(dir.join("attach_amd64.pdb")).unwrap();
    let port = Arc::new(Mutex::new(0u16));
    let p2 = port.clone();
    let server = FaultServer::start(move |path, _| {
        if path.ends_with("/file.ptr") {
            let p = *p2.lock().unwrap();
            Reply::Body(format!("PATH:http://127.0.0.1:{p}/elsewhere/real.pdb\r\n").into_bytes())
        } else if path == "/elsewhere/real.pdb" {
            Reply::Body(pdb.clone())
        } else {
            Reply::Status(404)
        }
    });
    *port.lock().unwrap() = server.port;
    let cache = t.path().join("cache");
    let o = run(profc(t.path())
        .args(["fetch_pdb", "--filename"])
        .arg(dir.join("attach_amd64.dll"))
        .args(["--server", &server.url(), "--cache"])
        .arg(&cache));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(server.count("/elsewhere/real.pdb"), 1);
    assert_eq!(files_under(&cache).len(), 1);

    // MSG: is reported.
    let server = FaultServer::start(|path, _| {
        if path.ends_with("/file.ptr") {
            Reply::Body(b"MSG: symbols withheld by policy".to_vec())
        } else {
            Reply::Status(404)
        }
    });
    let cache = t.path().join("cache2");
    let o = run(profc(t.path())
        .args(["fetch_pdb", "--filename"])
        .arg(dir.join("attach_amd64.dll"))
        .args(["--server", &server.url(), "--cache"])
        .arg(&cache));
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("symbols withheld by policy"),
        "{}",
        stderr(&o)
    );
    assert!(files_under(&cache).is_empty());
}

#[test]
fn fetch_pdb_404_then_second_server_and_500_then_retry() {
    let Some(dir) = fixtures("fetch_pdb_404_then_second_server_and_500_then_retry") else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let key = pdb_key(&dir.join("attach_x86.pdb"));
    let pdb = std::fs::read(dir.join("attach_x86.pdb")).unwrap();
    let want = format!("/attach_x86.pdb/{key}/attach_x86.pdb");
    let s404 = FaultServer::start(|_, _| Reply::Status(404));
    let w = want.clone();
    let p = pdb.clone();
    let s500 = FaultServer::start(move |path, n| {
        if path == w && n == 0 {
            Reply::Status(500)
        } else if path == w {
            Reply::Unsized(p.clone())
        } else {
            Reply::Status(404)
        }
    });
    let cache = t.path().join("cache");
    let o = run(profc(t.path())
        .args(["fetch_pdb", "--filename"])
        .arg(dir.join("attach_x86.dll"))
        .args([
            "--server",
            &s404.url(),
            "--server",
            &s500.url(),
            "--retries",
            "2",
            "--cache",
        ])
        .arg(&cache));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(s404.count(&want), 1, "first server asked once");
    assert_eq!(s500.count(&want), 2, "second server: 500, then a retry");
    let cached = cache
        .join("attach_x86.pdb")
        .join(&key)
        .join("attach_x86.pdb");
    assert_eq!(std::fs::read(&cached).unwrap(), pdb);
    assert_eq!(files_under(&cache), vec![cached]);
    assert!(
        stderr(&o).contains(&s404.url()),
        "the failed server is reported: {}",
        stderr(&o)
    );
}

// ---------------------------------------------------------------------------
// fetch_pdb: faults. Each must fail with one line naming the server and the
// cause, exit non-zero, and leave no file in the cache or dump directory.

/// A fault server's script, given the fixture bytes.
type FaultScript = Box<dyn Fn(&str, usize, &Fixture) -> Reply + Send + Sync>;

struct Fault {
    what: &'static str,
    script: FaultScript,
    args: Vec<String>,
    /// Override of the requested GUID_AGE (else the DLL's).
    guid: Option<fn(&str) -> String>,
    cause: &'static str,
}

struct Fixture {
    pdb: Vec<u8>,
    other_pdb: Vec<u8>,
}

fn check_fault(dir: &Path, fx: Arc<Fixture>, fault: Fault) {
    let t = tempfile::tempdir().unwrap();
    let script = fault.script;
    let fx2 = fx.clone();
    let server = FaultServer::start(move |p, n| script(p, n, &fx2));
    let (cache, dump) = (t.path().join("cache"), t.path().join("dump"));
    let mut c = profc(t.path());
    c.arg("fetch_pdb");
    match fault.guid {
        Some(f) => {
            let key = pdb_key(&dir.join("attach_amd64.pdb"));
            c.args(["--pdb", "attach_amd64.pdb", "--guid", &f(&key)]);
        }
        None => {
            c.arg("--filename").arg(dir.join("attach_amd64.dll"));
        }
    }
    c.args(["--server", &server.url(), "--cache"])
        .arg(&cache)
        .arg("--dump-dir")
        .arg(&dump);
    c.args(&fault.args);
    let o = run(&mut c);
    let e = stderr(&o);
    let what = fault.what;
    assert!(!o.status.success(), "{what}: should fail; stderr: {e}");
    assert!(!e.contains("panicked"), "{what}: {e}");
    let errors: Vec<&str> = e
        .lines()
        .filter(|l| l.starts_with("profc: error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{what}: one error line expected: {e}");
    eprintln!("{what}: {}", errors[0]);
    assert!(
        errors[0].contains(&server.url()),
        "{what}: error must name the server: {e}"
    );
    assert!(
        errors[0]
            .to_lowercase()
            .contains(&fault.cause.to_lowercase()),
        "{what}: error must say {:?}: {e}",
        fault.cause
    );
    assert!(
        files_under(&cache).is_empty(),
        "{what}: files left in the cache: {:?}",
        files_under(&cache)
    );
    assert!(
        files_under(&dump).is_empty(),
        "{what}: files left in the dump dir: {:?}",
        files_under(&dump)
    );
    assert!(!dump.exists(), "{what}: dump dir created on failure");
}

fn only(
    path_end: &'static str,
    reply: impl Fn(&Fixture) -> Reply + Send + Sync + 'static,
) -> FaultScript {
    Box::new(move |p, _, fx| {
        if p.ends_with(path_end) {
            reply(fx)
        } else {
            Reply::Status(404)
        }
    })
}

#[test]
fn fetch_pdb_faults_fail_cleanly() {
    let Some(dir) = fixtures("fetch_pdb_faults_fail_cleanly") else {
        return;
    };
    let fx = Arc::new(Fixture {
        pdb: std::fs::read(dir.join("attach_amd64.pdb")).unwrap(),
        other_pdb: std::fs::read(dir.join("attach_x86.pdb")).unwrap(),
    });
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let faults = vec![
        Fault {
            what: "not found anywhere",
            script: Box::new(|_, _, _| Reply::Status(404)),
            args: vec![],
            guid: None,
            cause: "not found",
        },
        Fault {
            what: "500 every time",
            script: Box::new(|_, _, _| Reply::Status(500)),
            args: s(&["--retries", "1"]),
            guid: None,
            cause: "500",
        },
        Fault {
            what: "hanging server",
            script: Box::new(|_, _, _| Reply::Hang),
            args: s(&["--timeout", "1", "--retries", "0"]),
            guid: None,
            cause: "timed out",
        },
        Fault {
            what: "stall mid-body",
            script: only("attach_amd64.pdb", |fx| {
                Reply::Stall(fx.pdb.clone(), 200_000)
            }),
            args: s(&["--timeout", "1", "--retries", "0"]),
            guid: None,
            cause: "timed out",
        },
        Fault {
            what: "connection dropped mid-body",
            script: only("attach_amd64.pdb", |fx| {
                Reply::Truncate(fx.pdb.clone(), 300_000)
            }),
            args: s(&["--retries", "1"]),
            guid: None,
            cause: "broken",
        },
        Fault {
            what: "wrong GUID",
            script: only("attach_amd64.pdb", |fx| Reply::Body(fx.other_pdb.clone())),
            args: vec![],
            guid: None,
            cause: "rejected",
        },
        Fault {
            what: "wrong age",
            script: only("attach_amd64.pdb", |fx| Reply::Body(fx.pdb.clone())),
            args: vec![],
            guid: Some(|k| format!("{}2", &k[..32])),
            cause: "rejected",
        },
        Fault {
            what: "not a PDB",
            script: only("attach_amd64.pdb", |_| {
                Reply::Body(b"<html>hello</html>".to_vec())
            }),
            args: vec![],
            guid: None,
            cause: "not a readable PDB",
        },
        Fault {
            what: "corrupt CAB",
            script: only("attach_amd64.pd_", |fx| {
                let mut cab = make_cab("attach_amd64.pdb", &fx.pdb);
                let n = cab.len();
                for b in &mut cab[200..n - 100] {
                    *b ^= 0x5a;
                }
                Reply::Body(cab)
            }),
            args: vec![],
            guid: None,
            cause: "corrupt CAB",
        },
        Fault {
            what: "truncated CAB",
            script: only("attach_amd64.pd_", |fx| {
                let cab = make_cab("attach_amd64.pdb", &fx.pdb);
                Reply::Body(cab[..cab.len() / 2].to_vec())
            }),
            args: vec![],
            guid: None,
            cause: "CAB",
        },
        Fault {
            what: "corrupt LZX stream",
            script: only("attach_amd64.pd_", |fx| {
                let mut cab = make_lzx_cab("attach_amd64.pdb", &fx.pdb);
                // First CFDATA payload: block type 3 -> 0 (invalid).
                let data = 36 + 8 + 16 + "attach_amd64.pdb".len() + 1 + 8;
                cab[data + 1] &= 0x8f;
                Reply::Body(cab)
            }),
            args: vec![],
            guid: None,
            cause: "corrupt CAB",
        },
        Fault {
            what: "LZX block size zero",
            script: only("attach_amd64.pd_", |fx| {
                let mut cab = make_lzx_cab("attach_amd64.pdb", &fx.pdb);
                let data = 36 + 8 + 16 + "attach_amd64.pdb".len() + 1 + 8;
                // Words 0-1 hold E8 bit, type and the 24-bit size: keep
                // the type, zero the size.
                cab[data] &= 0x00;
                cab[data + 1] &= 0xf0;
                cab[data + 2] &= 0x0f;
                cab[data + 3] = 0;
                Reply::Body(cab)
            }),
            args: vec![],
            guid: None,
            cause: "CAB",
        },
        Fault {
            what: "CAB with a path-traversal name",
            script: only("attach_amd64.pd_", |fx| {
                Reply::Body(make_cab("../x.pdb", &fx.pdb))
            }),
            args: vec![],
            guid: None,
            cause: "unsafe file name",
        },
        Fault {
            what: "over the size cap (Content-Length)",
            script: only("attach_amd64.pdb", |fx| Reply::Body(fx.pdb.clone())),
            args: s(&["--max-size", "100K"]),
            guid: None,
            cause: "size cap",
        },
        Fault {
            what: "over the size cap (no Content-Length)",
            script: only("attach_amd64.pdb", |fx| Reply::Unsized(fx.pdb.clone())),
            args: s(&["--max-size", "100K"]),
            guid: None,
            cause: "size cap",
        },
        Fault {
            what: "CAB member over the size cap",
            script: only("attach_amd64.pd_", |fx| {
                Reply::Body(make_cab("attach_amd64.pdb", &fx.pdb))
            }),
            args: s(&["--max-size", "500K"]),
            guid: None,
            cause: "size cap",
        },
        Fault {
            what: "file.ptr redirect to a local file",
            script: only("file.ptr", |_| Reply::Body(b"PATH:/etc/passwd".to_vec())),
            args: vec![],
            guid: None,
            cause: "may only redirect",
        },
    ];
    let mut seen = HashMap::new();
    for f in faults {
        assert!(seen.insert(f.what, ()).is_none());
        check_fault(&dir, fx.clone(), f);
    }
}

#[test]
fn fetch_pdb_rejects_bad_arguments() {
    let home = tempfile::tempdir().unwrap();
    let t = home.path();
    for args in [
        vec!["fetch_pdb", "--pdb", "x.pdb", "--guid", "123"],
        vec![
            "fetch_pdb",
            "--pdb",
            "../x.pdb",
            "--guid",
            "446150EEE021480999C4BCE7828E15281",
            "--server",
            "http://127.0.0.1:9",
        ],
        vec![
            "fetch_pdb",
            "--pdb",
            "x.pdb",
            "--guid",
            "446150EEE021480999C4BCE7828E15281",
            "--server",
            "ftp://x",
        ],
        vec![
            "fetch_pdb",
            "--pdb",
            "x.pdb",
            "--guid",
            "446150EEE021480999C4BCE7828E15281",
            "--max-size",
            "12Q",
        ],
    ] {
        let o = run(profc(t).args(&args).arg("--cache").arg(t.join("c")));
        assert!(!o.status.success(), "{args:?}");
        assert!(!stderr(&o).contains("panicked"), "{args:?}");
    }
    assert!(files_under(t).is_empty());
}

// ---------------------------------------------------------------------------
// build_local_profile

#[test]
fn build_local_profile_fetches_verifies_and_parses() {
    let Some(dir) = fixtures("build_local_profile_fetches_verifies_and_parses") else {
        return;
    };
    let shared = dir
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .unwrap()
        .to_path_buf();
    let t = tempfile::tempdir().unwrap();
    let (store, cache) = (t.path().join("store"), t.path().join("cache"));
    let name = "attach_amd64.pdb";
    let key = pdb_key(&dir.join(name));
    let original = std::fs::read(dir.join(name)).unwrap();
    std::fs::write(
        store_path(&store, name, &key, "attach_amd64.pd_"),
        make_cab(name, &original),
    )
    .unwrap();
    let server = PyServer::start(&store);
    let out = t.path().join("attach_amd64.json");
    // Alone in its folder: a PDB beside it would be read in place.
    let dll = t.path().join("attach_amd64.dll");
    std::fs::copy(dir.join("attach_amd64.dll"), &dll).unwrap();
    let o = run(profc(t.path())
        .arg("build_local_profile")
        .arg(&dll)
        .arg("--output")
        .arg(&out)
        .args(["--server", &server.url(), "--cache"])
        .arg(&cache));
    // Fetched and verified whatever the PDB reader does.
    let cached = cache.join(name).join(&key).join(name);
    assert_eq!(std::fs::read(&cached).unwrap(), original);
    let e = stderr(&o);
    assert!(o.status.success(), "{e}");
    let oracle = shared.join("fixtures/oracles/llvm-pdbutil/debugpy-1.8.22_attach_amd64.dump.txt");
    let (ok, last, full) = support::compare_layouts(&shared, &out, &oracle);
    assert!(ok, "{last}\n{full}");
    // The profile equals the one parse_pdb makes from the local file.
    let local = t.path().join("local.json");
    let o = run(profc(t.path())
        .arg("parse_pdb")
        .arg(dir.join("attach_amd64.pdb"))
        .arg("--output")
        .arg(&local));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&local).unwrap());
}
