//! Symbol-server client: finds, downloads, verifies and caches PDBs.
//!
//! The protocol is Microsoft's symbol-store layout, over HTTP(S) or a local
//! directory: `NAME/KEY/NAME` (the PDB), `NAME/KEY/NAM_` (the PDB in a
//! cabinet, last letter of the extension replaced by `_`) and
//! `NAME/KEY/file.ptr` (a redirection: `PATH:<location>` or `MSG:<text>`),
//! where `KEY` is the `GUID_AGE` of [`PdbId::key`]. Sources are tried in
//! order; the first PDB whose GUID and age equal the request wins.
//!
//! Every download goes to a temporary file beside the cache and is renamed
//! into the cache (`CACHE/NAME/KEY/NAME`, the symbol-store layout, so a
//! Windows debugger can share it) only once verified. A later request for
//! the same PDB is served from the cache without any network access.

pub mod cabinet;
pub mod codeview;
pub mod pe;
pub mod verify;

use std::fmt;
use std::fs::{self, File};
use std::io::{self, IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use codeview::{PdbId, Rsds};

/// Runs `f`, turning a panic inside a third-party decoder into `Err(msg)`
/// (without printing the panic), so that corrupt input never takes the
/// process down with temporary files around.
pub(crate) fn contain<T>(msg: &str, f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(previous);
    result.unwrap_or_else(|_| Err(msg.to_owned()))
}

/// Microsoft's public symbol server, used when no source is configured.
pub const DEFAULT_SERVER: &str = "https://msdl.microsoft.com/download/symbols";

/// Default per-operation network timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default number of retries after a transient failure.
pub const DEFAULT_RETRIES: u32 = 3;
/// Default size cap of one download (and of a decompressed PDB): 2 GiB.
pub const DEFAULT_MAX_SIZE: u64 = 2 << 30;
/// First backoff delay; doubled after every retry, capped at 8 s.
pub const BACKOFF_START: Duration = Duration::from_millis(500);

/// Where PDBs are looked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An HTTP or HTTPS symbol server (base URL).
    Http(String),
    /// A symbol store on a file system (a local directory or a mounted
    /// share), in the same layout.
    Local(PathBuf),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Http(u) => f.write_str(u),
            Source::Local(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A parsed `_NT_SYMBOL_PATH`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SymbolPath {
    /// Sources, in search order.
    pub sources: Vec<Source>,
    /// The first downstream store named (`srv*CACHE*URL` or `cache*DIR`),
    /// used as the cache.
    pub cache: Option<PathBuf>,
}

fn is_url(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    l.starts_with("http://") || l.starts_with("https://")
}

impl SymbolPath {
    /// Parses a `_NT_SYMBOL_PATH`-style string: `;`-separated elements,
    /// each `srv*[STORE*]...*TARGET`, `symsrv*symsrv.dll*[STORE*]...*TARGET`,
    /// `cache*DIR`, or a plain directory (a symbol store). In a `srv*`
    /// element the stores before the target are downstream caches; the
    /// first one becomes the cache. Empty stores (`srv**URL`) mean the
    /// default cache.
    pub fn parse(text: &str) -> SymbolPath {
        let mut sp = SymbolPath::default();
        for element in text.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let parts: Vec<&str> = element.split('*').collect();
            let head = parts
                .first()
                .map(|p| p.to_ascii_lowercase())
                .unwrap_or_default();
            let rest: &[&str] = match head.as_str() {
                "srv" => &parts[1..],
                "symsrv" => parts.get(2..).unwrap_or(&[]),
                "cache" => {
                    if let Some(dir) = parts.get(1).filter(|d| !d.is_empty()) {
                        sp.cache.get_or_insert_with(|| PathBuf::from(dir));
                    }
                    continue;
                }
                _ => {
                    sp.sources.push(Source::Local(PathBuf::from(element)));
                    continue;
                }
            };
            let Some((target, stores)) = rest.split_last() else {
                continue;
            };
            for store in stores.iter().filter(|s| !s.is_empty()) {
                if sp.cache.is_none() {
                    sp.cache = Some(PathBuf::from(store));
                } else if sp.cache.as_deref() != Some(Path::new(store)) {
                    sp.sources.push(Source::Local(PathBuf::from(store)));
                }
            }
            if target.is_empty() {
                continue;
            }
            sp.sources.push(if is_url(target) {
                Source::Http(target.trim_end_matches('/').to_owned())
            } else {
                Source::Local(PathBuf::from(target))
            });
        }
        sp
    }
}

/// The default cache directory: `$PROFC_SYMBOL_CACHE`, else
/// `$XDG_CACHE_HOME/profc/symbols`, else `$HOME/.cache/profc/symbols`.
pub fn default_cache() -> PathBuf {
    if let Some(p) = std::env::var_os("PROFC_SYMBOL_CACHE").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME").filter(|p| !p.is_empty()) {
        return PathBuf::from(p).join("profc/symbols");
    }
    match std::env::var_os("HOME").filter(|p| !p.is_empty()) {
        Some(h) => PathBuf::from(h).join(".cache/profc/symbols"),
        None => std::env::temp_dir().join("profc-symbols"),
    }
}

/// Settings of a [`Fetcher`].
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Sources, tried in order.
    pub sources: Vec<Source>,
    /// The cache (a symbol store the results are written to).
    pub cache: PathBuf,
    /// Connect timeout, and the longest wait for any read.
    pub timeout: Duration,
    /// Retries after a transient failure (timeout, broken connection,
    /// HTTP 5xx, 408, 429), with exponential backoff.
    pub retries: u32,
    /// Largest download and largest decompressed PDB accepted.
    pub max_size: u64,
    /// Show a progress bar (only drawn when stderr is a terminal).
    pub progress: bool,
}

impl FetchOptions {
    /// Options with defaults for everything but the sources and cache.
    pub fn new(sources: Vec<Source>, cache: PathBuf) -> Self {
        FetchOptions {
            sources,
            cache,
            timeout: DEFAULT_TIMEOUT,
            retries: DEFAULT_RETRIES,
            max_size: DEFAULT_MAX_SIZE,
            progress: true,
        }
    }
}

/// One failed attempt at one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The source (server URL or directory).
    pub source: String,
    /// What went wrong.
    pub cause: String,
}

/// Errors of the symbol-server client.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The PDB name cannot be used as a file name.
    #[error("{0:?} is not a usable PDB file name")]
    BadName(String),
    /// No source is configured.
    #[error("no symbol source configured (use --server or --symbol-path)")]
    NoSources,
    /// A local file-system error in the cache or output directory.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The HTTP client could not be set up.
    #[error("HTTP client: {0}")]
    Client(String),
    /// Every source failed.
    #[error("cannot fetch {name} {key}: {}", render_attempts(.attempts))]
    NotFound {
        /// The PDB name.
        name: String,
        /// Its `GUID_AGE`.
        key: String,
        /// What each source said.
        attempts: Vec<Attempt>,
    },
}

fn render_attempts(a: &[Attempt]) -> String {
    a.iter()
        .map(|a| format!("{}: {}", a.source, a.cause))
        .collect::<Vec<_>>()
        .join("; ")
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A PDB found by [`Fetcher::fetch`].
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Its path in the cache.
    pub path: PathBuf,
    /// Where it came from: `cache`, a server URL or a directory.
    pub origin: String,
    /// Whether it was downloaded (or copied from a source) by this call.
    pub downloaded: bool,
    /// Its size in bytes.
    pub size: u64,
    /// Sources that failed before the one that succeeded, with causes.
    pub failed: Vec<Attempt>,
}

/// Whether `name` can be used as a PDB file name in URLs and paths.
pub fn is_valid_pdb_name(name: &str) -> bool {
    cabinet::is_safe_name(name) && name.len() <= 255 && !name.starts_with('.')
}

/// `NAM_` for `NAME`: the last character replaced by `_`.
pub fn compressed_name(name: &str) -> String {
    let mut s: String = name.to_owned();
    s.pop();
    s.push('_');
    s
}

/// How one transfer failed.
#[derive(Debug)]
enum Failure {
    /// Nothing at that address (HTTP 404/410, or no such file).
    Missing,
    /// Worth retrying (timeout, connection, 5xx...).
    Transient(String),
    /// Not worth retrying; the source is given up.
    Fatal(String),
}

/// The symbol-server client.
#[derive(Debug)]
pub struct Fetcher {
    opts: FetchOptions,
    client: Option<reqwest::blocking::Client>,
}

impl Fetcher {
    /// A client for `opts`. Proxies are taken from `HTTPS_PROXY`,
    /// `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` (either case).
    pub fn new(opts: FetchOptions) -> Result<Fetcher, FetchError> {
        if opts.sources.is_empty() {
            return Err(FetchError::NoSources);
        }
        let needs_http = opts.sources.iter().any(|s| matches!(s, Source::Http(_)));
        let client = if needs_http {
            let c = reqwest::blocking::Client::builder()
                .user_agent(concat!(
                    "profc/",
                    env!("CARGO_PKG_VERSION"),
                    " (Microsoft-Symbol-Server compatible)"
                ))
                .connect_timeout(opts.timeout)
                // In the blocking client this bounds every wait: the
                // response head and each read of the body.
                .timeout(opts.timeout)
                .redirect(reqwest::redirect::Policy::limited(5))
                .build()
                .map_err(|e| FetchError::Client(chain(&e)))?;
            Some(c)
        } else {
            None
        };
        Ok(Fetcher { opts, client })
    }

    /// The options in force.
    pub fn options(&self) -> &FetchOptions {
        &self.opts
    }

    /// The cache path of `name` with identity `id`.
    pub fn cache_path(&self, name: &str, id: &PdbId) -> PathBuf {
        self.opts.cache.join(name).join(id.key()).join(name)
    }

    /// Finds the PDB `name` with identity `id`: from the cache if it is
    /// there and verifies, else from the sources in order. The result is
    /// always a verified file in the cache.
    pub fn fetch(&self, name: &str, id: &PdbId) -> Result<Fetched, FetchError> {
        if !is_valid_pdb_name(name) {
            return Err(FetchError::BadName(name.to_owned()));
        }
        let key = id.key();
        let target = self.cache_path(name, id);
        let mut attempts = Vec::new();
        if target.is_file() {
            match verify::pdb_id(&target) {
                Ok(got) if got == *id => {
                    let size = fs::metadata(&target).map_err(io_err(&target))?.len();
                    return Ok(Fetched {
                        path: target,
                        origin: "cache".into(),
                        downloaded: false,
                        size,
                        failed: attempts,
                    });
                }
                Ok(got) => attempts.push(Attempt {
                    source: format!("cache {}", self.opts.cache.display()),
                    cause: format!("cached file has GUID_AGE {got}, replacing it"),
                }),
                Err(e) => attempts.push(Attempt {
                    source: format!("cache {}", self.opts.cache.display()),
                    cause: format!("cached file is unusable ({e}), replacing it"),
                }),
            }
        }
        fs::create_dir_all(&self.opts.cache).map_err(io_err(&self.opts.cache))?;
        for source in &self.opts.sources {
            match self.try_source(source, name, id, &target) {
                Ok(size) => {
                    return Ok(Fetched {
                        path: target,
                        origin: source.to_string(),
                        downloaded: true,
                        size,
                        failed: attempts,
                    });
                }
                Err(cause) => attempts.push(Attempt {
                    source: source.to_string(),
                    cause,
                }),
            }
        }
        Err(FetchError::NotFound {
            name: name.to_owned(),
            key,
            attempts,
        })
    }

    /// Tries `NAME`, `NAM_` and `file.ptr` at one source.
    fn try_source(
        &self,
        source: &Source,
        name: &str,
        id: &PdbId,
        target: &Path,
    ) -> Result<u64, String> {
        let key = id.key();
        let packed = compressed_name(name);
        for (file, compressed) in [(name, false), (packed.as_str(), true)] {
            let mut tmp = self.temp()?;
            match self.transfer(source, &[name, &key, file], tmp.as_file_mut()) {
                Ok(_) => {
                    return self
                        .accept(tmp, compressed, name, id, target)
                        .map_err(|e| format!("{file}: {e}"))
                }
                Err(Failure::Missing) => continue,
                Err(Failure::Transient(e) | Failure::Fatal(e)) => {
                    return Err(format!("{file}: {e}"))
                }
            }
        }
        // A redirection.
        let mut tmp = self.temp()?;
        match self.transfer(source, &[name, &key, "file.ptr"], tmp.as_file_mut()) {
            Ok(_) => {}
            Err(Failure::Missing) => {
                return Err("not found (no PDB, no compressed PDB, no file.ptr)".into())
            }
            Err(Failure::Transient(e) | Failure::Fatal(e)) => return Err(format!("file.ptr: {e}")),
        }
        let mut text = String::new();
        let f = tmp.as_file_mut();
        f.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
        f.take(64 * 1024)
            .read_to_string(&mut text)
            .map_err(|e| format!("file.ptr is not text: {e}"))?;
        let text = text.trim();
        if let Some(msg) = text.strip_prefix("MSG:") {
            return Err(format!("server says: {}", msg.trim()));
        }
        let Some(loc) = text.strip_prefix("PATH:").map(str::trim) else {
            return Err(format!(
                "file.ptr is neither PATH: nor MSG: ({:?})",
                text.chars().take(80).collect::<String>()
            ));
        };
        // From an HTTP server only URLs are followed: a remote server must not
        // make us read local files.
        let redirect = if is_url(loc) {
            Source::Http(loc.to_owned())
        } else if matches!(source, Source::Local(_)) {
            Source::Local(PathBuf::from(loc))
        } else {
            return Err(format!(
                "file.ptr -> {loc}: a server may only redirect to http(s) URLs"
            ));
        };
        let compressed = loc.ends_with('_');
        let mut tmp = self.temp()?;
        match self.transfer(&redirect, &[], tmp.as_file_mut()) {
            Ok(_) => self
                .accept(tmp, compressed, name, id, target)
                .map_err(|e| format!("file.ptr -> {loc}: {e}")),
            Err(Failure::Missing) => Err(format!("file.ptr -> {loc}: not found")),
            Err(Failure::Transient(e) | Failure::Fatal(e)) => {
                Err(format!("file.ptr -> {loc}: {e}"))
            }
        }
    }

    fn temp(&self) -> Result<tempfile::NamedTempFile, String> {
        tempfile::Builder::new()
            .prefix(".profc-download-")
            .tempfile_in(&self.opts.cache)
            .map_err(|e| {
                format!(
                    "cannot create a temporary file in {}: {e}",
                    self.opts.cache.display()
                )
            })
    }

    /// Decompresses if needed, verifies, and renames into the cache.
    fn accept(
        &self,
        mut tmp: tempfile::NamedTempFile,
        compressed: bool,
        name: &str,
        id: &PdbId,
        target: &Path,
    ) -> Result<u64, String> {
        let mut head = [0u8; 4];
        let f = tmp.as_file_mut();
        f.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
        let n = f.read(&mut head).map_err(|e| e.to_string())?;
        let is_cab = cabinet::is_cab(&head[..n]);
        if compressed && !is_cab {
            return Err("compressed file is not a CAB".into());
        }
        let mut pdb = if is_cab {
            let mut out = self.temp()?;
            cabinet::extract(
                tmp.as_file_mut(),
                name,
                out.as_file_mut(),
                self.opts.max_size,
            )?;
            drop(tmp);
            out
        } else {
            tmp
        };
        pdb.as_file_mut().flush().map_err(|e| e.to_string())?;
        let file = pdb.reopen().map_err(|e| e.to_string())?;
        let got = verify::pdb_id_of(file)?;
        if got != *id {
            return Err(format!(
                "PDB rejected: its GUID_AGE is {got}, requested {id}"
            ));
        }
        let size = pdb.as_file().metadata().map_err(|e| e.to_string())?.len();
        if let Some(dir) = target.parent() {
            fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        pdb.persist(target)
            .map_err(|e| format!("{}: {}", target.display(), e.error))?;
        Ok(size)
    }

    /// Copies `source/segs...` into `out`, with retries for HTTP.
    fn transfer(&self, source: &Source, segs: &[&str], out: &mut File) -> Result<u64, Failure> {
        match source {
            Source::Local(dir) => {
                let mut path = dir.clone();
                for s in segs {
                    path.push(s);
                }
                local_copy(&path, out, self.opts.max_size)
            }
            Source::Http(base) => {
                let url = build_url(base, segs).map_err(Failure::Fatal)?;
                let mut delay = BACKOFF_START;
                let mut attempt = 0u32;
                loop {
                    out.set_len(0)
                        .and_then(|_| out.seek(SeekFrom::Start(0)))
                        .map_err(|e| Failure::Fatal(e.to_string()))?;
                    match self.http_get(&url, out) {
                        Err(Failure::Transient(e)) if attempt < self.opts.retries => {
                            attempt += 1;
                            if self.opts.progress && io::stderr().is_terminal() {
                                eprintln!(
                                    "profc: {url}: {e}; retry {attempt}/{} in {delay:?}",
                                    self.opts.retries
                                );
                            }
                            std::thread::sleep(delay);
                            delay = (delay * 2).min(Duration::from_secs(8));
                        }
                        Err(Failure::Transient(e)) if attempt > 0 => {
                            return Err(Failure::Transient(format!(
                                "{e} (after {} attempts)",
                                attempt + 1
                            )));
                        }
                        other => return other,
                    }
                }
            }
        }
    }

    fn http_get(&self, url: &reqwest::Url, out: &mut File) -> Result<u64, Failure> {
        let Some(client) = &self.client else {
            return Err(Failure::Fatal("no HTTP client".into()));
        };
        let mut resp = client
            .get(url.clone())
            .send()
            .map_err(|e| classify(&e, self.opts.timeout))?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE {
            return Err(Failure::Missing);
        }
        if !status.is_success() {
            let msg = format!("HTTP {status}");
            return Err(
                if status.is_server_error()
                    || status == reqwest::StatusCode::REQUEST_TIMEOUT
                    || status == reqwest::StatusCode::TOO_MANY_REQUESTS
                {
                    Failure::Transient(msg)
                } else {
                    Failure::Fatal(msg)
                },
            );
        }
        let max = self.opts.max_size;
        let expected = resp.content_length();
        if let Some(len) = expected.filter(|&l| l > max) {
            return Err(Failure::Fatal(format!(
                "response is {len} bytes, over the size cap of {max}"
            )));
        }
        let bar = self.progress_bar(expected, url);
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            let k = match resp.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    bar.abandon();
                    let timed_out = e.kind() == io::ErrorKind::TimedOut
                        || e.get_ref()
                            .and_then(|i| i.downcast_ref::<reqwest::Error>())
                            .is_some_and(|r| r.is_timeout());
                    return Err(Failure::Transient(if timed_out {
                        format!(
                            "timed out after {total} bytes (no data for {:?})",
                            self.opts.timeout
                        )
                    } else {
                        format!("transfer broken after {total} bytes: {}", io_chain(&e))
                    }));
                }
            };
            total += k as u64;
            if total > max {
                bar.abandon();
                return Err(Failure::Fatal(format!(
                    "response exceeds the size cap of {max} bytes"
                )));
            }
            out.write_all(&buf[..k])
                .map_err(|e| Failure::Fatal(format!("writing the temporary file: {e}")))?;
            bar.set_position(total);
        }
        bar.finish_and_clear();
        if let Some(len) = expected.filter(|&l| l != total) {
            return Err(Failure::Transient(format!(
                "transfer broken: got {total} of {len} bytes"
            )));
        }
        Ok(total)
    }

    fn progress_bar(&self, len: Option<u64>, url: &reqwest::Url) -> indicatif::ProgressBar {
        if !self.opts.progress || !io::stderr().is_terminal() {
            return indicatif::ProgressBar::hidden();
        }
        let bar =
            indicatif::ProgressBar::with_draw_target(len, indicatif::ProgressDrawTarget::stderr());
        let style = indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        )
        .map(|s| s.progress_chars("=> "));
        if let Ok(style) = style {
            bar.set_style(style);
        }
        let name = url
            .path_segments()
            .and_then(|mut s| s.next_back())
            .unwrap_or("download")
            .to_owned();
        bar.set_message(name);
        bar
    }
}

/// `base/seg/seg/...` with each segment percent-encoded.
fn build_url(base: &str, segs: &[&str]) -> Result<reqwest::Url, String> {
    let mut url = reqwest::Url::parse(base).map_err(|e| format!("bad server URL: {e}"))?;
    if !segs.is_empty() {
        let mut p = url
            .path_segments_mut()
            .map_err(|_| "server URL cannot have a path".to_owned())?;
        p.pop_if_empty();
        p.extend(segs);
    }
    Ok(url)
}

fn local_copy(path: &Path, out: &mut File, max: u64) -> Result<u64, Failure> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Failure::Missing),
        Err(e) => return Err(Failure::Fatal(format!("{}: {e}", path.display()))),
    };
    let len = f
        .metadata()
        .map_err(|e| Failure::Fatal(e.to_string()))?
        .len();
    if len > max {
        return Err(Failure::Fatal(format!(
            "{} is {len} bytes, over the size cap of {max}",
            path.display()
        )));
    }
    io::copy(&mut (&mut f).take(max), out)
        .map_err(|e| Failure::Fatal(format!("{}: {e}", path.display())))
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = c.source();
    }
    parts.join(": ")
}

fn io_chain(e: &io::Error) -> String {
    match e.get_ref() {
        Some(inner) => chain(inner),
        None => e.to_string(),
    }
}

fn classify(e: &reqwest::Error, timeout: Duration) -> Failure {
    // The URL is already named by the caller: describe the error by its
    // kind and its causes.
    let what = if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "transfer broken"
    } else if e.is_redirect() {
        "bad redirect"
    } else {
        "request failed"
    };
    let msg = match std::error::Error::source(e) {
        Some(cause) => format!("{what}: {}", chain(cause)),
        None => what.to_owned(),
    };
    if e.is_timeout() {
        Failure::Transient(format!("timed out (no response within {timeout:?})"))
    } else if e.is_connect() || e.is_request() || e.is_body() {
        Failure::Transient(msg)
    } else {
        Failure::Fatal(msg)
    }
}

/// Copies the cached PDB to `dir/NAME` atomically (temporary file and
/// rename). An existing file is kept if it is the same PDB, and replaced
/// only with `overwrite`.
pub fn copy_to_dir(
    cached: &Path,
    dir: &Path,
    name: &str,
    id: &PdbId,
    overwrite: bool,
) -> Result<PathBuf, FetchError> {
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let dest = dir.join(name);
    if dest.exists() && !overwrite {
        if verify::pdb_id(&dest).is_ok_and(|got| got == *id) {
            return Ok(dest);
        }
        return Err(FetchError::Io {
            path: dest,
            source: io::Error::new(
                io::ErrorKind::AlreadyExists,
                "exists and is a different file (use --overwrite)",
            ),
        });
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(".profc-")
        .tempfile_in(dir)
        .map_err(io_err(dir))?;
    let mut src = File::open(cached).map_err(io_err(cached))?;
    io::copy(&mut src, tmp.as_file_mut()).map_err(io_err(&dest))?;
    tmp.persist(&dest).map_err(|e| FetchError::Io {
        path: dest.clone(),
        source: e.error,
    })?;
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbol_path() {
        let sp = SymbolPath::parse(
            "srv*C:\\sym*https://a.example/sym/;D:\\local;cache*E:\\c;srv*https://b.example",
        );
        assert_eq!(sp.cache, Some(PathBuf::from("C:\\sym")));
        assert_eq!(
            sp.sources,
            vec![
                Source::Http("https://a.example/sym".into()),
                Source::Local("D:\\local".into()),
                Source::Http("https://b.example".into()),
            ]
        );
        let sp = SymbolPath::parse("SRV**http://x");
        assert_eq!(sp.cache, None);
        assert_eq!(sp.sources, vec![Source::Http("http://x".into())]);
        assert_eq!(SymbolPath::parse(" ; ;"), SymbolPath::default());
        let sp = SymbolPath::parse("symsrv*symsrv.dll*/c*/store");
        assert_eq!(sp.cache, Some(PathBuf::from("/c")));
        assert_eq!(sp.sources, vec![Source::Local("/store".into())]);
    }

    #[test]
    fn names_and_urls() {
        assert_eq!(compressed_name("ntkrnlmp.pdb"), "ntkrnlmp.pd_");
        assert!(!is_valid_pdb_name("../x.pdb"));
        assert!(!is_valid_pdb_name(".hidden.pdb"));
        let u = build_url("http://h/sym/", &["a b.pdb", "KEY", "a b.pdb"]).unwrap();
        assert_eq!(u.as_str(), "http://h/sym/a%20b.pdb/KEY/a%20b.pdb");
    }
}
