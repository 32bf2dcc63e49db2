//! Volatility 2 profile zips (issue 3): Linux ones hold `module.dwarf`
//! (dwarfdump text) and a System.map; macOS ones hold a `.vtypes` file (a
//! Python literal) and a `.dsymutil` symbol listing. Parsed as data, never
//! evaluated.

use std::path::Path;

use crate::ir::Ir;
use crate::{Error, Result};

/// Whether a zip with these member names is a Volatility 2 profile.
pub fn is_vol2_zip(names: &[String]) -> bool {
    names
        .iter()
        .any(|n| n.ends_with("module.dwarf") || n.ends_with(".vtypes"))
}

/// Reads a Volatility 2 profile zip into the IR.
pub fn read_zip(path: &Path) -> Result<Ir> {
    Err(Error::input(
        path,
        "Volatility 2 profiles are not supported yet",
    ))
}
