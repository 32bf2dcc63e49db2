//! `profc fetch_pdb`: download and verify a PDB from symbol servers.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use profile_compiler::fetch::{self, FetchOptions, Fetched, Fetcher, PdbId};

use crate::outln;

/// Where and how to fetch PDBs (shared by `fetch_pdb` and
/// `build_local_profile`).
#[derive(Debug, clap::Args)]
pub struct SourceArgs {
    /// A symbol server base URL (http or https); repeatable, tried in order.
    #[arg(long, value_name = "URL")]
    pub server: Vec<String>,
    /// A `_NT_SYMBOL_PATH`-style path, e.g. `srv*CACHE*URL;DIR` (default:
    /// `$_NT_SYMBOL_PATH` when no `--server` is given; without either,
    /// Microsoft's public symbol server).
    #[arg(long = "symbol-path", alias = "symbol_path", value_name = "PATH")]
    pub symbol_path: Option<String>,
    /// The local cache (a symbol store; default: the first store of the
    /// symbol path, else `$PROFC_SYMBOL_CACHE`, else
    /// `~/.cache/profc/symbols`).
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// Network timeout in seconds: for connecting and for any wait for data.
    #[arg(long, value_name = "SECS", default_value_t = fetch::DEFAULT_TIMEOUT.as_secs_f64())]
    pub timeout: f64,
    /// Retries after a transient failure (timeout, broken transfer, HTTP 5xx).
    #[arg(long, value_name = "N", default_value_t = fetch::DEFAULT_RETRIES)]
    pub retries: u32,
    /// Largest download (and decompressed PDB) accepted; suffixes K, M, G.
    #[arg(long = "max-size", alias = "max_size", value_name = "BYTES", default_value = "2G", value_parser = parse_size)]
    pub max_size: u64,
}

impl SourceArgs {
    /// Resolves sources and cache into fetch options.
    pub fn options(&self) -> anyhow::Result<FetchOptions> {
        for s in &self.server {
            if !(s.starts_with("http://") || s.starts_with("https://")) {
                bail!("--server {s}: not an http(s) URL");
            }
        }
        let mut o = FetchOptions::resolve(
            &self.server,
            self.symbol_path.as_deref(),
            self.cache.clone(),
        )?;
        if !(self.timeout.is_finite() && self.timeout > 0.0 && self.timeout < 1e6) {
            bail!(
                "--timeout {}: must be a positive number of seconds",
                self.timeout
            );
        }
        o.timeout = Duration::from_secs_f64(self.timeout);
        o.retries = self.retries;
        o.max_size = self.max_size;
        o.progress = Some(crate::progress::Bar::new());
        Ok(o)
    }
}

/// Parses `123`, `64K`, `10M`, `2G` (powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                'B' => 1,
                _ => return Err(format!("{s:?}: unknown size suffix")),
            };
            (&t[..i], m)
        }
        _ => (t, 1),
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?}: not a size"))?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?}: too large"))
}

/// Arguments of `fetch_pdb`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Rekall's positional forms: `fetch_pdb EXE_OR_DLL` or `fetch_pdb
    /// NAME.pdb GUID_AGE`.
    #[arg(value_name = "FILE", conflicts_with = "filename")]
    pub positional_file: Option<String>,
    /// The GUID_AGE of `fetch_pdb NAME.pdb GUID_AGE`.
    #[arg(value_name = "GUID_AGE", conflicts_with = "guid")]
    pub positional_guid: Option<String>,
    /// An executable or DLL whose CodeView (RSDS) record names the PDB; with
    /// `--guid`, a name ending in `.pdb` is the PDB's name (Rekall's use).
    #[arg(long, short = 'f', value_name = "EXE_OR_DLL")]
    pub filename: Option<PathBuf>,
    /// The PDB file name (with `--guid`; Rekall: `--pdb_filename`).
    #[arg(
        long,
        alias = "pdb-filename",
        alias = "pdb_filename",
        value_name = "NAME"
    )]
    pub pdb: Option<String>,
    /// The PDB's GUID_AGE (32 hex digits of GUID, then the age in hex).
    #[arg(long, value_name = "GUID_AGE")]
    pub guid: Option<String>,
    /// Copy the verified PDB into this directory (it stays in the cache too).
    #[arg(long = "dump-dir", alias = "dump_dir", short = 'D', value_name = "DIR")]
    pub dump_dir: Option<PathBuf>,
    /// Replace a different file of the same name in the dump directory.
    #[arg(long)]
    pub overwrite: bool,
    #[command(flatten)]
    pub source: SourceArgs,
}

/// What to fetch, from the forms Rekall and profc accept.
enum Wanted {
    /// The PDB an executable names.
    Executable(PathBuf),
    /// A PDB by name and GUID_AGE.
    Pdb(String, String),
}

fn is_pdb_name(n: &str) -> bool {
    n.to_ascii_lowercase().ends_with(".pdb")
}

impl Args {
    fn wanted(&self) -> anyhow::Result<Wanted> {
        let guid = self.guid.clone().or_else(|| self.positional_guid.clone());
        let file = self
            .filename
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned())
            .or_else(|| self.positional_file.clone());
        Ok(match (&self.pdb, file, guid) {
            (Some(n), None, Some(g)) => Wanted::Pdb(n.clone(), g),
            (None, Some(n), Some(g)) if is_pdb_name(&n) => Wanted::Pdb(n, g),
            (None, Some(f), Some(_)) => bail!(
                "--guid with {f}: with a GUID, give the PDB's name (ending in .pdb), not an executable"
            ),
            (None, Some(f), None) => Wanted::Executable(PathBuf::from(f)),
            (Some(_), Some(_), _) => {
                bail!("give --filename EXE_OR_DLL, or --pdb NAME with --guid GUID_AGE, not both")
            }
            (Some(n), None, None) => bail!("--pdb {n}: give its --guid GUID_AGE too"),
            _ => bail!("give --filename EXE_OR_DLL, or --pdb NAME with --guid GUID_AGE"),
        })
    }
}

/// Fetches with progress notes on stderr.
pub(crate) fn fetch_one(source: &SourceArgs, name: &str, id: &PdbId) -> anyhow::Result<Fetched> {
    let fetcher = Fetcher::new(source.options()?)?;
    let got = fetcher.fetch(name, id)?;
    let lines = got.describe(name, id);
    if let Some((last, failed)) = lines.split_last() {
        for f in failed {
            eprintln!("profc: warning: {f}");
        }
        eprintln!("profc: {last}");
    }
    Ok(got)
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let (name, id) = match args.wanted()? {
        Wanted::Executable(f) => {
            crate::cli::require_file(&f)?;
            profile_compiler::pe::pdb_key(&f)?
        }
        Wanted::Pdb(n, g) => {
            let id = PdbId::parse_key(&g).ok_or_else(|| {
                anyhow::anyhow!(
                    "--guid {g}: expected GUID_AGE (32 hex digits of GUID, then the age in hex)"
                )
            })?;
            (profile_compiler::codeview::pdb_basename(&n).to_owned(), id)
        }
    };
    let got = fetch_one(&args.source, &name, &id)?;
    let path = match &args.dump_dir {
        Some(dir) => fetch::copy_to_dir(&got.path, dir, &name, &id, args.overwrite)?,
        None => got.path,
    };
    outln!("{}", path.display())
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10"), Ok(10));
        assert_eq!(parse_size("2k"), Ok(2048));
        assert_eq!(parse_size("3M"), Ok(3 << 20));
        assert!(parse_size("x").is_err());
        assert!(parse_size("99999999999T").is_err());
    }
}
