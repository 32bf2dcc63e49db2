//! Progress reports from long operations (downloads, scans), for the caller
//! to show: the library never draws anything itself.

/// Receives progress reports. Every method has an empty default, so an
/// implementation picks what it shows. Called from the working thread.
pub trait Progress: Send + Sync + std::fmt::Debug {
    /// Work on `what` starts; `total` is its size in bytes when known.
    fn start(&self, what: &str, total: Option<u64>) {
        let _ = (what, total);
    }
    /// `done` bytes of the current work are done.
    fn advance(&self, done: u64) {
        let _ = done;
    }
    /// The current work ended (successfully or not).
    fn finish(&self) {}
    /// Something worth telling while it goes on (a retry, a fallback).
    fn note(&self, message: &str) {
        let _ = message;
    }
}
