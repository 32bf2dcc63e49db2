//! `profc`: the command line of the profile tool-chain. Argument parsing
//! (clap) and glue over the libraries; `anyhow` only here.

/// mimalloc: the compiler makes hundreds of thousands of small allocations
/// (names, members, descriptors); glibc's allocator spent a fifth of
/// `parse_pdb`'s time in malloc/free.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod build_local_profile;
mod cli;
mod convert_profile;
mod diff;
mod fetch_debuginfo;
mod fetch_pdb;
mod gen_rust;
mod image;
mod inspect;
mod parse_pdb;
mod peinfo;
mod progress;
mod rekall;
mod repo;
mod version_scan;

fn main() -> std::process::ExitCode {
    cli::main()
}
