//! Progress bars on a terminal, for the libraries' progress reports.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

use profile_compiler::progress::Progress;

/// Draws one bar at a time on standard error when it is a terminal; prints
/// notes above it. Elsewhere only notes are printed.
#[derive(Debug, Default)]
pub struct Bar {
    bar: Mutex<Option<indicatif::ProgressBar>>,
}

impl Bar {
    /// A reporter for the libraries, or `None` when stderr is not a terminal
    /// and there is nothing to draw.
    pub fn new() -> Arc<Bar> {
        Arc::new(Bar::default())
    }
}

impl Progress for Bar {
    fn start(&self, what: &str, total: Option<u64>) {
        if !std::io::stderr().is_terminal() {
            return;
        }
        let bar = indicatif::ProgressBar::with_draw_target(
            total,
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_owned());
        if let Ok(mut b) = self.bar.lock() {
            *b = Some(bar);
        }
    }

    fn advance(&self, done: u64) {
        if let Ok(b) = self.bar.lock() {
            if let Some(b) = b.as_ref() {
                b.set_position(done);
            }
        }
    }

    fn finish(&self) {
        if let Ok(mut b) = self.bar.lock() {
            if let Some(b) = b.take() {
                b.finish_and_clear();
            }
        }
    }

    fn note(&self, message: &str) {
        match self.bar.lock().ok().as_deref().and_then(Option::as_ref) {
            Some(b) => b.println(format!("profc: {message}")),
            None => eprintln!("profc: {message}"),
        }
    }
}
