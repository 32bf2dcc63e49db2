//! Volatility 3 ISF JSON (plain, gzip or xz) -> profile, and back to ISF.
#![no_main]
use libfuzzer_sys::fuzz_target;
use profile_compiler::__private::{to_isf, IsfOptions};
use profile_compiler::__private::isf;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let _ = isf::looks_like(data);
    let Ok(bytes) = isf::decompress(data.to_vec(), Path::new("fuzz.json")) else {
        return;
    };
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return;
    };
    if let Ok(profile) = isf::from_json(&doc) {
        let _ = to_isf(&profile.profile, &IsfOptions::default());
    }
});
