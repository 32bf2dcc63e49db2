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
#[cfg(feature = "fetch")]
pub mod debuginfod;
pub mod verify;

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use crate::codeview::{PdbId, Rsds};
use crate::progress::Progress;
use crate::{Error, Result};

/// Runs `f`, turning a panic inside a third-party decoder into an error,
/// so that corrupt input never takes the process down with temporary files
/// around. The panic hook is left alone (swapping it would race with other
/// threads): the binary decides how a panic is reported.
pub(crate) fn contain<T>(format: &'static str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(Error::malformed(format, None, "the decoder failed on it")))
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
pub enum SymbolSource {
    /// An HTTP or HTTPS symbol server (base URL).
    Http(String),
    /// A symbol store on a file system (a local directory or a mounted
    /// share), in the same layout.
    Local(PathBuf),
}

impl fmt::Display for SymbolSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SymbolSource::Http(u) => f.write_str(u),
            SymbolSource::Local(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A parsed `_NT_SYMBOL_PATH`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SymbolPath {
    /// Sources, in search order.
    pub sources: Vec<SymbolSource>,
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
                    sp.sources.push(SymbolSource::Local(PathBuf::from(element)));
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
                    sp.sources.push(SymbolSource::Local(PathBuf::from(store)));
                }
            }
            if target.is_empty() {
                continue;
            }
            sp.sources.push(if is_url(target) {
                SymbolSource::Http(target.trim_end_matches('/').to_owned())
            } else {
                SymbolSource::Local(PathBuf::from(target))
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
    pub sources: Vec<SymbolSource>,
    /// The cache (a symbol store the results are written to).
    pub cache: PathBuf,
    /// Connect timeout, and the longest wait for any read.
    pub timeout: Duration,
    /// Retries after a transient failure (timeout, broken connection,
    /// HTTP 5xx, 408, 429), with exponential backoff.
    pub retries: u32,
    /// Largest download and largest decompressed PDB accepted.
    pub max_size: u64,
    /// Told about downloads (start, bytes received, retries, end); the
    /// binary draws a progress bar with it.
    pub progress: Option<Arc<dyn Progress>>,
}

impl FetchOptions {
    /// The options a user's environment asks for: the sources and cache of
    /// `$_NT_SYMBOL_PATH`, else Microsoft's public symbol server and
    /// [`default_cache`].
    pub fn from_env() -> Result<FetchOptions> {
        FetchOptions::resolve(&[], None, None)
    }

    /// Options from explicit servers (base URLs, tried first and in order),
    /// a `_NT_SYMBOL_PATH`-style path (default: `$_NT_SYMBOL_PATH` when no
    /// server is given) and a cache folder (default: the symbol path's
    /// first store, else [`default_cache`]). Without any source,
    /// Microsoft's public symbol server.
    pub fn resolve(
        servers: &[String],
        symbol_path: Option<&str>,
        cache: Option<PathBuf>,
    ) -> Result<FetchOptions> {
        let mut sources = Vec::new();
        for s in servers {
            if !is_url(s) {
                return Err(Error::input(s, "not an http(s) URL"));
            }
            sources.push(SymbolSource::Http(s.trim_end_matches('/').to_owned()));
        }
        let env;
        let path_text = match symbol_path {
            Some(p) => Some(p),
            None if servers.is_empty() => {
                env = std::env::var("_NT_SYMBOL_PATH").ok();
                env.as_deref()
            }
            None => None,
        };
        let sp = path_text.map(SymbolPath::parse).unwrap_or_default();
        sources.extend(sp.sources);
        if sources.is_empty() {
            sources.push(SymbolSource::Http(DEFAULT_SERVER.to_owned()));
        }
        let cache = cache.or(sp.cache).unwrap_or_else(default_cache);
        Ok(FetchOptions::new(sources, cache))
    }

    /// Options with defaults for everything but the sources and cache.
    pub fn new(sources: Vec<SymbolSource>, cache: PathBuf) -> Self {
        FetchOptions {
            sources,
            cache,
            timeout: DEFAULT_TIMEOUT,
            retries: DEFAULT_RETRIES,
            max_size: DEFAULT_MAX_SIZE,
            progress: None,
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

/// The attempts of a failed fetch, on one line.
pub(crate) fn render_attempts(a: &[Attempt]) -> String {
    a.iter()
        .map(|a| format!("{}: {}", a.source, a.cause))
        .collect::<Vec<_>>()
        .join("; ")
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::io(path, source)
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

impl Fetched {
    /// What happened, in lines for the user: the sources that failed, then
    /// where the PDB came from.
    pub fn describe(&self, name: &str, id: &PdbId) -> Vec<String> {
        let mut lines: Vec<String> = self
            .failed
            .iter()
            .map(|a| format!("{}: {}", a.source, a.cause))
            .collect();
        lines.push(if self.downloaded {
            format!(
                "{name} {id}: fetched from {} ({} bytes), verified",
                self.origin, self.size
            )
        } else {
            format!("{name} {id}: found in the cache, verified")
        });
        lines
    }
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

/// How one transfer (or one source) failed.
#[derive(Debug)]
enum Failure {
    /// Nothing at that address (HTTP 404/410, or no such file).
    Missing,
    /// Worth retrying (timeout, connection, 5xx...).
    #[cfg_attr(not(feature = "fetch"), allow(dead_code))]
    Transient(String),
    /// Not worth retrying; the source is given up.
    Fatal(String),
}

impl Failure {
    /// The cause with `what` in front (`NAME: cause`).
    fn about(self, what: &str) -> Failure {
        match self {
            Failure::Missing => Failure::Fatal(format!("{what}: not found")),
            Failure::Transient(e) | Failure::Fatal(e) => Failure::Fatal(format!("{what}: {e}")),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Missing => f.write_str("not found"),
            Failure::Transient(e) | Failure::Fatal(e) => f.write_str(e),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Fatal(e.to_string())
    }
}

/// The symbol-server client.
#[derive(Debug)]
pub struct Fetcher {
    opts: FetchOptions,
    #[cfg(feature = "fetch")]
    client: Option<reqwest::blocking::Client>,
}

impl Fetcher {
    /// A client for `opts`. Proxies are taken from `HTTPS_PROXY`,
    /// `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` (either case). Without the
    /// `fetch` feature, HTTP sources are refused here.
    pub fn new(opts: FetchOptions) -> Result<Fetcher> {
        if opts.sources.is_empty() {
            return Err(Error::NoSources);
        }
        let needs_http = opts
            .sources
            .iter()
            .any(|s| matches!(s, SymbolSource::Http(_)));
        #[cfg(feature = "fetch")]
        {
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
                    .map_err(|e| Error::Http(chain(&e)))?;
                Some(c)
            } else {
                None
            };
            Ok(Fetcher { opts, client })
        }
        #[cfg(not(feature = "fetch"))]
        {
            if needs_http {
                return Err(Error::Http(
                    "this build has no network support (the `fetch` feature)".into(),
                ));
            }
            Ok(Fetcher { opts })
        }
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
    pub fn fetch(&self, name: &str, id: &PdbId) -> Result<Fetched> {
        if !is_valid_pdb_name(name) {
            return Err(Error::BadPdbName(name.to_owned()));
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
                    cause: format!("cached file is unusable ({}), replacing it", cause_of(&e)),
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
                    cause: cause.to_string(),
                }),
            }
        }
        Err(Error::NotFound {
            name: name.to_owned(),
            key,
            attempts,
        })
    }

    /// Tries `NAME`, `NAM_` and `file.ptr` at one source.
    fn try_source(
        &self,
        source: &SymbolSource,
        name: &str,
        id: &PdbId,
        target: &Path,
    ) -> Result<u64, Failure> {
        let key = id.key();
        let packed = compressed_name(name);
        for (file, compressed) in [(name, false), (packed.as_str(), true)] {
            let mut tmp = self.temp()?;
            match self.transfer(source, &[name, &key, file], tmp.as_file_mut()) {
                Ok(_) => {
                    return self
                        .accept(tmp, compressed, name, id, target)
                        .map_err(|e| e.about(file))
                }
                Err(Failure::Missing) => continue,
                Err(e) => return Err(e.about(file)),
            }
        }
        // A redirection.
        let mut tmp = self.temp()?;
        match self.transfer(source, &[name, &key, "file.ptr"], tmp.as_file_mut()) {
            Ok(_) => {}
            Err(Failure::Missing) => {
                return Err(Failure::Fatal(
                    "not found (no PDB, no compressed PDB, no file.ptr)".into(),
                ))
            }
            Err(e) => return Err(e.about("file.ptr")),
        }
        let mut text = String::new();
        let f = tmp.as_file_mut();
        f.seek(SeekFrom::Start(0))
            .map_err(|e| Failure::Fatal(e.to_string()))?;
        f.take(64 * 1024)
            .read_to_string(&mut text)
            .map_err(|e| Failure::Fatal(format!("file.ptr is not text: {e}")))?;
        let text = text.trim();
        if let Some(msg) = text.strip_prefix("MSG:") {
            return Err(Failure::Fatal(format!("server says: {}", msg.trim())));
        }
        let Some(loc) = text.strip_prefix("PATH:").map(str::trim) else {
            return Err(Failure::Fatal(format!(
                "file.ptr is neither PATH: nor MSG: ({:?})",
                text.chars().take(80).collect::<String>()
            )));
        };
        // From an HTTP server only URLs are followed: a remote server must not
        // make us read local files.
        let redirect = if is_url(loc) {
            SymbolSource::Http(loc.to_owned())
        } else if matches!(source, SymbolSource::Local(_)) {
            SymbolSource::Local(PathBuf::from(loc))
        } else {
            return Err(Failure::Fatal(format!(
                "file.ptr -> {loc}: a server may only redirect to http(s) URLs"
            )));
        };
        let compressed = loc.ends_with('_');
        let mut tmp = self.temp()?;
        let what = format!("file.ptr -> {loc}");
        match self.transfer(&redirect, &[], tmp.as_file_mut()) {
            Ok(_) => self
                .accept(tmp, compressed, name, id, target)
                .map_err(|e| e.about(&what)),
            Err(e) => Err(e.about(&what)),
        }
    }

    fn temp(&self) -> Result<tempfile::NamedTempFile, Failure> {
        tempfile::Builder::new()
            .prefix(".profc-download-")
            .tempfile_in(&self.opts.cache)
            .map_err(|e| {
                Failure::Fatal(format!(
                    "cannot create a temporary file in {}: {e}",
                    self.opts.cache.display()
                ))
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
    ) -> Result<u64, Failure> {
        let fatal = |e: io::Error| Failure::Fatal(e.to_string());
        let mut head = [0u8; 4];
        let f = tmp.as_file_mut();
        f.seek(SeekFrom::Start(0)).map_err(fatal)?;
        let n = f.read(&mut head).map_err(fatal)?;
        let is_cab = cabinet::is_cab(&head[..n]);
        if compressed && !is_cab {
            return Err(Failure::Fatal("compressed file is not a CAB".into()));
        }
        let mut pdb = if is_cab {
            let mut out = self.temp()?;
            cabinet::extract(
                tmp.as_file_mut(),
                name,
                out.as_file_mut(),
                self.opts.max_size,
            )
            .map_err(|e| Failure::Fatal(cause_of(&e)))?;
            drop(tmp);
            out
        } else {
            tmp
        };
        pdb.as_file_mut().flush().map_err(fatal)?;
        let file = pdb.reopen().map_err(fatal)?;
        let got = verify::pdb_id_of(file).map_err(|e| Failure::Fatal(cause_of(&e)))?;
        if got != *id {
            return Err(Failure::Fatal(format!(
                "PDB rejected: its GUID_AGE is {got}, requested {id}"
            )));
        }
        let size = pdb.as_file().metadata().map_err(fatal)?.len();
        if let Some(dir) = target.parent() {
            fs::create_dir_all(dir)
                .map_err(|e| Failure::Fatal(format!("{}: {e}", dir.display())))?;
        }
        pdb.persist(target)
            .map_err(|e| Failure::Fatal(format!("{}: {}", target.display(), e.error)))?;
        Ok(size)
    }

    /// Copies `source/segs...` into `out`, with retries for HTTP.
    fn transfer(
        &self,
        source: &SymbolSource,
        segs: &[&str],
        out: &mut File,
    ) -> Result<u64, Failure> {
        match source {
            SymbolSource::Local(dir) => {
                let mut path = dir.clone();
                for s in segs {
                    path.push(s);
                }
                local_copy(&path, out, self.opts.max_size)
            }
            #[cfg(feature = "fetch")]
            SymbolSource::Http(base) => {
                let url = build_url(base, segs)?;
                let mut delay = BACKOFF_START;
                let mut attempt = 0u32;
                loop {
                    out.set_len(0)
                        .and_then(|_| out.seek(SeekFrom::Start(0)))
                        .map_err(|e| Failure::Fatal(e.to_string()))?;
                    match self.http_get(&url, out) {
                        Err(Failure::Transient(e)) if attempt < self.opts.retries => {
                            attempt += 1;
                            if let Some(p) = &self.opts.progress {
                                p.note(&format!(
                                    "{url}: {e}; retry {attempt}/{} in {delay:?}",
                                    self.opts.retries
                                ));
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
            #[cfg(not(feature = "fetch"))]
            SymbolSource::Http(_) => Err(Failure::Fatal(
                "this build has no network support (the `fetch` feature)".into(),
            )),
        }
    }

    #[cfg(feature = "fetch")]
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
        let name = url
            .path_segments()
            .and_then(|mut s| s.next_back())
            .unwrap_or("download")
            .to_owned();
        let progress = self.opts.progress.as_deref();
        if let Some(p) = progress {
            p.start(&name, expected);
        }
        let result = copy_body(&mut resp, out, max, self.opts.timeout, progress);
        if let Some(p) = progress {
            p.finish();
        }
        let total = result?;
        if let Some(len) = expected.filter(|&l| l != total) {
            return Err(Failure::Transient(format!(
                "transfer broken: got {total} of {len} bytes"
            )));
        }
        Ok(total)
    }
}

/// Copies a response body into `out`, refusing more than `max` bytes.
#[cfg(feature = "fetch")]
fn copy_body(
    resp: &mut impl Read,
    out: &mut File,
    max: u64,
    timeout: Duration,
    progress: Option<&dyn Progress>,
) -> Result<u64, Failure> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let k = match resp.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let timed_out = e.kind() == io::ErrorKind::TimedOut
                    || e.get_ref()
                        .and_then(|i| i.downcast_ref::<reqwest::Error>())
                        .is_some_and(|r| r.is_timeout());
                return Err(Failure::Transient(if timed_out {
                    format!("timed out after {total} bytes (no data for {timeout:?})")
                } else {
                    format!("transfer broken after {total} bytes: {}", io_chain(&e))
                }));
            }
        };
        total += k as u64;
        if total > max {
            return Err(Failure::Fatal(format!(
                "response exceeds the size cap of {max} bytes"
            )));
        }
        out.write_all(&buf[..k])
            .map_err(|e| Failure::Fatal(format!("writing the temporary file: {e}")))?;
        if let Some(p) = progress {
            p.advance(total);
        }
    }
}

/// An error's text without the file it names (the attempt names the source).
fn cause_of(e: &Error) -> String {
    match e {
        Error::Input { message, .. } | Error::Malformed { message, .. } => message.clone(),
        Error::Io { source, .. } => source.to_string(),
        other => other.to_string(),
    }
}

/// `base/seg/seg/...` with each segment percent-encoded.
#[cfg(feature = "fetch")]
fn build_url(base: &str, segs: &[&str]) -> Result<reqwest::Url, Failure> {
    let mut url =
        reqwest::Url::parse(base).map_err(|e| Failure::Fatal(format!("bad server URL: {e}")))?;
    if !segs.is_empty() {
        let mut p = url
            .path_segments_mut()
            .map_err(|_| Failure::Fatal("server URL cannot have a path".to_owned()))?;
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

#[cfg(feature = "fetch")]
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

#[cfg(feature = "fetch")]
fn io_chain(e: &io::Error) -> String {
    match e.get_ref() {
        Some(inner) => chain(inner),
        None => e.to_string(),
    }
}

#[cfg(feature = "fetch")]
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
) -> Result<PathBuf> {
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let dest = dir.join(name);
    if dest.exists() && !overwrite {
        if verify::pdb_id(&dest).is_ok_and(|got| got == *id) {
            return Ok(dest);
        }
        return Err(Error::io(
            dest,
            io::Error::new(
                io::ErrorKind::AlreadyExists,
                "exists and is a different file (use --overwrite)",
            ),
        ));
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(".profc-")
        .tempfile_in(dir)
        .map_err(io_err(dir))?;
    let mut src = File::open(cached).map_err(io_err(cached))?;
    io::copy(&mut src, tmp.as_file_mut()).map_err(io_err(&dest))?;
    tmp.persist(&dest).map_err(|e| Error::io(&dest, e.error))?;
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
                SymbolSource::Http("https://a.example/sym".into()),
                SymbolSource::Local("D:\\local".into()),
                SymbolSource::Http("https://b.example".into()),
            ]
        );
        let sp = SymbolPath::parse("SRV**http://x");
        assert_eq!(sp.cache, None);
        assert_eq!(sp.sources, vec![SymbolSource::Http("http://x".into())]);
        assert_eq!(SymbolPath::parse(" ; ;"), SymbolPath::default());
        let sp = SymbolPath::parse("symsrv*symsrv.dll*/c*/store");
        assert_eq!(sp.cache, Some(PathBuf::from("/c")));
        assert_eq!(sp.sources, vec![SymbolSource::Local("/store".into())]);
    }

    #[test]
    fn names_and_urls() {
        assert_eq!(compressed_name("ntkrnlmp.pdb"), "ntkrnlmp.pd_");
        assert!(!is_valid_pdb_name("../x.pdb"));
        assert!(!is_valid_pdb_name(".hidden.pdb"));
        #[cfg(feature = "fetch")]
        {
            let u = build_url("http://h/sym/", &["a b.pdb", "KEY", "a b.pdb"]).unwrap();
            assert_eq!(u.as_str(), "http://h/sym/a%20b.pdb/KEY/a%20b.pdb");
        }
    }
}
