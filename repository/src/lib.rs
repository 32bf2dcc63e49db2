//! `profile-repository`: profile repositories in Rekall's layout.
//!
//! A repository is a folder of gzipped profiles (`nt/GUID/<GUID_AGE>.gz`,
//! `Linux/<version>.gz`, `OSX/<name>.gz`, ...), symlink files that give a
//! profile a human name, and an `inventory.gz` index. [`Repository`] reads
//! and (under an advisory lock, through [`WriteGuard`]) changes one;
//! [`SearchPath`] looks profiles up along local folders and HTTP(S)
//! repositories with a local cache; [`build`] fills a repository from a
//! configuration file of sources. See `docs/repository.md`.

pub mod build;
mod error;
mod index;
pub mod inventory;
pub mod isf_view;
pub mod layout;
mod lookup;
pub mod matching;
mod name;
mod remote;
mod repo;

pub use error::{Error, Result};
pub use inventory::{Entry, EntryExt, Inventory, INVENTORY_FILE};
pub use layout::{default_name, input_stem, Naming};
pub use lookup::{default_cache_dir, Found, Location, Query, SearchPath};
pub use name::{is_guid_age, validate_name};
pub use repo::{
    describe_entry, encode, symlink_document, Committed, Problem, Repository, Stored, WriteGuard,
    LOCK_FILE, MAX_SYMLINK_DEPTH,
};
