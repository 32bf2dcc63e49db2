//! Volatility 3 ISF read into the profile model, one piece at a time.
//!
//! ISF holds resolved layouts, so each piece maps straight to the model:
//! a `user_types` entry is a [`StructDef`], a type descriptor a
//! [`Descriptor`], an `enums` entry an [`EnumChoices`], `metadata` (+ the
//! banner in `symbols.linux_banner.constant_data`) a Rekall `$METADATA`.
//! These functions convert **one** entry at a time: [`crate::LazyProfile`]
//! calls them for the entry asked for (a lazily opened ISF file), the
//! compiler's ISF reader for every entry (a whole file converted). So a
//! type reads the same whichever way the file is opened, and the same as
//! in the Rekall profile the ISF was exported from (`docs/interop.md`).

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::descriptor::{Descriptor, EnumChoices};
use crate::error::{Error, Result};
use crate::profile::{Field, StructDef};

/// The prefix of the names the ISF export gives enumerations that a Rekall
/// profile writes inline (with their `choices` and no name); such an enum
/// reads back inline.
pub const INLINE_ENUM_PREFIX: &str = "__inline_enum_";

/// Deepest nesting of type descriptors accepted.
const MAX_DEPTH: u32 = 64;

/// Rekall profile classes for PE modules: a PDB whose capitalised stem is
/// one of these gets that `ProfileClass`, any other `BasicPEProfile`
/// (learnt from Rekall 1.7's `BasicPEProfile` subclasses).
pub const PROFILE_CLASSES: &[&str] = &[
    "Nt", "Ntoskrnl", "Ntkrnlmp", "Ntkrnlpa", "Ntkrpamp", "Ntdll", "Tcpip", "Win32k", "Conhost",
    "Lsasrv", "Wdigest", "Livessp",
];

/// The Rekall profile class of a PDB file name. Rekall's rule: the PDB file
/// name without extension, capitalised as Python's `str.capitalize()` does,
/// when Rekall has a profile class of that name; `BasicPEProfile` otherwise.
pub fn profile_class(pdb_file: &str) -> String {
    let stem = match pdb_file.rfind('.') {
        Some(i) if i > 0 => &pdb_file[..i],
        _ => pdb_file,
    };
    let mut chars = stem.chars();
    let capitalised: String = match chars.next() {
        Some(c) => c
            .to_uppercase()
            .chain(chars.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    };
    if PROFILE_CLASSES.contains(&capitalised.as_str()) {
        capitalised
    } else {
        "BasicPEProfile".into()
    }
}

/// What a type descriptor needs to know of an enumeration it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsfEnum {
    /// The base (storage) type, `int` when the entry gives none.
    pub base: String,
    /// The choices, for the enums the export made of inline ones
    /// ([`INLINE_ENUM_PREFIX`]); `None` otherwise (they are in `$ENUMS`).
    pub inline: Option<EnumChoices>,
}

/// The [`IsfEnum`] of the `enums` entry `e` named `name`.
pub fn enum_info(name: &str, e: &Value) -> IsfEnum {
    IsfEnum {
        base: e
            .get("base")
            .and_then(Value::as_str)
            .unwrap_or("int")
            .to_owned(),
        inline: name
            .starts_with(INLINE_ENUM_PREFIX)
            .then(|| enum_choices(e)),
    }
}

/// The choices of an `enums` entry: value -> name, the first name of a value
/// (in the entry's order) winning; values that are not integers are left out.
pub fn enum_choices(e: &Value) -> EnumChoices {
    let mut choices = EnumChoices::new();
    if let Some(c) = e.get("constants").and_then(Value::as_object) {
        for (k, v) in c {
            let v = v
                .as_i64()
                .map(i128::from)
                .or_else(|| v.as_u64().map(i128::from));
            if let Some(v) = v {
                choices.entry(v).or_insert_with(|| k.clone());
            }
        }
    }
    choices
}

fn bad(context: &str, message: impl Into<String>) -> Error {
    Error::format(context, message)
}

/// How an ISF file's types read: Rekall's conventions for what it was made
/// from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Conventions {
    /// Arrays of `char` are `String`s and arrays of `wchar_t` (`wchar`)
    /// `UnicodeString`s, as in a Rekall profile of a PDB: true for an ISF
    /// file of a Windows PDB ([`Conventions::of`]).
    pub string_arrays: bool,
}

impl Conventions {
    /// The conventions of a document with this `metadata`.
    pub fn of(meta: &Map<String, Value>) -> Self {
        Conventions {
            string_arrays: is_windows(meta),
        }
    }
}

/// A `user_types` entry as a struct, and whether it is a union (`kind`).
///
/// `enums` looks up the enumerations the members name (`None`: not in the
/// file, then `int` is assumed). Errors name the member (`NAME.FIELD`)
/// relative to the entry `name`.
pub fn user_type(
    name: &str,
    t: &Value,
    conventions: Conventions,
    enums: &mut dyn FnMut(&str) -> Option<IsfEnum>,
) -> Result<(StructDef, bool)> {
    let obj = t
        .as_object()
        .ok_or_else(|| bad(name, "a user type is not an object"))?;
    let size = obj.get("size").and_then(Value::as_u64);
    let mut fields = std::collections::BTreeMap::new();
    if let Some(fs) = obj.get("fields").and_then(Value::as_object) {
        for (fname, f) in fs {
            let ctx = || format!("{name}.{fname}");
            let ty = f.get("type").ok_or_else(|| bad(&ctx(), "has no type"))?;
            let descriptor = type_descriptor(ty, conventions, enums).map_err(|e| match e {
                Error::Format { message, .. } => bad(&ctx(), message),
                other => other,
            })?;
            let offset = f.get("offset").and_then(Value::as_u64);
            fields.insert(fname.clone(), Field { offset, descriptor });
        }
    }
    let union = obj.get("kind").and_then(Value::as_str) == Some("union");
    Ok((StructDef { size, fields }, union))
}

/// An ISF type descriptor (`{"kind": ..., ...}`) as a profile descriptor.
pub fn type_descriptor(
    t: &Value,
    conventions: Conventions,
    enums: &mut dyn FnMut(&str) -> Option<IsfEnum>,
) -> Result<Descriptor> {
    descriptor(t, conventions, enums, 0)
}

fn descriptor(
    t: &Value,
    conventions: Conventions,
    enums: &mut dyn FnMut(&str) -> Option<IsfEnum>,
    depth: u32,
) -> Result<Descriptor> {
    const C: &str = "ISF";
    if depth > MAX_DEPTH {
        return Err(bad(C, "type nesting too deep"));
    }
    let kind = t
        .get("kind")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(C, "type without kind"))?;
    let name = || {
        t.get("name")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| bad(C, format!("{kind} type without name")))
    };
    let sub = |key: &str, enums: &mut dyn FnMut(&str) -> Option<IsfEnum>| {
        descriptor(
            t.get(key)
                .ok_or_else(|| bad(C, format!("{kind} without {key}")))?,
            conventions,
            enums,
            depth + 1,
        )
    };
    Ok(match kind {
        "base" => {
            let n = name()?;
            if n == "void" {
                Descriptor::Void
            } else {
                Descriptor::Named(n)
            }
        }
        "struct" | "union" | "class" => Descriptor::Named(name()?),
        "pointer" => Descriptor::pointer(sub("subtype", enums)?),
        "array" => {
            let count = t
                .get("count")
                .and_then(Value::as_u64)
                .ok_or_else(|| bad(C, "array without count"))?;
            match sub("subtype", enums)? {
                Descriptor::Named(n) if conventions.string_arrays && n == "char" => {
                    Descriptor::String { length: count }
                }
                Descriptor::Named(n)
                    if conventions.string_arrays && (n == "wchar_t" || n == "wchar") =>
                {
                    Descriptor::UnicodeString {
                        length: count.saturating_mul(2),
                    }
                }
                element => Descriptor::array(count, element),
            }
        }
        "function" => Descriptor::Function,
        "enum" => {
            let n = name()?;
            let info = enums(&n).unwrap_or_else(|| IsfEnum {
                base: "int".into(),
                inline: None,
            });
            let (enum_name, choices) = match info.inline {
                Some(c) => (None, Some(c)),
                None => (Some(n), None),
            };
            Descriptor::Enumeration {
                enum_name,
                choices,
                target: Box::new(Descriptor::named(info.base)),
            }
        }
        "bitfield" => {
            let pos = t
                .get("bit_position")
                .and_then(Value::as_u64)
                .ok_or_else(|| bad(C, "bitfield without bit_position"))?;
            let len = t
                .get("bit_length")
                .and_then(Value::as_u64)
                .ok_or_else(|| bad(C, "bitfield without bit_length"))?;
            let (start_bit, end_bit) = match (
                u32::try_from(pos),
                u32::try_from(pos.saturating_add(len.min(1 << 16))),
            ) {
                (Ok(s), Ok(e)) => (s, e),
                _ => return Err(bad(C, "bitfield position out of range")),
            };
            match sub("type", enums)? {
                Descriptor::Enumeration {
                    enum_name,
                    choices,
                    target,
                } => Descriptor::Enumeration {
                    enum_name,
                    choices,
                    target: Box::new(Descriptor::BitField {
                        start_bit,
                        end_bit,
                        target: Some(target),
                    }),
                },
                unit => Descriptor::BitField {
                    start_bit,
                    end_bit,
                    target: Some(Box::new(unit)),
                },
            }
        }
        other => return Err(bad(C, format!("unknown type kind {other:?}"))),
    })
}

/// A `symbols` entry: its address (negative ones as two's complement) and
/// whether it is typed as a function; `None` without an integer address.
pub fn symbol(s: &Value) -> Option<(u64, bool)> {
    let addr = s
        .get("address")
        .and_then(|a| a.as_u64().or_else(|| a.as_i64().map(|i| i as u64)))?;
    let is_fn = s
        .get("type")
        .and_then(|t| t.get("kind"))
        .and_then(Value::as_str)
        == Some("function");
    Some((addr, is_fn))
}

/// Whether the document's `metadata` describes a Windows PDB (then, as in a
/// Rekall profile of a PDB, functions are only in `$FUNCTIONS`; for Linux
/// and macOS every symbol is in `$CONSTANTS` and functions also in
/// `$FUNCTIONS`, see `docs/conventions.md`).
pub fn is_windows(meta: &Map<String, Value>) -> bool {
    meta.get("windows").and_then(|w| w.get("pdb")).is_some()
}

/// The banner a `symbols` entry (`linux_banner`, macOS `version`) carries in
/// `constant_data` (base64), without its trailing NULs and newline.
pub fn banner(s: &Value) -> Option<String> {
    let data = s.get("constant_data").and_then(Value::as_str)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .ok()?;
    Some(
        String::from_utf8_lossy(&bytes)
            .trim_end_matches(['\0', '\n'])
            .to_owned(),
    )
}

/// The Rekall `$METADATA` of an ISF document: Windows `pdb` ->
/// `PDBFile`/`GUID_AGE`/`ProfileClass`/`arch`; otherwise `ProfileClass`
/// `Linux` or `Darwin` (a `mac` table) and `arch` from the pointer size in
/// `base_types`; `Version` 1; `Banner` when given.
pub fn metadata(
    meta: &Map<String, Value>,
    pointer_size: Option<u64>,
    banner: Option<String>,
) -> Map<String, Value> {
    let mut m = Map::new();
    let mut set = |k: &str, v: Value| {
        m.insert(k.to_owned(), v);
    };
    if let Some(pdb) = meta.get("windows").and_then(|w| w.get("pdb")) {
        let guid = pdb.get("GUID").and_then(Value::as_str).unwrap_or("");
        let age = pdb.get("age").and_then(Value::as_u64).unwrap_or(0);
        set(
            "GUID_AGE",
            Value::String(format!("{}{:X}", guid.replace('-', "").to_uppercase(), age)),
        );
        if let Some(db) = pdb.get("database").and_then(Value::as_str) {
            set("PDBFile", Value::String(db.to_owned()));
            set("ProfileClass", Value::String(profile_class(db)));
        }
        let arch = match pdb.get("machine_type").and_then(Value::as_u64) {
            Some(0x14c) => "I386",
            Some(0xaa64) => "ARM64",
            Some(0x1c4) => "ARM",
            _ => "AMD64",
        };
        set("arch", Value::String(arch.into()));
    } else {
        let class = if meta.contains_key("mac") {
            "Darwin"
        } else {
            "Linux"
        };
        set("ProfileClass", Value::String(class.into()));
        let arch = if pointer_size == Some(4) {
            "I386"
        } else {
            "AMD64"
        };
        set("arch", Value::String(arch.into()));
    }
    set("Version", Value::from(1));
    if let Some(b) = banner {
        set("Banner", Value::String(b));
    }
    m
}

/// The pointer size `base_types.pointer.size` gives.
pub fn pointer_size(base_types: &Value) -> Option<u64> {
    base_types
        .get("pointer")
        .and_then(|b| b.get("size"))
        .and_then(Value::as_u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn descriptors_convert() {
        let mut enums = |n: &str| {
            (n == "e" || n.starts_with(INLINE_ENUM_PREFIX)).then(|| {
                enum_info(
                    n,
                    &json!({"base": "unsigned char", "constants": {"A": 1, "B": 1, "C": 2}}),
                )
            })
        };
        let t = json!({"fields": {
            "p": {"offset": 0, "type": {"kind": "pointer", "subtype": {"kind": "base", "name": "void"}}},
            "a": {"offset": 8, "type": {"kind": "array", "count": 3, "subtype": {"kind": "struct", "name": "s"}}},
            "b": {"offset": 16, "type": {"kind": "bitfield", "bit_position": 3, "bit_length": 2,
                  "type": {"kind": "enum", "name": "e"}}},
            "i": {"offset": 17, "type": {"kind": "enum", "name": "__inline_enum_0"}},
            "f": {"offset": 24, "type": {"kind": "pointer", "subtype": {"kind": "function"}}}},
            "kind": "union", "size": 32});
        let (s, union) = user_type("u", &t, Conventions::default(), &mut enums).unwrap();
        assert!(union);
        assert_eq!(s.size, Some(32));
        let d = |n: &str| s.fields[n].descriptor.to_json().to_string();
        assert_eq!(d("p"), r#"["Pointer",{"target":"Void"}]"#);
        assert_eq!(d("a"), r#"["Array",{"count":3,"target":"s"}]"#);
        assert_eq!(
            d("b"),
            r#"["Enumeration",{"enum_name":"e","target":"BitField","target_args":{"end_bit":5,"start_bit":3,"target":"unsigned char"}}]"#
        );
        assert!(
            d("i").contains(r#""choices":{"1":"A","2":"C"}"#),
            "{}",
            d("i")
        );
        assert_eq!(d("f"), r#"["Pointer",{"target":"Function"}]"#);
    }

    #[test]
    fn hostile_types_are_errors() {
        let mut none = |_: &str| None;
        for t in [
            json!(5),
            json!({"fields": {"x": {"offset": 0}}}),
            json!({"fields": {"x": {"type": {"kind": "nope"}}}}),
            json!({"fields": {"x": {"type": {"kind": "array", "subtype": {"kind": "base", "name": "int"}}}}}),
            json!({"fields": {"x": {"type": {"kind": "bitfield", "bit_position": 4294967295u64,
                "bit_length": 9, "type": {"kind": "base", "name": "int"}}}}}),
        ] {
            let e = user_type("t", &t, Conventions::default(), &mut none)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with('t'), "{e}");
        }
        let mut deep = json!({"kind": "base", "name": "int"});
        for _ in 0..100 {
            deep = json!({"kind": "pointer", "subtype": deep});
        }
        assert!(type_descriptor(&deep, Conventions::default(), &mut none).is_err());
        // Windows: char and wchar_t arrays are strings.
        let w = Conventions {
            string_arrays: true,
        };
        let arr = |base: &str| json!({"kind": "array", "count": 8, "subtype": {"kind": "base", "name": base}});
        assert_eq!(
            type_descriptor(&arr("char"), w, &mut none).unwrap(),
            Descriptor::String { length: 8 }
        );
        assert_eq!(
            type_descriptor(&arr("wchar_t"), w, &mut none).unwrap(),
            Descriptor::UnicodeString { length: 16 }
        );
        assert!(matches!(
            type_descriptor(&arr("char"), Conventions::default(), &mut none).unwrap(),
            Descriptor::Array { .. }
        ));
    }
}
