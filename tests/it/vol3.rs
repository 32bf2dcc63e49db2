//! Volatility 3 acceptance tests (issue 14): profc's ISF of the real Debian
//! kernel, made from its DWARF vmlinux + System.map and from the guest's own
//! raw BTF + kallsyms + /proc/version, given to the pip-installed Volatility
//! 3 (`vol -q -r json -s SYMDIR -f IMAGE PLUGIN`) on the real memory images
//! of `../shared/images/linux-qemu-image.sh`; what the plugins print must
//! equal what the guest itself printed (groundtruth.txt: /proc/PID/stat,
//! /proc/modules, /proc/version, /proc/cmdline) and what its init did (two
//! bash history lines).
//!
//! CI runs the five plugins (`linux.pslist`, `linux.pstree`, `linux.lsmod`,
//! `linux.bash`, `linux.kmsg`) with the DWARF ISF on mem.raw and with the
//! BTF ISF on core.elf, and `linux.pslist` and `linux.lsmod` with the ISF
//! made from mem.raw alone (`convert_profile --from-image`, issue 16) on
//! mem.raw (12 runs, at most 2 at a time); `PROFC_VOL3_MATRIX=full` runs
//! both vmlinux ISFs on both images (22 runs). Each run
//! has its own `XDG_CACHE_HOME` and a timeout (`PROFC_VOL3_TIMEOUT` seconds,
//! default 600): a run that overstays is killed and reported.
//!
//! Also through Volatility 3's own object API (`tests/tools/vol3_objects.py`):
//! typed symbols of the vmlinux ISFs (`init_task`, `modules`, `tk_core` of an
//! anonymous type, ...) against pahole's reading of the vmlinux DWARF and of
//! the BTF, objects read from mem.raw over an Intel32e layer (init_task's
//! task list, the module list, init_uts_ns) against the guest's /proc, and a
//! PDB's typed globals against llvm-pdbutil's dump.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use profile_compiler::{compile, Format, Input, InputKind, Options};
use profile_runtime::WriteMode;
use serde_json::Value;

use crate::guest_truth::{same_comm, Truth};
use crate::images::{images_dir, skip};

const SET: &str = "6.1.0-57-amd64-4level";
const KVER: &str = "6.1.0-57-amd64";
const PLUGINS: [&str; 5] = [
    "linux.pslist",
    "linux.pstree",
    "linux.lsmod",
    "linux.bash",
    "linux.kmsg",
];
/// Volatility 3 prints addresses masked to 48 bits.
const MASK48: u64 = (1 << 48) - 1;

/// The inputs of the 4-level amd64 set, or `None` (and a SKIPPED line).
struct Inputs {
    dir: PathBuf,
    kernel: PathBuf,
}

fn inputs(test: &str) -> Option<Inputs> {
    let root = images_dir();
    let dir = root.join(SET);
    let kernel = root.join("kernel").join(KVER);
    for f in [
        dir.join("mem.raw"),
        dir.join("core.elf"),
        dir.join("groundtruth.txt"),
        dir.join("guest/btf-vmlinux"),
        dir.join("guest/kallsyms"),
        dir.join("guest/version"),
        kernel.join("vmlinux"),
        kernel.join("System.map"),
    ] {
        if !f.exists() {
            skip(
                test,
                &format!(
                    "{} is missing (run ../shared/images/linux-qemu-image.sh; PROFC_IMAGES={})",
                    f.display(),
                    root.display()
                ),
            );
            return None;
        }
    }
    if !vol3_installed() {
        skip(
            test,
            "Volatility 3 is not installed (`pip install volatility3`: `vol` and `import volatility3`)",
        );
        return None;
    }
    Some(Inputs { dir, kernel })
}

fn vol3_installed() -> bool {
    let import = Command::new("python3")
        .args(["-c", "import volatility3"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let vol = Command::new("vol")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    import && vol
}

/// At most two Volatility 3 processes at a time, across this module's
/// tests (each is one busy core for a minute or more).
static SLOTS: (Mutex<usize>, Condvar) = (Mutex::new(0), Condvar::new());

struct Slot;
fn slot() -> Slot {
    let (m, c) = &SLOTS;
    let mut n = m.lock().unwrap_or_else(|e| e.into_inner());
    while *n >= 2 {
        n = c.wait(n).unwrap_or_else(|e| e.into_inner());
    }
    *n += 1;
    Slot
}
impl Drop for Slot {
    fn drop(&mut self) {
        let (m, c) = &SLOTS;
        *m.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        c.notify_one();
    }
}

fn timeout() -> Duration {
    let secs = std::env::var("PROFC_VOL3_TIMEOUT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    Duration::from_secs(secs)
}

/// Runs `cmd` with stdout and stderr in files of a fresh directory (which
/// is also its `XDG_CACHE_HOME`), killing it after `timeout()`. Ok(stdout),
/// or Err(what went wrong, with the end of stderr).
fn run_limited(cmd: Command, what: &str) -> Result<(String, Duration), String> {
    run_within(cmd, what, timeout())
}

fn run_within(mut cmd: Command, what: &str, limit: Duration) -> Result<(String, Duration), String> {
    let _slot = slot();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("stdout");
    let err = tmp.path().join("stderr");
    cmd.env("XDG_CACHE_HOME", tmp.path().join("cache"))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap());
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("{what}: cannot start: {e}"))?;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{what}: timed out after {}s and was killed (PROFC_VOL3_TIMEOUT)",
                limit.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let took = start.elapsed();
    let stdout = std::fs::read_to_string(&out).unwrap_or_default();
    if !status.success() {
        let stderr = std::fs::read_to_string(&err).unwrap_or_default();
        let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!("{what}: {status}:\n{}", tail.join("\n")));
    }
    Ok((stdout, took))
}

fn mtime_key(path: &Path) -> String {
    let meta = std::fs::metadata(path).unwrap();
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    format!("{}-{mtime}", meta.len())
}

/// An ISF compiled in-process (as `profc convert_profile ... --format isf`
/// does), cached under the target directory by its main input's size and
/// modification time.
fn cached_isf(name: &str, input: &Path, options: &Options) -> PathBuf {
    cached_isf_of(name, input, || Input::detect(input).unwrap(), options)
}

/// [`cached_isf`] of an input of a given kind.
fn cached_isf_of(
    name: &str,
    input: &Path,
    make: impl FnOnce() -> Input,
    options: &Options,
) -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("vol3-isf");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}-{}.json", mtime_key(input)));
    if !path.exists() {
        let compiled =
            compile(&make(), options).unwrap_or_else(|e| panic!("{}: {e}", input.display()));
        compiled
            .save(&path, Format::Isf, WriteMode::Overwrite)
            .unwrap();
    }
    path
}

/// `convert_profile vmlinux OUT --system-map System.map --format isf`.
fn dwarf_isf(i: &Inputs) -> PathBuf {
    let mut o = Options::new();
    o.system_map = Some(i.kernel.join("System.map"));
    cached_isf(&format!("{KVER}-dwarf"), &i.kernel.join("vmlinux"), &o)
}

/// `convert_profile guest/btf-vmlinux OUT --converter btf --kallsyms
/// guest/kallsyms --banner-file guest/version --format isf`.
fn btf_isf(i: &Inputs) -> PathBuf {
    let guest = i.dir.join("guest");
    let mut o = Options::new();
    o.kallsyms = Some(guest.join("kallsyms"));
    o.banner_file = Some(guest.join("version"));
    cached_isf(&format!("{KVER}-btf"), &guest.join("btf-vmlinux"), &o)
}

/// `convert_profile mem.raw OUT --from-image --format isf`: the kernel's
/// BTF, kallsyms tables and banner carved out of the memory image alone
/// (issue 16).
fn image_isf(i: &Inputs) -> PathBuf {
    let raw = i.dir.join("mem.raw");
    cached_isf_of(
        &format!("{KVER}-image"),
        &raw,
        || Input::with_kind(&raw, InputKind::MemoryImage).unwrap(),
        &Options::new(),
    )
}

/// A Volatility 3 symbols directory holding only `isf`, under `linux/`
/// (Volatility 3 walks the whole directory and matches the banner).
fn symbols_dir(isf: &Path) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("linux")).unwrap();
    std::os::unix::fs::symlink(isf, d.path().join("linux").join(isf.file_name().unwrap())).unwrap();
    d
}

/// What the guest printed (`tests/guest_truth.rs`).
fn truth(i: &Inputs) -> Truth {
    crate::guest_truth::truth(&i.dir, &i.kernel, false)
}

fn field<'a>(row: &'a Value, key: &str) -> &'a Value {
    row.get(key).unwrap_or(&Value::Null)
}

fn int(row: &Value, key: &str) -> Option<i64> {
    field(row, key).as_i64()
}

/// Checks a task list ([pid, ppid, comm]) against the guest's /proc.
fn check_tasks(t: &Truth, ours: &[(i64, i64, String)], what: &str) -> Result<(), String> {
    let mut by_pid = BTreeMap::new();
    for (pid, ppid, comm) in ours {
        if by_pid.insert(*pid, (*ppid, comm.clone())).is_some() {
            return Err(format!("{what}: pid {pid} listed twice"));
        }
    }
    for (pid, (ppid, comm)) in &t.tasks {
        let Some((p, c)) = by_pid.get(pid) else {
            return Err(format!(
                "{what}: pid {pid} ({comm}) of the guest's /proc is not listed; got {:?}",
                by_pid.keys().collect::<Vec<_>>()
            ));
        };
        if p != ppid {
            return Err(format!(
                "{what}: ppid of {pid} is {p}, the guest says {ppid}"
            ));
        }
        if !same_comm(c, comm) {
            return Err(format!(
                "{what}: comm of {pid}: {c:?}, the guest says {comm:?}"
            ));
        }
    }
    // Processes started after the guest printed its list (the idle loops'
    // `sleep`) may be there too, no more than a few; pid 0 is the idle task.
    let extra: Vec<_> = by_pid
        .iter()
        .filter(|(p, _)| **p != 0 && !t.tasks.contains_key(p))
        .collect();
    if extra.len() > 3 {
        return Err(format!("{what}: unexpected processes {extra:?}"));
    }
    Ok(())
}

/// Flattens a `linux.pstree` tree, checking that every child's PPID is the
/// PID of the row it is nested under.
fn flatten_tree(
    rows: &[Value],
    parent: Option<i64>,
    out: &mut Vec<(i64, i64, String)>,
) -> Result<(), String> {
    for r in rows {
        let pid = int(r, "PID").ok_or_else(|| format!("pstree row without PID: {r}"))?;
        let ppid = int(r, "PPID").ok_or_else(|| format!("pstree row without PPID: {r}"))?;
        if let Some(p) = parent {
            if p != ppid {
                return Err(format!("pstree: {pid} (PPID {ppid}) is nested under {p}"));
            }
        }
        let comm = field(r, "COMM").as_str().unwrap_or("").to_owned();
        out.push((pid, ppid, comm));
        if let Some(kids) = field(r, "__children").as_array() {
            flatten_tree(kids, Some(pid), out)?;
        }
    }
    Ok(())
}

/// Compares one plugin's JSON output with the guest's view.
fn check_plugin(t: &Truth, plugin: &str, rows: &[Value], what: &str) -> Result<(), String> {
    match plugin {
        "linux.pslist" => {
            let ours: Vec<_> = rows
                .iter()
                .map(|r| {
                    (
                        int(r, "PID").unwrap_or(-1),
                        int(r, "PPID").unwrap_or(-1),
                        field(r, "COMM").as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect();
            check_tasks(t, &ours, what)
        }
        "linux.pstree" => {
            let mut ours = Vec::new();
            flatten_tree(rows, None, &mut ours).map_err(|e| format!("{what}: {e}"))?;
            // The roots are the guest's tasks of parent 0 (init, kthreadd).
            let roots: BTreeSet<i64> = rows.iter().filter_map(|r| int(r, "PID")).collect();
            let want: BTreeSet<i64> = t
                .tasks
                .iter()
                .filter(|(_, (ppid, _))| *ppid == 0)
                .map(|(p, _)| *p)
                .collect();
            if roots != want {
                return Err(format!("{what}: roots {roots:?}, the guest's {want:?}"));
            }
            check_tasks(t, &ours, what)
        }
        "linux.lsmod" => {
            let got: BTreeMap<String, u64> = rows
                .iter()
                .map(|r| {
                    (
                        field(r, "Module Name").as_str().unwrap_or("").to_owned(),
                        field(r, "Code Size").as_u64().unwrap_or(0),
                    )
                })
                .collect();
            let want: BTreeMap<String, u64> = t
                .modules
                .iter()
                .map(|(n, (size, _))| (n.clone(), *size))
                .collect();
            if got != want || rows.len() != want.len() {
                return Err(format!(
                    "{what}: modules {got:?} (of {} rows), /proc/modules says {want:?}",
                    rows.len()
                ));
            }
            Ok(())
        }
        "linux.bash" => {
            // The init fed bash -i these two lines (linux-qemu-image.sh).
            let cmds: Vec<&str> = rows
                .iter()
                .filter(|r| field(r, "Process").as_str() == Some("bash"))
                .filter_map(|r| field(r, "Command").as_str())
                .collect();
            for want in ["echo hist_one", "ls /proc > /dev/null # hist_two"] {
                if !cmds.contains(&want) {
                    return Err(format!(
                        "{what}: history line {want:?} not found in {cmds:?}"
                    ));
                }
            }
            let bash_pids: BTreeSet<i64> = rows.iter().filter_map(|r| int(r, "PID")).collect();
            let guest_bash: BTreeSet<i64> = t
                .tasks
                .iter()
                .filter(|(_, (_, c))| c == "bash")
                .map(|(p, _)| *p)
                .collect();
            if bash_pids != guest_bash {
                return Err(format!(
                    "{what}: history of pids {bash_pids:?}, the guest's bash is {guest_bash:?}"
                ));
            }
            Ok(())
        }
        "linux.kmsg" => {
            let lines: Vec<&str> = rows
                .iter()
                .filter_map(|r| field(r, "line").as_str())
                .collect();
            // The kernel prints its banner (= /proc/version) and command
            // line first thing at boot.
            let cmdline = format!("Command line: {}", t.cmdline);
            for want in [t.version.as_str(), cmdline.as_str()] {
                if !lines.iter().any(|l| l.trim_end() == want) {
                    return Err(format!(
                        "{what}: {want:?} not in the {} kernel log lines (first: {:?})",
                        lines.len(),
                        lines.first()
                    ));
                }
            }
            Ok(())
        }
        _ => unreachable!(),
    }
}

struct Job {
    isf_kind: &'static str,
    image: &'static str,
    plugin: &'static str,
}

#[test]
fn vol3_plugins_on_real_images() {
    let test = "vol3 plugins on real images";
    let Some(i) = inputs(test) else {
        return;
    };
    let t = truth(&i);
    let full = std::env::var("PROFC_VOL3_MATRIX").is_ok_and(|v| v == "full");
    let dwarf = dwarf_isf(&i);
    let btf = btf_isf(&i);
    let image_only = image_isf(&i);
    let dirs = [
        ("dwarf", symbols_dir(&dwarf)),
        ("btf", symbols_dir(&btf)),
        ("image", symbols_dir(&image_only)),
    ];
    let mut jobs = Vec::new();
    for (isf_kind, image) in [
        ("dwarf", "mem.raw"),
        ("btf", "core.elf"),
        ("dwarf", "core.elf"),
        ("btf", "mem.raw"),
    ]
    .into_iter()
    .take(if full { 4 } else { 2 })
    {
        for plugin in PLUGINS {
            jobs.push(Job {
                isf_kind,
                image,
                plugin,
            });
        }
    }
    // The profile made from the memory image alone, on that image.
    for plugin in ["linux.pslist", "linux.lsmod"] {
        jobs.push(Job {
            isf_kind: "image",
            image: "mem.raw",
            plugin,
        });
    }
    let n = jobs.len();
    let queue = Mutex::new(jobs);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let Some(job) = queue.lock().unwrap().pop() else {
                    break;
                };
                let what = format!("{} ({} ISF, {})", job.plugin, job.isf_kind, job.image);
                let dir = &dirs.iter().find(|(k, _)| *k == job.isf_kind).unwrap().1;
                let mut cmd = Command::new("vol");
                cmd.args(["-q", "-r", "json", "-s"])
                    .arg(dir.path())
                    .arg("-f")
                    .arg(i.dir.join(job.image))
                    .arg(job.plugin);
                let r = run_limited(cmd, &what).and_then(|(out, took)| {
                    let v: Value = serde_json::from_str(&out)
                        .map_err(|e| format!("{what}: output is not JSON ({e}): {out:.300}"))?;
                    let rows = v.as_array().cloned().unwrap_or_default();
                    if rows.is_empty() {
                        return Err(format!("{what}: no rows"));
                    }
                    check_plugin(&t, job.plugin, &rows, &what)?;
                    Ok(format!(
                        "{what}: {} rows, {:.0}s",
                        rows.len(),
                        took.as_secs_f64()
                    ))
                });
                results.lock().unwrap().push(r);
            });
        }
    });
    let results = results.into_inner().unwrap();
    assert_eq!(results.len(), n);
    let mut failures = Vec::new();
    for r in results {
        match r {
            Ok(line) => eprintln!("ok {line}"),
            Err(e) => failures.push(e),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n} Volatility 3 runs failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Runs tests/tools/vol3_objects.py with `args`.
fn vol3_objects(args: &[&std::ffi::OsStr], what: &str) -> Value {
    let script = crate::support::workspace_root().join("tests/tools/vol3_objects.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script).args(args);
    let (out, _) = run_limited(cmd, what).unwrap_or_else(|e| panic!("{e}"));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{what}: {e}: {out:.300}"))
}

/// pahole's reading of `file` (`-F dwarf` or `-F btf`): struct -> size.
fn pahole_sizes(file: &Path, format: &str, structs: &[&str]) -> BTreeMap<String, u64> {
    let out = Command::new("pahole")
        .args(["-F", format, "-C", &structs.join(",")])
        .arg(file)
        .output()
        .expect("pahole (apt-get install dwarves)");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut sizes = BTreeMap::new();
    let mut current = None;
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("struct ") {
            current = rest.strip_suffix(" {").map(str::to_owned);
        } else if let (Some(c), Some(rest)) = (&current, l.trim().strip_prefix("/* size: ")) {
            let n = rest.split(',').next().unwrap().trim().parse().unwrap();
            sizes.insert(c.clone(), n);
            current = None;
        }
    }
    for s in structs {
        assert!(
            sizes.contains_key(*s),
            "pahole -F {format}: no struct {s}:\n{text:.500}"
        );
    }
    sizes
}

fn pahole_installed() -> bool {
    Command::new("pahole")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The symbols Volatility 3 types for `check_linux_types`.
const TYPED: [&str; 5] = ["init_task", "modules", "init_uts_ns", "tk_core", "jiffies"];

/// Typed symbols of a vmlinux ISF as Volatility 3 types them (`v`: the
/// `symbols` of vol3_objects.py).
fn check_linux_types(v: &Value, pahole: &BTreeMap<String, u64>, what: &str) {
    let sym = |n: &str| &v[n];
    for (name, ty) in [
        ("init_task", "task_struct"),
        ("modules", "list_head"),
        ("init_uts_ns", "uts_namespace"),
    ] {
        let s = sym(name);
        assert_eq!(s["type"], ty, "{what}: {name}: {s}");
        // StructType, or Volatility 3's Linux extension class of that name.
        assert!(
            s["class"] == "StructType" || s["class"] == ty,
            "{what}: {name}: {s}"
        );
        assert_eq!(s["size"].as_u64(), Some(pahole[ty]), "{what}: {name}: {s}");
    }
    // tk_core: `static struct { seqcount_raw_spinlock_t seq; struct
    // timekeeper timekeeper; } tk_core` (kernel/time/timekeeping.c).
    let tk = sym("tk_core");
    assert!(
        tk["type"].as_str().unwrap().starts_with("__unnamed_"),
        "{what}: tk_core: {tk}"
    );
    assert_eq!(tk["class"], "StructType", "{what}: tk_core: {tk}");
    let off = tk["members"]["timekeeper"]
        .as_u64()
        .unwrap_or_else(|| panic!("{what}: {tk}"));
    assert!(
        tk["members"]["seq"].as_u64() == Some(0),
        "{what}: tk_core: {tk}"
    );
    assert!(
        off > 0 && tk["size"].as_u64().unwrap() >= off + pahole["timekeeper"],
        "{what}: tk_core: {tk}"
    );
    assert_eq!(
        sym("jiffies")["class"],
        "Integer",
        "{what}: {}",
        sym("jiffies")
    );
    assert_eq!(sym("jiffies")["size"], 8, "{what}: {}", sym("jiffies"));
}

#[test]
fn vol3_object_api_reads_vmlinux_isf() {
    let test = "vol3 object API (vmlinux ISF)";
    let Some(i) = inputs(test) else {
        return;
    };
    if !pahole_installed() {
        skip(test, "pahole is not installed (apt-get install dwarves)");
        return;
    }
    let structs = ["task_struct", "list_head", "uts_namespace", "timekeeper"];
    let dwarf = dwarf_isf(&i);
    let btf = btf_isf(&i);
    // pahole's own DWARF reader on the vmlinux, its BTF reader on the raw BTF.
    let by_dwarf = pahole_sizes(&i.kernel.join("vmlinux"), "dwarf", &structs);
    let by_btf = pahole_sizes(&i.dir.join("guest/btf-vmlinux"), "btf", &structs);

    // Objects read from the raw image through the ISF's typed symbols.
    let t = truth(&i);
    let (shift, dtb) = (t.shift, t.dtb);
    for (isf, pahole, what) in [
        (&dwarf, &by_dwarf, "DWARF ISF on mem.raw"),
        (&btf, &by_btf, "BTF ISF on mem.raw"),
    ] {
        let raw = i.dir.join("mem.raw");
        let (dtb, shift) = (format!("{dtb:#x}"), format!("{shift:#x}"));
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "linux".as_ref(),
            isf.as_os_str(),
            raw.as_os_str(),
            dtb.as_ref(),
            shift.as_ref(),
        ];
        args.extend(TYPED.iter().map(std::ffi::OsStr::new));
        let v = vol3_objects(&args, what);
        check_linux_types(&v["symbols"], pahole, what);
        let it = &v["init_task"];
        assert_eq!(it["type"], "task_struct", "{what}: {it}");
        assert_eq!(
            it["size"].as_u64(),
            Some(pahole["task_struct"]),
            "{what}: {it}"
        );
        assert_eq!(
            it["address"].as_u64(),
            Some(t.kallsyms["init_task"] & MASK48),
            "{what}: init_task at {it}, the guest's kallsyms says {:#x}",
            t.kallsyms["init_task"]
        );
        assert_eq!(v["modules_type"], "list_head", "{what}");
        let tasks: Vec<(i64, i64, String)> = v["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    int(r, "pid").unwrap(),
                    int(r, "ppid").unwrap(),
                    r["comm"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        check_tasks(&t, &tasks, what).unwrap();
        let mods: BTreeMap<String, (u64, u64)> = v["modules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["name"].as_str().unwrap().to_owned(),
                    (m["size"].as_u64().unwrap(), m["base"].as_u64().unwrap()),
                )
            })
            .collect();
        let want: BTreeMap<String, (u64, u64)> = t
            .modules
            .iter()
            .map(|(n, (size, base))| (n.clone(), (*size, base & MASK48)))
            .collect();
        assert_eq!(mods, want, "{what}: modules (size, base) vs /proc/modules");
        // /proc/version: "Linux version RELEASE (...".
        let release = t.version.split_whitespace().nth(2).unwrap();
        assert_eq!(v["release"], release, "{what}: init_uts_ns.name.release");
    }
}

/// A struct or union as llvm-pdbutil dumps it.
#[derive(Debug, Clone)]
struct PdbRecord {
    name: String,
    size: u64,
    /// LF_MEMBER name -> offset, from the record's field list.
    members: BTreeMap<String, u64>,
}

/// llvm-pdbutil's dump: the data symbols (S_GDATA32 / S_LDATA32) whose type
/// is a defined struct or union, named once: name -> the record.
fn pdbutil_typed_globals(dump: &str) -> BTreeMap<String, PdbRecord> {
    let lines: Vec<&str> = dump.lines().collect();
    // Field lists: index -> LF_MEMBER name -> offset.
    let mut fields: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for l in &lines {
        let t = l.trim_start();
        if let Some((index, rest)) = t.split_once(" | ") {
            current = rest.starts_with("LF_FIELDLIST ").then(|| index.to_owned());
            continue;
        }
        let (Some(c), Some(m)) = (&current, t.strip_prefix("- LF_MEMBER [name = `")) else {
            continue;
        };
        let Some((name, rest)) = m.split_once('`') else {
            continue;
        };
        let off = rest
            .split("offset = ")
            .nth(1)
            .and_then(|r| r.split(',').next())
            .and_then(|r| r.trim().parse().ok());
        if let Some(off) = off {
            fields
                .entry(c.clone())
                .or_default()
                .insert(name.to_owned(), off);
        }
    }
    // Type records: index -> LF_STRUCTURE / LF_UNION that are not forward
    // references.
    let mut records = BTreeMap::new();
    for (n, l) in lines.iter().enumerate() {
        let t = l.trim_start();
        let Some((index, rest)) = t.split_once(" | ") else {
            continue;
        };
        if !(rest.starts_with("LF_STRUCTURE ") || rest.starts_with("LF_UNION ")) {
            continue;
        }
        let Some(name) = rest.split('`').nth(1) else {
            continue;
        };
        let after: Vec<&str> = lines[n + 1..].iter().take(4).copied().collect();
        let Some(opts) = after
            .iter()
            .find(|l| l.trim_start().starts_with("options:"))
        else {
            continue;
        };
        if opts.contains("forward ref") {
            continue;
        }
        let Some(size) = opts
            .rsplit("sizeof ")
            .next()
            .and_then(|s| s.trim().parse().ok())
        else {
            continue;
        };
        let list = after
            .iter()
            .find_map(|l| l.split("field list: ").nth(1))
            .map(|l| {
                l.split(|c: char| c == ',' || c.is_whitespace())
                    .next()
                    .unwrap_or("")
            });
        let members = list
            .and_then(|i| fields.get(i))
            .cloned()
            .unwrap_or_default();
        records.insert(
            index.to_owned(),
            PdbRecord {
                name: name.to_owned(),
                size,
                members,
            },
        );
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for (n, l) in lines.iter().enumerate() {
        if !(l.contains("| S_GDATA32 ") || l.contains("| S_LDATA32 ")) {
            continue;
        }
        let Some(name) = l.split('`').nth(1) else {
            continue;
        };
        *seen.entry(name.to_owned()).or_default() += 1;
        let Some(ty) = lines
            .get(n + 1)
            .and_then(|l| l.trim_start().strip_prefix("type = "))
            .and_then(|l| l.split_whitespace().next())
            .map(|l| l.trim_end_matches(','))
        else {
            continue;
        };
        if let Some(r) = records.get(ty) {
            out.insert(name.to_owned(), r.clone());
        }
    }
    out.retain(|name, _| seen[name] == 1);
    out
}

#[test]
fn vol3_object_api_reads_pdb_isf() {
    let test = "vol3 object API (PDB ISF)";
    let Some(shared) = crate::support::shared(test) else {
        return;
    };
    if !vol3_installed() {
        skip(
            test,
            "Volatility 3 is not installed (`pip install volatility3`)",
        );
        return;
    }
    let name = "debugpy-1.8.22_attach_amd64";
    let pdb = shared.join("fixtures/pdb/debugpy-1.8.22/attach_amd64.pdb");
    let dump = shared.join(format!("fixtures/oracles/llvm-pdbutil/{name}.dump.txt"));
    let globals = pdbutil_typed_globals(&std::fs::read_to_string(&dump).unwrap());
    assert!(globals.len() >= 5, "{}: {globals:?}", dump.display());
    // `profc parse_pdb PDB --format isf`.
    let isf = cached_isf(name, &pdb, &Options::new());
    let mut args: Vec<&std::ffi::OsStr> = vec!["types".as_ref(), isf.as_os_str()];
    args.extend(globals.keys().map(|k| std::ffi::OsStr::new(k.as_str())));
    let v = vol3_objects(&args, test);
    let mut members = 0;
    for (sym, r) in &globals {
        let s = &v[sym.as_str()];
        assert_eq!(s["type"].as_str(), Some(r.name.as_str()), "{sym}: {s}");
        assert_eq!(s["size"].as_u64(), Some(r.size), "{sym}: {s}");
        for (m, off) in &r.members {
            assert_eq!(
                s["members"][m.as_str()].as_u64(),
                Some(*off),
                "{sym}: member {m} of {}: {s}",
                r.name
            );
            members += 1;
        }
    }
    assert!(members > 0, "no members checked: {globals:?}");
    eprintln!(
        "{} typed PDB globals, {members} members checked: {:?}",
        globals.len(),
        globals.keys().collect::<Vec<_>>()
    );
}

#[test]
fn a_run_that_overstays_is_killed() {
    let mut cmd = Command::new("sleep");
    cmd.arg("30");
    let start = Instant::now();
    let e = run_within(cmd, "sleep 30", Duration::from_secs(1)).unwrap_err();
    assert!(e.contains("timed out after 1s and was killed"), "{e}");
    assert!(start.elapsed() < Duration::from_secs(10));
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo out; echo bad >&2; exit 3"]);
    let e = run_within(cmd, "sh", Duration::from_secs(30)).unwrap_err();
    assert!(e.contains("exit status: 3") && e.contains("bad"), "{e}");
}
