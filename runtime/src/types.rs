//! Runtime types: what an object is read as. Built from profile
//! [`Descriptor`]s, or by hand in overlays, where numbers and values may be
//! Rust closures.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value as Json};

use crate::descriptor::{Descriptor, EnumChoices};
use crate::error::{Error, Result};
use crate::native::Native;
use crate::object::{Object, Value};

/// A closure computing a number (an offset, a size, a count) from the struct
/// object it belongs to. `None` means "cannot tell", read as a NoneObject.
pub type IntFn = Arc<dyn Fn(&Object) -> Option<u64> + Send + Sync>;

/// A closure computing a member's value from the struct object it belongs to.
pub type ValueFn = Arc<dyn Fn(&Object) -> Value + Send + Sync>;

/// A number used by a type: fixed in the profile, read from a sibling
/// member, or computed by a closure from the enclosing struct object.
#[derive(Clone)]
pub enum Count {
    /// A constant.
    Fixed(u64),
    /// The integer value of another member of the same struct (dotted paths
    /// allowed), e.g. an array whose length is in `nr_entries`.
    Member(Arc<str>),
    /// A closure over the enclosing struct object.
    Computed(IntFn),
    /// For arrays only: the total size in bytes (Rekall's `["Array",
    /// {"size": N}]`); the count is this divided by the element size.
    Bytes(u64),
}

impl Count {
    /// A count computed by `f` from the enclosing struct object.
    pub fn computed(f: impl Fn(&Object) -> Option<u64> + Send + Sync + 'static) -> Self {
        Count::Computed(Arc::new(f))
    }

    /// A count read from the sibling member `path`.
    pub fn member(path: &str) -> Self {
        Count::Member(path.into())
    }

    /// The fixed value, if it is one.
    pub fn fixed(&self) -> Option<u64> {
        match self {
            Count::Fixed(n) => Some(*n),
            _ => None,
        }
    }

    /// Evaluates the count; `parent` is the enclosing struct object (needed
    /// for [`Count::Member`] and [`Count::Computed`]).
    ///
    /// Evaluations nest (a count read from a member whose own type has a
    /// count...); past [`crate::MAX_DEPTH`] nested evaluations on one thread
    /// the answer is `None`, so a cycle made by an overlay cannot recurse
    /// without end.
    pub fn eval(&self, parent: Option<&Object>) -> Option<u64> {
        if let Count::Fixed(n) = self {
            return Some(*n);
        }
        let _guard = DepthGuard::enter()?;
        match self {
            Count::Fixed(n) => Some(*n),
            Count::Member(path) => parent?.get(path).as_u64(),
            Count::Computed(f) => f(parent?),
            Count::Bytes(_) => None,
        }
    }
}

thread_local! {
    static EVAL_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Counts nested [`Count::eval`] calls on this thread.
struct DepthGuard;

impl DepthGuard {
    fn enter() -> Option<DepthGuard> {
        EVAL_DEPTH.with(|d| {
            if d.get() >= crate::session::MAX_DEPTH {
                None
            } else {
                d.set(d.get() + 1);
                Some(DepthGuard)
            }
        })
    }
}

impl Drop for DepthGuard {
    fn drop(&mut self) {
        EVAL_DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

impl From<u64> for Count {
    fn from(n: u64) -> Self {
        Count::Fixed(n)
    }
}

impl fmt::Debug for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Count::Fixed(n) => write!(f, "{n}"),
            Count::Member(m) => write!(f, "member {m}"),
            Count::Computed(_) => f.write_str("<closure>"),
            Count::Bytes(n) => write!(f, "{n} bytes"),
        }
    }
}

/// Where an enumeration's names come from.
#[derive(Debug, Clone)]
pub enum Choices {
    /// An entry of the profile's `$ENUMS`.
    Named(Arc<str>),
    /// Names given inline.
    Inline(Arc<EnumChoices>),
}

/// Default maximum length of a `String` / `UnicodeString` given without one
/// (Rekall's default: 1024 bytes).
pub const DEFAULT_STRING_LENGTH: u64 = 1024;

/// A runtime type.
#[derive(Clone)]
pub enum Type {
    /// A name not yet resolved: a native type (`unsigned long`), a struct, or
    /// a special class (`String`, `Void`, `UnixTimeStamp`...). Resolved
    /// against the profile and its data model when an object is made.
    Named(Arc<str>),
    /// A native integer, float or bool.
    Native(Native),
    /// A struct or union of the profile (or added by an overlay).
    Struct(Arc<str>),
    /// A pointer to `target`, of the data model's pointer size.
    Pointer(Arc<Type>),
    /// `count` elements of `target`.
    Array {
        /// Number of elements.
        count: Count,
        /// Element type.
        target: Arc<Type>,
    },
    /// Bits `start_bit..end_bit` (LSB-relative) of a storage unit.
    BitField {
        /// First bit (inclusive) from the least significant bit.
        start_bit: u32,
        /// Last bit (exclusive).
        end_bit: u32,
        /// The storage unit (an integer type).
        storage: Arc<Type>,
    },
    /// An integer with names for its values.
    Enumeration {
        /// The integer type.
        storage: Arc<Type>,
        /// Value names.
        choices: Choices,
    },
    /// An integer whose bits have names: `(name, mask)` pairs.
    Flags {
        /// The integer type.
        storage: Arc<Type>,
        /// Each name with its mask.
        masks: Arc<Vec<(String, u64)>>,
    },
    /// A byte string of at most `length` bytes, ending at the first `term`
    /// byte (NUL by default; `None`: the whole length is text).
    String {
        /// Maximum length in bytes.
        length: Count,
        /// The terminator (Rekall's `term`; `null` in JSON gives `None`).
        term: Option<u8>,
    },
    /// A UTF-16LE string of at most `length` bytes, ending at the first
    /// `term` code unit (NUL by default; `None`: the whole length is text).
    UnicodeString {
        /// Maximum length in bytes.
        length: Count,
        /// The terminator.
        term: Option<u16>,
    },
    /// A 32-bit count of seconds since 1970 (UTC).
    UnixTimeStamp,
    /// A 64-bit Windows FILETIME: 100 ns intervals since 1601 (UTC).
    WinFileTime,
    /// `void`: an address without a type.
    Void,
    /// Code: an address without a readable value.
    Function,
    /// A member whose value a closure computes from the enclosing struct.
    Computed(ValueFn),
    /// A descriptor this runtime cannot read; reading it gives a NoneObject
    /// that names it.
    Unknown(Arc<str>),
}

impl fmt::Debug for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string())
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Named(n) | Type::Struct(n) => f.write_str(n),
            Type::Native(n) => write!(f, "{n}"),
            Type::Pointer(t) => write!(f, "Pointer<{t}>"),
            Type::Array { count, target } => write!(f, "Array<{target}; {count:?}>"),
            Type::BitField {
                start_bit, end_bit, ..
            } => write!(f, "BitField<{start_bit}..{end_bit}>"),
            Type::Enumeration { choices, .. } => match choices {
                Choices::Named(n) => write!(f, "Enumeration<{n}>"),
                Choices::Inline(_) => f.write_str("Enumeration"),
            },
            Type::Flags { .. } => f.write_str("Flags"),
            Type::String { length, .. } => write!(f, "String<{length:?}>"),
            Type::UnicodeString { length, .. } => write!(f, "UnicodeString<{length:?}>"),
            Type::UnixTimeStamp => f.write_str("UnixTimeStamp"),
            Type::WinFileTime => f.write_str("WinFileTime"),
            Type::Void => f.write_str("Void"),
            Type::Function => f.write_str("Function"),
            Type::Computed(_) => f.write_str("<computed>"),
            Type::Unknown(n) => write!(f, "Unknown<{n}>"),
        }
    }
}

impl Type {
    /// A named type (native, struct or special), resolved on use.
    pub fn named(name: &str) -> Type {
        Type::Named(name.into())
    }

    /// A pointer to `target`.
    pub fn pointer(target: Type) -> Type {
        Type::Pointer(Arc::new(target))
    }

    /// An array of `count` elements.
    pub fn array(count: impl Into<Count>, target: Type) -> Type {
        Type::Array {
            count: count.into(),
            target: Arc::new(target),
        }
    }

    /// A NUL-terminated byte string of at most `length` bytes.
    pub fn string(length: impl Into<Count>) -> Type {
        Type::String {
            length: length.into(),
            term: Some(0),
        }
    }

    /// A NUL-terminated UTF-16LE string of at most `length` bytes.
    pub fn unicode_string(length: impl Into<Count>) -> Type {
        Type::UnicodeString {
            length: length.into(),
            term: Some(0),
        }
    }

    /// A member computed by `f` from the enclosing struct object.
    pub fn computed(f: impl Fn(&Object) -> Value + Send + Sync + 'static) -> Type {
        Type::Computed(Arc::new(f))
    }

    /// Flags over `storage` with `(name, mask)` pairs.
    pub fn flags(storage: Type, masks: Vec<(String, u64)>) -> Type {
        Type::Flags {
            storage: Arc::new(storage),
            masks: Arc::new(masks),
        }
    }

    /// An enumeration over `storage` named by the profile's `$ENUMS[name]`.
    pub fn enumeration(storage: Type, enum_name: &str) -> Type {
        Type::Enumeration {
            storage: Arc::new(storage),
            choices: Choices::Named(enum_name.into()),
        }
    }

    /// The runtime type of a profile descriptor. Never fails: what cannot be
    /// read becomes [`Type::Unknown`].
    pub fn from_descriptor(d: &Descriptor) -> Type {
        match d {
            Descriptor::Named(n) => Type::named(n),
            Descriptor::Pointer { target } => Type::pointer(Type::from_descriptor(target)),
            Descriptor::Array { count, target } => {
                Type::array(*count, Type::from_descriptor(target))
            }
            Descriptor::BitField {
                start_bit,
                end_bit,
                target,
            } => Type::BitField {
                start_bit: *start_bit,
                end_bit: *end_bit,
                storage: Arc::new(match target {
                    Some(t) => Type::from_descriptor(t),
                    None => Type::Native(narrowest_unsigned(*end_bit)),
                }),
            },
            Descriptor::Enumeration {
                enum_name,
                choices,
                target,
            } => Type::Enumeration {
                storage: Arc::new(Type::from_descriptor(target)),
                choices: match (choices, enum_name) {
                    (Some(c), _) => Choices::Inline(Arc::new(c.clone())),
                    (None, Some(n)) => Choices::Named(n.as_str().into()),
                    (None, None) => Choices::Inline(Arc::default()),
                },
            },
            Descriptor::String { length } => Type::string(*length),
            Descriptor::UnicodeString { length } => Type::unicode_string(*length),
            Descriptor::Void => Type::Void,
            Descriptor::Function => Type::Function,
            Descriptor::Other { class, args } => from_other(class, args.as_ref()),
        }
    }

    /// The type of a JSON descriptor (any form [`Descriptor::from_json`]
    /// accepts).
    pub fn from_json(v: &Json) -> Result<Type> {
        Ok(Type::from_descriptor(&Descriptor::from_json(v)?))
    }
}

/// The narrowest unsigned integer holding bit `end_bit - 1`.
fn narrowest_unsigned(end_bit: u32) -> Native {
    Native::unsigned(match end_bit {
        0..=8 => 1,
        9..=16 => 2,
        17..=32 => 4,
        _ => 8,
    })
}

/// Rekall's `term` argument: absent -> NUL, `null` -> none, a one-character
/// string -> that character (a longer one: its first byte).
fn term(a: &Map<String, Json>) -> Option<u8> {
    match a.get("term") {
        None => Some(0),
        Some(Json::Null) => None,
        Some(Json::String(t)) => Some(t.bytes().next().unwrap_or(0)),
        Some(Json::Number(n)) => n.as_u64().and_then(|v| u8::try_from(v).ok()),
        Some(_) => Some(0),
    }
}

/// Classes with arguments that [`Descriptor`] keeps verbatim.
fn from_other(class: &str, args: Option<&Map<String, Json>>) -> Type {
    let empty = Map::new();
    let a = args.unwrap_or(&empty);
    let num = |k: &str| a.get(k).and_then(Json::as_u64);
    let target = || match a.get("target") {
        Some(Json::String(t)) => {
            let targs = a.get("target_args").and_then(Json::as_object);
            Descriptor::from_class(t, targs)
                .map(|d| Type::from_descriptor(&d))
                .unwrap_or_else(|_| Type::Unknown(t.as_str().into()))
        }
        Some(v @ Json::Array(_)) => {
            Type::from_json(v).unwrap_or_else(|_| Type::Unknown("target".into()))
        }
        _ => Type::named("unsigned long"),
    };
    match class {
        "Flags" => {
            let mut masks = Vec::new();
            if let Some(Json::Object(m)) = a.get("maskmap") {
                masks.extend(m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_u64()?))));
            }
            if let Some(Json::Object(m)) = a.get("bitmap") {
                masks.extend(m.iter().filter_map(|(k, v)| {
                    Some((
                        k.clone(),
                        1u64.checked_shl(u32::try_from(v.as_u64()?).ok()?)?,
                    ))
                }));
            }
            masks.sort_by(|x, y| x.1.cmp(&y.1).then_with(|| x.0.cmp(&y.0)));
            Type::flags(target(), masks)
        }
        "String" => Type::String {
            length: num("length").unwrap_or(DEFAULT_STRING_LENGTH).into(),
            term: term(a),
        },
        "UnicodeString" => Type::UnicodeString {
            length: num("length").unwrap_or(DEFAULT_STRING_LENGTH).into(),
            term: term(a).map(u16::from),
        },
        "UnixTimeStamp" => Type::UnixTimeStamp,
        "WinFileTime" => Type::WinFileTime,
        "Pointer" | "pointer" | "Pointer32" | "Pointer64" => Type::pointer(target()),
        "Array" => {
            // Rekall also takes `size` (bytes) instead of `count`; resolved
            // when the element size is known, so keep the byte size.
            match (num("count"), num("size")) {
                (Some(c), _) => Type::array(c, target()),
                (None, Some(size)) => Type::array(Count::Bytes(size), target()),
                _ => Type::Unknown("Array without count".into()),
            }
        }
        "Enumeration" => {
            let choices = match a.get("choices") {
                Some(Json::Object(c)) => Choices::Inline(Arc::new(
                    c.iter()
                        .filter_map(|(k, v)| Some((k.trim().parse().ok()?, v.as_str()?.to_owned())))
                        .collect(),
                )),
                _ => match a.get("enum_name").and_then(Json::as_str) {
                    Some(n) => Choices::Named(n.into()),
                    None => Choices::Inline(Arc::default()),
                },
            };
            Type::Enumeration {
                storage: Arc::new(target()),
                choices,
            }
        }
        "Void" | "void" => Type::Void,
        "Function" => Type::Function,
        other => Type::Unknown(other.into()),
    }
}

/// A member of a merged struct layout.
#[derive(Debug, Clone)]
pub struct Member {
    /// Offset from the start of the struct (`None`: unknown).
    pub offset: Option<Count>,
    /// The member's type.
    pub ty: Type,
}

/// A struct as the runtime sees it: the profile's definition with every
/// overlay of the session merged in.
#[derive(Debug, Clone)]
pub struct StructLayout {
    /// The struct name.
    pub name: Arc<str>,
    /// Size in bytes (`None`: unknown).
    pub size: Option<Count>,
    /// Members by name.
    pub members: BTreeMap<String, Member>,
}

/// An overlay on one struct: a size and members; `None` lets the value of the
/// layer below bubble up.
#[derive(Debug, Clone, Default)]
pub struct StructOverlay {
    /// The new size, or `None` to keep the lower layer's.
    pub size: Option<Count>,
    /// Member overlays by name.
    pub members: BTreeMap<String, MemberOverlay>,
}

/// An overlay on one member.
#[derive(Debug, Clone, Default)]
pub struct MemberOverlay {
    /// The new offset, or `None` to keep the lower layer's.
    pub offset: Option<Count>,
    /// The new type, or `None` to keep the lower layer's.
    pub ty: Option<Type>,
}

/// A set of struct overlays, merged with Rekall's rules over the profile (and
/// over the overlays added before it):
///
/// - a `None` size, offset or type lets the lower layer's value bubble up;
/// - a given value replaces it (a `Type` may be a richer one: a `char` array
///   read as a `String`);
/// - a member or struct the lower layers lack is added;
/// - numbers and values may be closures ([`Count::Computed`], [`Type::Computed`]).
#[derive(Debug, Clone, Default)]
pub struct Overlay {
    /// Struct overlays by struct name.
    pub structs: BTreeMap<String, StructOverlay>,
}

impl Overlay {
    /// An empty overlay.
    pub fn new() -> Self {
        Overlay::default()
    }

    /// Overlays member `member` of `strct`: `offset` / `ty` of `None` keep the
    /// lower layer's value.
    pub fn member(
        mut self,
        strct: &str,
        member: &str,
        offset: impl Into<Option<Count>>,
        ty: impl Into<Option<Type>>,
    ) -> Self {
        let m = self
            .structs
            .entry(strct.to_owned())
            .or_default()
            .members
            .entry(member.to_owned())
            .or_default();
        if let Some(o) = offset.into() {
            m.offset = Some(o);
        }
        if let Some(t) = ty.into() {
            m.ty = Some(t);
        }
        self
    }

    /// Sets the size of `strct`.
    pub fn size(mut self, strct: &str, size: impl Into<Count>) -> Self {
        self.structs.entry(strct.to_owned()).or_default().size = Some(size.into());
        self
    }

    /// Adds a member of `strct` whose value `f` computes from the struct.
    pub fn computed_value(
        self,
        strct: &str,
        member: &str,
        f: impl Fn(&Object) -> Value + Send + Sync + 'static,
    ) -> Self {
        self.member(strct, member, None, Type::computed(f))
    }

    /// Reads a Rekall overlay in JSON form:
    /// `{"struct": [size|null, {"member": [offset|null, descriptor|null]}]}`.
    pub fn from_json(v: &Json) -> Result<Self> {
        let ctx = "overlay";
        let top = v
            .as_object()
            .ok_or_else(|| Error::format(ctx, "expected an object of structs"))?;
        let mut out = Overlay::new();
        for (name, def) in top {
            let list = def.as_array().filter(|l| l.len() == 2).ok_or_else(|| {
                Error::format(ctx, format!("{name}: expected [size, {{members}}]"))
            })?;
            let so = out.structs.entry(name.clone()).or_default();
            if let Some(s) = list[0].as_u64() {
                so.size = Some(Count::Fixed(s));
            } else if !list[0].is_null() {
                return Err(Error::format(
                    ctx,
                    format!("{name}: size is not an integer or null"),
                ));
            }
            let members = match &list[1] {
                Json::Object(m) => m.clone(),
                Json::Null => Map::new(),
                _ => {
                    return Err(Error::format(
                        ctx,
                        format!("{name}: members are not an object"),
                    ))
                }
            };
            for (m, mdef) in members {
                let ml = mdef.as_array().filter(|l| l.len() == 2).ok_or_else(|| {
                    Error::format(ctx, format!("{name}.{m}: expected [offset, type]"))
                })?;
                let offset = match &ml[0] {
                    Json::Null => None,
                    o => Some(Count::Fixed(o.as_u64().ok_or_else(|| {
                        Error::format(ctx, format!("{name}.{m}: offset is not an integer or null"))
                    })?)),
                };
                let ty = match &ml[1] {
                    Json::Null => None,
                    t => Some(Type::from_json(t)?),
                };
                so.members.insert(m, MemberOverlay { offset, ty });
            }
        }
        Ok(out)
    }
}

impl StructLayout {
    /// The layout of a profile struct, before overlays.
    pub fn from_struct_def(name: &str, def: &crate::profile::StructDef) -> StructLayout {
        StructLayout {
            name: name.into(),
            size: def.size.map(Count::Fixed),
            members: def
                .fields
                .iter()
                .map(|(k, f)| {
                    (
                        k.clone(),
                        Member {
                            offset: f.offset.map(Count::Fixed),
                            ty: Type::from_descriptor(&f.descriptor),
                        },
                    )
                })
                .collect(),
        }
    }

    /// An empty layout (a struct only an overlay defines).
    pub fn empty(name: &str) -> StructLayout {
        StructLayout {
            name: name.into(),
            size: None,
            members: BTreeMap::new(),
        }
    }

    /// Merges one overlay layer into this layout (Rekall's rules, see
    /// [`Overlay`]).
    pub fn merge(&mut self, o: &StructOverlay) {
        if let Some(s) = &o.size {
            self.size = Some(s.clone());
        }
        for (name, mo) in &o.members {
            match self.members.get_mut(name) {
                Some(m) => {
                    if let Some(off) = &mo.offset {
                        m.offset = Some(off.clone());
                    }
                    if let Some(t) = &mo.ty {
                        m.ty = t.clone();
                    }
                }
                None => {
                    self.members.insert(
                        name.clone(),
                        Member {
                            offset: mo.offset.clone(),
                            ty: mo.ty.clone().unwrap_or_else(|| {
                                Type::Unknown(format!("{name} (no type given)").into())
                            }),
                        },
                    );
                }
            }
        }
    }
}
