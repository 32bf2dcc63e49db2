//! Volatility 2 `.vtypes` (Python literal) and `.dsymutil` text -> IR -> profile.
#![no_main]
use libfuzzer_sys::fuzz_target;
use profile_compiler::{emit, EmitOptions};
use profile_compiler::__private::vol2::{dsymutil, vtypes};
use profile_compiler::ir::Ir;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = dsymutil::parse(&text);
    let pointer_size = if data.first().is_some_and(|b| b & 1 == 1) {
        4
    } else {
        8
    };
    let mut ir = Ir::default();
    if vtypes::parse_into(&text, Path::new("fuzz.vtypes"), &mut ir, pointer_size).is_ok() {
        let _ = emit(&ir, EmitOptions::default());
    }
});
