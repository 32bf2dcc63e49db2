//! `profc parse_pdb`.

use std::path::PathBuf;

use anyhow::Context;

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
    let ir = crate::input::pdb::read_file(&args.pdb)?;
    let out = args
        .output
        .clone()
        .unwrap_or_else(|| default_output(&args.pdb, "json"));
    write_profile(&ir, &out, &args.out, verbose)
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}
