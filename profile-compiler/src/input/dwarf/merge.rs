//! Merging unit-local type graphs into the one IR.
//!
//! Units are merged in `.debug_info` order, so the output does not depend on
//! how the parallel parsing was scheduled. A node whose structural key was
//! already seen maps to the existing IR type; only new keys create IR types.
//! A kernel type defined in thousands of compilation units therefore
//! appears once.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::ir::{Enum, Ir, Member, Record, Type, TypeId, Variable};

use super::unit::{LocalUnit, Node, Notes};

/// Keys are already hashes: use their low bits directly.
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64;
    }
}

/// Accumulates units into an [`Ir`].
#[derive(Debug, Default)]
pub(crate) struct Merger {
    /// The IR being built.
    pub ir: Ir,
    map: HashMap<u128, TypeId, BuildHasherDefault<KeyHasher>>,
    /// Problems counted over all units.
    pub notes: Notes,
    /// Type nodes seen (before merging), for statistics.
    pub nodes_seen: usize,
    /// Whether to index DIE offsets (only when some unit refers into
    /// another: `DW_FORM_ref_addr`).
    pub cross_unit: bool,
    /// DIE offset -> IR type, ascending (units arrive in file order).
    die_offsets: Vec<u64>,
    die_types: Vec<TypeId>,
    /// Placeholders for references into other units.
    externals: Vec<(TypeId, u64)>,
    /// Type units: signature -> IR type of the unit's type.
    signatures: HashMap<u64, TypeId>,
    /// Placeholders for references to type signatures.
    signature_refs: Vec<(TypeId, u64)>,
    /// Variables already in the IR: a declaration repeated in every unit
    /// that uses it is kept once.
    variables_seen: rustc_hash::FxHashSet<(Vec<u8>, Option<u64>, TypeId)>,
}

impl std::fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyHasher")
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl Merger {
    /// Adds one unit's types.
    pub fn add(&mut self, unit: LocalUnit<'_>) {
        self.notes.add(unit.notes);
        self.nodes_seen += unit.nodes.len();
        let mut ids: Vec<TypeId> = Vec::with_capacity(unit.nodes.len());
        let mut new: Vec<usize> = Vec::new();
        for (i, key) in unit.keys.iter().enumerate() {
            let id = match self.map.get(key) {
                Some(id) => *id,
                None => {
                    let id = self.ir.push(Type::Void);
                    self.map.insert(*key, id);
                    new.push(i);
                    id
                }
            };
            ids.push(id);
        }
        if let Some((sig, node)) = unit.signature {
            if let Some(id) = ids.get(node as usize) {
                self.signatures.entry(sig).or_insert(*id);
            }
        }
        if self.cross_unit {
            for (offset, id) in unit.offsets.iter().zip(&ids) {
                if *offset != 0 && self.die_offsets.last().is_none_or(|last| last < offset) {
                    self.die_offsets.push(*offset);
                    self.die_types.push(*id);
                }
            }
        }
        let id_of = |i: u32| ids.get(i as usize).copied().unwrap_or(ids[0]);
        for v in &unit.variables {
            let key = (v.name.to_vec(), v.address, id_of(v.ty));
            if !self.variables_seen.contains(&key) {
                self.ir.variables.push(Variable {
                    name: text(v.name),
                    address: v.address,
                    ty: key.2,
                });
                self.variables_seen.insert(key);
            }
        }
        for i in new {
            let ty = match &unit.nodes[i] {
                Node::Void => Type::Void,
                Node::Unresolved => Type::Void,
                Node::External { offset } => {
                    self.externals.push((ids[i], *offset));
                    Type::Void
                }
                Node::Signature { sig } => {
                    self.signature_refs.push((ids[i], *sig));
                    Type::Void
                }
                Node::Base { name, size, signed } => Type::Base {
                    name: text(name),
                    size: *size,
                    signed: *signed,
                },
                Node::Pointer { target, size } => Type::Pointer {
                    target: id_of(*target),
                    size: *size,
                },
                Node::Record {
                    kind,
                    name,
                    size,
                    declaration,
                    members,
                    origin,
                } => Type::Record(Record {
                    kind: *kind,
                    name: name.map(text),
                    size: *size,
                    declaration: *declaration,
                    members: members
                        .iter()
                        .map(|m| Member {
                            name: m.name.as_deref().map(text),
                            offset: m.offset,
                            ty: id_of(m.ty),
                            bitfield: m.bitfield,
                        })
                        .collect(),
                    origin: *origin,
                }),
                Node::Enum {
                    name,
                    size,
                    signed,
                    values,
                    origin,
                } => Type::Enum(Enum {
                    name: name.map(text),
                    size: *size,
                    signed: *signed,
                    values: values.iter().map(|(n, v)| (text(n), *v)).collect(),
                    origin: *origin,
                }),
                Node::Typedef { name, target } => Type::Typedef {
                    name: text(name),
                    target: id_of(*target),
                },
                Node::Qualified { target } => Type::Qualified {
                    target: id_of(*target),
                },
                Node::Array { element, count } => Type::Array {
                    element: id_of(*element),
                    count: *count,
                },
                Node::Function => Type::Function,
                Node::Unknown { what, size } => Type::Unknown {
                    what: (*what).into(),
                    size: *size,
                },
            };
            if let Some(slot) = self.ir.types.get_mut(ids[i].index()) {
                *slot = ty;
            }
        }
    }

    /// Points every reference into another unit at the IR type made from
    /// its DIE (a transparent qualifier in between). Returns how many could
    /// not be found (they stay void).
    pub fn resolve_externals(&mut self) -> usize {
        let mut missing = 0;
        for (id, sig) in std::mem::take(&mut self.signature_refs) {
            match self.signatures.get(&sig) {
                Some(target) if *target != id => {
                    if let Some(slot) = self.ir.types.get_mut(id.index()) {
                        *slot = Type::Qualified { target: *target };
                    }
                }
                _ => missing += 1,
            }
        }
        for (id, offset) in std::mem::take(&mut self.externals) {
            let target = self
                .die_offsets
                .binary_search(&offset)
                .ok()
                .map(|i| self.die_types[i]);
            match target {
                Some(target) if target != id => {
                    if let Some(slot) = self.ir.types.get_mut(id.index()) {
                        *slot = Type::Qualified { target };
                    }
                }
                _ => missing += 1,
            }
        }
        self.die_offsets = Vec::new();
        self.die_types = Vec::new();
        missing
    }
}
