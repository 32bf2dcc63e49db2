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

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use profile_runtime::{Descriptor, Field, Profile, StructDef};
use serde_json::{Map, Value};

use crate::{Error, Result};

/// Largest decompressed ISF accepted (2 GiB).
const MAX_ISF_BYTES: u64 = 2 << 30;

/// Whether decoded JSON bytes look like ISF (has `base_types` and `user_types`).
pub fn looks_like(json_head: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&json_head[..json_head.len().min(1 << 20)]);
    head.trim_start().starts_with('{')
        && head.contains("\"base_types\"")
        && head.contains("\"metadata\"")
}

/// Decompresses (gzip, xz) and parses an ISF file.
pub fn read_file(path: &Path) -> Result<Profile> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let bytes = decompress(bytes, path)?;
    let doc: Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::input(path, format!("not valid JSON: {e}")))?;
    from_json(&doc).map_err(|m| Error::input(path, m))
}

/// Undoes gzip or xz compression, detected by content.
pub fn decompress(bytes: Vec<u8>, path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    if bytes.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
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
pub fn from_json(doc: &Value) -> std::result::Result<Profile, String> {
    let top = doc
        .as_object()
        .ok_or("ISF: the document is not a JSON object")?;
    for key in ["metadata", "base_types", "user_types", "enums", "symbols"] {
        if !top.contains_key(key) {
            return Err(format!("ISF: section {key:?} is missing"));
        }
    }
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
                    .ok_or_else(|| format!("ISF: {name}.{fname} has no type"))?;
                let descriptor = descriptor(ty, obj("enums"), 0)
                    .map_err(|e| format!("ISF: {name}.{fname}: {e}"))?;
                let offset = f.get("offset").and_then(Value::as_u64);
                fields.insert(fname.clone(), Field { offset, descriptor });
            }
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
    Ok(p)
}

fn descriptor(
    t: &Value,
    enums: &Map<String, Value>,
    depth: u32,
) -> std::result::Result<Descriptor, String> {
    if depth > 64 {
        return Err("type nesting too deep".into());
    }
    let kind = t
        .get("kind")
        .and_then(Value::as_str)
        .ok_or("type without kind")?;
    let name = || {
        t.get("name")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or(format!("{kind} type without name"))
    };
    let sub = |key: &str| -> std::result::Result<Descriptor, String> {
        descriptor(
            t.get(key).ok_or(format!("{kind} without {key}"))?,
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
                .ok_or("array without count")?;
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
                .ok_or("bitfield without bit_position")?;
            let len = t
                .get("bit_length")
                .and_then(Value::as_u64)
                .ok_or("bitfield without bit_length")?;
            let (start_bit, end_bit) =
                match (u32::try_from(pos), u32::try_from(pos + len.min(1 << 16))) {
                    (Ok(s), Ok(e)) => (s, e),
                    _ => return Err("bitfield position out of range".into()),
                };
            let inner = t.get("type").ok_or("bitfield without type")?;
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
        other => return Err(format!("unknown type kind {other:?}")),
    })
}
