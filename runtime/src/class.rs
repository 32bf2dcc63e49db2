//! Classes: Rust behaviour attached to a type name, installed per session.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::object::{NoneObject, Object, Value};

/// Behaviour attached to a struct type name (see [`crate::Session::with_class`]).
///
/// Every method has a default, so a class implements only what it changes.
pub trait Class: Send + Sync {
    /// A short name for debugging output.
    fn name(&self) -> &str;

    /// The object's value, replacing the default (a struct's address). For
    /// example `_UNICODE_STRING` returns the text it points to.
    fn value(&self, _obj: &Object) -> Option<Value> {
        None
    }

    /// For a list-entry type: the member holding the pointer to the next
    /// entry (`Flink` for `_LIST_ENTRY`, `next` for `list_head`).
    fn list_link(&self) -> Option<&str> {
        None
    }
}

impl fmt::Debug for dyn Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Class({})", self.name())
    }
}

/// Most bytes a counted string class reads (64 KiB, `USHORT` lengths).
pub const MAX_COUNTED_STRING: u64 = 0x1_0000;

/// `_UNICODE_STRING`: `Length` bytes of UTF-16LE text at `Buffer`.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnicodeStringClass;

/// `_STRING` / `_ANSI_STRING`: `Length` bytes of text at `Buffer`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnsiStringClass;

fn counted(obj: &Object, wide: bool) -> Value {
    let Some(len) = obj.member("Length").as_u64() else {
        return Value::None(NoneObject::new(format!(
            "{}: unreadable Length",
            obj.name()
        )));
    };
    let max = obj
        .member("MaximumLength")
        .as_u64()
        .unwrap_or(MAX_COUNTED_STRING);
    let len = len.min(max).min(MAX_COUNTED_STRING);
    if len == 0 {
        return Value::String(String::new());
    }
    let buffer = obj.member("Buffer");
    let Some(addr) = buffer.as_u64() else {
        return Value::None(buffer.none_or("Buffer is not a pointer"));
    };
    if addr == 0 {
        return Value::None(NoneObject::new(format!(
            "{}: NULL Buffer with Length {len}",
            obj.name()
        )));
    }
    let Some(space) = obj.space() else {
        return Value::None(NoneObject::new("no address space"));
    };
    let mut bytes = vec![0u8; len as usize];
    let status = space.read(addr, &mut bytes);
    if !status.is_complete() {
        return Value::None(NoneObject::new(format!(
            "{}: cannot read {len} bytes of text at {addr:#x} (invalid from {:#x})",
            obj.name(),
            status.first_invalid.unwrap_or(addr)
        )));
    }
    Value::String(if wide {
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

impl Class for UnicodeStringClass {
    fn name(&self) -> &str {
        "UnicodeString"
    }
    fn value(&self, obj: &Object) -> Option<Value> {
        Some(counted(obj, true))
    }
}

impl Class for AnsiStringClass {
    fn name(&self) -> &str {
        "AnsiString"
    }
    fn value(&self, obj: &Object) -> Option<Value> {
        Some(counted(obj, false))
    }
}

/// A doubly linked list entry whose forward pointer is the member `link`.
#[derive(Debug, Clone)]
pub struct ListEntryClass {
    /// The forward link member (`Flink`, `next`).
    pub link: String,
}

impl Class for ListEntryClass {
    fn name(&self) -> &str {
        "ListEntry"
    }
    fn list_link(&self) -> Option<&str> {
        Some(&self.link)
    }
}

/// A class made of a value closure.
pub struct FnClass<F> {
    name: String,
    f: F,
}

impl<F> fmt::Debug for FnClass<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FnClass({})", self.name)
    }
}

impl<F: Fn(&Object) -> Option<Value> + Send + Sync> Class for FnClass<F> {
    fn name(&self) -> &str {
        &self.name
    }
    fn value(&self, obj: &Object) -> Option<Value> {
        (self.f)(obj)
    }
}

/// A class whose value is computed by `f` (`None`: the default value).
pub fn value_class(
    name: &str,
    f: impl Fn(&Object) -> Option<Value> + Send + Sync + 'static,
) -> Arc<dyn Class> {
    Arc::new(FnClass {
        name: name.to_owned(),
        f,
    })
}

/// Installs the default classes: `_UNICODE_STRING`, `_STRING`,
/// `_ANSI_STRING`, `_LIST_ENTRY` (and its 32/64 variants), `list_head` (circular lists).
pub fn install_defaults(classes: &mut HashMap<String, Arc<dyn Class>>) {
    classes.insert("_UNICODE_STRING".into(), Arc::new(UnicodeStringClass));
    for n in ["_STRING", "_ANSI_STRING", "_CSTRING"] {
        classes.insert(n.into(), Arc::new(AnsiStringClass));
    }
    for n in [
        "_LIST_ENTRY",
        "LIST_ENTRY",
        "LIST_ENTRY32",
        "LIST_ENTRY64",
        "_LIST_ENTRY32",
        "_LIST_ENTRY64",
    ] {
        classes.insert(
            n.into(),
            Arc::new(ListEntryClass {
                link: "Flink".into(),
            }),
        );
    }
    classes.insert(
        "list_head".into(),
        Arc::new(ListEntryClass {
            link: "next".into(),
        }),
    );
}
