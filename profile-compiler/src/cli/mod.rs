//! Command-line interface of `profc`: clap argument structs and glue only.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use profile_runtime::{Profile, WriteMode};

mod inspect;
mod parse_pdb;
pub mod repo;

/// Compiles debug information into memory-forensics profiles (Rekall format).
#[derive(Debug, Parser)]
#[command(name = "profc", version, about, long_about = None)]
pub struct Cli {
    /// Print every warning instead of a summary.
    #[arg(long, short, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build a profile from a Windows PDB file.
    #[command(name = "parse_pdb", alias = "parse-pdb")]
    ParsePdb(parse_pdb::Args),
    /// Show a profile's metadata and section counts.
    Info(inspect::InfoArgs),
    /// Show the layout of one type of a profile, as Rekall's `dt` does.
    Dt(inspect::DtArgs),
    /// Maintain profile repositories and look profiles up in them.
    Repo(repo::Args),
}

/// Entry point of the binary: parses arguments, runs, prints a one-line
/// error on failure.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::ParsePdb(a) => parse_pdb::run(a, cli.verbose),
        Command::Info(a) => inspect::info(a),
        Command::Dt(a) => inspect::dt(a),
        Command::Repo(a) => repo::run(a, cli.verbose),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the chain of causes joined.
            let msg: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("profc: error: {}", msg.join(": "));
            ExitCode::FAILURE
        }
    }
}

/// Output options shared by every command that writes a profile.
#[derive(Debug, clap::Args)]
pub struct OutputArgs {
    /// Replace the output file if it exists.
    #[arg(long)]
    pub overwrite: bool,
    /// Leave out `$REVENUMS`.
    #[arg(long)]
    pub concise: bool,
    /// Override `$METADATA.ProfileClass`.
    #[arg(long = "profile_class", alias = "profile-class", value_name = "NAME")]
    pub profile_class: Option<String>,
}

impl OutputArgs {
    /// The write mode these options ask for.
    pub fn mode(&self) -> WriteMode {
        if self.overwrite {
            WriteMode::Overwrite
        } else {
            WriteMode::CreateNew
        }
    }
}

/// Emits `ir` and writes the profile to `out` (gzipped unless it ends in
/// `.json`); reports warnings on stderr.
pub(crate) fn write_profile(
    ir: &crate::ir::Ir,
    out: &Path,
    opts: &OutputArgs,
    verbose: bool,
) -> anyhow::Result<Profile> {
    let emitted = crate::emit::emit(ir, crate::emit::EmitOptions { concise: opts.concise });
    let mut profile = emitted.profile;
    if let Some(class) = &opts.profile_class {
        profile.set_metadata("ProfileClass", class.as_str());
    }
    report_warnings(&emitted.warnings, verbose);
    profile.save(out, opts.mode())?;
    Ok(profile)
}

/// Prints warnings: all of them with `--verbose`, else the first few and a count.
pub(crate) fn report_warnings(warnings: &[String], verbose: bool) {
    let shown = if verbose { warnings.len() } else { warnings.len().min(5) };
    for w in &warnings[..shown] {
        eprintln!("profc: warning: {w}");
    }
    if shown < warnings.len() {
        eprintln!(
            "profc: {} more warnings (use --verbose to see them)",
            warnings.len() - shown
        );
    }
}

/// The default output name for an input: `<stem>.json`... in the current
/// directory is not guessed; commands require or derive an explicit path.
pub(crate) fn default_output(input: &Path, extension: &str) -> PathBuf {
    let stem = input.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "profile".into());
    PathBuf::from(format!("{stem}.{extension}"))
}
