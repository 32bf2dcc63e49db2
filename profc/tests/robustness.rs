//! Data-loss and hostile-input cases of issue 20 (docs/robustness.md):
//! an output that is an input, `--overwrite` on non-regular files, a
//! non-profile given to `info`.

#[path = "../../tests/support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

fn profc(args: &[&std::ffi::OsStr]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_profc"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn os(s: &str) -> &std::ffi::OsStr {
    s.as_ref()
}

/// A small real profile and PDB, copied into `dir`.
fn fixtures(test: &str, dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let shared = support::shared(test)?;
    let f = shared.join("fixtures");
    let profile = dir.join("p.json");
    std::fs::copy(
        f.join("rekall/parse_pdb/debugpy-1.8.22_run_code_on_dllmain_x86.rekall.json"),
        &profile,
    )
    .unwrap();
    let pdb = dir.join("self.pdb");
    std::fs::copy(
        f.join("pdb/debugpy-1.8.22/run_code_on_dllmain_x86.pdb"),
        &pdb,
    )
    .unwrap();
    // The copies are read-only like their sources: make them writable, so a
    // failure to refuse would really replace them.
    for p in [&profile, &pdb] {
        let mut perm = std::fs::metadata(p).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perm.set_readonly(false);
        std::fs::set_permissions(p, perm).unwrap();
    }
    Some((profile, pdb))
}

#[test]
fn output_equal_to_an_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let Some((profile, pdb)) = fixtures("output_equal_to_an_input_is_refused", dir.path()) else {
        return;
    };
    let before_p = std::fs::read(&profile).unwrap();
    let before_pdb = std::fs::read(&pdb).unwrap();
    // Another name of the same file: a hard link and a symbolic link.
    let hard = dir.path().join("hard.json");
    std::fs::hard_link(&profile, &hard).unwrap();
    let sym = dir.path().join("sym.json");
    std::os::unix::fs::symlink(&profile, &sym).unwrap();
    let dotted = dir.path().join(".").join("p.json");
    let p = profile.as_os_str();
    let cases: Vec<Vec<&std::ffi::OsStr>> = vec![
        vec![
            os("parse_pdb"),
            pdb.as_os_str(),
            os("--output"),
            pdb.as_os_str(),
            os("--overwrite"),
        ],
        vec![os("convert_profile"), p, p, os("--overwrite")],
        vec![
            os("convert_profile"),
            p,
            hard.as_os_str(),
            os("--overwrite"),
        ],
        vec![os("gen_rust"), p, os("--out"), p],
        vec![
            os("gen_rust"),
            p,
            os("--out"),
            sym.as_os_str(),
            os("--overwrite"),
        ],
        vec![os("export"), p, p],
        vec![os("export"), p, dotted.as_os_str(), os("--overwrite")],
        vec![os("export"), p, sym.as_os_str(), os("--overwrite")],
        vec![
            os("export"),
            sym.as_os_str(),
            hard.as_os_str(),
            os("--overwrite"),
        ],
    ];
    for args in cases {
        let (ok, _, err) = profc(&args);
        assert!(!ok, "{args:?} succeeded");
        assert!(
            err.contains("is the input") && err.lines().count() == 1,
            "{args:?}: {err}"
        );
    }
    assert_eq!(std::fs::read(&profile).unwrap(), before_p);
    assert_eq!(std::fs::read(&pdb).unwrap(), before_pdb);
    assert!(std::fs::symlink_metadata(&sym)
        .unwrap()
        .file_type()
        .is_symlink());
    // A different file is still written.
    let other = dir.path().join("other.json");
    let (ok, _, err) = profc(&[os("export"), p, other.as_os_str()]);
    assert!(ok, "{err}");
}

#[test]
fn overwrite_replaces_only_regular_files() {
    let dir = tempfile::tempdir().unwrap();
    let Some((profile, _)) = fixtures("overwrite_replaces_only_regular_files", dir.path()) else {
        return;
    };
    let fifo = dir.path().join("fifo.json");
    let st = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(st.success());
    let sub = dir.path().join("adir.json");
    std::fs::create_dir(&sub).unwrap();
    let link_to_fifo = dir.path().join("tofifo.json");
    std::os::unix::fs::symlink(&fifo, &link_to_fifo).unwrap();
    for (out, kind) in [
        (&fifo, "FIFO"),
        (&sub, "directory"),
        (&link_to_fifo, "FIFO"),
    ] {
        for cmd in ["export", "convert_profile"] {
            let (ok, _, err) = profc(&[
                os(cmd),
                profile.as_os_str(),
                out.as_os_str(),
                os("--overwrite"),
            ]);
            assert!(!ok, "{cmd} over {out:?} succeeded");
            assert!(err.contains(kind) && err.contains("regular file"), "{err}");
        }
        let (ok, _, err) = profc(&[
            os("gen_rust"),
            profile.as_os_str(),
            os("--out"),
            out.as_os_str(),
            os("--overwrite"),
        ]);
        assert!(!ok && err.contains(kind), "{err}");
    }
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(sub.is_dir());
    // The library refuses too (a caller that skips the early check).
    let e = profile_runtime::write_atomic(&fifo, profile_runtime::WriteMode::Overwrite, |w| {
        w.write_all(b"x")
    })
    .unwrap_err();
    assert!(e.to_string().contains("FIFO"), "{e}");
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

#[test]
fn info_refuses_json_that_is_not_a_profile() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text, says) in [
        ("hello.json", r#"{"hello":"world"}"#, "not a profile"),
        ("empty.json", "{}", "not a profile"),
        ("isf.json", r#"{"base_types":{},"user_types":{}}"#, "ISF"),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        for cmd in ["info", "export"] {
            let out = dir.path().join(format!("{name}.out.json"));
            let (ok, stdout, err) = profc(
                &[os(cmd), p.as_os_str(), out.as_os_str()][..if cmd == "info" { 2 } else { 3 }],
            );
            assert!(!ok, "{cmd} {name}: {stdout}");
            assert!(
                err.contains(says) && err.lines().count() == 1,
                "{cmd} {name}: {err}"
            );
        }
        // The lazy reader (repositories, sessions) refuses it as well.
        let e =
            profile_runtime::LazyProfile::from_bytes(text.as_bytes().to_vec(), name).unwrap_err();
        assert!(e.to_string().contains(says), "{e}");
    }
    // An empty in-memory profile still round-trips through the lazy reader.
    profile_runtime::LazyProfile::from_profile(&profile_runtime::Profile::default()).unwrap();
}

/// Runs profc, returning (success, stderr, peak RSS in KiB when
/// `/usr/bin/time` is there to measure it).
fn profc_rss(args: &[&std::ffi::OsStr]) -> (bool, String, Option<u64>) {
    let time = Path::new("/usr/bin/time");
    if !time.exists() {
        let (ok, _, err) = profc(args);
        return (ok, err, None);
    }
    let dir = tempfile::tempdir().unwrap();
    let rss = dir.path().join("rss");
    let out = Command::new(time)
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&rss)
        .arg(env!("CARGO_BIN_EXE_profc"))
        .args(args)
        .output()
        .unwrap();
    let kib = std::fs::read_to_string(&rss)
        .ok()
        .and_then(|t| t.lines().last()?.trim().parse().ok());
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        kib,
    )
}

/// A zip member: name and bytes.
type Member<'a> = (&'a str, &'a [u8]);

/// A zip of `members` (name, bytes), deflated.
fn write_zip(path: &Path, members: &[(&str, &[u8])]) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    for (name, bytes) in members {
        z.start_file(*name, opts).unwrap();
        std::io::Write::write_all(&mut z, bytes).unwrap();
    }
    z.finish().unwrap();
}

fn member(zip_path: &Path, name: &str) -> Vec<u8> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(zip_path).unwrap()).unwrap();
    let mut f = z.by_name(name).unwrap();
    let mut v = Vec::new();
    std::io::Read::read_to_end(&mut f, &mut v).unwrap();
    v
}

/// 80 MiB of one repeated System.map line (more than the 64 MiB cap).
fn huge_system_map() -> Vec<u8> {
    b"ffffffff81000000 T _stext\n".repeat((80 << 20) / 26)
}

#[test]
fn hostile_zips_are_refused_in_bounded_memory() {
    let Some(shared) = support::shared("hostile_zips_are_refused_in_bounded_memory") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rekall = shared.join("fixtures/linux/6.1.0-56-amd64.zip");
    let vol2 = shared.join("fixtures/vol2/Debian8.zip");
    let module = member(&rekall, "module_dwarf.ko");
    let dwarf = member(&vol2, "module.dwarf");
    let map = huge_system_map();
    let zeros = vec![0u8; 512 << 20];
    let cases: Vec<(&str, Vec<Member<'_>>, &str)> = vec![
        (
            "rekall_map.zip",
            vec![
                ("module_dwarf.ko", &module),
                ("boot/System.map-6.1.0", &map),
            ],
            "too large",
        ),
        (
            "vol2_map.zip",
            vec![("module.dwarf", &dwarf), ("boot/System.map-3.16.0", &map)],
            "more than the 67108864 accepted",
        ),
        (
            "zeros.zip",
            vec![("module_dwarf.ko", &zeros), ("boot/System.map-6.1.0", b"")],
            "not an ELF",
        ),
    ];
    for (name, members, says) in cases {
        let z = dir.path().join(name);
        write_zip(&z, &members);
        let out = dir.path().join(format!("{name}.json"));
        let (ok, err, rss) = profc_rss(&[os("convert_profile"), z.as_os_str(), out.as_os_str()]);
        assert!(!ok, "{name} was accepted");
        assert!(
            err.contains(says) && err.lines().count() == 1,
            "{name}: {err}"
        );
        if let Some(kib) = rss {
            // Before the caps: 3.2 GB (System.map) and 2 GB (zeros).
            assert!(kib < 400 << 10, "{name}: peak RSS {kib} KiB");
            eprintln!("{name}: refused, peak RSS {kib} KiB");
        }
    }
}

#[test]
fn a_damaged_pdb_fails_unless_partial() {
    let Some(shared) = support::shared("a_damaged_pdb_fails_unless_partial") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = shared.join("fixtures/pdb/debugpy-1.8.22/attach_amd64.pdb");
    let clean = std::fs::read(&src).unwrap();
    let out = dir.path().join("clean.json");
    let (ok, _, err) = profc(&[
        os("parse_pdb"),
        src.as_os_str(),
        os("--output"),
        out.as_os_str(),
    ]);
    assert!(ok, "{err}");
    let structs = |p: &Path| -> usize {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
        v["$STRUCTS"].as_object().map_or(0, |m| m.len())
    };
    let clean_structs = structs(&out);
    let (mut refused, mut partial_ok) = (0, 0);
    // Deterministic mutations: runs of 16 bytes flipped at 40 positions
    // spread over the file (the type and symbol streams included).
    for k in 1..=40usize {
        let at = clean.len() * k / 41;
        let mut bytes = clean.clone();
        for b in &mut bytes[at..(at + 16).min(clean.len())] {
            *b ^= 0x5a;
        }
        let pdb = dir.path().join(format!("m{k}.pdb"));
        std::fs::write(&pdb, &bytes).unwrap();
        let out = dir.path().join(format!("m{k}.json"));
        let (ok, _, err) = profc(&[
            os("parse_pdb"),
            pdb.as_os_str(),
            os("--output"),
            out.as_os_str(),
        ]);
        assert!(!err.contains("internal error"), "mutation {k}: {err}");
        if ok {
            // Nothing dropped: every struct is still there.
            assert!(
                structs(&out) >= clean_structs,
                "mutation {k} at {at}: structs lost silently: {err}"
            );
            continue;
        }
        assert_eq!(err.lines().count(), 1, "mutation {k}: {err}");
        if err.contains("could not be read and were dropped") {
            refused += 1;
            assert!(err.contains("--partial") && err.contains("first:"), "{err}");
            let (ok, _, err) = profc(&[
                os("parse_pdb"),
                pdb.as_os_str(),
                os("--output"),
                out.as_os_str(),
                os("--partial"),
            ]);
            assert!(ok, "mutation {k} with --partial: {err}");
            assert!(err.contains("kept going (--partial)"), "{err}");
            partial_ok += 1;
        }
    }
    eprintln!(
        "40 mutations: {refused} refused for dropped records, {partial_ok} built with --partial"
    );
}

#[test]
fn repository_os_symlinks_outside_the_root_are_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let Some((profile, _)) = fixtures(
        "repository_os_symlinks_outside_the_root_are_not_served",
        dir.path(),
    ) else {
        return;
    };
    let repo = dir.path().join("repo");
    let (ok, _, err) = profc(&[
        os("repo"),
        os("add"),
        repo.as_os_str(),
        profile.as_os_str(),
        os("--name"),
        os("inside"),
    ]);
    assert!(ok, "{err}");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::copy(repo.join("inside.gz"), elsewhere.join("x.json.gz")).unwrap();
    std::os::unix::fs::symlink(elsewhere.join("x.json.gz"), repo.join("outside.gz")).unwrap();
    // A symlink that stays inside is still served.
    std::os::unix::fs::symlink("inside.gz", repo.join("alias.gz")).unwrap();
    let get = |name: &str| {
        let out = dir.path().join(format!("{name}.out.json"));
        profc(&[
            os("repo"),
            os("get"),
            os(name),
            os("--repository-path"),
            repo.as_os_str(),
            os("--output"),
            out.as_os_str(),
            os("--overwrite"),
        ])
    };
    let (ok, out, err) = get("outside");
    assert!(!ok, "served a file outside the repository: {out}");
    assert!(err.contains("outside the repository"), "{err}");
    let (ok, _, err) = get("inside");
    assert!(ok, "{err}");
    let (_, out, err) = profc(&[os("repo"), os("verify"), repo.as_os_str()]);
    let text = format!("{out}{err}");
    assert!(
        text.contains("outside") && text.contains("not served"),
        "{text}"
    );
    assert!(!text.contains("alias"), "{text}");
}

/// Unmounts a tmpfs when dropped.
struct Mount(PathBuf);
impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_failed_repository_write_leaves_no_empty_folders() {
    let dir = tempfile::tempdir().unwrap();
    let Some((profile, _)) = fixtures(
        "a_failed_repository_write_leaves_no_empty_folders",
        dir.path(),
    ) else {
        return;
    };
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=512k", "tmpfs"])
        .arg(&mnt)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED a_failed_repository_write_leaves_no_empty_folders: cannot mount a tmpfs (needs root)"
        );
        return;
    }
    let _guard = Mount(mnt.clone());
    let repo = mnt.join("repo");
    let (ok, _, err) = profc(&[
        os("repo"),
        os("add"),
        repo.as_os_str(),
        profile.as_os_str(),
        os("--name"),
        os("first"),
    ]);
    assert!(ok, "{err}");
    // Fill the file system.
    let mut fill = std::fs::File::create(mnt.join("fill")).unwrap();
    let chunk = vec![0u8; 4096];
    while std::io::Write::write_all(&mut fill, &chunk).is_ok() {}
    drop(fill);
    let (ok, _, err) = profc(&[
        os("repo"),
        os("add"),
        repo.as_os_str(),
        profile.as_os_str(),
        os("--name"),
        os("deep/er/second"),
    ]);
    assert!(!ok, "the write succeeded on a full disk");
    assert!(err.lines().count() == 1, "{err}");
    assert!(
        !repo.join("deep").exists(),
        "empty folders left behind: {err}"
    );
}

#[test]
fn offline_folders_use_the_pdb_beside_the_executable() {
    let Some(shared) = support::shared("offline_folders_use_the_pdb_beside_the_executable") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pdbs = dir.path().join("pdbs");
    std::fs::create_dir(&pdbs).unwrap();
    let src = shared.join("fixtures/pdb/debugpy-1.8.22");
    for f in [
        "attach_amd64.dll",
        "attach_amd64.pdb",
        "inject_dll_x86.exe",
        "inject_dll_x86.pdb",
    ] {
        std::fs::copy(src.join(f), pdbs.join(f)).unwrap();
    }
    // Nothing listens on port 9 (discard): a fetch would fail.
    let no_server = "http://127.0.0.1:9/";
    let cache = dir.path().join("cache");
    let out = dir.path().join("attach.json");
    let dll = pdbs.join("attach_amd64.dll");
    let (ok, _, err) = profc(&[
        os("build_local_profile"),
        dll.as_os_str(),
        os("--output"),
        out.as_os_str(),
        os("--server"),
        os(no_server),
        os("--cache"),
        cache.as_os_str(),
    ]);
    assert!(ok, "{err}");
    assert!(err.contains("found beside the executable"), "{err}");
    assert!(!cache.exists() || std::fs::read_dir(&cache).unwrap().next().is_none());
    // The same profile as parse_pdb on the PDB.
    let local = dir.path().join("local.json");
    let pdb = pdbs.join("attach_amd64.pdb");
    let (ok, _, err) = profc(&[
        os("parse_pdb"),
        pdb.as_os_str(),
        os("--output"),
        local.as_os_str(),
    ]);
    assert!(ok, "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&local).unwrap());

    // `repo add R X.exe` reads the PDB beside it, with no symbol path.
    let repo = dir.path().join("repo");
    let exe = pdbs.join("inject_dll_x86.exe");
    let out = Command::new(env!("CARGO_BIN_EXE_profc"))
        .args([os("repo"), os("add"), repo.as_os_str(), exe.as_os_str()])
        .env(
            "_NT_SYMBOL_PATH",
            format!("srv*{}*{no_server}", cache.display()),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // `repo build` over the folder: one source per PDB/executable pair.
    let built = dir.path().join("built");
    let config = dir.path().join("build.toml");
    std::fs::write(&config, "[[source]]\npath = \"pdbs\"\n").unwrap();
    let (ok, stdout, err) = profc(&[
        os("repo"),
        os("build"),
        built.as_os_str(),
        config.as_os_str(),
    ]);
    assert!(ok, "{stdout}{err}");
    let (ok, list, err) = profc(&[os("repo"), os("list"), built.as_os_str()]);
    assert!(ok, "{err}");
    assert!(
        list.contains("attach_amd64") && list.contains("inject_dll_x86"),
        "{list}"
    );
}

/// `dt --depth 20000` on a (hostile) profile whose struct embeds itself:
/// bounded output and a `(recursive ...)` line, not a stack overflow.
#[test]
fn dt_on_a_self_embedding_struct_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("loop.json");
    std::fs::write(
        &p,
        br#"{"$METADATA": {"Type": "Profile", "ProfileClass": "Linux"},
            "$STRUCTS": {"node": [16, {"next": [0, ["node", {}]], "other": [8, ["pair", {}]]}],
                         "pair": [8, {"back": [0, ["node", {}]]}]}}"#,
    )
    .unwrap();
    let (ok, out, err) = profc(&[
        os("dt"),
        p.as_os_str(),
        os("node"),
        os("--depth"),
        os("20000"),
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("(recursive: node is being expanded)"), "{out}");
    assert!(out.lines().count() < 20, "{out}");
}
