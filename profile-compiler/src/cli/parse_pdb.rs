//! `profc parse_pdb`.

use std::path::PathBuf;

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
    super::check_output(&out, args.out.overwrite)?;
    // The symbol sections are built on the reader's symbol thread while it
    // converts the types.
    let (ir, symbols) = crate::input::pdb::read_file_with(&args.pdb, |symbols| {
        crate::emit::symbol_sections(symbols, false)
    })?;
    let profile = write_profile(&ir, Some(symbols), &out, &args.out, verbose)?;
    // The process exits next: the OS takes the IR and the profile back at
    // once, where freeing their many small allocations one by one would
    // cost as much as serialising the profile.
    std::mem::forget((ir, profile));
    Ok(())
}
