//! Memory-image readers on arbitrary bytes: format detection, ELF core
//! program headers and notes (CORE prstatus, QEMU CPU state, VMCOREINFO),
//! LiME range headers, and kdump-compressed headers, bitmaps and pages.
//!
//! Input: the image file. The physical space it yields is then read at its
//! ranges' edges and searched (the identify scanner).
#![no_main]
use libfuzzer_sys::fuzz_target;
use profile_runtime::{identify, AddressSpace, BufferSpace, Image, Space};
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let file: Space = Arc::new(BufferSpace::new(data.to_vec()));
    let Ok(image) = Image::from_file_space(file, "fuzz") else {
        return;
    };
    let _ = image.cpus().iter().map(|c| c.la57()).count();
    let _ = image.vmcoreinfo_note().map(|v| v.kerneloffset());
    let phys = image.physical();
    let mut buf = [0u8; 64];
    for r in phys.ranges().iter().take(64) {
        phys.read(r.start, &mut buf);
        phys.read(r.start.wrapping_add(r.len).wrapping_sub(32), &mut buf);
        let _ = phys.vtop(r.start);
    }
    let _ = identify::scan(&image, &mut |_, _| {});
});
