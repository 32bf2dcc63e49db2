//! Unit tests of the object runtime on crafted profiles and bytes.

use std::sync::Arc;

use serde_json::json;

use crate::*;

/// A small LP64 profile exercising every descriptor kind.
fn profile_json() -> serde_json::Value {
    json!({
        "$METADATA": {"ProfileClass": "Linux", "arch": "AMD64", "Type": "Profile"},
        "$STRUCTS": {
            "scalars": [64, {
                "u8": [0, ["unsigned char"]],
                "i8": [1, ["signed char"]],
                "u16": [2, ["short unsigned int"]],
                "i16": [4, ["short int"]],
                "u32": [8, ["unsigned int"]],
                "i32": [12, ["int"]],
                "u64": [16, ["long unsigned int"]],
                "i64": [24, ["long long int"]],
                "f32": [32, ["float"]],
                "f64": [40, ["double"]],
                "flag": [48, ["_Bool"]],
                "lo": [49, ["BitField", {"start_bit": 0, "end_bit": 3, "target": "unsigned char"}]],
                "hi": [49, ["BitField", {"start_bit": 3, "end_bit": 8, "target": "unsigned char"}]],
                "nt": [50, ["BitField", {"start_bit": 4, "end_bit": 12}]],
                "color": [52, ["Enumeration", {"enum_name": "color", "target": "int"}]],
                "inline": [52, ["Enumeration", {"choices": {"2": "TWO"}, "target": "int"}]],
                "fl": [56, ["Flags", {"maskmap": {"A": 1, "B": 2, "C": 4}, "target": "unsigned int"}]],
                "ts": [60, ["UnixTimeStamp", {}]],
                "long": [16, ["long"]]
            }],
            "strs": [72, {
                "s": [0, ["String", {"length": 8}]],
                "u": [8, ["UnicodeString", {"length": 16}]],
                "ft": [24, ["WinFileTime", {}]],
                "p": [32, ["Pointer", {"target": "node"}]],
                "vp": [40, ["Pointer", {"target": "Void"}]],
                "fp": [48, ["Pointer", {"target": "Function"}]],
                "arr": [56, ["Array", {"count": 4, "target": "unsigned short"}]],
                "nullp": [64, ["pointer", ["node"]]]
            }],
            "node": [32, {
                "value": [0, ["int"]],
                "name": [4, ["Array", {"count": 4, "target": "char"}]],
                "list": [8, ["list_head"]],
                "bad": [24, ["Pointer", {"target": "node"}]]
            }],
            "list_head": [16, {
                "next": [0, ["Pointer", {"target": "list_head"}]],
                "prev": [8, ["Pointer", {"target": "list_head"}]]
            }],
            "counted": [16, {
                "n": [0, ["unsigned int"]],
                "items": [4, ["Array", {"count": 0, "target": "unsigned int"}]]
            }],
            "_UNICODE_STRING": [16, {
                "Length": [0, ["unsigned short"]],
                "MaximumLength": [2, ["unsigned short"]],
                "Buffer": [8, ["Pointer", {"target": "UnicodeString"}]]
            }],
            "weird": [8, {"w": [0, ["NoSuchClass", {"x": 1}]], "t": [0, ["no_such_struct"]]}]
        },
        "$ENUMS": {"color": {"0": "RED", "1": "GREEN", "-1": "NONE"}},
        "$CONSTANTS": {"init_task": 0xffff_8281_0000_u64, "big": 18446743523968493976u64},
        "$FUNCTIONS": {"start_kernel": 0x1000}
    })
}

fn session() -> Session {
    let bytes = serde_json::to_vec(&profile_json()).unwrap();
    Session::new(Arc::new(LazyProfile::from_bytes(bytes, "test").unwrap()))
}

fn put(mem: &mut [u8], at: usize, bytes: &[u8]) {
    mem[at..at + bytes.len()].copy_from_slice(bytes);
}

fn space(mem: Vec<u8>) -> Space {
    Arc::new(BufferSpace::new(mem))
}

#[test]
fn natives_bitfields_enums_flags_time() {
    let s = session();
    let mut m = vec![0u8; 128];
    put(&mut m, 0, &[0xff, 0xff]);
    put(&mut m, 2, &0xfffeu16.to_le_bytes());
    put(&mut m, 4, &(-3i16).to_le_bytes());
    put(&mut m, 8, &0xdead_beefu32.to_le_bytes());
    put(&mut m, 12, &(-5i32).to_le_bytes());
    put(&mut m, 16, &u64::MAX.to_le_bytes());
    put(&mut m, 24, &i64::MIN.to_le_bytes());
    put(&mut m, 32, &1.5f32.to_le_bytes());
    put(&mut m, 40, &(-2.25f64).to_le_bytes());
    m[48] = 2;
    m[49] = 0b1011_0101; // lo = 0b101 = 5, hi = 0b10110 = 22
    put(&mut m, 50, &0xabcdu16.to_le_bytes()); // bits 4..12 = 0xbc
    put(&mut m, 52, &1i32.to_le_bytes());
    put(&mut m, 56, &5u32.to_le_bytes());
    put(&mut m, 60, &86_400u32.to_le_bytes());
    let o = s.object("scalars", 0, &space(m));
    assert_eq!(o.member("u8").value(), Value::Int(255));
    assert_eq!(o.member("i8").value(), Value::Int(-1));
    assert_eq!(o.member("u16").as_u64(), Some(0xfffe));
    assert_eq!(o.member("i16").as_i64(), Some(-3));
    assert_eq!(o.member("u32").as_u64(), Some(0xdead_beef));
    assert_eq!(o.member("i32").as_i64(), Some(-5));
    assert_eq!(o.member("u64").as_u64(), Some(u64::MAX));
    assert_eq!(o.member("i64").as_i64(), Some(i64::MIN));
    assert_eq!(o.member("long").size(), Some(8), "long is 8 bytes in LP64");
    assert_eq!(o.member("f32").as_f64(), Some(1.5));
    assert_eq!(o.member("f64").as_f64(), Some(-2.25));
    assert_eq!(o.member("flag").value(), Value::Bool(true));
    assert_eq!(o.member("lo").as_u64(), Some(5));
    assert_eq!(o.member("hi").as_u64(), Some(22));
    assert_eq!(o.member("nt").as_u64(), Some(0xbc));
    assert_eq!(
        o.member("nt").size(),
        Some(2),
        "BitField without target: narrowest unsigned"
    );
    assert_eq!(
        o.member("color").value(),
        Value::Enum {
            value: 1,
            name: Some("GREEN".into())
        }
    );
    assert_eq!(o.member("color").as_string().as_deref(), Some("GREEN"));
    assert_eq!(
        o.member("inline").value(),
        Value::Enum {
            value: 1,
            name: None
        }
    );
    assert_eq!(
        o.member("fl").value(),
        Value::Flags {
            value: 5,
            names: vec!["A".into(), "C".into()]
        }
    );
    let ts = o.member("ts").value();
    assert_eq!(ts.to_string(), "1970-01-02 00:00:00Z");
    assert_eq!(o.size(), Some(64));
}

#[test]
fn strings_pointers_arrays_void_function() {
    let s = session();
    let mut m = vec![0u8; 256];
    put(&mut m, 0, b"init\0xyz");
    let wide: Vec<u8> = "héllo".encode_utf16().flat_map(u16::to_le_bytes).collect();
    put(&mut m, 8, &wide);
    // 2021-01-01 00:00:00 UTC as FILETIME.
    put(
        &mut m,
        24,
        &((1_609_459_200u64 + 11_644_473_600) * 10_000_000).to_le_bytes(),
    );
    put(&mut m, 32, &128u64.to_le_bytes()); // p -> node at 128
    put(&mut m, 40, &0x99u64.to_le_bytes());
    put(&mut m, 48, &0x77u64.to_le_bytes());
    for (i, v) in [10u16, 20, 30, 40].iter().enumerate() {
        put(&mut m, 56 + 2 * i, &v.to_le_bytes());
    }
    put(&mut m, 128, &42i32.to_le_bytes());
    put(&mut m, 132, b"abcd");
    put(&mut m, 152, &0xdead_0000u64.to_le_bytes()); // node.bad: invalid
    let sp = space(m);
    let o = s.object("strs", 0, &sp);
    assert_eq!(o.member("s").as_string().as_deref(), Some("init"));
    assert_eq!(o.member("u").as_string().as_deref(), Some("héllo"));
    assert_eq!(o.member("ft").value().to_string(), "2021-01-01 00:00:00Z");
    // Pointer: value, typed deref, member through the pointer.
    assert_eq!(o.member("p").value(), Value::Pointer(128));
    let node = o.member("p").deref();
    assert_eq!(node.type_name(), "node");
    assert_eq!(node.address(), Some(128));
    assert_eq!(o.get("p.value").as_i64(), Some(42));
    assert_eq!(
        o.get("p.name").as_string().as_deref(),
        Some("abcd"),
        "char arrays read as text"
    );
    assert_eq!(o.get("p.name[1]").as_u64(), Some(u64::from(b'b')));
    // Void and function pointers.
    let v = o.member("vp").deref();
    assert_eq!(v.ty().map(ToString::to_string).as_deref(), Some("Void"));
    assert_eq!(o.member("fp").deref().address(), Some(0x77));
    // Arrays: index, bounds, iterate.
    let arr = o.member("arr");
    assert_eq!(arr.len(), Some(4));
    assert_eq!(arr.index(3).as_u64(), Some(40));
    let all: Vec<u64> = arr.iter().filter_map(|e| e.as_u64()).collect();
    assert_eq!(all, vec![10, 20, 30, 40]);
    let out = arr.index(4);
    assert!(
        out.none_reason().unwrap().contains("out of range"),
        "{out:?}"
    );
    // Bad pointers.
    let null = o.member("nullp").deref();
    assert!(null.none_reason().unwrap().contains("NULL"), "{null:?}");
    let bad = node.member("bad").deref();
    assert!(
        bad.none_reason().unwrap().contains("invalid address"),
        "{bad:?}"
    );
    // None carries through further accesses, keeps the first reason, prints.
    let deep = o.get("nullp.list.next.value");
    assert!(deep.is_none());
    assert!(deep.none_reason().unwrap().contains("NULL pointer"));
    assert!(deep.to_string().starts_with("None ("));
    assert!(deep.as_u64().is_none());
}

#[test]
fn function_pointer_deref_is_an_address() {
    let s = session();
    let mut m = vec![0u8; 128];
    put(&mut m, 48, &0x60u64.to_le_bytes());
    let o = s.object("strs", 0, &space(m));
    let f = o.member("fp").deref();
    assert!(!f.is_none());
    assert_eq!(
        f.value(),
        Value::Address {
            type_name: "Function".into(),
            address: 0x60
        }
    );
}

#[test]
fn none_objects_for_missing_members_and_invalid_reads() {
    let s = session();
    let sp = space(vec![0u8; 16]);
    let o = s.object("scalars", 0, &sp);
    let missing = o.member("no_such");
    assert!(missing
        .none_reason()
        .unwrap()
        .contains("has no member no_such"));
    // Reads past the end of the buffer.
    let far = o.member("ts");
    assert!(far.is_none() || far.value().is_none());
    assert!(
        far.value()
            .to_string()
            .contains("cannot read 4 bytes at 0x3c"),
        "{}",
        far.value()
    );
    // Unknown struct, unknown descriptor class.
    assert!(s
        .object("no_such_struct", 0, &sp)
        .none_reason()
        .unwrap()
        .contains("unknown"));
    let w = s.object("weird", 0, &sp);
    assert!(w.member("w").none_reason().unwrap().contains("NoSuchClass"));
    assert!(w.member("t").is_none());
    // Members of non-structs, deref of non-pointers, index of scalars.
    assert!(o.member("u8").member("x").is_none());
    assert!(o.member("u8").deref().is_none());
    assert!(o.member("u8").index(0).is_none());
    // Bad paths.
    assert!(o.get("u8[").is_none());
    assert!(o.get("u8[x]").is_none());
}

/// Lays out a list of nodes at the given addresses, each `next` pointing to
/// the following one, the last back to the head at 0.
fn list_memory(nodes: &[u64], values: &[i32]) -> Vec<u8> {
    let mut m = vec![0u8; 1024];
    // Head list_head at 0.
    let first = nodes.first().map(|n| n + 8).unwrap_or(0);
    put(&mut m, 0, &first.to_le_bytes());
    for (i, n) in nodes.iter().enumerate() {
        let at = *n as usize;
        put(&mut m, at, &values[i].to_le_bytes());
        let next = nodes.get(i + 1).map(|x| x + 8).unwrap_or(0);
        put(&mut m, at + 8, &next.to_le_bytes());
    }
    m
}

#[test]
fn list_walks_stop_at_the_head_and_detect_loops() {
    let s = session();
    let sp = space(list_memory(&[64, 128, 256], &[1, 2, 3]));
    let head = s.object("list_head", 0, &sp);
    let values: Vec<i64> = head
        .list_of("node", "list")
        .map(|n| n.member("value").as_i64().unwrap())
        .collect();
    assert_eq!(values, vec![1, 2, 3]);
    // container_of from a list member back to its struct.
    let entry = s.object("list_head", 136, &sp);
    assert_eq!(entry.container_of("node", "list").address(), Some(128));
    assert_eq!(
        entry.container_of("node", "list").member("value").as_i64(),
        Some(2)
    );

    // A loop that never returns to the head: 64 -> 128 -> 64.
    let mut m = list_memory(&[64, 128], &[1, 2]);
    put(&mut m, 136, &72u64.to_le_bytes());
    let sp = space(m);
    let items: Vec<Object> = s
        .object("list_head", 0, &sp)
        .list_of("node", "list")
        .collect();
    assert_eq!(items.len(), 3);
    assert!(
        items[2].none_reason().unwrap().contains("loop"),
        "{:?}",
        items[2]
    );

    // A link to an unreadable address, and a limit.
    let mut m = list_memory(&[64, 128], &[1, 2]);
    put(&mut m, 136, &0x10_0000u64.to_le_bytes());
    let sp = space(m);
    let items: Vec<Object> = s
        .object("list_head", 0, &sp)
        .list_of("node", "list")
        .collect();
    assert_eq!(items.len(), 3);
    assert!(
        items[2].none_reason().unwrap().contains("unreadable"),
        "{:?}",
        items[2]
    );
    let limited: Vec<Object> = s
        .object("list_head", 0, &sp)
        .list_of("node", "list")
        .limit(1)
        .collect();
    assert_eq!(limited.len(), 2);
    assert!(limited[1].none_reason().unwrap().contains("longer than 1"));
    // A bad container gives one NoneObject.
    let bad: Vec<Object> = s
        .object("list_head", 0, &sp)
        .list_of("node", "nope")
        .collect();
    assert_eq!(bad.len(), 1);
    assert!(bad[0].is_none());
}

#[test]
fn overlays_merge_with_rekall_rules() {
    let base = session();
    let ov = Overlay::new()
        // None offset bubbles up, the type is replaced by a richer one.
        .member("node", "name", None, Type::string(4))
        // A given offset replaces; None type bubbles up.
        .member("node", "value", Count::Fixed(4), None)
        // A new member.
        .member(
            "node",
            "extra",
            Count::Fixed(16),
            Type::named("unsigned long long"),
        )
        // A closure-computed offset.
        .member(
            "node",
            "dyn",
            Count::computed(|o| o.member("value").as_u64().map(|v| v % 8)),
            Type::named("unsigned char"),
        )
        // A computed value.
        .computed_value("node", "double", |o| match o.member("extra").as_u64() {
            Some(v) => Value::Int(i128::from(v) * 2),
            None => Value::None(NoneObject::new("no extra")),
        })
        // A computed size.
        .size("node", Count::computed(|o| o.member("extra").as_u64()))
        // An array whose count is another member, and one by closure.
        .member(
            "counted",
            "items",
            None,
            Type::array(Count::member("n"), Type::named("unsigned int")),
        )
        .member(
            "counted",
            "half",
            Count::Fixed(4),
            Type::array(
                Count::computed(|o| o.member("n").as_u64().map(|n| n / 2)),
                Type::named("unsigned int"),
            ),
        )
        // A struct only the overlay defines.
        .member("extra_struct", "a", Count::Fixed(0), Type::named("int"));
    let s = base.with_overlay(ov);
    let mut m = vec![0u8; 128];
    put(&mut m, 0, &77i32.to_le_bytes());
    put(&mut m, 4, b"abcd");
    put(&mut m, 16, &40u64.to_le_bytes());
    m[5] = b'X'; // `dyn` offset = value % 8 where value = u32 at 4 = "aXcd"
    let sp = space(m.clone());
    let n = s.object("node", 0, &sp);
    // name: offset 4 kept, now a String.
    assert_eq!(n.member("name").value(), Value::String("aXcd".into()));
    // value moved to offset 4.
    let v = u32::from_le_bytes([m[4], m[5], m[6], m[7]]);
    assert_eq!(n.member("value").as_u64(), Some(u64::from(v)));
    // list unchanged.
    assert_eq!(s.offset_of("node", "list"), Some(8));
    assert_eq!(n.member("extra").as_u64(), Some(40));
    assert_eq!(n.member("dyn").address(), Some(u64::from(v) % 8));
    assert_eq!(n.member("double").value(), Value::Int(80));
    assert_eq!(n.size(), Some(40), "computed size");
    assert_eq!(s.size_of("node"), None, "a computed size needs an object");
    assert_eq!(base.size_of("node"), Some(32));
    // Counts from a member and from a closure.
    let mut c = vec![0u8; 64];
    put(&mut c, 0, &3u32.to_le_bytes());
    for i in 0..3u32 {
        put(&mut c, 4 + 4 * i as usize, &(100 + i).to_le_bytes());
    }
    let c = s.object("counted", 0, &space(c));
    assert_eq!(c.member("items").len(), Some(3));
    assert_eq!(
        c.member("items")
            .iter()
            .filter_map(|x| x.as_u64())
            .collect::<Vec<_>>(),
        vec![100, 101, 102]
    );
    assert_eq!(c.member("half").len(), Some(1));
    assert_eq!(
        s.object("extra_struct", 0, &sp).member("a").as_i64(),
        Some(77)
    );
    // The base session is unchanged (profile modification is per handle).
    let bn = base.object("node", 0, &sp);
    assert_eq!(bn.member("value").as_i64(), Some(77));
    assert!(bn.member("extra").is_none());
    assert!(base.object("extra_struct", 0, &sp).is_none());
    assert!(
        Arc::ptr_eq(base.profile(), s.profile()),
        "the base profile is shared"
    );
    // Layers stack: a later overlay's None keeps the earlier overlay's value.
    let s2 = s.with_overlay(Overlay::new().member("node", "name", Count::Fixed(5), None));
    assert_eq!(
        s2.object("node", 0, &sp)
            .member("name")
            .as_string()
            .as_deref(),
        Some("Xcd")
    );
}

#[test]
fn json_overlays_and_modifications() {
    let base = session();
    let ov = Overlay::from_json(&json!({
        "node": [null, {"name": [null, ["String", {"length": 2}]], "value": [null, null]}],
        "list_head": [24, {}]
    }))
    .unwrap();
    let modification = |s: &Session| s.with_overlay(ov.clone());
    let s = base.apply(&modification);
    let mut m = vec![0u8; 64];
    put(&mut m, 0, &9i32.to_le_bytes());
    put(&mut m, 4, b"abcd");
    let sp = space(m);
    assert_eq!(
        s.object("node", 0, &sp)
            .member("name")
            .as_string()
            .as_deref(),
        Some("ab")
    );
    assert_eq!(s.object("node", 0, &sp).member("value").as_i64(), Some(9));
    assert_eq!(s.size_of("list_head"), Some(24));
    assert_eq!(base.size_of("list_head"), Some(16));
    for bad in [
        json!([]),
        json!({"a": [1]}),
        json!({"a": ["x", {}]}),
        json!({"a": [null, {"m": [1]}]}),
    ] {
        assert!(Overlay::from_json(&bad).is_err(), "{bad}");
    }
}

#[test]
fn classes_unicode_string_and_custom() {
    let s = session();
    let mut m = vec![0u8; 128];
    let text: Vec<u8> = "C:\\Windows"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    put(&mut m, 0, &(text.len() as u16).to_le_bytes());
    put(&mut m, 2, &(text.len() as u16 + 2).to_le_bytes());
    put(&mut m, 8, &64u64.to_le_bytes());
    put(&mut m, 64, &text);
    // A second string with a bad buffer.
    put(&mut m, 16, &4u16.to_le_bytes());
    put(&mut m, 18, &4u16.to_le_bytes());
    put(&mut m, 24, &0x5000u64.to_le_bytes());
    let sp = space(m);
    let us = s.object("_UNICODE_STRING", 0, &sp);
    assert_eq!(us.as_string().as_deref(), Some("C:\\Windows"));
    assert_eq!(us.to_string(), "C:\\Windows");
    let bad = s.object("_UNICODE_STRING", 16, &sp).value();
    assert!(bad.is_none(), "{bad:?}");
    // The Buffer member itself, dereferenced: a UnicodeString (default length).
    assert_eq!(
        us.member("Buffer").deref().as_string().as_deref(),
        Some("C:\\Windows")
    );
    // A custom class, installed for one session only.
    let custom = s.with_class(
        "node",
        value_class("Node", |o| {
            Some(Value::String(format!(
                "node#{}",
                o.member("value").as_i64()?
            )))
        }),
    );
    assert_eq!(custom.object("node", 0, &sp).to_string(), "node#1441812"); // 0x00160014
    assert_eq!(
        s.object("node", 0, &sp).value(),
        Value::Address {
            type_name: "node".into(),
            address: 0
        }
    );
}

#[test]
fn symbols_enums_and_kaslr() {
    let s = session();
    assert_eq!(s.data_model(), DataModel::LP64);
    assert_eq!(s.constant("big"), Some(18446743523968493976));
    assert_eq!(s.symbol_address("init_task", 0), Some(0xffff_8281_0000));
    assert_eq!(
        s.symbol_address("init_task", 0x20_0000),
        Some(0xffff_82a1_0000)
    );
    assert_eq!(
        s.symbol_address("start_kernel", 0xffff_f800_0000_0000),
        Some(0xffff_f800_0000_1000)
    );
    assert_eq!(s.symbol_address("nope", 0), None);
    assert_eq!(canonical_address(0xffff_8281_0000), 0xffff_ffff_8281_0000);
    assert_eq!(canonical_address(0x7fff_0000_0000), 0x7fff_0000_0000);
    assert_eq!(s.enum_name("color", -1), Some("NONE"));
    assert_eq!(s.enum_value("color", "GREEN"), Some(1));
    assert_eq!(s.enum_name("color", 7), None);
    assert_eq!(
        s.profile().parsed_struct_count(),
        0,
        "symbols need no struct"
    );
}

#[test]
fn lazy_session_parses_only_what_is_used() {
    let s = session();
    assert_eq!(s.profile().parsed_struct_count(), 0);
    let sp = space(vec![0u8; 64]);
    let _ = s.object("node", 0, &sp).get("list.next").value();
    // node and list_head, nothing else.
    assert_eq!(s.profile().parsed_struct_count(), 2);
    let _ = s.object("node", 0, &sp).member("value").value();
    assert_eq!(s.profile().parsed_struct_count(), 2);
}

#[test]
fn pe_profiles_use_llp64_and_ilp32() {
    let doc = |arch: Option<&str>, list_size: u64| {
        let mut meta = json!({"ProfileClass": "BasicPEProfile", "PDBFile": "x.pdb"});
        if let Some(a) = arch {
            meta["arch"] = json!(a);
        }
        serde_json::to_vec(&json!({
            "$METADATA": meta,
            "$STRUCTS": {"_LIST_ENTRY": [list_size, {}], "s": [8, {"l": [0, ["unsigned long"]], "p": [4, ["Pointer", {"target": "s"}]]}]}
        }))
        .unwrap()
    };
    let s = Session::new(Arc::new(
        LazyProfile::from_bytes(doc(None, 16), "t").unwrap(),
    ));
    assert_eq!(s.data_model(), DataModel::LLP64);
    assert_eq!(s.size_of("unsigned long"), Some(4));
    let s = Session::new(Arc::new(
        LazyProfile::from_bytes(doc(Some("I386"), 8), "t").unwrap(),
    ));
    assert_eq!(s.data_model().pointer_size, 4);
    let mut m = vec![0u8; 16];
    put(&mut m, 4, &0x0000_0008u32.to_le_bytes());
    put(&mut m, 12, &0xffff_ffffu32.to_le_bytes());
    let sp = space(m);
    let o = s.object("s", 0, &sp);
    assert_eq!(o.member("p").value(), Value::Pointer(8), "4-byte pointers");
    assert_eq!(o.get("p.p").value(), Value::Pointer(0xffff_ffff));
}

#[test]
fn garbage_profiles_and_bytes_never_panic() {
    // Every struct of a profile full of odd descriptors, over random bytes.
    let doc = json!({
        "$METADATA": {},
        "$STRUCTS": {
            "a": [null, {
                "x": [null, ["Array", {"count": 18446744073709551615u64, "target": "a"}]],
                "y": [18446744073709551615u64, ["int"]],
                "z": [0, ["BitField", {"start_bit": 60, "end_bit": 200, "target": "char"}]],
                "s": [0, ["String", {"length": 18446744073709551615u64}]],
                "arr": [0, ["Array", {"size": 16, "target": "Void"}]],
                "p": [0, ["Pointer", {"target": "Pointer", "target_args": {"target": "a"}}]],
                "e": [0, ["Enumeration", {"target": "double"}]]
            }]
        }
    });
    let s = Session::new(Arc::new(
        LazyProfile::from_bytes(serde_json::to_vec(&doc).unwrap(), "t").unwrap(),
    ));
    let mut seed = 0x1234_5678u64;
    let mut m = vec![0u8; 256];
    for b in &mut m {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *b = (seed >> 33) as u8;
    }
    let sp = space(m);
    for addr in [0u64, 7, 250, u64::MAX - 3] {
        let o = s.object("a", addr, &sp);
        for name in o.members() {
            let mbr = o.member(&name);
            let _ = mbr.value().to_string();
            let _ = mbr.deref().deref().value();
            let _ = mbr.index(u64::MAX).value();
            let _ = mbr.iter().take(3).count();
            let _ = mbr.size();
            let _ = mbr.list_of("a", "x").take(5).count();
            let _ = mbr.container_of("a", "y");
        }
        let _ = o.get("p.p.p.p.x[5].z").value();
        let _ = o.size();
    }
}

#[test]
fn sessions_and_objects_are_thread_safe_and_cycles_end() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Session>();
    assert_send_sync::<Object>();
    assert_send_sync::<LazyProfile>();
    // An overlay whose count depends on itself: a NoneObject, not a stack overflow.
    let s = session().with_overlay(Overlay::new().member(
        "counted",
        "items",
        None,
        Type::array(Count::member("items"), Type::named("unsigned int")),
    ));
    let sp = space(vec![0u8; 64]);
    assert!(s.object("counted", 0, &sp).member("items").is_none());
    // Symbol objects.
    let t = s.symbol_object("start_kernel", "node", 0, &sp);
    assert_eq!(t.address(), Some(0x1000));
    assert!(s
        .symbol_object("nope", "node", 0, &sp)
        .none_reason()
        .unwrap()
        .contains("nope"));
}

#[test]
fn gzipped_profiles_open_lazily() {
    let p = Profile::from_json(profile_json()).unwrap();
    let mut gz = Vec::new();
    p.write_canonical_gzip(&mut gz).unwrap();
    assert!(is_gzip(&gz));
    let lazy = LazyProfile::from_bytes(gz, "gz").unwrap();
    assert_eq!(lazy.struct_count(), p.structs.len());
    assert_eq!(
        lazy.get_struct("node").unwrap().as_deref(),
        p.structs.get("node")
    );
    assert_eq!(lazy.to_profile().unwrap(), p);
}

#[test]
fn string_terminators() {
    let s = session().with_overlay(
        Overlay::from_json(&json!({
            "strs": [null, {
                "s": [null, ["String", {"length": 8, "term": null}]],
                "u": [null, ["UnicodeString", {"length": 16, "term": "l"}]]
            }]
        }))
        .unwrap(),
    );
    let mut m = vec![0u8; 64];
    put(&mut m, 0, b"ab\0cd\0ef");
    let wide: Vec<u8> = "hello".encode_utf16().flat_map(u16::to_le_bytes).collect();
    put(&mut m, 8, &wide);
    let o = s.object("strs", 0, &space(m));
    assert_eq!(o.member("s").as_string().as_deref(), Some("ab\0cd\0ef"));
    assert_eq!(o.member("u").as_string().as_deref(), Some("he"));
}

#[test]
fn chains_follow_pointers_until_null_and_detect_loops() {
    let s = session();
    // nodes at 64, 128, 192 linked through `bad` (a Pointer<node> at +24).
    let mut m = vec![0u8; 512];
    for (at, next, v) in [(64usize, 128u64, 1i32), (128, 192, 2), (192, 0, 3)] {
        put(&mut m, at, &v.to_le_bytes());
        put(&mut m, at + 24, &next.to_le_bytes());
    }
    put(&mut m, 32, &64u64.to_le_bytes()); // strs.p -> first node
    let sp = space(m.clone());
    let values: Vec<i64> = s
        .object("strs", 0, &sp)
        .member("p")
        .follow("bad")
        .map(|n| n.member("value").as_i64().unwrap())
        .collect();
    assert_eq!(values, vec![1, 2, 3]);
    // A NULL start is an empty chain.
    assert_eq!(
        s.object("strs", 256, &sp)
            .member("nullp")
            .follow("bad")
            .count(),
        0
    );
    // A loop: 192 -> 128.
    put(&mut m, 192 + 24, &128u64.to_le_bytes());
    let sp = space(m.clone());
    let items: Vec<Object> = s.object("node", 64, &sp).follow("bad").collect();
    assert_eq!(items.len(), 4);
    assert!(items[3].none_reason().unwrap().contains("loop"));
    // An invalid pointer, and a limit.
    put(&mut m, 192 + 24, &0x9000u64.to_le_bytes());
    let sp = space(m);
    let items: Vec<Object> = s.object("node", 64, &sp).follow("bad").collect();
    assert_eq!(items.len(), 4);
    assert!(items[3].none_reason().unwrap().contains("invalid address"));
    let items: Vec<Object> = s.object("node", 64, &sp).follow("bad").limit(2).collect();
    assert_eq!(items.len(), 3);
    assert!(items[2].none_reason().unwrap().contains("longer than 2"));
}

#[test]
fn mutated_profiles_never_panic() {
    let original = serde_json::to_vec(&profile_json()).unwrap();
    let mut seed = 0xdead_beef_u64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut mem = vec![0u8; 512];
    for b in &mut mem {
        *b = rand() as u8;
    }
    let sp = space(mem);
    let alphabet = b"{}[]\",:0123456789-enulltrueabc ";
    let mut opened = 0;
    for _ in 0..1500 {
        let mut doc = original.clone();
        for _ in 0..(1 + rand() % 4) {
            let i = (rand() as usize) % doc.len();
            doc[i] = alphabet[(rand() as usize) % alphabet.len()];
        }
        let Ok(lazy) = LazyProfile::from_bytes(doc, "mutated") else {
            continue;
        };
        opened += 1;
        let s = Session::new(Arc::new(lazy));
        let names: Vec<String> = s.profile().struct_names().map(str::to_owned).collect();
        for name in names {
            let o = s.object(&name, 8, &sp);
            for m in o.members() {
                let x = o.member(&m);
                let _ = x.value().to_string();
                let _ = x.deref().value();
                let _ = x.index(2).value();
            }
        }
        let _ = s.constant("init_task");
        let _ = s.enum_name("color", 1);
    }
    assert!(
        opened > 100,
        "only {opened} mutated documents were valid JSON"
    );
}

#[test]
fn member_handles_read_what_objects_read() {
    let s = session();
    let mut m = vec![0u8; 256];
    let base = 64usize;
    put(&mut m, base, &[0xfe, 0x80]);
    put(&mut m, base + 2, &0xfffeu16.to_le_bytes());
    put(&mut m, base + 4, &(-3i16).to_le_bytes());
    put(&mut m, base + 8, &0xdead_beefu32.to_le_bytes());
    put(&mut m, base + 12, &(-5i32).to_le_bytes());
    put(&mut m, base + 16, &0x0123_4567_89ab_cdefu64.to_le_bytes());
    put(&mut m, base + 24, &i64::MIN.to_le_bytes());
    put(&mut m, base + 52, &(-1i32).to_le_bytes());
    let sp = space(m);
    let o = s.object("scalars", base as u64, &sp);
    let b = base as u64;
    for name in [
        "u8", "i8", "u16", "i16", "u32", "i32", "u64", "i64", "long", "color",
    ] {
        let h = s.member_handle("scalars", name).unwrap();
        assert_eq!(
            Some(h.read_int(&sp, b).unwrap()),
            o.member(name).as_i64(),
            "{name}"
        );
        assert_eq!(Some(h.offset()), s.offset_of("scalars", name));
        assert_eq!(h.value(&sp, b), o.member(name).value(), "{name}");
    }
    let h = |n: &str| s.member_handle("scalars", n).unwrap();
    assert_eq!(
        Some(u64::from(h("u8").read_u8(&sp, b).unwrap())),
        o.member("u8").as_u64()
    );
    assert_eq!(
        Some(u64::from(h("u16").read_u16(&sp, b).unwrap())),
        o.member("u16").as_u64()
    );
    assert_eq!(
        Some(u64::from(h("u32").read_u32(&sp, b).unwrap())),
        o.member("u32").as_u64()
    );
    assert_eq!(
        Some(h("i32").read_i32(&sp, b).unwrap() as i64),
        o.member("i32").as_i64()
    );
    assert_eq!(
        Some(h("u64").read_u64(&sp, b).unwrap()),
        o.member("u64").as_u64()
    );
    assert_eq!(
        Some(h("i64").read_i64(&sp, b).unwrap()),
        o.member("i64").as_i64()
    );
    assert_eq!(
        h("color").read_i32(&sp, b),
        Ok(-1),
        "an enumeration reads its storage"
    );
    // The same handle, over a space given by reference to the concrete type.
    let concrete = BufferSpace::new(sp.read_exact(0, 256).unwrap());
    assert_eq!(h("u32").read_u32(&concrete, b), Ok(0xdead_beef));
    // Width and type are checked, not guessed.
    let e = h("u32").read_u64(&sp, b).unwrap_err();
    assert!(
        e.reason().contains("scalars.u32") && e.reason().contains("8-byte"),
        "{e}"
    );
    assert!(
        h("f32").read_u32(&sp, b).is_err(),
        "a float is not an integer"
    );
    assert!(h("f32").read_int(&sp, b).is_err());
    // Unreadable memory and overflowing addresses are errors, not panics.
    let e = h("u32").read_u32(&sp, 4096).unwrap_err();
    assert!(e.reason().contains("cannot read 4 bytes at 0x1008"), "{e}");
    assert!(h("u64").read_u64(&sp, u64::MAX - 4).is_err());
}

#[test]
fn member_handles_follow_paths_and_name_what_is_missing() {
    let s = session();
    let mut m = vec![0u8; 256];
    put(&mut m, 32 + 8, &0x1234u64.to_le_bytes()); // node.list.next
    put(&mut m, 32 + 16, &0x5678u64.to_le_bytes()); // node.list.prev
    let sp = space(m);
    let next = s.member_handle("node", "list.next").unwrap();
    assert_eq!(next.offset(), 8);
    assert_eq!(next.path(), "node.list.next");
    assert_eq!(next.read_pointer(&sp, 32), Ok(0x1234));
    assert_eq!(
        Some(next.read_pointer(&sp, 32).unwrap()),
        s.object("node", 32, &sp).get("list.next").as_u64()
    );
    let prev = s.member_handle("node", "list.prev").unwrap();
    assert_eq!(prev.read_pointer(&sp, 32), Ok(0x5678));
    assert!(prev.read_u32(&sp, 32).is_err(), "a pointer is not a u32");
    // Non-scalar members are read through objects.
    let name = s.member_handle("node", "name").unwrap();
    assert_eq!(name.object(&sp, 32).len(), Some(4));

    let err = |t: &str, p: &str| s.member_handle(t, p).unwrap_err().reason().to_owned();
    assert_eq!(err("node", "nope"), "node has no member nope");
    assert_eq!(err("node", "list.nope"), "list_head has no member nope");
    assert!(
        err("node", "value.x").contains("node.value: int32 has no members"),
        "{}",
        err("node", "value.x")
    );
    assert!(
        err("no_such", "x").contains("no_such"),
        "{}",
        err("no_such", "x")
    );
    // A pointer is not crossed: that needs a read.
    assert!(
        err("node", "bad.value").contains("node.bad"),
        "{}",
        err("node", "bad.value")
    );
    // A member whose offset a closure computes has no handle.
    let o =
        s.with_overlay(Overlay::new().member("node", "value", Count::computed(|_| Some(4)), None));
    assert!(o
        .member_handle("node", "value")
        .unwrap_err()
        .reason()
        .contains("no fixed offset"));
    // A session's handles follow its overlays.
    let o = s.with_overlay(Overlay::new().member("node", "value", Count::Fixed(16), None));
    assert_eq!(o.member_handle("node", "value").unwrap().offset(), 16);
    assert_eq!(s.member_handle("node", "value").unwrap().offset(), 0);
}

#[test]
fn member_access_after_the_fast_path_keeps_names_and_overlays() {
    let s = session();
    let mut m = vec![0u8; 128];
    put(&mut m, 8, &0x20u64.to_le_bytes()); // node.list.next -> 0x20
    let sp = space(m);
    let n = s.object("node", 0, &sp);
    assert_eq!(n.member("value").name(), "node.value");
    assert_eq!(n.get("list.next").name(), "node.list.next");
    assert_eq!(n.get("list.next.next").name(), "node.list.next.next");
    assert_eq!(
        n.member("nope").none_reason(),
        Some("node: node has no member nope")
    );
    // A member overlaid with a closure still goes through the closure.
    let o = s.with_overlay(Overlay::new().computed_value("node", "value", |_| Value::Int(99)));
    assert_eq!(o.object("node", 0, &sp).member("value").as_i64(), Some(99));
    assert_eq!(n.member("value").as_i64(), Some(0));
}
