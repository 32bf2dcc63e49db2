//! Local repositories through the library API: layout, symlinks, inventory,
//! verify, hostile names, concurrent writers, lookup and build.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use profile_repository::build::{self, BuildOptions, Config, Outcome};
use profile_repository::{
    default_name, EntryExt, Error, Location, Naming, Query, Repository, SearchPath, Stored,
    INVENTORY_FILE,
};
use profile_runtime::{Descriptor, Field, Profile, StructDef};

/// A small but real profile: one struct, one enum, some symbols.
fn kernel_profile(guid: &str, n: u64) -> Profile {
    let mut p = Profile::new();
    p.set_metadata("ProfileClass", "Ntkrnlmp");
    p.set_metadata("PDBFile", "ntkrnlmp.pdb");
    p.set_metadata("GUID_AGE", guid);
    p.set_metadata("arch", "AMD64");
    let mut s = StructDef {
        size: Some(16 + n),
        ..Default::default()
    };
    s.fields.insert(
        "Flink".into(),
        Field {
            offset: Some(0),
            descriptor: Descriptor::Pointer {
                target: Box::new(Descriptor::Named("_LIST_ENTRY".into())),
            },
        },
    );
    s.fields.insert(
        "Blink".into(),
        Field {
            offset: Some(8),
            descriptor: Descriptor::Pointer {
                target: Box::new(Descriptor::Named("_LIST_ENTRY".into())),
            },
        },
    );
    p.structs.insert("_LIST_ENTRY".into(), s);
    p.constants.insert("PsActiveProcessHead".into(), 0x1000 + n);
    p.functions.insert("NtCreateFile".into(), 0x2000 + n);
    p
}

fn linux_profile(banner: &str) -> Profile {
    let mut p = Profile::new();
    p.set_metadata("ProfileClass", "Linux");
    p.set_metadata("arch", "AMD64");
    p.set_metadata("Banner", banner);
    p.constants.insert("init_task".into(), 0xffff_8100_0000);
    p
}

const G1: &str = "3844DBB920174967BE7AA4A2C20430FA2";
const G2: &str = "00625D7D36754CBEBA4533BA9A0F3FE22";

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn store_symlink_and_load() {
    let d = tmp();
    let repo = Repository::create(d.path().join("r")).unwrap();
    let p = kernel_profile(G1, 1);
    let name = default_name(&p, Naming::Rekall, None, None).unwrap();
    assert_eq!(name, format!("nt/GUID/{G1}"));
    let w = repo.lock().unwrap();
    w.put_profile(&name, &p, false).unwrap();
    w.put_symlink("Win7SP1x64", &name, false).unwrap();
    w.put_symlink("Latest", "Win7SP1x64", false).unwrap();
    let inv = w.commit().unwrap();

    // Stored as canonical deterministic gzip.
    let bytes = std::fs::read(repo.root().join(format!("{name}.gz"))).unwrap();
    let mut want = Vec::new();
    p.write_canonical_gzip(&mut want).unwrap();
    assert_eq!(bytes, want);

    // Chains resolve to the profile.
    let (resolved, loaded) = repo.load("Latest").unwrap();
    assert_eq!(resolved, name);
    assert_eq!(loaded, p);
    assert!(matches!(repo.read("Latest").unwrap(), Stored::Symlink(t) if t == "Win7SP1x64"));

    // The inventory: Rekall's keys plus metadata and content hash.
    let e = inv.get(&name).unwrap();
    assert_eq!(e.kind(), Some("Profile"));
    assert_eq!(e.str_of("GUID_AGE"), Some(G1));
    assert!(e.last_modified().unwrap() > 1_600_000_000);
    assert_eq!(e.size(), Some(bytes.len() as u64));
    assert_eq!(e.sha256().map(str::len), Some(64));
    assert_eq!(inv.get("Win7SP1x64").unwrap().target(), Some(name.as_str()));
    assert_eq!(repo.inventory().unwrap().unwrap(), inv);
    assert!(repo.verify().unwrap().is_empty());

    // Existing names are not replaced without overwrite.
    let w = repo.lock().unwrap();
    assert!(matches!(
        w.put_profile(&name, &p, false),
        Err(Error::Exists { .. })
    ));
    // A symlink that would close a cycle is refused.
    let e = w.put_symlink(&name, "Latest", true).unwrap_err();
    assert!(e.to_string().contains("cycle"), "{e}");
    // Removing a symlink target is refused while links point to it.
    let e = w.remove(&name, false).unwrap_err();
    assert!(e.to_string().contains("Win7SP1x64"), "{e}");
    w.remove("Latest", false).unwrap();
    let inv = w.commit().unwrap();
    assert!(inv.get("Latest").is_none());
    assert!(!repo.root().join("Latest.gz").exists());
}

#[test]
fn hostile_names_are_refused() {
    let d = tmp();
    let repo = Repository::create(d.path().join("r")).unwrap();
    let p = kernel_profile(G1, 1);
    let w = repo.lock().unwrap();
    w.put_profile("ok", &p, false).unwrap();
    for bad in [
        "../../x",
        "/tmp/x",
        "a/../../x",
        ".hidden",
        "inventory",
        "a\\b",
    ] {
        let e = w.put_profile(bad, &p, false).unwrap_err();
        assert!(matches!(e, Error::BadName { .. }), "{bad}: {e}");
        assert!(w.put_symlink("link", bad, false).is_err(), "target {bad}");
        assert!(w.put_symlink(bad, "ok", false).is_err(), "link {bad}");
    }
    // An OS symlink inside the repository that leads outside is refused.
    #[cfg(unix)]
    {
        let outside = d.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, repo.root().join("evil")).unwrap();
        let e = w.put_profile("evil/x", &p, false).unwrap_err();
        assert!(e.to_string().contains("outside the repository"), "{e}");
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
        assert!(repo.load("evil/x").is_err());
    }
    w.commit().unwrap();
    assert!(!d.path().join("x.gz").exists());

    // A symlink file written by hand whose target escapes is refused on read.
    std::fs::write(
        repo.root().join("esc.gz"),
        br#"{"$METADATA": {"Type": "Symlink", "Target": "../../etc/passwd"}}"#,
    )
    .unwrap();
    let e = repo.load("esc").unwrap_err();
    assert!(e.to_string().contains("target refused"), "{e}");
}

#[test]
fn verify_names_each_problem() {
    let d = tmp();
    let repo = Repository::create(d.path().join("r")).unwrap();
    let w = repo.lock().unwrap();
    w.put_profile("good", &kernel_profile(G1, 1), false)
        .unwrap();
    w.put_profile("gone", &kernel_profile(G2, 2), false)
        .unwrap();
    w.put_profile("victim", &kernel_profile(G2, 3), false)
        .unwrap();
    w.put_symlink("dangling", "victim", false).unwrap();
    w.remove("victim", true).unwrap();
    w.commit().unwrap();
    let root = repo.root();
    // Corrupt profile, symlink cycle, and a file removed behind the inventory's back.
    std::fs::write(root.join("corrupt.gz"), b"\x1f\x8b\x08\x00garbage").unwrap();
    std::fs::write(
        root.join("cyc_a.gz"),
        br#"{"$METADATA": {"Type": "Symlink", "Target": "cyc_b"}}"#,
    )
    .unwrap();
    std::fs::write(
        root.join("cyc_b.gz"),
        br#"{"$METADATA": {"Type": "Symlink", "Target": "cyc_a"}}"#,
    )
    .unwrap();
    std::fs::remove_file(root.join("gone.gz")).unwrap();

    let problems = repo.verify().unwrap();
    let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    let has = |name: &str, what: &str| {
        problems
            .iter()
            .any(|p| p.name == name && p.message.contains(what))
    };
    assert!(has("corrupt", "corrupt profile"), "{text:#?}");
    assert!(has("dangling", "dangling"), "{text:#?}");
    assert!(has("cyc_a", "cycle"), "{text:#?}");
    assert!(has("gone", "no such file"), "{text:#?}");
    assert!(!problems.iter().any(|p| p.name == "good"), "{text:#?}");

    // Rebuilding the inventory drops the vanished entry and adds readable new files.
    let inv = repo.lock().unwrap().commit().unwrap();
    assert!(inv.get("gone").is_none());
    assert!(inv.get("cyc_a").is_some());
    assert!(inv.get("corrupt").is_none());
}

#[test]
fn concurrent_writers_both_land() {
    let d = tmp();
    let root = d.path().join("r");
    Repository::create(&root).unwrap();
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let root = root.clone();
            s.spawn(move || {
                let repo = Repository::open(&root).unwrap();
                for i in 0..10u64 {
                    let w = repo.lock().unwrap();
                    w.put_profile(
                        &format!("t{t}/p{i}"),
                        &kernel_profile(G1, t * 100 + i),
                        false,
                    )
                    .unwrap();
                    w.commit().unwrap();
                }
            });
        }
    });
    let repo = Repository::open(&root).unwrap();
    let inv = repo.inventory().unwrap().unwrap();
    assert_eq!(inv.entries.len(), 40);
    assert!(repo.verify().unwrap().is_empty());
}

#[test]
fn inventory_notices_outside_changes() {
    let d = tmp();
    let repo = Repository::create(d.path().join("r")).unwrap();
    let w = repo.lock().unwrap();
    w.put_profile("a", &kernel_profile(G1, 1), false).unwrap();
    let before = w.commit().unwrap();
    // Someone copies a file in by hand.
    kernel_profile(G2, 7)
        .save(
            &repo.root().join("b.gz"),
            profile_runtime::WriteMode::CreateNew,
        )
        .unwrap();
    let after = repo.lock().unwrap().commit().unwrap();
    assert_eq!(after.get("a"), before.get("a"));
    assert_eq!(after.get("b").and_then(|e| e.str_of("GUID_AGE")), Some(G2));
}

#[test]
fn lookup_local_by_name_guid_banner() {
    let d = tmp();
    let r1 = Repository::create(d.path().join("r1")).unwrap();
    let r2 = Repository::create(d.path().join("r2")).unwrap();
    let banner = "Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0) #1 SMP PREEMPT_DYNAMIC Debian 6.1.158-1";
    let w = r1.lock().unwrap();
    w.put_profile(&format!("nt/GUID/{G1}"), &kernel_profile(G1, 1), false)
        .unwrap();
    w.commit().unwrap();
    let w = r2.lock().unwrap();
    w.put_profile(&format!("nt/GUID/{G1}"), &kernel_profile(G1, 99), false)
        .unwrap();
    w.put_profile(&format!("nt/GUID/{G2}"), &kernel_profile(G2, 2), false)
        .unwrap();
    w.put_profile("Linux/6.1.0-56-amd64", &linux_profile(banner), false)
        .unwrap();
    w.put_symlink("Win10", &format!("nt/GUID/{G2}"), false)
        .unwrap();
    w.commit().unwrap();

    let sp = SearchPath::new(
        vec![
            Location::Local(r1.root().into()),
            Location::Local(r2.root().into()),
        ],
        None,
    );
    // First location wins.
    let f = sp.find(&Query::Name(format!("nt/GUID/{G1}"))).unwrap();
    assert_eq!(f.profile.constants["PsActiveProcessHead"], 0x1001);
    assert_eq!(f.location, Location::Local(r1.root().into()));
    // By symlink, in the second location.
    let f = sp.find(&Query::Name("Win10".into())).unwrap();
    assert_eq!(f.name, format!("nt/GUID/{G2}"));
    // By GUID_AGE (lower case too), and by free text.
    assert_eq!(
        sp.find(&Query::GuidAge(G2.to_lowercase())).unwrap().name,
        format!("nt/GUID/{G2}")
    );
    assert_eq!(sp.find_text(G2).unwrap().name, format!("nt/GUID/{G2}"));
    // By banner, with the trailing newline/NUL a memory image has.
    let f = sp.find_text(&format!("{banner}\n\0")).unwrap();
    assert_eq!(f.name, "Linux/6.1.0-56-amd64");
    // The lookup index is derived from the inventory and lists keys, not symlinks.
    let index = std::fs::read_to_string(r2.root().join(".lookup-index")).unwrap();
    assert!(
        index.contains(&format!("G\t{G2}\tnt/GUID/{G2}\n")),
        "{index}"
    );
    assert!(
        index.contains("B\tLinux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org)"),
        "{index}"
    );
    // Without the index, the inventory answers; without both, files are read.
    std::fs::remove_file(r2.root().join(".lookup-index")).unwrap();
    assert_eq!(sp.find_text(banner).unwrap().name, "Linux/6.1.0-56-amd64");
    std::fs::remove_file(r2.root().join(INVENTORY_FILE)).unwrap();
    assert_eq!(
        sp.find(&Query::GuidAge(G2.into())).unwrap().name,
        format!("nt/GUID/{G2}")
    );
    assert_eq!(sp.find_text(banner).unwrap().name, "Linux/6.1.0-56-amd64");
    // Not found names every location.
    let e = sp.find(&Query::Name("nope".into())).unwrap_err();
    assert!(
        e.is_not_found() && e.to_string().contains("r1") && e.to_string().contains("r2"),
        "{e}"
    );
    assert!(matches!(
        sp.find(&Query::Name("../x".into())),
        Err(Error::BadName { .. })
    ));
}

fn write_sources(dir: &Path, n: u64) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..n {
        let guid = format!("{:032X}1", i + 1);
        kernel_profile(&guid, i)
            .save(
                &dir.join(format!("p{i:03}.json")),
                profile_runtime::WriteMode::Overwrite,
            )
            .unwrap();
    }
}

#[test]
fn build_converts_skips_unchanged_and_records_failures() {
    let d = tmp();
    let src = d.path().join("src");
    write_sources(&src.join("many"), 12);
    std::fs::write(src.join("broken.json"), b"{ not json").unwrap();
    let cfg_path = src.join("repo.toml");
    std::fs::write(
        &cfg_path,
        r#"
[[source]]
path = "many"
kind = "profile"

[[source]]
path = "broken.json"

[[source]]
kind = "guid"
pdb = "ntkrnlmp.pdb"
guid = "3844DBB920174967BE7AA4A2C20430FA2"
"#,
    )
    .unwrap();
    let cfg = Config::load(&cfg_path).unwrap();
    let sources = cfg.expand(&cfg_path).unwrap();
    assert_eq!(sources.len(), 14);
    let repo = Repository::create(d.path().join("r")).unwrap();
    let calls = AtomicUsize::new(0);
    let compile = |s: &build::BuildSource| {
        calls.fetch_add(1, Ordering::SeqCst);
        match &s.path {
            Some(p) => Profile::load(p)
                .map(|profile| build::Built { profile, isf: None })
                .map_err(|e| e.into()),
            None => Err("symbol server not available in this test".into()),
        }
    };
    let seen = AtomicUsize::new(0);
    let progress = |_: &build::SourceResult| {
        seen.fetch_add(1, Ordering::SeqCst);
    };
    let opts = BuildOptions {
        layout: Naming::Rekall,
        jobs: Some(2),
        force: false,
    };
    let report = build::build(&repo, &sources, opts, &compile, &progress).unwrap();
    assert_eq!(report.counts(), (12, 0, 2));
    assert_eq!(seen.load(Ordering::SeqCst), 14);
    assert_eq!(calls.load(Ordering::SeqCst), 14);
    assert!(report.results.iter().any(|r| r.key.ends_with("broken.json")
        && matches!(&r.outcome, Outcome::Failed(e) if e.contains("JSON"))));
    let inv = repo.inventory().unwrap().unwrap();
    assert_eq!(inv.entries.len(), 12);
    assert!(inv.get(&format!("nt/GUID/{:032X}1", 5)).is_some());
    let state = build::State::load(&repo);
    assert!(state.sources.values().filter(|s| s.error.is_some()).count() == 2);

    // Second run: nothing changed, nothing converted (failed ones retried).
    calls.store(0, Ordering::SeqCst);
    let report = build::build(&repo, &sources, opts, &compile, &progress).unwrap();
    assert_eq!(report.counts(), (0, 12, 2));
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // One source changes: only it is rebuilt.
    kernel_profile(&format!("{:032X}1", 4), 1000)
        .save(
            &src.join("many/p003.json"),
            profile_runtime::WriteMode::Overwrite,
        )
        .unwrap();
    let report = build::build(&repo, &sources, opts, &compile, &progress).unwrap();
    assert_eq!(report.counts(), (1, 11, 2));
    assert_eq!(
        repo.load(&format!("nt/GUID/{:032X}1", 4))
            .unwrap()
            .1
            .constants["PsActiveProcessHead"],
        0x1000 + 1000
    );
    assert!(repo.verify().unwrap().is_empty());
}

#[test]
fn build_config_errors_are_clear() {
    let d = tmp();
    let cfg = d.path().join("c.toml");
    for (text, want) in [
        (
            "[[source]]\nkind = \"guid\"\npdb = \"nt.pdb\"\n",
            "needs `pdb` and `guid`",
        ),
        (
            "[[source]]\npath = \"x\"\nname = \"../x\"\n",
            "invalid profile name",
        ),
        ("[[source]]\npaht = \"x\"\n", "unknown field"),
        ("[[source]]\npath = \"missing\"\n", "missing"),
    ] {
        std::fs::write(&cfg, text).unwrap();
        let e = Config::load(&cfg)
            .and_then(|c| c.expand(&cfg))
            .unwrap_err()
            .to_string();
        assert!(e.contains(want) && e.contains("c.toml"), "{text}: {e}");
    }
}

#[test]
fn readers_never_see_a_half_written_profile() {
    let d = tmp();
    let repo = Repository::create(d.path().join("r")).unwrap();
    let small = kernel_profile(G1, 1);
    let mut big = kernel_profile(G1, 2);
    for i in 0..3000 {
        big.constants.insert(format!("Extra{i}"), i);
    }
    repo.lock()
        .unwrap()
        .put_profile("p", &small, false)
        .unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..40 {
                let w = repo.lock().unwrap();
                w.put_profile("p", if i % 2 == 0 { &big } else { &small }, true)
                    .unwrap();
                w.commit().unwrap();
            }
            stop.store(true, Ordering::SeqCst);
        });
        let mut reads = 0;
        while !stop.load(Ordering::SeqCst) || reads == 0 {
            let (_, p) = repo
                .load("p")
                .expect("a reader must always find a whole profile");
            assert!(p == small || p == big);
            reads += 1;
        }
    });
}

/// A hand-made ISF document carrying a Linux banner, as the compiler's ISF
/// writer puts it (base64 in `symbols.linux_banner.constant_data`).
fn linux_isf(banner: &str) -> serde_json::Value {
    use base64::Engine as _;
    let data = base64::engine::general_purpose::STANDARD.encode(format!("{banner}\n"));
    serde_json::json!({"metadata": {"format": "6.2.0"},
        "symbols": {"linux_banner": {"address": 1, "constant_data": data}}})
}

#[test]
fn isf_view_through_the_library() {
    use profile_repository::isf_view::{ViewState, BANNERS_FILE};
    let d = tempfile::tempdir().unwrap();
    let repo = Repository::create(d.path().join("r")).unwrap();
    let banner = "Linux version 6.1.0-57-amd64 (x) #1 SMP";
    let mut linux = kernel_profile("3844DBB920174967BE7AA4A2C20430FA2", 1);
    linux.metadata.clear();
    linux.set_metadata("ProfileClass", "Linux");
    linux.set_metadata("Banner", banner);

    // Not published: put_isf writes nothing.
    let w = repo.lock().unwrap();
    assert!(!w.isf_view_enabled());
    w.put_profile("Linux/a", &linux, false).unwrap();
    w.put_isf("Linux/a", &linux_isf(banner)).unwrap();
    let done = w.commit_with(None).unwrap();
    assert!(done.isf_view.is_none());
    assert!(!repo.root().join("isf").exists());
    assert!(!repo.root().join(BANNERS_FILE).exists());

    // Published without a converter: the profile stored earlier is left
    // out, with a note naming it.
    let w = repo.lock().unwrap();
    assert!(w.set_isf_view(Some("relative/")).is_err());
    w.set_isf_view(Some("http://h:1/r")).unwrap();
    assert!(w.isf_view_enabled());
    let done = w.commit_with(None).unwrap();
    assert_eq!(done.notes.len(), 1, "{:?}", done.notes);
    assert!(done.notes[0].starts_with("Linux/a:"), "{:?}", done.notes);
    let view = done.isf_view.unwrap();
    assert_eq!(view.base_url, "http://h:1/r/");
    assert!(view.entries.is_empty());

    // With one, it is converted (and marked so); a handed-over ISF is not.
    let calls = AtomicUsize::new(0);
    let convert = |name: &str, p: &Profile| -> Result<serde_json::Value, build::BoxError> {
        calls.fetch_add(1, Ordering::SeqCst);
        assert_eq!(name, "Linux/a");
        Ok(linux_isf(p.metadata_str("Banner").unwrap()))
    };
    let w = repo.lock().unwrap();
    w.put_profile("Linux/b", &linux, false).unwrap();
    w.put_isf("Linux/b", &linux_isf(banner)).unwrap();
    let done = w.commit_with(Some(&convert)).unwrap();
    assert!(done.notes.is_empty(), "{:?}", done.notes);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let view = done.isf_view.unwrap();
    assert!(view.entries["Linux/a"].from_rekall);
    assert!(!view.entries["Linux/b"].from_rekall);
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo.root().join(BANNERS_FILE)).unwrap()).unwrap();
    let id = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(banner)
    };
    assert_eq!(
        doc["linux"][&id],
        serde_json::json!([
            "http://h:1/r/isf/Linux/a.json.xz",
            "http://h:1/r/isf/Linux/b.json.xz"
        ])
    );
    assert!(repo.verify().unwrap().is_empty());

    // Unchanged profiles are not converted again; a changed one is.
    let w = repo.lock().unwrap();
    linux.set_metadata("Banner", "Linux version 6.1.0-58-amd64 (x) #1 SMP");
    w.put_profile("Linux/a", &linux, true).unwrap();
    let done = w.commit_with(Some(&convert)).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(done.isf_view.unwrap().entries.len(), 2);

    // A profile changed behind the view's back is stale for verify.
    let w = repo.lock().unwrap();
    w.put_profile(
        "Linux/b",
        &kernel_profile("3844DBB920174967BE7AA4A2C20430FA2", 2),
        true,
    )
    .unwrap();
    drop(w);
    let problems = repo.verify().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.name == "Linux/b" && p.message.contains("stale")),
        "{problems:?}"
    );

    // Removed: its ISF file and entry go.
    let w = repo.lock().unwrap();
    w.remove("Linux/b", false).unwrap();
    let done = w.commit_with(None).unwrap();
    assert_eq!(
        done.isf_view.unwrap().entries.keys().collect::<Vec<_>>(),
        ["Linux/a"]
    );
    assert!(!repo.root().join("isf/Linux/b.json.xz").exists());
    assert!(repo.verify().unwrap().is_empty(), "{:?}", repo.verify());

    // build_with stores the ISF the converter hands over.
    let src = d.path().join("p.json");
    linux.set_metadata("Banner", "Linux version 6.2.0 (y) #2");
    linux
        .save(&src, profile_runtime::WriteMode::Overwrite)
        .unwrap();
    let cfg_path = d.path().join("b.toml");
    std::fs::write(
        &cfg_path,
        "[[source]]\npath = \"p.json\"\nname = \"Linux/c\"\n",
    )
    .unwrap();
    let sources = Config::load(&cfg_path).unwrap().expand(&cfg_path).unwrap();
    let compile = |s: &build::BuildSource| -> Result<build::Built, build::BoxError> {
        let profile = Profile::load(s.path.as_ref().unwrap())?;
        let isf = Some(linux_isf(profile.metadata_str("Banner").unwrap()));
        Ok(build::Built { profile, isf })
    };
    let report = build::build_with(
        &repo,
        &sources,
        BuildOptions::default(),
        &compile,
        &|_| {},
        None,
    )
    .unwrap();
    assert_eq!(report.counts(), (1, 0, 0));
    assert!(report.notes.is_empty(), "{:?}", report.notes);
    let view = ViewState::load(repo.root()).unwrap().unwrap();
    let c = &view.entries["Linux/c"];
    assert_eq!(c.os.as_deref(), Some("linux"));
    assert!(!c.from_rekall);
    assert!(repo.verify().unwrap().is_empty());

    // Withdrawn.
    let w = repo.lock().unwrap();
    w.set_isf_view(None).unwrap();
    assert!(w.commit_with(None).unwrap().isf_view.is_none());
    assert!(!repo.root().join("isf").exists());
    assert!(!repo.root().join(BANNERS_FILE).exists());
    assert!(ViewState::load(repo.root()).unwrap().is_none());

    // A damaged view file does not block the Rekall tree; publishing again
    // rewrites it, withdrawing clears the view's files.
    let w = repo.lock().unwrap();
    w.set_isf_view(Some("http://h/")).unwrap();
    w.commit_with(Some(&convert_any)).unwrap();
    let view_file = repo.root().join(profile_repository::isf_view::VIEW_FILE);
    std::fs::write(&view_file, b"{not json").unwrap();
    assert!(repo
        .verify()
        .unwrap()
        .iter()
        .any(|p| p.message.contains("unreadable")));
    let w = repo.lock().unwrap();
    w.put_profile("Linux/d", &linux, false).unwrap();
    let done = w.commit_with(Some(&convert_any)).unwrap();
    assert!(
        done.notes.iter().any(|n| n.contains("not updated")),
        "{:?}",
        done.notes
    );
    let w = repo.lock().unwrap();
    w.set_isf_view(Some("http://h/")).unwrap();
    let done = w.commit_with(Some(&convert_any)).unwrap();
    assert_eq!(done.isf_view.unwrap().entries.len(), 3);
    assert!(repo.verify().unwrap().is_empty());
    std::fs::write(&view_file, b"{not json").unwrap();
    let w = repo.lock().unwrap();
    w.set_isf_view(None).unwrap();
    w.commit_with(None).unwrap();
    assert!(!repo.root().join("isf").exists());
    assert!(!view_file.exists());
    assert!(repo.verify().unwrap().is_empty());
}

fn convert_any(_: &str, p: &Profile) -> Result<serde_json::Value, build::BoxError> {
    Ok(linux_isf(
        p.metadata_str("Banner").unwrap_or("Linux version 0"),
    ))
}
