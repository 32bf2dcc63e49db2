//! Volatility 3 ISF -> Rekall profile (the way to reuse Volatility 3's
//! symbol packs with Rekall-format consumers).
//!
//! ISF already holds resolved layouts, so it maps straight to the profile
//! model: `user_types` -> `$STRUCTS`, `enums` -> `$ENUMS`, `symbols` ->
//! `$CONSTANTS` (and `$FUNCTIONS` for symbols typed as functions), Windows
//! `pdb` metadata -> `PDBFile`/`GUID_AGE`/`arch`, a Linux or macOS table ->
//! `ProfileClass` `Linux`/`Darwin` with the banner from `linux_banner` /
//! `version` constant data in `$METADATA.Banner`. Linux addresses are kept
//! whole (not masked): `profc` masks only what it compiles from System.map.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use base64::Engine as _;
use profile_runtime::{Descriptor, Field, Profile, StructDef};
use serde_json::{Map, Value};

use crate::{Error, Result};

/// Largest decompressed ISF accepted (2 GiB).
const MAX_ISF_BYTES: u64 = 2 << 30;

/// Whether decoded JSON bytes look like ISF: the document's first key is
/// one of ISF's top-level keys (a Rekall profile's keys all start with `$`).
pub fn looks_like(json_head: &[u8]) -> bool {
    let mut rest = json_head;
    let skip = |r: &mut &[u8]| {
        while let [b, tail @ ..] = *r {
            if !b.is_ascii_whitespace() {
                break;
            }
            *r = tail;
        }
    };
    skip(&mut rest);
    let Some(after) = rest.strip_prefix(b"{") else {
        return false;
    };
    rest = after;
    skip(&mut rest);
    let Some(after) = rest.strip_prefix(b"\"") else {
        return false;
    };
    let key_end = after.iter().position(|&b| b == b'"').unwrap_or(after.len());
    matches!(
        &after[..key_end],
        b"metadata" | b"base_types" | b"user_types" | b"enums" | b"symbols"
    )
}

/// Whether `head` starts with the xz magic.
pub fn is_xz(head: &[u8]) -> bool {
    head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0])
}

/// The first decompressed bytes of a gzip or xz stream of which only the
/// first bytes are given (for detection; errors end the output early).
pub fn decompress_head(head: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let mut reader: Box<dyn Read + '_> = if is_xz(head) {
        Box::new(liblzma::read::XzDecoder::new(head))
    } else {
        Box::new(flate2::read::MultiGzDecoder::new(head))
    };
    while out.len() < 4096 {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}

/// An ISF document read into the profile model, with what the model has
/// no place for.
#[derive(Debug, Clone, Default)]
pub struct IsfProfile {
    /// The layouts, enums, symbols and metadata.
    pub profile: Profile,
    /// The user types of kind `union`.
    pub unions: BTreeSet<String>,
    /// The types of the symbols that have one (functions excluded).
    pub symbol_types: BTreeMap<String, Descriptor>,
}

/// Decompresses (gzip, xz) and parses an ISF file.
pub fn read_file(path: &Path) -> Result<IsfProfile> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let bytes = decompress(bytes, path)?;
    let doc: Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::input(path, format!("not valid JSON: {e}")))?;
    from_json(&doc).map_err(|e| e.in_file(path))
}

/// A malformed ISF document.
fn bad(message: impl Into<String>) -> Error {
    Error::malformed("ISF", None, message)
}

/// Undoes gzip or xz compression, detected by content.
pub fn decompress(bytes: Vec<u8>, path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    if is_xz(&bytes) {
        let mut out = Vec::new();
        liblzma::read::XzDecoder::new(&bytes[..])
            .take(MAX_ISF_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|e| Error::input(path, format!("corrupt xz data: {e}")))?;
        if out.len() as u64 > MAX_ISF_BYTES {
            return Err(Error::input(path, "decompressed size exceeds 2 GiB"));
        }
        return Ok(out);
    }
    Ok(profile_runtime::read_maybe_gzip(
        bytes,
        &path.display().to_string(),
        MAX_ISF_BYTES,
    )?)
}

/// Converts an ISF document.
pub fn from_json(doc: &Value) -> Result<IsfProfile> {
    let top = doc
        .as_object()
        .ok_or_else(|| bad("the document is not a JSON object"))?;
    for key in ["metadata", "base_types", "user_types", "enums", "symbols"] {
        if !top.contains_key(key) {
            return Err(bad(format!("section {key:?} is missing")));
        }
    }
    let mut unions = BTreeSet::new();
    let mut symbol_types = BTreeMap::new();
    let mut p = Profile::new();
    let empty = Map::new();
    let obj = |k: &str| top.get(k).and_then(Value::as_object).unwrap_or(&empty);
    let base_types = obj("base_types");
    let meta = obj("metadata");
    // Metadata.
    if let Some(pdb) = meta.get("windows").and_then(|w| w.get("pdb")) {
        let guid = pdb.get("GUID").and_then(Value::as_str).unwrap_or("");
        let age = pdb.get("age").and_then(Value::as_u64).unwrap_or(0);
        p.set_metadata(
            "GUID_AGE",
            format!("{}{:X}", guid.replace('-', "").to_uppercase(), age),
        );
        if let Some(db) = pdb.get("database").and_then(Value::as_str) {
            p.set_metadata("PDBFile", db);
            p.set_metadata("ProfileClass", crate::input::pdb::profile_class(db));
        }
        let arch = match pdb.get("machine_type").and_then(Value::as_u64) {
            Some(0x14c) => "I386",
            Some(0xaa64) => "ARM64",
            Some(0x1c4) => "ARM",
            _ => "AMD64",
        };
        p.set_metadata("arch", arch);
    } else {
        let class = if meta.contains_key("mac") {
            "Darwin"
        } else {
            "Linux"
        };
        p.set_metadata("ProfileClass", class);
        let ptr = base_types
            .get("pointer")
            .and_then(|b| b.get("size"))
            .and_then(Value::as_u64)
            .unwrap_or(8);
        p.set_metadata("arch", if ptr == 4 { "I386" } else { "AMD64" });
    }
    p.set_metadata("Version", 1);
    // Types.
    for (name, t) in obj("user_types") {
        let size = t.get("size").and_then(Value::as_u64);
        let mut fields = BTreeMap::new();
        if let Some(fs) = t.get("fields").and_then(Value::as_object) {
            for (fname, f) in fs {
                let ty = f
                    .get("type")
                    .ok_or_else(|| bad(format!("{name}.{fname} has no type")))?;
                let descriptor = descriptor(ty, obj("enums"), 0)
                    .map_err(|e| bad(format!("{name}.{fname}: {}", message(e))))?;
                let offset = f.get("offset").and_then(Value::as_u64);
                fields.insert(fname.clone(), Field { offset, descriptor });
            }
        }
        if t.get("kind").and_then(Value::as_str) == Some("union") {
            unions.insert(name.clone());
        }
        p.structs.insert(name.clone(), StructDef { size, fields });
    }
    for (name, e) in obj("enums") {
        let mut choices = BTreeMap::new();
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
        p.enums.insert(name.clone(), choices);
    }
    p.derive_revenums();
    for (name, s) in obj("symbols") {
        let Some(addr) = s
            .get("address")
            .and_then(|a| a.as_u64().or_else(|| a.as_i64().map(|i| i as u64)))
        else {
            continue;
        };
        let is_fn = s
            .get("type")
            .and_then(|t| t.get("kind"))
            .and_then(Value::as_str)
            == Some("function");
        if is_fn {
            p.functions.insert(name.clone(), addr);
        } else {
            p.constants.insert(name.clone(), addr);
            if let Some(Ok(d)) = s.get("type").map(|t| descriptor(t, obj("enums"), 0)) {
                symbol_types.insert(name.clone(), d);
            }
        }
        if name == "linux_banner" || name == "version" {
            if let Some(data) = s.get("constant_data").and_then(Value::as_str) {
                if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data) {
                    let text = String::from_utf8_lossy(&bytes)
                        .trim_end_matches(['\0', '\n'])
                        .to_owned();
                    p.set_metadata("Banner", text);
                }
            }
        }
    }
    Ok(IsfProfile {
        profile: p,
        unions,
        symbol_types,
    })
}

/// The message of an ISF error (without the "malformed ISF" prefix).
fn message(e: Error) -> String {
    match e {
        Error::Malformed { message, .. } => message,
        other => other.to_string(),
    }
}

fn descriptor(t: &Value, enums: &Map<String, Value>, depth: u32) -> Result<Descriptor> {
    if depth > 64 {
        return Err(bad("type nesting too deep"));
    }
    let kind = t
        .get("kind")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("type without kind"))?;
    let name = || {
        t.get("name")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| bad(format!("{kind} type without name")))
    };
    let sub = |key: &str| -> Result<Descriptor> {
        descriptor(
            t.get(key)
                .ok_or_else(|| bad(format!("{kind} without {key}")))?,
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
        "pointer" => Descriptor::pointer(sub("subtype")?),
        "array" => {
            let count = t
                .get("count")
                .and_then(Value::as_u64)
                .ok_or_else(|| bad("array without count"))?;
            Descriptor::array(count, sub("subtype")?)
        }
        "function" => Descriptor::Function,
        "enum" => {
            let n = name()?;
            let base = enums
                .get(&n)
                .and_then(|e| e.get("base"))
                .and_then(Value::as_str)
                .unwrap_or("int");
            Descriptor::Enumeration {
                enum_name: Some(n),
                choices: None,
                target: Box::new(Descriptor::named(base)),
            }
        }
        "bitfield" => {
            let pos = t
                .get("bit_position")
                .and_then(Value::as_u64)
                .ok_or_else(|| bad("bitfield without bit_position"))?;
            let len = t
                .get("bit_length")
                .and_then(Value::as_u64)
                .ok_or_else(|| bad("bitfield without bit_length"))?;
            let (start_bit, end_bit) =
                match (u32::try_from(pos), u32::try_from(pos + len.min(1 << 16))) {
                    (Ok(s), Ok(e)) => (s, e),
                    _ => return Err(bad("bitfield position out of range")),
                };
            let inner = t.get("type").ok_or_else(|| bad("bitfield without type"))?;
            match descriptor(inner, enums, depth + 1)? {
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
        other => return Err(bad(format!("unknown type kind {other:?}"))),
    })
}
