//! A bootable kernel file (`vmlinuz`) to the kernel image inside it.
//!
//! * x86 `bzImage`: the setup header (`HdrS` at 0x202, boot protocol 2.08+)
//!   gives `payload_offset` and `payload_length` (0x248, 0x24c) relative to
//!   the protected-mode code, which starts after `(setup_sects + 1) * 512`
//!   bytes (`setup_sects` 0 means 4). The payload is the compressed
//!   `vmlinux.bin` (an ELF, stripped of symbols but keeping `.BTF`) followed
//!   by its size as a little-endian u32 (the kernel's `size_append`).
//! * arm64: a raw `Image` (magic `ARM\x64` at 0x38), gzip'ed in some
//!   distributions, or an EFI zboot image (`zimg` at offset 4, with the
//!   payload offset, size and compression name in its header).
//! * Anything else that starts with a compression magic is decompressed once
//!   and looked at again.
//!
//! Compressions (the kernel's `CONFIG_KERNEL_*`): gzip (flate2), bzip2
//! (`bzip2`, pure Rust), lzma and xz (liblzma, the xz-utils library: the
//! kernel's xz streams carry a BCJ filter that liblzma applies), lzo (the
//! `lzop` container and its LZO1X blocks decoded here, see
//! [`lzo1x_decompress`]), lz4
//! (the legacy frame, magic 0x184C2102, parsed here; blocks by `lz4_flex`)
//! and zstd (`ruzstd`, pure Rust, already in the tree through `object`).
//!
//! # Bounds
//!
//! Output is capped at [`MAX_DECOMPRESSED`] (the kernel's own decompressor
//! has a fixed buffer too; a Debian amd64 `vmlinux.bin` is about 63 MiB);
//! past the cap the stream is refused, so a decompression bomb costs at
//! most that much memory. Dictionaries are capped at [`MAX_DICTIONARY`];
//! lz4 and lzo blocks at 8 MiB each (the formats' own maximum).

use std::io::Read;
use std::path::Path;

use crate::input::kallsyms::KernelArch;
use crate::{Error, Result};

/// Largest decompressed kernel accepted (512 MiB).
pub const MAX_DECOMPRESSED: u64 = 512 << 20;

/// Memory liblzma may use for an xz or lzma stream's dictionary (256 MiB;
/// the kernel's xz streams use a 32 MiB dictionary): a hostile header that
/// asks for more is refused instead of allocating it. zstd's window is
/// capped by ruzstd's default, 128 MiB (the kernel's `zstd -22 --ultra`
/// uses 2^27 = 128 MiB).
pub const MAX_DICTIONARY: u64 = 256 << 20;

/// A compression the kernel can boot from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// gzip (`1f 8b`).
    Gzip,
    /// bzip2 (`BZh`).
    Bzip2,
    /// lzma-alone (`5d 00 00`).
    Lzma,
    /// xz (`fd 37 7a 58 5a 00`).
    Xz,
    /// lzop (`89 4c 5a 4f 00 0d 0a 1a 0a`).
    Lzo,
    /// lz4 legacy frame (`02 21 4c 18`).
    Lz4,
    /// zstd (`28 b5 2f fd`).
    Zstd,
}

impl Compression {
    /// The compression whose magic starts `data`.
    pub fn detect(data: &[u8]) -> Option<Compression> {
        let starts = |m: &[u8]| data.starts_with(m);
        Some(if starts(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if starts(b"BZh") {
            Compression::Bzip2
        } else if starts(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Compression::Xz
        } else if starts(&[0x89, b'L', b'Z', b'O', 0, 0x0d, 0x0a, 0x1a, 0x0a]) {
            Compression::Lzo
        } else if starts(&[0x02, 0x21, 0x4c, 0x18]) {
            Compression::Lz4
        } else if starts(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else if starts(&[0x5d, 0, 0]) {
            Compression::Lzma
        } else {
            return None;
        })
    }

    /// The zboot header's name of a compression (`gzip`, `lzma`, `xz`, `lzo`, `lz4`, `zstd22`...).
    fn from_zboot_name(name: &[u8]) -> Option<Compression> {
        let name = name.split(|&b| b == 0).next().unwrap_or(name);
        Some(match name {
            b"gzip" => Compression::Gzip,
            b"bzip2" => Compression::Bzip2,
            b"lzma" => Compression::Lzma,
            b"xzkern" | b"xz" => Compression::Xz,
            b"lzo" => Compression::Lzo,
            b"lz4" => Compression::Lz4,
            n if n.starts_with(b"zstd") => Compression::Zstd,
            _ => return None,
        })
    }
}

/// What kind of kernel image came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// An ELF `vmlinux` (x86's `vmlinux.bin`).
    Elf,
    /// A raw arm64 `Image` (loaded at `_text`).
    RawArm64,
}

/// The kernel image of a `vmlinuz`.
#[derive(Debug, Clone)]
pub struct KernelImage {
    /// The decompressed (or, for an uncompressed `Image`, copied) image.
    pub data: Vec<u8>,
    /// ELF or raw.
    pub format: ImageFormat,
    /// The architecture.
    pub arch: KernelArch,
    /// The compression that was removed, if any.
    pub compression: Option<Compression>,
}

/// Reads `r` to the end, refusing more than `cap` bytes.
fn read_capped(
    mut r: impl Read,
    cap: u64,
    hint: usize,
    path: &Path,
    what: &str,
) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(hint.min(cap as usize));
    (&mut r)
        .take(cap + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::input(path, format!("{what}: corrupt compressed data: {e}")))?;
    if out.len() as u64 > cap {
        return Err(Error::input(
            path,
            format!("{what}: decompresses to more than {cap} bytes (the cap)"),
        ));
    }
    Ok(out)
}

/// Decompresses `data` (compressed with `c`) to at most `cap` bytes. Trailing
/// bytes after the stream (the kernel's appended size) are ignored.
pub fn decompress(data: &[u8], c: Compression, cap: u64, path: &Path) -> Result<Vec<u8>> {
    let what = format!("{c:?} payload");
    // The kernel appends the uncompressed size: a capacity hint when sane.
    let hint = data
        .len()
        .checked_sub(4)
        .map(|i| u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]) as usize)
        .filter(|&n| (n as u64) <= cap && n / 64 <= data.len())
        .unwrap_or(data.len().saturating_mul(3));
    match c {
        Compression::Gzip => {
            read_capped(flate2::read::GzDecoder::new(data), cap, hint, path, &what)
        }
        Compression::Bzip2 => {
            read_capped(bzip2::read::BzDecoder::new(data), cap, hint, path, &what)
        }
        Compression::Xz | Compression::Lzma => {
            let stream = if c == Compression::Xz {
                liblzma::stream::Stream::new_stream_decoder(MAX_DICTIONARY, 0)
            } else {
                liblzma::stream::Stream::new_lzma_decoder(MAX_DICTIONARY)
            }
            .map_err(|e| Error::input(path, format!("{what}: {e}")))?;
            read_capped(
                liblzma::read::XzDecoder::new_stream(data, stream),
                cap,
                hint,
                path,
                &what,
            )
        }
        Compression::Zstd => {
            let dec = ruzstd::decoding::StreamingDecoder::new(data)
                .map_err(|e| Error::input(path, format!("{what}: {e}")))?;
            read_capped(dec, cap, hint, path, &what)
        }
        Compression::Lz4 => lz4_legacy(data, cap, hint, path),
        Compression::Lzo => lzop(data, cap, hint, path),
    }
}

/// The lz4 legacy frame: magic, then blocks of (u32 LE compressed size,
/// data), each up to 8 MiB decompressed; a block-size word equal to the
/// magic starts a new frame; the appended kernel size (4 bytes) ends it.
fn lz4_legacy(data: &[u8], cap: u64, hint: usize, path: &Path) -> Result<Vec<u8>> {
    const MAGIC: u32 = 0x184C_2102;
    const CHUNK: usize = 8 << 20;
    let bad = |m: String| Error::input(path, format!("Lz4 payload: {m}"));
    let mut out = Vec::with_capacity(hint.min(cap as usize));
    let mut pos = 4;
    let mut chunk = Vec::new();
    while pos + 4 <= data.len() {
        let size = u32::from_le_bytes(data[pos..pos + 4].try_into().unwrap_or([0; 4]));
        if size == MAGIC {
            pos += 4;
            continue;
        }
        let size = size as usize;
        let Some(block) = data.get(pos + 4..(pos + 4).saturating_add(size)) else {
            // The appended size, or a truncated block.
            if data.len() - pos == 4 && !out.is_empty() {
                break;
            }
            return Err(bad(format!("block at {pos} runs past the end")));
        };
        // A block expands at most 255-fold: size the buffer by the block,
        // not by the 8 MiB maximum, so small hostile blocks cost little.
        chunk.resize(CHUNK.min(size.saturating_mul(255).saturating_add(16)), 0);
        let n = lz4_flex::block::decompress_into(block, &mut chunk)
            .map_err(|e| bad(format!("block at {pos}: {e}")))?;
        if (out.len() + n) as u64 > cap {
            return Err(bad(format!(
                "decompresses to more than {cap} bytes (the cap)"
            )));
        }
        out.extend_from_slice(&chunk[..n]);
        pos += 4 + size;
    }
    if out.is_empty() {
        return Err(bad("no block".into()));
    }
    Ok(out)
}

/// The lzop container (what `lzop -9` writes, what the kernel's `unlzo`
/// reads): a header, then blocks of (u32 BE decompressed size, u32 BE
/// compressed size, checksums, data) until a zero size.
fn lzop(data: &[u8], cap: u64, hint: usize, path: &Path) -> Result<Vec<u8>> {
    const F_ADLER32_D: u32 = 0x1;
    const F_ADLER32_C: u32 = 0x2;
    const F_H_FILTER: u32 = 0x800;
    const F_CRC32_D: u32 = 0x100;
    const F_CRC32_C: u32 = 0x200;
    const MAX_BLOCK: usize = 8 << 20;
    let bad = |m: &str| Error::input(path, format!("Lzo payload: {m}"));
    let be16 = |at: usize| -> Result<u16> {
        data.get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| bad("truncated header"))
    };
    let be32 = |at: usize| -> Result<u32> {
        data.get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| bad("truncated"))
    };
    let mut pos = 9;
    let version = be16(pos)?;
    pos += 4; // version, lib version
    if version >= 0x0940 {
        pos += 2; // version needed
    }
    pos += 1; // method
    if version >= 0x0940 {
        pos += 1; // level
    }
    let flags = be32(pos)?;
    pos += 4;
    if flags & F_H_FILTER != 0 {
        pos += 4;
    }
    pos += 8; // mode, mtime
    if version >= 0x0940 {
        pos += 4; // mtime high
    }
    let name_len = *data.get(pos).ok_or_else(|| bad("truncated header"))? as usize;
    pos += 1 + name_len + 4; // name, header checksum
    let mut out = Vec::with_capacity(hint.min(cap as usize));
    loop {
        let dst = be32(pos)? as usize;
        pos += 4;
        if dst == 0 {
            break;
        }
        if dst > MAX_BLOCK {
            return Err(bad("block larger than 8 MiB"));
        }
        let src = be32(pos)? as usize;
        pos += 4;
        if flags & (F_ADLER32_D | F_CRC32_D) != 0 {
            pos += 4;
        }
        if flags & (F_ADLER32_C | F_CRC32_C) != 0 && src < dst {
            pos += 4;
        }
        let block = data
            .get(pos..pos.saturating_add(src))
            .ok_or_else(|| bad("block runs past the end"))?;
        if (out.len() + dst) as u64 > cap {
            return Err(bad("decompresses to more than the cap"));
        }
        if src == dst {
            out.extend_from_slice(block);
        } else if src > dst {
            return Err(bad("compressed block larger than its output"));
        } else {
            let d = lzo1x_decompress(block, dst)
                .ok_or_else(|| bad(&format!("corrupt LZO1X block at {pos}")))?;
            if d.len() != dst {
                return Err(bad("block size differs from its header"));
            }
            out.extend_from_slice(&d);
        }
        pos += src;
    }
    Ok(out)
}

/// Decompresses one LZO1X block (what `lzop` writes, what the kernel's
/// `lzo1x_decompress_safe` reads) of exactly `dst` bytes. `None` for a
/// corrupt block: a back reference before the start, a length past `dst`
/// or past the input, a missing end marker. Every read and copy is
/// bounds-checked, so hostile blocks cost at most `dst` bytes of output.
///
/// Instructions (after an optional first-byte literal run > 17): `0..15`
/// with state 0 is a literal run (length 3 + low bits, or 18 + 255 per zero
/// byte + next byte); with state 1..3 a 2-byte match within 1 KiB, with
/// state 4 a 3-byte match at 2049..3072; `64..255` (M2) a 3..8-byte match
/// within 2 KiB; `32..63` (M3) within 16 KiB; `16..31` (M4) 16..48 KiB, and
/// distance 0 there is the end marker. The two low bits of a match's
/// distance word give 0..3 literals to copy after it (the next state).
pub fn lzo1x_decompress(input: &[u8], dst: usize) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(dst);
    let mut ip = 0usize;
    let byte = |ip: &mut usize| -> Option<usize> {
        let b = *input.get(*ip)?;
        *ip += 1;
        Some(usize::from(b))
    };
    // A length whose low bits were 0: 255 per zero byte, plus the next byte.
    let extended = |ip: &mut usize, base: usize| -> Option<usize> {
        let mut zeros = 0usize;
        while *input.get(*ip)? == 0 {
            zeros += 1;
            *ip += 1;
        }
        let last = usize::from(input[*ip]);
        *ip += 1;
        zeros.checked_mul(255)?.checked_add(base + last)
    };
    let literals = |ip: &mut usize, out: &mut Vec<u8>, n: usize| -> Option<()> {
        let end = ip.checked_add(n)?;
        if out.len() + n > dst {
            return None;
        }
        out.extend_from_slice(input.get(*ip..end)?);
        *ip = end;
        Some(())
    };
    let copy_match = |out: &mut Vec<u8>, distance: usize, len: usize| -> Option<()> {
        if distance == 0 || distance > out.len() || out.len() + len > dst {
            return None;
        }
        let start = out.len() - distance;
        for i in 0..len {
            let b = out[start + i];
            out.push(b);
        }
        Some(())
    };
    let mut state;
    let first = *input.first()?;
    if first > 17 {
        ip = 1;
        let t = usize::from(first) - 17;
        literals(&mut ip, &mut out, t)?;
        state = if t < 4 { t } else { 4 };
    } else {
        state = 0;
    }
    loop {
        let t = byte(&mut ip)?;
        let (distance, len, next);
        if t < 16 {
            if state == 0 {
                let n = if t == 0 { extended(&mut ip, 15)? } else { t };
                literals(&mut ip, &mut out, n + 3)?;
                state = 4;
                continue;
            }
            let h = byte(&mut ip)?;
            next = t & 3;
            if state != 4 {
                distance = 1 + (t >> 2) + (h << 2);
                len = 2;
            } else {
                distance = 2049 + (t >> 2) + (h << 2);
                len = 3;
            }
        } else if t >= 64 {
            let h = byte(&mut ip)?;
            next = t & 3;
            distance = 1 + ((t >> 2) & 7) + (h << 3);
            len = (t >> 5) + 1;
        } else if t >= 32 {
            len = if t & 31 == 0 {
                extended(&mut ip, 31)?
            } else {
                t & 31
            } + 2;
            let w = byte(&mut ip)? | (byte(&mut ip)? << 8);
            next = w & 3;
            distance = 1 + (w >> 2);
        } else {
            len = if t & 7 == 0 {
                extended(&mut ip, 7)?
            } else {
                t & 7
            } + 2;
            let w = byte(&mut ip)? | (byte(&mut ip)? << 8);
            next = w & 3;
            let d = ((t & 8) << 11) + (w >> 2);
            if d == 0 {
                // End of stream: `0x11 0 0`, all input used, all output made.
                return (len == 3 && ip == input.len() && out.len() == dst).then_some(out);
            }
            distance = d + 0x4000;
        }
        copy_match(&mut out, distance, len)?;
        literals(&mut ip, &mut out, next)?;
        state = next;
    }
}

fn le32(d: &[u8], at: usize) -> Option<u32> {
    d.get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Whether the first bytes of a file are a kernel this module reads: an x86
/// bzImage header, an arm64 `Image` header, an EFI zboot header, or a gzip
/// stream whose first bytes are an arm64 `Image` (Debian's arm64 vmlinuz).
pub fn looks_like(head: &[u8]) -> bool {
    if head.get(0x202..0x206) == Some(b"HdrS")
        || is_arm64_image(head)
        || (head.starts_with(b"MZ") && head.get(4..8) == Some(b"zimg"))
    {
        return true;
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        let mut gz = flate2::read::GzDecoder::new(head);
        let _ = std::io::Read::read_to_end(&mut std::io::Read::take(&mut gz, 0x40), &mut out);
        return is_arm64_image(&out);
    }
    false
}

/// Whether `data` is a raw arm64 `Image` (magic `ARM\x64` at 0x38).
pub fn is_arm64_image(data: &[u8]) -> bool {
    data.get(0x38..0x3c) == Some(b"ARM\x64")
}

/// The file offset an arm64 `Image` branches to from its second
/// instruction (`code1`, `b primary_entry`), when that is a `B`.
pub fn arm64_entry_offset(data: &[u8]) -> Option<u64> {
    let insn = le32(data, 4)?;
    if insn >> 26 != 0b000101 {
        return None;
    }
    // imm26, signed, in instructions.
    let imm = ((insn & 0x03ff_ffff) << 6) as i32 >> 6;
    4i64.checked_add(i64::from(imm) * 4)
        .and_then(|t| u64::try_from(t).ok())
}

/// The x86 bzImage payload: (offset, length), if `data` is a bzImage.
pub fn bzimage_payload(data: &[u8]) -> Option<(usize, usize)> {
    if data.get(0x202..0x206)? != b"HdrS" {
        return None;
    }
    let version = u16::from_le_bytes([*data.get(0x206)?, *data.get(0x207)?]);
    if version < 0x0208 {
        return None;
    }
    let setup_sects = match *data.get(0x1f1)? {
        0 => 4,
        n => usize::from(n),
    };
    let pm = (setup_sects + 1) * 512;
    let off = pm.checked_add(le32(data, 0x248)? as usize)?;
    let len = le32(data, 0x24c)? as usize;
    data.get(off..off.checked_add(len)?)?;
    Some((off, len))
}

/// Reads a `vmlinuz` (see the module doc) into its kernel image.
pub fn read_bytes(data: &[u8], path: &Path) -> Result<KernelImage> {
    read_bytes_capped(data, path, MAX_DECOMPRESSED)
}

/// [`read_bytes`] with another output cap.
pub fn read_bytes_capped(data: &[u8], path: &Path, cap: u64) -> Result<KernelImage> {
    if let Some((off, len)) = bzimage_payload(data) {
        let payload = &data[off..off + len];
        let c = Compression::detect(payload).ok_or_else(|| {
            Error::input(
                path,
                format!(
                    "bzImage payload at {off:#x}: unknown compression (magic {:02x?})",
                    &payload[..payload.len().min(4)]
                ),
            )
        })?;
        let out = decompress(payload, c, cap, path)?;
        if !out.starts_with(b"\x7fELF") {
            return Err(Error::input(
                path,
                "bzImage payload: decompressed, but not an ELF vmlinux",
            ));
        }
        return Ok(KernelImage {
            data: out,
            format: ImageFormat::Elf,
            arch: KernelArch::Amd64,
            compression: Some(c),
        });
    }
    if is_arm64_image(data) {
        return Ok(KernelImage {
            data: data.to_vec(),
            format: ImageFormat::RawArm64,
            arch: KernelArch::Arm64,
            compression: None,
        });
    }
    // EFI zboot: "MZ", "zimg" at 4, payload offset and size at 8 and 12,
    // the compression name at 24.
    if data.starts_with(b"MZ") && data.get(4..8) == Some(b"zimg") {
        let off = le32(data, 8).unwrap_or(0) as usize;
        let len = le32(data, 12).unwrap_or(0) as usize;
        let name = data.get(24..56).unwrap_or(&[]);
        let payload = data
            .get(off..off.saturating_add(len))
            .ok_or_else(|| Error::input(path, "zboot image: payload out of bounds"))?;
        let c = Compression::from_zboot_name(name)
            .or_else(|| Compression::detect(payload))
            .ok_or_else(|| Error::input(path, "zboot image: unknown compression"))?;
        let out = decompress(payload, c, cap, path)?;
        return image_from_decompressed(out, c, path);
    }
    if let Some(c) = Compression::detect(data) {
        let out = decompress(data, c, cap, path)?;
        return image_from_decompressed(out, c, path);
    }
    if data.starts_with(b"\x7fELF") {
        return Err(Error::input(
            path,
            "an ELF file, not a vmlinuz: read it as a vmlinux",
        ));
    }
    Err(Error::input(
        path,
        "not a vmlinuz: no x86 bzImage header, arm64 Image header, zboot header or compression magic",
    ))
}

fn image_from_decompressed(out: Vec<u8>, c: Compression, path: &Path) -> Result<KernelImage> {
    if is_arm64_image(&out) {
        Ok(KernelImage {
            data: out,
            format: ImageFormat::RawArm64,
            arch: KernelArch::Arm64,
            compression: Some(c),
        })
    } else if out.starts_with(b"\x7fELF") {
        let arch = match out.get(18..20) {
            Some([0xb7, 0]) => KernelArch::Arm64,
            _ => KernelArch::Amd64,
        };
        Ok(KernelImage {
            data: out,
            format: ImageFormat::Elf,
            arch,
            compression: Some(c),
        })
    } else {
        Err(Error::input(
            path,
            format!("decompressed the {c:?} data, but it is neither an arm64 Image nor an ELF"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lzo1x_blocks_decode_and_hostile_ones_are_refused() {
        // Literal run "AB" (first byte 17 + 2), M2 match distance 2 length 3
        // ("ABA"), end marker.
        let block = [19, b'A', b'B', 0x40 | (1 << 2), 0, 0x11, 0, 0];
        // M2: t = 0x44: length (0x44 >> 5) + 1 = 3, distance 1 + 1 + 0 = 2.
        assert_eq!(lzo1x_decompress(&block, 5).as_deref(), Some(&b"ABABA"[..]));
        // A back reference before the start, as fuzzing found for the
        // lzokay-native crate (which panicked): refused.
        let back = [18, b'A', 0xfc, 0xff, 0x11, 0, 0];
        assert_eq!(lzo1x_decompress(&back, 100), None);
        // More output than declared, truncated input, no end marker.
        assert_eq!(lzo1x_decompress(&block, 4), None);
        for cut in 0..block.len() {
            assert_eq!(lzo1x_decompress(&block[..cut], 5), None, "cut {cut}");
        }
        // A literal length of 255 per zero byte stays bounded by the input.
        let mut long = vec![0u8, 0, 0, 0];
        long.push(5);
        assert_eq!(lzo1x_decompress(&long, 1 << 20), None);
    }

    #[test]
    fn detects_and_refuses_garbage() {
        assert_eq!(
            Compression::detect(&[0x1f, 0x8b, 8]),
            Some(Compression::Gzip)
        );
        assert_eq!(Compression::detect(b"BZh9"), Some(Compression::Bzip2));
        assert!(read_bytes(b"hello", Path::new("v")).is_err());
        // A truncated gzip stream is an error.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &[7u8; 10000]).unwrap();
        let gz = gz.finish().unwrap();
        assert!(decompress(
            &gz[..gz.len() / 2],
            Compression::Gzip,
            1 << 20,
            Path::new("v")
        )
        .is_err());
        // A bomb is refused at the cap.
        assert!(decompress(&gz, Compression::Gzip, 1000, Path::new("v")).is_err());
        assert_eq!(
            decompress(&gz, Compression::Gzip, 1 << 20, Path::new("v"))
                .unwrap()
                .len(),
            10000
        );
    }
}
