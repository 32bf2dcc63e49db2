//! Distribution packages read in place: Debian `.deb`/`.ddeb` and `.rpm`.
//!
//! A kernel debug package holds what a profile is made of: the debug
//! `vmlinux` (DWARF), often the `System.map` and the config, and the debug
//! modules. This module streams a package once, front to back, and keeps in
//! memory only the members asked for, never unpacking anything to disk:
//!
//! - `.deb`/`.ddeb`: an `ar` archive ([`ar`]) holding `debian-binary`,
//!   `control.tar[.COMP]` and `data.tar[.COMP]`, COMP being `xz`, `zst`,
//!   `gz`, `lzma` or nothing; the data tar is walked by [`tar`].
//! - `.rpm`: a lead, a signature header and a header ([`rpm`]), then the
//!   payload, a newc cpio archive ([`cpio`]) compressed with xz, zstd,
//!   gzip or lzma.
//!
//! The compression is told by content ([`decode::sniff`]); xz streams of
//! several blocks (what `dpkg-deb` and `xz -T` write) are decoded with
//! several threads.
//!
//! What [`Package::find_kernel`] recognises (paths relative to `/`, a
//! compression suffix `.xz`/`.zst`/`.gz` and a `.debug` suffix allowed):
//!
//! | file | paths |
//! |---|---|
//! | vmlinux (debug) | `usr/lib/debug/boot/vmlinux-REL`, `usr/lib/debug/lib/modules/REL/vmlinux`, `usr/lib/debug/usr/lib/modules/REL/vmlinux` |
//! | vmlinux (used only if no debug one) | `boot/vmlinux-REL`, `lib/modules/REL/vmlinux`, `usr/lib/modules/REL/vmlinux` |
//! | System.map | `boot/System.map-REL`, `usr/lib/debug/boot/System.map-REL`, `lib/modules/REL/System.map`, `usr/lib/modules/REL/System.map` |
//! | config | `boot/config-REL`, `usr/lib/debug/boot/config-REL`, `lib/modules/REL/config`, `usr/lib/modules/REL/config` |
//! | a module ([`Select::member`] `loop.ko`) | any `*/loop.ko`, also `.ko.debug`, `.ko.xz`, `.ko.zst`, `.ko.gz` (decompressed in memory); `-` and `_` alike, as modprobe has them |
//!
//! Caps ([`Limits`]): one member read into memory at most 4 GiB (declared
//! size; memory grows only as its bytes really arrive); System.map, config
//! and control at most 256 MiB; the decompressed payload walked at most
//! 64 GiB; at most 4 Mi entries listed. Header-level caps are in [`ar`],
//! [`tar`], [`cpio`] and [`rpm`].

pub mod ar;
pub mod cpio;
pub mod decode;
pub mod rpm;
pub mod tar;

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use decode::Compression;

/// A kind of package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PackageKind {
    /// A Debian binary package (`.deb`, or Ubuntu's `.ddeb`).
    Deb,
    /// An RPM package.
    Rpm,
}

impl std::fmt::Display for PackageKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PackageKind::Deb => "Debian package",
            PackageKind::Rpm => "RPM package",
        })
    }
}

/// Bytes [`detect`] needs to tell a package: the `ar` magic and the first
/// member's name.
pub const DETECT_LEN: usize = 24;

/// The kind of package `head` (the first bytes of a file, at least
/// [`DETECT_LEN`] for a `.deb`) starts, by content: an `ar` archive whose
/// first member is `debian-binary`, or an RPM lead (`ed ab ee db`).
pub fn detect(head: &[u8]) -> Option<PackageKind> {
    if rpm::is_rpm(head) {
        return Some(PackageKind::Rpm);
    }
    if head.len() >= DETECT_LEN && head.starts_with(ar::MAGIC) {
        let name = &head[8..24];
        let name = std::str::from_utf8(name).ok()?.trim_end_matches(' ');
        if name.strip_suffix('/').unwrap_or(name) == "debian-binary" {
            return Some(PackageKind::Deb);
        }
    }
    None
}

/// What an entry of a package's payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A hard link to an earlier entry (tar).
    HardLink,
    /// Anything else (device, FIFO, sparse file...).
    Other,
}

/// An entry of a package's payload, as a walk meets it.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// Path without a leading `./` or `/` (`usr/lib/debug/boot/vmlinux-6.1.0-57-amd64`).
    pub path: &'a str,
    /// Size of the data (0 for anything but a regular file).
    pub size: u64,
    /// What it is.
    pub kind: EntryKind,
    /// The target of a link.
    pub link: Option<&'a str>,
}

/// Whether a walk goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on to the next entry.
    Continue,
    /// Stop reading the payload.
    Stop,
}

/// The callback of a walk: an entry and a reader of its data (reading is
/// optional; what is not read is skipped).
pub type Visit<'v> = dyn FnMut(&Entry<'_>, &mut dyn Read) -> Result<Flow, WalkError> + 'v;

/// An error inside a walk, before the package's path is known to it.
#[derive(Debug)]
pub enum WalkError {
    /// A structure is malformed.
    Malformed {
        /// The layer (`ar`, `tar`, `cpio`, `rpm`, `payload`).
        layer: &'static str,
        /// Offset within that layer's stream.
        offset: u64,
        /// What is wrong.
        message: String,
    },
    /// Reading (or decompressing) failed.
    Read {
        /// The layer.
        layer: &'static str,
        /// Offset within that layer's stream.
        offset: u64,
        /// The cause.
        source: io::Error,
    },
    /// The visitor failed.
    Visitor(Box<PackageError>),
}

impl WalkError {
    pub(crate) fn bad(layer: &'static str, offset: u64, message: impl Into<String>) -> Self {
        WalkError::Malformed {
            layer,
            offset,
            message: message.into(),
        }
    }

    pub(crate) fn io(layer: &'static str, offset: u64, source: io::Error) -> Self {
        // A visitor's error travels through the tar crate as an I/O error.
        WalkError::Read {
            layer,
            offset,
            source,
        }
    }

    fn into_package(self, path: &Path) -> PackageError {
        match self {
            WalkError::Malformed {
                layer,
                offset,
                message,
            } => PackageError::Malformed {
                path: path.to_owned(),
                layer,
                offset,
                message,
            },
            WalkError::Read {
                layer,
                offset,
                source,
            } => PackageError::Read {
                path: path.to_owned(),
                layer,
                offset: Some(offset),
                source,
            },
            WalkError::Visitor(e) => *e,
        }
    }
}

impl std::fmt::Display for WalkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WalkError::Malformed {
                layer,
                offset,
                message,
            } => write!(f, "{layer} at offset {offset}: {message}"),
            WalkError::Read {
                layer,
                offset,
                source,
            } => write!(f, "reading the {layer} at offset {offset}: {source}"),
            WalkError::Visitor(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for WalkError {}

impl From<ar::Error> for WalkError {
    fn from(e: ar::Error) -> Self {
        match e {
            ar::Error::Malformed(a) => WalkError::bad("ar", a.offset, a.message),
            ar::Error::Io(e) => WalkError::io("ar", 0, e),
        }
    }
}

/// Errors of the package reader. Each names the package.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// The package cannot be opened or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The package.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The file is neither a Debian package nor an RPM.
    #[error("{}: not a Debian (.deb/.ddeb) or RPM package", path.display())]
    NotAPackage {
        /// The file.
        path: PathBuf,
    },
    /// A structure of the package is malformed.
    #[error("{}: {layer} at offset {offset}: {message}", path.display())]
    Malformed {
        /// The package.
        path: PathBuf,
        /// The layer: `ar`, `tar`, `cpio`, `rpm`, `payload`, `control`.
        layer: &'static str,
        /// Offset within that layer's stream (the file for `ar` and
        /// `rpm`, the decompressed payload for `tar` and `cpio`).
        offset: u64,
        /// What is wrong.
        message: String,
    },
    /// Reading or decompressing failed inside the package.
    #[error("{}: reading the {layer}{}: {source}", path.display(), offset.map(|o| format!(" at offset {o}")).unwrap_or_default())]
    Read {
        /// The package.
        path: PathBuf,
        /// The layer.
        layer: &'static str,
        /// Offset within that layer's stream (of the last entry header
        /// for `tar` and `cpio`), when known.
        offset: Option<u64>,
        /// The cause (a corrupt compressed stream shows here).
        source: io::Error,
    },
    /// Reading a member's data failed (truncated, corrupt compressed
    /// stream).
    #[error("{}: reading {member}: {source}", path.display())]
    MemberRead {
        /// The package.
        path: PathBuf,
        /// The member.
        member: String,
        /// The cause.
        source: io::Error,
    },
    /// A compression or format the reader does not support.
    #[error("{}: {what}", path.display())]
    Unsupported {
        /// The package.
        path: PathBuf,
        /// What is not supported.
        what: String,
    },
    /// A member is larger than the cap for it.
    #[error("{}: {member} is {size} bytes, over the cap of {cap} bytes", path.display())]
    TooLarge {
        /// The package.
        path: PathBuf,
        /// The member.
        member: String,
        /// Its (declared or decompressed) size.
        size: u64,
        /// The cap.
        cap: u64,
    },
    /// A compressed member does not decompress.
    #[error("{}: {member}: {message}", path.display())]
    Decompress {
        /// The package.
        path: PathBuf,
        /// The member.
        member: String,
        /// What went wrong.
        message: String,
    },
    /// The package holds no kernel debug vmlinux.
    #[error(
        "{}: no kernel vmlinux in this package{}; it holds {files} files{}",
        path.display(),
        release.as_deref().map(|r| format!(" for release {r}")).unwrap_or_default(),
        sample_list(sample, *files)
    )]
    NoVmlinux {
        /// The package.
        path: PathBuf,
        /// The release asked for, if any.
        release: Option<String>,
        /// Number of regular files in the package.
        files: u64,
        /// The first of them.
        sample: Vec<String>,
    },
    /// The package holds no member of the name asked for.
    #[error(
        "{}: no member matching {member:?}; it holds {files} files, {modules} of them kernel modules{}",
        path.display(),
        sample_list(sample, *modules)
    )]
    NoMember {
        /// The package.
        path: PathBuf,
        /// The name asked for.
        member: String,
        /// Number of regular files.
        files: u64,
        /// Number of kernel modules (`*.ko*`).
        modules: u64,
        /// The first modules (or files when there are no modules).
        sample: Vec<String>,
    },
    /// More entries than [`Limits::max_entries`].
    #[error("{}: more than {cap} entries", path.display())]
    TooManyEntries {
        /// The package.
        path: PathBuf,
        /// The cap.
        cap: u64,
    },
}

fn sample_list(sample: &[String], total: u64) -> String {
    if sample.is_empty() {
        return String::new();
    }
    let more = total.saturating_sub(sample.len() as u64);
    format!(
        ": {}{}",
        sample.join(", "),
        if more > 0 {
            format!(", ... ({more} more)")
        } else {
            String::new()
        }
    )
}

impl From<PackageError> for crate::Error {
    fn from(e: PackageError) -> Self {
        match e {
            PackageError::Io { path, source } => crate::Error::Io { path, source },
            other => {
                let path = other.path().to_owned();
                let full = other.to_string();
                let prefix = format!("{}: ", path.display());
                let message = full.strip_prefix(&prefix).unwrap_or(&full).to_owned();
                crate::Error::Input { path, message }
            }
        }
    }
}

impl PackageError {
    /// The package the error is about.
    pub fn path(&self) -> &Path {
        match self {
            PackageError::Io { path, .. }
            | PackageError::NotAPackage { path }
            | PackageError::Malformed { path, .. }
            | PackageError::Read { path, .. }
            | PackageError::MemberRead { path, .. }
            | PackageError::Unsupported { path, .. }
            | PackageError::TooLarge { path, .. }
            | PackageError::Decompress { path, .. }
            | PackageError::NoVmlinux { path, .. }
            | PackageError::NoMember { path, .. }
            | PackageError::TooManyEntries { path, .. } => path,
        }
    }
}

/// Caps of the reader (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest member read into memory (vmlinux, module), compressed or
    /// decompressed: 4 GiB.
    pub max_file: u64,
    /// Largest System.map, config or control file read: 256 MiB.
    pub max_text: u64,
    /// Largest decompressed payload walked: 64 GiB (the largest real
    /// kernel debug packages unpack to some 6 GiB).
    pub max_payload: u64,
    /// Most entries [`Package::members`] lists: 4 Mi.
    pub max_entries: u64,
    /// xz decoding threads (0: one per core, at most
    /// [`decode::MAX_THREADS`]).
    pub threads: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file: 4 << 30,
            max_text: 256 << 20,
            max_payload: 64 << 30,
            max_entries: 4 << 20,
            threads: 0,
        }
    }
}

/// What a package says of itself (Debian control fields, RPM header tags).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageInfo {
    /// Package name.
    pub name: Option<String>,
    /// Version (Debian: the whole version; RPM: `VERSION-RELEASE`).
    pub version: Option<String>,
    /// Architecture.
    pub arch: Option<String>,
}

/// A member of a package, as [`Package::members`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Path without a leading `./` or `/`.
    pub path: String,
    /// Size in bytes (0 for anything but a regular file).
    pub size: u64,
    /// What it is.
    pub kind: EntryKind,
}

/// A file read out of a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// Its path in the package.
    pub path: String,
    /// Its content, decompressed if it was compressed in the package.
    pub data: Vec<u8>,
    /// Its size in the package.
    pub stored_size: u64,
    /// How it was compressed in the package (`None` for most).
    pub compression: Compression,
}

/// What [`Package::find_kernel`] looks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Select {
    /// Read the kernel's vmlinux (an error if there is none).
    pub vmlinux: bool,
    /// Also read the module of this name (`loop.ko`, `loop`,
    /// `drivers/block/loop.ko`): an error if there is none.
    pub member: Option<String>,
    /// Only files of this kernel release (`6.1.0-57-amd64`).
    pub release: Option<String>,
    /// Keep reading until a System.map is found or the payload ends. When
    /// false, a System.map met before the other files is still taken.
    pub wait_for_system_map: bool,
    /// Keep reading until a config is found or the payload ends. When
    /// false, a config met before the other files is still taken.
    pub wait_for_config: bool,
}

impl Default for Select {
    fn default() -> Self {
        Select::kernel()
    }
}

impl Select {
    /// The vmlinux, and the System.map (waited for); the config if met on
    /// the way.
    pub fn kernel() -> Self {
        Select {
            vmlinux: true,
            member: None,
            release: None,
            wait_for_system_map: true,
            wait_for_config: false,
        }
    }

    /// One module only (the System.map and config if met on the way).
    pub fn module(name: impl Into<String>) -> Self {
        Select {
            vmlinux: false,
            member: Some(name.into()),
            release: None,
            wait_for_system_map: false,
            wait_for_config: false,
        }
    }
}

/// What [`Package::find_kernel`] found.
#[derive(Debug, Clone, Default)]
pub struct KernelFiles {
    /// The kernel release, from the file names (`6.1.0-57-amd64`).
    pub release: Option<String>,
    /// The vmlinux (when asked for).
    pub vmlinux: Option<Extracted>,
    /// The System.map of the same release, if found.
    pub system_map: Option<Extracted>,
    /// The config of the same release, if found.
    pub config: Option<Extracted>,
    /// The module asked for.
    pub member: Option<Extracted>,
    /// The `Linux version ...` banner in the vmlinux, if there is one.
    pub banner: Option<String>,
    /// The GNU build-id of the vmlinux (or of the module when no vmlinux
    /// was read), from its ELF note.
    pub build_id: Option<Vec<u8>>,
}

/// Progress of a pass over a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the package file read so far.
    pub read: u64,
    /// Size of the package file.
    pub total: u64,
}

#[derive(Debug, Clone)]
enum Source {
    File,
    Bytes(Arc<[u8]>),
}

/// An opened package.
#[derive(Debug, Clone)]
pub struct Package {
    path: PathBuf,
    source: Source,
    size: u64,
    kind: PackageKind,
    info: PackageInfo,
    limits: Limits,
}

/// Opens the package at `path` (see [`Package::open`]).
pub fn open(path: impl AsRef<Path>) -> Result<Package, PackageError> {
    Package::open(path)
}

/// Strips leading `./` and `/` and trailing `/` of a payload path.
pub(crate) fn normalise(p: &str) -> &str {
    let mut s = p;
    loop {
        if let Some(r) = s.strip_prefix("./") {
            s = r;
        } else if let Some(r) = s.strip_prefix('/') {
            s = r;
        } else {
            break;
        }
    }
    let s = s.trim_end_matches('/');
    if s == "." {
        ""
    } else {
        s
    }
}

/// Reads `declared` bytes from `r` (an error past `cap`, or if fewer
/// arrive). Memory grows with what really arrives, never ahead of it by
/// more than 64 MiB or the size read so far.
fn read_bounded(r: &mut dyn Read, declared: u64, cap: u64) -> Result<Vec<u8>, Bounded> {
    if declared > cap {
        return Err(Bounded::TooLarge(declared));
    }
    let mut v: Vec<u8> = Vec::new();
    let mut left = declared;
    let mut step: u64 = 64 << 20;
    while left > 0 {
        let chunk = left.min(step);
        v.try_reserve_exact(chunk as usize)
            .map_err(|e| Bounded::Io(io::Error::new(io::ErrorKind::OutOfMemory, e.to_string())))?;
        let got = (&mut *r)
            .take(chunk)
            .read_to_end(&mut v)
            .map_err(Bounded::Io)? as u64;
        if got < chunk {
            return Err(Bounded::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("truncated: {} of {declared} bytes", declared - left + got),
            )));
        }
        left -= chunk;
        step = step.saturating_mul(2);
    }
    Ok(v)
}

enum Bounded {
    TooLarge(u64),
    Io(io::Error),
}

/// The compressions of a `.deb` member, as named in messages.
const SUPPORTED: &str = "supported: none, gz, xz, zst, lzma";

fn control_field(text: &str, field: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.eq_ignore_ascii_case(field)).then(|| v.trim().to_owned())
    })
}

impl Package {
    /// Opens the package at `path`: tells its kind by content and reads
    /// what it says of itself (the Debian control file, the RPM header).
    /// The payload is not read.
    pub fn open(path: impl AsRef<Path>) -> Result<Package, PackageError> {
        let path = path.as_ref().to_owned();
        let io_err = |source| PackageError::Io {
            path: path.clone(),
            source,
        };
        let mut f = File::open(&path).map_err(io_err)?;
        let size = f.metadata().map_err(io_err)?.len();
        let mut head = [0u8; DETECT_LEN];
        let n = read_full(&mut f, &mut head).map_err(io_err)?;
        let kind =
            detect(&head[..n]).ok_or_else(|| PackageError::NotAPackage { path: path.clone() })?;
        Package::finish(path, Source::File, size, kind)
    }

    /// A package held in memory (`name` is used in messages).
    pub fn from_bytes(
        name: impl Into<PathBuf>,
        data: impl Into<Arc<[u8]>>,
    ) -> Result<Package, PackageError> {
        let path = name.into();
        let data: Arc<[u8]> = data.into();
        let kind = detect(&data).ok_or_else(|| PackageError::NotAPackage { path: path.clone() })?;
        let size = data.len() as u64;
        Package::finish(path, Source::Bytes(data), size, kind)
    }

    fn finish(
        path: PathBuf,
        source: Source,
        size: u64,
        kind: PackageKind,
    ) -> Result<Package, PackageError> {
        let mut p = Package {
            path,
            source,
            size,
            kind,
            info: PackageInfo::default(),
            limits: Limits::default(),
        };
        p.info = p.read_info()?;
        Ok(p)
    }

    /// The same package with other caps.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The caps in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The package's path (or name, for one held in memory).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its kind.
    pub fn kind(&self) -> PackageKind {
        self.kind
    }

    /// What it says of itself.
    pub fn info(&self) -> &PackageInfo {
        &self.info
    }

    fn reader<'a>(
        &'a self,
        progress: Option<&'a dyn Fn(u64)>,
    ) -> Result<Box<dyn Read + 'a>, PackageError> {
        let raw: Box<dyn Read + 'a> = match &self.source {
            Source::File => {
                Box::new(File::open(&self.path).map_err(|source| PackageError::Io {
                    path: self.path.clone(),
                    source,
                })?)
            }
            Source::Bytes(b) => Box::new(&b[..]),
        };
        let counted = decode::Counted::new(raw, u64::MAX, "package", progress);
        Ok(Box::new(io::BufReader::with_capacity(256 << 10, counted)))
    }

    fn err(&self, e: WalkError) -> PackageError {
        e.into_package(&self.path)
    }

    fn read_info(&self) -> Result<PackageInfo, PackageError> {
        let mut r = self.reader(None)?;
        match self.kind {
            PackageKind::Rpm => {
                let h = rpm::read_headers(&mut r).map_err(|e| self.err(e))?;
                let s = |t| h.header.string(t).map(str::to_owned);
                let version = match (s(rpm::tag::VERSION), s(rpm::tag::RELEASE)) {
                    (Some(v), Some(r)) => Some(format!("{v}-{r}")),
                    (v, _) => v,
                };
                Ok(PackageInfo {
                    name: s(rpm::tag::NAME),
                    version,
                    arch: s(rpm::tag::ARCH),
                })
            }
            PackageKind::Deb => {
                let mut ar = ar::Reader::new(r).map_err(|e| self.err(e.into()))?;
                self.check_debian_binary(&mut ar)?;
                while let Some(m) = ar.next_member().map_err(|e| self.err(e.into()))? {
                    if !m.name.starts_with("control.tar") {
                        if m.name.starts_with("data.tar") {
                            break;
                        }
                        continue;
                    }
                    let comp = self.member_compression(&m.name)?;
                    let body: Box<dyn Read + '_> = Box::new(ar.body(&m));
                    let (sniffed, body) = decode::sniff_reader(body)
                        .map_err(|e| self.err(WalkError::io("ar", m.offset, e)))?;
                    self.check_magic(&m.name, comp, sniffed)?;
                    let dec = decode::decoder(comp, body, 1)
                        .map_err(|e| self.err(WalkError::io("control", 0, e)))?;
                    let mut dec =
                        decode::Counted::new(dec, self.limits.max_text, "control.tar", None);
                    let mut control = None;
                    let cap = self.limits.max_text;
                    tar::walk(&mut dec, &mut |e, rd| {
                        if e.path == "control" && e.kind == EntryKind::File {
                            let data = read_bounded(rd, e.size, cap).map_err(|b| match b {
                                Bounded::TooLarge(n) => WalkError::bad(
                                    "control",
                                    0,
                                    format!("control file of {n} bytes"),
                                ),
                                Bounded::Io(e) => WalkError::io("control", 0, e),
                            })?;
                            control = Some(String::from_utf8_lossy(&data).into_owned());
                            return Ok(Flow::Stop);
                        }
                        Ok(Flow::Continue)
                    })
                    .map_err(|e| self.err(e))?;
                    let Some(text) = control else {
                        return Err(PackageError::Malformed {
                            path: self.path.clone(),
                            layer: "control",
                            offset: m.offset,
                            message: format!("{} holds no control file", m.name),
                        });
                    };
                    return Ok(PackageInfo {
                        name: control_field(&text, "Package"),
                        version: control_field(&text, "Version"),
                        arch: control_field(&text, "Architecture"),
                    });
                }
                Ok(PackageInfo::default())
            }
        }
    }

    fn check_debian_binary<R: Read>(&self, ar: &mut ar::Reader<R>) -> Result<(), PackageError> {
        let m = ar
            .next_member()
            .map_err(|e| self.err(e.into()))?
            .ok_or_else(|| PackageError::NotAPackage {
                path: self.path.clone(),
            })?;
        if m.name != "debian-binary" {
            return Err(PackageError::NotAPackage {
                path: self.path.clone(),
            });
        }
        let mut v = Vec::new();
        ar.body(&m)
            .take(64)
            .read_to_end(&mut v)
            .map_err(|e| self.err(WalkError::io("ar", m.offset, e)))?;
        if !v.starts_with(b"2.") {
            return Err(PackageError::Unsupported {
                path: self.path.clone(),
                what: format!(
                    "Debian package format {:?} (supported: 2.x)",
                    String::from_utf8_lossy(&v).trim()
                ),
            });
        }
        Ok(())
    }

    fn member_compression(&self, name: &str) -> Result<Compression, PackageError> {
        let ext = name
            .strip_prefix("data.tar")
            .or_else(|| name.strip_prefix("control.tar"))
            .unwrap_or("");
        Ok(match ext {
            "" => Compression::None,
            ".gz" => Compression::Gzip,
            ".xz" => Compression::Xz,
            ".zst" => Compression::Zstd,
            ".lzma" => Compression::Lzma,
            _ => {
                return Err(PackageError::Unsupported {
                    path: self.path.clone(),
                    what: format!("member {name}: compression not supported ({SUPPORTED})"),
                })
            }
        })
    }

    fn check_magic(
        &self,
        name: &str,
        named: Compression,
        sniffed: Compression,
    ) -> Result<(), PackageError> {
        if named != sniffed && !(named == Compression::None && sniffed == Compression::Lzma) {
            return Err(PackageError::Malformed {
                path: self.path.clone(),
                layer: "ar",
                offset: 0,
                message: format!("member {name} is named {named} but its content is {sniffed}"),
            });
        }
        Ok(())
    }

    /// Walks the payload once, front to back, calling `visit` with each
    /// entry and a reader of its data, until the end or until `visit`
    /// returns [`Flow::Stop`]. `progress` is called with the bytes of the
    /// package file read so far, every few MiB.
    pub fn walk(
        &self,
        visit: &mut dyn FnMut(&Entry<'_>, &mut dyn Read) -> Result<Flow, PackageError>,
        progress: Option<&dyn Fn(Progress)>,
    ) -> Result<(), PackageError> {
        let total = self.size;
        let report = progress.map(|p| move |n: u64| p(Progress { read: n, total }));
        let report_ref: Option<&dyn Fn(u64)> = report.as_ref().map(|r| r as &dyn Fn(u64));
        let mut r = self.reader(report_ref)?;
        let mut v = |e: &Entry<'_>, rd: &mut dyn Read| {
            visit(e, rd).map_err(|e| WalkError::Visitor(Box::new(e)))
        };
        match self.kind {
            PackageKind::Rpm => {
                let h = rpm::read_headers(&mut r).map_err(|e| self.err(e))?;
                if let Some(f) = h.header.string(rpm::tag::PAYLOADFORMAT) {
                    if f != "cpio" {
                        return Err(PackageError::Unsupported {
                            path: self.path.clone(),
                            what: format!("RPM payload format {f:?} (supported: cpio)"),
                        });
                    }
                }
                let (comp, body) = decode::sniff_reader(r)
                    .map_err(|e| self.err(WalkError::io("rpm", h.payload_offset, e)))?;
                if comp == Compression::Bzip2 {
                    return Err(PackageError::Unsupported {
                        path: self.path.clone(),
                        what: "RPM payload compressed with bzip2: not supported (xz, zstd, gzip, lzma are)".into(),
                    });
                }
                let dec = decode::decoder(comp, body, self.limits.threads)
                    .map_err(|e| self.err(WalkError::io("payload", 0, e)))?;
                let counted = decode::Counted::new(
                    dec,
                    self.limits.max_payload,
                    "decompressed payload",
                    None,
                );
                let mut buf = io::BufReader::with_capacity(256 << 10, counted);
                let flow = cpio::walk(&mut buf, &mut v).map_err(|e| self.err(e))?;
                self.drain(flow, &mut buf, "cpio")
            }
            PackageKind::Deb => {
                let mut ar = ar::Reader::new(r).map_err(|e| self.err(e.into()))?;
                self.check_debian_binary(&mut ar)?;
                while let Some(m) = ar.next_member().map_err(|e| self.err(e.into()))? {
                    if !m.name.starts_with("data.tar") {
                        continue;
                    }
                    let comp = self.member_compression(&m.name)?;
                    let body: Box<dyn Read + '_> = Box::new(ar.body(&m));
                    let (sniffed, body) = decode::sniff_reader(body)
                        .map_err(|e| self.err(WalkError::io("ar", m.offset, e)))?;
                    self.check_magic(&m.name, comp, sniffed)?;
                    let dec = decode::decoder(comp, body, self.limits.threads)
                        .map_err(|e| self.err(WalkError::io("payload", 0, e)))?;
                    let counted = decode::Counted::new(
                        dec,
                        self.limits.max_payload,
                        "decompressed payload",
                        None,
                    );
                    let mut buf = io::BufReader::with_capacity(256 << 10, counted);
                    let flow = tar::walk(&mut buf, &mut v).map_err(|e| self.err(e))?;
                    return self.drain(flow, &mut buf, "tar");
                }
                Err(PackageError::Malformed {
                    path: self.path.clone(),
                    layer: "ar",
                    offset: 0,
                    message: "no data.tar member".into(),
                })
            }
        }
    }

    /// After a walk that reached the end of the archive, reads the rest of
    /// the decompressed stream, so that a truncated or corrupt end (a
    /// missing xz index, a bad checksum) is an error rather than a quiet
    /// success.
    fn drain(
        &self,
        flow: Flow,
        rest: &mut dyn Read,
        layer: &'static str,
    ) -> Result<(), PackageError> {
        if flow == Flow::Continue {
            io::copy(rest, &mut io::sink()).map_err(|source| PackageError::Read {
                path: self.path.clone(),
                layer,
                offset: None,
                source: io::Error::new(
                    source.kind(),
                    format!("after the end of the archive: {source}"),
                ),
            })?;
        }
        Ok(())
    }

    /// Lists the package's entries with their sizes. For an RPM this comes
    /// from the header (the payload is not read); for a `.deb` it takes a
    /// pass over the payload.
    pub fn members(&self) -> Result<Vec<Member>, PackageError> {
        let cap = self.limits.max_entries;
        if self.kind == PackageKind::Rpm {
            let mut r = self.reader(None)?;
            let h = rpm::read_headers(&mut r).map_err(|e| self.err(e))?;
            let files = h.header.files();
            if !files.is_empty() {
                if files.len() as u64 > cap {
                    return Err(PackageError::TooManyEntries {
                        path: self.path.clone(),
                        cap,
                    });
                }
                return Ok(files
                    .into_iter()
                    .map(|f| Member {
                        path: f.path,
                        size: f.size,
                        kind: f.kind,
                    })
                    .collect());
            }
        }
        let mut out = Vec::new();
        let path = self.path.clone();
        self.walk(
            &mut |e, _| {
                if out.len() as u64 >= cap {
                    return Err(PackageError::TooManyEntries {
                        path: path.clone(),
                        cap,
                    });
                }
                if !e.path.is_empty() {
                    out.push(Member {
                        path: e.path.to_owned(),
                        size: e.size,
                        kind: e.kind,
                    });
                }
                Ok(Flow::Continue)
            },
            None,
        )?;
        Ok(out)
    }

    /// Reads the module `name` (see [`Select::member`]).
    pub fn read_member(&self, name: &str) -> Result<Extracted, PackageError> {
        let k = self.find_kernel(&Select::module(name))?;
        k.member.ok_or_else(|| PackageError::NoMember {
            path: self.path.clone(),
            member: name.to_owned(),
            files: 0,
            modules: 0,
            sample: Vec::new(),
        })
    }

    /// Finds the kernel files `sel` asks for in one pass over the payload,
    /// stopping as soon as everything asked for is found.
    pub fn find_kernel(&self, sel: &Select) -> Result<KernelFiles, PackageError> {
        self.find_kernel_with(sel, None)
    }

    /// [`find_kernel`](Self::find_kernel) with a progress callback.
    pub fn find_kernel_with(
        &self,
        sel: &Select,
        progress: Option<&dyn Fn(Progress)>,
    ) -> Result<KernelFiles, PackageError> {
        let mut st = Search::new(sel, self.limits);
        let path = self.path.clone();
        self.walk(&mut |e, rd| st.visit(&path, e, rd), progress)?;
        st.finish(&self.path)
    }
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// What a path is to [`Package::find_kernel`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Role {
    Vmlinux { debug: bool },
    SystemMap,
    Config,
}

/// Strips a compression suffix, returning the rest and the compression.
fn strip_compression(p: &str) -> (&str, Compression) {
    for (suffix, c) in [
        (".xz", Compression::Xz),
        (".zst", Compression::Zstd),
        (".gz", Compression::Gzip),
    ] {
        if let Some(s) = p.strip_suffix(suffix) {
            return (s, c);
        }
    }
    (p, Compression::None)
}

/// The kernel release a `modules/REL/...` or `boot/NAME-REL` path names.
fn classify(path: &str) -> Option<(Role, String)> {
    let (p, _) = strip_compression(path);
    let p = p.strip_suffix(".debug").unwrap_or(p);
    let rel_ok = |r: &str| !r.is_empty() && !r.contains('/');
    for (prefix, debug) in [("usr/lib/debug/boot/", true), ("boot/", false)] {
        if let Some(name) = p.strip_prefix(prefix) {
            for (stem, role) in [
                ("vmlinux-", Role::Vmlinux { debug }),
                ("System.map-", Role::SystemMap),
                ("config-", Role::Config),
            ] {
                if let Some(rel) = name.strip_prefix(stem).filter(|r| rel_ok(r)) {
                    return Some((role, rel.to_owned()));
                }
            }
        }
    }
    for (prefix, debug) in [
        ("usr/lib/debug/lib/modules/", true),
        ("usr/lib/debug/usr/lib/modules/", true),
        ("lib/modules/", false),
        ("usr/lib/modules/", false),
    ] {
        if let Some(rest) = p.strip_prefix(prefix) {
            let (rel, file) = rest.split_once('/')?;
            if !rel_ok(rel) {
                return None;
            }
            let role = match file {
                "vmlinux" => Role::Vmlinux { debug },
                "System.map" if !debug => Role::SystemMap,
                "config" if !debug => Role::Config,
                _ => return None,
            };
            return Some((role, rel.to_owned()));
        }
    }
    None
}

/// The release a module path names (`.../modules/REL/...`).
fn module_release(path: &str) -> Option<String> {
    let i = path.find("modules/")?;
    let rest = &path[i + "modules/".len()..];
    let (rel, _) = rest.split_once('/')?;
    (!rel.is_empty()).then(|| rel.to_owned())
}

fn module_key(s: &str) -> String {
    s.replace('-', "_")
}

/// Whether `path` is the module `want` names.
fn member_matches(path: &str, want: &str) -> bool {
    let (p, _) = strip_compression(path);
    let p = p.strip_suffix(".debug").unwrap_or(p);
    let want = normalise(want);
    let want = strip_compression(want).0;
    let want = want.strip_suffix(".debug").unwrap_or(want);
    let with_ko;
    let want = if want.ends_with(".ko") || want.contains('.') {
        want
    } else {
        with_ko = format!("{want}.ko");
        &with_ko
    };
    if want.is_empty() {
        return false;
    }
    let (p_dir, p_base) = p.rsplit_once('/').unwrap_or(("", p));
    let (w_dir, w_base) = want.rsplit_once('/').unwrap_or(("", want));
    if module_key(p_base) != module_key(w_base) {
        return false;
    }
    w_dir.is_empty() || p_dir == w_dir || p_dir.ends_with(&format!("/{w_dir}"))
}

fn is_module(path: &str) -> bool {
    let (p, _) = strip_compression(path);
    p.ends_with(".ko") || p.ends_with(".ko.debug")
}

/// Most System.map and config candidates kept while looking for the ones
/// of the vmlinux's release.
const MAX_CANDIDATES: usize = 8;
/// Paths kept for an error message.
const SAMPLE: usize = 12;

struct Search<'s> {
    sel: &'s Select,
    limits: Limits,
    vmlinux: Option<(Extracted, String)>,
    fallback: Option<(Extracted, String)>,
    maps: Vec<(Extracted, String)>,
    configs: Vec<(Extracted, String)>,
    member: Option<(Extracted, Option<String>)>,
    files: u64,
    modules: u64,
    sample: Vec<String>,
    module_sample: Vec<String>,
}

impl<'s> Search<'s> {
    fn new(sel: &'s Select, limits: Limits) -> Self {
        Search {
            sel,
            limits,
            vmlinux: None,
            fallback: None,
            maps: Vec::new(),
            configs: Vec::new(),
            member: None,
            files: 0,
            modules: 0,
            sample: Vec::new(),
            module_sample: Vec::new(),
        }
    }

    fn release(&self) -> Option<&str> {
        self.sel
            .release
            .as_deref()
            .or(self.vmlinux.as_ref().map(|v| v.1.as_str()))
    }

    fn done(&self) -> bool {
        let rel = self.release();
        let has =
            |v: &[(Extracted, String)]| v.iter().any(|(_, r)| rel.is_none_or(|want| want == r));
        (!self.sel.vmlinux || self.vmlinux.is_some())
            && (self.sel.member.is_none() || self.member.is_some())
            && (!self.sel.wait_for_system_map || has(&self.maps))
            && (!self.sel.wait_for_config || has(&self.configs))
    }

    fn read(
        &self,
        path: &Path,
        e: &Entry<'_>,
        rd: &mut dyn Read,
        cap: u64,
    ) -> Result<Extracted, PackageError> {
        let data = read_bounded(rd, e.size, cap).map_err(|b| match b {
            Bounded::TooLarge(size) => PackageError::TooLarge {
                path: path.to_owned(),
                member: e.path.to_owned(),
                size,
                cap,
            },
            Bounded::Io(source) => PackageError::MemberRead {
                path: path.to_owned(),
                member: e.path.to_owned(),
                source,
            },
        })?;
        let (_, compression) = strip_compression(e.path);
        let sniffed = decode::sniff(&data);
        let compression = if compression != Compression::None && sniffed == compression {
            compression
        } else {
            Compression::None
        };
        let data = if compression == Compression::None {
            data
        } else {
            decode::decompress_all(compression, &data, cap).map_err(|err| {
                PackageError::Decompress {
                    path: path.to_owned(),
                    member: e.path.to_owned(),
                    message: format!("{compression}: {err}"),
                }
            })?
        };
        Ok(Extracted {
            path: e.path.to_owned(),
            data,
            stored_size: e.size,
            compression,
        })
    }

    fn visit(
        &mut self,
        path: &Path,
        e: &Entry<'_>,
        rd: &mut dyn Read,
    ) -> Result<Flow, PackageError> {
        if e.kind != EntryKind::File {
            return Ok(Flow::Continue);
        }
        self.files += 1;
        if self.sample.len() < SAMPLE {
            self.sample.push(e.path.to_owned());
        }
        let module = is_module(e.path);
        if module {
            self.modules += 1;
            if self.module_sample.len() < SAMPLE {
                self.module_sample.push(e.path.to_owned());
            }
        }
        let rel_ok = |r: &str| self.sel.release.as_deref().is_none_or(|w| w == r);
        if let (Some(want), None) = (&self.sel.member, &self.member) {
            if module && member_matches(e.path, want) {
                let rel = module_release(e.path);
                if rel.as_deref().is_none_or(rel_ok) {
                    let x = self.read(path, e, rd, self.limits.max_file)?;
                    self.member = Some((x, rel));
                    return Ok(if self.done() {
                        Flow::Stop
                    } else {
                        Flow::Continue
                    });
                }
            }
        }
        let Some((role, rel)) = classify(e.path) else {
            return Ok(Flow::Continue);
        };
        if !rel_ok(&rel) {
            return Ok(Flow::Continue);
        }
        match role {
            Role::Vmlinux { debug } => {
                if !self.sel.vmlinux
                    || self.vmlinux.is_some()
                    || (!debug && self.fallback.is_some())
                {
                    return Ok(Flow::Continue);
                }
                let x = self.read(path, e, rd, self.limits.max_file)?;
                if debug {
                    self.vmlinux = Some((x, rel));
                    self.fallback = None;
                } else {
                    self.fallback = Some((x, rel));
                }
            }
            Role::SystemMap | Role::Config => {
                let list = if role == Role::SystemMap {
                    &self.maps
                } else {
                    &self.configs
                };
                if list.len() >= MAX_CANDIDATES || list.iter().any(|(_, r)| *r == rel) {
                    return Ok(Flow::Continue);
                }
                let x = self.read(path, e, rd, self.limits.max_text)?;
                let list = if role == Role::SystemMap {
                    &mut self.maps
                } else {
                    &mut self.configs
                };
                list.push((x, rel));
            }
        }
        Ok(if self.done() {
            Flow::Stop
        } else {
            Flow::Continue
        })
    }

    fn finish(mut self, path: &Path) -> Result<KernelFiles, PackageError> {
        let vmlinux = self.vmlinux.take().or(self.fallback.take());
        if self.sel.vmlinux && vmlinux.is_none() {
            return Err(PackageError::NoVmlinux {
                path: path.to_owned(),
                release: self.sel.release.clone(),
                files: self.files,
                sample: self.sample,
            });
        }
        if let (Some(want), None) = (&self.sel.member, &self.member) {
            let modules = self.modules;
            return Err(PackageError::NoMember {
                path: path.to_owned(),
                member: want.clone(),
                files: self.files,
                modules,
                sample: if modules > 0 {
                    self.module_sample
                } else {
                    self.sample
                },
            });
        }
        let release = self
            .sel
            .release
            .clone()
            .or(vmlinux.as_ref().map(|v| v.1.clone()))
            .or(self.member.as_ref().and_then(|m| m.1.clone()))
            .or(self.maps.first().map(|m| m.1.clone()));
        let pick = |v: Vec<(Extracted, String)>| -> Option<Extracted> {
            match &release {
                Some(r) => v.into_iter().find(|(_, x)| x == r).map(|(e, _)| e),
                None => v.into_iter().next().map(|(e, _)| e),
            }
        };
        let system_map = pick(std::mem::take(&mut self.maps));
        let config = pick(std::mem::take(&mut self.configs));
        let vmlinux = vmlinux.map(|v| v.0);
        let member = self.member.map(|m| m.0);
        let elf = vmlinux.as_ref().or(member.as_ref());
        let banner = vmlinux.as_ref().and_then(|v| find_banner(&v.data));
        let build_id = elf.and_then(|x| elf_build_id(&x.data));
        Ok(KernelFiles {
            release,
            vmlinux,
            system_map,
            config,
            member,
            banner,
            build_id,
        })
    }
}

/// The first `Linux version N...` string in `data` (the kernel's
/// `linux_banner`), without its newline.
pub fn find_banner(data: &[u8]) -> Option<String> {
    const NEEDLE: &[u8] = b"Linux version ";
    for at in memchr::memmem::find_iter(data, NEEDLE) {
        let rest = &data[at..];
        if !rest.get(NEEDLE.len()).is_some_and(u8::is_ascii_digit) {
            continue;
        }
        let end = rest
            .iter()
            .take(1024)
            .position(|&b| b == b'\n' || b == 0)
            .unwrap_or(rest.len().min(1024));
        let s = &rest[..end];
        if s.iter().all(|b| (0x20..0x7f).contains(b)) {
            return Some(String::from_utf8_lossy(s).into_owned());
        }
    }
    None
}

/// The GNU build-id note of an ELF file, if it has one.
pub fn elf_build_id(data: &[u8]) -> Option<Vec<u8>> {
    use object::Object;
    let file = object::File::parse(data).ok()?;
    file.build_id().ok().flatten().map(<[u8]>::to_vec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_kernel_paths() {
        let v = |p| classify(p);
        assert_eq!(
            v("usr/lib/debug/boot/vmlinux-6.1.0-57-amd64"),
            Some((Role::Vmlinux { debug: true }, "6.1.0-57-amd64".into()))
        );
        assert_eq!(
            v("usr/lib/debug/lib/modules/6.8.0-1.fc40.x86_64/vmlinux"),
            Some((Role::Vmlinux { debug: true }, "6.8.0-1.fc40.x86_64".into()))
        );
        assert_eq!(
            v("usr/lib/debug/boot/vmlinux-5.14.21-default.debug"),
            Some((Role::Vmlinux { debug: true }, "5.14.21-default".into()))
        );
        assert_eq!(
            v("boot/vmlinux-5.14.21-default.xz"),
            Some((Role::Vmlinux { debug: false }, "5.14.21-default".into()))
        );
        assert_eq!(
            v("boot/System.map-6.1"),
            Some((Role::SystemMap, "6.1".into()))
        );
        assert_eq!(
            v("lib/modules/6.8/System.map"),
            Some((Role::SystemMap, "6.8".into()))
        );
        assert_eq!(
            v("usr/lib/modules/6.8/config"),
            Some((Role::Config, "6.8".into()))
        );
        assert_eq!(v("usr/lib/debug/lib/modules/6.1/kernel/x.ko"), None);
        assert_eq!(v("boot/vmlinuz-6.1"), None);
        assert_eq!(v("usr/lib/debug/.build-id/ab/cdef.debug"), None);
    }

    #[test]
    fn matches_modules() {
        let p = "usr/lib/debug/lib/modules/6.1/kernel/drivers/block/loop.ko";
        assert!(member_matches(p, "loop.ko"));
        assert!(member_matches(p, "loop"));
        assert!(member_matches(p, "block/loop.ko"));
        assert!(member_matches(p, "drivers/block/loop.ko"));
        assert!(!member_matches(p, "lock/loop.ko"));
        assert!(!member_matches(p, "oop.ko"));
        assert!(member_matches(
            "lib/modules/6.1/kernel/drivers/block/loop.ko.xz",
            "loop.ko"
        ));
        assert!(member_matches(
            "usr/lib/debug/lib/modules/6.1/kernel/sound/snd-aloop.ko.debug",
            "snd_aloop"
        ));
        assert!(!member_matches(p, ""));
        assert_eq!(module_release(p).as_deref(), Some("6.1"));
    }

    #[test]
    fn detects_by_content() {
        let mut deb = ar::MAGIC.to_vec();
        deb.extend_from_slice(
            b"debian-binary   0           0     0     100644  4         `\n2.0\n",
        );
        assert_eq!(detect(&deb), Some(PackageKind::Deb));
        let mut lib = ar::MAGIC.to_vec();
        lib.extend_from_slice(b"foo.o/          0           0     0     100644  4         `\n");
        assert_eq!(detect(&lib), None);
        assert_eq!(
            detect(&[0xed, 0xab, 0xee, 0xdb, 3, 0]),
            Some(PackageKind::Rpm)
        );
        assert_eq!(detect(b"\x7fELF"), None);
        assert_eq!(normalise("./usr/lib/"), "usr/lib");
        assert_eq!(normalise("/./x"), "x");
    }

    #[test]
    fn banner() {
        let d = b"xxLinux version %s\0Linux version 6.1.0-57-amd64 (debian) #1 SMP\n\0";
        assert_eq!(
            find_banner(d).as_deref(),
            Some("Linux version 6.1.0-57-amd64 (debian) #1 SMP")
        );
        assert_eq!(find_banner(b"Linux version "), None);
    }

    #[test]
    fn bounded_reads() {
        let data = vec![1u8; 1000];
        assert_eq!(
            read_bounded(&mut &data[..], 1000, 1000)
                .ok()
                .map(|v| v.len()),
            Some(1000)
        );
        assert!(matches!(
            read_bounded(&mut &data[..], 1001, 2000),
            Err(Bounded::Io(_))
        ));
        assert!(matches!(
            read_bounded(&mut &data[..], 1000, 999),
            Err(Bounded::TooLarge(1000))
        ));
    }
}
