//! The `data.tar` of a Debian package: a streaming walk over its entries.
//!
//! Headers are parsed by the `tar` crate in its raw mode; GNU long names
//! (`L`, `K`) and PAX extended headers (`x`) are applied here, each read
//! under a cap ([`MAX_LONG_NAME`], [`MAX_PAX`]) so that a hostile header
//! cannot make memory grow with its declared size.

use std::io::Read;

use super::{Entry, EntryKind, Flow, Visit, WalkError};

/// Largest GNU long name or long link target read: 64 KiB.
pub const MAX_LONG_NAME: u64 = 64 << 10;
/// Largest PAX extended header read: 1 MiB.
pub const MAX_PAX: u64 = 1 << 20;

fn read_capped(
    r: &mut dyn Read,
    size: u64,
    cap: u64,
    what: &str,
    at: u64,
) -> Result<Vec<u8>, WalkError> {
    if size > cap {
        return Err(WalkError::bad(
            "tar",
            at,
            format!("{what} of {size} bytes is over the cap of {cap}"),
        ));
    }
    let mut v = Vec::with_capacity(size as usize);
    r.take(size)
        .read_to_end(&mut v)
        .map_err(|e| WalkError::io("tar", at, e))?;
    if (v.len() as u64) < size {
        return Err(WalkError::bad("tar", at, format!("{what} is truncated")));
    }
    Ok(v)
}

fn trim_nul(mut v: Vec<u8>) -> Vec<u8> {
    while v.last() == Some(&0) {
        v.pop();
    }
    v
}

/// Walks the tar stream `r`, calling `visit` for each entry with a reader
/// of its data, until the end of the archive ([`Flow::Continue`]) or until
/// `visit` says stop ([`Flow::Stop`]).
pub fn walk(r: &mut dyn Read, visit: &mut Visit<'_>) -> Result<Flow, WalkError> {
    let mut archive = tar::Archive::new(r);
    let entries = archive
        .entries()
        .map_err(|e| WalkError::io("tar", 0, e))?
        .raw(true);
    let mut long_name: Option<Vec<u8>> = None;
    let mut long_link: Option<Vec<u8>> = None;
    let mut pax_path: Option<Vec<u8>> = None;
    let mut pax_link: Option<Vec<u8>> = None;
    let mut pax_size: Option<u64> = None;
    let mut last = 0u64;
    for entry in entries {
        let mut entry = entry.map_err(|e| WalkError::io("tar", last, e))?;
        let at = entry.raw_header_position();
        last = at;
        let header = entry.header();
        let kind = header.entry_type();
        let size = entry.size();
        if kind.is_gnu_longname() {
            long_name = Some(trim_nul(read_capped(
                &mut entry,
                size,
                MAX_LONG_NAME,
                "GNU long name",
                at,
            )?));
            continue;
        }
        if kind.is_gnu_longlink() {
            long_link = Some(trim_nul(read_capped(
                &mut entry,
                size,
                MAX_LONG_NAME,
                "GNU long link",
                at,
            )?));
            continue;
        }
        if kind.is_pax_global_extensions() {
            continue;
        }
        if kind.is_pax_local_extensions() {
            let data = read_capped(&mut entry, size, MAX_PAX, "PAX header", at)?;
            for ext in tar::PaxExtensions::new(&data) {
                let ext = ext.map_err(|e| WalkError::io("tar", at, e))?;
                match ext.key_bytes() {
                    b"path" => pax_path = Some(ext.value_bytes().to_vec()),
                    b"linkpath" => pax_link = Some(ext.value_bytes().to_vec()),
                    b"size" => {
                        // The raw header's size must agree: the data that
                        // follows is walked by it.
                        let v = std::str::from_utf8(ext.value_bytes())
                            .ok()
                            .and_then(|s| s.parse::<u64>().ok());
                        let next_size =
                            v.ok_or_else(|| WalkError::bad("tar", at, "PAX size is not a number"))?;
                        // Checked against the next entry below.
                        pax_size = Some(next_size);
                    }
                    _ => {}
                }
            }
            continue;
        }
        if let Some(want) = pax_size.take() {
            if want != size {
                return Err(WalkError::bad(
                    "tar",
                    at,
                    format!(
                        "a PAX size of {want} bytes overrides the header's {size}: not supported"
                    ),
                ));
            }
        }
        let path_bytes = pax_path
            .take()
            .or_else(|| long_name.take())
            .unwrap_or_else(|| header.path_bytes().into_owned());
        let link_bytes = pax_link
            .take()
            .or_else(|| long_link.take())
            .or_else(|| header.link_name_bytes().map(|l| l.into_owned()));
        let ekind = if kind.is_file() || kind.is_contiguous() {
            EntryKind::File
        } else if kind.is_dir() {
            EntryKind::Dir
        } else if kind.is_symlink() {
            EntryKind::Symlink
        } else if kind.is_hard_link() {
            EntryKind::HardLink
        } else {
            EntryKind::Other
        };
        let path = String::from_utf8_lossy(&path_bytes);
        let link = link_bytes.as_deref().map(String::from_utf8_lossy);
        let e = Entry {
            path: super::normalise(&path),
            size: if ekind == EntryKind::File { size } else { 0 },
            kind: ekind,
            link: link.as_deref(),
        };
        if visit(&e, &mut entry)? == Flow::Stop {
            return Ok(Flow::Stop);
        }
    }
    Ok(Flow::Continue)
}
