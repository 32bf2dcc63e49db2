//! The cpio payload of an RPM package: a streaming walk over its entries.
//!
//! RPM writes the SVR4 "newc" format: each entry is a 110-byte header of
//! ASCII hexadecimal fields after the magic `070701` (or `070702`, the same
//! with a checksum), the NUL-terminated name, padding to 4 bytes, the data,
//! padding to 4 bytes; the entry `TRAILER!!!` ends the archive. RPM's
//! "stripped" variant (`07070X`, used only for packages holding files of
//! 4 GiB or more) is recognised and refused.
//!
//! Hand-written rather than taken from the `cpio` crate, which allocates a
//! name buffer of whatever size a header declares (up to 4 GiB); here a
//! name is at most [`MAX_NAME`] bytes, and nothing else is buffered.

use std::io::{self, Read};

use super::{Entry, EntryKind, Flow, Visit, WalkError};

/// Size of a newc header.
pub const HEADER_LEN: usize = 110;
/// Largest entry name accepted (with its NUL): 4096 bytes, Linux's
/// `PATH_MAX`.
pub const MAX_NAME: u64 = 4096;

/// The name of the last entry.
pub const TRAILER: &str = "TRAILER!!!";

fn hex(field: &[u8], at: u64, what: &str) -> Result<u64, WalkError> {
    let s = std::str::from_utf8(field).unwrap_or("");
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(WalkError::bad(
            "cpio",
            at,
            format!(
                "{what} {:?} is not 8 hexadecimal digits",
                String::from_utf8_lossy(field)
            ),
        ));
    }
    u64::from_str_radix(s, 16).map_err(|_| WalkError::bad("cpio", at, format!("bad {what}")))
}

/// A reader that counts the bytes it yields (positions for errors and
/// padding).
struct Pos<'a> {
    inner: &'a mut dyn Read,
    pos: u64,
}

impl Read for Pos<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Pos<'_> {
    fn exact(&mut self, buf: &mut [u8], what: &str) -> Result<(), WalkError> {
        let at = self.pos;
        self.read_exact(buf).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                WalkError::bad("cpio", at, format!("truncated {what}"))
            } else {
                WalkError::io("cpio", at, e)
            }
        })
    }

    fn skip(&mut self, n: u64, what: &str) -> Result<(), WalkError> {
        let at = self.pos;
        let got = io::copy(&mut self.take(n), &mut io::sink())
            .map_err(|e| WalkError::io("cpio", at, e))?;
        if got < n {
            return Err(WalkError::bad("cpio", at, format!("truncated {what}")));
        }
        Ok(())
    }

    fn align4(&mut self, what: &str) -> Result<(), WalkError> {
        let pad = (4 - self.pos % 4) % 4;
        self.skip(pad, what)
    }
}

/// Walks the cpio stream `r` until its trailer ([`Flow::Continue`]), or
/// until `visit` says stop ([`Flow::Stop`]).
pub fn walk(r: &mut dyn Read, visit: &mut Visit<'_>) -> Result<Flow, WalkError> {
    let mut p = Pos { inner: r, pos: 0 };
    loop {
        let at = p.pos;
        let mut h = [0u8; HEADER_LEN];
        // An archive that ends without its trailer is truncated.
        p.exact(&mut h[..6], "entry header (no TRAILER!!!)")?;
        match &h[..6] {
            b"070701" | b"070702" => {}
            b"07070X" => return Err(WalkError::bad(
                "cpio",
                at,
                "RPM's stripped cpio format (07070X, for files of 4 GiB or more) is not supported",
            )),
            b"070707" => {
                return Err(WalkError::bad(
                    "cpio",
                    at,
                    "old portable (odc) cpio format: not used by RPM, not supported",
                ))
            }
            m => {
                return Err(WalkError::bad(
                    "cpio",
                    at,
                    format!(
                        "no newc magic (070701) but {:?}",
                        String::from_utf8_lossy(m)
                    ),
                ))
            }
        }
        p.exact(&mut h[6..], "entry header")?;
        let field = |i: usize| &h[6 + 8 * i..14 + 8 * i];
        let mode = hex(field(1), at, "mode")?;
        let size = hex(field(6), at, "file size")?;
        let namesize = hex(field(11), at, "name size")?;
        if namesize == 0 || namesize > MAX_NAME {
            return Err(WalkError::bad(
                "cpio",
                at,
                format!("name size {namesize} is not within 1..={MAX_NAME}"),
            ));
        }
        let mut name = vec![0u8; namesize as usize];
        p.exact(&mut name, "entry name")?;
        if name.pop() != Some(0) {
            return Err(WalkError::bad(
                "cpio",
                at,
                "entry name is not NUL-terminated",
            ));
        }
        p.align4("entry name padding")?;
        let name = String::from_utf8_lossy(&name).into_owned();
        if name == TRAILER {
            return Ok(Flow::Continue);
        }
        let kind = match mode & 0o170000 {
            0o100000 => EntryKind::File,
            0o040000 => EntryKind::Dir,
            0o120000 => EntryKind::Symlink,
            _ => EntryKind::Other,
        };
        let data_at = p.pos;
        let flow = if kind == EntryKind::Symlink {
            if size > MAX_NAME {
                return Err(WalkError::bad(
                    "cpio",
                    at,
                    format!("symbolic link target of {size} bytes is over the cap of {MAX_NAME}"),
                ));
            }
            let mut t = vec![0u8; size as usize];
            p.exact(&mut t, "symbolic link target")?;
            let link = String::from_utf8_lossy(&t);
            let e = Entry {
                path: super::normalise(&name),
                size: 0,
                kind,
                link: Some(&link),
            };
            visit(&e, &mut io::empty())?
        } else {
            let e = Entry {
                path: super::normalise(&name),
                size: if kind == EntryKind::File { size } else { 0 },
                kind,
                link: None,
            };
            let mut body = Body {
                inner: &mut p,
                left: size,
                at: data_at,
            };
            let flow = visit(&e, &mut body)?;
            let left = body.left;
            if flow == Flow::Stop {
                return Ok(Flow::Stop);
            }
            p.skip(left, "entry data")?;
            flow
        };
        if flow == Flow::Stop {
            return Ok(Flow::Stop);
        }
        p.align4("entry data padding")?;
    }
}

/// An entry's data.
struct Body<'a, 'b> {
    inner: &'a mut Pos<'b>,
    left: u64,
    at: u64,
}

impl Read for Body<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let max = (buf.len() as u64).min(self.left) as usize;
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("cpio entry data at offset {} is truncated", self.at),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// One newc entry, for tests and fuzz seeds: header, name, data, padding.
pub fn newc_entry(name: &str, mode: u32, data: &[u8]) -> Vec<u8> {
    let namesize = name.len() + 1;
    let mut v = format!(
        "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
        1,
        mode,
        0,
        0,
        1,
        0,
        data.len(),
        0,
        0,
        0,
        0,
        namesize,
        0
    )
    .into_bytes();
    v.extend_from_slice(name.as_bytes());
    v.push(0);
    while v.len() % 4 != 0 {
        v.push(0);
    }
    v.extend_from_slice(data);
    while v.len() % 4 != 0 {
        v.push(0);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_entries_and_trailer() {
        let mut a = newc_entry("./usr", 0o040755, b"");
        a.extend(newc_entry("./usr/x.ko", 0o100644, b"hello"));
        a.extend(newc_entry("./usr/l", 0o120777, b"x.ko"));
        a.extend(newc_entry("./usr/y", 0o100644, b"abcdefg"));
        a.extend(newc_entry(TRAILER, 0, b""));
        let mut seen = Vec::new();
        walk(&mut &a[..], &mut |e, r| {
            let mut s = String::new();
            if e.path == "usr/y" {
                r.read_to_string(&mut s).unwrap();
            }
            seen.push((
                e.path.to_owned(),
                e.kind,
                e.size,
                e.link.map(str::to_owned),
                s,
            ));
            Ok(Flow::Continue)
        })
        .unwrap();
        assert_eq!(seen.len(), 4);
        assert_eq!(seen[1].2, 5);
        assert_eq!(seen[2].3.as_deref(), Some("x.ko"));
        assert_eq!(seen[3].4, "abcdefg");
    }

    #[test]
    fn rejects_hostile_entries() {
        let mut a = newc_entry("./x", 0o100644, b"data");
        assert!(
            walk(&mut &a[..], &mut |_, _| Ok(Flow::Continue)).is_err(),
            "no trailer"
        );
        a.truncate(120);
        assert!(walk(&mut &a[..], &mut |_, _| Ok(Flow::Continue)).is_err());
        let mut b = newc_entry("./x", 0o100644, b"");
        b[94..102].copy_from_slice(b"FFFFFFFF");
        let e = walk(&mut &b[..], &mut |_, _| Ok(Flow::Continue)).unwrap_err();
        assert!(e.to_string().contains("name size"), "{e}");
    }
}
