//! Rekall's command lines (docs/rekall.md), run verbatim with `profc` in
//! place of `rekal`, on the real PDBs and executables of the shared
//! fixtures; a local symbol server (Python's `http.server` over a symbol
//! store in a temporary directory) stands in for Microsoft's. Then the
//! Unix habits: standard output, exit statuses, aligned listings,
//! directories given for files, diff's spelling-blind comparison.

#[path = "../../tests/support.rs"]
mod support;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const PDB_DIR: &str = "fixtures/pdb/debugpy-1.8.22";

fn fixtures(test: &str) -> Option<PathBuf> {
    support::shared(test).map(|s| s.join(PDB_DIR))
}

/// `profc` run in `cwd`, with no symbol path or cache from outside.
fn profc(cwd: &Path, args: &[&str]) -> Output {
    profc_env(cwd, args, &[])
}

fn profc_env(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_profc"));
    for v in [
        "_NT_SYMBOL_PATH",
        "PROFC_SYMBOL_CACHE",
        "http_proxy",
        "HTTP_PROXY",
    ] {
        c.env_remove(v);
    }
    c.env("HOME", cwd)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .current_dir(cwd)
        .stdin(Stdio::null())
        .args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run profc")
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "profc failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Splits a guide line into arguments (no quoting in the guide's lines).
fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// GUID_AGE of a PDB, read with pdb2 (independent of profc).
fn pdb_key(path: &Path) -> String {
    let mut pdb = pdb2::PDB::open(std::fs::File::open(path).unwrap()).unwrap();
    let info = pdb.pdb_information().unwrap();
    let dbi = pdb.debug_information().unwrap();
    let age = dbi.age().unwrap_or(info.age);
    format!(
        "{}{:X}",
        info.guid.as_simple().to_string().to_uppercase(),
        age
    )
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).expect("a JSON profile")
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("gzip");
    out
}

#[test]
fn guide_parse_pdb_commands() {
    let Some(dir) = fixtures("guide_parse_pdb_commands") else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let w = t.path();
    std::fs::copy(dir.join("attach_amd64.pdb"), w.join("ntkrnlmp.pdb")).unwrap();
    std::fs::create_dir(w.join("tmp")).unwrap();
    std::fs::copy(dir.join("attach_amd64.pdb"), w.join("tmp/ntkrnlmp.pdb")).unwrap();

    // rekal parse_pdb -f ntkrnlmp.pdb --output ntkrnlmp.json --profile_class Win7x64
    ok(&profc(
        w,
        &words("parse_pdb -f ntkrnlmp.pdb --output ntkrnlmp.json --profile_class Win7x64"),
    ));
    let plain = std::fs::read(w.join("ntkrnlmp.json")).unwrap();
    let p = json(&plain);
    assert_eq!(p["$METADATA"]["ProfileClass"], "Win7x64");
    let shared = support::shared("guide_parse_pdb_commands").unwrap();
    let oracle = json(
        &std::fs::read(
            shared.join("fixtures/rekall/parse_pdb/debugpy-1.8.22_attach_amd64.rekall.json"),
        )
        .unwrap(),
    );
    // Rekall's own parse_pdb output of the same PDB: the structs both have
    // are the same size.
    let (ours, theirs) = (
        p["$STRUCTS"].as_object().unwrap(),
        oracle["$STRUCTS"].as_object().unwrap(),
    );
    let mut common = 0;
    for (name, def) in theirs {
        if let Some(mine) = ours.get(name) {
            assert_eq!(mine[0], def[0], "size of {name}");
            common += 1;
        }
    }
    assert!(common >= 100, "{common} structs in common");

    // rekal parse_pdb -f /tmp/ntkrnlmp.pdb --output 2C39F... --profile_class Win7x64
    // (an absolute path; a name without .json: gzipped, as profiles are
    // stored in Rekall's repositories).
    let abs = w.join("tmp/ntkrnlmp.pdb");
    let line = format!(
        "parse_pdb -f {} --output 2C39F687423840E793308F28C4FDE0CD2 --profile_class Win7x64",
        abs.display()
    );
    ok(&profc(w, &words(&line)));
    let gz = std::fs::read(w.join("2C39F687423840E793308F28C4FDE0CD2")).unwrap();
    assert_eq!(&gz[..2], b"\x1f\x8b");
    assert!(gunzip(&gz) == plain, "the gzipped profile differs");

    // The other Rekall spellings give the same bytes.
    for (i, line) in [
        "parse_pdb --pdb_filename ntkrnlmp.pdb --output_filename o0.json --profile_class Win7x64",
        "parse_pdb --filename=ntkrnlmp.pdb --output-filename=o1.json --profile-class=Win7x64",
        "parse-pdb ntkrnlmp.pdb --dump_dir sub --output o2.json --profile_class Win7x64",
        "parse_pdb ntkrnlmp.pdb -D sub --output_filename o3.json --profile_class Win7x64",
    ]
    .iter()
    .enumerate()
    {
        std::fs::create_dir_all(w.join("sub")).unwrap();
        ok(&profc(w, &words(line)));
        let out = if i < 2 {
            w.join(format!("o{i}.json"))
        } else {
            w.join(format!("sub/o{i}.json"))
        };
        assert!(std::fs::read(&out).unwrap() == plain, "{line}");
    }
    // --windows_version goes into the metadata, as Rekall records it.
    ok(&profc(
        w,
        &words("parse_pdb ntkrnlmp.pdb --output v.json --windows_version 6.1.7601"),
    ));
    let v = json(&std::fs::read(w.join("v.json")).unwrap());
    assert_eq!(v["$METADATA"]["major"], 6);
    assert_eq!(v["$METADATA"]["minor"], 1);
    assert_eq!(v["$METADATA"]["rev"], 7601);
    let o = profc(
        w,
        &words("parse_pdb ntkrnlmp.pdb --output v2.json --windows_version seven"),
    );
    assert!(!o.status.success());
    assert!(err(&o).contains("--windows_version"), "{}", err(&o));
}

#[test]
fn parse_pdb_to_standard_output() {
    let Some(dir) = fixtures("parse_pdb_to_standard_output") else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let w = t.path();
    let pdb = dir.join("inject_dll_x86.pdb");
    let pdb = pdb.to_str().unwrap();
    ok(&profc(w, &["parse_pdb", pdb, "--output", "file.json"]));
    let file = std::fs::read(w.join("file.json")).unwrap();
    // `profc parse_pdb X.pdb > x.json`: no --output, stdout not a terminal.
    let o = profc(w, &["parse_pdb", pdb]);
    assert_eq!(o.stdout, file, "{}", err(&o));
    assert!(!w.join("inject_dll_x86.json").exists(), "no file beside");
    // --output -: plain, or gzip when asked.
    assert_eq!(profc(w, &["parse_pdb", pdb, "--output", "-"]).stdout, file);
    let gz = profc(w, &["parse_pdb", pdb, "--output", "-", "--gzip"]).stdout;
    assert_eq!(gunzip(&gz), file);
    // ISF to standard output is ISF.
    let isf = json(&profc(w, &["parse_pdb", pdb, "-o", "-", "--format", "isf"]).stdout);
    assert!(isf["user_types"].is_object());
    // Every command that writes a profile takes `-`.
    let exp = profc(w, &["export", "file.json", "-"]);
    assert_eq!(exp.stdout, file, "{}", err(&exp));
}

/// Python's http.server over `root` on 127.0.0.1 (exits by itself after 120 s).
struct PyServer {
    child: Child,
    port: u16,
}

impl PyServer {
    fn start(root: &Path) -> PyServer {
        const SERVER: &str = "import http.server, os, threading\n\
            threading.Timer(120, os._exit, [0]).start()\n\
            srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), http.server.SimpleHTTPRequestHandler)\n\
            print('port %d' % srv.server_address[1], flush=True)\n\
            srv.serve_forever()\n";
        let mut child = Command::new("python3")
            .args(["-u", "-c", SERVER])
            .current_dir(root)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 must be installed");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().trim_start_matches("port ").parse().unwrap();
        PyServer { child, port }
    }
}

impl Drop for PyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn guide_fetch_pdb_commands_against_a_local_symbol_server() {
    let Some(dir) = fixtures("guide_fetch_pdb_commands_against_a_local_symbol_server") else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let (store, w) = (t.path().join("store"), t.path().join("work"));
    std::fs::create_dir_all(&w).unwrap();
    // The store holds attach_amd64.pdb under the name ntkrnlmp.pdb, as
    // Microsoft's holds the kernel's.
    let pdb = dir.join("attach_amd64.pdb");
    let original = std::fs::read(&pdb).unwrap();
    let key = pdb_key(&pdb);
    for name in ["ntkrnlmp.pdb", "attach_amd64.pdb"] {
        let d = store.join(name).join(&key);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(name), &original).unwrap();
    }
    let server = PyServer::start(&store);
    let sympath = format!(
        "srv*{}*http://127.0.0.1:{}",
        t.path().join("cache").display(),
        server.port
    );
    let env = [("_NT_SYMBOL_PATH", sympath.as_str())];

    // rekal fetch_pdb --dump-dir . --filename ntkrnlmp.pdb --guid <guid, lower case>
    let line = format!(
        "fetch_pdb --dump-dir . --filename ntkrnlmp.pdb --guid {}",
        key.to_lowercase()
    );
    ok(&profc_env(&w, &words(&line), &env));
    assert_eq!(std::fs::read(w.join("ntkrnlmp.pdb")).unwrap(), original);

    // rekal fetch_pdb --filename ntoskrnl.exe -D .
    std::fs::copy(dir.join("attach_amd64.dll"), w.join("ntoskrnl.exe")).unwrap();
    let out = ok(&profc_env(
        &w,
        &words("fetch_pdb --filename ntoskrnl.exe -D ."),
        &env,
    ));
    assert_eq!(std::fs::read(w.join("attach_amd64.pdb")).unwrap(), original);
    assert!(out.trim().ends_with("attach_amd64.pdb"), "{out}");

    // Rekall's positional forms and --pdb_filename, into other folders.
    for (i, line) in [
        "fetch_pdb ntoskrnl.exe --dump_dir d0".to_owned(),
        format!("fetch_pdb ntkrnlmp.pdb {key} -D d1"),
        format!("fetch_pdb --pdb_filename ntkrnlmp.pdb --guid {key} -D d2"),
        "-f ntoskrnl.exe fetch_pdb -D d3".to_owned(),
    ]
    .iter()
    .enumerate()
    {
        let d = w.join(format!("d{i}"));
        std::fs::create_dir_all(&d).unwrap();
        ok(&profc_env(&w, &words(line), &env));
        let got: Vec<_> = std::fs::read_dir(&d).unwrap().collect();
        assert_eq!(got.len(), 1, "{line}");
        let got = got[0].as_ref().unwrap().path();
        assert_eq!(std::fs::read(&got).unwrap(), original, "{line}");
    }
    // An executable with --guid makes no sense: said so.
    let o = profc_env(
        &w,
        &words(&format!("fetch_pdb --filename ntoskrnl.exe --guid {key}")),
        &env,
    );
    assert!(!o.status.success());
    assert!(err(&o).contains("not an executable"), "{}", err(&o));
}

#[test]
fn guide_peinfo_and_version_scan() {
    let Some(dir) = fixtures("guide_peinfo_and_version_scan") else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let w = t.path();
    std::fs::copy(dir.join("inject_dll_amd64.exe"), w.join("ntoskrnl.exe")).unwrap();
    let key = pdb_key(&dir.join("inject_dll_amd64.pdb"));
    // rekall peinfo --filename ntoskrnl.exe
    let a = ok(&profc(w, &words("peinfo --filename ntoskrnl.exe")));
    assert_eq!(a, ok(&profc(w, &words("peinfo ntoskrnl.exe"))));
    assert_eq!(a, ok(&profc(w, &words("peinfo --executable ntoskrnl.exe"))));
    assert!(a.contains(&key), "{a}");

    // rekal -f ~/images/win7.elf version_scan: an "image" holding two
    // executables at known offsets in noise.
    let mut img = vec![0x5au8; 0x3000];
    let exe = std::fs::read(dir.join("inject_dll_amd64.exe")).unwrap();
    let dll = std::fs::read(dir.join("attach_x86.dll")).unwrap();
    img.extend_from_slice(&exe);
    img.extend(std::iter::repeat_n(0xa5u8, 0x1000));
    img.extend_from_slice(&dll);
    std::fs::create_dir_all(w.join("images")).unwrap();
    std::fs::write(w.join("images/win7.elf"), &img).unwrap();
    let o = profc(w, &words("-f images/win7.elf version_scan"));
    let out = ok(&o);
    let dll_key = pdb_key(&dir.join("attach_x86.pdb"));
    assert!(out.contains(&key) && out.contains(&dll_key), "{out}");
    assert!(err(&o).contains(": 2 RSDS records"), "{}", err(&o));
    // --name_regex (Rekall: a regular expression searched in any case).
    let o = profc(
        w,
        &words("-f images/win7.elf version_scan --name_regex ^INJECT.*\\.pdb$"),
    );
    let out = ok(&o);
    assert!(out.contains(&key) && !out.contains(&dll_key), "{out}");
    assert!(
        err(&o).contains(": 1 RSDS record\n"),
        "plural fixed: {}",
        err(&o)
    );
    let o = profc(
        w,
        &words("version_scan --filename images/win7.elf --name-regex nothing"),
    );
    assert!(err(&o).contains(": 0 RSDS records"), "{}", err(&o));
    let o = profc(
        w,
        &words("version_scan images/win7.elf --name_regex (unclosed"),
    );
    assert!(!o.status.success());
    assert!(err(&o).contains("--name_regex"), "{}", err(&o));
}

#[test]
fn global_image_flag_feeds_image_commands() {
    let t = tempfile::tempdir().unwrap();
    let w = t.path();
    // Not a memory image: each command says the same with either form.
    std::fs::write(w.join("img.raw"), vec![0u8; 1 << 16]).unwrap();
    std::fs::write(w.join("p.json"), b"{}").unwrap();
    for (rekall, profc_form) in [
        ("-f img.raw identify", "identify img.raw"),
        ("--filename img.raw pslist", "pslist img.raw"),
        ("lsmod -f img.raw", "lsmod img.raw"),
        ("-f img.raw check p.json", "check img.raw p.json"),
    ] {
        let (a, b) = (profc(w, &words(rekall)), profc(w, &words(profc_form)));
        assert_eq!(a.status.code(), b.status.code(), "{rekall}");
        assert_eq!(a.stdout, b.stdout, "{rekall}");
        assert_eq!(err(&a), err(&b), "{rekall}");
        assert!(
            !err(&a).contains("unexpected argument"),
            "{rekall}: {}",
            err(&a)
        );
    }
    // Each command's help names its Rekall forms.
    for c in [
        "parse_pdb",
        "fetch_pdb",
        "version_scan",
        "peinfo",
        "pslist",
        "convert_profile",
    ] {
        let h = ok(&profc(w, &[c, "--help"]));
        assert!(h.contains("Rekall forms"), "{c}: {h}");
    }
}

#[test]
fn a_directory_for_a_file_says_so() {
    let t = tempfile::tempdir().unwrap();
    let w = t.path();
    std::fs::create_dir(w.join("d")).unwrap();
    for line in [
        "parse_pdb d --output x.json",
        "version_scan d",
        "peinfo d",
        "-f d pslist",
        "identify d",
        "fetch_pdb --filename d",
        "diff d d",
        "export d x.json",
    ] {
        let o = profc(w, &words(line));
        assert!(!o.status.success(), "{line}");
        assert!(err(&o).contains("d: is a directory"), "{line}: {}", err(&o));
    }
    // And an output that is a directory.
    let o = profc(w, &words("export d2 d"));
    assert!(!o.status.success());
}

#[test]
fn guide_convert_profile_of_a_directory() {
    let Some(shared) = support::shared("guide_convert_profile_of_a_directory") else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let w = t.path();
    let zip = shared.join("fixtures/vol2/Debian8.zip");
    // Unpacked as Rekall's guide has it: ./profiles/Volatility/.
    let dest = w.join("profiles/Volatility");
    std::fs::create_dir_all(&dest).unwrap();
    let st = Command::new("unzip")
        .arg("-q")
        .arg(&zip)
        .arg("-d")
        .arg(&dest)
        .status()
        .expect("unzip");
    assert!(st.success());
    // rekall convert_profile ./profiles/Volatility/ ./OSX_10.6.6_AMD.json
    ok(&profc(
        w,
        &words("convert_profile ./profiles/Volatility/ ./OSX_10.6.6_AMD.json"),
    ));
    let from_dir = json(&std::fs::read(w.join("OSX_10.6.6_AMD.json")).unwrap());
    let zs = zip.to_str().unwrap();
    ok(&profc(w, &["convert_profile", zs, "z.json"]));
    let from_zip = json(&std::fs::read(w.join("z.json")).unwrap());
    assert_eq!(from_dir["$STRUCTS"], from_zip["$STRUCTS"]);
    assert_eq!(from_dir["$CONSTANTS"], from_zip["$CONSTANTS"]);
    // And to standard output, with Rekall's converter name.
    let o = profc(
        w,
        &words("convert_profile --converter LinuxConverter ./profiles/Volatility -"),
    );
    assert_eq!(
        json(&o.stdout)["$STRUCTS"],
        from_zip["$STRUCTS"],
        "{}",
        err(&o)
    );
}

#[test]
fn repo_search_status_and_aligned_long_listing() {
    let Some(shared) = support::shared("repo_search_status_and_aligned_long_listing") else {
        return;
    };
    let f = shared.join("fixtures/rekall");
    let t = tempfile::tempdir().unwrap();
    let w = t.path();
    let osx = f.join("OSX/HighSierra_10.13.3_17D47.json");
    let deb8 = f.join("Linux/Debian8.rekall.json");
    ok(&profc(
        w,
        &[
            "repo",
            "add",
            "repo",
            osx.to_str().unwrap(),
            deb8.to_str().unwrap(),
        ],
    ));
    let hit = profc(w, &words("repo search repo debian"));
    assert_eq!(hit.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&hit.stdout).contains("Linux/Debian8"));
    let miss = profc(w, &words("repo search repo no-such-profile"));
    assert_eq!(miss.status.code(), Some(1), "{}", err(&miss));
    assert!(miss.stdout.is_empty());
    // --long: every column starts at the same place on every line.
    let long = ok(&profc(w, &words("repo list repo --long")));
    let lines: Vec<&str> = long.lines().collect();
    assert_eq!(lines.len(), 3, "{long}");
    let starts = |l: &str| -> Vec<usize> {
        let b = l.as_bytes();
        (1..b.len())
            .filter(|&i| b[i] != b' ' && b[i - 1] == b' ' && i >= 2 && b[i - 2] == b' ')
            .collect()
    };
    let header = starts(lines[0]);
    assert!(header.len() >= 5, "{long}");
    for l in &lines[1..] {
        for s in &header {
            assert!(starts(l).contains(s) || l.len() <= *s, "{long}");
        }
    }
}

/// A Rekall profile of one struct and one enum.
fn profile(member_type: &str, enum_values: &[(&str, i64)], members: usize) -> String {
    let mut fields: Vec<String> = (0..members)
        .map(|i| format!("\"m{i:03}\": [{}, [\"int\", {{}}]]", 8 + 4 * i))
        .collect();
    fields.push(format!("\"flags\": [0, [\"{member_type}\", {{}}]]"));
    let enums: Vec<String> = enum_values
        .iter()
        .map(|(k, v)| format!("\"{v}\": \"{k}\""))
        .collect();
    format!(
        "{{\"$METADATA\": {{\"ProfileClass\": \"Linux\", \"Type\": \"Profile\"}}, \
         \"$STRUCTS\": {{\"task\": [{}, {{{}}}]}}, \"$ENUMS\": {{\"state\": {{{}}}}}}}",
        8 + 4 * members,
        fields.join(", "),
        enums.join(", ")
    )
}

#[test]
fn diff_ignores_spelling_prints_enums_and_limits_members() {
    let t = tempfile::tempdir().unwrap();
    let w = t.path();
    let write = |n: &str, s: String| std::fs::write(w.join(n), s).unwrap();
    write(
        "a.json",
        profile("unsigned long", &[("RUNNING", 0), ("SLEEPING", 1)], 0),
    );
    write(
        "b.json",
        profile("long unsigned int", &[("RUNNING", 0), ("SLEEPING", 1)], 0),
    );
    let o = profc(w, &words("diff a.json b.json --exit-code"));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("no differences"));
    // A real change of type is still one.
    write(
        "c.json",
        profile("unsigned int", &[("RUNNING", 0), ("SLEEPING", 1)], 0),
    );
    assert_eq!(
        profc(w, &words("diff a.json c.json --exit-code"))
            .status
            .code(),
        Some(1)
    );

    // Enums: one line per enumerator, not JSON.
    write(
        "d.json",
        profile(
            "unsigned long",
            &[("RUNNING", 0), ("SLEEPING", 2), ("DEAD", 4)],
            0,
        ),
    );
    let out = String::from_utf8_lossy(&profc(w, &words("diff a.json d.json")).stdout).into_owned();
    assert!(out.contains("  ~ state\n"), "{out}");
    assert!(out.contains("      ~ SLEEPING: 1 -> 2\n"), "{out}");
    assert!(out.contains("      + DEAD = 4\n"), "{out}");
    assert!(!out.contains("[\""), "{out}");

    // --limit limits the members of a changed type too.
    write(
        "e.json",
        profile("unsigned long", &[("RUNNING", 0), ("SLEEPING", 1)], 20),
    );
    let out = String::from_utf8_lossy(&profc(w, &words("diff a.json e.json --limit 3")).stdout)
        .into_owned();
    let added = out.lines().filter(|l| l.starts_with("      + m")).count();
    assert_eq!(added, 3, "{out}");
    assert!(out.contains("      ... 17 more"), "{out}");
}
