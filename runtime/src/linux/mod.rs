//! Linux kernels in memory images: finding the kernel's virtual address
//! space hands-free ([`LinuxKernel::locate`]), and listing its processes
//! ([`pslist`]) and modules ([`lsmod`]), and checking that a profile fits an
//! image ([`check`]).
//!
//! # How the kernel is located
//!
//! Every way below makes *candidates* (shift, `phys_base` or
//! `kimage_voffset`, page-table root, paging mode); a candidate is taken
//! only when its page tables map the profile's `linux_banner` symbol (plus
//! the shift) to the profile's banner text, so a damaged VMCOREINFO or a
//! profile of another build is rejected, not trusted.
//!
//! 1. What the user gave ([`Hints`]) overrides the matching value of every
//!    candidate (and stands alone if it is complete).
//! 2. VMCOREINFO, from the image's note or header, then the most complete
//!    copy in RAM: `KERNELOFFSET` (shift), `NUMBER(phys_base)` and
//!    `NUMBER(pgtable_l5_enabled)` on x86-64, `NUMBER(kimage_voffset)` and
//!    `NUMBER(VA_BITS)` on arm64.
//! 3. The banner's physical location: each copy of `Linux version ...` at
//!    the page offset of `linux_banner` gives, on x86-64, `shift +
//!    phys_base = banner_phys - (linux_banner - __START_KERNEL_map)` and
//!    so the physical address of `init_top_pgt`; on arm64 (the image is
//!    physically contiguous) the physical address of `swapper_pg_dir` is
//!    `banner_phys + (swapper_pg_dir - linux_banner)`. The virtual address
//!    that table maps to the banner's page, searched in the kernel's
//!    window only, gives the shift. Both 4- and 5-level walks are tried
//!    (5-level first when a CPU note's CR4 says LA57).
//! 4. A CPU note's CR3 (QEMU cores) as the page-table root, with the same
//!    search.
//!
//! Without any profile ([`crate::identify`]), the same values come from
//! VMCOREINFO when it checks out against the page tables, else from a
//! search of physical memory for the kernel's top-level table (x86-64: a
//! page whose lower half is empty and whose last entry leads to a mapping of
//! the kernel window that maps the banner and the table itself; arm64: a
//! table of table descriptors whose kernel-image region maps the banner and
//! itself). The shift is then the lowest mapped address of the x86-64
//! kernel window (`_text`) less the default `0xffffffff81000000`
//! (`CONFIG_PHYSICAL_START` = 16 MiB, as distributions build), or on arm64
//! the virtual address of the Image header less the default `_text` of
//! the release.

mod tasks;

pub use tasks::{
    check, check_kernel, lsmod, pslist, pslist_with, CheckReport, Module, Task, MAX_MODULES,
};

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::identify::banner_release;
use crate::image::{Arch, Image};
use crate::paging::{AnyPaging, Paging};
use crate::session::{canonical_address, Session};
use crate::space::{AddressSpace, Run, Space};
use crate::vmcoreinfo::VmcoreInfo;

/// `__START_KERNEL_map`: where x86-64 kernel text is mapped (plus
/// `phys_base` physically, plus the shift virtually).
pub const START_KERNEL_MAP: u64 = 0xffff_ffff_8000_0000;
/// The end of the x86-64 kernel image window (`KERNEL_IMAGE_SIZE` = 1 GiB).
const KERNEL_WINDOW_END: u64 = 0xffff_ffff_bfff_ffff;
/// x86-64 `_text` without KASLR (`CONFIG_PHYSICAL_START` = 16 MiB).
pub const DEFAULT_TEXT_AMD64: u64 = 0xffff_ffff_8100_0000;
/// Most candidate top-level tables examined by the page-table search.
pub const MAX_TABLE_CANDIDATES: usize = 256;
/// Most banner copies tried.
const MAX_BANNERS: usize = 64;

/// How a value was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Found {
    /// Given by the user.
    Hint,
    /// From VMCOREINFO.
    Vmcoreinfo,
    /// From the banner's physical location against the profile's symbol.
    BannerScan,
    /// From a search of the page tables.
    PageTables,
    /// From a CPU state note (CR3, CR4).
    CpuState,
    /// From the kernel's GNU build-id note in memory.
    BuildIdNote,
    /// Derived from the other values and the profile's symbols.
    Derived,
    /// The release's default (an assumption, not a measurement).
    Default,
}

/// Values the user gives; each overrides what would be found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hints {
    /// The kernel's page-table root (x86 CR3 of `init_top_pgt`, arm64
    /// TTBR1 = physical `swapper_pg_dir`).
    pub dtb: Option<u64>,
    /// The KASLR shift of kernel virtual addresses.
    pub shift: Option<u64>,
    /// x86-64 `phys_base`.
    pub phys_base: Option<u64>,
    /// arm64 `kimage_voffset`.
    pub kimage_voffset: Option<u64>,
    /// The paging mode.
    pub paging: Option<Paging>,
    /// For a raw image: the physical address of its first byte (arm64
    /// machines have RAM above 0). Without it, 0 is tried, then
    /// VMCOREINFO's `PHYS_OFFSET` and the usual RAM bases ([`RAW_BASES`]).
    pub raw_base: Option<u64>,
}

/// Physical addresses tried for the first byte of a raw image when 0 does
/// not work: QEMU `virt` and many arm64 boards (0x40000000), other arm64
/// SoCs (0x80000000, 0x800000000).
pub const RAW_BASES: [u64; 3] = [0x4000_0000, 0x8000_0000, 0x8_0000_0000];

/// The bases to try for a raw image: VMCOREINFO's `PHYS_OFFSET` first.
fn raw_bases(image: &Image) -> Vec<u64> {
    let mut out = Vec::new();
    if image.format() != crate::image::ImageFormat::Raw || image.base() != 0 {
        return out;
    }
    if let Some(p) = image
        .vmcoreinfo_in_memory()
        .and_then(|(_, v)| v.phys_offset())
    {
        if p != 0 {
            out.push(p);
        }
    }
    for b in RAW_BASES {
        if !out.contains(&b) {
            out.push(b);
        }
    }
    out
}

/// The kernel's architecture, as the profile says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KernelArch {
    /// x86-64.
    Amd64,
    /// AArch64.
    Arm64,
}

/// A located Linux kernel: its virtual address space and how it was found.
#[derive(Clone)]
pub struct LinuxKernel {
    space: Space,
    physical: Space,
    arch: KernelArch,
    shift: u64,
    phys_base: Option<u64>,
    kimage_voffset: Option<u64>,
    dtb: u64,
    paging: Paging,
    banner: Option<String>,
    found: BTreeMap<&'static str, Found>,
    notes: Vec<String>,
}

impl std::fmt::Debug for LinuxKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinuxKernel")
            .field("arch", &self.arch)
            .field("shift", &format_args!("{:#x}", self.shift))
            .field("phys_base", &self.phys_base)
            .field("kimage_voffset", &self.kimage_voffset)
            .field("dtb", &format_args!("{:#x}", self.dtb))
            .field("paging", &self.paging)
            .field("found", &self.found)
            .finish()
    }
}

/// A serialisable summary of a [`LinuxKernel`].
#[derive(Debug, Clone, Serialize)]
pub struct KernelSummary {
    /// Architecture.
    pub arch: KernelArch,
    /// The banner read at `linux_banner`.
    pub banner: Option<String>,
    /// KASLR shift.
    pub kaslr_shift: u64,
    /// x86-64 `phys_base`.
    pub phys_base: Option<u64>,
    /// arm64 `kimage_voffset`.
    pub kimage_voffset: Option<u64>,
    /// Page-table root.
    pub dtb: u64,
    /// Paging mode.
    pub paging: Paging,
    /// How each value was found.
    pub found: BTreeMap<&'static str, Found>,
    /// Remarks (disagreements, assumptions).
    pub notes: Vec<String>,
}

/// A candidate location.
#[derive(Debug, Clone, PartialEq)]
struct Candidate {
    shift: u64,
    /// x86-64 phys_base, or arm64 kimage_voffset.
    offset: u64,
    dtb: u64,
    paging: Option<Paging>,
    how: Found,
    dtb_how: Found,
}

/// The symbols location needs, canonical.
struct Syms {
    arch: KernelArch,
    banner: u64,
    pgd: u64,
    profile_banner: Option<String>,
    release: Option<String>,
}

impl Syms {
    fn of(session: &Session) -> Result<Syms> {
        let sym = |n: &str| session.symbol_address(n, 0).map(canonical_address);
        let meta = |k: &str| session.profile().metadata_str(k).map(str::to_owned);
        let arch_meta = meta("arch").unwrap_or_default().to_ascii_lowercase();
        let banner = sym("linux_banner")
            .ok_or_else(|| kerr("profile", "the profile has no linux_banner symbol"))?;
        let x86_pgd = sym("init_top_pgt").or_else(|| sym("init_level4_pgt"));
        let arch = if arch_meta.contains("arm64") || arch_meta.contains("aarch64") {
            KernelArch::Arm64
        } else if arch_meta.contains("amd64") || arch_meta.contains("x86_64") || x86_pgd.is_some() {
            KernelArch::Amd64
        } else {
            return Err(kerr(
                "profile",
                format!("the profile's arch {arch_meta:?} is not a supported Linux architecture (AMD64, ARM64)"),
            ));
        };
        let pgd = match arch {
            KernelArch::Amd64 => x86_pgd.ok_or_else(|| {
                kerr(
                    "profile",
                    "the profile has no init_top_pgt (or init_level4_pgt) symbol",
                )
            })?,
            KernelArch::Arm64 => sym("swapper_pg_dir")
                .ok_or_else(|| kerr("profile", "the profile has no swapper_pg_dir symbol"))?,
        };
        let profile_banner = meta("Banner").map(|b| b.trim_end_matches('\n').to_owned());
        let release = meta("KernelVersion").or_else(|| {
            profile_banner
                .as_deref()
                .and_then(banner_release)
                .map(str::to_owned)
        });
        Ok(Syms {
            arch,
            banner,
            pgd,
            profile_banner,
            release,
        })
    }
}

fn kerr(image: &str, message: impl Into<String>) -> Error {
    Error::Kernel {
        image: image.to_owned(),
        message: message.into(),
    }
}

/// The VMCOREINFO copies of an image: its note or header, then the most
/// complete one in RAM.
fn vmcoreinfos(image: &Image) -> Vec<(&'static str, VmcoreInfo)> {
    let mut out = Vec::new();
    if let Some(v) = image.vmcoreinfo_note() {
        out.push(("note", v.clone()));
    }
    if let Some((_, v)) = image.vmcoreinfo_in_memory() {
        if !out.iter().any(|(_, o)| *o == v) {
            out.push(("memory", v));
        }
    }
    out
}

/// Paging modes to try on x86-64, most likely first.
fn amd64_modes(image: &Image, vmci_l5: Option<bool>) -> Vec<Paging> {
    let la57 = vmci_l5.or_else(|| image.cpus().iter().find_map(|c| c.la57()));
    match la57 {
        Some(true) => vec![Paging::Amd64La57, Paging::Amd64],
        _ => vec![Paging::Amd64, Paging::Amd64La57],
    }
}

/// Where `walker` maps physical `phys` within `lo..=hi`, if anywhere.
fn va_of(runs: &[Run], phys: u64) -> Option<u64> {
    runs.iter()
        .find(|r| phys >= r.target && phys - r.target < r.len)
        .map(|r| r.start + (phys - r.target))
}

/// The text at `addr` of `space`, up to a newline (at most 512 bytes).
fn banner_at(space: &dyn AddressSpace, addr: u64) -> Option<String> {
    let mut b = [0u8; 512];
    let st = space.read(addr, &mut b);
    let valid = if st.is_complete() {
        b.len()
    } else {
        st.first_invalid
            .map_or(0, |f| f.saturating_sub(addr) as usize)
            .min(b.len())
    };
    let b = &b[..valid];
    if !b.starts_with(b"Linux version ") {
        return None;
    }
    let end = b
        .iter()
        .position(|&c| c == b'\n' || c == 0)
        .unwrap_or(b.len());
    Some(String::from_utf8_lossy(&b[..end]).into_owned())
}

impl LinuxKernel {
    /// Locates the kernel of `image` described by the profile of
    /// `session`, with no address given (see the module documentation);
    /// `hints` override what would be found. An error lists what each way
    /// tried found wrong.
    pub fn locate(image: &Image, session: &Session, hints: &Hints) -> Result<LinuxKernel> {
        let syms = Syms::of(session).map_err(|e| match e {
            Error::Kernel { message, .. } => kerr(image.name(), message),
            e => e,
        })?;
        if let Some(b) = hints.raw_base {
            let mut k = LinuxKernel::locate_in(&image.rebased(b), &syms, hints)?;
            k.found.insert("raw_base", Found::Hint);
            return Ok(k);
        }
        match LinuxKernel::locate_in(image, &syms, hints) {
            Err(e) if syms.arch == KernelArch::Arm64 => {
                for b in raw_bases(image) {
                    if let Ok(mut k) = LinuxKernel::locate_in(&image.rebased(b), &syms, hints) {
                        k.found.insert("raw_base", Found::PageTables);
                        k.notes
                            .push(format!("the raw image's first byte is physical {b:#x}"));
                        return Ok(k);
                    }
                }
                Err(e)
            }
            r => r,
        }
    }

    fn locate_in(image: &Image, syms: &Syms, hints: &Hints) -> Result<LinuxKernel> {
        let mut reasons = Vec::new();
        let mut notes = Vec::new();
        let vmcis = vmcoreinfos(image);
        let mut cands = Vec::new();
        for (src, v) in &vmcis {
            if let (Some(r), Some(want)) = (v.osrelease(), syms.release.as_deref()) {
                if r != want {
                    notes.push(format!(
                        "VMCOREINFO ({src}) is of release {r}, the profile of {want}"
                    ));
                }
            }
            if let Some(c) = vmcoreinfo_candidate(syms, v) {
                cands.push(c);
            }
        }
        cands.extend(banner_candidates(image, syms, hints));
        // Hints override; a complete set of hints stands alone too.
        let mut cands: Vec<Candidate> = cands
            .into_iter()
            .map(|c| apply_hints(c, hints, syms))
            .collect();
        if let Some(c) = hint_candidate(hints, syms) {
            cands.insert(0, c);
        }
        cands.dedup();
        let physical = Arc::clone(image.physical());
        for c in &cands {
            match verify(&physical, syms, c, image) {
                Ok((paging, banner)) => {
                    let mut found = BTreeMap::new();
                    found.insert(
                        "kaslr_shift",
                        if hints.shift.is_some() {
                            Found::Hint
                        } else {
                            c.how
                        },
                    );
                    let off_key = match syms.arch {
                        KernelArch::Amd64 => "phys_base",
                        KernelArch::Arm64 => "kimage_voffset",
                    };
                    let off_hint = match syms.arch {
                        KernelArch::Amd64 => hints.phys_base.is_some(),
                        KernelArch::Arm64 => hints.kimage_voffset.is_some(),
                    };
                    found.insert(off_key, if off_hint { Found::Hint } else { c.how });
                    found.insert(
                        "dtb",
                        if hints.dtb.is_some() {
                            Found::Hint
                        } else {
                            c.dtb_how
                        },
                    );
                    found.insert(
                        "paging",
                        if hints.paging.is_some() {
                            Found::Hint
                        } else {
                            Found::PageTables
                        },
                    );
                    if let (Some(pb), Some(b)) = (&syms.profile_banner, &banner) {
                        if pb != b {
                            notes.push(format!(
                                "the image's banner {b:?} differs from the profile's {pb:?}"
                            ));
                        }
                    }
                    let space = paging.space(Arc::clone(&physical), c.dtb)?;
                    let (phys_base, kimage_voffset) = match syms.arch {
                        KernelArch::Amd64 => (Some(c.offset), None),
                        KernelArch::Arm64 => (None, Some(c.offset)),
                    };
                    return Ok(LinuxKernel {
                        space,
                        physical,
                        arch: syms.arch,
                        shift: c.shift,
                        phys_base,
                        kimage_voffset,
                        dtb: c.dtb,
                        paging,
                        banner,
                        found,
                        notes,
                    });
                }
                Err(why) => reasons.push(format!(
                    "{:?} shift {:#x} offset {:#x} dtb {:#x}: {why}",
                    c.how, c.shift, c.offset, c.dtb
                )),
            }
        }
        // What the user gave overrides even unverified.
        if let Some(c) = hint_candidate(hints, syms) {
            let paging = c.paging.unwrap_or(match syms.arch {
                KernelArch::Amd64 => Paging::Amd64,
                KernelArch::Arm64 => Paging::AArch64 { va_bits: 48 },
            });
            let space = paging.space(Arc::clone(&physical), c.dtb)?;
            let mut found = BTreeMap::new();
            for k in ["kaslr_shift", "dtb", "paging"] {
                found.insert(k, Found::Hint);
            }
            notes.push(format!(
                "the values given do not map linux_banner to the profile's banner; used as given ({})",
                reasons.join("; ")
            ));
            let (phys_base, kimage_voffset) = match syms.arch {
                KernelArch::Amd64 => (Some(c.offset), None),
                KernelArch::Arm64 => (None, Some(c.offset)),
            };
            return Ok(LinuxKernel {
                space,
                physical,
                arch: syms.arch,
                shift: c.shift,
                phys_base,
                kimage_voffset,
                dtb: c.dtb,
                paging,
                banner: None,
                found,
                notes,
            });
        }
        if cands.is_empty() {
            reasons.push(format!(
                "no VMCOREINFO with a shift, no copy of the profile's banner{} at linux_banner's page offset, no usable hints",
                syms.profile_banner
                    .as_deref()
                    .map(|b| format!(" ({b:?})"))
                    .unwrap_or_default()
            ));
            let idx = image.scan_index(&mut |_, _| {});
            let rels = idx.linux_releases();
            if !rels.is_empty() {
                reasons.push(format!(
                    "the image has Linux release(s) {}",
                    rels.join(", ")
                ));
            }
        }
        reasons.extend(notes);
        Err(kerr(
            image.name(),
            format!(
                "the profile's Linux kernel was not found: {}",
                reasons.join("; ")
            ),
        ))
    }

    /// The kernel's virtual address space.
    pub fn space(&self) -> &Space {
        &self.space
    }

    /// Physical memory.
    pub fn physical(&self) -> &Space {
        &self.physical
    }

    /// Architecture.
    pub fn arch(&self) -> KernelArch {
        self.arch
    }

    /// The KASLR shift of kernel virtual addresses.
    pub fn shift(&self) -> u64 {
        self.shift
    }

    /// x86-64 `phys_base`.
    pub fn phys_base(&self) -> Option<u64> {
        self.phys_base
    }

    /// arm64 `kimage_voffset`.
    pub fn kimage_voffset(&self) -> Option<u64> {
        self.kimage_voffset
    }

    /// The page-table root (physical).
    pub fn dtb(&self) -> u64 {
        self.dtb
    }

    /// The paging mode.
    pub fn paging(&self) -> Paging {
        self.paging
    }

    /// The banner read at `linux_banner`.
    pub fn banner(&self) -> Option<&str> {
        self.banner.as_deref()
    }

    /// How each value was found (`kaslr_shift`, `phys_base` or
    /// `kimage_voffset`, `dtb`, `paging`).
    pub fn found(&self) -> &BTreeMap<&'static str, Found> {
        &self.found
    }

    /// Remarks: disagreements seen while locating (a VMCOREINFO of another
    /// release, a banner differing from the profile's).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// A symbol's virtual address in this kernel: its profile value made
    /// canonical (profiles may store 48-bit masked addresses) plus the shift.
    pub fn symbol(&self, session: &Session, name: &str) -> Option<u64> {
        session
            .symbol_address(name, 0)
            .map(|a| canonical_address(a).wrapping_add(self.shift))
    }

    /// A serialisable summary.
    pub fn summary(&self) -> KernelSummary {
        KernelSummary {
            arch: self.arch,
            banner: self.banner.clone(),
            kaslr_shift: self.shift,
            phys_base: self.phys_base,
            kimage_voffset: self.kimage_voffset,
            dtb: self.dtb,
            paging: self.paging,
            found: self.found.clone(),
            notes: self.notes.clone(),
        }
    }
}

fn vmcoreinfo_candidate(syms: &Syms, v: &VmcoreInfo) -> Option<Candidate> {
    let shift = v.kerneloffset()?;
    match syms.arch {
        KernelArch::Amd64 => {
            let pb = v.phys_base()?;
            let dtb = syms
                .pgd
                .wrapping_add(shift)
                .wrapping_sub(START_KERNEL_MAP)
                .wrapping_add(pb);
            Some(Candidate {
                shift,
                offset: pb,
                dtb,
                paging: v.pgtable_l5_enabled().map(|l5| {
                    if l5 {
                        Paging::Amd64La57
                    } else {
                        Paging::Amd64
                    }
                }),
                how: Found::Vmcoreinfo,
                dtb_how: Found::Derived,
            })
        }
        KernelArch::Arm64 => {
            let voff = v.kimage_voffset()?;
            let va_bits = v
                .va_bits()
                .or_else(|| v.tcr_el1_t1sz().map(|t| 64u64.saturating_sub(t)))
                .and_then(|b| u8::try_from(b).ok())
                .and_then(Paging::aarch64);
            Some(Candidate {
                shift,
                offset: voff,
                dtb: syms.pgd.wrapping_add(shift).wrapping_sub(voff),
                paging: va_bits,
                how: Found::Vmcoreinfo,
                dtb_how: Found::Derived,
            })
        }
    }
}

/// Candidates from the banner's physical copies (and CPU notes' CR3).
fn banner_candidates(image: &Image, syms: &Syms, hints: &Hints) -> Vec<Candidate> {
    let idx = image.scan_index(&mut |_, _| {});
    let physical = Arc::clone(image.physical());
    let page_off = syms.banner & 0xfff;
    let hits: Vec<u64> = idx
        .linux_banners
        .iter()
        .filter(|h| h.address & 0xfff == page_off)
        .filter(|h| match &syms.profile_banner {
            Some(b) => h.text == *b,
            None => true,
        })
        .map(|h| h.address)
        .take(MAX_BANNERS)
        .collect();
    let mut out = Vec::new();
    match syms.arch {
        KernelArch::Amd64 => {
            let modes = match hints.paging {
                Some(p) => vec![p],
                None => amd64_modes(image, None),
            };
            let mut roots: Vec<(u64, Found)> = Vec::new();
            for &b in &hits {
                // shift + phys_base, and so the physical init_top_pgt.
                let p = b.wrapping_sub(syms.banner.wrapping_sub(START_KERNEL_MAP));
                roots.push((
                    syms.pgd.wrapping_sub(START_KERNEL_MAP).wrapping_add(p),
                    Found::BannerScan,
                ));
            }
            for c in image.cpus() {
                if let Some(cr3) = c.cr3 {
                    roots.push((cr3 & 0x000f_ffff_ffff_f000, Found::CpuState));
                }
            }
            if let Some(d) = hints.dtb {
                roots.insert(0, (d, Found::Hint));
            }
            roots.dedup();
            for (root, how) in roots.into_iter().take(MAX_BANNERS) {
                for &mode in &modes {
                    let Ok(w) = AnyPaging::new(Arc::clone(&physical), root, mode) else {
                        continue;
                    };
                    let runs = w.ranges_in(syms.banner, KERNEL_WINDOW_END);
                    for &b in &hits {
                        let Some(va) = va_of(&runs, b) else { continue };
                        let shift = va.wrapping_sub(syms.banner);
                        let p = b.wrapping_sub(syms.banner.wrapping_sub(START_KERNEL_MAP));
                        let pb = p.wrapping_sub(shift);
                        let dtb = syms.pgd.wrapping_sub(START_KERNEL_MAP).wrapping_add(p);
                        out.push(Candidate {
                            shift,
                            offset: pb,
                            dtb,
                            paging: Some(mode),
                            how: Found::BannerScan,
                            dtb_how: if how == Found::CpuState {
                                Found::Derived
                            } else {
                                how
                            },
                        });
                    }
                }
            }
        }
        KernelArch::Arm64 => {
            let bits: Vec<u8> = match hints.paging {
                Some(Paging::AArch64 { va_bits }) => vec![va_bits],
                _ => vec![48, 39, 47, 42],
            };
            for &b in &hits {
                let root = hints
                    .dtb
                    .unwrap_or_else(|| b.wrapping_add(syms.pgd.wrapping_sub(syms.banner)));
                for &vb in &bits {
                    let Ok(w) = AnyPaging::new(
                        Arc::clone(&physical),
                        root,
                        Paging::AArch64 { va_bits: vb },
                    ) else {
                        continue;
                    };
                    let runs = w.ranges_in(syms.banner, u64::MAX);
                    if let Some(va) = va_of(&runs, b) {
                        out.push(Candidate {
                            shift: va.wrapping_sub(syms.banner),
                            offset: va.wrapping_sub(b),
                            dtb: root,
                            paging: Some(Paging::AArch64 { va_bits: vb }),
                            how: Found::BannerScan,
                            dtb_how: if hints.dtb.is_some() {
                                Found::Hint
                            } else {
                                Found::BannerScan
                            },
                        });
                        break;
                    }
                }
            }
        }
    }
    out
}

fn apply_hints(mut c: Candidate, h: &Hints, syms: &Syms) -> Candidate {
    let mut moved = false;
    if let Some(s) = h.shift {
        moved |= s != c.shift;
        c.shift = s;
    }
    let off = match syms.arch {
        KernelArch::Amd64 => h.phys_base,
        KernelArch::Arm64 => h.kimage_voffset,
    };
    if let Some(o) = off {
        moved |= o != c.offset;
        c.offset = o;
    }
    if let Some(d) = h.dtb {
        c.dtb = d;
    } else if moved {
        c.dtb = derive_dtb(syms, c.shift, c.offset);
    }
    if h.paging.is_some() {
        c.paging = h.paging;
    }
    c
}

fn derive_dtb(syms: &Syms, shift: u64, offset: u64) -> u64 {
    match syms.arch {
        KernelArch::Amd64 => syms
            .pgd
            .wrapping_add(shift)
            .wrapping_sub(START_KERNEL_MAP)
            .wrapping_add(offset),
        KernelArch::Arm64 => syms.pgd.wrapping_add(shift).wrapping_sub(offset),
    }
}

/// A candidate from the hints alone (a shift, defaulting the other values
/// to 0 as a kernel without KASLR has them).
fn hint_candidate(h: &Hints, syms: &Syms) -> Option<Candidate> {
    if h.shift.is_none() && h.dtb.is_none() {
        return None;
    }
    let shift = h.shift.unwrap_or(0);
    let off = match syms.arch {
        KernelArch::Amd64 => h.phys_base,
        KernelArch::Arm64 => h.kimage_voffset,
    };
    let offset = off.unwrap_or(0);
    Some(Candidate {
        shift,
        offset,
        dtb: h.dtb.unwrap_or_else(|| derive_dtb(syms, shift, offset)),
        paging: h.paging,
        how: Found::Hint,
        dtb_how: if h.dtb.is_some() {
            Found::Hint
        } else {
            Found::Derived
        },
    })
}

/// Checks a candidate: its tables must map `linux_banner` (+ shift) to the
/// profile's banner. Returns the paging mode that does and the banner read.
/// (Hints that fail this are still used, last: see [`LinuxKernel::locate`].)
fn verify(
    physical: &Space,
    syms: &Syms,
    c: &Candidate,
    image: &Image,
) -> std::result::Result<(Paging, Option<String>), String> {
    let modes: Vec<Paging> = match (c.paging, syms.arch) {
        (Some(p), _) => vec![p],
        (None, KernelArch::Amd64) => amd64_modes(image, None),
        (None, KernelArch::Arm64) => vec![48u8, 39, 47, 42]
            .into_iter()
            .map(|b| Paging::AArch64 { va_bits: b })
            .collect(),
    };
    let mut why = String::new();
    for mode in modes {
        let space = AnyPaging::new(Arc::clone(physical), c.dtb, mode).map_err(|e| e.to_string())?;
        let at = syms.banner.wrapping_add(c.shift);
        match banner_at(&space, at) {
            Some(b) => {
                if let Some(pb) = &syms.profile_banner {
                    if *pb != b {
                        why = format!(
                            "{mode}: the banner at linux_banner is {b:?}, not the profile's"
                        );
                        continue;
                    }
                }
                return Ok((mode, Some(b)));
            }
            None => {
                why = format!("{mode}: linux_banner ({at:#x}) does not map to a Linux banner");
            }
        }
    }
    Err(why)
}

/// What [`locate_unprofiled`] found.
#[derive(Debug, Clone, Default)]
pub(crate) struct Located {
    pub(crate) shift: Option<u64>,
    pub(crate) phys_base: Option<u64>,
    pub(crate) kimage_voffset: Option<u64>,
    pub(crate) dtb: Option<u64>,
    pub(crate) paging: Option<Paging>,
    pub(crate) text: Option<u64>,
    /// The banner copy inside the kernel's own mapping.
    pub(crate) banner: Option<u64>,
    /// The physical address of a raw image's first byte, when not 0.
    pub(crate) raw_base: Option<u64>,
    /// Physical extents (start, length) of the kernel image mapping.
    pub(crate) kernel_phys: Vec<(u64, u64)>,
    pub(crate) found: Vec<(&'static str, Found)>,
    pub(crate) notes: Vec<String>,
}

/// Locates a kernel without a profile: VMCOREINFO checked against the page
/// tables, else a search for the kernel's top-level page table that maps
/// one of `banners` (physical addresses of its banner).
pub(crate) fn locate_unprofiled(
    image: &Image,
    vmci: Option<&VmcoreInfo>,
    banners: &[u64],
) -> Located {
    let l = locate_unprofiled_at(image, vmci, banners);
    if l.dtb.is_some() || image.format() != crate::image::ImageFormat::Raw || image.base() != 0 {
        return l;
    }
    // A raw image of RAM that does not start at 0 (arm64).
    let arm = image.arch() == Some(Arch::Aarch64)
        || vmci.is_some_and(|v| v.kimage_voffset().is_some())
        || vmci.is_none();
    if arm {
        for b in raw_bases(image) {
            let moved: Vec<u64> = banners.iter().map(|a| a + b).collect();
            let mut r = locate_unprofiled_at(&image.rebased(b), vmci, &moved);
            if r.dtb.is_some() {
                r.raw_base = Some(b);
                r.found.push(("raw_base", Found::PageTables));
                r.notes
                    .push(format!("the raw image's first byte is physical {b:#x}"));
                return r;
            }
        }
    }
    l
}

fn locate_unprofiled_at(image: &Image, vmci: Option<&VmcoreInfo>, banners: &[u64]) -> Located {
    let arch = image.arch().or_else(|| {
        let v = vmci?;
        if v.kimage_voffset().is_some() {
            Some(Arch::Aarch64)
        } else if v.phys_base().is_some() || v.symbol("init_top_pgt").is_some() {
            Some(Arch::X86_64)
        } else {
            None
        }
    });
    let mut out = Located::default();
    if let Some(v) = vmci {
        let l = match arch {
            Some(Arch::Aarch64) => arm64_from_vmcoreinfo(image, v),
            Some(Arch::X86_64) | None => amd64_from_vmcoreinfo(image, v),
            Some(Arch::I386) => None,
        };
        if let Some(mut l) = l {
            if let (Some(d), Some(p)) = (l.dtb, l.paging) {
                let runs = kernel_runs(image, d, p, l.kimage_voffset);
                l.banner = pick_banner(image, &runs, banners);
                l.kernel_phys = runs.iter().map(|r| (r.target, r.len)).collect();
            }
            return l;
        }
        out.notes
            .push("VMCOREINFO does not agree with the page tables; searching them".into());
    }
    let found = match arch {
        Some(Arch::X86_64) => amd64_search(image, banners),
        Some(Arch::Aarch64) => arm64_search(image, banners),
        Some(Arch::I386) => None,
        None => amd64_search(image, banners).or_else(|| arm64_search(image, banners)),
    };
    match found {
        Some(mut l) => {
            l.notes.splice(0..0, out.notes);
            l
        }
        None => {
            out.notes
                .push("no kernel page table mapping the banner was found".into());
            out
        }
    }
}

/// The runs mapping the kernel image: x86-64, the kernel window; arm64,
/// the upper-half runs with the image's `kimage_voffset` (virtual -
/// physical), which excludes modules and vmalloc.
fn kernel_runs(image: &Image, dtb: u64, paging: Paging, voff: Option<u64>) -> Vec<Run> {
    let Ok(w) = AnyPaging::new(Arc::clone(image.physical()), dtb, paging) else {
        return Vec::new();
    };
    match paging {
        Paging::AArch64 { va_bits } => {
            let mut runs = w.ranges_in(!0u64 << (va_bits - 1), u64::MAX);
            if let Some(v) = voff {
                runs.retain(|r| r.start.wrapping_sub(r.target) == v);
            }
            runs
        }
        _ => w.ranges_in(START_KERNEL_MAP, KERNEL_WINDOW_END),
    }
}

/// Of `banners`, those mapped by `runs`; the first whose version has a
/// build number (`#1 SMP ...`: kernels since 6.1 also hold a placeholder
/// banner and utsname with `# SMP ...`), else the first.
fn pick_banner(image: &Image, runs: &[Run], banners: &[u64]) -> Option<u64> {
    let phys = image.physical();
    let mapped: Vec<(u64, String)> = banners
        .iter()
        .filter(|&&b| va_of(runs, b).is_some())
        .filter_map(|&b| banner_at(&**phys, b).map(|t| (b, t)))
        .collect();
    let numbered = |t: &str| {
        t.match_indices('#')
            .any(|(i, _)| t.as_bytes().get(i + 1).is_some_and(u8::is_ascii_digit))
    };
    mapped
        .iter()
        .find(|(_, t)| numbered(t))
        .or(mapped.first())
        .map(|(b, _)| *b)
}

fn amd64_from_vmcoreinfo(image: &Image, v: &VmcoreInfo) -> Option<Located> {
    let shift = v.kerneloffset()?;
    let pb = v.phys_base()?;
    let pgd_va = v
        .symbol("init_top_pgt")
        .or_else(|| v.symbol("swapper_pg_dir"))?;
    let dtb = pgd_va.wrapping_sub(START_KERNEL_MAP).wrapping_add(pb);
    let modes = match v.pgtable_l5_enabled() {
        Some(true) => vec![Paging::Amd64La57],
        Some(false) => vec![Paging::Amd64],
        None => amd64_modes(image, None),
    };
    for mode in modes {
        let w = AnyPaging::new(Arc::clone(image.physical()), dtb, mode).ok()?;
        if w.translate(pgd_va).map(|(p, _)| p) == Some(dtb) {
            let text = v.symbol("_stext").or_else(|| v.symbol("_text"));
            let mut l = Located {
                shift: Some(shift),
                phys_base: Some(pb),
                dtb: Some(dtb),
                paging: Some(mode),
                text,
                ..Located::default()
            };
            for k in ["kaslr_shift", "phys_base", "dtb"] {
                l.found.push((k, Found::Vmcoreinfo));
            }
            l.found.push(("paging", Found::PageTables));
            return Some(l);
        }
    }
    None
}

fn arm64_from_vmcoreinfo(image: &Image, v: &VmcoreInfo) -> Option<Located> {
    let shift = v.kerneloffset()?;
    let voff = v.kimage_voffset()?;
    let pgd_va = v.symbol("swapper_pg_dir")?;
    let dtb = pgd_va.wrapping_sub(voff);
    let bits = v
        .va_bits()
        .or_else(|| v.tcr_el1_t1sz().map(|t| 64u64.saturating_sub(t)))
        .and_then(|b| u8::try_from(b).ok())
        .unwrap_or(48);
    let mode = Paging::aarch64(bits)?;
    let w = AnyPaging::new(Arc::clone(image.physical()), dtb, mode).ok()?;
    if w.translate(pgd_va).map(|(p, _)| p) != Some(dtb) {
        return None;
    }
    let mut l = Located {
        shift: Some(shift),
        kimage_voffset: Some(voff),
        dtb: Some(dtb),
        paging: Some(mode),
        text: v.symbol("_text").or_else(|| v.symbol("_stext")),
        ..Located::default()
    };
    for k in ["kaslr_shift", "kimage_voffset", "dtb"] {
        l.found.push((k, Found::Vmcoreinfo));
    }
    l.found.push(("paging", Found::Vmcoreinfo));
    Some(l)
}

/// Page-aligned addresses of the 4 KiB pages of `space`, run by run.
fn pages(space: &dyn AddressSpace) -> impl Iterator<Item = u64> + '_ {
    space.ranges().into_iter().flat_map(|r| {
        let first = (r.start + 0xfff) & !0xfff;
        let end = r.start.saturating_add(r.len);
        (0..end.saturating_sub(first) / 0x1000).map(move |i| first + i * 0x1000)
    })
}

fn read_u64(space: &dyn AddressSpace, addr: u64) -> Option<u64> {
    let mut b = [0u8; 8];
    space
        .read(addr, &mut b)
        .is_complete()
        .then(|| u64::from_le_bytes(b))
}

fn amd64_search(image: &Image, banners: &[u64]) -> Option<Located> {
    let phys = image.physical();
    let mut cands = Vec::new();
    let mut half = vec![0u8; 2048];
    for page in pages(&**phys) {
        let Some(e) = read_u64(&**phys, page + 0xff8) else {
            continue;
        };
        if e & 1 == 0 || e & 0x80 != 0 || (e >> 52) & 0x7ff != 0 {
            continue;
        }
        if !phys.is_valid(e & 0x000f_ffff_ffff_f000) {
            continue;
        }
        if !phys.read(page, &mut half).is_complete() || half.iter().any(|&b| b != 0) {
            continue;
        }
        cands.push(page);
        if cands.len() >= MAX_TABLE_CANDIDATES {
            break;
        }
    }
    // Every (table, mode) that maps the kernel window, the banner and
    // itself; a table another one points to (a 5-level table's P4D looks
    // like a 4-level root) is not the root.
    let mut valid: Vec<(u64, Paging, Vec<Run>, Option<u64>)> = Vec::new();
    for mode in amd64_modes(image, None) {
        for &root in &cands {
            let Ok(w) = AnyPaging::new(Arc::clone(phys), root, mode) else {
                continue;
            };
            let runs = w.ranges_in(START_KERNEL_MAP, KERNEL_WINDOW_END);
            if runs.is_empty() || va_of(&runs, root).is_none() {
                continue;
            }
            let banner = pick_banner(image, &runs, banners);
            if !banners.is_empty() && banner.is_none() {
                continue;
            }
            valid.push((root, mode, runs, banner));
        }
    }
    let pointed: Vec<u64> = valid
        .iter()
        .filter_map(|(root, ..)| read_u64(&**phys, root + 0xff8).map(|e| e & 0x000f_ffff_ffff_f000))
        .collect();
    valid.retain(|(root, ..)| !pointed.contains(root));
    // Copies of init_top_pgt exist (in 6.1, one beside the kernel text):
    // the real one is referenced by pointers in the kernel image
    // (init_mm.pgd holds its kernel virtual address).
    if valid.len() > 1 {
        let refs = |root: u64, runs: &[Run]| -> usize {
            let Some(va) = va_of(runs, root) else {
                return 0;
            };
            let pat = va.to_le_bytes();
            let f = memchr::memmem::Finder::new(&pat);
            runs.iter()
                .take(1024)
                .filter_map(|r| phys.read_exact(r.target, r.len.min(64 << 20) as usize))
                .map(|b| f.find_iter(&b).filter(|p| p % 8 == 0).count())
                .sum()
        };
        let best = valid
            .iter()
            .enumerate()
            .map(|(i, (root, _, runs, _))| (refs(*root, runs), std::cmp::Reverse(i)))
            .max()
            .map(|(_, std::cmp::Reverse(i))| i)
            .unwrap_or(0);
        valid.swap(0, best);
    }
    let (root, mode, runs, banner) = valid.first()?.clone();
    let first = runs.first()?;
    let text = first.start;
    let shift = text.wrapping_sub(DEFAULT_TEXT_AMD64);
    let pb = first
        .target
        .wrapping_sub(text.wrapping_sub(START_KERNEL_MAP));
    let mut l = Located {
        shift: Some(shift),
        phys_base: Some(pb),
        dtb: Some(root),
        paging: Some(mode),
        text: Some(text),
        banner,
        kernel_phys: runs.iter().map(|r| (r.target, r.len)).collect(),
        ..Located::default()
    };
    l.found.push(("dtb", Found::PageTables));
    l.found.push(("paging", Found::PageTables));
    l.found.push(("kaslr_shift", Found::PageTables));
    l.found.push(("phys_base", Found::PageTables));
    l.notes.push(format!(
        "shift = _text (lowest address mapped in the kernel window, {text:#x}) - {DEFAULT_TEXT_AMD64:#x} (CONFIG_PHYSICAL_START 16 MiB assumed)"
    ));
    Some(l)
}

/// arm64 `_text` without KASLR for a 48-bit kernel of `release` (the
/// layout changed in 5.4 and 5.11; later kernels keep 0xffff800008000000
/// until 6.9, which moved it to 0xffff800080000000).
fn arm64_default_text(release: Option<&str>) -> u64 {
    let ver = release.and_then(|r| {
        let mut it = r.split(|c: char| !c.is_ascii_digit());
        Some((
            it.next()?.parse::<u32>().ok()?,
            it.next()?.parse::<u32>().ok()?,
        ))
    });
    match ver {
        Some(v) if v >= (6, 9) => 0xffff_8000_8000_0000,
        Some(v) if v >= (5, 11) => 0xffff_8000_0800_0000,
        Some(v) if v >= (5, 4) => 0xffff_8000_1000_0000,
        Some(_) => 0xffff_0000_0808_0000,
        None => 0xffff_8000_0800_0000,
    }
}

fn arm64_search(image: &Image, banners: &[u64]) -> Option<Located> {
    let phys = image.physical();
    let mut cands = Vec::new();
    let mut table = vec![0u8; 4096];
    for page in pages(&**phys) {
        // The kernel image region (0xffff800000000000) is entry 256 of a
        // 48-bit level-0 table.
        let Some(e) = read_u64(&**phys, page + 256 * 8) else {
            continue;
        };
        if e & 3 != 3 || !phys.is_valid(e & 0x0000_ffff_ffff_f000) {
            continue;
        }
        if !phys.read(page, &mut table).is_complete() {
            continue;
        }
        let mut valid = 0;
        let ok = table.chunks_exact(8).all(|c| {
            let e = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
            if e == 0 {
                return true;
            }
            valid += 1;
            e & 3 == 3 && phys.is_valid(e & 0x0000_ffff_ffff_f000)
        });
        if ok && valid >= 2 {
            cands.push(page);
            if cands.len() >= MAX_TABLE_CANDIDATES {
                break;
            }
        }
    }
    let mode = Paging::AArch64 { va_bits: 48 };
    for &root in &cands {
        let Ok(w) = AnyPaging::new(Arc::clone(phys), root, mode) else {
            continue;
        };
        let all = w.ranges_in(0xffff_8000_0000_0000, u64::MAX);
        let Some(b) = pick_banner(image, &all, banners) else {
            continue;
        };
        let Some(va) = va_of(&all, b) else { continue };
        let voff = va.wrapping_sub(b);
        // swapper_pg_dir lies in the image: mapped at its address + voffset.
        if w.translate(root.wrapping_add(voff)).map(|(p, _)| p) != Some(root) {
            continue;
        }
        let runs: Vec<Run> = all
            .into_iter()
            .filter(|r| r.start.wrapping_sub(r.target) == voff)
            .collect();
        let mut l = Located {
            kimage_voffset: Some(voff),
            dtb: Some(root),
            paging: Some(mode),
            banner: Some(b),
            kernel_phys: runs.iter().map(|r| (r.target, r.len)).collect(),
            ..Located::default()
        };
        l.found.push(("dtb", Found::PageTables));
        l.found.push(("paging", Found::PageTables));
        l.found.push(("kimage_voffset", Found::PageTables));
        // The text segment, first of the image and mapped from _stext (the
        // 64 KiB Image header before it is not mapped), starts the runs.
        if let Some(first) = runs.first() {
            let stext = first.start;
            let idx = image.scan_index(&mut |_, _| {});
            let release = idx
                .linux_banners
                .iter()
                .find(|h| h.address + image.base() == b || h.address == b)
                .and_then(|h| banner_release(&h.text).map(str::to_owned));
            let default = arm64_default_text(release.as_deref()) + 0x1_0000;
            l.shift = Some(stext.wrapping_sub(default));
            l.text = Some(stext);
            l.found.push(("kaslr_shift", Found::Default));
            l.notes.push(format!(
                "shift = _stext (lowest address of the image mapping, {stext:#x}) - the release's default _stext ({default:#x})"
            ));
        }
        return Some(l);
    }
    None
}
