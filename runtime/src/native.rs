//! Native (C base) types and the data model that fixes their sizes.

use std::fmt;

use serde_json::Value;

/// The sizes of the C types whose width varies between platforms.
///
/// Decided from a profile's `$METADATA` by [`DataModel::from_metadata`]:
/// `Linux` / `Darwin*` with a 64-bit `arch` are LP64, PE (Windows) profiles
/// are LLP64 (`long` is 4 bytes), a 32-bit `arch` (`I386`, `ARM`) is ILP32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DataModel {
    /// Size of a pointer (and of `address`) in bytes: 4 or 8.
    pub pointer_size: u8,
    /// Size of `long` / `unsigned long` in bytes: 4 or 8.
    pub long_size: u8,
    /// Size of `wchar_t`: 2 on Windows, 4 elsewhere.
    pub wchar_size: u8,
}

impl DataModel {
    /// LP64: Linux and macOS on 64-bit processors.
    pub const LP64: DataModel = DataModel {
        pointer_size: 8,
        long_size: 8,
        wchar_size: 4,
    };
    /// LLP64: 64-bit Windows.
    pub const LLP64: DataModel = DataModel {
        pointer_size: 8,
        long_size: 4,
        wchar_size: 2,
    };
    /// ILP32 as on 32-bit Linux.
    pub const ILP32: DataModel = DataModel {
        pointer_size: 4,
        long_size: 4,
        wchar_size: 4,
    };
    /// ILP32 as on 32-bit Windows (2-byte `wchar_t`).
    pub const ILP32_WINDOWS: DataModel = DataModel {
        pointer_size: 4,
        long_size: 4,
        wchar_size: 2,
    };

    /// Decides the data model from `$METADATA` (`ProfileClass`, `arch`).
    ///
    /// `pointer_hint` is used when `arch` is missing (some PDB-made profiles
    /// have none): the pointer size guessed from the profile itself, e.g. half
    /// the size of `_LIST_ENTRY`. Without either, 64-bit is assumed.
    pub fn from_metadata(
        metadata: &serde_json::Map<String, Value>,
        pointer_hint: Option<u8>,
    ) -> DataModel {
        let class = metadata
            .get("ProfileClass")
            .and_then(Value::as_str)
            .unwrap_or("");
        let arch = metadata.get("arch").and_then(Value::as_str).unwrap_or("");
        let unix = class == "Linux" || class.starts_with("Darwin") || class == "OSX";
        let windows = !unix
            && (metadata.contains_key("PDBFile")
                || metadata.contains_key("GUID_AGE")
                || class.contains("PE")
                || class.starts_with("Nt")
                || class.starts_with("Win")
                || !class.is_empty());
        let bits64 = match arch.to_ascii_lowercase().as_str() {
            "i386" | "x86" | "arm" | "mips" | "ppc" | "pae" | "ia32" => false,
            "amd64" | "x64" | "x86_64" | "arm64" | "aarch64" | "ia64" => true,
            _ => match pointer_hint {
                Some(4) => false,
                _ => class != "Darwin32",
            },
        };
        match (bits64, windows) {
            (true, true) => DataModel::LLP64,
            (true, false) => DataModel::LP64,
            (false, true) => DataModel::ILP32_WINDOWS,
            (false, false) => DataModel::ILP32,
        }
    }
}

impl Default for DataModel {
    fn default() -> Self {
        DataModel::LP64
    }
}

/// What kind of value a native type holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NativeKind {
    /// A two's complement signed integer.
    Signed,
    /// An unsigned integer (also plain `char`, read as a byte).
    Unsigned,
    /// An IEEE float (4 or 8 bytes) or x87 extended precision (10, 12 or 16).
    Float,
    /// A boolean (`_Bool`, `bool`): any non-zero byte is true.
    Bool,
}

/// A native type resolved against a data model: a size and a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Native {
    /// Size in bytes (1, 2, 4, 8 for integers; 4, 8, 10, 12, 16 for floats).
    pub size: u8,
    /// Signed, unsigned, float or bool.
    pub kind: NativeKind,
}

impl Native {
    /// An unsigned integer of `size` bytes.
    pub const fn unsigned(size: u8) -> Native {
        Native {
            size,
            kind: NativeKind::Unsigned,
        }
    }
    /// A signed integer of `size` bytes.
    pub const fn signed(size: u8) -> Native {
        Native {
            size,
            kind: NativeKind::Signed,
        }
    }

    /// Resolves a native type name, in Rekall spelling (`unsigned long`),
    /// DWARF spelling (`long unsigned int`, `short int`, `_Bool`), fixed-width
    /// (`uint32_t`, `__int64`, `u32`) or Rekall's `address` / `pointer`.
    /// Returns `None` for names that are not native types (struct names).
    pub fn from_name(name: &str, model: &DataModel) -> Option<Native> {
        let ptr = model.pointer_size;
        let fixed = match name {
            "address" | "pointer" | "uintptr_t" | "size_t" | "unsigned __int3264" => {
                Some(Native::unsigned(ptr))
            }
            "ssize_t" | "intptr_t" | "ptrdiff_t" | "__int3264" => Some(Native::signed(ptr)),
            "uint8_t" | "u8" | "__u8" | "unsigned __int8" | "BYTE" | "UCHAR" => {
                Some(Native::unsigned(1))
            }
            "int8_t" | "s8" | "__s8" | "__int8" => Some(Native::signed(1)),
            "uint16_t" | "u16" | "__u16" | "unsigned __int16" | "WORD" | "USHORT" => {
                Some(Native::unsigned(2))
            }
            "int16_t" | "s16" | "__s16" | "__int16" => Some(Native::signed(2)),
            "uint32_t" | "u32" | "__u32" | "unsigned __int32" | "DWORD" | "ULONG" => {
                Some(Native::unsigned(4))
            }
            "int32_t" | "s32" | "__s32" | "__int32" => Some(Native::signed(4)),
            "uint64_t" | "u64" | "__u64" | "unsigned __int64" | "ULONGLONG" | "QWORD" => {
                Some(Native::unsigned(8))
            }
            "int64_t" | "s64" | "__s64" | "__int64" => Some(Native::signed(8)),
            "wchar_t" | "wchar" | "WCHAR" => Some(Native::unsigned(model.wchar_size)),
            "char16_t" => Some(Native::unsigned(2)),
            "char32_t" => Some(Native::unsigned(4)),
            "__int128" | "__int128 int" => Some(Native::signed(16)),
            "__int128 unsigned" | "unsigned __int128" => Some(Native::unsigned(16)),
            "HRESULT" => Some(Native::signed(4)),
            _ => None,
        };
        if fixed.is_some() {
            return fixed;
        }
        // Word-based C spellings, in any order: count the keywords.
        let (mut signed, mut unsigned, mut char, mut short, mut int, mut long) =
            (false, false, false, false, false, 0u8);
        let (mut float, mut double, mut boolean) = (false, false, false);
        let mut any = false;
        for word in name.split_whitespace() {
            any = true;
            match word {
                "signed" | "__signed__" => signed = true,
                "unsigned" => unsigned = true,
                "char" => char = true,
                "short" => short = true,
                "int" => int = true,
                "long" => long = long.saturating_add(1),
                "float" => float = true,
                "double" => double = true,
                "_Bool" | "bool" => boolean = true,
                "const" | "volatile" => {}
                _ => return None,
            }
        }
        if !any {
            return None;
        }
        let kind = if unsigned {
            NativeKind::Unsigned
        } else {
            NativeKind::Signed
        };
        let n = |size: u8| Native { size, kind };
        Some(if boolean {
            Native {
                size: 1,
                kind: NativeKind::Bool,
            }
        } else if float {
            Native {
                size: 4,
                kind: NativeKind::Float,
            }
        } else if double {
            Native {
                size: if long > 0 { 16 } else { 8 },
                kind: NativeKind::Float,
            }
        } else if char {
            // Plain `char` is read as a signed byte (x86 ABI); a string of
            // chars is better read through `String`.
            let _ = signed;
            n(1)
        } else if short {
            n(2)
        } else if long >= 2 {
            n(8)
        } else if long == 1 {
            n(model.long_size)
        } else if int || signed || unsigned {
            n(4)
        } else {
            return None;
        })
    }

    /// Decodes `bytes` (little-endian, exactly `self.size` long) as an integer.
    /// Floats and bools are returned as their raw bits.
    pub(crate) fn decode_int(&self, bytes: &[u8]) -> i128 {
        let mut raw: u128 = 0;
        for (i, b) in bytes.iter().take(16).enumerate() {
            raw |= u128::from(*b) << (8 * i);
        }
        let bits = (bytes.len().min(16) * 8) as u32;
        if self.kind == NativeKind::Signed && bits > 0 && bits < 128 {
            let shift = 128 - bits;
            ((raw << shift) as i128) >> shift
        } else {
            raw as i128
        }
    }

    /// Decodes `bytes` as a float of this native's size.
    pub(crate) fn decode_float(&self, bytes: &[u8]) -> Option<f64> {
        match bytes.len() {
            4 => Some(f64::from(f32::from_le_bytes(bytes.try_into().ok()?))),
            8 => Some(f64::from_le_bytes(bytes.try_into().ok()?)),
            10 | 12 | 16 => Some(f80_to_f64(bytes.get(..10)?)),
            _ => None,
        }
    }
}

impl fmt::Display for Native {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = match self.kind {
            NativeKind::Signed => "int",
            NativeKind::Unsigned => "uint",
            NativeKind::Float => "float",
            NativeKind::Bool => "bool",
        };
        write!(f, "{k}{}", u32::from(self.size) * 8)
    }
}

/// Converts an x87 80-bit extended float (little-endian) to `f64`.
fn f80_to_f64(b: &[u8]) -> f64 {
    let mut mant: u64 = 0;
    for (i, x) in b.iter().take(8).enumerate() {
        mant |= u64::from(*x) << (8 * i);
    }
    let se = u16::from(b.get(8).copied().unwrap_or(0))
        | (u16::from(b.get(9).copied().unwrap_or(0)) << 8);
    let sign = if se & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from(se & 0x7fff);
    if exp == 0x7fff {
        return if mant << 1 == 0 {
            sign * f64::INFINITY
        } else {
            f64::NAN
        };
    }
    if exp == 0 && mant == 0 {
        return sign * 0.0;
    }
    // value = mant / 2^63 * 2^(exp - 16383)
    let e = exp - 16383 - 63;
    sign * (mant as f64) * 2f64.powi(e.clamp(-2000, 2000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_resolve_per_data_model() {
        let lp = DataModel::LP64;
        let llp = DataModel::LLP64;
        for (name, size, kind) in [
            ("unsigned long", 8, NativeKind::Unsigned),
            ("long unsigned int", 8, NativeKind::Unsigned),
            ("long int", 8, NativeKind::Signed),
            ("short int", 2, NativeKind::Signed),
            ("short unsigned int", 2, NativeKind::Unsigned),
            ("long long unsigned int", 8, NativeKind::Unsigned),
            ("_Bool", 1, NativeKind::Bool),
            ("char", 1, NativeKind::Signed),
            ("signed char", 1, NativeKind::Signed),
            ("uint32_t", 4, NativeKind::Unsigned),
            ("double", 8, NativeKind::Float),
            ("address", 8, NativeKind::Unsigned),
        ] {
            assert_eq!(
                Native::from_name(name, &lp),
                Some(Native { size, kind }),
                "{name}"
            );
        }
        assert_eq!(
            Native::from_name("unsigned long", &llp).map(|n| n.size),
            Some(4)
        );
        assert_eq!(
            Native::from_name("long", &DataModel::ILP32).map(|n| n.size),
            Some(4)
        );
        assert_eq!(
            Native::from_name("address", &DataModel::ILP32).map(|n| n.size),
            Some(4)
        );
        assert_eq!(Native::from_name("task_struct", &lp), None);
        assert_eq!(Native::from_name("", &lp), None);
    }

    #[test]
    fn data_model_from_metadata() {
        let m = |v: serde_json::Value| v.as_object().cloned().unwrap_or_default();
        let linux = m(serde_json::json!({"ProfileClass": "Linux", "arch": "AMD64"}));
        assert_eq!(DataModel::from_metadata(&linux, None), DataModel::LP64);
        let osx = m(serde_json::json!({"ProfileClass": "Darwin64", "arch": "AMD64"}));
        assert_eq!(DataModel::from_metadata(&osx, None), DataModel::LP64);
        let pe = m(serde_json::json!({"ProfileClass": "BasicPEProfile", "PDBFile": "x.pdb"}));
        assert_eq!(DataModel::from_metadata(&pe, Some(8)), DataModel::LLP64);
        let pe32 = m(serde_json::json!({"ProfileClass": "Ntkrnlmp", "arch": "I386"}));
        assert_eq!(
            DataModel::from_metadata(&pe32, None),
            DataModel::ILP32_WINDOWS
        );
        let l32 = m(serde_json::json!({"ProfileClass": "Linux", "arch": "I386"}));
        assert_eq!(DataModel::from_metadata(&l32, None), DataModel::ILP32);
    }

    #[test]
    fn decoding() {
        let i16n = Native::signed(2);
        assert_eq!(i16n.decode_int(&[0xfe, 0xff]), -2);
        assert_eq!(Native::unsigned(2).decode_int(&[0xfe, 0xff]), 0xfffe);
        assert_eq!(Native::unsigned(8).decode_int(&[0xff; 8]), u64::MAX as i128);
        let f = Native {
            size: 10,
            kind: NativeKind::Float,
        };
        // 1.5 in x87: mantissa 0xC000..., exponent 16383.
        let mut b = [0u8; 10];
        b[7] = 0xc0;
        b[8] = 0xff;
        b[9] = 0x3f;
        assert_eq!(f.decode_float(&b), Some(1.5));
    }
}
