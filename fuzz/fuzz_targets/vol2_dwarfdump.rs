//! Volatility 2 `module.dwarf` (dwarfdump text) -> IR -> profile.
#![no_main]
use libfuzzer_sys::fuzz_target;
use profile_compiler::{emit, EmitOptions};
use profile_compiler::__private::vol2::dwarfdump;
use profile_compiler::ir::Ir;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut ir = Ir::default();
    if dwarfdump::parse_into(&text, Path::new("module.dwarf"), &mut ir).is_ok() {
        let _ = emit(&ir, EmitOptions::default());
    }
});
