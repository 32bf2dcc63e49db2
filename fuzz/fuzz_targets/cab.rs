//! Symbol-server cabinets (`NAM.pd_`): extraction with a size cap.
#![no_main]
use libfuzzer_sys::fuzz_target;
use profile_compiler::__private::cabinet;
use std::io::Write;

/// Extraction cap used here (the fetcher's default is 2 GiB).
const MAX: u64 = 64 << 20;

fuzz_target!(|data: &[u8]| {
    let _ = cabinet::is_cab(data);
    let (Ok(mut cab), Ok(mut out)) = (tempfile::tempfile(), tempfile::tempfile()) else {
        return;
    };
    if cab.write_all(data).is_err() {
        return;
    }
    let _ = cabinet::extract(&mut cab, "ntkrnlmp.pdb", &mut out, MAX);
});
