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

use std::collections::{BTreeMap, HashMap};

use profile_runtime::{Descriptor, Field, Profile, StructDef};
use serde_json::Value;

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
}

/// Builds the profile for `ir`.
pub fn emit(ir: &Ir, options: EmitOptions) -> Emitted {
    let mut e = Emitter::new(ir);
    e.name_records();
    let mut profile = Profile::new();
    for (k, v) in &ir.metadata {
        profile.metadata.insert(k.clone(), v.clone());
    }
    profile.config = ir.config.clone();
    e.structs(&mut profile);
    e.enums(&mut profile);
    if !options.concise {
        profile.derive_revenums();
    }
    symbols(ir, &mut profile);
    let mut warnings = ir.warnings.clone();
    warnings.append(&mut e.warnings);
    Emitted { profile, warnings }
}

struct Emitter<'a> {
    ir: &'a Ir,
    /// Final name of each record / enum type id that is emitted.
    names: HashMap<TypeId, String>,
    /// Canonical representative of each emitted record name.
    emitted: BTreeMap<String, TypeId>,
    /// Typedef names of anonymous records/enums (first typedef wins).
    typedef_names: HashMap<TypeId, String>,
    warnings: Vec<String>,
}

/// Structural identity of a record: what makes two definitions "the same".
type Shape = (
    u8,
    u64,
    Vec<(Option<String>, u64, Option<(u32, u32)>, String)>,
);

impl<'a> Emitter<'a> {
    fn new(ir: &'a Ir) -> Self {
        let mut typedef_names = HashMap::new();
        for t in &ir.types {
            if let Type::Typedef { name, target } = t {
                let target = ir.resolve(*target);
                let anonymous = match ir.types.get(target.index()) {
                    Some(Type::Record(r)) => r.name.is_none() && !r.declaration,
                    Some(Type::Enum(en)) => en.name.is_none(),
                    _ => false,
                };
                if anonymous {
                    typedef_names.entry(target).or_insert_with(|| name.clone());
                }
            }
        }
        Emitter {
            ir,
            names: HashMap::new(),
            emitted: BTreeMap::new(),
            typedef_names,
            warnings: Vec::new(),
        }
    }

    fn base_name(&self, id: TypeId, r: &Record) -> String {
        r.name
            .clone()
            .or_else(|| self.typedef_names.get(&id).cloned())
            .unwrap_or_else(|| format!("__unnamed_{:x}", r.origin))
    }

    /// Assigns final names: identical definitions share one name; different
    /// definitions under one name get `@N` suffixes.
    fn name_records(&mut self) {
        let ir = self.ir;
        // Name -> list of (shape, representative id).
        let mut by_name: BTreeMap<String, Vec<(Shape, TypeId)>> = BTreeMap::new();
        let mut order: Vec<String> = Vec::new();
        let mut shapes: HashMap<TypeId, Shape> = HashMap::new();
        for (i, t) in ir.types.iter().enumerate() {
            let id = TypeId(i as u32);
            let Type::Record(r) = t else { continue };
            if r.declaration {
                continue;
            }
            let name = self.base_name(id, r);
            let shape = self.shape(id, &mut shapes, 0);
            let defs = by_name.entry(name.clone()).or_insert_with(|| {
                order.push(name.clone());
                Vec::new()
            });
            let n = match defs.iter().position(|(s, _)| *s == shape) {
                Some(n) => n,
                None => {
                    defs.push((shape, id));
                    defs.len() - 1
                }
            };
            let final_name = if n == 0 {
                name.clone()
            } else {
                format!("{name}@{}", n + 1)
            };
            self.names.insert(id, final_name);
        }
        for name in order {
            let defs = &by_name[&name];
            for (n, (_, id)) in defs.iter().enumerate() {
                let final_name = if n == 0 {
                    name.clone()
                } else {
                    format!("{name}@{}", n + 1)
                };
                self.emitted.insert(final_name, *id);
            }
            if defs.len() > 1 && !name.starts_with("__unnamed_") {
                self.warnings.push(format!(
                    "{} different definitions of {name}: the first keeps the name, the others are {}",
                    defs.len(),
                    (2..=defs.len()).map(|n| format!("{name}@{n}")).collect::<Vec<_>>().join(", ")
                ));
            }
        }
        // Forward-declared records resolve to the name's first definition.
        for (i, t) in ir.types.iter().enumerate() {
            if let Type::Record(r) = t {
                if r.declaration {
                    let name = self.base_name(TypeId(i as u32), r);
                    self.names.insert(TypeId(i as u32), name);
                }
            }
        }
    }

    /// Structural key of a type, for deciding whether two records are the same.
    fn shape(&self, id: TypeId, memo: &mut HashMap<TypeId, Shape>, depth: u32) -> Shape {
        if let Some(s) = memo.get(&id) {
            return s.clone();
        }
        let Some(Type::Record(r)) = self.ir.types.get(id.index()) else {
            return (0, 0, Vec::new());
        };
        let kind = r.kind as u8;
        // A placeholder while this record's members are keyed: a record that
        // (through hostile input) contains itself ends here instead of looping.
        memo.insert(id, (kind, r.size, Vec::new()));
        let members = r
            .members
            .iter()
            .map(|m| {
                (
                    m.name.clone(),
                    m.offset,
                    m.bitfield.map(|b| (b.bit_offset, b.bit_size)),
                    self.type_key(m.ty, memo, depth + 1),
                )
            })
            .collect();
        let s = (kind, r.size, members);
        memo.insert(id, s.clone());
        s
    }

    /// A string key for a member type: named things by name, anonymous
    /// records by their shape (bounded depth, so hostile cycles end).
    fn type_key(&self, id: TypeId, memo: &mut HashMap<TypeId, Shape>, depth: u32) -> String {
        if depth > 32 {
            return "<deep>".into();
        }
        let ir = self.ir;
        let id = ir.resolve(id);
        match ir.types.get(id.index()) {
            Some(Type::Record(r)) => match &r.name {
                Some(n) => n.clone(),
                None => match self.typedef_names.get(&id) {
                    Some(n) => n.clone(),
                    // A fixed-size digest of the shape: nested anonymous
                    // records would otherwise make keys grow exponentially.
                    None => format!("anon:{:016x}", digest(&self.shape(id, memo, depth + 1))),
                },
            },
            Some(Type::Pointer { target, size }) => format!("*{size}{}", self.pointer_key(*target)),
            Some(Type::Array { element, count }) => {
                format!("[{count}]{}", self.type_key(*element, memo, depth + 1))
            }
            Some(Type::Enum(e)) => format!("enum {:?} {}", e.name, e.size),
            Some(Type::Base { name, .. }) => name.clone(),
            Some(other) => format!("{other:?}"),
            None => "?".into(),
        }
    }

    /// Pointers compare by the pointee's name only (pointers may be cyclic).
    fn pointer_key(&self, id: TypeId) -> String {
        let id = self.ir.resolve(id);
        match self.ir.types.get(id.index()) {
            Some(Type::Record(r)) => r.name.clone().unwrap_or_else(|| "anon".into()),
            Some(Type::Base { name, .. }) => name.clone(),
            Some(Type::Pointer { .. }) => "ptr".into(),
            Some(t) => format!("{}", std::mem::discriminant(t).hash_key()),
            None => "?".into(),
        }
    }

    fn structs(&mut self, profile: &mut Profile) {
        let emitted: Vec<(String, TypeId)> =
            self.emitted.iter().map(|(k, v)| (k.clone(), *v)).collect();
        for (name, id) in emitted {
            let Type::Record(r) = &self.ir.types[id.index()] else {
                continue;
            };
            let def = self.struct_def(r);
            profile.structs.insert(name, def);
        }
    }

    fn struct_def(&mut self, r: &Record) -> StructDef {
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
            if fields.contains_key(&name) {
                self.warnings.push(format!(
                    "duplicate member {name} at offset {} dropped",
                    m.offset
                ));
                continue;
            }
            fields.insert(name, field);
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
        &mut self,
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

    fn bitfield(&mut self, ty: TypeId, bit_offset: u32, bit_size: u32) -> Descriptor {
        let id = self.ir.resolve(ty);
        let bf = |target: Option<Box<Descriptor>>| Descriptor::BitField {
            start_bit: bit_offset,
            end_bit: bit_offset + bit_size,
            target,
        };
        match self.ir.types.get(id.index()) {
            Some(Type::Enum(e)) => Descriptor::Enumeration {
                enum_name: Some(self.enum_name(id, e)),
                choices: None,
                target: Box::new(bf(None)),
            },
            _ => bf(Some(Box::new(self.descriptor(id, 0)))),
        }
    }

    fn enum_name(&self, id: TypeId, e: &crate::ir::Enum) -> String {
        e.name
            .clone()
            .or_else(|| self.typedef_names.get(&id).cloned())
            .unwrap_or_else(|| format!("__unnamed_enum_{:x}", e.origin))
    }

    fn descriptor(&mut self, ty: TypeId, depth: u32) -> Descriptor {
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
            Some(Type::Record(r)) => {
                let name = self
                    .names
                    .get(&id)
                    .cloned()
                    .unwrap_or_else(|| self.base_name(id, r));
                Descriptor::Named(name)
            }
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

    fn enums(&mut self, profile: &mut Profile) {
        let ir = self.ir;
        for (i, t) in ir.types.iter().enumerate() {
            let Type::Enum(e) = t else { continue };
            let name = self.enum_name(TypeId(i as u32), e);
            let choices: BTreeMap<i128, String> = e
                .values
                .iter()
                .rev() // the first enumerator of a value wins
                .map(|(n, v)| (*v, n.clone()))
                .collect();
            match profile.enums.get(&name) {
                Some(existing) if *existing != choices && !e.values.is_empty() => {
                    if existing.is_empty() {
                        profile.enums.insert(name, choices);
                    } else {
                        self.warnings.push(format!(
                            "enum {name} has different definitions; the first is kept"
                        ));
                    }
                }
                Some(_) => {}
                None => {
                    profile.enums.insert(name, choices);
                }
            }
        }
    }
}

/// Records visited when lifting the members of one anonymous member.
const LIFT_BUDGET: usize = 4096;

/// A 64-bit digest of a record shape.
fn digest(shape: &Shape) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    shape.hash(&mut h);
    h.finish()
}

trait HashKey {
    fn hash_key(&self) -> u64;
}

impl<T> HashKey for std::mem::Discriminant<T> {
    fn hash_key(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.hash(&mut h);
        h.finish()
    }
}

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
fn symbols(ir: &Ir, profile: &mut Profile) {
    let mut sorted: Vec<_> = ir.symbols.iter().collect();
    sorted.sort_by(|a, b| (a.kind, &a.name, a.address).cmp(&(b.kind, &b.name, b.address)));
    sorted.dedup_by(|a, b| a.kind == b.kind && a.name == b.name && a.address == b.address);
    for kind in [SymbolKind::Data, SymbolKind::Function] {
        let map = match kind {
            SymbolKind::Data => &mut profile.constants,
            SymbolKind::Function => &mut profile.functions,
        };
        let mut i = 0;
        let list: Vec<_> = sorted.iter().filter(|s| s.kind == kind).collect();
        while i < list.len() {
            let mut j = i + 1;
            while j < list.len() && list[j].name == list[i].name {
                j += 1;
            }
            for (n, s) in list[i..j].iter().enumerate() {
                let mut name = if n == 0 {
                    s.name.clone()
                } else {
                    format!("{}_{n}", s.name)
                };
                // A suffixed name may clash with a real symbol: keep suffixing.
                while map.contains_key(&name) {
                    name.push('_');
                }
                let address = if ir.conventions.mask48 {
                    s.address & ((1 << 48) - 1)
                } else {
                    s.address
                };
                map.insert(name, address);
            }
            i = j;
        }
    }
}

/// Converts a metadata string.
pub fn meta(s: impl Into<String>) -> Value {
    Value::String(s.into())
}
