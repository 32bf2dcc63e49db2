//! Member handles: a struct member resolved once (offset, type, width) for
//! reads in a hot loop that cost about as much as reading the bytes by hand.

use std::fmt;
use std::sync::Arc;

use crate::native::NativeKind;
use crate::object::{NoneObject, Object, Value};
use crate::session::{Session, MAX_DEPTH};
use crate::space::{AddressSpace, ReadStatus, Space};
use crate::types::Type;

/// How a handle's member is read by the typed reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scalar {
    /// An integer (or an enumeration's integer) of `size` bytes.
    Int { size: u8, signed: bool },
    /// A pointer of `size` bytes.
    Pointer { size: u8 },
    /// Anything else: only [`MemberHandle::object`] / [`MemberHandle::value`].
    Other,
}

/// A member of a struct resolved once by [`Session::member_handle`]: its
/// offset from the struct's address (through nested structs for a dotted
/// path) and its type. Reads then take the struct's address and an address
/// space, and do no lookup at all: [`MemberHandle::read_u32`] is one bounds
/// check and one read of 4 bytes.
///
/// ```
/// use std::sync::Arc;
/// use profile_runtime::{BufferSpace, LazyProfile, Session, Space};
///
/// let json = br#"{"$METADATA": {"ProfileClass": "Linux", "arch": "AMD64"},
///   "$STRUCTS": {"task": [16, {"pid": [4, ["unsigned int"]], "state": [8, ["long"]]}]}}"#;
/// let session = Session::new(Arc::new(LazyProfile::from_bytes(json.to_vec(), "example")?));
/// let pid = session.member_handle("task", "pid").expect("task.pid");
/// let mut mem = vec![0u8; 32];
/// mem[20..24].copy_from_slice(&42u32.to_le_bytes());
/// let space: Space = Arc::new(BufferSpace::new(mem));
/// assert_eq!(pid.read_u32(&space, 16), Ok(42));
/// assert!(pid.read_u64(&space, 16).is_err()); // pid is 4 bytes wide
/// assert_eq!(
///     session.member_handle("task", "nope").unwrap_err().reason(),
///     "task has no member nope"
/// );
/// # Ok::<(), profile_runtime::Error>(())
/// ```
#[derive(Clone)]
pub struct MemberHandle {
    session: Session,
    /// `struct.member.path`, for errors.
    path: Arc<str>,
    offset: u64,
    /// The member's type, resolved one level (never `Type::Named`).
    ty: Type,
    scalar: Scalar,
}

impl fmt::Debug for MemberHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MemberHandle({} @ +{:#x}: {})",
            self.path, self.offset, self.ty
        )
    }
}

#[cold]
fn unreadable(path: &str, addr: u64, len: usize, status: ReadStatus) -> NoneObject {
    NoneObject::new(format!(
        "{path}: cannot read {len} bytes at {addr:#x} (invalid from {:#x})",
        status.first_invalid.unwrap_or(addr)
    ))
}

impl MemberHandle {
    /// Resolves `path` (a member name, or a dotted path through nested
    /// structs: `"se.vruntime"`) of struct `type_name`. Every step must have
    /// a fixed offset; a pointer cannot be crossed (it needs a read).
    pub(crate) fn new(
        session: &Session,
        type_name: &str,
        path: &str,
    ) -> Result<MemberHandle, NoneObject> {
        let mut sname: Arc<str> = type_name.into();
        let mut offset = 0u64;
        let mut ty = None;
        let mut walked = String::from(type_name);
        for part in path.split('.').take(MAX_DEPTH) {
            if let Some(t) = ty.take() {
                match session.resolve(&t) {
                    Type::Struct(s) => sname = s,
                    other => {
                        return Err(NoneObject::new(format!(
                            "{walked}: {other} has no members (asked for {part})"
                        )))
                    }
                }
            }
            let layout = session.layout(&sname)?;
            let Some(m) = layout.members.get(part) else {
                return Err(NoneObject::new(format!("{sname} has no member {part}")));
            };
            walked.push('.');
            walked.push_str(part);
            let off = m
                .offset
                .as_ref()
                .and_then(|o| o.fixed())
                .ok_or_else(|| NoneObject::new(format!("{walked}: no fixed offset")))?;
            offset = offset
                .checked_add(off)
                .ok_or_else(|| NoneObject::new(format!("{walked}: offset overflows")))?;
            ty = Some(m.ty.clone());
        }
        let ty = match ty {
            Some(t) => session.resolve(&t),
            None => return Err(NoneObject::new(format!("{type_name}: empty member path"))),
        };
        let scalar = match &ty {
            Type::Native(n) if matches!(n.kind, NativeKind::Signed | NativeKind::Unsigned) => {
                Scalar::Int {
                    size: n.size,
                    signed: n.kind == NativeKind::Signed,
                }
            }
            Type::Enumeration { storage, .. } => match session.resolve(storage) {
                Type::Native(n) if matches!(n.kind, NativeKind::Signed | NativeKind::Unsigned) => {
                    Scalar::Int {
                        size: n.size,
                        signed: n.kind == NativeKind::Signed,
                    }
                }
                _ => Scalar::Other,
            },
            Type::Pointer(_) => Scalar::Pointer {
                size: session.data_model().pointer_size,
            },
            _ => Scalar::Other,
        };
        Ok(MemberHandle {
            session: session.clone(),
            path: walked.into(),
            offset,
            ty,
            scalar,
        })
    }

    /// The member's offset from the start of the struct.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// `struct.member` (the path it was resolved by).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The member's type (resolved one level: a native, pointer, struct...).
    pub fn ty(&self) -> &Type {
        &self.ty
    }

    /// The width in bytes of an integer (or enumeration) member; `None` for
    /// other types.
    pub fn int_size(&self) -> Option<u8> {
        match self.scalar {
            Scalar::Int { size, .. } => Some(size),
            _ => None,
        }
    }

    #[cold]
    fn mismatch(&self, what: &str) -> NoneObject {
        NoneObject::new(format!("{}: {} is not {what}", self.path, self.ty))
    }

    /// Reads the member's `N` bytes in the struct at `base`.
    #[inline]
    fn bytes<S: AddressSpace + ?Sized, const N: usize>(
        &self,
        space: &S,
        base: u64,
    ) -> Result<[u8; N], NoneObject> {
        let Some(addr) = base.checked_add(self.offset) else {
            return Err(NoneObject::new(format!(
                "{}: address {base:#x} + {:#x} overflows",
                self.path, self.offset
            )));
        };
        let mut b = [0u8; N];
        let status = space.read(addr, &mut b);
        if status.missing != 0 {
            return Err(unreadable(&self.path, addr, N, status));
        }
        Ok(b)
    }

    #[inline]
    fn check_int(&self, size: u8) -> Result<(), NoneObject> {
        match self.scalar {
            Scalar::Int { size: s, .. } if s == size => Ok(()),
            _ => Err(self.mismatch(match size {
                1 => "a 1-byte integer",
                2 => "a 2-byte integer",
                4 => "a 4-byte integer",
                _ => "an 8-byte integer",
            })),
        }
    }

    /// Reads a 1-byte integer member of the struct at `base`.
    #[inline]
    pub fn read_u8<S: AddressSpace + ?Sized>(
        &self,
        space: &S,
        base: u64,
    ) -> Result<u8, NoneObject> {
        self.check_int(1)?;
        self.bytes::<S, 1>(space, base).map(u8::from_le_bytes)
    }

    /// Reads a 2-byte integer member (little-endian) of the struct at `base`.
    #[inline]
    pub fn read_u16<S: AddressSpace + ?Sized>(
        &self,
        space: &S,
        base: u64,
    ) -> Result<u16, NoneObject> {
        self.check_int(2)?;
        self.bytes::<S, 2>(space, base).map(u16::from_le_bytes)
    }

    /// Reads a 4-byte integer member (little-endian) of the struct at `base`.
    /// A member of another width or type is an error (no read is done).
    #[inline]
    pub fn read_u32<S: AddressSpace + ?Sized>(
        &self,
        space: &S,
        base: u64,
    ) -> Result<u32, NoneObject> {
        self.check_int(4)?;
        self.bytes::<S, 4>(space, base).map(u32::from_le_bytes)
    }

    /// Reads an 8-byte integer member (little-endian) of the struct at `base`.
    #[inline]
    pub fn read_u64<S: AddressSpace + ?Sized>(
        &self,
        space: &S,
        base: u64,
    ) -> Result<u64, NoneObject> {
        self.check_int(8)?;
        self.bytes::<S, 8>(space, base).map(u64::from_le_bytes)
    }

    /// Reads a 4-byte integer member as signed.
    #[inline]
    pub fn read_i32<S: AddressSpace + ?Sized>(
        &self,
        space: &S,
        base: u64,
    ) -> Result<i32, NoneObject> {
        self.read_u32(space, base).map(|v| v as i32)
    }

    /// Reads an 8-byte integer member as signed.
    #[inline]
    pub fn read_i64<S: AddressSpace + ?Sized>(
        &self,
        space: &S,
        base: u64,
    ) -> Result<i64, NoneObject> {
        self.read_u64(space, base).map(|v| v as i64)
    }

    /// Reads an integer (or enumeration) member of any width up to 8 bytes,
    /// sign-extended when its type is signed.
    #[inline]
    pub fn read_int<S: AddressSpace + ?Sized>(
        &self,
        space: &S,
        base: u64,
    ) -> Result<i64, NoneObject> {
        let Scalar::Int { size, signed } = self.scalar else {
            return Err(self.mismatch("an integer"));
        };
        Ok(match (size, signed) {
            (1, false) => i64::from(u8::from_le_bytes(self.bytes(space, base)?)),
            (1, true) => i64::from(i8::from_le_bytes(self.bytes(space, base)?)),
            (2, false) => i64::from(u16::from_le_bytes(self.bytes(space, base)?)),
            (2, true) => i64::from(i16::from_le_bytes(self.bytes(space, base)?)),
            (4, false) => i64::from(u32::from_le_bytes(self.bytes(space, base)?)),
            (4, true) => i64::from(i32::from_le_bytes(self.bytes(space, base)?)),
            (8, _) => i64::from_le_bytes(self.bytes(space, base)?),
            _ => return Err(self.mismatch("an integer of at most 8 bytes")),
        })
    }

    /// Reads a pointer member: the address it holds (4 or 8 bytes, per the
    /// session's data model).
    #[inline]
    pub fn read_pointer<S: AddressSpace + ?Sized>(
        &self,
        space: &S,
        base: u64,
    ) -> Result<u64, NoneObject> {
        match self.scalar {
            Scalar::Pointer { size: 8 } => self.bytes(space, base).map(u64::from_le_bytes),
            Scalar::Pointer { size: 4 } => self
                .bytes(space, base)
                .map(|b| u64::from(u32::from_le_bytes(b))),
            _ => Err(self.mismatch("a pointer")),
        }
    }

    /// The member of the struct at `base` as an [`Object`] (any type: a
    /// struct, an array, a string...).
    pub fn object(&self, space: &Space, base: u64) -> Object {
        match base.checked_add(self.offset) {
            Some(addr) => self.session.object_of(self.ty.clone(), addr, space),
            None => Object::none(format!("{}: address overflows", self.path)),
        }
    }

    /// The member's value in the struct at `base` (as [`Object::value`]).
    pub fn value(&self, space: &Space, base: u64) -> Value {
        self.object(space, base).value()
    }
}

impl Session {
    /// Resolves member `path` of struct `type_name` once, for fast repeated
    /// reads (see [`MemberHandle`]). A missing struct or member, or a member
    /// without a fixed offset, is an error naming it.
    pub fn member_handle(&self, type_name: &str, path: &str) -> Result<MemberHandle, NoneObject> {
        MemberHandle::new(self, type_name, path)
    }
}
