//! Rekall type descriptors: `[class_name, {kwargs}]`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Inline enumeration choices: value -> name.
pub type EnumChoices = BTreeMap<i128, String>;

/// One type descriptor, as found in a struct field or as a pointer/array target.
///
/// Known classes are parsed into typed variants. A class this crate does not
/// know, or a known class with arguments it does not model, is kept verbatim
/// as [`Descriptor::Other`], so a round trip loses nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Descriptor {
    /// A native type (`"unsigned long"`) or a struct/union by name (`"_KPROCESS"`).
    Named(String),
    /// `["Pointer", {"target": T, "target_args": A}]`.
    Pointer {
        /// The pointee.
        target: Box<Descriptor>,
    },
    /// `["Array", {"count": N, "target": T}]`.
    Array {
        /// Number of elements.
        count: u64,
        /// Element type.
        target: Box<Descriptor>,
    },
    /// `["BitField", {"start_bit": S, "end_bit": E, "target": T}]`; bits
    /// `S..E` (end exclusive) of a storage unit of type `target`.
    BitField {
        /// First bit (inclusive), counted from the least significant bit.
        start_bit: u32,
        /// Last bit (exclusive).
        end_bit: u32,
        /// The storage unit's native type; `None` in some old profiles.
        target: Option<Box<Descriptor>>,
    },
    /// `["Enumeration", {"enum_name": N, "target": T}]` or with inline `choices`.
    Enumeration {
        /// Name of an entry of `$ENUMS`.
        enum_name: Option<String>,
        /// Inline choices, when the profile gives them instead of a name.
        choices: Option<EnumChoices>,
        /// The underlying integer type.
        target: Box<Descriptor>,
    },
    /// `["String", {"length": N}]`: a byte string of at most N bytes.
    String {
        /// Maximum length in bytes.
        length: u64,
    },
    /// `["UnicodeString", {"length": N}]`: a UTF-16 string of at most N bytes.
    UnicodeString {
        /// Maximum length in bytes.
        length: u64,
    },
    /// `["Void", {}]`.
    Void,
    /// `["Function", {}]`.
    Function,
    /// Any other class, with its arguments verbatim (`None`: no argument dict).
    Other {
        /// The class name.
        class: String,
        /// The keyword arguments, as found.
        args: Option<Map<String, Value>>,
    },
}

impl Descriptor {
    /// A named (native or struct) descriptor.
    pub fn named(name: impl Into<String>) -> Self {
        Descriptor::Named(name.into())
    }

    /// A pointer to `target`.
    pub fn pointer(target: Descriptor) -> Self {
        Descriptor::Pointer {
            target: Box::new(target),
        }
    }

    /// An array of `count` elements of `target`.
    pub fn array(count: u64, target: Descriptor) -> Self {
        Descriptor::Array {
            count,
            target: Box::new(target),
        }
    }

    /// The class name as written in the profile.
    pub fn class_name(&self) -> &str {
        match self {
            Descriptor::Named(n) => n,
            Descriptor::Pointer { .. } => "Pointer",
            Descriptor::Array { .. } => "Array",
            Descriptor::BitField { .. } => "BitField",
            Descriptor::Enumeration { .. } => "Enumeration",
            Descriptor::String { .. } => "String",
            Descriptor::UnicodeString { .. } => "UnicodeString",
            Descriptor::Void => "Void",
            Descriptor::Function => "Function",
            Descriptor::Other { class, .. } => class,
        }
    }

    /// Parses a descriptor from its JSON form, accepting Rekall's legacy forms
    /// (`["pointer", [...]]`, `["pointer64", [...]]`, `["array", N, [...]]`,
    /// one-element lists, `null` argument dicts).
    pub fn from_json(value: &Value) -> Result<Self> {
        let list = value.as_array().ok_or_else(|| {
            Error::format(
                "type descriptor",
                format!("expected a list, found {}", short(value)),
            )
        })?;
        let class = list.first().and_then(Value::as_str).ok_or_else(|| {
            Error::format(
                "type descriptor",
                format!("expected a class name first in {}", short(value)),
            )
        })?;
        match (class, list.len()) {
            ("pointer" | "pointer64" | "pointer32", 2) if list[1].is_array() => {
                return Ok(Descriptor::pointer(Descriptor::from_json(&list[1])?));
            }
            ("array", 3) if list[2].is_array() => {
                let count = as_u64(&list[1], "array count")?;
                return Ok(Descriptor::array(count, Descriptor::from_json(&list[2])?));
            }
            (_, 1) => return Descriptor::from_class(class, None),
            (_, 2) => match &list[1] {
                Value::Object(args) => return Descriptor::from_class(class, Some(args)),
                Value::Null => return Descriptor::from_class(class, None),
                _ => {}
            },
            _ => {}
        }
        Err(Error::format(
            "type descriptor",
            format!("unrecognised form {}", short(value)),
        ))
    }

    /// Builds a descriptor from a class name and its keyword arguments (the
    /// `target` / `target_args` pair of pointers and arrays uses this too).
    pub fn from_class(class: &str, args: Option<&Map<String, Value>>) -> Result<Self> {
        let empty = Map::new();
        let a = args.unwrap_or(&empty);
        let known = |keys: &[&str]| a.keys().all(|k| keys.contains(&k.as_str()));
        let parsed = match class {
            "Pointer" if known(&["target", "target_args"]) && a.contains_key("target") => {
                Some(Descriptor::pointer(target_of(a)?))
            }
            "Array" if known(&["target", "target_args", "count"]) && a.contains_key("count") => {
                Some(Descriptor::array(
                    as_u64(&a["count"], "Array count")?,
                    target_of(a)?,
                ))
            }
            "BitField"
                if known(&[
                    "target",
                    "native_type",
                    "start_bit",
                    "end_bit",
                    "target_args",
                ]) && a.contains_key("end_bit") =>
            {
                let start_bit = a
                    .get("start_bit")
                    .map(|v| as_u64(v, "start_bit"))
                    .transpose()?
                    .unwrap_or(0);
                let end_bit = as_u64(&a["end_bit"], "end_bit")?;
                let target = match a.get("target").or_else(|| a.get("native_type")) {
                    Some(Value::String(t)) => Some(Box::new(Descriptor::from_class(t, None)?)),
                    _ => None,
                };
                let (start_bit, end_bit) = (u32::try_from(start_bit), u32::try_from(end_bit));
                match (start_bit, end_bit) {
                    (Ok(start_bit), Ok(end_bit)) if start_bit <= end_bit => {
                        Some(Descriptor::BitField {
                            start_bit,
                            end_bit,
                            target,
                        })
                    }
                    _ => None,
                }
            }
            "Enumeration" if known(&["enum_name", "choices", "target", "target_args"]) => {
                let enum_name = a
                    .get("enum_name")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let choices = match a.get("choices") {
                    Some(Value::Object(c)) => Some(parse_choices(c)?),
                    _ => None,
                };
                let target = if a.contains_key("target") {
                    target_of(a)?
                } else {
                    Descriptor::named("int")
                };
                Some(Descriptor::Enumeration {
                    enum_name,
                    choices,
                    target: Box::new(target),
                })
            }
            "String" if known(&["length"]) && a.contains_key("length") => {
                Some(Descriptor::String {
                    length: as_u64(&a["length"], "String length")?,
                })
            }
            "UnicodeString" if known(&["length"]) && a.contains_key("length") => {
                Some(Descriptor::UnicodeString {
                    length: as_u64(&a["length"], "UnicodeString length")?,
                })
            }
            "Void" if a.is_empty() => Some(Descriptor::Void),
            "Function" if a.is_empty() => Some(Descriptor::Function),
            _ if a.is_empty() && !is_class_with_args(class) => {
                Some(Descriptor::Named(class.to_owned()))
            }
            _ => None,
        };
        Ok(parsed.unwrap_or_else(|| Descriptor::Other {
            class: class.to_owned(),
            args: args.cloned(),
        }))
    }

    /// The canonical JSON form: `[class, {kwargs}]`.
    pub fn to_json(&self) -> Value {
        let (class, args) = self.class_and_args();
        Value::Array(vec![Value::String(class), Value::Object(args)])
    }

    /// The class name and keyword arguments of the canonical form. Empty
    /// `target_args` are left out (Rekall's empty-dict rule).
    pub fn class_and_args(&self) -> (String, Map<String, Value>) {
        let mut a = Map::new();
        let put_target = |a: &mut Map<String, Value>, t: &Descriptor| {
            let (class, args) = t.class_and_args();
            a.insert("target".into(), Value::String(class));
            if !args.is_empty() {
                a.insert("target_args".into(), Value::Object(args));
            }
        };
        match self {
            Descriptor::Named(n) => return (n.clone(), a),
            Descriptor::Pointer { target } => put_target(&mut a, target),
            Descriptor::Array { count, target } => {
                a.insert("count".into(), (*count).into());
                put_target(&mut a, target);
            }
            Descriptor::BitField {
                start_bit,
                end_bit,
                target,
            } => {
                a.insert("start_bit".into(), (*start_bit).into());
                a.insert("end_bit".into(), (*end_bit).into());
                if let Some(t) = target {
                    put_target(&mut a, t);
                }
            }
            Descriptor::Enumeration {
                enum_name,
                choices,
                target,
            } => {
                if let Some(n) = enum_name {
                    a.insert("enum_name".into(), Value::String(n.clone()));
                }
                if let Some(c) = choices {
                    let m: Map<String, Value> = c
                        .iter()
                        .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
                        .collect();
                    a.insert("choices".into(), Value::Object(m));
                }
                put_target(&mut a, target);
            }
            Descriptor::String { length } | Descriptor::UnicodeString { length } => {
                a.insert("length".into(), (*length).into());
            }
            Descriptor::Void | Descriptor::Function => {}
            Descriptor::Other { class, args } => {
                return (class.clone(), args.clone().unwrap_or_default())
            }
        }
        (self.class_name().to_owned(), a)
    }

    /// The struct or union name this descriptor refers to directly, if it is
    /// a plain named type.
    pub fn as_named(&self) -> Option<&str> {
        match self {
            Descriptor::Named(n) => Some(n),
            _ => None,
        }
    }
}

/// Classes that always carry arguments; seen with an empty dict they are kept verbatim.
fn is_class_with_args(class: &str) -> bool {
    matches!(
        class,
        "Pointer" | "Array" | "BitField" | "String" | "UnicodeString"
    )
}

fn target_of(a: &Map<String, Value>) -> Result<Descriptor> {
    match a.get("target") {
        Some(Value::String(t)) => match a.get("target_args") {
            Some(Value::Object(args)) => Descriptor::from_class(t, Some(args)),
            _ => Descriptor::from_class(t, None),
        },
        // Legacy: a full descriptor list as target.
        Some(v @ Value::Array(_)) => Descriptor::from_json(v),
        Some(other) => Err(Error::format(
            "type descriptor",
            format!("target is not a name: {}", short(other)),
        )),
        None => Ok(Descriptor::Void),
    }
}

fn parse_choices(c: &Map<String, Value>) -> Result<EnumChoices> {
    c.iter()
        .map(|(k, v)| {
            let key: i128 = k.parse().map_err(|_| {
                Error::format(
                    "enumeration choices",
                    format!("key {k:?} is not an integer"),
                )
            })?;
            let name = v
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string());
            Ok((key, name))
        })
        .collect()
}

/// Reads a non-negative JSON integer (integral floats are tolerated on read).
pub(crate) fn as_u64(v: &Value, what: &str) -> Result<u64> {
    if let Some(n) = v.as_u64() {
        return Ok(n);
    }
    if let Some(f) = v.as_f64() {
        if f >= 0.0 && f.fract() == 0.0 && f < 1.8e19 {
            return Ok(f as u64);
        }
    }
    Err(Error::format(
        what,
        format!("expected a non-negative integer, found {}", short(v)),
    ))
}

/// A short rendering of a JSON value for error messages.
pub(crate) fn short(v: &Value) -> String {
    let mut s = v.to_string();
    if s.len() > 80 {
        let mut cut = 77;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round(v: Value) -> Value {
        Descriptor::from_json(&v).unwrap().to_json()
    }

    #[test]
    fn canonical_forms_round_trip() {
        for v in [
            json!(["unsigned long", {}]),
            json!(["Pointer", {"target": "_LIST_ENTRY"}]),
            json!(["Pointer", {"target": "Function"}]),
            json!(["Array", {"count": 28, "target": "unsigned short"}]),
            json!(["Array", {"count": 2, "target": "Array", "target_args": {"count": 3, "target": "int"}}]),
            json!(["BitField", {"end_bit": 2, "start_bit": 1, "target": "unsigned long"}]),
            json!(["Enumeration", {"enum_name": "_POOL_TYPE", "target": "long"}]),
            json!(["Enumeration", {"choices": {"-1": "M", "0": "A"}, "target": "int"}]),
            json!(["String", {"length": 16}]),
            json!(["UnicodeString", {"length": 60}]),
            json!(["Void", {}]),
            json!(["Array", {"size": 16, "target": "float"}]),
        ] {
            assert_eq!(round(v.clone()), v);
        }
    }

    #[test]
    fn legacy_forms_are_accepted() {
        assert_eq!(
            Descriptor::from_json(&json!(["pointer", ["char"]])).unwrap(),
            Descriptor::pointer(Descriptor::named("char"))
        );
        assert_eq!(
            Descriptor::from_json(&json!(["pointer64", ["pointer", ["void"]]])).unwrap(),
            Descriptor::pointer(Descriptor::pointer(Descriptor::named("void")))
        );
        assert_eq!(
            Descriptor::from_json(&json!(["array", 4, ["int"]])).unwrap(),
            Descriptor::array(4, Descriptor::named("int"))
        );
        assert_eq!(
            Descriptor::from_json(&json!(["Pointer", {"target": "x", "target_args": null}]))
                .unwrap(),
            Descriptor::pointer(Descriptor::named("x"))
        );
        assert_eq!(
            Descriptor::from_json(&json!(["BitField", {"end_bit": 8}])).unwrap(),
            Descriptor::BitField {
                start_bit: 0,
                end_bit: 8,
                target: None
            }
        );
        assert_eq!(
            Descriptor::from_json(
                &json!(["BitField", {"end_bit": 3, "start_bit": 1, "native_type": "int"}])
            )
            .unwrap(),
            Descriptor::BitField {
                start_bit: 1,
                end_bit: 3,
                target: Some(Box::new(Descriptor::named("int")))
            }
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for v in [
            json!(1),
            json!([]),
            json!([1, {}]),
            json!(["a", 1, 2, 3]),
            json!(["Array", {"count": -1, "target": "x"}]),
        ] {
            let r = Descriptor::from_json(&v);
            // `["Array", {"count": -1}]` is an error; others too.
            assert!(r.is_err(), "{v} should be rejected, got {r:?}");
        }
    }
}
