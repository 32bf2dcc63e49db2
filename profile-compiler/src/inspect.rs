//! Readable views of a profile: `profc info` (metadata and section counts)
//! and `profc dt` (a type's layout, as Rekall's `dt` shows it).
//!
//! Both work on a [`LazyProfile`], so they read a Rekall profile or a
//! Volatility 3 ISF file alike, and `dt` parses only the types it shows.
//! An ISF file's sections are counted under the Rekall names they map to
//! (`user_types` -> `$STRUCTS`, `enums` -> `$ENUMS` and `$REVENUMS`,
//! `symbols` -> `$CONSTANTS`/`$FUNCTIONS`), so a profile and the ISF
//! exported from it show the same counts.

use std::fmt::Write as _;

use profile_runtime::{Descriptor, LazyProfile, ProfileFormat, Result};

/// The ISF top-level sections that map to Rekall sections.
const ISF_SECTIONS: &[&str] = &["metadata", "base_types", "user_types", "enums", "symbols"];

/// The text `profc info` prints: format, metadata and section counts.
pub fn render_info(p: &LazyProfile) -> Result<String> {
    let mut s = String::new();
    let format = match p.format() {
        ProfileFormat::Rekall => "Rekall profile".to_owned(),
        ProfileFormat::Isf => {
            let version = p
                .raw_section("metadata")
                .and_then(|raw| serde_json::from_str::<serde_json::Value>(raw).ok())
                .and_then(|m| m.get("format").and_then(|f| f.as_str().map(str::to_owned)))
                .unwrap_or_default();
            format!("Volatility 3 ISF {version}")
        }
    };
    let _ = writeln!(s, "Format: {format}");
    let _ = writeln!(s, "Metadata:");
    for (k, v) in p.metadata() {
        let v = v
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| v.to_string());
        let _ = writeln!(s, "  {k:<14} {v}");
    }
    let _ = writeln!(s, "Sections:");
    let isf = p.format() == ProfileFormat::Isf;
    let enums = p.enum_count();
    let mut rows = vec![
        ("$STRUCTS", p.struct_count()),
        ("$ENUMS", enums),
        (
            "$REVENUMS",
            if isf {
                enums
            } else {
                p.entry_count("$REVENUMS")
            },
        ),
        ("$CONSTANTS", p.constants().len()),
        ("$FUNCTIONS", p.functions().len()),
        ("$CONFIG", p.config().len()),
    ];
    let members = p.member_count()?;
    let known: &[&str] = if isf {
        ISF_SECTIONS
    } else {
        &profile_runtime::SECTION_NAMES
    };
    for k in p.section_names() {
        if !known.contains(&k) {
            rows.push((k, p.entry_count(k)));
        }
    }
    for (k, n) in rows {
        let _ = writeln!(s, "  {k:<14} {n}");
    }
    let _ = writeln!(s, "  {:<14} {members}", "(members)");
    Ok(s)
}

/// The text `profc dt` prints for `name`, or `None` when the profile has no
/// such struct or enum. Only the struct shown (and with `depth`, the structs
/// it embeds) is parsed.
pub fn render_dt(p: &LazyProfile, name: &str, depth: u32) -> Result<Option<String>> {
    let depth = depth.min(MAX_DT_DEPTH);
    let mut s = String::new();
    if let Some(def) = p.get_struct(name)? {
        let size = def
            .size
            .map_or_else(|| "?".to_owned(), |n| format!("{n:#x} ({n} bytes)"));
        let _ = writeln!(s, "[{name}] size {size}");
        let _ = writeln!(s, "  {:<10} {:<40} Type", "Offset", "Field");
        struct_rows(p, name, 0, 1, depth, &mut vec![name.to_owned()], &mut s)?;
        return Ok(Some(s));
    }
    if let Some(choices) = p.get_enum(name) {
        let _ = writeln!(s, "[enum {name}] {} values", choices.len());
        for (v, n) in &choices {
            let _ = writeln!(s, "  {v:>12}  {n}");
        }
        return Ok(Some(s));
    }
    Ok(None)
}

/// Up to `limit` struct and enum names that contain `needle` (case
/// insensitive), sorted: the suggestions of a `dt` that found nothing.
pub fn similar_names(p: &LazyProfile, needle: &str, limit: usize) -> Vec<String> {
    let needle = needle.to_lowercase();
    let mut names: Vec<&str> = p
        .struct_names()
        .chain(p.enum_names())
        .filter(|n| n.to_lowercase().contains(&needle))
        .collect();
    names.sort_unstable();
    names.dedup();
    names.into_iter().take(limit).map(str::to_owned).collect()
}

/// The deepest `dt --depth` expands (a larger depth is this one): embedded
/// structs of real profiles nest a dozen levels at most.
pub const MAX_DT_DEPTH: u32 = 64;

/// The rows of struct `name`; `open` holds the structs being expanded, so
/// that a (hostile) profile whose struct embeds itself prints
/// `(recursive)` instead of expanding without end.
fn struct_rows(
    p: &LazyProfile,
    name: &str,
    base: u64,
    indent: usize,
    depth: u32,
    open: &mut Vec<String>,
    s: &mut String,
) -> Result<()> {
    let Some(def) = p.get_struct(name)? else {
        return Ok(());
    };
    let mut fields: Vec<_> = def.fields.iter().collect();
    fields.sort_by_key(|(n, f)| (f.offset, bit_start(&f.descriptor), n.as_str()));
    for (fname, f) in fields {
        let off = f.offset.map_or_else(
            || "?".to_owned(),
            |o| format!("{:#06x}", base.wrapping_add(o)),
        );
        let pad = "  ".repeat(indent);
        let _ = writeln!(s, "{pad}{off:<10} {fname:<40} {}", describe(&f.descriptor));
        if depth > 0 {
            if let Some(inner) = f.descriptor.as_named().filter(|n| p.has_struct(n)) {
                if open.iter().any(|o| o == inner) {
                    let _ = writeln!(s, "{pad}  (recursive: {inner} is being expanded)");
                    continue;
                }
                open.push(inner.to_owned());
                struct_rows(
                    p,
                    inner,
                    base.wrapping_add(f.offset.unwrap_or(0)),
                    indent + 1,
                    depth - 1,
                    open,
                    s,
                )?;
                open.pop();
            }
        }
    }
    Ok(())
}

fn bit_start(d: &Descriptor) -> u32 {
    match d {
        Descriptor::BitField { start_bit, .. } => *start_bit,
        Descriptor::Enumeration { target, .. } => bit_start(target),
        _ => 0,
    }
}

/// A one-line human description of a descriptor.
pub fn describe(d: &Descriptor) -> String {
    match d {
        // Rekall's own profiles name `void` as a type; it is the void.
        Descriptor::Named(n) if n == "void" => "Void".into(),
        Descriptor::Named(n) => n.clone(),
        Descriptor::Pointer { target } => format!("Pointer -> {}", describe(target)),
        Descriptor::Array { count, target } => format!("Array[{count}] of {}", describe(target)),
        Descriptor::BitField {
            start_bit,
            end_bit,
            target,
        } => match target {
            Some(t) => format!("BitField [{start_bit}:{end_bit}) of {}", describe(t)),
            None => format!("BitField [{start_bit}:{end_bit})"),
        },
        Descriptor::Enumeration {
            enum_name, target, ..
        } => format!(
            "Enumeration {} ({})",
            enum_name.as_deref().unwrap_or("<inline>"),
            describe(target)
        ),
        Descriptor::String { length } => format!("String[{length}]"),
        Descriptor::UnicodeString { length } => format!("UnicodeString[{length} bytes]"),
        Descriptor::Void => "Void".into(),
        Descriptor::Function => "Function".into(),
        Descriptor::Other { class, args } => match args {
            Some(a) if !a.is_empty() => format!("{class} {}", serde_json::Value::Object(a.clone())),
            _ => class.clone(),
        },
    }
}
