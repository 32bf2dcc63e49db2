//! Memory images: a file's format detected by content, its physical memory,
//! and what it says about the machine (CPU states, VMCOREINFO).
//!
//! | format | detected by | physical space | also read |
//! |---|---|---|---|
//! | raw | anything else | the file, address = offset | |
//! | LiME | magic `0x4C694D45` at 0 | one run per range header | |
//! | ELF core (QEMU `dump-guest-memory`, kdump `/proc/vmcore`, `makedumpfile -E`) | `\x7fELF`, `e_type` CORE | one run per `PT_LOAD` (`p_paddr`) | `PT_NOTE`: `CORE`/`NT_PRSTATUS` (registers), `QEMU` (x86 CPU state with CR0-CR4), `VMCOREINFO` |
//! | makedumpfile / QEMU kdump-compressed | `KDUMP   ` at 0 | pages by the dump's bitmaps, zlib or uncompressed (LZO, snappy and zstd pages are errors naming the method) | the sub-header's `phys_base`, VMCOREINFO and notes; `utsname` |
//!
//! Refused with an error naming the format: makedumpfile's flattened format
//! (`makedumpfile` at 0; `makedumpfile -R` restores it), the old `DISKDUMP`
//! format, Windows crash dumps (`PAGEDUMP`, `PAGEDU64`), non-core ELF files
//! and 32-bit or big-endian ELF cores.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::identify::ScanIndex;
use crate::kdump::KdumpSpace;
use crate::space::{AddressSpace, FileSpace, Run, Space, SparseSpace};
use crate::vmcoreinfo::VmcoreInfo;

/// Most bytes of ELF notes read.
pub const MAX_NOTE_BYTES: u64 = 16 << 20;

/// Most notes parsed.
pub const MAX_NOTES: usize = 1 << 16;

/// An image's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageFormat {
    /// Raw physical memory: file offset = physical address.
    Raw,
    /// LiME (Linux Memory Extractor).
    Lime,
    /// An ELF64 little-endian core file.
    ElfCore,
    /// makedumpfile's (or QEMU's) kdump-compressed format.
    Kdump,
}

impl fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ImageFormat::Raw => "raw",
            ImageFormat::Lime => "lime",
            ImageFormat::ElfCore => "elf-core",
            ImageFormat::Kdump => "kdump",
        })
    }
}

/// A machine architecture, as an image's headers name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// x86-64.
    X86_64,
    /// 32-bit x86.
    I386,
    /// AArch64 (arm64).
    Aarch64,
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Arch::X86_64 => "x86_64",
            Arch::I386 => "i386",
            Arch::Aarch64 => "aarch64",
        })
    }
}

/// One CPU's state, from an image's notes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CpuState {
    /// The CPU's position among the image's CPU notes (0 first).
    pub cpu: u32,
    /// The task that ran on it (`NT_PRSTATUS` `pr_pid`), when given.
    pub pid: Option<u32>,
    /// Program counter (RIP / PC).
    pub pc: Option<u64>,
    /// Stack pointer.
    pub sp: Option<u64>,
    /// x86 CR0 (QEMU CPU-state note).
    pub cr0: Option<u64>,
    /// x86 CR3: the page-table root of what the CPU ran.
    pub cr3: Option<u64>,
    /// x86 CR4 (bit 12: LA57, 5-level paging).
    pub cr4: Option<u64>,
    /// AArch64 TTBR1_EL1, when a note gives it (QEMU's notes do not).
    pub ttbr1: Option<u64>,
}

impl CpuState {
    /// Whether CR4 says 5-level paging (LA57) is on.
    pub fn la57(&self) -> Option<bool> {
        self.cr4.map(|c| c & (1 << 12) != 0)
    }
}

/// An opened memory image.
pub struct Image {
    name: String,
    format: ImageFormat,
    file: Space,
    physical: Space,
    arch: Option<Arch>,
    cpus: Vec<CpuState>,
    vmcoreinfo: Option<VmcoreInfo>,
    kdump: Option<KdumpInfo>,
    base: u64,
    scan: OnceLock<Arc<ScanIndex>>,
}

impl fmt::Debug for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Image")
            .field("name", &self.name)
            .field("format", &self.format)
            .field("arch", &self.arch)
            .field("cpus", &self.cpus.len())
            .field("vmcoreinfo", &self.vmcoreinfo.as_ref().map(VmcoreInfo::len))
            .finish()
    }
}

/// What a kdump-compressed header says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KdumpInfo {
    /// `header_version`.
    pub header_version: u32,
    /// `utsname.release`.
    pub release: String,
    /// `utsname.machine`.
    pub machine: String,
    /// The sub-header's `phys_base`.
    pub phys_base: u64,
    /// makedumpfile's dump level (page filtering).
    pub dump_level: u32,
    /// Page size (`block_size`).
    pub page_size: u32,
    /// Pages the dump holds.
    pub pages: u64,
}

impl Image {
    /// Opens an image file (memory-mapped; the format is detected by
    /// content, see the module documentation).
    pub fn open(path: &Path) -> Result<Image> {
        let file: Space = Arc::new(FileSpace::open(path)?);
        Image::detect(file, path.display().to_string()).map_err(|e| match e {
            Error::Format { context, message } => Error::Format {
                context: format!("{}: {context}", path.display()),
                message,
            },
            e => e,
        })
    }

    /// An image over the bytes of an image file already in a space (file
    /// offset = address), the format detected by content. `name` is used in
    /// messages.
    pub fn from_file_space(file: Space, name: impl Into<String>) -> Result<Image> {
        Image::detect(file, name.into())
    }

    /// An image over a physical space given as it is (raw format: no
    /// detection, no notes).
    pub fn from_space(physical: Space) -> Image {
        Image::build(
            "memory".into(),
            ImageFormat::Raw,
            Arc::clone(&physical),
            physical,
        )
    }

    fn build(name: String, format: ImageFormat, file: Space, physical: Space) -> Image {
        Image {
            name,
            format,
            file,
            physical,
            arch: None,
            cpus: Vec::new(),
            vmcoreinfo: None,
            kdump: None,
            base: 0,
            scan: OnceLock::new(),
        }
    }

    fn detect(file: Space, name: String) -> Result<Image> {
        let mut magic = [0u8; 16];
        let st = file.read(0, &mut magic);
        if file.ranges().is_empty() {
            return Err(Error::format("image", "the file is empty"));
        }
        let have = 16 - st.missing.min(16);
        let starts = |m: &[u8]| have >= m.len() && magic.starts_with(m);
        if starts(b"\x7fELF") {
            return Image::elf(file, name);
        }
        if starts(&0x4C69_4D45u32.to_le_bytes()) {
            let physical: Space = Arc::new(SparseSpace::lime(Arc::clone(&file))?);
            return Ok(Image::build(name, ImageFormat::Lime, file, physical));
        }
        if starts(b"KDUMP   ") {
            let (space, info, vmci, notes, arch) = KdumpSpace::open(Arc::clone(&file))?;
            let mut img = Image::build(name, ImageFormat::Kdump, file, Arc::new(space));
            img.kdump = Some(info);
            img.vmcoreinfo = vmci;
            img.arch = arch;
            if let Some(notes) = notes {
                img.read_notes(&notes, arch);
            }
            return Ok(img);
        }
        for (m, what) in [
            (
                &b"makedumpfile"[..],
                "makedumpfile's flattened format (restore it with `makedumpfile -R`)",
            ),
            (b"DISKDUMP", "the old diskdump format"),
            (b"PAGEDU64", "a Windows crash dump"),
            (b"PAGEDUMP", "a Windows crash dump"),
        ] {
            if starts(m) {
                return Err(Error::format("image", format!("{what} is not supported")));
            }
        }
        Ok(Image::build(
            name,
            ImageFormat::Raw,
            Arc::clone(&file),
            file,
        ))
    }

    fn elf(file: Space, name: String) -> Result<Image> {
        let ctx = "ELF core";
        let mut eh = [0u8; 64];
        if !file.read(0, &mut eh).is_complete() {
            return Err(Error::format(ctx, "the ELF header is truncated"));
        }
        if eh[4] != 2 || eh[5] != 1 {
            return Err(Error::format(
                ctx,
                "only 64-bit little-endian ELF is supported",
            ));
        }
        let e_type = u16::from_le_bytes([eh[16], eh[17]]);
        if e_type != 4 {
            return Err(Error::format(
                ctx,
                format!("ELF type {e_type} is not a core file (4)"),
            ));
        }
        let arch = match u16::from_le_bytes([eh[18], eh[19]]) {
            62 => Some(Arch::X86_64),
            3 => Some(Arch::I386),
            183 => Some(Arch::Aarch64),
            _ => None,
        };
        let physical: Space = Arc::new(SparseSpace::elf_core(Arc::clone(&file))?);
        let mut img = Image::build(name, ImageFormat::ElfCore, Arc::clone(&file), physical);
        img.arch = arch;
        // PT_NOTE segments.
        let phoff = u64::from_le_bytes(eh[0x20..0x28].try_into().unwrap_or([0; 8]));
        let phentsize = u64::from(u16::from_le_bytes([eh[0x36], eh[0x37]]));
        let phnum = u64::from(u16::from_le_bytes([eh[0x38], eh[0x39]]));
        let mut budget = MAX_NOTE_BYTES;
        for i in 0..phnum {
            let Some(at) = i.checked_mul(phentsize).and_then(|o| o.checked_add(phoff)) else {
                break;
            };
            let mut ph = [0u8; 56];
            if !file.read(at, &mut ph).is_complete() {
                break;
            }
            if u32::from_le_bytes([ph[0], ph[1], ph[2], ph[3]]) != 4 {
                continue;
            }
            let off = u64::from_le_bytes(ph[8..16].try_into().unwrap_or([0; 8]));
            let size = u64::from_le_bytes(ph[32..40].try_into().unwrap_or([0; 8])).min(budget);
            budget -= size;
            let mut notes = vec![0u8; size as usize];
            let st = file.read(off, &mut notes);
            let valid = size as usize - st.missing.min(size as usize);
            notes.truncate(valid);
            img.read_notes(&notes, arch);
        }
        Ok(img)
    }

    /// Reads the notes in `bytes` (ELF note format).
    fn read_notes(&mut self, bytes: &[u8], arch: Option<Arch>) {
        for note in Notes::new(bytes).take(MAX_NOTES) {
            match (note.name, note.kind) {
                (b"VMCOREINFO", 0) => {
                    let v = VmcoreInfo::from_bytes(note.desc);
                    if !v.is_empty() && self.vmcoreinfo.is_none() {
                        self.vmcoreinfo = Some(v);
                    }
                }
                (b"CORE", 1) => {
                    let mut cpu = CpuState {
                        cpu: self.cpus.len() as u32,
                        ..CpuState::default()
                    };
                    let u64_at = |i: usize| {
                        note.desc
                            .get(i..i + 8)
                            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
                    };
                    cpu.pid = note
                        .desc
                        .get(32..36)
                        .map(|b| u32::from_le_bytes(b.try_into().unwrap_or([0; 4])));
                    // elf_prstatus.pr_reg starts at 112.
                    match arch {
                        Some(Arch::X86_64) => {
                            cpu.pc = u64_at(112 + 16 * 8);
                            cpu.sp = u64_at(112 + 19 * 8);
                        }
                        Some(Arch::Aarch64) => {
                            cpu.sp = u64_at(112 + 31 * 8);
                            cpu.pc = u64_at(112 + 32 * 8);
                        }
                        _ => {}
                    }
                    self.cpus.push(cpu);
                }
                (b"QEMU", 0) if matches!(arch, Some(Arch::X86_64 | Arch::I386)) => {
                    // struct QEMUCPUState: version, size, 18 registers,
                    // 10 segments of 24 bytes, cr[5].
                    let d = note.desc;
                    let u64_at = |i: usize| {
                        d.get(i..i + 8)
                            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
                    };
                    if d.len() < 432 {
                        continue;
                    }
                    // A QEMU note follows the CORE note of the same CPU.
                    let n = self.cpus.iter().filter(|c| c.cr3.is_some()).count();
                    let idx = match self.cpus.get(n) {
                        Some(_) => n,
                        None => {
                            self.cpus.push(CpuState {
                                cpu: n as u32,
                                ..CpuState::default()
                            });
                            self.cpus.len() - 1
                        }
                    };
                    let c = &mut self.cpus[idx];
                    c.pc = c.pc.or(u64_at(8 + 16 * 8));
                    c.sp = c.sp.or(u64_at(8 + 6 * 8));
                    c.cr0 = u64_at(392);
                    c.cr3 = u64_at(416);
                    c.cr4 = u64_at(424);
                }
                _ => {}
            }
        }
    }

    /// The name given at opening (the path, for [`Image::open`]).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The detected format.
    pub fn format(&self) -> ImageFormat {
        self.format
    }

    /// The file's bytes (offset = address).
    pub fn file(&self) -> &Space {
        &self.file
    }

    /// Physical memory.
    pub fn physical(&self) -> &Space {
        &self.physical
    }

    /// The architecture the headers name (ELF `e_machine`, kdump
    /// `utsname.machine`); `None` for raw and LiME images.
    pub fn arch(&self) -> Option<Arch> {
        self.arch
    }

    /// CPU states from the image's notes (empty for raw and LiME images).
    pub fn cpus(&self) -> &[CpuState] {
        &self.cpus
    }

    /// VMCOREINFO from the image's note or header (not searched in RAM: see
    /// [`Image::vmcoreinfo_in_memory`]).
    pub fn vmcoreinfo_note(&self) -> Option<&VmcoreInfo> {
        self.vmcoreinfo.as_ref()
    }

    /// The kdump header, for kdump-compressed images.
    pub fn kdump_info(&self) -> Option<&KdumpInfo> {
        self.kdump.as_ref()
    }

    /// The most complete VMCOREINFO text found in physical memory (searched
    /// once, with the rest of [`Image::scan_index`]), and its address.
    pub fn vmcoreinfo_in_memory(&self) -> Option<(u64, VmcoreInfo)> {
        let idx = self.scan_index(&mut |_, _| {});
        VmcoreInfo::best_of(&*self.physical, &idx.vmcoreinfo)
    }

    /// The strings found in physical memory (banners, VMCOREINFO, build ids,
    /// PDB records...): searched once, on first use, with `progress(done,
    /// total)` called as the search goes (only by the call that searches).
    pub fn scan_index(&self, progress: &mut dyn FnMut(u64, u64)) -> Arc<ScanIndex> {
        Arc::clone(
            self.scan
                .get_or_init(|| Arc::new(ScanIndex::build(&*self.physical, progress))),
        )
    }

    /// The same raw image with its first byte at physical address `base`
    /// (arm64 machines have RAM above 0: QEMU `virt` at 0x40000000). Other
    /// formats, which say where their bytes lie, are returned unchanged.
    /// The search results, if made, are kept (shifted).
    pub fn rebased(&self, base: u64) -> Image {
        let mut img = Image::build(
            self.name.clone(),
            self.format,
            Arc::clone(&self.file),
            Arc::clone(&self.physical),
        );
        img.arch = self.arch;
        img.cpus = self.cpus.clone();
        img.vmcoreinfo = self.vmcoreinfo.clone();
        img.kdump = self.kdump.clone();
        if self.format != ImageFormat::Raw || base == 0 {
            if let Some(idx) = self.scan.get() {
                let _ = img.scan.set(Arc::clone(idx));
            }
            return img;
        }
        let len = self
            .file
            .ranges()
            .last()
            .map(|r| r.start + r.len)
            .unwrap_or(0);
        if let Ok(s) = SparseSpace::new(
            Arc::clone(&self.file),
            vec![Run {
                start: base,
                target: 0,
                len,
            }],
        ) {
            img.physical = Arc::new(s);
            img.base = base;
        }
        if let Some(idx) = self.scan.get() {
            let _ = img.scan.set(Arc::new(idx.shifted(base)));
        }
        img
    }

    /// The physical address of a raw image's first byte (0 unless
    /// [`Image::rebased`]).
    pub fn base(&self) -> u64 {
        self.base
    }

    /// The valid physical ranges.
    pub fn ranges(&self) -> Vec<Run> {
        self.physical.ranges()
    }
}

/// One ELF note.
pub(crate) struct Note<'a> {
    pub(crate) name: &'a [u8],
    pub(crate) kind: u32,
    pub(crate) desc: &'a [u8],
}

/// The notes of an ELF note section (4-byte aligned); stops at the first
/// malformed one.
pub(crate) struct Notes<'a> {
    bytes: &'a [u8],
}

impl<'a> Notes<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Notes { bytes }
    }
}

impl<'a> Iterator for Notes<'a> {
    type Item = Note<'a>;
    fn next(&mut self) -> Option<Note<'a>> {
        let b = self.bytes;
        let u32_at = |i: usize| -> Option<usize> {
            Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?) as usize)
        };
        let namesz = u32_at(0)?;
        let descsz = u32_at(4)?;
        let kind = u32_at(8)? as u32;
        let name_end = 12usize.checked_add(namesz)?;
        let desc_start = 12usize.checked_add(namesz.checked_add(3)? & !3)?;
        let desc_end = desc_start.checked_add(descsz)?;
        let next = desc_start.checked_add(descsz.checked_add(3)? & !3)?;
        let name = b.get(12..name_end)?;
        let desc = b.get(desc_start..desc_end)?;
        self.bytes = b.get(next..).unwrap_or(&[]);
        // The name is NUL-terminated (namesz counts the NUL).
        let name = name.split(|&c| c == 0).next().unwrap_or(&[]);
        Some(Note { name, kind, desc })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::BufferSpace;

    fn note(name: &[u8], kind: u32, desc: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&(name.len() as u32 + 1).to_le_bytes());
        v.extend_from_slice(&(desc.len() as u32).to_le_bytes());
        v.extend_from_slice(&kind.to_le_bytes());
        v.extend_from_slice(name);
        v.push(0);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v.extend_from_slice(desc);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    /// An ELF core with one PT_NOTE (CORE prstatus, QEMU CPU state,
    /// VMCOREINFO) and one PT_LOAD of 4 KiB at physical 0x1000.
    fn core() -> Vec<u8> {
        let mut prstatus = vec![0u8; 336];
        prstatus[32..36].copy_from_slice(&77u32.to_le_bytes());
        prstatus[112 + 16 * 8..112 + 17 * 8]
            .copy_from_slice(&0xffff_ffff_8100_0000u64.to_le_bytes());
        let mut qemu = vec![0u8; 440];
        qemu[0..4].copy_from_slice(&1u32.to_le_bytes());
        qemu[4..8].copy_from_slice(&440u32.to_le_bytes());
        qemu[416..424].copy_from_slice(&0x1726_4000u64.to_le_bytes());
        qemu[424..432].copy_from_slice(&(1u64 << 12).to_le_bytes());
        let mut notes = note(b"CORE", 1, &prstatus);
        notes.extend(note(b"QEMU", 0, &qemu));
        notes.extend(note(
            b"VMCOREINFO",
            0,
            b"OSRELEASE=6.1.0\nKERNELOFFSET=200000\n",
        ));
        let phoff = 64u64;
        let notes_off = phoff + 2 * 56;
        let load_off = (notes_off + notes.len() as u64 + 0xfff) & !0xfff;
        let mut f = vec![0u8; load_off as usize + 4096];
        f[0..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = 1;
        f[16..18].copy_from_slice(&4u16.to_le_bytes());
        f[18..20].copy_from_slice(&62u16.to_le_bytes());
        f[0x20..0x28].copy_from_slice(&phoff.to_le_bytes());
        f[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        f[0x38..0x3a].copy_from_slice(&2u16.to_le_bytes());
        let ph = |f: &mut Vec<u8>, i: usize, ty: u32, off: u64, pa: u64, len: u64| {
            let b = 64 + i * 56;
            f[b..b + 4].copy_from_slice(&ty.to_le_bytes());
            f[b + 8..b + 16].copy_from_slice(&off.to_le_bytes());
            f[b + 24..b + 32].copy_from_slice(&pa.to_le_bytes());
            f[b + 32..b + 40].copy_from_slice(&len.to_le_bytes());
            f[b + 40..b + 48].copy_from_slice(&len.to_le_bytes());
        };
        ph(&mut f, 0, 4, notes_off, 0, notes.len() as u64);
        ph(&mut f, 1, 1, load_off, 0x1000, 4096);
        f[notes_off as usize..notes_off as usize + notes.len()].copy_from_slice(&notes);
        f[load_off as usize..load_off as usize + 5].copy_from_slice(b"hello");
        f
    }

    #[test]
    fn elf_core_notes_cpu_state_and_vmcoreinfo() {
        let img = Image::from_file_space(Arc::new(BufferSpace::new(core())), "core").unwrap();
        assert_eq!(img.format(), ImageFormat::ElfCore);
        assert_eq!(img.arch(), Some(Arch::X86_64));
        assert_eq!(img.cpus().len(), 1);
        let c = &img.cpus()[0];
        assert_eq!(c.pid, Some(77));
        assert_eq!(c.pc, Some(0xffff_ffff_8100_0000));
        assert_eq!(c.cr3, Some(0x1726_4000));
        assert_eq!(c.la57(), Some(true));
        let v = img.vmcoreinfo_note().unwrap();
        assert_eq!(v.kerneloffset(), Some(0x20_0000));
        let mut b = [0u8; 5];
        assert!(img.physical().read(0x1000, &mut b).is_complete());
        assert_eq!(&b, b"hello");
    }

    #[test]
    fn truncated_and_hostile_headers_are_errors_or_ignored() {
        let full = core();
        for cut in [0usize, 3, 10, 63, 64, 100, 200, 300] {
            let r = Image::from_file_space(Arc::new(BufferSpace::new(full[..cut].to_vec())), "cut");
            if let Ok(img) = r {
                // What is left is readable without panicking.
                let _ = img.cpus().len();
            }
        }
        // A note claiming a huge size stops the note walk.
        let mut bad = full.clone();
        let notes_off = 64 + 2 * 56;
        bad[notes_off + 4..notes_off + 8].copy_from_slice(&u32::MAX.to_le_bytes());
        let img = Image::from_file_space(Arc::new(BufferSpace::new(bad)), "bad").unwrap();
        assert!(img.cpus().is_empty());
        assert!(Image::from_file_space(Arc::new(BufferSpace::new(Vec::new())), "e").is_err());
        let r = Image::from_file_space(
            Arc::new(BufferSpace::new(b"makedumpfile\0\0\0\0".to_vec())),
            "f",
        );
        assert!(r.unwrap_err().to_string().contains("flattened"));
        let img = Image::from_file_space(Arc::new(BufferSpace::new(vec![0u8; 100])), "z").unwrap();
        assert_eq!(img.format(), ImageFormat::Raw);
    }
}
