//! RPM packages: lead, signature header, header (tags, file lists), then
//! the whole reader (payload decompression and cpio) with small caps.
#![no_main]
use libfuzzer_sys::fuzz_target;
use profile_compiler::__private::package::{rpm, Limits, Package, Select};

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = rpm::read_headers(&mut &data[..]) {
        let _ = h.header.files();
        let _ = h.header.string(rpm::tag::PAYLOADCOMPRESSOR);
        let _ = h.signature.integers(1000);
    }
    package(data);
});

fn package(data: &[u8]) {
    let limits = Limits {
        max_file: 16 << 20,
        max_text: 1 << 20,
        max_payload: 64 << 20,
        max_entries: 10_000,
        threads: 1,
    };
    let Ok(p) = Package::from_bytes("fuzz.rpm", data.to_vec()) else {
        return;
    };
    let p = p.with_limits(limits);
    let _ = p.members();
    let _ = p.find_kernel(&Select {
        member: Some("loop.ko".into()),
        wait_for_config: true,
        ..Select::kernel()
    });
}
