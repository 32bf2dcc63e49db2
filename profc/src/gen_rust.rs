//! `profc gen_rust`: typed Rust accessors from a profile (see
//! `docs/codegen.md`; the generator is the `profile-codegen` crate).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use profile_codegen::{generate, optional_from, Mode, Options};
use profile_runtime::WriteMode;

/// Arguments of `gen_rust`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The profile to generate from (Rekall JSON, gzipped or plain, or ISF).
    pub profile: PathBuf,
    /// Structs and unions to generate, comma-separated (the structs they
    /// embed are added); `*` or nothing: all.
    #[arg(long, value_delimiter = ',')]
    pub types: Vec<String>,
    /// `static`: offsets compiled in; `dynamic`: offsets loaded at run time
    /// from any profile of the same family.
    #[arg(long, default_value = "static")]
    pub mode: Mode,
    /// Where to write the Rust module (default: standard output).
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Replace the output file if it exists.
    #[arg(long)]
    pub overwrite: bool,
    /// Path of the runtime crate in the generated code.
    #[arg(long = "runtime-path", default_value = "::profile_runtime")]
    pub runtime_path: String,
    /// Members that may be absent in dynamic mode (`STRUCT.MEMBER`, comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "STRUCT.MEMBER")]
    pub optional: Vec<String>,
    /// Other names of a member (`STRUCT.MEMBER=OLD1/OLD2`), tried in order
    /// when the dynamic table is loaded; repeatable.
    #[arg(long, value_name = "STRUCT.MEMBER=NAMES")]
    pub alias: Vec<String>,
    /// Generate only these members of a struct (`STRUCT=M1/M2`); repeatable.
    #[arg(long, value_name = "STRUCT=MEMBERS")]
    pub members: Vec<String>,
    /// Other profiles of the family (dynamic mode): members one of them
    /// lacks become optional; repeatable.
    #[arg(long, value_name = "PROFILE")]
    pub family: Vec<PathBuf>,
}

fn split_member(s: &str) -> anyhow::Result<(String, String)> {
    match s.split_once('.') {
        Some((t, m)) if !t.is_empty() && !m.is_empty() => Ok((t.to_string(), m.to_string())),
        _ => bail!("{s:?}: expected STRUCT.MEMBER"),
    }
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    if let Some(out) = &args.out {
        let inputs: Vec<&std::path::Path> = std::iter::once(args.profile.as_path())
            .chain(args.family.iter().map(PathBuf::as_path))
            .collect();
        crate::cli::check_output(out, args.overwrite, &inputs)?;
    }
    let profile = crate::cli::load_any_profile(&args.profile)?.profile;
    let mut opts = Options {
        types: args.types.clone(),
        mode: args.mode,
        runtime_path: args.runtime_path.clone(),
        source_name: args
            .profile
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        ..Options::default()
    };
    for o in &args.optional {
        opts.optional.insert(split_member(o)?);
    }
    for a in &args.alias {
        let (member, names) = a
            .split_once('=')
            .with_context(|| format!("--alias {a:?}: expected STRUCT.MEMBER=NAME1/NAME2"))?;
        opts.aliases
            .entry(split_member(member)?)
            .or_default()
            .extend(names.split('/').filter(|n| !n.is_empty()).map(String::from));
    }
    for m in &args.members {
        let (ty, names) = m
            .split_once('=')
            .with_context(|| format!("--members {m:?}: expected STRUCT=MEMBER1/MEMBER2"))?;
        opts.members
            .entry(ty.to_string())
            .or_default()
            .extend(names.split('/').filter(|n| !n.is_empty()).map(String::from));
    }
    if !args.family.is_empty() {
        let others = args
            .family
            .iter()
            .map(|p| crate::cli::load_any_profile(p).map(|c| c.profile))
            .collect::<anyhow::Result<Vec<_>>>()?;
        optional_from(&profile, &others, &mut opts);
    }
    let code = generate(&profile, &opts)?;
    match &args.out {
        Some(out) => {
            let mode = if args.overwrite {
                WriteMode::Overwrite
            } else {
                WriteMode::CreateNew
            };
            profile_runtime::write_atomic(out, mode, |w| w.write_all(code.as_bytes()))?;
        }
        None => std::io::stdout().write_all(code.as_bytes())?,
    }
    Ok(())
}
