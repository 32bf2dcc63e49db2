//! Windows PDB reader (issue 2).

use std::path::Path;

use crate::ir::Ir;
use crate::{Error, Result};

/// Reads a PDB file into the IR.
pub fn read_file(path: &Path) -> Result<Ir> {
    Err(Error::input(path, "PDB reading is not implemented yet"))
}
