//! The `ar` archive of a Debian package (deb(5)): a streaming reader.
//!
//! A `.deb`/`.ddeb` is an `ar` archive in the common format: the magic
//! `!<arch>\n`, then members, each a 60-byte header (name 16, mtime 12,
//! uid 6, gid 6, mode 8, size 10, `` `\n ``) and its body padded to an even
//! length. dpkg writes short names (`debian-binary`, `control.tar.xz`,
//! `data.tar.zst`, ...), possibly with GNU's trailing `/`; neither GNU name
//! tables nor BSD `#1/` long names occur in packages, and both are
//! rejected here rather than read: a reader of those (such as the `ar`
//! crate) allocates a name table of whatever size a header declares
//! before reading it, which a hostile file turns into an abort.
//!
//! Nothing is buffered beyond the 60-byte header: a member's body is read
//! through [`Reader::body`] as a bounded stream.

use std::io::{self, Read};

/// The archive magic.
pub const MAGIC: &[u8; 8] = b"!<arch>\n";
/// Size of a member header.
pub const HEADER_LEN: usize = 60;

/// A member header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The name, without GNU's trailing `/` and padding.
    pub name: String,
    /// Size of the body in bytes.
    pub size: u64,
    /// Offset of the body in the archive.
    pub offset: u64,
}

/// A malformed archive: what is wrong and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArError {
    /// Offset in the archive of the header or field at fault.
    pub offset: u64,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ArError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ar archive, offset {}: {}", self.offset, self.message)
    }
}

/// Errors of [`Reader`].
#[derive(Debug)]
pub enum Error {
    /// The archive is malformed.
    Malformed(ArError),
    /// Reading failed.
    Io(io::Error),
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            Error::Malformed(ArError {
                offset: 0,
                message: "truncated".into(),
            })
        } else {
            Error::Io(e)
        }
    }
}

/// A streaming reader of an `ar` archive.
#[derive(Debug)]
pub struct Reader<R> {
    inner: R,
    /// Offset of the next byte `inner` yields.
    pos: u64,
    /// Offset of the next member header.
    next: u64,
}

fn bad(offset: u64, message: impl Into<String>) -> Error {
    Error::Malformed(ArError {
        offset,
        message: message.into(),
    })
}

fn decimal(field: &[u8], offset: u64, what: &str) -> Result<u64, Error> {
    let s = std::str::from_utf8(field)
        .map_err(|_| bad(offset, format!("{what} is not text")))?
        .trim_end_matches(' ');
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(offset, format!("{what} {s:?} is not a decimal number")));
    }
    // At most 10 digits: always fits.
    s.parse::<u64>()
        .map_err(|_| bad(offset, format!("{what} {s:?} is out of range")))
}

impl<R: Read> Reader<R> {
    /// Checks the magic and returns a reader positioned at the first member.
    pub fn new(mut inner: R) -> Result<Self, Error> {
        let mut magic = [0u8; 8];
        read_exact_or(&mut inner, &mut magic, 0, "no ar magic (file too short)")?;
        if &magic != MAGIC {
            return Err(bad(0, "no ar magic (!<arch>)"));
        }
        Ok(Reader {
            inner,
            pos: 8,
            next: 8,
        })
    }

    /// The next member header, skipping whatever of the previous member's
    /// body was not read; `None` at the end of the archive.
    pub fn next_member(&mut self) -> Result<Option<Member>, Error> {
        self.skip_to(self.next)?;
        let at = self.pos;
        let mut h = [0u8; HEADER_LEN];
        let mut n = 0;
        while n < HEADER_LEN {
            match self.inner.read(&mut h[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::Io(e)),
            }
        }
        self.pos += n as u64;
        if n == 0 {
            return Ok(None);
        }
        if n < HEADER_LEN {
            return Err(bad(at, "truncated member header"));
        }
        if &h[58..60] != b"`\n" {
            return Err(bad(at, "bad member header (no `\\n terminator)"));
        }
        let raw = &h[..16];
        let name = std::str::from_utf8(raw)
            .map_err(|_| bad(at, "member name is not text"))?
            .trim_end_matches(' ');
        if name.starts_with('/') || name.starts_with("#1/") {
            return Err(bad(
                at,
                format!("member name {name:?}: GNU/BSD long-name tables do not occur in packages"),
            ));
        }
        let name = name.strip_suffix('/').unwrap_or(name);
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_control()) {
            return Err(bad(at, format!("bad member name {name:?}")));
        }
        let size = decimal(&h[48..58], at + 48, "member size")?;
        let offset = at + HEADER_LEN as u64;
        self.next = offset + size + (size & 1);
        Ok(Some(Member {
            name: name.to_owned(),
            size,
            offset,
        }))
    }

    /// The body of `m` (the member just returned by
    /// [`next_member`](Self::next_member)) as a bounded stream.
    pub fn body(&mut self, m: &Member) -> Body<'_, R> {
        Body {
            reader: self,
            left: m.size,
            offset: m.offset,
        }
    }

    fn skip_to(&mut self, target: u64) -> Result<(), Error> {
        if target < self.pos {
            return Err(bad(self.pos, "member bodies overlap"));
        }
        let want = target - self.pos;
        let got = io::copy(&mut (&mut self.inner).take(want), &mut io::sink())?;
        self.pos += got;
        if got < want {
            // A last member whose padding byte is missing is accepted, as
            // dpkg-deb does; a body cut short is not.
            if want - got == 1 && target == self.next {
                return Ok(());
            }
            return Err(bad(self.pos, "truncated member body"));
        }
        Ok(())
    }
}

/// The body of one member; reading past its end yields end of file, and a
/// body cut short by the end of the archive is an error.
#[derive(Debug)]
pub struct Body<'a, R> {
    reader: &'a mut Reader<R>,
    left: u64,
    offset: u64,
}

impl<R> Body<'_, R> {
    /// Offset of the member's body in the archive.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

impl<R: Read> Read for Body<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let max = (buf.len() as u64).min(self.left) as usize;
        let n = self.reader.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "ar member body at offset {} is truncated ({} bytes missing)",
                    self.offset, self.left
                ),
            ));
        }
        self.left -= n as u64;
        self.reader.pos += n as u64;
        Ok(n)
    }
}

fn read_exact_or<R: Read>(r: &mut R, buf: &mut [u8], offset: u64, msg: &str) -> Result<(), Error> {
    match r.read_exact(buf) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(bad(offset, msg)),
        Err(e) => Err(Error::Io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn member(name: &str, body: &[u8]) -> Vec<u8> {
        let mut h = format!(
            "{name:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
            0,
            0,
            0,
            "100644",
            body.len()
        )
        .into_bytes();
        assert_eq!(h.len(), 60);
        h.extend_from_slice(body);
        if body.len() % 2 == 1 {
            h.push(b'\n');
        }
        h
    }

    #[test]
    fn reads_members_in_order() {
        let mut a = MAGIC.to_vec();
        a.extend(member("debian-binary", b"2.0\n"));
        a.extend(member("control.tar/", b"abc"));
        a.extend(member("data.tar", b"hello"));
        let mut r = Reader::new(&a[..]).unwrap();
        let m = r.next_member().unwrap().unwrap();
        assert_eq!(
            (m.name.as_str(), m.size, m.offset),
            ("debian-binary", 4, 68)
        );
        // Skipped without reading.
        let m = r.next_member().unwrap().unwrap();
        assert_eq!(m.name, "control.tar");
        let m = r.next_member().unwrap().unwrap();
        let mut s = String::new();
        r.body(&m).read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello");
        assert!(r.next_member().unwrap().is_none());
    }

    #[test]
    fn rejects_hostile_headers() {
        assert!(matches!(
            Reader::new(&b"!<arch>"[..]),
            Err(Error::Malformed(_))
        ));
        let mut a = MAGIC.to_vec();
        a.extend(member("#1/20", b""));
        let mut r = Reader::new(&a[..]).unwrap();
        assert!(matches!(r.next_member(), Err(Error::Malformed(_))));
        let mut a = MAGIC.to_vec();
        let mut m = member("data.tar", b"xy");
        m[48..58].copy_from_slice(b"99999999  ");
        a.extend(m);
        let mut r = Reader::new(&a[..]).unwrap();
        let m = r.next_member().unwrap().unwrap();
        let mut v = Vec::new();
        let e = r.body(&m).read_to_end(&mut v).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        let mut a = MAGIC.to_vec();
        let mut m = member("data.tar", b"xy");
        m[48..58].copy_from_slice(b"-1        ");
        a.extend(m);
        assert!(matches!(
            Reader::new(&a[..]).unwrap().next_member(),
            Err(Error::Malformed(_))
        ));
    }
}
