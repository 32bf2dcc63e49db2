//! Compiler -> runtime contract: a profile emitted from IR facts (offsets,
//! LSB-relative bit fields, enums, pointers, char arrays) reads back through
//! the lazy runtime as those facts say.

use std::sync::Arc;

use profile_compiler::ir::{
    BitField, Enum, Ir, Member, Record, RecordKind, Symbol, SymbolKind, Type,
};
use profile_compiler::{emit, EmitOptions};
use profile_runtime::{BufferSpace, LazyProfile, Session, Space, Value};

fn base(ir: &mut Ir, name: &str, size: u64, signed: bool) -> profile_compiler::ir::TypeId {
    ir.push(Type::Base {
        name: name.into(),
        size,
        signed,
    })
}

#[test]
fn emitted_profiles_read_back_through_the_runtime() {
    let mut ir = Ir::default();
    ir.metadata.insert("ProfileClass".into(), "Linux".into());
    ir.metadata.insert("arch".into(), "AMD64".into());
    let u32t = base(&mut ir, "unsigned int", 4, false);
    let i16t = base(&mut ir, "short int", 2, true);
    let chr = base(&mut ir, "char", 1, true);
    let comm = ir.push(Type::Array {
        element: chr,
        count: 8,
    });
    let state = ir.push(Type::Enum(Enum {
        name: Some("state".into()),
        size: 4,
        signed: false,
        values: vec![("RUNNING".into(), 0), ("SLEEPING".into(), 1)],
        origin: 1,
    }));
    // The record refers to itself through a pointer: push a placeholder first.
    let rec_id = ir.push(Type::Void);
    let ptr = ir.push(Type::Pointer {
        target: rec_id,
        size: 8,
    });
    let m = |name: &str, offset, ty, bitfield| Member {
        name: Some(name.into()),
        offset,
        ty,
        bitfield,
    };
    ir.types[rec_id.index()] = Type::Record(Record {
        kind: RecordKind::Struct,
        name: Some("thing".into()),
        size: 32,
        members: vec![
            m(
                "flags_lo",
                0,
                u32t,
                Some(BitField {
                    bit_offset: 0,
                    bit_size: 3,
                }),
            ),
            m(
                "flags_mid",
                0,
                u32t,
                Some(BitField {
                    bit_offset: 3,
                    bit_size: 10,
                }),
            ),
            m(
                "flags_hi",
                0,
                u32t,
                Some(BitField {
                    bit_offset: 31,
                    bit_size: 1,
                }),
            ),
            m("delta", 4, i16t, None),
            m("state", 8, state, None),
            m("name", 12, comm, None),
            m("next", 24, ptr, None),
        ],
        declaration: false,
        origin: 2,
    });
    ir.symbols.push(Symbol {
        name: "the_thing".into(),
        address: 0xffff_8100_0040,
        kind: SymbolKind::Data,
        ty: None,
    });
    let emitted = emit(&ir, EmitOptions::default());
    let session = Session::new(Arc::new(
        LazyProfile::from_profile(&emitted.profile).unwrap(),
    ));

    // Bytes laid out from the IR facts.
    let mut mem = vec![0u8; 128];
    let word: u32 = 0b101 | (0x2aa << 3) | (1 << 31);
    mem[0..4].copy_from_slice(&word.to_le_bytes());
    mem[4..6].copy_from_slice(&(-7i16).to_le_bytes());
    mem[8..12].copy_from_slice(&1u32.to_le_bytes());
    mem[12..20].copy_from_slice(b"kworker\0");
    mem[24..32].copy_from_slice(&64u64.to_le_bytes());
    mem[64 + 4..64 + 6].copy_from_slice(&99i16.to_le_bytes());
    let sp: Space = Arc::new(BufferSpace::new(mem));
    let t = session.object("thing", 0, &sp);
    assert_eq!(t.size(), Some(32));
    assert_eq!(t.member("flags_lo").as_u64(), Some(0b101));
    assert_eq!(t.member("flags_mid").as_u64(), Some(0x2aa));
    assert_eq!(t.member("flags_hi").as_u64(), Some(1));
    assert_eq!(t.member("delta").as_i64(), Some(-7));
    assert_eq!(
        t.member("state").value(),
        Value::Enum {
            value: 1,
            name: Some("SLEEPING".into())
        }
    );
    assert_eq!(t.member("name").as_string().as_deref(), Some("kworker"));
    assert_eq!(t.get("next.delta").as_i64(), Some(99));
    assert_eq!(session.constant("the_thing"), Some(0xffff_8100_0040));
}
