//! VMCOREINFO: the text a Linux kernel keeps about itself for crash tools
//! (`KEY=VALUE` lines: `OSRELEASE=`, `BUILD-ID=`, `KERNELOFFSET=`,
//! `SYMBOL(name)=`, `NUMBER(name)=`, `OFFSET(struct.member)=`, `SIZE(x)=`,
//! `LENGTH(x)=`, ...).
//!
//! It reaches an image three ways: as the `VMCOREINFO` ELF note of a kdump
//! vmcore (or of a QEMU core when the guest had `-device vmcoreinfo`), in the
//! header of a makedumpfile (`KDUMP`) dump, and in RAM itself (the kernel's
//! `vmcoreinfo_data` page and its `vmcoreinfo_note` copy), which
//! [`VmcoreInfo::find`] searches.
//!
//! The kernel prints each kind of value its own way, and the accessors read
//! them so: `SYMBOL(x)` and `KERNELOFFSET` in hex without `0x`; `NUMBER(x)`
//! in signed decimal (`-129`), except the arm64 ones written `0x...`;
//! `OFFSET`, `SIZE`, `LENGTH`, `PAGESIZE` in decimal. [`parse_number`]
//! accepts every one of these forms.

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::space::AddressSpace;

/// Most bytes of VMCOREINFO text read (the kernel's buffer is one page,
/// `VMCOREINFO_BYTES`; this leaves room for larger pages).
pub const MAX_VMCOREINFO_BYTES: usize = 64 << 10;

/// Most `KEY=VALUE` entries kept.
pub const MAX_VMCOREINFO_ENTRIES: usize = 4096;

/// The radix a bare number (without `0x` or a sign) is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Radix {
    /// Bare digits are hexadecimal (`SYMBOL(x)=ffffffff81000000`, `KERNELOFFSET=3200000`).
    Hex,
    /// Bare digits are decimal (`NUMBER(phys_base)=285212672`, `OFFSET(...)=16`).
    Decimal,
}

/// Parses a number as VMCOREINFO prints them, or as a user types one:
/// `0x`/`0X` followed by hex digits; a leading `-` followed by decimal
/// digits (kept as its 64-bit two's complement: `-129` is
/// `0xffffffffffffff7f`); otherwise bare digits in `radix`, except that a
/// value containing a hex letter (`a`-`f`) is hex whatever `radix` says.
/// `_` separators are allowed. `None` for anything else or an overflow.
pub fn parse_number(text: &str, radix: Radix) -> Option<u64> {
    let t = text.trim();
    let clean = |s: &str| s.replace('_', "");
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        let h = clean(h);
        if h.is_empty() {
            return None;
        }
        return u64::from_str_radix(&h, 16).ok();
    }
    if let Some(d) = t.strip_prefix('-') {
        let d = clean(d);
        if d.is_empty() || !d.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let v: i64 = format!("-{d}").parse().ok()?;
        return Some(v as u64);
    }
    let t = clean(t.strip_prefix('+').unwrap_or(t));
    if t.is_empty() {
        return None;
    }
    let hexish = t.bytes().any(|b| matches!(b, b'a'..=b'f' | b'A'..=b'F'));
    if radix == Radix::Hex || hexish {
        u64::from_str_radix(&t, 16).ok()
    } else {
        t.parse().ok()
    }
}

/// Parsed VMCOREINFO: its `KEY=VALUE` entries in text order.
///
/// Serialised as a JSON object of the entries (in text order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VmcoreInfo {
    entries: Vec<(String, String)>,
}

impl Serialize for VmcoreInfo {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.entries.len()))?;
        for (k, v) in &self.entries {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'(' | b')' | b'.' | b'-' | b'[' | b']')
}

impl VmcoreInfo {
    /// Parses the text: one `KEY=VALUE` per line, up to the first NUL (or
    /// [`MAX_VMCOREINFO_BYTES`]). Lines that are not of that form (a key of
    /// letters, digits and `_().-[]`, a printable value) are skipped, so a
    /// damaged text yields the entries still readable. At most
    /// [`MAX_VMCOREINFO_ENTRIES`] are kept; a repeated key keeps its
    /// first value for the accessors ([`VmcoreInfo::entries`] has all).
    pub fn parse(text: &str) -> VmcoreInfo {
        let mut end = text.len().min(MAX_VMCOREINFO_BYTES);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let text = &text[..end];
        let text = text.split('\0').next().unwrap_or("");
        let mut entries = Vec::new();
        for line in text.split('\n') {
            if entries.len() >= MAX_VMCOREINFO_ENTRIES {
                break;
            }
            let line = line.trim_end_matches('\r');
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            if k.is_empty()
                || !k.bytes().all(is_key_byte)
                || v.bytes().any(|b| b.is_ascii_control())
            {
                continue;
            }
            entries.push((k.to_owned(), v.to_owned()));
        }
        VmcoreInfo { entries }
    }

    /// Parses bytes (up to the first NUL; invalid UTF-8 is replaced).
    pub fn from_bytes(bytes: &[u8]) -> VmcoreInfo {
        let n = memchr::memchr(0, bytes).unwrap_or(bytes.len());
        VmcoreInfo::parse(&String::from_utf8_lossy(
            &bytes[..n.min(MAX_VMCOREINFO_BYTES)],
        ))
    }

    /// Reads the text at `addr` of `space` (up to a NUL, an unreadable byte
    /// or [`MAX_VMCOREINFO_BYTES`]) and parses it; `None` unless it has an
    /// `OSRELEASE` entry that looks like a release (digits, no `%`: not the
    /// kernel's own format string) and at least one more entry.
    pub fn read_at(space: &dyn AddressSpace, addr: u64) -> Option<VmcoreInfo> {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 512];
        while buf.len() < MAX_VMCOREINFO_BYTES {
            let st = space.read(addr.checked_add(buf.len() as u64)?, &mut chunk);
            let valid = if st.is_complete() {
                chunk.len()
            } else {
                st.first_invalid
                    .map(|f| f.saturating_sub(addr + buf.len() as u64) as usize)
                    .unwrap_or(0)
                    .min(chunk.len())
            };
            match memchr::memchr(0, &chunk[..valid]) {
                Some(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    break;
                }
                None => buf.extend_from_slice(&chunk[..valid]),
            }
            if valid < chunk.len() {
                break;
            }
        }
        let info = VmcoreInfo::from_bytes(&buf);
        // The kernel's format strings ("OSRELEASE=%s") are not a copy.
        let plausible = info.osrelease().is_some_and(|r| {
            !r.is_empty() && !r.contains('%') && r.bytes().any(|b| b.is_ascii_digit())
        });
        (plausible && info.len() >= 2).then_some(info)
    }

    /// Searches `space` (physical memory) for VMCOREINFO text (`OSRELEASE=`
    /// at the start of a line) and returns the most complete copy (most
    /// entries; the first found on a tie) and its address. `None` when
    /// there is none. One pass over the space; at most
    /// [`crate::identify::MAX_HITS`] candidates are parsed.
    pub fn find(space: &dyn AddressSpace) -> Option<(u64, VmcoreInfo)> {
        let mut hits = Vec::new();
        crate::search::search(space, &[b"OSRELEASE="], &mut |_, _| {}, &mut |_, addr| {
            hits.push(addr);
            hits.len() < crate::identify::MAX_HITS
        });
        VmcoreInfo::best_of(space, &hits)
    }

    /// The most complete VMCOREINFO among the texts starting at `addrs`.
    pub(crate) fn best_of(space: &dyn AddressSpace, addrs: &[u64]) -> Option<(u64, VmcoreInfo)> {
        let mut best: Option<(u64, VmcoreInfo)> = None;
        for &a in addrs {
            // The text starts at OSRELEASE= (the kernel writes it first);
            // a hit inside a line is not a copy.
            if a > 0 {
                let mut prev = [0u8; 1];
                if space.read(a - 1, &mut prev).is_complete() && !matches!(prev[0], 0 | b'\n') {
                    continue;
                }
            }
            if let Some(info) = VmcoreInfo::read_at(space, a) {
                if best.as_ref().is_none_or(|(_, b)| info.len() > b.len()) {
                    best = Some((a, info));
                }
            }
        }
        best
    }

    /// The entries, in text order.
    pub fn entries(&self) -> &[(String, String)] {
        &self.entries
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there is no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The raw value of `key` (the first, if repeated).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `OSRELEASE` (the kernel release, `uname -r`).
    pub fn osrelease(&self) -> Option<&str> {
        self.get("OSRELEASE")
    }

    /// `BUILD-ID` (the vmlinux GNU build id, hex).
    pub fn build_id(&self) -> Option<&str> {
        self.get("BUILD-ID")
    }

    /// `PAGESIZE`.
    pub fn page_size(&self) -> Option<u64> {
        parse_number(self.get("PAGESIZE")?, Radix::Decimal)
    }

    /// `KERNELOFFSET`: the KASLR shift of the kernel's virtual addresses
    /// (hex).
    pub fn kerneloffset(&self) -> Option<u64> {
        parse_number(self.get("KERNELOFFSET")?, Radix::Hex)
    }

    /// `NUMBER(name)` (signed decimal, or `0x` hex as arm64 writes some).
    pub fn number(&self, name: &str) -> Option<u64> {
        parse_number(self.get(&format!("NUMBER({name})"))?, Radix::Decimal)
    }

    /// `SYMBOL(name)`: a symbol's (KASLR-shifted) virtual address.
    pub fn symbol(&self, name: &str) -> Option<u64> {
        parse_number(self.get(&format!("SYMBOL({name})"))?, Radix::Hex)
    }

    /// `OFFSET(name)` (`struct.member`).
    pub fn offset(&self, name: &str) -> Option<u64> {
        parse_number(self.get(&format!("OFFSET({name})"))?, Radix::Decimal)
    }

    /// `SIZE(name)`.
    pub fn size(&self, name: &str) -> Option<u64> {
        parse_number(self.get(&format!("SIZE({name})"))?, Radix::Decimal)
    }

    /// `LENGTH(name)`.
    pub fn length(&self, name: &str) -> Option<u64> {
        parse_number(self.get(&format!("LENGTH({name})"))?, Radix::Decimal)
    }

    /// `NUMBER(phys_base)` (x86-64): the physical address the kernel's
    /// `__START_KERNEL_map` maps to, less the KASLR shift.
    pub fn phys_base(&self) -> Option<u64> {
        self.number("phys_base")
    }

    /// `NUMBER(pgtable_l5_enabled)` (x86-64): whether 5-level paging is on.
    pub fn pgtable_l5_enabled(&self) -> Option<bool> {
        self.number("pgtable_l5_enabled").map(|v| v != 0)
    }

    /// `NUMBER(PHYS_OFFSET)` (arm64): the physical address of the start of RAM
    /// as the linear map sees it (`memstart_addr`).
    pub fn phys_offset(&self) -> Option<u64> {
        self.number("PHYS_OFFSET")
    }

    /// `NUMBER(kimage_voffset)` (arm64): kernel image virtual minus physical
    /// address.
    pub fn kimage_voffset(&self) -> Option<u64> {
        self.number("kimage_voffset")
    }

    /// `NUMBER(VA_BITS)` (arm64).
    pub fn va_bits(&self) -> Option<u64> {
        self.number("VA_BITS")
    }

    /// `NUMBER(TCR_EL1_T1SZ)` (arm64): 64 minus the kernel's virtual address bits.
    pub fn tcr_el1_t1sz(&self) -> Option<u64> {
        self.number("TCR_EL1_T1SZ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_every_form_vmcoreinfo_prints() {
        assert_eq!(parse_number("3200000", Radix::Hex), Some(0x320_0000));
        assert_eq!(parse_number("0x3200000", Radix::Decimal), Some(0x320_0000));
        assert_eq!(parse_number("285212672", Radix::Decimal), Some(0x1100_0000));
        assert_eq!(parse_number("-129", Radix::Decimal), Some((-129i64) as u64));
        assert_eq!(parse_number("-129", Radix::Hex), Some((-129i64) as u64));
        assert_eq!(
            parse_number("ffffffff85c10000", Radix::Decimal),
            Some(0xffff_ffff_85c1_0000)
        );
        assert_eq!(parse_number("0xffff_8000", Radix::Hex), Some(0xffff_8000));
        assert_eq!(parse_number("", Radix::Hex), None);
        assert_eq!(parse_number("0x", Radix::Hex), None);
        assert_eq!(parse_number("-", Radix::Hex), None);
        assert_eq!(parse_number("-0x10", Radix::Hex), None);
        assert_eq!(parse_number("12z", Radix::Decimal), None);
        assert_eq!(parse_number("1ffffffffffffffff", Radix::Hex), None);
    }

    #[test]
    fn parse_typed_accessors_and_damage() {
        let text = "OSRELEASE=6.1.0-57-amd64\nBUILD-ID=6a2b\nPAGESIZE=4096\n\
            SYMBOL(init_top_pgt)=ffffffff85c10000\nOFFSET(list_head.prev)=8\n\
            garbage line\n\x01bad=1\nNUMBER(phys_base)=285212672\n\
            NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129\nNUMBER(pgtable_l5_enabled)=1\n\
            KERNELOFFSET=3200000\nNUMBER(kimage_voffset)=0xffff7fffc7e00000\n\0OSRELEASE=after-nul\n";
        let v = VmcoreInfo::parse(text);
        assert_eq!(v.osrelease(), Some("6.1.0-57-amd64"));
        assert_eq!(v.build_id(), Some("6a2b"));
        assert_eq!(v.page_size(), Some(4096));
        assert_eq!(v.symbol("init_top_pgt"), Some(0xffff_ffff_85c1_0000));
        assert_eq!(v.offset("list_head.prev"), Some(8));
        assert_eq!(v.phys_base(), Some(0x1100_0000));
        assert_eq!(
            v.number("PAGE_BUDDY_MAPCOUNT_VALUE"),
            Some((-129i64) as u64)
        );
        assert_eq!(v.pgtable_l5_enabled(), Some(true));
        assert_eq!(v.kerneloffset(), Some(0x320_0000));
        assert_eq!(v.kimage_voffset(), Some(0xffff_7fff_c7e0_0000));
        assert_eq!(
            v.len(),
            10,
            "the garbage lines and the text after NUL are not entries"
        );
        assert_eq!(v.size("page"), None);
        let json = serde_json::to_string(&v).unwrap();
        assert!(
            json.starts_with(r#"{"OSRELEASE":"6.1.0-57-amd64","#),
            "{json}"
        );
    }

    #[test]
    fn finds_the_most_complete_copy_in_memory() {
        use crate::space::BufferSpace;
        let mut mem = vec![0u8; 3 * 4096];
        let short = b"OSRELEASE=5.10\nPAGESIZE=4096\n";
        let full = b"OSRELEASE=6.1\nPAGESIZE=4096\nKERNELOFFSET=1000\n";
        let inline = b"xOSRELEASE=7.0\nA=1\nB=2\nC=3\nD=4\n";
        mem[100..100 + short.len()].copy_from_slice(short);
        mem[4096 + 10..4096 + 10 + full.len()].copy_from_slice(full);
        mem[8192..8192 + inline.len()].copy_from_slice(inline);
        let s = BufferSpace::new(mem);
        let (at, v) = VmcoreInfo::find(&s).unwrap();
        assert_eq!(at, 4096 + 10);
        assert_eq!(v.osrelease(), Some("6.1"));
        assert_eq!(v.kerneloffset(), Some(0x1000));
        assert!(VmcoreInfo::find(&BufferSpace::new(vec![0u8; 8192])).is_none());
    }
}
