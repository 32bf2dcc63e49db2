//! Volatility 2 vtypes (a Python literal, parsed by [`super::pyliteral`])
//! -> IR.
//!
//! ```text
//! mac_types = {
//!   'proc': [ 0x10, {
//!     'p_list': [0x0, ['pointer', ['proc']]],
//!     'p_flag': [0x8, ['BitField', {'start_bit': 0, 'end_bit': 3}]],
//! }],
//! }
//! ```
//! Every `NAME_types = {...}` assignment is read (or, when there is none,
//! every dict assignment that looks like vtypes). Each entry becomes an IR
//! record whose members point at IR types created from the descriptors:
//! `['pointer', [X]]` (also `pointer32`, `pointer64`, new-style
//! `['Pointer', {'target': X}]`), `['array', N, [X]]` (and
//! `['Array', {'count': N, 'target': X}]`), `['BitField', {'start_bit', 'end_bit',
//! 'native_type' | 'target'}]`, `['Enumeration', {'target', 'choices', 'enum_name'}]`,
//! `['void']`, `['String', {'length': N}]`, and plain names (`['int']`, `'int'`,
//! `['list_head', {}]`). A name that is neither defined in the file nor a
//! native type is kept as a named type and reported once.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;

use super::pyliteral::{self, PyValue};
use crate::ir::{BitField, Enum, Ir, Member, Record, RecordKind, Type, TypeId};
use crate::{Error, Result};

/// Deepest descriptor nesting followed (deeper ones become unknown types).
const MAX_DESCRIPTOR_DEPTH: u32 = 32;
/// Largest array count accepted; above it the array is emitted with count 0.
const MAX_ARRAY_COUNT: i128 = 1 << 32;

/// Size and signedness of the native types Volatility 2 uses, for a pointer
/// size of 4 or 8 bytes (ILP32 or LP64, as on macOS).
fn native(name: &str, pointer_size: u64) -> Option<(u64, bool)> {
    let long = if pointer_size == 4 { 4 } else { 8 };
    Some(match name {
        "char" | "signed char" | "int8_t" => (1, true),
        "unsigned char" | "uint8_t" | "bool" | "_Bool" => (1, false),
        "short" | "short int" | "int16_t" => (2, true),
        "unsigned short" | "short unsigned int" | "uint16_t" | "wchar_t" => (2, false),
        "int" | "int32_t" | "long int32" => (4, true),
        "unsigned int" | "uint32_t" | "unsigned" => (4, false),
        "long" | "long int" => (long, true),
        "unsigned long" | "long unsigned int" | "address" => (long, false),
        "long long" | "long long int" | "int64_t" => (8, true),
        "unsigned long long" | "long long unsigned int" | "uint64_t" => (8, false),
        "float" => (4, true),
        "double" => (8, true),
        "long double" => (16, true),
        _ => return None,
    })
}

/// Whether `name` is Volatility 2's synthetic name of an anonymous member
/// (`__unnamed_0x1499e`, `__unnamed_18297068`).
fn is_anonymous_member(name: &str) -> bool {
    name.strip_prefix("__unnamed_").is_some_and(|r| {
        let digits = r.strip_prefix("0x").unwrap_or(r);
        !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_hexdigit())
    })
}

/// The vtypes dict(s) of a parsed module, merged in source order.
fn select(assignments: &[(String, PyValue)]) -> Vec<(&str, &PyValue)> {
    let looks_like = |v: &PyValue| {
        let Some(d) = v.as_dict() else { return false };
        let sample: Vec<_> = d.iter().take(50).collect();
        let good = sample
            .iter()
            .filter(|(_, e)| {
                e.as_list().is_some_and(|l| {
                    l.len() >= 2 && l.get(1).is_some_and(|x| x.as_dict().is_some())
                })
            })
            .count();
        !sample.is_empty() && good * 2 > sample.len()
    };
    let named: Vec<&PyValue> = assignments
        .iter()
        .filter(|(n, v)| n.ends_with("_types") && v.as_dict().is_some())
        .map(|(_, v)| v)
        .collect();
    let chosen: Vec<&PyValue> = if named.is_empty() {
        assignments
            .iter()
            .filter(|(_, v)| looks_like(v))
            .map(|(_, v)| v)
            .collect()
    } else {
        named
    };
    let mut out: Vec<(&str, &PyValue)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for d in chosen {
        for (k, v) in d.as_dict().unwrap_or_default() {
            let Some(k) = k.as_str() else { continue };
            match index.get(k) {
                Some(&i) => out[i].1 = v,
                None => {
                    index.insert(k, out.len());
                    out.push((k, v));
                }
            }
        }
    }
    out
}

/// Parses vtypes text into `ir`. `pointer_size` is 8 or 4.
pub fn parse_into(text: &str, path: &Path, ir: &mut Ir, pointer_size: u64) -> Result<()> {
    let assignments = pyliteral::parse_assignments(text)
        .map_err(|e| Error::input(path, format!("not a vtypes literal: {e}")))?;
    let entries = select(&assignments);
    if entries.is_empty() {
        return Err(Error::input(
            path,
            "no `NAME_types = {...}` vtypes dict found",
        ));
    }
    let mut b = Builder {
        ir,
        pointer_size,
        records: HashMap::new(),
        record_ids: HashSet::new(),
        named: HashMap::new(),
        enums: HashMap::new(),
        void: None,
        unknown_names: BTreeSet::new(),
        bad: Vec::new(),
    };
    for (name, _) in &entries {
        let id = b.ir.push(Type::Void);
        b.records.insert((*name).to_owned(), id);
        b.record_ids.insert(id);
    }
    for (i, (name, entry)) in entries.iter().enumerate() {
        let record = b.record(name, entry, i as u64);
        if let Some(id) = b.records.get(*name).copied() {
            if let Some(slot) = b.ir.types.get_mut(id.index()) {
                *slot = Type::Record(record);
            }
        }
    }
    let file = path.display();
    if !b.unknown_names.is_empty() {
        let n = b.unknown_names.len();
        let first: Vec<_> = b.unknown_names.iter().take(5).cloned().collect();
        b.ir.warnings.push(format!(
            "{file}: {n} type names are neither defined in the file nor native types, kept as names: {}",
            first.join(", ")
        ));
    }
    if !b.bad.is_empty() {
        b.ir.warnings.push(format!(
            "{file}: {} malformed vtypes entries skipped (first: {})",
            b.bad.len(),
            b.bad[0]
        ));
    }
    Ok(())
}

/// An enumeration's identity: (enum_name, target, values).
type EnumKey = (Option<String>, String, Vec<(String, i128)>);

struct Builder<'a> {
    ir: &'a mut Ir,
    pointer_size: u64,
    records: HashMap<String, TypeId>,
    record_ids: HashSet<TypeId>,
    named: HashMap<String, TypeId>,
    enums: HashMap<EnumKey, TypeId>,
    void: Option<TypeId>,
    unknown_names: BTreeSet<String>,
    bad: Vec<String>,
}

impl Builder<'_> {
    fn record(&mut self, name: &str, entry: &PyValue, origin: u64) -> Record {
        let mut rec = Record {
            kind: RecordKind::Struct,
            name: Some(name.to_owned()),
            size: 0,
            members: Vec::new(),
            declaration: false,
            origin,
        };
        let parts = entry.as_list().unwrap_or_default();
        match parts.first().and_then(PyValue::as_int).map(u64::try_from) {
            Some(Ok(size)) => rec.size = size,
            Some(Err(_)) => self.bad.push(format!("{name}: negative size")),
            // Volatility allows None for a size it does not know.
            None => {}
        }
        let Some(fields) = parts.get(1).and_then(PyValue::as_dict) else {
            self.bad.push(format!("{name}: not [size, {{fields}}]"));
            return rec;
        };
        for (fname, fdesc) in fields {
            let Some(fname) = fname.as_str() else {
                self.bad
                    .push(format!("{name}: a field name is not a string"));
                continue;
            };
            let fl = fdesc.as_list().unwrap_or_default();
            let offset = match fl.first().and_then(PyValue::as_int).map(u64::try_from) {
                Some(Ok(o)) => o,
                _ => {
                    self.bad.push(format!("{name}.{fname}: no offset"));
                    continue;
                }
            };
            let Some(tdesc) = fl.get(1) else {
                self.bad.push(format!("{name}.{fname}: no type"));
                continue;
            };
            if let Some((ty, bf)) = self.bitfield(tdesc) {
                match bf {
                    Some(bitfield) => rec.members.push(Member {
                        name: Some(fname.to_owned()),
                        offset,
                        ty,
                        bitfield: Some(bitfield),
                    }),
                    None => self
                        .bad
                        .push(format!("{name}.{fname}: bad BitField bounds")),
                }
                continue;
            }
            let ty = self.descriptor(tdesc, 0);
            let anonymous = is_anonymous_member(fname)
                && self.record_ids.contains(&ty)
                && self.records.get(name) != Some(&ty);
            let member_name = if anonymous {
                None
            } else {
                Some(fname.to_owned())
            };
            rec.members.push(Member {
                name: member_name,
                offset,
                ty,
                bitfield: None,
            });
        }
        rec
    }

    /// `(storage type, bit field)` when `tdesc` is a BitField (or an
    /// Enumeration over one); the bit field is `None` when its bounds are bad.
    fn bitfield(&mut self, tdesc: &PyValue) -> Option<(TypeId, Option<BitField>)> {
        let l = tdesc.as_list()?;
        let class = l.first()?.as_str()?;
        let kw = l.get(1);
        match class {
            "BitField" => {
                let (bf, end) = bit_bounds(kw);
                let native = kw
                    .and_then(|k| k.get("native_type").or_else(|| k.get("target")))
                    .and_then(PyValue::as_str)
                    .map(str::to_owned)
                    .unwrap_or_else(|| unit_for(end).to_owned());
                Some((self.named_type(&native), bf))
            }
            "Enumeration"
                if kw.and_then(|k| k.get("target")).and_then(PyValue::as_str)
                    == Some("BitField") =>
            {
                let args = kw.and_then(|k| k.get("target_args"));
                let (bf, end) = bit_bounds(args);
                let native = args
                    .and_then(|k| k.get("native_type").or_else(|| k.get("target")))
                    .and_then(PyValue::as_str)
                    .map(str::to_owned)
                    .unwrap_or_else(|| unit_for(end).to_owned());
                let ty = self.enumeration(kw, &native);
                Some((ty, bf))
            }
            _ => None,
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

    fn named_type(&mut self, name: &str) -> TypeId {
        if let Some(id) = self.records.get(name) {
            return *id;
        }
        if matches!(name, "void" | "Void") {
            return self.void();
        }
        if let Some(id) = self.named.get(name) {
            return *id;
        }
        let (size, signed) = match native(name, self.pointer_size) {
            Some(n) => n,
            None => {
                self.unknown_names.insert(name.to_owned());
                (0, false)
            }
        };
        let id = self.ir.push(Type::Base {
            name: name.to_owned(),
            size,
            signed,
        });
        self.named.insert(name.to_owned(), id);
        id
    }

    fn unknown(&mut self, what: &str) -> TypeId {
        self.ir.push(Type::Unknown {
            what: what.to_owned(),
            size: None,
        })
    }

    fn descriptor(&mut self, v: &PyValue, depth: u32) -> TypeId {
        if depth > MAX_DESCRIPTOR_DEPTH {
            return self.unknown("TooDeep");
        }
        let l = match v {
            PyValue::Str(s) => return self.named_type(s),
            PyValue::List(l) => l,
            _ => return self.unknown("Malformed"),
        };
        let Some(class) = l.first().and_then(PyValue::as_str) else {
            return self.unknown("Malformed");
        };
        let kw = l.get(1);
        match class {
            "pointer" | "pointer32" | "pointer64" | "Pointer" => {
                let size = match class {
                    "pointer32" => 4,
                    "pointer64" => 8,
                    _ => self.pointer_size,
                };
                let target = match kw {
                    Some(PyValue::Dict(_)) => match kw.and_then(|k| k.get("target")) {
                        Some(t) => {
                            self.new_style_target(t, kw.and_then(|k| k.get("target_args")), depth)
                        }
                        None => self.void(),
                    },
                    Some(t) => self.descriptor(t, depth + 1),
                    None => self.void(),
                };
                self.ir.push(Type::Pointer { target, size })
            }
            "array" | "Array" => {
                let (count, element) = match kw {
                    Some(PyValue::Dict(_)) => {
                        let count = kw
                            .and_then(|k| k.get("count"))
                            .and_then(PyValue::as_int)
                            .unwrap_or(0);
                        let element = match kw.and_then(|k| k.get("target")) {
                            Some(t) => self.new_style_target(
                                t,
                                kw.and_then(|k| k.get("target_args")),
                                depth,
                            ),
                            None => self.unknown("Malformed"),
                        };
                        (count, element)
                    }
                    _ => {
                        let count = kw.and_then(PyValue::as_int).unwrap_or(0);
                        let element = match l.get(2) {
                            Some(t) => self.descriptor(t, depth + 1),
                            None => self.unknown("Malformed"),
                        };
                        (count, element)
                    }
                };
                let count = if (0..=MAX_ARRAY_COUNT).contains(&count) {
                    count as u64
                } else {
                    self.bad
                        .push(format!("array count {count} out of range, emitted as 0"));
                    0
                };
                self.ir.push(Type::Array { element, count })
            }
            "Enumeration" => {
                let target = kw
                    .and_then(|k| k.get("target"))
                    .and_then(PyValue::as_str)
                    .unwrap_or("int")
                    .to_owned();
                self.enumeration(kw, &target)
            }
            "BitField" => {
                // A bit field outside a member position: its storage type.
                let native = kw
                    .and_then(|k| k.get("native_type").or_else(|| k.get("target")))
                    .and_then(PyValue::as_str)
                    .unwrap_or("unsigned int")
                    .to_owned();
                self.named_type(&native)
            }
            "void" | "Void" => self.void(),
            "Function" => self.ir.push(Type::Function),
            "String" | "UnicodeString" => {
                let length = kw
                    .and_then(|k| k.get("length"))
                    .and_then(PyValue::as_int)
                    .unwrap_or(0);
                let wide = class == "UnicodeString";
                let element = self.named_type(if wide { "unsigned short" } else { "char" });
                let count = u64::try_from(length)
                    .ok()
                    .filter(|c| *c as i128 <= MAX_ARRAY_COUNT)
                    .unwrap_or(0);
                self.ir.push(Type::Array {
                    element,
                    count: if wide { count / 2 } else { count },
                })
            }
            name => self.named_type(name),
        }
    }

    /// A new-style `target` (a name) with optional `target_args`.
    fn new_style_target(&mut self, target: &PyValue, args: Option<&PyValue>, depth: u32) -> TypeId {
        match (target.as_str(), args) {
            (Some(t), Some(a @ PyValue::Dict(_))) => {
                let as_list = PyValue::List(vec![PyValue::Str(t.to_owned()), a.clone()]);
                self.descriptor(&as_list, depth + 1)
            }
            _ => self.descriptor(target, depth + 1),
        }
    }

    fn enumeration(&mut self, kw: Option<&PyValue>, target: &str) -> TypeId {
        let name = kw
            .and_then(|k| k.get("enum_name"))
            .and_then(PyValue::as_str)
            .map(str::to_owned);
        let mut values: Vec<(String, i128)> = Vec::new();
        if let Some(choices) = kw.and_then(|k| k.get("choices")).and_then(PyValue::as_dict) {
            let mut sorted: BTreeMap<i128, String> = BTreeMap::new();
            for (k, v) in choices {
                let key = match k {
                    PyValue::Int(i) => Some(*i),
                    PyValue::Str(s) => s.trim().parse::<i128>().ok(),
                    _ => None,
                };
                if let (Some(key), Some(v)) = (key, v.as_str()) {
                    sorted.insert(key, v.to_owned());
                }
            }
            values = sorted.into_iter().map(|(k, v)| (v, k)).collect();
        }
        let cache_key = (name.clone(), target.to_owned(), values.clone());
        if let Some(id) = self.enums.get(&cache_key) {
            return *id;
        }
        // Volatility 2's converters name an enumeration's integer by size
        // with their own table ({8: 'long long', 4: 'long', 2: 'short',
        // 1: 'char'}): there `long` is 4 bytes whatever the data model.
        let (size, signed) = match target {
            "long" => (4, true),
            "unsigned long" => (4, false),
            _ => native(target, self.pointer_size).unwrap_or((4, true)),
        };
        let origin = self.ir.types.len() as u64;
        let id = self.ir.push(Type::Enum(Enum {
            name,
            size,
            signed,
            values,
            origin,
        }));
        self.enums.insert(cache_key, id);
        id
    }
}

/// (bit field, end bit) from BitField keyword arguments.
fn bit_bounds(kw: Option<&PyValue>) -> (Option<BitField>, i128) {
    let start = kw
        .and_then(|k| k.get("start_bit"))
        .and_then(PyValue::as_int)
        .unwrap_or(0);
    let end = kw
        .and_then(|k| k.get("end_bit"))
        .and_then(PyValue::as_int)
        .unwrap_or(-1);
    let ok = (0..=512).contains(&start) && end > start && end - start <= 128 && end <= 1024;
    let bf = ok.then(|| BitField {
        bit_offset: start as u32,
        bit_size: (end - start) as u32,
    });
    (bf, end)
}

/// The smallest unsigned native type holding bits `0..end` (BitFields
/// without a `native_type`, as Volatility 2's Mac converter writes them).
fn unit_for(end: i128) -> &'static str {
    match end {
        ..=8 => "unsigned char",
        9..=16 => "unsigned short",
        17..=32 => "unsigned int",
        _ => "unsigned long long",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_descriptors() {
        let text = "mac_types = {\n 'proc': [ 0x20, {\n  'p_list': [0x0, ['pointer', ['proc']]],\n\
  'p_flag': [0x8, ['BitField', {'end_bit': 3, 'start_bit': 1}]],\n\
  'p_stat': [0xc, ['Enumeration', dict(target = 'long', choices = {1: 'SIDL', 2: 'SRUN'})]],\n\
  'p_comm': [0x10, ['array', 16, ['char']]],\n  '__unnamed_0x40': [0x8, ['__unnamed_0x40']],\n }],\n\
 '__unnamed_0x40': [ 0x4, { 'x': [0, ['unsigned int']] }],\n}\n";
        let mut ir = Ir::default();
        parse_into(text, Path::new("t.vtypes"), &mut ir, 8).unwrap();
        let e = crate::emit::emit(&ir, Default::default());
        let p = &e.profile.structs["proc"];
        assert_eq!(p.size, Some(0x20));
        assert_eq!(p.fields["p_comm"].offset, Some(0x10));
        assert!(
            p.fields.contains_key("x"),
            "anonymous member lifted: {:?}",
            p.fields.keys()
        );
        assert!(e
            .profile
            .enums
            .values()
            .any(|c| c.values().any(|v| v == "SRUN")));
        // A 4-byte enumeration (convert.py's `long`) reads 4 bytes.
        let stat = p.fields["p_stat"].descriptor.to_json();
        assert_eq!(stat[1]["target"], serde_json::json!("int"), "{stat}");
    }

    #[test]
    fn hostile_vtypes() {
        let mut ir = Ir::default();
        let e = parse_into("x = 1\n", Path::new("t"), &mut ir, 8).unwrap_err();
        assert!(e.to_string().contains("no `NAME_types"), "{e}");
        let deep = format!(
            "mac_types = {{'a': [1, {{'f': [0, {}'int'{}]}}]}}\n",
            "[".repeat(500),
            "]".repeat(500)
        );
        let e = parse_into(&deep, Path::new("t"), &mut ir, 8).unwrap_err();
        assert!(e.to_string().contains("nested deeper"), "{e}");
        let ok = "mac_types = {'a': [8, {'f': [0, ['array', 99999999999999999, ['int']]], 'g': ['x'], 'h': [0, ['BitField', {'start_bit': 5, 'end_bit': 2}]]}]}\n";
        let mut ir = Ir::default();
        parse_into(ok, Path::new("t"), &mut ir, 8).unwrap();
        assert!(
            ir.warnings.iter().any(|w| w.contains("malformed")),
            "{:?}",
            ir.warnings
        );
    }
}
