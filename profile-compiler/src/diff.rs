//! What changed between two profiles: a typed, serialisable
//! [`ProfileDiff`] and its readable report ([`ProfileDiff::render`]).
//!
//! Compares layouts (struct sizes, member offsets, bit positions and types),
//! enums and symbols. Anonymous types (`__unnamed_*`, whose names are DIE
//! offsets or type indices and change with every build) are compared by
//! content through the members that use them, never by name.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use profile_runtime::{Descriptor, Profile};
use serde::{Deserialize, Serialize};

use crate::inspect::describe;

/// The difference of two profiles, A (old) and B (new). Serialised with
/// sorted keys (the `--json` report).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileDiff {
    /// Enums added, removed or changed.
    pub enums: EnumsDiff,
    /// Symbols added, removed or moved; `None` when symbols were left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbols: Option<SymbolsDiff>,
    /// Structs and unions added, removed or changed.
    pub types: TypesDiff,
}

/// Structs and unions that differ.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypesDiff {
    /// Types only in B.
    pub added: Vec<TypeRef>,
    /// Types in both that differ, by name.
    pub changed: BTreeMap<String, RecordChange>,
    /// Types only in A.
    pub removed: Vec<TypeRef>,
}

/// A type named with its size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeRef {
    /// The type's name.
    pub name: String,
    /// Its size in bytes, when the profile gives one.
    pub size: Option<u64>,
}

/// How one record changed. Members of anonymous members are listed by
/// their path (`u1.field`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordChange {
    /// Members only in B.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub added: BTreeMap<String, MemberInfo>,
    /// Members in both that differ.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub changed: BTreeMap<String, MemberChange>,
    /// Members only in A.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub removed: BTreeMap<String, MemberInfo>,
    /// The size in A and in B, when it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<[Option<u64>; 2]>,
}

/// A member added or removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// Its offset.
    pub offset: Option<u64>,
    /// Its type, described (`Pointer -> task_struct`).
    #[serde(rename = "type")]
    pub ty: String,
}

/// A member present in both whose place or type differs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberChange {
    /// The offset in A and in B, when it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<[Option<u64>; 2]>,
    /// The type in A and in B, described, when it changed.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub ty: Option<[String; 2]>,
}

/// Enums that differ.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnumsDiff {
    /// Enums only in B.
    pub added: Vec<String>,
    /// Enums in both that differ: enumerator -> [value in A, value in B]
    /// (`None` where it is absent), values as decimal strings.
    pub changed: BTreeMap<String, BTreeMap<String, [Option<String>; 2]>>,
    /// Enums only in A.
    pub removed: Vec<String>,
}

/// Symbols that differ, per section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SymbolsDiff {
    /// `$CONSTANTS`.
    pub constants: SectionDiff,
    /// `$FUNCTIONS`.
    pub functions: SectionDiff,
}

/// One symbol section's differences.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionDiff {
    /// Symbols only in B.
    pub added: Vec<String>,
    /// Symbols in both at different addresses: [address in A, address in B].
    pub moved: BTreeMap<String, [u64; 2]>,
    /// Symbols only in A.
    pub removed: Vec<String>,
}

impl SectionDiff {
    fn is_empty(&self) -> bool {
        self.added.is_empty() && self.moved.is_empty() && self.removed.is_empty()
    }
}

impl ProfileDiff {
    /// Whether the profiles are the same (in what was compared).
    pub fn is_empty(&self) -> bool {
        let t = &self.types;
        let e = &self.enums;
        t.added.is_empty()
            && t.removed.is_empty()
            && t.changed.is_empty()
            && e.added.is_empty()
            && e.removed.is_empty()
            && e.changed.is_empty()
            && self
                .symbols
                .as_ref()
                .is_none_or(|s| s.constants.is_empty() && s.functions.is_empty())
    }
}

fn is_anon(name: &str) -> bool {
    name.starts_with("__unnamed")
}

/// The difference of two profiles; `symbols`: compare the symbol sections too.
pub fn diff(a: &Profile, b: &Profile, symbols: bool) -> ProfileDiff {
    let cmp = Comparer { a, b };
    let names_a: BTreeSet<&String> = a.structs.keys().filter(|n| !is_anon(n)).collect();
    let names_b: BTreeSet<&String> = b.structs.keys().filter(|n| !is_anon(n)).collect();
    let type_ref = |p: &Profile, n: &String| TypeRef {
        name: n.clone(),
        size: p.structs[n].size,
    };
    let mut types = TypesDiff {
        added: names_b
            .difference(&names_a)
            .map(|n| type_ref(b, n))
            .collect(),
        removed: names_a
            .difference(&names_b)
            .map(|n| type_ref(a, n))
            .collect(),
        changed: BTreeMap::new(),
    };
    for n in names_a.intersection(&names_b) {
        let mut c = RecordChange::default();
        cmp.record(n, n, "", 0, &mut c);
        if c != RecordChange::default() {
            types.changed.insert((*n).clone(), c);
        }
    }
    let en_a: BTreeSet<&String> = a.enums.keys().filter(|n| !is_anon(n)).collect();
    let en_b: BTreeSet<&String> = b.enums.keys().filter(|n| !is_anon(n)).collect();
    let mut enums = EnumsDiff {
        added: en_b.difference(&en_a).map(|n| (*n).clone()).collect(),
        removed: en_a.difference(&en_b).map(|n| (*n).clone()).collect(),
        changed: BTreeMap::new(),
    };
    for n in en_a.intersection(&en_b) {
        let (x, y) = (&a.enums[*n], &b.enums[*n]);
        if x == y {
            continue;
        }
        let inv = |m: &BTreeMap<i128, String>| {
            m.iter()
                .map(|(k, v)| (v.clone(), *k))
                .collect::<BTreeMap<String, i128>>()
        };
        let (ix, iy) = (inv(x), inv(y));
        let mut ch = BTreeMap::new();
        for (k, v) in &iy {
            match ix.get(k) {
                None => {
                    ch.insert(k.clone(), [None, Some(v.to_string())]);
                }
                Some(old) if old != v => {
                    ch.insert(k.clone(), [Some(old.to_string()), Some(v.to_string())]);
                }
                _ => {}
            }
        }
        for (k, v) in &ix {
            if !iy.contains_key(k) {
                ch.insert(k.clone(), [Some(v.to_string()), None]);
            }
        }
        enums.changed.insert((*n).clone(), ch);
    }
    let symbols = symbols.then(|| {
        let section = |x: &BTreeMap<String, u64>, y: &BTreeMap<String, u64>| {
            // Rekall stores Linux addresses masked to 48 bits, ISF whole:
            // the same address in both spellings has not moved.
            let same = |v: u64, w: u64| {
                v == w || ((v >> 48 == 0 || w >> 48 == 0) && (v ^ w) & ((1 << 48) - 1) == 0)
            };
            SectionDiff {
                added: y.keys().filter(|k| !x.contains_key(*k)).cloned().collect(),
                removed: x.keys().filter(|k| !y.contains_key(*k)).cloned().collect(),
                moved: x
                    .iter()
                    .filter_map(|(k, v)| {
                        y.get(k)
                            .filter(|w| !same(*v, **w))
                            .map(|w| (k.clone(), [*v, *w]))
                    })
                    .collect(),
            }
        };
        SymbolsDiff {
            constants: section(&a.constants, &b.constants),
            functions: section(&a.functions, &b.functions),
        }
    });
    ProfileDiff {
        enums,
        symbols,
        types,
    }
}

struct Comparer<'a> {
    a: &'a Profile,
    b: &'a Profile,
}

impl Comparer<'_> {
    /// Compares record `x` of A with record `y` of B; member paths are
    /// prefixed with `prefix` (anonymous records are compared inline).
    fn record(&self, x: &str, y: &str, prefix: &str, depth: u32, out: &mut RecordChange) {
        let (Some(dx), Some(dy)) = (self.a.structs.get(x), self.b.structs.get(y)) else {
            return;
        };
        if depth > 16 {
            return;
        }
        if prefix.is_empty() && dx.size != dy.size {
            out.size = Some([dx.size, dy.size]);
        }
        for (name, fy) in &dy.fields {
            let path = format!("{prefix}{name}");
            let Some(fx) = dx.fields.get(name) else {
                out.added.insert(
                    path,
                    MemberInfo {
                        offset: fy.offset,
                        ty: describe(&fy.descriptor),
                    },
                );
                continue;
            };
            let mut c = MemberChange::default();
            if fx.offset != fy.offset {
                c.offset = Some([fx.offset, fy.offset]);
            }
            let described = || [describe(&fx.descriptor), describe(&fy.descriptor)];
            match (anon_target(&fx.descriptor), anon_target(&fy.descriptor)) {
                (Some(ax), Some(by)) => {
                    self.record(ax, by, &format!("{path}."), depth + 1, out);
                    if self.a.structs.get(ax).map(|s| s.size)
                        != self.b.structs.get(by).map(|s| s.size)
                    {
                        c.ty = Some(described());
                    }
                }
                _ => {
                    if self.canon(&fx.descriptor) != self.canon(&fy.descriptor) {
                        c.ty = Some(described());
                    }
                }
            }
            if c != MemberChange::default() {
                out.changed.insert(path, c);
            }
        }
        for (name, fx) in &dx.fields {
            if !dy.fields.contains_key(name) {
                out.removed.insert(
                    format!("{prefix}{name}"),
                    MemberInfo {
                        offset: fx.offset,
                        ty: describe(&fx.descriptor),
                    },
                );
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
        Descriptor::Named(n) => Descriptor::Named(c_base_type(n)),
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

/// A C base type's name in one spelling: `long unsigned int`, `unsigned
/// long int` and `unsigned long` are one type (DWARF spells it the first
/// way, Rekall and PDBs the last); `signed int`, `signed` and `int` too.
/// `char`, `signed char` and `unsigned char` stay three types, as in C.
/// Any other name comes back as it is.
pub fn c_base_type(name: &str) -> String {
    let words: Vec<&str> = name.split_whitespace().collect();
    if words.is_empty()
        || !words.iter().all(|w| {
            matches!(
                *w,
                "signed" | "unsigned" | "char" | "short" | "int" | "long"
            )
        })
    {
        return name.to_owned();
    }
    let count = |w: &str| words.iter().filter(|x| **x == w).count();
    let (signed, unsigned, char, short, int, long) = (
        count("signed"),
        count("unsigned"),
        count("char"),
        count("short"),
        count("int"),
        count("long"),
    );
    if signed + unsigned > 1
        || char + short > 1
        || int > 1
        || (char > 0 && int > 0)
        || long > 2
        || (long > 0 && (char + short) > 0)
    {
        // Not a C type: leave it alone.
        return name.to_owned();
    }
    let base = if char == 1 {
        return match (signed, unsigned) {
            (1, _) => "signed char",
            (_, 1) => "unsigned char",
            _ => "char",
        }
        .to_owned();
    } else if short == 1 {
        "short"
    } else if long == 2 {
        "long long"
    } else if long == 1 {
        "long"
    } else {
        "int"
    };
    if unsigned == 1 {
        format!("unsigned {base}")
    } else {
        base.to_owned()
    }
}

fn anon_target(d: &Descriptor) -> Option<&str> {
    d.as_named().filter(|n| is_anon(n))
}

impl ProfileDiff {
    /// The readable report, listing at most `limit` items per category.
    pub fn render(&self, limit: usize) -> String {
        let mut s = String::new();
        let t = &self.types;
        let _ = writeln!(
            s,
            "types: {} added, {} removed, {} changed",
            t.added.len(),
            t.removed.len(),
            t.changed.len()
        );
        let types = |s: &mut String, sign: &str, v: &[TypeRef]| {
            for x in v.iter().take(limit) {
                match x.size {
                    Some(size) => {
                        let _ = writeln!(s, "  {sign} {} (size {size})", x.name);
                    }
                    None => {
                        let _ = writeln!(s, "  {sign} {}", x.name);
                    }
                }
            }
            if v.len() > limit {
                let _ = writeln!(s, "  ... {} more", v.len() - limit);
            }
        };
        let names = |s: &mut String, sign: &str, v: &[String]| {
            for x in v.iter().take(limit) {
                let _ = writeln!(s, "  {sign} {x}");
            }
            if v.len() > limit {
                let _ = writeln!(s, "  ... {} more", v.len() - limit);
            }
        };
        types(&mut s, "+", &t.added);
        types(&mut s, "-", &t.removed);
        for (name, c) in t.changed.iter().take(limit) {
            match c.size {
                Some([a, b]) => {
                    let _ = writeln!(s, "  ~ {name}: size {} -> {}", opt(a), opt(b));
                }
                None => {
                    let _ = writeln!(s, "  ~ {name}");
                }
            }
            let more = |s: &mut String, n: usize| {
                if n > limit {
                    let _ = writeln!(s, "      ... {} more", n - limit);
                }
            };
            for (f, v) in c.added.iter().take(limit) {
                let _ = writeln!(s, "      + {f} @ {} ({})", opt(v.offset), v.ty);
            }
            more(&mut s, c.added.len());
            for (f, v) in c.removed.iter().take(limit) {
                let _ = writeln!(s, "      - {f} @ {} ({})", opt(v.offset), v.ty);
            }
            more(&mut s, c.removed.len());
            for (f, v) in c.changed.iter().take(limit) {
                let mut parts = Vec::new();
                if let Some([a, b]) = v.offset {
                    parts.push(format!("offset {} -> {}", opt(a), opt(b)));
                }
                if let Some([a, b]) = &v.ty {
                    parts.push(format!("type {a} -> {b}"));
                }
                let _ = writeln!(s, "      ~ {f}: {}", parts.join(", "));
            }
            more(&mut s, c.changed.len());
        }
        if t.changed.len() > limit {
            let _ = writeln!(s, "  ... {} more", t.changed.len() - limit);
        }
        let e = &self.enums;
        let _ = writeln!(
            s,
            "enums: {} added, {} removed, {} changed",
            e.added.len(),
            e.removed.len(),
            e.changed.len()
        );
        names(&mut s, "+", &e.added);
        names(&mut s, "-", &e.removed);
        for (name, c) in e.changed.iter().take(limit) {
            let _ = writeln!(s, "  ~ {name}");
            for (k, [a, b]) in c.iter().take(limit) {
                let _ = match (a, b) {
                    (None, Some(b)) => writeln!(s, "      + {k} = {b}"),
                    (Some(a), None) => writeln!(s, "      - {k} = {a}"),
                    (Some(a), Some(b)) => writeln!(s, "      ~ {k}: {a} -> {b}"),
                    (None, None) => Ok(()),
                };
            }
            if c.len() > limit {
                let _ = writeln!(s, "      ... {} more", c.len() - limit);
            }
        }
        if e.changed.len() > limit {
            let _ = writeln!(s, "  ... {} more", e.changed.len() - limit);
        }
        if let Some(sym) = &self.symbols {
            for (section, v) in [("constants", &sym.constants), ("functions", &sym.functions)] {
                let _ = writeln!(
                    s,
                    "{section}: {} added, {} removed, {} moved",
                    v.added.len(),
                    v.removed.len(),
                    v.moved.len()
                );
                names(&mut s, "+", &v.added);
                names(&mut s, "-", &v.removed);
                for (k, [a, b]) in v.moved.iter().take(limit) {
                    let _ = writeln!(s, "  ~ {k}: {a:#x} -> {b:#x}");
                }
                if v.moved.len() > limit {
                    let _ = writeln!(s, "  ... {} more", v.moved.len() - limit);
                }
            }
        }
        if self.is_empty() {
            s.push_str("no differences\n");
        }
        s
    }
}

/// An optional number as the JSON report prints it (`null` when absent).
fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "null".to_owned(), |n| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::c_base_type;

    #[test]
    fn base_type_spellings() {
        for (a, b) in [
            ("long unsigned int", "unsigned long"),
            ("unsigned long int", "unsigned long"),
            ("long int", "long"),
            ("signed long", "long"),
            ("long long unsigned int", "unsigned long long"),
            ("short unsigned int", "unsigned short"),
            ("short int", "short"),
            ("signed", "int"),
            ("unsigned", "unsigned int"),
            ("unsigned char", "unsigned char"),
            ("signed char", "signed char"),
            ("char", "char"),
            ("task_struct", "task_struct"),
            ("long char", "long char"),
        ] {
            assert_eq!(c_base_type(a), b, "{a}");
        }
    }
}
