//! The intermediate representation every input reader fills and the emitter
//! consumes.
//!
//! Types live in one arena ([`Ir::types`]) and refer to each other by
//! [`TypeId`]. Readers resolve their own format's quirks (PDB type indices,
//! DWARF DIE references, relocations) and hand over plain facts: sizes in
//! bytes, member offsets in bytes, bit fields as (storage unit, first bit,
//! bit count). Naming anonymous types, merging identical definitions, keeping
//! different same-name definitions apart and Rekall's conventions are the
//! emitter's job (`crate::emit`), so every reader gets them alike.

use std::collections::BTreeMap;

use serde_json::Value;

/// Index of a type in [`Ir::types`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TypeId(pub u32);

impl TypeId {
    /// The arena index.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// struct, union or class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// `struct`
    Struct,
    /// `union`
    Union,
    /// C++ `class`
    Class,
}

/// A bit field's place inside its storage unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BitField {
    /// First bit within the storage unit that starts at the member's byte
    /// offset, counted from the least significant bit.
    pub bit_offset: u32,
    /// Number of bits.
    pub bit_size: u32,
}

impl BitField {
    /// Places a bit field given by its absolute bit offset from the start
    /// of the record (DWARF 4+ `DW_AT_data_bit_offset`, BTF) in a storage
    /// unit of `unit_size` bytes: the unit aligned to its own size when the
    /// field fits in it, else the byte holding the first bit. Returns the
    /// unit's byte offset and the field's place in it.
    pub fn from_absolute(bit_offset: u64, bit_size: u32, unit_size: u64) -> (u64, BitField) {
        let unit_bits = unit_size.clamp(1, 16) * 8;
        let unit_start = bit_offset / unit_bits * unit_bits;
        let within = bit_offset - unit_start;
        if within + u64::from(bit_size) <= unit_bits {
            (
                unit_start / 8,
                BitField {
                    bit_offset: within as u32,
                    bit_size,
                },
            )
        } else {
            (
                bit_offset / 8,
                BitField {
                    bit_offset: (bit_offset % 8) as u32,
                    bit_size,
                },
            )
        }
    }
}

/// A data member of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member's name; `None` for an anonymous struct/union member.
    pub name: Option<String>,
    /// Byte offset from the start of the record (of the storage unit, for a bit field).
    pub offset: u64,
    /// The member's type (the storage unit's type, for a bit field).
    pub ty: TypeId,
    /// Present for bit fields.
    pub bitfield: Option<BitField>,
}

/// A struct, union or class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// struct, union or class.
    pub kind: RecordKind,
    /// The name as the compiler recorded it; `None` (or a compiler placeholder
    /// such as `<unnamed-tag>`, which the reader turns into `None`) for anonymous types.
    pub name: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// Data members in declaration order (C++ base classes included, as
    /// members named by the reader).
    pub members: Vec<Member>,
    /// A forward declaration with no definition.
    pub declaration: bool,
    /// A deterministic token identifying this definition in its input (a PDB
    /// type index, a DWARF DIE offset), used to name anonymous types.
    pub origin: u64,
}

/// An enumeration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enum {
    /// The enum's name; `None` when anonymous.
    pub name: Option<String>,
    /// Size in bytes of the underlying integer.
    pub size: u64,
    /// Whether the underlying integer is signed.
    pub signed: bool,
    /// Enumerators in declaration order.
    pub values: Vec<(String, i128)>,
    /// See [`Record::origin`].
    pub origin: u64,
}

/// One type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    /// `void`.
    Void,
    /// A base (native) type under the name profiles use for it (`unsigned
    /// long`, `long unsigned int`, `char`, `double`, `bool`...).
    Base {
        /// Native name.
        name: String,
        /// Size in bytes.
        size: u64,
        /// Signedness (for integers).
        signed: bool,
    },
    /// A pointer (or C++ reference) of `size` bytes.
    Pointer {
        /// The pointee.
        target: TypeId,
        /// Pointer size in bytes.
        size: u64,
    },
    /// An array; multi-dimensional arrays nest.
    Array {
        /// Element type.
        element: TypeId,
        /// Element count; 0 for a flexible or zero-length array.
        count: u64,
    },
    /// A struct, union or class.
    Record(Record),
    /// An enumeration.
    Enum(Enum),
    /// A typedef; profiles resolve it to its target.
    Typedef {
        /// The alias.
        name: String,
        /// The aliased type.
        target: TypeId,
    },
    /// const / volatile / restrict: transparent.
    Qualified {
        /// The qualified type.
        target: TypeId,
    },
    /// A function type.
    Function,
    /// A type the reader could not decode; named for diagnostics.
    Unknown {
        /// What it was (a leaf kind, a DWARF tag).
        what: String,
        /// Size, when known.
        size: Option<u64>,
    },
}

/// A metadata string value.
pub(crate) fn meta(s: impl Into<String>) -> Value {
    Value::String(s.into())
}

/// Rekall's `arch` name of an object-file architecture.
pub fn arch_name(arch: object::Architecture) -> Option<&'static str> {
    use object::Architecture as A;
    Some(match arch {
        A::X86_64 | A::X86_64_X32 => "AMD64",
        A::I386 => "I386",
        A::Aarch64 => "ARM64",
        A::Arm => "ARM",
        A::Mips | A::Mips64 => "MIPS",
        A::PowerPc | A::PowerPc64 => "PPC",
        A::Riscv64 => "RISCV64",
        _ => return None,
    })
}

/// Data or code symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SymbolKind {
    /// Goes to `$CONSTANTS`.
    Data,
    /// Goes to `$FUNCTIONS`.
    Function,
}

/// A symbol with its address (an RVA for PE images, the linked address for
/// kernels).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Symbol {
    /// Name as recorded (decorated names stay decorated).
    pub name: String,
    /// Address or RVA.
    pub address: u64,
    /// Data or code.
    pub kind: SymbolKind,
    /// The type of a data symbol, when the input knows it (DWARF variables,
    /// BTF `VAR`, PDB data symbols); `None` for functions and untyped symbols.
    pub ty: Option<TypeId>,
}

/// A variable the debug information declares or defines, with its type:
/// what gives the symbols of a symbol table (a System.map, kallsyms, the
/// object's own) their types ([`Ir::type_symbols`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Variable {
    /// Its name.
    pub name: String,
    /// Its linked address, for a definition with a fixed location (none for
    /// a declaration).
    pub address: Option<u64>,
    /// Its type.
    pub ty: TypeId,
}

/// What [`Ir::type_symbols`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SymbolTyping {
    /// Data symbols given a type.
    pub typed: usize,
    /// Data symbols left untyped because variables of that name have
    /// different types and none sits at the symbol's address.
    pub ambiguous: usize,
}

/// Options that shape how types become descriptors, chosen per input family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Conventions {
    /// Windows convention: `char[N]` becomes `String` and `wchar_t[N]`
    /// `UnicodeString`, as in Rekall's PDB-made profiles.
    pub string_arrays: bool,
    /// Rekall's Linux convention: symbol addresses are stored masked to 48
    /// bits (`0xffffffff81000000` -> `0xffff81000000`).
    pub mask48: bool,
}

/// Everything one input yields.
#[derive(Debug, Clone, Default)]
pub struct Ir {
    /// The type arena.
    pub types: Vec<Type>,
    /// Symbols, in any order (the emitter sorts).
    pub symbols: Vec<Symbol>,
    /// Variables with their types (DWARF `DW_TAG_variable`, BTF `VAR`), for
    /// typing symbols that come from a symbol table.
    pub variables: Vec<Variable>,
    /// `$METADATA` entries the reader knows (`arch`, `PDBFile`, `GUID_AGE`...).
    pub metadata: BTreeMap<String, Value>,
    /// `$CONFIG` entries (Linux kernel config).
    pub config: BTreeMap<String, Value>,
    /// Descriptor conventions.
    pub conventions: Conventions,
    /// Problems the reader met but worked around (one line each).
    pub warnings: Vec<String>,
    /// How many input records (types, symbols) could not be read and are
    /// missing from the IR; [`crate::compile`] refuses such an input unless
    /// `Options::partial` (a PDB so far).
    pub dropped: usize,
    /// What was dropped: the first few, one line each.
    pub dropped_examples: Vec<String>,
}

impl Ir {
    /// Records `count` input records that could not be read (`what` says
    /// which); see [`Ir::dropped`].
    pub fn drop_records(&mut self, count: usize, what: impl Into<String>) {
        if count == 0 {
            return;
        }
        self.dropped += count;
        if self.dropped_examples.len() < 5 {
            self.dropped_examples.push(what.into());
        }
    }
}

impl Ir {
    /// Adds a type and returns its id.
    pub fn push(&mut self, ty: Type) -> TypeId {
        let id = TypeId(self.types.len() as u32);
        self.types.push(ty);
        id
    }

    /// The type behind `id`.
    pub fn get(&self, id: TypeId) -> &Type {
        &self.types[id.index()]
    }

    /// Follows typedefs and qualifiers to the underlying type (bounded, so a
    /// cyclic chain from hostile input ends).
    pub fn resolve(&self, mut id: TypeId) -> TypeId {
        for _ in 0..64 {
            match self.types.get(id.index()) {
                Some(Type::Typedef { target, .. }) | Some(Type::Qualified { target }) => {
                    id = *target
                }
                _ => break,
            }
        }
        id
    }

    /// Gives the untyped data symbols the types of [`Ir::variables`]: a
    /// variable of the same name at the symbol's address first, else the
    /// one type every variable of that name has (definitions before
    /// declarations: `extern char x[]` has no length). Function symbols
    /// stay untyped.
    pub fn type_symbols(&mut self) -> SymbolTyping {
        use std::collections::HashMap;
        let mut report = SymbolTyping::default();
        if self.variables.is_empty() {
            return report;
        }
        let mut at: HashMap<(&str, u64), TypeId> = HashMap::new();
        // Per name: the distinct types of definitions, then of declarations.
        let mut defs: HashMap<&str, Vec<TypeId>> = HashMap::new();
        let mut decls: HashMap<&str, Vec<TypeId>> = HashMap::new();
        for v in &self.variables {
            let list = match v.address {
                Some(a) => {
                    // Two definitions at one address (one completes the
                    // other's `char x[]`): the one with the larger size.
                    let size = |t: TypeId| self.size_of(t);
                    at.entry((v.name.as_str(), a))
                        .and_modify(|t| {
                            if size(v.ty) > size(*t) {
                                *t = v.ty
                            }
                        })
                        .or_insert(v.ty);
                    defs.entry(v.name.as_str()).or_default()
                }
                None => decls.entry(v.name.as_str()).or_default(),
            };
            if !list.contains(&v.ty) {
                list.push(v.ty);
            }
        }
        let only = |m: &HashMap<&str, Vec<TypeId>>, name: &str| match m.get(name).map(Vec::as_slice)
        {
            Some([one]) => Some(Some(*one)),
            Some(_) => Some(None),
            None => None,
        };
        let mut types: Vec<(usize, TypeId)> = Vec::new();
        for (i, s) in self.symbols.iter().enumerate() {
            if s.kind != SymbolKind::Data || s.ty.is_some() {
                continue;
            }
            let name = s.name.as_str();
            let found = match at.get(&(name, s.address)) {
                Some(t) => Some(*t),
                None => match only(&defs, name).or_else(|| only(&decls, name)) {
                    Some(Some(t)) => Some(t),
                    Some(None) => {
                        report.ambiguous += 1;
                        None
                    }
                    None => None,
                },
            };
            if let Some(t) = found {
                types.push((i, t));
            }
        }
        report.typed = types.len();
        for (i, t) in types {
            self.symbols[i].ty = Some(t);
        }
        report
    }

    /// Size in bytes of a type, when it has one.
    pub fn size_of(&self, id: TypeId) -> Option<u64> {
        self.size_of_depth(id, 0)
    }

    fn size_of_depth(&self, id: TypeId, depth: u32) -> Option<u64> {
        if depth > 64 {
            return None;
        }
        match self.types.get(self.resolve(id).index())? {
            Type::Void | Type::Function => None,
            Type::Base { size, .. } | Type::Pointer { size, .. } => Some(*size),
            Type::Array { element, count } => {
                self.size_of_depth(*element, depth + 1)?.checked_mul(*count)
            }
            Type::Record(r) => Some(r.size),
            Type::Enum(e) => Some(e.size),
            Type::Unknown { size, .. } => *size,
            Type::Typedef { .. } | Type::Qualified { .. } => None,
        }
    }
}
