//! Zip profiles: Volatility 2 zips (module.dwarf / vtypes / System.map /
//! dsymutil members) and Rekall-style Linux zips (module .ko + System.map).
//! The zip readers take a path, so the bytes go to a temporary file.
#![no_main]
use libfuzzer_sys::fuzz_target;
use profile_compiler::{emit, EmitOptions};
use profile_compiler::__private::{dwarf, vol2};
use std::io::Write;

fuzz_target!(|data: &[u8]| {
    let Ok(mut file) = tempfile::Builder::new().suffix(".zip").tempfile() else {
        return;
    };
    if file.write_all(data).and_then(|()| file.flush()).is_err() {
        return;
    }
    let path = file.path();
    if let Ok(names) = dwarf::zip_names(path) {
        let ir = if vol2::is_vol2_zip(&names) {
            vol2::read_zip(path)
        } else {
            dwarf::read_zip(path)
        };
        if let Ok(ir) = ir {
            let _ = emit(&ir, EmitOptions::default());
        }
    }
});
