//! `profc parse_pdb`.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::bail;
use profile_compiler::{Input, InputKind};

use crate::cli::{check_output, default_output, is_stdout, write_compiled, OutputArgs};

/// Arguments of `parse_pdb`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The PDB file (Rekall: `-f`, `--filename`, `--pdb_filename`).
    pub pdb: PathBuf,
    /// Where to write the profile (gzipped unless the name ends in `.json`;
    /// `-`: standard output). Default: standard output when it is not a
    /// terminal (as Rekall), else `<pdb stem>.json` in the current directory.
    #[arg(long, short, alias = "output-filename", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The folder of a relative `--output` (Rekall's `--dump_dir`).
    #[arg(long = "dump-dir", alias = "dump_dir", short = 'D', value_name = "DIR")]
    pub dump_dir: Option<PathBuf>,
    /// The Windows version of this PDB, `MAJOR.MINOR[.REV]` (Windows 7:
    /// 6.1): recorded as `$METADATA` `major`, `minor`, `rev`, as Rekall does.
    #[arg(
        long = "windows-version",
        alias = "windows_version",
        value_name = "VERSION"
    )]
    pub windows_version: Option<String>,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Rekall's `--windows_version`: up to three numbers.
fn version_parts(v: &str) -> anyhow::Result<Vec<(&'static str, u64)>> {
    let parts: Vec<&str> = v.splitn(3, '.').collect();
    let mut out = Vec::new();
    for (name, p) in ["major", "minor", "rev"].into_iter().zip(parts) {
        let Ok(n) = p.parse::<u64>() else {
            bail!("--windows_version {v}: expected MAJOR.MINOR[.REV] (Windows 7: 6.1)");
        };
        out.push((name, n));
    }
    Ok(out)
}

pub(crate) fn run(args: Args, verbose: bool) -> anyhow::Result<()> {
    let out = match (&args.output, &args.dump_dir) {
        (Some(o), Some(d)) if !is_stdout(o) && o.is_relative() => d.join(o),
        (Some(o), _) => o.clone(),
        (None, Some(d)) => d.join(default_output(&args.pdb, "json")),
        (None, None) if !std::io::stdout().is_terminal() => PathBuf::from("-"),
        (None, None) => default_output(&args.pdb, "json"),
    };
    let versions = match &args.windows_version {
        Some(v) => version_parts(v)?,
        None => Vec::new(),
    };
    // Fail before the (possibly long) parse when the output cannot be written.
    check_output(&out, args.out.overwrite, &[&args.pdb])?;
    let input = Input::with_kind(&args.pdb, InputKind::Pdb)?;
    let mut compiled = profile_compiler::compile(&input, &args.out.compile_options())?;
    for (name, n) in versions {
        compiled.profile.set_metadata(name, n);
    }
    write_compiled(&compiled, &out, &args.out, verbose)?;
    if args.output.is_none() && !is_stdout(&out) {
        eprintln!("profc: wrote {}", out.display());
    }
    // The process exits next: the OS takes the profile back at once, where
    // freeing its many small allocations one by one would cost as much as
    // serialising it.
    std::mem::forget(compiled);
    Ok(())
}
