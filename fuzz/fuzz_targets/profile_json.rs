//! Rekall profile JSON (plain or gzip): eager `Profile` and `LazyProfile`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use profile_runtime::{LazyProfile, Profile};

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Profile::from_bytes(data.to_vec(), "fuzz.json") {
        let _ = p.to_canonical_json();
    }
    if let Ok(lazy) = LazyProfile::from_bytes(data.to_vec(), "fuzz.json") {
        let names: Vec<String> = lazy.struct_names().take(256).map(str::to_owned).collect();
        for name in &names {
            let _ = lazy.get_struct(name);
        }
        let _ = lazy.enums();
        let _ = lazy.constants();
        let _ = lazy.functions();
        let _ = lazy.config();
        let _ = lazy.to_profile();
    }
});
