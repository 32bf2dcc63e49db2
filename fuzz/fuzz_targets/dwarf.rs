//! ELF / Mach-O (thin or fat) bytes with DWARF -> IR -> profile.
#![no_main]
use libfuzzer_sys::fuzz_target;
use profile_compiler::{emit, EmitOptions};
use profile_compiler::__private::dwarf;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let _ = dwarf::detect(data);
    if let Ok(ir) = dwarf::read_bytes(data, Path::new("fuzz.ko")) {
        let _ = emit(&ir, EmitOptions::default());
    }
});
