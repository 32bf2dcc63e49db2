//! Reading a PDB's identity (GUID and DBI age) to verify a download.

use std::fs::File;
use std::path::Path;

use crate::codeview::PdbId;
use crate::{Error, Result};

/// The GUID and age of the PDB at `path`: the GUID of the PDB information
/// stream and the age of the DBI stream (the one the linker copies into the
/// executable's `RSDS` record), falling back to the information stream's
/// age when the DBI stream has none.
pub fn pdb_id(path: &Path) -> Result<PdbId> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    pdb_id_of(file).map_err(|e| e.in_file(path))
}

/// As [`pdb_id`], from an open file.
pub fn pdb_id_of(file: File) -> Result<PdbId> {
    // pdb2 validates every offset it reads; a panic inside it would still be
    // a bug to report, so it is contained here rather than taking the
    // process down with a half-written download around.
    let bad = |m: String| Error::malformed("PDB", None, m);
    super::contain("PDB", move || -> Result<PdbId> {
        let mut pdb = pdb2::PDB::open(file).map_err(|e| bad(format!("not a readable PDB: {e}")))?;
        let info = pdb
            .pdb_information()
            .map_err(|e| bad(format!("PDB information stream: {e}")))?;
        let dbi_age = pdb.debug_information().ok().and_then(|d| d.age());
        let (d1, d2, d3, d4) = info.guid.as_fields();
        Ok(PdbId::from_fields(
            d1,
            d2,
            d3,
            d4,
            dbi_age.unwrap_or(info.age),
        ))
    })
}
