//! Linux profiles from the kernel itself: no debug package, no System.map.
//!
//! Every modern distribution kernel carries its types (BTF, `.BTF`) and its
//! symbol table (kallsyms) inside the kernel image, and so inside every
//! memory image of a running system. Three entry points build a complete
//! [`Ir`] (types, symbols at their link addresses, banner):
//!
//! * [`from_live_system`]: the files of a running system,
//!   `/sys/kernel/btf/vmlinux` + `/proc/kallsyms` (+ `/proc/version`);
//! * [`from_vmlinuz`]: a bootable kernel file alone (x86 bzImage, arm64
//!   Image, zboot, or a compressed image; see [`crate::input::vmlinuz`]);
//! * [`from_memory_image`]: a raw physical memory image or an ELF core.
//!
//! Symbols are written unshifted, as a System.map-based profile has them;
//! the KASLR shift removed is `$METADATA.KaslrShift` (hex string, see
//! [`kallsyms::add_to_ir`]). Symbol types come from BTF `VAR`s (per-cpu
//! variables) and from [`btf::WELL_KNOWN_VARIABLES`]. See
//! `docs/kernel-only.md`.

use std::path::Path;

use serde_json::Value;

use crate::input::btf;
use crate::input::kallsyms::{self, KernelArch, KernelSymbols, RecoverOptions};
use crate::input::system_map::{MapSymbol, SystemMap};
use crate::input::vmlinuz::{self, ImageFormat, KernelImage};
use crate::ir::Ir;
use crate::{Error, Result};

/// What to say when a part is missing.
const NO_BTF: &str = "no BTF found (the kernel was built without CONFIG_DEBUG_INFO_BTF, or the \
    image does not hold it): types need a vmlinux with DWARF (the distribution's debug package, \
    e.g. linux-image-<version>-dbg) or a copy of /sys/kernel/btf/vmlinux";
const NO_KALLSYMS: &str = "no kallsyms tables found (CONFIG_KALLSYMS off, or the tables are not \
    in the image): symbols need a System.map, a /proc/kallsyms copy or the debug package's vmlinux";

/// Records the banner (`$METADATA.Banner`, trailing newline removed) and the
/// release it names (`KernelVersion`).
pub fn set_banner(ir: &mut Ir, banner: &str) {
    let text = banner.trim_end();
    if let Some(v) = text
        .strip_prefix("Linux version ")
        .and_then(|r| r.split_whitespace().next())
    {
        ir.metadata.insert("KernelVersion".into(), Value::from(v));
    }
    ir.metadata.insert("Banner".into(), Value::from(text));
}

/// Adds symbols and their types: kallsyms symbols as System.map symbols,
/// then types from the BTF variables and the well-known variables table.
fn finish(ir: &mut Ir, syms: &KernelSymbols, vars: &[btf::BtfVar], arch: Option<KernelArch>) {
    kallsyms::add_to_ir(ir, syms);
    btf::type_symbols_from_vars(ir, vars);
    btf::type_well_known_symbols(ir);
    if let Some(a) = arch {
        ir.metadata
            .insert("arch".into(), Value::from(a.rekall_name()));
    }
    if syms.module_symbols > 0 {
        ir.warnings.push(format!(
            "kallsyms: {} module symbols left out of the kernel profile",
            syms.module_symbols
        ));
    }
}

/// A profile from the files of a running system: `btf` is
/// `/sys/kernel/btf/vmlinux` (raw BTF), `kallsyms` the text of
/// `/proc/kallsyms` read as root, `banner` the text of `/proc/version`.
/// `link_text` is the link address of `_text` (default: the architecture's,
/// guessed from the symbol names, see [`KernelArch::anchors`]).
pub fn from_live_system(
    btf_bytes: &[u8],
    btf_path: &Path,
    kallsyms_text: &[u8],
    kallsyms_path: &Path,
    banner: Option<&str>,
    link_text: Option<u64>,
) -> Result<Ir> {
    // The two inputs are independent: parse them side by side.
    let (types, map) = rayon::join(
        || btf::read_with_vars(btf_bytes, btf_path, 8),
        || crate::input::system_map::parse_bytes(kallsyms_text, kallsyms_path),
    );
    let (mut ir, vars) = types?;
    let map = map?;
    let arch = KernelArch::guess(&map.symbols);
    let syms = match (link_text, arch) {
        (Some(link), _) => kallsyms::from_map(map, kallsyms_path, &[("_text", link)], link, None)?,
        (None, Some(a)) => {
            kallsyms::from_map(map, kallsyms_path, &a.anchors(), a.default_text_address(), None)?
        }
        (None, None) => {
            return Err(Error::input(
                kallsyms_path,
                "kallsyms: unknown architecture (no startup_64 or primary_entry): give the link address of _text",
            ))
        }
    };
    finish(&mut ir, &syms, &vars, arch);
    if let Some(b) = banner {
        set_banner(&mut ir, b);
    }
    Ok(ir)
}

/// A profile from a `vmlinux`-less kernel file: decompresses it
/// ([`vmlinuz::read_bytes`]) and reads [`from_kernel_image`].
pub fn from_vmlinuz(data: &[u8], path: &Path) -> Result<Ir> {
    let image = vmlinuz::read_bytes(data, path)?;
    from_kernel_image(&image, path)
}

/// A profile from a decompressed kernel image (an ELF `vmlinux.bin`, stripped
/// but with `.BTF`, or a raw arm64 `Image`). The image is at its link
/// address, so the shift is 0 (checked: `_text` must be at its link
/// address, else the difference is removed and recorded).
pub fn from_kernel_image(image: &KernelImage, path: &Path) -> Result<Ir> {
    let data = &image.data[..];
    let link = image.arch.default_text_address();
    let mut anchors = vec![("_text", link)];
    if image.format == ImageFormat::RawArm64 {
        // The Image is loaded at _text and branches to primary_entry.
        if let Some(off) = vmlinuz::arm64_entry_offset(data) {
            anchors.push(("primary_entry", link.wrapping_add(off)));
        }
    }
    // Types and symbols are independent searches of the same bytes.
    let (types, found) = rayon::join(
        || -> Result<(Ir, Vec<btf::BtfVar>)> {
            match image.format {
                ImageFormat::Elf => {
                    use object::{Object, ObjectSection};
                    let file = object::File::parse(data)
                        .map_err(|e| Error::input(path, format!("kernel ELF: {e}")))?;
                    let section = file
                        .section_by_name(".BTF")
                        .ok_or_else(|| Error::input(path, NO_BTF))?;
                    let bytes = section
                        .data()
                        .map_err(|e| Error::input(path, format!(".BTF unreadable: {e}")))?;
                    btf::read_with_vars(bytes, path, 8)
                }
                ImageFormat::RawArm64 => {
                    let r = btf::find_raw(data).ok_or_else(|| Error::input(path, NO_BTF))?;
                    btf::read_with_vars(&data[r], path, 8)
                }
            }
        },
        || {
            kallsyms::recover(
                data,
                &RecoverOptions {
                    anchors: anchors.clone(),
                },
            )
        },
    );
    let (mut ir, vars) = types?;
    let found = found.ok_or_else(|| Error::input(path, NO_KALLSYMS))?;
    let map = SystemMap {
        symbols: found.symbols,
        skipped: 0,
    };
    let syms = kallsyms::from_map(map, path, &image.arch.anchors(), link, None)?;
    let banner = match image.format {
        ImageFormat::Elf => elf_banner(data, &syms),
        ImageFormat::RawArm64 => syms
            .address("linux_banner")
            .and_then(|va| usize::try_from(va.checked_sub(link)?).ok())
            .and_then(|off| kallsyms::banner_at(data, off)),
    }
    .or_else(|| kallsyms::find_banner(data));
    finish(&mut ir, &syms, &vars, Some(image.arch));
    if let Some(b) = banner {
        set_banner(&mut ir, &b);
    }
    if let Some(c) = image.compression {
        ir.metadata.insert(
            "KernelCompression".into(),
            Value::from(format!("{c:?}").to_lowercase()),
        );
    }
    Ok(ir)
}

/// The banner at `linux_banner` of an ELF image (virtual address to file
/// offset through the program headers).
fn elf_banner(data: &[u8], syms: &KernelSymbols) -> Option<String> {
    use object::{Object, ObjectSegment};
    let va = syms.address("linux_banner")?;
    let file = object::File::parse(data).ok()?;
    for seg in file.segments() {
        let (start, size) = (seg.address(), seg.size());
        if va >= start && va < start + size {
            let (off, filesz) = seg.file_range();
            let rel = va - start;
            if rel < filesz {
                return kallsyms::banner_at(data, usize::try_from(off + rel).ok()?);
            }
        }
    }
    None
}

/// The parts of a kernel found in a memory image.
#[derive(Debug, Clone, Default)]
pub struct ImageParts {
    /// The BTF blob (copied out of the image).
    pub btf: Option<Vec<u8>>,
    /// The recovered kallsyms symbols (KASLR-shifted).
    pub symbols: Option<Vec<MapSymbol>>,
    /// The banner.
    pub banner: Option<String>,
    /// VMCOREINFO's `KERNELOFFSET`, when its text is in the image.
    pub kernel_offset: Option<u64>,
}

/// `KERNELOFFSET=<hex>` of a VMCOREINFO text in `data` (the first that parses).
pub fn find_kernel_offset(data: &[u8]) -> Option<u64> {
    const KEY: &[u8] = b"KERNELOFFSET=";
    for at in memchr::memmem::find_iter(data, KEY) {
        let rest = &data[at + KEY.len()..];
        let end = rest
            .iter()
            .take(17)
            .position(|b| !b.is_ascii_hexdigit())
            .unwrap_or(rest.len().min(17));
        if end == 0 || end > 16 || rest.get(end) != Some(&b'\n') {
            continue;
        }
        if let Ok(v) = u64::from_str_radix(std::str::from_utf8(&rest[..end]).ok()?, 16) {
            return Some(v);
        }
    }
    None
}

/// The alignment the kernel's physical load address has at least (x86-64:
/// `CONFIG_PHYSICAL_ALIGN`, 2 MiB on distribution kernels; arm64: 64 KiB).
pub const KERNEL_PHYS_ALIGN: u64 = 0x1_0000;

/// Searches the physically contiguous pieces of a memory image, given as
/// (physical address, bytes): a raw image is one piece at 0 (or the RAM
/// base), an ELF core has one per `PT_LOAD`. Finds the kernel's BTF (the
/// largest consistent blob), kallsyms tables, banner and VMCOREINFO
/// `KERNELOFFSET`.
///
/// The banner is the `Linux version` string that lies where `linux_banner`
/// is when `_text` sits at an aligned physical address ([`KERNEL_PHYS_ALIGN`]);
/// copies elsewhere (the boot decompressor's, the log) do not. Without a
/// `linux_banner` symbol (no `CONFIG_KALLSYMS_ALL`), the first well-formed
/// banner is taken.
pub fn scan_pieces(pieces: &[(u64, &[u8])]) -> ImageParts {
    let mut parts = ImageParts::default();
    let mut best_btf: Option<&[u8]> = None;
    for (_, piece) in pieces {
        let (btf_range, found) = rayon::join(
            || btf::find_raw(piece),
            || {
                if parts.symbols.is_none() {
                    kallsyms::recover(piece, &RecoverOptions::default())
                } else {
                    None
                }
            },
        );
        if let Some(r) = btf_range {
            if best_btf.is_none_or(|b| b.len() < r.len()) {
                best_btf = Some(&piece[r]);
            }
        }
        if let Some(found) = found {
            parts.symbols = Some(found.symbols);
        }
        if parts.kernel_offset.is_none() {
            parts.kernel_offset = find_kernel_offset(piece);
        }
    }
    let va = |n: &str| {
        parts
            .symbols
            .as_ref()?
            .iter()
            .find(|s| s.name == n)
            .map(|s| s.address)
    };
    if let Some(delta) = va("linux_banner")
        .zip(va("_text"))
        .and_then(|(b, t)| b.checked_sub(t))
    {
        parts.banner = pieces.iter().find_map(|(phys, piece)| {
            memchr::memmem::find_iter(piece, b"Linux version ").find_map(|o| {
                let text = (phys + o as u64).checked_sub(delta)?;
                if !text.is_multiple_of(KERNEL_PHYS_ALIGN) {
                    return None;
                }
                kallsyms::banner_at(piece, o)
            })
        });
    }
    if parts.banner.is_none() {
        parts.banner = pieces.iter().find_map(|(_, p)| kallsyms::find_banner(p));
    }
    parts.btf = best_btf.map(<[u8]>::to_vec);
    parts
}

/// A profile from the parts found in a memory image. The shift: VMCOREINFO's
/// `KERNELOFFSET` when present (a warning if `_text`/`_stext` disagree),
/// else `_text` (or `_stext`) minus its link address ([`KernelArch::anchors`]).
pub fn from_image_parts(parts: &ImageParts, path: &Path) -> Result<Ir> {
    let btf_bytes = parts
        .btf
        .as_deref()
        .ok_or_else(|| Error::input(path, NO_BTF))?;
    let symbols = parts
        .symbols
        .clone()
        .ok_or_else(|| Error::input(path, NO_KALLSYMS))?;
    let arch = KernelArch::guess(&symbols).ok_or_else(|| {
        Error::input(
            path,
            "kallsyms: unknown architecture (no startup_64 or primary_entry)",
        )
    })?;
    let (mut ir, vars) = btf::read_with_vars(btf_bytes, path, 8)?;
    let anchored = kallsyms::anchor_shift(&symbols, &arch.anchors());
    let map = SystemMap {
        symbols,
        skipped: 0,
    };
    let syms = kallsyms::from_map(
        map,
        path,
        &arch.anchors(),
        arch.default_text_address(),
        parts.kernel_offset,
    )?;
    if let (Some(k), Some(a)) = (parts.kernel_offset, anchored) {
        if k != a {
            ir.warnings.push(format!(
                "VMCOREINFO KERNELOFFSET={k:x} differs from the kallsyms anchor's shift ({a:#x}); KERNELOFFSET is used"
            ));
        }
    }
    finish(&mut ir, &syms, &vars, Some(arch));
    if let Some(b) = &parts.banner {
        set_banner(&mut ir, b);
    }
    Ok(ir)
}

/// A profile from a memory image alone: a raw physical image, or an ELF
/// core (its `PT_LOAD` segments). See [`scan_pieces`] and [`from_image_parts`].
pub fn from_memory_image(path: &Path) -> Result<Ir> {
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    // SAFETY: read-only map of an input file that profc does not modify; a
    // concurrent truncation by another process is the hazard every
    // mmap-based reader accepts.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let parts = if map.starts_with(b"\x7fELF") {
        // ELF core segments by their physical address (p_paddr), which the
        // banner's alignment check needs.
        scan_pieces(&core_pieces(&map, path)?)
    } else {
        scan_pieces(&[(0, &map[..])])
    };
    from_image_parts(&parts, path)
}

/// The `PT_LOAD` segments of a 64-bit little-endian ELF core as
/// (physical address, file bytes).
fn core_pieces<'a>(data: &'a [u8], path: &Path) -> Result<Vec<(u64, &'a [u8])>> {
    use object::elf::{FileHeader64, PT_LOAD};
    use object::read::elf::{FileHeader, ProgramHeader};
    use object::LittleEndian as LE;
    let bad = |e: object::Error| Error::input(path, format!("ELF core: {e}"));
    let header = FileHeader64::<LE>::parse(data).map_err(bad)?;
    let endian = header.endian().map_err(bad)?;
    let mut pieces = Vec::new();
    for ph in header.program_headers(endian, data).map_err(bad)? {
        if ph.p_type(endian) != PT_LOAD {
            continue;
        }
        if let Ok(bytes) = ph.data(endian, data) {
            if !bytes.is_empty() {
                pieces.push((ph.p_paddr(endian), bytes));
            }
        }
    }
    if pieces.is_empty() {
        return Err(Error::input(path, "ELF core: no PT_LOAD segment with data"));
    }
    Ok(pieces)
}
