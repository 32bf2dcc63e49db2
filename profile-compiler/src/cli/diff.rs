//! `profc diff A B`: what changed between two profiles.
//!
//! Compares layouts (struct sizes, member offsets, bit positions and types),
//! enums and symbols. Anonymous types (`__unnamed_*`, whose names are DIE
//! offsets or type indices and change with every build) are compared by
//! content through the members that use them, never by name.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use profile_runtime::{Descriptor, Profile};
use serde_json::{json, Map, Value};

use super::inspect::describe;

/// Arguments of `diff`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The old profile (Rekall JSON, gzipped or plain, or Volatility 3 ISF).
    pub a: PathBuf,
    /// The new profile.
    pub b: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Leave symbols out of the comparison.
    #[arg(long)]
    pub no_symbols: bool,
    /// Exit with status 1 when the profiles differ (like `diff`).
    #[arg(long)]
    pub exit_code: bool,
    /// Most items listed per category in the text report (all in JSON).
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

pub(crate) fn run(args: Args) -> anyhow::Result<bool> {
    let a = super::load_any_profile(&args.a)?;
    let b = super::load_any_profile(&args.b)?;
    let d = diff(&a, &b, !args.no_symbols);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&d)?);
    } else {
        print!("{}", render(&d, args.limit));
    }
    let same = is_empty(&d);
    Ok(!same && args.exit_code)
}

fn is_anon(name: &str) -> bool {
    name.starts_with("__unnamed")
}

/// The structured difference of two profiles.
pub fn diff(a: &Profile, b: &Profile, symbols: bool) -> Value {
    let cmp = Comparer { a, b };
    let names_a: BTreeSet<&String> = a.structs.keys().filter(|n| !is_anon(n)).collect();
    let names_b: BTreeSet<&String> = b.structs.keys().filter(|n| !is_anon(n)).collect();
    let added: Vec<Value> = names_b
        .difference(&names_a)
        .map(|n| json!({"name": n, "size": b.structs[*n].size}))
        .collect();
    let removed: Vec<Value> = names_a
        .difference(&names_b)
        .map(|n| json!({"name": n, "size": a.structs[*n].size}))
        .collect();
    let mut changed = Map::new();
    for n in names_a.intersection(&names_b) {
        let mut c = Map::new();
        cmp.record(n, n, "", 0, &mut c);
        if !c.is_empty() {
            changed.insert((*n).clone(), Value::Object(c));
        }
    }
    let mut out = json!({"types": {"added": added, "removed": removed, "changed": changed}});
    // Enums.
    let mut enums = Map::new();
    let en_a: BTreeSet<&String> = a.enums.keys().filter(|n| !is_anon(n)).collect();
    let en_b: BTreeSet<&String> = b.enums.keys().filter(|n| !is_anon(n)).collect();
    enums.insert(
        "added".into(),
        json!(en_b.difference(&en_a).collect::<Vec<_>>()),
    );
    enums.insert(
        "removed".into(),
        json!(en_a.difference(&en_b).collect::<Vec<_>>()),
    );
    let mut en_changed = Map::new();
    for n in en_a.intersection(&en_b) {
        let (x, y) = (&a.enums[*n], &b.enums[*n]);
        if x != y {
            let inv = |m: &BTreeMap<i128, String>| {
                m.iter()
                    .map(|(k, v)| (v.clone(), *k))
                    .collect::<BTreeMap<String, i128>>()
            };
            let (ix, iy) = (inv(x), inv(y));
            let mut ch = Map::new();
            for (k, v) in &iy {
                match ix.get(k) {
                    None => {
                        ch.insert(k.clone(), json!([null, v.to_string()]));
                    }
                    Some(old) if old != v => {
                        ch.insert(k.clone(), json!([old.to_string(), v.to_string()]));
                    }
                    _ => {}
                }
            }
            for (k, v) in &ix {
                if !iy.contains_key(k) {
                    ch.insert(k.clone(), json!([v.to_string(), null]));
                }
            }
            en_changed.insert((*n).clone(), Value::Object(ch));
        }
    }
    enums.insert("changed".into(), Value::Object(en_changed));
    out["enums"] = Value::Object(enums);
    if symbols {
        let mut s = Map::new();
        for (section, x, y) in [
            ("constants", &a.constants, &b.constants),
            ("functions", &a.functions, &b.functions),
        ] {
            let added: Vec<&String> = y.keys().filter(|k| !x.contains_key(*k)).collect();
            let removed: Vec<&String> = x.keys().filter(|k| !y.contains_key(*k)).collect();
            // Rekall stores Linux addresses masked to 48 bits, ISF whole:
            // the same address in both spellings has not moved.
            let same = |v: u64, w: u64| {
                v == w || ((v >> 48 == 0 || w >> 48 == 0) && (v ^ w) & ((1 << 48) - 1) == 0)
            };
            let moved: Map<String, Value> = x
                .iter()
                .filter_map(|(k, v)| {
                    y.get(k)
                        .filter(|w| !same(*v, **w))
                        .map(|w| (k.clone(), json!([v, w])))
                })
                .collect();
            s.insert(
                section.into(),
                json!({"added": added, "removed": removed, "moved": moved}),
            );
        }
        out["symbols"] = Value::Object(s);
    }
    out
}

struct Comparer<'a> {
    a: &'a Profile,
    b: &'a Profile,
}

impl Comparer<'_> {
    /// Compares record `x` of A with record `y` of B; member paths are
    /// prefixed with `prefix` (anonymous records are compared inline).
    fn record(&self, x: &str, y: &str, prefix: &str, depth: u32, out: &mut Map<String, Value>) {
        let (Some(dx), Some(dy)) = (self.a.structs.get(x), self.b.structs.get(y)) else {
            return;
        };
        if depth > 16 {
            return;
        }
        if prefix.is_empty() && dx.size != dy.size {
            out.insert("size".into(), json!([dx.size, dy.size]));
        }
        let members = |key: &str, out: &mut Map<String, Value>| -> Map<String, Value> {
            match out.remove(key) {
                Some(Value::Object(m)) => m,
                _ => Map::new(),
            }
        };
        let mut added = members("added", out);
        let mut removed = members("removed", out);
        let mut changed = members("changed", out);
        for (name, fy) in &dy.fields {
            let path = format!("{prefix}{name}");
            match dx.fields.get(name) {
                None => {
                    added.insert(
                        path,
                        json!({"offset": fy.offset, "type": describe(&fy.descriptor)}),
                    );
                }
                Some(fx) => {
                    let mut c = Map::new();
                    if fx.offset != fy.offset {
                        c.insert("offset".into(), json!([fx.offset, fy.offset]));
                    }
                    match (anon_target(&fx.descriptor), anon_target(&fy.descriptor)) {
                        (Some(ax), Some(by)) => {
                            let mut inner = Map::new();
                            self.record(ax, by, &format!("{path}."), depth + 1, &mut inner);
                            if self.a.structs.get(ax).map(|s| s.size)
                                != self.b.structs.get(by).map(|s| s.size)
                            {
                                c.insert(
                                    "type".into(),
                                    json!([describe(&fx.descriptor), describe(&fy.descriptor)]),
                                );
                            }
                            for k in ["added", "removed", "changed"] {
                                if let Some(Value::Object(m)) = inner.remove(k) {
                                    let target = match k {
                                        "added" => &mut added,
                                        "removed" => &mut removed,
                                        _ => &mut changed,
                                    };
                                    target.extend(m);
                                }
                            }
                        }
                        _ => {
                            let (tx, ty) = (self.canon(&fx.descriptor), self.canon(&fy.descriptor));
                            if tx != ty {
                                c.insert(
                                    "type".into(),
                                    json!([describe(&fx.descriptor), describe(&fy.descriptor)]),
                                );
                            }
                        }
                    }
                    if !c.is_empty() {
                        changed.insert(path, Value::Object(c));
                    }
                }
            }
        }
        for (name, fx) in &dx.fields {
            if !dy.fields.contains_key(name) {
                removed.insert(
                    format!("{prefix}{name}"),
                    json!({"offset": fx.offset, "type": describe(&fx.descriptor)}),
                );
            }
        }
        for (k, m) in [("added", added), ("removed", removed), ("changed", changed)] {
            if !m.is_empty() {
                out.insert(k.into(), Value::Object(m));
            }
        }
    }

    /// A descriptor's text with anonymous type names replaced by a marker,
    /// so build-specific names do not count as changes.
    fn canon(&self, d: &Descriptor) -> String {
        let text = describe(&normalize(d));
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(i) = rest.find("__unnamed_") {
            out.push_str(&rest[..i]);
            out.push_str("<anon>");
            let tail = &rest[i + "__unnamed_".len()..];
            let end = tail
                .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                .unwrap_or(tail.len());
            rest = &tail[end..];
        }
        out.push_str(rest);
        out
    }
}

/// Removes differences of spelling that do not change a layout: `void` vs
/// `Void`, a bit field's storage type, strings vs arrays of characters.
fn normalize(d: &Descriptor) -> Descriptor {
    match d {
        Descriptor::Named(n) if n == "void" => Descriptor::Void,
        Descriptor::Pointer { target } => Descriptor::pointer(normalize(target)),
        Descriptor::Array { count, target } => Descriptor::array(*count, normalize(target)),
        Descriptor::BitField {
            start_bit, end_bit, ..
        } => Descriptor::BitField {
            start_bit: *start_bit,
            end_bit: *end_bit,
            target: None,
        },
        Descriptor::Enumeration {
            enum_name,
            choices,
            target,
        } => Descriptor::Enumeration {
            // Inline choices get made-up names in other formats.
            enum_name: enum_name
                .clone()
                .filter(|n| choices.is_none() && !n.starts_with("__inline_enum_")),
            choices: None,
            target: Box::new(normalize(target)),
        },
        Descriptor::String { length } => Descriptor::array(*length, Descriptor::named("char")),
        Descriptor::UnicodeString { length } => {
            Descriptor::array(length / 2, Descriptor::named("unsigned short"))
        }
        other => other.clone(),
    }
}

fn anon_target(d: &Descriptor) -> Option<&str> {
    d.as_named().filter(|n| is_anon(n))
}

fn count(v: &Value) -> usize {
    match v {
        Value::Array(a) => a.len(),
        Value::Object(m) => m.len(),
        _ => 0,
    }
}

fn is_empty(d: &Value) -> bool {
    let sections = [
        &d["types"]["added"],
        &d["types"]["removed"],
        &d["types"]["changed"],
        &d["enums"]["added"],
        &d["enums"]["removed"],
        &d["enums"]["changed"],
        &d["symbols"]["constants"]["added"],
        &d["symbols"]["constants"]["removed"],
        &d["symbols"]["constants"]["moved"],
        &d["symbols"]["functions"]["added"],
        &d["symbols"]["functions"]["removed"],
        &d["symbols"]["functions"]["moved"],
    ];
    sections.iter().all(|v| count(v) == 0)
}

/// The readable report.
pub fn render(d: &Value, limit: usize) -> String {
    let mut s = String::new();
    let t = &d["types"];
    let _ = writeln!(
        s,
        "types: {} added, {} removed, {} changed",
        count(&t["added"]),
        count(&t["removed"]),
        count(&t["changed"])
    );
    let list = |s: &mut String, sign: &str, v: &Value| {
        if let Value::Array(a) = v {
            for x in a.iter().take(limit) {
                let name = x
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .unwrap_or_else(|| x.as_str().unwrap_or("").to_owned());
                match x.get("size").and_then(Value::as_u64) {
                    Some(size) => {
                        let _ = writeln!(s, "  {sign} {name} (size {size})");
                    }
                    None => {
                        let _ = writeln!(s, "  {sign} {name}");
                    }
                }
            }
            if a.len() > limit {
                let _ = writeln!(s, "  ... {} more", a.len() - limit);
            }
        }
    };
    list(&mut s, "+", &t["added"]);
    list(&mut s, "-", &t["removed"]);
    if let Value::Object(ch) = &t["changed"] {
        for (name, c) in ch.iter().take(limit) {
            match c.get("size").and_then(Value::as_array) {
                Some(sz) => {
                    let _ = writeln!(s, "  ~ {name}: size {} -> {}", sz[0], sz[1]);
                }
                None => {
                    let _ = writeln!(s, "  ~ {name}");
                }
            }
            if let Some(Value::Object(m)) = c.get("added") {
                for (f, v) in m {
                    let _ = writeln!(
                        s,
                        "      + {f} @ {} ({})",
                        v["offset"],
                        v["type"].as_str().unwrap_or("")
                    );
                }
            }
            if let Some(Value::Object(m)) = c.get("removed") {
                for (f, v) in m {
                    let _ = writeln!(
                        s,
                        "      - {f} @ {} ({})",
                        v["offset"],
                        v["type"].as_str().unwrap_or("")
                    );
                }
            }
            if let Some(Value::Object(m)) = c.get("changed") {
                for (f, v) in m {
                    let mut parts = Vec::new();
                    if let Some(o) = v.get("offset") {
                        parts.push(format!("offset {} -> {}", o[0], o[1]));
                    }
                    if let Some(ty) = v.get("type") {
                        parts.push(format!(
                            "type {} -> {}",
                            ty[0].as_str().unwrap_or(""),
                            ty[1].as_str().unwrap_or("")
                        ));
                    }
                    let _ = writeln!(s, "      ~ {f}: {}", parts.join(", "));
                }
            }
        }
        if ch.len() > limit {
            let _ = writeln!(s, "  ... {} more", ch.len() - limit);
        }
    }
    let e = &d["enums"];
    let _ = writeln!(
        s,
        "enums: {} added, {} removed, {} changed",
        count(&e["added"]),
        count(&e["removed"]),
        count(&e["changed"])
    );
    list(&mut s, "+", &e["added"]);
    list(&mut s, "-", &e["removed"]);
    if let Value::Object(ch) = &e["changed"] {
        for (name, c) in ch.iter().take(limit) {
            let _ = writeln!(
                s,
                "  ~ {name}: {}",
                Value::Object(c.as_object().cloned().unwrap_or_default())
            );
        }
    }
    if let Value::Object(sym) = &d["symbols"] {
        for (section, v) in sym {
            let _ = writeln!(
                s,
                "{section}: {} added, {} removed, {} moved",
                count(&v["added"]),
                count(&v["removed"]),
                count(&v["moved"])
            );
            list(&mut s, "+", &v["added"]);
            list(&mut s, "-", &v["removed"]);
            if let Value::Object(m) = &v["moved"] {
                for (k, x) in m.iter().take(limit) {
                    let _ = writeln!(
                        s,
                        "  ~ {k}: {:#x} -> {:#x}",
                        x[0].as_u64().unwrap_or(0),
                        x[1].as_u64().unwrap_or(0)
                    );
                }
                if m.len() > limit {
                    let _ = writeln!(s, "  ... {} more", m.len() - limit);
                }
            }
        }
    }
    if is_empty(d) {
        s.push_str("no differences\n");
    }
    s
}
