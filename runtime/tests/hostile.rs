//! Images that are not what they claim: zeros, random bytes, a banner with
//! nothing behind it, page tables that point to themselves, truncated
//! headers. Every path must end in bounded time with an error or an empty
//! answer, never a panic.

use std::sync::Arc;
use std::time::{Duration, Instant};

use profile_runtime::linux::{self, Hints, LinuxKernel};
use profile_runtime::{identify, BufferSpace, Image, LazyProfile, Session, Space};

fn image(bytes: Vec<u8>) -> Image {
    let s: Space = Arc::new(BufferSpace::new(bytes));
    Image::from_file_space(s, "test").unwrap()
}

fn random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A minimal Linux profile: the symbols and members the locator and lists use.
fn session() -> Session {
    let json = br#"{"$METADATA": {"ProfileClass": "Linux", "arch": "AMD64",
        "Banner": "Linux version 6.1.0-test (x) #1 SMP"},
      "$CONSTANTS": {"linux_banner": 281472847239424, "init_top_pgt": 281472855900160,
                     "init_task": 281472855943744, "modules": 281472857084576},
      "$STRUCTS": {
        "list_head": [16, {"next": [0, ["Pointer", {"target": "list_head"}]], "prev": [8, ["Pointer", {"target": "list_head"}]]}],
        "task_struct": [4096, {"tasks": [2192, ["list_head", {}]], "pid": [2416, ["int", {}]], "tgid": [2420, ["int", {}]],
          "real_parent": [2432, ["Pointer", {"target": "task_struct"}]], "comm": [2976, ["Array", {"count": 16, "target": "char"}]]}],
        "module": [1024, {"list": [8, ["list_head", {}]], "name": [24, ["Array", {"count": 56, "target": "char"}]]}]}}"#;
    Session::new(Arc::new(
        LazyProfile::from_bytes(json.to_vec(), "mini").unwrap(),
    ))
}

#[test]
fn zeros_and_random_bytes_identify_nothing_and_locate_fails_clearly() {
    for bytes in [vec![0u8; 16 << 20], random(16 << 20, 7)] {
        let t = Instant::now();
        let img = image(bytes);
        let id = identify::scan(&img, &mut |_, _| {});
        assert!(id.kernels.is_empty(), "{:?}", id.kernels);
        let e = LinuxKernel::locate(&img, &session(), &Hints::default()).unwrap_err();
        assert!(e.to_string().contains("was not found"), "{e}");
        let r = linux::check(&img, &session(), &Hints::default());
        assert!(!r.ok && !r.reasons.is_empty());
        assert!(t.elapsed() < Duration::from_secs(30));
    }
}

#[test]
fn a_banner_without_a_kernel_and_self_referencing_tables() {
    let mut mem = random(8 << 20, 3);
    // Banners at linux_banner's page offset (0x900) and elsewhere.
    let banner = b"Linux version 6.1.0-test (x) #1 SMP\n\0";
    for at in [0x10_0900usize, 0x20_0900, 0x33_1234] {
        mem[at..at + banner.len()].copy_from_slice(banner);
    }
    // Pages that look like a kernel PGD whose entries point to themselves.
    for page in [0x40_0000usize, 0x41_0000] {
        mem[page..page + 4096].fill(0);
        for i in 256..512 {
            let e = (page as u64) | 0x63;
            mem[page + i * 8..page + i * 8 + 8].copy_from_slice(&e.to_le_bytes());
        }
    }
    let t = Instant::now();
    let img = image(mem);
    let id = identify::scan(&img, &mut |_, _| {});
    assert_eq!(id.kernels.len(), 1);
    let k = &id.kernels[0];
    assert_eq!(k.release.as_deref(), Some("6.1.0-test"));
    assert!(k.dtb.is_none(), "{k:?}");
    assert!(!k.notes.is_empty());
    assert!(LinuxKernel::locate(&img, &session(), &Hints::default()).is_err());
    // Given values are used even when they do not verify; the lists then
    // fail with a reason.
    let k = LinuxKernel::locate(
        &img,
        &session(),
        &Hints {
            dtb: Some(0x40_0000),
            shift: Some(0),
            ..Hints::default()
        },
    )
    .unwrap();
    assert!(k.notes().iter().any(|n| n.contains("used as given")));
    assert!(linux::pslist(&session(), &k).is_err());
    assert!(linux::lsmod(&session(), &k).is_err());
    assert!(!linux::check_kernel(&session(), &k).ok);
    assert!(t.elapsed() < Duration::from_secs(60));
}

#[test]
fn truncated_headers_of_every_format() {
    let mut lime = Vec::new();
    lime.extend_from_slice(&0x4C69_4D45u32.to_le_bytes());
    lime.extend_from_slice(&1u32.to_le_bytes());
    lime.extend_from_slice(&0u64.to_le_bytes());
    lime.extend_from_slice(&0xffff_ffffu64.to_le_bytes());
    lime.extend_from_slice(&[0u8; 8]);
    lime.extend_from_slice(&[0xaa; 100]);
    let mut kdump = b"KDUMP   ".to_vec();
    kdump.resize(600, 0);
    kdump[428..432].copy_from_slice(&4096u32.to_le_bytes());
    let mut elf = b"\x7fELF\x02\x01\x01".to_vec();
    elf.resize(64, 0);
    elf[16] = 4;
    elf[0x20] = 64;
    elf[0x36] = 56;
    elf[0x38] = 0xff; // 255 program headers that are not there
    for bytes in [lime, kdump, elf] {
        for cut in [1usize, 4, 8, 20, 63, 64, 100, bytes.len()] {
            let b = bytes[..cut.min(bytes.len())].to_vec();
            let s: Space = Arc::new(BufferSpace::new(b));
            if let Ok(img) = Image::from_file_space(s, "cut") {
                let _ = identify::scan(&img, &mut |_, _| {});
                let _ = LinuxKernel::locate(&img, &session(), &Hints::default());
            }
        }
    }
}
