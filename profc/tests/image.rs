//! `profc identify`, `pslist`, `lsmod`, `check` on real memory images of a
//! stock Debian kernel (../shared/images/linux-qemu-image.sh: raw and ELF
//! core, 4-level paging, KASLR on), with no address given. Truth is the
//! guest's own view (`groundtruth.txt`, `vmcoreinfo.txt`) and the kernel's
//! System.map. Missing images print `SKIPPED ...` (a failure with CI=true).

#[path = "../../tests/support.rs"]
mod support;

#[path = "../../tests/guest_truth.rs"]
mod guest_truth;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use guest_truth::{cached_profile_path, same_comm, truth, Truth};

const SET: &str = "6.1.0-57-amd64-4level";
const KVER: &str = "6.1.0-57-amd64";

fn profc<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_profc"))
        .args(args)
        .output()
        .expect("run profc")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn ok(o: Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what}: {}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    stdout(&o)
}

fn json(o: Output, what: &str) -> Value {
    let text = ok(o, what);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: {e}\n{text}"))
}

struct Real {
    dir: PathBuf,
    truth: Truth,
    profile: PathBuf,
}

/// The image set, its truth and the kernel's profile (made once with
/// `profc convert_profile`, cached under target/tmp).
fn real(test: &str) -> Option<Real> {
    let root = std::env::var_os("PROFC_IMAGES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/profile-images")
        });
    let dir = root.join(SET);
    let kernel = root.join("kernel").join(KVER);
    let need = [
        dir.join("mem.raw"),
        dir.join("core.elf"),
        dir.join("groundtruth.txt"),
        dir.join("vmcoreinfo.txt"),
        kernel.join("vmlinux"),
        kernel.join("System.map"),
    ];
    if let Some(missing) = need.iter().find(|p| !p.exists()) {
        let why = format!(
            "{} is missing (run ../shared/images/linux-qemu-image.sh; PROFC_IMAGES={})",
            missing.display(),
            root.display()
        );
        if support::ci() {
            panic!("{test}: {why}, and CI=true requires it");
        }
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
        return None;
    }
    let profile = cached_profile_path(Path::new(env!("CARGO_TARGET_TMPDIR")), &kernel);
    if !profile.exists() {
        ok(
            profc(&[
                "convert_profile".as_ref(),
                kernel.join("vmlinux").as_os_str(),
                profile.as_os_str(),
                "--system-map".as_ref(),
                kernel.join("System.map").as_os_str(),
                "--overwrite".as_ref(),
            ]),
            "convert_profile",
        );
    }
    Some(Real {
        truth: truth(&dir, &kernel, false),
        dir,
        profile,
    })
}

fn hex(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// pslist --json rows against the guest's /proc/PID/stat.
fn check_tasks(rows: &Value, t: &Truth, what: &str) {
    let rows = rows.as_array().unwrap_or_else(|| panic!("{what}: {rows}"));
    let ours: BTreeMap<i64, (i64, String)> = rows
        .iter()
        .map(|r| {
            (
                r["pid"].as_i64().unwrap(),
                (
                    r["ppid"].as_i64().unwrap(),
                    r["comm"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect();
    assert_eq!(ours.len(), rows.len(), "{what}: duplicate pids");
    for (pid, (ppid, comm)) in &t.tasks {
        let Some((p, c)) = ours.get(pid) else {
            panic!("{what}: pid {pid} ({comm}) of the guest's /proc is not listed: {ours:?}")
        };
        assert_eq!(p, ppid, "{what}: ppid of {pid}");
        assert!(
            same_comm(c, comm),
            "{what}: comm of {pid}: {c:?} vs {comm:?}"
        );
    }
    // Processes started after the guest printed its list (its idle loop's
    // `sleep`) may be there too, no more than a few.
    let extra: Vec<_> = ours.keys().filter(|p| !t.tasks.contains_key(p)).collect();
    assert!(extra.len() <= 3, "{what}: unexpected processes {extra:?}");
}

fn check_modules(rows: &Value, t: &Truth, what: &str) {
    let ours: BTreeMap<String, (u64, u64)> = rows
        .as_array()
        .unwrap_or_else(|| panic!("{what}: {rows}"))
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_owned(),
                (hex(&m["size"]), hex(&m["base"])),
            )
        })
        .collect();
    assert_eq!(ours, t.modules, "{what}: modules");
}

#[test]
fn identify_pslist_lsmod_check_with_no_address_given() {
    let Some(r) = real("profc identify/pslist/lsmod/check (real images)") else {
        return;
    };
    let t = &r.truth;
    for image in ["mem.raw", "core.elf"] {
        let img = r.dir.join(image);
        let id = json(
            profc(&["identify".as_ref(), img.as_os_str(), "--json".as_ref()]),
            "identify",
        );
        let linux: Vec<&Value> = id["kernels"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k["os"] == "linux")
            .collect();
        assert_eq!(linux.len(), 1, "{image}: {id}");
        let k = linux[0];
        assert_eq!(k["banner"].as_str(), Some(t.version.as_str()), "{image}");
        assert_eq!(k["build_id"].as_str(), Some(t.build_id.as_str()), "{image}");
        assert_eq!(hex(&k["kaslr_shift"]), t.shift, "{image}");
        assert_eq!(hex(&k["phys_base"]), t.offset, "{image}");
        assert_eq!(hex(&k["dtb"]), t.dtb, "{image}");
        assert!(k["paging"].is_string(), "{image}: {k}");

        let p = r.profile.as_os_str();
        let tasks = json(
            profc(&[
                "pslist".as_ref(),
                img.as_os_str(),
                "--profile".as_ref(),
                p,
                "--json".as_ref(),
            ]),
            "pslist",
        );
        check_tasks(&tasks, t, image);
        let mods = json(
            profc(&[
                "lsmod".as_ref(),
                img.as_os_str(),
                "-p".as_ref(),
                p,
                "--json".as_ref(),
            ]),
            "lsmod",
        );
        check_modules(&mods, t, image);
        let text = ok(profc(&["check".as_ref(), img.as_os_str(), p]), "check");
        assert!(text.starts_with("OK: "), "{text}");
        // The text listing has one row per process under its header.
        let text = ok(
            profc(&["pslist".as_ref(), img.as_os_str(), "-p".as_ref(), p]),
            "pslist",
        );
        assert_eq!(
            text.lines().count(),
            tasks.as_array().unwrap().len() + 1,
            "{text}"
        );
        assert!(text.starts_with("OFFSET (V)"), "{text}");
    }
}

/// The kernel's profile with its JSON changed by `edit`, saved as `out`.
fn edited(src: &Path, out: &Path, edit: impl FnOnce(&mut Value)) {
    let mut v: Value = serde_json::from_slice(&std::fs::read(src).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(out, serde_json::to_vec(&v).unwrap()).unwrap();
}

#[test]
fn repository_match_nearest_candidates_and_a_wrong_profile() {
    let Some(r) = real("profc identify --repository (real images)") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let img = r.dir.join("core.elf");
    let t = &r.truth;

    // The exact profile: matched by the kernel's build id.
    let repo = tmp.path().join("repo");
    ok(
        profc(&[
            "repo".as_ref(),
            "add".as_ref(),
            repo.as_os_str(),
            r.profile.as_os_str(),
        ]),
        "repo add",
    );
    let id = json(
        profc(&[
            "identify".as_ref(),
            img.as_os_str(),
            "--json".as_ref(),
            "--repository".as_ref(),
            repo.as_os_str(),
        ]),
        "identify --repository",
    );
    let k = id["kernels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["os"] == "linux")
        .unwrap();
    let profiles = k["profiles"].as_array().unwrap();
    assert_eq!(profiles.len(), 1, "{k}");
    assert_eq!(profiles[0]["matched"], "build-id", "{k}");
    assert_eq!(profiles[0]["name"], format!("Linux/{KVER}"), "{k}");
    let tasks = json(
        profc(&[
            "pslist".as_ref(),
            img.as_os_str(),
            "--repository".as_ref(),
            repo.as_os_str(),
            "--json".as_ref(),
        ]),
        "pslist --repository",
    );
    check_tasks(&tasks, t, "pslist --repository");

    // Only a profile of the previous ABI: named as the nearest, with what
    // differs, and pslist refuses to guess.
    let older = tmp.path().join("older.json");
    edited(&r.profile, &older, |v| {
        let m = v["$METADATA"].as_object_mut().unwrap();
        let banner = m["Banner"]
            .as_str()
            .unwrap()
            .replace("6.1.0-57-amd64", "6.1.0-56-amd64");
        m.insert("Banner".into(), banner.into());
        m.insert("KernelVersion".into(), "6.1.0-56-amd64".into());
        m.remove("BuildId");
    });
    let near = tmp.path().join("near");
    ok(
        profc(&[
            "repo".as_ref(),
            "add".as_ref(),
            near.as_os_str(),
            older.as_os_str(),
        ]),
        "repo add older",
    );
    let args = [
        "identify".as_ref(),
        img.as_os_str(),
        "--repository".as_ref(),
        near.as_os_str(),
    ];
    let text = ok(profc(&args), "identify --repository near");
    assert!(text.contains("none matches; nearest:"), "{text}");
    assert!(text.contains("Linux/6.1.0-56-amd64"), "{text}");
    assert!(
        text.contains(
            "release: \"6.1.0-56-amd64\" in the profile, \"6.1.0-57-amd64\" in the image"
        ),
        "{text}"
    );
    let o = profc(&[
        "pslist".as_ref(),
        img.as_os_str(),
        "--repository".as_ref(),
        near.as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no profile in") && err.contains("nearest: Linux/6.1.0-56-amd64"),
        "{err}"
    );

    // The right kernel's profile with task_struct.tasks one pointer off:
    // check says it does not fit, with exit status 2.
    let wrong = tmp.path().join("wrong.json");
    edited(&r.profile, &wrong, |v| {
        let tasks = &mut v["$STRUCTS"]["task_struct"][1]["tasks"][0];
        *tasks = Value::from(tasks.as_u64().unwrap() + 8);
    });
    let o = profc(&[
        "check".as_ref(),
        r.dir.join("mem.raw").as_os_str(),
        wrong.as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let text = stdout(&o);
    assert!(text.starts_with("MISMATCH: "), "{text}");
    assert!(text.contains("  FAIL  "), "{text}");
}

#[test]
fn bad_images_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let zeros = tmp.path().join("zeros.raw");
    std::fs::write(&zeros, vec![0u8; 1 << 20]).unwrap();
    let text = ok(
        profc(&["identify".as_ref(), zeros.as_os_str()]),
        "identify zeros",
    );
    assert!(text.contains("no kernel found"), "{text}");
    let empty = tmp.path().join("empty.raw");
    std::fs::write(&empty, b"").unwrap();
    let o = profc(&["identify".as_ref(), empty.as_os_str()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    let o = profc(&["pslist".as_ref(), zeros.as_os_str()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--profile") && err.lines().count() == 1,
        "{err}"
    );
    let o = profc(&[
        "pslist".as_ref(),
        zeros.as_os_str(),
        "--repository".as_ref(),
        tmp.path().as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no kernel found"), "{err}");
}

/// Issue 16: a profile carved out of the memory image alone (its BTF,
/// kallsyms tables and banner: `convert_profile IMAGE --from-image`) lists
/// the same processes and modules as the guest's own /proc.
#[test]
fn a_profile_from_the_image_alone_lists_the_guest_s_processes() {
    let Some(r) = real("profc pslist with an image-only profile (real images)") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let raw = r.dir.join("mem.raw");
    let prof = tmp.path().join("image-only.json");
    ok(
        profc(&[
            "convert_profile".as_ref(),
            raw.as_os_str(),
            prof.as_os_str(),
            "--from-image".as_ref(),
        ]),
        "convert_profile --from-image",
    );
    for image in ["mem.raw", "core.elf"] {
        let img = r.dir.join(image);
        let tasks = json(
            profc(&[
                "pslist".as_ref(),
                img.as_os_str(),
                "-p".as_ref(),
                prof.as_os_str(),
                "--json".as_ref(),
            ]),
            "pslist (image-only profile)",
        );
        check_tasks(&tasks, &r.truth, image);
        let mods = json(
            profc(&[
                "lsmod".as_ref(),
                img.as_os_str(),
                "-p".as_ref(),
                prof.as_os_str(),
                "--json".as_ref(),
            ]),
            "lsmod (image-only profile)",
        );
        check_modules(&mods, &r.truth, image);
        let text = ok(
            profc(&["check".as_ref(), img.as_os_str(), prof.as_os_str()]),
            "check (image-only profile)",
        );
        assert!(text.starts_with("OK: "), "{text}");
    }
}
