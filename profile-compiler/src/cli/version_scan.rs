//! `profc version_scan`: find CodeView RSDS records in any file (a raw
//! memory image, a crash dump, a disk image).

use std::fs::File;
use std::path::PathBuf;

use anyhow::Context;

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
    let file = File::open(path).with_context(|| path.display().to_string())?;
    let len = file
        .metadata()
        .with_context(|| path.display().to_string())?
        .len();
    let hits = if len == 0 {
        Vec::new()
    } else {
        // SAFETY: the map is read-only and private to this process; a file
        // truncated underneath it by another process is the one hazard,
        // accepted as for every memory-image tool.
        let map = unsafe { memmap2::Mmap::map(&file) }
            .with_context(|| format!("{}: cannot map", path.display()))?;
        crate::fetch::codeview::scan(&map)
    };
    let needle = args.name.as_deref().map(str::to_ascii_lowercase);
    println!("{:<18} {:<42} {:<32} Path", "Offset", "GUID_AGE", "PDB");
    let mut n = 0usize;
    for h in &hits {
        if needle
            .as_ref()
            .is_some_and(|w| !h.rsds.pdb_name().to_ascii_lowercase().contains(w))
        {
            continue;
        }
        n += 1;
        println!(
            "{:<#18x} {:<42} {:<32} {}",
            h.offset,
            h.rsds.id.key(),
            h.rsds.pdb_name(),
            h.rsds.path
        );
    }
    eprintln!("profc: {}: {n} RSDS records", path.display());
    Ok(())
}
