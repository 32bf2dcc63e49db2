//! debuginfod client: ELF debug files and executables by GNU build-id.
//!
//! debuginfod (elfutils) serves `GET SERVER/buildid/ID/debuginfo` (the
//! separate debug file) and `GET SERVER/buildid/ID/executable` (the
//! executable), `ID` being the build-id in lowercase hexadecimal. Debian,
//! Ubuntu, Fedora, Arch and others run public servers; the Linux kernel
//! writes its build-id into VMCOREINFO, so a memory image names the
//! vmlinux it needs.
//!
//! This client follows elfutils' `debuginfod-client.c` in what other tools
//! share with it:
//!
//! - servers: `$DEBUGINFOD_URLS`, space-separated; duplicates dropped;
//!   `http://`, `https://` and `file://` (a directory laid out like a
//!   server). They are tried one after the other, in order (elfutils asks
//!   all at once and takes the first to answer; the first server that has
//!   the file wins either way).
//! - cache: `$DEBUGINFOD_CACHE_PATH`, else `$HOME/.debuginfod_client_cache`
//!   if it exists (elfutils' legacy place), else
//!   `$XDG_CACHE_HOME/debuginfod_client`, else
//!   `$HOME/.cache/debuginfod_client`; a file lives at `CACHE/ID/debuginfo`
//!   or `CACHE/ID/executable`, read-only (0400) in a 0700 directory, so
//!   that elfutils' tools, gdb and drgn find what this client fetched and
//!   the other way round. An empty file there (elfutils' record of a
//!   failed query) is not taken as an answer: the servers are asked again.
//! - `DEBUGINFOD_TIMEOUT` (seconds, default 90; 0 for none): connecting,
//!   and every wait for data, are bounded by it, and a transfer that gets
//!   fewer than 100 KiB in that many seconds is abandoned, as with curl's
//!   low-speed limit elfutils sets.
//! - `DEBUGINFOD_MAXTIME` (seconds, default none): the longest a query
//!   may take, all servers and retries included (checked between reads, so
//!   it may be overshot by at most the timeout).
//! - `DEBUGINFOD_MAXSIZE` (bytes): the largest file accepted; also sent as
//!   `X-DEBUGINFOD-MAXSIZE`, to which a server answers 406 if the file is
//!   larger. Default here [`DEFAULT_MAX_SIZE`] (elfutils has none).
//! - `DEBUGINFOD_RETRY_LIMIT` (default 2): retries of a server after a
//!   failure other than "not found" (network error, timeout, HTTP 5xx, 408,
//!   429), here with exponential back-off from [`BACKOFF_START`].
//! - `DEBUGINFOD_HEADERS_FILE`: extra `Name: value` request headers, one a
//!   line.
//!
//! What this client adds: what arrives is verified before it enters the
//! cache. It must be an ELF file whose GNU build-id note is the one asked
//! for; anything else is rejected and the next server asked, so the cache
//! is never poisoned. A download goes to a temporary file beside its place
//! in the cache (`ID/debuginfo.XXXXXX`) and is renamed into place only when
//! whole and verified; a failed or interrupted one leaves nothing behind.
//! A file found in the cache is verified too, and replaced if it is wrong.
//! A build-id that no server has gives [`DebuginfodError::NotFound`],
//! listing each server and its answer.
//!
//! Nothing here prints: progress goes to a callback.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// Default of `DEBUGINFOD_TIMEOUT`, as in elfutils: 90 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(90);
/// Default of `DEBUGINFOD_RETRY_LIMIT`, as in elfutils.
pub const DEFAULT_RETRY_LIMIT: u32 = 2;
/// Size cap when `DEBUGINFOD_MAXSIZE` is not set: 8 GiB (the largest
/// kernel debug files are under 1 GiB).
pub const DEFAULT_MAX_SIZE: u64 = 8 << 30;
/// The least a transfer must receive per timeout period: 100 KiB, as
/// elfutils asks of curl.
pub const LOW_SPEED_LIMIT: u64 = 100 * 1024;
/// First back-off delay; doubled after every retry, capped at
/// [`BACKOFF_MAX`].
pub const BACKOFF_START: Duration = Duration::from_millis(500);
/// Longest back-off delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(8);
/// Longest build-id accepted, in bytes (elfutils' `MAX_BUILD_ID_BYTES`).
pub const MAX_BUILD_ID_BYTES: usize = 64;
/// Largest `DEBUGINFOD_HEADERS_FILE` read: 64 KiB.
pub const MAX_HEADERS_FILE: u64 = 64 << 10;

/// A GNU build-id (the bytes of an `NT_GNU_BUILD_ID` note).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BuildId(Vec<u8>);

impl BuildId {
    /// A build-id from its bytes (1 to [`MAX_BUILD_ID_BYTES`] of them).
    pub fn from_bytes(bytes: &[u8]) -> Result<BuildId, DebuginfodError> {
        if bytes.is_empty() || bytes.len() > MAX_BUILD_ID_BYTES {
            return Err(DebuginfodError::BadBuildId(format!(
                "{} bytes (a build-id has 1 to {MAX_BUILD_ID_BYTES})",
                bytes.len()
            )));
        }
        Ok(BuildId(bytes.to_vec()))
    }

    /// A build-id from hexadecimal (either case, an even number of digits).
    pub fn from_hex(text: &str) -> Result<BuildId, DebuginfodError> {
        let t = text.trim();
        if !t.len().is_multiple_of(2) || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(DebuginfodError::BadBuildId(format!(
                "{t:?} is not an even number of hexadecimal digits"
            )));
        }
        let bytes: Vec<u8> = (0..t.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&t[i..i + 2], 16).unwrap_or(0))
            .collect();
        BuildId::from_bytes(&bytes)
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Lowercase hexadecimal, as in URLs and cache paths.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Display for BuildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl std::str::FromStr for BuildId {
    type Err = DebuginfodError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BuildId::from_hex(s)
    }
}

/// What is asked of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Artifact {
    /// The separate debug file (`.../debuginfo`).
    Debuginfo,
    /// The executable, or module, itself (`.../executable`).
    Executable,
}

impl Artifact {
    /// Its name in URLs and in the cache.
    pub fn name(self) -> &'static str {
        match self {
            Artifact::Debuginfo => "debuginfo",
            Artifact::Executable => "executable",
        }
    }
}

impl fmt::Display for Artifact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Settings of a [`Client`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Server base URLs, tried in order (`http(s)://HOST[/PATH]` or
    /// `file:///DIR`).
    pub servers: Vec<String>,
    /// The cache directory (shared with elfutils, gdb, drgn).
    pub cache: PathBuf,
    /// Also copy the file here (written to a temporary file in the same
    /// directory and renamed).
    pub output: Option<PathBuf>,
    /// Connect timeout, longest wait for data, and the low-speed period
    /// (see the module documentation); `None` for no limit.
    pub timeout: Option<Duration>,
    /// Longest a whole query may take.
    pub max_time: Option<Duration>,
    /// Largest file accepted.
    pub max_size: u64,
    /// Retries of a server after a transient failure.
    pub retries: u32,
    /// First back-off delay before a retry.
    pub backoff: Duration,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
}

impl Options {
    /// Options with elfutils' defaults for everything but the servers and
    /// the cache.
    pub fn new(servers: Vec<String>, cache: PathBuf) -> Options {
        Options {
            servers,
            cache,
            output: None,
            timeout: Some(DEFAULT_TIMEOUT),
            max_time: None,
            max_size: DEFAULT_MAX_SIZE,
            retries: DEFAULT_RETRY_LIMIT,
            backoff: BACKOFF_START,
            headers: Vec::new(),
        }
    }

    /// Options from the environment, as elfutils reads it: servers from
    /// `DEBUGINFOD_URLS`, the cache from [`default_cache`],
    /// `DEBUGINFOD_TIMEOUT`, `DEBUGINFOD_MAXTIME`, `DEBUGINFOD_MAXSIZE`,
    /// `DEBUGINFOD_RETRY_LIMIT`, `DEBUGINFOD_HEADERS_FILE`. A variable that
    /// is set but not a number is an error (elfutils would read it as 0).
    pub fn from_env() -> Result<Options, DebuginfodError> {
        let mut o = Options::new(servers_from_env(), default_cache());
        if let Some(t) = env_number("DEBUGINFOD_TIMEOUT")? {
            o.timeout = (t > 0).then(|| Duration::from_secs(t));
        }
        if let Some(t) = env_number("DEBUGINFOD_MAXTIME")? {
            o.max_time = (t > 0).then(|| Duration::from_secs(t));
        }
        if let Some(s) = env_number("DEBUGINFOD_MAXSIZE")? {
            if s > 0 {
                o.max_size = s;
            }
        }
        if let Some(r) = env_number("DEBUGINFOD_RETRY_LIMIT")? {
            o.retries = u32::try_from(r).unwrap_or(u32::MAX);
        }
        if let Some(p) = std::env::var_os("DEBUGINFOD_HEADERS_FILE").filter(|p| !p.is_empty()) {
            o.headers = read_headers_file(Path::new(&p))?;
        }
        Ok(o)
    }
}

fn env_number(var: &'static str) -> Result<Option<u64>, DebuginfodError> {
    let Some(v) = std::env::var_os(var) else {
        return Ok(None);
    };
    let s = v.to_string_lossy();
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    if let Some(neg) = t.strip_prefix('-') {
        if neg.parse::<u64>().is_ok() {
            return Ok(Some(0));
        }
    }
    t.parse::<u64>()
        .map(Some)
        .map_err(|_| DebuginfodError::Env {
            var,
            value: s.into_owned(),
            message: "not a whole number".into(),
        })
}

/// Reads `Name: value` lines (blank lines and lines without a colon are
/// skipped, as elfutils does).
pub fn read_headers_file(path: &Path) -> Result<Vec<(String, String)>, DebuginfodError> {
    let f = File::open(path).map_err(io_err(path))?;
    let mut text = String::new();
    f.take(MAX_HEADERS_FILE)
        .read_to_string(&mut text)
        .map_err(io_err(path))?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            let k = k.trim();
            (!k.is_empty() && k.bytes().all(|b| b.is_ascii_graphic()))
                .then(|| (k.to_owned(), v.trim().to_owned()))
        })
        .collect())
}

/// The servers of `$DEBUGINFOD_URLS` (whitespace-separated), in order.
/// Words that are not URLs (newer elfutils' `ima:` policy words) are
/// skipped.
pub fn servers_from_env() -> Vec<String> {
    let v = std::env::var("DEBUGINFOD_URLS").unwrap_or_default();
    parse_urls(&v)
}

/// Splits a `DEBUGINFOD_URLS` value into server URLs.
pub fn parse_urls(value: &str) -> Vec<String> {
    value
        .split_ascii_whitespace()
        .filter(|w| !w.starts_with("ima:"))
        .map(str::to_owned)
        .collect()
}

/// The client cache elfutils uses: `$DEBUGINFOD_CACHE_PATH`, else
/// `$HOME/.debuginfod_client_cache` if it exists, else
/// `$XDG_CACHE_HOME/debuginfod_client`, else
/// `$HOME/.cache/debuginfod_client`.
pub fn default_cache() -> PathBuf {
    if let Some(p) = std::env::var_os("DEBUGINFOD_CACHE_PATH").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"));
    let legacy = home.join(".debuginfod_client_cache");
    if legacy.exists() {
        return legacy;
    }
    match std::env::var_os("XDG_CACHE_HOME").filter(|p| !p.is_empty()) {
        Some(x) => PathBuf::from(x).join("debuginfod_client"),
        None => home.join(".cache/debuginfod_client"),
    }
}

/// What a server answered to one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// It does not have the file (HTTP 404 or 410; no such file for
    /// `file://`).
    NotFound {
        /// The HTTP status, if any.
        status: Option<u16>,
    },
    /// Another HTTP status (after the retries, for a transient one).
    Status {
        /// The status code.
        status: u16,
        /// Its reason phrase.
        reason: String,
    },
    /// The file is larger than the cap (by its length, by what arrived, or
    /// by the server's 406 answer to `X-DEBUGINFOD-MAXSIZE`).
    TooLarge {
        /// Its size, if known.
        size: Option<u64>,
        /// The cap.
        cap: u64,
    },
    /// A network failure: cannot connect, connection broken, timed out,
    /// too slow.
    Network(String),
    /// What arrived is not the file asked for (not ELF, no or another
    /// build-id); it was discarded.
    Rejected(String),
    /// The server URL cannot be used.
    BadUrl(String),
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Answer::NotFound { status: Some(s) } => write!(f, "HTTP {s} (not found)"),
            Answer::NotFound { status: None } => f.write_str("not found"),
            Answer::Status { status, reason } => write!(f, "HTTP {status} {reason}"),
            Answer::TooLarge { size: Some(s), cap } => {
                write!(f, "file of {s} bytes is over the size cap of {cap}")
            }
            Answer::TooLarge { size: None, cap } => {
                write!(f, "file is over the size cap of {cap} bytes")
            }
            Answer::Network(m) => f.write_str(m),
            Answer::Rejected(m) => write!(f, "rejected: {m}"),
            Answer::BadUrl(m) => write!(f, "bad server URL: {m}"),
        }
    }
}

/// One server's failed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The server (as configured), or `cache`.
    pub server: String,
    /// Its last answer.
    pub answer: Answer,
    /// How many requests were made to it.
    pub tries: u32,
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.server, self.answer)?;
        if self.tries > 1 {
            write!(f, " (after {} tries)", self.tries)?;
        }
        Ok(())
    }
}

/// Errors of the debuginfod client.
#[derive(Debug, thiserror::Error)]
pub enum DebuginfodError {
    /// The build-id is malformed.
    #[error("bad build-id: {0}")]
    BadBuildId(String),
    /// No server is configured and the cache does not have the file.
    #[error("no debuginfod server configured (set DEBUGINFOD_URLS or give --server)")]
    NoServers,
    /// An environment variable is malformed.
    #[error("${var}={value:?}: {message}")]
    Env {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        message: String,
    },
    /// A local file-system error (cache, output, headers file).
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
    /// No server has the file.
    #[error("no server has the {artifact} of build-id {build_id}: {}", render(.attempts))]
    NotFound {
        /// The build-id.
        build_id: BuildId,
        /// What was asked for.
        artifact: Artifact,
        /// Each server and its answer, in the order asked.
        attempts: Vec<Attempt>,
    },
}

fn render(a: &[Attempt]) -> String {
    if a.is_empty() {
        return "no server was asked".into();
    }
    a.iter()
        .map(Attempt::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<DebuginfodError> for crate::Error {
    fn from(e: DebuginfodError) -> Self {
        match e {
            DebuginfodError::Io { path, source } => crate::Error::Io { path, source },
            DebuginfodError::NotFound { ref build_id, .. } => crate::Error::Input {
                path: PathBuf::from(format!("build-id {build_id}")),
                message: e.to_string(),
            },
            other => crate::Error::Input {
                path: PathBuf::from("debuginfod"),
                message: other.to_string(),
            },
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> DebuginfodError + '_ {
    move |source| DebuginfodError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Where a fetched file came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Already in the cache.
    Cache,
    /// Downloaded from this URL.
    Server(String),
}

/// A file found by [`Client::fetch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// Its path in the cache.
    pub path: PathBuf,
    /// The copy made at [`Options::output`], if asked for.
    pub output: Option<PathBuf>,
    /// Where it came from.
    pub origin: Origin,
    /// Its size.
    pub size: u64,
    /// The package the server took it from (`X-DEBUGINFOD-ARCHIVE`).
    pub archive: Option<String>,
    /// Its path in that package or on the server (`X-DEBUGINFOD-FILE`).
    pub file: Option<String>,
    /// Servers (or the cache) that failed before, with their answers.
    pub failed: Vec<Attempt>,
}

/// What [`Client::fetch`] reports while it works.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// A request is being sent.
    Request {
        /// The URL.
        url: &'a str,
        /// 1 for the first request to this server, 2 for the first retry...
        try_number: u32,
    },
    /// Bytes arrived.
    Download {
        /// The URL.
        url: &'a str,
        /// Bytes received so far.
        received: u64,
        /// The announced size, if any.
        total: Option<u64>,
    },
    /// A transient failure; the request is repeated after `delay`.
    Retry {
        /// The URL.
        url: &'a str,
        /// What went wrong.
        cause: &'a Answer,
        /// The wait before the retry.
        delay: Duration,
    },
    /// A server is given up.
    Failed(&'a Attempt),
    /// The file arrived and is being verified.
    Verifying {
        /// The URL.
        url: &'a str,
    },
}

/// The debuginfod client.
#[derive(Debug)]
pub struct Client {
    opts: Options,
    http: reqwest::blocking::Client,
}

/// How one request failed.
enum Failure {
    Missing(Option<u16>),
    Transient(Answer),
    Fatal(Answer),
}

/// What came with a successful response.
#[derive(Default)]
struct Meta {
    archive: Option<String>,
    file: Option<String>,
    modified: Option<SystemTime>,
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

impl Client {
    /// A client for `opts`. Proxies come from `HTTPS_PROXY`, `HTTP_PROXY`,
    /// `ALL_PROXY` and `NO_PROXY` (either case).
    pub fn new(opts: Options) -> Result<Client, DebuginfodError> {
        let mut b = reqwest::blocking::Client::builder()
            .user_agent(concat!("profc/", env!("CARGO_PKG_VERSION")))
            // In the blocking client this bounds each wait: for the
            // response head and for every read of the body. The async
            // side gets no total deadline (DEBUGINFOD_MAXTIME is checked
            // here, between reads).
            .timeout(opts.timeout)
            .redirect(reqwest::redirect::Policy::limited(8));
        if let Some(t) = opts.timeout {
            b = b.connect_timeout(t);
        }
        let http = b.build().map_err(|e| DebuginfodError::Client(chain(&e)))?;
        Ok(Client { opts, http })
    }

    /// The options in force.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// The cache path of `artifact` of `id`.
    pub fn cache_path(&self, id: &BuildId, artifact: Artifact) -> PathBuf {
        self.opts.cache.join(id.to_hex()).join(artifact.name())
    }

    /// Finds `artifact` of `id`: in the cache if it is there and verifies,
    /// else from the servers in order. The result is always a verified
    /// file in the cache (and a copy at [`Options::output`], if set).
    pub fn fetch(
        &self,
        id: &BuildId,
        artifact: Artifact,
        progress: &dyn Fn(Progress<'_>),
    ) -> Result<Fetched, DebuginfodError> {
        let target = self.cache_path(id, artifact);
        let dir = target.parent().unwrap_or(&self.opts.cache).to_owned();
        let mut failed = Vec::new();
        if let Ok(md) = fs::metadata(&target) {
            if md.is_file() && md.len() > 0 {
                match verify_file(&target, id) {
                    Ok(()) => {
                        let output = self.copy_out(&target)?;
                        return Ok(Fetched {
                            path: target,
                            output,
                            origin: Origin::Cache,
                            size: md.len(),
                            archive: None,
                            file: None,
                            failed,
                        });
                    }
                    Err(why) => failed.push(Attempt {
                        server: "cache".into(),
                        answer: Answer::Rejected(format!("{}: {why}", target.display())),
                        tries: 0,
                    }),
                }
            }
        }
        let mut servers: Vec<&str> = Vec::new();
        for s in &self.opts.servers {
            let s = s.trim();
            if !s.is_empty() && !servers.iter().any(|x| base_url(x) == base_url(s)) {
                servers.push(s);
            }
        }
        if servers.is_empty() {
            return Err(DebuginfodError::NoServers);
        }
        let created = make_dirs(&self.opts.cache, &dir)?;
        let deadline = self.opts.max_time.map(|t| Instant::now() + t);
        for server in servers {
            match self.query_server(server, id, artifact, &dir, &target, deadline, progress) {
                Ok((size, url, meta)) => {
                    let output = self.copy_out(&target)?;
                    return Ok(Fetched {
                        path: target,
                        output,
                        origin: Origin::Server(url),
                        size,
                        archive: meta.archive,
                        file: meta.file,
                        failed,
                    });
                }
                Err(a) => {
                    progress(Progress::Failed(&a));
                    failed.push(a);
                }
            }
        }
        if created {
            // Only if empty, as elfutils does: another client may be
            // filling it.
            let _ = fs::remove_dir(&dir);
        }
        Err(DebuginfodError::NotFound {
            build_id: id.clone(),
            artifact,
            attempts: failed,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn query_server(
        &self,
        server: &str,
        id: &BuildId,
        artifact: Artifact,
        dir: &Path,
        target: &Path,
        deadline: Option<Instant>,
        progress: &dyn Fn(Progress<'_>),
    ) -> Result<(u64, String, Meta), Attempt> {
        let fail = |answer, tries| Attempt {
            server: server.to_owned(),
            answer,
            tries,
        };
        let url = format!("{}/{}/{}", base_url(server), id.to_hex(), artifact.name());
        let mut delay = self.opts.backoff;
        let mut tries = 0;
        loop {
            tries += 1;
            let mut tmp = tempfile::Builder::new()
                .prefix(&format!("{}.", artifact.name()))
                .rand_bytes(6)
                .tempfile_in(dir)
                .map_err(|e| {
                    fail(
                        Answer::Network(format!(
                            "cannot create a temporary file in {}: {e}",
                            dir.display()
                        )),
                        tries,
                    )
                })?;
            progress(Progress::Request {
                url: &url,
                try_number: tries,
            });
            let got = if let Some(path) = url.strip_prefix("file://") {
                self.local_get(Path::new(path), tmp.as_file_mut())
            } else if url.starts_with("http://") || url.starts_with("https://") {
                self.http_get(&url, tmp.as_file_mut(), deadline, progress)
            } else {
                Err(Failure::Fatal(Answer::BadUrl(format!(
                    "{server}: not an http://, https:// or file:// URL"
                ))))
            };
            match got {
                Ok((size, meta)) => {
                    progress(Progress::Verifying { url: &url });
                    return match accept(tmp, id, target, meta.modified) {
                        Ok(()) => Ok((size, url, meta)),
                        Err(answer) => Err(fail(answer, tries)),
                    };
                }
                Err(Failure::Missing(status)) => {
                    return Err(fail(Answer::NotFound { status }, tries))
                }
                Err(Failure::Fatal(a)) => return Err(fail(a, tries)),
                Err(Failure::Transient(a)) => {
                    let out_of_time = deadline.is_some_and(|d| Instant::now() + delay >= d);
                    if tries > self.opts.retries || out_of_time {
                        return Err(fail(a, tries));
                    }
                    progress(Progress::Retry {
                        url: &url,
                        cause: &a,
                        delay,
                    });
                    drop(tmp);
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(BACKOFF_MAX);
                }
            }
        }
    }

    fn local_get(&self, path: &Path, out: &mut File) -> Result<(u64, Meta), Failure> {
        let mut f = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Failure::Missing(None)),
            Err(e) => {
                return Err(Failure::Fatal(Answer::Network(format!(
                    "{}: {e}",
                    path.display()
                ))))
            }
        };
        let md = f
            .metadata()
            .map_err(|e| Failure::Fatal(Answer::Network(e.to_string())))?;
        if !md.is_file() || md.len() == 0 {
            return Err(Failure::Missing(None));
        }
        let cap = self.opts.max_size;
        if md.len() > cap {
            return Err(Failure::Fatal(Answer::TooLarge {
                size: Some(md.len()),
                cap,
            }));
        }
        let n = io::copy(&mut (&mut f).take(cap), out)
            .map_err(|e| Failure::Fatal(Answer::Network(format!("{}: {e}", path.display()))))?;
        Ok((
            n,
            Meta {
                file: Some(path.display().to_string()),
                modified: md.modified().ok(),
                ..Meta::default()
            },
        ))
    }

    fn http_get(
        &self,
        url: &str,
        out: &mut File,
        deadline: Option<Instant>,
        progress: &dyn Fn(Progress<'_>),
    ) -> Result<(u64, Meta), Failure> {
        let cap = self.opts.max_size;
        let mut req = self
            .http
            .get(url)
            .header("X-DEBUGINFOD-MAXSIZE", cap.to_string());
        for (k, v) in &self.opts.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let mut resp = req.send().map_err(|e| classify(&e))?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE {
            return Err(Failure::Missing(Some(status.as_u16())));
        }
        if status == reqwest::StatusCode::NOT_ACCEPTABLE {
            // debuginfod's answer to X-DEBUGINFOD-MAXSIZE.
            return Err(Failure::Fatal(Answer::TooLarge { size: None, cap }));
        }
        if !status.is_success() {
            let a = Answer::Status {
                status: status.as_u16(),
                reason: status.canonical_reason().unwrap_or("").to_owned(),
            };
            return Err(
                if status.is_server_error()
                    || status == reqwest::StatusCode::REQUEST_TIMEOUT
                    || status == reqwest::StatusCode::TOO_MANY_REQUESTS
                {
                    Failure::Transient(a)
                } else {
                    Failure::Fatal(a)
                },
            );
        }
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let meta = Meta {
            archive: header("x-debuginfod-archive"),
            file: header("x-debuginfod-file"),
            modified: header("last-modified").and_then(|d| parse_http_date(&d)),
        };
        // Read before the body: reqwest's content_length() is what is left.
        let declared = resp.content_length();
        let expected =
            declared.or_else(|| header("x-debuginfod-size").and_then(|s| s.trim().parse().ok()));
        if let Some(len) = expected.filter(|&l| l > cap) {
            return Err(Failure::Fatal(Answer::TooLarge {
                size: Some(len),
                cap,
            }));
        }
        let mut buf = vec![0u8; 256 << 10];
        let mut total = 0u64;
        let mut window = (Instant::now(), 0u64);
        loop {
            let k = match resp.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let timed_out = e.kind() == io::ErrorKind::TimedOut
                        || e.get_ref()
                            .and_then(|i| i.downcast_ref::<reqwest::Error>())
                            .is_some_and(reqwest::Error::is_timeout);
                    let msg = match (timed_out, self.opts.timeout) {
                        (true, Some(t)) => {
                            format!("timed out after {total} bytes (no data for {t:?})")
                        }
                        _ => format!(
                            "transfer broken after {total} bytes: {}",
                            e.get_ref().map_or_else(|| e.to_string(), |i| chain(i))
                        ),
                    };
                    return Err(Failure::Transient(Answer::Network(msg)));
                }
            };
            total += k as u64;
            if total > cap {
                return Err(Failure::Fatal(Answer::TooLarge { size: None, cap }));
            }
            out.write_all(&buf[..k]).map_err(|e| {
                Failure::Fatal(Answer::Network(format!("writing the temporary file: {e}")))
            })?;
            progress(Progress::Download {
                url,
                received: total,
                total: expected,
            });
            let now = Instant::now();
            window.1 += k as u64;
            if let Some(t) = self.opts.timeout {
                if now.duration_since(window.0) >= t {
                    if window.1 < LOW_SPEED_LIMIT {
                        return Err(Failure::Transient(Answer::Network(format!(
                            "too slow: {} bytes in {t:?} (the least accepted is {LOW_SPEED_LIMIT})",
                            window.1
                        ))));
                    }
                    window = (now, 0);
                }
            }
            if deadline.is_some_and(|d| now >= d) {
                return Err(Failure::Fatal(Answer::Network(format!(
                    "gave up after {total} bytes: the query's time limit (DEBUGINFOD_MAXTIME) is over"
                ))));
            }
        }
        if let Some(len) = declared.filter(|&l| l != total) {
            return Err(Failure::Transient(Answer::Network(format!(
                "transfer broken: got {total} of {len} bytes"
            ))));
        }
        if total == 0 {
            return Err(Failure::Fatal(Answer::Rejected("empty response".into())));
        }
        out.flush().map_err(|e| {
            Failure::Fatal(Answer::Network(format!("writing the temporary file: {e}")))
        })?;
        Ok((total, meta))
    }

    /// Copies the cached file to [`Options::output`] through a temporary
    /// file in the same directory.
    fn copy_out(&self, cached: &Path) -> Result<Option<PathBuf>, DebuginfodError> {
        let Some(out) = &self.opts.output else {
            return Ok(None);
        };
        let dir = match out.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(".profc-")
            .tempfile_in(&dir)
            .map_err(io_err(&dir))?;
        let mut src = File::open(cached).map_err(io_err(cached))?;
        io::copy(&mut src, tmp.as_file_mut()).map_err(io_err(out))?;
        set_mode(tmp.as_file(), 0o644).map_err(io_err(out))?;
        tmp.persist(out).map_err(|e| DebuginfodError::Io {
            path: out.clone(),
            source: e.error,
        })?;
        Ok(Some(out.clone()))
    }
}

/// `SERVER/buildid`, as elfutils forms it.
fn base_url(server: &str) -> String {
    let s = server.trim_end_matches('/');
    format!("{s}/buildid")
}

fn classify(e: &reqwest::Error) -> Failure {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "transfer broken"
    } else if e.is_redirect() {
        "bad redirect"
    } else if e.is_builder() {
        return Failure::Fatal(Answer::BadUrl(chain(e)));
    } else {
        "request failed"
    };
    let msg = match std::error::Error::source(e) {
        Some(cause) => format!("{what}: {}", chain(cause)),
        None => what.to_owned(),
    };
    if e.is_redirect() {
        Failure::Fatal(Answer::Network(msg))
    } else {
        Failure::Transient(Answer::Network(msg))
    }
}

/// Creates `dir` (and the cache) with mode 0700 as elfutils does; returns
/// whether `dir` was created by this call.
fn make_dirs(cache: &Path, dir: &Path) -> Result<bool, DebuginfodError> {
    fs::create_dir_all(cache).map_err(io_err(cache))?;
    let mut b = fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    match b.create(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(false),
        Err(e) => Err(DebuginfodError::Io {
            path: dir.to_owned(),
            source: e,
        }),
    }
}

fn set_mode(f: &File, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (f, mode);
        Ok(())
    }
}

/// Verifies the download and renames it into the cache (read-only, with
/// the server's modification time when it gave one).
fn accept(
    tmp: tempfile::NamedTempFile,
    id: &BuildId,
    target: &Path,
    modified: Option<SystemTime>,
) -> Result<(), Answer> {
    let file = tmp
        .reopen()
        .map_err(|e| Answer::Network(format!("reading back the download: {e}")))?;
    verify(file, id).map_err(Answer::Rejected)?;
    if let Some(t) = modified {
        let _ = tmp.as_file().set_modified(t);
    }
    let _ = set_mode(tmp.as_file(), 0o400);
    tmp.persist(target)
        .map_err(|e| Answer::Network(format!("{}: {}", target.display(), e.error)))?;
    Ok(())
}

/// Checks that the file at `path` is ELF with the build-id `id`.
pub fn verify_file(path: &Path, id: &BuildId) -> Result<(), String> {
    let f = File::open(path).map_err(|e| e.to_string())?;
    verify(f, id)
}

/// Checks that `file` is an ELF file whose GNU build-id note is `id`
/// (reading only its headers and notes).
pub fn verify(file: File, id: &BuildId) -> Result<(), String> {
    use object::Object;
    let cache = object::ReadCache::new(file);
    let obj = object::File::parse(&cache).map_err(|e| format!("not an ELF file ({e})"))?;
    if obj.format() != object::BinaryFormat::Elf {
        return Err(format!("not an ELF file (a {:?} file)", obj.format()));
    }
    match obj.build_id() {
        Ok(Some(got)) if got == id.as_bytes() => Ok(()),
        Ok(Some(got)) => Err(format!(
            "its build-id is {}, not {id}",
            got.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )),
        Ok(None) => Err("the ELF file has no build-id note".into()),
        Err(e) => Err(format!("unreadable ELF notes ({e})")),
    }
}

/// Parses an HTTP date in the IMF-fixdate form (`Sun, 06 Nov 1994
/// 08:49:37 GMT`), the one servers send.
pub fn parse_http_date(s: &str) -> Option<SystemTime> {
    let parts: Vec<&str> = s.split_ascii_whitespace().collect();
    let [_, day, mon, year, time, "GMT"] = parts[..] else {
        return None;
    };
    let day: i64 = day.parse().ok()?;
    let year: i64 = year.parse().ok()?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mon = MONTHS.iter().position(|m| *m == mon)? as i64 + 1;
    let hms: Vec<i64> = time
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, sec] = hms[..] else {
        return None;
    };
    if !(1..=31).contains(&day)
        || !(0..24).contains(&h)
        || !(0..60).contains(&m)
        || !(0..61).contains(&sec)
        || year < 1970
    {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, mo) = if mon <= 2 {
        (year - 1, mon + 9)
    } else {
        (year, mon - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + m * 60 + sec;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// Fetches the debug file of `id` with `opts` (see [`Client::fetch`]).
pub fn fetch_debuginfo(id: &BuildId, opts: &Options) -> Result<Fetched, DebuginfodError> {
    Client::new(opts.clone())?.fetch(id, Artifact::Debuginfo, &|_| {})
}

/// Fetches the executable of `id` with `opts` (see [`Client::fetch`]).
pub fn fetch_executable(id: &BuildId, opts: &Options) -> Result<Fetched, DebuginfodError> {
    Client::new(opts.clone())?.fetch(id, Artifact::Executable, &|_| {})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_ids() {
        let id = BuildId::from_hex("6C7D57feaaa35e07544449cdf357c48543a6bac7").unwrap();
        assert_eq!(id.to_hex(), "6c7d57feaaa35e07544449cdf357c48543a6bac7");
        assert_eq!(id.as_bytes().len(), 20);
        assert!(BuildId::from_hex("abc").is_err());
        assert!(BuildId::from_hex("zz").is_err());
        assert!(BuildId::from_hex("").is_err());
        assert!(BuildId::from_hex(&"ab".repeat(65)).is_err());
        assert!("00".parse::<BuildId>().is_ok());
    }

    #[test]
    fn urls_and_paths() {
        assert_eq!(
            parse_urls(" https://a/  ima:enforcing\thttp://b file:///srv/d "),
            vec!["https://a/", "http://b", "file:///srv/d"]
        );
        assert_eq!(
            base_url("https://debuginfod.debian.net/"),
            "https://debuginfod.debian.net/buildid"
        );
        assert_eq!(base_url("https://x/y"), "https://x/y/buildid");
        let c = Client::new(Options::new(vec![], PathBuf::from("/c"))).unwrap();
        let id = BuildId::from_hex("abcd").unwrap();
        assert_eq!(
            c.cache_path(&id, Artifact::Debuginfo),
            PathBuf::from("/c/abcd/debuginfo")
        );
        assert_eq!(
            c.cache_path(&id, Artifact::Executable),
            PathBuf::from("/c/abcd/executable")
        );
    }

    #[test]
    fn http_dates() {
        let t = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(),
            784_111_777
        );
        let t = parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT").unwrap();
        assert_eq!(t, SystemTime::UNIX_EPOCH);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC"), None);
        assert_eq!(parse_http_date("garbage"), None);
        assert_eq!(parse_http_date("Sun, 32 Nov 1994 08:49:37 GMT"), None);
    }

    #[test]
    fn headers_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("h");
        fs::write(&p, "Authorization: Bearer x\n\nbad line\nX-A:b:c\n").unwrap();
        assert_eq!(
            read_headers_file(&p).unwrap(),
            vec![
                ("Authorization".to_owned(), "Bearer x".to_owned()),
                ("X-A".to_owned(), "b:c".to_owned())
            ]
        );
    }

    #[test]
    fn verification() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        fs::write(&p, b"not an elf").unwrap();
        let id = BuildId::from_hex("abcd").unwrap();
        assert!(verify_file(&p, &id).unwrap_err().contains("not an ELF"));
        // The test binary itself is ELF, with a build-id note when the
        // linker writes one.
        let me = std::env::current_exe().unwrap();
        let e = verify_file(&me, &id).unwrap_err();
        assert!(e.contains("build-id"), "{e}");
    }
}
