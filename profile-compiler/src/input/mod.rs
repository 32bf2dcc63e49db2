//! One reader per input format. Readers fill an [`crate::ir::Ir`] and never
//! write output.

pub mod btf;
pub mod isf;
pub mod pdb;
pub mod system_map;
pub mod vol2;
