//! `profc parse_pdb`.

use std::path::PathBuf;

use profile_compiler::{Input, InputKind};

use crate::cli::{check_output, default_output, write_compiled, OutputArgs};

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
    check_output(&out, args.out.overwrite, &[&args.pdb])?;
    let input = Input::with_kind(&args.pdb, InputKind::Pdb)?;
    let compiled = profile_compiler::compile(&input, &args.out.compile_options())?;
    write_compiled(&compiled, &out, &args.out, verbose)?;
    // The process exits next: the OS takes the profile back at once, where
    // freeing its many small allocations one by one would cost as much as
    // serialising it.
    std::mem::forget(compiled);
    Ok(())
}
