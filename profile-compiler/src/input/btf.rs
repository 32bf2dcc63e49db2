//! BTF (BPF Type Format): the type information every modern Linux kernel
//! carries (`/sys/kernel/btf/vmlinux`, or the `.BTF` section of a vmlinux),
//! so a profile needs no debug package.
//!
//! Layout of the format (kernel `include/uapi/linux/btf.h`): a header, a type
//! section of variable-length records (type id 0 is `void`, ids count from
//! 1 in order), and a string section. Names keep DWARF's spelling
//! (`long unsigned int`): pahole generates BTF from DWARF.

use std::path::Path;

use serde_json::Value;

use crate::ir::{BitField, Enum, Ir, Member, Record, RecordKind, Type, TypeId};
use crate::{Error, Result};

const MAGIC: u16 = 0xeb9f;

/// Whether `bytes` start with the BTF magic (little-endian).
pub fn is_raw_btf(bytes: &[u8]) -> bool {
    bytes.len() >= 24 && u16::from_le_bytes([bytes[0], bytes[1]]) == MAGIC
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn u32(&mut self) -> Option<u32> {
        let b = self.data.get(self.pos..self.pos.checked_add(4)?)?;
        self.pos += 4;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// Reads raw BTF bytes into the IR. `pointer_size` is 8 unless the caller
/// knows better (an ELF's class).
pub fn read_bytes(data: &[u8], path: &Path, pointer_size: u64) -> Result<Ir> {
    let bad = |m: &str| Error::input(path, format!("BTF: {m}"));
    if !is_raw_btf(data) {
        return Err(bad(
            "no BTF magic (0xeB9F): big-endian BTF is not supported",
        ));
    }
    let mut h = Cursor { data, pos: 4 };
    let hdr_len = h.u32().ok_or_else(|| bad("truncated header"))? as usize;
    let fields: Vec<u32> = (0..4).map_while(|_| h.u32()).collect();
    let [type_off, type_len, str_off, str_len] = fields[..] else {
        return Err(bad("truncated header"));
    };
    let section = |off: u32, len: u32| -> Option<&[u8]> {
        let start = hdr_len.checked_add(off as usize)?;
        data.get(start..start.checked_add(len as usize)?)
    };
    let types = section(type_off, type_len).ok_or_else(|| bad("type section out of bounds"))?;
    let strings = section(str_off, str_len).ok_or_else(|| bad("string section out of bounds"))?;
    let name = |off: u32| -> Option<String> {
        let s = strings.get(off as usize..)?;
        let end = s.iter().position(|&b| b == 0)?;
        (end > 0).then(|| String::from_utf8_lossy(&s[..end]).into_owned())
    };

    // Pass 1: raw records. BTF type ids are 1-based; IR id = BTF id (0 = void).
    let mut ir = Ir::default();
    ir.push(Type::Void);
    let mut c = Cursor {
        data: types,
        pos: 0,
    };
    let mut pending_bitfields: Vec<(usize, usize, u32, u32)> = Vec::new(); // (type idx, member idx, abs bit, bits)
    while c.pos < types.len() {
        let record_start = c.pos;
        let trunc = || {
            bad(&format!(
                "truncated type record at type offset {record_start}"
            ))
        };
        let id = ir.types.len() as u64;
        let name_off = c.u32().ok_or_else(trunc)?;
        let info = c.u32().ok_or_else(trunc)?;
        let size_or_type = c.u32().ok_or_else(trunc)?;
        let vlen = (info & 0xffff) as usize;
        let kind = (info >> 24) & 0x1f;
        let kflag = info >> 31 == 1;
        let tid = |t: u32| TypeId(t);
        let ty = match kind {
            1 => {
                let enc = c.u32().ok_or_else(trunc)?;
                let signed = (enc >> 24) & 1 == 1;
                let nm = name(name_off).unwrap_or_else(|| format!("int{}", size_or_type * 8));
                Type::Base {
                    name: nm,
                    size: u64::from(size_or_type),
                    signed,
                }
            }
            2 => Type::Pointer {
                target: tid(size_or_type),
                size: pointer_size,
            },
            3 => {
                let elem = c.u32().ok_or_else(trunc)?;
                let _index = c.u32().ok_or_else(trunc)?;
                let n = c.u32().ok_or_else(trunc)?;
                Type::Array {
                    element: tid(elem),
                    count: u64::from(n),
                }
            }
            4 | 5 => {
                let mut members = Vec::with_capacity(vlen.min(4096));
                for i in 0..vlen {
                    let m_name = c.u32().ok_or_else(trunc)?;
                    let m_type = c.u32().ok_or_else(trunc)?;
                    let m_off = c.u32().ok_or_else(trunc)?;
                    let (bit_off, bits) = if kflag {
                        (m_off & 0xff_ffff, m_off >> 24)
                    } else {
                        (m_off, 0)
                    };
                    if bits > 0 {
                        pending_bitfields.push((ir.types.len(), i, bit_off, bits));
                    }
                    members.push(Member {
                        name: name(m_name),
                        offset: u64::from(bit_off / 8),
                        ty: tid(m_type),
                        bitfield: None,
                    });
                }
                Type::Record(Record {
                    kind: if kind == 4 {
                        RecordKind::Struct
                    } else {
                        RecordKind::Union
                    },
                    name: name(name_off),
                    size: u64::from(size_or_type),
                    members,
                    declaration: false,
                    origin: id,
                })
            }
            6 | 19 => {
                let mut values = Vec::with_capacity(vlen.min(4096));
                for _ in 0..vlen {
                    let n = c.u32().ok_or_else(trunc)?;
                    let v = if kind == 6 {
                        let raw = c.u32().ok_or_else(trunc)?;
                        if kflag {
                            i128::from(raw as i32)
                        } else {
                            i128::from(raw)
                        }
                    } else {
                        let lo = c.u32().ok_or_else(trunc)?;
                        let hi = c.u32().ok_or_else(trunc)?;
                        let v = (u64::from(hi) << 32) | u64::from(lo);
                        if kflag {
                            i128::from(v as i64)
                        } else {
                            i128::from(v)
                        }
                    };
                    values.push((name(n).unwrap_or_default(), v));
                }
                Type::Enum(Enum {
                    name: name(name_off),
                    size: u64::from(size_or_type),
                    signed: kflag,
                    values,
                    origin: id,
                })
            }
            7 => Type::Record(Record {
                kind: if kflag {
                    RecordKind::Union
                } else {
                    RecordKind::Struct
                },
                name: name(name_off),
                size: 0,
                members: Vec::new(),
                declaration: true,
                origin: id,
            }),
            8 => Type::Typedef {
                name: name(name_off).unwrap_or_default(),
                target: tid(size_or_type),
            },
            9..=11 | 18 => Type::Qualified {
                target: tid(size_or_type),
            },
            12 | 13 => {
                if kind == 13 {
                    for _ in 0..vlen {
                        c.u32().ok_or_else(trunc)?;
                        c.u32().ok_or_else(trunc)?;
                    }
                }
                Type::Function
            }
            14 => {
                c.u32().ok_or_else(trunc)?;
                Type::Unknown {
                    what: "Var".into(),
                    size: None,
                }
            }
            15 => {
                for _ in 0..vlen {
                    for _ in 0..3 {
                        c.u32().ok_or_else(trunc)?;
                    }
                }
                Type::Unknown {
                    what: "DataSec".into(),
                    size: Some(u64::from(size_or_type)),
                }
            }
            16 => Type::Base {
                name: name(name_off).unwrap_or_else(|| "float".into()),
                size: u64::from(size_or_type),
                signed: true,
            },
            17 => {
                c.u32().ok_or_else(trunc)?;
                Type::Unknown {
                    what: "DeclTag".into(),
                    size: None,
                }
            }
            other => return Err(bad(&format!("unknown BTF kind {other} at type id {id}"))),
        };
        ir.push(ty);
    }
    // Pass 2: bit fields need the storage unit's size (the member type's).
    for (tidx, midx, abs, bits) in pending_bitfields {
        let unit = match &ir.types[tidx] {
            Type::Record(r) => r
                .members
                .get(midx)
                .and_then(|m| ir.size_of(m.ty))
                .unwrap_or(1),
            _ => continue,
        };
        let (offset, bf) = BitField::from_absolute(u64::from(abs), bits, unit);
        if let Type::Record(r) = &mut ir.types[tidx] {
            if let Some(m) = r.members.get_mut(midx) {
                m.offset = offset;
                m.bitfield = Some(bf);
            }
        }
    }
    let max = ir.types.len() as u32;
    let dangling = ir.types.iter().any(|t| match t {
        Type::Pointer { target, .. }
        | Type::Typedef { target, .. }
        | Type::Qualified { target } => target.0 >= max,
        Type::Array { element, .. } => element.0 >= max,
        Type::Record(r) => r.members.iter().any(|m| m.ty.0 >= max),
        _ => false,
    });
    if dangling {
        ir.warnings
            .push("BTF: some type references point past the last type; they read as void".into());
    }
    ir.metadata.insert("Type".into(), Value::from("Profile"));
    ir.metadata
        .insert("ProfileClass".into(), Value::from("Linux"));
    ir.metadata.insert(
        "arch".into(),
        Value::from(if pointer_size == 4 { "I386" } else { "AMD64" }),
    );
    ir.metadata.insert("Version".into(), Value::from(1));
    ir.conventions.mask48 = true;
    Ok(ir)
}

/// Reads the `.BTF` section of an ELF file (a vmlinux or a module).
pub fn read_elf(data: &[u8], path: &Path) -> Result<Ir> {
    use object::{Object, ObjectSection};
    let file = object::File::parse(data)
        .map_err(|e| Error::input(path, format!("not an ELF file: {e}")))?;
    let section = file
        .section_by_name(".BTF")
        .ok_or_else(|| Error::input(path, "no .BTF section"))?;
    let bytes = section
        .data()
        .map_err(|e| Error::input(path, format!(".BTF section unreadable: {e}")))?;
    let mut ir = read_bytes(bytes, path, if file.is_64() { 8 } else { 4 })?;
    if let Some(arch) = crate::ir::arch_name(file.architecture()) {
        ir.metadata.insert("arch".into(), Value::from(arch));
    }
    Ok(ir)
}

/// Whether an ELF file has a `.BTF` section.
pub fn elf_has_btf(data: &[u8]) -> bool {
    use object::Object;
    object::File::parse(data).is_ok_and(|f| f.section_by_name(".BTF").is_some())
}
