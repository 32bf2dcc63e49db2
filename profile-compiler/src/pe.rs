//! PE headers, sections, the CodeView record and the version resource, as
//! `profc peinfo` shows them.
//!
//! Headers, sections and the debug directory come from the `object`
//! crate; the `VS_VERSIONINFO` resource is decoded here, every read
//! bounds-checked.

use std::fmt::Write as _;

use object::pe;
use object::read::pe::{ImageNtHeaders, ImageOptionalHeader, PeFile};
use object::{LittleEndian as LE, Object};

use crate::codeview::{PdbId, Rsds};

use crate::{Error, Result};

/// A malformed PE image.
fn bad_pe(message: impl Into<String>) -> Error {
    Error::malformed("PE image", None, message)
}

/// A malformed version resource.
fn bad_resource(message: impl Into<String>) -> Error {
    Error::malformed("version resource", None, message)
}

/// One section header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Name (up to 8 bytes; long names are not resolved).
    pub name: String,
    /// Relative virtual address.
    pub virtual_address: u32,
    /// Size in memory.
    pub virtual_size: u32,
    /// Offset of the raw data in the file.
    pub raw_offset: u32,
    /// Size of the raw data in the file.
    pub raw_size: u32,
    /// `IMAGE_SCN_*` flags.
    pub characteristics: u32,
}

impl Section {
    /// Permissions as `rwx` letters, as Rekall shows them.
    pub fn perm(&self) -> String {
        let c = self.characteristics;
        let mut s = String::with_capacity(3);
        s.push(if c & pe::IMAGE_SCN_MEM_READ.0 != 0 {
            'r'
        } else {
            '-'
        });
        s.push(if c & pe::IMAGE_SCN_MEM_WRITE.0 != 0 {
            'w'
        } else {
            '-'
        });
        s.push(if c & pe::IMAGE_SCN_MEM_EXECUTE.0 != 0 {
            'x'
        } else {
            '-'
        });
        s
    }
}

/// The fixed part of a version resource (`VS_FIXEDFILEINFO`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedFileInfo {
    /// File version as four numbers.
    pub file_version: [u16; 4],
    /// Product version as four numbers.
    pub product_version: [u16; 4],
}

/// A decoded `VS_VERSIONINFO` resource.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionInfo {
    /// The fixed part, when present and valid.
    pub fixed: Option<FixedFileInfo>,
    /// `StringFileInfo` entries (`FileVersion`, `ProductVersion`,
    /// `OriginalFilename`, ...), in file order; the first string table only.
    pub strings: Vec<(String, String)>,
}

/// What `peinfo` reports about a PE image.
#[derive(Debug, Clone)]
pub struct PeInfo {
    /// `IMAGE_FILE_MACHINE_*` value.
    pub machine: u16,
    /// Whether the optional header is PE32+.
    pub is_64: bool,
    /// `TimeDateStamp` of the file header (seconds since 1970, UTC).
    pub timestamp: u32,
    /// File header characteristics.
    pub characteristics: u16,
    /// `SizeOfImage`.
    pub size_of_image: u32,
    /// `ImageBase`.
    pub image_base: u64,
    /// `AddressOfEntryPoint` (RVA).
    pub entry_point: u32,
    /// `Subsystem`.
    pub subsystem: u16,
    /// `MajorOperatingSystemVersion.MinorOperatingSystemVersion`.
    pub os_version: (u16, u16),
    /// `MajorImageVersion.MinorImageVersion`.
    pub image_version: (u16, u16),
    /// `MajorSubsystemVersion.MinorSubsystemVersion`.
    pub subsystem_version: (u16, u16),
    /// `CheckSum`.
    pub checksum: u32,
    /// Sections.
    pub sections: Vec<Section>,
    /// Data directories that are present: (index, RVA, size).
    pub data_directories: Vec<(usize, u32, u32)>,
    /// The CodeView `RSDS` record, if any.
    pub rsds: Option<Rsds>,
    /// The version resource, if any could be decoded.
    pub version: Option<VersionInfo>,
    /// Problems met while decoding optional parts (debug directory,
    /// resources); the rest of the report is still valid.
    pub warnings: Vec<String>,
}

/// Reads the `RSDS` record of a PE image (`None` if it has none).
pub fn read_rsds(data: &[u8]) -> Result<Option<Rsds>> {
    Ok(parse(data)?.rsds)
}

/// The PDB name and identity named by the RSDS record of the executable at
/// `path`.
pub fn pdb_key(path: &std::path::Path) -> Result<(String, PdbId)> {
    let data = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let rsds = read_rsds(&data)
        .map_err(|e| e.in_file(path))?
        .ok_or_else(|| Error::input(path, "has no CodeView RSDS debug record"))?;
    Ok((rsds.pdb_name().to_owned(), rsds.id))
}

/// Decodes a PE image.
pub fn parse(data: &[u8]) -> Result<PeInfo> {
    match object::FileKind::parse(data) {
        Ok(object::FileKind::Pe32) => parse_as::<pe::ImageNtHeaders32>(data),
        Ok(object::FileKind::Pe64) => parse_as::<pe::ImageNtHeaders64>(data),
        Ok(other) => Err(bad_pe(format!("file type is {other:?}, not PE"))),
        Err(e) => Err(bad_pe(e.to_string())),
    }
}

fn parse_as<Pe: ImageNtHeaders>(data: &[u8]) -> Result<PeInfo> {
    let file = PeFile::<Pe>::parse(data).map_err(|e| bad_pe(e.to_string()))?;
    let nt = file.nt_headers();
    let fh = nt.file_header();
    let oh = nt.optional_header();
    let mut warnings = Vec::new();
    let sections = file
        .section_table()
        .iter()
        .map(|s| Section {
            name: String::from_utf8_lossy(s.name.split(|&b| b == 0).next().unwrap_or(&[]))
                .into_owned(),
            virtual_address: s.virtual_address.get(LE),
            virtual_size: s.virtual_size.get(LE),
            raw_offset: s.pointer_to_raw_data.get(LE),
            raw_size: s.size_of_raw_data.get(LE),
            characteristics: s.characteristics.get(LE).0,
        })
        .collect();
    let data_directories = file
        .data_directories()
        .enumerate()
        .filter_map(|(i, d)| {
            let (va, size) = d.address_range();
            (va != 0 || size != 0).then_some((i, va, size))
        })
        .collect();
    let rsds = match file.pdb_info() {
        Ok(Some(cv)) => match std::str::from_utf8(cv.path()) {
            Ok(path) => Some(Rsds {
                id: PdbId {
                    guid: cv.guid(),
                    age: cv.age(),
                },
                path: path.to_owned(),
            }),
            Err(_) => {
                warnings.push("CodeView PDB path is not UTF-8".to_owned());
                None
            }
        },
        Ok(None) => None,
        Err(e) => {
            warnings.push(format!("debug directory: {e}"));
            None
        }
    };
    let version = match version_resource(&file, data) {
        Ok(v) => v,
        Err(e) => {
            warnings.push(e.to_string());
            None
        }
    };
    Ok(PeInfo {
        machine: fh.machine.get(LE).0,
        is_64: nt.is_type_64(),
        timestamp: fh.time_date_stamp.get(LE),
        characteristics: fh.characteristics.get(LE).0,
        size_of_image: oh.size_of_image(),
        image_base: oh.image_base(),
        entry_point: oh.address_of_entry_point(),
        subsystem: oh.subsystem().0,
        os_version: (
            oh.major_operating_system_version(),
            oh.minor_operating_system_version(),
        ),
        image_version: (oh.major_image_version(), oh.minor_image_version()),
        subsystem_version: (oh.major_subsystem_version(), oh.minor_subsystem_version()),
        checksum: oh.check_sum(),
        sections,
        data_directories,
        rsds,
        version,
        warnings,
    })
}

/// Finds `RT_VERSION` (first name, first language) and decodes it.
fn version_resource<Pe: ImageNtHeaders>(
    file: &PeFile<'_, Pe>,
    data: &[u8],
) -> Result<Option<VersionInfo>> {
    let sections = file.section_table();
    let Some(dir) = file
        .data_directories()
        .resource_directory(data, &sections)
        .map_err(|e| bad_resource(e.to_string()))?
    else {
        return Ok(None);
    };
    let root = dir.root().map_err(|e| bad_resource(e.to_string()))?;
    let Some(ty) = root
        .entries
        .iter()
        .find(|e| e.name_or_id().id() == Some(pe::RT_VERSION))
    else {
        return Ok(None);
    };
    // Type -> name -> language -> data; bounded descent (3 levels).
    let mut entry = ty;
    let mut table;
    for _ in 0..3 {
        match entry.data(dir).map_err(|e| bad_resource(e.to_string()))? {
            object::read::pe::ResourceDirectoryEntryData::Table(t) => {
                table = t;
                let Some(first) = table.entries.first() else {
                    return Ok(None);
                };
                entry = first;
            }
            object::read::pe::ResourceDirectoryEntryData::Data(d) => {
                let rva = d.offset_to_data.get(LE);
                let size = d.size.get(LE) as usize;
                let bytes = sections.pe_data_at(data, rva).ok_or_else(|| {
                    bad_resource(format!("data at RVA {rva:#x} is outside the sections"))
                })?;
                let bytes = bytes.get(..size).ok_or_else(|| {
                    bad_resource(format!("data at RVA {rva:#x} ({size} bytes) is truncated"))
                })?;
                return parse_version_info(bytes).map(Some);
            }
        }
    }
    Ok(None)
}

/// One node of the version-resource tree: (key, value bytes, value type,
/// children bytes).
struct Node<'a> {
    key: String,
    value: &'a [u8],
    is_text: bool,
    children: &'a [u8],
    /// Total length (`wLength`) rounded up to 4.
    advance: usize,
}

fn u16_at(d: &[u8], off: usize) -> Option<u16> {
    let b = d.get(off..off.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

fn u32_at(d: &[u8], off: usize) -> Option<u32> {
    let b = d.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn align4(n: usize) -> Option<usize> {
    n.checked_add(3).map(|v| v & !3)
}

/// Reads a NUL-terminated UTF-16 string starting at `off`; returns it and
/// the offset after the terminator (or the end of `d`).
fn utf16z(d: &[u8], off: usize) -> (String, usize) {
    let mut units = Vec::new();
    let mut pos = off;
    while let Some(u) = u16_at(d, pos) {
        pos += 2;
        if u == 0 {
            break;
        }
        units.push(u);
    }
    (String::from_utf16_lossy(&units), pos.min(d.len()))
}

/// Parses the node at the start of `d` (offsets inside the resource are
/// 4-aligned relative to the node start, which is itself 4-aligned).
fn node(d: &[u8]) -> Result<Node<'_>> {
    let len = u16_at(d, 0).ok_or_else(|| bad_resource("truncated node header"))? as usize;
    let value_len = u16_at(d, 2).ok_or_else(|| bad_resource("truncated node header"))? as usize;
    let ty = u16_at(d, 4).ok_or_else(|| bad_resource("truncated node header"))?;
    if len < 6 {
        return Err(bad_resource(format!("node length {len} is too small")));
    }
    let d = d.get(..len).ok_or_else(|| {
        bad_resource(format!(
            "node length {len} exceeds its parent ({} bytes)",
            d.len()
        ))
    })?;
    let (key, after_key) = utf16z(d, 6);
    let value_start = align4(after_key)
        .ok_or_else(|| bad_resource("overflow"))?
        .min(len);
    let is_text = ty == 1;
    // wValueLength counts WCHARs for text values (but some linkers write
    // bytes); take what fits inside the node.
    let value_bytes = if is_text {
        value_len.saturating_mul(2)
    } else {
        value_len
    };
    let value_end = value_start.saturating_add(value_bytes).min(len);
    let value = &d[value_start..value_end];
    let children_start = align4(value_end)
        .ok_or_else(|| bad_resource("overflow"))?
        .min(len);
    Ok(Node {
        key,
        value,
        is_text,
        children: &d[children_start..],
        advance: align4(len).ok_or_else(|| bad_resource("overflow"))?,
    })
}

/// Iterates over the nodes packed in `d`.
fn children(mut d: &[u8]) -> Result<Vec<Node<'_>>> {
    let mut out = Vec::new();
    // A node is at least 6 bytes, so this loop is bounded by d.len() / 6.
    while d.len() >= 6 {
        let n = node(d)?;
        let adv = n.advance.min(d.len());
        out.push(n);
        d = &d[adv..];
    }
    Ok(out)
}

/// Decodes a `VS_VERSIONINFO` blob.
pub fn parse_version_info(d: &[u8]) -> Result<VersionInfo> {
    let root = node(d)?;
    if root.key != "VS_VERSION_INFO" {
        return Err(bad_resource(format!(
            "root key is {:?}, not VS_VERSION_INFO",
            root.key
        )));
    }
    let mut info = VersionInfo::default();
    if root.value.len() >= 52 && u32_at(root.value, 0) == Some(0xFEEF_04BD) {
        let w = |o: usize| u32_at(root.value, o).unwrap_or(0);
        let split = |ms: u32, ls: u32| [(ms >> 16) as u16, ms as u16, (ls >> 16) as u16, ls as u16];
        info.fixed = Some(FixedFileInfo {
            file_version: split(w(8), w(12)),
            product_version: split(w(16), w(20)),
        });
    }
    for child in children(root.children)? {
        if child.key != "StringFileInfo" {
            continue;
        }
        let tables = children(child.children)?;
        let Some(table) = tables.first() else {
            continue;
        };
        for s in children(table.children)? {
            let value = if s.is_text || !s.value.is_empty() {
                let (text, _) = utf16z(s.value, 0);
                text
            } else {
                String::new()
            };
            info.strings.push((s.key, value));
        }
        break;
    }
    Ok(info)
}

/// Name of an `IMAGE_FILE_MACHINE_*` value.
pub fn machine_name(m: u16) -> String {
    match m {
        0x014c => "I386".into(),
        0x8664 => "AMD64".into(),
        0xaa64 => "ARM64".into(),
        0x01c4 => "ARMNT".into(),
        0x0200 => "IA64".into(),
        0xa641 => "ARM64EC".into(),
        other => format!("{other:#06x}"),
    }
}

const DIRECTORY_NAMES: [&str; 16] = [
    "IMAGE_DIRECTORY_ENTRY_EXPORT",
    "IMAGE_DIRECTORY_ENTRY_IMPORT",
    "IMAGE_DIRECTORY_ENTRY_RESOURCE",
    "IMAGE_DIRECTORY_ENTRY_EXCEPTION",
    "IMAGE_DIRECTORY_ENTRY_SECURITY",
    "IMAGE_DIRECTORY_ENTRY_BASERELOC",
    "IMAGE_DIRECTORY_ENTRY_DEBUG",
    "IMAGE_DIRECTORY_ENTRY_ARCHITECTURE",
    "IMAGE_DIRECTORY_ENTRY_GLOBALPTR",
    "IMAGE_DIRECTORY_ENTRY_TLS",
    "IMAGE_DIRECTORY_ENTRY_LOAD_CONFIG",
    "IMAGE_DIRECTORY_ENTRY_BOUND_IMPORT",
    "IMAGE_DIRECTORY_ENTRY_IAT",
    "IMAGE_DIRECTORY_ENTRY_DELAY_IMPORT",
    "IMAGE_DIRECTORY_ENTRY_COM_DESCRIPTOR",
    "IMAGE_DIRECTORY_ENTRY_RESERVED",
];

/// `seconds` since 1970 as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn format_utc(seconds: u32) -> String {
    let t = profile_runtime::Timestamp {
        unix_seconds: i64::from(seconds),
        nanos: 0,
    }
    .to_string();
    format!("{} UTC", t.trim_end_matches('Z'))
}

/// The text `profc peinfo` prints.
pub fn render(info: &PeInfo) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{:<32} Value", "Attribute");
    let _ = writeln!(s, "{}", "-".repeat(72));
    let row = |s: &mut String, k: &str, v: String| {
        let _ = writeln!(s, "{k:<32} {v}");
    };
    row(
        &mut s,
        "Machine",
        format!("{} ({:#06x})", machine_name(info.machine), info.machine),
    );
    row(
        &mut s,
        "Format",
        if info.is_64 {
            "PE32+".into()
        } else {
            "PE32".into()
        },
    );
    row(
        &mut s,
        "TimeDateStamp",
        format!("{} ({:#010x})", format_utc(info.timestamp), info.timestamp),
    );
    row(
        &mut s,
        "Characteristics",
        format!("{:#06x}", info.characteristics),
    );
    row(&mut s, "ImageBase", format!("{:#x}", info.image_base));
    row(
        &mut s,
        "SizeOfImage",
        format!("{:#x} ({} bytes)", info.size_of_image, info.size_of_image),
    );
    row(
        &mut s,
        "AddressOfEntryPoint",
        format!("{:#x}", info.entry_point),
    );
    row(&mut s, "Subsystem", info.subsystem.to_string());
    row(&mut s, "CheckSum", format!("{:#x}", info.checksum));
    row(
        &mut s,
        "OperatingSystemVersion",
        format!("{}.{}", info.os_version.0, info.os_version.1),
    );
    row(
        &mut s,
        "ImageVersion",
        format!("{}.{}", info.image_version.0, info.image_version.1),
    );
    row(
        &mut s,
        "SubsystemVersion",
        format!("{}.{}", info.subsystem_version.0, info.subsystem_version.1),
    );
    match &info.rsds {
        Some(r) => {
            row(&mut s, "GUID/Age", r.id.key());
            row(&mut s, "GUID", r.id.guid_braced());
            row(&mut s, "Age", r.id.age.to_string());
            row(&mut s, "PDB", r.pdb_name().to_owned());
            row(&mut s, "PDB path", r.path.clone());
        }
        None => row(&mut s, "GUID/Age", "(no CodeView RSDS record)".into()),
    }
    let _ = writeln!(s, "\nSections:");
    let _ = writeln!(
        s,
        "{:<5} {:<9} {:>10} {:>10} {:>10} {:>10}",
        "Perm", "Name", "VMA", "VSize", "FileOff", "FileSize"
    );
    for sec in &info.sections {
        let _ = writeln!(
            s,
            "{:<5} {:<9} {:>#10x} {:>#10x} {:>#10x} {:>#10x}",
            sec.perm(),
            sec.name,
            sec.virtual_address,
            sec.virtual_size,
            sec.raw_offset,
            sec.raw_size
        );
    }
    let _ = writeln!(s, "\nData Directories:");
    let _ = writeln!(s, "{:<40} {:>10} {:>10}", "Name", "VMA", "Size");
    for &(i, va, size) in &info.data_directories {
        let name = DIRECTORY_NAMES
            .get(i)
            .map_or_else(|| format!("#{i}"), |n| (*n).to_owned());
        let _ = writeln!(s, "{name:<40} {va:>#10x} {size:>#10x}");
    }
    let _ = writeln!(s, "\nVersion Information:");
    match &info.version {
        Some(v) => {
            if let Some(f) = &v.fixed {
                let j = |a: &[u16; 4]| format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3]);
                row(&mut s, "FileVersion (fixed)", j(&f.file_version));
                row(&mut s, "ProductVersion (fixed)", j(&f.product_version));
            }
            for (k, v) in &v.strings {
                row(&mut s, k, v.clone());
            }
        }
        None => {
            let _ = writeln!(s, "(none)");
        }
    }
    for w in &info.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_utc(u32::MAX), "2106-02-07 06:28:15 UTC");
    }

    fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16()
            .chain([0])
            .flat_map(u16::to_le_bytes)
            .collect()
    }

    fn mk(key: &str, value: &[u8], text: bool, kids: &[Vec<u8>]) -> Vec<u8> {
        let mut v = vec![0u8; 6];
        v.extend(utf16(key));
        while !v.len().is_multiple_of(4) {
            v.push(0);
        }
        v.extend_from_slice(value);
        while !v.len().is_multiple_of(4) {
            v.push(0);
        }
        for k in kids {
            v.extend_from_slice(k);
            while !v.len().is_multiple_of(4) {
                v.push(0);
            }
        }
        let len = v.len() as u16;
        let vl = if text {
            (value.len() / 2) as u16
        } else {
            value.len() as u16
        };
        v[0..2].copy_from_slice(&len.to_le_bytes());
        v[2..4].copy_from_slice(&vl.to_le_bytes());
        v[4..6].copy_from_slice(&u16::from(text).to_le_bytes());
        v
    }

    #[test]
    fn version_info_synthetic_and_truncated() {
        let s1 = mk("FileVersion", &utf16("1.2.3"), true, &[]);
        let s2 = mk("OriginalFilename", &utf16("x.dll"), true, &[]);
        let table = mk("040904b0", &[], true, &[s1, s2]);
        let sfi = mk("StringFileInfo", &[], true, &[table]);
        let mut fixed = vec![0u8; 52];
        fixed[0..4].copy_from_slice(&0xFEEF_04BDu32.to_le_bytes());
        fixed[8..12].copy_from_slice(&0x0001_0002u32.to_le_bytes());
        fixed[12..16].copy_from_slice(&0x0003_0004u32.to_le_bytes());
        let root = mk("VS_VERSION_INFO", &fixed, false, &[sfi]);
        let v = parse_version_info(&root).unwrap();
        assert_eq!(v.fixed.unwrap().file_version, [1, 2, 3, 4]);
        assert_eq!(
            v.strings,
            vec![
                ("FileVersion".into(), "1.2.3".into()),
                ("OriginalFilename".into(), "x.dll".into())
            ]
        );
        // Every truncation is an error or a shorter result, never a panic.
        for n in 0..root.len() {
            let _ = parse_version_info(&root[..n]);
        }
        // Corrupt lengths.
        let mut bad = root.clone();
        bad[0] = 0xff;
        bad[1] = 0xff;
        assert!(parse_version_info(&bad).is_err());
    }
}
