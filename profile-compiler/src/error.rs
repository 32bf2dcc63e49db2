//! The compiler's error type: one enum for the whole crate.

use std::path::{Path, PathBuf};

/// Errors of the profile compiler. Every variant says which input (file,
/// PDB name, build id...) it concerns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O error on a named file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The input is malformed or unsupported.
    #[error("{}: {message}", path.display())]
    Input {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Bytes of some format are malformed (a parser of bytes that does not
    /// know their file; [`Error::in_file`] adds it).
    #[error("{}", malformed(format, *offset, message))]
    Malformed {
        /// The format (`PE image`, `CAB`, `PDB`, ...).
        format: &'static str,
        /// Where in the bytes, when known.
        offset: Option<u64>,
        /// What is wrong.
        message: String,
    },
    /// An error of the profile model (reading or writing a profile).
    #[error(transparent)]
    Profile(#[from] profile_runtime::Error),
    /// A symbol-server request names a PDB that cannot be a file name.
    #[error("{0:?} is not a usable PDB file name")]
    BadPdbName(String),
    /// No symbol source is configured.
    #[error("no symbol source configured (give a symbol server or a symbol path)")]
    NoSources,
    /// A network source was asked for, but the HTTP client is missing
    /// (built without the `fetch` feature) or could not be set up.
    #[error("HTTP client: {0}")]
    Http(String),
    /// Every source failed to provide a file.
    #[error(
        "cannot fetch {name} {key}: {}",
        crate::fetch::render_attempts(attempts)
    )]
    NotFound {
        /// The file asked for (a PDB name).
        name: String,
        /// Its key (`GUID_AGE`).
        key: String,
        /// What each source said.
        attempts: Vec<crate::fetch::Attempt>,
    },
}

fn malformed(format: &str, offset: Option<u64>, message: &str) -> String {
    match offset {
        Some(o) => format!("malformed {format} at offset {o:#x}: {message}"),
        None => format!("malformed {format}: {message}"),
    }
}

impl Error {
    /// An input error for `path`.
    pub fn input(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Input {
            path: path.into(),
            message: message.into(),
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Malformed bytes of `format`.
    pub fn malformed(
        format: &'static str,
        offset: Option<u64>,
        message: impl Into<String>,
    ) -> Self {
        Error::Malformed {
            format,
            offset,
            message: message.into(),
        }
    }

    /// The same error, naming `path` when it did not name a file yet.
    pub fn in_file(self, path: &Path) -> Self {
        match self {
            Error::Malformed { .. } => Error::input(path, self.to_string()),
            other => other,
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
