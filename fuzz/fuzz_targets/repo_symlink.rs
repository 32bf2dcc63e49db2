//! A repository whose files come from the input: symlink resolution
//! (chains, cycles, dangling and hostile targets) and profile loading.
//!
//! Input: files separated by `\n@@\n`; each is `NAME\nCONTENT` (NAME is
//! validated like any repository name; CONTENT is plain or gzip JSON).
#![no_main]
use libfuzzer_sys::fuzz_target;
use profile_repository::Repository;

fn split<'a>(data: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(i) = rest.windows(sep.len()).position(|w| w == sep) {
        out.push(&rest[..i]);
        rest = &rest[i + sep.len()..];
    }
    out.push(rest);
    out
}

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    let Ok(repo) = Repository::create(dir.path()) else {
        return;
    };
    let mut names = Vec::new();
    for chunk in split(data, b"\n@@\n").into_iter().take(16) {
        let Some(nl) = chunk.iter().position(|&b| b == b'\n') else {
            continue;
        };
        let Ok(name) = std::str::from_utf8(&chunk[..nl]) else {
            continue;
        };
        let Ok(path) = repo.file_of(name) else {
            continue;
        };
        if let Some(parent) = path.parent() {
            if std::fs::create_dir_all(parent).is_err() {
                continue;
            }
        }
        if std::fs::write(&path, &chunk[nl + 1..]).is_ok() {
            names.push(name.to_owned());
        }
    }
    for name in &names {
        let _ = repo.read(name);
        let _ = repo.load(name);
    }
    let _ = repo.list_files();
    let _ = repo.verify();
});
