//! The type stream (TPI) -> IR types.
//!
//! One pass splits the stream into records indexed by type index. Then:
//! 1. every struct/class/union/enum definition gets its IR id up front (with
//!    its size, so arrays of it can be counted before its members are read);
//! 2. forward references are resolved to a definition with the same unique
//!    (decorated) name, else the same name, else become declarations;
//! 3. the members of each definition are read; member types (pointers,
//!    arrays, modifiers, ...) are converted on demand and memoised, with a
//!    bounded recursion depth so hostile cycles end.

use super::leaf::{self, FieldEntry, FieldIter, Leaf};
use crate::ir::{BitField, Enum, Ir, Member, Record, RecordKind, Type, TypeId};

/// First non-primitive type index.
const FIRST_INDEX: u32 = 0x1000;
/// Marker in [`Types::ids`]: not converted yet.
const NONE: u32 = u32::MAX;
/// Marker in [`Types::ids`]: being converted (a cycle when met again).
const BUSY: u32 = u32::MAX - 1;
/// Bound on nested type conversions (pointer to array of pointer ...).
const MAX_DEPTH: u32 = 200;
/// Bound on `LF_INDEX` continuations followed for one field list (each
/// list is visited once, so cycles end).
const MAX_CONTINUATIONS: usize = 4096;

/// The records of a type stream, indexed by `type index - minimum index`.
#[derive(Debug)]
pub(crate) struct TypeStream<'a> {
    min: u32,
    /// (leaf kind, body after the kind).
    records: Vec<(u16, &'a [u8])>,
    /// Records the header announces but the stream does not hold.
    pub(crate) missing: usize,
}

impl<'a> TypeStream<'a> {
    /// Splits a TPI stream into records. Errors are one-line descriptions.
    pub(crate) fn parse(data: &'a [u8], warnings: &mut Vec<String>) -> Result<Self, String> {
        let mut h = Leaf::new(data);
        let bad = || "the type stream (TPI) header is truncated".to_string();
        let _version = h.u32().ok_or_else(bad)?;
        let header_size = h.u32().ok_or_else(bad)?;
        let min = h.u32().ok_or_else(bad)?;
        let max = h.u32().ok_or_else(bad)?;
        let _record_bytes = h.u32().ok_or_else(bad)?;
        if !(56..=1024).contains(&header_size) || header_size as usize > data.len() {
            return Err(format!(
                "the type stream (TPI) header size {header_size} is invalid"
            ));
        }
        if min < FIRST_INDEX || max < min {
            return Err(format!(
                "the type stream (TPI) index range 0x{min:x}..0x{max:x} is invalid"
            ));
        }
        let expected = (max - min) as usize;
        let mut body = Leaf::new(&data[header_size as usize..]);
        // Each record takes at least 4 bytes, which bounds the reservation.
        let mut records = Vec::with_capacity(expected.min(body.remaining() / 4));
        while body.remaining() > 0 && records.len() < expected {
            let Some(len) = body.u16() else { break };
            let Some(rec) = body.take(usize::from(len)) else {
                warnings.push(format!(
                    "type stream truncated in record 0x{:x}; later types are missing",
                    u64::from(min) + records.len() as u64
                ));
                break;
            };
            if rec.len() < 2 {
                warnings.push(format!(
                    "type record 0x{:x} is too short; later types are missing",
                    u64::from(min) + records.len() as u64
                ));
                break;
            }
            records.push((u16::from_le_bytes([rec[0], rec[1]]), &rec[2..]));
        }
        if records.len() < expected {
            warnings.push(format!(
                "the type stream announces {expected} records but holds {}",
                records.len()
            ));
        }
        let missing = expected.saturating_sub(records.len());
        Ok(TypeStream {
            min,
            records,
            missing,
        })
    }

    /// Number of records.
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    fn get(&self, ti: u32) -> Option<(u16, &'a [u8])> {
        let i = ti.checked_sub(self.min)? as usize;
        self.records.get(i).copied()
    }

    /// The size of the first `LF_POINTER` that records one (4 or 8), to
    /// guess the pointer size when the machine type is unknown.
    pub(crate) fn guess_pointer_size(&self) -> Option<u64> {
        self.records
            .iter()
            .filter(|(k, _)| *k == leaf::LF_POINTER)
            .find_map(|(_, body)| {
                let mut l = Leaf::new(body);
                l.u32()?;
                let size = (l.u32()? >> 13) & 0x3f;
                matches!(size, 4 | 8).then_some(u64::from(size))
            })
    }
}

/// Whether a compiler-generated name marks an anonymous type:
/// `<unnamed-tag>`, `X::<unnamed-tag>`, `<unnamed-type-x>`,
/// `<unnamed-enum-A>`, `<anonymous-tag>`, `__unnamed`.
pub(crate) fn is_anonymous_name(name: &str) -> bool {
    let b = name.as_bytes();
    // The last `::`-separated component (scan from the end: cheap, and
    // the markers never contain "::").
    let mut start = 0;
    let mut i = b.len();
    while i >= 2 {
        if b[i - 1] == b':' && b[i - 2] == b':' {
            start = i;
            break;
        }
        i -= 1;
    }
    let last = &b[start..];
    b.is_empty()
        || last.starts_with(b"<unnamed-")
        || last.starts_with(b"<anonymous-")
        || last.starts_with(b"__unnamed")
}

/// An enumerator's value as the enum's underlying integer: clang writes
/// negative values of signed enums as large unsigned numerics, MSVC as
/// signed ones; both become the same number here.
fn normalize(value: i128, size: u64, signed: bool) -> i128 {
    if size == 0 || size >= 16 {
        return value;
    }
    let bits = size * 8;
    let v = value & ((1i128 << bits) - 1);
    if signed && (v >> (bits - 1)) & 1 == 1 {
        v - (1i128 << bits)
    } else {
        v
    }
}

/// A name as text (PDB names are UTF-8 in practice; others are converted
/// lossily).
pub(crate) fn text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// The name maps hash with FxHash (keys come from the file, but a
/// collision-heavy file only slows the reader down).
type FxMap<K, V> = rustc_hash::FxHashMap<K, V>;

/// Rekall's name, size and signedness of a direct primitive type
/// (the low byte of a primitive type index), for Windows' LLP64 model.
/// `None` for `void`/no type and unknown kinds.
pub(crate) fn primitive(kind: u32) -> Option<(&'static str, u64, bool)> {
    Some(match kind {
        0x08 => ("long", 4, true),                       // T_HRESULT
        0x10 => ("char", 1, true),                       // T_CHAR
        0x20 => ("unsigned char", 1, false),             // T_UCHAR
        0x70 => ("char", 1, true),                       // T_RCHAR
        0x71 => ("wchar_t", 2, false),                   // T_WCHAR
        0x7a => ("char16_t", 2, false),                  // T_CHAR16
        0x7b => ("char32_t", 4, false),                  // T_CHAR32
        0x7c => ("char8_t", 1, false),                   // T_CHAR8
        0x68 => ("signed char", 1, true),                // T_INT1
        0x69 => ("unsigned char", 1, false),             // T_UINT1
        0x11 => ("short", 2, true),                      // T_SHORT
        0x21 => ("unsigned short", 2, false),            // T_USHORT
        0x72 => ("short", 2, true),                      // T_INT2
        0x73 => ("unsigned short", 2, false),            // T_UINT2
        0x12 => ("long", 4, true),                       // T_LONG
        0x22 => ("unsigned long", 4, false),             // T_ULONG
        0x74 => ("int", 4, true),                        // T_INT4
        0x75 => ("unsigned int", 4, false),              // T_UINT4
        0x13 => ("long long", 8, true),                  // T_QUAD
        0x23 => ("unsigned long long", 8, false),        // T_UQUAD
        0x76 => ("long long", 8, true),                  // T_INT8
        0x77 => ("unsigned long long", 8, false),        // T_UINT8
        0x14 | 0x78 => ("__int128", 16, true),           // T_OCT, T_INT16
        0x24 | 0x79 => ("unsigned __int128", 16, false), // T_UOCT, T_UINT16
        0x46 => ("half", 2, true),                       // T_REAL16
        0x40 | 0x45 => ("float", 4, true),               // T_REAL32, T_REAL32PP
        0x44 => ("__real48", 6, true),                   // T_REAL48
        0x41 => ("double", 8, true),                     // T_REAL64
        0x42 => ("long double", 10, true),               // T_REAL80
        0x43 => ("__float128", 16, true),                // T_REAL128
        0x50 => ("_Complex float", 8, true),             // T_CPLX32
        0x51 => ("_Complex double", 16, true),           // T_CPLX64
        0x52 => ("_Complex long double", 20, true),      // T_CPLX80
        0x53 => ("_Complex __float128", 32, true),       // T_CPLX128
        0x30 => ("bool", 1, false),                      // T_BOOL08
        0x31 => ("unsigned short", 2, false),            // T_BOOL16
        0x32 => ("unsigned int", 4, false),              // T_BOOL32
        0x33 => ("unsigned long long", 8, false),        // T_BOOL64
        _ => return None,
    })
}

/// Converts type records into the IR.
pub(crate) struct Types<'a, 'ir> {
    ts: &'a TypeStream<'a>,
    ir: &'ir mut Ir,
    ptr_size: u64,
    /// IR id per record (or [`NONE`] / [`BUSY`]).
    ids: Vec<u32>,
    primitives: FxMap<u32, TypeId>,
    function: Option<TypeId>,
    /// Definitions whose members remain to be read: (IR id, field list, name).
    pending: Vec<(TypeId, u32)>,
    /// Problems worth one line each (bounded; the rest are counted).
    warnings: Vec<String>,
    suppressed: usize,
}

impl std::fmt::Debug for Types<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Types")
            .field("records", &self.ts.len())
            .finish()
    }
}

impl<'a, 'ir> Types<'a, 'ir> {
    /// A converter writing into `ir`; `ptr_size` is the machine's pointer size.
    pub(crate) fn new(ts: &'a TypeStream<'a>, ir: &'ir mut Ir, ptr_size: u64) -> Self {
        Types {
            ts,
            ir,
            ptr_size,
            ids: vec![NONE; ts.len()],
            primitives: FxMap::default(),
            function: None,
            pending: Vec::new(),
            warnings: Vec::new(),
            suppressed: 0,
        }
    }

    fn warn(&mut self, msg: String) {
        if self.warnings.len() < 50 {
            self.warnings.push(msg);
        } else {
            self.suppressed += 1;
        }
    }

    /// Converts every record and enum (with its members), then returns the
    /// warnings.
    pub(crate) fn convert_all(&mut self) {
        self.definitions();
        let pending = std::mem::take(&mut self.pending);
        for (id, fields) in pending {
            let members = self.members(fields, id);
            if let Some(Type::Record(r)) = self.ir.types.get_mut(id.index()) {
                r.members = members;
            }
        }
    }

    /// Moves the warnings into the IR.
    pub(crate) fn finish(mut self) {
        // Every type warning is a record (or part of one) that could not be
        // read: counted as dropped, the first ones named.
        let problems = self.warnings.len() + self.suppressed;
        if problems > 0 {
            self.ir.dropped += problems;
            for w in self.warnings.iter().take(3) {
                if self.ir.dropped_examples.len() < 5 {
                    self.ir.dropped_examples.push(w.clone());
                }
            }
        }
        if self.suppressed > 0 {
            self.warnings
                .push(format!("{} more type warnings not shown", self.suppressed));
        }
        self.ir.warnings.append(&mut self.warnings);
    }

    /// Step 1: IR ids for every definition; step 2: forward references
    /// point at the matching definition (same unique name, else same name),
    /// or become declarations.
    fn definitions(&mut self) {
        let ts = self.ts;
        // Sized for the records and enums (a few thousand of a PDB's tens of
        // thousands of records): no rehashing, and no table far larger than
        // needed to allocate and fault in.
        let n = ts
            .records
            .iter()
            .filter(|(kind, _)| leaf::is_record(*kind) || leaf::is_enum(*kind))
            .count();
        self.ir.types.reserve(ts.records.len());
        let mut by_unique: FxMap<(bool, &[u8]), u32> =
            FxMap::with_capacity_and_hasher(n, Default::default());
        let mut by_name: FxMap<(bool, &[u8]), u32> =
            FxMap::with_capacity_and_hasher(n, Default::default());
        let mut forward: Vec<usize> = Vec::new();
        for (i, &(kind, body)) in ts.records.iter().enumerate() {
            let ti = ts.min + i as u32;
            let (is_enum, name, unique) = if leaf::is_record(kind) {
                let Some(h) = leaf::record_header(kind, body) else {
                    self.warn(format!("type 0x{ti:x}: malformed record header"));
                    continue;
                };
                if h.forward() {
                    forward.push(i);
                    continue;
                }
                let id = self.ir.push(Type::Record(Record {
                    kind: record_kind(&h),
                    name: None,
                    size: h.size,
                    members: Vec::new(),
                    declaration: false,
                    origin: u64::from(ti),
                }));
                self.ids[i] = id.0;
                if h.fields != 0 {
                    self.pending.push((id, h.fields));
                }
                (false, h.name, h.unique_name)
            } else if leaf::is_enum(kind) {
                let Some(h) = leaf::enum_header(kind, body) else {
                    self.warn(format!("type 0x{ti:x}: malformed enum header"));
                    continue;
                };
                if h.forward() {
                    forward.push(i);
                    continue;
                }
                let e = self.enumeration(ti, &h, true);
                self.ids[i] = self.ir.push(Type::Enum(e)).0;
                (true, h.name, h.unique_name)
            } else {
                continue;
            };
            let id = self.ids[i];
            if let Some(u) = unique {
                by_unique.entry((is_enum, u)).or_insert(id);
            }
            let text_name = text(name);
            if !is_anonymous_name(&text_name) {
                by_name.entry((is_enum, name)).or_insert(id);
                if let Some(Type::Record(r)) = self.ir.types.get_mut(id as usize) {
                    r.name = Some(text_name);
                }
            }
        }
        for i in forward {
            let (kind, body) = ts.records[i];
            let ti = ts.min + i as u32;
            if leaf::is_record(kind) {
                let Some(h) = leaf::record_header(kind, body) else {
                    continue;
                };
                let found = h
                    .unique_name
                    .and_then(|u| by_unique.get(&(false, u)))
                    .or_else(|| by_name.get(&(false, h.name)));
                self.ids[i] = match found {
                    Some(&id) => id,
                    None => {
                        let name = text(h.name);
                        self.ir
                            .push(Type::Record(Record {
                                kind: record_kind(&h),
                                name: (!is_anonymous_name(&name)).then_some(name),
                                size: 0,
                                members: Vec::new(),
                                declaration: true,
                                origin: u64::from(ti),
                            }))
                            .0
                    }
                };
            } else {
                let Some(h) = leaf::enum_header(kind, body) else {
                    continue;
                };
                let found = h
                    .unique_name
                    .and_then(|u| by_unique.get(&(true, u)))
                    .or_else(|| by_name.get(&(true, h.name)));
                self.ids[i] = match found {
                    Some(&id) => id,
                    None => {
                        let e = self.enumeration(ti, &h, false);
                        self.ir.push(Type::Enum(e)).0
                    }
                };
            }
        }
    }

    fn enumeration(&mut self, ti: u32, h: &leaf::EnumHeader<'_>, values: bool) -> Enum {
        let (size, signed) = match primitive(h.underlying & 0xff) {
            Some((_, size, signed)) if h.underlying < FIRST_INDEX && h.underlying >> 8 == 0 => {
                (size, signed)
            }
            _ => {
                self.warn(format!(
                    "enum 0x{ti:x}: unusual underlying type 0x{:x}; assuming int",
                    h.underlying
                ));
                (4, true)
            }
        };
        let name = text(h.name);
        let mut e = Enum {
            name: (!is_anonymous_name(&name)).then_some(name),
            size,
            signed,
            values: Vec::new(),
            origin: u64::from(ti),
        };
        if values && h.fields != 0 {
            let mut fields = h.fields;
            let mut seen: Vec<u32> = Vec::new();
            loop {
                let Some((leaf::LF_FIELDLIST, body)) = self.ts.get(fields) else {
                    self.warn(format!("enum 0x{ti:x}: field list 0x{fields:x} is missing"));
                    break;
                };
                let mut it = FieldIter::new(body);
                let mut next = None;
                for entry in &mut it {
                    match entry {
                        FieldEntry::Enumerate { value, name } => {
                            e.values.push((text(name), normalize(value, size, signed)))
                        }
                        FieldEntry::Continue(c) => next = Some(c),
                        _ => {}
                    }
                }
                if let Some(k) = it.failed {
                    self.warn(format!(
                        "enum 0x{ti:x}: undecodable entry (leaf 0x{k:04x}); rest skipped"
                    ));
                }
                seen.push(fields);
                match next {
                    Some(c) if seen.len() < MAX_CONTINUATIONS && !seen.contains(&c) => fields = c,
                    _ => break,
                }
            }
        }
        e
    }

    /// The data members of a record (following `LF_INDEX` continuations).
    fn members(&mut self, mut fields: u32, owner: TypeId) -> Vec<Member> {
        let mut out = Vec::new();
        let mut seen: Vec<u32> = Vec::new();
        let origin = match self.ir.types.get(owner.index()) {
            Some(Type::Record(r)) => r.origin,
            _ => 0,
        };
        loop {
            let Some((leaf::LF_FIELDLIST, body)) = self.ts.get(fields) else {
                self.warn(format!(
                    "type 0x{origin:x}: field list 0x{fields:x} is missing"
                ));
                break;
            };
            let mut it = FieldIter::new(body);
            let mut next = None;
            for entry in &mut it {
                match entry {
                    FieldEntry::Member { ty, offset, name } => {
                        let Ok(offset) = u64::try_from(offset) else {
                            self.warn(format!(
                                "type 0x{origin:x}: member {} has negative offset {offset}; dropped",
                                String::from_utf8_lossy(name)
                            ));
                            continue;
                        };
                        let name = (!name.is_empty()).then(|| text(name));
                        let (ty, bitfield) = self.member_type(ty);
                        out.push(Member {
                            name,
                            offset,
                            ty,
                            bitfield,
                        });
                    }
                    FieldEntry::Base { ty, offset } => {
                        let Ok(offset) = u64::try_from(offset) else {
                            continue;
                        };
                        let id = self.ty(ty, 0);
                        let base = match self.ir.types.get(id.index()) {
                            Some(Type::Record(r)) => r.name.clone(),
                            _ => None,
                        }
                        .unwrap_or_else(|| format!("0x{ty:x}"));
                        out.push(Member {
                            name: Some(format!("__base_{base}")),
                            offset,
                            ty: id,
                            bitfield: None,
                        });
                    }
                    FieldEntry::Continue(c) => next = Some(c),
                    FieldEntry::Enumerate { .. } | FieldEntry::Other => {}
                }
            }
            if let Some(k) = it.failed {
                self.warn(format!(
                    "type 0x{origin:x}: undecodable field list entry (leaf 0x{k:04x}); later members are missing"
                ));
            }
            seen.push(fields);
            match next {
                Some(c) if seen.len() < MAX_CONTINUATIONS && !seen.contains(&c) => fields = c,
                _ => break,
            }
        }
        out
    }

    /// A member's type; an `LF_BITFIELD` becomes its storage type plus the
    /// bit position and length.
    fn member_type(&mut self, ti: u32) -> (TypeId, Option<BitField>) {
        if let Some((leaf::LF_BITFIELD, body)) = self.ts.get(ti) {
            let mut l = Leaf::new(body);
            if let (Some(under), Some(length), Some(position)) = (l.u32(), l.u8(), l.u8()) {
                let ty = self.ty(under, 0);
                return (
                    ty,
                    Some(BitField {
                        bit_offset: u32::from(position),
                        bit_size: u32::from(length),
                    }),
                );
            }
        }
        (self.ty(ti, 0), None)
    }

    fn unknown(&mut self, what: String) -> TypeId {
        self.ir.push(Type::Unknown { what, size: None })
    }

    /// The IR type for a type index (memoised).
    pub(crate) fn ty(&mut self, ti: u32, depth: u32) -> TypeId {
        if ti < FIRST_INDEX {
            return self.primitive_type(ti);
        }
        let Some(i) = ti
            .checked_sub(self.ts.min)
            .map(|i| i as usize)
            .filter(|&i| i < self.ids.len())
        else {
            self.warn(format!("type index 0x{ti:x} is out of range"));
            return self.unknown(format!("type 0x{ti:x}"));
        };
        match self.ids[i] {
            NONE => {}
            BUSY => {
                self.warn(format!("type 0x{ti:x} refers to itself"));
                return self.unknown(format!("type 0x{ti:x}"));
            }
            id => return TypeId(id),
        }
        if depth > MAX_DEPTH {
            self.warn(format!("type 0x{ti:x} is nested too deeply"));
            return self.unknown(format!("type 0x{ti:x}"));
        }
        self.ids[i] = BUSY;
        let (kind, body) = self.ts.records[i];
        let id = self.convert(ti, kind, body, depth);
        self.ids[i] = id.0;
        id
    }

    fn convert(&mut self, ti: u32, kind: u16, body: &[u8], depth: u32) -> TypeId {
        let mut l = Leaf::new(body);
        match kind {
            leaf::LF_MODIFIER => match l.u32() {
                Some(under) => {
                    let target = self.ty(under, depth + 1);
                    self.ir.push(Type::Qualified { target })
                }
                None => self.unknown(format!("malformed LF_MODIFIER 0x{ti:x}")),
            },
            leaf::LF_POINTER => match (l.u32(), l.u32()) {
                (Some(under), Some(attr)) => {
                    let size = match (attr >> 13) & 0x3f {
                        0 => match attr & 0x1f {
                            0x0a => 4,
                            0x0c => 8,
                            _ => self.ptr_size,
                        },
                        n => u64::from(n),
                    };
                    let target = self.ty(under, depth + 1);
                    self.ir.push(Type::Pointer { target, size })
                }
                _ => self.unknown(format!("malformed LF_POINTER 0x{ti:x}")),
            },
            leaf::LF_ARRAY | leaf::LF_ARRAY_ST | leaf::LF_STRIDED_ARRAY => {
                let element = l.u32();
                let _index = l.u32();
                if kind == leaf::LF_STRIDED_ARRAY {
                    l.u32();
                }
                match (element, l.unsigned()) {
                    (Some(element), Some(bytes)) => {
                        let element = self.ty(element, depth + 1);
                        let count = match self.ir.size_of(element) {
                            Some(0) | None => {
                                if bytes != 0 {
                                    self.warn(format!(
                                        "array 0x{ti:x}: element size unknown; count set to 0"
                                    ));
                                }
                                0
                            }
                            Some(esize) => {
                                if bytes % esize != 0 {
                                    self.warn(format!(
                                        "array 0x{ti:x}: {bytes} bytes is not a multiple of the element size {esize}"
                                    ));
                                }
                                bytes / esize
                            }
                        };
                        self.ir.push(Type::Array { element, count })
                    }
                    _ => self.unknown(format!("malformed LF_ARRAY 0x{ti:x}")),
                }
            }
            leaf::LF_PROCEDURE | leaf::LF_MFUNCTION => self.function(),
            leaf::LF_ALIAS | leaf::LF_ALIAS_ST => match (l.u32(), l.name(kind)) {
                (Some(under), Some(name)) => {
                    let target = self.ty(under, depth + 1);
                    self.ir.push(Type::Typedef {
                        name: text(name),
                        target,
                    })
                }
                _ => self.unknown(format!("malformed LF_ALIAS 0x{ti:x}")),
            },
            leaf::LF_BITFIELD => match l.u32() {
                Some(under) => self.ty(under, depth + 1),
                None => self.unknown(format!("malformed LF_BITFIELD 0x{ti:x}")),
            },
            _ => self.unknown(format!("leaf 0x{kind:04x}")),
        }
    }

    fn function(&mut self) -> TypeId {
        match self.function {
            Some(id) => id,
            None => {
                let id = self.ir.push(Type::Function);
                self.function = Some(id);
                id
            }
        }
    }

    /// A primitive type index: the low byte names the type, bits 8..12 the
    /// pointer mode (`T_PVOID`, `T_32PUCHAR`, `T_64PINT4`...).
    fn primitive_type(&mut self, ti: u32) -> TypeId {
        if let Some(&id) = self.primitives.get(&ti) {
            return id;
        }
        let base = ti & 0xff;
        let id = match (ti >> 8) & 0xf {
            0 => match base {
                0x00 | 0x03 => self.ir.push(Type::Void),
                _ => match primitive(base) {
                    Some((name, size, signed)) => self.ir.push(Type::Base {
                        name: name.to_string(),
                        size,
                        signed,
                    }),
                    None => self.unknown(format!("primitive 0x{ti:04x}")),
                },
            },
            mode => {
                let size = match mode {
                    // 16-bit modes do not occur in Win32/Win64 code; clang
                    // and MSVC use T_PVOID (0x0103) for std::nullptr_t.
                    1..=3 => self.ptr_size,
                    4 => 4,
                    5 => 6,
                    6 => 8,
                    7 => 16,
                    _ => 0,
                };
                if size == 0 {
                    self.unknown(format!("primitive 0x{ti:04x}"))
                } else {
                    let target = self.primitive_type(base);
                    self.ir.push(Type::Pointer { target, size })
                }
            }
        };
        self.primitives.insert(ti, id);
        id
    }

    /// Records a typedef (`S_UDT`) when it names an anonymous struct, union
    /// or enum, so the emitter can name that type after it.
    pub(crate) fn typedef(&mut self, name: &[u8], ti: u32) {
        if ti < FIRST_INDEX {
            return;
        }
        let Some(i) = ti.checked_sub(self.ts.min).map(|i| i as usize) else {
            return;
        };
        let Some(&id) = self.ids.get(i) else { return };
        if id == NONE || id == BUSY {
            return;
        }
        let anonymous = match self.ir.types.get(id as usize) {
            Some(Type::Record(r)) => r.name.is_none() && !r.declaration,
            Some(Type::Enum(e)) => e.name.is_none(),
            _ => false,
        };
        if anonymous {
            self.ir.push(Type::Typedef {
                name: text(name),
                target: TypeId(id),
            });
        }
    }
}

fn record_kind(h: &leaf::RecordHeader<'_>) -> RecordKind {
    if h.is_union() {
        RecordKind::Union
    } else if h.is_class() {
        RecordKind::Class
    } else {
        RecordKind::Struct
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_names() {
        for n in [
            "<unnamed-tag>",
            "X::<unnamed-tag>",
            "<unnamed-type-u>",
            "<unnamed-enum-A>",
            "__unnamed",
            "",
        ] {
            assert!(is_anonymous_name(n), "{n}");
        }
        for n in ["_EPROCESS", "std::vector<int>", "X::Y", "<lambda_1>"] {
            assert!(!is_anonymous_name(n), "{n}");
        }
    }

    #[test]
    fn enumerator_values() {
        assert_eq!(normalize(4_294_967_291, 4, true), -5);
        assert_eq!(normalize(-5, 4, true), -5);
        assert_eq!(normalize(-1, 8, false), i128::from(u64::MAX));
        assert_eq!(
            normalize(0xffff_ffff_0000_0000, 8, false),
            0xffff_ffff_0000_0000
        );
        assert_eq!(
            normalize(0x8000_0000_0000_0000, 8, true),
            i128::from(i64::MIN)
        );
        assert_eq!(normalize(7, 1, true), 7);
    }

    #[test]
    fn primitive_names() {
        assert_eq!(primitive(0x74), Some(("int", 4, true)));
        assert_eq!(primitive(0x12), Some(("long", 4, true)));
        assert_eq!(primitive(0x22), Some(("unsigned long", 4, false)));
        assert_eq!(primitive(0x71), Some(("wchar_t", 2, false)));
        assert_eq!(primitive(0x30), Some(("bool", 1, false)));
        assert_eq!(primitive(0x03), None);
    }

    /// A TPI stream from record bodies (leaf kind included), indices from 0x1000.
    fn stream(records: &[Vec<u8>]) -> Vec<u8> {
        let mut data = vec![0u8; 56];
        data[4..8].copy_from_slice(&56u32.to_le_bytes());
        data[8..12].copy_from_slice(&0x1000u32.to_le_bytes());
        data[12..16].copy_from_slice(&(0x1000 + records.len() as u32).to_le_bytes());
        for r in records {
            data.extend((r.len() as u16).to_le_bytes());
            data.extend(r);
        }
        data
    }

    fn le16(v: u16) -> [u8; 2] {
        v.to_le_bytes()
    }

    fn member(ty: u32, offset: u16, name: &str) -> Vec<u8> {
        let mut m = le16(leaf::LF_MEMBER).to_vec();
        m.extend(le16(3));
        m.extend(ty.to_le_bytes());
        m.extend(le16(offset));
        m.extend(name.as_bytes());
        m.push(0);
        m
    }

    fn fieldlist(entries: &[Vec<u8>]) -> Vec<u8> {
        let mut f = le16(leaf::LF_FIELDLIST).to_vec();
        for e in entries {
            f.extend(e);
        }
        f
    }

    fn index(ti: u32) -> Vec<u8> {
        let mut v = le16(0x1404).to_vec();
        v.extend(le16(0));
        v.extend(ti.to_le_bytes());
        v
    }

    fn structure(fields: u32, size: u16, name: &str) -> Vec<u8> {
        let mut v = le16(leaf::LF_STRUCTURE).to_vec();
        v.extend(le16(2));
        v.extend(le16(0));
        v.extend(fields.to_le_bytes());
        v.extend(0u32.to_le_bytes());
        v.extend(0u32.to_le_bytes());
        v.extend(le16(size));
        v.extend(name.as_bytes());
        v.push(0);
        v
    }

    fn convert(records: &[Vec<u8>]) -> Ir {
        let data = stream(records);
        let mut ir = Ir::default();
        let mut w = Vec::new();
        let ts = TypeStream::parse(&data, &mut w).unwrap();
        let mut t = Types::new(&ts, &mut ir, 8);
        t.convert_all();
        t.finish();
        ir
    }

    fn record<'a>(ir: &'a Ir, name: &str) -> &'a Record {
        ir.types
            .iter()
            .find_map(|t| match t {
                Type::Record(r) if r.name.as_deref() == Some(name) && !r.declaration => Some(r),
                _ => None,
            })
            .unwrap()
    }

    #[test]
    fn continuation_cycles_end() {
        let ir = convert(&[
            fieldlist(&[member(0x74, 0, "a"), index(0x1001)]),
            fieldlist(&[member(0x74, 4, "b"), index(0x1000)]),
            structure(0x1000, 8, "S"),
        ]);
        let names: Vec<_> = record(&ir, "S")
            .members
            .iter()
            .map(|m| m.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn type_cycles_end() {
        // 0x1000: pointer to 0x1001; 0x1001: const 0x1000.
        let mut ptr = le16(leaf::LF_POINTER).to_vec();
        ptr.extend(0x1001u32.to_le_bytes());
        ptr.extend((0x0cu32 | (8 << 13)).to_le_bytes());
        let mut modifier = le16(leaf::LF_MODIFIER).to_vec();
        modifier.extend(0x1000u32.to_le_bytes());
        modifier.extend(le16(1));
        let ir = convert(&[
            ptr,
            modifier,
            fieldlist(&[member(0x1000, 0, "p")]),
            structure(0x1002, 8, "C"),
        ]);
        let r = record(&ir, "C");
        assert_eq!(r.members.len(), 1);
        assert!(
            ir.warnings.iter().any(|w| w.contains("refers to itself")),
            "{:?}",
            ir.warnings
        );
    }

    #[test]
    fn forward_references_resolve_to_definitions() {
        // 0x1000: forward ref to S; 0x1001: pointer to it; 0x1002: array
        // of 3 S (24 bytes); the definition of S comes last.
        let mut fwd = structure(0, 0, "S");
        fwd[4] = 0x80; // CV_prop_t fwdref
        let mut array = le16(leaf::LF_ARRAY).to_vec();
        array.extend(0x1000u32.to_le_bytes());
        array.extend(0x23u32.to_le_bytes());
        array.extend(le16(24));
        array.push(0);
        let ir = convert(&[
            fwd,
            array,
            fieldlist(&[member(0x1001, 0, "three")]),
            structure(0x1002, 24, "Holder"),
            fieldlist(&[member(0x74, 0, "x"), member(0x74, 4, "y")]),
            structure(0x1004, 8, "S"),
        ]);
        let holder = record(&ir, "Holder");
        match ir.get(holder.members[0].ty) {
            Type::Array { element, count: 3 } => {
                assert!(
                    matches!(ir.get(*element), Type::Record(r) if r.name.as_deref() == Some("S") && !r.declaration)
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn primitive_pointers() {
        // An empty-but-valid stream: header only.
        let mut data = vec![0u8; 56];
        data[4..8].copy_from_slice(&56u32.to_le_bytes());
        data[8..12].copy_from_slice(&0x1000u32.to_le_bytes());
        data[12..16].copy_from_slice(&0x1000u32.to_le_bytes());
        let mut w = Vec::new();
        let ts = TypeStream::parse(&data, &mut w).unwrap();
        let mut ir = Ir::default();
        let mut t = Types::new(&ts, &mut ir, 8);
        let p = t.ty(0x0603, 0); // T_64PVOID
        let q = t.ty(0x0420, 0); // T_32PUCHAR
        let n = t.ty(0x0103, 0); // T_PVOID (nullptr_t)
        drop(t);
        assert!(
            matches!(ir.get(p), Type::Pointer { size: 8, target } if *ir.get(*target) == Type::Void)
        );
        assert!(matches!(ir.get(q), Type::Pointer { size: 4, .. }));
        assert!(matches!(ir.get(n), Type::Pointer { size: 8, .. }));
    }
}
