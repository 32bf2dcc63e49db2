//! `profc diff A B`: what changed between two profiles (the comparison is
//! `profile_compiler::diff`).

use std::path::PathBuf;

use crate::cli::{load_any_profile, print};

/// Arguments of `diff`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The old profile (Rekall JSON, gzipped or plain, or Volatility 3 ISF).
    pub a: PathBuf,
    /// The new profile.
    pub b: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Leave symbols out of the comparison.
    #[arg(long)]
    pub no_symbols: bool,
    /// Exit with status 1 when the profiles differ (like `diff`).
    #[arg(long)]
    pub exit_code: bool,
    /// Most items listed per category in the text report (all in JSON).
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

pub(crate) fn run(args: Args) -> anyhow::Result<bool> {
    let a = load_any_profile(&args.a)?.profile;
    let b = load_any_profile(&args.b)?.profile;
    let d = profile_compiler::diff(&a, &b, !args.no_symbols);
    if args.json {
        print(&format!("{}\n", serde_json::to_string_pretty(&d)?))?;
    } else {
        print(&d.render(args.limit))?;
    }
    Ok(!d.is_empty() && args.exit_code)
}
