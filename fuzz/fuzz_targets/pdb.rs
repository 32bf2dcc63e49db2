//! PDB bytes -> IR -> profile.
#![no_main]
use libfuzzer_sys::fuzz_target;
use profile_compiler::{emit, EmitOptions};
use profile_compiler::__private::pdb;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(ir) = pdb::read_bytes(Path::new("fuzz.pdb"), data.to_vec()) {
        let _ = emit(&ir, EmitOptions::default());
    }
});
