//! Support for typed accessors generated from profiles (`profc gen_rust`,
//! the `profile-codegen` crate; see `docs/codegen.md`).
//!
//! Generated code defines one view type per struct or union and a `Layout`
//! (member offsets: constants in static mode, a table filled once from a
//! profile in dynamic mode). This module holds what every generated module
//! shares: the read context ([`Ctx`]), how a value of a type is read
//! ([`Load`]), typed pointers ([`Ptr`]), arrays ([`Array`]), untyped
//! addresses ([`Opaque`]) and the dynamic-mode loader ([`Loader`]). Reads go
//! through an [`AddressSpace`], so paging and sparse images work; a read of an
//! invalid address gives `None`, never a panic.

use std::fmt;
use std::marker::PhantomData;

use crate::session::Session;
use crate::space::AddressSpace;

/// What generated code asks of its layout (implemented by each generated
/// `Layout`).
pub trait LayoutInfo {
    /// Size of a pointer in bytes (4 or 8).
    fn pointer_size(&self) -> u8;
}

/// The context of a typed read: an address space and the layout.
pub struct Ctx<'a, L: ?Sized> {
    /// The address space read from.
    pub space: &'a dyn AddressSpace,
    /// The offsets (static or loaded).
    pub layout: &'a L,
}

impl<L: ?Sized> Clone for Ctx<'_, L> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<L: ?Sized> Copy for Ctx<'_, L> {}

impl<L: ?Sized> fmt::Debug for Ctx<'_, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctx")
            .field("space", &self.space)
            .finish_non_exhaustive()
    }
}

/// A type that can be read at an address: natives, pointers, views.
pub trait Load<'a, L: ?Sized>: Sized {
    /// What a read gives (the value for natives, the view for structs).
    type Out;
    /// Reads at `addr`; `None` when the bytes cannot be read.
    fn load(ctx: Ctx<'a, L>, addr: u64) -> Option<Self::Out>;
    /// Size in bytes (array strides).
    fn size(ctx: Ctx<'a, L>) -> u64;
}

/// A typed view of memory at an address (generated structs, [`Array`],
/// [`Opaque`]). Making a view reads nothing.
pub trait View<'a, L: ?Sized>: Copy {
    /// The view of this type at `addr`.
    fn at(ctx: Ctx<'a, L>, addr: u64) -> Self;
    /// The address viewed.
    fn address(&self) -> u64;
    /// The context (space and layout).
    fn ctx(&self) -> Ctx<'a, L>;
}

/// Reads `N` bytes at `addr`; `None` when any is invalid.
#[inline]
pub fn read_bytes<const N: usize>(space: &dyn AddressSpace, addr: u64) -> Option<[u8; N]> {
    let mut b = [0u8; N];
    space.read(addr, &mut b).is_complete().then_some(b)
}

macro_rules! native_load {
    ($($t:ty),*) => {$(
        impl<'a, L: ?Sized> Load<'a, L> for $t {
            type Out = $t;
            #[inline]
            fn load(ctx: Ctx<'a, L>, addr: u64) -> Option<$t> {
                read_bytes::<{ std::mem::size_of::<$t>() }>(ctx.space, addr).map(<$t>::from_le_bytes)
            }
            #[inline]
            fn size(_: Ctx<'a, L>) -> u64 {
                std::mem::size_of::<$t>() as u64
            }
        }
    )*};
}
native_load!(u8, i8, u16, i16, u32, i32, u64, i64, u128, i128, f32, f64);

impl<'a, L: ?Sized> Load<'a, L> for bool {
    type Out = bool;
    #[inline]
    fn load(ctx: Ctx<'a, L>, addr: u64) -> Option<bool> {
        read_bytes::<1>(ctx.space, addr).map(|b| b[0] != 0)
    }
    fn size(_: Ctx<'a, L>) -> u64 {
        1
    }
}

/// An x87 extended-precision `long double` stored in `N` bytes (10, 12 or
/// 16), read as an `f64` (precision beyond `f64` is lost).
#[derive(Debug, Clone, Copy)]
pub struct LongDouble<const N: usize>;

impl<'a, L: ?Sized, const N: usize> Load<'a, L> for LongDouble<N> {
    type Out = f64;
    fn load(ctx: Ctx<'a, L>, addr: u64) -> Option<f64> {
        let b = read_bytes::<N>(ctx.space, addr)?;
        crate::native::Native {
            size: 10,
            kind: crate::native::NativeKind::Float,
        }
        .decode_float(b.get(..10)?)
    }
    fn size(_: Ctx<'a, L>) -> u64 {
        N as u64
    }
}

/// Reads a pointer-sized unsigned value (4 or 8 bytes per the layout).
#[inline]
pub fn read_pointer<L: LayoutInfo + ?Sized>(ctx: Ctx<'_, L>, addr: u64) -> Option<u64> {
    if ctx.layout.pointer_size() == 4 {
        read_bytes::<4>(ctx.space, addr).map(|b| u64::from(u32::from_le_bytes(b)))
    } else {
        read_bytes::<8>(ctx.space, addr).map(u64::from_le_bytes)
    }
}

/// Reads bits `shift..shift + bits` of the little-endian storage unit of
/// `unit` bytes (1, 2, 4 or 8) at `addr`.
#[inline]
pub fn read_bits(
    space: &dyn AddressSpace,
    addr: u64,
    unit: u8,
    shift: u32,
    bits: u32,
) -> Option<u64> {
    let raw = match unit {
        1 => u64::from(read_bytes::<1>(space, addr)?[0]),
        2 => u64::from(u16::from_le_bytes(read_bytes(space, addr)?)),
        4 => u64::from(u32::from_le_bytes(read_bytes(space, addr)?)),
        _ => u64::from_le_bytes(read_bytes(space, addr)?),
    };
    let v = raw.checked_shr(shift).unwrap_or(0);
    Some(if bits >= 64 {
        v
    } else {
        v & ((1u64 << bits) - 1)
    })
}

/// Where a bit field is, in dynamic mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BitPos {
    /// Byte offset of the storage unit.
    pub offset: u64,
    /// Size of the storage unit in bytes.
    pub unit: u8,
    /// First bit (LSB-relative).
    pub shift: u32,
    /// Number of bits.
    pub bits: u32,
}

/// A typed pointer: the address read from memory, and what it points to.
pub struct Ptr<'a, L: ?Sized, T> {
    ctx: Ctx<'a, L>,
    target: u64,
    _t: PhantomData<fn() -> T>,
}

impl<L: ?Sized, T> Clone for Ptr<'_, L, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<L: ?Sized, T> Copy for Ptr<'_, L, T> {}

impl<L: ?Sized, T> fmt::Debug for Ptr<'_, L, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ptr({:#x})", self.target)
    }
}

impl<'a, L: ?Sized, T> Ptr<'a, L, T> {
    /// A pointer holding `target`.
    pub fn new(ctx: Ctx<'a, L>, target: u64) -> Self {
        Ptr {
            ctx,
            target,
            _t: PhantomData,
        }
    }
    /// The address pointed to.
    pub fn address(&self) -> u64 {
        self.target
    }
    /// True for NULL.
    pub fn is_null(&self) -> bool {
        self.target == 0
    }
}

impl<'a, L: ?Sized, T: Load<'a, L>> Ptr<'a, L, T> {
    /// The pointee (a view for structs, the value for natives); `None` for
    /// NULL or when it cannot be read.
    #[inline]
    pub fn deref(&self) -> Option<T::Out> {
        if self.target == 0 {
            return None;
        }
        T::load(self.ctx, self.target)
    }
}

impl<'a, L: LayoutInfo + ?Sized, T> Load<'a, L> for Ptr<'a, L, T> {
    type Out = Self;
    #[inline]
    fn load(ctx: Ctx<'a, L>, addr: u64) -> Option<Self> {
        read_pointer(ctx, addr).map(|t| Ptr::new(ctx, t))
    }
    fn size(ctx: Ctx<'a, L>) -> u64 {
        u64::from(ctx.layout.pointer_size())
    }
}

/// An address whose type was not generated (`void`, functions, structs not
/// chosen): only its address is known.
pub struct Opaque<'a, L: ?Sized> {
    ctx: Ctx<'a, L>,
    addr: u64,
}

impl<L: ?Sized> Clone for Opaque<'_, L> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<L: ?Sized> Copy for Opaque<'_, L> {}
impl<L: ?Sized> fmt::Debug for Opaque<'_, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Opaque({:#x})", self.addr)
    }
}

impl<'a, L: ?Sized> View<'a, L> for Opaque<'a, L> {
    fn at(ctx: Ctx<'a, L>, addr: u64) -> Self {
        Opaque { ctx, addr }
    }
    fn address(&self) -> u64 {
        self.addr
    }
    fn ctx(&self) -> Ctx<'a, L> {
        self.ctx
    }
}

impl<'a, L: ?Sized> Load<'a, L> for Opaque<'a, L> {
    type Out = Self;
    fn load(ctx: Ctx<'a, L>, addr: u64) -> Option<Self> {
        Some(Opaque { ctx, addr })
    }
    fn size(_: Ctx<'a, L>) -> u64 {
        0
    }
}

/// A fixed-size array of `N` elements of `T`.
pub struct Array<'a, L: ?Sized, T, const N: usize> {
    ctx: Ctx<'a, L>,
    addr: u64,
    _t: PhantomData<fn() -> T>,
}

impl<L: ?Sized, T, const N: usize> Clone for Array<'_, L, T, N> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<L: ?Sized, T, const N: usize> Copy for Array<'_, L, T, N> {}
impl<L: ?Sized, T, const N: usize> fmt::Debug for Array<'_, L, T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Array[{N}]({:#x})", self.addr)
    }
}

impl<'a, L: ?Sized, T, const N: usize> View<'a, L> for Array<'a, L, T, N> {
    fn at(ctx: Ctx<'a, L>, addr: u64) -> Self {
        Array {
            ctx,
            addr,
            _t: PhantomData,
        }
    }
    fn address(&self) -> u64 {
        self.addr
    }
    fn ctx(&self) -> Ctx<'a, L> {
        self.ctx
    }
}

impl<'a, L: ?Sized, T: Load<'a, L>, const N: usize> Load<'a, L> for Array<'a, L, T, N> {
    type Out = Self;
    fn load(ctx: Ctx<'a, L>, addr: u64) -> Option<Self> {
        Some(View::at(ctx, addr))
    }
    fn size(ctx: Ctx<'a, L>) -> u64 {
        T::size(ctx).saturating_mul(N as u64)
    }
}

impl<'a, L: ?Sized, T: Load<'a, L>, const N: usize> Array<'a, L, T, N> {
    /// Number of elements (as in the profile the code was generated from).
    pub const fn len(&self) -> usize {
        N
    }
    /// True when the array has no element.
    pub const fn is_empty(&self) -> bool {
        N == 0
    }
    /// Element `i`; `None` when out of bounds or unreadable.
    #[inline]
    pub fn get(&self, i: usize) -> Option<T::Out> {
        if i >= N {
            return None;
        }
        let off = T::size(self.ctx).checked_mul(i as u64)?;
        T::load(self.ctx, self.addr.wrapping_add(off))
    }
    /// The elements in order (`None` for unreadable ones).
    pub fn iter(&self) -> impl Iterator<Item = Option<T::Out>> + '_ {
        (0..N).map(move |i| self.get(i))
    }
}

macro_rules! text_array {
    ($($t:ty),*) => {$(
        impl<L: ?Sized, const N: usize> Array<'_, L, $t, N> {
            /// The bytes up to the first NUL (at most `N`), decoded lossily
            /// as UTF-8; `None` when unreadable.
            pub fn to_string_lossy(&self) -> Option<String> {
                let mut buf = vec![0u8; N];
                if !self.ctx.space.read(self.addr, &mut buf).is_complete() {
                    return None;
                }
                let end = buf.iter().position(|b| *b == 0).unwrap_or(N);
                Some(String::from_utf8_lossy(buf.get(..end)?).into_owned())
            }
        }
    )*};
}
text_array!(u8, i8);

impl<L: ?Sized, const N: usize> Array<'_, L, u16, N> {
    /// The UTF-16LE code units up to the first NUL, decoded lossily.
    pub fn to_string_lossy(&self) -> Option<String> {
        let mut buf = vec![0u8; N.checked_mul(2)?];
        if !self.ctx.space.read(self.addr, &mut buf).is_complete() {
            return None;
        }
        let units: Vec<u16> = buf
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|u| *u != 0)
            .collect();
        Some(String::from_utf16_lossy(&units))
    }
}

/// The struct holding `member`, found through the accessor `f` that leads
/// from the container to that member view (`container_of(list, |t:
/// task_struct| t.tasks())`). Reads nothing.
pub fn container_of<'a, L: ?Sized + 'a, T: View<'a, L>, M: View<'a, L>>(
    member: &M,
    f: impl FnOnce(T) -> M,
) -> T {
    let ctx = member.ctx();
    let offset = f(T::at(ctx, 0)).address();
    T::at(ctx, member.address().wrapping_sub(offset))
}

/// A dynamic-mode table could not be filled from a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The profile's name.
    pub profile: String,
    /// Every required `struct.member` (or `struct (struct)` for a size)
    /// not found, and every member whose type differs from the generated
    /// one (`struct.member (expected ..., found ...)`).
    pub missing: Vec<String>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: profile lacks required members (or has them with another type): {}",
            self.profile,
            self.missing.join(", ")
        )
    }
}

impl std::error::Error for LoadError {}

/// What generated code expects a member to be, checked when a dynamic
/// table is loaded (the Rust types were fixed at generation time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Anything (structs, arrays, opaque members).
    Any,
    /// A scalar (integer, enumeration, float, bool) of this many bytes.
    Scalar(u8),
    /// A pointer.
    Pointer,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::Any => f.write_str("any type"),
            Kind::Scalar(n) => write!(f, "a {n}-byte scalar"),
            Kind::Pointer => f.write_str("a pointer"),
        }
    }
}

/// Fills a dynamic-mode table from a session's profile (used by generated
/// `Layout::load`): records every missing required member, then
/// [`Loader::finish`] reports them all at once.
#[derive(Debug)]
pub struct Loader<'s> {
    session: &'s Session,
    missing: Vec<String>,
}

impl<'s> Loader<'s> {
    /// A loader over `session`.
    pub fn new(session: &'s Session) -> Self {
        Loader {
            session,
            missing: Vec::new(),
        }
    }

    /// The pointer size of the session's data model.
    pub fn pointer_size(&self) -> u8 {
        self.session.data_model().pointer_size
    }

    fn field(&self, ty: &str, names: &[&str]) -> Option<crate::profile::Field> {
        let def = self.session.profile().get_struct(ty).ok().flatten()?;
        names
            .iter()
            .find_map(|n| def.fields.get(*n))
            .filter(|f| f.offset.is_some())
            .cloned()
    }

    fn miss(&mut self, ty: &str, names: &[&str], required: bool) {
        if required {
            let n = names.first().copied().unwrap_or("");
            self.missing.push(if n.is_empty() {
                ty.to_string()
            } else {
                format!("{ty}.{n}")
            });
        }
    }

    /// The size of struct `ty` (0 and recorded as missing when absent).
    pub fn size(&mut self, ty: &str) -> u64 {
        match self.session.size_of(ty) {
            Some(s) => s,
            None => {
                self.missing.push(format!("{ty} (struct)"));
                0
            }
        }
    }

    /// The offset of the first of `names` (the member and its aliases)
    /// found in `ty`.
    pub fn offset(&mut self, ty: &str, names: &[&str], required: bool) -> Option<u64> {
        let off = self.field(ty, names).and_then(|f| f.offset);
        if off.is_none() {
            self.miss(ty, names, required);
        }
        off
    }

    /// As [`Loader::offset`], also checking the member is `kind` (a
    /// member of another kind is reported like a missing one).
    pub fn offset_as(
        &mut self,
        ty: &str,
        names: &[&str],
        required: bool,
        kind: Kind,
    ) -> Option<u64> {
        let Some(f) = self.field(ty, names) else {
            self.miss(ty, names, required);
            return None;
        };
        if kind != Kind::Any {
            let found = self.kind_of(&f.descriptor, 0);
            if found != Some(kind) {
                let n = names.first().copied().unwrap_or("");
                let found = found.map_or_else(|| "another type".to_string(), |k| k.to_string());
                self.missing
                    .push(format!("{ty}.{n} (expected {kind}, found {found})"));
                return None;
            }
        }
        f.offset
    }

    fn kind_of(&self, d: &crate::Descriptor, depth: usize) -> Option<Kind> {
        use crate::Descriptor as D;
        if depth > 8 {
            return None;
        }
        match d {
            D::Pointer { .. } => Some(Kind::Pointer),
            D::Enumeration { target, .. } => self.kind_of(target, depth + 1),
            D::Named(n) => match n.as_str() {
                "UnixTimeStamp" => Some(Kind::Scalar(4)),
                "WinFileTime" => Some(Kind::Scalar(8)),
                _ if self.session.has_struct(n) => None,
                _ => crate::native::Native::from_name(n, &self.session.data_model())
                    .map(|n| Kind::Scalar(n.size)),
            },
            _ => None,
        }
    }

    /// The position of a bit field (its storage unit, first bit and width).
    /// A member found that is not a bit field is read as a whole unit of
    /// `default_unit` bytes.
    pub fn bits(
        &mut self,
        ty: &str,
        names: &[&str],
        required: bool,
        default_unit: u8,
    ) -> Option<BitPos> {
        let Some(f) = self.field(ty, names) else {
            self.miss(ty, names, required);
            return None;
        };
        let offset = f.offset?;
        let model = self.session.data_model();
        let mut d = &f.descriptor;
        if let crate::Descriptor::Enumeration { target, .. } = d {
            d = target;
        }
        match d {
            crate::Descriptor::BitField {
                start_bit,
                end_bit,
                target,
            } => {
                let unit = target
                    .as_deref()
                    .and_then(crate::Descriptor::as_named)
                    .and_then(|n| crate::native::Native::from_name(n, &model))
                    .map(|n| n.size)
                    .unwrap_or(match end_bit {
                        0..=8 => 1,
                        9..=16 => 2,
                        17..=32 => 4,
                        _ => 8,
                    });
                Some(BitPos {
                    offset,
                    unit: unit.min(8),
                    shift: *start_bit,
                    bits: end_bit.saturating_sub(*start_bit),
                })
            }
            _ => Some(BitPos {
                offset,
                unit: default_unit,
                shift: 0,
                bits: u32::from(default_unit) * 8,
            }),
        }
    }

    /// `Ok` when nothing required was missing, else one error listing all.
    pub fn finish(self) -> Result<(), LoadError> {
        if self.missing.is_empty() {
            Ok(())
        } else {
            Err(LoadError {
                profile: self.session.profile().source_name().to_string(),
                missing: self.missing,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BufferSpace, LazyProfile};
    use std::sync::Arc;

    #[derive(Debug)]
    struct L(u8);
    impl LayoutInfo for L {
        fn pointer_size(&self) -> u8 {
            self.0
        }
    }

    fn ctx<'a>(space: &'a BufferSpace, l: &'a L) -> Ctx<'a, L> {
        Ctx { space, layout: l }
    }

    #[test]
    fn natives_bits_and_bounds() {
        let mut mem = vec![0u8; 32];
        mem[0..8].copy_from_slice(&0x8877_6655_4433_2211u64.to_le_bytes());
        mem[8..12].copy_from_slice(b"ab\0c");
        let space = BufferSpace::new(mem);
        let l = L(8);
        let c = ctx(&space, &l);
        assert_eq!(<u32 as Load<'_, L>>::load(c, 0), Some(0x4433_2211));
        assert_eq!(<i8 as Load<'_, L>>::load(c, 7), Some(0x88u8 as i8));
        // Partly beyond the end: None, not zero-filled.
        assert_eq!(<u64 as Load<'_, L>>::load(c, 28), None);
        assert_eq!(read_bits(&space, 0, 8, 60, 4), Some(0x8));
        assert_eq!(read_bits(&space, 0, 8, 0, 64), Some(0x8877_6655_4433_2211));
        assert_eq!(read_bits(&space, 0, 2, 4, 8), Some(0x21));
        assert_eq!(read_bits(&space, 0, 1, 200, 3), Some(0));
        let a: Array<'_, L, u8, 4> = View::at(c, 8);
        assert_eq!(a.to_string_lossy().as_deref(), Some("ab"));
        assert_eq!(a.get(3), Some(b'c'));
        assert_eq!(a.get(4), None);
        assert_eq!(<Array<'_, L, u16, 3> as Load<'_, L>>::size(c), 6);
    }

    #[test]
    fn pointers_follow_the_layout_pointer_size() {
        let mut mem = vec![0u8; 32];
        mem[0..8].copy_from_slice(&0x0000_0010_0000_0010u64.to_le_bytes());
        mem[16..20].copy_from_slice(&7u32.to_le_bytes());
        let space = BufferSpace::new(mem);
        let (l4, l8) = (L(4), L(8));
        let p4 = <Ptr<'_, L, u32> as Load<'_, L>>::load(ctx(&space, &l4), 0).unwrap();
        assert_eq!(p4.address(), 0x10);
        assert_eq!(p4.deref(), Some(7));
        let p8 = <Ptr<'_, L, u32> as Load<'_, L>>::load(ctx(&space, &l8), 0).unwrap();
        assert_eq!(p8.address(), 0x10_0000_0010);
        assert_eq!(p8.deref(), None, "unreadable target");
        let null = <Ptr<'_, L, u32> as Load<'_, L>>::load(ctx(&space, &l8), 24).unwrap();
        assert!(null.is_null() && null.deref().is_none());
    }

    #[test]
    fn long_double_reads_as_f64() {
        // 1.5 as x87 extended: mantissa 0xC000..., exponent 0x3FFF.
        let mut mem = vec![0u8; 16];
        mem[0..8].copy_from_slice(&0xC000_0000_0000_0000u64.to_le_bytes());
        mem[8..10].copy_from_slice(&0x3FFFu16.to_le_bytes());
        let space = BufferSpace::new(mem);
        let l = L(8);
        assert_eq!(
            <LongDouble<16> as Load<'_, L>>::load(ctx(&space, &l), 0),
            Some(1.5)
        );
    }

    #[test]
    fn loader_lists_every_missing_member_once() {
        let json = br#"{"$METADATA": {"ProfileClass": "Linux", "arch": "AMD64"},
          "$STRUCTS": {"s": [8, {"a": [0, ["int"]], "old": [4, ["int"]],
                                  "f": [0, ["BitField", {"start_bit": 3, "end_bit": 5, "target": "unsigned short"}]]}]}}"#;
        let p = Arc::new(LazyProfile::from_bytes(json.to_vec(), "t.json").unwrap());
        let session = Session::new(p);
        let mut l = Loader::new(&session);
        assert_eq!(l.size("s"), 8);
        assert_eq!(l.offset("s", &["a"], true), Some(0));
        assert_eq!(l.offset("s", &["new", "old"], true), Some(4));
        assert_eq!(
            l.bits("s", &["f"], true, 4),
            Some(BitPos {
                offset: 0,
                unit: 2,
                shift: 3,
                bits: 2
            })
        );
        assert_eq!(l.offset_as("s", &["a"], true, Kind::Scalar(4)), Some(0));
        assert_eq!(l.offset("s", &["opt"], false), None);
        assert_eq!(l.offset("s", &["gone"], true), None);
        assert_eq!(l.size("t"), 0);
        let err = l.finish().unwrap_err();
        assert_eq!(
            err.missing,
            vec!["s.gone".to_string(), "t (struct)".to_string()]
        );
        assert_eq!(
            err.to_string(),
            "t.json: profile lacks required members (or has them with another type): s.gone, t (struct)"
        );
    }
}
