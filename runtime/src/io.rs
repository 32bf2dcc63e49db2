//! Reading gzipped-or-plain bytes and writing files atomically.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The gzip magic number.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// True when `bytes` start with the gzip magic.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// Returns `bytes`, gunzipped when they are gzip (by content, not by name).
///
/// `limit` caps the decompressed size, so a hostile "gzip bomb" cannot exhaust
/// memory; the error names `what`.
pub fn read_maybe_gzip(bytes: Vec<u8>, what: &str, limit: u64) -> Result<Vec<u8>> {
    if !is_gzip(&bytes) {
        return Ok(bytes);
    }
    // The gzip trailer holds the inflated size modulo 2^32 (exact for one
    // member under 4 GiB): reserve that, so the output is never copied while
    // it grows. A hostile trailer only costs a capacity up to `limit`.
    let trailer = bytes
        .len()
        .checked_sub(4)
        .and_then(|at| bytes.get(at..))
        .and_then(|t| <[u8; 4]>::try_from(t).ok())
        .map(u32::from_le_bytes)
        .map_or(0, |n| n as usize)
        // Deflate expands at most about 1032:1: a trailer claiming more lies.
        .min(bytes.len().saturating_mul(1032));
    let guess = trailer.max(bytes.len().saturating_mul(4));
    let cap = usize::try_from(limit).map_or(guess, |l| guess.min(l.saturating_add(1)));
    let mut out = Vec::with_capacity(cap);
    // `bufread` over the slice: the inflater reads the input in place.
    let decoder = flate2::bufread::MultiGzDecoder::new(&bytes[..]);
    decoder
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| Error::format(what, format!("corrupt gzip data: {e}")))?;
    if out.len() as u64 > limit {
        return Err(Error::format(
            what,
            format!("decompressed size exceeds the limit of {limit} bytes"),
        ));
    }
    Ok(out)
}

/// The xz magic number.
const XZ_MAGIC: [u8; 6] = [0xfd, b'7', b'z', b'X', b'Z', 0];

/// True when `bytes` start with the xz magic.
pub fn is_xz(bytes: &[u8]) -> bool {
    bytes.starts_with(&XZ_MAGIC)
}

/// Returns `bytes` decompressed when they are gzip or xz (detected by their
/// magic, not by name), as they are otherwise; `limit` caps the decompressed
/// size (see [`read_maybe_gzip`]). An xz stream of several blocks (as
/// `profc` writes ISF) is decoded on as many threads as there are cores.
pub fn read_compressed(bytes: Vec<u8>, what: &str, limit: u64) -> Result<Vec<u8>> {
    if !is_xz(&bytes) {
        return read_maybe_gzip(bytes, what, limit);
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8) as u32;
    let stream = liblzma::stream::MtStreamBuilder::new()
        .threads(threads)
        .memlimit_threading(256 << 20)
        .memlimit_stop(1 << 30)
        .decoder()
        .map_err(|e| Error::format(what, format!("xz decoder: {e}")))?;
    let cap = usize::try_from(limit).map_or(usize::MAX, |l| l.saturating_add(1));
    let mut out = Vec::with_capacity(bytes.len().saturating_mul(8).min(cap));
    liblzma::bufread::XzDecoder::new_stream(&bytes[..], stream)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| Error::format(what, format!("corrupt xz data: {e}")))?;
    if out.len() as u64 > limit {
        return Err(Error::format(
            what,
            format!("decompressed size exceeds the limit of {limit} bytes"),
        ));
    }
    Ok(out)
}

/// Whether an existing output file may be replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Fail with [`Error::Exists`] when the destination exists.
    CreateNew,
    /// Replace the destination atomically.
    Overwrite,
}

/// What kind of non-regular file `m` describes, for an error message.
fn kind_of(m: &std::fs::Metadata) -> &'static str {
    let t = m.file_type();
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// Refuses an existing `path` that is not a regular file (after following
/// symbolic links): a FIFO, a device, a directory, a socket. Writing a file
/// replaces only regular files, so `--overwrite` never turns a FIFO or a
/// device node into a plain file. A missing `path` is fine.
pub fn check_replaceable(path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => Err(Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "is {}: only a regular file can be replaced by an output",
                    kind_of(&m)
                ),
            ),
        }),
        _ => Ok(()),
    }
}

/// True when `a` and `b` name the same existing file: the same device and
/// inode (so through any path, hard link or symbolic link), or, off Unix,
/// the same canonical path.
pub fn same_file(a: &Path, b: &Path) -> bool {
    let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        ma.dev() == mb.dev() && ma.ino() == mb.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = (ma, mb);
        matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
    }
}

/// Refuses an output that is one of the `inputs` (see [`same_file`]):
/// writing it would destroy the input.
pub fn check_not_input(out: &Path, inputs: &[&Path]) -> Result<()> {
    match inputs.iter().find(|i| same_file(out, i)) {
        Some(input) => Err(Error::Io {
            path: out.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "is the input {} (the same file): refusing to overwrite an input; choose another output",
                    input.display()
                ),
            ),
        }),
        None => Ok(()),
    }
}

/// Writes a file atomically: the content goes to a temporary file in the same
/// directory, is flushed to disk, and is renamed over `path` only when
/// complete. A failure at any point leaves no partial file behind.
pub fn write_atomic(
    path: &Path,
    mode: WriteMode,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let io_err = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    if mode == WriteMode::CreateNew && path.exists() {
        return Err(Error::Exists(path.to_path_buf()));
    }
    check_replaceable(path)?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{file_name}."))
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(io_err)?;
    // Temporary files are created private (0600); a profile is meant to be
    // shared, so give it the mode of the file it replaces, or 0644.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_or(0o644, |m| m.permissions().mode() & 0o7777);
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(io_err)?;
    }
    {
        let mut buffered = std::io::BufWriter::with_capacity(1 << 16, tmp.as_file_mut());
        write(&mut buffered).map_err(io_err)?;
        buffered.flush().map_err(io_err)?;
    }
    tmp.as_file().sync_all().map_err(io_err)?;
    match mode {
        WriteMode::Overwrite => {
            tmp.persist(path).map_err(|e| io_err(e.error))?;
        }
        WriteMode::CreateNew => {
            tmp.persist_noclobber(path).map_err(|e| {
                if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                    Error::Exists(path.to_path_buf())
                } else {
                    io_err(e.error)
                }
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_refuses_existing_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        write_atomic(&path, WriteMode::CreateNew, |w| w.write_all(b"one")).unwrap();
        assert!(matches!(
            write_atomic(&path, WriteMode::CreateNew, |w| w.write_all(b"two")),
            Err(Error::Exists(_))
        ));
        // A failing writer leaves the old content and no temporary file.
        let failed = write_atomic(&path, WriteMode::Overwrite, |w| {
            w.write_all(b"partial")?;
            Err(std::io::Error::other("disk full"))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o644);
        }
    }

    #[test]
    fn gzip_bombs_are_capped() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![b' '; 1 << 20]).unwrap();
        let bytes = gz.finish().unwrap();
        assert!(read_maybe_gzip(bytes.clone(), "bomb", 1000).is_err());
        assert_eq!(
            read_maybe_gzip(bytes, "ok", 2 << 20).unwrap().len(),
            1 << 20
        );
    }
}
