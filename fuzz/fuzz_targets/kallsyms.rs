//! Kernel image bytes -> kallsyms tables, banner, BTF and VMCOREINFO
//! carving -> IR -> profile; and /proc/kallsyms text with the KASLR shift.
#![no_main]
use libfuzzer_sys::fuzz_target;
use profile_compiler::{emit, EmitOptions};
use profile_compiler::__private::kallsyms::{self, KernelArch, RecoverOptions};
use profile_compiler::__private::kernel;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let opts = RecoverOptions {
        anchors: vec![("_text", KernelArch::Arm64.default_text_address())],
    };
    if let Some(r) = kallsyms::recover(data, &opts) {
        assert_eq!(r.symbols.len(), r.layout.num_syms as usize);
    }
    let _ = kallsyms::find_banner(data);
    let parts = kernel::scan_pieces(&[(0, data)]);
    if let Ok(ir) = kernel::from_image_parts(&parts, Path::new("fuzz.raw")) {
        let _ = emit(&ir, EmitOptions::default());
    }
    let a = KernelArch::Amd64;
    let _ = kallsyms::from_text(data, Path::new("kallsyms"), &a.anchors(), a.default_text_address());
});
