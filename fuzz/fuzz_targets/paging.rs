//! Page-table walks of every format over arbitrary memory: translations,
//! reads across pages, and the bounded window walks the kernel locators use
//! (self-referencing tables, pointers outside memory).
//!
//! Input: 8 bytes of page-table root, then physical memory.
#![no_main]
use libfuzzer_sys::fuzz_target;
use profile_runtime::{AddressSpace, AnyPaging, BufferSpace, Paging, Space};
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let root = u64::from_le_bytes(data[..8].try_into().unwrap()) & 0xffff_f000;
    let phys: Space = Arc::new(BufferSpace::new(data[8..].to_vec()));
    for mode in [
        Paging::X86,
        Paging::Pae,
        Paging::Amd64,
        Paging::Amd64La57,
        Paging::AArch64 { va_bits: 48 },
        Paging::AArch64 { va_bits: 39 },
    ] {
        let Ok(w) = AnyPaging::new(Arc::clone(&phys), root, mode) else {
            continue;
        };
        for va in [0u64, 0xffff_ffff_8100_0000, 0xffff_8000_0801_0000, 0x7fff_ffff_f000] {
            let _ = w.translate(va);
            let mut b = [0u8; 32];
            w.read(va.wrapping_sub(16), &mut b);
        }
        // Small windows keep each run short; the walk is bounded anyway.
        let _ = w.ranges_in(0xffff_ffff_8000_0000, 0xffff_ffff_803f_ffff);
        let _ = w.ranges_in(0, 0x3f_ffff);
    }
});
