//! The profile model: sections of a Rekall profile, parsed and serialised.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::descriptor::{as_u64, short, Descriptor, EnumChoices};
use crate::error::{Error, Result};
use crate::io::{read_maybe_gzip, write_atomic, WriteMode};

/// The section names this model knows by type; any other section is kept
/// verbatim in [`Profile::other`].
pub const SECTION_NAMES: [&str; 7] = [
    "$METADATA",
    "$STRUCTS",
    "$ENUMS",
    "$REVENUMS",
    "$CONSTANTS",
    "$FUNCTIONS",
    "$CONFIG",
];

/// Largest decompressed profile accepted by [`Profile::load`] (4 GiB).
pub const MAX_PROFILE_BYTES: u64 = 4 << 30;

/// `$METADATA`: free-form key/value pairs (`Type`, `ProfileClass`, `GUID_AGE`, ...).
pub type Metadata = BTreeMap<String, Value>;

/// One struct or union of `$STRUCTS`: `[size, {field: [offset, descriptor]}]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StructDef {
    /// Size in bytes (`None` when the profile gives `null`, as overlays may).
    pub size: Option<u64>,
    /// Fields by name.
    pub fields: BTreeMap<String, Field>,
}

/// One field of a struct: `[offset, descriptor]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Byte offset from the start of the struct (`None` for `null`).
    pub offset: Option<u64>,
    /// The field's type.
    pub descriptor: Descriptor,
}

/// A whole Rekall profile.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Profile {
    /// `$METADATA`.
    pub metadata: Metadata,
    /// `$STRUCTS`.
    pub structs: BTreeMap<String, StructDef>,
    /// `$ENUMS`: enum name -> value -> enumerator name.
    pub enums: BTreeMap<String, EnumChoices>,
    /// `$REVENUMS`: enum name -> enumerator name -> value (`None`: absent, as
    /// in a concise profile).
    pub revenums: Option<BTreeMap<String, BTreeMap<String, i128>>>,
    /// `$CONSTANTS`: data symbols.
    pub constants: BTreeMap<String, u64>,
    /// `$FUNCTIONS`: code symbols.
    pub functions: BTreeMap<String, u64>,
    /// `$CONFIG`: kernel configuration.
    pub config: BTreeMap<String, Value>,
    /// Every other section, preserved verbatim.
    pub other: BTreeMap<String, Value>,
}

impl Profile {
    /// An empty profile of `Type` `Profile`.
    pub fn new() -> Self {
        let mut p = Profile::default();
        p.metadata
            .insert("Type".into(), Value::String("Profile".into()));
        p
    }

    /// Reads a profile from a file, gzipped or plain (detected by content).
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let what = path.display().to_string();
        Self::from_bytes(bytes, &what)
    }

    /// Parses a profile from bytes, gzipped or plain; `what` names the source
    /// in errors.
    pub fn from_bytes(bytes: Vec<u8>, what: &str) -> Result<Self> {
        let bytes = read_maybe_gzip(bytes, what, MAX_PROFILE_BYTES)?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            context: what.to_owned(),
            source,
        })?;
        if let Value::Object(top) = &value {
            check_sections(top.keys().map(String::as_str), what)?;
        }
        Self::from_json(value).map_err(|e| match e {
            Error::Format { context, message } => {
                Error::format(format!("{what}: {context}"), message)
            }
            other => other,
        })
    }

    /// Builds the model from a parsed JSON document (any object: a document
    /// with no section is an empty profile here; [`Profile::from_bytes`]
    /// refuses it).
    pub fn from_json(value: Value) -> Result<Self> {
        let Value::Object(top) = value else {
            return Err(Error::format(
                "profile",
                format!("expected a JSON object, found {}", short(&value)),
            ));
        };
        let mut p = Profile::default();
        for (key, v) in top {
            match key.as_str() {
                "$METADATA" => p.metadata = object(v, &key)?.into_iter().collect(),
                "$STRUCTS" => {
                    for (name, def) in object(v, &key)? {
                        let parsed = StructDef::from_json(&def)
                            .map_err(|e| within(e, &format!("$STRUCTS.{name}")))?;
                        p.structs.insert(name, parsed);
                    }
                }
                "$ENUMS" => {
                    for (name, choices) in object(v, &key)? {
                        let ctx = format!("$ENUMS.{name}");
                        let mut map = EnumChoices::new();
                        for (k, n) in object(choices, &ctx)? {
                            let value: i128 = k.trim().parse().map_err(|_| {
                                Error::format(&ctx, format!("key {k:?} is not an integer"))
                            })?;
                            map.insert(
                                value,
                                n.as_str()
                                    .map(str::to_owned)
                                    .unwrap_or_else(|| n.to_string()),
                            );
                        }
                        p.enums.insert(name, map);
                    }
                }
                "$REVENUMS" => {
                    let mut all = BTreeMap::new();
                    for (name, choices) in object(v, &key)? {
                        let ctx = format!("$REVENUMS.{name}");
                        let mut map = BTreeMap::new();
                        for (n, val) in object(choices, &ctx)? {
                            map.insert(n, as_i128(&val, &ctx)?);
                        }
                        all.insert(name, map);
                    }
                    p.revenums = Some(all);
                }
                "$CONSTANTS" | "$FUNCTIONS" => {
                    let mut map = BTreeMap::new();
                    for (n, val) in object(v, &key)? {
                        map.insert(n, symbol_value(&val, &key)?);
                    }
                    if key == "$CONSTANTS" {
                        p.constants = map;
                    } else {
                        p.functions = map;
                    }
                }
                "$CONFIG" => p.config = object(v, &key)?.into_iter().collect(),
                _ => {
                    p.other.insert(key, v);
                }
            }
        }
        Ok(p)
    }

    /// The `$METADATA` value `key` as a string, if it is one.
    pub fn metadata_str(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).and_then(Value::as_str)
    }

    /// Sets a `$METADATA` value.
    pub fn set_metadata(&mut self, key: &str, value: impl Into<Value>) {
        self.metadata.insert(key.to_owned(), value.into());
    }

    /// Fills `$REVENUMS` from `$ENUMS`.
    pub fn derive_revenums(&mut self) {
        let rev = self
            .enums
            .iter()
            .map(|(name, choices)| {
                let mut m: Vec<(&String, i128)> = choices.iter().map(|(v, n)| (n, *v)).collect();
                // Stable, from value order: the first (lowest) value wins
                // when names repeat.
                m.sort_by(|a, b| a.0.cmp(b.0));
                m.dedup_by(|later, first| later.0 == first.0);
                let m = m.into_iter().map(|(n, v)| (n.clone(), v)).collect();
                (name.clone(), m)
            })
            .collect();
        self.revenums = Some(rev);
    }

    /// Serialises the profile canonically: keys sorted at every level, no
    /// insignificant white space, integers only, empty-dict entries dropped.
    ///
    /// A large profile's `$STRUCTS` section is serialised on a second thread
    /// while this one writes the other sections; the bytes are the same as a
    /// serial run's.
    pub fn write_canonical_json(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let sections = self.sections();
        std::thread::scope(|scope| {
            let mut structs = (self.structs.len() >= PARALLEL_STRUCTS).then(|| {
                scope.spawn(|| {
                    let mut json = Vec::with_capacity(self.estimated_structs_len());
                    section_to(&Section::Structs(&self.structs), &mut json).map(|()| json)
                })
            });
            let mut w = std::io::BufWriter::with_capacity(1 << 16, out);
            w.write_all(b"{")?;
            for (i, (key, section)) in sections.iter().enumerate() {
                if i > 0 {
                    w.write_all(b",")?;
                }
                serde_json::to_writer(&mut w, key)?;
                w.write_all(b":")?;
                match structs.take() {
                    Some(handle) if matches!(section, Section::Structs(_)) => {
                        let json = handle
                            .join()
                            .map_err(|_| std::io::Error::other("serialiser thread panicked"))??;
                        w.write_all(&json)?;
                    }
                    pending => {
                        structs = pending;
                        section_to(section, &mut w)?;
                    }
                }
            }
            w.write_all(b"}")?;
            w.flush()
        })
    }

    /// The canonical JSON bytes (see [`Profile::write_canonical_json`]).
    pub fn to_canonical_json(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.estimated_json_len());
        // Writing to a Vec cannot fail, and every value in the model is
        // serialisable (string keys, integers, strings).
        self.write_canonical_json(&mut v)
            .expect("serialising to memory");
        v
    }

    /// Writes the canonical JSON, gzipped deterministically (no file name, no
    /// time stamp in the header), to `out`.
    pub fn write_canonical_gzip(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let mut gz = flate2::GzBuilder::new()
            .mtime(0)
            .operating_system(255)
            .write(out, flate2::Compression::default());
        // write_canonical_json feeds flate2 in large chunks (flate2 prepares
        // its whole output buffer on every write).
        self.write_canonical_json(&mut gz)?;
        gz.finish()?;
        Ok(())
    }

    /// A rough size of the canonical JSON (within about a third either way
    /// for real profiles), to reserve memory once instead of growing.
    fn estimated_json_len(&self) -> usize {
        let values: usize = self.enums.values().map(BTreeMap::len).sum();
        let revenums = if self.revenums.is_some() { values } else { 0 };
        let symbols = self.constants.len() + self.functions.len();
        4096 + self.estimated_structs_len() + (values + revenums) * 40 + symbols * 56
    }

    /// The part of [`Profile::estimated_json_len`] that is `$STRUCTS`.
    fn estimated_structs_len(&self) -> usize {
        let fields: usize = self.structs.values().map(|s| s.fields.len()).sum();
        fields * 64 + self.structs.len() * 48
    }

    /// Saves the profile atomically to `path`: plain JSON when the name ends in
    /// `.json`, gzipped otherwise.
    pub fn save(&self, path: &Path, mode: WriteMode) -> Result<()> {
        let plain = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        write_atomic(path, mode, |w| {
            if plain {
                self.write_canonical_json(w)
            } else {
                self.write_canonical_gzip(w)
            }
        })
    }
}

impl StructDef {
    /// Parses `[size, {field: [offset, descriptor]}]`.
    pub fn from_json(v: &Value) -> Result<Self> {
        let list = v.as_array().filter(|l| l.len() == 2).ok_or_else(|| {
            Error::format(
                "struct",
                format!("expected [size, {{fields}}], found {}", short(v)),
            )
        })?;
        let size = match &list[0] {
            Value::Null => None,
            s => Some(as_u64(s, "struct size")?),
        };
        let mut fields = BTreeMap::new();
        let empty = Map::new();
        let members = match &list[1] {
            Value::Object(m) => m,
            Value::Null => &empty,
            other => {
                return Err(Error::format(
                    "struct",
                    format!("fields are not an object: {}", short(other)),
                ))
            }
        };
        for (name, f) in members {
            let fl = f.as_array().filter(|l| l.len() == 2).ok_or_else(|| {
                Error::format(
                    format!("field {name}"),
                    format!("expected [offset, descriptor], found {}", short(f)),
                )
            })?;
            let offset = match &fl[0] {
                Value::Null => None,
                o => Some(
                    as_u64(o, "field offset").map_err(|e| within(e, &format!("field {name}")))?,
                ),
            };
            let descriptor =
                Descriptor::from_json(&fl[1]).map_err(|e| within(e, &format!("field {name}")))?;
            fields.insert(name.clone(), Field { offset, descriptor });
        }
        Ok(StructDef { size, fields })
    }
}

fn within(e: Error, ctx: &str) -> Error {
    match e {
        Error::Format { context, message } => Error::format(format!("{ctx}: {context}"), message),
        other => other,
    }
}

fn object(v: Value, ctx: &str) -> Result<Map<String, Value>> {
    match v {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(Map::new()),
        other => Err(Error::format(
            ctx,
            format!("expected an object, found {}", short(&other)),
        )),
    }
}

fn as_i128(v: &Value, ctx: &str) -> Result<i128> {
    v.as_i64()
        .map(i128::from)
        .or_else(|| v.as_u64().map(i128::from))
        .ok_or_else(|| Error::format(ctx, format!("expected an integer, found {}", short(v))))
}

/// Symbol values are unsigned 64-bit; a negative value (seen in some
/// hand-made profiles) is read as its two's complement.
fn symbol_value(v: &Value, ctx: &str) -> Result<u64> {
    if let Some(u) = v.as_u64() {
        return Ok(u);
    }
    if let Some(i) = v.as_i64() {
        return Ok(i as u64);
    }
    Err(Error::format(
        ctx,
        format!("symbol value is not an integer: {}", short(v)),
    ))
}

// ---------------------------------------------------------------------------
// Canonical serialisation
// ---------------------------------------------------------------------------

enum Section<'a> {
    Metadata(&'a Metadata),
    Structs(&'a BTreeMap<String, StructDef>),
    Enums(&'a BTreeMap<String, EnumChoices>),
    RevEnums(&'a BTreeMap<String, BTreeMap<String, i128>>),
    Symbols(&'a BTreeMap<String, u64>),
    Config(&'a BTreeMap<String, Value>),
    Other(&'a Value),
}

/// Profiles with at least this many structs serialise `$STRUCTS` on a
/// thread of its own.
const PARALLEL_STRUCTS: usize = 256;

impl Profile {
    /// The sections to write, by key (sorted), empty ones left out.
    fn sections(&self) -> BTreeMap<&str, Section<'_>> {
        let mut sections: BTreeMap<&str, Section<'_>> = BTreeMap::new();
        sections.insert("$METADATA", Section::Metadata(&self.metadata));
        if !self.structs.is_empty() {
            sections.insert("$STRUCTS", Section::Structs(&self.structs));
        }
        if !self.enums.is_empty() {
            sections.insert("$ENUMS", Section::Enums(&self.enums));
        }
        if let Some(r) = self.revenums.as_ref().filter(|r| !r.is_empty()) {
            sections.insert("$REVENUMS", Section::RevEnums(r));
        }
        if !self.constants.is_empty() {
            sections.insert("$CONSTANTS", Section::Symbols(&self.constants));
        }
        if !self.functions.is_empty() {
            sections.insert("$FUNCTIONS", Section::Symbols(&self.functions));
        }
        if !self.config.is_empty() {
            sections.insert("$CONFIG", Section::Config(&self.config));
        }
        for (k, v) in &self.other {
            if !is_empty_object(v) && !SECTION_NAMES.contains(&k.as_str()) {
                sections.insert(k, Section::Other(v));
            }
        }
        sections
    }
}

impl Serialize for Section<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Section::Metadata(m) => Canonical::Map(m).serialize(s),
            Section::Config(m) => Canonical::Map(m).serialize(s),
            Section::Structs(m) => m.serialize(s),
            Section::Enums(m) => EnumsSer(m).serialize(s),
            Section::RevEnums(m) => m.serialize(s),
            Section::Symbols(m) => m.serialize(s),
            Section::Other(v) => Canonical::Value(v).serialize(s),
        }
    }
}

/// Writes one section's value as canonical JSON.
fn section_to<W: Write>(section: &Section<'_>, w: W) -> std::io::Result<()> {
    section
        .serialize(&mut serde_json::Serializer::new(w))
        .map_err(std::io::Error::from)
}

impl Serialize for Profile {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let sections = self.sections();
        let mut map = s.serialize_map(Some(sections.len()))?;
        for (k, v) in &sections {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl Serialize for StructDef {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(2))?;
        seq.serialize_element(&self.size)?;
        seq.serialize_element(&self.fields)?;
        seq.end()
    }
}

impl Serialize for Field {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(2))?;
        seq.serialize_element(&self.offset)?;
        seq.serialize_element(&self.descriptor)?;
        seq.end()
    }
}

impl Serialize for Descriptor {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        // Written directly, keys in sorted order, without building a JSON map
        // per field (this is the hot loop of writing a profile).
        let mut seq = s.serialize_seq(Some(2))?;
        seq.serialize_element(self.class_name())?;
        seq.serialize_element(&ArgsOf(self))?;
        seq.end()
    }
}

/// The keyword arguments of a descriptor, as a canonical JSON object.
struct ArgsOf<'a>(&'a Descriptor);

/// Whether a descriptor, used as a target, needs `target_args`.
fn has_args(d: &Descriptor) -> bool {
    match d {
        Descriptor::Named(_) | Descriptor::Void | Descriptor::Function => false,
        Descriptor::Other { args, .. } => args
            .as_ref()
            .is_some_and(|a| a.values().any(|v| !is_empty_object(v))),
        _ => true,
    }
}

impl Serialize for ArgsOf<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        fn target<M: SerializeMap>(
            map: &mut M,
            t: &Descriptor,
        ) -> std::result::Result<(), M::Error> {
            map.serialize_entry("target", t.class_name())?;
            if has_args(t) {
                map.serialize_entry("target_args", &ArgsOf(t))?;
            }
            Ok(())
        }
        match self.0 {
            Descriptor::Other { args, .. } => match args {
                Some(a) => Canonical::Args(a).serialize(s),
                None => s.serialize_map(Some(0))?.end(),
            },
            Descriptor::Named(_) | Descriptor::Void | Descriptor::Function => {
                s.serialize_map(Some(0))?.end()
            }
            Descriptor::Pointer { target: t } => {
                let mut map = s.serialize_map(None)?;
                target(&mut map, t)?;
                map.end()
            }
            Descriptor::Array { count, target: t } => {
                let mut map = s.serialize_map(None)?;
                map.serialize_entry("count", count)?;
                target(&mut map, t)?;
                map.end()
            }
            Descriptor::BitField {
                start_bit,
                end_bit,
                target: t,
            } => {
                let mut map = s.serialize_map(None)?;
                map.serialize_entry("end_bit", end_bit)?;
                map.serialize_entry("start_bit", start_bit)?;
                if let Some(t) = t {
                    target(&mut map, t)?;
                }
                map.end()
            }
            Descriptor::Enumeration {
                enum_name,
                choices,
                target: t,
            } => {
                let mut map = s.serialize_map(None)?;
                if let Some(c) = choices {
                    map.serialize_entry("choices", &ChoicesSer(&sorted_choices(c)))?;
                }
                if let Some(n) = enum_name {
                    map.serialize_entry("enum_name", n)?;
                }
                target(&mut map, t)?;
                map.end()
            }
            Descriptor::String { length } | Descriptor::UnicodeString { length } => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("length", length)?;
                map.end()
            }
        }
    }
}

struct EnumsSer<'a>(&'a BTreeMap<String, EnumChoices>);

impl Serialize for EnumsSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, choices) in self.0 {
            map.serialize_entry(name, &ChoicesSer(&sorted_choices(choices)))?;
        }
        map.end()
    }
}

/// An enum's choices with their keys as decimal strings, sorted as strings
/// (Rekall's JSON keys); formatted into inline buffers, no allocation per key.
fn sorted_choices(choices: &EnumChoices) -> Vec<(DecimalKey, &String)> {
    let mut keys: Vec<(DecimalKey, &String)> = choices
        .iter()
        .map(|(k, v)| (DecimalKey::new(*k), v))
        .collect();
    keys.sort_unstable_by(|a, b| a.0.bytes().cmp(b.0.bytes()));
    keys
}

/// An `i128` as decimal text, kept inline.
#[derive(Clone, Copy)]
struct DecimalKey {
    buf: [u8; 40],
    len: u8,
}

impl DecimalKey {
    fn new(value: i128) -> Self {
        let mut buf = [0u8; 40];
        let mut digits = itoa::Buffer::new();
        let text = digits.format(value).as_bytes();
        // An i128 takes at most 40 characters ("-" and 39 digits).
        buf[..text.len()].copy_from_slice(text);
        DecimalKey {
            buf,
            len: text.len() as u8,
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    fn as_str(&self) -> &str {
        // Only ASCII digits and '-' were written.
        std::str::from_utf8(self.bytes()).unwrap_or_default()
    }
}

/// One enum's choices, keys already sorted as strings.
struct ChoicesSer<'a>(&'a [(DecimalKey, &'a String)]);

impl Serialize for ChoicesSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k.as_str(), v)?;
        }
        map.end()
    }
}

/// JSON values written with sorted keys and Rekall's empty-dict rule.
enum Canonical<'a> {
    Map(&'a BTreeMap<String, Value>),
    Args(&'a Map<String, Value>),
    Value(&'a Value),
}

fn is_empty_object(v: &Value) -> bool {
    matches!(v, Value::Object(m) if m.is_empty())
}

impl Serialize for Canonical<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        fn map_entries<'a, S: Serializer>(
            s: S,
            it: impl Iterator<Item = (&'a String, &'a Value)>,
        ) -> std::result::Result<S::Ok, S::Error> {
            let sorted: BTreeMap<&String, &Value> =
                it.filter(|(_, v)| !is_empty_object(v)).collect();
            let mut map = s.serialize_map(Some(sorted.len()))?;
            for (k, v) in sorted {
                map.serialize_entry(k, &Canonical::Value(v))?;
            }
            map.end()
        }
        match self {
            Canonical::Map(m) => map_entries(s, m.iter()),
            Canonical::Args(m) => map_entries(s, m.iter()),
            Canonical::Value(Value::Object(m)) => map_entries(s, m.iter()),
            Canonical::Value(Value::Array(a)) => {
                // Inside lists `{}` is kept (descriptor argument dicts).
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(&Canonical::Value(v))?;
                }
                seq.end()
            }
            Canonical::Value(v) => v.serialize(s),
        }
    }
}

/// Refuses a JSON object that is not a Rekall profile: one with no
/// top-level `$` section (`$METADATA`, `$STRUCTS`, ...), such as
/// `{"hello":"world"}` or `{}`; an ISF (`base_types`, `user_types`...) is
/// named as such, for the reader that expected a Rekall profile.
pub(crate) fn check_sections<'a>(keys: impl Iterator<Item = &'a str>, what: &str) -> Result<()> {
    let keys: Vec<&str> = keys.collect();
    if keys.iter().any(|k| k.starts_with('$')) {
        return Ok(());
    }
    let isf = keys
        .iter()
        .any(|k| matches!(*k, "base_types" | "user_types" | "symbols"));
    let shown: Vec<String> = keys.iter().take(5).map(|k| format!("{k:?}")).collect();
    let found = if keys.is_empty() {
        "an empty object".to_owned()
    } else {
        format!("keys {}", shown.join(", "))
    };
    Err(Error::format(
        what,
        if isf {
            format!("is a Volatility 3 ISF, not a Rekall profile (found {found})")
        } else {
            format!("not a profile: no $METADATA or other $ section (found {found})")
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_output_sorts_and_drops_empty_dicts() {
        let doc = json!({
            "$STRUCTS": {"b": [8, {"y": [4, ["int", {}]], "x": [0, ["Pointer", {"target": "a", "target_args": {}}]]}], "a": [0, {}]},
            "$METADATA": {"Type": "Profile", "Empty": {}},
            "$ENUMS": {"e": {"10": "TEN", "2": "TWO", "-1": "NEG"}},
            "$CUSTOM": {"z": 1, "a": {"k": []}},
            "$CONSTANTS": {"big": 18446743523966342668u64},
        });
        let p = Profile::from_json(doc).unwrap();
        let out = String::from_utf8(p.to_canonical_json()).unwrap();
        assert_eq!(
            out,
            r#"{"$CONSTANTS":{"big":18446743523966342668},"$CUSTOM":{"a":{"k":[]},"z":1},"$ENUMS":{"e":{"-1":"NEG","10":"TEN","2":"TWO"}},"$METADATA":{"Type":"Profile"},"$STRUCTS":{"a":[0,{}],"b":[8,{"x":[0,["Pointer",{"target":"a"}]],"y":[4,["int",{}]]}]}}"#
        );
    }

    #[test]
    fn parallel_structs_section_gives_the_serial_bytes() {
        // Enough structs for the second thread, sections on both sides of
        // `$STRUCTS`, and a name that needs escaping.
        let mut p = Profile::new();
        for i in 0..PARALLEL_STRUCTS + 3 {
            let mut s = StructDef {
                size: Some(i as u64),
                ..Default::default()
            };
            s.fields.insert(
                format!("f\"{i}"),
                Field {
                    offset: Some(0),
                    descriptor: Descriptor::pointer(Descriptor::named("x")),
                },
            );
            p.structs.insert(format!("s{i}"), s);
        }
        p.constants.insert("c".into(), 1);
        p.other.insert("$ZZZ".into(), json!({"k": 1}));
        let parallel = p.to_canonical_json();
        let serial = serde_json::to_vec(&p).unwrap();
        assert_eq!(
            String::from_utf8(parallel).unwrap(),
            String::from_utf8(serial).unwrap()
        );
        let back = Profile::from_bytes(p.to_canonical_json(), "t").unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn gzip_is_deterministic_and_readable() {
        let mut p = Profile::new();
        p.constants.insert("x".into(), 5);
        let mut a = Vec::new();
        let mut b = Vec::new();
        p.write_canonical_gzip(&mut a).unwrap();
        p.write_canonical_gzip(&mut b).unwrap();
        assert_eq!(a, b);
        // No mtime in the header (bytes 4..8).
        assert_eq!(&a[4..8], &[0, 0, 0, 0]);
        assert_eq!(Profile::from_bytes(a, "t").unwrap(), p);
    }

    #[test]
    fn bad_shapes_are_errors() {
        for doc in [
            json!([]),
            json!({"$STRUCTS": {"a": [1]}}),
            json!({"$CONSTANTS": {"a": "x"}}),
            json!({"$ENUMS": {"e": {"x": "y"}}}),
        ] {
            assert!(Profile::from_json(doc).is_err());
        }
        assert!(Profile::from_bytes(b"{".to_vec(), "t").is_err());
        assert!(Profile::from_bytes(vec![0x1f, 0x8b, 8, 0, 0], "t").is_err());
    }
}
