//! Identifying what an image holds without any profile: Linux banners and
//! VMCOREINFO, Windows kernels (ntoskrnl's CodeView record), macOS version
//! strings, and for Linux the KASLR shift, `phys_base`, page-table root and
//! paging mode.
//!
//! [`scan`] searches physical memory once (see [`ScanIndex`]) for
//! `Linux version `, `OSRELEASE=`, the GNU build-id note header, `Darwin
//! Kernel Version ` and `RSDS`, then reads around each hit. Each Linux kernel
//! release found is then located as [`crate::linux`] does without a profile:
//! from VMCOREINFO when a copy checks out against the page tables, else from
//! the page tables themselves.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::image::{Arch, CpuState, Image, ImageFormat};
use crate::linux::{self, Found, Located};
use crate::paging::Paging;
use crate::space::AddressSpace;
use crate::vmcoreinfo::VmcoreInfo;

/// Most hits kept per searched string (the rest are counted, not kept).
pub const MAX_HITS: usize = 4096;

/// Longest banner or version string read.
pub const MAX_BANNER: usize = 512;

const LINUX: &[u8] = b"Linux version ";
const VMCOREINFO: &[u8] = b"OSRELEASE=";
const BUILD_ID_NOTE: &[u8] = b"\x04\0\0\0\x14\0\0\0\x03\0\0\0GNU\0";
const DARWIN: &[u8] = b"Darwin Kernel Version ";
const RSDS: &[u8] = b"RSDS";

/// A string found in memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TextHit {
    /// Physical address.
    pub address: u64,
    /// The text (up to a newline or NUL, at most [`MAX_BANNER`] bytes).
    pub text: String,
    /// Whether a newline ended it (the kernel's `linux_banner` ends so).
    pub newline: bool,
}

/// A GNU build-id ELF note found in memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildIdHit {
    /// Physical address of the note.
    pub address: u64,
    /// The build id (hex).
    pub build_id: String,
    /// The release of a Linux build-salt note (`Linux`, type 0x100) among
    /// the next notes, as vmlinux's `.notes` has after its build id.
    pub salt: Option<String>,
    /// Whether an LTO-info note (`Linux`, 0x101) comes before the salt, as
    /// in vmlinux (a vDSO's notes have the salt alone).
    pub lto_note: bool,
}

/// A CodeView PDB 7.0 record (`RSDS`) naming a Windows kernel PDB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RsdsHit {
    /// Physical address of the record.
    pub address: u64,
    /// The PDB file name (`ntkrnlmp.pdb`...).
    pub pdb_name: String,
    /// The GUID, `XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX`.
    pub guid: String,
    /// The age.
    pub age: u32,
    /// The symbol-server key: GUID without dashes, then the age in hex.
    pub pdb_id: String,
    /// Physical address of the PE image holding the record, when its
    /// header is found below it (same page run) and its debug directory
    /// points back at the record.
    pub pe_physical_base: Option<u64>,
}

/// What one search of physical memory found (see [`Image::scan_index`]).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanIndex {
    /// `Linux version ...` strings.
    pub linux_banners: Vec<TextHit>,
    /// Addresses of `OSRELEASE=` (VMCOREINFO text candidates).
    pub vmcoreinfo: Vec<u64>,
    /// GNU build-id notes.
    pub build_ids: Vec<BuildIdHit>,
    /// `Darwin Kernel Version ...` strings.
    pub darwin: Vec<TextHit>,
    /// CodeView records of Windows kernel PDBs.
    pub windows: Vec<RsdsHit>,
    /// Matches of each string, kept or not (in the order above, `RSDS`
    /// counting every record, kernel or not).
    pub counts: [u64; 5],
    /// Bytes searched.
    pub bytes: u64,
}

fn read_text(space: &dyn AddressSpace, addr: u64) -> Option<TextHit> {
    let mut buf = [0u8; MAX_BANNER];
    let st = space.read(addr, &mut buf);
    let valid = if st.is_complete() {
        buf.len()
    } else {
        st.first_invalid
            .map_or(0, |f| f.saturating_sub(addr) as usize)
    }
    .min(buf.len());
    let b = &buf[..valid];
    let end = b
        .iter()
        .position(|&c| c == b'\n' || c == 0)
        .unwrap_or(b.len());
    let newline = b.get(end) == Some(&b'\n');
    let t = &b[..end];
    if !t.iter().all(|c| (0x20..0x7f).contains(c)) {
        return None;
    }
    Some(TextHit {
        address: addr,
        text: String::from_utf8_lossy(t).into_owned(),
        newline,
    })
}

fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

fn build_id_at(space: &dyn AddressSpace, addr: u64) -> Option<BuildIdHit> {
    let mut b = [0u8; 16 + 20 + 96];
    let st = space.read(addr, &mut b);
    if st.first_invalid.is_some_and(|f| f < addr + 36) {
        return None;
    }
    let id = hex(&b[16..36]);
    // The notes after it: look for "Linux\0\0\0" type 0x100.
    let mut salt = None;
    let mut lto_note = false;
    let rest = &b[36..];
    // vmlinux's .notes: the build id, then Linux notes LTO_INFO (0x101)
    // and BUILD_SALT (0x100, the release); anything else in between means
    // another object's notes.
    for note in crate::image::Notes::new(rest).take(4) {
        if note.name != b"Linux" || !matches!(note.kind, 0x100 | 0x101) {
            break;
        }
        lto_note |= note.kind == 0x101;
        if note.kind == 0x100 {
            let s = note.desc.split(|&c| c == 0).next().unwrap_or(&[]);
            if !s.is_empty() && s.iter().all(|c| c.is_ascii_graphic()) {
                salt = Some(String::from_utf8_lossy(s).into_owned());
            }
            break;
        }
    }
    Some(BuildIdHit {
        address: addr,
        build_id: id,
        salt,
        lto_note,
    })
}

const KERNEL_PDBS: [&str; 4] = [
    "ntkrnlmp.pdb",
    "ntoskrnl.pdb",
    "ntkrnlpa.pdb",
    "ntkrpamp.pdb",
];

fn rsds_at(space: &dyn AddressSpace, addr: u64) -> Option<RsdsHit> {
    let mut b = [0u8; 24 + 64];
    space.read(addr, &mut b);
    let name_bytes = &b[24..];
    let n = name_bytes.iter().position(|&c| c == 0)?;
    let name = std::str::from_utf8(&name_bytes[..n]).ok()?;
    let base = name.rsplit(['\\', '/']).next().unwrap_or(name);
    if !KERNEL_PDBS.iter().any(|k| base.eq_ignore_ascii_case(k)) {
        return None;
    }
    let g = &b[4..20];
    let d1 = u32::from_le_bytes(g[0..4].try_into().ok()?);
    let d2 = u16::from_le_bytes(g[4..6].try_into().ok()?);
    let d3 = u16::from_le_bytes(g[6..8].try_into().ok()?);
    let d4 = hex(&g[8..16]).to_uppercase();
    let age = u32::from_le_bytes(b[20..24].try_into().ok()?);
    let guid = format!("{d1:08X}-{d2:04X}-{d3:04X}-{}-{}", &d4[..4], &d4[4..]);
    let pdb_id = format!("{d1:08X}{d2:04X}{d3:04X}{d4}{age:X}");
    Some(RsdsHit {
        address: addr,
        pdb_name: name.to_owned(),
        guid,
        age,
        pdb_id,
        pe_physical_base: pe_base_of(space, addr),
    })
}

/// The page-aligned PE image below a CodeView record whose debug directory
/// points at it (searched up to 32 MiB below, physically contiguous).
fn pe_base_of(space: &dyn AddressSpace, rsds: u64) -> Option<u64> {
    let mut page = rsds & !0xfff;
    let low = rsds.saturating_sub(32 << 20);
    while page >= low {
        let mut mz = [0u8; 0x40];
        if space.read(page, &mut mz).is_complete() && &mz[..2] == b"MZ" {
            let lfanew = u64::from(u32::from_le_bytes(mz[0x3c..0x40].try_into().ok()?));
            let mut pe = [0u8; 0x108 + 0x88];
            if lfanew < 0x1000
                && space.read(page + lfanew, &mut pe).is_complete()
                && &pe[..4] == b"PE\0\0"
            {
                // PE32+ optional header: magic 0x20b; data directories at
                // 0x70 of it; the debug directory is entry 6.
                let opt = 24usize;
                let magic = u16::from_le_bytes([pe[opt], pe[opt + 1]]);
                let dirs = opt + if magic == 0x20b { 0x70 } else { 0x60 };
                let dbg = dirs + 6 * 8;
                let rva = u64::from(u32::from_le_bytes(pe[dbg..dbg + 4].try_into().ok()?));
                let mut de = [0u8; 28];
                if rva != 0 && space.read(page + rva, &mut de).is_complete() {
                    let typ = u32::from_le_bytes(de[12..16].try_into().ok()?);
                    let data_rva = u64::from(u32::from_le_bytes(de[20..24].try_into().ok()?));
                    if typ == 2 && page + data_rva == rsds {
                        return Some(page);
                    }
                }
            }
        }
        if page < 0x1000 {
            break;
        }
        page -= 0x1000;
    }
    None
}

impl ScanIndex {
    /// Searches `space` once for every string.
    pub(crate) fn build(space: &dyn AddressSpace, progress: &mut dyn FnMut(u64, u64)) -> ScanIndex {
        let mut idx = ScanIndex::default();
        let needles: [&[u8]; 5] = [LINUX, VMCOREINFO, BUILD_ID_NOTE, DARWIN, RSDS];
        let mut last = 0;
        crate::search::search(
            space,
            &needles,
            &mut |d, t| {
                last = d;
                progress(d, t)
            },
            &mut |i, addr| {
                idx.counts[i] += 1;
                match i {
                    0 if idx.linux_banners.len() < MAX_HITS => {
                        if let Some(t) = read_text(space, addr) {
                            idx.linux_banners.push(t);
                        }
                    }
                    1 if idx.vmcoreinfo.len() < MAX_HITS => idx.vmcoreinfo.push(addr),
                    2 if idx.build_ids.len() < MAX_HITS => {
                        if let Some(b) = build_id_at(space, addr) {
                            idx.build_ids.push(b);
                        }
                    }
                    3 if idx.darwin.len() < MAX_HITS => {
                        if let Some(t) = read_text(space, addr) {
                            idx.darwin.push(t);
                        }
                    }
                    4 if idx.windows.len() < MAX_HITS => {
                        if let Some(r) = rsds_at(space, addr) {
                            idx.windows.push(r);
                        }
                    }
                    _ => {}
                }
                true
            },
        );
        idx.bytes = last;
        idx.linux_banners.sort_by_key(|h| h.address);
        idx.vmcoreinfo.sort_unstable();
        idx.build_ids.sort_by_key(|h| h.address);
        idx.darwin.sort_by_key(|h| h.address);
        idx.windows.sort_by_key(|h| h.address);
        idx
    }

    /// The same results with every address moved up by `base`.
    pub(crate) fn shifted(&self, base: u64) -> ScanIndex {
        let mut s = self.clone();
        s.linux_banners.iter_mut().for_each(|h| h.address += base);
        s.vmcoreinfo.iter_mut().for_each(|a| *a += base);
        s.build_ids.iter_mut().for_each(|h| h.address += base);
        s.darwin.iter_mut().for_each(|h| h.address += base);
        s.windows.iter_mut().for_each(|h| {
            h.address += base;
            h.pe_physical_base = h.pe_physical_base.map(|p| p + base);
        });
        s
    }

    /// The distinct Linux releases of the banners found, in address order
    /// of their first banner.
    pub fn linux_releases(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for h in &self.linux_banners {
            if let Some(r) = banner_release(&h.text) {
                if !out.iter().any(|o| o == r) {
                    out.push(r.to_owned());
                }
            }
        }
        out
    }
}

/// The release of a `Linux version <release> (...)` banner.
pub fn banner_release(banner: &str) -> Option<&str> {
    let rest = banner.strip_prefix("Linux version ")?;
    let r = rest.split(' ').next()?;
    (!r.is_empty()).then_some(r)
}

/// What kind of evidence named a kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KernelKind {
    /// A Linux `linux_banner` string.
    LinuxBanner,
    /// VMCOREINFO alone (no banner found).
    Vmcoreinfo,
    /// A Windows kernel's CodeView record.
    Codeview,
    /// A macOS `Darwin Kernel Version` string.
    DarwinVersion,
}

/// One kernel found in the image.
#[derive(Debug, Clone, Serialize)]
pub struct KernelId {
    /// `linux`, `windows` or `macos`.
    pub os: &'static str,
    /// The evidence.
    pub kind: KernelKind,
    /// The banner or version string (Linux: without its newline).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub banner: Option<String>,
    /// The release (`uname -r` for Linux).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// Physical addresses of the banner (at most 16).
    pub banner_addresses: Vec<u64>,
    /// GNU build id of the kernel (Linux: VMCOREINFO `BUILD-ID`, else the
    /// build-id note followed by a build-salt note naming this release).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_id: Option<String>,
    /// The KASLR shift of kernel virtual addresses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kaslr_shift: Option<u64>,
    /// x86-64 `phys_base`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phys_base: Option<u64>,
    /// arm64 `kimage_voffset` (kernel image virtual - physical).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kimage_voffset: Option<u64>,
    /// The kernel's page-table root (`init_top_pgt` / `swapper_pg_dir`,
    /// physical).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dtb: Option<u64>,
    /// Paging mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paging: Option<Paging>,
    /// For a raw image whose RAM does not start at 0: the physical address
    /// of its first byte (banner addresses are physical, so moved by it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_base: Option<u64>,
    /// Virtual address of the kernel's `_text` (Linux).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_address: Option<u64>,
    /// How each value was found (`vmcoreinfo`, `page-tables`, ...).
    pub found: BTreeMap<&'static str, Found>,
    /// Why values are missing, or what disagreed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Windows: the CodeView record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codeview: Option<RsdsHit>,
}

impl KernelId {
    fn new(os: &'static str, kind: KernelKind) -> Self {
        KernelId {
            os,
            kind,
            banner: None,
            release: None,
            banner_addresses: Vec::new(),
            build_id: None,
            kaslr_shift: None,
            phys_base: None,
            kimage_voffset: None,
            dtb: None,
            paging: None,
            raw_base: None,
            text_address: None,
            found: BTreeMap::new(),
            notes: Vec::new(),
            codeview: None,
        }
    }
}

/// A VMCOREINFO found, and where.
#[derive(Debug, Clone, Serialize)]
pub struct VmcoreInfoFound {
    /// `note` (ELF note), `kdump-header`, or `memory`.
    pub source: &'static str,
    /// Physical address, for a copy in memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<u64>,
    /// The entries.
    pub entries: VmcoreInfo,
}

/// What [`scan`] found.
#[derive(Debug, Clone, Serialize)]
pub struct Identification {
    /// The image's name.
    pub image: String,
    /// Its format.
    pub format: ImageFormat,
    /// The architecture its headers name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<Arch>,
    /// Physical bytes in the image (the sum of its valid ranges).
    pub physical_bytes: u64,
    /// Kernels found.
    pub kernels: Vec<KernelId>,
    /// VMCOREINFO copies (the note or header one, then the most complete
    /// one in memory).
    pub vmcoreinfo: Vec<VmcoreInfoFound>,
    /// CPU states from the image's notes.
    pub cpus: Vec<CpuState>,
}

/// Identifies what `image` holds (see the module documentation).
/// `progress(done, total)` is called as the image is searched (bytes).
pub fn scan(image: &Image, progress: &mut dyn FnMut(u64, u64)) -> Identification {
    let total: u64 = image
        .ranges()
        .iter()
        .map(|r| r.len)
        .fold(0, u64::saturating_add);
    let idx = image.scan_index(&mut |d, _| progress(d, total));
    progress(total, total);
    let phys = image.physical();
    let mut vmcis = Vec::new();
    if let Some(v) = image.vmcoreinfo_note() {
        vmcis.push(VmcoreInfoFound {
            source: if image.format() == ImageFormat::Kdump {
                "kdump-header"
            } else {
                "note"
            },
            address: None,
            entries: v.clone(),
        });
    }
    // Every distinct release's most complete copy in memory.
    let mut mem_copies: Vec<(u64, VmcoreInfo)> = Vec::new();
    for &a in &idx.vmcoreinfo {
        if let Some((at, v)) = VmcoreInfo::best_of(&**phys, &[a]) {
            match mem_copies
                .iter_mut()
                .find(|(_, o)| o.osrelease() == v.osrelease())
            {
                Some(slot) if v.len() > slot.1.len() => *slot = (at, v),
                Some(_) => {}
                None => mem_copies.push((at, v)),
            }
        }
    }
    for (at, v) in &mem_copies {
        vmcis.push(VmcoreInfoFound {
            source: "memory",
            address: Some(*at),
            entries: v.clone(),
        });
    }

    let mut kernels = Vec::new();
    let mut releases = idx.linux_releases();
    for v in &vmcis {
        if let Some(r) = v.entries.osrelease() {
            if !releases.iter().any(|x| x == r) {
                releases.push(r.to_owned());
            }
        }
    }
    for release in releases {
        let mut k = KernelId::new("linux", KernelKind::LinuxBanner);
        let hits: Vec<&TextHit> = idx
            .linux_banners
            .iter()
            .filter(|h| banner_release(&h.text) == Some(release.as_str()))
            .collect();
        // The kernel's own banner ends with a newline; prefer the longest
        // such text.
        let best = hits
            .iter()
            .filter(|h| h.newline)
            .max_by_key(|h| h.text.len())
            .or_else(|| hits.iter().max_by_key(|h| h.text.len()));
        match best {
            Some(b) => k.banner = Some(b.text.clone()),
            None => k.kind = KernelKind::Vmcoreinfo,
        }
        k.banner_addresses = hits
            .iter()
            .filter(|h| Some(&h.text) == k.banner.as_ref())
            .map(|h| h.address)
            .take(16)
            .collect();
        let vmci = vmcis
            .iter()
            .find(|v| v.entries.osrelease() == Some(release.as_str()))
            .map(|v| &v.entries);
        k.build_id = vmci.and_then(|v| v.build_id()).map(str::to_owned);
        if k.build_id.is_some() {
            k.found.insert("build_id", Found::Vmcoreinfo);
        } else if let Some(b) = idx
            .build_ids
            .iter()
            .find(|b| b.salt.as_deref() == Some(release.as_str()))
        {
            k.build_id = Some(b.build_id.clone());
            k.found.insert("build_id", Found::BuildIdNote);
        }
        let all: Vec<u64> = hits.iter().map(|h| h.address).collect();
        let located = linux::locate_unprofiled(image, vmci, &all);
        if k.found.get("build_id") != Some(&Found::Vmcoreinfo) {
            // The kernel's own note lies in its image (modules carry a
            // build-salt note of the same release too).
            let base = located.raw_base.unwrap_or(0);
            let inside = |a: u64| {
                located
                    .kernel_phys
                    .iter()
                    .any(|&(s, l)| a + base >= s && a + base - s < l)
            };
            // Nearest the banner: both lie in the kernel's read-only data.
            let near = located.banner.unwrap_or(0);
            if let Some(b) = idx
                .build_ids
                .iter()
                .filter(|b| b.salt.as_deref() == Some(release.as_str()) && inside(b.address))
                .min_by_key(|b| (!b.lto_note, (b.address + base).abs_diff(near)))
            {
                k.build_id = Some(b.build_id.clone());
                k.found.insert("build_id", Found::BuildIdNote);
            }
        }
        let base = located.raw_base.unwrap_or(0);
        if base != 0 {
            k.raw_base = Some(base);
            k.banner_addresses.iter_mut().for_each(|a| *a += base);
        }
        // The copy the kernel's own mapping covers is linux_banner itself.
        if let Some(own) = located
            .banner
            .and_then(|a| hits.iter().find(|h| h.address + base == a))
        {
            k.banner = Some(own.text.clone());
            k.banner_addresses = vec![own.address + base];
            k.found.insert("banner", Found::PageTables);
        }
        apply_located(&mut k, located);
        k.release = Some(release);
        kernels.push(k);
    }

    let mut seen = Vec::new();
    for w in &idx.windows {
        if seen.contains(&w.pdb_id) {
            continue;
        }
        seen.push(w.pdb_id.clone());
        let mut k = KernelId::new("windows", KernelKind::Codeview);
        k.banner = Some(format!("{} {}", w.pdb_name, w.pdb_id));
        k.banner_addresses = vec![w.address];
        k.codeview = Some(w.clone());
        kernels.push(k);
    }
    let mut seen = Vec::new();
    for d in &idx.darwin {
        if seen.contains(&d.text) {
            continue;
        }
        seen.push(d.text.clone());
        let mut k = KernelId::new("macos", KernelKind::DarwinVersion);
        k.release = d
            .text
            .strip_prefix("Darwin Kernel Version ")
            .and_then(|r| r.split(':').next())
            .map(str::to_owned);
        k.banner = Some(d.text.clone());
        k.banner_addresses = idx
            .darwin
            .iter()
            .filter(|x| x.text == d.text)
            .map(|x| x.address)
            .take(16)
            .collect();
        kernels.push(k);
    }

    Identification {
        image: image.name().to_owned(),
        format: image.format(),
        arch: image.arch(),
        physical_bytes: total,
        kernels,
        vmcoreinfo: vmcis,
        cpus: image.cpus().to_vec(),
    }
}

fn apply_located(k: &mut KernelId, l: Located) {
    k.kaslr_shift = l.shift;
    k.phys_base = l.phys_base;
    k.kimage_voffset = l.kimage_voffset;
    k.dtb = l.dtb;
    k.paging = l.paging;
    k.text_address = l.text;
    for (key, f) in l.found {
        k.found.insert(key, f);
    }
    k.notes.extend(l.notes);
}
