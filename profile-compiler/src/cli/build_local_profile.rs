//! `profc build_local_profile`: executable -> symbol server -> verified PDB
//! -> profile, in one step.

use std::path::PathBuf;

use anyhow::Context;

use super::fetch_pdb::{fetch_one, key_from_executable, SourceArgs};
use super::{write_profile, OutputArgs};

/// Arguments of `build_local_profile`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The executable or DLL (its CodeView record names the PDB).
    pub executable: PathBuf,
    /// Where to write the profile (gzipped unless the name ends in `.json`).
    #[arg(long, short)]
    pub output: PathBuf,
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

pub(crate) fn run(args: Args, verbose: bool) -> anyhow::Result<()> {
    let (name, id) = key_from_executable(&args.executable)?;
    let got = fetch_one(&args.source, &name, &id)?;
    let (ir, symbols) = crate::input::pdb::read_file_with(&got.path, |symbols| {
        crate::emit::symbol_sections(symbols, false)
    })?;
    write_profile(&ir, Some(symbols), &args.output, &args.out, verbose)
        .with_context(|| format!("writing {}", args.output.display()))?;
    eprintln!("profc: wrote {}", args.output.display());
    Ok(())
}
