//! Searching a (physical) space for byte strings at memory speed.
//!
//! The space's valid runs are visited in chunks that fit in the CPU cache;
//! each needle's `memchr::memmem` finder runs over a chunk while it is
//! cached, so the image is streamed from memory once whatever the number of
//! needles. Chunks overlap by the longest needle less one byte, so a match
//! across a chunk boundary is found (once). Spaces that hold their bytes in
//! memory ([`AddressSpace::direct`]: raw files, ELF cores, LiME) are read
//! without copying; others (compressed dumps) are read into a buffer.

use memchr::memmem::Finder;

use crate::space::AddressSpace;

/// Bytes searched per chunk.
const CHUNK: usize = 256 << 10;

/// Searches every valid byte of `space` for each needle. `on_hit(needle,
/// address)` is called for each match (by chunk, then needle, then
/// address); returning `false` stops the search. `progress(done, total)`
/// is called after each chunk with the bytes searched so far and the total.
pub(crate) fn search(
    space: &dyn AddressSpace,
    needles: &[&[u8]],
    progress: &mut dyn FnMut(u64, u64),
    on_hit: &mut dyn FnMut(usize, u64) -> bool,
) {
    let finders: Vec<Finder<'_>> = needles
        .iter()
        .filter(|n| !n.is_empty())
        .map(Finder::new)
        .collect();
    if finders.len() != needles.len() {
        return;
    }
    let overlap = needles.iter().map(|n| n.len()).max().unwrap_or(1) - 1;
    let runs = space.ranges();
    let total: u64 = runs.iter().map(|r| r.len).fold(0, u64::saturating_add);
    let mut done = 0u64;
    let mut buf = Vec::new();
    progress(0, total);
    for run in runs {
        let mut off = 0u64;
        while off < run.len {
            let body = (run.len - off).min(CHUNK as u64) as usize;
            let extra = ((run.len - off - body as u64).min(overlap as u64)) as usize;
            let addr = run.start.wrapping_add(off);
            let len = body + extra;
            let data: &[u8] = match space.direct(addr, len) {
                Some(d) => d,
                None => {
                    buf.resize(len, 0);
                    space.read(addr, &mut buf);
                    &buf
                }
            };
            for (i, f) in finders.iter().enumerate() {
                for pos in f.find_iter(data) {
                    if pos >= body {
                        break;
                    }
                    if !on_hit(i, addr.wrapping_add(pos as u64)) {
                        return;
                    }
                }
            }
            off += body as u64;
            done = done.saturating_add(body as u64);
            progress(done, total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::{BufferSpace, Run, Space, SparseSpace};
    use std::sync::Arc;

    #[test]
    fn finds_every_match_once_across_chunks_and_runs() {
        let mut mem = vec![0u8; 3 * CHUNK + 100];
        let at = [5usize, CHUNK - 3, 2 * CHUNK - 1, 3 * CHUNK + 90];
        for &a in &at {
            mem[a..a + 6].copy_from_slice(b"needle");
        }
        let s = BufferSpace::new(mem);
        let mut hits = Vec::new();
        let mut last = (0, 0);
        search(
            &s,
            &[b"needle", b"zz"],
            &mut |d, t| last = (d, t),
            &mut |i, a| {
                hits.push((i, a));
                true
            },
        );
        hits.sort();
        let want: Vec<(usize, u64)> = at.iter().map(|&a| (0, a as u64)).collect();
        assert_eq!(hits, want);
        assert_eq!(last, ((3 * CHUNK + 100) as u64, (3 * CHUNK + 100) as u64));

        // A sparse space: addresses are the space's, gaps are skipped.
        let base: Space = Arc::new(s);
        let sp = SparseSpace::new(
            base,
            vec![Run {
                start: 0x1000_0000,
                target: CHUNK as u64 - 10,
                len: 20,
            }],
        )
        .unwrap();
        let mut hits = Vec::new();
        search(&sp, &[b"needle"], &mut |_, _| {}, &mut |_, a| {
            hits.push(a);
            false
        });
        assert_eq!(hits, vec![0x1000_0000 + 7]);
    }
}
