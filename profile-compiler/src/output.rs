//! Writing a [`Compiled`] profile: Rekall JSON or Volatility 3 ISF, plain or
//! compressed (by the file name), always through a temporary file renamed
//! into place.

use std::io::Write;
use std::path::Path;

use profile_runtime::WriteMode;

use crate::compile::Compiled;
use crate::emit::isf::{self, IsfOptions};
use crate::{Error, Result};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Rekall profile JSON (gzipped unless the name ends in `.json`).
    #[default]
    Rekall,
    /// Volatility 3 Intermediate Symbol Format (plain `.json`, `.json.gz` or
    /// `.json.xz`).
    Isf,
}

impl Compiled {
    /// Writes the profile to `path` in `format`; returns the warnings of
    /// the conversion (descriptors ISF has no equivalent for).
    pub fn save(&self, path: &Path, format: Format, mode: WriteMode) -> Result<Vec<String>> {
        match format {
            Format::Rekall => {
                self.profile.save(path, mode)?;
                Ok(Vec::new())
            }
            Format::Isf => {
                let options = self.isf_options()?;
                let mut warnings = Vec::new();
                isf::save_with(path, mode, &mut |w| {
                    warnings = isf::write_isf(&self.profile, &options, w)?;
                    Ok(())
                })?;
                Ok(warnings)
            }
        }
    }

    /// Writes the profile, uncompressed, to `out` (standard output).
    pub fn write_plain(&self, out: &mut dyn Write, format: Format) -> Result<Vec<String>> {
        let io = |e| Error::io("<output>", e);
        match format {
            Format::Rekall => {
                out.write_all(&self.profile.to_canonical_json())
                    .map_err(io)?;
                Ok(Vec::new())
            }
            Format::Isf => {
                let options = self.isf_options()?;
                isf::write_isf(&self.profile, &options, out).map_err(io)
            }
        }
    }

    /// The ISF document (the input files are hashed for its metadata).
    pub fn to_isf(&self) -> Result<isf::Isf> {
        Ok(isf::to_isf(&self.profile, &self.isf_options()?))
    }

    /// What the ISF writer needs beyond the profile (the input files are
    /// hashed for its metadata).
    fn isf_options(&self) -> Result<IsfOptions> {
        let mut sources = Vec::new();
        // Windows tables are identified by their PDB's GUID and age, not by
        // file hashes.
        let windows = self.profile.metadata_str("GUID_AGE").is_some();
        for source in self.sources.iter().filter(|_| !windows) {
            let mut name = source
                .path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            if let Some(part) = &source.part {
                name = format!("{name}:{part}");
            }
            let hash = match &source.sha256 {
                Some(h) => h.clone(),
                None => sha256_file(&source.path)?,
            };
            sources.push((source.kind.clone(), name, hash));
        }
        Ok(IsfOptions {
            unions: self.unions.clone(),
            sources,
            symbol_types: self.symbol_types.clone(),
            input_kind: Some(self.kind.name().to_owned()),
        })
    }
}

/// The sha256 of bytes, in lower-case hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The sha256 of a file, in lower-case hex, read in chunks.
pub(crate) fn sha256_file(path: &Path) -> Result<String> {
    use sha2::Digest as _;
    use std::io::Read as _;
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}
