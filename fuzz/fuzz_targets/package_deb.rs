//! Debian packages through the whole reader: detection, control, the
//! compressed data.tar (xz, zstd, gzip, lzma, none), kernel files and a
//! compressed module, with small caps.
#![no_main]
use libfuzzer_sys::fuzz_target;
use profile_compiler::__private::package::{detect, Limits, Package, Select};

fuzz_target!(|data: &[u8]| {
    let _ = detect(data);
    let limits = Limits {
        max_file: 16 << 20,
        max_text: 1 << 20,
        max_payload: 64 << 20,
        max_entries: 10_000,
        threads: 1,
    };
    let Ok(p) = Package::from_bytes("fuzz.deb", data.to_vec()) else {
        return;
    };
    let p = p.with_limits(limits);
    let _ = p.members();
    let _ = p.find_kernel(&Select {
        member: Some("loop.ko".into()),
        wait_for_config: true,
        ..Select::kernel()
    });
});
