//! `profc info` and `profc dt`: read any profile, ours, Rekall's or a
//! Volatility 3 ISF file, through the lazy runtime (only what is shown is
//! parsed).

use std::path::PathBuf;

use anyhow::bail;
use profile_compiler::inspect::{render_dt, render_info, similar_names};
use profile_runtime::LazyProfile;

use crate::cli::print;

/// Arguments of `info`.
#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// The profile: Rekall or Volatility 3 ISF, plain JSON, gzip or xz.
    pub profile: PathBuf,
}

/// Arguments of `dt`.
#[derive(Debug, clap::Args)]
pub struct DtArgs {
    /// The profile: Rekall or Volatility 3 ISF, plain JSON, gzip or xz.
    pub profile: PathBuf,
    /// The struct, union or enum to show.
    pub type_name: String,
    /// Expand embedded structs recursively, up to this depth.
    #[arg(long, default_value_t = 0)]
    pub depth: u32,
}

pub(crate) fn info(args: InfoArgs) -> anyhow::Result<()> {
    let p = LazyProfile::open(&args.profile)?;
    print(&render_info(&p)?)
}

pub(crate) fn dt(args: DtArgs) -> anyhow::Result<()> {
    let p = LazyProfile::open(&args.profile)?;
    match render_dt(&p, &args.type_name, args.depth)? {
        Some(text) => print(&text),
        None => {
            let similar = similar_names(&p, &args.type_name, 10);
            if similar.is_empty() {
                bail!(
                    "{}: no type named {:?}",
                    args.profile.display(),
                    args.type_name
                )
            }
            bail!(
                "{}: no type named {:?} (similar: {})",
                args.profile.display(),
                args.type_name,
                similar.join(", ")
            )
        }
    }
}
