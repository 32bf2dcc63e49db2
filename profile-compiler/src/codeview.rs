//! CodeView `RSDS` records: the key that ties an executable to its PDB.
//!
//! An `RSDS` record is `"RSDS"`, a 16-byte GUID, a 32-bit age and a
//! NUL-terminated PDB path. The symbol-server key of the PDB is the GUID as
//! 32 upper-case hex digits (`{:08X}{:04X}{:04X}` of its three first fields,
//! then its 8 last bytes) followed by the age in upper-case hex without
//! padding, e.g. `3C8DBA83A9A04A8B8F2C6B9D5C1E7A0B1`.

use std::fmt;

/// Longest PDB path accepted in an `RSDS` record (Windows' `MAX_PATH`
/// times two, to allow long build paths).
pub const MAX_PDB_PATH: usize = 520;

/// A PDB identity: GUID and age.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PdbId {
    /// The GUID in its on-disk byte order (`Data1` and the two 16-bit
    /// fields little-endian, then 8 bytes).
    pub guid: [u8; 16],
    /// The age (the DBI age for a PDB).
    pub age: u32,
}

impl PdbId {
    /// Builds an identity from the GUID's four fields.
    pub fn from_fields(d1: u32, d2: u16, d3: u16, d4: &[u8; 8], age: u32) -> Self {
        let mut guid = [0u8; 16];
        guid[0..4].copy_from_slice(&d1.to_le_bytes());
        guid[4..6].copy_from_slice(&d2.to_le_bytes());
        guid[6..8].copy_from_slice(&d3.to_le_bytes());
        guid[8..16].copy_from_slice(d4);
        PdbId { guid, age }
    }

    /// The GUID as 32 upper-case hex digits, without the age.
    pub fn guid_hex(&self) -> String {
        let g = &self.guid;
        let d1 = u32::from_le_bytes([g[0], g[1], g[2], g[3]]);
        let d2 = u16::from_le_bytes([g[4], g[5]]);
        let d3 = u16::from_le_bytes([g[6], g[7]]);
        let mut s = format!("{d1:08X}{d2:04X}{d3:04X}");
        for b in &g[8..] {
            s.push_str(&format!("{b:02X}"));
        }
        s
    }

    /// The GUID in registry form, `{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}`.
    pub fn guid_braced(&self) -> String {
        let h = self.guid_hex();
        format!(
            "{{{}-{}-{}-{}-{}}}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }

    /// The symbol-server key: GUID hex then age in hex (`GUID_AGE`).
    pub fn key(&self) -> String {
        format!("{}{:X}", self.guid_hex(), self.age)
    }

    /// Parses a `GUID_AGE` key: 32 hex digits then 1 to 8 hex digits of
    /// age. Dashes and braces are ignored so that a registry-form GUID
    /// followed by the age also works.
    pub fn parse_key(text: &str) -> Option<PdbId> {
        let clean: String = text
            .chars()
            .filter(|c| !matches!(c, '-' | '{' | '}'))
            .collect();
        if clean.len() < 33 || clean.len() > 40 || !clean.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let (g, a) = clean.split_at(32);
        let d1 = u32::from_str_radix(&g[0..8], 16).ok()?;
        let d2 = u16::from_str_radix(&g[8..12], 16).ok()?;
        let d3 = u16::from_str_radix(&g[12..16], 16).ok()?;
        let mut d4 = [0u8; 8];
        for (i, b) in d4.iter_mut().enumerate() {
            *b = u8::from_str_radix(g.get(16 + 2 * i..18 + 2 * i)?, 16).ok()?;
        }
        let age = u32::from_str_radix(a, 16).ok()?;
        Some(PdbId::from_fields(d1, d2, d3, &d4, age))
    }
}

impl fmt::Display for PdbId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

/// A decoded `RSDS` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rsds {
    /// GUID and age.
    pub id: PdbId,
    /// The PDB path as recorded by the linker (often a full build path).
    pub path: String,
}

impl Rsds {
    /// The PDB's file name: the last component of the recorded path
    /// (either slash), which is what symbol servers are keyed by.
    pub fn pdb_name(&self) -> &str {
        pdb_basename(&self.path)
    }

    /// Parses a record starting at `data[0]` (which must be `"RSDS"`).
    ///
    /// `strict` applies the checks used when scanning raw memory: a
    /// printable ASCII path of at most [`MAX_PDB_PATH`] bytes, ending in
    /// `.pdb` (any case), NUL-terminated. Without `strict` (records found
    /// through a PE debug directory) the path may be any UTF-8 and need
    /// not end in `.pdb`, but it must still be NUL-terminated or end the
    /// record.
    pub fn parse(data: &[u8], strict: bool) -> Option<Rsds> {
        let head = data.get(..24)?;
        if &head[..4] != b"RSDS" {
            return None;
        }
        let mut guid = [0u8; 16];
        guid.copy_from_slice(&head[4..20]);
        let age = u32::from_le_bytes([head[20], head[21], head[22], head[23]]);
        let rest = &data[24..];
        let window = &rest[..rest.len().min(MAX_PDB_PATH + 1)];
        let path_bytes = match memchr::memchr(0, window) {
            Some(n) => &window[..n],
            None if !strict && rest.len() <= MAX_PDB_PATH => rest,
            None => return None,
        };
        if path_bytes.is_empty() {
            return None;
        }
        if strict {
            if !path_bytes.iter().all(|&b| (0x20..0x7f).contains(&b)) {
                return None;
            }
            let n = path_bytes.len();
            if n < 5 || !path_bytes[n - 4..].eq_ignore_ascii_case(b".pdb") {
                return None;
            }
        }
        let path = std::str::from_utf8(path_bytes).ok()?.to_owned();
        if !strict && path.chars().any(char::is_control) {
            return None;
        }
        Some(Rsds {
            id: PdbId { guid, age },
            path,
        })
    }
}

/// The last path component of `path`, splitting on `/` and `\`.
pub fn pdb_basename(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// A record found by [`scan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanHit {
    /// Byte offset of `"RSDS"` in the scanned data.
    pub offset: u64,
    /// The record.
    pub rsds: Rsds,
}

/// Finds every valid `RSDS` record in `data` (strict validation, see
/// [`Rsds::parse`]).
pub fn scan(data: &[u8]) -> Vec<ScanHit> {
    memchr::memmem::find_iter(data, b"RSDS")
        .filter_map(|off| {
            let rsds = Rsds::parse(data.get(off..)?, true)?;
            Some(ScanHit {
                offset: off as u64,
                rsds,
            })
        })
        .collect()
}

/// Finds every valid `RSDS` record in the file at `path` (memory-mapped):
/// a raw memory image, a crash dump, a disk image.
pub fn scan_file(path: &std::path::Path) -> crate::Result<Vec<ScanHit>> {
    let file = std::fs::File::open(path).map_err(|e| crate::Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| crate::Error::io(path, e))?;
    if meta.is_dir() {
        return Err(crate::Error::input(path, "is a directory, not a file"));
    }
    if meta.len() == 0 {
        return Ok(Vec::new());
    }
    // SAFETY: the map is read-only and private to this process; a file
    // truncated underneath it by another process is the one hazard,
    // accepted as for every memory-image tool.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| crate::Error::io(path, e))?;
    Ok(scan(&map))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_round_trip() {
        let id = PdbId::from_fields(0x1234_5678, 0x9abc, 0xdef0, &[1, 2, 3, 4, 5, 6, 7, 8], 0x1a);
        assert_eq!(id.key(), "123456789ABCDEF001020304050607081A");
        assert_eq!(PdbId::parse_key(&id.key()), Some(id));
        assert_eq!(id.guid_braced(), "{12345678-9ABC-DEF0-0102-030405060708}");
        assert_eq!(PdbId::parse_key("1234"), None);
        assert_eq!(PdbId::parse_key("123456789ABCDEF00102030405060708"), None);
        assert_eq!(PdbId::parse_key("123456789ABCDEF00102030405060708G"), None);
    }

    #[test]
    fn strict_parse() {
        let mut rec = b"RSDS".to_vec();
        rec.extend_from_slice(&[0xAA; 16]);
        rec.extend_from_slice(&3u32.to_le_bytes());
        rec.extend_from_slice(b"C:\\build\\foo.PDB\0junk");
        let r = Rsds::parse(&rec, true).unwrap();
        assert_eq!(r.pdb_name(), "foo.PDB");
        assert_eq!(r.id.age, 3);
        // Not NUL-terminated within the data: rejected when strict.
        assert!(Rsds::parse(&rec[..rec.len() - 5], true).is_none());
        // Non-printable byte.
        let mut bad = rec.clone();
        bad[26] = 0x01;
        assert!(Rsds::parse(&bad, true).is_none());
        // Truncated header.
        assert!(Rsds::parse(&rec[..20], false).is_none());
        assert_eq!(scan(&rec).len(), 1);
        assert!(scan(b"RSDS").is_empty());
    }
}
