//! Builders of synthetic physical memory with x86 page tables, written from
//! the Intel SDM's table formats (independently of the crate's walker).
#![allow(dead_code)]

/// Physical memory with a frame allocator.
pub struct PhysMem {
    pub mem: Vec<u8>,
    next: u64,
}

pub const PRESENT_RW: u64 = 0b11;
pub const PS: u64 = 0x80;

impl PhysMem {
    /// `size` bytes; frames for tables are allocated from `first_frame` up.
    pub fn new(size: usize, first_frame: u64) -> Self {
        PhysMem {
            mem: vec![0; size],
            next: first_frame,
        }
    }

    /// A zeroed 4 KiB frame.
    pub fn alloc(&mut self) -> u64 {
        let f = self.next;
        self.next += 0x1000;
        assert!(self.next as usize <= self.mem.len(), "out of frames");
        f
    }

    pub fn write(&mut self, pa: u64, bytes: &[u8]) {
        let a = pa as usize;
        self.mem[a..a + bytes.len()].copy_from_slice(bytes);
    }

    pub fn read_u64(&self, pa: u64) -> u64 {
        let a = pa as usize;
        u64::from_le_bytes(self.mem[a..a + 8].try_into().unwrap())
    }

    pub fn write_u64(&mut self, pa: u64, v: u64) {
        self.write(pa, &v.to_le_bytes());
    }

    pub fn write_u32(&mut self, pa: u64, v: u32) {
        self.write(pa, &v.to_le_bytes());
    }

    /// The next-level table of an 8-byte entry, allocated when absent.
    fn next_table8(&mut self, entry_pa: u64) -> u64 {
        let e = self.read_u64(entry_pa);
        if e & 1 != 0 {
            return e & 0x000f_ffff_ffff_f000;
        }
        let t = self.alloc();
        self.write_u64(entry_pa, t | PRESENT_RW);
        t
    }

    fn read_u32(&self, pa: u64) -> u32 {
        let a = pa as usize;
        u32::from_le_bytes(self.mem[a..a + 4].try_into().unwrap())
    }

    fn next_table4(&mut self, entry_pa: u64) -> u64 {
        let e = self.read_u32(entry_pa);
        if e & 1 != 0 {
            return u64::from(e & 0xffff_f000);
        }
        let t = self.alloc();
        self.write_u32(entry_pa, t as u32 | PRESENT_RW as u32);
        t
    }
}

/// x86-64 4-level tables.
pub struct Amd64 {
    pub pml4: u64,
}

impl Amd64 {
    pub fn new(m: &mut PhysMem) -> Self {
        Amd64 { pml4: m.alloc() }
    }
    fn idx(va: u64, shift: u32) -> u64 {
        (va >> shift) & 0x1ff
    }
    pub fn map_4k(&self, m: &mut PhysMem, va: u64, pa: u64) {
        let pdpt = m.next_table8(self.pml4 + 8 * Self::idx(va, 39));
        let pd = m.next_table8(pdpt + 8 * Self::idx(va, 30));
        let pt = m.next_table8(pd + 8 * Self::idx(va, 21));
        m.write_u64(pt + 8 * Self::idx(va, 12), pa | PRESENT_RW);
    }
    pub fn map_2m(&self, m: &mut PhysMem, va: u64, pa: u64) {
        let pdpt = m.next_table8(self.pml4 + 8 * Self::idx(va, 39));
        let pd = m.next_table8(pdpt + 8 * Self::idx(va, 30));
        m.write_u64(pd + 8 * Self::idx(va, 21), pa | PRESENT_RW | PS);
    }
    pub fn map_1g(&self, m: &mut PhysMem, va: u64, pa: u64) {
        let pdpt = m.next_table8(self.pml4 + 8 * Self::idx(va, 39));
        m.write_u64(pdpt + 8 * Self::idx(va, 30), pa | PRESENT_RW | PS);
    }
    /// Maps `len` bytes (a multiple of 4 KiB) at `va` to contiguous `pa`.
    pub fn map_range(&self, m: &mut PhysMem, va: u64, pa: u64, len: u64) {
        let mut off = 0;
        while off < len {
            self.map_4k(m, va + off, pa + off);
            off += 0x1000;
        }
    }
    /// The PTE's physical address for `va` (which must be mapped with 4 KiB pages).
    pub fn pte_of(&self, m: &PhysMem, va: u64) -> u64 {
        let pdpt = m.read_u64(self.pml4 + 8 * Self::idx(va, 39)) & 0x000f_ffff_ffff_f000;
        let pd = m.read_u64(pdpt + 8 * Self::idx(va, 30)) & 0x000f_ffff_ffff_f000;
        let pt = m.read_u64(pd + 8 * Self::idx(va, 21)) & 0x000f_ffff_ffff_f000;
        pt + 8 * Self::idx(va, 12)
    }
}

/// PAE tables: a 32-byte PDPT of 4 entries.
pub struct Pae {
    pub pdpt: u64,
}

impl Pae {
    pub fn new(m: &mut PhysMem) -> Self {
        // A PDPT inside a frame, at a 32-byte aligned offset.
        Pae {
            pdpt: m.alloc() + 0x20,
        }
    }
    pub fn map_4k(&self, m: &mut PhysMem, va: u32, pa: u64) {
        let va = u64::from(va);
        let pd = m.next_table8(self.pdpt + 8 * ((va >> 30) & 3));
        let pt = m.next_table8(pd + 8 * ((va >> 21) & 0x1ff));
        m.write_u64(pt + 8 * ((va >> 12) & 0x1ff), pa | PRESENT_RW);
    }
    pub fn map_2m(&self, m: &mut PhysMem, va: u32, pa: u64) {
        let va = u64::from(va);
        let pd = m.next_table8(self.pdpt + 8 * ((va >> 30) & 3));
        m.write_u64(pd + 8 * ((va >> 21) & 0x1ff), pa | PRESENT_RW | PS);
    }
}

/// 32-bit tables: a 1024-entry page directory of 4-byte entries.
pub struct X86 {
    pub pd: u64,
}

impl X86 {
    pub fn new(m: &mut PhysMem) -> Self {
        X86 { pd: m.alloc() }
    }
    pub fn map_4k(&self, m: &mut PhysMem, va: u32, pa: u32) {
        let pt = m.next_table4(self.pd + 4 * u64::from(va >> 22));
        m.write_u32(
            pt + 4 * u64::from((va >> 12) & 0x3ff),
            pa | PRESENT_RW as u32,
        );
    }
    pub fn map_4m(&self, m: &mut PhysMem, va: u32, pa: u32) {
        m.write_u32(
            self.pd + 4 * u64::from(va >> 22),
            pa | PRESENT_RW as u32 | PS as u32,
        );
    }
}

/// x86-64 5-level (LA57) tables: a PML5 above the PML4.
pub struct La57 {
    pub pml5: u64,
}

impl La57 {
    pub fn new(m: &mut PhysMem) -> Self {
        La57 { pml5: m.alloc() }
    }
    fn idx(va: u64, shift: u32) -> u64 {
        (va >> shift) & 0x1ff
    }
    pub fn map_4k(&self, m: &mut PhysMem, va: u64, pa: u64) {
        let p4 = m.next_table8(self.pml5 + 8 * Self::idx(va, 48));
        let pdpt = m.next_table8(p4 + 8 * Self::idx(va, 39));
        let pd = m.next_table8(pdpt + 8 * Self::idx(va, 30));
        let pt = m.next_table8(pd + 8 * Self::idx(va, 21));
        m.write_u64(pt + 8 * Self::idx(va, 12), pa | PRESENT_RW);
    }
    pub fn map_2m(&self, m: &mut PhysMem, va: u64, pa: u64) {
        let p4 = m.next_table8(self.pml5 + 8 * Self::idx(va, 48));
        let pdpt = m.next_table8(p4 + 8 * Self::idx(va, 39));
        let pd = m.next_table8(pdpt + 8 * Self::idx(va, 30));
        m.write_u64(pd + 8 * Self::idx(va, 21), pa | PRESENT_RW | PS);
    }
}

/// AArch64 stage-1 tables, 4 KiB granule (ARM ARM D8): descriptors with
/// bits[1:0] = 0b11 (table / level-3 page) or 0b01 (block), output address
/// in bits [47:12], AF (bit 10) set as Linux sets it.
pub struct Arm64 {
    pub root: u64,
    /// Virtual address bits (48: levels 0-3; 39: levels 1-3).
    pub bits: u32,
}

pub const ARM_TABLE: u64 = 0b11;
pub const ARM_PAGE: u64 = 0b11 | (1 << 10);
pub const ARM_BLOCK: u64 = 0b01 | (1 << 10);

impl Arm64 {
    pub fn new(m: &mut PhysMem, bits: u32) -> Self {
        Arm64 {
            root: m.alloc(),
            bits,
        }
    }
    fn idx(va: u64, shift: u32) -> u64 {
        (va >> shift) & 0x1ff
    }
    /// The table at `level` (0..=3) for `va`, allocating the path down.
    fn table(&self, m: &mut PhysMem, va: u64, level: u32) -> u64 {
        let first = if self.bits > 39 { 0 } else { 1 };
        let mut t = self.root;
        for l in first..level {
            let shift = 39 - 9 * l;
            let e = t + 8 * Self::idx(va, shift);
            let cur = m.read_u64(e);
            t = if cur & 3 == 3 {
                cur & 0x0000_ffff_ffff_f000
            } else {
                let n = m.alloc();
                m.write_u64(e, n | ARM_TABLE);
                n
            };
        }
        t
    }
    pub fn map_4k(&self, m: &mut PhysMem, va: u64, pa: u64) {
        let t = self.table(m, va, 3);
        m.write_u64(t + 8 * Self::idx(va, 12), pa | ARM_PAGE);
    }
    pub fn map_2m(&self, m: &mut PhysMem, va: u64, pa: u64) {
        let t = self.table(m, va, 2);
        m.write_u64(t + 8 * Self::idx(va, 21), pa | ARM_BLOCK);
    }
    pub fn map_1g(&self, m: &mut PhysMem, va: u64, pa: u64) {
        let t = self.table(m, va, 1);
        m.write_u64(t + 8 * Self::idx(va, 30), pa | ARM_BLOCK);
    }
}
