//! `pslist`: finds the kernel in a memory image and lists its processes or
//! modules, identifies an image, or checks that a profile fits it.
//!
//! ```text
//! cargo run --release -p profile-runtime --example pslist -- [OPTIONS] IMAGE [PROFILE]
//! ```
//!
//! Run with `--help` for the options. For a Linux profile nothing but the
//! image and the profile is needed: the KASLR shift, `phys_base`, the
//! page-table root and the paging mode are found
//! (`profile_runtime::LinuxKernel::locate`), and `--dtb`, `--shift`,
//! `--phys-base`, `--kimage-voffset`, `--paging` override them. Windows
//! (`PsActiveProcessHead`, with `--image-base`) and macOS (`_allproc`)
//! profiles still need `--dtb`. (`profc identify IMAGE` says what an image
//! holds without a profile; `profc pslist`, `lsmod` and `check` are the
//! same lists as commands.) Numbers are
//! read as VMCOREINFO prints them: `0x` hex, `-` decimal, bare digits hex
//! for `--dtb`, `--shift`, `--kimage-voffset`, `--image-base` (as
//! `SYMBOL()` and `KERNELOFFSET`) and decimal for `--phys-base` (as
//! `NUMBER(phys_base)`), a hex letter making any of them hex.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use profile_runtime::linux::{self, Hints, LinuxKernel};
use profile_runtime::procs::{kernel_space, processes, Os};
use profile_runtime::{parse_number, FileSpace, Image, Paging, Radix, Session, Space};

const HELP: &str = "\
usage: pslist [OPTIONS] IMAGE [PROFILE]

Finds the kernel in IMAGE (raw, LiME, ELF core or kdump-compressed, by
content) through PROFILE and lists its processes.

  --modules           list the kernel's modules instead (Linux)
  --check             check that PROFILE fits IMAGE (Linux); exit 2 if not
  --threads           list every thread, not only thread-group leaders (Linux)
  --json              print JSON
  --dtb N             page-table root (CR3 / TTBR1)
  --shift N           KASLR shift (Linux, macOS)
  --phys-base N       x86-64 phys_base (Linux; bare digits are decimal)
  --kimage-voffset N  arm64 kimage_voffset (Linux)
  --paging MODE       amd64, amd64-la57, aarch64-48, pae, x86
  --image-base N      kernel image base (Windows)
  --os OS             linux, windows or darwin (default: from PROFILE)
  --format FORMAT     auto (default) or raw (do not detect the format)
  -h, --help          this help
";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(out) => print!("{out}"),
        Err(e) if e.starts_with("usage:") => print!("{e}"),
        Err(e) => {
            eprintln!("pslist: {e}");
            std::process::exit(if e.starts_with("check failed") { 2 } else { 1 });
        }
    }
}

fn number(s: &str, radix: Radix) -> Result<u64, String> {
    parse_number(s, radix).ok_or_else(|| format!("{s:?} is not a number"))
}

#[derive(Default)]
struct Opts {
    positional: Vec<String>,
    hints: Hints,
    image_base: u64,
    os: Option<Os>,
    raw: bool,
    modules: bool,
    check: bool,
    threads: bool,
    json: bool,
}

fn parse_args(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "-h" | "--help" => return Err(HELP.into()),
            "--modules" => o.modules = true,
            "--check" => o.check = true,
            "--threads" => o.threads = true,
            "--json" => o.json = true,
            "--dtb" => o.hints.dtb = Some(number(value()?, Radix::Hex)?),
            "--shift" => o.hints.shift = Some(number(value()?, Radix::Hex)?),
            "--phys-base" => o.hints.phys_base = Some(number(value()?, Radix::Decimal)?),
            "--kimage-voffset" => o.hints.kimage_voffset = Some(number(value()?, Radix::Hex)?),
            "--paging" => {
                o.hints.paging = Some(value()?.parse::<Paging>().map_err(|e| e.to_string())?)
            }
            "--image-base" => o.image_base = number(value()?, Radix::Hex)?,
            "--format" => match value()?.as_str() {
                "auto" => o.raw = false,
                "raw" => o.raw = true,
                other => return Err(format!("unknown --format {other:?} (auto or raw)")),
            },
            "--os" => {
                o.os = Some(match value()?.as_str() {
                    "linux" => Os::Linux,
                    "windows" => Os::Windows,
                    "darwin" | "macos" => Os::Darwin,
                    other => {
                        return Err(format!("unknown --os {other:?} (linux, windows or darwin)"))
                    }
                })
            }
            s if s.starts_with('-') && s.len() > 1 => {
                return Err(format!("unknown option {s}\n{HELP}"))
            }
            _ => o.positional.push(a.clone()),
        }
    }
    Ok(o)
}

fn open_image(path: &str, raw: bool) -> Result<Image, String> {
    if raw {
        let file: Space = Arc::new(FileSpace::open(Path::new(path)).map_err(|e| e.to_string())?);
        Ok(Image::from_space(file))
    } else {
        Image::open(Path::new(path)).map_err(|e| e.to_string())
    }
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, String> {
    serde_json::to_string_pretty(v)
        .map(|s| s + "\n")
        .map_err(|e| e.to_string())
}

/// Runs the command line (without the program name); returns the output.
pub fn run(args: &[String]) -> Result<String, String> {
    let o = parse_args(args)?;
    let [image, profile] = o.positional.as_slice() else {
        return Err(HELP.into());
    };
    let session = Session::open(Path::new(profile)).map_err(|e| e.to_string())?;
    let os = match o.os.or_else(|| Os::of(&session)) {
        Some(os) => os,
        None => {
            return Err(format!(
                "{profile}: neither a Linux or Darwin profile nor one with PsActiveProcessHead; use --os"
            ))
        }
    };
    let img = open_image(image, o.raw)?;
    if os != Os::Linux {
        return other_os(&session, &img, os, &o);
    }
    if o.check {
        let report = linux::check(&img, &session, &o.hints);
        let out = if o.json {
            json(&report)?
        } else {
            let mut s = String::new();
            let _ = writeln!(
                s,
                "{}",
                if report.ok {
                    "OK: the profile fits the image"
                } else {
                    "MISMATCH: the profile does not fit the image"
                }
            );
            for p in &report.passed {
                let _ = writeln!(s, "  ok    {p}");
            }
            for r in &report.reasons {
                let _ = writeln!(s, "  FAIL  {r}");
            }
            s
        };
        return if report.ok {
            Ok(out)
        } else {
            Err(format!("check failed\n{out}"))
        };
    }
    let kernel = LinuxKernel::locate(&img, &session, &o.hints).map_err(|e| e.to_string())?;
    if o.modules {
        let mods = linux::lsmod(&session, &kernel).map_err(|e| e.to_string())?;
        if o.json {
            return json(&serde_json::json!({"kernel": kernel.summary(), "modules": mods}));
        }
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<18}  {:<24}  {:>18}  {:>10}  STATE",
            "OFFSET", "NAME", "BASE", "SIZE"
        );
        for m in mods {
            let _ = writeln!(
                out,
                "{:#018x}  {:<24}  {:#018x}  {:>10}  {}",
                m.offset,
                m.name,
                m.base,
                m.size,
                m.state.as_deref().unwrap_or("-")
            );
        }
        return Ok(out);
    }
    let tasks = linux::pslist_with(&session, &kernel, o.threads).map_err(|e| e.to_string())?;
    if o.json {
        return json(&serde_json::json!({"kernel": kernel.summary(), "tasks": tasks}));
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>8}  {:>8}  {:>8}  {:<16}  {:>18}  CREATED",
        "PID", "TID", "PPID", "COMM", "OFFSET"
    );
    for t in tasks {
        let _ = writeln!(
            out,
            "{:>8}  {:>8}  {:>8}  {:<16}  {:#18x}  {}",
            t.pid,
            t.tid,
            t.ppid,
            t.comm,
            t.offset,
            t.create_time.as_deref().unwrap_or("-")
        );
    }
    Ok(out)
}

/// The Windows and macOS listings: given a page-table root.
fn other_os(session: &Session, img: &Image, os: Os, o: &Opts) -> Result<String, String> {
    let dtb = o
        .hints
        .dtb
        .ok_or("--dtb is required (the kernel's CR3) for Windows and macOS profiles")?;
    let kernel = kernel_space(img, dtb, o.hints.paging).map_err(|e| e.to_string())?;
    let base = if os == Os::Windows {
        o.image_base
    } else {
        o.hints.shift.unwrap_or(0)
    };
    let procs = processes(session, &kernel, os, base)?;
    let mut out = String::new();
    let _ = writeln!(out, "{:>8}  {:<16}  {:>18}", "PID", "NAME", "ADDRESS");
    for p in procs {
        match p {
            Ok(p) => {
                let _ = writeln!(out, "{:>8}  {:<16}  {:#18x}", p.pid, p.name, p.offset);
            }
            Err(none) => {
                let _ = writeln!(out, "{none}");
            }
        }
    }
    Ok(out)
}
