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
    bytes.len() >= 4 && u16::from_le_bytes([bytes[0], bytes[1]]) == MAGIC && bytes[2] == 1
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

/// The BTF kinds (`BTF_KIND_*` of `include/uapi/linux/btf.h`), the 5 bits
/// 24..28 of a type record's `info` word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// `BTF_KIND_INT`: an integer (one extra u32: encoding, offset, bits).
    Int = 1,
    /// `BTF_KIND_PTR`.
    Ptr = 2,
    /// `BTF_KIND_ARRAY` (`struct btf_array`: element, index type, count).
    Array = 3,
    /// `BTF_KIND_STRUCT` (vlen `struct btf_member`).
    Struct = 4,
    /// `BTF_KIND_UNION`.
    Union = 5,
    /// `BTF_KIND_ENUM` (vlen `struct btf_enum`: 32-bit values).
    Enum = 6,
    /// `BTF_KIND_FWD`: a forward declaration (kflag: union).
    Fwd = 7,
    /// `BTF_KIND_TYPEDEF`.
    Typedef = 8,
    /// `BTF_KIND_VOLATILE`.
    Volatile = 9,
    /// `BTF_KIND_CONST`.
    Const = 10,
    /// `BTF_KIND_RESTRICT`.
    Restrict = 11,
    /// `BTF_KIND_FUNC`: a function (its type is a FUNC_PROTO).
    Func = 12,
    /// `BTF_KIND_FUNC_PROTO` (vlen `struct btf_param`).
    FuncProto = 13,
    /// `BTF_KIND_VAR`: a variable (one extra u32: linkage).
    Var = 14,
    /// `BTF_KIND_DATASEC`: a section's variables (vlen `struct btf_var_secinfo`).
    Datasec = 15,
    /// `BTF_KIND_FLOAT`.
    Float = 16,
    /// `BTF_KIND_DECL_TAG` (one extra u32: component index).
    DeclTag = 17,
    /// `BTF_KIND_TYPE_TAG`.
    TypeTag = 18,
    /// `BTF_KIND_ENUM64` (vlen `struct btf_enum64`).
    Enum64 = 19,
}

impl Kind {
    /// The kind of a raw kind number.
    pub fn from_raw(k: u32) -> Option<Kind> {
        use Kind::*;
        Some(match k {
            1 => Int,
            2 => Ptr,
            3 => Array,
            4 => Struct,
            5 => Union,
            6 => Enum,
            7 => Fwd,
            8 => Typedef,
            9 => Volatile,
            10 => Const,
            11 => Restrict,
            12 => Func,
            13 => FuncProto,
            14 => Var,
            15 => Datasec,
            16 => Float,
            17 => DeclTag,
            18 => TypeTag,
            19 => Enum64,
            _ => return None,
        })
    }
}

/// A `VAR` of the BTF, with its place when a `DATASEC` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BtfVar {
    /// The variable's name.
    pub name: String,
    /// Its type (an IR id: IR ids are BTF ids).
    pub ty: TypeId,
    /// The section (`.data..percpu`) of the `DATASEC` that lists it.
    pub section: Option<String>,
    /// Offset in that section (for per-cpu variables, the per-cpu offset
    /// System.map gives them as address on x86-64).
    pub offset: Option<u64>,
    /// Size in bytes, from the `DATASEC`.
    pub size: Option<u64>,
}

/// The parsed header of one BTF blob.
#[derive(Debug, Clone, Copy)]
struct Header {
    hdr_len: usize,
    type_off: u32,
    type_len: u32,
    str_off: u32,
    str_len: u32,
}

fn header(data: &[u8], bad: &dyn Fn(&str) -> Error) -> Result<Header> {
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
    Ok(Header {
        hdr_len,
        type_off,
        type_len,
        str_off,
        str_len,
    })
}

fn section(data: &[u8], hdr_len: usize, off: u32, len: u32) -> Option<&[u8]> {
    let start = hdr_len.checked_add(off as usize)?;
    data.get(start..start.checked_add(len as usize)?)
}

/// Reads raw BTF bytes into the IR. `pointer_size` is 8 unless the caller
/// knows better (an ELF's class).
pub fn read_bytes(data: &[u8], path: &Path, pointer_size: u64) -> Result<Ir> {
    Ok(read_with_vars(data, path, pointer_size)?.0)
}

/// [`read_bytes`], also returning the BTF's variables (`VAR` records, with
/// their `DATASEC` place): pahole's vmlinux BTF has the per-cpu variables.
pub fn read_with_vars(data: &[u8], path: &Path, pointer_size: u64) -> Result<(Ir, Vec<BtfVar>)> {
    let mut ir = Ir::default();
    ir.push(Type::Void);
    let mut vars = Vec::new();
    parse_types(&mut ir, &mut vars, data, None, path, pointer_size)?;
    linux_metadata(&mut ir, pointer_size);
    Ok((ir, vars))
}

/// Reads split BTF: a module's BTF (`/sys/kernel/btf/<module>`, or the
/// `.BTF` section of a `.ko`) over its base, the vmlinux BTF it was built
/// against (raw, or an ELF with `.BTF`). The module's type ids continue
/// after the base's last id and its string offsets after the base's string
/// section (libbpf's split BTF). The IR holds the base's types followed by
/// the module's; the module's own variables are returned.
pub fn read_split(
    module: &[u8],
    base: &[u8],
    module_path: &Path,
    base_path: &Path,
    pointer_size: u64,
) -> Result<(Ir, Vec<BtfVar>)> {
    let base_raw = raw_or_elf_btf(base, base_path)?;
    let module_raw = raw_or_elf_btf(module, module_path)?;
    let base_bad = |m: &str| Error::input(base_path, format!("BTF: {m}"));
    let bh = header(base_raw, &base_bad)?;
    let base_strings = section(base_raw, bh.hdr_len, bh.str_off, bh.str_len)
        .ok_or_else(|| base_bad("string section out of bounds"))?;
    let mut ir = Ir::default();
    ir.push(Type::Void);
    let mut base_vars = Vec::new();
    parse_types(
        &mut ir,
        &mut base_vars,
        base_raw,
        None,
        base_path,
        pointer_size,
    )?;
    let mut vars = Vec::new();
    parse_types(
        &mut ir,
        &mut vars,
        module_raw,
        Some(base_strings),
        module_path,
        pointer_size,
    )?;
    linux_metadata(&mut ir, pointer_size);
    Ok((ir, vars))
}

/// Raw BTF bytes as they are, or the `.BTF` section of an ELF file.
fn raw_or_elf_btf<'a>(data: &'a [u8], path: &Path) -> Result<&'a [u8]> {
    use object::{Object, ObjectSection};
    if is_raw_btf(data) {
        return Ok(data);
    }
    let file = object::File::parse(data)
        .map_err(|e| Error::input(path, format!("BTF: neither raw BTF nor an ELF file: {e}")))?;
    let section = file
        .section_by_name(".BTF")
        .ok_or_else(|| Error::input(path, "BTF: no .BTF section"))?;
    section
        .data()
        .map_err(|e| Error::input(path, format!(".BTF section unreadable: {e}")))
}

fn linux_metadata(ir: &mut Ir, pointer_size: u64) {
    ir.metadata.insert("Type".into(), Value::from("Profile"));
    ir.metadata
        .insert("ProfileClass".into(), Value::from("Linux"));
    ir.metadata.insert(
        "arch".into(),
        Value::from(if pointer_size == 4 { "I386" } else { "AMD64" }),
    );
    ir.metadata.insert("Version".into(), Value::from(1));
    ir.conventions.mask48 = true;
}

/// Appends the types of one BTF blob to `ir` (ids continue from
/// `ir.types.len()`, which is 1 for a base blob: id 0 is void). With
/// `base_strings`, string offsets below its length name base strings
/// and the blob's own strings follow (split BTF).
fn parse_types(
    ir: &mut Ir,
    vars: &mut Vec<BtfVar>,
    data: &[u8],
    base_strings: Option<&[u8]>,
    path: &Path,
    pointer_size: u64,
) -> Result<()> {
    let bad = |m: &str| Error::input(path, format!("BTF: {m}"));
    let h = header(data, &bad)?;
    let types = section(data, h.hdr_len, h.type_off, h.type_len)
        .ok_or_else(|| bad("type section out of bounds"))?;
    let strings = section(data, h.hdr_len, h.str_off, h.str_len)
        .ok_or_else(|| bad("string section out of bounds"))?;
    let base_len = base_strings.map_or(0, <[u8]>::len);
    let name = |off: u32| -> Option<String> {
        let off = off as usize;
        let s = match base_strings {
            Some(b) if off < base_len => b.get(off..)?,
            _ => strings.get(off - base_len..)?,
        };
        let end = s.iter().position(|&b| b == 0)?;
        (end > 0).then(|| String::from_utf8_lossy(&s[..end]).into_owned())
    };

    // Pass 1: raw records. IR id = BTF id (0 = void).
    let first = ir.types.len();
    let mut c = Cursor {
        data: types,
        pos: 0,
    };
    let mut pending_bitfields: Vec<(usize, usize, u32, u32)> = Vec::new(); // (type idx, member idx, abs bit, bits)
    let mut var_names: Vec<(usize, String, TypeId)> = Vec::new(); // (type idx, name, type)
    let mut secinfo: Vec<(String, u32, u32, u32)> = Vec::new(); // (section, var id, offset, size)
    while c.pos < types.len() {
        let record_start = c.pos;
        let trunc = || {
            bad(&format!(
                "truncated type record at type offset {record_start}"
            ))
        };
        let id = ir.types.len() as u64;
        if id > u64::from(u32::MAX >> 1) {
            return Err(bad("more than 2^31 types"));
        }
        let name_off = c.u32().ok_or_else(trunc)?;
        let info = c.u32().ok_or_else(trunc)?;
        let size_or_type = c.u32().ok_or_else(trunc)?;
        let vlen = (info & 0xffff) as usize;
        let raw_kind = (info >> 24) & 0x1f;
        let kflag = info >> 31 == 1;
        let tid = |t: u32| TypeId(t);
        let kind = Kind::from_raw(raw_kind)
            .ok_or_else(|| bad(&format!("unknown BTF kind {raw_kind} at type id {id}")))?;
        let ty = match kind {
            Kind::Int => {
                let enc = c.u32().ok_or_else(trunc)?;
                let signed = (enc >> 24) & 1 == 1;
                let nm = name(name_off).unwrap_or_else(|| format!("int{}", size_or_type * 8));
                Type::Base {
                    name: nm,
                    size: u64::from(size_or_type),
                    signed,
                }
            }
            Kind::Ptr => Type::Pointer {
                target: tid(size_or_type),
                size: pointer_size,
            },
            Kind::Array => {
                let elem = c.u32().ok_or_else(trunc)?;
                let _index = c.u32().ok_or_else(trunc)?;
                let n = c.u32().ok_or_else(trunc)?;
                Type::Array {
                    element: tid(elem),
                    count: u64::from(n),
                }
            }
            Kind::Struct | Kind::Union => {
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
                    kind: if kind == Kind::Struct {
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
            Kind::Enum | Kind::Enum64 => {
                let mut values = Vec::with_capacity(vlen.min(4096));
                for _ in 0..vlen {
                    let n = c.u32().ok_or_else(trunc)?;
                    let v = if kind == Kind::Enum {
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
            Kind::Fwd => Type::Record(Record {
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
            Kind::Typedef => Type::Typedef {
                name: name(name_off).unwrap_or_default(),
                target: tid(size_or_type),
            },
            Kind::Volatile | Kind::Const | Kind::Restrict | Kind::TypeTag => Type::Qualified {
                target: tid(size_or_type),
            },
            Kind::Func | Kind::FuncProto => {
                if kind == Kind::FuncProto {
                    for _ in 0..vlen {
                        c.u32().ok_or_else(trunc)?;
                        c.u32().ok_or_else(trunc)?;
                    }
                }
                Type::Function
            }
            Kind::Var => {
                c.u32().ok_or_else(trunc)?; // linkage
                if let Some(n) = name(name_off) {
                    var_names.push((ir.types.len(), n, tid(size_or_type)));
                }
                Type::Unknown {
                    what: "Var".into(),
                    size: None,
                }
            }
            Kind::Datasec => {
                let sec = name(name_off).unwrap_or_default();
                for _ in 0..vlen {
                    let var = c.u32().ok_or_else(trunc)?;
                    let off = c.u32().ok_or_else(trunc)?;
                    let size = c.u32().ok_or_else(trunc)?;
                    secinfo.push((sec.clone(), var, off, size));
                }
                Type::Unknown {
                    what: "DataSec".into(),
                    size: Some(u64::from(size_or_type)),
                }
            }
            Kind::Float => Type::Base {
                name: name(name_off).unwrap_or_else(|| "float".into()),
                size: u64::from(size_or_type),
                signed: true,
            },
            Kind::DeclTag => {
                c.u32().ok_or_else(trunc)?;
                Type::Unknown {
                    what: "DeclTag".into(),
                    size: None,
                }
            }
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
    // Variables, placed by their DATASEC.
    let mut place: std::collections::HashMap<usize, (String, u64, u64)> =
        std::collections::HashMap::new();
    for (sec, var, off, size) in secinfo {
        place.insert(var as usize, (sec, u64::from(off), u64::from(size)));
    }
    for (idx, name, ty) in var_names {
        let p = place.remove(&idx);
        vars.push(BtfVar {
            name,
            ty,
            section: p.as_ref().map(|p| p.0.clone()),
            offset: p.as_ref().map(|p| p.1),
            size: p.map(|p| p.2),
        });
    }
    let max = ir.types.len() as u32;
    let dangling = ir.types[first..].iter().any(|t| match t {
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
    Ok(())
}

/// Gives IR symbols the types of same-name BTF variables (data symbols
/// without a type only). Returns how many symbols got a type.
pub fn type_symbols_from_vars(ir: &mut Ir, vars: &[BtfVar]) -> usize {
    let by_name: std::collections::HashMap<&str, TypeId> =
        vars.iter().map(|v| (v.name.as_str(), v.ty)).collect();
    let max = ir.types.len();
    let mut n = 0;
    for s in &mut ir.symbols {
        if s.kind != crate::ir::SymbolKind::Data || s.ty.is_some() {
            continue;
        }
        if let Some(&ty) = by_name.get(s.name.as_str()) {
            if ty.index() < max {
                s.ty = Some(ty);
                n += 1;
            }
        }
    }
    n
}

/// Finds raw BTF inside a blob (a raw arm64 `Image`, a memory image): the
/// largest place that starts with the magic, version 1, a 24-byte header,
/// a type section at offset 0 followed by the string section, both in
/// bounds, whose string section starts with an empty string. Returns the
/// byte range. (Split module BTF has the same shape; the kernel's own is
/// by far the largest.)
pub fn find_raw(data: &[u8]) -> Option<std::ops::Range<usize>> {
    const LEAD: &[u8] = &[0x9f, 0xeb, 1, 0, 24, 0, 0, 0];
    let mut best: Option<std::ops::Range<usize>> = None;
    for at in memchr::memmem::find_iter(data, LEAD) {
        let Some(blob) = data.get(at..) else { continue };
        let mut c = Cursor { data: blob, pos: 8 };
        let (Some(type_off), Some(type_len), Some(str_off), Some(str_len)) =
            (c.u32(), c.u32(), c.u32(), c.u32())
        else {
            continue;
        };
        if type_off != 0 || str_off != type_len || str_len == 0 {
            continue;
        }
        let Some(end) = 24usize
            .checked_add(str_off as usize)
            .and_then(|e| e.checked_add(str_len as usize))
        else {
            continue;
        };
        if end > blob.len() || blob[24 + str_off as usize] != 0 {
            continue;
        }
        if best.as_ref().is_none_or(|b| b.len() < end) {
            best = Some(at..at + end);
        }
    }
    best
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

/// The type of a well-known kernel variable, named as the IR names types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnownType {
    /// A struct/union, typedef or base type of that name.
    Named(&'static str),
    /// A pointer to it.
    PointerTo(&'static str),
    /// An array of it; count 0 when the kernel sources fix no count
    /// (a flexible array).
    ArrayOf(&'static str, u64),
    /// An array of it whose count is a configuration constant: as many
    /// elements as fit before the next symbol (kallsyms has no sizes).
    ArrayToNext(&'static str),
    /// The anonymous struct with exactly these members (`tk_core` is a
    /// `struct { seqcount_raw_spinlock_t seq; struct timekeeper timekeeper; }`).
    Anonymous(&'static [&'static str]),
}

/// Kernel variables whose type is fixed by the kernel sources, for profiles
/// whose types come from BTF (which, from pahole, lists only per-cpu
/// variables). These are the symbols Volatility 3's Linux plugins and
/// automagic read (pslist/pstree/bash: `init_task`; lsmod: `modules`;
/// kmsg: `prb`, or `log_buf`... before 5.10; the layer stacker:
/// `linux_banner`, `init_top_pgt`/`swapper_pg_dir`; check_modules:
/// `module_kset`; check_idt: `idt_table`; check_syscall:
/// `sys_call_table`; tty_check: `tty_drivers`; keyboard_notifiers:
/// `keyboard_notifier_list`; iomem: `iomem_resource`; mountinfo and
/// sockstat: `init_nsproxy`, `net_namespace_list`), plus the memory-layout
/// variables tools read (`page_offset_base`...). Counts are the kernel's
/// constants: `PTRS_PER_PGD` = 512 on x86-64 (4- and 5-level),
/// `IDT_ENTRIES` = 256.
pub const WELL_KNOWN_VARIABLES: &[(&str, KnownType)] = &[
    ("init_task", KnownType::Named("task_struct")),
    ("modules", KnownType::Named("list_head")),
    ("linux_banner", KnownType::ArrayOf("char", 0)),
    ("prb", KnownType::PointerTo("printk_ringbuffer")),
    ("log_buf", KnownType::PointerTo("char")),
    ("log_buf_len", KnownType::Named("u32")),
    ("log_first_idx", KnownType::Named("u32")),
    ("log_next_idx", KnownType::Named("u32")),
    ("init_top_pgt", KnownType::ArrayOf("pgd_t", 512)),
    ("swapper_pg_dir", KnownType::ArrayOf("pgd_t", 0)),
    ("init_mm", KnownType::Named("mm_struct")),
    ("init_pid_ns", KnownType::Named("pid_namespace")),
    ("init_uts_ns", KnownType::Named("uts_namespace")),
    ("init_nsproxy", KnownType::Named("nsproxy")),
    ("iomem_resource", KnownType::Named("resource")),
    ("module_kset", KnownType::PointerTo("kset")),
    ("tty_drivers", KnownType::Named("list_head")),
    ("net_namespace_list", KnownType::Named("list_head")),
    (
        "keyboard_notifier_list",
        KnownType::Named("atomic_notifier_head"),
    ),
    ("idt_table", KnownType::ArrayOf("gate_desc", 256)),
    ("sys_call_table", KnownType::ArrayOf("sys_call_ptr_t", 0)),
    ("page_offset_base", KnownType::Named("long unsigned int")),
    ("vmemmap_base", KnownType::Named("long unsigned int")),
    ("vmalloc_base", KnownType::Named("long unsigned int")),
    ("phys_base", KnownType::Named("long unsigned int")),
    ("jiffies", KnownType::Named("long unsigned int")),
    ("nr_cpu_ids", KnownType::Named("unsigned int")),
    ("taint_flags", KnownType::ArrayToNext("taint_flag")),
    ("tk_core", KnownType::Anonymous(&["seq", "timekeeper"])),
];

/// Gives the data symbols of [`WELL_KNOWN_VARIABLES`] their type, built
/// from the IR's own named types: a defined struct/union of the name, else
/// a typedef, else a base type (pointers and arrays of it are added to the
/// IR). A symbol that already has a type, or whose type the IR does not
/// have, is left as it is: no layout is invented. Returns how many symbols
/// got a type.
pub fn type_well_known_symbols(ir: &mut Ir) -> usize {
    use crate::ir::SymbolKind;
    use std::collections::{HashMap, HashSet};
    let wanted: HashMap<&str, KnownType> = WELL_KNOWN_VARIABLES.iter().copied().collect();
    let needed: HashSet<&str> = ir
        .symbols
        .iter()
        .filter(|s| s.kind == SymbolKind::Data && s.ty.is_none())
        .filter_map(|s| wanted.get_key_value(s.name.as_str()).map(|(k, _)| *k))
        .collect();
    if needed.is_empty() {
        return 0;
    }
    let base_name = |k: KnownType| match k {
        KnownType::Named(t)
        | KnownType::PointerTo(t)
        | KnownType::ArrayOf(t, _)
        | KnownType::ArrayToNext(t) => Some(t),
        KnownType::Anonymous(_) => None,
    };
    // Named types: records first, then typedefs, then base types.
    let type_names: HashSet<&str> = needed.iter().filter_map(|n| base_name(wanted[n])).collect();
    let shapes: Vec<(&str, &[&str])> = needed
        .iter()
        .filter_map(|n| match wanted[n] {
            KnownType::Anonymous(m) => Some((*n, m)),
            _ => None,
        })
        .collect();
    let mut found: HashMap<&str, (u8, TypeId)> = HashMap::new();
    let mut anonymous: HashMap<&str, TypeId> = HashMap::new();
    for (i, t) in ir.types.iter().enumerate() {
        if let Type::Record(r) = t {
            if r.name.is_none() && !r.declaration {
                for (sym, members) in &shapes {
                    let same = r.members.len() == members.len()
                        && r.members
                            .iter()
                            .zip(members.iter())
                            .all(|(m, want)| m.name.as_deref() == Some(*want));
                    if same {
                        anonymous.entry(sym).or_insert(TypeId(i as u32));
                    }
                }
            }
        }
        let (rank, name) = match t {
            Type::Record(r) if !r.declaration => (0u8, r.name.as_deref()),
            Type::Typedef { name, .. } => (1, Some(name.as_str())),
            Type::Base { name, .. } => (2, Some(name.as_str())),
            _ => continue,
        };
        let Some(name) = name.and_then(|n| type_names.get(n).copied()) else {
            continue;
        };
        let e = found.entry(name).or_insert((rank, TypeId(i as u32)));
        if rank < e.0 {
            *e = (rank, TypeId(i as u32));
        }
    }
    let pointer_size = ir
        .types
        .iter()
        .find_map(|t| match t {
            Type::Pointer { size, .. } => Some(*size),
            _ => None,
        })
        .unwrap_or(8);
    // The next data symbol's address above each address (for ArrayToNext).
    let mut addresses: Vec<u64> = ir
        .symbols
        .iter()
        .filter(|s| s.kind == SymbolKind::Data)
        .map(|s| s.address)
        .collect();
    addresses.sort_unstable();
    addresses.dedup();
    let next_after = |a: u64| {
        let i = addresses.partition_point(|&x| x <= a);
        addresses.get(i).copied()
    };
    let mut derived: HashMap<(&str, u64), TypeId> = HashMap::new();
    let mut n = 0;
    for i in 0..ir.symbols.len() {
        let s = &ir.symbols[i];
        if s.kind != SymbolKind::Data || s.ty.is_some() {
            continue;
        }
        let Some((key, &known)) = wanted.get_key_value(s.name.as_str()) else {
            continue;
        };
        let ty = match known {
            KnownType::Anonymous(_) => match anonymous.get(key) {
                Some(t) => *t,
                None => continue,
            },
            _ => {
                let Some(&(_, target)) = base_name(known).and_then(|b| found.get(b)) else {
                    continue;
                };
                let array = |count: u64| Type::Array {
                    element: target,
                    count,
                };
                let (made, count) = match known {
                    KnownType::Named(_) => {
                        ir.symbols[i].ty = Some(target);
                        n += 1;
                        continue;
                    }
                    KnownType::PointerTo(_) => (
                        Type::Pointer {
                            target,
                            size: pointer_size,
                        },
                        0,
                    ),
                    KnownType::ArrayOf(_, c) => (array(c), c),
                    KnownType::ArrayToNext(_) => {
                        let elem = ir.size_of(target).filter(|&e| e > 0);
                        let gap = next_after(s.address).map(|next| next - s.address);
                        let c = match (elem, gap) {
                            (Some(e), Some(g)) if g / e <= 1 << 16 => g / e,
                            _ => 0,
                        };
                        (array(c), c)
                    }
                    KnownType::Anonymous(_) => continue,
                };
                match derived.get(&(*key, count)) {
                    Some(&t) => t,
                    None => {
                        let t = ir.push(made);
                        derived.insert((key, count), t);
                        t
                    }
                }
            }
        };
        ir.symbols[i].ty = Some(ty);
        n += 1;
    }
    n
}
