//! VMCOREINFO text parsing, its typed accessors and number forms, and the
//! search for its copies in memory.
//!
//! Input: bytes used both as the text and as physical memory.
#![no_main]
use libfuzzer_sys::fuzz_target;
use profile_runtime::{parse_number, BufferSpace, Radix, VmcoreInfo};

fuzz_target!(|data: &[u8]| {
    let v = VmcoreInfo::from_bytes(data);
    let _ = (v.osrelease(), v.build_id(), v.page_size(), v.kerneloffset());
    let _ = (v.phys_base(), v.pgtable_l5_enabled(), v.kimage_voffset());
    let _ = (v.phys_offset(), v.va_bits(), v.tcr_el1_t1sz());
    let _ = (v.symbol("init_top_pgt"), v.offset("list_head.next"));
    let _ = (v.size("page"), v.length("mem_section"), v.number("phys_base"));
    for (_, value) in v.entries().iter().take(64) {
        let _ = parse_number(value, Radix::Hex);
        let _ = parse_number(value, Radix::Decimal);
    }
    let text = String::from_utf8_lossy(data);
    let _ = VmcoreInfo::parse(&text);
    let _ = VmcoreInfo::find(&BufferSpace::new(data.to_vec()));
});
