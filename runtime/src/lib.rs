//! `profile-runtime`: the lowest layer of profc.
//!
//! This crate holds the Rekall profile model ([`Profile`], [`StructDef`],
//! [`Descriptor`]), its canonical serialisation ([`Profile::to_canonical_json`],
//! [`Profile::save`]) and reading of gzipped or plain profiles detected by
//! content ([`Profile::load`]). Higher layers (the compiler, the repository and
//! the object runtime) build on it.
//!
//! It also holds the object runtime, which reads kernel objects from memory
//! images through a profile (see `docs/runtime.md`):
//!
//! - [`LazyProfile`]: a profile opened lazily (structs parsed on first use);
//! - [`Session`]: one user's handle on a shared profile, with [`Overlay`]s
//!   (Rust closures allowed) and [`Class`]es, and symbols, enums, sizes;
//! - [`Object`] / [`Value`] / [`NoneObject`]: typed reads that never panic;
//! - address spaces ([`AddressSpace`]): [`BufferSpace`], [`FileSpace`],
//!   [`SparseSpace`], [`Amd64Paging`], [`PaePaging`], [`X86Paging`].

pub mod class;
mod descriptor;
mod error;
mod io;
mod lazy;
mod native;
mod object;
mod profile;
mod session;
mod space;
mod types;

#[cfg(test)]
mod tests;

pub use class::{value_class, AnsiStringClass, Class, ListEntryClass, UnicodeStringClass};
pub use descriptor::{Descriptor, EnumChoices};
pub use error::{Error, Result};
pub use io::{is_gzip, read_maybe_gzip, write_atomic, WriteMode};
pub use lazy::LazyProfile;
pub use native::{DataModel, Native, NativeKind};
pub use object::{
    ListIter, NoneObject, Object, Timestamp, Value, MAX_ITER, MAX_LIST_ENTRIES, MAX_STRING_BYTES,
};
pub use profile::{Field, Metadata, Profile, StructDef, SECTION_NAMES};
pub use session::{canonical_address, Modification, Session, MAX_DEPTH};
pub use space::{
    AddressSpace, Amd64Paging, BufferSpace, FileSpace, PaePaging, ReadStatus, Run, Space,
    SparseSpace, X86Paging, MAX_RUNS, MAX_TABLES,
};
pub use types::{
    Choices, Count, IntFn, Layout, Member, MemberOverlay, Overlay, StructOverlay, Type, ValueFn,
    DEFAULT_STRING_LENGTH,
};
