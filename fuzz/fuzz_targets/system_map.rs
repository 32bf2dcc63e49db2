//! System.map text -> symbols -> IR -> profile.
#![no_main]
use libfuzzer_sys::fuzz_target;
use profile_compiler::{emit, EmitOptions};
use profile_compiler::__private::system_map;
use profile_compiler::ir::Ir;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let _ = system_map::looks_like(data);
    if let Ok(symbols) = system_map::parse_bytes(data, Path::new("System.map")) {
        let mut ir = Ir::default();
        system_map::add_to_ir(&mut ir, &symbols, true);
        let _ = emit(&ir, EmitOptions::default());
    }
});
