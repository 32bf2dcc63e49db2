//! The kernel's own symbol table: `/proc/kallsyms` text, and the compressed
//! kallsyms tables recovered by pattern from a kernel image or a memory image.
//!
//! # The tables (`scripts/kallsyms.c`, read by `kernel/kallsyms.c`)
//!
//! The kernel build links these objects into `.rodata`, each 8-byte aligned
//! on 64-bit kernels:
//!
//! * `kallsyms_num_syms`: the symbol count N (a 32-bit value; a pointer-sized
//!   one in old kernels, the same bytes on a little-endian machine);
//! * `kallsyms_names`: N entries, each a length then that many token
//!   indices; the length takes two bytes when it exceeds 127 (6.1+:
//!   `(len & 0x7f) | 0x80, len >> 7`). The first expanded character is the
//!   `nm` type letter;
//! * `kallsyms_markers`: the offset in `kallsyms_names` of every 256th
//!   entry (u32);
//! * `kallsyms_seqs_of_names` (6.2+, and stable backports such as Debian's
//!   6.1): N 3-byte indices in name order, not needed here;
//! * `kallsyms_token_table`: 256 NUL-terminated tokens. A byte value that
//!   occurs in some symbol name is its own one-character token, so the digits
//!   `0`..`9` sit at indices 0x30..0x39 one after the other: the anchor of the
//!   search;
//! * `kallsyms_token_index`: 256 u16 offsets of the tokens in the table;
//! * `kallsyms_offsets` (N u32) and `kallsyms_relative_base` (u64) with
//!   `CONFIG_KALLSYMS_BASE_RELATIVE`, or `kallsyms_addresses` (N u64) without.
//!   With `CONFIG_KALLSYMS_ABSOLUTE_PERCPU` (x86-64) a non-negative offset is
//!   the address itself (per-cpu symbols) and a negative one means
//!   `relative_base - 1 - offset`; otherwise the address is
//!   `relative_base + offset`.
//!
//! Up to 6.3 the order is addresses/offsets, relative base, num_syms, names,
//! markers, (seqs), token table, token index; from 6.4 it is num_syms, names,
//! markers, token table, token index, offsets, relative base, seqs. The
//! search finds the token table by its digits, checks it against the token
//! index, finds num_syms and names by decoding (every 256th entry must fall
//! on its marker), then tries each place the offsets can have.
//!
//! In an arm64 `Image` file the relative base reads 0 (its relocations are
//! applied at boot, `--no-apply-dynamic-relocs`): the base is then taken from
//! `_text`'s offset and the link address of `_text` the caller gives.
//!
//! # Bounds
//!
//! At most [`MAX_SYMBOLS`] symbols and [`MAX_SEARCH_WINDOW`] bytes searched
//! before the token table; every read is bounds-checked, so truncated or
//! hostile data gives `None`/an error, never a panic.

use std::path::Path;

use memchr::memmem;
use serde_json::Value;

use crate::input::system_map::{self, MapSymbol, SystemMap};
use crate::ir::Ir;
use crate::{Error, Result};

/// The most symbols a recovered table may have (Debian's amd64 kernel has
/// about 95,000; an allyesconfig kernel under 1,000,000).
pub const MAX_SYMBOLS: u32 = 4_000_000;

/// How far before the token table the search looks for `kallsyms_num_syms`
/// (the names, markers and 6.2+ `kallsyms_seqs_of_names` lie there).
pub const MAX_SEARCH_WINDOW: usize = 64 << 20;

/// Longest expanded symbol name (the kernel's `KSYM_NAME_LEN` is 512 since 6.1).
const MAX_NAME: usize = 512;

/// The kernel architectures whose link addresses this module knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KernelArch {
    /// x86-64.
    Amd64,
    /// AArch64.
    Arm64,
}

impl KernelArch {
    /// The link address of `_text` of a kernel built with the defaults:
    /// amd64 `__START_KERNEL_map + CONFIG_PHYSICAL_START` =
    /// `0xffffffff81000000`; arm64 `KIMAGE_VADDR` of 48-bit VA kernels 5.4 to
    /// 6.5 = `0xffff800008000000` (checked on Debian 6.1's System.map). Other
    /// arm64 layouts (6.6+: `0xffff800080000000`, 39-bit VA) need the
    /// caller's own value.
    pub fn default_text_address(self) -> u64 {
        match self {
            KernelArch::Amd64 => 0xffff_ffff_8100_0000,
            KernelArch::Arm64 => 0xffff_8000_0800_0000,
        }
    }

    /// Symbols whose link address is fixed by the architecture's defaults,
    /// to compute the KASLR shift from, in order of preference: `_text`,
    /// then `_stext` (kallsyms without `CONFIG_KALLSYMS_ALL` lists only
    /// `[_stext, _etext]` and the init text, so arm64's has no `_text`).
    /// arm64's `_stext` is `_text + 0x10000` (`SEGMENT_ALIGN`, 64 KiB,
    /// after the 64 KiB head text; checked on Debian 6.1's System.map).
    pub fn anchors(self) -> [(&'static str, u64); 2] {
        let text = self.default_text_address();
        match self {
            KernelArch::Amd64 => [("_text", text), ("_stext", text)],
            KernelArch::Arm64 => [("_text", text), ("_stext", text + 0x1_0000)],
        }
    }

    /// Rekall's `arch` metadata name.
    pub fn rekall_name(self) -> &'static str {
        match self {
            KernelArch::Amd64 => "AMD64",
            KernelArch::Arm64 => "ARM64",
        }
    }

    /// Guesses the architecture from symbol names (`startup_64` is x86-64's
    /// entry, `primary_entry`/`__primary_switch` arm64's).
    pub fn guess(symbols: &[MapSymbol]) -> Option<KernelArch> {
        for s in symbols {
            match s.name.as_str() {
                "startup_64" | "x86_64_start_kernel" | "init_top_pgt" => {
                    return Some(KernelArch::Amd64)
                }
                "primary_entry" | "__primary_switch" | "stext" | "el1h_64_sync" => {
                    return Some(KernelArch::Arm64)
                }
                _ => {}
            }
        }
        None
    }
}

/// A kernel's own symbols at their link addresses, ready for the IR.
#[derive(Debug, Clone, Default)]
pub struct KernelSymbols {
    /// The kernel's symbols (module symbols left out), unshifted.
    pub map: SystemMap,
    /// The KASLR shift that was subtracted (0 when the input was at its
    /// link address). Addresses below the shifted `_text` (x86-64 per-cpu
    /// offsets, absolute symbols) are not shifted and were kept as they are.
    pub shift: u64,
    /// How many `[module]` symbols were left out.
    pub module_symbols: usize,
}

impl KernelSymbols {
    /// The address of a symbol by name (the first one).
    pub fn address(&self, name: &str) -> Option<u64> {
        self.map
            .symbols
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.address)
    }
}

/// Removes a KASLR shift from every symbol at or above the shifted
/// `shifted_text` (the kernel image); lower addresses (x86-64 per-cpu
/// offsets, absolute values) are not shifted by KASLR and stay.
pub fn unshift(symbols: &mut [MapSymbol], shift: u64, shifted_text: u64) {
    if shift == 0 {
        return;
    }
    for s in symbols {
        if s.address >= shifted_text {
            s.address = s.address.wrapping_sub(shift);
        }
    }
}

/// Reads `/proc/kallsyms` text (as root: an unprivileged read shows every
/// address as 0), leaves out module symbols (`[name]` suffix) and removes
/// the KASLR shift computed from the first of `anchors` (symbol name, link
/// address; see [`KernelArch::anchors`]) that is present. `text_link` is the
/// link address of `_text`: addresses below the shifted `_text` are not
/// shifted.
pub fn from_text(
    bytes: &[u8],
    path: &Path,
    anchors: &[(&str, u64)],
    text_link: u64,
) -> Result<KernelSymbols> {
    from_map(
        system_map::parse_bytes(bytes, path)?,
        path,
        anchors,
        text_link,
        None,
    )
}

/// [`from_text`] on parsed lines (or on recovered tables' symbols). With
/// `shift` (VMCOREINFO's `KERNELOFFSET`), that shift is removed and the
/// anchors are not needed.
pub fn from_map(
    mut map: SystemMap,
    path: &Path,
    anchors: &[(&str, u64)],
    text_link: u64,
    shift: Option<u64>,
) -> Result<KernelSymbols> {
    let before = map.symbols.len();
    map.symbols.retain(|s| s.module.is_none());
    let module_symbols = before - map.symbols.len();
    if map.symbols.iter().all(|s| s.address == 0) {
        return Err(Error::input(
            path,
            "kallsyms: every address is 0 (read without privileges, kptr_restrict): \
             read /proc/kallsyms as root",
        ));
    }
    let shift = match shift {
        Some(s) => s,
        None => anchor_shift(&map.symbols, anchors).ok_or_else(|| {
            let names: Vec<&str> = anchors.iter().map(|a| a.0).collect();
            Error::input(
                path,
                format!(
                    "kallsyms: none of {} found, so the KASLR shift is unknown",
                    names.join(", ")
                ),
            )
        })?,
    };
    unshift(&mut map.symbols, shift, text_link.wrapping_add(shift));
    Ok(KernelSymbols {
        map,
        shift,
        module_symbols,
    })
}

/// The shift given by the first anchor (name, link address) present.
pub fn anchor_shift(symbols: &[MapSymbol], anchors: &[(&str, u64)]) -> Option<u64> {
    anchors.iter().find_map(|&(name, link)| {
        symbols
            .iter()
            .find(|s| s.name == name && s.module.is_none())
            .map(|s| s.address.wrapping_sub(link))
    })
}

/// Adds the symbols to the IR as a System.map would ([`system_map::add_to_ir`]:
/// all to `$CONSTANTS`, text symbols also to `$FUNCTIONS`) and records the
/// shift in `$METADATA`: `KaslrShift`, a `0x`-prefixed hex string of the
/// value subtracted (`"0x0"` for an image at its link address).
pub fn add_to_ir(ir: &mut Ir, syms: &KernelSymbols) {
    system_map::add_to_ir(ir, &syms.map, false);
    ir.metadata.insert(
        "KaslrShift".into(),
        Value::from(format!("{:#x}", syms.shift)),
    );
}

/// How the symbol addresses are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressTable {
    /// `kallsyms_offsets` (u32) against `kallsyms_relative_base`.
    Relative {
        /// Offset of `kallsyms_offsets` in the searched data.
        offsets: usize,
        /// The base as stored (0 in an unrelocated arm64 `Image`).
        stored_base: u64,
        /// The base used.
        base: u64,
        /// `CONFIG_KALLSYMS_ABSOLUTE_PERCPU`: non-negative offsets are absolute.
        absolute_percpu: bool,
    },
    /// `kallsyms_addresses` (u64).
    Absolute {
        /// Offset of `kallsyms_addresses` in the searched data.
        addresses: usize,
    },
}

/// Where the tables were found, as offsets into the searched data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableLayout {
    /// `kallsyms_token_table`.
    pub token_table: usize,
    /// `kallsyms_token_index`.
    pub token_index: usize,
    /// `kallsyms_num_syms`.
    pub num_syms_at: usize,
    /// `kallsyms_names`.
    pub names: usize,
    /// `kallsyms_markers`.
    pub markers: usize,
    /// The symbol count.
    pub num_syms: u32,
    /// The address table.
    pub addresses: AddressTable,
}

/// Symbols recovered from the compressed tables, addresses as stored (for
/// a memory image: KASLR-shifted).
#[derive(Debug, Clone)]
pub struct Recovered {
    /// The symbols in table order (sorted by address), `module` `None`.
    pub symbols: Vec<MapSymbol>,
    /// Where the tables lie.
    pub layout: TableLayout,
}

fn u16_at(d: &[u8], at: usize) -> Option<u16> {
    let b = d.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    let b = d.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

fn u64_at(d: &[u8], at: usize) -> Option<u64> {
    let b = d.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(b.try_into().ok()?))
}

const fn align8(x: usize) -> usize {
    (x + 7) & !7
}

/// The token table: 256 tokens as byte ranges of the data.
struct Tokens<'a> {
    table: [&'a [u8]; 256],
}

/// Checks a token table anchored at `digits` (the offset of the token `0`)
/// against a token index that follows it.
fn tokens_at(data: &[u8], digits: usize) -> Option<(usize, usize, Tokens<'_>)> {
    // Forward: tokens 0x30..=0xff.
    let mut ends = [0usize; 256];
    let mut pos = digits;
    for end in ends.iter_mut().skip(0x30) {
        let rest = data.get(pos..)?;
        let len = memchr::memchr(0, &rest[..rest.len().min(256)])?;
        if len == 0 {
            return None;
        }
        pos += len + 1;
        *end = pos;
    }
    // The index starts 2-, 4- or 8-aligned after the table (0..=7 bytes of padding).
    for index in pos..=pos + 7 {
        if !index.is_multiple_of(2) || u16_at(data, index)? != 0 {
            continue;
        }
        let at_digits = usize::from(u16_at(data, index + 2 * 0x30)?);
        let Some(table) = digits.checked_sub(at_digits) else {
            continue;
        };
        if table + usize::from(u16_at(data, index + 2 * 0xff)?) >= pos {
            continue;
        }
        let mut ok = true;
        let mut tokens: [&[u8]; 256] = [&[]; 256];
        let mut start = table;
        for (i, token) in tokens.iter_mut().enumerate() {
            let Some(off) = u16_at(data, index + 2 * i) else {
                ok = false;
                break;
            };
            if table + usize::from(off) != start {
                ok = false;
                break;
            }
            let Some(rest) = data.get(start..pos) else {
                ok = false;
                break;
            };
            let Some(len) = memchr::memchr(0, rest).filter(|&l| l > 0) else {
                ok = false;
                break;
            };
            if i >= 0x30 && start + len + 1 != ends[i] {
                ok = false;
                break;
            }
            *token = &rest[..len];
            start += len + 1;
        }
        if ok && start == pos {
            return Some((table, index, Tokens { table: tokens }));
        }
    }
    None
}

/// Decodes one names entry at `at`: (type letter, name, next entry).
fn entry(data: &[u8], at: usize, tokens: &Tokens<'_>, name: &mut Vec<u8>) -> Option<usize> {
    let first = *data.get(at)?;
    let (len, body) = if first & 0x80 != 0 {
        let second = *data.get(at + 1)?;
        (
            usize::from(first & 0x7f) | (usize::from(second) << 7),
            at + 2,
        )
    } else {
        (usize::from(first), at + 1)
    };
    if len == 0 {
        return None;
    }
    let bytes = data.get(body..body + len)?;
    name.clear();
    for &b in bytes {
        name.extend_from_slice(tokens.table[usize::from(b)]);
        if name.len() > MAX_NAME + 1 {
            return None;
        }
    }
    // A type letter, then a printable name without spaces.
    let ok = name.len() >= 2
        && name[0].is_ascii_alphabetic()
        && name[1..].iter().all(|&c| (0x21..0x7f).contains(&c));
    ok.then_some(body + len)
}

/// What [`names_before`] finds.
struct Names {
    num_syms_at: usize,
    n: u32,
    markers: usize,
    names: Vec<(char, String)>,
}

/// Finds `kallsyms_num_syms` and `kallsyms_names` before the token table,
/// and the markers; decodes every name.
fn names_before(data: &[u8], table: usize, tokens: &Tokens<'_>) -> Option<Names> {
    let low = table.saturating_sub(MAX_SEARCH_WINDOW);
    let mut at = table & !7;
    let mut name = Vec::with_capacity(64);
    while at >= low + 8 {
        at -= 8;
        let n = u32_at(data, at)?;
        if !(2..=MAX_SYMBOLS).contains(&n) || u32_at(data, at + 4)? != 0 {
            continue;
        }
        // Cheap filter: the first 32 entries (or all) decode to names.
        let names = at + 8;
        let mut pos = names;
        let probe = n.min(32);
        if (0..probe).all(|_| match entry(data, pos, tokens, &mut name) {
            Some(next) if next <= table => {
                pos = next;
                true
            }
            _ => false,
        }) {
            if let Some(found) = decode_all(data, names, n, table, tokens) {
                return Some(Names {
                    num_syms_at: at,
                    n,
                    markers: found.0,
                    names: found.1,
                });
            }
        }
    }
    None
}

/// Decodes all `n` names from `names`; the markers must follow them and
/// match. Returns (markers offset, symbols).
fn decode_all(
    data: &[u8],
    names: usize,
    n: u32,
    table: usize,
    tokens: &Tokens<'_>,
) -> Option<(usize, Vec<(char, String)>)> {
    let mut out = Vec::with_capacity(n as usize);
    let mut starts = Vec::with_capacity(n as usize / 256 + 1);
    let mut pos = names;
    let mut name = Vec::with_capacity(64);
    for i in 0..n {
        if i % 256 == 0 {
            starts.push((pos - names) as u64);
        }
        pos = entry(data, pos, tokens, &mut name).filter(|&p| p <= table)?;
        out.push((
            char::from(name[0]),
            String::from_utf8_lossy(&name[1..]).into_owned(),
        ));
    }
    // Markers: u32 (pointer-sized in kernels before 4.20), 4- or 8-aligned.
    for markers in [(pos + 3) & !3, align8(pos)] {
        for width in [4usize, 8] {
            let ok = starts.iter().enumerate().all(|(k, &want)| {
                let at = markers + k * width;
                let v = if width == 4 {
                    u32_at(data, at).map(u64::from)
                } else {
                    u64_at(data, at)
                };
                v == Some(want)
            });
            if ok && markers + starts.len() * width <= table {
                return Some((markers, out));
            }
        }
    }
    None
}

/// Whether `v` looks like a 64-bit kernel virtual address.
fn kernel_va(v: u64) -> bool {
    v >> 48 == 0xffff
}

/// Fraction-free check that addresses are sorted (kallsyms is sorted by
/// address): at most 1% of neighbours out of order.
fn mostly_sorted(addrs: &[u64]) -> bool {
    let bad = addrs.windows(2).filter(|w| w[1] < w[0]).count();
    bad <= addrs.len() / 100
}

fn relative_addresses(
    data: &[u8],
    offsets: usize,
    n: usize,
    base: u64,
    absolute_percpu: bool,
) -> Option<Vec<u64>> {
    let raw = data.get(offsets..offsets.checked_add(n.checked_mul(4)?)?)?;
    Some(
        raw.chunks_exact(4)
            .map(|c| {
                let v = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                if absolute_percpu {
                    let s = v as i32;
                    if s >= 0 {
                        v as u64
                    } else {
                        base.wrapping_sub(1).wrapping_sub(i64::from(s) as u64)
                    }
                } else {
                    base.wrapping_add(u64::from(v))
                }
            })
            .collect(),
    )
}

/// Options of [`recover`].
#[derive(Debug, Clone, Default)]
pub struct RecoverOptions {
    /// Symbols with a known address (name, address), used when the stored
    /// relative base is 0 (an unrelocated arm64 `Image`): the base is then
    /// that address minus the symbol's offset; the first present wins.
    pub anchors: Vec<(&'static str, u64)>,
}

/// Finds and decodes the kallsyms tables in `data` (a decompressed kernel
/// image, or a physical memory image: the kernel is physically contiguous).
/// Every place holding the token table's digit run is tried, first to last,
/// and the first complete, consistent set of tables wins. `None` when there
/// is none.
pub fn recover(data: &[u8], opts: &RecoverOptions) -> Option<Recovered> {
    const DIGITS: &[u8] = b"0\x001\x002\x003\x004\x005\x006\x007\x008\x009\x00";
    for digits in memmem::find_iter(data, DIGITS) {
        if let Some(r) = recover_at(data, digits, opts) {
            return Some(r);
        }
    }
    None
}

fn recover_at(data: &[u8], digits: usize, opts: &RecoverOptions) -> Option<Recovered> {
    let (table, index, tokens) = tokens_at(data, digits)?;
    let Names {
        num_syms_at,
        n,
        markers,
        names,
    } = names_before(data, table, &tokens)?;
    let count = n as usize;
    let names_at = num_syms_at + 8;
    // The address table: before num_syms (<= 6.3) or after the token index (6.4+).
    let mut candidates: Vec<(usize, usize)> = Vec::new(); // (offsets, relative_base)
    if let Some(rb) = num_syms_at.checked_sub(8) {
        if let Some(off) = rb.checked_sub(align8(count * 4)) {
            candidates.push((off, rb));
        }
    }
    let after = align8(index + 512);
    candidates.push((after, align8(after + count * 4)));
    let anchor = opts
        .anchors
        .iter()
        .find_map(|&(name, va)| names.iter().position(|(_, s)| s == name).map(|i| (i, va)));
    let mut addresses = None;
    for (offsets, rb) in candidates {
        let Some(stored) = u64_at(data, rb) else {
            continue;
        };
        let base = if kernel_va(stored) {
            stored
        } else {
            // Unrelocated (0 in an arm64 Image file), or no relative base
            // there: an anchor's offset against its known address.
            let Some((i, va)) = anchor else {
                continue;
            };
            let Some(off) = u32_at(data, offsets + i * 4) else {
                continue;
            };
            va.wrapping_sub(u64::from(off))
        };
        for absolute_percpu in [true, false] {
            let Some(addrs) = relative_addresses(data, offsets, count, base, absolute_percpu)
            else {
                continue;
            };
            // Most symbols are kernel addresses, sorted.
            let in_kernel = addrs.iter().filter(|&&a| kernel_va(a)).count();
            if in_kernel * 10 >= count * 9 && mostly_sorted(&addrs) {
                addresses = Some((
                    addrs,
                    AddressTable::Relative {
                        offsets,
                        stored_base: stored,
                        base,
                        absolute_percpu,
                    },
                ));
                break;
            }
        }
        if addresses.is_some() {
            break;
        }
    }
    if addresses.is_none() {
        // kallsyms_addresses: N u64 right before num_syms.
        if let Some(at) = num_syms_at.checked_sub(count.checked_mul(8)?) {
            let raw = data.get(at..num_syms_at)?;
            let addrs: Vec<u64> = raw
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect();
            let in_kernel = addrs.iter().filter(|&&a| kernel_va(a)).count();
            if in_kernel * 10 >= count * 9 && mostly_sorted(&addrs) {
                addresses = Some((addrs, AddressTable::Absolute { addresses: at }));
            }
        }
    }
    let (addrs, table_kind) = addresses?;
    let symbols = names
        .into_iter()
        .zip(addrs)
        .map(|((kind, name), address)| MapSymbol {
            address,
            kind,
            name,
            module: None,
        })
        .collect();
    Some(Recovered {
        symbols,
        layout: TableLayout {
            token_table: table,
            token_index: index,
            num_syms_at,
            names: names_at,
            markers,
            num_syms: n,
            addresses: table_kind,
        },
    })
}

/// The `Linux version ...` banner (`linux_banner`, the text of
/// `/proc/version`), without its newline, for data with no `linux_banner`
/// symbol to place it: among the first 64 strings that start so and run to
/// a newline and a NUL, the first whose build number follows its `#`
/// (`#1 SMP ...`), else the first. (Since 5.19 `init/version.c` keeps a weak
/// banner without the build number, `# SMP ...`, that the real one in
/// `init/version-timestamp.c` overrides: its bytes stay in the image.)
pub fn find_banner(data: &[u8]) -> Option<String> {
    const LEAD: &[u8] = b"Linux version ";
    let mut first = None;
    for at in memmem::find_iter(data, LEAD).take(64) {
        if let Some(b) = banner_at(data, at) {
            let numbered = b
                .find(" #")
                .is_some_and(|i| b.as_bytes().get(i + 2).is_some_and(u8::is_ascii_digit));
            if numbered {
                return Some(b);
            }
            first.get_or_insert(b);
        }
    }
    first
}

/// The banner starting at `at`, if a well-formed one is there.
pub fn banner_at(data: &[u8], at: usize) -> Option<String> {
    let rest = data.get(at..)?;
    let rest = &rest[..rest.len().min(1024)];
    let end = memchr::memchr(0, rest)?;
    let text = &rest[..end];
    let text = text.strip_suffix(b"\n")?;
    // A release such as `6.1.0-57-amd64` follows; the whole line is printable.
    let ok = text.len() > 16
        && text[14].is_ascii_digit()
        && text.iter().all(|&c| (0x20..0x7f).contains(&c));
    ok.then(|| String::from_utf8_lossy(text).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds tables as scripts/kallsyms.c lays them out (6.1 order with
    /// seqs), with every token a single character.
    pub(crate) fn synthetic(names: &[(char, &str, u64)], base: u64) -> Vec<u8> {
        let mut d = vec![0xAAu8; 64];
        let pad = |d: &mut Vec<u8>| {
            while !d.len().is_multiple_of(8) {
                d.push(0)
            }
        };
        pad(&mut d);
        for &(_, _, a) in names {
            d.extend_from_slice(&((a - base) as u32).to_le_bytes());
        }
        pad(&mut d);
        d.extend_from_slice(&base.to_le_bytes());
        d.extend_from_slice(&(names.len() as u32).to_le_bytes());
        pad(&mut d);
        let start = d.len();
        let mut markers = Vec::new();
        for (i, &(k, n, _)) in names.iter().enumerate() {
            if i % 256 == 0 {
                markers.push((d.len() - start) as u32);
            }
            d.push(n.len() as u8 + 1);
            d.push(k as u8);
            d.extend_from_slice(n.as_bytes());
        }
        pad(&mut d);
        for m in markers {
            d.extend_from_slice(&m.to_le_bytes());
        }
        pad(&mut d);
        d.extend_from_slice(&[1, 2, 3, 4, 5, 6]); // seqs (ignored)
        pad(&mut d);
        let table = d.len();
        let mut index = Vec::new();
        for i in 0..=255u8 {
            index.push((d.len() - table) as u16);
            d.push(if i == 0 { 1 } else { i });
            d.push(0);
        }
        pad(&mut d);
        for i in index {
            d.extend_from_slice(&i.to_le_bytes());
        }
        d.extend_from_slice(&[0x55; 32]);
        d
    }

    #[test]
    fn recovers_synthetic_tables() {
        let base = 0xffff_ffff_8100_0000;
        let names: Vec<(char, String, u64)> = (0..600)
            .map(|i| {
                (
                    if i % 3 == 0 { 'T' } else { 'd' },
                    format!("sym_{i}"),
                    base + i * 16,
                )
            })
            .collect();
        let refs: Vec<(char, &str, u64)> =
            names.iter().map(|(k, n, a)| (*k, n.as_str(), *a)).collect();
        let data = synthetic(&refs, base);
        let r = recover(&data, &RecoverOptions::default()).expect("found");
        assert_eq!(r.symbols.len(), 600);
        assert_eq!(r.symbols[5].name, "sym_5");
        assert_eq!(r.symbols[5].address, base + 80);
        assert_eq!(r.symbols[3].kind, 'T');
        // Truncations anywhere give None, not a panic.
        for cut in (0..data.len()).step_by(97) {
            let _ = recover(&data[..cut], &RecoverOptions::default());
        }
    }

    #[test]
    fn banner() {
        let d = b"xxLinux version 6.1.0-57-amd64 (x@y) #1\n\0yy";
        assert_eq!(
            find_banner(d).as_deref(),
            Some("Linux version 6.1.0-57-amd64 (x@y) #1")
        );
        assert_eq!(find_banner(b"Linux version %s (%s)\n\0"), None);
    }

    #[test]
    fn text_shift_and_modules() {
        let text = b"0000000000000000 A fixed_percpu_data\n\
                     ffffffff95200000 T _text\nffffffff96c1aa40 D init_task\n\
                     ffffffffc0a00000 t loop_init\t[loop]\n";
        let a = KernelArch::Amd64;
        let k = from_text(text, Path::new("k"), &a.anchors(), a.default_text_address()).unwrap();
        assert_eq!(k.shift, 0x1420_0000);
        assert_eq!(k.module_symbols, 1);
        assert_eq!(k.address("init_task"), Some(0xffffffff82a1aa40));
        assert_eq!(k.address("fixed_percpu_data"), Some(0));
        let hidden = b"0000000000000000 T _text\n0000000000000000 D init_task\n";
        let e = from_text(hidden, Path::new("k"), &a.anchors(), 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("root"), "{e}");
    }
}
