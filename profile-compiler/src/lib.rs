//! `profile-compiler`: debug information in, Rekall-format profiles out.
//!
//! Readers (`input::*`) turn each input format into the [`ir::Ir`];
//! [`emit::emit`] turns the IR into a [`profile_runtime::Profile`]. The `profc`
//! binary (`cli`) is glue over these.

pub mod cli;
pub mod emit;
pub mod error;
pub mod fetch;
pub mod input;
pub mod ir;

pub use error::{Error, Result};
