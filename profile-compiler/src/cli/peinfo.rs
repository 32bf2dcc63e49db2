//! `profc peinfo`: headers, sections, CodeView record and version resource
//! of a PE file.

use std::path::PathBuf;

use anyhow::Context;

/// Arguments of `peinfo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The executable or DLL.
    pub file: PathBuf,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let data = std::fs::read(&args.file).with_context(|| args.file.display().to_string())?;
    let info = crate::fetch::pe::parse(&data).with_context(|| args.file.display().to_string())?;
    print!("{}", crate::fetch::pe::render(&info));
    Ok(())
}
