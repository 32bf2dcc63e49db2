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
//!   [`SparseSpace`], and paging ([`Paging`]): [`Amd64Paging`],
//!   [`Amd64La57Paging`], [`AArch64Paging`], [`PaePaging`], [`X86Paging`];
//! - memory images ([`Image`]: raw, LiME, ELF cores, kdump-compressed) with
//!   their CPU states and [`VmcoreInfo`];
//! - [`identify::scan`]: what kernels an image holds, without a profile;
//! - [`linux`]: a Linux kernel located hands-free ([`LinuxKernel::locate`]),
//!   its processes, modules, and whether a profile fits the image.
//!
//! ```
//! use std::sync::Arc;
//! use profile_runtime::{BufferSpace, LazyProfile, Overlay, Session, Space, Type};
//!
//! let json = br#"{"$METADATA": {"ProfileClass": "Linux", "arch": "AMD64"},
//!   "$STRUCTS": {"task": [24, {"pid": [0, ["int"]],
//!                              "comm": [4, ["Array", {"count": 8, "target": "char"}]],
//!                              "parent": [16, ["Pointer", {"target": "task"}]]}]}}"#;
//! let profile = Arc::new(LazyProfile::from_bytes(json.to_vec(), "example")?);
//! let session = Session::new(Arc::clone(&profile));
//! assert_eq!(profile.parsed_struct_count(), 0); // nothing parsed yet
//!
//! let mut mem = vec![0u8; 64];
//! mem[0..4].copy_from_slice(&7i32.to_le_bytes());
//! mem[4..9].copy_from_slice(b"init\0");
//! mem[16..24].copy_from_slice(&32u64.to_le_bytes());
//! mem[32..36].copy_from_slice(&1i32.to_le_bytes());
//! let space: Space = Arc::new(BufferSpace::new(mem));
//!
//! let task = session.object("task", 0, &space);
//! assert_eq!(task.member("pid").as_i64(), Some(7));
//! assert_eq!(task.member("comm").as_string().as_deref(), Some("init"));
//! assert_eq!(task.get("parent.pid").as_i64(), Some(1));
//! assert_eq!(task.get("parent.parent.pid").to_string(), "None (task.parent.parent: NULL pointer)");
//!
//! // An overlay, for this handle only: `comm` read as a 2-byte string.
//! let short = session.with_overlay(Overlay::new().member("task", "comm", None, Type::string(2u64)));
//! assert_eq!(short.object("task", 0, &space).member("comm").as_string().as_deref(), Some("in"));
//! assert_eq!(task.member("comm").as_string().as_deref(), Some("init"));
//! # Ok::<(), profile_runtime::Error>(())
//! ```

mod descriptor;
mod error;
mod handle;
mod io;
mod profile;

pub use descriptor::{Descriptor, EnumChoices};
pub use error::{Error, Result};
pub use io::{
    check_not_input, check_replaceable, is_gzip, is_xz, read_compressed, read_maybe_gzip,
    same_file, write_atomic, WriteMode,
};
pub use profile::{Field, Metadata, Profile, StructDef, SECTION_NAMES};

// The object runtime.
pub mod class;
pub mod identify;
mod image;
pub mod isf;
mod kdump;
mod lazy;
pub mod linux;
mod native;
mod object;
mod paging;
pub mod procs;
mod scan;
mod search;
mod session;
mod space;
pub mod typed;
mod types;
pub mod vmcoreinfo;

#[cfg(test)]
mod tests;

pub use class::{value_class, AnsiStringClass, Class, ListEntryClass, UnicodeStringClass};
pub use handle::MemberHandle;
pub use identify::Identification;
pub use image::{Arch, CpuState, Image, ImageFormat, KdumpInfo, MAX_NOTES, MAX_NOTE_BYTES};
pub use kdump::KdumpSpace;
pub use lazy::{LazyProfile, ProfileFormat};
pub use linux::{Hints, LinuxKernel};
pub use native::{DataModel, Native, NativeKind};
pub use object::{
    ChainIter, ListIter, NoneObject, Object, Timestamp, Value, MAX_ITER, MAX_LIST_ENTRIES,
    MAX_STRING_BYTES,
};
pub use paging::{
    AArch64Paging, Amd64La57Paging, Amd64Paging, AnyPaging, PaePaging, Paging, X86Paging, MAX_RUNS,
    MAX_TABLES,
};
pub use session::{canonical_address, Modification, Session, MAX_DEPTH};
pub use space::{AddressSpace, BufferSpace, FileSpace, ReadStatus, Run, Space, SparseSpace};
pub use types::{
    Choices, Count, IntFn, Member, MemberOverlay, Overlay, StructLayout, StructOverlay, Type,
    ValueFn, DEFAULT_STRING_LENGTH,
};
pub use vmcoreinfo::{parse_number, Radix, VmcoreInfo};
