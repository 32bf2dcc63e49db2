//! Symbols: publics, global/static data and procedures, as RVAs.

use rustc_hash::FxHashMap as HashMap;

use pdb2::{FallibleIterator, PdbInternalSectionOffset, SymbolData};

use crate::ir::{Symbol, SymbolKind};

// Symbol kinds (cvinfo.h) the reader parses; every other kind is skipped
// without being parsed, which keeps pdb2's parsers off records we don't need.
const S_UDT: u16 = 0x1108;
const S_LDATA32: u16 = 0x110c;
const S_GDATA32: u16 = 0x110d;
const S_PUB32: u16 = 0x110e;
const S_LPROC32: u16 = 0x110f;
const S_GPROC32: u16 = 0x1110;
const S_LTHREAD32: u16 = 0x1112;
const S_GTHREAD32: u16 = 0x1113;
const S_LPROC32_ID: u16 = 0x1146;
const S_GPROC32_ID: u16 = 0x1147;

/// Collects symbols and counts the ones whose address cannot be translated.
#[derive(Debug, Default)]
pub(crate) struct Symbols {
    /// Translated public symbols.
    pub(crate) publics: Vec<Symbol>,
    /// Translated data and procedure symbols.
    pub(crate) others: Vec<Symbol>,
    /// Names of symbols left out because their section:offset is not in the
    /// image (first few) and how many there were.
    pub(crate) untranslated: Vec<String>,
    /// Count of untranslated symbols.
    pub(crate) untranslated_count: usize,
    /// Symbol records pdb2 could not parse.
    pub(crate) unparsed: usize,
    /// Section numbers the DBI section map marks absolute (`fAbs`): their
    /// "offset" is a value, not a place (linker constants such as
    /// `__guard_flags`). Section 0 is absolute too (`__ImageBase` = 0).
    pub(crate) absolute_sections: Vec<u16>,
}

impl Symbols {
    /// Adds a symbol; `type_index`: a data symbol's type, kept as a raw
    /// type index in `Symbol::ty` until the reader maps it to the IR
    /// (`read_pdb`, once the types are converted).
    fn add(
        &mut self,
        name: &[u8],
        offset: PdbInternalSectionOffset,
        kind: SymbolKind,
        public: bool,
        map: &pdb2::AddressMap<'_>,
        type_index: Option<u32>,
    ) {
        let address = match offset.to_rva(map) {
            Some(rva) => Some(u64::from(rva.0)),
            None if offset.section == 0 || self.absolute_sections.contains(&offset.section) => {
                Some(u64::from(offset.offset))
            }
            None => None,
        };
        match address {
            Some(address) => {
                let sym = Symbol {
                    name: super::types::text(name),
                    address,
                    kind,
                    ty: type_index.map(crate::ir::TypeId),
                };
                if public {
                    self.publics.push(sym);
                } else {
                    self.others.push(sym);
                }
            }
            None => {
                self.untranslated_count += 1;
                if self.untranslated.len() < 5 {
                    self.untranslated.push(format!(
                        "{} ({:04X}:{:08X})",
                        String::from_utf8_lossy(name),
                        offset.section,
                        offset.offset
                    ));
                }
            }
        }
    }

    /// Reads one symbol stream: publics, global/static data and typedefs
    /// (global stream) or procedures (module streams). `S_UDT` typedefs
    /// (name, type index) go to `udts`, in stream order.
    pub(crate) fn read<'t>(
        &mut self,
        mut iter: pdb2::SymbolIter<'t>,
        map: &pdb2::AddressMap<'_>,
        mut udts: Option<&mut Vec<(&'t [u8], u32)>>,
        module: bool,
    ) -> pdb2::Result<()> {
        while let Some(sym) = iter.next()? {
            let raw = sym.raw_bytes();
            if raw.len() < 2 {
                continue;
            }
            let kind = u16::from_le_bytes([raw[0], raw[1]]);
            let wanted = match kind {
                S_PUB32 | S_UDT => !module,
                S_GDATA32 | S_LDATA32 | S_GTHREAD32 | S_LTHREAD32 => !module,
                S_GPROC32 | S_LPROC32 | S_GPROC32_ID | S_LPROC32_ID => module,
                _ => false,
            };
            if !wanted {
                continue;
            }
            match sym.parse() {
                Ok(SymbolData::Public(p)) => {
                    let kind = if p.function {
                        SymbolKind::Function
                    } else {
                        SymbolKind::Data
                    };
                    self.add(p.name.as_bytes(), p.offset, kind, true, map, None);
                }
                Ok(SymbolData::Data(d)) => self.add(
                    d.name.as_bytes(),
                    d.offset,
                    SymbolKind::Data,
                    false,
                    map,
                    Some(d.type_index.0),
                ),
                Ok(SymbolData::ThreadStorage(t)) => self.add(
                    t.name.as_bytes(),
                    t.offset,
                    SymbolKind::Data,
                    false,
                    map,
                    Some(t.type_index.0),
                ),
                Ok(SymbolData::Procedure(p)) => self.add(
                    p.name.as_bytes(),
                    p.offset,
                    SymbolKind::Function,
                    false,
                    map,
                    None,
                ),
                Ok(SymbolData::UserDefinedType(u)) => {
                    if let Some(udts) = udts.as_deref_mut() {
                        udts.push((u.name.as_bytes(), u.type_index.0));
                    }
                }
                Ok(_) => {}
                Err(_) => self.unparsed += 1,
            }
        }
        Ok(())
    }
}

impl Symbols {
    /// All symbols, with one warning line per kind of symbol left out. A
    /// public symbol's name belongs to it: a data or procedure record with
    /// the same (undecorated) name at another address (x86's `_exit`
    /// procedure vs. the public `_exit` of `exit`) is left out.
    pub(crate) fn finish(self, warnings: &mut Vec<String>) -> Vec<Symbol> {
        if self.untranslated_count > 0 {
            warnings.push(format!(
                "{} symbols have no RVA (section:offset outside the image's sections) and were left out, e.g. {}",
                self.untranslated_count,
                self.untranslated.join(", ")
            ));
        }
        if self.unparsed > 0 {
            warnings.push(format!(
                "{} malformed symbol records were skipped",
                self.unparsed
            ));
        }
        let mut publics = self.publics;
        let mut others = self.others;
        // A public gets the type of the data record it stands for.
        {
            let typed: HashMap<(&str, u64), crate::ir::TypeId> = others
                .iter()
                .filter_map(|s| Some(((s.name.as_str(), s.address), s.ty?)))
                .collect();
            if !typed.is_empty() {
                for p in publics.iter_mut().filter(|p| p.kind == SymbolKind::Data) {
                    if let Some(t) = typed.get(&(p.name.as_str(), p.address)) {
                        p.ty = Some(*t);
                    }
                }
            }
        }
        // A public name's first address, and any further ones (rare).
        let mut public: HashMap<&str, u64> =
            HashMap::with_capacity_and_hasher(publics.len(), Default::default());
        let mut more: rustc_hash::FxHashSet<(&str, u64)> = Default::default();
        for p in &publics {
            let first = *public.entry(p.name.as_str()).or_insert(p.address);
            if first != p.address {
                more.insert((p.name.as_str(), p.address));
            }
        }
        let mut dropped = 0;
        others.retain(|s| match public.get(s.name.as_str()) {
            None => true,
            // The same symbol as the public.
            Some(&a) if a == s.address || more.contains(&(s.name.as_str(), s.address)) => false,
            Some(_) => {
                dropped += 1;
                false
            }
        });
        drop((public, more));
        if dropped > 0 {
            warnings.push(format!(
                "{dropped} data/procedure symbols share a public symbol's name at another address and were left out"
            ));
        }
        // In stream order; the emitter sorts.
        let mut all = publics;
        all.append(&mut others);
        all
    }
}
