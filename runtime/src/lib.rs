//! `profile-runtime`: the lowest layer of profc.
//!
//! This crate holds the Rekall profile model ([`Profile`], [`StructDef`],
//! [`Descriptor`]), its canonical serialisation ([`Profile::to_canonical_json`],
//! [`Profile::save`]) and reading of gzipped or plain profiles detected by
//! content ([`Profile::load`]). Higher layers (the compiler, the repository and
//! the object runtime) build on it.

mod descriptor;
mod error;
mod io;
mod profile;

pub use descriptor::{Descriptor, EnumChoices};
pub use error::{Error, Result};
pub use io::{is_gzip, read_maybe_gzip, write_atomic, WriteMode};
pub use profile::{Field, Metadata, Profile, StructDef, SECTION_NAMES};
