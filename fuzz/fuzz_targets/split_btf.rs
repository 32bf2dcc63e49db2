//! Split BTF: a module's BTF over a base BTF -> IR -> profile. The input is
//! BASE LEN (u32 LE), BASE, MODULE.
#![no_main]
use libfuzzer_sys::fuzz_target;
use profile_compiler::{emit, EmitOptions};
use profile_compiler::__private::btf;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let n = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize;
    let rest = &data[4..];
    let (base, module) = rest.split_at(n.min(rest.len()));
    if let Ok((mut ir, vars)) =
        btf::read_split(module, base, Path::new("mod.btf"), Path::new("base.btf"), 8)
    {
        let _ = btf::find_raw(data);
        btf::type_symbols_from_vars(&mut ir, &vars);
        btf::type_well_known_symbols(&mut ir);
        let _ = emit(&ir, EmitOptions::default());
    }
});
