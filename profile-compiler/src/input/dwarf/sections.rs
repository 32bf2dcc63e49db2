//! Loading the DWARF sections of an object file: borrowed from the mapped
//! file when possible, decompressed (`.zdebug_*`, `SHF_COMPRESSED`) or
//! relocated (ELF relocatable objects: kernel modules, `.o` files) into owned
//! copies when needed.

use std::borrow::Cow;
use std::path::Path;

use gimli::{RunTimeEndian, SectionId};
use object::{Object, ObjectSection, ObjectSymbol, RelocationKind, RelocationTarget};

use crate::{Error, Result};

/// The DWARF sections the type reader needs, in the order of [`NEEDED`].
#[derive(Debug)]
pub(crate) struct Sections<'a> {
    data: Vec<(SectionId, Cow<'a, [u8]>)>,
    /// Every `.debug_types` section (DWARF 4 type units; a relocatable
    /// object has one per type, in COMDAT groups).
    pub types: Vec<Cow<'a, [u8]>>,
    /// Byte order of the file.
    pub endian: RunTimeEndian,
    /// Relocations that could not be applied (unsupported kinds), counted.
    pub skipped_relocations: usize,
}

/// Sections read by the type reader. Line tables, location and range lists
/// are never needed for types and are not touched (they stay unmapped).
const NEEDED: [SectionId; 5] = [
    SectionId::DebugInfo,
    SectionId::DebugAbbrev,
    SectionId::DebugStr,
    SectionId::DebugLineStr,
    SectionId::DebugStrOffsets,
];

impl<'a> Sections<'a> {
    /// Loads the needed sections of `file`.
    pub fn load(file: &object::File<'a>, path: &Path) -> Result<Self> {
        let endian = if file.is_little_endian() {
            RunTimeEndian::Little
        } else {
            RunTimeEndian::Big
        };
        let relocatable = file.kind() == object::ObjectKind::Relocatable
            && file.format() == object::BinaryFormat::Elf;
        let mut data = Vec::new();
        let mut skipped = 0;
        let mut load = |section: &object::Section<'a, '_>, name: &str| -> Result<Cow<'a, [u8]>> {
            let bytes = section
                .uncompressed_data()
                .map_err(|e| Error::input(path, format!("section {name}: {e}")))?;
            Ok(if relocatable && section.relocations().next().is_some() {
                let mut owned = bytes.into_owned();
                skipped += apply_relocations(file, section, &mut owned, endian, path)?;
                Cow::Owned(owned)
            } else {
                bytes
            })
        };
        let mut types = Vec::new();
        for section in file.sections() {
            if matches!(
                section.name(),
                Ok(".debug_types" | ".zdebug_types" | "__debug_types")
            ) {
                types.push(load(&section, ".debug_types")?);
            }
        }
        for id in NEEDED {
            let Some(section) = file.section_by_name(id.name()) else {
                continue;
            };
            data.push((id, load(&section, id.name())?));
        }
        Ok(Sections {
            data,
            types,
            endian,
            skipped_relocations: skipped,
        })
    }

    /// The bytes of section `id` (empty when absent).
    pub fn get(&self, id: SectionId) -> &[u8] {
        self.data
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, d)| &d[..])
            .unwrap_or(&[])
    }
}

/// Applies the absolute relocations of `section` to `data` (its
/// uncompressed bytes): `S + A` written at the place, where `S` is the
/// symbol's value (section-relative in a relocatable object, so references
/// to other debug sections become plain section offsets) and `A` the
/// explicit addend (RELA: x86-64, AArch64) or the value already in place
/// (REL: i386). Returns how many relocations were of an unsupported kind and
/// left alone.
fn apply_relocations<'a>(
    file: &object::File<'a>,
    section: &object::Section<'a, '_>,
    data: &mut [u8],
    endian: RunTimeEndian,
    path: &Path,
) -> Result<usize> {
    let mut skipped = 0;
    for (offset, reloc) in section.relocations() {
        match reloc.kind() {
            RelocationKind::Absolute => {}
            RelocationKind::None => continue,
            _ => {
                skipped += 1;
                continue;
            }
        }
        let width = match reloc.size() {
            32 => 4usize,
            64 => 8usize,
            _ => {
                skipped += 1;
                continue;
            }
        };
        let symbol_value = match reloc.target() {
            RelocationTarget::Symbol(index) => match file.symbol_by_index(index) {
                Ok(sym) => sym.address(),
                Err(_) => {
                    return Err(Error::input(
                        path,
                        format!(
                            "relocation in {} names a missing symbol",
                            section.name().unwrap_or("?")
                        ),
                    ))
                }
            },
            RelocationTarget::Absolute => 0,
            _ => {
                skipped += 1;
                continue;
            }
        };
        let place = usize::try_from(offset)
            .ok()
            .and_then(|o| o.checked_add(width).map(|end| (o, end)))
            .filter(|(_, end)| *end <= data.len());
        let Some((start, end)) = place else {
            return Err(Error::input(
                path,
                format!(
                    "relocation at offset {offset:#x} lies outside section {}",
                    section.name().unwrap_or("?")
                ),
            ));
        };
        let slot = &mut data[start..end];
        let implicit = if reloc.has_implicit_addend() {
            read_uint(slot, endian)
        } else {
            0
        };
        let value = symbol_value
            .wrapping_add(reloc.addend() as u64)
            .wrapping_add(implicit);
        write_uint(slot, value, endian);
    }
    Ok(skipped)
}

fn read_uint(slot: &[u8], endian: RunTimeEndian) -> u64 {
    let mut v = 0u64;
    match endian {
        RunTimeEndian::Little => {
            for b in slot.iter().rev() {
                v = (v << 8) | u64::from(*b);
            }
        }
        RunTimeEndian::Big => {
            for b in slot {
                v = (v << 8) | u64::from(*b);
            }
        }
    }
    v
}

fn write_uint(slot: &mut [u8], mut value: u64, endian: RunTimeEndian) {
    let n = slot.len();
    for i in 0..n {
        let byte = (value & 0xff) as u8;
        value >>= 8;
        match endian {
            RunTimeEndian::Little => slot[i] = byte,
            RunTimeEndian::Big => slot[n - 1 - i] = byte,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uint_round_trip_both_endians() {
        let mut slot = [0u8; 4];
        write_uint(&mut slot, 0x1234_5678, RunTimeEndian::Little);
        assert_eq!(slot, [0x78, 0x56, 0x34, 0x12]);
        assert_eq!(read_uint(&slot, RunTimeEndian::Little), 0x1234_5678);
        write_uint(&mut slot, 0x1234_5678, RunTimeEndian::Big);
        assert_eq!(slot, [0x12, 0x34, 0x56, 0x78]);
        assert_eq!(read_uint(&slot, RunTimeEndian::Big), 0x1234_5678);
        // Values wider than the slot are truncated, as a 32-bit relocation does.
        write_uint(&mut slot, 0x1_0000_0002, RunTimeEndian::Little);
        assert_eq!(read_uint(&slot, RunTimeEndian::Little), 2);
    }
}
