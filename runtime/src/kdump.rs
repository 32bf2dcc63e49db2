//! makedumpfile's kdump-compressed format (`KDUMP   `), as makedumpfile
//! `-c`/`-l` and QEMU's `dump-guest-memory -z`/`-l` write it.
//!
//! Layout (block = page size): block 0 the `disk_dump_header` (signature,
//! version, `utsname`, block size, bitmap size, `max_mapnr`); then the
//! `kdump_sub_header` (`phys_base`, dump level, the file offsets of the
//! VMCOREINFO text and the ELF notes, 64-bit `max_mapnr` from version 6);
//! then two bitmaps of `max_mapnr` bits (pages present in memory, pages
//! dumped); then one 24-byte `page_desc` (file offset, size, flags) per
//! dumped page in page-frame order; then the page data, compressed with
//! zlib (flag 1), LZO (2), snappy (4) or zstd (0x20), or stored whole.
//!
//! This reader serves zlib and stored pages; a page compressed otherwise
//! reads as missing, and [`KdumpSpace::unsupported_pages`] counts them
//! (the first page's method is checked at open and refused with an error
//! naming it). Pages not dumped (filtered out by the dump level) read as
//! missing.

use std::fmt;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::image::{Arch, KdumpInfo, MAX_NOTE_BYTES};
use crate::paging::MAX_RUNS;
use crate::space::{AddressSpace, ReadStatus, Run, Space};
use crate::vmcoreinfo::{VmcoreInfo, MAX_VMCOREINFO_BYTES};

const CTX: &str = "kdump-compressed dump";
const ZLIB: u32 = 0x1;
const LZO: u32 = 0x2;
const SNAPPY: u32 = 0x4;
const ZSTD: u32 = 0x20;
/// Decompressed pages kept (direct-mapped by page frame number).
const CACHE_SLOTS: usize = 64;

/// A decompressed page and its frame number.
type CacheSlot = Option<(u64, Arc<[u8]>)>;

/// The physical memory of a kdump-compressed dump.
pub struct KdumpSpace {
    file: Space,
    block: u64,
    max_mapnr: u64,
    /// The "dumped" bitmap, as little-endian words.
    bitmap: Vec<u64>,
    /// Set bits before each word.
    rank: Vec<u64>,
    descs: u64,
    runs: Vec<Run>,
    cache: Mutex<Vec<CacheSlot>>,
    unsupported: std::sync::atomic::AtomicU64,
}

impl fmt::Debug for KdumpSpace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "KdumpSpace({} pages of {} bytes)",
            self.rank.last().copied().unwrap_or(0),
            self.block
        )
    }
}

fn le32(b: &[u8], i: usize) -> u32 {
    b.get(i..i + 4)
        .map(|s| u32::from_le_bytes(s.try_into().unwrap_or([0; 4])))
        .unwrap_or(0)
}

fn le64(b: &[u8], i: usize) -> u64 {
    b.get(i..i + 8)
        .map(|s| u64::from_le_bytes(s.try_into().unwrap_or([0; 8])))
        .unwrap_or(0)
}

fn cstr(b: &[u8]) -> String {
    let n = memchr::memchr(0, b).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..n]).into_owned()
}

/// What [`KdumpSpace::open`] returns: the space, the header, VMCOREINFO,
/// the ELF notes and the architecture.
pub(crate) type Opened = (
    KdumpSpace,
    KdumpInfo,
    Option<VmcoreInfo>,
    Option<Vec<u8>>,
    Option<Arch>,
);

impl KdumpSpace {
    /// Reads the headers and bitmaps of a dump in `file`.
    pub(crate) fn open(file: Space) -> Result<Opened> {
        let file_len = file.ranges().last().map(|r| r.start + r.len).unwrap_or(0);
        let mut h = [0u8; 464];
        if !file.read(0, &mut h).is_complete() {
            return Err(Error::format(CTX, "the header is truncated"));
        }
        let version = le32(&h, 8);
        let release = cstr(&h[142..207]);
        let machine = cstr(&h[272..337]);
        let block = u64::from(le32(&h, 428));
        if !(512..=(1 << 20)).contains(&block) || !block.is_power_of_two() {
            return Err(Error::format(
                CTX,
                format!("block size {block} is not a page size"),
            ));
        }
        let sub_blocks = u64::from(le32(&h, 432));
        let bitmap_blocks = u64::from(le32(&h, 436));
        let mut max_mapnr = u64::from(le32(&h, 440));
        let mut sub = [0u8; 104];
        if !file.read(block, &mut sub).is_complete() {
            return Err(Error::format(CTX, "the sub-header is truncated"));
        }
        let phys_base = le64(&sub, 0);
        let dump_level = le32(&sub, 8);
        if version >= 6 {
            max_mapnr = le64(&sub, 96);
        }
        let bitmap_off = (1 + sub_blocks)
            .checked_mul(block)
            .ok_or_else(|| Error::format(CTX, "header offsets overflow"))?;
        let bitmap_len = bitmap_blocks
            .checked_mul(block)
            .ok_or_else(|| Error::format(CTX, "header offsets overflow"))?;
        let descs = bitmap_off
            .checked_add(bitmap_len)
            .ok_or_else(|| Error::format(CTX, "header offsets overflow"))?;
        if descs > file_len {
            return Err(Error::format(
                CTX,
                format!(
                    "the bitmaps end at {descs:#x}, beyond the end of the file ({file_len:#x})"
                ),
            ));
        }
        let half = bitmap_len / 2;
        if max_mapnr.div_ceil(8) > half {
            return Err(Error::format(
                CTX,
                format!("{max_mapnr} pages do not fit bitmaps of {half} bytes"),
            ));
        }
        // The second bitmap: pages dumped.
        let words = max_mapnr.div_ceil(64) as usize;
        let mut raw = vec![0u8; words * 8];
        let n = (max_mapnr.div_ceil(8)) as usize;
        file.read(bitmap_off + half, &mut raw[..n]);
        let mut bitmap: Vec<u64> = raw
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect();
        if max_mapnr % 64 != 0 {
            if let Some(last) = bitmap.last_mut() {
                *last &= (1u64 << (max_mapnr % 64)) - 1;
            }
        }
        let mut rank = Vec::with_capacity(words + 1);
        let mut total = 0u64;
        for w in &bitmap {
            rank.push(total);
            total += u64::from(w.count_ones());
        }
        rank.push(total);
        let desc_end = total
            .checked_mul(24)
            .and_then(|d| d.checked_add(descs))
            .ok_or_else(|| Error::format(CTX, "page descriptors overflow"))?;
        if desc_end > file_len {
            return Err(Error::format(
                CTX,
                format!("{total} page descriptors run past the end of the file"),
            ));
        }
        // Runs of dumped pages (holes merged past MAX_RUNS runs).
        let mut runs: Vec<Run> = Vec::new();
        for (wi, &w) in bitmap.iter().enumerate() {
            let mut w = w;
            while w != 0 {
                let bit = w.trailing_zeros() as u64;
                let run_len = (!(w >> bit)).trailing_zeros().min(64 - bit as u32) as u64;
                let pfn = wi as u64 * 64 + bit;
                let start = pfn * block;
                let len = run_len * block;
                let full = runs.len() >= MAX_RUNS;
                match runs.last_mut() {
                    Some(r) if r.start + r.len == start || full => {
                        r.len = start + len - r.start;
                    }
                    _ => runs.push(Run {
                        start,
                        target: start,
                        len,
                    }),
                }
                if bit + run_len >= 64 {
                    break;
                }
                w &= !(((1u64 << run_len) - 1) << bit);
            }
        }
        let space = KdumpSpace {
            file: Arc::clone(&file),
            block,
            max_mapnr,
            bitmap,
            rank,
            descs,
            runs,
            cache: Mutex::new(vec![None; CACHE_SLOTS]),
            unsupported: 0.into(),
        };
        // The first page's compression must be one this reader serves.
        if total > 0 {
            let mut d = [0u8; 24];
            file.read(descs, &mut d);
            let flags = le32(&d, 12);
            if let Some(m) = unsupported_method(flags) {
                return Err(Error::format(
                    CTX,
                    format!("pages are compressed with {m}, which this reader does not support (zlib and uncompressed dumps are)"),
                ));
            }
        }
        let read_part = |off: u64, size: u64, cap: u64| -> Option<Vec<u8>> {
            if off == 0 || size == 0 {
                return None;
            }
            let size = size.min(cap) as usize;
            let mut v = vec![0u8; size];
            let st = file.read(off, &mut v);
            v.truncate(size - st.missing.min(size));
            Some(v)
        };
        let vmcoreinfo = if version >= 3 {
            read_part(le64(&sub, 32), le64(&sub, 40), MAX_VMCOREINFO_BYTES as u64)
                .map(|b| VmcoreInfo::from_bytes(&b))
                .filter(|v| !v.is_empty())
        } else {
            None
        };
        let notes = if version >= 4 {
            read_part(le64(&sub, 48), le64(&sub, 56), MAX_NOTE_BYTES)
        } else {
            None
        };
        let arch = match machine.as_str() {
            "x86_64" => Some(Arch::X86_64),
            "aarch64" | "arm64" => Some(Arch::Aarch64),
            "i386" | "i486" | "i586" | "i686" => Some(Arch::I386),
            _ => None,
        };
        let info = KdumpInfo {
            header_version: version,
            release,
            machine,
            phys_base,
            dump_level,
            page_size: block as u32,
            pages: total,
        };
        Ok((space, info, vmcoreinfo, notes, arch))
    }

    /// Pages found compressed with a method this reader does not serve
    /// (read as missing), so far.
    pub fn unsupported_pages(&self) -> u64 {
        self.unsupported.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn dumped(&self, pfn: u64) -> Option<u64> {
        if pfn >= self.max_mapnr {
            return None;
        }
        let w = (pfn / 64) as usize;
        let bit = pfn % 64;
        let word = *self.bitmap.get(w)?;
        if word & (1 << bit) == 0 {
            return None;
        }
        let below = (word & ((1u64 << bit) - 1)).count_ones() as u64;
        Some(self.rank[w] + below)
    }

    /// The decompressed page `pfn`, if dumped and readable.
    fn page(&self, pfn: u64) -> Option<Arc<[u8]>> {
        let slot = (pfn as usize) % CACHE_SLOTS;
        if let Ok(c) = self.cache.lock() {
            if let Some((p, data)) = &c[slot] {
                if *p == pfn {
                    return Some(Arc::clone(data));
                }
            }
        }
        let idx = self.dumped(pfn)?;
        let mut d = [0u8; 24];
        if !self.file.read(self.descs + idx * 24, &mut d).is_complete() {
            return None;
        }
        let (off, size, flags) = (le64(&d, 0), u64::from(le32(&d, 8)), le32(&d, 12));
        let block = self.block as usize;
        if size == 0 || size > self.block {
            return None;
        }
        let mut raw = vec![0u8; size as usize];
        if !self.file.read(off, &mut raw).is_complete() {
            return None;
        }
        let data: Vec<u8> = if flags & ZLIB != 0 {
            let mut out = vec![0u8; block];
            let mut z = flate2::Decompress::new(true);
            match z.decompress(&raw, &mut out, flate2::FlushDecompress::Finish) {
                Ok(flate2::Status::StreamEnd) if z.total_out() as usize == block => out,
                _ => return None,
            }
        } else if unsupported_method(flags).is_some() {
            self.unsupported
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return None;
        } else if size == self.block {
            raw
        } else {
            return None;
        };
        let data: Arc<[u8]> = data.into();
        if let Ok(mut c) = self.cache.lock() {
            c[slot] = Some((pfn, Arc::clone(&data)));
        }
        Some(data)
    }
}

fn unsupported_method(flags: u32) -> Option<&'static str> {
    if flags & ZLIB != 0 {
        None
    } else if flags & LZO != 0 {
        Some("LZO")
    } else if flags & SNAPPY != 0 {
        Some("snappy")
    } else if flags & ZSTD != 0 {
        Some("zstd")
    } else {
        None
    }
}

impl AddressSpace for KdumpSpace {
    fn read(&self, addr: u64, buf: &mut [u8]) -> ReadStatus {
        let mut status = ReadStatus::default();
        let mut done = 0usize;
        while done < buf.len() {
            let cur = addr.wrapping_add(done as u64);
            let in_page = (cur % self.block) as usize;
            let n = (self.block as usize - in_page).min(buf.len() - done);
            match self.page(cur / self.block) {
                Some(p) => buf[done..done + n].copy_from_slice(&p[in_page..in_page + n]),
                None => {
                    buf[done..done + n].fill(0);
                    status.add_missing(cur, n);
                }
            }
            done += n;
        }
        status
    }
    fn vtop(&self, addr: u64) -> Option<u64> {
        self.dumped(addr / self.block).map(|_| addr)
    }
    fn ranges(&self) -> Vec<Run> {
        self.runs.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::BufferSpace;
    use std::io::Write;

    /// A dump of 4 pages of 4 KiB laid out per makedumpfile's
    /// IMPLEMENTATION notes: pages 1 (zlib) and 3 (stored) dumped.
    fn dump() -> Vec<u8> {
        let bs = 4096usize;
        let mut f = vec![0u8; 4 * bs];
        f[0..8].copy_from_slice(b"KDUMP   ");
        f[8..12].copy_from_slice(&6u32.to_le_bytes());
        f[142..147].copy_from_slice(b"6.1.0");
        f[272..278].copy_from_slice(b"x86_64");
        for (i, v) in [bs as u32, 1, 2, 4].iter().enumerate() {
            f[428 + 4 * i..432 + 4 * i].copy_from_slice(&v.to_le_bytes());
        }
        let sub = bs;
        f[sub..sub + 8].copy_from_slice(&0x1100_0000u64.to_le_bytes());
        f[sub + 8..sub + 12].copy_from_slice(&31u32.to_le_bytes());
        let text = b"OSRELEASE=6.1.0\nKERNELOFFSET=3200000\n";
        f[sub + 200..sub + 200 + text.len()].copy_from_slice(text);
        f[sub + 32..sub + 40].copy_from_slice(&((sub + 200) as u64).to_le_bytes());
        f[sub + 40..sub + 48].copy_from_slice(&(text.len() as u64).to_le_bytes());
        f[sub + 96..sub + 104].copy_from_slice(&4u64.to_le_bytes());
        f[2 * bs] = 0b1111;
        f[3 * bs] = 0b1010;
        let p1: Vec<u8> = (0..bs).map(|i| (i % 251) as u8).collect();
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&p1).unwrap();
        let c1 = z.finish().unwrap();
        let p3 = vec![0x33u8; bs];
        let descs = 4 * bs;
        let d1 = descs + 48;
        let d3 = d1 + c1.len();
        let desc = |off: usize, size: usize, flags: u32| {
            let mut d = Vec::new();
            d.extend_from_slice(&(off as u64).to_le_bytes());
            d.extend_from_slice(&(size as u32).to_le_bytes());
            d.extend_from_slice(&flags.to_le_bytes());
            d.extend_from_slice(&0u64.to_le_bytes());
            d
        };
        let mut tail = desc(d1, c1.len(), 1);
        tail.extend(desc(d3, bs, 0));
        f.extend(tail);
        f.extend(&c1);
        f.extend(&p3);
        f
    }

    #[test]
    fn pages_header_vmcoreinfo_and_hostile_variants() {
        let f = dump();
        let (s, info, v, _, arch) =
            KdumpSpace::open(Arc::new(BufferSpace::new(f.clone()))).unwrap();
        assert_eq!(info.release, "6.1.0");
        assert_eq!(info.phys_base, 0x1100_0000);
        assert_eq!(info.pages, 2);
        assert_eq!(arch, Some(Arch::X86_64));
        assert_eq!(v.unwrap().kerneloffset(), Some(0x320_0000));
        let mut b = [0u8; 8];
        assert!(s.read(4096 + 251, &mut b).is_complete());
        assert_eq!(b[0], 0);
        assert_eq!(b[1], 1);
        assert!(s.read(3 * 4096, &mut b).is_complete());
        assert_eq!(b, [0x33; 8]);
        // Page 0 and 2 are not dumped, 4 is past max_mapnr.
        assert_eq!(s.read(0, &mut b).missing, 8);
        assert_eq!(s.read(2 * 4096 + 8, &mut b).missing, 8);
        assert_eq!(s.read(4 * 4096, &mut b).missing, 8);
        assert_eq!(
            s.ranges(),
            vec![
                Run {
                    start: 4096,
                    target: 4096,
                    len: 4096
                },
                Run {
                    start: 3 * 4096,
                    target: 3 * 4096,
                    len: 4096
                }
            ]
        );
        // Truncated anywhere: an error or missing pages, never a panic.
        for cut in [
            0,
            100,
            464,
            4096,
            5000,
            8192,
            4 * 4096,
            4 * 4096 + 30,
            f.len() - 10,
        ] {
            if let Ok((s, ..)) = KdumpSpace::open(Arc::new(BufferSpace::new(f[..cut].to_vec()))) {
                let mut b = [0u8; 4096];
                let _ = s.read(4096, &mut b);
                let _ = s.read(3 * 4096, &mut b);
            }
        }
        // A huge max_mapnr that the bitmaps cannot hold is refused.
        let mut big = f.clone();
        big[4096 + 96..4096 + 104].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(KdumpSpace::open(Arc::new(BufferSpace::new(big))).is_err());
        // LZO pages are refused by name.
        let mut lzo = f.clone();
        let d = 4 * 4096 + 12;
        lzo[d..d + 4].copy_from_slice(&2u32.to_le_bytes());
        let e = KdumpSpace::open(Arc::new(BufferSpace::new(lzo))).unwrap_err();
        assert!(e.to_string().contains("LZO"), "{e}");
        // A corrupt zlib page reads as missing.
        let mut bad = f;
        let d1 = 4 * 4096 + 48;
        bad[d1..d1 + 8].fill(0xff);
        let (s, ..) = KdumpSpace::open(Arc::new(BufferSpace::new(bad))).unwrap();
        assert_eq!(s.read(4096, &mut b).missing, 8);
    }
}
