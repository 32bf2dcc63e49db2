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

use profile_runtime::{isf, Descriptor, Profile};
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
    let meta = obj("metadata");
    let enums = obj("enums");
    let conventions = isf::Conventions::of(meta);
    // One converter for each piece, the runtime's (`profile_runtime::isf`),
    // so a file converted whole reads as the lazy runtime reads it.
    let mut enum_info = |n: &str| enums.get(n).map(|e| isf::enum_info(n, e));
    let banner_key = if meta.contains_key("mac") {
        "version"
    } else {
        "linux_banner"
    };
    let banner = obj("symbols").get(banner_key).and_then(isf::banner);
    let pointer_size = top.get("base_types").and_then(isf::pointer_size);
    for (k, v) in isf::metadata(meta, pointer_size, banner) {
        p.metadata.insert(k, v);
    }
    // Types.
    for (name, t) in obj("user_types") {
        let (def, union) =
            isf::user_type(name, t, conventions, &mut enum_info).map_err(|e| bad(message(e)))?;
        if union {
            unions.insert(name.clone());
        }
        p.structs.insert(name.clone(), def);
    }
    for (name, e) in enums {
        p.enums.insert(name.clone(), isf::enum_choices(e));
    }
    p.derive_revenums();
    // Symbols: for Linux and macOS every symbol is in `$CONSTANTS`, functions
    // also in `$FUNCTIONS`; for Windows functions only there (as the
    // compiler writes Rekall profiles, docs/conventions.md).
    let windows = isf::is_windows(meta);
    for (name, s) in obj("symbols") {
        let Some((addr, is_fn)) = isf::symbol(s) else {
            continue;
        };
        if is_fn {
            p.functions.insert(name.clone(), addr);
            if !windows {
                p.constants.insert(name.clone(), addr);
            }
        } else {
            p.constants.insert(name.clone(), addr);
            if let Some(Ok(d)) = s
                .get("type")
                .map(|t| isf::type_descriptor(t, conventions, &mut enum_info))
            {
                symbol_types.insert(name.clone(), d);
            }
        }
    }
    Ok(IsfProfile {
        profile: p,
        unions,
        symbol_types,
    })
}

/// The message of a runtime conversion error, with where it is.
fn message(e: profile_runtime::Error) -> String {
    match e {
        profile_runtime::Error::Format { context, message } => format!("{context}: {message}"),
        other => other.to_string(),
    }
}
