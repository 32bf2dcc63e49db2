//! `profc repo ...` end to end: real profiles, symlinks, a real HTTP server
//! as a remote with a local cache, verify, concurrent writers, hostile names,
//! builds from a configuration file.

#[path = "../../tests/support.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use profile_compiler::{Input, InputKind};
use profile_runtime::{Descriptor, Field, Profile, StructDef, WriteMode};

fn profc(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_profc"));
    for a in args {
        c.arg(a.as_ref());
    }
    // `guid` sources and executables fetch PDBs: point them at a closed
    // loopback port so no test ever leaves this machine.
    let cache = std::env::temp_dir().join("profc-repo-test-symbols");
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

/// A hand-made PDB-style profile of `n` structs.
fn windows_profile(guid: &str, n: usize) -> Profile {
    let mut p = Profile::new();
    p.set_metadata("ProfileClass", "Ntkrnlmp");
    p.set_metadata("PDBFile", "ntkrnlmp.pdb");
    p.set_metadata("GUID_AGE", guid);
    p.set_metadata("arch", "AMD64");
    for i in 0..n {
        let mut s = StructDef {
            size: Some(16),
            ..Default::default()
        };
        s.fields.insert(
            "Next".into(),
            Field {
                offset: Some(0),
                descriptor: Descriptor::Pointer {
                    target: Box::new(Descriptor::Named(format!("_S{i}"))),
                },
            },
        );
        s.fields.insert(
            "Value".into(),
            Field {
                offset: Some(8),
                descriptor: Descriptor::Named("unsigned long long".into()),
            },
        );
        p.structs.insert(format!("_S{i}"), s);
        p.constants.insert(format!("Sym{i}"), 0x1000 + i as u64);
    }
    p
}

fn save(p: &Profile, path: &Path) -> PathBuf {
    p.save(path, WriteMode::Overwrite).unwrap();
    path.to_path_buf()
}

/// A `python3 -m http.server` on 127.0.0.1, on a free port, logging to a file.
struct Server {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Server {
    fn start(dir: &Path, log: PathBuf) -> Server {
        let mut child = Command::new("python3")
            .args([
                "-u",
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                "0",
                "--directory",
            ])
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("python3 is needed for the HTTP tests");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        // "Serving HTTP on 127.0.0.1 port 41235 (http://127.0.0.1:41235/) ..."
        let port: u16 = line
            .split_whitespace()
            .skip_while(|w| *w != "port")
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// How many GET requests for `path` the server logged.
    fn gets(&self, path: &str) -> usize {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.lines()
            .filter(|l| l.contains(&format!("\"GET {path} HTTP")))
            .count()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

const G1: &str = "3844DBB920174967BE7AA4A2C20430FA2";

#[test]
fn real_profiles_served_over_http_with_cache() {
    let Some(shared) = support::shared("real_profiles_served_over_http_with_cache") else {
        return;
    };
    let f = shared.join("fixtures/rekall");
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("repo");
    let osx = f.join("OSX/HighSierra_10.13.3_17D47.json");
    let deb8 = f.join("Linux/Debian8.rekall.json");
    let dwarf4 = f.join("Linux/6.1.0-56-amd64.dwarf4.rekall.json");

    // Names derived from metadata and file names, as Rekall lays them out.
    let out = ok(profc(&[&"repo", &"add", &repo, &osx, &deb8, &dwarf4]));
    assert!(out.contains("added OSX/HighSierra_10.13.3_17D47"), "{out}");
    assert!(out.contains("added Linux/Debian8"), "{out}");
    assert!(out.contains("added Linux/6.1.0-56-amd64.dwarf4"), "{out}");
    // Rekall's parse_pdb outputs carry GUID_AGE "-1": a name must be given.
    for e in std::fs::read_dir(f.join("parse_pdb")).unwrap() {
        let p = e.unwrap().path();
        let stem = p
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(".rekall.json", "");
        let err = fails(profc(&[&"repo", &"add", &repo, &p]));
        assert!(err.contains("GUID_AGE") && err.contains("--name"), "{err}");
        ok(profc(&[
            &"repo",
            &"add",
            &repo,
            &p,
            &"--name",
            &format!("pe/{stem}"),
        ]));
    }
    // A hand-made kernel profile gets the nt/GUID layout.
    let nt = save(&windows_profile(G1, 50), &d.path().join("nt.json"));
    assert!(ok(profc(&[&"repo", &"add", &repo, &nt])).contains(&format!("added nt/GUID/{G1}")));
    ok(profc(&[
        &"repo",
        &"symlink",
        &repo,
        &"Debian8",
        &"Linux/Debian8",
    ]));
    ok(profc(&[&"repo", &"symlink", &repo, &"Default", &"Debian8"]));
    let banner = "Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.158-1 (2025-11-09)";
    ok(profc(&[
        &"repo",
        &"add",
        &repo,
        &dwarf4,
        &"--name",
        &"Linux/with-banner",
        &"--banner",
        &banner,
    ]));
    ok(profc(&[
        &"repo",
        &"symlink",
        &repo,
        &"HighSierra",
        &"OSX/HighSierra_10.13.3_17D47",
    ]));
    ok(profc(&[
        &"repo",
        &"symlink",
        &repo,
        &"Win7SP1x64",
        &format!("nt/GUID/{G1}"),
    ]));
    assert!(ok(profc(&[&"repo", &"verify", &repo])).contains("OK"));
    let listing = ok(profc(&[&"repo", &"list", &repo]));
    assert!(
        listing.contains("Default -> Debian8") && listing.contains("pe/debugpy-1.8.22_attach_x86"),
        "{listing}"
    );
    assert_eq!(listing.lines().count(), 5 + 6 + 4, "{listing}");

    // The repository is Rekall-compatible: an inventory.gz of the usual shape.
    let inv: serde_json::Value = {
        let bytes = profile_runtime::read_maybe_gzip(
            std::fs::read(repo.join("inventory.gz")).unwrap(),
            "inv",
            1 << 30,
        )
        .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    };
    assert_eq!(inv["$METADATA"]["Type"], "Inventory");
    assert!(
        inv["$INVENTORY"]["Linux/Debian8"]["LastModified"]
            .as_u64()
            .unwrap()
            > 1_600_000_000
    );
    assert_eq!(inv["$INVENTORY"]["Default"]["Target"], "Debian8");

    let mut server = Server::start(&repo, d.path().join("server.log"));
    let cache = d.path().join("cache");
    let empty = d.path().join("empty-local");
    std::fs::create_dir(&empty).unwrap();
    let url = server.url.clone();
    let run_get = |query: &str, out: &Path, extra: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_profc"));
        c.args(["repo", "get", query, "--repository-path"])
            .arg(&empty);
        c.args(["--repository-path", &url, "--cache"]).arg(&cache);
        c.arg("--output").arg(out).arg("--overwrite").args(extra);
        c.output().unwrap()
    };

    // 1. Lookup through a symlink chain fetches and caches the profile.
    let out1 = d.path().join("out1.json");
    let t = ok(run_get("Default", &out1, &[]));
    assert!(
        t.contains("Linux/Debian8 found in") && t.contains("(downloaded)"),
        "{t}"
    );
    assert_eq!(Profile::load(&out1).unwrap(), Profile::load(&deb8).unwrap());
    assert_eq!(server.gets("/Linux/Debian8.gz"), 1);
    assert_eq!(
        server.gets("/Default.gz"),
        0,
        "symlinks resolve through the inventory"
    );

    // 2. The second lookup is served from the cache: no second download.
    let out2 = d.path().join("out2.gz");
    let t = ok(run_get("Default", &out2, &[]));
    assert!(t.contains("(from the cache)"), "{t}");
    assert_eq!(server.gets("/Linux/Debian8.gz"), 1);
    assert_eq!(Profile::load(&out2).unwrap(), Profile::load(&deb8).unwrap());

    // By GUID_AGE and a second name.
    let out3 = d.path().join("out3.json");
    let t = ok(run_get(G1, &out3, &[]));
    assert!(t.contains(&format!("nt/GUID/{G1} found")), "{t}");
    assert_eq!(Profile::load(&out3).unwrap(), windows_profile(G1, 50));
    ok(run_get("HighSierra", &d.path().join("osx.json"), &[]));
    // By kernel banner, as read from a memory image (trailing newline).
    let t = ok(run_get(
        &format!("{banner}\n"),
        &d.path().join("banner.json"),
        &[],
    ));
    assert!(t.contains("Linux/with-banner found"), "{t}");

    // 3. The server's copy changes; its inventory says so; the cache refreshes.
    ok(profc(&[
        &"repo",
        &"add",
        &repo,
        &dwarf4,
        &"--name",
        &"Linux/Debian8",
        &"--overwrite",
    ]));
    let out4 = d.path().join("out4.json");
    let t = ok(run_get("Default", &out4, &[]));
    assert!(t.contains("(downloaded)"), "{t}");
    assert_eq!(server.gets("/Linux/Debian8.gz"), 2);
    let new = Profile::load(&dwarf4).unwrap();
    assert_eq!(Profile::load(&out4).unwrap(), new);

    // 4. Server gone: offline mode serves from the cache...
    server.stop();
    let out5 = d.path().join("out5.json");
    let t = ok(run_get("Default", &out5, &["--offline"]));
    assert!(t.contains("(from the cache)"), "{t}");
    assert_eq!(Profile::load(&out5).unwrap(), new);
    // ... and so does online mode, with a note that the remote is unreachable.
    let t = ok(run_get("Win7SP1x64", &d.path().join("out6.json"), &[]));
    assert!(t.contains("using the cached inventory"), "{t}");
    // What was never fetched is not there offline.
    let t = fails(run_get(
        "pe/debugpy-1.8.22_attach_x86",
        &d.path().join("out7.json"),
        &["--offline"],
    ));
    assert!(t.contains("not found"), "{t}");
}

#[test]
fn verify_reports_each_problem_by_name() {
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("repo");
    let a = save(&windows_profile(G1, 3), &d.path().join("a.json"));
    ok(profc(&[&"repo", &"add", &repo, &a, &"--name", &"good"]));
    ok(profc(&[&"repo", &"add", &repo, &a, &"--name", &"victim"]));
    ok(profc(&[&"repo", &"add", &repo, &a, &"--name", &"sub/gone"]));
    ok(profc(&[&"repo", &"symlink", &repo, &"dangling", &"victim"]));
    // Removing a link target is refused unless forced.
    assert!(fails(profc(&[&"repo", &"remove", &repo, &"victim"])).contains("dangling"));
    ok(profc(&[&"repo", &"remove", &repo, &"victim", &"--force"]));
    std::fs::write(
        repo.join("corrupt.gz"),
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xffnot deflate",
    )
    .unwrap();
    std::fs::write(
        repo.join("loop1.gz"),
        br#"{"$METADATA": {"Type": "Symlink", "Target": "loop2"}}"#,
    )
    .unwrap();
    std::fs::write(
        repo.join("loop2.gz"),
        br#"{"$METADATA": {"Type": "Symlink", "Target": "loop1"}}"#,
    )
    .unwrap();
    std::fs::remove_file(repo.join("sub/gone.gz")).unwrap();
    let t = fails(profc(&[&"repo", &"verify", &repo]));
    for (name, what) in [
        ("corrupt", "corrupt profile"),
        ("dangling", "dangling"),
        ("loop1", "cycle"),
        ("sub/gone", "no such file"),
    ] {
        assert!(
            t.lines()
                .any(|l| l.starts_with(&format!("{name}: ")) && l.contains(what)),
            "{name}/{what} not reported:\n{t}"
        );
    }
    assert!(!t.lines().any(|l| l.starts_with("good:")), "{t}");
    assert!(t.contains("problem(s) found"), "{t}");
}

#[test]
fn concurrent_adds_both_land() {
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("repo");
    ok(profc(&[
        &"repo",
        &"add",
        &repo,
        &save(&windows_profile(G1, 1), &d.path().join("seed.json")),
        &"--name",
        &"seed",
    ]));
    for round in 0..3 {
        let a = save(&windows_profile(G1, 3000), &d.path().join("a.json"));
        let b = save(&windows_profile(G1, 3001), &d.path().join("b.json"));
        let spawn = |input: &Path, name: String| {
            Command::new(env!("CARGO_BIN_EXE_profc"))
                .args(["repo", "add"])
                .arg(&repo)
                .arg(input)
                .args(["--name", &name])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let ca = spawn(&a, format!("round{round}/a"));
        let cb = spawn(&b, format!("round{round}/b"));
        ok(ca.wait_with_output().unwrap());
        ok(cb.wait_with_output().unwrap());
    }
    let listing = ok(profc(&[&"repo", &"list", &repo]));
    for round in 0..3 {
        assert!(
            listing.contains(&format!("round{round}/a"))
                && listing.contains(&format!("round{round}/b")),
            "{listing}"
        );
    }
    assert!(ok(profc(&[&"repo", &"verify", &repo])).contains("OK"));
}

#[test]
fn hostile_names_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("repo");
    let a = save(&windows_profile(G1, 1), &d.path().join("a.json"));
    ok(profc(&[&"repo", &"add", &repo, &a, &"--name", &"ok"]));
    for bad in ["../../x", "/tmp/profc-abs-x", "a/../../x", ".lock"] {
        let t = fails(profc(&[&"repo", &"add", &repo, &a, &"--name", &bad]));
        assert!(t.contains("invalid profile name"), "{bad}: {t}");
        let t = fails(profc(&[&"repo", &"symlink", &repo, &"link", &bad]));
        assert!(
            t.contains("target refused") || t.contains("invalid profile name"),
            "{bad}: {t}"
        );
        let t = fails(profc(&[&"repo", &"symlink", &repo, &bad, &"ok"]));
        assert!(t.contains("invalid profile name"), "{bad}: {t}");
    }
    assert!(!d.path().join("x.gz").exists() && !Path::new("/tmp/profc-abs-x.gz").exists());
    #[cfg(unix)]
    {
        let outside = d.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, repo.join("evil")).unwrap();
        let t = fails(profc(&[&"repo", &"add", &repo, &a, &"--name", &"evil/x"]));
        assert!(t.contains("outside the repository"), "{t}");
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    }
    let t = fails(profc(&[
        &"repo",
        &"get",
        &"../ok",
        &"--repository-path",
        &repo,
        &"--output",
        &d.path().join("o.json"),
    ]));
    assert!(t.contains("invalid profile name"), "{t}");
}

#[test]
fn build_from_config() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    std::fs::create_dir_all(src.join("many")).unwrap();
    for i in 0..8 {
        save(
            &windows_profile(&format!("{:032X}1", i + 1), 10 + i),
            &src.join(format!("many/k{i}.json")),
        );
    }
    std::fs::write(src.join("garbage.bin"), b"\x00\x01 not an input").unwrap();
    let mut cfg = String::from(
        "layout = \"rekall\"\n\n[[source]]\npath = \"many\"\n\n[[source]]\npath = \"garbage.bin\"\n\n\
         [[source]]\nkind = \"guid\"\npdb = \"ntkrnlmp.pdb\"\nguid = \"3844DBB920174967BE7AA4A2C20430FA2\"\n",
    );
    if let Some(shared) = support::shared("build_from_config (real profiles)") {
        cfg.push_str(&format!(
            "\n[[source]]\npath = {:?}\nkind = \"profile\"\nsymlinks = [\"HighSierra\"]\n",
            shared.join("fixtures/rekall/OSX")
        ));
    }
    let cfg_path = src.join("repo.toml");
    std::fs::write(&cfg_path, &cfg).unwrap();
    let repo = d.path().join("repo");
    let t = fails(profc(&[
        &"repo", &"build", &repo, &cfg_path, &"--jobs", &"2",
    ]));
    let real = support::shared_dir().is_some() as usize;
    assert!(
        t.contains(&format!("{} built, 0 unchanged, 2 failed", 8 + real)),
        "{t}"
    );
    assert!(
        t.contains("garbage.bin") && t.contains("unrecognised input"),
        "{t}"
    );
    assert!(
        t.contains("guid:ntkrnlmp.pdb/3844DBB920174967BE7AA4A2C20430FA2"),
        "{t}"
    );
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo.join(".build-state.json")).unwrap()).unwrap();
    let errors = state["sources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|s| !s["error"].is_null())
        .count();
    assert_eq!(errors, 2);
    // Again: nothing changed.
    let t = fails(profc(&[&"repo", &"build", &repo, &cfg_path]));
    assert!(
        t.contains(&format!("0 built, {} unchanged, 2 failed", 8 + real)),
        "{t}"
    );
    // One source changes.
    save(
        &windows_profile("00000000000000000000000000000003F", 99),
        &src.join("many/k2.json"),
    );
    let t = fails(profc(&[&"repo", &"build", &repo, &cfg_path]));
    assert!(
        t.contains(&format!("1 built, {} unchanged, 2 failed", 7 + real)),
        "{t}"
    );
    let listing = ok(profc(&[&"repo", &"list", &repo]));
    assert!(
        listing.contains("nt/GUID/00000000000000000000000000000003F"),
        "{listing}"
    );
    if real == 1 {
        assert!(
            listing.contains("HighSierra -> OSX/HighSierra_10.13.3_17D47"),
            "{listing}"
        );
    }
    assert!(ok(profc(&[&"repo", &"verify", &repo])).contains("OK"));
}

#[test]
fn inputs_are_recognised_by_content() {
    let Some(shared) = support::shared("inputs_are_recognised_by_content") else {
        return;
    };
    let f = shared.join("fixtures");
    let pdb = f.join("pdb/debugpy-1.8.22");
    assert_eq!(
        detect_input(&pdb.join("attach_amd64.pdb")).unwrap(),
        InputKind::Pdb
    );
    assert_eq!(
        detect_input(&pdb.join("attach_amd64.dll")).unwrap(),
        InputKind::Executable
    );
    assert_eq!(
        detect_input(&pdb.join("inject_dll_x86.exe")).unwrap(),
        InputKind::Executable
    );
    assert_eq!(
        detect_input(&f.join("vol2/Debian8.zip")).unwrap(),
        InputKind::Vol2Zip
    );
    assert_eq!(
        detect_input(&f.join("linux/6.1.0-56-amd64.zip")).unwrap(),
        InputKind::LinuxZip
    );
    assert_eq!(
        detect_input(&f.join("rekall/OSX/HighSierra_10.13.3_17D47.json")).unwrap(),
        InputKind::RekallProfile
    );
}

/// Every real compiler input goes into a repository through `repo add` and
/// comes back out through `repo get`.
#[test]
fn every_real_fixture_through_repo_add() {
    let Some(shared) = support::shared("every_real_fixture_through_repo_add") else {
        return;
    };
    let f = shared.join("fixtures");
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("repo");
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(f.join("pdb/debugpy-1.8.22"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pdb"))
        .collect();
    inputs.sort();
    inputs.push(f.join("vol2/Debian8.zip"));
    inputs.push(f.join("linux/6.1.0-56-amd64.zip"));
    inputs.push(f.join("linux/6.1.0-56-amd64.dwarf4.zip"));
    for input in inputs {
        let mut o = profc(&[&"repo", &"add", &repo, &input]);
        if !o.status.success() && text(&o).contains("already exists") {
            // Two inputs of one kernel derive the same name: name the second.
            let stem = input
                .file_name()
                .unwrap()
                .to_string_lossy()
                .replace(".zip", "");
            o = profc(&[
                &"repo",
                &"add",
                &repo,
                &input,
                &"--name",
                &format!("inputs/{stem}"),
            ]);
        }
        let t = text(&o);
        assert!(o.status.success(), "{}: {t}", input.display());
        let name = t
            .lines()
            .find_map(|l| l.strip_prefix("added "))
            .and_then(|l| l.split(" (from").next())
            .unwrap()
            .to_owned();
        let out = d.path().join("out.json");
        ok(profc(&[
            &"repo",
            &"get",
            &name,
            &"--repository-path",
            &repo,
            &"--output",
            &out,
            &"--overwrite",
        ]));
        assert!(!Profile::load(&out).unwrap().structs.is_empty(), "{name}");
    }
    if repo.exists() {
        assert!(ok(profc(&[&"repo", &"verify", &repo])).contains("OK"));
    }
}

/// What the compiler's detection says a file is.
fn detect_input(path: &Path) -> profile_compiler::Result<InputKind> {
    Input::detect(path).map(|i| i.kind)
}

/// Writes a gzipped JSON document.
fn write_gz(path: &Path, doc: &serde_json::Value) {
    use std::io::Write;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(doc.to_string().as_bytes()).unwrap();
    std::fs::write(path, gz.finish().unwrap()).unwrap();
}

#[test]
fn rekall_style_and_hostile_remotes() {
    let d = tempfile::tempdir().unwrap();
    let site = d.path().join("site");
    let p1 = windows_profile(G1, 2);
    let p2 = windows_profile(G1, 5);
    let doc =
        |p: &Profile| serde_json::from_slice::<serde_json::Value>(&p.to_canonical_json()).unwrap();
    write_gz(&site.join("nt/GUID/X.gz"), &doc(&p1));
    write_gz(&site.join("tampered.gz"), &doc(&p1));
    // A Rekall inventory: float LastModified only; plus hostile entries.
    let inventory = |lm: f64| {
        serde_json::json!({
            "$METADATA": {"Type": "Inventory", "ProfileClass": "Inventory"},
            "$INVENTORY": {
                "nt/GUID/X": {"LastModified": lm},
                "Win7": {"LastModified": lm, "Type": "Symlink", "Target": "nt/GUID/X"},
                "escape": {"LastModified": lm, "Type": "Symlink", "Target": "../../etc/passwd"},
                "tampered": {"LastModified": lm, "Sha256": "00"},
            }
        })
    };
    write_gz(&site.join("inventory.gz"), &inventory(1438011231.5));
    let server = Server::start(&site, d.path().join("log"));
    let cache = d.path().join("cache");
    let get = |q: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_profc"))
            .args([
                "repo",
                "get",
                q,
                "--repository-path",
                &server.url,
                "--cache",
            ])
            .arg(&cache)
            .arg("--output")
            .arg(d.path().join("out.json"))
            .arg("--overwrite")
            .output()
            .unwrap();
        (o.status.success(), text(&o))
    };
    let (okay, t) = get("Win7");
    assert!(okay && t.contains("(downloaded)"), "{t}");
    assert_eq!(Profile::load(&d.path().join("out.json")).unwrap(), p1);
    let (okay, t) = get("Win7");
    assert!(okay && t.contains("(from the cache)"), "{t}");
    // The remote replaces the file and bumps LastModified: refreshed.
    write_gz(&site.join("nt/GUID/X.gz"), &doc(&p2));
    write_gz(&site.join("inventory.gz"), &inventory(1438011299.0));
    let (okay, t) = get("Win7");
    assert!(okay && t.contains("(downloaded)"), "{t}");
    assert_eq!(Profile::load(&d.path().join("out.json")).unwrap(), p2);
    assert_eq!(server.gets("/nt/GUID/X.gz"), 2);
    // Hostile: a symlink target leaving the repository, a file that does not
    // match the inventory's hash, a name with `..`.
    let (okay, t) = get("escape");
    assert!(!okay && t.contains("target refused"), "{t}");
    let (okay, t) = get("tampered");
    assert!(!okay && t.contains("Sha256"), "{t}");
    let (okay, t) = get("../site/nt/GUID/X");
    assert!(!okay && t.contains("invalid profile name"), "{t}");
    assert!(!cache.join("etc").exists());
}

/// `repo add` goes through the compiler's one pipeline: every input kind
/// `convert_profile` takes is accepted and stored with its content (an ISF
/// with `--name` used to land empty).
#[test]
fn repo_add_takes_every_input_kind_convert_profile_takes() {
    let d = tempfile::tempdir().unwrap();
    let fx = support::fixtures();
    let map = d.path().join("System.map-6.1.0-test");
    std::fs::write(
        &map,
        "ffffffff81000000 T _text\nffffffff82a1aa40 D init_task\nffffffff81e00000 R linux_banner\n",
    )
    .unwrap();
    let mut inputs: Vec<(PathBuf, &str)> = vec![
        (fx.join("pdb/fixture_x64.pdb"), "structs"),
        (fx.join("btf/btf_types.btf"), "structs"),
        (fx.join("btf/btf_types.o"), "structs"),
        (fx.join("elf/out/types.gcc.dwarf5.o"), "structs"),
        (fx.join("elf/out/types.macho.fat"), "structs"),
        (map.clone(), "constants"),
    ];
    // Profiles of both formats, plain and compressed, made by convert_profile.
    for (ext, format) in [
        ("rekall.json", "rekall"),
        ("rekall.gz", "rekall"),
        ("isf.json", "isf"),
        ("isf.json.gz", "isf"),
        ("isf.json.xz", "isf"),
    ] {
        let out = d.path().join(format!("made.{ext}"));
        ok(profc(&[
            &"convert_profile",
            &fx.join("pdb/fixture_x86.pdb"),
            &out,
            &"--format",
            &format,
        ]));
        inputs.push((out, "structs"));
    }
    if let Some(shared) = support::shared("repo_add_takes_every_input_kind (real zips)") {
        inputs.push((shared.join("fixtures/linux/6.1.0-56-amd64.zip"), "structs"));
        inputs.push((shared.join("fixtures/vol2/Debian8.zip"), "structs"));
    }
    let repo = d.path().join("repo");
    for (i, (input, what)) in inputs.iter().enumerate() {
        let name = format!("kinds/k{i}");
        let t = ok(profc(&[&"repo", &"add", &repo, input, &"--name", &name]));
        assert!(
            t.contains(&format!("added {name}")),
            "{}: {t}",
            input.display()
        );
        let out = d.path().join(format!("got{i}.json"));
        ok(profc(&[
            &"repo",
            &"get",
            &name,
            &"--repository-path",
            &repo,
            &"--output",
            &out,
        ]));
        let p = Profile::load(&out).unwrap();
        let n = match *what {
            "structs" => p.structs.len(),
            _ => p.constants.len(),
        };
        assert!(n > 0, "{}: stored with no {what}", input.display());
        // The stored profile equals what convert_profile makes of the input.
        let direct = d.path().join(format!("direct{i}.json"));
        ok(profc(&[&"convert_profile", input, &direct]));
        assert_eq!(Profile::load(&direct).unwrap(), p, "{}", input.display());
    }
    assert!(ok(profc(&[&"repo", &"verify", &repo])).contains("OK"));
}

/// `repo list R | head -1`: the reader goes away; profc ends quietly.
#[test]
fn repo_list_into_a_closed_pipe_exits_cleanly() {
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("repo");
    let w = profile_repository::Repository::create(&repo).unwrap();
    {
        let g = w.lock().unwrap();
        g.put_profile("nt/GUID/X", &windows_profile(G1, 1), true)
            .unwrap();
        for i in 0..20000 {
            g.put_symlink(&format!("s{i:05}"), "nt/GUID/X", true)
                .unwrap();
        }
        g.commit().unwrap();
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_profc"))
        .args(["repo", "list"])
        .arg(&repo)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // stdout is closed here: the rest of the listing meets a broken pipe.
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(first, "nt/GUID/X\n");
    assert!(out.status.success(), "exit {:?}: {err}", out.status);
    assert!(!err.contains("panicked"), "{err}");
}
