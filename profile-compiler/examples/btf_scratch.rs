fn main() {
    let a: Vec<String> = std::env::args().collect();
    let data = std::fs::read(&a[1]).unwrap();
    let t = std::time::Instant::now();
    let mut ir = if profile_compiler::input::btf::is_raw_btf(&data) {
        profile_compiler::input::btf::read_bytes(&data, a[1].as_ref(), 8).unwrap()
    } else {
        profile_compiler::input::btf::read_elf(&data, a[1].as_ref()).unwrap()
    };
    if let Some(m) = a.get(3) {
        let syms = profile_compiler::input::system_map::read_file(m.as_ref()).unwrap();
        profile_compiler::input::system_map::add_to_ir(&mut ir, &syms, false);
    }
    eprintln!("read {:?} types={}", t.elapsed(), ir.types.len());
    let e = profile_compiler::emit::emit(&ir, Default::default());
    eprintln!(
        "emit {:?} structs={} warnings={}",
        t.elapsed(),
        e.profile.structs.len(),
        e.warnings.len()
    );
    e.profile
        .save(a[2].as_ref(), profile_runtime::WriteMode::Overwrite)
        .unwrap();
    eprintln!("save {:?}", t.elapsed());
}
