//! `profc repo publish-isf`: the Volatility 3 view of a repository
//! (`isf/<name>.json.xz` + `banners.json`). Its contents after add, remove,
//! build and withdraw, with real inputs (truth: the banners given, the PDB's
//! own GUID/age as `llvm-pdbutil` prints them); `banners.json` surviving a
//! failed write; and Volatility 3 itself, with no local symbols, running
//! `linux.pslist` on a real memory image through `--remote-isf-url` of a
//! repository served by `python3 -m http.server` (truth: the guest's own
//! /proc, groundtruth.txt).

#[path = "../../tests/support.rs"]
mod support;

#[path = "../../tests/guest_truth.rs"]
mod guest_truth;

use guest_truth::{proc_stat_tasks, same_comm, section};

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use base64::Engine as _;
use serde_json::Value;

fn profc(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_profc"));
    for a in args {
        c.arg(a.as_ref());
    }
    // Nothing here fetches a PDB; should anything try, it stays local.
    let cache = std::env::temp_dir().join("profc-remote-isf-test-symbols");
    c.env(
        "_NT_SYMBOL_PATH",
        format!("srv*{}*http://127.0.0.1:9", cache.display()),
    );
    c.output().expect("run profc")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[track_caller]
fn ok(o: Output) -> String {
    assert!(o.status.success(), "profc failed: {}", text(&o));
    text(&o)
}

#[track_caller]
fn fails(o: Output) -> String {
    assert!(
        !o.status.success(),
        "profc should have failed: {}",
        text(&o)
    );
    text(&o)
}

fn skip(test: &str, why: &str) {
    if support::ci() {
        panic!("{test}: {why}, and CI=true requires it");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .unwrap_or_else(|e| panic!("{s:?} is not base64: {e}"))
}

/// `banners.json`, decoded: (os, identifier) -> URLs.
fn banners(repo: &Path) -> BTreeMap<(String, Vec<u8>), Vec<String>> {
    let doc: Value =
        serde_json::from_slice(&std::fs::read(repo.join("banners.json")).unwrap()).unwrap();
    assert_eq!(doc["version"], 1, "{doc}");
    let mut out = BTreeMap::new();
    for os in ["linux", "mac", "windows"] {
        for (id, urls) in doc[os].as_object().unwrap_or_else(|| panic!("{doc}")) {
            let urls = urls
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u.as_str().unwrap().to_owned())
                .collect();
            out.insert((os.to_owned(), b64(id)), urls);
        }
    }
    out
}

/// The ISF document a URL of `banners.json` names, read from the repository
/// folder it is served from.
fn isf_at(repo: &Path, base: &str, url: &str) -> Value {
    let rel = url
        .strip_prefix(base)
        .unwrap_or_else(|| panic!("{url} is not under {base}"));
    read_xz_json(&repo.join(rel))
}

fn read_xz_json(path: &Path) -> Value {
    let mut json = Vec::new();
    liblzma::read::XzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut json)
        .unwrap_or_else(|e| panic!("{}: not xz: {e}", path.display()));
    serde_json::from_slice(&json).unwrap()
}

/// GUID (symbol-server form) and age of a PDB, as `llvm-pdbutil` reads them.
fn pdbutil_guid_age(pdb: &Path) -> Option<(String, u64)> {
    let out = Command::new("llvm-pdbutil")
        .args(["dump", "-summary"])
        .arg(pdb)
        .output()
        .ok()?;
    let t = String::from_utf8_lossy(&out.stdout);
    let field = |k: &str| {
        t.lines()
            .find_map(|l| l.trim().strip_prefix(k).map(|v| v.trim().to_owned()))
    };
    let guid = field("GUID:")?
        .trim_matches(|c| c == '{' || c == '}')
        .replace('-', "");
    Some((guid, field("Age:")?.parse().ok()?))
}

const MAC_BANNER: &str = "Darwin Kernel Version 17.4.0: Sun Dec 17 09:19:54 PST 2017; root:xnu-4570.41.2~1/RELEASE_X86_64";
const LINUX_BANNER: &str = "Linux version 3.16.0-4-amd64 (debian-kernel@lists.debian.org) (gcc version 4.8.4 (Debian 4.8.4-1) ) #1 SMP Debian 3.16.7-ckt11-1+deb8u3 (2015-08-04)";

#[test]
fn isf_view_follows_add_remove_build() {
    const T: &str = "isf_view_follows_add_remove_build";
    let Some(shared) = support::shared(T) else {
        return;
    };
    let f = shared.join("fixtures");
    let pdb = f.join("pdb/debugpy-1.8.22/attach_amd64.pdb");
    let Some((guid, age)) = pdbutil_guid_age(&pdb) else {
        return skip(T, "llvm-pdbutil is needed to read the PDB's GUID and age");
    };
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("repo");
    let osx = f.join("rekall/OSX/HighSierra_10.13.3_17D47.json");
    let deb8 = f.join("rekall/Linux/Debian8.rekall.json");

    // Stored before the view exists: converted when it is published.
    ok(profc(&[
        &"repo",
        &"add",
        &repo,
        &osx,
        &"--banner",
        &MAC_BANNER,
    ]));
    assert!(!repo.join("banners.json").exists());
    let e = fails(profc(&[&"repo", &"publish-isf", &repo]));
    assert!(e.contains("--base-url"), "{e}");
    let e = fails(profc(&[
        &"repo",
        &"publish-isf",
        &repo,
        &"--base-url",
        &"srv/",
    ]));
    assert!(e.contains("absolute"), "{e}");
    assert!(!repo.join("banners.json").exists());
    let base = "http://127.0.0.1:9/r/";
    let out = ok(profc(&[
        &"repo",
        &"publish-isf",
        &repo,
        &"--base-url",
        &"http://127.0.0.1:9/r",
    ]));
    assert!(
        out.contains("1 profiles (0 linux, 1 mac, 0 windows)"),
        "{out}"
    );
    assert!(
        out.contains("1 converted from their stored Rekall form"),
        "{out}"
    );

    // Kept up to date by add, symlink and build.
    let banner_nl = format!("{LINUX_BANNER}\n");
    ok(profc(&[
        &"repo",
        &"add",
        &repo,
        &deb8,
        &"--banner",
        &banner_nl,
        &"--name",
        &"Linux/Debian8",
    ]));
    ok(profc(&[
        &"repo",
        &"symlink",
        &repo,
        &"Debian8",
        &"Linux/Debian8",
    ]));
    let config = d.path().join("build.toml");
    std::fs::write(
        &config,
        format!("[[source]]\npath = {:?}\n", pdb.to_str().unwrap()),
    )
    .unwrap();
    ok(profc(&[&"repo", &"build", &repo, &config]));

    let pdb_name = pdb.file_name().unwrap().to_str().unwrap();
    let win_id = format!("{pdb_name}|{guid}|{age}").into_bytes();
    let want: BTreeMap<(String, Vec<u8>), Vec<String>> = [
        (
            ("linux", LINUX_BANNER.as_bytes().to_vec()),
            "isf/Linux/Debian8.json.xz".to_owned(),
        ),
        (
            ("mac", MAC_BANNER.as_bytes().to_vec()),
            "isf/OSX/HighSierra_10.13.3_17D47.json.xz".to_owned(),
        ),
        (
            ("windows", win_id.clone()),
            format!("isf/attach_amd64/GUID/{guid}{age:X}.json.xz"),
        ),
    ]
    .into_iter()
    .map(|((os, id), rel)| ((os.to_owned(), id), vec![format!("{base}{rel}")]))
    .collect();
    let got = banners(&repo);
    assert_eq!(got, want);
    // Each URL names an ISF whose own identifier (as Volatility 3 reads it)
    // is the key.
    for ((os, id), urls) in &got {
        let isf = isf_at(&repo, base, &urls[0]);
        match os.as_str() {
            "windows" => {
                let p = &isf["metadata"]["windows"]["pdb"];
                assert_eq!(p["GUID"], guid.as_str(), "{p}");
                assert_eq!(p["age"], age, "{p}");
                assert_eq!(p["database"], pdb_name, "{p}");
            }
            os => {
                let sym = if os == "mac" {
                    "version"
                } else {
                    "linux_banner"
                };
                let data = b64(isf["symbols"][sym]["constant_data"].as_str().unwrap());
                assert!(
                    data.starts_with(id),
                    "{os}: {:?}",
                    String::from_utf8_lossy(&data)
                );
            }
        }
    }
    // No entry for the symlink; verify checks the view too.
    assert!(!repo.join("isf/Debian8.json.xz").exists());
    ok(profc(&[&"repo", &"verify", &repo]));

    // The same bytes again: republishing, rebuilding an unchanged source,
    // and another repository holding the same profile.
    let bytes = std::fs::read(repo.join("banners.json")).unwrap();
    let win_isf = repo.join(format!("isf/attach_amd64/GUID/{guid}{age:X}.json.xz"));
    let isf_bytes = std::fs::read(&win_isf).unwrap();
    ok(profc(&[&"repo", &"publish-isf", &repo]));
    ok(profc(&[&"repo", &"build", &repo, &config]));
    assert_eq!(std::fs::read(repo.join("banners.json")).unwrap(), bytes);
    let other = d.path().join("other");
    ok(profc(&[
        &"repo",
        &"publish-isf",
        &other,
        &"--base-url",
        &base,
    ]));
    ok(profc(&[&"repo", &"add", &other, &pdb]));
    assert_eq!(
        std::fs::read(other.join(win_isf.strip_prefix(&repo).unwrap())).unwrap(),
        isf_bytes
    );
    assert_eq!(std::fs::read(&win_isf).unwrap(), isf_bytes);

    // A damaged ISF file is reported; re-adding the profile mends it.
    std::fs::write(&win_isf, b"not xz").unwrap();
    let e = fails(profc(&[&"repo", &"verify", &repo]));
    assert!(e.contains("differs from the one recorded"), "{e}");
    ok(profc(&[&"repo", &"add", &repo, &pdb, &"--overwrite"]));
    ok(profc(&[&"repo", &"verify", &repo]));

    // Removing a profile removes its ISF and its entry.
    ok(profc(&[
        &"repo",
        &"remove",
        &repo,
        &"Debian8",
        &"Linux/Debian8",
    ]));
    let got = banners(&repo);
    assert!(!got.keys().any(|(os, _)| os == "linux"), "{got:?}");
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(!repo.join("isf/Linux").exists());
    ok(profc(&[&"repo", &"verify", &repo]));

    // A new base URL only rewrites banners.json.
    ok(profc(&[
        &"repo",
        &"publish-isf",
        &repo,
        &"--base-url",
        &"https://example.org/profiles/",
    ]));
    for urls in banners(&repo).values() {
        assert!(
            urls[0].starts_with("https://example.org/profiles/isf/"),
            "{urls:?}"
        );
    }
    assert_eq!(std::fs::read(&win_isf).unwrap(), isf_bytes);

    // Withdrawn: the view's files are gone, the Rekall tree stays.
    ok(profc(&[&"repo", &"publish-isf", &repo, &"--withdraw"]));
    for f in ["banners.json", ".isf-view.json", "isf"] {
        assert!(!repo.join(f).exists(), "{f}");
    }
    ok(profc(&[
        &"repo",
        &"add",
        &repo,
        &deb8,
        &"--banner",
        &banner_nl,
        &"--name",
        &"Linux/Debian8",
    ]));
    assert!(!repo.join("isf").exists());
    ok(profc(&[&"repo", &"verify", &repo]));
}

#[test]
fn banners_json_stays_when_it_cannot_be_written() {
    const T: &str = "banners_json_stays_when_it_cannot_be_written";
    let Some(shared) = support::shared(T) else {
        return;
    };
    let bash = Path::new("/bin/bash");
    if !bash.exists() {
        return skip(T, "/bin/bash is needed (ulimit -f)");
    }
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("repo");
    let deb8 = shared.join("fixtures/rekall/Linux/Debian8.rekall.json");
    ok(profc(&[
        &"repo",
        &"publish-isf",
        &repo,
        &"--base-url",
        &"http://a/",
    ]));
    ok(profc(&[
        &"repo",
        &"add",
        &repo,
        &deb8,
        &"--banner",
        &LINUX_BANNER,
    ]));
    let before = std::fs::read(repo.join("banners.json")).unwrap();
    let state_before = std::fs::read(repo.join(".isf-view.json")).unwrap();
    // A base URL long enough that banners.json outgrows a 1 KiB file size
    // limit (as on a full disk, writes past it fail): only banners.json
    // grows with a new base URL.
    let long = format!("http://a/{}/", "x".repeat(1500));
    let out = Command::new(bash)
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 1; exec \"$0\" repo publish-isf \"$1\" --base-url \"$2\"")
        .arg(env!("CARGO_BIN_EXE_profc"))
        .arg(&repo)
        .arg(&long)
        .output()
        .unwrap();
    let e = fails(out);
    assert!(e.contains("banners.json"), "{e}");
    assert!(!e.contains("panicked"), "{e}");
    assert_eq!(std::fs::read(repo.join("banners.json")).unwrap(), before);
    assert_eq!(
        std::fs::read(repo.join(".isf-view.json")).unwrap(),
        state_before
    );
    let left: Vec<_> = std::fs::read_dir(&repo)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    ok(profc(&[&"repo", &"verify", &repo]));
    // Without the limit it goes through.
    ok(profc(&[
        &"repo",
        &"publish-isf",
        &repo,
        &"--base-url",
        &long,
    ]));
    assert!(banners(&repo).values().all(|u| u[0].starts_with(&long)));
}

// ---------------------------------------------------------------------------
// Volatility 3 itself
// ---------------------------------------------------------------------------

fn images_dir() -> PathBuf {
    std::env::var_os("PROFC_IMAGES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/profile-images")
        })
}

/// A free TCP port on 127.0.0.1 (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `python3 -m http.server` serving `dir` on `port`, killed on drop.
struct Server(Child);

impl Server {
    fn start(dir: &Path, port: u16, log: &Path) -> Server {
        let mut child = Command::new("python3")
            .args(["-u", "-m", "http.server", "--bind", "127.0.0.1"])
            .arg(port.to_string())
            .arg("--directory")
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .expect("python3 is needed");
        // It prints "Serving HTTP on ..." once it listens.
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.contains(&port.to_string()), "{line:?}");
        Server(child)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The ISF of a kernel, made by `profc convert_profile VMLINUX --system-map
/// System.map --format isf` once and kept under the target directory by
/// the kernel files' sizes and modification times (the debug build takes
/// about a minute over the whole vmlinux).
fn kernel_isf(kernel: &Path) -> PathBuf {
    let stamp = |p: &Path| {
        let m = std::fs::metadata(p).unwrap();
        let t = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        format!("{}-{t}", m.len())
    };
    let (vmlinux, map) = (kernel.join("vmlinux"), kernel.join("System.map"));
    let name = kernel.file_name().unwrap().to_string_lossy().into_owned();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("remote-isf");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!(
        "{name}-{}-{}.json.xz",
        stamp(&vmlinux),
        stamp(&map)
    ));
    if !path.exists() {
        ok(profc(&[
            &"convert_profile",
            &vmlinux,
            &path,
            &"--system-map",
            &map,
            &"--format",
            &"isf",
            &"--overwrite",
        ]));
    }
    path
}

#[test]
fn volatility3_pslist_through_remote_isf() {
    const T: &str = "volatility3_pslist_through_remote_isf";
    let images = images_dir();
    let set = images.join("6.1.0-57-amd64-4level");
    let kernel = images.join("kernel/6.1.0-57-amd64");
    for f in [
        set.join("mem.raw"),
        set.join("groundtruth.txt"),
        kernel.join("vmlinux"),
        kernel.join("System.map"),
    ] {
        if !f.exists() {
            return skip(
                T,
                &format!(
                    "{} is missing (run ../shared/images/linux-qemu-image.sh)",
                    f.display()
                ),
            );
        }
    }
    let vol_ok = Command::new("vol")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !vol_ok {
        return skip(T, "Volatility 3 (`vol`) is not installed");
    }
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("repo");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}/");
    ok(profc(&[
        &"repo",
        &"publish-isf",
        &repo,
        &"--base-url",
        &base,
    ]));
    // The kernel's profile, and a Windows one beside it.
    let made = kernel_isf(&kernel);
    ok(profc(&[&"repo", &"add", &repo, &made]));
    // What the repository publishes is what `convert_profile` made from
    // the vmlinux (an ISF input keeps its symbol types and unions); only
    // the metadata differs (the input files' hashes are not carried over).
    let mut published = read_xz_json(&repo.join("isf/Linux/6.1.0-57-amd64.json.xz"));
    let mut converted = read_xz_json(&made);
    for doc in [&mut published, &mut converted] {
        doc.as_object_mut().unwrap().remove("metadata");
    }
    assert!(
        published == converted,
        "the published ISF differs from convert_profile's"
    );
    let pdb = support::shared_dir()
        .map(|s| s.join("fixtures/pdb/debugpy-1.8.22/attach_amd64.pdb"))
        .filter(|p| p.exists());
    match &pdb {
        Some(p) => {
            ok(profc(&[&"repo", &"add", &repo, p]));
        }
        None => skip(T, "../shared/fixtures/pdb is missing: no Windows profile"),
    }
    let got = banners(&repo);
    let groundtruth = std::fs::read_to_string(set.join("groundtruth.txt")).unwrap();
    let version = section(&groundtruth, "version")[0].trim();
    let linux: Vec<_> = got.keys().filter(|(os, _)| os == "linux").collect();
    assert_eq!(linux.len(), 1, "{got:?}");
    assert_eq!(linux[0].1, version.as_bytes(), "the guest's /proc/version");
    if let Some(p) = &pdb {
        let (guid, age) = pdbutil_guid_age(p).expect("llvm-pdbutil");
        let id = format!("attach_amd64.pdb|{guid}|{age}").into_bytes();
        assert!(got.contains_key(&("windows".to_owned(), id)), "{got:?}");
    }

    let _server = Server::start(&repo, port, &d.path().join("http.log"));
    // A fresh cache: no symbols but the remote ones.
    let cache = d.path().join("xdg-cache");
    std::fs::create_dir_all(&cache).unwrap();
    let out = Command::new("vol")
        .env("XDG_CACHE_HOME", &cache)
        .current_dir(d.path())
        .arg("-q")
        .args(["-r", "json"])
        .arg("--remote-isf-url")
        .arg(format!("{base}banners.json"))
        .arg("-f")
        .arg(set.join("mem.raw"))
        .arg("linux.pslist")
        .output()
        .unwrap();
    let log = std::fs::read_to_string(d.path().join("http.log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "vol failed: {}\nHTTP log:\n{log}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        log.contains("GET /isf/Linux/6.1.0-57-amd64.json.xz"),
        "{log}"
    );
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "vol's output is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    let rows = rows.as_array().expect("a list of rows");
    let vol: BTreeMap<i64, (i64, String)> = rows
        .iter()
        .map(|r| {
            (
                r["PID"].as_i64().unwrap(),
                (
                    r["PPID"].as_i64().unwrap(),
                    r["COMM"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect();
    assert_eq!(vol.len(), rows.len(), "repeated pids");
    let guest = proc_stat_tasks(&groundtruth);
    assert!(guest.len() > 20, "{guest:?}");
    for (pid, (ppid, comm)) in &guest {
        let Some((p, c)) = vol.get(pid) else {
            panic!("pid {pid} ({comm}) of the guest's /proc is not in vol's pslist: {vol:?}")
        };
        assert_eq!(p, ppid, "ppid of {pid}");
        assert!(same_comm(c, comm), "comm of {pid}: {c:?} vs {comm:?}");
    }
    // Processes started after the guest printed its list (its idle loop's
    // `sleep`) may be there too, no more than a few.
    let extra: Vec<_> = vol.iter().filter(|(p, _)| !guest.contains_key(p)).collect();
    assert!(extra.len() <= 3, "unexpected processes {extra:?}");
}
