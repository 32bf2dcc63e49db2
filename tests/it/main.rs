//! Cross-crate integration tests: one binary, one module per area.

#[path = "../support.rs"]
mod support;

mod golden;
mod images;
mod inspect;
mod runtime;
