//! Typed accessors generated from the project's own fixture profiles (the
//! PDBs of `tests/fixtures/pdb`), checked in, compiled and tested.
//!
//! Regenerate with `UPDATE_GENERATED=1 cargo test -p profile-generated
//! --test up_to_date` (the same test fails when they are stale). They are
//! left as the generator formats them (`rustfmt::skip`).

#[rustfmt::skip]
pub mod fixture_dynamic;
#[rustfmt::skip]
pub mod fixture_x64;
#[rustfmt::skip]
pub mod fixture_x86;
