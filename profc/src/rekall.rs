//! Rekall's command-line forms (docs/rekall.md): the commands of Rekall's
//! developer guide work as written with `profc` in place of `rekal`.
//!
//! Rekall spells flags with underscores (`--profile_class`) and takes the
//! image as a global `-f/--filename` before the plugin name. Before clap
//! sees the arguments, [`rewrite`] turns `--a_b` into `--a-b` (every long
//! flag of profc has its dash form) and moves a global `-f IMAGE`, and a
//! command's own `-f`/`--filename`/`--pdb_filename`..., to the command's
//! first positional argument.

use std::ffi::{OsStr, OsString};

/// Commands whose first positional argument Rekall names with a flag, and
/// those flags (after [`rewrite`]'s dash form).
const FIRST_POSITIONAL: &[(&str, &[&str])] = &[
    ("parse_pdb", &["-f", "--filename", "--pdb-filename"]),
    ("version_scan", &["-f", "--filename", "--scan-filename"]),
    ("peinfo", &["-f", "--filename", "--executable"]),
    ("identify", &["-f", "--filename"]),
    ("pslist", &["-f", "--filename"]),
    ("lsmod", &["-f", "--filename"]),
    ("check", &["-f", "--filename"]),
];

/// The Rekall forms each command accepts, shown at the end of its `--help`.
pub const HELP: &[(&str, &str)] = &[
    (
        "parse_pdb",
        "Rekall forms: -f/--filename/--pdb_filename PDB (the PDB), \
--output_filename/--output FILE, --dump_dir/--dump-dir/-D DIR (the folder of \
a relative output), --profile_class NAME, --windows_version MAJOR.MINOR.REV, \
--concise. Without --output the profile goes to standard output when that is \
not a terminal (as Rekall does), else to <pdb stem>.json. `--output -` is \
standard output. Underscores and dashes in flags are the same.",
    ),
    (
        "fetch_pdb",
        "Rekall forms: fetch_pdb EXE, fetch_pdb PDB GUID, --filename/-f EXE, \
--filename/--pdb_filename NAME.pdb --guid GUID_AGE (a name ending in .pdb with \
--guid is the PDB), --dump_dir/--dump-dir/-D DIR. Underscores and dashes in \
flags are the same.",
    ),
    (
        "version_scan",
        "Rekall forms: -f/--filename IMAGE (before or after the command), \
--scan_filename FILE, --name_regex REGEX (a Python-style regular expression \
searched in the PDB name, any case). Underscores and dashes in flags are the \
same.",
    ),
    (
        "peinfo",
        "Rekall forms: -f/--filename/--executable FILE. Rekall's image_base \
and address_space (a PE inside a memory image) are not supported: give the \
file.",
    ),
    (
        "convert_profile",
        "Rekall forms: convert_profile SOURCE OUT_FILE with SOURCE a file or a \
directory (an unpacked Rekall or Volatility 2 profile zip), --converter \
LinuxConverter|OSXConverter, --profile_class NAME. `-` as OUT_FILE is standard \
output. Underscores and dashes in flags are the same.",
    ),
    (
        "identify",
        "Rekall forms: -f/--filename IMAGE, before or after the command.",
    ),
    (
        "pslist",
        "Rekall forms: -f/--filename IMAGE, before or after the command.",
    ),
    (
        "lsmod",
        "Rekall forms: -f/--filename IMAGE, before or after the command.",
    ),
    (
        "check",
        "Rekall forms: -f/--filename IMAGE, before or after the command.",
    ),
    (
        "build_local_profile",
        "`--output -` is standard output. Underscores and dashes in flags \
are the same.",
    ),
];

fn is_flag(arg: &OsStr, flags: &[&str]) -> Option<Option<OsString>> {
    let s = arg.to_str()?;
    for f in flags {
        if s == *f {
            return Some(None);
        }
        if let Some(v) = s.strip_prefix(f).and_then(|r| r.strip_prefix('=')) {
            return Some(Some(v.into()));
        }
    }
    None
}

/// `--a_b[=v]` as `--a-b[=v]`; anything else unchanged.
fn dash_form(arg: OsString) -> OsString {
    let Some(s) = arg.to_str() else { return arg };
    if !s.starts_with("--") || s.len() == 2 {
        return arg;
    }
    let (name, rest) = match s.find('=') {
        Some(i) => s.split_at(i),
        None => (s, ""),
    };
    format!("{}{rest}", name.replace('_', "-")).into()
}

/// Takes `flag VALUE` / `flag=VALUE` (any of `flags`) out of `args`
/// (until a `--`); returns the value.
fn take_flag(args: &mut Vec<OsString>, flags: &[&str]) -> Option<OsString> {
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--" {
            return None;
        }
        match is_flag(&args[i], flags) {
            Some(Some(v)) => {
                args.remove(i);
                return Some(v);
            }
            Some(None) if i + 1 < args.len() => {
                args.remove(i);
                return Some(args.remove(i));
            }
            _ => i += 1,
        }
    }
    None
}

/// Rewrites Rekall's forms of `argv` (program name first) into profc's.
pub fn rewrite(argv: Vec<OsString>) -> Vec<OsString> {
    let mut it = argv.into_iter();
    let Some(program) = it.next() else {
        return Vec::new();
    };
    let mut args: Vec<OsString> = Vec::new();
    let mut after_dashes = false;
    for a in it {
        if after_dashes {
            args.push(a);
            continue;
        }
        after_dashes = a == "--";
        args.push(dash_form(a));
    }
    // Global options before the command: `-v`, and Rekall's `-f IMAGE`.
    let mut global_file = None;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "-v" || a == "--verbose" {
            i += 1;
            continue;
        }
        match is_flag(a, &["-f", "--filename"]) {
            Some(Some(v)) => {
                args.remove(i);
                global_file = Some(v);
            }
            Some(None) if i + 1 < args.len() => {
                args.remove(i);
                global_file = Some(args.remove(i));
            }
            _ => break,
        }
    }
    let Some(command) = args
        .get(i)
        .and_then(|c| c.to_str())
        .map(|c| c.replace('-', "_"))
    else {
        return std::iter::once(program).chain(args).collect();
    };
    let mut rest = args.split_off(i + 1);
    if command == "fetch_pdb" {
        if let Some(f) = global_file {
            rest.insert(0, "--filename".into());
            rest.insert(1, f);
        }
    } else if let Some((_, flags)) = FIRST_POSITIONAL.iter().find(|(c, _)| *c == command) {
        let file = take_flag(&mut rest, flags).or(global_file);
        if let Some(f) = file {
            rest.insert(0, f);
        }
    } else if let Some(f) = global_file {
        // No image here: let clap say so.
        rest.insert(0, "--filename".into());
        rest.insert(1, f);
    }
    std::iter::once(program).chain(args).chain(rest).collect()
}

#[cfg(test)]
mod tests {
    use super::rewrite;

    fn rw(line: &str) -> String {
        let v = std::iter::once("profc")
            .chain(line.split(' '))
            .map(Into::into)
            .collect();
        rewrite(v)
            .iter()
            .skip(1)
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn rekall_forms() {
        assert_eq!(
            rw("parse_pdb -f nt.pdb --output nt.json --profile_class Win7x64"),
            "parse_pdb nt.pdb --output nt.json --profile-class Win7x64"
        );
        assert_eq!(rw("-f img version_scan"), "version_scan img");
        assert_eq!(
            rw("-f img version_scan --name_regex=^nt"),
            "version_scan img --name-regex=^nt"
        );
        assert_eq!(rw("-v -f img pslist -p x"), "-v pslist img -p x");
        assert_eq!(rw("check --filename=img p.json"), "check img p.json");
        assert_eq!(rw("parse_pdb --pdb_filename a_b.pdb"), "parse_pdb a_b.pdb");
        assert_eq!(
            rw("fetch_pdb --filename nt.pdb --guid G -D ."),
            "fetch_pdb --filename nt.pdb --guid G -D ."
        );
        assert_eq!(rw("-f x.exe fetch_pdb"), "fetch_pdb --filename x.exe");
        // Values keep their underscores; nothing after `--` changes.
        assert_eq!(rw("dt p.json -- --a_b"), "dt p.json -- --a_b");
        assert_eq!(
            rw("version_scan --name a_b img"),
            "version_scan --name a_b img"
        );
    }
}
