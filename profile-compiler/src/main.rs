//! `profc`: the profile compiler's command line.

/// mimalloc: the compiler makes hundreds of thousands of small allocations
/// (names, members, descriptors); glibc's allocator spent a fifth of
/// `parse_pdb`'s time in malloc/free.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    profile_compiler::cli::main()
}
