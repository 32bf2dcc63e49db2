//! Address spaces: paging translation (4-level, large pages, PAE, 32-bit,
//! non-present entries), stacking, sparse runs and file mapping.

mod common;

use std::io::Write;
use std::sync::Arc;

use common::{Amd64, Pae, PhysMem, X86};
use profile_runtime::{
    AddressSpace, Amd64Paging, BufferSpace, FileSpace, PaePaging, Run, Space, SparseSpace,
    X86Paging,
};

fn buffer(m: &PhysMem) -> Space {
    Arc::new(BufferSpace::new(m.mem.clone()))
}

#[test]
fn amd64_4k_2m_1g_pages_and_holes() {
    let mut m = PhysMem::new(8 << 20, 0x10_000);
    let t = Amd64::new(&mut m);
    // 4 KiB pages: two consecutive virtual pages on non-contiguous frames.
    let user = 0x0000_7f00_0000_0000u64;
    t.map_4k(&mut m, user, 0x60_0000);
    t.map_4k(&mut m, user + 0x1000, 0x50_0000);
    m.write(0x60_0ffc, b"ABCD");
    m.write(0x50_0000, b"EFGH");
    // A 2 MiB page for the kernel text, a 1 GiB direct map at physical 0.
    let text = 0xffff_ffff_8100_0000u64;
    t.map_2m(&mut m, text, 0x20_0000);
    m.write(0x20_0000 + 0x1234, b"kernel");
    m.write(0x50_0ff8, b"tailtail");
    let direct = 0xffff_8880_0000_0000u64;
    t.map_1g(&mut m, direct, 0);
    let s = Amd64Paging::new(buffer(&m), t.pml4);

    assert_eq!(s.vtop(user + 0x10), Some(0x60_0010));
    assert_eq!(s.vtop(user + 0x1010), Some(0x50_0010));
    let mut b = [0u8; 8];
    assert!(s.read(user + 0xffc, &mut b).is_complete());
    assert_eq!(
        &b, b"ABCDEFGH",
        "a read across a page boundary follows both frames"
    );

    assert_eq!(s.vtop(text + 0x1234), Some(0x20_1234));
    assert_eq!(s.vtop(text + 0x1f_ffff), Some(0x3f_ffff));
    let mut k = [0u8; 6];
    s.read(text + 0x1234, &mut k);
    assert_eq!(&k, b"kernel");
    // A 48-bit masked address (as Rekall stores Linux symbols) translates the same.
    assert_eq!(s.vtop(0xffff_8100_1234), Some(0x20_1234));

    assert_eq!(s.vtop(direct + 0x3fff_ffff), Some(0x3fff_ffff));
    assert_eq!(s.vtop(direct + 0x20_1234), Some(0x20_1234));

    // Holes: unmapped PML4 slot, unmapped PT entry, zero-padded reads.
    assert_eq!(s.vtop(0x1000), None);
    assert_eq!(s.vtop(user + 0x2000), None);
    let mut b = [0xffu8; 16];
    let st = s.read(user + 0x1ff8, &mut b);
    assert_eq!(&b[..8], b"tailtail");
    assert_eq!(&b[8..], &[0u8; 8]);
    assert_eq!(st.missing, 8);
    assert_eq!(st.first_invalid, Some(user + 0x2000));

    // Clearing a present bit at the PTE level unmaps the page.
    let pte = t.pte_of(&m, user);
    let e = m.read_u64(pte);
    m.write_u64(pte, e & !1);
    let s2 = Amd64Paging::new(buffer(&m), t.pml4);
    assert_eq!(s2.vtop(user), None);
    assert!(!s2.is_valid(user));

    // The valid ranges: sign-extended upper-half addresses, merged runs.
    let runs = s.ranges();
    assert!(runs.contains(&Run {
        start: user,
        target: 0x60_0000,
        len: 0x1000
    }));
    assert!(runs.contains(&Run {
        start: user + 0x1000,
        target: 0x50_0000,
        len: 0x1000
    }));
    assert!(runs.contains(&Run {
        start: text,
        target: 0x20_0000,
        len: 0x20_0000
    }));
    assert!(runs.contains(&Run {
        start: direct,
        target: 0,
        len: 0x4000_0000
    }));
    assert_eq!(runs.len(), 4, "{runs:x?}");
    assert!(runs.windows(2).all(|w| w[0].start < w[1].start));
}

#[test]
fn pae_and_x86_paging() {
    let mut m = PhysMem::new(16 << 20, 0x10_000);
    let t = Pae::new(&mut m);
    t.map_4k(&mut m, 0xc000_1000, 0x30_0000);
    t.map_2m(&mut m, 0x8020_0000, 0x40_0000);
    m.write(0x30_0010, b"pae4k");
    m.write(0x40_1000, b"pae2m");
    let s = PaePaging::new(buffer(&m), t.pdpt);
    assert_eq!(s.vtop(0xc000_1010), Some(0x30_0010));
    assert_eq!(s.vtop(0x8020_1000), Some(0x40_1000));
    assert_eq!(s.vtop(0xc000_2000), None);
    assert_eq!(s.vtop(0x1_0000_0000), None, "beyond 32 bits");
    let mut b = [0u8; 5];
    s.read(0x8020_1000, &mut b);
    assert_eq!(&b, b"pae2m");
    assert_eq!(
        s.ranges(),
        vec![
            Run {
                start: 0x8020_0000,
                target: 0x40_0000,
                len: 0x20_0000
            },
            Run {
                start: 0xc000_1000,
                target: 0x30_0000,
                len: 0x1000
            }
        ]
    );

    let mut m = PhysMem::new(16 << 20, 0x10_000);
    let t = X86::new(&mut m);
    t.map_4k(&mut m, 0xc000_1000, 0x30_0000);
    t.map_4m(&mut m, 0x8040_0000, 0x80_0000);
    m.write(0x30_0010, b"x86-4k");
    m.write(0x83_0000, b"x86-4m");
    let s = X86Paging::new(buffer(&m), t.pd);
    assert_eq!(s.vtop(0xc000_1010), Some(0x30_0010));
    assert_eq!(s.vtop(0x8043_0000), Some(0x83_0000));
    assert_eq!(s.vtop(0x8080_0000), None);
    let mut b = [0u8; 6];
    s.read(0x8043_0000, &mut b);
    assert_eq!(&b, b"x86-4m");
    assert_eq!(s.ranges().len(), 2);
}

#[test]
fn file_and_sparse_spaces_stack_under_paging() {
    // The physical memory is stored in a file after a 4 KiB header, as a
    // sparse space maps it: physical [0, len) -> file [0x1000, 0x1000 + len).
    let mut m = PhysMem::new(1 << 20, 0x1000);
    let t = Amd64::new(&mut m);
    t.map_4k(&mut m, 0xffff_c900_0000_0000, 0x8_0000);
    m.write(0x8_0100, b"stacked");
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(&[0xee; 0x1000]).unwrap();
    f.write_all(&m.mem).unwrap();
    f.flush().unwrap();
    let file: Space = Arc::new(FileSpace::open(f.path()).unwrap());
    assert_eq!(
        file.ranges(),
        vec![Run {
            start: 0,
            target: 0,
            len: 0x1000 + (1 << 20)
        }]
    );
    let mut tail = [1u8; 4];
    let st = file.read(0x1000 + (1 << 20) - 2, &mut tail);
    assert_eq!(tail, [0, 0, 0, 0]);
    assert_eq!(st.missing, 2);
    let phys: Space = Arc::new(
        SparseSpace::new(
            file,
            vec![Run {
                start: 0,
                target: 0x1000,
                len: 1 << 20,
            }],
        )
        .unwrap(),
    );
    let virt = Amd64Paging::new(phys, t.pml4);
    let mut b = [0u8; 7];
    assert!(virt.read(0xffff_c900_0000_0100, &mut b).is_complete());
    assert_eq!(&b, b"stacked");
    assert_eq!(
        virt.read_exact(0xffff_c900_0000_0100, 7).as_deref(),
        Some(&b"stacked"[..])
    );
    assert_eq!(virt.read_exact(0xffff_c900_0000_1000, 1), None);

    let empty = tempfile::NamedTempFile::new().unwrap();
    let e = FileSpace::open(empty.path()).unwrap();
    assert!(e.ranges().is_empty());
    assert_eq!(e.read(0, &mut [0u8; 4]).missing, 4);
    assert!(FileSpace::open(std::path::Path::new("/no/such/image")).is_err());
}

#[test]
fn corrupt_page_tables_do_not_hang_or_panic() {
    // Every entry of every level points back to the top table: a walk must
    // end (bounded table count) and translation must not loop.
    let mut m = PhysMem::new(0x3000, 0x1000);
    let top = m.alloc();
    for i in 0..512 {
        m.write_u64(top + 8 * i, top | 0x3);
    }
    let s = Amd64Paging::new(buffer(&m), top);
    assert_eq!(s.vtop(0xdead_beef), Some(0x1000 + 0xeef));
    let runs = s.ranges();
    assert!(!runs.is_empty());
    // Tables beyond the end of physical memory.
    let s = Amd64Paging::new(buffer(&m), 0xffff_f000);
    assert_eq!(s.vtop(0), None);
    assert!(s.ranges().is_empty());
}

#[test]
fn windows_transition_pages_are_opt_in() {
    let mut m = PhysMem::new(4 << 20, 0x10_000);
    let t = Amd64::new(&mut m);
    let va = 0xffff_a000_0000_0000u64;
    t.map_4k(&mut m, va, 0x30_0000);
    t.map_4k(&mut m, va + 0x1000, 0x31_0000);
    m.write(0x30_0000, b"standby");
    // Not present, transition bit set; the second page is also a prototype.
    let pte = t.pte_of(&m, va);
    m.write_u64(pte, 0x30_0000 | (1 << 11));
    let pte2 = t.pte_of(&m, va + 0x1000);
    m.write_u64(pte2, 0x31_0000 | (1 << 11) | (1 << 10));
    let plain = Amd64Paging::new(buffer(&m), t.pml4);
    assert_eq!(plain.vtop(va), None);
    let win = Amd64Paging::new(buffer(&m), t.pml4).with_transition_pages(true);
    assert_eq!(win.vtop(va + 5), Some(0x30_0005));
    assert_eq!(win.read_exact(va, 7).as_deref(), Some(&b"standby"[..]));
    assert_eq!(
        win.vtop(va + 0x1000),
        None,
        "prototype PTEs are not resolved"
    );
    assert_eq!(win.ranges().len(), 1);
    assert!(plain.ranges().is_empty());
}

/// A LiME image: for each (start, bytes), a header then the bytes.
fn lime_image(ranges: &[(u64, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (start, bytes) in ranges {
        out.extend_from_slice(&0x4C69_4D45u32.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&start.to_le_bytes());
        out.extend_from_slice(&(start + bytes.len() as u64 - 1).to_le_bytes());
        out.extend_from_slice(&[0u8; 8]);
        out.extend_from_slice(bytes);
    }
    out
}

#[test]
fn lime_images_map_their_ranges() {
    let img = lime_image(&[(0x1000, b"first range"), (0x10_0000, b"second")]);
    let s = SparseSpace::lime(Arc::new(BufferSpace::new(img))).unwrap();
    assert_eq!(s.read_exact(0x1000, 5).as_deref(), Some(&b"first"[..]));
    assert_eq!(s.read_exact(0x10_0000, 6).as_deref(), Some(&b"second"[..]));
    assert_eq!(s.vtop(0x1000 + 11), None);
    assert_eq!(
        s.ranges(),
        vec![
            Run {
                start: 0x1000,
                target: 32,
                len: 11
            },
            Run {
                start: 0x10_0000,
                target: 32 + 11 + 32,
                len: 6
            }
        ]
    );
    assert!(SparseSpace::lime(Arc::new(BufferSpace::new(vec![0u8; 64]))).is_err());
    // A truncated last range is kept as far as the header says; its missing
    // bytes read as invalid through the file space.
    let mut cut = lime_image(&[(0, b"abcdef")]);
    cut.truncate(32 + 3);
    let s = SparseSpace::lime(Arc::new(BufferSpace::new(cut))).unwrap();
    let mut b = [0u8; 6];
    assert_eq!(s.read(0, &mut b).missing, 3);
}

/// An ELF64 core with one PT_NOTE and PT_LOAD segments (paddr, bytes).
fn elf_core(loads: &[(u64, &[u8])]) -> Vec<u8> {
    let phnum = loads.len() + 1;
    let data_at = 64 + 56 * phnum as u64;
    let mut out = vec![0u8; 64];
    out[..4].copy_from_slice(b"\x7fELF");
    out[4] = 2;
    out[5] = 1;
    out[6] = 1;
    out[0x10..0x12].copy_from_slice(&4u16.to_le_bytes()); // ET_CORE
    out[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
    out[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
    out[0x38..0x3a].copy_from_slice(&(phnum as u16).to_le_bytes());
    let mut note = vec![0u8; 56];
    note[0..4].copy_from_slice(&4u32.to_le_bytes());
    out.extend_from_slice(&note);
    let mut offset = data_at;
    for (paddr, bytes) in loads {
        let mut ph = vec![0u8; 56];
        ph[0..4].copy_from_slice(&1u32.to_le_bytes());
        ph[8..16].copy_from_slice(&offset.to_le_bytes());
        ph[16..24].copy_from_slice(&(0xffff_8880_0000_0000 + paddr).to_le_bytes());
        ph[24..32].copy_from_slice(&paddr.to_le_bytes());
        ph[32..40].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
        ph[40..48].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
        out.extend_from_slice(&ph);
        offset += bytes.len() as u64;
    }
    for (_, bytes) in loads {
        out.extend_from_slice(bytes);
    }
    out
}

#[test]
fn elf_cores_map_their_load_segments() {
    let img = elf_core(&[(0, b"low memory"), (0x1_0000_0000, b"high memory")]);
    let s = SparseSpace::elf_core(Arc::new(BufferSpace::new(img))).unwrap();
    assert_eq!(s.read_exact(0, 3).as_deref(), Some(&b"low"[..]));
    assert_eq!(
        s.read_exact(0x1_0000_0005, 6).as_deref(),
        Some(&b"memory"[..])
    );
    assert_eq!(s.ranges().len(), 2);
    assert!(SparseSpace::elf_core(Arc::new(BufferSpace::new(b"not elf".to_vec()))).is_err());
    let mut bad = elf_core(&[(0, b"x")]);
    bad[0x38..0x3a].copy_from_slice(&500u16.to_le_bytes()); // headers beyond the end
    assert!(SparseSpace::elf_core(Arc::new(BufferSpace::new(bad))).is_err());
}

#[test]
fn la57_walks_five_levels_and_sign_extends_bit_56() {
    use common::La57;
    use profile_runtime::{Amd64La57Paging, Paging};
    let mut m = PhysMem::new(8 << 20, 0x10_000);
    let t = La57::new(&mut m);
    // A 5-level kernel direct map lies below the 4-level range.
    let direct = 0xff11_0000_0000_0000u64;
    let text = 0xffff_ffff_8100_0000u64;
    let user = 0x00ff_0000_0000_1000u64; // above 2^48: only 5-level maps it
    t.map_2m(&mut m, direct, 0x20_0000);
    t.map_4k(&mut m, text, 0x60_0000);
    t.map_4k(&mut m, user, 0x61_0000);
    m.write(0x20_0000 + 0x10, b"direct");
    m.write(0x60_0000 + 0x20, b"text");
    let s = Amd64La57Paging::new(buffer(&m), t.pml5);
    assert_eq!(s.vtop(direct + 0x10), Some(0x20_0010));
    assert_eq!(s.vtop(text + 0x20), Some(0x60_0020));
    assert_eq!(s.vtop(user), Some(0x61_0000));
    let mut b = [0u8; 6];
    assert!(s.read(direct + 0x10, &mut b).is_complete());
    assert_eq!(&b, b"direct");
    let runs = s.ranges();
    let starts: Vec<u64> = runs.iter().map(|r| r.start).collect();
    assert_eq!(starts, vec![user, direct, text]);
    // The same tables read as 4-level do not give these translations.
    let four = Amd64Paging::new(buffer(&m), t.pml5);
    assert_ne!(four.vtop(text + 0x20), Some(0x60_0020));
    // Through the enum.
    let any = Paging::Amd64La57.space(buffer(&m), t.pml5).unwrap();
    assert_eq!(any.vtop(text), Some(0x60_0000));
    assert_eq!("amd64-la57".parse::<Paging>().unwrap(), Paging::Amd64La57);
    // A window: only the kernel text.
    let w = s.ranges_in(0xffff_ffff_8000_0000, u64::MAX);
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].start, text);
}

#[test]
fn aarch64_pages_blocks_and_both_halves() {
    use common::Arm64;
    use profile_runtime::AArch64Paging;
    let mut m = PhysMem::new(8 << 20, 0x10_000);
    let t = Arm64::new(&mut m, 48);
    let kimage = 0xffff_8000_0801_0000u64;
    let linear = 0xffff_0000_0000_0000u64;
    let block2m = 0xffff_8000_1000_0000u64;
    t.map_4k(&mut m, kimage, 0x40_0000);
    t.map_1g(&mut m, linear, 0x4000_0000);
    t.map_2m(&mut m, block2m, 0x20_0000);
    m.write(0x40_0000 + 0x123, b"kernel");
    let s = AArch64Paging::new(buffer(&m), t.root, 48).unwrap();
    assert_eq!(s.vtop(kimage + 0x123), Some(0x40_0123));
    assert_eq!(
        s.vtop(linear + 0x1234_5678),
        Some(0x4000_0000 + 0x1234_5678)
    );
    assert_eq!(s.vtop(block2m + 0x1f_fff0), Some(0x3f_fff0));
    // A 48-bit masked symbol (bits 48-63 clear) goes through TTBR1 too.
    assert_eq!(s.vtop(kimage & 0xffff_ffff_ffff), Some(0x40_0000));
    let mut b = [0u8; 6];
    assert!(s.read(kimage + 0x123, &mut b).is_complete());
    assert_eq!(&b, b"kernel");
    let runs = s.ranges();
    assert_eq!(
        runs.iter().map(|r| (r.start, r.len)).collect::<Vec<_>>(),
        vec![(linear, 1 << 30), (kimage, 0x1000), (block2m, 0x20_0000)]
    );
    // With TTBR0, user addresses go through it and the kernel's through TTBR1.
    let u = Arm64::new(&mut m, 48);
    u.map_4k(&mut m, 0x0000_ffff_f000_0000, 0x41_0000);
    let both = AArch64Paging::new(buffer(&m), t.root, 48)
        .unwrap()
        .with_ttbr0(u.root);
    assert_eq!(both.vtop(0x0000_ffff_f000_0010), Some(0x41_0010));
    assert_eq!(both.vtop(kimage), Some(0x40_0000));
    assert_eq!(both.vtop(0x00ff_0000_0000_0000), None, "neither half");
    // An invalid descriptor (bits 1:0 = 0b00) and a level-0 "block" (0b01,
    // reserved with this granule) map nothing.
    let mut bad = m.mem.clone();
    let l0 = t.root + 8 * ((kimage >> 39) & 0x1ff);
    let e = u64::from_le_bytes(bad[l0 as usize..l0 as usize + 8].try_into().unwrap());
    bad[l0 as usize..l0 as usize + 8].copy_from_slice(&((e & !3) | 1).to_le_bytes());
    let s = AArch64Paging::new(Arc::new(BufferSpace::new(bad)), t.root, 48).unwrap();
    assert_eq!(s.vtop(kimage), None);
    assert!(AArch64Paging::new(buffer(&m), t.root, 52).is_err());
}

#[test]
fn aarch64_39_bit_three_levels() {
    use common::Arm64;
    use profile_runtime::AArch64Paging;
    let mut m = PhysMem::new(4 << 20, 0x10_000);
    let t = Arm64::new(&mut m, 39);
    let va = 0xffff_ffc0_0801_0000u64; // 39-bit kernel space
    t.map_4k(&mut m, va, 0x30_0000);
    let s = AArch64Paging::new(buffer(&m), t.root, 39).unwrap();
    assert_eq!(s.vtop(va + 8), Some(0x30_0008));
    assert_eq!(s.ranges()[0].start, va);
    let four = AArch64Paging::new(buffer(&m), t.root, 48).unwrap();
    assert_ne!(four.vtop(va + 8), Some(0x30_0008));
}

#[test]
fn page_tables_that_loop_or_point_outside_end() {
    use profile_runtime::{AArch64Paging, Amd64La57Paging};
    // Every entry of the only table points to the table itself: each walk
    // level reads it again. The walk ends at the table budget.
    let mut mem = vec![0u8; 0x2000];
    for i in 0..512 {
        mem[0x1000 + i * 8..0x1000 + i * 8 + 8].copy_from_slice(&(0x1000u64 | 3).to_le_bytes());
    }
    let sp: Space = Arc::new(BufferSpace::new(mem));
    let t0 = std::time::Instant::now();
    let s = Amd64La57Paging::new(Arc::clone(&sp), 0x1000);
    let _ = s.vtop(0xffff_ffff_8100_0000);
    let runs = s.ranges_in(0xffff_ffff_8000_0000, 0xffff_ffff_80ff_ffff);
    assert!(runs.len() <= profile_runtime::MAX_RUNS);
    let a = AArch64Paging::new(Arc::clone(&sp), 0x1000, 48).unwrap();
    let _ = a.vtop(0xffff_8000_0800_0000);
    let _ = a.ranges_in(0xffff_8000_0800_0000, 0xffff_8000_08ff_ffff);
    assert!(t0.elapsed().as_secs() < 20, "bounded walks");
    // Pointers beyond the image: unmapped, no panic.
    let mut mem = vec![0u8; 0x1000];
    for i in 0..512 {
        mem[i * 8..i * 8 + 8].copy_from_slice(&(0x7fff_ffff_f000u64 | 3).to_le_bytes());
    }
    let sp: Space = Arc::new(BufferSpace::new(mem));
    let s = Amd64La57Paging::new(Arc::clone(&sp), 0);
    assert_eq!(s.vtop(0xffff_ffff_8100_0000), None);
    assert!(s.ranges().is_empty());
    let a = AArch64Paging::new(sp, 0, 48).unwrap();
    assert_eq!(a.vtop(0xffff_8000_0800_0000), None);
    assert!(a.ranges().is_empty());
}
