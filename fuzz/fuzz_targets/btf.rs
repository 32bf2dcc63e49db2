//! Raw BTF and ELF files carrying a `.BTF` section -> IR -> profile.
#![no_main]
use libfuzzer_sys::fuzz_target;
use profile_compiler::{emit, EmitOptions};
use profile_compiler::__private::btf;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.btf");
    let ir = if btf::is_raw_btf(data) {
        btf::read_bytes(data, path, 8)
    } else {
        let _ = btf::elf_has_btf(data);
        btf::read_elf(data, path)
    };
    if let Ok(ir) = ir {
        let _ = emit(&ir, EmitOptions::default());
    }
});
