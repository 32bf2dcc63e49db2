//! `profc version_scan`: find CodeView RSDS records in any file (a raw
//! memory image, a crash dump, a disk image).

use std::path::PathBuf;

use crate::outln;

/// Arguments of `version_scan`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file to scan.
    pub file: PathBuf,
    /// Only list records whose PDB name contains this text (any case).
    #[arg(long, value_name = "TEXT")]
    pub name: Option<String>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let path = &args.file;
    let hits = profile_compiler::codeview::scan_file(path)?;
    let needle = args.name.as_deref().map(str::to_ascii_lowercase);
    outln!("{:<18} {:<42} {:<32} Path", "Offset", "GUID_AGE", "PDB")?;
    let mut n = 0usize;
    for h in &hits {
        if needle
            .as_ref()
            .is_some_and(|w| !h.rsds.pdb_name().to_ascii_lowercase().contains(w))
        {
            continue;
        }
        n += 1;
        outln!(
            "{:<#18x} {:<42} {:<32} {}",
            h.offset,
            h.rsds.id.key(),
            h.rsds.pdb_name(),
            h.rsds.path
        )?;
    }
    eprintln!("profc: {}: {n} RSDS records", path.display());
    Ok(())
}
