//! `profc`: the profile compiler's command line.

fn main() -> std::process::ExitCode {
    profile_compiler::cli::main()
}
