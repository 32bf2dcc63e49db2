//! Address spaces: stackable views of memory.
//!
//! A physical space ([`BufferSpace`], [`FileSpace`], [`SparseSpace`]) holds
//! bytes; a paging space ([`crate::Amd64Paging`], [`crate::AArch64Paging`]...,
//! see [`crate::Paging`]) translates virtual addresses through page tables
//! read from the space below it. Reads never fail: bytes at invalid addresses read as zero, and
//! the returned [`ReadStatus`] says how many were missing and where the first
//! one was (as Rekall zero-pads and reports).

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::paging::MAX_RUNS;

/// The outcome of [`AddressSpace::read`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadStatus {
    /// Bytes that could not be read (and were zero-filled).
    pub missing: usize,
    /// The first address that could not be read.
    pub first_invalid: Option<u64>,
}

impl ReadStatus {
    /// True when every byte was read.
    pub fn is_complete(&self) -> bool {
        self.missing == 0
    }

    pub(crate) fn add_missing(&mut self, addr: u64, len: usize) {
        if len == 0 {
            return;
        }
        self.missing = self.missing.saturating_add(len);
        if self.first_invalid.is_none() {
            self.first_invalid = Some(addr);
        }
    }

    pub(crate) fn merge(&mut self, other: ReadStatus) {
        self.missing = self.missing.saturating_add(other.missing);
        if self.first_invalid.is_none() {
            self.first_invalid = other.first_invalid;
        }
    }
}

/// A run of valid addresses: `len` bytes from `start`, backed by the space
/// below from `target` (for a physical space, `target == start`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// First address of the run in this space.
    pub start: u64,
    /// Where the run starts in the space below (or the file offset).
    pub target: u64,
    /// Length in bytes.
    pub len: u64,
}

/// A readable address space.
pub trait AddressSpace: Send + Sync + fmt::Debug {
    /// Reads `buf.len()` bytes at `addr`. Bytes at invalid addresses are set to
    /// zero and reported in the status.
    fn read(&self, addr: u64, buf: &mut [u8]) -> ReadStatus;

    /// Translates `addr` to an address of the space below (for a physical
    /// space: itself when valid). `None` when `addr` is not mapped.
    fn vtop(&self, addr: u64) -> Option<u64>;

    /// The valid ranges, in increasing address order, adjacent ranges merged.
    fn ranges(&self) -> Vec<Run>;

    /// True when the byte at `addr` can be read.
    fn is_valid(&self, addr: u64) -> bool {
        self.vtop(addr).is_some()
    }

    /// Reads `len` bytes into a new vector; `None` when any byte is invalid
    /// or `len` exceeds 64 MiB.
    fn read_exact(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        if len > 64 << 20 {
            return None;
        }
        let mut buf = vec![0u8; len];
        self.read(addr, &mut buf).is_complete().then_some(buf)
    }

    /// The `len` bytes at `addr` without copying, when this space holds
    /// them contiguously in memory (a buffer, a mapped file, a run of a
    /// sparse space over one); `None` otherwise (then use [`AddressSpace::read`]).
    /// Scanners use it to search images at memory speed.
    fn direct(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let _ = (addr, len);
        None
    }
}

/// A shared, type-erased address space, as objects hold them.
pub type Space = Arc<dyn AddressSpace>;

/// A shared space reads as the space it holds, so a [`Space`] can be passed
/// where `&impl AddressSpace` is asked for.
impl<T: AddressSpace + ?Sized> AddressSpace for Arc<T> {
    #[inline]
    fn read(&self, addr: u64, buf: &mut [u8]) -> ReadStatus {
        (**self).read(addr, buf)
    }
    fn vtop(&self, addr: u64) -> Option<u64> {
        (**self).vtop(addr)
    }
    fn ranges(&self) -> Vec<Run> {
        (**self).ranges()
    }
    fn is_valid(&self, addr: u64) -> bool {
        (**self).is_valid(addr)
    }
    fn read_exact(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        (**self).read_exact(addr, len)
    }
    fn direct(&self, addr: u64, len: usize) -> Option<&[u8]> {
        (**self).direct(addr, len)
    }
}

/// The slice `addr..addr+len` of `data`, when wholly inside.
fn flat_slice(data: &[u8], addr: u64, len: usize) -> Option<&[u8]> {
    let a = usize::try_from(addr).ok()?;
    data.get(a..a.checked_add(len)?)
}

/// Copies from `data` (a flat space starting at 0) into `buf`, zero-filling
/// what lies beyond its end.
fn read_flat(data: &[u8], addr: u64, buf: &mut [u8]) -> ReadStatus {
    let mut status = ReadStatus::default();
    let avail = usize::try_from(addr)
        .ok()
        .filter(|a| *a < data.len())
        .map(|a| (a, data.len() - a));
    match avail {
        Some((a, n)) => {
            let n = n.min(buf.len());
            buf[..n].copy_from_slice(&data[a..a + n]);
            buf[n..].fill(0);
            status.add_missing(addr.saturating_add(n as u64), buf.len() - n);
        }
        None => {
            buf.fill(0);
            status.add_missing(addr, buf.len());
        }
    }
    status
}

fn flat_ranges(len: usize) -> Vec<Run> {
    if len == 0 {
        Vec::new()
    } else {
        vec![Run {
            start: 0,
            target: 0,
            len: len as u64,
        }]
    }
}

/// A physical space over a byte buffer, starting at address 0.
#[derive(Clone)]
pub struct BufferSpace {
    data: Arc<[u8]>,
}

impl BufferSpace {
    /// A space over `data`.
    pub fn new(data: impl Into<Arc<[u8]>>) -> Self {
        BufferSpace { data: data.into() }
    }

    /// The bytes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }
}

impl fmt::Debug for BufferSpace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BufferSpace({} bytes)", self.data.len())
    }
}

impl AddressSpace for BufferSpace {
    fn read(&self, addr: u64, buf: &mut [u8]) -> ReadStatus {
        read_flat(&self.data, addr, buf)
    }
    fn vtop(&self, addr: u64) -> Option<u64> {
        (addr < self.data.len() as u64).then_some(addr)
    }
    fn ranges(&self) -> Vec<Run> {
        flat_ranges(self.data.len())
    }
    fn direct(&self, addr: u64, len: usize) -> Option<&[u8]> {
        flat_slice(&self.data, addr, len)
    }
}

/// A physical space over a memory-mapped file (a raw memory image), starting
/// at address 0.
pub struct FileSpace {
    map: Option<memmap2::Mmap>,
    path: std::path::PathBuf,
}

impl FileSpace {
    /// Maps `path` read-only.
    pub fn open(path: &Path) -> Result<Self> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let map = if len == 0 {
            None
        } else {
            // SAFETY: the map is read-only and private to this process. As
            // with any mapped file, another process truncating the image
            // while it is mapped would fault; memory images are not
            // expected to change while they are analysed.
            Some(unsafe { memmap2::Mmap::map(&file) }.map_err(io)?)
        };
        Ok(FileSpace {
            map,
            path: path.to_path_buf(),
        })
    }

    fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }
}

impl fmt::Debug for FileSpace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "FileSpace({}, {} bytes)",
            self.path.display(),
            self.bytes().len()
        )
    }
}

impl AddressSpace for FileSpace {
    fn read(&self, addr: u64, buf: &mut [u8]) -> ReadStatus {
        read_flat(self.bytes(), addr, buf)
    }
    fn vtop(&self, addr: u64) -> Option<u64> {
        (addr < self.bytes().len() as u64).then_some(addr)
    }
    fn ranges(&self) -> Vec<Run> {
        flat_ranges(self.bytes().len())
    }
    fn direct(&self, addr: u64, len: usize) -> Option<&[u8]> {
        flat_slice(self.bytes(), addr, len)
    }
}

/// A sparse space: a list of runs, each mapping `len` bytes at `start` to
/// `target` in the space below (for example the memory ranges of a crash
/// dump or an ELF core file mapped to file offsets).
#[derive(Debug, Clone)]
pub struct SparseSpace {
    base: Space,
    runs: Vec<Run>,
}

impl SparseSpace {
    /// Builds the space; runs are sorted, empty ones dropped. Overlapping
    /// runs are an error.
    pub fn new(base: Space, mut runs: Vec<Run>) -> Result<Self> {
        runs.retain(|r| r.len > 0);
        runs.sort_by_key(|r| r.start);
        for w in runs.windows(2) {
            let end = w[0].start.checked_add(w[0].len);
            if end.is_none_or(|e| e > w[1].start) {
                return Err(Error::format(
                    "sparse address space",
                    format!(
                        "run at {:#x} overlaps the run at {:#x}",
                        w[0].start, w[1].start
                    ),
                ));
            }
        }
        Ok(SparseSpace { base, runs })
    }

    /// The physical memory of a LiME image (Linux Memory Extractor): a
    /// sequence of ranges, each a 32-byte header (magic `0x4C694D45`,
    /// version, first and last address, reserved) followed by its bytes.
    /// A range running past the end of the file is cut there.
    pub fn lime(file: Space) -> Result<Self> {
        const MAGIC: u32 = 0x4C69_4D45;
        let ctx = "LiME image";
        let mut runs = Vec::new();
        let mut offset = 0u64;
        while runs.len() < MAX_RUNS {
            let mut h = [0u8; 32];
            if !file.read(offset, &mut h).is_complete() {
                break;
            }
            let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
            let u64_at = |i: usize| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&h[i..i + 8]);
                u64::from_le_bytes(b)
            };
            if u32_at(0) != MAGIC {
                if runs.is_empty() {
                    return Err(Error::format(ctx, "no LiME header at offset 0"));
                }
                break;
            }
            let (start, end) = (u64_at(8), u64_at(16));
            let len = end
                .checked_sub(start)
                .and_then(|l| l.checked_add(1))
                .ok_or_else(|| {
                    Error::format(
                        ctx,
                        format!("bad range {start:#x}..={end:#x} at offset {offset:#x}"),
                    )
                })?;
            let data = offset
                .checked_add(32)
                .ok_or_else(|| Error::format(ctx, "offset overflow"))?;
            // A range claiming more than the file holds is cut at its end.
            let file_end = file.ranges().last().map_or(0, |r| r.start + r.len);
            runs.push(Run {
                start,
                target: data,
                len: len.min(file_end.saturating_sub(data)),
            });
            offset = data
                .checked_add(len)
                .ok_or_else(|| Error::format(ctx, "offset overflow"))?;
        }
        SparseSpace::new(file, runs)
    }

    /// The physical memory of an ELF64 little-endian core file (as QEMU's
    /// `dump-guest-memory` and `virsh dump` write): one run per `PT_LOAD`
    /// segment, from its physical address (`p_paddr`) to its file offset,
    /// `p_filesz` bytes long (cut at the end of the file).
    pub fn elf_core(file: Space) -> Result<Self> {
        let ctx = "ELF core";
        let mut eh = [0u8; 64];
        if !file.read(0, &mut eh).is_complete() || eh[..4] != *b"\x7fELF" {
            return Err(Error::format(ctx, "not an ELF file"));
        }
        if eh[4] != 2 || eh[5] != 1 {
            return Err(Error::format(
                ctx,
                "only 64-bit little-endian ELF is supported",
            ));
        }
        let le64 = |b: &[u8], i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(a)
        };
        let phoff = le64(&eh, 0x20);
        let phentsize = u64::from(u16::from_le_bytes([eh[0x36], eh[0x37]]));
        let phnum = u64::from(u16::from_le_bytes([eh[0x38], eh[0x39]]));
        if phentsize < 56 {
            return Err(Error::format(
                ctx,
                format!("program header size {phentsize} is too small"),
            ));
        }
        let file_end = file.ranges().last().map_or(0, |r| r.start + r.len);
        let mut runs = Vec::new();
        for i in 0..phnum {
            let at = i
                .checked_mul(phentsize)
                .and_then(|o| o.checked_add(phoff))
                .ok_or_else(|| Error::format(ctx, "program header offset overflow"))?;
            let mut ph = [0u8; 56];
            if !file.read(at, &mut ph).is_complete() {
                return Err(Error::format(
                    ctx,
                    format!("program header {i} is beyond the end of the file"),
                ));
            }
            let p_type = u32::from_le_bytes([ph[0], ph[1], ph[2], ph[3]]);
            if p_type != 1 {
                continue;
            }
            // A segment claiming more than the file holds is cut at its end.
            let target = le64(&ph, 8);
            runs.push(Run {
                start: le64(&ph, 24),
                target,
                len: le64(&ph, 32).min(file_end.saturating_sub(target)),
            });
        }
        SparseSpace::new(file, runs)
    }

    fn run_of(&self, addr: u64) -> Option<&Run> {
        let i = self.runs.partition_point(|r| r.start <= addr);
        let r = self.runs.get(i.checked_sub(1)?)?;
        (addr - r.start < r.len).then_some(r)
    }
}

impl AddressSpace for SparseSpace {
    fn read(&self, addr: u64, buf: &mut [u8]) -> ReadStatus {
        let mut status = ReadStatus::default();
        let mut done = 0usize;
        while done < buf.len() {
            let cur = addr.wrapping_add(done as u64);
            let rest = buf.len() - done;
            match self.run_of(cur) {
                Some(r) => {
                    let off = cur - r.start;
                    let n = usize::try_from(r.len - off).unwrap_or(usize::MAX).min(rest);
                    let s = self
                        .base
                        .read(r.target.wrapping_add(off), &mut buf[done..done + n]);
                    status.merge(s);
                    done += n;
                }
                None => {
                    // Up to the next run (or the end of the buffer).
                    let i = self.runs.partition_point(|r| r.start <= cur);
                    let gap = self
                        .runs
                        .get(i)
                        .map(|r| r.start - cur)
                        .and_then(|g| usize::try_from(g).ok())
                        .unwrap_or(usize::MAX)
                        .min(rest);
                    buf[done..done + gap].fill(0);
                    status.add_missing(cur, gap);
                    done += gap;
                }
            }
        }
        status
    }
    fn vtop(&self, addr: u64) -> Option<u64> {
        let r = self.run_of(addr)?;
        Some(r.target.wrapping_add(addr - r.start))
    }
    fn ranges(&self) -> Vec<Run> {
        merge_runs(self.runs.clone())
    }
    fn direct(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let r = self.run_of(addr)?;
        let off = addr - r.start;
        if (len as u64) > r.len - off {
            return None;
        }
        self.base.direct(r.target.checked_add(off)?, len)
    }
}

/// Merges runs that are contiguous in both spaces.
pub(crate) fn merge_runs(runs: Vec<Run>) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::with_capacity(runs.len());
    for r in runs {
        if let Some(last) = out.last_mut() {
            if last.start.checked_add(last.len) == Some(r.start)
                && last.target.checked_add(last.len) == Some(r.target)
            {
                last.len = last.len.saturating_add(r.len);
                continue;
            }
        }
        out.push(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_reads_zero_pad_past_the_end() {
        let s = BufferSpace::new(vec![1u8, 2, 3, 4]);
        let mut b = [9u8; 6];
        let st = s.read(2, &mut b);
        assert_eq!(b, [3, 4, 0, 0, 0, 0]);
        assert_eq!(
            st,
            ReadStatus {
                missing: 4,
                first_invalid: Some(4)
            }
        );
        let st = s.read(u64::MAX, &mut b);
        assert_eq!(st.missing, 6);
        assert_eq!(s.vtop(3), Some(3));
        assert_eq!(s.vtop(4), None);
        assert_eq!(
            s.ranges(),
            vec![Run {
                start: 0,
                target: 0,
                len: 4
            }]
        );
    }

    #[test]
    fn sparse_runs_translate_and_pad_gaps() {
        let base: Space = Arc::new(BufferSpace::new((0u8..=255).collect::<Vec<_>>()));
        let s = SparseSpace::new(
            base.clone(),
            vec![
                Run {
                    start: 0x2000,
                    target: 0x10,
                    len: 4,
                },
                Run {
                    start: 0x1000,
                    target: 0x80,
                    len: 2,
                },
                Run {
                    start: 0x2004,
                    target: 0x14,
                    len: 4,
                },
            ],
        )
        .unwrap();
        let mut b = [0xaa; 4];
        let st = s.read(0x0fff, &mut b);
        assert_eq!(b, [0, 0x80, 0x81, 0]);
        assert_eq!(st.missing, 2);
        assert_eq!(st.first_invalid, Some(0x0fff));
        assert_eq!(s.vtop(0x2005), Some(0x15));
        assert_eq!(s.vtop(0x2008), None);
        assert_eq!(
            s.ranges(),
            vec![
                Run {
                    start: 0x1000,
                    target: 0x80,
                    len: 2
                },
                Run {
                    start: 0x2000,
                    target: 0x10,
                    len: 8
                }
            ]
        );
        let overlapping = SparseSpace::new(
            base,
            vec![
                Run {
                    start: 0,
                    target: 0,
                    len: 8,
                },
                Run {
                    start: 4,
                    target: 0,
                    len: 8,
                },
            ],
        );
        assert!(overlapping.is_err());
    }
}
