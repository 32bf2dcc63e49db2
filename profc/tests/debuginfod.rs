//! Linux debug info by build id, end to end, against a REAL debuginfod
//! (elfutils', Debian package `debuginfod`) started here on 127.0.0.1
//! over the real Debian kernel debug package (`tests/tools/get-kernel-dbg.sh`
//! keeps it in ~/.cache/profc-ci): the vmlinux it serves by build id equals
//! the one read in place from the package; `profc fetch_debuginfo
//! --vmlinux-of IMAGE` fetches it by the build id in a real memory image;
//! `profc build_linux_profile IMAGE` compiles it into a repository, and
//! `profc pslist` with that repository equals the guest's own view.
//! One debuginfod index of the 860 MB package serves every check.
//! Missing tools or inputs print `SKIPPED ...`; with CI=true they fail.

#[path = "../../tests/support.rs"]
mod support;

#[path = "../../tests/pkgtools.rs"]
mod pkgtools;

#[path = "../../tests/guest_truth.rs"]
mod guest_truth;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use object::Object;
use pkgtools::{require, sha256, Debuginfod};
use profile_compiler::fetch::debuginfod::{Artifact, BuildId, Client, Options};

const TOOLS: &[(&str, &str)] = &[
    ("debuginfod", "debuginfod"),
    ("bsdtar", "libarchive-tools"),
    ("timeout", "coreutils"),
];

fn profc<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_profc"))
        .args(args)
        .env_remove("DEBUGINFOD_URLS")
        .output()
        .expect("run profc")
}

fn ok(o: Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what}: {}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn build_id_of(path: &std::path::Path) -> String {
    let data = std::fs::read(path).unwrap();
    let f = object::File::parse(&*data).unwrap();
    let id = f.build_id().unwrap().unwrap();
    assert!(
        f.section_by_name(".debug_info").is_some(),
        "{}: no DWARF",
        path.display()
    );
    id.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn kernel_debuginfo_by_build_id_end_to_end() {
    let test = "kernel_debuginfo_by_build_id_end_to_end";
    if !require(test, TOOLS) {
        return;
    }
    let Some(deb) = pkgtools::kernel_dbg_deb(test) else {
        return;
    };
    let images = std::env::var_os("PROFC_IMAGES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/profile-images")
        });
    let set = images.join("6.1.0-57-amd64-4level");
    let kernel = images.join("kernel/6.1.0-57-amd64");
    if !set.join("groundtruth.txt").exists() {
        pkgtools::skip(
            test,
            &format!(
                "{} is missing (run ../shared/images/linux-qemu-image.sh)",
                set.display()
            ),
        );
        return;
    }
    let truth = guest_truth::truth(&set, &kernel, false);
    let (raw, core) = (set.join("mem.raw"), set.join("core.elf"));

    // The package read in place: the vmlinux and its build id.
    let k = profile_compiler::__private::package::open(&deb)
        .unwrap()
        .find_kernel(&profile_compiler::__private::package::Select {
            wait_for_system_map: false,
            ..Default::default()
        })
        .unwrap();
    let v = k.vmlinux.unwrap();
    let id = BuildId::from_bytes(k.build_id.as_ref().unwrap()).unwrap();
    assert_eq!(
        id.to_hex(),
        truth.build_id,
        "the -dbg package {} is not the imaged kernel's",
        deb.display()
    );

    let work = tempfile::tempdir().unwrap();
    // The package is scanned where it lies (a directory of its own).
    let scan = work.path().join("scan");
    std::fs::create_dir_all(&scan).unwrap();
    std::os::unix::fs::symlink(&deb, scan.join(deb.file_name().unwrap())).unwrap();
    let srv = Debuginfod::start_with(work.path(), &scan, Duration::from_secs(600), &["-L"]);

    // 1. The library client: the same bytes as in the package.
    let cache = work.path().join("cache");
    let mut o = Options::new(vec![srv.url()], cache.clone());
    o.timeout = Some(Duration::from_secs(120));
    let f = Client::new(o)
        .unwrap()
        .fetch(&id, Artifact::Debuginfo, &|_| {});
    let f = f.unwrap_or_else(|e| panic!("{e}\n{}", srv.log_text()));
    let got = std::fs::read(&f.path).unwrap();
    assert_eq!(got.len(), v.data.len());
    assert_eq!(sha256(&got), sha256(&v.data));
    assert!(f.archive.as_deref().unwrap_or("").ends_with(".deb"));

    // 2. fetch_debuginfo --vmlinux-of: the build id from the image, a
    // fresh cache (a real download), a copy at --output.
    let cache2 = work.path().join("cache2");
    let out = work.path().join("vmlinux");
    let url = srv.url();
    let args = [
        "fetch_debuginfo".as_ref(),
        "--vmlinux-of".as_ref(),
        raw.as_os_str(),
        "--server".as_ref(),
        url.as_ref(),
        "--cache".as_ref(),
        cache2.as_os_str(),
        "--output".as_ref(),
        out.as_os_str(),
    ];
    let printed = ok(profc(&args), "fetch_debuginfo --vmlinux-of");
    assert_eq!(printed.trim(), out.display().to_string());
    assert_eq!(build_id_of(&out), truth.build_id);
    assert!(cache2.join(id.to_hex()).join("debuginfo").is_file());
    // No server at all: a clear error.
    let o = profc(&["fetch_debuginfo", "--build-id", &truth.build_id]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("DEBUGINFOD_URLS"));

    // 3. build_linux_profile: image -> build id -> debuginfod -> compiled
    // -> in the repository; pslist with the repository equals the guest.
    let repo = work.path().join("repo");
    let args = [
        "build_linux_profile".as_ref(),
        core.as_os_str(),
        "--repository".as_ref(),
        repo.as_os_str(),
        "--server".as_ref(),
        url.as_ref(),
        "--cache".as_ref(),
        cache.as_os_str(),
    ];
    let path = ok(profc(&args), "build_linux_profile");
    let path = PathBuf::from(path.trim());
    assert!(
        path.is_file() && path.starts_with(&repo),
        "{}",
        path.display()
    );
    let list = ok(
        profc(&["repo".as_ref(), "list".as_ref(), repo.as_os_str()]),
        "repo list",
    );
    assert_eq!(list.trim(), "Linux/6.1.0-57-amd64");
    let rows = ok(
        profc(&[
            "pslist".as_ref(),
            raw.as_os_str(),
            "--repository".as_ref(),
            repo.as_os_str(),
            "--json".as_ref(),
        ]),
        "pslist --repository",
    );
    let rows: serde_json::Value = serde_json::from_str(&rows).unwrap();
    let ours: std::collections::BTreeMap<i64, (i64, String)> = rows
        .as_array()
        .unwrap()
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
    for (pid, (ppid, comm)) in &truth.tasks {
        let (p, c) = ours
            .get(pid)
            .unwrap_or_else(|| panic!("pid {pid} not listed"));
        assert_eq!(p, ppid, "ppid of {pid}");
        assert!(guest_truth::same_comm(c, comm), "{c:?} vs {comm:?}");
    }
    // Again: found in the repository, nothing fetched (no server given).
    let args = [
        "build_linux_profile".as_ref(),
        raw.as_os_str(),
        "--repository".as_ref(),
        repo.as_os_str(),
        "--server".as_ref(),
        "http://127.0.0.1:9".as_ref(),
    ];
    let again = ok(profc(&args), "build_linux_profile again");
    assert_eq!(PathBuf::from(again.trim()), path);
}
