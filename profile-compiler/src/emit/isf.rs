//! Profile -> Volatility 3 Intermediate Symbol Format (ISF, schema 6.2).
//!
//! Works from the profile model, so any profile converts: one just compiled
//! (then the emitter tells which records are unions) or a Rekall profile
//! read from disk (then a record whose data members all sit at offset 0 is
//! taken for a union). Linux symbol addresses that Rekall stores masked to 48
//! bits are sign-extended back, since Volatility 3 needs full addresses.
//! The kernel banner (`$METADATA.Banner`) goes to
//! `symbols.linux_banner.constant_data` (macOS: `symbols.version`), where
//! Volatility 3's symbol cache looks for it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use base64::Engine as _;
use profile_runtime::{Descriptor, Profile};
use serde_json::{json, Map, Value};

use profile_runtime::{DataModel, Native, NativeKind};

/// The ISF format version written.
pub const ISF_FORMAT: &str = "6.2.0";

/// What the ISF export needs beyond the profile.
#[derive(Debug, Clone, Default)]
pub struct IsfOptions {
    /// Names of records known to be unions (from the compiler); `None`:
    /// guess from the layout.
    pub unions: Option<BTreeSet<String>>,
    /// Hashes of the inputs, for Linux/macOS metadata: (kind, name, sha256 hex)
    /// with kind `dwarf`, `symtab`, `system-map` (Volatility 3's schema
    /// allows only these three there) or another input kind (`btf`,
    /// `kallsyms`...), which goes to `metadata.producer.sources`.
    pub sources: Vec<(String, String, String)>,
    /// The types of the data symbols, by name.
    pub symbol_types: BTreeMap<String, Descriptor>,
    /// What the profile was made from (`pdb`, `dwarf`, `btf`, ...), named in
    /// `metadata.producer.input`.
    pub input_kind: Option<String>,
}

/// The ISF document and the problems met while converting.
#[derive(Debug)]
pub struct Isf {
    /// The ISF JSON.
    pub json: Value,
    /// One line per descriptor that had no ISF equivalent.
    pub warnings: Vec<String>,
}

/// Converts a profile to an ISF document in memory (see `write_isf`,
/// which writes the same bytes without building the document).
pub fn to_isf(profile: &Profile, options: &IsfOptions) -> Isf {
    let mut bytes = Vec::new();
    let warnings = write_isf(profile, options, &mut bytes).unwrap_or_default();
    // Our own serialisation always parses back.
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Isf { json, warnings }
}

/// Writes a profile as ISF JSON to `w`, streaming: each user type and
/// symbol is converted and serialised in turn, so memory stays near the
/// output's size rather than a whole `Value` tree's. Keys come out sorted
/// (top level, types, members, symbols), so the same profile gives the
/// same bytes. Returns one warning per descriptor with no ISF equivalent.
pub fn write_isf(
    profile: &Profile,
    options: &IsfOptions,
    w: &mut dyn Write,
) -> std::io::Result<Vec<String>> {
    let meta: Map<String, Value> = profile
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let model = DataModel::from_metadata(&meta, None);
    let mut c = Converter {
        profile,
        model,
        options,
        base_types: BTreeMap::new(),
        enums: BTreeMap::new(),
        guessed_bases: BTreeSet::new(),
        warnings: Vec::new(),
    };
    c.base("pointer");
    c.base("void");
    // user_types first (they find the base types and enums the other
    // sections list), into a buffer that is written last, in key order.
    let mut user_types = Vec::with_capacity(profile.structs.len() * 256);
    user_types.push(b'{');
    for (i, (name, def)) in profile.structs.iter().enumerate() {
        let mut fields = Map::new();
        for (fname, f) in &def.fields {
            let ty = c.descriptor(&f.descriptor, 0);
            let mut field = json!({"offset": f.offset.unwrap_or(0), "type": ty});
            if is_anonymous_member(fname, &f.descriptor) {
                field["anonymous"] = Value::Bool(true);
            }
            fields.insert(fname.clone(), field);
        }
        let kind = c.record_kind(name);
        if i > 0 {
            user_types.push(b',');
        }
        serde_json::to_writer(&mut user_types, name)?;
        user_types.push(b':');
        serde_json::to_writer(
            &mut user_types,
            &json!({"kind": kind, "size": def.size.unwrap_or(0), "fields": fields}),
        )?;
    }
    user_types.push(b'}');
    // Structs the profile only names (forward references) get no entry:
    // Volatility 3 resolves a type only when an object of it is read.
    for (name, choices) in &profile.enums {
        c.enums.entry(name.clone()).or_insert_with(|| {
            let constants: Map<String, Value> = choices
                .iter()
                .map(|(v, n)| (n.clone(), enum_value(*v)))
                .collect();
            json!({"size": 4, "base": "int", "constants": constants})
        });
    }
    let mut symbols = Vec::with_capacity((profile.constants.len() + profile.functions.len()) * 48);
    c.write_symbols(&mut symbols)?;
    let metadata = c.metadata();
    w.write_all(b"{\"base_types\":")?;
    serde_json::to_writer(&mut *w, &c.base_types)?;
    w.write_all(b",\"enums\":")?;
    serde_json::to_writer(&mut *w, &c.enums)?;
    w.write_all(b",\"metadata\":")?;
    serde_json::to_writer(&mut *w, &metadata)?;
    w.write_all(b",\"symbols\":")?;
    w.write_all(&symbols)?;
    w.write_all(b",\"user_types\":")?;
    w.write_all(&user_types)?;
    w.write_all(b"}")?;
    Ok(c.warnings)
}

/// An enumerator's value as JSON: as it is (unsigned 64-bit values above
/// 2^63 included, as Volatility 3's own converter writes them), negative
/// ones as signed 64-bit.
fn enum_value(v: i128) -> Value {
    match u64::try_from(v) {
        Ok(u) => json!(u),
        Err(_) => json!(v as i64),
    }
}

/// Anonymous members as the emitter names them (`u1`... of an `__unnamed_` type).
fn is_anonymous_member(name: &str, d: &Descriptor) -> bool {
    name.strip_prefix('u')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        && d.as_named().is_some_and(|t| t.starts_with("__unnamed"))
}

struct Converter<'a> {
    profile: &'a Profile,
    model: DataModel,
    options: &'a IsfOptions,
    base_types: BTreeMap<String, Value>,
    enums: BTreeMap<String, Value>,
    /// Enums whose base type is only a guess so far.
    guessed_bases: BTreeSet<String>,
    warnings: Vec<String>,
}

impl Converter<'_> {
    fn record_kind(&self, name: &str) -> &'static str {
        if let Some(u) = &self.options.unions {
            return if u.contains(name) { "union" } else { "struct" };
        }
        let Some(def) = self.profile.structs.get(name) else {
            return "struct";
        };
        let plain: Vec<_> = def
            .fields
            .iter()
            .filter(|(n, f)| {
                !matches!(f.descriptor, Descriptor::BitField { .. })
                    && !is_anonymous_member(n, &f.descriptor)
            })
            .collect();
        if plain.len() >= 2 && plain.iter().all(|(_, f)| f.offset == Some(0)) {
            "union"
        } else {
            "struct"
        }
    }

    /// Registers a base type and returns its descriptor.
    fn base(&mut self, name: &str) -> Value {
        if !self.base_types.contains_key(name) {
            let (kind, size, signed) = if is_void(name) {
                ("void", 0, false)
            } else {
                match Native::from_name(name, &self.model) {
                    Some(n) => {
                        let signed = n.kind == NativeKind::Signed
                            || (n.kind == NativeKind::Unsigned && name == "char");
                        let kind = match n.kind {
                            NativeKind::Float => "float",
                            NativeKind::Bool => "bool",
                            _ if name.contains("char") => "char",
                            _ => "int",
                        };
                        (kind, u64::from(n.size), signed)
                    }
                    None => ("int", 0, false),
                }
            };
            self.base_types.insert(
                name.to_owned(),
                json!({"kind": kind, "size": size, "signed": signed, "endian": "little"}),
            );
        }
        json!({"kind": "base", "name": name})
    }

    fn named(&mut self, name: &str) -> Value {
        if self.profile.structs.contains_key(name) {
            return json!({"kind": self.record_kind(name), "name": name});
        }
        if is_void(name) || Native::from_name(name, &self.model).is_some() {
            return self.base(name);
        }
        if self.profile.enums.contains_key(name) {
            return json!({"kind": "enum", "name": name});
        }
        // A struct the profile only declares (a forward reference).
        json!({"kind": "struct", "name": name})
    }

    /// An enum type descriptor, registering the enum in `enums` with the
    /// base type `base` (a guess when `guessed`: a bit field with no storage
    /// type, which a later exact use replaces).
    fn enum_ref(
        &mut self,
        name: Option<&str>,
        choices: Option<&profile_runtime::EnumChoices>,
        base: &str,
        guessed: bool,
    ) -> Value {
        let size = Native::from_name(base, &self.model).map_or(4, |n| u64::from(n.size));
        let name = match (name, choices) {
            (Some(n), _) => n.to_owned(),
            (None, Some(c)) => {
                let n = format!("__inline_enum_{}", self.enums.len());
                let constants: Map<String, Value> =
                    c.iter().map(|(v, k)| (k.clone(), enum_value(*v))).collect();
                self.enums.insert(
                    n.clone(),
                    json!({"size": size, "base": base, "constants": constants}),
                );
                n
            }
            (None, None) => return self.base(base),
        };
        if self.guessed_bases.contains(&name) && !guessed {
            self.enums.remove(&name);
            self.guessed_bases.remove(&name);
        }
        if !self.enums.contains_key(&name) {
            if guessed {
                self.guessed_bases.insert(name.clone());
            }
            self.base(base);
            let constants: Map<String, Value> = self
                .profile
                .enums
                .get(&name)
                .map(|c| c.iter().map(|(v, k)| (k.clone(), enum_value(*v))).collect())
                .unwrap_or_default();
            self.enums.insert(
                name.clone(),
                json!({"size": size, "base": base, "constants": constants}),
            );
        }
        json!({"kind": "enum", "name": name})
    }

    fn descriptor(&mut self, d: &Descriptor, depth: u32) -> Value {
        if depth > 32 {
            return self.base("void");
        }
        match d {
            Descriptor::Named(n) => self.named(n),
            Descriptor::Pointer { target } => {
                let sub = match **target {
                    Descriptor::Function => json!({"kind": "function"}),
                    _ => self.descriptor(target, depth + 1),
                };
                json!({"kind": "pointer", "subtype": sub})
            }
            Descriptor::Array { count, target } => {
                json!({"kind": "array", "count": count, "subtype": self.descriptor(target, depth + 1)})
            }
            Descriptor::BitField {
                start_bit,
                end_bit,
                target,
            } => {
                let ty = match target.as_deref() {
                    Some(Descriptor::Named(n)) => self.base(n),
                    _ => self.base(narrowest(*end_bit)),
                };
                json!({"kind": "bitfield", "bit_position": start_bit, "bit_length": end_bit - start_bit, "type": ty})
            }
            Descriptor::Enumeration {
                enum_name,
                choices,
                target,
            } => match target.as_ref() {
                Descriptor::BitField {
                    start_bit,
                    end_bit,
                    target: unit,
                } => {
                    let (base, guessed) = match unit.as_deref() {
                        Some(Descriptor::Named(n)) => (n.clone(), false),
                        _ => (narrowest(*end_bit).to_owned(), true),
                    };
                    let ty = self.enum_ref(enum_name.as_deref(), choices.as_ref(), &base, guessed);
                    json!({"kind": "bitfield", "bit_position": start_bit, "bit_length": end_bit - start_bit, "type": ty})
                }
                Descriptor::Named(base) => {
                    self.enum_ref(enum_name.as_deref(), choices.as_ref(), base, false)
                }
                _ => self.enum_ref(enum_name.as_deref(), choices.as_ref(), "int", true),
            },
            Descriptor::String { length } => {
                json!({"kind": "array", "count": length, "subtype": self.base("char")})
            }
            Descriptor::UnicodeString { length } => {
                json!({"kind": "array", "count": length / 2, "subtype": self.base("wchar_t")})
            }
            Descriptor::Void => self.base("void"),
            Descriptor::Function => json!({"kind": "function"}),
            Descriptor::Other { class, .. } if class == "String" || class == "UnicodeString" => {
                // A string whose length the profile leaves to an overlay.
                let elem = if class == "String" { "char" } else { "wchar_t" };
                json!({"kind": "array", "count": 0, "subtype": self.base(elem)})
            }
            Descriptor::Other { class, args } => {
                // Rekall's byte-sized array form.
                if class == "Array" {
                    if let Some(a) = args {
                        if let (Some(size), Some(Value::String(t))) =
                            (a.get("size").and_then(Value::as_u64), a.get("target"))
                        {
                            let elem = Native::from_name(t, &self.model)
                                .map(|n| u64::from(n.size))
                                .or_else(|| self.profile.structs.get(t).and_then(|s| s.size))
                                .filter(|s| *s > 0);
                            if let Some(elem) = elem {
                                let sub = self.named(t);
                                return json!({"kind": "array", "count": size / elem, "subtype": sub});
                            }
                        }
                    }
                }
                self.warnings.push(format!(
                    "descriptor class {class} has no ISF equivalent; written as void"
                ));
                self.base("void")
            }
        }
    }

    /// The `symbols` section, in name order: data symbols (with their
    /// types), functions (typed as functions, even when a data symbol of
    /// the same name has a type: System.map lists text symbols in both),
    /// and the banner as `linux_banner` (macOS: `version`) constant data.
    fn write_symbols(&mut self, out: &mut Vec<u8>) -> std::io::Result<()> {
        let linux = self
            .profile
            .metadata_str("ProfileClass")
            .is_some_and(|c| c.starts_with("Linux"));
        let pointer_size = self.model.pointer_size;
        let extend = move |a: u64| {
            // Rekall's 48-bit masking of kernel addresses, undone.
            if linux && pointer_size == 8 && a >> 48 == 0 && a & (1 << 47) != 0 {
                a | 0xffff_0000_0000_0000
            } else {
                a
            }
        };
        let (profile, options) = (self.profile, self.options);
        let banner = ["Banner", "banner", "LinuxBanner"]
            .iter()
            .find_map(|k| profile.metadata_str(k))
            .map(|b| {
                let darwin = profile
                    .metadata_str("ProfileClass")
                    .is_some_and(|c| c.starts_with("Darwin"));
                let key = if darwin { "version" } else { "linux_banner" };
                let mut text = b.to_owned();
                if !darwin && !text.ends_with('\n') {
                    text.push('\n');
                }
                (
                    key,
                    base64::engine::general_purpose::STANDARD.encode(text.as_bytes()),
                )
            });
        let mut names: Vec<&str> = profile
            .constants
            .keys()
            .chain(profile.functions.keys())
            .map(String::as_str)
            .chain(banner.as_ref().map(|(k, _)| *k))
            .collect();
        names.sort_unstable();
        names.dedup();
        out.push(b'{');
        for (i, name) in names.into_iter().enumerate() {
            let constant = profile.constants.get(name);
            let function = profile.functions.get(name);
            let address = constant.or(function).map_or(0, |a| extend(*a));
            let mut entry = json!({"address": address});
            if function.is_some() {
                entry["type"] = json!({"kind": "function"});
            } else if let Some(d) = constant.and_then(|_| options.symbol_types.get(name)) {
                entry["type"] = self.descriptor(d, 0);
            }
            if let Some((_, data)) = banner.as_ref().filter(|(k, _)| *k == name) {
                entry["constant_data"] = Value::String(data.clone());
            }
            if i > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut *out, name)?;
            out.push(b':');
            serde_json::to_writer(&mut *out, &entry)?;
        }
        out.push(b'}');
        Ok(())
    }

    fn metadata(&self) -> Value {
        let mut producer = json!({"name": "profc", "version": env!("CARGO_PKG_VERSION")});
        if let Some(kind) = &self.options.input_kind {
            producer["input"] = Value::String(kind.clone());
        }
        let class = self.profile.metadata_str("ProfileClass").unwrap_or("");
        // A PDB's profile: by its GUID_AGE, or by its PDBFile when the
        // GUID_AGE is unusable (Rekall wrote `-1` for PDBs without one); the
        // GUID is then zero, rather than the profile passing for Linux.
        let guid_age = self
            .profile
            .metadata_str("GUID_AGE")
            .filter(|g| g.len() > 32 && g.is_char_boundary(32))
            .or_else(|| {
                self.profile
                    .metadata_str("PDBFile")
                    .map(|_| "000000000000000000000000000000000")
            });
        if let Some(guid_age) = guid_age {
            let (guid, age) = guid_age.split_at(32);
            let age = u64::from_str_radix(age, 16).unwrap_or(0);
            let machine: u64 = match self.profile.metadata_str("arch").unwrap_or("") {
                "I386" => 0x14c,
                "ARM64" => 0xaa64,
                "ARM" => 0x1c4,
                _ => 0x8664,
            };
            let database = self
                .profile
                .metadata_str("PDBFile")
                .unwrap_or("unknown.pdb");
            return json!({"format": ISF_FORMAT, "producer": producer,
                "windows": {"pdb": {"GUID": guid.to_uppercase(), "age": age, "database": database, "machine_type": machine}}});
        }
        let item = |(kind, name, hash): &(String, String, String)| json!({"kind": kind, "name": name, "hash_type": "sha256", "hash_value": hash});
        let schema_kind = |k: &str| matches!(k, "dwarf" | "symtab" | "system-map");
        let (items, others): (Vec<_>, Vec<_>) = self
            .options
            .sources
            .iter()
            .partition(|(k, _, _)| schema_kind(k));
        if !others.is_empty() {
            producer["sources"] = Value::Array(others.into_iter().map(item).collect());
        }
        let items: Vec<Value> = items.into_iter().map(item).collect();
        let (symbols, types): (Vec<Value>, Vec<Value>) =
            items.into_iter().partition(|i| i["kind"] != "dwarf");
        let nix = json!({"symbols": symbols, "types": types});
        if class.starts_with("Darwin") {
            json!({"format": ISF_FORMAT, "producer": producer, "mac": nix})
        } else if class.starts_with("Linux") {
            json!({"format": ISF_FORMAT, "producer": producer, "linux": nix})
        } else {
            json!({"format": ISF_FORMAT, "producer": producer})
        }
    }
}

fn is_void(name: &str) -> bool {
    name == "void" || name == "Void"
}

/// The narrowest unsigned integer holding `bits` bits.
fn narrowest(bits: u32) -> &'static str {
    match bits {
        0..=8 => "unsigned char",
        9..=16 => "unsigned short",
        17..=32 => "unsigned int",
        _ => "unsigned long long",
    }
}

/// Writes ISF atomically to `path` with `write`: xz-compressed when the
/// name ends in `.xz`, gzipped for `.gz`, plain JSON otherwise.
pub fn save_with(
    path: &std::path::Path,
    mode: profile_runtime::WriteMode,
    write: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>,
) -> profile_runtime::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    profile_runtime::write_atomic(path, mode, |w| {
        if name.ends_with(".xz") {
            let mut xz = liblzma::write::XzEncoder::new(std::io::BufWriter::new(w), 2);
            write(&mut xz)?;
            xz.finish()?.flush()?;
        } else if name.ends_with(".gz") {
            let mut gz = flate2::GzBuilder::new()
                .mtime(0)
                .operating_system(255)
                .write(std::io::BufWriter::new(w), flate2::Compression::default());
            write(&mut gz)?;
            gz.finish()?.flush()?;
        } else {
            let mut b = std::io::BufWriter::new(w);
            write(&mut b)?;
            b.flush()?;
        }
        Ok(())
    })
}
