//! The runtime reading objects from arbitrary memory through an arbitrary
//! profile.
//!
//! Input: `PROFILE_JSON \0 MEMORY`. Every struct of the profile (up to 32) is
//! instantiated at a few addresses; its members are read, dereferenced,
//! indexed, iterated and followed as lists.
#![no_main]
use libfuzzer_sys::fuzz_target;
use profile_runtime::{BufferSpace, LazyProfile, Object, Session, Space};
use std::sync::Arc;

fn walk(obj: &Object, depth: u32) {
    let _ = obj.value();
    let _ = obj.as_string();
    let _ = obj.size();
    if depth == 0 {
        return;
    }
    let _ = obj.len();
    for o in obj.iter().take(4) {
        walk(&o, depth - 1);
    }
    walk(&obj.deref(), depth - 1);
    let _ = obj.index(1).value();
    for name in obj.members().into_iter().take(32) {
        walk(&obj.member(&name), depth - 1);
    }
}

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (json, memory) = (&data[..split], data.get(split + 1..).unwrap_or_default());
    let Ok(lazy) = LazyProfile::from_bytes(json.to_vec(), "fuzz.json") else {
        return;
    };
    let session = Session::new(Arc::new(lazy));
    let space: Space = Arc::new(BufferSpace::new(memory.to_vec()));
    let names: Vec<String> = session
        .profile()
        .struct_names()
        .take(32)
        .map(str::to_owned)
        .collect();
    for name in &names {
        let _ = session.size_of(name);
        for addr in [0u64, 8, u64::MAX - 7] {
            let obj = session.object(name, addr, &space);
            walk(&obj, 3);
            let members = obj.members();
            if let Some(m) = members.first() {
                let _ = session.offset_of(name, m);
                let _ = session.member_type(name, m);
                for o in obj.follow(m).take(8) {
                    let _ = o.value();
                }
                for o in obj.list_of(name, m).take(8) {
                    let _ = o.value();
                }
                let _ = obj.container_of(name, m).value();
            }
        }
    }
    for (name, _) in session.profile().functions().iter().take(4) {
        let _ = session.symbol_object(name, names.first().map_or("int", String::as_str), 0, &space);
    }
});
