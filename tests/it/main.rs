//! Cross-crate integration tests: one binary, one module per area.

#[path = "../guest_truth.rs"]
mod guest_truth;
#[path = "../support.rs"]
mod support;

mod golden;
mod images;
mod inspect;
mod runtime;
mod vol3;
