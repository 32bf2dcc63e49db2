//! Reading the types of one DWARF unit into a unit-local graph.
//!
//! Every type DIE becomes a [`Node`]; references are resolved to node
//! indices inside the unit. Each node also gets a structural key (a 128-bit
//! hash) so that the same type seen in thousands of compilation units is
//! merged into one IR type (`super::merge`). This part runs in parallel, one
//! unit per task; strings stay borrowed from the sections.

use std::borrow::Cow;

use gimli::constants as dw;
use gimli::{AttributeValue, EndianSlice, RunTimeEndian, UnitHeader};

use crate::ir::{BitField, RecordKind};

/// The gimli reader over a borrowed section.
pub(crate) type R<'a> = EndianSlice<'a, RunTimeEndian>;

/// Node index of `void` in every unit.
pub(crate) const VOID: u32 = 0;
/// Node index of "a reference this reader cannot follow" in every unit.
pub(crate) const UNRESOLVED: u32 = 1;

/// Raw reference value meaning "no DW_AT_type": void.
const RAW_VOID: u64 = u64::MAX;
/// Raw reference value meaning "a reference outside this unit's reach".
const RAW_UNRESOLVED: u64 = u64::MAX - 1;
/// Raw references at or above this value name a type signature
/// (`DW_FORM_ref_sig8`): `RAW_SIG + index into the unit's signature list`.
const RAW_SIG: u64 = 1 << 62;

/// Units of the k-th `.debug_types` section get DIE offsets from
/// `(k + 1) << TYPES_SHIFT`, so they never collide with `.debug_info`'s.
pub(crate) const TYPES_SHIFT: u32 = 44;

/// Recursion bound for walking type chains (hostile inputs may be cyclic).
const MAX_DEPTH: u32 = 128;

/// A unit-local type.
#[derive(Debug, Clone)]
pub(crate) enum Node<'a> {
    /// `void` (also `DW_TAG_unspecified_type`).
    Void,
    /// A reference the reader cannot follow (a type signature, garbage).
    Unresolved,
    /// A type DIE in another unit (`DW_FORM_ref_addr`, as LTO writes),
    /// resolved by the merger once every unit is read.
    External { offset: u64 },
    /// The type of a type unit (`DW_FORM_ref_sig8`, `DW_AT_signature`),
    /// resolved by the merger once every unit is read.
    Signature { sig: u64 },
    /// A base type.
    Base {
        name: &'a [u8],
        size: u64,
        signed: bool,
    },
    /// A pointer or reference.
    Pointer { target: u32, size: u64 },
    /// A struct, union or class.
    Record {
        kind: RecordKind,
        name: Option<&'a [u8]>,
        size: u64,
        declaration: bool,
        members: Vec<LMember<'a>>,
        origin: u64,
    },
    /// An enumeration.
    Enum {
        name: Option<&'a [u8]>,
        size: u64,
        signed: bool,
        values: Vec<(&'a [u8], i128)>,
        origin: u64,
    },
    /// A typedef.
    Typedef { name: &'a [u8], target: u32 },
    /// const / volatile / restrict / atomic.
    Qualified { target: u32 },
    /// One array dimension.
    Array { element: u32, count: u64 },
    /// A function (subroutine) type.
    Function,
    /// A type the reader does not model.
    Unknown {
        what: &'static str,
        size: Option<u64>,
    },
}

/// A data member of a unit-local record.
#[derive(Debug, Clone)]
pub(crate) struct LMember<'a> {
    pub name: Option<Cow<'a, [u8]>>,
    pub offset: u64,
    pub ty: u32,
    pub bitfield: Option<BitField>,
}

/// The types of one unit, ready to merge.
#[derive(Debug)]
pub(crate) struct LocalUnit<'a> {
    /// Nodes; index 0 is [`VOID`], 1 is [`UNRESOLVED`].
    pub nodes: Vec<Node<'a>>,
    /// Structural key of each node.
    pub keys: Vec<u128>,
    /// `.debug_info` offset of each node's DIE; 0 for nodes that are no DIE
    /// (extra array dimensions, external references).
    pub offsets: Vec<u64>,
    /// For a type unit: its signature and the node of its type.
    pub signature: Option<(u64, u32)>,
    /// The unit's global and file-level variables (definitions with a fixed
    /// address, and declarations), with the node of their type.
    pub variables: Vec<LocalVariable<'a>>,
    /// Problems worked around, counted by kind.
    pub notes: Notes,
}

/// A variable of a unit: name, address (definitions), node of its type.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LocalVariable<'a> {
    /// Its name.
    pub name: &'a [u8],
    /// Its address (`DW_OP_addr`), for a definition.
    pub address: Option<u64>,
    /// The node of its type.
    pub ty: u32,
}

/// A variable DIE as read (references still DIE offsets).
#[derive(Debug, Clone, Copy)]
struct RawVariable<'a> {
    offset: u64,
    name: Option<&'a [u8]>,
    ty: Option<u64>,
    address: Option<u64>,
    /// `DW_AT_specification`: the declaration this DIE defines.
    specification: Option<u64>,
}

/// Counts of problems worked around in one unit.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Notes {
    /// References that could not be resolved.
    pub unresolved_refs: usize,
    /// Member locations that were not constants.
    pub unparsed_locations: usize,
}

impl Notes {
    /// Adds `other` to `self`.
    pub fn add(&mut self, other: Notes) {
        self.unresolved_refs += other.unresolved_refs;
        self.unparsed_locations += other.unparsed_locations;
    }
}

/// The sections one unit reads strings and abbreviations from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub debug_abbrev: gimli::DebugAbbrev<R<'a>>,
    pub debug_str: &'a [u8],
    pub debug_line_str: &'a [u8],
    pub debug_str_offsets: &'a [u8],
    pub endian: RunTimeEndian,
}

// ---------------------------------------------------------------- raw parse

#[derive(Debug, Default)]
struct RawMember<'a> {
    name: Option<&'a [u8]>,
    ty: u64,
    location: Option<u64>,
    bit_size: Option<u64>,
    bit_offset: Option<i64>,
    data_bit_offset: Option<u64>,
    byte_size: Option<u64>,
    base_class: bool,
}

/// Enumerators as read: names and undecided-signedness values.
type RawEnumerators<'a> = Vec<(&'a [u8], RawConst)>;

#[derive(Debug)]
enum RawConst {
    Signed(i64),
    Unsigned(u64),
    /// A `DW_FORM_dataN` value of N bytes: its signedness is the enum's.
    Data(u64, u32),
}

#[derive(Debug)]
enum Raw<'a> {
    Void,
    Unresolved,
    Base {
        name: &'a [u8],
        size: u64,
        signed: bool,
    },
    Pointer {
        target: u64,
        size: u64,
    },
    Record {
        kind: RecordKind,
        name: Option<&'a [u8]>,
        size: u64,
        declaration: bool,
        members: Vec<RawMember<'a>>,
    },
    Enum {
        name: Option<&'a [u8]>,
        size: u64,
        underlying: u64,
        values: Vec<(&'a [u8], RawConst)>,
    },
    Typedef {
        name: &'a [u8],
        target: u64,
    },
    Qualified {
        target: u64,
    },
    Array {
        element: u64,
        dims: Vec<u64>,
    },
    Function,
    Unknown {
        what: &'static str,
        size: Option<u64>,
    },
}

#[derive(Debug, Clone, Copy)]
enum Parent {
    Record(usize),
    Enum(usize),
    Array(usize),
    Other,
}

/// Attributes of one DIE that the reader uses.
#[derive(Default)]
struct Attrs<'a> {
    name: Option<&'a [u8]>,
    ty: Option<u64>,
    byte_size: Option<u64>,
    bit_size: Option<u64>,
    bit_offset: Option<i64>,
    data_bit_offset: Option<u64>,
    location: Option<Location>,
    encoding: Option<u8>,
    declaration: bool,
    external: bool,
    count: Option<Option<u64>>,
    upper_bound: Option<Option<i128>>,
    lower_bound: Option<i128>,
    const_value: Option<RawConst>,
    ty_sig: Option<u64>,
    signature: Option<u64>,
    address: Option<u64>,
    specification: Option<u64>,
}

/// Reads the types of the unit with `header`. DIE offsets (origins, and
/// the keys of cross-unit references) are `section_base` plus the offset in
/// the unit's section: 0 for `.debug_info`, see [`TYPES_SHIFT`] for
/// `.debug_types`.
pub(crate) fn read_unit<'a>(
    ctx: &Ctx<'a>,
    header: &UnitHeader<R<'a>>,
    section_base: u64,
) -> gimli::Result<LocalUnit<'a>> {
    let unit_start = section_base.saturating_add(header.offset().0 as u64);
    let mut sigs: Vec<u64> = Vec::new();
    let abbrevs = ctx
        .debug_abbrev
        .abbreviations(header.debug_abbrev_offset())?;
    let encoding = header.encoding();
    let mut entries = header.entries_raw(&abbrevs, None)?;
    let mut raws: Vec<Raw<'a>> = vec![Raw::Void, Raw::Unresolved];
    let mut origins: Vec<u64> = vec![0, 0];
    // Sorted DIE offsets of type nodes and their node indices.
    let mut die_offsets: Vec<u64> = Vec::new();
    let mut die_nodes: Vec<u32> = Vec::new();
    let mut stack: Vec<Parent> = Vec::new();
    let mut str_offsets_base: u64 = 0;
    let mut notes = Notes::default();
    let mut variables: Vec<RawVariable<'a>> = Vec::new();
    let mut first = true;
    while !entries.is_empty() {
        let depth = entries.next_depth();
        let offset = unit_start.saturating_add(entries.next_offset().0 as u64);
        let Some(abbrev) = entries.read_abbreviation()? else {
            continue;
        };
        let depth = usize::try_from(depth).unwrap_or(0);
        stack.truncate(depth);
        let parent = stack.last().copied().unwrap_or(Parent::Other);
        let tag = abbrev.tag();
        if first {
            // The unit DIE: only its string-offsets base matters here.
            first = false;
            for spec in abbrev.attributes() {
                let attr = entries.read_attribute(*spec)?;
                if let AttributeValue::DebugStrOffsetsBase(base) = attr.value() {
                    str_offsets_base = base.0 as u64;
                }
            }
            if abbrev.has_children() {
                stack.push(Parent::Other);
            }
            continue;
        }
        if tag == dw::DW_TAG_variable && depth == 1 {
            let mut a = Attrs::default();
            for spec in abbrev.attributes() {
                let attr = entries.read_attribute(*spec)?;
                read_attr(
                    ctx,
                    &mut a,
                    &attr,
                    unit_start,
                    str_offsets_base,
                    encoding,
                    &mut notes,
                );
            }
            if a.ty_sig.is_none() && (a.address.is_some() || a.declaration) {
                variables.push(RawVariable {
                    offset,
                    name: a.name,
                    ty: a.ty,
                    address: a.address,
                    specification: a.specification,
                });
            }
            if abbrev.has_children() {
                stack.push(Parent::Other);
            }
            continue;
        }
        if !interesting(tag, parent) {
            entries.skip_attributes(abbrev.attributes())?;
            if abbrev.has_children() {
                stack.push(Parent::Other);
            }
            continue;
        }
        let mut a = Attrs::default();
        for spec in abbrev.attributes() {
            let attr = entries.read_attribute(*spec)?;
            read_attr(
                ctx,
                &mut a,
                &attr,
                unit_start,
                str_offsets_base,
                encoding,
                &mut notes,
            );
        }
        let mut sig_ref = |sig: u64| {
            let i = sigs.iter().position(|s| *s == sig).unwrap_or_else(|| {
                sigs.push(sig);
                sigs.len() - 1
            });
            RAW_SIG + i as u64
        };
        let ty = match a.ty_sig {
            Some(sig) => sig_ref(sig),
            None => a.ty.unwrap_or(RAW_VOID),
        };
        // A declaration stub whose definition lives in a type unit.
        let stub = a.signature.map(&mut sig_ref);
        let new_node = |raws: &mut Vec<Raw<'a>>, origins: &mut Vec<u64>, raw: Raw<'a>| {
            raws.push(raw);
            origins.push(offset);
            raws.len() - 1
        };
        let mut ctx_for_children = Parent::Other;
        let node = match tag {
            dw::DW_TAG_base_type => Some(Raw::Base {
                name: a.name.unwrap_or(b"?"),
                size: a.byte_size.unwrap_or(0),
                signed: matches!(a.encoding, Some(e) if e == dw::DW_ATE_signed.0 || e == dw::DW_ATE_signed_char.0),
            }),
            dw::DW_TAG_unspecified_type => Some(Raw::Void),
            dw::DW_TAG_pointer_type
            | dw::DW_TAG_reference_type
            | dw::DW_TAG_rvalue_reference_type => Some(Raw::Pointer {
                target: ty,
                size: a.byte_size.unwrap_or(u64::from(encoding.address_size)),
            }),
            dw::DW_TAG_structure_type
            | dw::DW_TAG_union_type
            | dw::DW_TAG_class_type
            | dw::DW_TAG_enumeration_type
                if stub.is_some() =>
            {
                Some(Raw::Qualified {
                    target: stub.unwrap_or(RAW_VOID),
                })
            }
            dw::DW_TAG_structure_type | dw::DW_TAG_union_type | dw::DW_TAG_class_type => {
                let kind = match tag {
                    dw::DW_TAG_union_type => RecordKind::Union,
                    dw::DW_TAG_class_type => RecordKind::Class,
                    _ => RecordKind::Struct,
                };
                Some(Raw::Record {
                    kind,
                    name: a.name.filter(|n| !n.is_empty()),
                    size: a.byte_size.unwrap_or(0),
                    declaration: a.declaration || a.byte_size.is_none(),
                    members: Vec::new(),
                })
            }
            dw::DW_TAG_enumeration_type => Some(Raw::Enum {
                name: a.name.filter(|n| !n.is_empty()),
                size: a.byte_size.unwrap_or(4),
                underlying: ty,
                values: Vec::new(),
            }),
            dw::DW_TAG_typedef => Some(Raw::Typedef {
                name: a.name.unwrap_or(b"?"),
                target: ty,
            }),
            dw::DW_TAG_const_type
            | dw::DW_TAG_volatile_type
            | dw::DW_TAG_restrict_type
            | dw::DW_TAG_atomic_type
            | dw::DW_TAG_immutable_type
            | dw::DW_TAG_packed_type
            | dw::DW_TAG_shared_type => Some(Raw::Qualified { target: ty }),
            dw::DW_TAG_array_type => Some(Raw::Array {
                element: ty,
                dims: Vec::new(),
            }),
            dw::DW_TAG_subroutine_type => Some(Raw::Function),
            dw::DW_TAG_ptr_to_member_type => Some(Raw::Unknown {
                what: "PointerToMember",
                size: a.byte_size,
            }),
            dw::DW_TAG_string_type
            | dw::DW_TAG_set_type
            | dw::DW_TAG_file_type
            | dw::DW_TAG_subrange_type
                if !matches!(parent, Parent::Array(_)) =>
            {
                Some(Raw::Unknown {
                    what: "Unknown",
                    size: a.byte_size,
                })
            }
            _ => None,
        };
        if let Some(raw) = node {
            let idx = new_node(&mut raws, &mut origins, raw);
            die_offsets.push(offset);
            die_nodes.push(idx as u32);
            ctx_for_children = match tag {
                dw::DW_TAG_structure_type | dw::DW_TAG_union_type | dw::DW_TAG_class_type => {
                    Parent::Record(idx)
                }
                dw::DW_TAG_enumeration_type => Parent::Enum(idx),
                dw::DW_TAG_array_type => Parent::Array(idx),
                _ => Parent::Other,
            };
        } else {
            match (tag, parent) {
                (dw::DW_TAG_member | dw::DW_TAG_inheritance, Parent::Record(r)) => {
                    if a.external || a.declaration {
                        // A C++ static member: not part of the layout.
                    } else if let Some(Raw::Record { members, .. }) = raws.get_mut(r) {
                        let location = match a.location {
                            Some(Location::Offset(v)) => Some(v),
                            Some(Location::NotConstant) => {
                                notes.unparsed_locations += 1;
                                None
                            }
                            None => None,
                        };
                        members.push(RawMember {
                            name: a.name.filter(|n| !n.is_empty()),
                            ty,
                            location,
                            bit_size: a.bit_size,
                            bit_offset: a.bit_offset,
                            data_bit_offset: a.data_bit_offset,
                            byte_size: a.byte_size,
                            base_class: tag == dw::DW_TAG_inheritance,
                        });
                    }
                }
                (dw::DW_TAG_enumerator, Parent::Enum(e)) => {
                    if let (Some(Raw::Enum { values, .. }), Some(name), Some(v)) =
                        (raws.get_mut(e), a.name, a.const_value)
                    {
                        values.push((name, v));
                    }
                }
                (dw::DW_TAG_subrange_type | dw::DW_TAG_enumeration_type, Parent::Array(arr)) => {
                    let count = match (a.count, a.upper_bound) {
                        (Some(c), _) => c.unwrap_or(0),
                        (None, Some(Some(upper))) => {
                            let lower = a.lower_bound.unwrap_or(0);
                            u64::try_from(upper - lower + 1).unwrap_or(0)
                        }
                        _ => 0,
                    };
                    if let Some(Raw::Array { dims, .. }) = raws.get_mut(arr) {
                        dims.push(count);
                    }
                }
                _ => {}
            }
        }
        if abbrev.has_children() {
            stack.push(ctx_for_children);
        }
    }
    let mut unit = finish(
        raws,
        origins,
        &die_offsets,
        &die_nodes,
        &sigs,
        &variables,
        notes,
    );
    if let gimli::UnitType::Type {
        type_signature,
        type_offset,
    } = header.type_()
    {
        let at = unit_start.saturating_add(type_offset.0 as u64);
        if let Ok(i) = die_offsets.binary_search(&at) {
            unit.signature = Some((type_signature.0, die_nodes[i]));
        }
    }
    Ok(unit)
}

/// Whether a DIE with `tag` under `parent` carries anything the type reader uses.
fn interesting(tag: gimli::DwTag, parent: Parent) -> bool {
    match tag {
        dw::DW_TAG_base_type
        | dw::DW_TAG_unspecified_type
        | dw::DW_TAG_pointer_type
        | dw::DW_TAG_reference_type
        | dw::DW_TAG_rvalue_reference_type
        | dw::DW_TAG_structure_type
        | dw::DW_TAG_union_type
        | dw::DW_TAG_class_type
        | dw::DW_TAG_enumeration_type
        | dw::DW_TAG_typedef
        | dw::DW_TAG_const_type
        | dw::DW_TAG_volatile_type
        | dw::DW_TAG_restrict_type
        | dw::DW_TAG_atomic_type
        | dw::DW_TAG_immutable_type
        | dw::DW_TAG_packed_type
        | dw::DW_TAG_shared_type
        | dw::DW_TAG_array_type
        | dw::DW_TAG_subroutine_type
        | dw::DW_TAG_ptr_to_member_type
        | dw::DW_TAG_string_type
        | dw::DW_TAG_set_type
        | dw::DW_TAG_file_type
        | dw::DW_TAG_subrange_type => true,
        dw::DW_TAG_member | dw::DW_TAG_inheritance => matches!(parent, Parent::Record(_)),
        dw::DW_TAG_enumerator => matches!(parent, Parent::Enum(_)),
        _ => false,
    }
}

#[allow(clippy::too_many_arguments)]
fn read_attr<'a>(
    ctx: &Ctx<'a>,
    a: &mut Attrs<'a>,
    attr: &gimli::Attribute<R<'a>>,
    unit_start: u64,
    str_offsets_base: u64,
    encoding: gimli::Encoding,
    notes: &mut Notes,
) {
    let format = encoding.format;
    match attr.name() {
        dw::DW_AT_name => a.name = string(ctx, attr.raw_value(), str_offsets_base, format),
        dw::DW_AT_signature => {
            if let AttributeValue::DebugTypesRef(sig) = attr.raw_value() {
                a.signature = Some(sig.0);
            }
        }
        dw::DW_AT_type => {
            a.ty = Some(match attr.raw_value() {
                AttributeValue::UnitRef(o) => unit_start.saturating_add(o.0 as u64),
                AttributeValue::DebugInfoRef(o) => o.0 as u64,
                AttributeValue::DebugTypesRef(sig) => {
                    a.ty_sig = Some(sig.0);
                    RAW_UNRESOLVED
                }
                _ => {
                    notes.unresolved_refs += 1;
                    RAW_UNRESOLVED
                }
            })
        }
        dw::DW_AT_byte_size => a.byte_size = attr.udata_value(),
        dw::DW_AT_bit_size => a.bit_size = attr.udata_value(),
        dw::DW_AT_bit_offset => {
            // Negative when a field straddles the end of its storage unit
            // (clang on i386 writes DW_FORM_data8 -8 for a u64 field at bit 32).
            a.bit_offset = match attr.raw_value() {
                AttributeValue::Data8(v) => Some(v as i64),
                AttributeValue::Sdata(v) => Some(v),
                other => other.udata_value().and_then(|v| i64::try_from(v).ok()),
            }
        }
        dw::DW_AT_data_bit_offset => a.data_bit_offset = attr.udata_value(),
        dw::DW_AT_location => a.address = variable_address(attr.raw_value(), encoding),
        dw::DW_AT_specification => {
            a.specification = match attr.raw_value() {
                AttributeValue::UnitRef(o) => Some(unit_start.saturating_add(o.0 as u64)),
                _ => None,
            }
        }
        dw::DW_AT_data_member_location => {
            a.location = Some(member_location(attr.raw_value(), encoding))
        }
        dw::DW_AT_encoding => a.encoding = attr.u8_value(),
        dw::DW_AT_declaration => {
            a.declaration = matches!(attr.raw_value(), AttributeValue::Flag(true))
        }
        dw::DW_AT_external => a.external = matches!(attr.raw_value(), AttributeValue::Flag(true)),
        dw::DW_AT_count => a.count = Some(attr.udata_value()),
        dw::DW_AT_upper_bound => a.upper_bound = Some(bound(attr.raw_value())),
        dw::DW_AT_lower_bound => a.lower_bound = bound(attr.raw_value()),
        dw::DW_AT_const_value => {
            a.const_value = match attr.raw_value() {
                AttributeValue::Sdata(v) => Some(RawConst::Signed(v)),
                AttributeValue::Udata(v) => Some(RawConst::Unsigned(v)),
                AttributeValue::Data1(v) => Some(RawConst::Data(u64::from(v), 1)),
                AttributeValue::Data2(v) => Some(RawConst::Data(u64::from(v), 2)),
                AttributeValue::Data4(v) => Some(RawConst::Data(u64::from(v), 4)),
                AttributeValue::Data8(v) => Some(RawConst::Data(v, 8)),
                _ => None,
            }
        }
        _ => {}
    }
}

/// A subrange bound: constants only (a reference or an expression means a
/// variable-length array, counted as 0). `DW_FORM_dataN` all-ones means -1
/// (old gcc's encoding of a zero-length array's upper bound).
fn bound(v: AttributeValue<R<'_>>) -> Option<i128> {
    match v {
        AttributeValue::Sdata(v) => Some(i128::from(v)),
        AttributeValue::Udata(v) => Some(i128::from(v)),
        AttributeValue::Data1(v) => Some(if v == u8::MAX { -1 } else { i128::from(v) }),
        AttributeValue::Data2(v) => Some(if v == u16::MAX { -1 } else { i128::from(v) }),
        AttributeValue::Data4(v) => Some(if v == u32::MAX { -1 } else { i128::from(v) }),
        AttributeValue::Data8(v) => Some(if v == u64::MAX { -1 } else { i128::from(v) }),
        _ => None,
    }
}

/// Where a member lies, as `DW_AT_data_member_location` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Location {
    /// At this byte offset in the record.
    Offset(u64),
    /// An expression that does not evaluate to a constant (it needs an
    /// object: a virtual base's offset), or a malformed one.
    NotConstant,
}

/// `DW_AT_data_member_location`: a constant, or a simple location
/// expression (`DW_OP_plus_uconst N`, constants, `DW_OP_plus`).
fn member_location(v: AttributeValue<R<'_>>, encoding: gimli::Encoding) -> Location {
    let offset = match v {
        AttributeValue::Data1(v) => Some(u64::from(v)),
        AttributeValue::Data2(v) => Some(u64::from(v)),
        AttributeValue::Data4(v) => Some(u64::from(v)),
        AttributeValue::Data8(v) => Some(v),
        AttributeValue::Udata(v) => Some(v),
        AttributeValue::Sdata(v) => u64::try_from(v).ok(),
        AttributeValue::Block(b) => eval_location(gimli::Expression(b), encoding),
        AttributeValue::Exprloc(e) => eval_location(e, encoding),
        _ => None,
    };
    offset.map_or(Location::NotConstant, Location::Offset)
}

/// Evaluates the constant subset of DWARF expressions used for member
/// locations (gimli decodes the operations, in the unit's byte order): the
/// base address (0) is on the stack initially. `None` for anything else.
pub(crate) fn eval_location(
    expr: gimli::Expression<R<'_>>,
    encoding: gimli::Encoding,
) -> Option<u64> {
    use gimli::Operation;
    let mut stack: Vec<u64> = vec![0];
    let mut ops = expr.operations(encoding);
    // A member location is a handful of operations; longer is hostile.
    for _ in 0..64 {
        let Some(op) = ops.next().ok()? else {
            return stack.last().copied();
        };
        match op {
            Operation::PlusConstant { value } => {
                let top = stack.last_mut()?;
                *top = top.wrapping_add(value);
            }
            Operation::UnsignedConstant { value } => stack.push(value),
            Operation::SignedConstant { value } => stack.push(value as u64),
            Operation::Plus => {
                let a = stack.pop()?;
                let b = stack.pop()?;
                stack.push(a.wrapping_add(b));
            }
            _ => return None,
        }
    }
    None
}

/// The address of a variable whose `DW_AT_location` is one `DW_OP_addr`
/// (a static location); `None` for anything else (locals, location lists).
fn variable_address(v: AttributeValue<R<'_>>, encoding: gimli::Encoding) -> Option<u64> {
    let expr = match v {
        AttributeValue::Exprloc(e) => e,
        AttributeValue::Block(b) => gimli::Expression(b),
        _ => return None,
    };
    let mut ops = expr.operations(encoding);
    match (ops.next().ok()?, ops.next().ok()?) {
        (Some(gimli::Operation::Address { address }), None) => Some(address),
        _ => None,
    }
}

/// Reads a ULEB128 number from the front of `bytes` (gimli's decoder),
/// advancing it.
pub(crate) fn uleb_advance(bytes: &mut &[u8]) -> Option<u64> {
    let mut r = EndianSlice::new(bytes, gimli::LittleEndian);
    let v = gimli::leb128::read::unsigned(&mut r).ok()?;
    *bytes = r.slice();
    Some(v)
}

fn string<'a>(
    ctx: &Ctx<'a>,
    v: AttributeValue<R<'a>>,
    str_offsets_base: u64,
    format: gimli::Format,
) -> Option<&'a [u8]> {
    let (section, offset) = match v {
        AttributeValue::String(s) => return Some(s.slice()),
        AttributeValue::DebugStrRef(o) => (ctx.debug_str, o.0 as u64),
        AttributeValue::DebugLineStrRef(o) => (ctx.debug_line_str, o.0 as u64),
        AttributeValue::DebugStrOffsetsIndex(i) => {
            let width = format.word_size() as u64;
            let at = str_offsets_base.checked_add((i.0 as u64).checked_mul(width)?)?;
            let at = usize::try_from(at).ok()?;
            let bytes = ctx
                .debug_str_offsets
                .get(at..at.checked_add(width as usize)?)?;
            let mut v = 0u64;
            match ctx.endian {
                RunTimeEndian::Little => bytes
                    .iter()
                    .rev()
                    .for_each(|b| v = (v << 8) | u64::from(*b)),
                RunTimeEndian::Big => bytes.iter().for_each(|b| v = (v << 8) | u64::from(*b)),
            }
            (ctx.debug_str, v)
        }
        _ => return None,
    };
    let start = usize::try_from(offset).ok()?;
    let rest = section.get(start..)?;
    let end = rest.iter().position(|&b| b == 0)?;
    Some(&rest[..end])
}

// ---------------------------------------------------------------- finishing

fn finish<'a>(
    raws: Vec<Raw<'a>>,
    origins: Vec<u64>,
    die_offsets: &[u64],
    die_nodes: &[u32],
    sigs: &[u64],
    variables: &[RawVariable<'a>],
    notes: Notes,
) -> LocalUnit<'a> {
    // References to DIEs outside this unit become External nodes, placed
    // right after the DIE nodes.
    let base = raws.len();
    let mut externals: Vec<u64> = Vec::new();
    {
        let mut note = |r: u64| {
            if r < RAW_SIG && die_offsets.binary_search(&r).is_err() {
                externals.push(r);
            }
        };
        for raw in &raws {
            match raw {
                Raw::Pointer { target, .. }
                | Raw::Typedef { target, .. }
                | Raw::Qualified { target } => note(*target),
                Raw::Array { element, .. } => note(*element),
                Raw::Enum { underlying, .. } => note(*underlying),
                Raw::Record { members, .. } => members.iter().for_each(|m| note(m.ty)),
                _ => {}
            }
        }
        for v in variables {
            if let Some(t) = v.ty {
                note(t);
            }
        }
    }
    externals.sort_unstable();
    externals.dedup();
    let resolve = |raw: u64| -> u32 {
        match raw {
            RAW_VOID => VOID,
            RAW_UNRESOLVED => UNRESOLVED,
            r if r >= RAW_SIG => match usize::try_from(r - RAW_SIG) {
                Ok(k) if k < sigs.len() => (base + externals.len() + k) as u32,
                _ => UNRESOLVED,
            },
            r => match die_offsets.binary_search(&r) {
                Ok(i) => die_nodes[i],
                Err(_) => match externals.binary_search(&r) {
                    Ok(k) => (base + k) as u32,
                    Err(_) => UNRESOLVED,
                },
            },
        }
    };
    // Pass 1: resolve references; arrays become one node per dimension.
    let mut nodes: Vec<Node<'a>> = Vec::with_capacity(raws.len());
    let mut raw_members: Vec<(usize, Vec<RawMember<'a>>)> = Vec::new();
    let mut enum_raw: Vec<(usize, u32, RawEnumerators<'a>)> = Vec::new();
    let mut extra: Vec<Node<'a>> = externals
        .iter()
        .map(|&offset| Node::External { offset })
        .chain(sigs.iter().map(|&sig| Node::Signature { sig }))
        .collect();
    for (i, raw) in raws.into_iter().enumerate() {
        let origin = origins.get(i).copied().unwrap_or(0);
        let node = match raw {
            Raw::Void => Node::Void,
            Raw::Unresolved => Node::Unresolved,
            Raw::Base { name, size, signed } => Node::Base { name, size, signed },
            Raw::Pointer { target, size } => Node::Pointer {
                target: resolve(target),
                size,
            },
            Raw::Record {
                kind,
                name,
                size,
                declaration,
                members,
            } => {
                raw_members.push((i, members));
                Node::Record {
                    kind,
                    name,
                    size,
                    declaration,
                    members: Vec::new(),
                    origin,
                }
            }
            Raw::Enum {
                name,
                size,
                underlying,
                values,
            } => {
                enum_raw.push((i, resolve(underlying), values));
                Node::Enum {
                    name,
                    size,
                    signed: false,
                    values: Vec::new(),
                    origin,
                }
            }
            Raw::Typedef { name, target } => Node::Typedef {
                name,
                target: resolve(target),
            },
            Raw::Qualified { target } => Node::Qualified {
                target: resolve(target),
            },
            Raw::Array { element, dims } => {
                let mut element = resolve(element);
                // Innermost dimension last: build inner arrays first.
                let dims = if dims.is_empty() { vec![0] } else { dims };
                for &count in dims[1..].iter().rev() {
                    extra.push(Node::Array { element, count });
                    element = (base + extra.len() - 1) as u32;
                }
                Node::Array {
                    element,
                    count: dims[0],
                }
            }
            Raw::Function => Node::Function,
            Raw::Unknown { what, size } => Node::Unknown { what, size },
        };
        nodes.push(node);
    }
    nodes.extend(extra);
    // Pass 2: members and enumerators (they need the sizes and signedness
    // of resolved types).
    for (i, members) in raw_members {
        let record_size = match nodes.get(i) {
            Some(Node::Record { size, .. }) => *size,
            _ => 0,
        };
        let mut out = Vec::with_capacity(members.len());
        for m in members {
            let ty = resolve(m.ty);
            let base_offset = m.location.unwrap_or(0);
            let mut offset = base_offset;
            let mut bitfield = None;
            if let Some(bits) = m
                .bit_size
                .and_then(|b| u32::try_from(b).ok())
                .filter(|b| (1..=1024).contains(b))
            {
                let type_size = size_of(&nodes, ty, 0)
                    .filter(|s| (1..=16).contains(s))
                    .unwrap_or(4);
                // Absolute position of the field's least significant bit.
                let absolute: Option<u64> = if let Some(dbo) = m.data_bit_offset {
                    dbo.checked_add(base_offset.saturating_mul(8))
                } else if let Some(bo) = m.bit_offset {
                    // Big-endian-style: counted from the most significant
                    // bit of a unit of DW_AT_byte_size (or the type's size).
                    let unit = i128::from(m.byte_size.unwrap_or(type_size));
                    let abs =
                        (i128::from(base_offset) + unit) * 8 - i128::from(bo) - i128::from(bits);
                    u64::try_from(abs).ok()
                } else {
                    Some(base_offset.saturating_mul(8))
                };
                if let Some(abs) = absolute {
                    let (unit_offset, bit) = storage_unit(abs, bits, type_size, record_size);
                    offset = unit_offset;
                    bitfield = Some(BitField {
                        bit_offset: bit,
                        bit_size: bits,
                    });
                }
            }
            let name = if m.base_class {
                Some(Cow::Owned(base_class_name(&nodes, ty)))
            } else {
                m.name.map(Cow::Borrowed)
            };
            out.push(LMember {
                name,
                offset,
                ty,
                bitfield,
            });
        }
        if let Some(Node::Record { members, .. }) = nodes.get_mut(i) {
            *members = out;
        }
    }
    for (i, underlying, values) in enum_raw {
        let signed_hint = match nodes.get(resolve_idx(&nodes, underlying)) {
            Some(Node::Base { signed, .. }) => Some(*signed),
            _ => None,
        };
        let signed = signed_hint.unwrap_or_else(|| {
            values
                .iter()
                .any(|(_, v)| matches!(v, RawConst::Signed(x) if *x < 0))
        });
        let out: Vec<(&'a [u8], i128)> = values
            .into_iter()
            .map(|(n, v)| {
                let v = match v {
                    RawConst::Signed(x) => i128::from(x),
                    RawConst::Unsigned(x) => i128::from(x),
                    RawConst::Data(x, width) => {
                        if signed {
                            let shift = 64 - 8 * width;
                            i128::from(((x << shift) as i64) >> shift)
                        } else {
                            i128::from(x)
                        }
                    }
                };
                (n, v)
            })
            .collect();
        if let Some(Node::Enum {
            values, signed: s, ..
        }) = nodes.get_mut(i)
        {
            *values = out;
            *s = signed;
        }
    }
    // A definition that names its declaration (`DW_AT_specification`)
    // takes the declaration's name and type.
    let mut out_vars = Vec::with_capacity(variables.len());
    for v in variables {
        let (name, ty) = match (v.name, v.ty, v.specification) {
            (Some(n), Some(t), _) => (n, t),
            (name, ty, Some(spec)) => {
                let decl = variables
                    .binary_search_by_key(&spec, |d| d.offset)
                    .ok()
                    .map(|i| &variables[i]);
                match (
                    name.or(decl.and_then(|d| d.name)),
                    ty.or(decl.and_then(|d| d.ty)),
                ) {
                    (Some(n), Some(t)) => (n, t),
                    _ => continue,
                }
            }
            _ => continue,
        };
        if name.is_empty() {
            continue;
        }
        out_vars.push(LocalVariable {
            name,
            address: v.address,
            ty: resolve(ty),
        });
    }
    let keys = Keys::compute(&nodes);
    let mut offsets = origins;
    offsets.resize(nodes.len(), 0);
    LocalUnit {
        nodes,
        keys,
        offsets,
        signature: None,
        variables: out_vars,
        notes,
    }
}

/// The storage unit of a bit field whose least significant bit is at
/// absolute bit `abs` of the record: the unit of the member type's size
/// aligned to that size when the field fits in it, else the byte holding
/// the first bit. Returns (unit byte offset, bit within the unit).
pub(crate) fn storage_unit(abs: u64, bits: u32, type_size: u64, record_size: u64) -> (u64, u32) {
    let type_size = type_size.clamp(1, 16);
    let unit_bits = type_size * 8;
    let aligned = (abs / unit_bits) * type_size;
    let end = aligned.saturating_add(type_size);
    let fits_type = abs.saturating_add(u64::from(bits)) <= end.saturating_mul(8);
    let fits_record = record_size == 0 || end <= record_size;
    if fits_type && fits_record {
        (aligned, (abs - aligned * 8) as u32)
    } else {
        (abs / 8, (abs % 8) as u32)
    }
}

fn base_class_name(nodes: &[Node<'_>], ty: u32) -> Vec<u8> {
    let mut name = b"__base_".to_vec();
    match nodes.get(resolve_idx(nodes, ty)) {
        Some(Node::Record { name: Some(n), .. }) => name.extend_from_slice(n),
        _ => name.extend_from_slice(format!("{ty}").as_bytes()),
    }
    name
}

/// Follows typedefs and qualifiers.
fn resolve_idx(nodes: &[Node<'_>], mut i: u32) -> usize {
    for _ in 0..MAX_DEPTH {
        match nodes.get(i as usize) {
            Some(Node::Typedef { target, .. }) | Some(Node::Qualified { target }) => i = *target,
            _ => break,
        }
    }
    i as usize
}

fn size_of(nodes: &[Node<'_>], i: u32, depth: u32) -> Option<u64> {
    if depth > MAX_DEPTH {
        return None;
    }
    match nodes.get(resolve_idx(nodes, i))? {
        Node::Base { size, .. } | Node::Pointer { size, .. } => Some(*size),
        Node::Record { size, .. } | Node::Enum { size, .. } => Some(*size),
        Node::Array { element, count } => size_of(nodes, *element, depth + 1)?.checked_mul(*count),
        Node::Unknown { size, .. } => *size,
        _ => None,
    }
}

// ---------------------------------------------------------------- keys

/// A small 128-bit structural hasher (two folded-multiply lanes). Keys only
/// decide which definitions are merged; they never index memory.
struct H {
    a: u64,
    b: u64,
}

const K1: u64 = 0x9E37_79B9_7F4A_7C15;
const K2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const K3: u64 = 0x1656_67B1_9E37_79F9;

#[inline]
fn fold(x: u64, k: u64) -> u64 {
    let p = u128::from(x) * u128::from(k);
    (p as u64) ^ ((p >> 64) as u64)
}

impl H {
    fn new(tag: u8) -> H {
        let mut h = H { a: K3, b: K1 };
        h.u64(u64::from(tag));
        h
    }
    #[inline]
    fn u64(&mut self, v: u64) {
        self.a = fold(self.a ^ v, K1).wrapping_add(K3);
        self.b = fold(self.b ^ v.rotate_left(29), K2).wrapping_add(K1);
    }
    fn u128(&mut self, v: u128) {
        self.u64(v as u64);
        self.u64((v >> 64) as u64);
    }
    fn bytes(&mut self, s: &[u8]) {
        self.u64(s.len() as u64);
        let mut chunks = s.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.u64(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.u64(u64::from_le_bytes(w));
        }
    }
    fn opt_bytes(&mut self, s: Option<&[u8]>) {
        match s {
            Some(s) => {
                self.u64(1);
                self.bytes(s);
            }
            None => self.u64(0),
        }
    }
    fn finish(&self) -> u128 {
        let a = fold(self.a ^ K2, self.b ^ K3);
        let b = fold(self.b ^ K1, self.a.rotate_left(17) ^ K2);
        (u128::from(a) << 64) | u128::from(b)
    }
}

fn key_void() -> u128 {
    H::new(b'V').finish()
}

fn key_unresolved() -> u128 {
    H::new(b'?').finish()
}

fn kind_tag(kind: RecordKind) -> u64 {
    match kind {
        RecordKind::Struct => 1,
        RecordKind::Union => 2,
        RecordKind::Class => 3,
    }
}

/// Computes the structural keys of a unit's nodes.
///
/// A node's *full* key identifies its definition; the *reference* key is how
/// it counts inside another type's key: named records and enums by kind and
/// name only (so that pointer cycles end and a type's identity does not
/// depend on which unit saw which definition), everything else by its full
/// key. This is the same notion of "same type" as the emitter's merging.
struct Keys<'n, 'a> {
    nodes: &'n [Node<'a>],
    full: Vec<Option<u128>>,
    busy: Vec<bool>,
}

impl<'n, 'a> Keys<'n, 'a> {
    fn compute(nodes: &'n [Node<'a>]) -> Vec<u128> {
        let mut k = Keys {
            nodes,
            full: vec![None; nodes.len()],
            busy: vec![false; nodes.len()],
        };
        (0..nodes.len()).map(|i| k.full_key(i as u32, 0)).collect()
    }

    fn ref_key(&mut self, i: u32, depth: u32) -> u128 {
        match self.nodes.get(i as usize) {
            Some(Node::Record {
                kind,
                name: Some(name),
                ..
            }) => {
                let mut h = H::new(b'r');
                h.u64(kind_tag(*kind));
                h.bytes(name);
                h.finish()
            }
            Some(Node::Enum {
                name: Some(name),
                size,
                ..
            }) => {
                let mut h = H::new(b'e');
                h.bytes(name);
                h.u64(*size);
                h.finish()
            }
            _ => self.full_key(i, depth + 1),
        }
    }

    fn full_key(&mut self, i: u32, depth: u32) -> u128 {
        let idx = i as usize;
        if let Some(Some(k)) = self.full.get(idx) {
            return *k;
        }
        if depth > MAX_DEPTH || self.busy.get(idx).copied().unwrap_or(true) {
            // Too deep or cyclic without a name to break the cycle.
            let mut h = H::new(b'c');
            h.u64(u64::from(i));
            return h.finish();
        }
        self.busy[idx] = true;
        let nodes = self.nodes;
        let k = match &nodes[idx] {
            Node::Void => key_void(),
            Node::Unresolved => key_unresolved(),
            Node::External { offset } => {
                let mut h = H::new(b'X');
                h.u64(*offset);
                h.finish()
            }
            Node::Signature { sig } => {
                let mut h = H::new(b'S');
                h.u64(*sig);
                h.finish()
            }
            Node::Base { name, size, signed } => {
                let mut h = H::new(b'B');
                h.bytes(name);
                h.u64(*size);
                h.u64(u64::from(*signed));
                h.finish()
            }
            Node::Pointer { target, size } => {
                let t = self.ref_key(*target, depth);
                let mut h = H::new(b'P');
                h.u64(*size);
                h.u128(t);
                h.finish()
            }
            Node::Record {
                kind,
                name,
                size,
                declaration,
                members,
                ..
            } => {
                let mut h = H::new(b'R');
                h.u64(kind_tag(*kind));
                h.opt_bytes(*name);
                h.u64(*size);
                h.u64(u64::from(*declaration));
                h.u64(members.len() as u64);
                for m in members {
                    h.opt_bytes(m.name.as_deref());
                    h.u64(m.offset);
                    match m.bitfield {
                        Some(b) => {
                            h.u64((u64::from(b.bit_offset) << 32) | u64::from(b.bit_size) | 1 << 63)
                        }
                        None => h.u64(0),
                    }
                    let t = self.ref_key(m.ty, depth);
                    h.u128(t);
                }
                h.finish()
            }
            Node::Enum {
                name,
                size,
                signed,
                values,
                ..
            } => {
                let mut h = H::new(b'E');
                h.opt_bytes(*name);
                h.u64(*size);
                h.u64(u64::from(*signed));
                h.u64(values.len() as u64);
                for (n, v) in values {
                    h.bytes(n);
                    h.u128(*v as u128);
                }
                h.finish()
            }
            Node::Typedef { name, target } => {
                let t = self.ref_key(*target, depth);
                let mut h = H::new(b'T');
                h.bytes(name);
                h.u128(t);
                h.finish()
            }
            Node::Qualified { target } => {
                let t = self.ref_key(*target, depth);
                let mut h = H::new(b'Q');
                h.u128(t);
                h.finish()
            }
            Node::Array { element, count } => {
                let t = self.ref_key(*element, depth);
                let mut h = H::new(b'A');
                h.u64(*count);
                h.u128(t);
                h.finish()
            }
            Node::Function => H::new(b'F').finish(),
            Node::Unknown { what, size } => {
                let mut h = H::new(b'U');
                h.bytes(what.as_bytes());
                h.u64(size.map_or(u64::MAX, |s| s));
                h.finish()
            }
        };
        self.busy[idx] = false;
        self.full[idx] = Some(k);
        k
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_location_expressions() {
        let encoding = gimli::Encoding {
            address_size: 8,
            format: gimli::Format::Dwarf32,
            version: 4,
        };
        let eval = |bytes: &[u8], endian| {
            eval_location(gimli::Expression(EndianSlice::new(bytes, endian)), encoding)
        };
        let le = RunTimeEndian::Little;
        let be = RunTimeEndian::Big;
        assert_eq!(eval(&[0x23, 0x90, 0x01], le), Some(144)); // DW_OP_plus_uconst 144
        assert_eq!(eval(&[0x10, 0x08], le), Some(8)); // DW_OP_constu 8
        assert_eq!(eval(&[0x34], le), Some(4)); // DW_OP_lit4
        assert_eq!(eval(&[0x23], le), None); // truncated
        assert_eq!(eval(&[0x06], le), None); // DW_OP_deref: not a constant
                                             // DW_OP_const2u 0x0102 reads in the unit's byte order.
        assert_eq!(eval(&[0x0a, 0x01, 0x02], le), Some(0x0201));
        assert_eq!(eval(&[0x0a, 0x01, 0x02], be), Some(0x0102));
        // DW_OP_lit8 DW_OP_lit16 DW_OP_plus.
        assert_eq!(eval(&[0x38, 0x40, 0x22], le), Some(24));
    }

    #[test]
    fn storage_units() {
        // An int bit field at bits 33..36 of an 8-byte struct: unit at 4, bit 1.
        assert_eq!(storage_unit(33, 3, 4, 8), (4, 1));
        // A field straddling the aligned unit falls back to bytes.
        assert_eq!(storage_unit(30, 4, 4, 8), (3, 6));
        // A unit that would run past the end of the record falls back too.
        assert_eq!(storage_unit(16, 4, 4, 3), (2, 0));
        // 64-bit unit.
        assert_eq!(storage_unit(66, 62, 8, 16), (8, 2));
    }

    #[test]
    fn hashes_differ_for_different_inputs() {
        let mut a = H::new(b'x');
        a.bytes(b"abc");
        let mut b = H::new(b'x');
        b.bytes(b"abd");
        assert_ne!(a.finish(), b.finish());
        let mut z1 = H::new(b'x');
        z1.u64(0);
        let mut z2 = H::new(b'x');
        z2.u64(0);
        z2.u64(0);
        assert_ne!(z1.finish(), z2.finish());
    }
}
