//! The command line: clap argument structs, dispatch, and what every
//! command shares (output options, warnings, the one-line error).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use profile_compiler::{Compiled, Format as OutputFormat};
use profile_runtime::WriteMode;

use crate::{
    build_local_profile, convert_profile, diff, fetch_debuginfo, fetch_pdb, gen_rust, image,
    inspect, parse_pdb, peinfo, repo, version_scan,
};

/// Compiles debug information into memory-forensics profiles (Rekall format
/// and Volatility 3 ISF).
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
    /// Build a profile from DWARF (a Linux kernel or module, a macOS kernel),
    /// a Rekall or Volatility 2 Linux zip, or a System.map.
    #[command(name = "convert_profile", alias = "convert-profile")]
    ConvertProfile(convert_profile::Args),
    /// Show a profile's metadata and section counts.
    Info(inspect::InfoArgs),
    /// Show the layout of one type of a profile, as Rekall's `dt` does.
    Dt(inspect::DtArgs),
    /// Show what changed between two profiles (types, members, enums, symbols).
    Diff(diff::Args),
    /// Write a profile (Rekall JSON or ISF) in another format.
    Export(ExportArgs),
    /// Show a PE file's headers, sections, CodeView (RSDS) record and version resource.
    Peinfo(peinfo::Args),
    /// Download a PDB from symbol servers, verify its GUID and age, and cache it.
    #[command(name = "fetch_pdb", alias = "fetch-pdb")]
    FetchPdb(fetch_pdb::Args),
    /// List the CodeView (RSDS) records found anywhere in a file (e.g. a memory image).
    #[command(name = "version_scan", alias = "version-scan")]
    VersionScan(version_scan::Args),
    /// Fetch the PDB of an executable, verify it and build its profile, in one step.
    #[command(name = "build_local_profile", alias = "build-local-profile")]
    BuildLocalProfile(build_local_profile::Args),
    /// Maintain profile repositories and look profiles up in them.
    Repo(repo::Args),
    /// Generate typed Rust accessors (static or dynamic offsets) from a profile.
    #[command(name = "gen_rust", alias = "gen-rust")]
    GenRust(gen_rust::Args),
    /// Say what a memory image holds, without a profile: kernels (banner,
    /// build id, KASLR shift, phys_base, page-table root, paging; Windows
    /// PDB GUID and age; macOS version), VMCOREINFO, CPU states; with
    /// --repository, which stored profile fits.
    Identify(image::IdentifyArgs),
    /// List the processes of a memory image (offset, pid, tid, ppid, comm,
    /// creation time), finding the kernel with no address given.
    Pslist(image::ListArgs),
    /// List the kernel modules of a Linux memory image.
    Lsmod(image::ListArgs),
    /// Check that a profile fits a memory image: exit status 0 if it does,
    /// 2 if it does not (with the reasons).
    Check(image::CheckArgs),
    /// Download a Linux debug file (or executable) by GNU build id from
    /// debuginfod servers, verified, into the cache elfutils, gdb and drgn
    /// share.
    #[command(name = "fetch_debuginfo", alias = "fetch-debuginfo")]
    FetchDebuginfo(fetch_debuginfo::Args),
    /// The profile of a memory image's Linux kernel, hands-free: its build
    /// id looked up in a repository, else its vmlinux fetched from
    /// debuginfod, compiled and added. Prints the profile's path.
    #[command(name = "build_linux_profile", alias = "build-linux-profile")]
    BuildLinuxProfile(fetch_debuginfo::BuildArgs),
}

impl Cli {
    /// The clap command, each Rekall command's `--help` ending with the
    /// Rekall forms it accepts ([`crate::rekall::HELP`]).
    fn command_with_rekall_help() -> clap::Command {
        let mut cmd = Cli::command();
        for (name, text) in crate::rekall::HELP {
            cmd = cmd.mut_subcommand(name, |c| c.after_help(*text));
        }
        cmd
    }
}

impl Command {
    /// A directory where a file is expected, said before any command maps
    /// it (mapping a directory fails with "No such device").
    fn check_inputs(&self) -> anyhow::Result<()> {
        let files: Vec<&Path> = match self {
            Command::ParsePdb(a) => vec![a.pdb.as_path()],
            Command::Peinfo(a) => vec![a.file.as_path()],
            Command::VersionScan(a) => vec![a.file.as_path()],
            Command::BuildLocalProfile(a) => vec![a.executable.as_path()],
            Command::Identify(a) => vec![a.image.as_path()],
            Command::Pslist(a) | Command::Lsmod(a) => vec![a.image.as_path()],
            Command::Check(a) => vec![a.image.as_path(), a.profile.as_path()],
            Command::Diff(a) => vec![a.a.as_path(), a.b.as_path()],
            Command::Export(a) => vec![a.input.as_path()],
            _ => Vec::new(),
        };
        for f in files {
            require_file(f)?;
        }
        Ok(())
    }
}

/// Refuses a directory given where a file is expected, with one clear line.
pub fn require_file(path: &Path) -> anyhow::Result<()> {
    if path.is_dir() {
        anyhow::bail!("{}: is a directory, not a file", path.display());
    }
    Ok(())
}

/// `-` as an output: standard output.
pub fn is_stdout(out: &Path) -> bool {
    out.as_os_str() == "-"
}

/// Arguments of `export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The profile to read (Rekall JSON, gzipped or plain, or Volatility 3 ISF).
    pub input: PathBuf,
    /// Where to write (`-`: standard output).
    pub output: PathBuf,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Entry point of the binary: parses arguments, runs, prints a one-line
/// error on failure.
pub fn main() -> ExitCode {
    install_panic_hook();
    let argv = crate::rekall::rewrite(std::env::args_os().collect());
    let cli = Cli::command_with_rekall_help()
        .try_get_matches_from(argv)
        .and_then(|m| Cli::from_arg_matches(&m))
        .unwrap_or_else(|e| e.exit());
    if let Err(e) = cli.command.check_inputs() {
        eprintln!("profc: error: {}", one_line(&e));
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Command::ParsePdb(a) => parse_pdb::run(a, cli.verbose),
        Command::ConvertProfile(a) => convert_profile::run(a, cli.verbose),
        Command::Info(a) => inspect::info(a),
        Command::Dt(a) => inspect::dt(a),
        Command::Diff(a) => diff::run(a).map(|differs| {
            if differs {
                std::process::exit(1)
            }
        }),
        Command::Export(a) => export(a, cli.verbose),
        Command::Peinfo(a) => peinfo::run(a),
        Command::GenRust(a) => gen_rust::run(a),
        Command::FetchPdb(a) => fetch_pdb::run(a),
        Command::VersionScan(a) => version_scan::run(a),
        Command::BuildLocalProfile(a) => build_local_profile::run(a, cli.verbose),
        Command::Repo(a) => repo::run(a, cli.verbose),
        Command::Identify(a) => image::identify(a),
        Command::FetchDebuginfo(a) => fetch_debuginfo::run(a),
        Command::BuildLinuxProfile(a) => fetch_debuginfo::build(a, cli.verbose),
        Command::Pslist(a) => image::pslist(a),
        Command::Lsmod(a) => image::lsmod(a),
        Command::Check(a) => image::check(a).map(|fits| {
            if !fits {
                std::process::exit(i32::from(image::CHECK_MISMATCH))
            }
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A reader of our output that went away (`profc ... | head`) is not
        // an error of ours.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("profc: error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The chain of causes joined on one line, leaving out a cause whose text
/// the line already holds (an I/O error's source).
pub fn one_line(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if msg.contains(&text) {
            continue;
        }
        if !msg.is_empty() {
            msg.push_str(": ");
        }
        msg.push_str(&text);
    }
    msg.replace('\n', " ")
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// A panic is a bug of profc or of a library it uses: say so on one line
/// (set once, before any thread starts; the libraries never touch it).
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!("profc: internal error (please report it): {what}{at}");
    }));
}

/// Writes `text` to standard output; a closed pipe comes back as an error
/// that [`main`] treats as the end of the run.
pub fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// `println!` that returns a closed pipe as an error instead of panicking.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::print(&format!("{}\n", format_args!($($arg)*)))
    };
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
    /// Build the profile even when records of a damaged input (PDB) could
    /// not be read and were dropped (without it: an error saying how many
    /// and which).
    #[arg(long)]
    pub partial: bool,
    /// Output format: Rekall's profile JSON, or Volatility 3's ISF.
    #[arg(long, value_enum, default_value_t = Format::Rekall)]
    pub format: Format,
    /// With `--output -`: gzip what goes to standard output (plain JSON
    /// otherwise). A file's compression follows its name.
    #[arg(long)]
    pub gzip: bool,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Rekall profile JSON (gzipped unless the name ends in `.json`).
    Rekall,
    /// Volatility 3 Intermediate Symbol Format (`.json`, `.json.gz` or `.json.xz`).
    Isf,
}

impl From<Format> for OutputFormat {
    fn from(f: Format) -> OutputFormat {
        match f {
            Format::Rekall => OutputFormat::Rekall,
            Format::Isf => OutputFormat::Isf,
        }
    }
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

    /// The compile options these output options imply.
    pub fn compile_options(&self) -> profile_compiler::Options {
        let mut o = profile_compiler::Options::new();
        o.concise = self.concise;
        o.partial = self.partial;
        o.profile_class = self.profile_class.clone();
        o
    }
}

/// Writes a compiled profile to `out` in the format `opts` asks for and
/// reports the warnings of compiling and converting it.
pub fn write_compiled(
    compiled: &Compiled,
    out: &Path,
    opts: &OutputArgs,
    verbose: bool,
) -> anyhow::Result<()> {
    report_warnings(&compiled.warnings, verbose);
    let warnings = if is_stdout(out) {
        write_stdout(compiled, opts)?
    } else {
        compiled
            .save(out, opts.format.into(), opts.mode())
            .with_context(|| format!("writing {}", out.display()))?
    };
    report_warnings(&warnings, verbose);
    Ok(())
}

/// Writes a profile to standard output: plain JSON, or gzip with `--gzip`.
fn write_stdout(compiled: &Compiled, opts: &OutputArgs) -> anyhow::Result<Vec<String>> {
    let stdout = std::io::stdout();
    let mut lock = std::io::BufWriter::new(stdout.lock());
    let warnings = if opts.gzip {
        let mut gz = flate2::write::GzEncoder::new(&mut lock, flate2::Compression::default());
        let w = compiled.write_plain(&mut gz, opts.format.into())?;
        gz.finish()?;
        w
    } else {
        compiled.write_plain(&mut lock, opts.format.into())?
    };
    lock.flush()?;
    Ok(warnings)
}

/// Prints warnings: all of them with `--verbose`, else the first few and a count.
pub fn report_warnings(warnings: &[String], verbose: bool) {
    let shown = if verbose {
        warnings.len()
    } else {
        warnings.len().min(5)
    };
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

/// Prints what the compiler had to tell (where a PDB came from).
pub fn report_notes(compiled: &Compiled) {
    for n in &compiled.notes {
        eprintln!("profc: {n}");
    }
}

/// The default output name for an input: `<stem>.<extension>` in the
/// current directory.
pub fn default_output(input: &Path, extension: &str) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "profile".into());
    PathBuf::from(format!("{stem}.{extension}"))
}

/// Reads a profile in either format: Volatility 3 ISF (plain, gzip or xz) or
/// Rekall JSON (plain or gzip), told apart by content.
pub fn load_any_profile(path: &Path) -> anyhow::Result<Compiled> {
    Ok(profile_compiler::load_profile_file(path)?)
}

fn export(args: ExportArgs, verbose: bool) -> anyhow::Result<()> {
    check_output(&args.output, args.out.overwrite, &[&args.input])?;
    let mut compiled = load_any_profile(&args.input)?;
    if let Some(class) = &args.out.profile_class {
        compiled
            .profile
            .set_metadata("ProfileClass", class.as_str());
    }
    if args.out.concise {
        compiled.profile.revenums = None;
    }
    write_compiled(&compiled, &args.output, &args.out, verbose)
}

/// Refuses, with one clear line each and before any slow work: an output
/// that is one of the `inputs` (same device and inode, through any path or
/// link), an existing output without `--overwrite`, an existing output that
/// is not a regular file (FIFO, device, directory) even with it, and an
/// output whose folder does not exist. Every command that writes a file
/// calls this first. `-` (standard output) passes.
pub fn check_output(out: &Path, overwrite: bool, inputs: &[&Path]) -> anyhow::Result<()> {
    if is_stdout(out) {
        return Ok(());
    }
    if out.is_dir() {
        anyhow::bail!(
            "{}: is a directory, not a regular file; give the profile's file name",
            out.display()
        );
    }
    profile_runtime::check_not_input(out, inputs)?;
    if !overwrite && out.exists() {
        return Err(profile_runtime::Error::Exists(out.to_path_buf()).into());
    }
    profile_runtime::check_replaceable(out)?;
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        anyhow::bail!(
            "{}: cannot write here: {} is not an existing directory",
            out.display(),
            dir.display()
        );
    }
    Ok(())
}
