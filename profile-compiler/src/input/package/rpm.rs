//! RPM packages: the lead, the signature header and the header, read from
//! a stream, leaving it at the start of the (compressed cpio) payload.
//!
//! Layout (RPM v3/v4 file format): a 96-byte lead starting with the magic
//! `ed ab ee db`; the signature header, padded to a multiple of 8 bytes;
//! the header; the payload. A header is the magic `8e ad e8 01`, 4
//! reserved bytes, the count of index entries and the size of the data
//! store (big-endian 32-bit), the index entries (16 bytes each: tag, type,
//! offset, count) and the data store.
//!
//! Hand-written (some 200 lines, bounded and fuzzed) rather than taken from
//! the `rpm` crate, whose reader pulls in signature, digest and builder
//! machinery this crate has no use for. Caps: [`MAX_INDEX`] index entries
//! and [`MAX_DATA`] bytes of data store per header (RPM's own limits);
//! a header's data is read only as far as the file really holds it.

use std::io::{self, Read};

use super::{EntryKind, WalkError};

/// The lead's magic.
pub const LEAD_MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];
/// A header's magic (with version 1).
pub const HEADER_MAGIC: [u8; 4] = [0x8e, 0xad, 0xe8, 0x01];
/// Size of the lead.
pub const LEAD_LEN: u64 = 96;
/// Most index entries accepted in one header.
pub const MAX_INDEX: u32 = 0xffff;
/// Largest data store accepted in one header: 256 MiB.
pub const MAX_DATA: u32 = 0x0fff_ffff;

/// Header tags used here.
pub mod tag {
    /// Package name.
    pub const NAME: u32 = 1000;
    /// Version.
    pub const VERSION: u32 = 1001;
    /// Release.
    pub const RELEASE: u32 = 1002;
    /// Architecture.
    pub const ARCH: u32 = 1022;
    /// Full file names (old packages without directory compression).
    pub const OLDFILENAMES: u32 = 1027;
    /// File sizes (32-bit).
    pub const FILESIZES: u32 = 1028;
    /// File modes.
    pub const FILEMODES: u32 = 1030;
    /// Symbolic link targets.
    pub const FILELINKTOS: u32 = 1036;
    /// Index of each file's directory in [`DIRNAMES`].
    pub const DIRINDEXES: u32 = 1116;
    /// File base names.
    pub const BASENAMES: u32 = 1117;
    /// Directory names (ending with `/`).
    pub const DIRNAMES: u32 = 1118;
    /// Payload archive format (`cpio`).
    pub const PAYLOADFORMAT: u32 = 1124;
    /// Payload compressor (`gzip`, `xz`, `zstd`, ...).
    pub const PAYLOADCOMPRESSOR: u32 = 1125;
    /// File sizes (64-bit).
    pub const LONGFILESIZES: u32 = 5008;
}

const T_INT16: u32 = 3;
const T_INT32: u32 = 4;
const T_INT64: u32 = 5;
const T_STRING: u32 = 6;
const T_STRING_ARRAY: u32 = 8;
const T_I18NSTRING: u32 = 9;

/// One index entry of a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Index {
    tag: u32,
    ty: u32,
    offset: u32,
    count: u32,
}

/// A parsed header: its index and data store.
#[derive(Debug, Clone, Default)]
pub struct Header {
    index: Vec<Index>,
    data: Vec<u8>,
}

/// A file listed in the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// Path without the leading `/`.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Its kind, from the mode.
    pub kind: EntryKind,
}

impl Header {
    fn find(&self, tag: u32) -> Option<&Index> {
        self.index.iter().find(|i| i.tag == tag)
    }

    fn strings_at(&self, offset: u32, count: u32) -> Option<Vec<&str>> {
        let mut out = Vec::with_capacity((count as usize).min(4096));
        let mut at = offset as usize;
        for _ in 0..count {
            let rest = self.data.get(at..)?;
            let end = memchr::memchr(0, rest)?;
            out.push(std::str::from_utf8(&rest[..end]).ok()?);
            at += end + 1;
        }
        Some(out)
    }

    /// A string tag (`STRING`, or the first of an `I18NSTRING`).
    pub fn string(&self, tag: u32) -> Option<&str> {
        let i = self.find(tag)?;
        match i.ty {
            T_STRING | T_I18NSTRING | T_STRING_ARRAY if i.count >= 1 => {
                self.strings_at(i.offset, 1)?.pop()
            }
            _ => None,
        }
    }

    /// A string-array tag.
    pub fn strings(&self, tag: u32) -> Option<Vec<&str>> {
        let i = self.find(tag)?;
        match i.ty {
            T_STRING_ARRAY | T_I18NSTRING | T_STRING => self.strings_at(i.offset, i.count),
            _ => None,
        }
    }

    fn ints(&self, tag: u32, ty: u32, width: usize) -> Option<Vec<u64>> {
        let i = self.find(tag)?;
        if i.ty != ty {
            return None;
        }
        let len = (i.count as usize).checked_mul(width)?;
        let start = i.offset as usize;
        let bytes = self.data.get(start..start.checked_add(len)?)?;
        Some(
            bytes
                .chunks_exact(width)
                .map(|c| c.iter().fold(0u64, |a, &b| a << 8 | u64::from(b)))
                .collect(),
        )
    }

    /// An integer-array tag of type `INT16`, `INT32` or `INT64`, widened.
    pub fn integers(&self, tag: u32) -> Option<Vec<u64>> {
        let ty = self.find(tag)?.ty;
        match ty {
            T_INT16 => self.ints(tag, T_INT16, 2),
            T_INT32 => self.ints(tag, T_INT32, 4),
            T_INT64 => self.ints(tag, T_INT64, 8),
            _ => None,
        }
    }

    /// The files the header lists, with sizes and kinds, in header order
    /// (which is the payload's order). Empty when the lists are missing
    /// or inconsistent.
    pub fn files(&self) -> Vec<FileInfo> {
        let names: Vec<String> = match (
            self.strings(tag::BASENAMES),
            self.strings(tag::DIRNAMES),
            self.integers(tag::DIRINDEXES),
        ) {
            (Some(base), Some(dirs), Some(idx)) if base.len() == idx.len() => {
                let mut v = Vec::with_capacity(base.len());
                for (b, i) in base.iter().zip(&idx) {
                    let Some(d) = dirs.get(*i as usize) else {
                        return Vec::new();
                    };
                    v.push(format!("{d}{b}"));
                }
                v
            }
            _ => match self.strings(tag::OLDFILENAMES) {
                Some(v) => v.into_iter().map(str::to_owned).collect(),
                None => return Vec::new(),
            },
        };
        let sizes = self
            .integers(tag::LONGFILESIZES)
            .or_else(|| self.integers(tag::FILESIZES))
            .unwrap_or_default();
        let modes = self.integers(tag::FILEMODES).unwrap_or_default();
        names
            .into_iter()
            .enumerate()
            .map(|(k, n)| {
                let mode = modes.get(k).copied().unwrap_or(0o100000);
                let kind = match mode & 0o170000 {
                    0o100000 => EntryKind::File,
                    0o040000 => EntryKind::Dir,
                    0o120000 => EntryKind::Symlink,
                    _ => EntryKind::Other,
                };
                FileInfo {
                    path: super::normalise(&n).to_owned(),
                    size: if kind == EntryKind::File {
                        sizes.get(k).copied().unwrap_or(0)
                    } else {
                        0
                    },
                    kind,
                }
            })
            .collect()
    }
}

/// What precedes the payload.
#[derive(Debug, Clone)]
pub struct Headers {
    /// Major version of the lead (3 or 4).
    pub lead_major: u8,
    /// The signature header.
    pub signature: Header,
    /// The header.
    pub header: Header,
    /// Offset of the payload in the file.
    pub payload_offset: u64,
}

struct Pos<'a> {
    inner: &'a mut dyn Read,
    pos: u64,
}

impl Pos<'_> {
    fn exact(&mut self, buf: &mut [u8], what: &str) -> Result<(), WalkError> {
        let at = self.pos;
        match self.inner.read_exact(buf) {
            Ok(()) => {
                self.pos += buf.len() as u64;
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                Err(WalkError::bad("rpm", at, format!("truncated {what}")))
            }
            Err(e) => Err(WalkError::io("rpm", at, e)),
        }
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn read_header(p: &mut Pos<'_>, what: &str) -> Result<Header, WalkError> {
    let at = p.pos;
    let mut intro = [0u8; 16];
    p.exact(&mut intro, what)?;
    if intro[..4] != HEADER_MAGIC {
        return Err(WalkError::bad(
            "rpm",
            at,
            format!("{what}: no header magic (8e ad e8 01)"),
        ));
    }
    let nindex = be32(&intro[8..12]);
    let hsize = be32(&intro[12..16]);
    if nindex == 0 || nindex > MAX_INDEX {
        return Err(WalkError::bad(
            "rpm",
            at,
            format!("{what}: {nindex} index entries (accepted: 1..={MAX_INDEX})"),
        ));
    }
    if hsize > MAX_DATA {
        return Err(WalkError::bad(
            "rpm",
            at,
            format!("{what}: data store of {hsize} bytes is over the cap of {MAX_DATA}"),
        ));
    }
    let mut raw = vec![0u8; nindex as usize * 16];
    p.exact(&mut raw, what)?;
    let index: Vec<Index> = raw
        .chunks_exact(16)
        .map(|c| Index {
            tag: be32(&c[0..4]),
            ty: be32(&c[4..8]),
            offset: be32(&c[8..12]),
            count: be32(&c[12..16]),
        })
        .collect();
    if let Some(bad) = index.iter().find(|i| i.offset > hsize) {
        return Err(WalkError::bad(
            "rpm",
            at,
            format!(
                "{what}: tag {} points at offset {} past the data store ({hsize} bytes)",
                bad.tag, bad.offset
            ),
        ));
    }
    // Grown as the data really arrives: a declared size is not trusted.
    let mut data = Vec::with_capacity((hsize as usize).min(1 << 20));
    let got = (&mut *p.inner)
        .take(u64::from(hsize))
        .read_to_end(&mut data)
        .map_err(|e| WalkError::io("rpm", p.pos, e))?;
    p.pos += got as u64;
    if got < hsize as usize {
        return Err(WalkError::bad(
            "rpm",
            p.pos,
            format!("truncated {what} data store"),
        ));
    }
    Ok(Header { index, data })
}

/// Whether `head` starts with an RPM lead.
pub fn is_rpm(head: &[u8]) -> bool {
    head.starts_with(&LEAD_MAGIC)
}

/// Reads the lead and both headers from `r`, leaving it at the payload.
pub fn read_headers(r: &mut dyn Read) -> Result<Headers, WalkError> {
    let mut p = Pos { inner: r, pos: 0 };
    let mut lead = [0u8; LEAD_LEN as usize];
    p.exact(&mut lead, "lead")?;
    if !is_rpm(&lead) {
        return Err(WalkError::bad("rpm", 0, "no RPM lead magic (ed ab ee db)"));
    }
    let lead_major = lead[4];
    if !(3..=4).contains(&lead_major) {
        return Err(WalkError::bad(
            "rpm",
            4,
            format!("lead version {lead_major} (supported: 3 and 4)"),
        ));
    }
    let signature = read_header(&mut p, "signature header")?;
    let pad = (8 - p.pos % 8) % 8;
    let mut padding = [0u8; 8];
    p.exact(&mut padding[..pad as usize], "signature padding")?;
    let header = read_header(&mut p, "header")?;
    Ok(Headers {
        lead_major,
        signature,
        header,
        payload_offset: p.pos,
    })
}

/// Builds a header from `(tag, type, bytes, count)` entries, for tests and
/// fuzz seeds.
pub fn build_header(entries: &[(u32, u32, Vec<u8>, u32)]) -> Vec<u8> {
    let mut index = Vec::new();
    let mut data = Vec::new();
    for (tag, ty, bytes, count) in entries {
        let align = match *ty {
            T_INT16 => 2,
            T_INT32 => 4,
            T_INT64 => 8,
            _ => 1,
        };
        while data.len() % align != 0 {
            data.push(0);
        }
        for v in [*tag, *ty, data.len() as u32, *count] {
            index.extend_from_slice(&v.to_be_bytes());
        }
        data.extend_from_slice(bytes);
    }
    let mut h = HEADER_MAGIC.to_vec();
    h.extend_from_slice(&[0; 4]);
    h.extend_from_slice(&(entries.len() as u32).to_be_bytes());
    h.extend_from_slice(&(data.len() as u32).to_be_bytes());
    h.extend(index);
    h.extend(data);
    h
}

/// A string entry for [`build_header`].
pub fn string_entry(tag: u32, s: &str) -> (u32, u32, Vec<u8>, u32) {
    let mut b = s.as_bytes().to_vec();
    b.push(0);
    (tag, T_STRING, b, 1)
}

/// A string-array entry for [`build_header`].
pub fn strings_entry(tag: u32, v: &[&str]) -> (u32, u32, Vec<u8>, u32) {
    let mut b = Vec::new();
    for s in v {
        b.extend_from_slice(s.as_bytes());
        b.push(0);
    }
    (tag, T_STRING_ARRAY, b, v.len() as u32)
}

/// An INT32-array entry for [`build_header`].
pub fn int32_entry(tag: u32, v: &[u32]) -> (u32, u32, Vec<u8>, u32) {
    (
        tag,
        T_INT32,
        v.iter().flat_map(|x| x.to_be_bytes()).collect(),
        v.len() as u32,
    )
}

/// An INT16-array entry for [`build_header`].
pub fn int16_entry(tag: u32, v: &[u16]) -> (u32, u32, Vec<u8>, u32) {
    (
        tag,
        T_INT16,
        v.iter().flat_map(|x| x.to_be_bytes()).collect(),
        v.len() as u32,
    )
}

/// A whole RPM file for tests and fuzz seeds: a lead, a minimal signature
/// header, a header listing `files` (path, mode, data), and the payload
/// (a newc cpio archive of those files, compressed with `compress`).
pub fn build_package(
    name: &str,
    files: &[(&str, u32, &[u8])],
    compressor: &str,
    compress: &dyn Fn(&[u8]) -> Vec<u8>,
) -> Vec<u8> {
    let mut lead = vec![0u8; LEAD_LEN as usize];
    lead[..4].copy_from_slice(&LEAD_MAGIC);
    lead[4] = 3;
    let n = name.as_bytes();
    lead[10..10 + n.len().min(65)].copy_from_slice(&n[..n.len().min(65)]);
    lead[78..80].copy_from_slice(&5u16.to_be_bytes());
    let sig = build_header(&[int32_entry(1000, &[0])]);
    let mut dirs: Vec<String> = Vec::new();
    let mut idx = Vec::new();
    let mut base = Vec::new();
    for (p, _, _) in files {
        let (d, b) = p.rsplit_once('/').unwrap_or(("", p));
        let d = format!("{d}/");
        let k = dirs.iter().position(|x| *x == d).unwrap_or_else(|| {
            dirs.push(d.clone());
            dirs.len() - 1
        });
        idx.push(k as u32);
        base.push(b.to_owned());
    }
    let dir_refs: Vec<&str> = dirs.iter().map(String::as_str).collect();
    let base_refs: Vec<&str> = base.iter().map(String::as_str).collect();
    let header = build_header(&[
        string_entry(tag::NAME, name),
        string_entry(tag::VERSION, "1.0"),
        string_entry(tag::RELEASE, "1"),
        string_entry(tag::ARCH, "x86_64"),
        int32_entry(
            tag::FILESIZES,
            &files.iter().map(|f| f.2.len() as u32).collect::<Vec<_>>(),
        ),
        int16_entry(
            tag::FILEMODES,
            &files.iter().map(|f| f.1 as u16).collect::<Vec<_>>(),
        ),
        int32_entry(tag::DIRINDEXES, &idx),
        strings_entry(tag::BASENAMES, &base_refs),
        strings_entry(tag::DIRNAMES, &dir_refs),
        string_entry(tag::PAYLOADFORMAT, "cpio"),
        string_entry(tag::PAYLOADCOMPRESSOR, compressor),
    ]);
    let mut cpio = Vec::new();
    for (p, mode, data) in files {
        cpio.extend(super::cpio::newc_entry(&format!(".{p}"), *mode, data));
    }
    cpio.extend(super::cpio::newc_entry(super::cpio::TRAILER, 0, b""));
    let mut out = lead;
    out.extend(&sig);
    while !out.len().is_multiple_of(8) {
        out.push(0);
    }
    out.extend(header);
    out.extend(compress(&cpio));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_file_list() {
        let f = build_package(
            "kernel-debuginfo",
            &[
                ("/usr/lib/debug/lib/modules/6.1/vmlinux", 0o100644, b"ELF"),
                ("/usr/lib/debug/lib/modules/6.1", 0o040755, b""),
            ],
            "gzip",
            &|d| d.to_vec(),
        );
        let mut r = &f[..];
        let h = read_headers(&mut r).unwrap();
        assert_eq!(h.lead_major, 3);
        assert_eq!(h.header.string(tag::NAME), Some("kernel-debuginfo"));
        assert_eq!(h.header.string(tag::PAYLOADCOMPRESSOR), Some("gzip"));
        let files = h.header.files();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].path, "usr/lib/debug/lib/modules/6.1/vmlinux");
        assert_eq!((files[0].size, files[0].kind), (3, EntryKind::File));
        assert_eq!(files[1].kind, EntryKind::Dir);
        assert_eq!(&r[..6], b"070701");
        assert_eq!(h.payload_offset as usize, f.len() - r.len());
    }

    #[test]
    fn rejects_hostile_headers() {
        let f = build_package("x", &[], "gzip", &|d| d.to_vec());
        // An index count over the cap.
        let mut g = f.clone();
        g[96 + 8..96 + 12].copy_from_slice(&0x0100_0000u32.to_be_bytes());
        assert!(read_headers(&mut &g[..]).is_err());
        // A data store larger than the file.
        let mut g = f.clone();
        g[96 + 12..96 + 16].copy_from_slice(&0x0800_0000u32.to_be_bytes());
        let e = read_headers(&mut &g[..]).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        // Out-of-range offsets and counts never panic.
        let h = Header {
            index: vec![
                Index {
                    tag: tag::NAME,
                    ty: T_STRING,
                    offset: 3,
                    count: 1,
                },
                Index {
                    tag: tag::FILESIZES,
                    ty: T_INT32,
                    offset: 0,
                    count: u32::MAX,
                },
                Index {
                    tag: tag::BASENAMES,
                    ty: T_STRING_ARRAY,
                    offset: 0,
                    count: u32::MAX,
                },
            ],
            data: b"abc".to_vec(),
        };
        assert_eq!(h.string(tag::NAME), None);
        assert_eq!(h.integers(tag::FILESIZES), None);
        assert_eq!(h.strings(tag::BASENAMES), None);
        assert!(h.files().is_empty());
    }
}
