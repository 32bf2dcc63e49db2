//! Paging spaces: virtual address spaces translated through page tables read
//! from the (physical) space below.
//!
//! Formats: x86 32-bit, PAE, x86-64 4-level and 5-level (LA57), and AArch64
//! stage 1 with the 4 KiB granule (25 to 48 virtual address bits, so 3 or 4
//! levels; 48 bits is what Linux distributions run). Every walk is bounded:
//! a translation reads at most one entry per level, and [`AddressSpace::ranges`]
//! reads at most [`MAX_TABLES`] tables and lists at most [`MAX_RUNS`] runs, so
//! page tables that point to themselves or outside the image end in bounded
//! time with the runs found so far.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Serialize, Serializer};

use crate::error::{Error, Result};
use crate::space::{merge_runs, AddressSpace, ReadStatus, Run, Space};

/// Most runs a paging space's [`AddressSpace::ranges`] lists (a guard
/// against corrupt or self-referencing page tables).
pub const MAX_RUNS: usize = 1 << 20;

/// Most page tables a paging space's [`AddressSpace::ranges`] reads (enough
/// for 4 TiB mapped with 4 KiB pages; a guard against tables that all point
/// to one another).
pub const MAX_TABLES: usize = 1 << 20;

/// A page-table format.
///
/// Printed (and parsed, and serialised) as `x86`, `pae`, `amd64` (x86-64
/// 4-level), `amd64-la57` (x86-64 5-level) and `aarch64-<bits>` (for example
/// `aarch64-48`). [`FromStr`] also accepts `amd64-4level`, `amd64-5level`,
/// `la57` and `aarch64` / `arm64` (48 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Paging {
    /// x86 32-bit paging: 4-byte entries, 4 KiB and 4 MiB pages.
    X86,
    /// x86 PAE: a 4-entry PDPT, 8-byte entries, 4 KiB and 2 MiB pages.
    Pae,
    /// x86-64 4-level paging: 48-bit virtual addresses; 4 KiB, 2 MiB, 1 GiB pages.
    Amd64,
    /// x86-64 5-level paging (LA57): 57-bit virtual addresses.
    Amd64La57,
    /// AArch64 stage 1, 4 KiB granule, `va_bits` virtual address bits (25 to
    /// 48): 4 levels for 40 bits and more, 3 below. Table descriptors at
    /// every level but the last; block descriptors at the 1 GiB and 2 MiB
    /// levels; the contiguous hint is ignored (it changes no translation).
    AArch64 {
        /// Virtual address bits (64 - TCR_EL1.T1SZ).
        va_bits: u8,
    },
}

impl Paging {
    /// The AArch64 format with `va_bits` bits, if supported (25 to 48).
    pub fn aarch64(va_bits: u8) -> Option<Paging> {
        (25..=48)
            .contains(&va_bits)
            .then_some(Paging::AArch64 { va_bits })
    }

    /// Virtual address bits.
    pub fn va_bits(self) -> u32 {
        match self {
            Paging::X86 | Paging::Pae => 32,
            Paging::Amd64 => 48,
            Paging::Amd64La57 => 57,
            Paging::AArch64 { va_bits } => u32::from(va_bits),
        }
    }

    /// A paging space of this format over `base`, with the page-table root
    /// `dtb` (CR3, or TTBR1_EL1 for AArch64: that space translates kernel
    /// addresses, see [`AArch64Paging`]).
    pub fn space(self, base: Space, dtb: u64) -> Result<Space> {
        Ok(match self {
            Paging::X86 => Arc::new(X86Paging::new(base, dtb)),
            Paging::Pae => Arc::new(PaePaging::new(base, dtb)),
            Paging::Amd64 => Arc::new(Amd64Paging::new(base, dtb)),
            Paging::Amd64La57 => Arc::new(Amd64La57Paging::new(base, dtb)),
            Paging::AArch64 { va_bits } => Arc::new(AArch64Paging::new(base, dtb, va_bits)?),
        })
    }

    fn entry_size(self) -> u64 {
        match self {
            Paging::X86 => 4,
            _ => 8,
        }
    }

    /// The bits of an entry that address the next table or the page.
    fn addr_mask(self) -> u64 {
        match self {
            Paging::X86 => 0xffff_f000,
            Paging::AArch64 { .. } => 0x0000_ffff_ffff_f000,
            _ => 0x000f_ffff_ffff_f000,
        }
    }

    fn table_base(self, dtb: u64) -> u64 {
        match self {
            Paging::X86 => dtb & 0xffff_f000,
            Paging::Pae => dtb & 0xffff_ffe0,
            Paging::Amd64 | Paging::Amd64La57 => dtb & 0x000f_ffff_ffff_f000,
            // TTBRn_EL1.BADDR (bits 47:1; ASID above, CnP in bit 0).
            Paging::AArch64 { .. } => dtb & 0x0000_ffff_ffff_fffe,
        }
    }

    fn levels(self) -> Levels {
        let l = |shift, entries, large| Level {
            shift,
            entries,
            large,
        };
        let mut out = Levels {
            list: [l(0, 0, false); 5],
            n: 0,
        };
        let mut push = |lv: Level| {
            out.list[out.n] = lv;
            out.n += 1;
        };
        match self {
            Paging::X86 => {
                push(l(22, 1024, true));
                push(l(12, 1024, false));
            }
            Paging::Pae => {
                push(l(30, 4, false));
                push(l(21, 512, true));
                push(l(12, 512, false));
            }
            Paging::Amd64 | Paging::Amd64La57 => {
                if self == Paging::Amd64La57 {
                    push(l(48, 512, false));
                }
                push(l(39, 512, false));
                push(l(30, 512, true));
                push(l(21, 512, true));
                push(l(12, 512, false));
            }
            Paging::AArch64 { va_bits } => {
                let bits = u32::from(va_bits.clamp(25, 48));
                let n = (bits - 12).div_ceil(9);
                for i in (0..n).rev() {
                    let shift = 12 + 9 * i;
                    let entries = if i == n - 1 {
                        1u64 << (bits - shift)
                    } else {
                        512
                    };
                    push(l(shift, entries, shift == 30 || shift == 21));
                }
            }
        }
        out
    }
}

impl fmt::Display for Paging {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Paging::X86 => f.write_str("x86"),
            Paging::Pae => f.write_str("pae"),
            Paging::Amd64 => f.write_str("amd64"),
            Paging::Amd64La57 => f.write_str("amd64-la57"),
            Paging::AArch64 { va_bits } => write!(f, "aarch64-{va_bits}"),
        }
    }
}

impl FromStr for Paging {
    type Err = Error;
    fn from_str(s: &str) -> Result<Paging> {
        let bad = || {
            Error::format(
                "paging",
                format!("{s:?} is not a paging mode (x86, pae, amd64, amd64-la57, aarch64-48...)"),
            )
        };
        Ok(match s.to_ascii_lowercase().as_str() {
            "x86" | "i386" => Paging::X86,
            "pae" => Paging::Pae,
            "amd64" | "amd64-4level" | "x86-64" | "x86_64" => Paging::Amd64,
            "amd64-la57" | "amd64-5level" | "la57" => Paging::Amd64La57,
            "aarch64" | "arm64" => Paging::AArch64 { va_bits: 48 },
            other => {
                let bits = other
                    .strip_prefix("aarch64-")
                    .or_else(|| other.strip_prefix("arm64-"))
                    .ok_or_else(bad)?;
                let bits: u8 = bits.trim_end_matches("bit").parse().map_err(|_| bad())?;
                Paging::aarch64(bits).ok_or_else(bad)?
            }
        })
    }
}

impl Serialize for Paging {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One level of a page-table walk.
#[derive(Debug, Clone, Copy)]
struct Level {
    /// Bit position of this level's index in the virtual address.
    shift: u32,
    /// Number of entries.
    entries: u64,
    /// Whether this level may map a large page (x86 PS bit, AArch64 block).
    large: bool,
}

#[derive(Debug, Clone, Copy)]
struct Levels {
    list: [Level; 5],
    n: usize,
}

impl Levels {
    fn as_slice(&self) -> &[Level] {
        &self.list[..self.n]
    }
}

/// What an entry says.
enum Desc {
    Invalid,
    Table(u64),
    /// The frame of a page of `1 << shift` bytes.
    Leaf(u64),
}

/// Shared implementation of the paging spaces.
#[derive(Debug, Clone)]
struct Walker {
    base: Space,
    dtb: u64,
    /// AArch64: TTBR0 for the lower half, when given.
    low: Option<u64>,
    mode: Paging,
    levels: Levels,
    transition: bool,
}

impl Walker {
    fn new(base: Space, dtb: u64, mode: Paging) -> Walker {
        Walker {
            base,
            dtb,
            low: None,
            mode,
            levels: mode.levels(),
            transition: false,
        }
    }

    fn read_entry(&self, addr: u64) -> Option<u64> {
        let size = self.mode.entry_size() as usize;
        let mut b = [0u8; 8];
        let status = self.base.read(addr, &mut b[..size]);
        status.is_complete().then(|| u64::from_le_bytes(b))
    }

    fn decode(&self, entry: u64, level: &Level, last: bool) -> Desc {
        let mask = self.mode.addr_mask();
        let page = 1u64 << level.shift;
        match self.mode {
            Paging::AArch64 { .. } => match entry & 3 {
                3 if last => Desc::Leaf(entry & mask),
                3 => Desc::Table(entry & mask),
                1 if !last && level.large => Desc::Leaf(entry & mask & !(page - 1)),
                _ => Desc::Invalid,
            },
            _ => {
                // The present bit, or (when Windows transition pages are
                // enabled) a last-level entry with the transition bit (11)
                // set and the prototype bit (10) clear: a page still in
                // physical memory on a standby or modified list.
                let maps = entry & 1 != 0
                    || (self.transition
                        && last
                        && entry & (1 << 11) != 0
                        && entry & (1 << 10) == 0);
                if !maps {
                    Desc::Invalid
                } else if last || (level.large && entry & 0x80 != 0) {
                    if self.mode == Paging::X86 && !last {
                        Desc::Leaf(entry & 0xffc0_0000)
                    } else {
                        Desc::Leaf(entry & mask & !(page - 1))
                    }
                } else {
                    Desc::Table(entry & mask)
                }
            }
        }
    }

    /// The table root and the address bits that index it, for `vaddr`;
    /// `None` when `vaddr` lies outside the space.
    fn root_for(&self, vaddr: u64) -> Option<(u64, u64)> {
        let bits = self.mode.va_bits();
        let low_mask = (1u64 << bits) - 1;
        match self.mode {
            Paging::X86 | Paging::Pae => {
                (vaddr >> 32 == 0).then(|| (self.mode.table_base(self.dtb), vaddr))
            }
            // Addresses are taken modulo 2^bits (so 48-bit masked symbols
            // translate on 4-level tables).
            Paging::Amd64 | Paging::Amd64La57 => {
                Some((self.mode.table_base(self.dtb), vaddr & low_mask))
            }
            Paging::AArch64 { .. } => {
                let top = vaddr >> bits;
                let ones = u64::MAX >> bits;
                match self.low {
                    Some(low) if top == 0 => Some((self.mode.table_base(low), vaddr & low_mask)),
                    Some(_) if top != ones => None,
                    _ => Some((self.mode.table_base(self.dtb), vaddr & low_mask)),
                }
            }
        }
    }

    /// Translates `vaddr`; returns the physical address and the size of the
    /// page it lies in.
    fn translate(&self, vaddr: u64) -> Option<(u64, u64)> {
        let (mut table, va) = self.root_for(vaddr)?;
        let levels = self.levels.as_slice();
        for (depth, level) in levels.iter().enumerate() {
            let index = (va >> level.shift) & (level.entries - 1);
            let entry = self.read_entry(table.wrapping_add(index * self.mode.entry_size()))?;
            let last = depth + 1 == levels.len();
            match self.decode(entry, level, last) {
                Desc::Invalid => return None,
                Desc::Leaf(frame) => {
                    let page = 1u64 << level.shift;
                    return Some((frame | (va & (page - 1)), page));
                }
                Desc::Table(next) => table = next,
            }
        }
        None
    }

    fn read(&self, addr: u64, buf: &mut [u8]) -> ReadStatus {
        let mut status = ReadStatus::default();
        let mut done = 0usize;
        while done < buf.len() {
            let cur = addr.wrapping_add(done as u64);
            let rest = buf.len() - done;
            // Bytes to the end of the page containing `cur`.
            let to_page_end = |page: u64| {
                usize::try_from(page - (cur & (page - 1)))
                    .unwrap_or(usize::MAX)
                    .min(rest)
            };
            match self.translate(cur) {
                Some((phys, page)) => {
                    let n = to_page_end(page);
                    status.merge(self.base.read(phys, &mut buf[done..done + n]));
                    done += n;
                }
                None => {
                    let n = to_page_end(4096);
                    buf[done..done + n].fill(0);
                    status.add_missing(cur, n);
                    done += n;
                }
            }
        }
        status
    }

    /// Sign-extends a virtual address built from table indexes.
    fn extend(&self, va: u64, upper: bool) -> u64 {
        match self.mode {
            Paging::Amd64 if va & (1 << 47) != 0 => va | 0xffff_0000_0000_0000,
            Paging::Amd64La57 if va & (1 << 56) != 0 => va | 0xfe00_0000_0000_0000,
            Paging::AArch64 { .. } if upper => va | !((1u64 << self.mode.va_bits()) - 1),
            _ => va,
        }
    }

    /// The mapped runs whose virtual addresses meet `lo..=hi`.
    fn ranges_in(&self, lo: u64, hi: u64) -> Vec<Run> {
        let mut runs = Vec::new();
        let mut budget = MAX_TABLES;
        if let Some(low) = self.low {
            let top = self.mode.table_base(low);
            self.walk(top, 0, 0, false, (lo, hi), &mut runs, &mut budget);
        }
        let top = self.mode.table_base(self.dtb);
        let upper = matches!(self.mode, Paging::AArch64 { .. });
        self.walk(top, 0, 0, upper, (lo, hi), &mut runs, &mut budget);
        runs.sort_by_key(|r| r.start);
        merge_runs(runs)
    }

    #[allow(clippy::too_many_arguments)]
    fn walk(
        &self,
        table: u64,
        depth: usize,
        va_prefix: u64,
        upper: bool,
        window: (u64, u64),
        runs: &mut Vec<Run>,
        budget: &mut usize,
    ) {
        let levels = self.levels.as_slice();
        let Some(level) = levels.get(depth) else {
            return;
        };
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        let esize = self.mode.entry_size();
        let tsize = (level.entries * esize) as usize;
        let mut bytes = vec![0u8; tsize];
        // A table that cannot be read wholly is walked entry by entry.
        let status = self.base.read(table, &mut bytes);
        let last = depth + 1 == levels.len();
        let span = 1u64 << level.shift;
        for index in 0..level.entries {
            if runs.len() >= MAX_RUNS || *budget == 0 {
                return;
            }
            let va = self.extend(va_prefix | (index << level.shift), upper);
            let end = va.saturating_add(span - 1);
            if end < window.0 || va > window.1 {
                continue;
            }
            let entry = if status.is_complete() {
                let i = (index * esize) as usize;
                let mut b = [0u8; 8];
                b[..esize as usize].copy_from_slice(&bytes[i..i + esize as usize]);
                u64::from_le_bytes(b)
            } else {
                match self.read_entry(table.wrapping_add(index * esize)) {
                    Some(e) => e,
                    None => continue,
                }
            };
            match self.decode(entry, level, last) {
                Desc::Invalid => {}
                Desc::Leaf(frame) => runs.push(Run {
                    start: va,
                    target: frame,
                    len: span,
                }),
                Desc::Table(next) => {
                    // The prefix keeps only the index bits (no sign
                    // extension) so lower levels can add theirs.
                    let prefix = va_prefix | (index << level.shift);
                    self.walk(next, depth + 1, prefix, upper, window, runs, budget);
                }
            }
        }
    }
}

macro_rules! paging_space {
    ($(#[$doc:meta])* $name:ident, $mode:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(Walker);

        impl $name {
            /// A paging space over `base` (physical memory) with the page-table
            /// root `dtb` (the CR3 value).
            pub fn new(base: Space, dtb: u64) -> Self {
                $name(Walker::new(base, dtb, $mode))
            }

            /// Also reads Windows transition pages (last-level entries not
            /// present but with the transition bit set and the prototype bit
            /// clear), as Rekall's Windows paging spaces do. Off by default.
            pub fn with_transition_pages(mut self, on: bool) -> Self {
                self.0.transition = on;
                self
            }

            /// The page-table root this space walks.
            pub fn dtb(&self) -> u64 {
                self.0.dtb
            }

            /// The mapped runs whose virtual addresses meet `lo..=hi`
            /// (only the tables covering that window are read; bounded as
            /// [`AddressSpace::ranges`] is).
            pub fn ranges_in(&self, lo: u64, hi: u64) -> Vec<Run> {
                self.0.ranges_in(lo, hi)
            }
        }

        impl AddressSpace for $name {
            fn read(&self, addr: u64, buf: &mut [u8]) -> ReadStatus {
                self.0.read(addr, buf)
            }
            fn vtop(&self, addr: u64) -> Option<u64> {
                self.0.translate(addr).map(|(p, _)| p)
            }
            fn ranges(&self) -> Vec<Run> {
                self.0.ranges_in(0, u64::MAX)
            }
        }
    };
}

paging_space!(
    /// x86-64 4-level paging (48-bit virtual addresses; 4 KiB, 2 MiB and 1 GiB
    /// pages). Addresses are taken modulo 2^48, so both canonical addresses
    /// (`0xffffffff81000000`) and Rekall's 48-bit masked symbol values
    /// (`0xffff81000000`) translate.
    Amd64Paging,
    Paging::Amd64
);
paging_space!(
    /// x86-64 5-level paging (LA57: 57-bit virtual addresses, a PML5 above
    /// the PML4; 4 KiB, 2 MiB and 1 GiB pages). Addresses are taken modulo
    /// 2^57: give canonical addresses (48-bit masked symbols must first go
    /// through [`crate::canonical_address`]).
    Amd64La57Paging,
    Paging::Amd64La57
);
paging_space!(
    /// x86 PAE paging (32-bit virtual addresses, 4 KiB and 2 MiB pages).
    PaePaging,
    Paging::Pae
);
paging_space!(
    /// x86 32-bit paging (4 KiB and 4 MiB pages).
    X86Paging,
    Paging::X86
);

/// AArch64 stage-1 translation with the 4 KiB granule (see
/// [`Paging::AArch64`]).
///
/// The space is built on TTBR1_EL1 (the kernel's tables, `swapper_pg_dir`
/// in Linux), which translates addresses whose bits above `va_bits` are all
/// ones. Without [`AArch64Paging::with_ttbr0`] every address goes through
/// TTBR1, taken modulo 2^`va_bits` (so 48-bit masked symbols translate);
/// with it, addresses whose upper bits are all zeros go through TTBR0 and
/// any other address is unmapped. [`AddressSpace::ranges`] lists TTBR1
/// mappings as upper-half addresses.
#[derive(Debug, Clone)]
pub struct AArch64Paging(Walker);

impl AArch64Paging {
    /// A space over `base` with TTBR1 = `ttbr1` and `va_bits` virtual
    /// address bits (25 to 48; 48 is usual, 39 some Android and embedded
    /// kernels). An unsupported `va_bits` is an error.
    pub fn new(base: Space, ttbr1: u64, va_bits: u8) -> Result<Self> {
        let mode = Paging::aarch64(va_bits).ok_or_else(|| {
            Error::format(
                "AArch64 paging",
                format!("{va_bits} virtual address bits are not supported (25 to 48 with the 4 KiB granule)"),
            )
        })?;
        Ok(AArch64Paging(Walker::new(base, ttbr1, mode)))
    }

    /// Also translates lower-half (user) addresses through `ttbr0`.
    pub fn with_ttbr0(mut self, ttbr0: u64) -> Self {
        self.0.low = Some(ttbr0);
        self
    }

    /// TTBR1 (the kernel tables).
    pub fn ttbr1(&self) -> u64 {
        self.0.dtb
    }

    /// TTBR0, when given.
    pub fn ttbr0(&self) -> Option<u64> {
        self.0.low
    }

    /// Virtual address bits.
    pub fn va_bits(&self) -> u32 {
        self.0.mode.va_bits()
    }

    /// The mapped runs whose virtual addresses meet `lo..=hi` (only the
    /// tables covering that window are read).
    pub fn ranges_in(&self, lo: u64, hi: u64) -> Vec<Run> {
        self.0.ranges_in(lo, hi)
    }
}

impl AddressSpace for AArch64Paging {
    fn read(&self, addr: u64, buf: &mut [u8]) -> ReadStatus {
        self.0.read(addr, buf)
    }
    fn vtop(&self, addr: u64) -> Option<u64> {
        self.0.translate(addr).map(|(p, _)| p)
    }
    fn ranges(&self) -> Vec<Run> {
        self.0.ranges_in(0, u64::MAX)
    }
}

/// A paging space of any supported format (what [`Paging::space`] makes,
/// kept typed so [`AnyPaging::ranges_in`] is available).
#[derive(Debug, Clone)]
pub struct AnyPaging(Walker);

impl AnyPaging {
    /// A space of format `mode` over `base` with root `dtb` (TTBR1 for AArch64).
    pub fn new(base: Space, dtb: u64, mode: Paging) -> Result<Self> {
        if let Paging::AArch64 { va_bits } = mode {
            AArch64Paging::new(Arc::clone(&base), dtb, va_bits)?;
        }
        Ok(AnyPaging(Walker::new(base, dtb, mode)))
    }

    /// The format.
    pub fn mode(&self) -> Paging {
        self.0.mode
    }

    /// The page-table root.
    pub fn dtb(&self) -> u64 {
        self.0.dtb
    }

    /// The mapped runs whose virtual addresses meet `lo..=hi`.
    pub fn ranges_in(&self, lo: u64, hi: u64) -> Vec<Run> {
        self.0.ranges_in(lo, hi)
    }

    /// Translates `vaddr` and gives the size of the page it lies in.
    pub fn translate(&self, vaddr: u64) -> Option<(u64, u64)> {
        self.0.translate(vaddr)
    }
}

impl AddressSpace for AnyPaging {
    fn read(&self, addr: u64, buf: &mut [u8]) -> ReadStatus {
        self.0.read(addr, buf)
    }
    fn vtop(&self, addr: u64) -> Option<u64> {
        self.0.translate(addr).map(|(p, _)| p)
    }
    fn ranges(&self) -> Vec<Run> {
        self.0.ranges_in(0, u64::MAX)
    }
}
