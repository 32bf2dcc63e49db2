//! Distribution packages read in place (`input::package`): real packages
//! built with `dpkg-deb --build` (xz, zstd, gzip, none) and `rpmbuild`
//! (xz, zstd, gzip payloads) around real kernel files from ../shared, and
//! the real Debian kernel debug package (~850 MB, when downloaded), whose
//! vmlinux read in place must equal, byte for byte, what `dpkg-deb | tar`
//! extracts.
//!
//! Tools: dpkg-deb (dpkg), rpmbuild (rpm), tar. Without them a test prints
//! `SKIPPED ...`; with CI=true it fails.

#[path = "../../tests/support.rs"]
mod support;

#[path = "../../tests/pkgtools.rs"]
mod pkgtools;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use pkgtools::{
    build_deb, fixtures, require, sha256, sha256_of_command, Fixtures, FIXTURE_RELEASE,
};
use profile_compiler::__private::package::{
    self, Compression, EntryKind, PackageError, PackageKind, Select,
};

fn rel(p: &str) -> String {
    p.replace("REL", FIXTURE_RELEASE)
}

fn xz(data: &[u8]) -> Vec<u8> {
    let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// The files of the test packages: real kernel files at the places
/// Debian's and Fedora's kernel packages put them. The debug vmlinux slot
/// holds the real debug module (a 550 KB ELF with DWARF and a build-id):
/// a real 630 MB vmlinux is read by the `real_kernel_dbg_deb` test.
fn layout(fx: &Fixtures) -> Vec<(String, Vec<u8>)> {
    let long_dir = "usr/share/doc/profc-test/a-directory-name-long-enough-that-ustar-cannot-hold-it/and-one-more-level-beyond-one-hundred-bytes";
    vec![
        (rel("boot/config-REL"), fx.config.clone()),
        (
            rel("usr/lib/debug/boot/System.map-REL"),
            fx.system_map.clone(),
        ),
        (rel("usr/lib/debug/boot/vmlinux-REL"), fx.module.clone()),
        (
            rel("usr/lib/debug/lib/modules/REL/kernel/drivers/misc/module_dwarf.ko"),
            fx.module.clone(),
        ),
        (
            rel("lib/modules/REL/kernel/drivers/misc/module-packed.ko.xz"),
            xz(&fx.module),
        ),
        (
            rel("lib/modules/REL/kernel/drivers/misc/module-zpacked.ko.zst"),
            zstd::encode_all(&fx.module[..], 3).unwrap(),
        ),
        (format!("{long_dir}/copyright"), b"real enough\n".to_vec()),
    ]
}

fn refs(files: &[(String, Vec<u8>)]) -> Vec<(&str, &[u8])> {
    files
        .iter()
        .map(|(p, d)| (p.as_str(), d.as_slice()))
        .collect()
}

/// Regular files and sizes as `dpkg-deb -c` lists them (the independent
/// view of the package's content).
fn dpkg_listing(deb: &Path) -> Vec<(String, u64)> {
    let out = Command::new("dpkg-deb")
        .arg("-c")
        .arg(deb)
        .output()
        .expect("dpkg-deb -c");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let mut v: Vec<(String, u64)> = text
        .lines()
        .filter(|l| l.starts_with('-'))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let size = f[2].parse().unwrap();
            let path = f[5..].join(" ");
            (path.trim_start_matches("./").to_owned(), size)
        })
        .collect();
    v.sort();
    v
}

fn check_kernel_files(p: &package::Package, fx: &Fixtures) {
    let sel = Select {
        wait_for_config: true,
        ..Select::kernel()
    };
    let k = p.find_kernel(&sel).unwrap();
    let v = k.vmlinux.as_ref().expect("vmlinux");
    assert_eq!(v.path, rel("usr/lib/debug/boot/vmlinux-REL"));
    assert_eq!(sha256(&v.data), sha256(&fx.module), "vmlinux bytes");
    assert_eq!(
        k.system_map.as_ref().expect("System.map").data,
        fx.system_map
    );
    assert_eq!(k.config.as_ref().expect("config").data, fx.config);
    assert_eq!(k.release.as_deref(), Some(FIXTURE_RELEASE));
    let hex: String = k
        .build_id
        .as_ref()
        .expect("build-id")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hex, pkgtools::build_id_hex(&fx.module));

    // Modules: plain, and compressed inside the package (`-` and `_` alike).
    for (name, path, comp) in [
        (
            "module_dwarf.ko",
            "usr/lib/debug/lib/modules/REL/kernel/drivers/misc/module_dwarf.ko",
            Compression::None,
        ),
        (
            "misc/module_dwarf",
            "usr/lib/debug/lib/modules/REL/kernel/drivers/misc/module_dwarf.ko",
            Compression::None,
        ),
        (
            "module_packed.ko",
            "lib/modules/REL/kernel/drivers/misc/module-packed.ko.xz",
            Compression::Xz,
        ),
        (
            "module-zpacked",
            "lib/modules/REL/kernel/drivers/misc/module-zpacked.ko.zst",
            Compression::Zstd,
        ),
    ] {
        let m = p.read_member(name).unwrap();
        assert_eq!(m.path, rel(path), "{name}");
        assert_eq!(m.compression, comp, "{name}");
        assert_eq!(sha256(&m.data), sha256(&fx.module), "{name}: bytes");
    }
    // Both at once, in one pass.
    let both = p
        .find_kernel(&Select {
            member: Some("module-packed.ko".into()),
            ..Select::kernel()
        })
        .unwrap();
    assert!(both.vmlinux.is_some() && both.member.is_some());
}

#[test]
fn deb_every_compression() {
    let test = "deb_every_compression";
    let Some(fx) = fixtures(test) else { return };
    if !require(test, &[("dpkg-deb", "dpkg")]) {
        return;
    }
    let files = layout(&fx);
    let t = tempfile::tempdir().unwrap();
    for comp in ["xz", "zstd", "gzip", "none"] {
        let deb = t.path().join(format!("linux-image-test-dbg_{comp}.deb"));
        build_deb(
            &t.path().join(format!("root-{comp}")),
            "linux-image-test-dbg",
            &refs(&files),
            comp,
            &deb,
        );
        let head = std::fs::read(&deb).unwrap();
        assert_eq!(
            package::detect(&head[..64]),
            Some(PackageKind::Deb),
            "{comp}"
        );
        let p = package::open(&deb).unwrap();
        assert_eq!(p.kind(), PackageKind::Deb);
        assert_eq!(p.info().name.as_deref(), Some("linux-image-test-dbg"));
        assert_eq!(p.info().version.as_deref(), Some("1.0-1"));
        assert_eq!(p.info().arch.as_deref(), Some("amd64"));
        check_kernel_files(&p, &fx);
        // The listing agrees with dpkg-deb's.
        let mut ours: Vec<(String, u64)> = p
            .members()
            .unwrap()
            .into_iter()
            .filter(|m| m.kind == EntryKind::File)
            .map(|m| (m.path, m.size))
            .collect();
        ours.sort();
        assert_eq!(ours, dpkg_listing(&deb), "{comp}: members");
        assert_eq!(ours.len(), files.len());
        // The same package from memory.
        let q = package::Package::from_bytes("in-memory.deb", head).unwrap();
        assert_eq!(
            q.find_kernel(&Select::kernel())
                .unwrap()
                .vmlinux
                .unwrap()
                .data,
            fx.module
        );
    }
}

#[test]
fn deb_errors_are_clear() {
    let test = "deb_errors_are_clear";
    let Some(fx) = fixtures(test) else { return };
    if !require(test, &[("dpkg-deb", "dpkg")]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    // Not a package.
    let elf = t.path().join("module.ko");
    std::fs::write(&elf, &fx.module).unwrap();
    assert!(matches!(
        package::open(&elf),
        Err(PackageError::NotAPackage { .. })
    ));
    assert!(matches!(
        package::open(t.path().join("missing.deb")),
        Err(PackageError::Io { .. })
    ));

    // A package with modules but no vmlinux: the error says what it holds.
    let mut files: Vec<(String, Vec<u8>)> = (0..20)
        .map(|i| {
            (
                rel(&format!("lib/modules/REL/kernel/drivers/m{i:02}.ko")),
                fx.module[..1000].to_vec(),
            )
        })
        .collect();
    files.push((rel("boot/System.map-REL"), fx.system_map.clone()));
    let deb = t.path().join("modules.deb");
    build_deb(
        &t.path().join("root-m"),
        "linux-modules-test",
        &refs(&files),
        "xz",
        &deb,
    );
    let p = package::open(&deb).unwrap();
    let e = p.find_kernel(&Select::kernel()).unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e, PackageError::NoVmlinux { files: 21, .. }),
        "{msg}"
    );
    assert!(
        msg.contains("no kernel vmlinux") && msg.contains("21 files") && msg.contains("m00.ko"),
        "{msg}"
    );
    assert!(msg.contains("(9 more)"), "{msg}");
    // A missing module: the error names the modules there are.
    let e = p.read_member("loop.ko").unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("\"loop.ko\"")
            && msg.contains("20 of them kernel modules")
            && msg.contains("m01.ko"),
        "{msg}"
    );
    // A module only, without waiting for anything else.
    assert_eq!(p.read_member("m07").unwrap().data, fx.module[..1000]);
    // A release that is not there.
    let e = p
        .find_kernel(&Select {
            release: Some("9.9.9".into()),
            ..Select::kernel()
        })
        .unwrap_err();
    assert!(e.to_string().contains("for release 9.9.9"), "{e}");

    // Truncated and corrupted packages: errors, never panics or partial
    // results.
    let full = std::fs::read(&deb).unwrap();
    for cut in [30, 70, 200, full.len() / 2, full.len() - 10] {
        let r = package::Package::from_bytes("cut.deb", full[..cut].to_vec())
            .and_then(|p| p.find_kernel(&Select::kernel()));
        assert!(r.is_err(), "cut at {cut}");
    }
    let mut bad = full.clone();
    let mid = bad.len() * 3 / 4;
    for b in &mut bad[mid..mid + 64] {
        *b ^= 0x5a;
    }
    let e = package::Package::from_bytes("corrupt.deb", bad)
        .and_then(|p| p.members())
        .unwrap_err();
    assert!(
        matches!(
            e,
            PackageError::Read { .. } | PackageError::Malformed { .. }
        ),
        "{e}"
    );
}

/// Builds an RPM with rpmbuild holding `files`, payload `payload` (rpm's
/// `_binary_payload`, e.g. `w19.zstdio`).
fn build_rpm(dir: &Path, files: &[(String, Vec<u8>)], payload: &str) -> PathBuf {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let mut install = String::new();
    let mut list = String::new();
    for (i, (p, data)) in files.iter().enumerate() {
        std::fs::write(src.join(format!("f{i}")), data).unwrap();
        let d = Path::new(p).parent().unwrap().display().to_string();
        install.push_str(&format!(
            "mkdir -p %{{buildroot}}/{d}\ncp %{{srcdir}}/f{i} %{{buildroot}}/{p}\n"
        ));
        list.push_str(&format!("/{p}\n"));
    }
    let spec = format!(
        "Name: kernel-debuginfo-profc\nVersion: 6.1.0\nRelease: 1\nSummary: profc test\nLicense: MIT\nBuildArch: noarch\n\
         %global debug_package %{{nil}}\n%global __os_install_post %{{nil}}\n%description\nprofc test package\n\
         %install\n{install}%files\n{list}"
    );
    let spec_path = dir.join("t.spec");
    std::fs::write(&spec_path, spec).unwrap();
    let out = Command::new("rpmbuild")
        .arg("--define")
        .arg(format!("_topdir {}", dir.join("top").display()))
        .arg("--define")
        .arg(format!("srcdir {}", src.display()))
        .arg("--define")
        .arg(format!("_binary_payload {payload}"))
        .args(["--nodeps", "--quiet", "-bb"])
        .arg(&spec_path)
        .stdout(Stdio::null())
        .output()
        .expect("run rpmbuild");
    assert!(
        out.status.success(),
        "rpmbuild: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rpms = dir.join("top/RPMS/noarch");
    std::fs::read_dir(&rpms)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "rpm"))
        .expect("an rpm")
}

#[test]
fn rpm_every_compression() {
    let test = "rpm_every_compression";
    let Some(fx) = fixtures(test) else { return };
    if !require(test, &[("rpmbuild", "rpm"), ("rpm", "rpm")]) {
        return;
    }
    // Fedora's layout: the debug vmlinux under usr/lib/debug/lib/modules,
    // System.map and config beside the modules.
    let files = vec![
        (rel("lib/modules/REL/System.map"), fx.system_map.clone()),
        (rel("lib/modules/REL/config"), fx.config.clone()),
        (
            rel("usr/lib/debug/lib/modules/REL/vmlinux"),
            fx.module.clone(),
        ),
        (
            rel("usr/lib/debug/lib/modules/REL/kernel/drivers/misc/module_dwarf.ko.debug"),
            fx.module.clone(),
        ),
        (
            rel("lib/modules/REL/kernel/drivers/misc/module_dwarf.ko.xz"),
            xz(&fx.module),
        ),
    ];
    let t = tempfile::tempdir().unwrap();
    for (payload, want) in [
        ("w9.xzdio", "xz"),
        ("w19.zstdio", "zstd"),
        ("w9.gzdio", "gzip"),
    ] {
        let dir = t.path().join(want);
        let rpm = build_rpm(&dir, &files, payload);
        // rpm itself says which compressor it used.
        let q = Command::new("rpm")
            .args(["-qp", "--qf", "%{PAYLOADCOMPRESSOR}"])
            .arg(&rpm)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&q.stdout), want);
        let head = std::fs::read(&rpm).unwrap();
        assert_eq!(package::detect(&head), Some(PackageKind::Rpm));
        let p = package::open(&rpm).unwrap();
        assert_eq!(p.info().name.as_deref(), Some("kernel-debuginfo-profc"));
        assert_eq!(p.info().version.as_deref(), Some("6.1.0-1"));
        let sel = Select {
            wait_for_config: true,
            ..Select::kernel()
        };
        let k = p.find_kernel(&sel).unwrap();
        assert_eq!(
            k.vmlinux.as_ref().unwrap().path,
            rel("usr/lib/debug/lib/modules/REL/vmlinux")
        );
        assert_eq!(
            sha256(&k.vmlinux.unwrap().data),
            sha256(&fx.module),
            "{want}"
        );
        assert_eq!(k.system_map.unwrap().data, fx.system_map);
        assert_eq!(k.config.unwrap().data, fx.config);
        assert_eq!(k.release.as_deref(), Some(FIXTURE_RELEASE));
        // The first match in payload order: the .ko.xz (lib/ sorts first).
        let m = p.read_member("module_dwarf.ko").unwrap();
        assert_eq!(m.data, fx.module, "{want}: module");
        // members() comes from the header; the payload agrees with it.
        let listed = p.members().unwrap();
        let mut walked = Vec::new();
        p.walk(
            &mut |e, _| {
                if e.kind == EntryKind::File {
                    walked.push((e.path.to_owned(), e.size));
                }
                Ok(package::Flow::Continue)
            },
            None,
        )
        .unwrap();
        let mut listed: Vec<(String, u64)> = listed
            .into_iter()
            .filter(|m| m.kind == EntryKind::File)
            .map(|m| (m.path, m.size))
            .collect();
        listed.sort();
        walked.sort();
        assert_eq!(listed, walked);
        assert_eq!(listed.len(), files.len());
        // Truncated: an error.
        let cut = package::Package::from_bytes("cut.rpm", head[..head.len() - 100].to_vec())
            .and_then(|p| p.find_kernel(&Select::kernel()));
        assert!(cut.is_err(), "{want}: truncated rpm accepted");
    }
}

/// The real Debian kernel debug package: the vmlinux, System.map and a
/// module read in place equal what dpkg-deb and tar extract.
#[test]
fn real_kernel_dbg_deb() {
    let test = "real_kernel_dbg_deb";
    if !require(test, &[("dpkg-deb", "dpkg"), ("tar", "tar")]) {
        return;
    }
    let Some(deb) = pkgtools::kernel_dbg_deb(test) else {
        return;
    };
    let p = package::open(&deb).unwrap();
    let name = p.info().name.clone().unwrap();
    assert!(
        name.starts_with("linux-image-") && name.ends_with("-dbg"),
        "{name}"
    );
    let release = name
        .trim_start_matches("linux-image-")
        .trim_end_matches("-dbg")
        .to_owned();
    let progress_calls = std::cell::Cell::new(0u32);
    let k = p
        .find_kernel_with(
            &Select {
                member: Some("loop.ko".into()),
                ..Select::kernel()
            },
            Some(&|pr| {
                assert!(pr.read <= pr.total);
                progress_calls.set(progress_calls.get() + 1);
            }),
        )
        .unwrap();
    assert!(
        progress_calls.get() > 10,
        "progress reported {} times",
        progress_calls.get()
    );
    assert_eq!(k.release.as_deref(), Some(release.as_str()));
    let v = k.vmlinux.as_ref().unwrap();
    assert_eq!(v.path, format!("usr/lib/debug/boot/vmlinux-{release}"));
    let q = deb.display();
    let extract = |path: &str| {
        sha256_of_command(&format!(
            "dpkg-deb --fsys-tarfile '{q}' 2>/dev/null | tar --occurrence=1 -xO './{path}'"
        ))
    };
    let (want, n) = extract(&v.path);
    assert_eq!(n, v.data.len() as u64, "vmlinux size");
    assert_eq!(sha256(&v.data), want, "vmlinux bytes");
    let m = k.system_map.as_ref().unwrap();
    assert_eq!(m.path, format!("usr/lib/debug/boot/System.map-{release}"));
    assert_eq!(sha256(&m.data), extract(&m.path).0, "System.map bytes");
    let l = k.member.as_ref().unwrap();
    assert!(l.path.ends_with("/drivers/block/loop.ko"), "{}", l.path);
    assert_eq!(sha256(&l.data), extract(&l.path).0, "loop.ko bytes");
    let banner = k.banner.as_deref().unwrap();
    assert!(
        banner.starts_with(&format!("Linux version {release} ")),
        "{banner}"
    );
    // The build-id is the one readelf read from the extracted file, when
    // ../shared/bench/get-vmlinux.sh left it in ~/.cache/profile-bench.
    let id: String = k
        .build_id
        .as_ref()
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(id.len(), 40);
    let known = std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(format!(".cache/profile-bench/{release}/build-id.txt")))
        .and_then(|p| std::fs::read_to_string(p).ok());
    if let Some(known) = known {
        assert_eq!(id, known.trim());
    }
}
