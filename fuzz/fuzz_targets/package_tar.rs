//! The `data.tar` walk of Debian packages (raw tar headers, GNU long
//! names, PAX headers), any bytes, with some entries read.
#![no_main]
use libfuzzer_sys::fuzz_target;
use profile_compiler::__private::package::{tar, EntryKind, Flow};
use std::io::Read;

fuzz_target!(|data: &[u8]| {
    let mut n = 0u32;
    let _ = tar::walk(&mut &data[..], &mut |e, r| {
        n += 1;
        if e.kind == EntryKind::File && n % 2 == 1 {
            let mut v = Vec::new();
            let _ = r.take(1 << 20).read_to_end(&mut v);
        }
        Ok(if n > 10_000 { Flow::Stop } else { Flow::Continue })
    });
});
