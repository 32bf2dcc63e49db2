//! `profc build_local_profile`: executable -> symbol server -> verified PDB
//! -> profile, in one step.

use std::path::PathBuf;

use anyhow::Context;
use profile_compiler::{Input, InputKind};

use crate::cli::{report_notes, write_compiled, OutputArgs};
use crate::fetch_pdb::SourceArgs;

/// Arguments of `build_local_profile`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The executable or DLL (its CodeView record names the PDB).
    pub executable: PathBuf,
    /// Where to write the profile (gzipped unless the name ends in `.json`;
    /// `-`: standard output).
    #[arg(long, short)]
    pub output: PathBuf,
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

pub(crate) fn run(args: Args, verbose: bool) -> anyhow::Result<()> {
    crate::cli::check_output(&args.output, args.out.overwrite, &[&args.executable])?;
    let input = Input::with_kind(&args.executable, InputKind::Executable)?;
    let mut options = args.out.compile_options();
    options.symbols = Some(args.source.options()?);
    let compiled = profile_compiler::compile(&input, &options)?;
    report_notes(&compiled);
    write_compiled(&compiled, &args.output, &args.out, verbose)
        .with_context(|| format!("writing {}", args.output.display()))?;
    if !crate::cli::is_stdout(&args.output) {
        eprintln!("profc: wrote {}", args.output.display());
    }
    Ok(())
}
