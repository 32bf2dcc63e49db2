//! Lazy profiles: index the sections, parse a struct the first time it is
//! asked for, cache the result.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use serde_json::{Map, Value};

use crate::descriptor::EnumChoices;
use crate::error::{Error, Result};
use crate::io::read_maybe_gzip;
use crate::profile::{Profile, StructDef, MAX_PROFILE_BYTES};
use crate::scan::Scanner;

/// A profile opened lazily.
///
/// Opening keeps the (decompressed) JSON text, checks that it is well formed,
/// and indexes `$STRUCTS` by name (name -> byte range of its JSON). A struct
/// is parsed with [`StructDef::from_json`] the first time [`LazyProfile::get_struct`]
/// asks for it, then cached. `$ENUMS`, `$CONSTANTS`, `$FUNCTIONS` and
/// `$CONFIG` are each parsed as a whole on first use. Every legacy form that
/// [`Profile::load`] accepts is accepted here.
///
/// A `LazyProfile` is immutable and thread-safe; share it with [`Arc`].
#[derive(Debug)]
pub struct LazyProfile {
    what: String,
    text: String,
    metadata: Map<String, Value>,
    /// Section name -> byte range of its value in `text`.
    sections: BTreeMap<String, Range<usize>>,
    /// `$STRUCTS` name -> byte range of its definition in `text`.
    struct_index: HashMap<String, Range<usize>>,
    struct_cache: RwLock<HashMap<String, Arc<StructDef>>>,
    parsed_structs: AtomicUsize,
    enums: OnceLock<BTreeMap<String, EnumChoices>>,
    constants: OnceLock<HashMap<String, u64>>,
    functions: OnceLock<HashMap<String, u64>>,
    config: OnceLock<BTreeMap<String, Value>>,
}

impl LazyProfile {
    /// Opens a profile file, gzipped or plain (detected by content).
    pub fn open(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(bytes, &path.display().to_string())
    }

    /// Opens a profile from bytes, gzipped or plain; `what` names the source
    /// in errors.
    pub fn from_bytes(bytes: Vec<u8>, what: &str) -> Result<Self> {
        Self::from_bytes_checked(bytes, what, true)
    }

    /// [`LazyProfile::from_bytes`]; `check_profile` refuses a document with
    /// no `$` section (not a profile).
    fn from_bytes_checked(bytes: Vec<u8>, what: &str, check_profile: bool) -> Result<Self> {
        let bytes = read_maybe_gzip(bytes, what, MAX_PROFILE_BYTES)?;
        let text = String::from_utf8(bytes)
            .map_err(|e| Error::format(what, format!("not UTF-8 text: {e}")))?;
        let json_err = |source| Error::Json {
            context: what.to_owned(),
            source,
        };
        let scan_err =
            |e: crate::scan::ScanError| Error::format(what, format!("not valid JSON: {e}"));
        // One structural pass: the top-level sections and the `$STRUCTS`
        // entries, as byte ranges; nothing else is parsed (see `scan`).
        let mut sections: BTreeMap<String, Range<usize>> = BTreeMap::new();
        let mut struct_index: HashMap<String, Range<usize>> = HashMap::new();
        let mut structs_not_object = None;
        let mut scanner = Scanner::new(text.as_bytes());
        scanner
            .object(|key, s| {
                let name = key.text(&text).ok_or_else(|| key.bad_escape())?;
                let is_structs = name == "$STRUCTS";
                let range = if is_structs && s.next_byte() == Some(b'{') {
                    let start = s.position();
                    struct_index.clear();
                    s.object(|k, s| {
                        let r = s.skip()?;
                        let name = k.text(&text).ok_or_else(|| k.bad_escape())?;
                        struct_index.insert(name.into_owned(), r);
                        Ok(())
                    })?;
                    start..s.position()
                } else {
                    let r = s.skip()?;
                    if is_structs {
                        let raw = text.get(r.clone()).unwrap_or_default();
                        structs_not_object =
                            (raw != "null").then(|| raw.chars().take(40).collect::<String>());
                        struct_index.clear();
                    }
                    r
                };
                sections.insert(name.into_owned(), range);
                Ok(())
            })
            .map_err(scan_err)?;
        scanner.end().map_err(scan_err)?;
        if check_profile {
            crate::profile::check_sections(sections.keys().map(String::as_str), what)?;
        }
        if let Some(raw) = structs_not_object {
            return Err(Error::format(
                what,
                format!("$STRUCTS is not an object: {raw}"),
            ));
        }
        let metadata = match sections.get("$METADATA").and_then(|r| text.get(r.clone())) {
            Some(raw) => match serde_json::from_str::<Value>(raw).map_err(json_err)? {
                Value::Object(m) => m,
                Value::Null => Map::new(),
                other => {
                    return Err(Error::format(
                        what,
                        format!(
                            "$METADATA is not an object: {}",
                            crate::descriptor::short(&other)
                        ),
                    ))
                }
            },
            None => Map::new(),
        };
        Ok(LazyProfile {
            what: what.to_owned(),
            text,
            metadata,
            sections,
            struct_index,
            struct_cache: RwLock::new(HashMap::new()),
            parsed_structs: AtomicUsize::new(0),
            enums: OnceLock::new(),
            constants: OnceLock::new(),
            functions: OnceLock::new(),
            config: OnceLock::new(),
        })
    }

    /// Makes a lazy profile of an in-memory [`Profile`] (through its
    /// canonical JSON).
    pub fn from_profile(profile: &Profile) -> Result<Self> {
        // An empty model is an empty profile, not a stranger's JSON.
        Self::from_bytes_checked(profile.to_canonical_json(), "profile", false)
    }

    /// Parses the whole profile into the eager model.
    pub fn to_profile(&self) -> Result<Profile> {
        Profile::from_bytes(self.text.as_bytes().to_vec(), &self.what)
    }

    /// The name of the source (file name) used in errors.
    pub fn source_name(&self) -> &str {
        &self.what
    }

    /// `$METADATA`.
    pub fn metadata(&self) -> &Map<String, Value> {
        &self.metadata
    }

    /// A `$METADATA` string value.
    pub fn metadata_str(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).and_then(Value::as_str)
    }

    /// The names of the top-level sections.
    pub fn section_names(&self) -> impl Iterator<Item = &str> {
        self.sections.keys().map(String::as_str)
    }

    /// The raw JSON text of a section, unparsed (for sections this crate does
    /// not model).
    pub fn raw_section(&self, name: &str) -> Option<&str> {
        self.sections
            .get(name)
            .and_then(|r| self.text.get(r.clone()))
    }

    /// Number of structs in `$STRUCTS` (indexed, not parsed).
    pub fn struct_count(&self) -> usize {
        self.struct_index.len()
    }

    /// Whether `$STRUCTS` has `name`.
    pub fn has_struct(&self, name: &str) -> bool {
        self.struct_index.contains_key(name)
    }

    /// The names in `$STRUCTS`, unordered.
    pub fn struct_names(&self) -> impl Iterator<Item = &str> {
        self.struct_index.keys().map(String::as_str)
    }

    /// How many struct definitions have been parsed so far (each at most once).
    pub fn parsed_struct_count(&self) -> usize {
        self.parsed_structs.load(Ordering::Relaxed)
    }

    /// The struct `name`, parsed on first use and cached. `Ok(None)` when the
    /// profile has no such struct; an error when its JSON is malformed.
    pub fn get_struct(&self, name: &str) -> Result<Option<Arc<StructDef>>> {
        if let Ok(cache) = self.struct_cache.read() {
            if let Some(s) = cache.get(name) {
                return Ok(Some(Arc::clone(s)));
            }
        }
        let Some(range) = self.struct_index.get(name) else {
            return Ok(None);
        };
        let raw = self.text.get(range.clone()).unwrap_or("null");
        let ctx = || format!("{}: $STRUCTS.{name}", self.what);
        let value: Value = serde_json::from_str(raw).map_err(|source| Error::Json {
            context: ctx(),
            source,
        })?;
        let def = StructDef::from_json(&value).map_err(|e| match e {
            Error::Format { context, message } => {
                Error::format(format!("{}: {context}", ctx()), message)
            }
            other => other,
        })?;
        let def = Arc::new(def);
        let mut cache = self
            .struct_cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = cache.entry(name.to_owned()).or_insert_with(|| {
            self.parsed_structs.fetch_add(1, Ordering::Relaxed);
            def
        });
        Ok(Some(Arc::clone(entry)))
    }

    /// `$ENUMS` (parsed on first use; an unreadable section reads as empty).
    pub fn enums(&self) -> &BTreeMap<String, EnumChoices> {
        self.enums.get_or_init(|| {
            let mut out = BTreeMap::new();
            let Some(raw) = self.raw_section("$ENUMS") else {
                return out;
            };
            let Ok(all) = serde_json::from_str::<BTreeMap<String, BTreeMap<String, Value>>>(raw)
            else {
                return out;
            };
            for (name, choices) in all {
                let map: EnumChoices = choices
                    .into_iter()
                    .filter_map(|(k, v)| {
                        let key = k.trim().parse::<i128>().ok()?;
                        Some((
                            key,
                            v.as_str()
                                .map(str::to_owned)
                                .unwrap_or_else(|| v.to_string()),
                        ))
                    })
                    .collect();
                out.insert(name, map);
            }
            out
        })
    }

    /// `$CONSTANTS`: data symbols (parsed as a whole on first use).
    pub fn constants(&self) -> &HashMap<String, u64> {
        self.constants.get_or_init(|| self.symbols("$CONSTANTS"))
    }

    /// `$FUNCTIONS`: code symbols (parsed as a whole on first use).
    pub fn functions(&self) -> &HashMap<String, u64> {
        self.functions.get_or_init(|| self.symbols("$FUNCTIONS"))
    }

    /// `$CONFIG` (parsed on first use).
    pub fn config(&self) -> &BTreeMap<String, Value> {
        self.config.get_or_init(|| {
            self.raw_section("$CONFIG")
                .and_then(|raw| serde_json::from_str(raw).ok())
                .unwrap_or_default()
        })
    }

    fn symbols(&self, section: &str) -> HashMap<String, u64> {
        let Some(raw) = self.raw_section(section) else {
            return HashMap::new();
        };
        let Ok(map) = serde_json::from_str::<HashMap<String, SymbolValue>>(raw) else {
            return HashMap::new();
        };
        map.into_iter()
            .filter_map(|(k, v)| Some((k, v.0?)))
            .collect()
    }
}

/// A symbol value deserialised without an intermediate `Value`: an integer
/// (negative ones, seen in hand-made profiles, as two's complement), or
/// `None` for anything else.
struct SymbolValue(Option<u64>);

impl<'de> serde::Deserialize<'de> for SymbolValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = SymbolValue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a symbol value")
            }
            fn visit_u64<E>(self, v: u64) -> std::result::Result<SymbolValue, E> {
                Ok(SymbolValue(Some(v)))
            }
            fn visit_i64<E>(self, v: i64) -> std::result::Result<SymbolValue, E> {
                Ok(SymbolValue(Some(v as u64)))
            }
            fn visit_f64<E>(self, _: f64) -> std::result::Result<SymbolValue, E> {
                Ok(SymbolValue(None))
            }
            fn visit_bool<E>(self, _: bool) -> std::result::Result<SymbolValue, E> {
                Ok(SymbolValue(None))
            }
            fn visit_str<E>(self, _: &str) -> std::result::Result<SymbolValue, E> {
                Ok(SymbolValue(None))
            }
            fn visit_unit<E>(self) -> std::result::Result<SymbolValue, E> {
                Ok(SymbolValue(None))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> std::result::Result<SymbolValue, A::Error> {
                while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(SymbolValue(None))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> std::result::Result<SymbolValue, A::Error> {
                while a
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(SymbolValue(None))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structs_are_parsed_on_demand_once() {
        let doc = br#"{"$METADATA": {"ProfileClass": "Linux", "arch": "AMD64"},
            "$STRUCTS": {"a": [8, {"x": [0, ["int"]]}], "b": [4, {"y": [0, ["pointer", ["a"]]]}], "bad": [1]},
            "$CONSTANTS": {"big": 18446743523968493976, "neg": -1, "odd": [1, {"a": 2}], "s": "x"},
            "$ENUMS": {"e": {"1": "ONE", "x": "bad"}}, "$CUSTOM": [1, 2]}"#;
        let p = LazyProfile::from_bytes(doc.to_vec(), "t").unwrap();
        assert_eq!(p.struct_count(), 3);
        assert_eq!(p.parsed_struct_count(), 0);
        let a = p.get_struct("a").unwrap().unwrap();
        assert_eq!(a.size, Some(8));
        assert_eq!(p.parsed_struct_count(), 1);
        p.get_struct("a").unwrap();
        assert_eq!(p.parsed_struct_count(), 1);
        assert!(p.get_struct("nope").unwrap().is_none());
        assert!(p.get_struct("bad").is_err());
        assert_eq!(p.constants().get("big"), Some(&18446743523968493976));
        assert_eq!(p.constants().get("neg"), Some(&u64::MAX));
        assert_eq!(p.enums()["e"].get(&1).map(String::as_str), Some("ONE"));
        assert_eq!(p.raw_section("$CUSTOM"), Some("[1, 2]"));
        assert_eq!(p.metadata_str("ProfileClass"), Some("Linux"));
    }

    #[test]
    fn malformed_input_is_an_error() {
        for doc in [
            &b"{"[..],
            b"[]",
            b"{\"$STRUCTS\": 5}",
            b"\xff\xfe",
            b"{\"$METADATA\": 1}",
            b"{\"$STRUCTS\": {\"a\\q\": [1, {}]}}",
            b"{\"$STRUCTS\": {\"a\": [1, {]}}",
            b"{\"$CONSTANTS\": {\"a\": 1}} {}",
        ] {
            let e = LazyProfile::from_bytes(doc.to_vec(), "t.json").unwrap_err();
            assert!(e.to_string().starts_with("t.json: "), "{e}");
        }
        // Inside a struct the grammar is checked when the struct is parsed.
        let p = LazyProfile::from_bytes(
            br#"{"$STRUCTS": {"a": [1, {"x": [0, ["int"]]}], "b": [1x, {}]}}"#.to_vec(),
            "t.json",
        )
        .unwrap();
        assert!(p.get_struct("a").unwrap().is_some());
        let e = p.get_struct("b").unwrap_err().to_string();
        assert!(e.contains("$STRUCTS.b"), "{e}");
    }

    #[test]
    fn escaped_keys_are_decoded() {
        let p = LazyProfile::from_bytes(
            br#"{"$STRUCTS": {"a\u0041\"q": [4, {}]}, "$ME\u0054ADATA": {"arch": "AMD64"}}"#
                .to_vec(),
            "t",
        )
        .unwrap();
        assert!(p.has_struct("aA\"q"));
        assert_eq!(p.metadata_str("arch"), Some("AMD64"));
    }

    #[test]
    fn a_lying_gzip_trailer_is_harmless() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(br#"{"$STRUCTS": {"a": [4, {}]}}"#).unwrap();
        let mut gz = enc.finish().unwrap();
        let n = gz.len();
        gz[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
        // The size in the trailer is only a capacity hint; the checksum is
        // still verified (the size field is checked by the decoder too).
        let _ = LazyProfile::from_bytes(gz, "t");
    }
}
