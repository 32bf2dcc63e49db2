//! `profile-compiler`: debug information in, memory-forensics profiles out.
//!
//! One pipeline serves every input: [`Input::detect`] decides what a file
//! is by its content; [`compile`] reads it into the IR ([`ir::Ir`]: types
//! and typed symbols) and emits the profile model; [`Compiled::save`]
//! writes it as Rekall JSON or Volatility 3 ISF.
//!
//! ```no_run
//! use profile_compiler::{compile, Format, Input, Options};
//! use profile_runtime::WriteMode;
//!
//! let input = Input::detect("ntkrnlmp.pdb")?;
//! let compiled = compile(&input, &Options::default())?;
//! for w in &compiled.warnings {
//!     eprintln!("warning: {w}");
//! }
//! compiled.save("ntkrnlmp.json".as_ref(), Format::Rekall, WriteMode::CreateNew)?;
//! # Ok::<(), profile_compiler::Error>(())
//! ```
//!
//! Also here: profile comparison ([`diff()`]), readable views ([`inspect`]),
//! PE headers and CodeView records ([`pe`], [`codeview`]) and the
//! symbol-server client ([`fetch`]; HTTP with the `fetch` feature).
#![warn(missing_docs)]

pub mod codeview;
mod compile;
pub mod diff;
mod emit;
mod error;
pub mod fetch;
mod input;
pub mod inspect;
pub mod ir;
mod output;
pub mod pe;
pub mod progress;

pub use compile::{
    banner_in_file, compile, load_profile, load_profile_file, read, Compiled, Options, SourceFile,
};
pub use diff::{diff, ProfileDiff};
pub use emit::{emit, EmitOptions, Emitted};
pub use error::{Error, Result};
pub use input::{Input, InputKind};
pub use output::Format;

/// Readers and emitters at the byte level, for the fuzz targets and
/// benchmarks of this workspace. Not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::emit::isf::{to_isf, IsfOptions};
    pub use crate::emit::{emit_with, symbol_sections, SymbolSections};
    pub use crate::fetch::cabinet;
    pub use crate::input::{
        btf, dwarf, isf, kallsyms, kernel, package, pdb, system_map, vmlinuz, vol2,
    };
}
