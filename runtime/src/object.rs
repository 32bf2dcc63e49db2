//! Objects: typed views of memory, and the values read from them.
//!
//! An [`Object`] is a type at an address in an address space, made by a
//! [`Session`]. Every accessor returns another object or a [`Value`]; a read
//! that fails, a member that does not exist or a bad pointer gives a
//! [`NoneObject`] that says why (Rekall's `NoneObject`): it can be tested
//! ([`Object::is_none`]), carried through further accesses, and printed.
//! Nothing here panics on any bytes.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, OnceLock};

use crate::native::NativeKind;
use crate::session::{Session, StructInfo, MAX_DEPTH};
use crate::space::{ReadStatus, Space};
use crate::types::{Choices, Count, Type};

/// Most elements [`Object::iter`] yields (a guard against absurd counts).
pub const MAX_ITER: u64 = 1 << 20;

/// Most entries a list walk ([`Object::list_of`]) yields by default.
pub const MAX_LIST_ENTRIES: usize = 1 << 20;

/// Most bytes a `String` / `UnicodeString` / char array is read as text.
pub const MAX_STRING_BYTES: u64 = 1 << 20;

/// The absence of a value, with the reason (Rekall's `NoneObject`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoneObject {
    reason: Arc<str>,
}

impl NoneObject {
    /// A NoneObject with a reason.
    pub fn new(reason: impl Into<String>) -> Self {
        NoneObject {
            reason: reason.into().into(),
        }
    }

    /// Why there is no value.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for NoneObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "None ({})", self.reason)
    }
}

impl std::error::Error for NoneObject {}

/// A point in time, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp {
    /// Seconds since 1970-01-01 00:00:00 UTC (negative before).
    pub unix_seconds: i64,
    /// Nanoseconds within the second.
    pub nanos: u32,
}

impl Timestamp {
    /// Seconds between 1601-01-01 and 1970-01-01.
    const FILETIME_EPOCH: i64 = 11_644_473_600;

    /// From a Windows FILETIME (100 ns intervals since 1601).
    pub fn from_filetime(ft: u64) -> Timestamp {
        let secs = (ft / 10_000_000) as i64;
        Timestamp {
            unix_seconds: secs - Self::FILETIME_EPOCH,
            nanos: ((ft % 10_000_000) * 100) as u32,
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Days to civil date (H. Hinnant's algorithm).
        let days = self.unix_seconds.div_euclid(86_400);
        let secs = self.unix_seconds.rem_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        write!(
            f,
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }
}

/// A value read from memory.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An integer (any native size and signedness, a bit field).
    Int(i128),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A pointer's value (the address it points to).
    Pointer(u64),
    /// An enumeration: the value and its name, if it has one.
    Enum {
        /// The integer.
        value: i128,
        /// The name of the value (`None`: not in the enumeration).
        name: Option<String>,
    },
    /// Flags: the integer and the names of the set flags.
    Flags {
        /// The integer.
        value: u64,
        /// Names whose mask is set.
        names: Vec<String>,
    },
    /// Text.
    String(String),
    /// A time.
    Time(Timestamp),
    /// A struct, array, void or function object: no scalar value, only its
    /// type and address.
    Address {
        /// The type's name.
        type_name: String,
        /// The object's address.
        address: u64,
    },
    /// No value, and why.
    None(NoneObject),
}

impl Value {
    /// The value as an unsigned integer (integers, pointers, enumerations,
    /// flags, bools; negative integers as `None`).
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Int(i) | Value::Enum { value: i, .. } => u64::try_from(*i).ok(),
            Value::Pointer(p) | Value::Flags { value: p, .. } => Some(*p),
            Value::Bool(b) => Some(u64::from(*b)),
            _ => None,
        }
    }

    /// The value as a signed integer.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) | Value::Enum { value: i, .. } => i64::try_from(*i).ok(),
            Value::Pointer(p) | Value::Flags { value: p, .. } => i64::try_from(*p).ok(),
            Value::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }

    /// The text of a string value, or the name of an enumeration value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            Value::Enum { name: Some(n), .. } => Some(n),
            _ => None,
        }
    }

    /// True for [`Value::None`].
    pub fn is_none(&self) -> bool {
        matches!(self, Value::None(_))
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Pointer(p) => write!(f, "{p:#x}"),
            Value::Enum { value, name } => match name {
                Some(n) => f.write_str(n),
                None => write!(f, "UNKNOWN ({value})"),
            },
            Value::Flags { value, names } => write!(f, "{value:#x} ({})", names.join(", ")),
            Value::String(s) => f.write_str(s),
            Value::Time(t) => write!(f, "{t}"),
            Value::Address { type_name, address } => write!(f, "[{type_name}] @ {address:#x}"),
            Value::None(n) => write!(f, "{n}"),
        }
    }
}

/// A typed view of memory (see the module documentation).
#[derive(Clone)]
pub struct Object(Repr);

#[derive(Clone)]
enum Repr {
    Live(Live),
    Value(Value, Arc<str>),
    None(NoneObject),
}

#[derive(Clone)]
struct Live {
    /// The session and space, shared by every object reached from one root
    /// (one reference count to bump per member access, not two).
    ctx: Arc<Ctx>,
    addr: u64,
    /// Resolved: never `Type::Named`, counts fixed.
    ty: Type,
    name: Name,
    /// For a struct: its layout with members resolved (so member access
    /// needs no session lookup).
    info: Option<Arc<StructInfo>>,
}

/// What objects reached from one another share.
pub(crate) struct Ctx {
    session: Session,
    space: Space,
}

impl fmt::Debug for Ctx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} over {:?}", self.session, self.space)
    }
}

impl Ctx {
    pub(crate) fn new(session: Session, space: Space) -> Arc<Ctx> {
        Arc::new(Ctx { session, space })
    }
}

/// An object's name (the path it was reached by), built only when asked
/// for: a member's name is its parent's name and the member name, joined
/// with a `.` on first use, so member access allocates nothing.
#[derive(Clone)]
pub(crate) struct Name {
    /// The whole name, or the parent's when `leaf` is set.
    base: Arc<str>,
    leaf: Option<Arc<str>>,
    joined: OnceLock<Arc<str>>,
}

impl Name {
    fn whole(name: Arc<str>) -> Name {
        Name {
            base: name,
            leaf: None,
            joined: OnceLock::new(),
        }
    }

    fn member(parent: &Name, leaf: Arc<str>) -> Name {
        Name {
            base: parent.to_arc(),
            leaf: Some(leaf),
            joined: OnceLock::new(),
        }
    }

    fn as_str(&self) -> &str {
        match &self.leaf {
            None => &self.base,
            Some(leaf) => self
                .joined
                .get_or_init(|| format!("{}.{leaf}", self.base).into()),
        }
    }

    fn to_arc(&self) -> Arc<str> {
        match &self.leaf {
            None => Arc::clone(&self.base),
            Some(_) => {
                self.as_str();
                self.joined
                    .get()
                    .map_or_else(|| Arc::clone(&self.base), Arc::clone)
            }
        }
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.leaf {
            None => f.write_str(&self.base),
            Some(leaf) => write!(f, "{}.{leaf}", self.base),
        }
    }
}

impl fmt::Debug for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Live(l) => write!(f, "Object({} {} @ {:#x})", l.ty, l.name, l.addr),
            Repr::Value(v, n) => write!(f, "Object({n} = {v:?})"),
            Repr::None(n) => write!(f, "Object({n})"),
        }
    }
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.value())
    }
}

impl From<NoneObject> for Object {
    fn from(n: NoneObject) -> Self {
        Object(Repr::None(n))
    }
}

/// Reads a native value of `len <= 16` bytes into a stack buffer.
fn read_small(space: &Space, addr: u64, len: usize, what: &Name) -> Result<[u8; 16], NoneObject> {
    let mut buf = [0u8; 16];
    let Some(dst) = buf.get_mut(..len) else {
        return Err(NoneObject::new(format!(
            "{what}: {len} bytes is too wide for a native value"
        )));
    };
    let status = space.read(addr, dst);
    if status.is_complete() {
        Ok(buf)
    } else {
        Err(unreadable(what, len, addr, status))
    }
}

#[cold]
fn unreadable(what: &dyn fmt::Display, len: usize, addr: u64, status: ReadStatus) -> NoneObject {
    NoneObject::new(format!(
        "{what}: cannot read {len} bytes at {addr:#x} (invalid from {:#x})",
        status.first_invalid.unwrap_or(addr)
    ))
}

fn read_at(
    space: &Space,
    addr: u64,
    len: usize,
    what: &dyn fmt::Display,
) -> Result<Vec<u8>, NoneObject> {
    let mut buf = vec![0u8; len];
    let status = space.read(addr, &mut buf);
    if status.is_complete() {
        Ok(buf)
    } else {
        Err(unreadable(what, len, addr, status))
    }
}

impl Object {
    /// Makes an object, resolving `ty` (named types, counts that depend on
    /// the enclosing struct `parent`). Unresolvable types give a NoneObject.
    pub(crate) fn new(
        ctx: Arc<Ctx>,
        addr: u64,
        ty: Type,
        parent: Option<&Object>,
        name: Option<Name>,
    ) -> Object {
        let name = name.unwrap_or_else(|| Name::whole(ty.to_string().into()));
        let session = &ctx.session;
        let ty = session.resolve(&ty);
        let mut info = None;
        let ty = match ty {
            Type::Computed(f) => {
                return match parent {
                    Some(p) => Object(Repr::Value(f(p), name.to_arc())),
                    None => NoneObject::new(format!("{name}: a computed member needs its struct"))
                        .into(),
                }
            }
            Type::Unknown(what) => {
                return NoneObject::new(format!("{name}: type {what} is unknown to this profile"))
                    .into()
            }
            Type::Array { count, target } => {
                let n = match count {
                    Count::Bytes(b) => match session.size_of_type(&target, None, None) {
                        Some(0) | None => None,
                        Some(e) => Some(b / e),
                    },
                    c => c.eval(parent),
                };
                match n {
                    Some(n) => Type::Array {
                        count: Count::Fixed(n),
                        target,
                    },
                    None => {
                        return NoneObject::new(format!("{name}: the array's count is unknown"))
                            .into()
                    }
                }
            }
            Type::String { length, term } => match length.eval(parent) {
                Some(n) => Type::String {
                    length: n.into(),
                    term,
                },
                None => {
                    return NoneObject::new(format!("{name}: the string's length is unknown"))
                        .into()
                }
            },
            Type::UnicodeString { length, term } => match length.eval(parent) {
                Some(n) => Type::UnicodeString {
                    length: n.into(),
                    term,
                },
                None => {
                    return NoneObject::new(format!("{name}: the string's length is unknown"))
                        .into()
                }
            },
            Type::Struct(s) => match session.struct_info(&s) {
                Ok(i) => {
                    info = Some(i);
                    Type::Struct(s)
                }
                Err(e) => return NoneObject::new(format!("{name}: {}", e.reason())).into(),
            },
            t => t,
        };
        Object(Repr::Live(Live {
            ctx,
            addr,
            ty,
            name,
            info,
        }))
    }

    /// An object that holds only a value (as a computed member does).
    pub fn from_value(value: Value, name: &str) -> Object {
        Object(Repr::Value(value, name.into()))
    }

    /// A NoneObject with a reason.
    pub fn none(reason: impl Into<String>) -> Object {
        NoneObject::new(reason).into()
    }

    /// True when this is a NoneObject (or a computed member whose value is
    /// none).
    pub fn is_none(&self) -> bool {
        match &self.0 {
            Repr::None(_) => true,
            Repr::Value(v, _) => v.is_none(),
            Repr::Live(_) => false,
        }
    }

    /// Why this object is none, if it is.
    pub fn none_reason(&self) -> Option<&str> {
        match &self.0 {
            Repr::None(n) | Repr::Value(Value::None(n), _) => Some(n.reason()),
            _ => None,
        }
    }

    /// This object's NoneObject, or a new one saying `fallback`.
    pub fn none_or(&self, fallback: &str) -> NoneObject {
        match &self.0 {
            Repr::None(n) | Repr::Value(Value::None(n), _) => n.clone(),
            _ => NoneObject::new(format!("{}: {fallback}", self.name())),
        }
    }

    /// The object's name: the path it was reached by (`task_struct.comm`).
    pub fn name(&self) -> &str {
        match &self.0 {
            Repr::Live(l) => l.name.as_str(),
            Repr::Value(_, n) => n,
            Repr::None(_) => "None",
        }
    }

    /// The address of the object.
    pub fn address(&self) -> Option<u64> {
        match &self.0 {
            Repr::Live(l) => Some(l.addr),
            _ => None,
        }
    }

    /// The (resolved) type.
    pub fn ty(&self) -> Option<&Type> {
        match &self.0 {
            Repr::Live(l) => Some(&l.ty),
            _ => None,
        }
    }

    /// The type's name (`task_struct`, `Pointer<list_head>`, `uint32`...).
    pub fn type_name(&self) -> String {
        match &self.0 {
            Repr::Live(l) => l.ty.to_string(),
            Repr::Value(..) => "<computed>".into(),
            Repr::None(_) => "None".into(),
        }
    }

    /// The session this object was made by.
    pub fn session(&self) -> Option<&Session> {
        match &self.0 {
            Repr::Live(l) => Some(&l.ctx.session),
            _ => None,
        }
    }

    /// The address space the object lives in.
    pub fn space(&self) -> Option<&Space> {
        match &self.0 {
            Repr::Live(l) => Some(&l.ctx.space),
            _ => None,
        }
    }

    /// The object's size in bytes.
    pub fn size(&self) -> Option<u64> {
        let Repr::Live(l) = &self.0 else { return None };
        l.ctx.session.size_of_type(&l.ty, None, Some(self))
    }

    fn live(&self) -> Result<&Live, NoneObject> {
        match &self.0 {
            Repr::Live(l) => Ok(l),
            Repr::None(n) | Repr::Value(Value::None(n), _) => Err(n.clone()),
            Repr::Value(_, n) => Err(NoneObject::new(format!(
                "{n} is a computed value, not an object in memory"
            ))),
        }
    }

    /// Reads `len` bytes at the object's address.
    pub fn read_bytes(&self, len: usize) -> Result<Vec<u8>, NoneObject> {
        let l = self.live()?;
        read_at(&l.ctx.space, l.addr, len, &l.name)
    }

    /// The member `name` of a struct (through a pointer to a struct, which is
    /// dereferenced first, as Rekall does). A member that does not exist, an
    /// unknown offset or an unreadable pointer gives a NoneObject.
    pub fn member(&self, name: &str) -> Object {
        let l = match self.live() {
            Ok(l) => l,
            Err(n) => return n.into(),
        };
        let (sname, info) = match (&l.ty, &l.info) {
            (Type::Struct(s), Some(info)) => (s, info),
            (Type::Pointer(_), _) => return self.deref().member(name),
            (other, _) => {
                return Object::none(format!(
                    "{}: {other} has no members (asked for {name})",
                    l.name
                ))
            }
        };
        let Some(m) = info.member(name) else {
            return Object::none(format!("{}: {sname} has no member {name}", l.name));
        };
        // An object named after its type (a root object) names its members
        // with the struct's precomputed `type.member`: one shared string.
        let path = if l.name.leaf.is_none() && *l.name.base == **sname {
            Name::whole(Arc::clone(&m.full_name))
        } else {
            Name::member(&l.name, Arc::clone(&m.name))
        };
        if let Type::Computed(f) = &m.ty {
            return Object(Repr::Value(f(self), path.to_arc()));
        }
        let offset = match m.fixed_offset {
            Some(o) => o,
            None => match m.offset.as_ref().and_then(|o| o.eval(Some(self))) {
                Some(o) => o,
                None => return Object::none(format!("{path}: the member's offset is unknown")),
            },
        };
        let Some(addr) = l.addr.checked_add(offset) else {
            return Object::none(format!("{path}: address overflows"));
        };
        if let Some(ty) = &m.resolved {
            // Resolved when the layout was built: no lookup needed.
            return Object(Repr::Live(Live {
                ctx: Arc::clone(&l.ctx),
                addr,
                ty: ty.clone(),
                name: path,
                info: None,
            }));
        }
        Object::new(
            Arc::clone(&l.ctx),
            addr,
            m.ty.clone(),
            Some(self),
            Some(path),
        )
    }

    /// Follows a dotted path of members, with optional indexes:
    /// `"mm.pgd"`, `"comm[0]"`, `"ActiveProcessLinks.Flink"`.
    pub fn get(&self, path: &str) -> Object {
        // `None`: still at `self` (not cloned unless the path is empty).
        let mut cur: Option<Object> = None;
        for part in path.split('.').take(MAX_DEPTH) {
            let (name, mut rest) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            if !name.is_empty() {
                cur = Some(cur.as_ref().unwrap_or(self).member(name));
            }
            while let Some(r) = rest.strip_prefix('[') {
                let Some(end) = r.find(']') else {
                    return Object::none(format!("bad path {path:?}"));
                };
                let Ok(i) = r[..end].trim().parse::<u64>() else {
                    return Object::none(format!("bad index in path {path:?}"));
                };
                cur = Some(cur.as_ref().unwrap_or(self).index(i));
                rest = &r[end + 1..];
            }
            if cur.as_ref().is_some_and(Object::is_none) {
                break;
            }
        }
        cur.unwrap_or_else(|| self.clone())
    }

    /// The member names of a struct (after overlays), sorted.
    pub fn members(&self) -> Vec<String> {
        let Ok(l) = self.live() else {
            return Vec::new();
        };
        match &l.ty {
            Type::Struct(s) => l
                .ctx
                .session
                .layout(s)
                .map(|layout| layout.members.keys().cloned().collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    fn read_pointer(&self, l: &Live) -> Result<u64, NoneObject> {
        let size = usize::from(l.ctx.session.data_model().pointer_size).min(8);
        let b = read_small(&l.ctx.space, l.addr, size, &l.name)?;
        let mut v = [0u8; 8];
        v.copy_from_slice(&b[..8]);
        Ok(u64::from_le_bytes(v))
    }

    /// Dereferences a pointer: the target object at the address it holds. A
    /// NULL pointer or one to an invalid address gives a NoneObject.
    pub fn deref(&self) -> Object {
        let l = match self.live() {
            Ok(l) => l,
            Err(n) => return n.into(),
        };
        let Type::Pointer(target) = &l.ty else {
            return Object::none(format!("{}: {} is not a pointer", l.name, l.ty));
        };
        let p = match self.read_pointer(l) {
            Ok(p) => p,
            Err(n) => return n.into(),
        };
        if p == 0 {
            return Object::none(format!("{}: NULL pointer", l.name));
        }
        if !l.ctx.space.is_valid(p) {
            return Object::none(format!("{}: pointer to invalid address {p:#x}", l.name));
        }
        Object::new(
            Arc::clone(&l.ctx),
            p,
            (**target).clone(),
            None,
            Some(l.name.clone()),
        )
    }

    /// The number of elements of an array.
    pub fn len(&self) -> Option<u64> {
        match self.ty()? {
            Type::Array { count, .. } => count.fixed(),
            _ => None,
        }
    }

    /// True for an array of no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// Element `i` of an array (bounds-checked), or of the array a pointer
    /// points to (unchecked, as in C).
    pub fn index(&self, i: u64) -> Object {
        let l = match self.live() {
            Ok(l) => l,
            Err(n) => return n.into(),
        };
        let (target, bound, base) = match &l.ty {
            Type::Array { count, target } => (target, count.fixed(), l.addr),
            Type::Pointer(target) => match self.read_pointer(l) {
                Ok(0) => return Object::none(format!("{}: NULL pointer", l.name)),
                Ok(p) => (target, None, p),
                Err(n) => return n.into(),
            },
            other => return Object::none(format!("{}: {other} cannot be indexed", l.name)),
        };
        if bound.is_some_and(|n| i >= n) {
            return Object::none(format!(
                "{}[{i}]: index out of range (length {})",
                l.name,
                bound.unwrap_or(0)
            ));
        }
        let Some(esize) = l.ctx.session.size_of_type(target, None, None) else {
            return Object::none(format!("{}: the element size is unknown", l.name));
        };
        let Some(addr) = i.checked_mul(esize).and_then(|o| base.checked_add(o)) else {
            return Object::none(format!("{}[{i}]: address overflows", l.name));
        };
        Object::new(
            Arc::clone(&l.ctx),
            addr,
            (**target).clone(),
            None,
            Some(Name::whole(format!("{}[{i}]", l.name).into())),
        )
    }

    /// The elements of an array, at most [`MAX_ITER`].
    pub fn iter(&self) -> impl Iterator<Item = Object> + '_ {
        let n = self.len().unwrap_or(0).min(MAX_ITER);
        (0..n).map(move |i| self.index(i))
    }

    /// The same address read as another type.
    pub fn cast(&self, type_name: &str) -> Object {
        self.cast_to(Type::named(type_name))
    }

    /// The same address read as `ty`.
    pub fn cast_to(&self, ty: Type) -> Object {
        let l = match self.live() {
            Ok(l) => l,
            Err(n) => return n.into(),
        };
        Object::new(Arc::clone(&l.ctx), l.addr, ty, None, Some(l.name.clone()))
    }

    /// The struct `type_name` that contains this object as its member
    /// `member_path` (Linux's `container_of`, Windows' `CONTAINING_RECORD`).
    pub fn container_of(&self, type_name: &str, member_path: &str) -> Object {
        let l = match self.live() {
            Ok(l) => l,
            Err(n) => return n.into(),
        };
        let Some(off) = l.ctx.session.offset_of(type_name, member_path) else {
            return Object::none(format!("{type_name}.{member_path}: no fixed offset"));
        };
        let Some(addr) = l.addr.checked_sub(off) else {
            return Object::none(format!("{}: container address underflows", l.name));
        };
        l.ctx.session.object(type_name, addr, &l.ctx.space)
    }

    /// Follows a chain of pointers: from this struct (or the struct this
    /// pointer points to; a NULL pointer is an empty chain), yields each
    /// struct, then the one its member `next_path` (a pointer, dotted paths
    /// allowed: `"p_list.le_next"`) points to, until a NULL pointer. For
    /// NULL-terminated lists: BSD `LIST_ENTRY`, `hlist_node`, singly linked
    /// lists, parent chains.
    ///
    /// A loop, an unreadable link or more than [`MAX_LIST_ENTRIES`] structs
    /// (see [`ChainIter::limit`]) end the chain with one NoneObject.
    pub fn follow(&self, next_path: &str) -> ChainIter {
        let start = match self.ty() {
            Some(Type::Pointer(_)) => match self.value() {
                Value::Pointer(0) => None,
                _ => Some(self.deref()),
            },
            _ => Some(self.clone()),
        };
        ChainIter {
            cur: start,
            next_path: next_path.to_owned(),
            visited: HashSet::new(),
            max: MAX_LIST_ENTRIES,
        }
    }

    /// Walks the list this list entry (a `_LIST_ENTRY`, `list_head`, or any
    /// struct whose class names a link member, else with a `next` or `Flink`
    /// member) heads: yields each container `container` whose member
    /// `member_path` is an entry of the list, the head excluded.
    ///
    /// The walk stops at the head; a NULL or unreadable link, a loop that does
    /// not return to the head, or more than [`MAX_LIST_ENTRIES`] entries
    /// (see [`ListIter::limit`]) end it with one NoneObject saying so.
    pub fn list_of(&self, container: &str, member_path: &str) -> ListIter {
        ListIter::new(self, container, member_path)
    }

    /// The object's value.
    pub fn value(&self) -> Value {
        let l = match &self.0 {
            Repr::Live(l) => l,
            Repr::Value(v, _) => return v.clone(),
            Repr::None(n) => return Value::None(n.clone()),
        };
        match self.read_value(l) {
            Ok(v) => v,
            Err(n) => Value::None(n),
        }
    }

    fn read_int(&self, l: &Live, ty: &Type) -> Result<(i128, u8), NoneObject> {
        match l.ctx.session.resolve(ty) {
            Type::Native(n)
                if n.size <= 16
                    && matches!(
                        n.kind,
                        NativeKind::Signed | NativeKind::Unsigned | NativeKind::Bool
                    ) =>
            {
                let len = usize::from(n.size);
                let b = read_small(&l.ctx.space, l.addr, len, &l.name)?;
                Ok((n.decode_int(&b[..len]), n.size))
            }
            Type::Enumeration { storage, .. } => self.read_int(l, &storage),
            other => Err(NoneObject::new(format!(
                "{}: {other} is not an integer type",
                l.name
            ))),
        }
    }

    fn read_value(&self, l: &Live) -> Result<Value, NoneObject> {
        Ok(match &l.ty {
            Type::Native(n) if n.size <= 16 => {
                let len = usize::from(n.size);
                let buf = read_small(&l.ctx.space, l.addr, len, &l.name)?;
                let b = &buf[..len];
                match n.kind {
                    NativeKind::Bool => Value::Bool(b.iter().any(|x| *x != 0)),
                    NativeKind::Float => Value::Float(n.decode_float(b).ok_or_else(|| {
                        NoneObject::new(format!("{}: unsupported float size {}", l.name, n.size))
                    })?),
                    _ => Value::Int(n.decode_int(b)),
                }
            }
            Type::Native(n) => {
                return Err(NoneObject::new(format!(
                    "{}: native size {} is not supported",
                    l.name, n.size
                )))
            }
            Type::Pointer(_) => Value::Pointer(self.read_pointer(l)?),
            Type::BitField {
                start_bit,
                end_bit,
                storage,
            } => {
                let (raw, size) = self.read_int(l, storage)?;
                let bits = u32::from(size) * 8;
                let (start, end) = ((*start_bit).min(bits), (*end_bit).min(bits));
                let width = end.saturating_sub(start);
                let raw = raw as u128;
                let v = if width == 0 {
                    0
                } else if width >= 128 {
                    raw >> start
                } else {
                    (raw >> start) & ((1u128 << width) - 1)
                };
                Value::Int(v as i128)
            }
            Type::Enumeration { storage, choices } => {
                let (v, _) = self.read_int(l, storage)?;
                let name = match choices {
                    Choices::Inline(c) => c.get(&v).cloned(),
                    Choices::Named(e) => l.ctx.session.enum_name(e, v).map(str::to_owned),
                };
                Value::Enum { value: v, name }
            }
            Type::Flags { storage, masks } => {
                let (v, _) = self.read_int(l, storage)?;
                let v = v as u64;
                let names = masks
                    .iter()
                    .filter(|(_, m)| *m != 0 && v & m == *m)
                    .map(|(n, _)| n.clone())
                    .collect();
                Value::Flags { value: v, names }
            }
            Type::String { .. } | Type::UnicodeString { .. } => Value::String(self.read_text(l)?),
            Type::Array { target, .. } if self.is_char_array(l, target) => {
                Value::String(self.read_text(l)?)
            }
            Type::UnixTimeStamp => {
                let b = read_at(&l.ctx.space, l.addr, 4, &l.name)?;
                let secs = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                Value::Time(Timestamp {
                    unix_seconds: i64::from(secs),
                    nanos: 0,
                })
            }
            Type::WinFileTime => {
                let b = read_at(&l.ctx.space, l.addr, 8, &l.name)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(&b);
                Value::Time(Timestamp::from_filetime(u64::from_le_bytes(a)))
            }
            Type::Struct(s) => {
                if let Some(class) = l.ctx.session.class_of(s) {
                    if let Some(v) = class.value(self) {
                        return Ok(v);
                    }
                }
                Value::Address {
                    type_name: s.to_string(),
                    address: l.addr,
                }
            }
            Type::Array { .. } | Type::Void | Type::Function => Value::Address {
                type_name: l.ty.to_string(),
                address: l.addr,
            },
            Type::Named(_) | Type::Computed(_) | Type::Unknown(_) => {
                return Err(NoneObject::new(format!(
                    "{}: {} cannot be read",
                    l.name, l.ty
                )))
            }
        })
    }

    fn is_char_array(&self, l: &Live, target: &Type) -> bool {
        let t = l.ctx.session.resolve(target);
        matches!(target, Type::Named(n) if n.as_ref() == "char" || n.as_ref() == "unsigned char" || n.as_ref() == "signed char")
            && matches!(t, Type::Native(n) if n.size == 1)
    }

    /// Reads a string type, or a char array, as text: up to the first NUL,
    /// at most [`MAX_STRING_BYTES`]; unreadable bytes end the text.
    fn read_text(&self, l: &Live) -> Result<String, NoneObject> {
        let (len, wide, term) = match &l.ty {
            Type::String { length, term } => {
                (length.fixed().unwrap_or(0), false, term.map(u16::from))
            }
            Type::UnicodeString { length, term } => (length.fixed().unwrap_or(0), true, *term),
            Type::Array { count, .. } => (count.fixed().unwrap_or(0), false, Some(0)),
            other => return Err(NoneObject::new(format!("{}: {other} is not text", l.name))),
        };
        let len = len.min(MAX_STRING_BYTES) as usize;
        let mut buf = vec![0u8; len];
        let status = l.ctx.space.read(l.addr, &mut buf);
        if let Some(bad) = status.first_invalid {
            if bad == l.addr && len > 0 {
                return Err(NoneObject::new(format!(
                    "{}: cannot read text at {:#x}",
                    l.name, l.addr
                )));
            }
            buf.truncate(bad.wrapping_sub(l.addr) as usize);
        }
        Ok(if wide {
            let units: Vec<u16> = buf
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .take_while(|u| Some(*u) != term)
                .collect();
            String::from_utf16_lossy(&units)
        } else {
            let end = buf
                .iter()
                .position(|b| Some(u16::from(*b)) == term)
                .unwrap_or(buf.len());
            String::from_utf8_lossy(&buf[..end]).into_owned()
        })
    }

    /// The value as an unsigned integer (see [`Value::as_u64`]).
    pub fn as_u64(&self) -> Option<u64> {
        self.value().as_u64()
    }

    /// The value as a signed integer.
    pub fn as_i64(&self) -> Option<i64> {
        self.value().as_i64()
    }

    /// The value as a float.
    pub fn as_f64(&self) -> Option<f64> {
        match self.value() {
            Value::Float(f) => Some(f),
            _ => None,
        }
    }

    /// The value as a bool (a bool, or an integer other than 0).
    pub fn as_bool(&self) -> Option<bool> {
        match self.value() {
            Value::Bool(b) => Some(b),
            Value::Int(i) => Some(i != 0),
            _ => None,
        }
    }

    /// The text of a string, char array or string-valued class
    /// (`_UNICODE_STRING`), or an enumeration's name.
    pub fn as_string(&self) -> Option<String> {
        self.value().as_str().map(str::to_owned)
    }
}

/// An iterator over a NULL-terminated chain of structs (see [`Object::follow`]).
#[derive(Debug)]
pub struct ChainIter {
    cur: Option<Object>,
    next_path: String,
    visited: HashSet<u64>,
    max: usize,
}

impl ChainIter {
    /// Caps the number of structs followed (default [`MAX_LIST_ENTRIES`]).
    pub fn limit(mut self, max: usize) -> ChainIter {
        self.max = max;
        self
    }
}

impl Iterator for ChainIter {
    type Item = Object;

    fn next(&mut self) -> Option<Object> {
        let cur = self.cur.take()?;
        let Some(addr) = cur.address() else {
            // A NoneObject (or a value): yielded once, and the chain ends.
            return Some(cur);
        };
        if !self.visited.insert(addr) {
            return Some(Object::none(format!(
                "chain: loop at {addr:#x}, which was already visited"
            )));
        }
        if self.visited.len() > self.max {
            return Some(Object::none(format!(
                "chain: longer than {} entries",
                self.max
            )));
        }
        let link = cur.get(&self.next_path);
        self.cur = match link.value() {
            Value::Pointer(0) => None,
            Value::Pointer(_) => Some(link.deref()),
            Value::None(n) => Some(n.into()),
            other => Some(Object::none(format!(
                "{}: {other} is not a pointer",
                link.name()
            ))),
        };
        Some(cur)
    }
}

/// An iterator over the containers of a doubly linked list (see
/// [`Object::list_of`]).
#[derive(Debug)]
pub struct ListIter {
    state: Result<Walk, Option<NoneObject>>,
}

#[derive(Debug)]
struct Walk {
    ctx: Arc<Ctx>,
    head: u64,
    link_offset: u64,
    container: Type,
    container_offset: u64,
    next: Result<u64, NoneObject>,
    visited: HashSet<u64>,
    max: usize,
}

impl ListIter {
    fn new(head: &Object, container: &str, member_path: &str) -> ListIter {
        match Walk::new(head, container, member_path) {
            Ok(w) => ListIter { state: Ok(w) },
            Err(n) => ListIter {
                state: Err(Some(n)),
            },
        }
    }

    /// Caps the number of entries walked (default [`MAX_LIST_ENTRIES`]).
    pub fn limit(mut self, max: usize) -> ListIter {
        if let Ok(w) = &mut self.state {
            w.max = max;
        }
        self
    }
}

impl Walk {
    fn new(head: &Object, container: &str, member_path: &str) -> Result<Walk, NoneObject> {
        let l = head.live()?;
        let Type::Struct(sname) = &l.ty else {
            return Err(NoneObject::new(format!(
                "{}: {} is not a list entry",
                l.name, l.ty
            )));
        };
        let layout = l.ctx.session.layout(sname)?;
        let link = l
            .ctx
            .session
            .class_of(sname)
            .and_then(|c| c.list_link().map(str::to_owned))
            .or_else(|| {
                ["next", "Flink"]
                    .iter()
                    .find(|n| layout.members.contains_key(**n))
                    .map(|n| n.to_string())
            })
            .ok_or_else(|| {
                NoneObject::new(format!("{}: {sname} has no list link member", l.name))
            })?;
        let link_offset = l
            .ctx
            .session
            .offset_of(sname, &link)
            .ok_or_else(|| NoneObject::new(format!("{sname}.{link}: no fixed offset")))?;
        let container_offset =
            l.ctx
                .session
                .offset_of(container, member_path)
                .ok_or_else(|| {
                    NoneObject::new(format!("{container}.{member_path}: no fixed offset"))
                })?;
        let mut w = Walk {
            ctx: Arc::clone(&l.ctx),
            head: l.addr,
            link_offset,
            container: Type::named(container),
            container_offset,
            next: Ok(0),
            visited: HashSet::new(),
            max: MAX_LIST_ENTRIES,
        };
        w.next = w.link_at(l.addr);
        Ok(w)
    }

    fn link_at(&self, entry: u64) -> Result<u64, NoneObject> {
        let size = usize::from(self.ctx.session.data_model().pointer_size);
        let at = entry.wrapping_add(self.link_offset);
        let b = read_at(&self.ctx.space, at, size, &"list link")?;
        let mut v = [0u8; 8];
        v[..size.min(8)].copy_from_slice(&b[..size.min(8)]);
        Ok(u64::from_le_bytes(v))
    }

    /// The next container, `Err(Some)` for a final NoneObject, `Err(None)` at
    /// the end.
    fn step(&mut self) -> Result<Object, Option<NoneObject>> {
        let cur = std::mem::replace(&mut self.next, Ok(0)).map_err(Some)?;
        // Compare modulo 2^48 as well: list pointers are canonical while a
        // head found from a masked symbol value may not be.
        if cur == self.head || (cur & 0xffff_ffff_ffff) == (self.head & 0xffff_ffff_ffff) {
            return Err(None);
        }
        if cur == 0 {
            return Err(Some(NoneObject::new("list: NULL link")));
        }
        if !self.visited.insert(cur) {
            return Err(Some(NoneObject::new(format!(
                "list: loop at {cur:#x}, which was already visited, without returning to the head"
            ))));
        }
        if self.visited.len() > self.max {
            return Err(Some(NoneObject::new(format!(
                "list: longer than {} entries",
                self.max
            ))));
        }
        // An entry whose own link cannot be read is not yielded.
        self.next = Ok(self.link_at(cur).map_err(|e| {
            Some(NoneObject::new(format!(
                "list: entry at {cur:#x} is unreadable: {}",
                e.reason()
            )))
        })?);
        let addr = cur.wrapping_sub(self.container_offset);
        Ok(Object::new(
            Arc::clone(&self.ctx),
            addr,
            self.container.clone(),
            None,
            None,
        ))
    }
}

impl Iterator for ListIter {
    type Item = Object;

    fn next(&mut self) -> Option<Object> {
        match &mut self.state {
            Err(last) => last.take().map(Object::from),
            Ok(w) => match w.step() {
                Ok(o) => Some(o),
                Err(end) => {
                    self.state = Err(None);
                    end.map(Object::from)
                }
            },
        }
    }
}
