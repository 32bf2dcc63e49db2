//! IR -> Rekall profile model.
//!
//! Conventions (documented for users in `docs/conventions.md`):
//! - typedefs and const/volatile are resolved to the underlying type;
//! - a record that is defined identically many times (a kernel type seen in
//!   thousands of compilation units) appears once; records that share a name
//!   but differ in layout are kept apart: the first definition (in input
//!   order) keeps the name, the others are named `NAME@2`, `NAME@3`, ... and a
//!   warning lists them;
//! - anonymous records are named after the typedef that names them when there
//!   is one, otherwise `__unnamed_<origin>` (Rekall's convention; the origin is
//!   the PDB type index or the DWARF DIE offset, in hex);
//! - an anonymous member is kept as `u<N>` (N counts anonymous members of
//!   the record from 1) and, in addition, its members are lifted into the
//!   parent at their absolute offsets unless a name is already taken, so both
//!   `u1.field` and `field` work (LibVMI and DRAKVUF look fields up directly);
//! - duplicate symbol names get `_1`, `_2`, ... suffixes in address order.

pub mod isf;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap as HashMap;

use profile_runtime::{Descriptor, Field, Profile, StructDef};

use crate::ir::{Ir, Record, SymbolKind, Type, TypeId};

/// Emission options.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmitOptions {
    /// Leave out `$REVENUMS` (Rekall's `--concise`).
    pub concise: bool,
}

/// The profile and what the emitter has to say about it.
#[derive(Debug)]
pub struct Emitted {
    /// The profile.
    pub profile: Profile,
    /// One line per noteworthy decision (renamed same-name types, dropped
    /// unrepresentable members).
    pub warnings: Vec<String>,
    /// Names of the emitted records that are unions (Rekall's format does not
    /// say; the ISF export needs it).
    pub unions: BTreeSet<String>,
    /// The types of the data symbols that have one, by their final names
    /// (Rekall's format has no place for them; the ISF export writes them).
    pub symbol_types: BTreeMap<String, Descriptor>,
}

/// Builds the profile for `ir`.
///
/// The enums are named first; then `$ENUMS`/`$REVENUMS` are built on a
/// second thread and the symbol sections (independent of the types) on a
/// third, while this one names the records and builds `$STRUCTS`.
pub fn emit(ir: &Ir, options: EmitOptions) -> Emitted {
    emit_with(ir, options, None)
}

/// `$CONSTANTS` and `$FUNCTIONS`, built from the symbols alone.
#[derive(Debug, Default)]
pub struct SymbolSections {
    /// `$CONSTANTS`.
    pub constants: BTreeMap<String, u64>,
    /// `$FUNCTIONS`.
    pub functions: BTreeMap<String, u64>,
    /// Whether the addresses were masked to 48 bits
    /// ([`crate::ir::Conventions::mask48`]).
    pub mask48: bool,
    /// The final `$CONSTANTS` name of every data symbol that has a type,
    /// with the symbol's index in the list the sections were built from.
    pub typed: Vec<(String, usize)>,
}

/// Builds the symbol sections as [`emit`] does, from the symbols alone: a
/// reader can have it done on its symbol thread while the types are still
/// being read (see `input::pdb::read_file_with`), then pass the result to
/// [`emit_with`].
pub fn symbol_sections(symbols: &[crate::ir::Symbol], mask48: bool) -> SymbolSections {
    let (constants, functions, typed) = symbols_of(symbols, mask48);
    SymbolSections {
        constants,
        functions,
        mask48,
        typed,
    }
}

/// [`emit`], with the symbol sections already built from `ir.symbols` by
/// [`symbol_sections`] (sections built with another address mask than the
/// IR's are built again).
pub fn emit_with(ir: &Ir, options: EmitOptions, symbols: Option<SymbolSections>) -> Emitted {
    let symbols = symbols.filter(|s| s.mask48 == ir.conventions.mask48);
    let mut e = Emitter::new(ir);
    let (enum_names, enum_warnings) = e.name_enums();
    e.enum_names = enum_names;
    std::thread::scope(|scope| {
        let symbols = match symbols {
            Some(done) => Ok(done),
            None => Err(scope.spawn(|| symbol_sections(&ir.symbols, ir.conventions.mask48))),
        };
        // The enum thread gets its own copy of the names (mostly borrowed
        // `Cow`s): this thread goes on to fill the record names.
        let names = e.enum_names.clone();
        let enums = scope.spawn(move || {
            let mut p = Profile {
                enums: enums(ir, &names),
                ..Profile::default()
            };
            if !options.concise {
                p.derive_revenums();
            }
            (p.enums, p.revenums)
        });
        let records = e.name_records();
        let mut warnings = ir.warnings.clone();
        warnings.append(&mut e.warnings);
        warnings.extend(enum_warnings);
        let (structs, unions) = e.structs(&records, &mut warnings);
        let mut profile = Profile::new();
        for (k, v) in &ir.metadata {
            profile.metadata.insert(k.clone(), v.clone());
        }
        profile.config = ir.config.clone();
        // In name order already: bulk builds.
        profile.structs = structs.into_iter().collect();
        (profile.enums, profile.revenums) = join(enums);
        let symbols = symbols.unwrap_or_else(join);
        (profile.constants, profile.functions) = (symbols.constants, symbols.functions);
        let symbol_types = e.symbol_types(&symbols.typed, &profile, &mut warnings);
        Emitted {
            profile,
            warnings,
            unions: unions.into_iter().collect(),
            symbol_types,
        }
    })
}

/// A scoped thread's result; its panic goes on in this thread.
fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

struct Emitter<'a> {
    ir: &'a Ir,
    /// Final name of each record, by type id (`NAME@N` for different
    /// same-name definitions); borrowed from the IR when it can be.
    names: Vec<Option<Cow<'a, str>>>,
    /// Final name of each enum (`NAME@N` for different same-name enums).
    enum_names: HashMap<TypeId, Cow<'a, str>>,
    /// Typedef names of anonymous records/enums (first typedef wins).
    typedef_names: HashMap<TypeId, &'a str>,
    warnings: Vec<String>,
}

/// Structural identity of a record: what makes two definitions "the same".
#[derive(Debug, PartialEq, Eq, Hash)]
struct Shape<'a> {
    kind: u8,
    size: u64,
    members: Vec<MemberShape<'a>>,
}

/// A member's name, offset, bit field (first bit, bit count) and type key.
type MemberShape<'a> = (Option<&'a str>, u64, Option<(u32, u32)>, u32);

/// Identity of a member's type, with children interned.
#[derive(Debug, PartialEq, Eq, Hash)]
enum Key<'a> {
    Name(&'a str),
    Anon(u32),
    Ptr(u64, &'a str),
    Arr(u64, u32),
    Enum(Option<&'a str>, u64),
    Misc(u8),
    Deep,
}

/// Hash-consing tables for [`Shape`]s and [`Key`]s, memoised per type id.
struct Interner<'a> {
    shapes: HashMap<Shape<'a>, u32>,
    keys: HashMap<Key<'a>, u32>,
    shape_memo: Vec<Option<u32>>,
    key_memo: Vec<Option<u32>>,
}

impl Interner<'_> {
    fn new(n: usize) -> Self {
        Interner {
            shapes: HashMap::default(),
            keys: HashMap::default(),
            shape_memo: vec![None; n],
            key_memo: vec![None; n],
        }
    }
}

impl<'a> Emitter<'a> {
    fn new(ir: &'a Ir) -> Self {
        let mut typedef_names = HashMap::default();
        for t in &ir.types {
            if let Type::Typedef { name, target } = t {
                let target = ir.resolve(*target);
                let anonymous = match ir.types.get(target.index()) {
                    Some(Type::Record(r)) => r.name.is_none() && !r.declaration,
                    Some(Type::Enum(en)) => en.name.is_none(),
                    _ => false,
                };
                if anonymous {
                    typedef_names.entry(target).or_insert(name.as_str());
                }
            }
        }
        Emitter {
            ir,
            names: vec![None; ir.types.len()],
            enum_names: HashMap::default(),
            typedef_names,
            warnings: Vec::new(),
        }
    }

    /// A record's or enum's own name, else its typedef's, else
    /// `<unnamed>_<origin>`; borrowed from the IR unless made up.
    fn given_name(
        &self,
        id: TypeId,
        name: &'a Option<String>,
        unnamed: &str,
        origin: u64,
    ) -> Cow<'a, str> {
        match (name, self.typedef_names.get(&id)) {
            (Some(n), _) => Cow::Borrowed(n),
            (None, Some(n)) => Cow::Borrowed(n),
            (None, None) => Cow::Owned(format!("{unnamed}_{origin:x}")),
        }
    }

    fn base_name(&self, id: TypeId, r: &'a Record) -> Cow<'a, str> {
        self.given_name(id, &r.name, "__unnamed", r.origin)
    }

    /// Assigns final names: identical definitions share one name; different
    /// definitions under one name get `@N` suffixes. Returns the records to
    /// emit (one representative per final name), sorted by name.
    fn name_records(&mut self) -> Vec<(Cow<'a, str>, TypeId)> {
        let ir = self.ir;
        // Definitions grouped by name, groups in order of first appearance:
        // (name, first definition, later ones). Most names have one
        // definition, which needs no structural comparison at all.
        let mut by_name: HashMap<Cow<'a, str>, usize> = HashMap::default();
        let mut groups: Vec<(Cow<'a, str>, TypeId, Vec<TypeId>)> = Vec::new();
        for (i, t) in ir.types.iter().enumerate() {
            let id = TypeId(i as u32);
            let Type::Record(r) = t else { continue };
            if r.declaration {
                continue;
            }
            match by_name.entry(self.base_name(id, r)) {
                std::collections::hash_map::Entry::Occupied(o) => groups[*o.get()].2.push(id),
                std::collections::hash_map::Entry::Vacant(v) => {
                    groups.push((v.key().clone(), id, Vec::new()));
                    v.insert(groups.len() - 1);
                }
            }
        }
        drop(by_name);
        let mut interner = None;
        let mut emitted = Vec::with_capacity(groups.len());
        for (name, first, more) in groups {
            if more.is_empty() {
                self.names[first.index()] = Some(name.clone());
                emitted.push((name, first));
                continue;
            }
            // Distinct shapes under this name, in input order: (shape, representative).
            let interner = interner.get_or_insert_with(|| Interner::new(ir.types.len()));
            let mut defs: Vec<(u32, TypeId)> = Vec::new();
            let mut shape_of: Vec<(TypeId, usize)> = Vec::with_capacity(more.len() + 1);
            for id in std::iter::once(first).chain(more) {
                let shape = self.shape(id, interner, 0);
                let n = match defs.iter().position(|(s, _)| *s == shape) {
                    Some(n) => n,
                    None => {
                        defs.push((shape, id));
                        defs.len() - 1
                    }
                };
                shape_of.push((id, n));
            }
            // The plain name goes to the most complete definition: most
            // members, then largest size, then the first in input order (a
            // header's stub such as winternl.h's `_PEB { Reserved1... }`
            // must not shadow the real `_PEB`); the others are `@2`, `@3`...
            // in that same order (docs/conventions.md).
            let completeness = |id: TypeId| match &ir.types[id.index()] {
                Type::Record(r) => (r.members.len(), r.size),
                _ => (0, 0),
            };
            let mut order: Vec<usize> = (0..defs.len()).collect();
            order.sort_by_key(|&n| (std::cmp::Reverse(completeness(defs[n].1)), n));
            let mut rank = vec![0; defs.len()];
            for (r, &n) in order.iter().enumerate() {
                rank[n] = r;
            }
            for (id, n) in shape_of {
                self.names[id.index()] = Some(if rank[n] == 0 {
                    name.clone()
                } else {
                    Cow::Owned(format!("{name}@{}", rank[n] + 1))
                });
            }
            let defs: Vec<(u32, TypeId)> = order.iter().map(|&n| defs[n]).collect();
            for (_, id) in &defs {
                if let Some(Some(n)) = self.names.get(id.index()) {
                    emitted.push((n.clone(), *id));
                }
            }
            if defs.len() > 1 && !name.starts_with("__unnamed_") {
                self.warnings.push(format!(
                    "{} different definitions of {name}: the most complete keeps the name, the others are {}",
                    defs.len(),
                    (2..=defs.len()).map(|n| format!("{name}@{n}")).collect::<Vec<_>>().join(", ")
                ));
            }
        }
        // Forward-declared records resolve to the name's first definition.
        for (i, t) in ir.types.iter().enumerate() {
            if let Type::Record(r) = t {
                if r.declaration {
                    self.names[i] = Some(self.base_name(TypeId(i as u32), r));
                }
            }
        }
        // One record per name; a name given twice (a record literally named
        // `X@2` meeting a renamed `X`) goes to the later one, as a map
        // filled in this order would have it.
        emitted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(Cow<'a, str>, TypeId)> = Vec::with_capacity(emitted.len());
        for (name, id) in emitted {
            match out.last_mut() {
                Some(last) if last.0 == name => last.1 = id,
                _ => out.push((name, id)),
            }
        }
        out
    }

    /// Interned structural identity of a record: two records with the same
    /// id are the same definition.
    fn shape(&self, id: TypeId, it: &mut Interner<'a>, depth: u32) -> u32 {
        if let Some(Some(s)) = it.shape_memo.get(id.index()) {
            return *s;
        }
        let Some(Type::Record(r)) = self.ir.types.get(id.index()) else {
            return u32::MAX;
        };
        let members = r
            .members
            .iter()
            .map(|m| {
                (
                    m.name.as_deref(),
                    m.offset,
                    m.bitfield.map(|b| (b.bit_offset, b.bit_size)),
                    self.type_key(m.ty, it, depth + 1),
                )
            })
            .collect();
        let shape = Shape {
            kind: r.kind as u8,
            size: r.size,
            members,
        };
        let next = it.shapes.len() as u32;
        let s = *it.shapes.entry(shape).or_insert(next);
        it.shape_memo[id.index()] = Some(s);
        s
    }

    /// Interned key of a member type: named things by name, anonymous
    /// records by their shape (bounded depth, so hostile cycles end).
    fn type_key(&self, id: TypeId, it: &mut Interner<'a>, depth: u32) -> u32 {
        let ir = self.ir;
        let id = ir.resolve(id);
        if let Some(Some(k)) = it.key_memo.get(id.index()) {
            return *k;
        }
        let key = if depth > 32 {
            Key::Deep
        } else {
            match ir.types.get(id.index()) {
                Some(Type::Record(r)) => {
                    match (r.name.as_deref(), self.typedef_names.get(&id).copied()) {
                        (Some(n), _) | (None, Some(n)) => Key::Name(n),
                        (None, None) => Key::Anon(self.shape(id, it, depth + 1)),
                    }
                }
                Some(Type::Pointer { target, size }) => {
                    let t = ir.resolve(*target);
                    let pointee = match ir.types.get(t.index()) {
                        Some(Type::Record(r)) => r.name.as_deref().unwrap_or("<anon>"),
                        Some(Type::Base { name, .. }) => name.as_str(),
                        Some(Type::Pointer { .. }) => "<ptr>",
                        Some(Type::Function) => "<fn>",
                        Some(Type::Enum(e)) => e.name.as_deref().unwrap_or("<enum>"),
                        _ => "<other>",
                    };
                    Key::Ptr(*size, pointee)
                }
                Some(Type::Array { element, count }) => {
                    Key::Arr(*count, self.type_key(*element, it, depth + 1))
                }
                Some(Type::Enum(e)) => Key::Enum(e.name.as_deref(), e.size),
                Some(Type::Base { name, .. }) => Key::Name(name.as_str()),
                Some(Type::Void) => Key::Misc(0),
                Some(Type::Function) => Key::Misc(1),
                Some(_) => Key::Misc(2),
                None => Key::Misc(3),
            }
        };
        let next = it.keys.len() as u32;
        let k = *it.keys.entry(key).or_insert(next);
        if let Some(slot) = it.key_memo.get_mut(id.index()) {
            *slot = Some(k);
        }
        k
    }

    /// `$STRUCTS` from the named records, and which of them are unions.
    /// `$STRUCTS` entries of `records` (in their order), and the names of
    /// those that are unions.
    fn structs(
        &self,
        records: &[(Cow<'a, str>, TypeId)],
        warnings: &mut Vec<String>,
    ) -> (Vec<(String, StructDef)>, Vec<String>) {
        let mut unions = Vec::new();
        let mut structs = Vec::with_capacity(records.len());
        for (name, id) in records {
            let Type::Record(r) = &self.ir.types[id.index()] else {
                continue;
            };
            if r.kind == crate::ir::RecordKind::Union {
                unions.push(name.to_string());
            }
            structs.push((name.to_string(), self.struct_def(r, warnings)));
        }
        (structs, unions)
    }

    fn struct_def(&self, r: &Record, warnings: &mut Vec<String>) -> StructDef {
        let mut fields = BTreeMap::new();
        let mut anon = 0;
        let mut lifted: Vec<(String, Field)> = Vec::new();
        for m in &r.members {
            let descriptor = match m.bitfield {
                Some(b) => self.bitfield(m.ty, b.bit_offset, b.bit_size),
                None => self.descriptor(m.ty, 0),
            };
            let name = match &m.name {
                Some(n) => n.clone(),
                None => {
                    anon += 1;
                    let mut budget = LIFT_BUDGET;
                    self.lift(m.ty, m.offset, &mut lifted, 0, &mut budget);
                    format!("u{anon}")
                }
            };
            let field = Field {
                offset: Some(m.offset),
                descriptor,
            };
            match fields.entry(name) {
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(field);
                }
                std::collections::btree_map::Entry::Occupied(o) => warnings.push(format!(
                    "duplicate member {} at offset {} dropped",
                    o.key(),
                    m.offset
                )),
            }
        }
        for (name, field) in lifted {
            fields.entry(name).or_insert(field);
        }
        StructDef {
            size: Some(r.size),
            fields,
        }
    }

    /// Collects the members of anonymous record `ty` (recursively through
    /// nested anonymous members) at absolute offsets.
    fn lift(
        &self,
        ty: TypeId,
        base: u64,
        out: &mut Vec<(String, Field)>,
        depth: u32,
        budget: &mut usize,
    ) {
        // Bounded in depth and in records visited, so hostile nesting
        // (anonymous records holding many anonymous members of each other)
        // cannot explode.
        if depth > 16 || *budget == 0 {
            return;
        }
        *budget -= 1;
        let id = self.ir.resolve(ty);
        let Some(Type::Record(r)) = self.ir.types.get(id.index()) else {
            return;
        };
        for m in &r.members {
            let offset = base.saturating_add(m.offset);
            match &m.name {
                Some(n) => {
                    let descriptor = match m.bitfield {
                        Some(b) => self.bitfield(m.ty, b.bit_offset, b.bit_size),
                        None => self.descriptor(m.ty, 0),
                    };
                    out.push((
                        n.clone(),
                        Field {
                            offset: Some(offset),
                            descriptor,
                        },
                    ));
                }
                None => self.lift(m.ty, offset, out, depth + 1, budget),
            }
        }
    }

    fn bitfield(&self, ty: TypeId, bit_offset: u32, bit_size: u32) -> Descriptor {
        let id = self.ir.resolve(ty);
        let bf = |target: Option<Box<Descriptor>>| Descriptor::BitField {
            start_bit: bit_offset,
            end_bit: bit_offset + bit_size,
            target,
        };
        match self.ir.types.get(id.index()) {
            // The storage unit of an enum bit field is the enum's own
            // integer: kept, so the enum's base type survives conversions.
            Some(Type::Enum(e)) => Descriptor::Enumeration {
                enum_name: Some(self.enum_name(id, e)),
                choices: None,
                target: Box::new(bf(Some(Box::new(Descriptor::named(integer_name(
                    e.size, e.signed,
                )))))),
            },
            _ => bf(Some(Box::new(self.descriptor(id, 0)))),
        }
    }

    fn enum_name(&self, id: TypeId, e: &'a crate::ir::Enum) -> String {
        match self.enum_names.get(&id) {
            Some(n) => n.to_string(),
            None => self.enum_base_name(id, e).into_owned(),
        }
    }

    fn enum_base_name(&self, id: TypeId, e: &'a crate::ir::Enum) -> Cow<'a, str> {
        self.given_name(id, &e.name, "__unnamed_enum", e.origin)
    }

    fn descriptor(&self, ty: TypeId, depth: u32) -> Descriptor {
        if depth > 64 {
            return Descriptor::Void;
        }
        let ir = self.ir;
        let id = ir.resolve(ty);
        match ir.types.get(id.index()) {
            None | Some(Type::Void) => Descriptor::Void,
            Some(Type::Base { name, .. }) => Descriptor::Named(name.clone()),
            Some(Type::Pointer { target, .. }) => {
                let t = ir.resolve(*target);
                let inner = match ir.types.get(t.index()) {
                    Some(Type::Function) => Descriptor::Function,
                    _ => self.descriptor(t, depth + 1),
                };
                Descriptor::pointer(inner)
            }
            Some(Type::Array { element, count }) => {
                if ir.conventions.string_arrays {
                    if let Some(Type::Base { name, size, .. }) =
                        ir.types.get(ir.resolve(*element).index())
                    {
                        match (name.as_str(), size) {
                            ("char", 1) => return Descriptor::String { length: *count },
                            ("wchar_t" | "unsigned short", 2) if name == "wchar_t" => {
                                return Descriptor::UnicodeString { length: count * 2 }
                            }
                            _ => {}
                        }
                    }
                }
                Descriptor::array(*count, self.descriptor(*element, depth + 1))
            }
            Some(Type::Record(r)) => Descriptor::Named(match self.names.get(id.index()) {
                Some(Some(n)) => n.to_string(),
                _ => self.base_name(id, r).into_owned(),
            }),
            Some(Type::Enum(e)) => {
                let target = integer_name(e.size, e.signed);
                Descriptor::Enumeration {
                    enum_name: Some(self.enum_name(id, e)),
                    choices: None,
                    target: Box::new(Descriptor::named(target)),
                }
            }
            Some(Type::Function) => Descriptor::Function,
            Some(Type::Unknown { what, .. }) => Descriptor::Other {
                class: what.clone(),
                args: None,
            },
            Some(Type::Typedef { .. } | Type::Qualified { .. }) => Descriptor::Void,
        }
    }

    /// The descriptors of the typed data symbols, by final name. A type
    /// that resolves to nothing usable (void, a type the reader could not
    /// decode, a struct only ever declared) leaves the symbol untyped, with
    /// one summary warning.
    fn symbol_types(
        &self,
        typed: &[(String, usize)],
        profile: &Profile,
        warnings: &mut Vec<String>,
    ) -> BTreeMap<String, Descriptor> {
        let ir = self.ir;
        let mut out = BTreeMap::new();
        let mut unresolved: Vec<&str> = Vec::new();
        for (name, index) in typed {
            let Some(ty) = ir.symbols.get(*index).and_then(|s| s.ty) else {
                continue;
            };
            let usable = match ir.types.get(ir.resolve(ty).index()) {
                None | Some(Type::Void | Type::Unknown { .. } | Type::Function) => false,
                Some(Type::Record(_)) => {
                    let d = self.descriptor(ty, 0);
                    d.as_named()
                        .is_some_and(|n| profile.structs.contains_key(n))
                }
                Some(_) => true,
            };
            if usable {
                out.insert(name.clone(), self.descriptor(ty, 0));
            } else {
                unresolved.push(name);
            }
        }
        if !unresolved.is_empty() {
            unresolved.sort_unstable();
            let shown: Vec<&str> = unresolved.iter().take(5).copied().collect();
            warnings.push(format!(
                "{} data symbols have a type that cannot be resolved (void, undecodable, or a struct \
                 without a definition) and are left untyped: {}{}",
                unresolved.len(),
                shown.join(", "),
                if unresolved.len() > shown.len() { ", ..." } else { "" }
            ));
        }
        out
    }

    /// Like records: identical enums share a name, different enums under
    /// one name are kept apart as `NAME@2`, ...; an enum without
    /// enumerators (a forward declaration) takes the first definition.
    /// Returns the final names and the warnings.
    fn name_enums(&self) -> (HashMap<TypeId, Cow<'a, str>>, Vec<String>) {
        let ir = self.ir;
        let mut names = HashMap::default();
        let mut by_name: HashMap<Cow<'a, str>, Vec<ChoicesKey<'a>>> = HashMap::default();
        for (i, t) in ir.types.iter().enumerate() {
            let Type::Enum(e) = t else { continue };
            let id = TypeId(i as u32);
            let name = self.enum_base_name(id, e);
            if e.values.is_empty() {
                names.insert(id, name);
                continue;
            }
            let key = choices_key(e);
            let defs = by_name.entry(name.clone()).or_default();
            let n = match defs.iter().position(|d| *d == key) {
                Some(n) => n,
                None => {
                    defs.push(key);
                    defs.len() - 1
                }
            };
            names.insert(
                id,
                if n == 0 {
                    name
                } else {
                    Cow::Owned(format!("{name}@{}", n + 1))
                },
            );
        }
        let mut renamed: Vec<_> = by_name.iter().filter(|(_, d)| d.len() > 1).collect();
        renamed.sort_by(|a, b| a.0.cmp(b.0));
        let warnings = renamed
            .into_iter()
            .map(|(name, defs)| {
                format!(
                    "{} different definitions of enum {name}: the first keeps the name, the others are {}",
                    defs.len(),
                    (2..=defs.len()).map(|n| format!("{name}@{n}")).collect::<Vec<_>>().join(", ")
                )
            })
            .collect();
        (names, warnings)
    }
}

/// `$ENUMS`: one entry per final enum name, from the first enum of that
/// name with enumerators (a forward declaration without enumerators never
/// replaces a definition).
fn enums(ir: &Ir, names: &HashMap<TypeId, Cow<'_, str>>) -> BTreeMap<String, EnumChoicesKey> {
    // (final name, has enumerators, type id), best first per name.
    let mut list: Vec<(&str, bool, usize)> = names
        .iter()
        .filter_map(|(id, name)| match ir.types.get(id.index()) {
            Some(Type::Enum(e)) => Some((name.as_ref(), !e.values.is_empty(), id.index())),
            _ => None,
        })
        .collect();
    list.sort_unstable_by(|a, b| a.0.cmp(b.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
    list.dedup_by(|later, first| later.0 == first.0);
    list.into_iter()
        .filter_map(|(name, _, i)| match &ir.types[i] {
            Type::Enum(e) => Some((name.to_owned(), enum_choices(e))),
            _ => None,
        })
        .collect()
}

type EnumChoicesKey = BTreeMap<i128, String>;

/// An enum's value -> name map, borrowed and sorted by value: equal keys,
/// equal `$ENUMS` entries.
type ChoicesKey<'a> = Vec<(i128, &'a str)>;

/// Value -> name, sorted by value; the first enumerator of a value wins.
fn choices_key(e: &crate::ir::Enum) -> ChoicesKey<'_> {
    let mut v: Vec<(i128, &str)> = e.values.iter().map(|(n, v)| (*v, n.as_str())).collect();
    // Stable: enumerators of one value stay in declaration order.
    v.sort_by_key(|(value, _)| *value);
    v.dedup_by_key(|(value, _)| *value);
    v
}

/// Value -> name; the first enumerator of a value wins.
fn enum_choices(e: &crate::ir::Enum) -> EnumChoicesKey {
    choices_key(e)
        .into_iter()
        .map(|(v, n)| (v, n.to_owned()))
        .collect()
}

/// Records visited when lifting the members of one anonymous member.
const LIFT_BUDGET: usize = 4096;

/// Rekall's native name of an integer of `size` bytes.
pub fn integer_name(size: u64, signed: bool) -> &'static str {
    match (size, signed) {
        (1, true) => "signed char",
        (1, false) => "unsigned char",
        (2, true) => "short",
        (2, false) => "unsigned short",
        (8, true) => "long long",
        (8, false) => "unsigned long long",
        (_, true) => "int",
        (_, false) => "unsigned int",
    }
}

/// `$CONSTANTS` and `$FUNCTIONS`; duplicate names get `_1`, `_2`... in
/// address order (the lowest address keeps the plain name).
/// The typed symbols' final names, with their indices in the symbol list.
type TypedNames = Vec<(String, usize)>;

fn symbols_of(
    symbols: &[crate::ir::Symbol],
    mask48: bool,
) -> (BTreeMap<String, u64>, BTreeMap<String, u64>, TypedNames) {
    // Sorted by (kind, name, address), most comparisons settled by a key
    // of the kind and the name's first 15 bytes (names share long prefixes
    // less often than not; ties fall back to the full comparison).
    let mut keyed: Vec<(u128, usize, &crate::ir::Symbol)> = symbols
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut prefix = [0u8; 16];
            prefix[0] = s.kind as u8;
            let n = s.name.len().min(15);
            prefix[1..=n].copy_from_slice(&s.name.as_bytes()[..n]);
            (u128::from_be_bytes(prefix), i, s)
        })
        .collect();
    keyed.sort_unstable_by(|(ka, _, a), (kb, _, b)| {
        ka.cmp(kb)
            .then_with(|| (&a.name, a.address).cmp(&(&b.name, b.address)))
            // Of duplicates, a typed one is kept.
            .then_with(|| b.ty.is_some().cmp(&a.ty.is_some()))
    });
    keyed.dedup_by(|(_, _, a), (_, _, b)| {
        a.kind == b.kind && a.name == b.name && a.address == b.address
    });
    let indices: Vec<usize> = keyed.iter().map(|(_, i, _)| *i).collect();
    let sorted: Vec<&crate::ir::Symbol> = keyed.into_iter().map(|(_, _, s)| s).collect();
    let split = sorted.partition_point(|s| s.kind == SymbolKind::Data);
    let mask = |address: u64| {
        if mask48 {
            address & ((1 << 48) - 1)
        } else {
            address
        }
    };
    let mut typed = Vec::new();
    let constants = symbol_section(
        &sorted[..split],
        mask,
        Some((&indices[..split], &mut typed)),
    );
    let functions = symbol_section(&sorted[split..], mask, None);
    (constants, functions, typed)
}

/// One symbol section from symbols sorted by name, then address. Names are
/// given in that order, first come first served: a suffixed name that is
/// taken (by a real symbol or another suffixed name) gets more `_`s, and so
/// does a real symbol whose name a suffixed one took before it.
fn symbol_section(
    sorted: &[&crate::ir::Symbol],
    mask: impl Fn(u64) -> u64,
    mut typed: Option<(&[usize], &mut TypedNames)>,
) -> BTreeMap<String, u64> {
    let mut out: Vec<(String, u64)> = Vec::with_capacity(sorted.len());
    // The names given other than as a symbol's own name (usually few). A
    // group's candidates (`NAME_1`, `NAME_1_`, ...) sort after every own
    // name given before them, so only these can be in their way; and an
    // own name can only meet one of these (own names are distinct).
    let mut extra: rustc_hash::FxHashSet<String> = Default::default();
    let mut at = 0usize;
    for group in sorted.chunk_by(|a, b| a.name == b.name) {
        for (n, s) in group.iter().enumerate() {
            let position = at;
            at += 1;
            let address = mask(s.address);
            if n == 0 && (extra.is_empty() || !extra.contains(s.name.as_str())) {
                if let (Some((indices, names)), Some(_)) = (typed.as_mut(), s.ty) {
                    names.push((s.name.clone(), indices[position]));
                }
                out.push((s.name.clone(), address));
                continue;
            }
            let mut name = if n == 0 {
                s.name.clone()
            } else {
                format!("{}_{n}", s.name)
            };
            while extra.contains(&name) {
                name.push('_');
            }
            extra.insert(name.clone());
            if let (Some((indices, names)), Some(_)) = (typed.as_mut(), s.ty) {
                names.push((name.clone(), indices[position]));
            }
            out.push((name, address));
        }
    }
    // Sorted but for the suffixed names: a linear sort and a bulk build.
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{BitField, Conventions, Enum, Member, RecordKind, Symbol};

    fn base(ir: &mut Ir, name: &str, size: u64) -> TypeId {
        ir.push(Type::Base {
            name: name.into(),
            size,
            signed: false,
        })
    }

    fn record(name: Option<&str>, size: u64, members: Vec<Member>, origin: u64) -> Type {
        Type::Record(Record {
            kind: RecordKind::Struct,
            name: name.map(str::to_owned),
            size,
            members,
            declaration: false,
            origin,
        })
    }

    fn member(name: Option<&str>, offset: u64, ty: TypeId) -> Member {
        Member {
            name: name.map(str::to_owned),
            offset,
            ty,
            bitfield: None,
        }
    }

    #[test]
    fn identical_definitions_merge_and_different_ones_are_kept_apart() {
        let mut ir = Ir::default();
        let int = base(&mut ir, "int", 4);
        let long = base(&mut ir, "long long", 8);
        ir.push(record(Some("slot"), 4, vec![member(Some("a"), 0, int)], 1));
        ir.push(record(Some("slot"), 4, vec![member(Some("a"), 0, int)], 2));
        let other = ir.push(record(Some("slot"), 8, vec![member(Some("b"), 0, long)], 3));
        ir.push(record(
            Some("user"),
            8,
            vec![member(Some("s"), 0, other)],
            4,
        ));
        let e = emit(&ir, EmitOptions::default());
        let p = &e.profile;
        // Same member count: the larger definition keeps the name.
        assert_eq!(p.structs["slot"].size, Some(8));
        assert_eq!(p.structs["slot@2"].size, Some(4));
        assert_eq!(p.structs.len(), 3);
        // The user of the larger definition points at the plain name.
        assert_eq!(
            p.structs["user"].fields["s"].descriptor,
            Descriptor::named("slot")
        );
        assert!(
            e.warnings.iter().any(|w| w.contains("slot@2")),
            "{:?}",
            e.warnings
        );
    }

    #[test]
    fn the_plain_name_goes_to_the_most_complete_definition() {
        // winternl.h's stub `_PEB` (a few `Reserved` members) comes first in
        // the input, the real one (more members, larger) after it.
        let mut ir = Ir::default();
        let int = base(&mut ir, "int", 4);
        let stub = ir.push(record(
            Some("_PEB"),
            16,
            vec![
                member(Some("Reserved1"), 0, int),
                member(Some("Ldr"), 8, int),
            ],
            1,
        ));
        let real = ir.push(record(
            Some("_PEB"),
            12,
            vec![
                member(Some("InheritedAddressSpace"), 0, int),
                member(Some("BeingDebugged"), 4, int),
                member(Some("Ldr"), 8, int),
            ],
            2,
        ));
        ir.push(record(Some("a"), 4, vec![member(Some("p"), 0, stub)], 3));
        ir.push(record(Some("b"), 4, vec![member(Some("p"), 0, real)], 4));
        let e = emit(&ir, EmitOptions::default());
        let p = &e.profile;
        assert!(p.structs["_PEB"].fields.contains_key("BeingDebugged"));
        assert!(p.structs["_PEB@2"].fields.contains_key("Reserved1"));
        assert_eq!(
            p.structs["a"].fields["p"].descriptor,
            Descriptor::named("_PEB@2")
        );
        assert_eq!(
            p.structs["b"].fields["p"].descriptor,
            Descriptor::named("_PEB")
        );
    }

    #[test]
    fn anonymous_members_are_named_and_lifted() {
        let mut ir = Ir::default();
        let int = base(&mut ir, "int", 4);
        let inner = ir.push(record(
            None,
            4,
            vec![member(Some("x"), 0, int), member(Some("y"), 0, int)],
            0x42,
        ));
        ir.push(record(
            Some("outer"),
            8,
            vec![member(Some("a"), 0, int), member(None, 4, inner)],
            1,
        ));
        let p = emit(&ir, EmitOptions::default()).profile;
        let outer = &p.structs["outer"];
        assert_eq!(
            outer.fields["u1"].descriptor,
            Descriptor::named("__unnamed_42")
        );
        assert_eq!(outer.fields["u1"].offset, Some(4));
        assert_eq!(outer.fields["x"].offset, Some(4));
        assert_eq!(outer.fields["y"].offset, Some(4));
        assert!(p.structs.contains_key("__unnamed_42"));
    }

    #[test]
    fn typedef_names_anonymous_records_and_descriptors_resolve() {
        let mut ir = Ir::default();
        let int = base(&mut ir, "unsigned int", 4);
        let anon = ir.push(record(None, 8, vec![member(Some("sig"), 0, int)], 7));
        let td = ir.push(Type::Typedef {
            name: "sigset_t".into(),
            target: anon,
        });
        let konst = ir.push(Type::Qualified { target: td });
        let ptr = ir.push(Type::Pointer {
            target: konst,
            size: 8,
        });
        let func = ir.push(Type::Function);
        let fptr = ir.push(Type::Pointer {
            target: func,
            size: 8,
        });
        let arr = ir.push(Type::Array {
            element: int,
            count: 3,
        });
        let arr2 = ir.push(Type::Array {
            element: arr,
            count: 2,
        });
        let en = ir.push(Type::Enum(Enum {
            name: Some("color".into()),
            size: 4,
            signed: true,
            values: vec![("RED".into(), -1), ("BLUE".into(), 5)],
            origin: 9,
        }));
        ir.push(record(
            Some("t"),
            64,
            vec![
                member(Some("p"), 0, ptr),
                member(Some("f"), 8, fptr),
                member(Some("a"), 16, arr2),
                member(Some("e"), 40, en),
                Member {
                    name: Some("bits".into()),
                    offset: 44,
                    ty: int,
                    bitfield: Some(BitField {
                        bit_offset: 3,
                        bit_size: 4,
                    }),
                },
            ],
            2,
        ));
        ir.symbols.push(Symbol {
            name: "dup".into(),
            address: 0x20,
            kind: SymbolKind::Data,
            ty: None,
        });
        ir.symbols.push(Symbol {
            name: "dup".into(),
            address: 0x10,
            kind: SymbolKind::Data,
            ty: None,
        });
        ir.symbols.push(Symbol {
            name: "f".into(),
            address: 0xffff_ffff_8100_0000,
            kind: SymbolKind::Function,
            ty: None,
        });
        ir.conventions = Conventions {
            string_arrays: false,
            mask48: true,
        };
        let p = emit(&ir, EmitOptions::default()).profile;
        let t = &p.structs["t"].fields;
        assert_eq!(
            t["p"].descriptor,
            Descriptor::pointer(Descriptor::named("sigset_t"))
        );
        assert_eq!(t["f"].descriptor, Descriptor::pointer(Descriptor::Function));
        assert_eq!(
            t["a"].descriptor,
            Descriptor::array(2, Descriptor::array(3, Descriptor::named("unsigned int")))
        );
        assert_eq!(
            t["bits"].descriptor,
            Descriptor::BitField {
                start_bit: 3,
                end_bit: 7,
                target: Some(Box::new(Descriptor::named("unsigned int")))
            }
        );
        assert!(
            matches!(&t["e"].descriptor, Descriptor::Enumeration { enum_name: Some(n), .. } if n == "color")
        );
        assert_eq!(p.enums["color"][&-1], "RED");
        assert_eq!(p.revenums.as_ref().unwrap()["color"]["BLUE"], 5);
        assert!(p.structs.contains_key("sigset_t"));
        assert_eq!(p.constants["dup"], 0x10);
        assert_eq!(p.constants["dup_1"], 0x20);
        assert_eq!(p.functions["f"], 0xffff_8100_0000);
        let concise = emit(&ir, EmitOptions { concise: true }).profile;
        assert!(concise.revenums.is_none());
    }

    /// The naming rule as first written (a map filled in order, every name
    /// checked against it): the reference for the faster `symbol_section`.
    fn reference_section(sorted: &[&Symbol]) -> BTreeMap<String, u64> {
        let mut map = BTreeMap::new();
        for group in sorted.chunk_by(|a, b| a.name == b.name) {
            for (n, s) in group.iter().enumerate() {
                let mut name = if n == 0 {
                    s.name.clone()
                } else {
                    format!("{}_{n}", s.name)
                };
                while map.contains_key(&name) {
                    name.push('_');
                }
                map.insert(name, s.address);
            }
        }
        map
    }

    #[test]
    fn suffixed_symbol_names_follow_first_come_first_served() {
        // Names built to collide: `a` twice gives `a_1`, which is also a real
        // symbol (renamed `a_1_`), which is also real, and so on.
        let pool = [
            "a", "a_1", "a_1_", "a_1__", "a_2", "a__", "a_", "b", "b_1", "b_1_1", "c",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for round in 0..300 {
            let mut syms = Vec::new();
            for i in 0..(round % 40 + 1) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                syms.push(Symbol {
                    name: pool[(seed % pool.len() as u64) as usize].to_string(),
                    address: (seed >> 8) % 64 + i,
                    kind: SymbolKind::Data,
                    ty: None,
                });
            }
            let mut sorted: Vec<&Symbol> = syms.iter().collect();
            sorted.sort_by(|a, b| (&a.name, a.address).cmp(&(&b.name, b.address)));
            sorted.dedup_by(|a, b| a.name == b.name && a.address == b.address);
            assert_eq!(
                symbol_section(&sorted, |a| a, None),
                reference_section(&sorted),
                "round {round}: {:?}",
                sorted
                    .iter()
                    .map(|s| (&s.name, s.address))
                    .collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn symbol_sections_built_ahead_give_the_same_profile() {
        let mut ir = Ir::default();
        for (i, name) in ["b", "a", "b", "c_1", "c", "c"].iter().enumerate() {
            ir.symbols.push(Symbol {
                name: (*name).into(),
                address: 0xffff_8000_0000_0000 + (i as u64) * 16,
                kind: if i == 0 {
                    SymbolKind::Function
                } else {
                    SymbolKind::Data
                },
                ty: None,
            });
        }
        ir.conventions.mask48 = true;
        let serial = emit(&ir, EmitOptions::default()).profile;
        let ahead = symbol_sections(&ir.symbols, true);
        let piped = emit_with(&ir, EmitOptions::default(), Some(ahead)).profile;
        assert_eq!(piped.to_canonical_json(), serial.to_canonical_json());
        // The suffixed `c_1` came first: the real `c_1` moves aside.
        assert_eq!(serial.constants["c_1"], 0x8000_0000_0050);
        assert_eq!(serial.constants["c_1_"], 0x8000_0000_0030);
        // Sections built with another mask than the IR's are built again.
        let unmasked = symbol_sections(&ir.symbols, false);
        assert_eq!(unmasked.functions["b"], 0xffff_8000_0000_0000);
        let rebuilt = emit_with(&ir, EmitOptions::default(), Some(unmasked)).profile;
        assert_eq!(rebuilt.functions["b"], 0x8000_0000_0000);
    }

    #[test]
    fn cyclic_typedefs_from_hostile_input_terminate() {
        let mut ir = Ir::default();
        // Typedef 0 -> 1 -> 0.
        ir.push(Type::Typedef {
            name: "a".into(),
            target: TypeId(1),
        });
        ir.push(Type::Typedef {
            name: "b".into(),
            target: TypeId(0),
        });
        let dangling = ir.push(Type::Pointer {
            target: TypeId(999),
            size: 8,
        });
        ir.push(record(
            Some("s"),
            16,
            vec![
                member(Some("x"), 0, TypeId(0)),
                member(Some("y"), 8, dangling),
            ],
            1,
        ));
        let p = emit(&ir, EmitOptions::default()).profile;
        assert!(p.structs.contains_key("s"));
    }
}
