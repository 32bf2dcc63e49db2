//! `profc info` and `profc dt`: read any profile, ours or Rekall's.

use std::path::PathBuf;

use anyhow::bail;
use profile_compiler::inspect::{render_dt, render_info};
use profile_runtime::Profile;

use crate::cli::print;

/// Arguments of `info`.
#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// The profile (gzipped or plain JSON).
    pub profile: PathBuf,
}

/// Arguments of `dt`.
#[derive(Debug, clap::Args)]
pub struct DtArgs {
    /// The profile (gzipped or plain JSON).
    pub profile: PathBuf,
    /// The struct, union or enum to show.
    pub type_name: String,
    /// Expand embedded structs recursively, up to this depth.
    #[arg(long, default_value_t = 0)]
    pub depth: u32,
}

pub(crate) fn info(args: InfoArgs) -> anyhow::Result<()> {
    let p = Profile::load(&args.profile)?;
    print(&render_info(&p))
}

pub(crate) fn dt(args: DtArgs) -> anyhow::Result<()> {
    let p = Profile::load(&args.profile)?;
    match render_dt(&p, &args.type_name, args.depth) {
        Some(text) => print(&text),
        None => {
            let needle = args.type_name.to_lowercase();
            let mut similar: Vec<&str> = p
                .structs
                .keys()
                .chain(p.enums.keys())
                .filter(|n| n.to_lowercase().contains(&needle))
                .map(String::as_str)
                .take(10)
                .collect();
            similar.dedup();
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
