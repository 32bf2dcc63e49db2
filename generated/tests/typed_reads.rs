//! Typed reads through the checked-in modules equal the runtime's dynamic
//! (string-named) reads on the same memory, member by member: static x64,
//! static x86, and the dynamic module (generated from the x64 profile)
//! loaded from the x64 and from the x86 profile, whose pointer sizes and
//! offsets differ. A profile lacking a required member fails to load with a
//! message naming it.

mod common;

use std::sync::Arc;

use profile_generated::{fixture_dynamic, fixture_x64, fixture_x86};
use profile_runtime::typed::{container_of, View};
use profile_runtime::{
    AddressSpace, BufferSpace, Descriptor, LazyProfile, Object, Overlay, Profile, Session, Space,
    Type, Value,
};

/// A session over `profile`. The runtime does not read an enumeration
/// stored in a bit field (`Bits.color`), so its session reads that member
/// as the bit field itself (the generated code reads the bits, then names
/// the value).
fn session(profile: &Profile) -> Session {
    let s = Session::new(Arc::new(LazyProfile::from_profile(profile).unwrap()));
    match profile
        .structs
        .get("Bits")
        .and_then(|b| b.fields.get("color"))
        .map(|f| &f.descriptor)
    {
        Some(Descriptor::Enumeration { target, .. }) => s.with_overlay(Overlay::new().member(
            "Bits",
            "color",
            None,
            Type::from_descriptor(target),
        )),
        _ => s,
    }
}

/// 64 KiB of deterministic pseudo-random bytes.
fn memory() -> Space {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let bytes: Vec<u8> = (0..65536)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    Arc::new(BufferSpace::new(bytes))
}

/// The runtime's value of a scalar member, as an integer (floats: bits).
fn raw(o: &Object) -> i128 {
    match o.value() {
        Value::Int(i) | Value::Enum { value: i, .. } => i,
        Value::Pointer(p) => i128::from(p),
        Value::Bool(b) => i128::from(b),
        v => panic!("{}: not a scalar: {v:?}", o.name()),
    }
}

fn float(o: &Object) -> f64 {
    o.as_f64()
        .unwrap_or_else(|| panic!("{}: not a float: {:?}", o.name(), o.value()))
}

/// The comparisons, the same for every module (they share one API).
macro_rules! check_all {
    ($m:ident, $layout:expr, $session:expr, $space:expr) => {{
        let layout = &$layout;
        let s: &Session = &$session;
        let sp: &Space = &$space;
        let space: &dyn AddressSpace = &**sp;
        let mut checked = 0usize;
        let mut eq = |what: &str, typed: i128, rt: i128| {
            assert_eq!(typed, rt, "{}: {what}", stringify!($m));
            checked += 1;
        };
        for base in [0x100u64, 0x1234, 0x7ff0] {
            let o = |t: &str| s.object(t, base, sp);

            let p = layout.Point(space, base);
            eq(
                "Point.x",
                p.x().unwrap().into(),
                raw(&o("Point").member("x")),
            );
            eq(
                "Point.y",
                p.y().unwrap().into(),
                raw(&o("Point").member("y")),
            );

            let v = layout.Value(space, base);
            eq(
                "Value.i",
                v.i().unwrap().into(),
                raw(&o("Value").member("i")),
            );
            assert_eq!(
                f64::from(v.f().unwrap()).to_bits(),
                float(&o("Value").member("f")).to_bits()
            );
            assert_eq!(
                v.d().unwrap().to_bits(),
                float(&o("Value").member("d")).to_bits()
            );
            for i in 0..8 {
                eq(
                    "Value.bytes[i]",
                    v.bytes().get(i).unwrap().into(),
                    raw(&o("Value").member("bytes").index(i as u64)),
                );
            }

            let a = layout.Anon(space, base);
            let ao = o("Anon");
            eq(
                "Anon.kind",
                a.kind().unwrap().into(),
                raw(&ao.member("kind")),
            );
            eq(
                "Anon.as_int",
                a.as_int().unwrap().into(),
                raw(&ao.member("as_int")),
            );
            assert_eq!(
                f64::from(a.as_float().unwrap()).to_bits(),
                float(&ao.member("as_float")).to_bits()
            );
            eq("Anon.lo", a.lo().unwrap().into(), raw(&ao.member("lo")));
            eq("Anon.hi", a.hi().unwrap().into(), raw(&ao.member("hi")));
            eq(
                "Anon.named_union.a",
                a.named_union().a().unwrap().into(),
                raw(&ao.get("named_union.a")),
            );
            eq(
                "Anon.named_union.b",
                a.named_union().b().unwrap().into(),
                raw(&ao.get("named_union.b")),
            );

            let b = layout.Bits(space, base);
            let bo = o("Bits");
            eq("Bits.a", b.a().unwrap().into(), raw(&bo.member("a")));
            eq("Bits.b", b.b().unwrap().into(), raw(&bo.member("b")));
            eq("Bits.c", b.c().unwrap().into(), raw(&bo.member("c")));
            eq(
                "Bits.color",
                b.color().unwrap().raw().into(),
                raw(&bo.member("color")),
            );
            eq(
                "Bits.wide",
                b.wide().unwrap().into(),
                raw(&bo.member("wide")),
            );
            eq(
                "Bits.tail",
                b.tail().unwrap().into(),
                raw(&bo.member("tail")),
            );

            let r = layout.Arrays(space, base);
            let ro = o("Arrays");
            for i in 0..3 {
                for j in 0..4 {
                    let t = r.grid().get(i).unwrap().get(j).unwrap();
                    eq(
                        "Arrays.grid[i][j]",
                        t.into(),
                        raw(&ro.member("grid").index(i as u64).index(j as u64)),
                    );
                }
            }
            assert_eq!(r.name().to_string_lossy(), ro.member("name").as_string());
            for i in 0..2 {
                let pt = r.pts().get(i).unwrap();
                eq(
                    "Arrays.pts[i].x",
                    pt.x().unwrap().into(),
                    raw(&ro.member("pts").index(i as u64).member("x")),
                );
                eq(
                    "Arrays.pts[i].y",
                    pt.y().unwrap().into(),
                    raw(&ro.member("pts").index(i as u64).member("y")),
                );
            }
            assert_eq!(r.empty().len(), 0);
            assert!(r.empty().get(0).is_none());

            let q = layout.Qualified(space, base);
            let qo = o("Qualified");
            eq(
                "Qualified.ci",
                q.ci().unwrap().into(),
                raw(&qo.member("ci")),
            );
            eq(
                "Qualified.vl",
                q.vl().unwrap().into(),
                raw(&qo.member("vl")),
            );
            eq(
                "Qualified.name",
                q.name().unwrap().address().into(),
                raw(&qo.member("name")),
            );
            eq(
                "Qualified.pp",
                q.pp().unwrap().address().into(),
                raw(&qo.member("pp")),
            );
            eq(
                "Qualified.pv",
                q.pv().unwrap().address().into(),
                raw(&qo.member("pv")),
            );
            eq(
                "Qualified.ppp",
                q.ppp().unwrap().address().into(),
                raw(&qo.member("ppp")),
            );
            eq(
                "Qualified.bytes",
                q.bytes().unwrap().address().into(),
                raw(&qo.member("bytes")),
            );
            eq(
                "Qualified.ll",
                q.ll().unwrap().into(),
                raw(&qo.member("ll")),
            );

            let f = layout.FnPtrs(space, base);
            let fo = o("FnPtrs");
            eq(
                "FnPtrs.callback",
                f.callback().unwrap().address().into(),
                raw(&fo.member("callback")),
            );
            for i in 0..4 {
                eq(
                    "FnPtrs.handlers[i]",
                    f.handlers().get(i).unwrap().address().into(),
                    raw(&fo.member("handlers").index(i as u64)),
                );
            }

            let w = layout.Wide(space, base);
            let wo = o("Wide");
            // `wchar_t name[8]` is a UnicodeString of 16 bytes in the profile.
            assert_eq!(w.name().to_string_lossy(), wo.member("name").as_string());
            assert_eq!(w.name().len(), 8);
            eq("Wide.c16", w.c16().unwrap().into(), raw(&wo.member("c16")));
            eq("Wide.c32", w.c32().unwrap().into(), raw(&wo.member("c32")));
            eq(
                "Wide.flag",
                i128::from(w.flag().unwrap()),
                raw(&wo.member("flag")),
            );
            // `Big` is unsigned 64-bit: compare the bits.
            eq(
                "Wide.big",
                i128::from(w.big().unwrap().raw() as u64),
                raw(&wo.member("big")),
            );
            eq("Wide.n", w.n().unwrap().raw().into(), raw(&wo.member("n")));

            let g = layout.Widget(space, base);
            let go = o("Widget");
            eq("Widget.id", g.id().unwrap().into(), raw(&go.member("id")));
            eq(
                "Widget.inner.z",
                g.inner().z().unwrap().into(),
                raw(&go.get("inner.z")),
            );
            assert_eq!(
                f64::from(g.weight().unwrap()).to_bits(),
                float(&go.member("weight")).to_bits()
            );

            let h = layout.HasAnonEnum(space, base);
            eq(
                "HasAnonEnum.before",
                h.before().unwrap().into(),
                raw(&o("HasAnonEnum").member("before")),
            );
            eq(
                "HasAnonEnum.inner",
                h.inner().unwrap().raw().into(),
                raw(&o("HasAnonEnum").member("inner")),
            );

            let d = layout.Derived(space, base);
            eq(
                "Derived.d",
                d.d().unwrap().into(),
                raw(&o("Derived").member("d")),
            );

            // Typed pointer deref equals the runtime's.
            let bx = layout.Box_int_(space, base);
            let next = bx.next().unwrap();
            assert_eq!(next.address() as i128, raw(&o("Box<int>").member("next")));
            let via_rt = o("Box<int>").member("next").deref().member("value");
            match next.deref() {
                Some(n) => match n.value() {
                    Some(v) => eq("Box<int>.next->value", v.into(), raw(&via_rt)),
                    None => assert!(via_rt.is_none()),
                },
                None => assert!(via_rt.is_none() || next.address() == 0),
            }

            // container_of: from a member view back to its struct.
            let back = container_of(&a.named_union(), |x: $m::Anon<'_>| x.named_union());
            assert_eq!(back.address(), base);
        }
        checked
    }};
}

#[test]
fn static_x64_reads_equal_runtime_reads() {
    let s = session(&common::fixture_profile("x64"));
    let n = check_all!(fixture_x64, fixture_x64::Layout::new(), s, memory());
    assert!(n > 150, "{n} comparisons");
}

#[test]
fn static_x86_reads_equal_runtime_reads() {
    let s = session(&common::fixture_profile("x86"));
    assert_eq!(s.data_model().pointer_size, 4);
    check_all!(fixture_x86, fixture_x86::Layout::new(), s, memory());
}

#[test]
fn dynamic_reads_equal_runtime_reads_on_both_architectures() {
    for arch in ["x64", "x86"] {
        let s = session(&common::fixture_profile(arch));
        let layout = fixture_dynamic::Layout::load(&s).unwrap();
        check_all!(fixture_dynamic, layout, s, memory());
    }
    // The offsets really differ between the two: `Qualified.ll` follows
    // five pointers.
    let x64 = session(&common::fixture_profile("x64"));
    let x86 = session(&common::fixture_profile("x86"));
    assert_ne!(
        x64.offset_of("Qualified", "ll"),
        x86.offset_of("Qualified", "ll")
    );
}

#[test]
fn dynamic_load_names_every_missing_required_member() {
    let mut p = common::fixture_profile("x64");
    p.structs.get_mut("Qualified").unwrap().fields.remove("ll");
    p.structs.get_mut("Bits").unwrap().fields.remove("color");
    let err = fixture_dynamic::Layout::load(&session(&p)).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("Qualified.ll") && msg.contains("Bits.color"),
        "{msg}"
    );
    assert_eq!(err.missing.len(), 2, "{msg}");
    assert!(!msg.contains('\n'));
}

#[test]
fn dynamic_load_rejects_members_of_another_type() {
    let mut p = common::fixture_profile("x64");
    let point = p.structs.get_mut("Point").unwrap();
    point.fields.get_mut("x").unwrap().descriptor = Descriptor::named("long long");
    let q = p.structs.get_mut("Qualified").unwrap();
    q.fields.get_mut("pv").unwrap().descriptor = Descriptor::named("int");
    let err = fixture_dynamic::Layout::load(&session(&p)).unwrap_err();
    assert_eq!(
        err.missing,
        vec![
            "Point.x (expected a 4-byte scalar, found a 8-byte scalar)".to_string(),
            "Qualified.pv (expected a pointer, found a 4-byte scalar)".to_string(),
        ]
    );
}

#[test]
fn dynamic_optional_members_and_aliases() {
    let mut p = common::fixture_profile("x64");
    // Optional `Wide.c32` absent: the load succeeds and the read is `None`.
    p.structs.get_mut("Wide").unwrap().fields.remove("c32");
    // `Point.y` renamed to its alias `py` (at another offset).
    let point = p.structs.get_mut("Point").unwrap();
    let mut y = point.fields.remove("y").unwrap();
    y.offset = Some(0);
    point.fields.insert("py".into(), y);
    let s = session(&p);
    let layout = fixture_dynamic::Layout::load(&s).unwrap();
    let space = memory();
    let w = layout.Wide(&*space, 0x100);
    assert_eq!(w.c32(), None);
    assert!(w.c16().is_some());
    let pt = layout.Point(&*space, 0x100);
    assert_eq!(pt.y(), pt.x(), "alias read at the renamed member's offset");
}
