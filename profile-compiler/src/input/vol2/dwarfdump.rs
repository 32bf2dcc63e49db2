//! libdwarf `dwarfdump -di` text (Volatility 2's `module.dwarf`) -> IR.
//!
//! Every DIE is one line: `<DEPTH><OFFSET><DW_TAG_x> DW_AT_a<value> ...`.
//! A compile unit's line has the offset form `<0xCU+0xDIE>`; other DIEs and
//! `DW_AT_type<<0x...>>` references carry offsets relative to their compile
//! unit, so DIEs are keyed by (compile unit, offset). The parser is
//! line-oriented, never evaluates anything, and bounds everything it derives
//! from the text: lines it does not understand are counted and reported as
//! one warning, references to missing DIEs become an unknown type (one
//! warning), reference cycles end at the IR's bounded resolution, and array
//! counts above [`MAX_ARRAY_COUNT`] are reported and emitted as 0.

use std::collections::HashMap;
use std::path::Path;

use crate::ir::{BitField, Enum, Ir, Member, Record, RecordKind, Type, TypeId};
use crate::{Error, Result};

/// Largest array element count accepted; above it (hostile or broken input)
/// the array is emitted with count 0 and a warning.
pub const MAX_ARRAY_COUNT: u64 = 1 << 32;

/// The DWARF tags this reader distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    CompileUnit,
    Struct,
    Union,
    Class,
    Enumeration,
    Enumerator,
    Member,
    Typedef,
    Base,
    Pointer,
    Reference,
    Const,
    Volatile,
    Restrict,
    Array,
    Subrange,
    Subroutine,
    Unspecified,
    Other,
}

impl Tag {
    fn parse(s: &str) -> Tag {
        match s {
            "DW_TAG_compile_unit" | "DW_TAG_partial_unit" => Tag::CompileUnit,
            "DW_TAG_structure_type" => Tag::Struct,
            "DW_TAG_union_type" => Tag::Union,
            "DW_TAG_class_type" => Tag::Class,
            "DW_TAG_enumeration_type" => Tag::Enumeration,
            "DW_TAG_enumerator" => Tag::Enumerator,
            "DW_TAG_member" => Tag::Member,
            "DW_TAG_typedef" => Tag::Typedef,
            "DW_TAG_base_type" => Tag::Base,
            "DW_TAG_pointer_type" => Tag::Pointer,
            "DW_TAG_reference_type" | "DW_TAG_rvalue_reference_type" => Tag::Reference,
            "DW_TAG_const_type" => Tag::Const,
            "DW_TAG_volatile_type" => Tag::Volatile,
            "DW_TAG_restrict_type" | "DW_TAG_atomic_type" => Tag::Restrict,
            "DW_TAG_array_type" => Tag::Array,
            "DW_TAG_subrange_type" => Tag::Subrange,
            "DW_TAG_subroutine_type" => Tag::Subroutine,
            "DW_TAG_unspecified_type" => Tag::Unspecified,
            _ => Tag::Other,
        }
    }

    fn is_type(self) -> bool {
        matches!(
            self,
            Tag::Struct
                | Tag::Union
                | Tag::Class
                | Tag::Enumeration
                | Tag::Typedef
                | Tag::Base
                | Tag::Pointer
                | Tag::Reference
                | Tag::Const
                | Tag::Volatile
                | Tag::Restrict
                | Tag::Array
                | Tag::Subroutine
                | Tag::Unspecified
        )
    }
}

/// One DIE with the attributes this reader uses, already decoded.
#[derive(Debug, Default, Clone)]
struct Die {
    tag: Option<Tag>,
    cu: u32,
    offset: u64,
    /// Global offset (compile unit base + offset), used to name anonymous types.
    global: u64,
    children: Vec<u32>,
    name: Option<String>,
    byte_size: Option<u64>,
    type_ref: Option<u64>,
    /// `DW_AT_type` present but not understood.
    bad_type_ref: bool,
    upper_bound: Option<i128>,
    count: Option<u64>,
    location: Option<Location>,
    bit_offset: Option<i128>,
    bit_size: Option<u64>,
    data_bit_offset: Option<u64>,
    const_value: Option<i128>,
    encoding: Option<String>,
    declaration: bool,
    external: bool,
    line: usize,
}

#[derive(Debug, Clone, Copy)]
enum Location {
    Offset(u64),
    /// A location expression this reader does not decode.
    Unsupported,
}

/// What the parser met, for one warning per kind of problem.
#[derive(Debug, Default)]
struct Problems {
    bad_lines: usize,
    first_bad_line: Option<usize>,
    missing_refs: usize,
    first_missing: Option<String>,
    duplicate_offsets: usize,
    bad_locations: Vec<String>,
    huge_arrays: Vec<String>,
    bad_bitfields: Vec<String>,
}

/// Parses dwarfdump text into `ir` (types only). `path` names the input in
/// messages. Returns the pointer size most pointers declare, if any.
pub fn parse_into(text: &str, path: &Path, ir: &mut Ir) -> Result<Option<u64>> {
    let mut problems = Problems::default();
    let dies = read_dies(text, &mut problems);
    if dies.is_empty() {
        return Err(Error::input(
            path,
            "no dwarfdump DIE line (`<DEPTH><OFFSET><DW_TAG_...>`) found",
        ));
    }
    let mut b = Builder::new(&dies, ir, problems);
    b.build();
    let pointer_size = b.pointer_size;
    b.finish(path);
    Ok(pointer_size)
}

fn read_dies(text: &str, problems: &mut Problems) -> Vec<Die> {
    let mut dies: Vec<Die> = Vec::new();
    // (depth, index) of the open DIEs.
    let mut stack: Vec<(u64, u32)> = Vec::new();
    let mut cu: u32 = 0;
    let mut cu_base: u64 = 0;
    let mut seen_cu = false;
    for (lineno, line) in text.lines().enumerate() {
        let lineno = lineno + 1;
        let trimmed = line.trim();
        if trimmed.is_empty()
            || trimmed.starts_with(".debug_")
            || trimmed.starts_with("COMPILE_UNIT")
            || trimmed.starts_with("LOCAL_SYMBOLS")
        {
            continue;
        }
        let Some((depth, off, tag, rest)) = header(trimmed) else {
            problems.bad_lines += 1;
            problems.first_bad_line.get_or_insert(lineno);
            continue;
        };
        let tag = Tag::parse(tag);
        let offset;
        if tag == Tag::CompileUnit || (depth == 0 && !seen_cu) {
            // `0x18bd6+0xb`: the unit's base, then the DIE's offset in it.
            let (base, _) = off.split_once('+').unwrap_or((off, "0"));
            cu_base = parse_int(base)
                .and_then(|v| u64::try_from(v).ok())
                .unwrap_or(0);
            if seen_cu {
                cu += 1;
            }
            seen_cu = true;
            stack.clear();
            offset = off
                .split_once('+')
                .and_then(|(_, o)| parse_u64(o))
                .unwrap_or(0);
        } else {
            match parse_u64(off) {
                Some(o) => offset = o,
                None => {
                    problems.bad_lines += 1;
                    problems.first_bad_line.get_or_insert(lineno);
                    continue;
                }
            }
        }
        while stack.last().is_some_and(|(d, _)| *d >= depth) {
            stack.pop();
        }
        let Ok(index) = u32::try_from(dies.len()) else {
            break;
        };
        let parent = stack.last().map(|(_, i)| *i);
        let mut die = Die {
            tag: Some(tag),
            cu,
            offset,
            global: cu_base.saturating_add(offset),
            line: lineno,
            ..Die::default()
        };
        attributes(rest, &mut die);
        if let Some(p) = parent {
            if let Some(pd) = dies.get_mut(p as usize) {
                pd.children.push(index);
            }
        }
        dies.push(die);
        stack.push((depth, index));
    }
    dies
}

/// `<DEPTH><OFFSET><DW_TAG_x>` -> (depth, offset text, tag, rest of line).
fn header(line: &str) -> Option<(u64, &str, &str, &str)> {
    let rest = line.strip_prefix('<')?;
    let (depth, rest) = rest.split_once('>')?;
    let depth: u64 = depth.trim().parse().ok()?;
    let rest = rest.strip_prefix('<')?;
    let (off, rest) = rest.split_once('>')?;
    let rest = rest.strip_prefix('<')?;
    let (tag, rest) = rest.split_once('>')?;
    if !tag.starts_with("DW_TAG_") {
        return None;
    }
    // `0x2a` or, with dwarfdump -G, `0x2a GOFF=0x...`.
    let off = off.split_whitespace().next().unwrap_or("");
    Some((depth, off, tag.trim(), rest))
}

/// Splits ` DW_AT_a<v> DW_AT_b<w>` into attributes: a value runs from the
/// `<` after the name to the last `>` before the next ` DW_AT_` (values nest
/// brackets: `DW_AT_type<<0x0000002a>>`).
fn attributes(rest: &str, die: &mut Die) {
    let mut starts: Vec<usize> = Vec::new();
    let bytes = rest.as_bytes();
    let mut from = 0;
    while let Some(i) = rest.get(from..).and_then(|s| s.find("DW_AT_")) {
        let at = from + i;
        if at == 0 || bytes.get(at - 1).is_some_and(|c| c.is_ascii_whitespace()) {
            starts.push(at);
        }
        from = at + 6;
    }
    for (k, &start) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(rest.len());
        let Some(chunk) = rest.get(start..end) else {
            continue;
        };
        let chunk = chunk.trim_end();
        let Some(lt) = chunk.find('<') else { continue };
        let name = &chunk[..lt];
        let mut value = &chunk[lt + 1..];
        if let Some(v) = value.strip_suffix('>') {
            value = v;
        }
        set_attribute(die, name, value);
    }
}

fn set_attribute(die: &mut Die, name: &str, value: &str) {
    match name {
        "DW_AT_name" => {
            let v = value.trim();
            let v = match v.strip_prefix("(indexed string:") {
                Some(r) => r.split_once(')').map(|(_, s)| s.trim()).unwrap_or(""),
                None => v,
            };
            let v = v
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .unwrap_or(v);
            if !v.is_empty() && die.name.is_none() {
                die.name = Some(v.to_owned());
            }
        }
        "DW_AT_byte_size" => die.byte_size = leading_u64(value),
        "DW_AT_type" => match reference(value) {
            Some(r) => die.type_ref = Some(r),
            None => die.bad_type_ref = true,
        },
        "DW_AT_upper_bound" => die.upper_bound = leading_int(value),
        "DW_AT_count" => die.count = leading_u64(value),
        "DW_AT_data_member_location" => die.location = Some(member_location(value)),
        "DW_AT_bit_offset" => die.bit_offset = leading_int(value),
        "DW_AT_bit_size" => die.bit_size = leading_u64(value),
        "DW_AT_data_bit_offset" => die.data_bit_offset = leading_u64(value),
        "DW_AT_const_value" => die.const_value = leading_int(value),
        "DW_AT_encoding" => die.encoding = Some(value.trim().to_owned()),
        "DW_AT_declaration" => die.declaration = true,
        "DW_AT_external" => die.external = true,
        _ => {}
    }
}

/// `<0x0000002a>`, `<0x2a GOFF=0x...>`, `0x2a` -> 0x2a.
fn reference(value: &str) -> Option<u64> {
    let v = value.trim().trim_start_matches('<').trim();
    let tok = v.split(|c: char| c.is_whitespace() || c == '>').next()?;
    parse_u64(tok)
}

fn parse_int(s: &str) -> Option<i128> {
    let s = s.trim();
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let v = match body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        Some(h) if !h.is_empty() && h.len() <= 32 => i128::from_str_radix(h, 16).ok()?,
        Some(_) => return None,
        None if !body.is_empty()
            && body.len() <= 38
            && body.bytes().all(|c| c.is_ascii_digit()) =>
        {
            body.parse::<i128>().ok()?
        }
        None => return None,
    };
    Some(if neg { -v } else { v })
}

fn parse_u64(s: &str) -> Option<u64> {
    parse_int(s).and_then(|v| u64::try_from(v).ok())
}

/// The leading integer of a value: `0x00000004`, `128(as signed = -128)`,
/// `176 (-80)`, `-1`.
fn leading_int(value: &str) -> Option<i128> {
    let v = value.trim();
    let end = v
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_hexdigit() || c == 'x' || c == 'X' || (i == 0 && c == '-')))
        .map(|(i, _)| i)
        .unwrap_or(v.len());
    parse_int(&v[..end])
}

fn leading_u64(value: &str) -> Option<u64> {
    leading_int(value).and_then(|v| u64::try_from(v).ok())
}

/// `DW_AT_data_member_location` forms: a number (`8`, `0x8`,
/// `128(as signed = -128)`), a decoded expression (`DW_OP_plus_uconst 8`,
/// `len 0x0002: 2308: DW_OP_plus_uconst 8`), or a raw block
/// (`len 0x0002: 0x2308`, `<2 bytes: 0x23 0x08>`).
fn member_location(value: &str) -> Location {
    let v = value.trim();
    for op in ["DW_OP_plus_uconst", "DW_OP_constu"] {
        if let Some(i) = v.find(op) {
            let after = v[i + op.len()..]
                .trim_start()
                .trim_start_matches(':')
                .trim_start();
            return leading_u64(after).map_or(Location::Unsupported, Location::Offset);
        }
    }
    if let Some(i) = v.find("DW_OP_lit") {
        let digits: String = v[i + 9..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        return digits
            .parse()
            .map_or(Location::Unsupported, Location::Offset);
    }
    if v.contains("DW_OP_") || v.to_ascii_lowercase().contains("loclist") {
        return Location::Unsupported;
    }
    // Raw blocks.
    let block: Option<Vec<u8>> = if let Some(r) = v.strip_prefix("len ") {
        // `len 0x0002: 0x2308` or `len 0x0002: 2308:`
        r.split_once(':')
            .map(|(_, b)| b.trim().trim_end_matches(':').trim())
            .and_then(|b| {
                let b = b.strip_prefix("0x").unwrap_or(b);
                hex_bytes(b)
            })
    } else if let Some((_, r)) = v.split_once("bytes:") {
        r.split_whitespace()
            .map(|t| u8::from_str_radix(t.trim_start_matches("0x"), 16).ok())
            .collect()
    } else {
        None
    };
    if let Some(data) = block {
        return match data.split_first() {
            Some((0x23 | 0x10, rest)) => uleb(rest).map_or(Location::Unsupported, Location::Offset),
            _ => Location::Unsupported,
        };
    }
    leading_u64(v).map_or(Location::Unsupported, Location::Offset)
}

fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    if s.is_empty() || !s.len().is_multiple_of(2) || s.len() > 64 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

/// A ULEB128 that must use every byte.
fn uleb(data: &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    for (i, b) in data.iter().enumerate() {
        let shift = 7 * i as u32;
        if shift >= 64 {
            return None;
        }
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return (i + 1 == data.len()).then_some(v);
        }
    }
    None
}

struct Builder<'a> {
    dies: &'a [Die],
    ir: &'a mut Ir,
    /// (compile unit, offset) -> DIE index.
    by_offset: HashMap<(u32, u64), u32>,
    /// DIE index -> its type id.
    type_of: HashMap<u32, TypeId>,
    problems: Problems,
    missing: Option<TypeId>,
    void: Option<TypeId>,
    pointer_size: Option<u64>,
}

impl<'a> Builder<'a> {
    fn new(dies: &'a [Die], ir: &'a mut Ir, mut problems: Problems) -> Self {
        let mut by_offset = HashMap::with_capacity(dies.len());
        for (i, d) in dies.iter().enumerate() {
            if by_offset.insert((d.cu, d.offset), i as u32).is_some() {
                problems.duplicate_offsets += 1;
            }
        }
        // The first DIE at an offset wins.
        for (i, d) in dies.iter().enumerate().rev() {
            by_offset.insert((d.cu, d.offset), i as u32);
        }
        Builder {
            dies,
            ir,
            by_offset,
            type_of: HashMap::new(),
            problems,
            missing: None,
            void: None,
            pointer_size: None,
        }
    }

    fn build(&mut self) {
        // Pointer size: the most common declared one.
        let mut sizes: HashMap<u64, usize> = HashMap::new();
        for d in self.dies {
            if matches!(d.tag, Some(Tag::Pointer | Tag::Reference)) {
                if let Some(s) = d.byte_size {
                    *sizes.entry(s).or_default() += 1;
                }
            }
        }
        self.pointer_size = sizes
            .into_iter()
            .max_by_key(|(s, n)| (*n, *s))
            .map(|(s, _)| s);
        // Pass 1: one type id per type DIE, so references can be resolved in any order.
        for (i, d) in self.dies.iter().enumerate() {
            if d.tag.is_some_and(Tag::is_type) {
                let id = self.ir.push(Type::Void);
                self.type_of.insert(i as u32, id);
            }
        }
        // Pass 2: fill them (records last, so that member types have sizes).
        for (i, d) in self.dies.iter().enumerate() {
            if d.tag.is_some_and(Tag::is_type)
                && !matches!(d.tag, Some(Tag::Struct | Tag::Union | Tag::Class))
            {
                self.fill(i as u32);
            }
        }
        for (i, d) in self.dies.iter().enumerate() {
            if matches!(d.tag, Some(Tag::Struct | Tag::Union | Tag::Class)) {
                self.fill(i as u32);
            }
        }
    }

    fn void(&mut self) -> TypeId {
        match self.void {
            Some(v) => v,
            None => {
                let v = self.ir.push(Type::Void);
                self.void = Some(v);
                v
            }
        }
    }

    /// The type a DIE's `DW_AT_type` names; void when absent.
    fn target(&mut self, d: &Die) -> TypeId {
        if d.bad_type_ref {
            return self.missing_type(d, "unreadable");
        }
        let Some(r) = d.type_ref else {
            return self.void();
        };
        match self
            .by_offset
            .get(&(d.cu, r))
            .and_then(|i| self.type_of.get(i))
        {
            Some(id) => *id,
            None => self.missing_type(d, &format!("<0x{r:x}>")),
        }
    }

    fn missing_type(&mut self, d: &Die, what: &str) -> TypeId {
        self.problems.missing_refs += 1;
        if self.problems.first_missing.is_none() {
            self.problems.first_missing = Some(format!("line {}: DW_AT_type {what}", d.line));
        }
        match self.missing {
            Some(m) => m,
            None => {
                let m = self.ir.push(Type::Unknown {
                    what: "MissingType".into(),
                    size: None,
                });
                self.missing = Some(m);
                m
            }
        }
    }

    fn fill(&mut self, index: u32) {
        let dies = self.dies;
        let Some(d) = dies.get(index as usize) else {
            return;
        };
        let Some(&id) = self.type_of.get(&index) else {
            return;
        };
        let Some(tag) = d.tag else { return };
        let ty = match tag {
            Tag::Base => Type::Base {
                name: d
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("__unnamed_base_{:x}", d.global)),
                size: d.byte_size.unwrap_or(0),
                signed: d.encoding.as_deref().is_some_and(|e| {
                    e.contains("DW_ATE_signed")
                        || e.contains("DW_ATE_float")
                        || e.contains("DW_ATE_complex_float")
                }),
            },
            Tag::Pointer | Tag::Reference => {
                let target = self.target(d);
                Type::Pointer {
                    target,
                    size: d.byte_size.or(self.pointer_size).unwrap_or(8),
                }
            }
            Tag::Const | Tag::Volatile | Tag::Restrict => Type::Qualified {
                target: self.target(d),
            },
            Tag::Typedef => {
                let target = self.target(d);
                match &d.name {
                    Some(name) => Type::Typedef {
                        name: name.clone(),
                        target,
                    },
                    None => Type::Qualified { target },
                }
            }
            Tag::Subroutine => Type::Function,
            Tag::Unspecified => Type::Void,
            Tag::Array => self.array(d),
            Tag::Enumeration => self.enumeration(d),
            Tag::Struct | Tag::Union | Tag::Class => self.record(d, tag),
            _ => return,
        };
        if let Some(slot) = self.ir.types.get_mut(id.index()) {
            *slot = ty;
        }
    }

    fn array(&mut self, d: &Die) -> Type {
        let element = self.target(d);
        let mut dims: Vec<u64> = Vec::new();
        for &c in &d.children {
            let Some(sub) = self.dies.get(c as usize) else {
                continue;
            };
            if sub.tag != Some(Tag::Subrange) {
                continue;
            }
            let count = match (sub.count, sub.upper_bound) {
                (Some(n), _) => n,
                // An upper bound of -1 (or all ones) is a flexible array.
                (None, Some(ub))
                    if ub < 0 || ub == i128::from(u64::MAX) || ub == i128::from(u32::MAX) =>
                {
                    0
                }
                (None, Some(ub)) => u64::try_from(ub)
                    .ok()
                    .and_then(|u| u.checked_add(1))
                    .unwrap_or(0),
                (None, None) => 0,
            };
            let count = if count > MAX_ARRAY_COUNT {
                self.problems
                    .huge_arrays
                    .push(format!("line {}: {count} elements", sub.line));
                0
            } else {
                count
            };
            dims.push(count);
        }
        if dims.is_empty() {
            dims.push(0);
        }
        // T[a][b] is an array of a arrays of b T: build from the innermost.
        let mut inner = element;
        for &count in dims.iter().skip(1).rev() {
            inner = self.ir.push(Type::Array {
                element: inner,
                count,
            });
        }
        Type::Array {
            element: inner,
            count: dims.first().copied().unwrap_or(0),
        }
    }

    fn enumeration(&mut self, d: &Die) -> Type {
        let mut values = Vec::new();
        for &c in &d.children {
            let Some(e) = self.dies.get(c as usize) else {
                continue;
            };
            if e.tag != Some(Tag::Enumerator) {
                continue;
            }
            if let (Some(n), Some(v)) = (&e.name, e.const_value) {
                values.push((n.clone(), v));
            }
        }
        let size = d.byte_size.unwrap_or(4);
        let signed = match d.type_ref.and_then(|_| {
            let t = self.target(d);
            match self.ir.types.get(self.ir.resolve(t).index()) {
                Some(Type::Base { signed, .. }) => Some(*signed),
                _ => None,
            }
        }) {
            Some(s) => s,
            None => values.iter().any(|(_, v)| *v < 0),
        };
        Type::Enum(Enum {
            name: d.name.clone(),
            size,
            signed,
            values,
            origin: d.global,
        })
    }

    fn record(&mut self, d: &Die, tag: Tag) -> Type {
        let kind = match tag {
            Tag::Union => RecordKind::Union,
            Tag::Class => RecordKind::Class,
            _ => RecordKind::Struct,
        };
        let declaration = d.declaration || (d.byte_size.is_none() && d.children.is_empty());
        let mut members = Vec::new();
        if !declaration {
            for &c in &d.children {
                let Some(m) = self.dies.get(c as usize) else {
                    continue;
                };
                if m.tag != Some(Tag::Member) || m.external || m.declaration {
                    continue;
                }
                if let Some(member) = self.member(d, m) {
                    members.push(member);
                }
            }
        }
        Type::Record(Record {
            kind,
            name: d.name.clone(),
            size: d.byte_size.unwrap_or(0),
            members,
            declaration,
            origin: d.global,
        })
    }

    fn member(&mut self, parent: &Die, m: &Die) -> Option<Member> {
        let ty = self.target(m);
        let what = || {
            format!(
                "{}.{}",
                parent.name.as_deref().unwrap_or("<anonymous>"),
                m.name.as_deref().unwrap_or("<anonymous>")
            )
        };
        let loc = match m.location {
            None => 0,
            Some(Location::Offset(o)) => o,
            Some(Location::Unsupported) => {
                self.problems
                    .bad_locations
                    .push(format!("line {}: {}", m.line, what()));
                return None;
            }
        };
        let Some(bit_size) = m.bit_size else {
            return Some(Member {
                name: m.name.clone(),
                offset: loc,
                ty,
                bitfield: None,
            });
        };
        // Unnamed bit fields are padding.
        m.name.as_ref()?;
        let bit_size32 = u32::try_from(bit_size).ok().filter(|b| *b > 0 && *b <= 128);
        let Some(bit_size32) = bit_size32 else {
            self.problems.bad_bitfields.push(format!(
                "line {}: {} has {bit_size} bits",
                m.line,
                what()
            ));
            return None;
        };
        let type_size = self.ir.size_of(ty);
        // Absolute bit position from the start of the record.
        let absolute: Option<u64> = if let Some(dbo) = m.data_bit_offset {
            loc.checked_mul(8).and_then(|l| l.checked_add(dbo))
        } else if let Some(bo) = m.bit_offset {
            let unit = m.byte_size.or(type_size);
            match unit {
                Some(unit) => {
                    // Little-endian: LSB = unit_bits - bit_offset - bit_size.
                    (i128::from(unit) * 8)
                        .checked_sub(bo)
                        .and_then(|v| v.checked_sub(i128::from(bit_size)))
                        .and_then(|lsb| (i128::from(loc) * 8).checked_add(lsb))
                        .and_then(|a| u64::try_from(a).ok())
                }
                None => None,
            }
        } else {
            loc.checked_mul(8)
        };
        let Some(absolute) = absolute else {
            self.problems.bad_bitfields.push(format!(
                "line {}: {} has an impossible bit position",
                m.line,
                what()
            ));
            return None;
        };
        // Express it in a storage unit of the member type's size when it
        // fits, so descriptors look like the compiler's view.
        let unit_bits = type_size
            .filter(|s| (1..=16).contains(s) && s.is_power_of_two())
            .map(|s| s * 8);
        let (offset, bit) = match unit_bits {
            Some(ub) if absolute % ub + bit_size <= ub => {
                ((absolute - absolute % ub) / 8, absolute % ub)
            }
            _ => (absolute / 8, absolute % 8),
        };
        let bit_offset = u32::try_from(bit).ok()?;
        Some(Member {
            name: m.name.clone(),
            offset,
            ty,
            bitfield: Some(BitField {
                bit_offset,
                bit_size: bit_size32,
            }),
        })
    }

    fn finish(self, path: &Path) {
        let p = self.problems;
        let file = path.display();
        if p.bad_lines > 0 {
            self.ir.warnings.push(format!(
                "{file}: {} lines are not dwarfdump DIE lines and were skipped (first: line {})",
                p.bad_lines,
                p.first_bad_line.unwrap_or(0)
            ));
        }
        if p.duplicate_offsets > 0 {
            self.ir.warnings.push(format!(
                "{file}: {} DIEs repeat an offset already used in their compile unit; the first is used",
                p.duplicate_offsets
            ));
        }
        if p.missing_refs > 0 {
            self.ir.warnings.push(format!(
                "{file}: {} type references point to no DIE (first: {}); their members have an unknown type",
                p.missing_refs,
                p.first_missing.unwrap_or_default()
            ));
        }
        let mut list = |what: &str, v: Vec<String>| {
            if !v.is_empty() {
                self.ir
                    .warnings
                    .push(format!("{file}: {} {what} (first: {})", v.len(), v[0]));
            }
        };
        list(
            "members with an unsupported DW_AT_data_member_location were left out",
            p.bad_locations,
        );
        list(
            "bit fields with an impossible size or position were left out",
            p.bad_bitfields,
        );
        list(
            &format!("arrays with more than {MAX_ARRAY_COUNT} elements were emitted with count 0"),
            p.huge_arrays,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_forms() {
        let off = |s| match member_location(s) {
            Location::Offset(o) => Some(o),
            Location::Unsupported => None,
        };
        assert_eq!(off("8"), Some(8));
        assert_eq!(off("136(as signed = -120)"), Some(136));
        assert_eq!(off("DW_OP_plus_uconst 24"), Some(24));
        assert_eq!(off("len 0x0002: 2318: DW_OP_plus_uconst 24"), Some(24));
        assert_eq!(off("len 0x0003: 0x239001"), Some(144));
        assert_eq!(off("<2 bytes: 0x23 0x08"), Some(8));
        assert_eq!(off("len 0x0002: 0x9108"), None);
        assert_eq!(off("DW_OP_fbreg -8"), None);
    }

    #[test]
    fn header_and_attributes() {
        let line = "<2><0x581><DW_TAG_member> DW_AT_name<\"base1\"> DW_AT_type<<0x00000082>> DW_AT_byte_size<0x00000004> DW_AT_bit_size<0x00000008> DW_AT_bit_offset<0x00000018> DW_AT_data_member_location<4>";
        let (depth, off, tag, rest) = header(line).unwrap();
        assert_eq!((depth, off, tag), (2, "0x581", "DW_TAG_member"));
        let mut d = Die::default();
        attributes(rest, &mut d);
        assert_eq!(d.name.as_deref(), Some("base1"));
        assert_eq!(d.type_ref, Some(0x82));
        assert_eq!(
            (d.byte_size, d.bit_size, d.bit_offset),
            (Some(4), Some(8), Some(24))
        );
        assert!(matches!(d.location, Some(Location::Offset(4))));
        assert!(header("<2><0x581>DW_TAG_member").is_none());
        assert!(header("garbage").is_none());
    }

    #[test]
    fn bitfields_arrays_and_hostile_references() {
        let text = "<0><0x0+0xb><DW_TAG_compile_unit> DW_AT_name<\"m.c\">\n\
<1><0x10><DW_TAG_base_type> DW_AT_byte_size<0x00000004> DW_AT_encoding<DW_ATE_unsigned> DW_AT_name<\"unsigned int\">\n\
<1><0x20><DW_TAG_structure_type> DW_AT_name<\"s\"> DW_AT_byte_size<0x00000010>\n\
<2><0x28><DW_TAG_member> DW_AT_name<\"a\"> DW_AT_type<<0x00000010>> DW_AT_byte_size<0x00000004> DW_AT_bit_size<0x00000004> DW_AT_bit_offset<0x0000001c> DW_AT_data_member_location<4>\n\
<2><0x30><DW_TAG_member> DW_AT_name<\"b\"> DW_AT_type<<0x00000010>> DW_AT_bit_size<3> DW_AT_data_bit_offset<37>\n\
<2><0x38><DW_TAG_member> DW_AT_name<\"arr\"> DW_AT_type<<0x00000050>> DW_AT_data_member_location<8>\n\
<2><0x40><DW_TAG_member> DW_AT_name<\"gone\"> DW_AT_type<<0x00009999>> DW_AT_data_member_location<12>\n\
<1><0x50><DW_TAG_array_type> DW_AT_type<<0x00000010>>\n\
<2><0x58><DW_TAG_subrange_type> DW_AT_upper_bound<99999999999999>\n\
<1><0x60><DW_TAG_typedef> DW_AT_name<\"loop1\"> DW_AT_type<<0x00000068>>\n\
<1><0x68><DW_TAG_typedef> DW_AT_name<\"loop2\"> DW_AT_type<<0x00000060>>\n\
this is garbage\n<1><0x70><DW_TAG_struct";
        let mut ir = Ir::default();
        parse_into(text, Path::new("t"), &mut ir).unwrap();
        let s = ir
            .types
            .iter()
            .find_map(|t| match t {
                Type::Record(r) if r.name.as_deref() == Some("s") => Some(r.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(s.members[0].offset, 4);
        assert_eq!(
            s.members[0].bitfield,
            Some(BitField {
                bit_offset: 0,
                bit_size: 4
            })
        );
        // data_bit_offset 37 = byte 4, bit 5 of a 4-byte unit.
        assert_eq!(
            (
                s.members[1].offset,
                s.members[1].bitfield.unwrap().bit_offset
            ),
            (4, 5)
        );
        assert!(matches!(
            ir.get(s.members[2].ty),
            Type::Array { count: 0, .. }
        ));
        assert!(matches!(ir.get(s.members[3].ty), Type::Unknown { .. }));
        let w = ir.warnings.join("\n");
        assert!(w.contains("2 lines are not dwarfdump"), "{w}");
        assert!(w.contains("point to no DIE"), "{w}");
        assert!(w.contains("count 0"), "{w}");
        // The typedef cycle resolves to something without looping.
        let looped = ir
            .types
            .iter()
            .position(|t| matches!(t, Type::Typedef { name, .. } if name == "loop1"))
            .unwrap();
        let _ = ir.size_of(TypeId(looped as u32));
        let emitted = crate::emit::emit(&ir, Default::default());
        assert!(emitted.profile.structs.contains_key("s"));
    }
}
