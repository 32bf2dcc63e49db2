//! The `ar` layer of Debian packages: members and bodies, any bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use profile_compiler::__private::package::ar;
use std::io::Read;

fuzz_target!(|data: &[u8]| {
    let Ok(mut r) = ar::Reader::new(data) else {
        return;
    };
    // Bounded: every member header takes 60 bytes of input.
    while let Ok(Some(m)) = r.next_member() {
        let mut sink = Vec::new();
        // Read odd members, skip even ones: both paths are exercised.
        if m.offset % 2 == 0 {
            let _ = r.body(&m).take(1 << 20).read_to_end(&mut sink);
        }
    }
});
