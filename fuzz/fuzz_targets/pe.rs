//! PE headers, debug directory, RSDS records, version resources, and the
//! raw-memory RSDS scanner.
#![no_main]
use libfuzzer_sys::fuzz_target;
use profile_compiler::{codeview, pe};

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = pe::parse(data) {
        let _ = pe::render(&info);
    }
    let _ = pe::read_rsds(data);
    let _ = pe::parse_version_info(data);
    let _ = codeview::Rsds::parse(data, true);
    let _ = codeview::Rsds::parse(data, false);
    for hit in codeview::scan(data).iter().take(64) {
        let _ = format!("{hit:?}");
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = codeview::PdbId::parse_key(text);
    }
});
