//! Readable views of a profile: `profc info` (metadata and section counts)
//! and `profc dt` (a type's layout, as Rekall's `dt` shows it).

use std::fmt::Write as _;

use profile_runtime::{Descriptor, Profile};

/// The text `profc info` prints: metadata and section counts.
pub fn render_info(p: &Profile) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Metadata:");
    for (k, v) in &p.metadata {
        let v = v
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| v.to_string());
        let _ = writeln!(s, "  {k:<14} {v}");
    }
    let _ = writeln!(s, "Sections:");
    let mut rows = vec![
        ("$STRUCTS", p.structs.len()),
        ("$ENUMS", p.enums.len()),
        ("$REVENUMS", p.revenums.as_ref().map_or(0, |r| r.len())),
        ("$CONSTANTS", p.constants.len()),
        ("$FUNCTIONS", p.functions.len()),
        ("$CONFIG", p.config.len()),
    ];
    let members: usize = p.structs.values().map(|d| d.fields.len()).sum();
    for (k, v) in &p.other {
        let n = match v {
            serde_json::Value::Object(m) => m.len(),
            serde_json::Value::Array(a) => a.len(),
            _ => 1,
        };
        rows.push((k.as_str(), n));
    }
    for (k, n) in rows {
        let _ = writeln!(s, "  {k:<14} {n}");
    }
    let _ = writeln!(s, "  {:<14} {members}", "(members)");
    s
}

/// The text `profc dt` prints for `name`, or `None` when the profile has no
/// such struct or enum.
pub fn render_dt(p: &Profile, name: &str, depth: u32) -> Option<String> {
    let mut s = String::new();
    if let Some(def) = p.structs.get(name) {
        let size = def
            .size
            .map_or_else(|| "?".to_owned(), |n| format!("{n:#x} ({n} bytes)"));
        let _ = writeln!(s, "[{name}] size {size}");
        let _ = writeln!(s, "  {:<10} {:<40} Type", "Offset", "Field");
        struct_rows(p, name, 0, 1, depth, &mut s);
        return Some(s);
    }
    if let Some(choices) = p.enums.get(name) {
        let _ = writeln!(s, "[enum {name}] {} values", choices.len());
        for (v, n) in choices {
            let _ = writeln!(s, "  {v:>12}  {n}");
        }
        return Some(s);
    }
    None
}

fn struct_rows(p: &Profile, name: &str, base: u64, indent: usize, depth: u32, s: &mut String) {
    let Some(def) = p.structs.get(name) else {
        return;
    };
    let mut fields: Vec<_> = def.fields.iter().collect();
    fields.sort_by_key(|(n, f)| (f.offset, bit_start(&f.descriptor), n.as_str()));
    for (fname, f) in fields {
        let off = f
            .offset
            .map_or_else(|| "?".to_owned(), |o| format!("{:#06x}", base + o));
        let pad = "  ".repeat(indent);
        let _ = writeln!(s, "{pad}{off:<10} {fname:<40} {}", describe(&f.descriptor));
        if depth > 0 {
            if let Some(inner) = f
                .descriptor
                .as_named()
                .filter(|n| p.structs.contains_key(*n))
            {
                struct_rows(
                    p,
                    inner,
                    base + f.offset.unwrap_or(0),
                    indent + 1,
                    depth - 1,
                    s,
                );
            }
        }
    }
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
