//! Converts a Volatility 2 profile zip into a Rekall profile through the
//! library (`input::vol2::read_zip` -> `emit` -> `Profile::save`), for
//! benchmarks and manual checks until `profc convert_profile` dispatches here.
//!
//! usage: cargo run --release --example vol2_convert -- PROFILE.zip OUT.json|OUT.gz

use std::path::PathBuf;
use std::process::ExitCode;

use profile_compiler::emit::{emit, EmitOptions};
use profile_compiler::input::vol2::read_zip;
use profile_runtime::WriteMode;

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [zip, out] = args.as_slice() else {
        eprintln!("usage: vol2_convert PROFILE.zip OUT.json|OUT.gz");
        return ExitCode::from(2);
    };
    let ir = match read_zip(zip) {
        Ok(ir) => ir,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let emitted = emit(&ir, EmitOptions::default());
    for w in &emitted.warnings {
        eprintln!("warning: {w}");
    }
    if let Err(e) = emitted.profile.save(out, WriteMode::Overwrite) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    eprintln!(
        "{}: {} structs, {} enums, {} constants, {} functions",
        out.display(),
        emitted.profile.structs.len(),
        emitted.profile.enums.len(),
        emitted.profile.constants.len(),
        emitted.profile.functions.len()
    );
    ExitCode::SUCCESS
}
