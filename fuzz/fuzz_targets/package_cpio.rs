//! The newc cpio walk of RPM payloads, any bytes, with some entries read.
#![no_main]
use libfuzzer_sys::fuzz_target;
use profile_compiler::__private::package::{cpio, EntryKind, Flow};
use std::io::Read;

fuzz_target!(|data: &[u8]| {
    let mut n = 0u32;
    let _ = cpio::walk(&mut &data[..], &mut |e, r| {
        n += 1;
        if e.kind == EntryKind::File && n % 2 == 1 {
            let mut v = Vec::new();
            let _ = r.take(1 << 20).read_to_end(&mut v);
        }
        Ok(Flow::Continue)
    });
});
