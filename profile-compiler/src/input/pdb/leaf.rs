//! A bounds-checked reader for CodeView type records (TPI "leaves").
//!
//! pdb2 gives us the MSF container, the streams, symbols and the address map;
//! the type records themselves are decoded here, because pdb2's field-list
//! parser recurses once per nested leaf without a bound and pre-allocates
//! vectors from counts found in the file, and its `Item` does not expose a
//! record's bytes. Every read here is checked: malformed records yield `None`,
//! never a panic.

// Leaf kinds (cvinfo.h). Only the ones the reader looks at.
pub(crate) const LF_MODIFIER: u16 = 0x1001;
pub(crate) const LF_POINTER: u16 = 0x1002;
pub(crate) const LF_ARRAY_ST: u16 = 0x1003;
pub(crate) const LF_CLASS_ST: u16 = 0x1004;
pub(crate) const LF_STRUCTURE_ST: u16 = 0x1005;
pub(crate) const LF_UNION_ST: u16 = 0x1006;
pub(crate) const LF_ENUM_ST: u16 = 0x1007;
pub(crate) const LF_PROCEDURE: u16 = 0x1008;
pub(crate) const LF_MFUNCTION: u16 = 0x1009;
pub(crate) const LF_ALIAS_ST: u16 = 0x1010;
pub(crate) const LF_FIELDLIST: u16 = 0x1203;
pub(crate) const LF_BITFIELD: u16 = 0x1205;
pub(crate) const LF_ARRAY: u16 = 0x1503;
pub(crate) const LF_CLASS: u16 = 0x1504;
pub(crate) const LF_STRUCTURE: u16 = 0x1505;
pub(crate) const LF_UNION: u16 = 0x1506;
pub(crate) const LF_ENUM: u16 = 0x1507;
pub(crate) const LF_ALIAS: u16 = 0x150a;
pub(crate) const LF_STRIDED_ARRAY: u16 = 0x1516;
pub(crate) const LF_INTERFACE: u16 = 0x1519;
pub(crate) const LF_CLASS2: u16 = 0x1608;
pub(crate) const LF_STRUCTURE2: u16 = 0x1609;
pub(crate) const LF_UNION2: u16 = 0x160a;
pub(crate) const LF_INTERFACE2: u16 = 0x160b;

// Field-list entries.
pub(crate) const LF_ENUMERATE_ST: u16 = 0x0403;
pub(crate) const LF_BCLASS: u16 = 0x1400;
pub(crate) const LF_VBCLASS: u16 = 0x1401;
pub(crate) const LF_IVBCLASS: u16 = 0x1402;
pub(crate) const LF_FRIENDFCN_ST: u16 = 0x1403;
pub(crate) const LF_INDEX: u16 = 0x1404;
pub(crate) const LF_MEMBER_ST: u16 = 0x1405;
pub(crate) const LF_STMEMBER_ST: u16 = 0x1406;
pub(crate) const LF_METHOD_ST: u16 = 0x1407;
pub(crate) const LF_NESTTYPE_ST: u16 = 0x1408;
pub(crate) const LF_VFUNCTAB: u16 = 0x1409;
pub(crate) const LF_FRIENDCLS: u16 = 0x140a;
pub(crate) const LF_ONEMETHOD_ST: u16 = 0x140b;
pub(crate) const LF_VFUNCOFF: u16 = 0x140c;
pub(crate) const LF_NESTTYPEEX_ST: u16 = 0x140d;
pub(crate) const LF_ENUMERATE: u16 = 0x1502;
pub(crate) const LF_FRIENDFCN: u16 = 0x150c;
pub(crate) const LF_MEMBER: u16 = 0x150d;
pub(crate) const LF_STMEMBER: u16 = 0x150e;
pub(crate) const LF_METHOD: u16 = 0x150f;
pub(crate) const LF_NESTTYPE: u16 = 0x1510;
pub(crate) const LF_ONEMETHOD: u16 = 0x1511;
pub(crate) const LF_NESTTYPEEX: u16 = 0x1512;
pub(crate) const LF_MEMBERMODIFY: u16 = 0x1513;
pub(crate) const LF_BINTERFACE: u16 = 0x151a;

/// Leaves up to this value spell names as length-prefixed ("ST") strings.
const LF_ST_MAX: u16 = 0x1500;

/// A cursor over one record's bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Leaf<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Leaf<'a> {
    /// A cursor at the start of `data`.
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Leaf { data, pos: 0 }
    }

    /// Bytes left.
    pub(crate) fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    /// Takes `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        let b = *self.data.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        let s = self.take(2)?;
        Some(u16::from_le_bytes([s[0], s[1]]))
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        let s = self.take(4)?;
        Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }

    fn u64(&mut self) -> Option<u64> {
        let s = self.take(8)?;
        let mut b = [0u8; 8];
        b.copy_from_slice(s);
        Some(u64::from_le_bytes(b))
    }

    fn u128(&mut self) -> Option<u128> {
        let s = self.take(16)?;
        let mut b = [0u8; 16];
        b.copy_from_slice(s);
        Some(u128::from_le_bytes(b))
    }

    /// A CodeView numeric leaf (signed or unsigned, up to 128 bits).
    /// Floating-point and string numerics are not integers: `None`.
    pub(crate) fn numeric(&mut self) -> Option<i128> {
        let leaf = self.u16()?;
        if leaf < 0x8000 {
            return Some(i128::from(leaf));
        }
        Some(match leaf {
            0x8000 => i128::from(self.u8()? as i8),
            0x8001 => i128::from(self.u16()? as i16),
            0x8002 => i128::from(self.u16()?),
            0x8003 => i128::from(self.u32()? as i32),
            0x8004 => i128::from(self.u32()?),
            0x8009 => i128::from(self.u64()? as i64),
            0x800a => i128::from(self.u64()?),
            0x8017 => self.u128()? as i128,
            // An unsigned 128-bit value above i128::MAX wraps; no real PDB has one.
            0x8018 => self.u128()? as i128,
            _ => return None,
        })
    }

    /// A non-negative numeric leaf that fits in u64.
    pub(crate) fn unsigned(&mut self) -> Option<u64> {
        u64::try_from(self.numeric()?).ok()
    }

    /// A name: NUL-terminated for modern leaves, length-prefixed for the
    /// old `_ST` ones (`kind` is the leaf of the record the name belongs to).
    pub(crate) fn name(&mut self, kind: u16) -> Option<&'a [u8]> {
        if kind < LF_ST_MAX {
            let n = self.u8()?;
            return self.take(usize::from(n));
        }
        let rest = self.data.get(self.pos..)?;
        let len = memchr::memchr(0, rest).unwrap_or(rest.len());
        let s = &rest[..len];
        self.pos += (len + 1).min(rest.len());
        Some(s)
    }

    /// Skips the alignment padding that follows a field-list entry
    /// (`LF_PAD0..LF_PAD15`: the low nibble counts the bytes to skip,
    /// this byte included).
    pub(crate) fn skip_padding(&mut self) {
        while let Some(&b) = self.data.get(self.pos) {
            if b < 0xf0 {
                break;
            }
            let n = usize::from(b & 0x0f).max(1);
            self.pos = self.pos.saturating_add(n).min(self.data.len());
        }
    }
}

/// Whether a leaf kind is a class, struct, interface or union record.
pub(crate) fn is_record(kind: u16) -> bool {
    matches!(
        kind,
        LF_CLASS
            | LF_STRUCTURE
            | LF_INTERFACE
            | LF_UNION
            | LF_CLASS_ST
            | LF_STRUCTURE_ST
            | LF_UNION_ST
            | LF_CLASS2
            | LF_STRUCTURE2
            | LF_UNION2
            | LF_INTERFACE2
    )
}

/// Whether a leaf kind is an enum record.
pub(crate) fn is_enum(kind: u16) -> bool {
    matches!(kind, LF_ENUM | LF_ENUM_ST)
}

/// The header of a class/struct/union record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordHeader<'a> {
    /// Leaf kind.
    pub(crate) kind: u16,
    /// `CV_prop_t` bits.
    pub(crate) properties: u16,
    /// Field list type index (0 for none).
    pub(crate) fields: u32,
    /// Size in bytes.
    pub(crate) size: u64,
    /// Name.
    pub(crate) name: &'a [u8],
    /// Decorated unique name, when present.
    pub(crate) unique_name: Option<&'a [u8]>,
}

impl RecordHeader<'_> {
    /// A forward reference (no definition here).
    pub(crate) fn forward(&self) -> bool {
        self.properties & 0x0080 != 0
    }

    /// A union.
    pub(crate) fn is_union(&self) -> bool {
        matches!(self.kind, LF_UNION | LF_UNION_ST | LF_UNION2)
    }

    /// A C++ class (not struct/interface).
    pub(crate) fn is_class(&self) -> bool {
        matches!(self.kind, LF_CLASS | LF_CLASS_ST | LF_CLASS2)
    }
}

fn unique_name<'a>(leaf: &mut Leaf<'a>, kind: u16, properties: u16) -> Option<&'a [u8]> {
    if properties & 0x0200 != 0 {
        leaf.name(kind)
    } else {
        None
    }
}

/// Parses a class/struct/union record body (after the leaf kind).
pub(crate) fn record_header<'a>(kind: u16, body: &'a [u8]) -> Option<RecordHeader<'a>> {
    let mut l = Leaf::new(body);
    let (properties, fields, size) = match kind {
        LF_CLASS | LF_STRUCTURE | LF_INTERFACE | LF_CLASS_ST | LF_STRUCTURE_ST => {
            let _count = l.u16()?;
            let properties = l.u16()?;
            let fields = l.u32()?;
            let _derived = l.u32()?;
            let _vshape = l.u32()?;
            (properties, fields, l.unsigned()?)
        }
        LF_UNION | LF_UNION_ST => {
            let _count = l.u16()?;
            let properties = l.u16()?;
            let fields = l.u32()?;
            (properties, fields, l.unsigned()?)
        }
        LF_CLASS2 | LF_STRUCTURE2 | LF_INTERFACE2 => {
            let properties = l.u32()? as u16;
            let fields = l.u32()?;
            let _derived = l.u32()?;
            let _vshape = l.u32()?;
            let _count = l.u16()?;
            (properties, fields, l.unsigned()?)
        }
        LF_UNION2 => {
            let properties = l.u32()? as u16;
            let fields = l.u32()?;
            let _count = l.u16()?;
            (properties, fields, l.unsigned()?)
        }
        _ => return None,
    };
    let name = l.name(kind)?;
    let unique_name = unique_name(&mut l, kind, properties);
    Some(RecordHeader {
        kind,
        properties,
        fields,
        size,
        name,
        unique_name,
    })
}

/// The header of an enum record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EnumHeader<'a> {
    /// `CV_prop_t` bits.
    pub(crate) properties: u16,
    /// Underlying integer type index.
    pub(crate) underlying: u32,
    /// Field list type index.
    pub(crate) fields: u32,
    /// Name.
    pub(crate) name: &'a [u8],
    /// Decorated unique name, when present.
    pub(crate) unique_name: Option<&'a [u8]>,
}

impl EnumHeader<'_> {
    /// A forward reference.
    pub(crate) fn forward(&self) -> bool {
        self.properties & 0x0080 != 0
    }
}

/// Parses an enum record body.
pub(crate) fn enum_header(kind: u16, body: &[u8]) -> Option<EnumHeader<'_>> {
    let mut l = Leaf::new(body);
    let _count = l.u16()?;
    let properties = l.u16()?;
    let underlying = l.u32()?;
    let fields = l.u32()?;
    let name = l.name(kind)?;
    let unique_name = unique_name(&mut l, kind, properties);
    Some(EnumHeader {
        properties,
        underlying,
        fields,
        name,
        unique_name,
    })
}

/// One entry of a field list, as far as the reader cares.
#[derive(Debug, Clone, Copy)]
pub(crate) enum FieldEntry<'a> {
    /// A data member (`LF_MEMBER`).
    Member {
        /// Member type index.
        ty: u32,
        /// Byte offset (may be negative in hostile input).
        offset: i128,
        /// Name.
        name: &'a [u8],
    },
    /// A direct, non-virtual base class (`LF_BCLASS`).
    Base {
        /// Base class type index.
        ty: u32,
        /// Byte offset of the base sub-object.
        offset: i128,
    },
    /// An enumerator.
    Enumerate {
        /// Value.
        value: i128,
        /// Name.
        name: &'a [u8],
    },
    /// Continuation in another field list (`LF_INDEX`).
    Continue(u32),
    /// Not a data member (methods, static members, nested types, vtable
    /// pointers, virtual bases, friends).
    Other,
}

/// Iterates over the entries of a field list body; stops (returning an
/// error kind) at the first entry it cannot decode.
#[derive(Debug)]
pub(crate) struct FieldIter<'a> {
    leaf: Leaf<'a>,
    /// The leaf kind that stopped iteration, when it was not understood.
    pub(crate) failed: Option<u16>,
}

impl<'a> FieldIter<'a> {
    /// Iterates over `body` (a field list without its leaf kind).
    pub(crate) fn new(body: &'a [u8]) -> Self {
        FieldIter {
            leaf: Leaf::new(body),
            failed: None,
        }
    }

    fn entry(&mut self, kind: u16) -> Option<FieldEntry<'a>> {
        let l = &mut self.leaf;
        Some(match kind {
            LF_MEMBER | LF_MEMBER_ST => {
                let _attr = l.u16()?;
                let ty = l.u32()?;
                let offset = l.numeric()?;
                let name = l.name(kind)?;
                FieldEntry::Member { ty, offset, name }
            }
            LF_BCLASS | LF_BINTERFACE => {
                let _attr = l.u16()?;
                let ty = l.u32()?;
                let offset = l.numeric()?;
                FieldEntry::Base { ty, offset }
            }
            LF_VBCLASS | LF_IVBCLASS => {
                let _attr = l.u16()?;
                let _ty = l.u32()?;
                let _vbptr = l.u32()?;
                l.numeric()?;
                l.numeric()?;
                FieldEntry::Other
            }
            LF_ENUMERATE | LF_ENUMERATE_ST => {
                let _attr = l.u16()?;
                let value = l.numeric()?;
                let name = l.name(kind)?;
                FieldEntry::Enumerate { value, name }
            }
            LF_INDEX => {
                let _pad = l.u16()?;
                FieldEntry::Continue(l.u32()?)
            }
            LF_STMEMBER | LF_STMEMBER_ST | LF_NESTTYPEEX | LF_NESTTYPEEX_ST | LF_MEMBERMODIFY => {
                let _attr = l.u16()?;
                let _ty = l.u32()?;
                l.name(kind)?;
                FieldEntry::Other
            }
            LF_NESTTYPE | LF_NESTTYPE_ST | LF_FRIENDFCN | LF_FRIENDFCN_ST => {
                let _pad = l.u16()?;
                let _ty = l.u32()?;
                l.name(kind)?;
                FieldEntry::Other
            }
            LF_METHOD | LF_METHOD_ST => {
                let _count = l.u16()?;
                let _list = l.u32()?;
                l.name(kind)?;
                FieldEntry::Other
            }
            LF_ONEMETHOD | LF_ONEMETHOD_ST => {
                let attr = l.u16()?;
                let _ty = l.u32()?;
                // Introducing virtual methods carry their vtable offset.
                if matches!((attr >> 2) & 7, 4 | 6) {
                    l.u32()?;
                }
                l.name(kind)?;
                FieldEntry::Other
            }
            LF_VFUNCTAB | LF_FRIENDCLS => {
                let _pad = l.u16()?;
                let _ty = l.u32()?;
                FieldEntry::Other
            }
            LF_VFUNCOFF => {
                let _pad = l.u16()?;
                let _ty = l.u32()?;
                l.u32()?;
                FieldEntry::Other
            }
            _ => return None,
        })
    }
}

impl<'a> Iterator for FieldIter<'a> {
    type Item = FieldEntry<'a>;

    fn next(&mut self) -> Option<FieldEntry<'a>> {
        if self.failed.is_some() {
            return None;
        }
        self.leaf.skip_padding();
        if self.leaf.remaining() == 0 {
            return None;
        }
        let kind = self.leaf.u16()?;
        match self.entry(kind) {
            Some(e) => {
                self.leaf.skip_padding();
                Some(e)
            }
            None => {
                self.failed = Some(kind);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numerics() {
        assert_eq!(Leaf::new(&[0x34, 0x12]).numeric(), Some(0x1234));
        assert_eq!(Leaf::new(&[0x00, 0x80, 0xff]).numeric(), Some(-1));
        assert_eq!(
            Leaf::new(&[0x03, 0x80, 0xfe, 0xff, 0xff, 0xff]).numeric(),
            Some(-2)
        );
        assert_eq!(
            Leaf::new(&[0x0a, 0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).numeric(),
            Some(i128::from(u64::MAX))
        );
        assert_eq!(Leaf::new(&[0x05, 0x80, 0, 0, 0, 0]).numeric(), None);
        assert_eq!(Leaf::new(&[0x04, 0x80, 1]).numeric(), None);
    }

    #[test]
    fn names_and_padding() {
        let mut l = Leaf::new(b"abc\0\xf2\xf1x");
        assert_eq!(l.name(LF_MEMBER), Some(&b"abc"[..]));
        l.skip_padding();
        assert_eq!(l.u8(), Some(b'x'));
        let mut l = Leaf::new(b"\x02ab");
        assert_eq!(l.name(LF_MEMBER_ST), Some(&b"ab"[..]));
        // A name without terminator ends at the record's end.
        let mut l = Leaf::new(b"abc");
        assert_eq!(l.name(LF_MEMBER), Some(&b"abc"[..]));
        assert_eq!(l.remaining(), 0);
    }

    #[test]
    fn truncated_field_list_stops() {
        // LF_MEMBER with its offset cut off.
        let body = [0x0d, 0x15, 0x03, 0x00, 0x74, 0x00, 0x00];
        let mut it = FieldIter::new(&body);
        assert!(it.next().is_none());
        assert_eq!(it.failed, Some(LF_MEMBER));
    }
}
