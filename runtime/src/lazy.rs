//! Lazy profiles: index the sections, parse a struct the first time it is
//! asked for, cache the result. Rekall profiles and Volatility 3 ISF files
//! alike (see [`ProfileFormat`]).

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use serde_json::{Map, Value};

use crate::descriptor::EnumChoices;
use crate::error::{Error, Result};
use crate::io::read_compressed;
use crate::isf;
use crate::profile::{Profile, StructDef, MAX_PROFILE_BYTES};
use crate::scan::Scanner;

/// What a [`LazyProfile`] was opened from, detected by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileFormat {
    /// A Rekall profile (`$STRUCTS`, `$ENUMS`, ... sections).
    Rekall,
    /// A Volatility 3 ISF document: the top-level object has `user_types`
    /// and a `metadata` object with `format`.
    Isf,
}

/// A profile opened lazily: a Rekall profile or a Volatility 3 ISF file,
/// plain, gzipped or xz-compressed (all detected by content).
///
/// Opening keeps the (decompressed) JSON text, checks that it is well formed,
/// and indexes the types by name (name -> byte range of its JSON): a Rekall
/// profile's `$STRUCTS`, an ISF file's `user_types` and `enums`. A struct
/// is parsed the first time [`LazyProfile::get_struct`] asks for it, then
/// cached: with [`StructDef::from_json`] from a Rekall vtype, with
/// [`isf::user_type`] from an ISF user type, which gives the same
/// descriptors (the enums an ISF member names are looked up one by one in
/// the index). `$ENUMS`, `$CONSTANTS`, `$FUNCTIONS` and `$CONFIG` (ISF:
/// `enums`, `symbols`) are each parsed as a whole on first use. Every legacy
/// form that [`Profile::load`] accepts is accepted here. An ISF file's
/// [`metadata`](LazyProfile::metadata) is the Rekall `$METADATA` it
/// translates to ([`isf::metadata`]).
///
/// A `LazyProfile` is immutable and thread-safe; share it with [`Arc`].
#[derive(Debug)]
pub struct LazyProfile {
    what: String,
    text: String,
    format: ProfileFormat,
    metadata: Map<String, Value>,
    /// Section name -> byte range of its value in `text`.
    sections: BTreeMap<String, Range<usize>>,
    /// `$STRUCTS` (ISF: `user_types`) name -> byte range of its definition in `text`.
    struct_index: HashMap<String, Range<usize>>,
    /// ISF only: `enums` name -> byte range of its entry.
    enum_index: HashMap<String, Range<usize>>,
    /// ISF only: how its types read.
    isf_conventions: isf::Conventions,
    /// ISF only: the `symbols` and `functions` as Rekall would have them.
    isf_symbols: OnceLock<(HashMap<String, u64>, HashMap<String, u64>)>,
    struct_cache: RwLock<HashMap<String, Arc<StructDef>>>,
    parsed_structs: AtomicUsize,
    enums: OnceLock<BTreeMap<String, EnumChoices>>,
    constants: OnceLock<HashMap<String, u64>>,
    functions: OnceLock<HashMap<String, u64>>,
    config: OnceLock<BTreeMap<String, Value>>,
}

impl LazyProfile {
    /// Opens a profile file (Rekall or ISF), plain, gzipped or xz-compressed
    /// (detected by content).
    pub fn open(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(bytes, &path.display().to_string())
    }

    /// Opens a profile from bytes (Rekall or ISF), plain, gzipped or
    /// xz-compressed; `what` names the source in errors.
    pub fn from_bytes(bytes: Vec<u8>, what: &str) -> Result<Self> {
        Self::from_bytes_checked(bytes, what, true)
    }

    /// [`LazyProfile::from_bytes`]; `check_profile` refuses a document with
    /// no `$` section (not a profile).
    fn from_bytes_checked(bytes: Vec<u8>, what: &str, check_profile: bool) -> Result<Self> {
        let bytes = read_compressed(bytes, what, MAX_PROFILE_BYTES)?;
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
        // ISF: `user_types`, `enums`, and the banner symbols' entries.
        let mut user_types: HashMap<String, Range<usize>> = HashMap::new();
        let mut enum_index: HashMap<String, Range<usize>> = HashMap::new();
        let mut banner_symbols: Vec<(String, Range<usize>)> = Vec::new();
        let mut structs_not_object = None;
        let mut scanner = Scanner::new(text.as_bytes());
        scanner
            .object(|key, s| {
                let name = key.text(&text).ok_or_else(|| key.bad_escape())?;
                let isf_index = match &*name {
                    "user_types" => Some(&mut user_types),
                    "enums" => Some(&mut enum_index),
                    _ => None,
                };
                if let Some(index) = isf_index {
                    if s.next_byte() == Some(b'{') {
                        let start = s.position();
                        index.clear();
                        s.object(|k, s| {
                            let r = s.skip()?;
                            let name = k.text(&text).ok_or_else(|| k.bad_escape())?;
                            index.insert(name.into_owned(), r);
                            Ok(())
                        })?;
                        sections.insert(name.into_owned(), start..s.position());
                        return Ok(());
                    }
                }
                if name == "symbols" && s.next_byte() == Some(b'{') {
                    let start = s.position();
                    banner_symbols.clear();
                    s.object(|k, s| {
                        let r = s.skip()?;
                        let raw = text.get(k.raw.clone()).unwrap_or_default();
                        if !k.escaped && (raw == "linux_banner" || raw == "version") {
                            banner_symbols.push((raw.to_owned(), r));
                        }
                        Ok(())
                    })?;
                    sections.insert(name.into_owned(), start..s.position());
                    return Ok(());
                }
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
        let parse_section = |name: &str| -> Result<Option<Value>> {
            match sections.get(name).and_then(|r| text.get(r.clone())) {
                Some(raw) => serde_json::from_str(raw).map(Some).map_err(json_err),
                None => Ok(None),
            }
        };
        // ISF: `user_types` and a `metadata` object with `format`.
        let isf_meta = match sections.contains_key("user_types") {
            true => parse_section("metadata")?.and_then(|m| match m {
                Value::Object(m) if m.contains_key("format") => Some(m),
                _ => None,
            }),
            false => None,
        };
        if let Some(meta) = isf_meta {
            let raw = |name: &str| {
                sections
                    .get(name)
                    .and_then(|r| text.get(r.clone()))
                    .unwrap_or_default()
            };
            for section in ["user_types", "enums", "symbols", "base_types"] {
                let r = raw(section);
                if !r.is_empty() && !r.starts_with('{') && r != "null" {
                    return Err(Error::format(
                        what,
                        format!(
                            "ISF section {section} is not an object: {}",
                            r.chars().take(40).collect::<String>()
                        ),
                    ));
                }
            }
            let pointer_size = parse_section("base_types")?
                .as_ref()
                .and_then(isf::pointer_size);
            let banner_key = if meta.contains_key("mac") {
                "version"
            } else {
                "linux_banner"
            };
            let banner = banner_symbols
                .iter()
                .filter(|(k, _)| k == banner_key)
                .filter_map(|(_, r)| serde_json::from_str::<Value>(text.get(r.clone())?).ok())
                .find_map(|v| isf::banner(&v));
            let isf_conventions = isf::Conventions::of(&meta);
            let metadata = isf::metadata(&meta, pointer_size, banner);
            return Ok(LazyProfile {
                what: what.to_owned(),
                text,
                format: ProfileFormat::Isf,
                metadata,
                sections,
                struct_index: user_types,
                enum_index,
                isf_conventions,
                isf_symbols: OnceLock::new(),
                struct_cache: RwLock::new(HashMap::new()),
                parsed_structs: AtomicUsize::new(0),
                enums: OnceLock::new(),
                constants: OnceLock::new(),
                functions: OnceLock::new(),
                config: OnceLock::new(),
            });
        }
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
            format: ProfileFormat::Rekall,
            metadata,
            sections,
            struct_index,
            enum_index: HashMap::new(),
            isf_conventions: isf::Conventions::default(),
            isf_symbols: OnceLock::new(),
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

    /// Parses the whole profile into the eager model (an ISF file: every
    /// type converted as [`LazyProfile::get_struct`] converts one).
    pub fn to_profile(&self) -> Result<Profile> {
        if self.format == ProfileFormat::Rekall {
            return Profile::from_bytes(self.text.as_bytes().to_vec(), &self.what);
        }
        let mut p = Profile::new();
        p.metadata = self
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut names: Vec<&str> = self.struct_names().collect();
        names.sort_unstable();
        for name in names {
            if let Some(def) = self.get_struct(name)? {
                p.structs.insert(name.to_owned(), (*def).clone());
            }
        }
        p.enums = self.enums().clone();
        p.derive_revenums();
        p.constants = self
            .constants()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        p.functions = self
            .functions()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        Ok(p)
    }

    /// Whether this is a Rekall profile or an ISF file.
    pub fn format(&self) -> ProfileFormat {
        self.format
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
        let section = match self.format {
            ProfileFormat::Rekall => "$STRUCTS",
            ProfileFormat::Isf => "user_types",
        };
        let ctx = || format!("{}: {section}.{name}", self.what);
        let value: Value = serde_json::from_str(raw).map_err(|source| Error::Json {
            context: ctx(),
            source,
        })?;
        let def = match self.format {
            ProfileFormat::Rekall => StructDef::from_json(&value).map_err(|e| match e {
                Error::Format { context, message } => {
                    Error::format(format!("{}: {context}", ctx()), message)
                }
                other => other,
            })?,
            ProfileFormat::Isf => {
                isf::user_type(name, &value, self.isf_conventions, &mut |e| {
                    self.isf_enum(e)
                })
                .map_err(|e| match e {
                    Error::Format { context, message } => {
                        Error::format(format!("{}: user_types.{context}", self.what), message)
                    }
                    other => other,
                })?
                .0
            }
        };
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

    /// ISF: what a member naming enum `name` needs of it (its entry parsed).
    fn isf_enum(&self, name: &str) -> Option<isf::IsfEnum> {
        let raw = self.text.get(self.enum_index.get(name)?.clone())?;
        let v: Value = serde_json::from_str(raw).ok()?;
        Some(isf::enum_info(name, &v))
    }

    /// The number of enumerations (indexed, not parsed, in an ISF file).
    pub fn enum_count(&self) -> usize {
        match self.format {
            ProfileFormat::Rekall => self.enums().len(),
            ProfileFormat::Isf => self.enum_index.len(),
        }
    }

    /// The choices of enumeration `name` (an ISF file: only that entry is
    /// parsed; a Rekall profile: `$ENUMS` is, once).
    pub fn get_enum(&self, name: &str) -> Option<EnumChoices> {
        match self.format {
            ProfileFormat::Rekall => self.enums().get(name).cloned(),
            ProfileFormat::Isf => {
                if let Some(all) = self.enums.get() {
                    return all.get(name).cloned();
                }
                let raw = self.text.get(self.enum_index.get(name)?.clone())?;
                let v: Value = serde_json::from_str(raw).ok()?;
                Some(isf::enum_choices(&v))
            }
        }
    }

    /// The names of the enumerations, unordered.
    pub fn enum_names(&self) -> Vec<&str> {
        match self.format {
            ProfileFormat::Rekall => self.enums().keys().map(String::as_str).collect(),
            ProfileFormat::Isf => self.enum_index.keys().map(String::as_str).collect(),
        }
    }

    /// The number of members of all structs, counted by a structural scan
    /// of their definitions (nothing is parsed or cached).
    pub fn member_count(&self) -> Result<usize> {
        let mut n = 0usize;
        let isf = self.format == ProfileFormat::Isf;
        for (name, range) in &self.struct_index {
            let raw = self.text.get(range.clone()).unwrap_or_default();
            let mut s = Scanner::new(raw.as_bytes());
            let mut count = |s: &mut Scanner<'_>| {
                if s.next_byte() == Some(b'{') {
                    s.object(|_, s| {
                        n += 1;
                        s.skip().map(drop)
                    })
                } else {
                    s.skip().map(drop)
                }
            };
            let r = if isf {
                if s.next_byte() == Some(b'{') {
                    s.object(|k, s| match raw.get(k.raw.clone()) {
                        Some("fields") => count(s),
                        _ => s.skip().map(drop),
                    })
                } else {
                    Ok(())
                }
            } else if s.next_byte() == Some(b'[') {
                s.array(|i, s| if i == 1 { count(s) } else { s.skip().map(drop) })
            } else {
                Ok(())
            };
            r.map_err(|e| Error::format(format!("{}: {name}", self.what), e.to_string()))?;
        }
        Ok(n)
    }

    /// The number of entries of a raw section (object keys or array
    /// elements; 1 for anything else, 0 when absent).
    pub fn entry_count(&self, section: &str) -> usize {
        let Some(raw) = self.raw_section(section) else {
            return 0;
        };
        let mut n = 0usize;
        let mut s = Scanner::new(raw.as_bytes());
        let r = match s.next_byte() {
            Some(b'{') => s.object(|_, s| {
                n += 1;
                s.skip().map(drop)
            }),
            Some(b'[') => s.array(|_, s| {
                n += 1;
                s.skip().map(drop)
            }),
            _ => {
                n = 1;
                Ok(())
            }
        };
        if r.is_err() {
            return 0;
        }
        n
    }

    /// `$ENUMS` (parsed on first use; an unreadable section reads as empty).
    /// An ISF file: every `enums` entry.
    pub fn enums(&self) -> &BTreeMap<String, EnumChoices> {
        self.enums.get_or_init(|| {
            let mut out = BTreeMap::new();
            if self.format == ProfileFormat::Isf {
                for (name, range) in &self.enum_index {
                    let v = self
                        .text
                        .get(range.clone())
                        .and_then(|raw| serde_json::from_str::<Value>(raw).ok());
                    if let Some(v) = v {
                        out.insert(name.clone(), isf::enum_choices(&v));
                    }
                }
                return out;
            }
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

    /// `$CONSTANTS`: data symbols (parsed as a whole on first use). An ISF
    /// file: the `symbols` not typed as functions, and for Linux and macOS
    /// the functions too (as a Rekall profile of them has it).
    pub fn constants(&self) -> &HashMap<String, u64> {
        match self.format {
            ProfileFormat::Rekall => self.constants.get_or_init(|| self.symbols("$CONSTANTS")),
            ProfileFormat::Isf => &self.isf_symbols().0,
        }
    }

    /// `$FUNCTIONS`: code symbols (parsed as a whole on first use). An ISF
    /// file: the `symbols` typed as functions.
    pub fn functions(&self) -> &HashMap<String, u64> {
        match self.format {
            ProfileFormat::Rekall => self.functions.get_or_init(|| self.symbols("$FUNCTIONS")),
            ProfileFormat::Isf => &self.isf_symbols().1,
        }
    }

    fn isf_symbols(&self) -> &(HashMap<String, u64>, HashMap<String, u64>) {
        self.isf_symbols.get_or_init(|| {
            let (mut constants, mut functions) = (HashMap::new(), HashMap::new());
            let windows = self
                .raw_section("metadata")
                .and_then(|raw| serde_json::from_str::<Map<String, Value>>(raw).ok())
                .is_some_and(|m| isf::is_windows(&m));
            let all = self
                .raw_section("symbols")
                .and_then(|raw| serde_json::from_str::<HashMap<String, Value>>(raw).ok())
                .unwrap_or_default();
            for (name, entry) in all {
                let Some((addr, is_fn)) = isf::symbol(&entry) else {
                    continue;
                };
                if is_fn {
                    if !windows {
                        constants.insert(name.clone(), addr);
                    }
                    functions.insert(name, addr);
                } else {
                    constants.insert(name, addr);
                }
            }
            (constants, functions)
        })
    }

    /// `$CONFIG` (parsed on first use; an ISF file has none).
    pub fn config(&self) -> &BTreeMap<String, Value> {
        self.config.get_or_init(|| {
            if self.format == ProfileFormat::Isf {
                return BTreeMap::new();
            }
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

    const ISF: &str = r#"{"base_types": {"pointer": {"kind": "int", "size": 4, "signed": false, "endian": "little"}},
        "enums": {"e": {"base": "unsigned char", "size": 1, "constants": {"A": 1, "B": 2}}},
        "metadata": {"format": "6.2.0", "linux": {}},
        "symbols": {"init_task": {"address": 4096, "type": {"kind": "struct", "name": "task"}},
                    "start": {"address": 8192, "type": {"kind": "function"}},
                    "linux_banner": {"address": 16, "constant_data": "TGludXggdmVyc2lvbiA2LjEK"}},
        "user_types": {"task": {"kind": "struct", "size": 16, "fields": {
            "pid": {"offset": 0, "type": {"kind": "base", "name": "int"}},
            "st": {"offset": 4, "type": {"kind": "bitfield", "bit_position": 1, "bit_length": 3, "type": {"kind": "enum", "name": "e"}}},
            "next": {"offset": 8, "type": {"kind": "pointer", "subtype": {"kind": "struct", "name": "task"}}}}},
          "bad": {"kind": "struct", "size": 1, "fields": {"x": {"offset": 0, "type": {"kind": "nope"}}}}}}"#;

    #[test]
    fn isf_types_are_converted_on_demand() {
        use std::io::Write;
        let mut xz = Vec::new();
        {
            let mut enc = liblzma::write::XzEncoder::new(&mut xz, 1);
            enc.write_all(ISF.as_bytes()).unwrap();
            enc.finish().unwrap();
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(ISF.as_bytes()).unwrap();
        for bytes in [ISF.as_bytes().to_vec(), xz, gz.finish().unwrap()] {
            let p = LazyProfile::from_bytes(bytes, "t.json").unwrap();
            assert_eq!(p.format(), ProfileFormat::Isf);
            assert_eq!(p.struct_count(), 2);
            assert_eq!(p.parsed_struct_count(), 0);
            let t = p.get_struct("task").unwrap().unwrap();
            assert_eq!(p.parsed_struct_count(), 1);
            assert_eq!(t.size, Some(16));
            assert_eq!(
                t.fields["st"].descriptor.to_json().to_string(),
                r#"["Enumeration",{"enum_name":"e","target":"BitField","target_args":{"end_bit":4,"start_bit":1,"target":"unsigned char"}}]"#
            );
            assert_eq!(
                t.fields["next"].descriptor.to_json().to_string(),
                r#"["Pointer",{"target":"task"}]"#
            );
            let e = p.get_struct("bad").unwrap_err().to_string();
            assert!(e.starts_with("t.json: user_types.bad.x"), "{e}");
            assert_eq!(p.get_enum("e").unwrap()[&2], "B");
            assert_eq!(p.enum_count(), 1);
            assert_eq!(p.metadata_str("arch"), Some("I386"));
            assert_eq!(p.metadata_str("ProfileClass"), Some("Linux"));
            assert_eq!(p.metadata_str("Banner"), Some("Linux version 6.1"));
            // Linux: every symbol is a constant, functions also functions.
            assert_eq!(p.constants().len(), 3);
            assert_eq!(p.functions().get("start"), Some(&8192));
            assert_eq!(p.member_count().unwrap(), 4);
            // The eager model converts every type: `bad` fails it.
            assert!(p.to_profile().unwrap_err().to_string().contains("bad.x"));
        }
    }

    #[test]
    fn hostile_isf_is_an_error_never_a_panic() {
        use std::io::Write;
        // Every truncation, plain and compressed.
        let mut xz = Vec::new();
        {
            let mut enc = liblzma::write::XzEncoder::new(&mut xz, 1);
            enc.write_all(ISF.as_bytes()).unwrap();
            enc.finish().unwrap();
        }
        for cut in 0..ISF.len() {
            assert!(LazyProfile::from_bytes(ISF.as_bytes()[..cut].to_vec(), "t").is_err());
        }
        for cut in 0..xz.len() {
            let e = LazyProfile::from_bytes(xz[..cut].to_vec(), "t.xz");
            assert!(e.is_err(), "{cut}");
        }
        for doc in [
            r#"{"metadata": {"format": "6"}, "user_types": 5}"#,
            r#"{"metadata": {"format": "6"}, "user_types": {}, "enums": []}"#,
            r#"{"metadata": {"format": "6"}, "user_types": {}, "symbols": "x"}"#,
            r#"{"metadata": {"format": "6"}, "user_types": {}, "base_types": 7}"#,
        ] {
            let e = LazyProfile::from_bytes(doc.as_bytes().to_vec(), "t").unwrap_err();
            assert!(e.to_string().contains("is not an object"), "{e}");
        }
        // Wrong shapes inside entries read as errors or as nothing.
        let doc = r#"{"metadata": {"format": "6"}, "base_types": {"pointer": 1},
            "enums": {"e": 5, "f": {"constants": {"A": "x"}}},
            "symbols": {"a": 5, "b": {"address": "x"}, "linux_banner": {"constant_data": "!!"}},
            "user_types": {"a": 5, "b": {"fields": 5}, "c": {"fields": {"x": {"type": {"kind": "enum", "name": "e"}}}},
              "d": {"fields": {"x": {"offset": -1, "type": {"kind": "array", "count": 1e99, "subtype": 5}}}}}}"#;
        let p = LazyProfile::from_bytes(doc.as_bytes().to_vec(), "t").unwrap();
        assert!(p.get_struct("a").is_err());
        assert!(p.get_struct("b").unwrap().unwrap().fields.is_empty());
        assert!(p.get_struct("c").unwrap().is_some());
        assert!(p.get_struct("d").is_err());
        assert!(p.constants().is_empty());
        assert!(p.get_enum("f").unwrap().is_empty());
        assert_eq!(p.enums().len(), 2);
        let _ = p.member_count();
        let _ = p.to_profile();
        // A document with `user_types` but no ISF metadata is neither an
        // ISF nor a Rekall profile (no `$` section): a clear error.
        let e = LazyProfile::from_bytes(br#"{"user_types": {"a": {}}}"#.to_vec(), "t")
            .expect_err("not a profile");
        assert!(e.to_string().contains("ISF"), "{e}");
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
