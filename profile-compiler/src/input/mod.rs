//! One reader per input format. Readers fill an [`crate::ir::Ir`] and never
//! write output.

pub mod btf;
pub mod dwarf;
pub mod isf;
pub mod kallsyms;
pub mod kernel;
pub mod pdb;
pub mod system_map;
pub mod vmlinuz;
pub mod vol2;
