//! A vmlinuz (bzImage, arm64 Image, zboot, compressed stream) -> its kernel
//! image, with every decompressor, under a 64 MiB output cap.
#![no_main]
use libfuzzer_sys::fuzz_target;
use profile_compiler::__private::vmlinuz::{self, Compression};
use std::path::Path;

const CAP: u64 = 64 << 20;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.vmlinuz");
    if let Ok(img) = vmlinuz::read_bytes_capped(data, path, CAP) {
        assert!(img.data.len() as u64 <= CAP);
    }
    // Each decompressor on the same bytes, magic or not.
    if let Some((&first, rest)) = data.split_first() {
        let c = match first % 7 {
            0 => Compression::Gzip,
            1 => Compression::Bzip2,
            2 => Compression::Lzma,
            3 => Compression::Xz,
            4 => Compression::Lzo,
            5 => Compression::Lz4,
            _ => Compression::Zstd,
        };
        if let Ok(out) = vmlinuz::decompress(rest, c, CAP, path) {
            assert!(out.len() as u64 <= CAP);
        }
    }
});
