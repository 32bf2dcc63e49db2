//! A session: one user's view of a shared [`LazyProfile`], with its own
//! overlays and classes.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, RwLock};

use rustc_hash::FxHashMap;

use crate::class::{self, Class};
use crate::error::Result;
use crate::lazy::LazyProfile;
use crate::native::{DataModel, Native};
use crate::object::{NoneObject, Object};
use crate::space::Space;
use crate::types::{Count, Overlay, StructLayout, Type};

/// Deepest nesting of types (arrays of arrays...) or member paths followed.
pub const MAX_DEPTH: usize = 64;

/// A profile handle: the shared base profile, the data model, this handle's
/// overlays and classes, and a cache of merged struct layouts.
///
/// Cloning is cheap (an [`Arc`]). [`Session::with_overlay`],
/// [`Session::with_class`] and [`Session::apply`] return a *new* session that
/// shares the base profile: other holders of the original are unaffected
/// (Rekall's profile modifications, without global state).
#[derive(Clone)]
pub struct Session(Arc<Inner>);

struct Inner {
    base: Arc<LazyProfile>,
    model: DataModel,
    overlays: Vec<Arc<Overlay>>,
    classes: HashMap<String, Arc<dyn Class>>,
    layouts: RwLock<FxHashMap<Box<str>, InfoResult>>,
}

/// A cached struct: prepared, or why it cannot be.
type InfoResult = std::result::Result<Arc<StructInfo>, NoneObject>;

/// A merged struct layout prepared for fast member access: members hashed
/// by name (FxHash), fixed offsets unwrapped, and each member type resolved
/// once when that needs nothing of the enclosing object.
pub(crate) struct StructInfo {
    pub(crate) layout: Arc<StructLayout>,
    members: FxHashMap<Box<str>, MemberInfo>,
}

/// One member of a [`StructInfo`].
pub(crate) struct MemberInfo {
    /// The member's name (shared by every object reached through it).
    pub(crate) name: Arc<str>,
    /// `struct.member`: the name of this member of an object named after its
    /// struct type (as `Session::object` names them), shared likewise.
    pub(crate) full_name: Arc<str>,
    /// The offset as the layout gives it.
    pub(crate) offset: Option<Count>,
    /// The offset when it is a constant.
    pub(crate) fixed_offset: Option<u64>,
    /// The type as the layout gives it.
    pub(crate) ty: Type,
    /// The type resolved for an object (as `Object::new` would), when that
    /// does not depend on the enclosing object nor need a struct lookup.
    pub(crate) resolved: Option<Type>,
}

impl StructInfo {
    fn new(session: &Session, layout: Arc<StructLayout>) -> StructInfo {
        let members = layout
            .members
            .iter()
            .map(|(name, m)| {
                let resolved = match session.resolve(&m.ty) {
                    t @ (Type::Native(_)
                    | Type::Pointer(_)
                    | Type::BitField { .. }
                    | Type::Enumeration { .. }
                    | Type::Flags { .. }
                    | Type::UnixTimeStamp
                    | Type::WinFileTime
                    | Type::Void
                    | Type::Function) => Some(t),
                    t @ (Type::Array {
                        count: Count::Fixed(_),
                        ..
                    }
                    | Type::String {
                        length: Count::Fixed(_),
                        ..
                    }
                    | Type::UnicodeString {
                        length: Count::Fixed(_),
                        ..
                    }) => Some(t),
                    _ => None,
                };
                let info = MemberInfo {
                    name: name.as_str().into(),
                    full_name: format!("{}.{name}", layout.name).into(),
                    offset: m.offset.clone(),
                    fixed_offset: m.offset.as_ref().and_then(Count::fixed),
                    ty: m.ty.clone(),
                    resolved,
                };
                (name.as_str().into(), info)
            })
            .collect();
        StructInfo { layout, members }
    }

    /// The member `name`.
    #[inline]
    pub(crate) fn member(&self, name: &str) -> Option<&MemberInfo> {
        self.members.get(name)
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("profile", &self.0.base.source_name())
            .field("model", &self.0.model)
            .field("overlays", &self.0.overlays.len())
            .field("classes", &self.0.classes.len())
            .finish()
    }
}

/// A profile modification: makes an enhanced session from a session
/// (adds overlays, classes). Closures `Fn(&Session) -> Session` are
/// modifications.
pub trait Modification {
    /// Returns the modified session; `session` itself is left unchanged.
    fn modify(&self, session: &Session) -> Session;
}

impl<F: Fn(&Session) -> Session> Modification for F {
    fn modify(&self, session: &Session) -> Session {
        self(session)
    }
}

impl Session {
    /// A session over `base`, with the data model read from its `$METADATA`
    /// and the default classes installed ([`class::install_defaults`]).
    pub fn new(base: Arc<LazyProfile>) -> Session {
        // A pointer-size hint for profiles without `arch`: LIST_ENTRY holds
        // two pointers.
        // Only looked at when `arch` is missing, so opening stays lazy.
        let has_arch = base.metadata().contains_key("arch");
        let hint = ["_LIST_ENTRY", "list_head", "LIST_ENTRY"]
            .iter()
            .filter(|_| !has_arch)
            .find_map(|n| {
                let s = base.get_struct(n).ok().flatten()?;
                match s.size? {
                    8 => Some(4),
                    16 => Some(8),
                    _ => None,
                }
            });
        let model = DataModel::from_metadata(base.metadata(), hint);
        let mut classes = HashMap::new();
        class::install_defaults(&mut classes);
        Session(Arc::new(Inner {
            base,
            model,
            overlays: Vec::new(),
            classes,
            layouts: RwLock::new(FxHashMap::default()),
        }))
    }

    /// Opens a profile file lazily and makes a session over it.
    pub fn open(path: &Path) -> Result<Session> {
        Ok(Session::new(Arc::new(LazyProfile::open(path)?)))
    }

    fn derive(&self, f: impl FnOnce(&mut Inner)) -> Session {
        let mut inner = Inner {
            base: Arc::clone(&self.0.base),
            model: self.0.model,
            overlays: self.0.overlays.clone(),
            classes: self.0.classes.clone(),
            layouts: RwLock::new(FxHashMap::default()),
        };
        f(&mut inner);
        Session(Arc::new(inner))
    }

    /// A new session with `overlay` layered on top of this one's.
    pub fn with_overlay(&self, overlay: Overlay) -> Session {
        self.derive(|i| i.overlays.push(Arc::new(overlay)))
    }

    /// A new session where objects of struct `type_name` use `class`.
    pub fn with_class(&self, type_name: &str, class: Arc<dyn Class>) -> Session {
        self.derive(|i| {
            i.classes.insert(type_name.to_owned(), class);
        })
    }

    /// A new session with another data model (for profiles whose metadata is
    /// missing or wrong).
    pub fn with_data_model(&self, model: DataModel) -> Session {
        self.derive(|i| i.model = model)
    }

    /// Applies a profile modification.
    pub fn apply(&self, m: &dyn Modification) -> Session {
        m.modify(self)
    }

    /// The shared base profile.
    pub fn profile(&self) -> &Arc<LazyProfile> {
        &self.0.base
    }

    /// The data model native sizes are read with.
    pub fn data_model(&self) -> DataModel {
        self.0.model
    }

    /// The class installed for a type name.
    pub fn class_of(&self, type_name: &str) -> Option<&Arc<dyn Class>> {
        self.0.classes.get(type_name)
    }

    /// The merged layout of struct `name` (profile + overlays), cached.
    pub fn layout(&self, name: &str) -> std::result::Result<Arc<StructLayout>, NoneObject> {
        self.struct_info(name).map(|i| Arc::clone(&i.layout))
    }

    /// The merged layout of struct `name` prepared for member access, cached.
    pub(crate) fn struct_info(
        &self,
        name: &str,
    ) -> std::result::Result<Arc<StructInfo>, NoneObject> {
        if let Ok(cache) = self.0.layouts.read() {
            if let Some(l) = cache.get(name) {
                return l.clone();
            }
        }
        let built = self
            .build_layout(name)
            .map(|l| Arc::new(StructInfo::new(self, l)));
        if let Ok(mut cache) = self.0.layouts.write() {
            cache.insert(name.into(), built.clone());
        }
        built
    }

    fn build_layout(&self, name: &str) -> std::result::Result<Arc<StructLayout>, NoneObject> {
        let base = self
            .0
            .base
            .get_struct(name)
            .map_err(|e| NoneObject::new(format!("struct {name} cannot be read: {e}")))?;
        let mut layout = base.map(|d| StructLayout::from_struct_def(name, &d));
        for o in &self.0.overlays {
            if let Some(so) = o.structs.get(name) {
                layout
                    .get_or_insert_with(|| StructLayout::empty(name))
                    .merge(so);
            }
        }
        layout
            .map(Arc::new)
            .ok_or_else(|| NoneObject::new(format!("no struct {name:?} in the profile")))
    }

    /// Whether `name` is a struct of the profile or of an overlay.
    pub fn has_struct(&self, name: &str) -> bool {
        self.0.base.has_struct(name) || self.0.overlays.iter().any(|o| o.structs.contains_key(name))
    }

    /// Resolves a [`Type::Named`] (one level): a special class name, then a
    /// native type, then a struct. Other types are returned as they are.
    pub fn resolve(&self, ty: &Type) -> Type {
        let Type::Named(name) = ty else {
            return ty.clone();
        };
        match name.as_ref() {
            "String" => return Type::string(crate::types::DEFAULT_STRING_LENGTH),
            "UnicodeString" => return Type::unicode_string(crate::types::DEFAULT_STRING_LENGTH),
            "Void" | "void" => return Type::Void,
            "Function" => return Type::Function,
            "UnixTimeStamp" => return Type::UnixTimeStamp,
            "WinFileTime" => return Type::WinFileTime,
            _ => {}
        }
        if self.has_struct(name) {
            return Type::Struct(Arc::clone(name));
        }
        match Native::from_name(name, &self.0.model) {
            Some(n) => Type::Native(n),
            None => Type::Unknown(Arc::clone(name)),
        }
    }

    /// The size in bytes of a type. `parent` is the enclosing struct object,
    /// needed for computed counts; `at` the object itself, needed for a
    /// struct with a computed size. `None` when it cannot be known.
    pub fn size_of_type(
        &self,
        ty: &Type,
        parent: Option<&Object>,
        at: Option<&Object>,
    ) -> Option<u64> {
        self.size_of_depth(ty, parent, at, 0)
    }

    fn size_of_depth(
        &self,
        ty: &Type,
        parent: Option<&Object>,
        at: Option<&Object>,
        depth: usize,
    ) -> Option<u64> {
        if depth > MAX_DEPTH {
            return None;
        }
        match ty {
            Type::Named(_) => self.size_of_depth(&self.resolve(ty), parent, at, depth + 1),
            Type::Native(n) => Some(u64::from(n.size)),
            Type::Struct(name) => match &self.layout(name).ok()?.size {
                Some(Count::Fixed(n)) => Some(*n),
                Some(c) => c.eval(at),
                None => None,
            },
            Type::Pointer(_) => Some(u64::from(self.0.model.pointer_size)),
            Type::Array { count, target } => {
                let elem = self.size_of_depth(target, None, None, depth + 1)?;
                match count {
                    Count::Bytes(b) => Some(*b),
                    c => c.eval(parent)?.checked_mul(elem),
                }
            }
            Type::BitField { storage, .. }
            | Type::Enumeration { storage, .. }
            | Type::Flags { storage, .. } => self.size_of_depth(storage, parent, at, depth + 1),
            Type::String { length, .. } | Type::UnicodeString { length, .. } => length.eval(parent),
            Type::UnixTimeStamp => Some(4),
            Type::WinFileTime => Some(8),
            Type::Void | Type::Function | Type::Computed(_) => Some(0),
            Type::Unknown(_) => None,
        }
    }

    /// The size of the named type (a struct or a native type).
    pub fn size_of(&self, type_name: &str) -> Option<u64> {
        self.size_of_type(&Type::named(type_name), None, None)
    }

    /// The offset of a member of `type_name`, following a dotted path through
    /// nested structs (`"pcb.DirectoryTableBase"`). Only fixed offsets count.
    pub fn offset_of(&self, type_name: &str, path: &str) -> Option<u64> {
        let mut ty = Type::named(type_name);
        let mut total = 0u64;
        for part in path.split('.').take(MAX_DEPTH) {
            let Type::Struct(name) = self.resolve(&ty) else {
                return None;
            };
            let layout = self.layout(&name).ok()?;
            let m = layout.members.get(part)?;
            total = total.checked_add(m.offset.as_ref()?.fixed()?)?;
            ty = m.ty.clone();
        }
        Some(total)
    }

    /// The type of a member (after overlays), following a dotted path.
    pub fn member_type(&self, type_name: &str, path: &str) -> Option<Type> {
        let mut ty = Type::named(type_name);
        for part in path.split('.').take(MAX_DEPTH) {
            let Type::Struct(name) = self.resolve(&ty) else {
                return None;
            };
            ty = self.layout(&name).ok()?.members.get(part)?.ty.clone();
        }
        Some(ty)
    }

    /// An object of the named type at `addr` in `space`.
    pub fn object(&self, type_name: &str, addr: u64, space: &Space) -> Object {
        self.object_of(Type::named(type_name), addr, space)
    }

    /// An object of `ty` at `addr` in `space`.
    pub fn object_of(&self, ty: Type, addr: u64, space: &Space) -> Object {
        Object::new(
            crate::object::Ctx::new(self.clone(), Arc::clone(space)),
            addr,
            ty,
            None,
            None,
        )
    }

    /// An object of the named type at a symbol's address (see
    /// [`Session::symbol_address`]); a NoneObject when the symbol is unknown.
    pub fn symbol_object(&self, symbol: &str, type_name: &str, base: u64, space: &Space) -> Object {
        match self.symbol_address(symbol, base) {
            Some(addr) => self.object(type_name, addr, space),
            None => Object::none(format!("no symbol {symbol:?} in the profile")),
        }
    }

    /// The value of a data symbol (`$CONSTANTS`), as the profile stores it.
    pub fn constant(&self, name: &str) -> Option<u64> {
        self.0.base.constants().get(name).copied()
    }

    /// The value of a code symbol (`$FUNCTIONS`).
    pub fn function(&self, name: &str) -> Option<u64> {
        self.0.base.functions().get(name).copied()
    }

    /// A symbol's address: its profile value (a constant, else a function)
    /// plus `base`, wrapping. `base` is the image base for Windows profiles
    /// (whose values are RVAs) or the KASLR shift for Linux and macOS ones.
    pub fn symbol_address(&self, name: &str, base: u64) -> Option<u64> {
        let v = self.constant(name).or_else(|| self.function(name))?;
        Some(v.wrapping_add(base))
    }

    /// The name of `value` in enumeration `enum_name` of `$ENUMS`.
    pub fn enum_name(&self, enum_name: &str, value: i128) -> Option<&str> {
        self.0
            .base
            .enums()
            .get(enum_name)?
            .get(&value)
            .map(String::as_str)
    }

    /// The value of `name` in enumeration `enum_name` (the lowest, if a name
    /// repeats).
    pub fn enum_value(&self, enum_name: &str, name: &str) -> Option<i128> {
        self.0
            .base
            .enums()
            .get(enum_name)?
            .iter()
            .find(|(_, n)| n.as_str() == name)
            .map(|(v, _)| *v)
    }
}

/// Restores a canonical x86-64 address from one masked to 48 bits (as
/// Rekall's Linux converter stores symbols): bit 47 is sign-extended.
pub fn canonical_address(addr: u64) -> u64 {
    let a = addr & 0x0000_ffff_ffff_ffff;
    if a & (1 << 47) != 0 {
        a | 0xffff_0000_0000_0000
    } else {
        a
    }
}
