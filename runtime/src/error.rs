use std::path::PathBuf;

/// Errors of the profile model: reading, validating and writing profiles.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O error on a named file.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The bytes are not JSON (after gunzipping, if gzipped).
    #[error("{context}: not valid JSON: {source}")]
    Json {
        /// What was being read.
        context: String,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// The JSON is well formed but is not a profile of the expected shape.
    #[error("{context}: {message}")]
    Format {
        /// Where in the profile (section, struct, field).
        context: String,
        /// What is wrong.
        message: String,
    },
    /// A kernel could not be found in a memory image, or not read through
    /// the profile given.
    #[error("{image}: {message}")]
    Kernel {
        /// The image.
        image: String,
        /// What failed, with the reasons of each attempt.
        message: String,
    },
    /// The output exists and overwriting was not asked for.
    #[error("{0}: already exists (use --overwrite to replace it)")]
    Exists(PathBuf),
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn format(context: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Format {
            context: context.into(),
            message: message.into(),
        }
    }
}
