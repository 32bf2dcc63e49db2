//! Native (base) types: what a name like `unsigned long` or `long unsigned
//! int` means for a profile's data model.

use profile_runtime::Profile;

/// The C data model of a profile's target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataModel {
    /// Pointer size in bytes.
    pub pointer_size: u64,
    /// Size of `long` in bytes (4 on Windows and 32-bit targets, 8 on 64-bit Unix).
    pub long_size: u64,
    /// Size of `long double`.
    pub long_double_size: u64,
    /// Size of `wchar_t`.
    pub wchar_size: u64,
}

impl DataModel {
    /// Decides the data model from `$METADATA` (`arch`, `ProfileClass`):
    /// Linux and Darwin profiles are LP64 on 64-bit architectures, Windows
    /// (everything else) LLP64; 32-bit architectures are ILP32.
    pub fn of(profile: &Profile) -> Self {
        let arch = profile.metadata_str("arch").unwrap_or("AMD64");
        let class = profile.metadata_str("ProfileClass").unwrap_or("");
        let unix = class.starts_with("Linux") || class.starts_with("Darwin");
        let bits32 = matches!(arch, "I386" | "ARM" | "x86" | "i386" | "MIPS" | "PPC");
        let pointer_size = if bits32 { 4 } else { 8 };
        DataModel {
            pointer_size,
            long_size: if unix && !bits32 { 8 } else { 4 },
            long_double_size: if unix {
                if bits32 {
                    12
                } else {
                    16
                }
            } else {
                8
            },
            wchar_size: if unix { 4 } else { 2 },
        }
    }
}

/// What kind of value a native type holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NativeKind {
    /// An integer.
    Int,
    /// A character type.
    Char,
    /// A floating-point number.
    Float,
    /// A boolean.
    Bool,
    /// `void`.
    Void,
}

/// A native type's kind, size and signedness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Native {
    /// Kind.
    pub kind: NativeKind,
    /// Size in bytes.
    pub size: u64,
    /// Signedness.
    pub signed: bool,
}

/// Interprets a native type name in Rekall's or DWARF's spelling; `None`
/// for names that are not native types (structs, unknown names).
pub fn native(name: &str, model: &DataModel) -> Option<Native> {
    use NativeKind::*;
    let n = |kind, size, signed| Some(Native { kind, size, signed });
    match name {
        "void" | "Void" => return n(Void, 0, false),
        "bool" | "_Bool" => return n(Bool, 1, false),
        "float" => return n(Float, 4, true),
        "double" => return n(Float, 8, true),
        "long double" => return n(Float, model.long_double_size, true),
        "address" | "pointer" | "size_t" | "uintptr_t" => return n(Int, model.pointer_size, false),
        "wchar_t" => return n(Char, model.wchar_size, model.wchar_size == 4),
        "char16_t" => return n(Char, 2, false),
        "char32_t" => return n(Char, 4, false),
        "char8_t" => return n(Char, 1, false),
        "char" | "signed char" => return n(Char, 1, true),
        "unsigned char" => return n(Char, 1, false),
        _ => {}
    }
    // Fixed-width spellings: int8_t, uint64_t, __u32, __s16, u8, s64.
    let fixed = [
        ("uint", false),
        ("int", true),
        ("__u", false),
        ("__s", true),
        ("u", false),
        ("s", true),
    ];
    for (prefix, signed) in fixed {
        if let Some(rest) = name.strip_prefix(prefix) {
            let digits = rest.strip_suffix("_t").unwrap_or(rest);
            if let Ok(bits @ (8 | 16 | 32 | 64 | 128)) = digits.parse::<u64>() {
                return n(Int, bits / 8, signed);
            }
        }
    }
    // Word-based C spellings in any order: "long unsigned int", "short int".
    let words: Vec<&str> = name.split_whitespace().collect();
    if words.is_empty()
        || !words.iter().all(|w| {
            matches!(
                *w,
                "unsigned" | "signed" | "int" | "long" | "short" | "char" | "__int128"
            )
        })
    {
        return None;
    }
    let signed = !words.contains(&"unsigned");
    let longs = words.iter().filter(|w| **w == "long").count();
    let size = if words.contains(&"__int128") {
        16
    } else if words.contains(&"char") {
        return n(Char, 1, signed);
    } else if words.contains(&"short") {
        2
    } else if longs >= 2 {
        8
    } else if longs == 1 {
        model.long_size
    } else {
        4
    };
    n(Int, size, signed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_both_spellings() {
        let lp64 = DataModel {
            pointer_size: 8,
            long_size: 8,
            long_double_size: 16,
            wchar_size: 4,
        };
        let llp64 = DataModel {
            pointer_size: 8,
            long_size: 4,
            long_double_size: 8,
            wchar_size: 2,
        };
        let size = |n: &str, m: &DataModel| native(n, m).map(|x| (x.size, x.signed));
        assert_eq!(size("long unsigned int", &lp64), Some((8, false)));
        assert_eq!(size("unsigned long", &llp64), Some((4, false)));
        assert_eq!(size("long long int", &llp64), Some((8, true)));
        assert_eq!(size("short unsigned int", &lp64), Some((2, false)));
        assert_eq!(size("uint32_t", &lp64), Some((4, false)));
        assert_eq!(size("__s16", &lp64), Some((2, true)));
        assert_eq!(size("_Bool", &lp64), Some((1, false)));
        assert_eq!(size("wchar_t", &llp64), Some((2, false)));
        assert_eq!(size("task_struct", &lp64), None);
        assert_eq!(size("unsigned task", &lp64), None);
    }
}
