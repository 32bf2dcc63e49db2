//! Decompressors of package payloads and members, chosen by content.
//!
//! Every decoder is a streaming [`Read`]: nothing is decompressed ahead of
//! what the reader asks for (beyond the decoder's own buffers), so a
//! payload is never unpacked to disk nor held whole in memory.

use std::fmt;
use std::io::{self, Read};

/// A compression method of a payload or a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Stored as is.
    None,
    /// gzip (RFC 1952), members concatenated or not.
    Gzip,
    /// xz (`.xz`): decoded with several threads when the stream has
    /// several blocks (as `xz -T` and `dpkg-deb` write them).
    Xz,
    /// The legacy `.lzma` ("LZMA alone") format.
    Lzma,
    /// Zstandard.
    Zstd,
    /// bzip2: recognised, not supported (old packages only).
    Bzip2,
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Xz => "xz",
            Compression::Lzma => "lzma",
            Compression::Zstd => "zstd",
            Compression::Bzip2 => "bzip2",
        })
    }
}

/// Bytes needed by [`sniff`].
pub const SNIFF_LEN: usize = 6;

/// The compression of a stream starting with `head`, by magic number
/// (`Compression::None` when no magic matches).
pub fn sniff(head: &[u8]) -> Compression {
    if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Compression::Xz
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(b"BZh") {
        Compression::Bzip2
    } else if head.len() >= 5 && head[0] == 0x5d && lzma_dict_ok(&head[1..5]) {
        // LZMA alone: properties byte 0x5d (lc=3 lp=0 pb=2, what every
        // encoder writes) and a dictionary size of 2^n or 2^n + 2^(n-1).
        Compression::Lzma
    } else {
        Compression::None
    }
}

fn lzma_dict_ok(le: &[u8]) -> bool {
    let d = u32::from_le_bytes([le[0], le[1], le[2], le[3]]);
    d >= 4096 && (d.is_power_of_two() || (d.is_multiple_of(3) && (d / 3).is_power_of_two()))
}

/// The compression a file name's extension names (`.xz`, `.zst`, `.gz`,
/// `.lzma`, `.bz2`), if any.
pub fn by_extension(name: &str) -> Option<Compression> {
    let ext = name.rsplit_once('.').map(|(_, e)| e)?;
    Some(match ext {
        "xz" => Compression::Xz,
        "zst" | "zstd" => Compression::Zstd,
        "gz" => Compression::Gzip,
        "lzma" => Compression::Lzma,
        "bz2" => Compression::Bzip2,
        _ => return None,
    })
}

/// Memory the xz and lzma decoders may use before they fail (a stream
/// that declares a larger dictionary is rejected): 1 GiB. Real packages
/// use dictionaries of 8 to 64 MiB.
pub const XZ_MEMLIMIT: u64 = 1 << 30;
/// Memory the multi-threaded xz decoder may use for its threads before it
/// falls back to one thread: 512 MiB.
pub const XZ_MEMLIMIT_THREADING: u64 = 512 << 20;
/// Largest number of xz decoding threads used by default.
pub const MAX_THREADS: u32 = 8;

/// How many threads the xz decoder uses when `threads` is 0 (automatic).
pub fn auto_threads(threads: u32) -> u32 {
    if threads > 0 {
        return threads;
    }
    std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1)
        .clamp(1, MAX_THREADS)
}

/// Reads the first bytes of `r` (up to [`SNIFF_LEN`]), and returns the
/// compression they show with a reader that yields the whole stream again.
pub fn sniff_reader<'a>(
    mut r: Box<dyn Read + 'a>,
) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    let mut head = [0u8; SNIFF_LEN];
    let mut n = 0;
    while n < head.len() {
        match r.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let c = sniff(&head[..n]);
    let again: Box<dyn Read + 'a> = Box::new(io::Cursor::new(head[..n].to_vec()).chain(r));
    Ok((c, again))
}

/// A decoder of `c` over `r`. `threads` is the xz thread count (0:
/// automatic); one thread is used for a single-block stream whatever it
/// says. Fails for bzip2.
pub fn decoder<'a>(
    c: Compression,
    r: Box<dyn Read + 'a>,
    threads: u32,
) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match c {
        Compression::None => r,
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(io::BufReader::new(r))),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(r)?),
        Compression::Xz => {
            let threads = auto_threads(threads);
            let stream = if threads > 1 {
                liblzma::stream::MtStreamBuilder::new()
                    .threads(threads)
                    .memlimit_threading(XZ_MEMLIMIT_THREADING)
                    .memlimit_stop(XZ_MEMLIMIT)
                    .decoder()
            } else {
                liblzma::stream::Stream::new_stream_decoder(
                    XZ_MEMLIMIT,
                    liblzma::stream::CONCATENATED,
                )
            }
            .map_err(io::Error::other)?;
            Box::new(liblzma::bufread::XzDecoder::new_stream(
                io::BufReader::with_capacity(1 << 20, r),
                stream,
            ))
        }
        Compression::Lzma => {
            let stream =
                liblzma::stream::Stream::new_lzma_decoder(XZ_MEMLIMIT).map_err(io::Error::other)?;
            Box::new(liblzma::bufread::XzDecoder::new_stream(
                io::BufReader::with_capacity(1 << 20, r),
                stream,
            ))
        }
        Compression::Bzip2 => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "bzip2 compression is not supported",
            ))
        }
    })
}

/// Decompresses `data` (a member such as `loop.ko.xz`) in memory, failing
/// when the result would exceed `cap` bytes.
pub fn decompress_all(c: Compression, data: &[u8], cap: u64) -> io::Result<Vec<u8>> {
    let dec = decoder(c, Box::new(data), 1)?;
    let mut out = Vec::with_capacity(data.len().saturating_mul(4).min(cap as usize));
    dec.take(cap.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > cap {
        return Err(io::Error::other(format!(
            "decompresses to more than the cap of {cap} bytes"
        )));
    }
    Ok(out)
}

/// A reader that counts what passes, fails past a cap, and reports
/// progress now and then.
pub(crate) struct Counted<'a, R> {
    pub(crate) inner: R,
    pub(crate) count: u64,
    cap: u64,
    what: &'static str,
    report: Option<&'a dyn Fn(u64)>,
    next_report: u64,
}

/// Bytes between two progress reports of a [`Counted`] reader.
const REPORT_EVERY: u64 = 4 << 20;

impl<'a, R: Read> Counted<'a, R> {
    pub(crate) fn new(
        inner: R,
        cap: u64,
        what: &'static str,
        report: Option<&'a dyn Fn(u64)>,
    ) -> Self {
        Counted {
            inner,
            count: 0,
            cap,
            what,
            report,
            next_report: REPORT_EVERY,
        }
    }
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        if self.count > self.cap {
            return Err(io::Error::other(format!(
                "{} exceeds the cap of {} bytes",
                self.what, self.cap
            )));
        }
        if let Some(f) = self.report {
            if self.count >= self.next_report || n == 0 {
                self.next_report = self.count + REPORT_EVERY;
                f(self.count);
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn roundtrip(c: Compression, packed: Vec<u8>, plain: &[u8]) {
        assert_eq!(sniff(&packed), c);
        let (got, r) = sniff_reader(Box::new(&packed[..])).unwrap();
        assert_eq!(got, c);
        let mut out = Vec::new();
        decoder(c, r, 2).unwrap().read_to_end(&mut out).unwrap();
        assert_eq!(out, plain);
        assert_eq!(
            decompress_all(c, &packed, plain.len() as u64).unwrap(),
            plain
        );
        assert!(decompress_all(c, &packed, plain.len() as u64 - 1).is_err());
    }

    #[test]
    fn every_method_decodes() {
        let plain: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&plain).unwrap();
        roundtrip(Compression::Gzip, gz.finish().unwrap(), &plain);
        roundtrip(
            Compression::Zstd,
            zstd::encode_all(&plain[..], 3).unwrap(),
            &plain,
        );
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(&plain).unwrap();
        roundtrip(Compression::Xz, xz.finish().unwrap(), &plain);
        let opts = liblzma::stream::LzmaOptions::new_preset(1).unwrap();
        let s = liblzma::stream::Stream::new_lzma_encoder(&opts).unwrap();
        let mut lz = liblzma::write::XzEncoder::new_stream(Vec::new(), s);
        lz.write_all(&plain).unwrap();
        roundtrip(Compression::Lzma, lz.finish().unwrap(), &plain);
        assert_eq!(sniff(b"BZh91AY"), Compression::Bzip2);
        assert!(decoder(Compression::Bzip2, Box::new(&b""[..]), 1).is_err());
        assert_eq!(by_extension("loop.ko.zst"), Some(Compression::Zstd));
        assert_eq!(by_extension("loop.ko"), None);
    }

    #[test]
    fn counted_caps() {
        let data = [7u8; 100];
        let mut c = Counted::new(&data[..], 50, "payload", None);
        let mut out = Vec::new();
        let e = c.read_to_end(&mut out).unwrap_err();
        assert!(e.to_string().contains("cap of 50"), "{e}");
    }
}
