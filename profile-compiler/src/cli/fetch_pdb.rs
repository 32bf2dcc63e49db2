//! `profc fetch_pdb`: download and verify a PDB from symbol servers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};

use crate::fetch::{self, FetchOptions, Fetched, Fetcher, PdbId, Source, SymbolPath};

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
        let mut sources: Vec<Source> = self
            .server
            .iter()
            .map(|s| Source::Http(s.trim_end_matches('/').to_owned()))
            .collect();
        for s in &self.server {
            if reqwest::Url::parse(s).map_or(true, |u| !matches!(u.scheme(), "http" | "https")) {
                bail!("--server {s}: not an http(s) URL");
            }
        }
        let path_text = match &self.symbol_path {
            Some(p) => Some(p.clone()),
            None if self.server.is_empty() => std::env::var("_NT_SYMBOL_PATH").ok(),
            None => None,
        };
        let sp = path_text
            .as_deref()
            .map(SymbolPath::parse)
            .unwrap_or_default();
        sources.extend(sp.sources);
        if sources.is_empty() {
            sources.push(Source::Http(fetch::DEFAULT_SERVER.to_owned()));
        }
        let cache = self
            .cache
            .clone()
            .or(sp.cache)
            .unwrap_or_else(fetch::default_cache);
        if !(self.timeout.is_finite() && self.timeout > 0.0 && self.timeout < 1e6) {
            bail!(
                "--timeout {}: must be a positive number of seconds",
                self.timeout
            );
        }
        let mut o = FetchOptions::new(sources, cache);
        o.timeout = Duration::from_secs_f64(self.timeout);
        o.retries = self.retries;
        o.max_size = self.max_size;
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
    /// An executable or DLL whose CodeView (RSDS) record names the PDB.
    #[arg(long, value_name = "EXE_OR_DLL", conflicts_with_all = ["pdb", "guid"], required_unless_present = "pdb")]
    pub filename: Option<PathBuf>,
    /// The PDB file name (with `--guid`).
    #[arg(long, alias = "pdb_filename", value_name = "NAME", requires = "guid")]
    pub pdb: Option<String>,
    /// The PDB's GUID_AGE (32 hex digits of GUID, then the age in hex).
    #[arg(long, value_name = "GUID_AGE", requires = "pdb")]
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

/// The PDB name and identity named by an executable's RSDS record.
pub(crate) fn key_from_executable(path: &Path) -> anyhow::Result<(String, PdbId)> {
    let data = std::fs::read(path).with_context(|| path.display().to_string())?;
    let rsds = fetch::pe::read_rsds(&data)
        .with_context(|| path.display().to_string())?
        .ok_or_else(|| anyhow::anyhow!("{}: has no CodeView RSDS debug record", path.display()))?;
    Ok((rsds.pdb_name().to_owned(), rsds.id))
}

/// Fetches with progress notes on stderr.
pub(crate) fn fetch_one(source: &SourceArgs, name: &str, id: &PdbId) -> anyhow::Result<Fetched> {
    let fetcher = Fetcher::new(source.options()?)?;
    let got = fetcher.fetch(name, id)?;
    for a in &got.failed {
        eprintln!("profc: warning: {}: {}", a.source, a.cause);
    }
    if got.downloaded {
        eprintln!(
            "profc: {name} {id}: fetched from {} ({} bytes), verified",
            got.origin, got.size
        );
    } else {
        eprintln!("profc: {name} {id}: found in the cache, verified");
    }
    Ok(got)
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let (name, id) = match (&args.filename, &args.pdb, &args.guid) {
        (Some(f), _, _) => key_from_executable(f)?,
        (None, Some(n), Some(g)) => {
            let id = PdbId::parse_key(g).ok_or_else(|| {
                anyhow::anyhow!(
                    "--guid {g}: expected GUID_AGE (32 hex digits of GUID, then the age in hex)"
                )
            })?;
            (fetch::codeview::pdb_basename(n).to_owned(), id)
        }
        _ => bail!("give --filename EXE_OR_DLL, or --pdb NAME with --guid GUID_AGE"),
    };
    let got = fetch_one(&args.source, &name, &id)?;
    let path = match &args.dump_dir {
        Some(dir) => fetch::copy_to_dir(&got.path, dir, &name, &id, args.overwrite)?,
        None => got.path,
    };
    println!("{}", path.display());
    Ok(())
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
