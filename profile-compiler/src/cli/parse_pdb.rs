//! `profc parse_pdb`.

use std::path::{Path, PathBuf};

use super::{default_output, write_profile, OutputArgs};

/// Arguments of `parse_pdb`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The PDB file.
    pub pdb: PathBuf,
    /// Where to write the profile (gzipped unless the name ends in `.json`;
    /// default: `<pdb stem>.json` in the current directory).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub out: OutputArgs,
}

pub(crate) fn run(args: Args, verbose: bool) -> anyhow::Result<()> {
    let out = args
        .output
        .clone()
        .unwrap_or_else(|| default_output(&args.pdb, "json"));
    // Fail before the (possibly long) parse when the output cannot be written.
    check_output(&out, args.out.overwrite)?;
    let ir = crate::input::pdb::read_file(&args.pdb)?;
    write_profile(&ir, &out, &args.out, verbose)?;
    Ok(())
}

/// Refuses an existing output (without `--overwrite`) and an output whose
/// folder does not exist, with one clear line each.
pub(crate) fn check_output(out: &Path, overwrite: bool) -> anyhow::Result<()> {
    if !overwrite && out.exists() {
        return Err(profile_runtime::Error::Exists(out.to_path_buf()).into());
    }
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        anyhow::bail!(
            "{}: cannot write here: {} is not an existing directory",
            out.display(),
            dir.display()
        );
    }
    Ok(())
}
