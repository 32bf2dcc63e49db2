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
    let info = profile_compiler::pe::parse(&data).map_err(|e| e.in_file(&args.file))?;
    crate::cli::print(&profile_compiler::pe::render(&info))
}
