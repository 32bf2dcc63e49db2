//! Extracting the single PDB of a symbol server's compressed `NAM_` file
//! (a Microsoft cabinet, MSZIP or LZX).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::{Error, Result};

/// Whether `head` starts like a cabinet (`MSCF`).
pub fn is_cab(head: &[u8]) -> bool {
    head.starts_with(b"MSCF")
}

/// Whether a file name stored in a cabinet is a plain file name: no
/// directory part, no `..`, no drive, no control characters.
pub fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', ':'])
        && !name.chars().any(char::is_control)
}

/// Extracts the file of `cab` that is `wanted` (case-insensitive; a
/// cabinet holding a single file may name it differently) into `out`,
/// refusing more than `max` bytes. Returns the number of bytes written.
pub fn extract(cab: &mut File, wanted: &str, out: &mut File, max: u64) -> Result<u64> {
    cab.seek(SeekFrom::Start(0))
        .map_err(|e| bad(e.to_string()))?;
    // The cab crate checks its input, but a corrupt cabinet must never take
    // the process down: a panic inside it becomes an error.
    super::contain("CAB", || extract_inner(cab, wanted, out, max))
}

/// A CAB error (the message says what; the caller names the file).
fn bad(message: impl Into<String>) -> Error {
    Error::malformed("CAB", None, message)
}

fn extract_inner(cab: &mut File, wanted: &str, out: &mut File, max: u64) -> Result<u64> {
    let mut cabinet = cab::Cabinet::new(cab).map_err(|e| bad(format!("corrupt CAB: {e}")))?;
    let mut names = Vec::new();
    for folder in cabinet.folder_entries() {
        for file in folder.file_entries() {
            names.push((file.name().to_owned(), u64::from(file.uncompressed_size())));
        }
    }
    if let Some((unsafe_name, _)) = names.iter().find(|(n, _)| !is_safe_name(n)) {
        return Err(bad(format!(
            "CAB holds an unsafe file name {unsafe_name:?}"
        )));
    }
    let (name, size) = match names.as_slice() {
        [] => return Err(bad("CAB holds no file")),
        [one] => one.clone(),
        many => many
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(wanted))
            .cloned()
            .ok_or_else(|| {
                bad(format!(
                    "CAB holds {} files, none named {wanted}",
                    many.len()
                ))
            })?,
    };
    if size > max {
        return Err(bad(format!(
            "CAB member {name} is {size} bytes, over the size cap of {max}"
        )));
    }
    let reader = cabinet
        .read_file(&name)
        .map_err(|e| bad(format!("corrupt CAB: {e}")))?;
    let mut limited = reader.take(max.saturating_add(1));
    let written = copy(&mut limited, out).map_err(|e| bad(format!("corrupt CAB: {e}")))?;
    if written > max {
        return Err(bad(format!(
            "CAB member {name} is over the size cap of {max} bytes"
        )));
    }
    if written != size {
        return Err(bad(format!(
            "corrupt CAB: member {name} gave {written} bytes, header says {size}"
        )));
    }
    Ok(written)
}

fn copy(r: &mut impl Read, w: &mut File) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0u64;
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            return Ok(n);
        }
        w.write_all(&buf[..k])?;
        n += k as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_safe_name("ntkrnlmp.pdb"));
        assert!(!is_safe_name("../x.pdb"));
        assert!(!is_safe_name("a\\b.pdb"));
        assert!(!is_safe_name("C:x.pdb"));
        assert!(!is_safe_name(".."));
        assert!(!is_safe_name(""));
    }
}
