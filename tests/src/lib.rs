//! Integration tests that cross crates live in `it/`; this library only
//! re-exports the shared test support so other test binaries can use it.
