//! `profile-codegen`: typed Rust accessors generated from Rekall profiles.
//!
//! [`generate`] turns chosen structs and unions of a [`Profile`] into Rust
//! source (built with `quote`, formatted with `prettyplease`): one view type
//! per struct, one method per member returning its Rust type, Rust enums
//! that keep unknown values, typed pointers and arrays. Reads go through
//! `profile_runtime::typed` over any `AddressSpace`.
//!
//! Two modes ([`Mode`]): *static* compiles the generating profile's offsets
//! in as constants; *dynamic* keeps the same API but reads offsets from a
//! `Layout` filled once by `Layout::load(&session)` from any profile of the
//! family (missing required members are one error listing them all).
//!
//! [`Builder`] is the `build.rs` entry point (prost-build style):
//!
//! ```no_run
//! // build.rs
//! profile_codegen::Builder::new()
//!     .types(["task_struct", "list_head"])
//!     .mode(profile_codegen::Mode::Dynamic)
//!     .compile(&["profiles/linux.json"])
//!     .unwrap();
//! // src/lib.rs: mod kernel { include!(concat!(env!("OUT_DIR"), "/profile_types.rs")); }
//! ```
//!
//! This crate depends only on the runtime and the code-generation crates,
//! not on the compiler, so a downstream build script stays light.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use proc_macro2::{Ident, Literal, Span, TokenStream};
use profile_runtime::{DataModel, Descriptor, Native, NativeKind, Profile, StructDef};
use quote::{format_ident, quote};

/// Deepest type nesting followed (pointer to array of pointer ...).
const MAX_DEPTH: usize = 32;

/// How offsets are bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Offsets and sizes of the generating profile compiled in as constants.
    #[default]
    Static,
    /// Offsets read once at load time from any profile of the same family.
    Dynamic,
}

impl std::str::FromStr for Mode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "static" => Ok(Mode::Static),
            "dynamic" => Ok(Mode::Dynamic),
            _ => Err(Error(format!("unknown mode {s:?} (static or dynamic)"))),
        }
    }
}

/// A generation error (one line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options {
    /// Struct names to generate (structs they embed by value are added);
    /// empty or `["*"]`: every struct of the profile.
    pub types: Vec<String>,
    /// Static or dynamic offsets.
    pub mode: Mode,
    /// Path of the runtime crate in generated code (`::profile_runtime`).
    pub runtime_path: String,
    /// `(struct, member)` pairs that may be absent (dynamic mode: `Option`).
    pub optional: BTreeSet<(String, String)>,
    /// `(struct, member)` -> other names the member has in other profiles.
    pub aliases: BTreeMap<(String, String), Vec<String>>,
    /// Struct -> the only members to generate for it (absent: all). In
    /// dynamic mode only these are looked up when the table is loaded.
    pub members: BTreeMap<String, BTreeSet<String>>,
    /// Name of the profile, for the header (a file name, not a path, so the
    /// output does not depend on where it was generated).
    pub source_name: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            types: Vec::new(),
            mode: Mode::Static,
            runtime_path: "::profile_runtime".into(),
            optional: BTreeSet::new(),
            aliases: BTreeMap::new(),
            members: BTreeMap::new(),
            source_name: String::new(),
        }
    }
}

/// A member's resolved type.
#[derive(Debug, Clone)]
enum Ty {
    Int { size: u8, signed: bool },
    Float(u8),
    Bool,
    Struct(String),
    Ptr(Box<Ty>),
    Array(Box<Ty>, u64),
    Opaque,
}

struct Gen<'p> {
    profile: &'p Profile,
    model: DataModel,
    opts: &'p Options,
    rt: TokenStream,
    /// Selected struct name -> Rust identifier.
    types: BTreeMap<String, String>,
    /// Used enum name -> Rust identifier.
    enums: BTreeMap<String, String>,
}

/// Makes `name` a valid identifier: characters other than ASCII letters,
/// digits and `_` become `_`, a leading digit gets a `_` prefix, `_` alone
/// and the keywords that cannot be raw (`self`, `Self`, `super`, `crate`)
/// get a `_` suffix; other keywords become raw identifiers (`r#type`).
pub fn sanitize(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    if matches!(s.as_str(), "_" | "self" | "Self" | "super" | "crate") {
        s.push('_');
    }
    s
}

fn is_keyword(s: &str) -> bool {
    matches!(
        s,
        "as" | "break"
            | "const"
            | "continue"
            | "else"
            | "enum"
            | "extern"
            | "false"
            | "fn"
            | "for"
            | "if"
            | "impl"
            | "in"
            | "let"
            | "loop"
            | "match"
            | "mod"
            | "move"
            | "mut"
            | "pub"
            | "ref"
            | "return"
            | "static"
            | "struct"
            | "trait"
            | "true"
            | "type"
            | "unsafe"
            | "use"
            | "where"
            | "while"
            | "async"
            | "await"
            | "dyn"
            | "abstract"
            | "become"
            | "box"
            | "do"
            | "final"
            | "macro"
            | "override"
            | "priv"
            | "typeof"
            | "unsized"
            | "virtual"
            | "yield"
            | "try"
            | "gen"
    )
}

fn ident(s: &str) -> Ident {
    if is_keyword(s) {
        Ident::new_raw(s, Span::call_site())
    } else {
        Ident::new(s, Span::call_site())
    }
}

/// Gives each name a unique identifier: sanitized, then `_` appended while
/// it is taken (in `used`, or by an earlier name in iteration order).
fn assign<'n>(
    names: impl IntoIterator<Item = &'n str>,
    used: &mut BTreeSet<String>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for n in names {
        let mut id = sanitize(n);
        while used.contains(&id) {
            id.push('_');
        }
        used.insert(id.clone());
        out.insert(n.to_string(), id);
    }
    out
}

fn lit_u64(v: u64) -> Literal {
    Literal::u64_suffixed(v)
}

fn doc(s: String) -> TokenStream {
    let s = format!(" {s}");
    quote!(#[doc = #s])
}

impl<'p> Gen<'p> {
    fn resolve(&self, d: &Descriptor, depth: usize) -> Ty {
        if depth > MAX_DEPTH {
            return Ty::Opaque;
        }
        match d {
            Descriptor::Named(n) => self.named(n),
            Descriptor::Pointer { target } => Ty::Ptr(Box::new(self.resolve(target, depth + 1))),
            Descriptor::Array { count, target } => {
                Ty::Array(Box::new(self.resolve(target, depth + 1)), *count)
            }
            Descriptor::String { length } => Ty::Array(
                Box::new(Ty::Int {
                    size: 1,
                    signed: false,
                }),
                *length,
            ),
            Descriptor::UnicodeString { length } => Ty::Array(
                Box::new(Ty::Int {
                    size: 2,
                    signed: false,
                }),
                length / 2,
            ),
            Descriptor::Enumeration { target, .. } => self.resolve(target, depth + 1),
            Descriptor::BitField {
                target, end_bit, ..
            } => match target {
                Some(t) => self.resolve(t, depth + 1),
                None => Ty::Int {
                    size: unit_for(*end_bit),
                    signed: false,
                },
            },
            Descriptor::Void | Descriptor::Function | Descriptor::Other { .. } => Ty::Opaque,
        }
    }

    fn named(&self, n: &str) -> Ty {
        match n {
            "Void" | "void" | "Function" | "String" | "UnicodeString" => return Ty::Opaque,
            "UnixTimeStamp" => {
                return Ty::Int {
                    size: 4,
                    signed: false,
                }
            }
            "WinFileTime" => {
                return Ty::Int {
                    size: 8,
                    signed: false,
                }
            }
            _ => {}
        }
        if self.profile.structs.contains_key(n) {
            return Ty::Struct(n.to_string());
        }
        match Native::from_name(n, &self.model) {
            Some(Native {
                kind: NativeKind::Bool,
                ..
            }) => Ty::Bool,
            Some(Native {
                kind: NativeKind::Float,
                size,
            }) => Ty::Float(size),
            Some(Native { kind, size }) if matches!(size, 1 | 2 | 4 | 8 | 16) => Ty::Int {
                size,
                signed: kind == NativeKind::Signed,
            },
            _ => Ty::Opaque,
        }
    }

    /// The element type as Rust tokens (for `Ptr`, `Array`, `Load`).
    fn ty_tokens(&self, t: &Ty) -> TokenStream {
        let rt = &self.rt;
        match t {
            Ty::Int { size, signed } => {
                let id = format_ident!(
                    "{}{}",
                    if *signed { "i" } else { "u" },
                    u32::from(*size) * 8
                );
                quote!(#id)
            }
            Ty::Float(4) => quote!(f32),
            Ty::Float(8) => quote!(f64),
            Ty::Float(n) => {
                let n = Literal::usize_unsuffixed(usize::from(*n));
                quote!(#rt::typed::LongDouble<#n>)
            }
            Ty::Bool => quote!(bool),
            Ty::Struct(s) => match self.types.get(s) {
                Some(id) => {
                    let id = ident(id);
                    quote!(#id<'a>)
                }
                None => quote!(#rt::typed::Opaque<'a, Layout>),
            },
            Ty::Ptr(inner) => {
                let inner = self.ty_tokens(inner);
                quote!(#rt::typed::Ptr<'a, Layout, #inner>)
            }
            Ty::Array(inner, n) => {
                let inner = self.ty_tokens(inner);
                let n = Literal::u64_unsuffixed(*n);
                quote!(#rt::typed::Array<'a, Layout, #inner, #n>)
            }
            Ty::Opaque => quote!(#rt::typed::Opaque<'a, Layout>),
        }
    }

    fn is_view(&self, t: &Ty) -> bool {
        matches!(t, Ty::Struct(_) | Ty::Array(..) | Ty::Opaque)
    }

    fn enum_of<'d>(&self, d: &'d Descriptor) -> Option<&'d str> {
        match d {
            Descriptor::Enumeration {
                enum_name: Some(n), ..
            } if self.enums.contains_key(n) => Some(n),
            _ => None,
        }
    }
}

/// The bit field of a member: a `BitField`, or an enumeration stored in one.
fn bitfield_of(d: &Descriptor) -> Option<(u32, u32, Option<&Descriptor>)> {
    match d {
        Descriptor::BitField {
            start_bit,
            end_bit,
            target,
        } => Some((*start_bit, *end_bit, target.as_deref())),
        Descriptor::Enumeration { target, .. } => bitfield_of(target),
        _ => None,
    }
}

fn unit_for(end_bit: u32) -> u8 {
    match end_bit {
        0..=8 => 1,
        9..=16 => 2,
        17..=32 => 4,
        _ => 8,
    }
}

/// Structs embedded by value (members, array elements) in `d`.
fn embedded(profile: &Profile, d: &Descriptor, out: &mut Vec<String>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match d {
        Descriptor::Named(n) if profile.structs.contains_key(n) => out.push(n.clone()),
        Descriptor::Array { target, .. } => embedded(profile, target, out, depth + 1),
        _ => {}
    }
}

fn keep_member(opts: &Options, ty: &str, member: &str) -> bool {
    opts.members.get(ty).is_none_or(|m| m.contains(member))
}

/// Generates the Rust source for `opts.types` of `profile`.
pub fn generate(profile: &Profile, opts: &Options) -> Result<String, Error> {
    let file = generate_tokens(profile, opts)?;
    let parsed: syn::File = syn::parse2(file).map_err(|e| {
        Error(format!(
            "{}: generated code does not parse: {e}",
            opts.source_name
        ))
    })?;
    let mut out = format!(
        "// @generated by profc gen_rust (profile-codegen) from {} ({} mode). Do not edit.\n",
        opts.source_name,
        if opts.mode == Mode::Static {
            "static"
        } else {
            "dynamic"
        }
    );
    out.push_str(&prettyplease::unparse(&parsed));
    Ok(out)
}

fn generate_tokens(profile: &Profile, opts: &Options) -> Result<TokenStream, Error> {
    let meta: serde_json::Map<String, serde_json::Value> = profile
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let hint = profile
        .structs
        .get("_LIST_ENTRY")
        .or_else(|| profile.structs.get("list_head"))
        .and_then(|s| s.size)
        .and_then(|s| u8::try_from(s / 2).ok());
    let model = DataModel::from_metadata(&meta, hint);
    let rt: TokenStream = opts
        .runtime_path
        .parse()
        .map_err(|_| Error(format!("invalid runtime path {:?}", opts.runtime_path)))?;

    // Selection: the chosen structs and, transitively, what they embed.
    let all = opts.types.is_empty() || opts.types.iter().any(|t| t == "*");
    let mut selected: BTreeSet<String> = BTreeSet::new();
    let mut todo: Vec<String> = if all {
        profile.structs.keys().cloned().collect()
    } else {
        let missing: Vec<&str> = opts
            .types
            .iter()
            .filter(|t| !profile.structs.contains_key(*t))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(Error(format!(
                "{}: no struct named {}",
                opts.source_name,
                missing.join(", ")
            )));
        }
        opts.types.clone()
    };
    while let Some(t) = todo.pop() {
        if !selected.insert(t.clone()) {
            continue;
        }
        if let Some(def) = profile.structs.get(&t) {
            let mut emb = Vec::new();
            for (n, f) in &def.fields {
                if keep_member(opts, &t, n) {
                    embedded(profile, &f.descriptor, &mut emb, 0);
                }
            }
            todo.extend(emb.into_iter().filter(|e| !selected.contains(e)));
        }
    }
    let mut used: BTreeSet<String> = ["Layout", "__private"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let types = assign(selected.iter().map(String::as_str), &mut used);

    let mut gen = Gen {
        profile,
        model,
        opts,
        rt,
        types,
        enums: BTreeMap::new(),
    };
    // Enums used by selected members, named after the structs.
    let mut enum_names = BTreeSet::new();
    for s in &selected {
        if let Some(def) = profile.structs.get(s) {
            for f in def.fields.values() {
                if let Descriptor::Enumeration {
                    enum_name: Some(n), ..
                } = &f.descriptor
                {
                    if profile.enums.contains_key(n) {
                        enum_names.insert(n.clone());
                    }
                }
            }
        }
    }
    gen.enums = assign(enum_names.iter().map(String::as_str), &mut used);

    let mut items = Vec::new();
    items.push(gen.layout_tokens(&selected));
    for (name, id) in &gen.types {
        if let Some(def) = profile.structs.get(name) {
            items.push(gen.struct_tokens(name, id, def));
        }
    }
    for (name, id) in &gen.enums {
        if let Some(choices) = profile.enums.get(name) {
            items.push(gen.enum_tokens(name, id, choices));
        }
    }
    if opts.mode == Mode::Dynamic {
        items.push(gen.private_tokens(&selected));
    }
    Ok(quote!(#(#items)*))
}

/// The lints generated items allow: profile names keep their C spelling.
fn allows() -> TokenStream {
    quote!(#[allow(non_camel_case_types, non_snake_case, non_upper_case_globals, dead_code, clippy::upper_case_acronyms, clippy::len_without_is_empty, clippy::should_implement_trait)])
}

/// One member, as generated.
struct MemberGen<'d> {
    name: &'d str,
    id: String,
    offset: u64,
    descriptor: &'d Descriptor,
}

impl Gen<'_> {
    fn members<'d>(&self, sname: &str, def: &'d StructDef) -> Vec<MemberGen<'d>> {
        let mut used = BTreeSet::new();
        let ids = assign(def.fields.keys().map(String::as_str), &mut used);
        let mut v: Vec<MemberGen<'d>> = def
            .fields
            .iter()
            .filter(|(n, _)| keep_member(self.opts, sname, n))
            .filter_map(|(n, f)| {
                Some(MemberGen {
                    name: n,
                    id: ids.get(n)?.clone(),
                    offset: f.offset?,
                    descriptor: &f.descriptor,
                })
            })
            .collect();
        v.sort_by(|a, b| (a.offset, a.name).cmp(&(b.offset, b.name)));
        v
    }

    fn optional(&self, ty: &str, m: &str) -> bool {
        self.opts.mode == Mode::Dynamic
            && self
                .opts
                .optional
                .contains(&(ty.to_string(), m.to_string()))
    }

    fn layout_tokens(&self, selected: &BTreeSet<String>) -> TokenStream {
        let rt = &self.rt;
        let allow = allows();
        let mut used: BTreeSet<String> = ["new", "load", "pointer_size", "default", "clone", "fmt"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let ctor_names = assign(self.types.values().map(String::as_str), &mut used);
        let ctors = self.types.iter().map(|(name, id)| {
            let m = ident(ctor_names.get(id).map(String::as_str).unwrap_or(id));
            let t = ident(id);
            let d = doc(format!("A `{name}` view at `addr` of `space` (reads nothing)."));
            quote! {
                #d
                #[inline]
                pub fn #m<'a>(&'a self, space: &'a dyn #rt::AddressSpace, addr: u64) -> #t<'a> {
                    <#t<'a> as #rt::typed::View<'a, Layout>>::at(#rt::typed::Ctx { space, layout: self }, addr)
                }
            }
        });
        let ptr = Literal::u8_suffixed(self.model.pointer_size);
        match self.opts.mode {
            Mode::Static => {
                let d = doc(format!(
                    "The layout of `{}` (static mode: offsets are constants). Views are made from it.",
                    self.opts.source_name
                ));
                quote! {
                    #d
                    #allow
                    #[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::marker::Copy, ::core::default::Default)]
                    pub struct Layout { _private: () }
                    #allow
                    impl Layout {
                        /// The layout (all offsets are compiled in).
                        pub const fn new() -> Self { Layout { _private: () } }
                        #(#ctors)*
                    }
                    impl #rt::typed::LayoutInfo for Layout {
                        #[inline]
                        fn pointer_size(&self) -> u8 { #ptr }
                    }
                }
            }
            Mode::Dynamic => {
                let fields = selected.iter().filter_map(|s| {
                    let id = self.types.get(s)?;
                    let f = format_ident!("t_{}", id);
                    let t = ident(id);
                    Some(quote!(#f: __private::#t,))
                });
                let loads = selected.iter().filter_map(|s| {
                    let id = self.types.get(s)?;
                    let f = format_ident!("t_{}", id);
                    let t = ident(id);
                    Some(quote!(#f: __private::#t::load(&mut loader),))
                });
                let d = doc(format!(
                    "Member offsets read from a profile of the family of `{}` (dynamic mode). Views are made from it.",
                    self.opts.source_name
                ));
                quote! {
                    #d
                    #allow
                    #[derive(::core::fmt::Debug, ::core::clone::Clone)]
                    pub struct Layout { pointer_size: u8, #(#fields)* }
                    #allow
                    impl Layout {
                        /// Reads every offset from `session`'s profile once. A
                        /// required member missing fails with one error listing
                        /// all missing members.
                        pub fn load(session: &#rt::Session) -> ::core::result::Result<Layout, #rt::typed::LoadError> {
                            let mut loader = #rt::typed::Loader::new(session);
                            let layout = Layout { pointer_size: loader.pointer_size(), #(#loads)* };
                            loader.finish().map(|()| layout)
                        }
                        #(#ctors)*
                    }
                    impl #rt::typed::LayoutInfo for Layout {
                        #[inline]
                        fn pointer_size(&self) -> u8 { self.pointer_size }
                    }
                }
            }
        }
    }

    fn private_tokens(&self, selected: &BTreeSet<String>) -> TokenStream {
        let rt = &self.rt;
        let allow = allows();
        let structs = selected.iter().filter_map(|s| {
            let id = self.types.get(s)?;
            let def = self.profile.structs.get(s)?;
            let t = ident(id);
            let members = self.members(s, def);
            let fields = members.iter().map(|m| {
                let f = format_ident!("m_{}", m.id);
                let base = if bitfield_of(m.descriptor).is_some() {
                    quote!(#rt::typed::BitPos)
                } else {
                    quote!(u64)
                };
                if self.optional(s, m.name) {
                    quote!(pub #f: ::core::option::Option<#base>,)
                } else {
                    quote!(pub #f: #base,)
                }
            });
            let loads = members.iter().map(|m| {
                let f = format_ident!("m_{}", m.id);
                let mut names = vec![m.name.to_string()];
                if let Some(a) = self.opts.aliases.get(&(s.clone(), m.name.to_string())) {
                    names.extend(a.iter().cloned());
                }
                let opt = self.optional(s, m.name);
                let req = !opt;
                let call = if let Some((_, end_bit, target)) = bitfield_of(m.descriptor) {
                    let unit = match target.map(|t| self.resolve(t, 0)) {
                        Some(Ty::Int { size, .. }) => size.min(8),
                        _ => unit_for(end_bit),
                    };
                    quote!(loader.bits(#s, &[#(#names),*], #req, #unit))
                } else {
                    let kind = match self.resolve(m.descriptor, 0) {
                        Ty::Int { size, .. } | Ty::Float(size) => {
                            let n = Literal::u8_suffixed(size);
                            quote!(#rt::typed::Kind::Scalar(#n))
                        }
                        Ty::Bool => quote!(#rt::typed::Kind::Scalar(1u8)),
                        Ty::Ptr(_) => quote!(#rt::typed::Kind::Pointer),
                        _ => quote!(#rt::typed::Kind::Any),
                    };
                    quote!(loader.offset_as(#s, &[#(#names),*], #req, #kind))
                };
                if opt {
                    quote!(#f: #call,)
                } else {
                    quote!(#f: #call.unwrap_or_default(),)
                }
            });
            Some(quote! {
                #[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::default::Default)]
                pub struct #t { pub size: u64, #(#fields)* }
                impl #t {
                    pub fn load(loader: &mut #rt::typed::Loader<'_>) -> Self {
                        #t { size: loader.size(#s), #(#loads)* }
                    }
                }
            })
        });
        quote! {
            /// Implementation details of the generated code (the offsets table).
            #[doc(hidden)]
            #allow
            pub mod __private {
                #(#structs)*
            }
        }
    }

    fn struct_tokens(&self, name: &str, id: &str, def: &StructDef) -> TokenStream {
        let rt = &self.rt;
        let allow = allows();
        let t = ident(id);
        let tfield = format_ident!("t_{}", id);
        let size = def.size.unwrap_or(0);
        let size_expr = match self.opts.mode {
            Mode::Static => {
                let l = lit_u64(size);
                quote!(#l)
            }
            Mode::Dynamic => quote!(ctx.layout.#tfield.size),
        };
        let d = doc(format!(
            "`{name}` (size {size} in `{}`): a view of memory; each method reads one member.",
            self.opts.source_name
        ));
        let methods = self
            .members(name, def)
            .into_iter()
            .map(|m| self.member_tokens(name, &tfield, &m));
        quote! {
            #d
            #allow
            #[derive(::core::clone::Clone, ::core::marker::Copy, ::core::fmt::Debug)]
            pub struct #t<'a> { ctx: #rt::typed::Ctx<'a, Layout>, addr: u64 }
            impl<'a> #rt::typed::View<'a, Layout> for #t<'a> {
                #[inline]
                fn at(ctx: #rt::typed::Ctx<'a, Layout>, addr: u64) -> Self { #t { ctx, addr } }
                #[inline]
                fn address(&self) -> u64 { self.addr }
                #[inline]
                fn ctx(&self) -> #rt::typed::Ctx<'a, Layout> { self.ctx }
            }
            impl<'a> #rt::typed::Load<'a, Layout> for #t<'a> {
                type Out = Self;
                #[inline]
                fn load(ctx: #rt::typed::Ctx<'a, Layout>, addr: u64) -> ::core::option::Option<Self> {
                    ::core::option::Option::Some(#t { ctx, addr })
                }
                #[inline]
                fn size(ctx: #rt::typed::Ctx<'a, Layout>) -> u64 { let _ = ctx; #size_expr }
            }
            #allow
            impl<'a> #t<'a> {
                #(#methods)*
            }
        }
    }

    fn member_tokens(&self, sname: &str, tfield: &Ident, m: &MemberGen<'_>) -> TokenStream {
        let rt = &self.rt;
        let mid = ident(&m.id);
        let mfield = format_ident!("m_{}", m.id);
        let opt = self.optional(sname, m.name);
        let dynamic = self.opts.mode == Mode::Dynamic;
        let ty = self.resolve(m.descriptor, 0);
        let d = doc(format!(
            "`{}`: `{}` at offset {} in `{}`{}.",
            m.name,
            doc_type(m.descriptor),
            m.offset,
            self.opts.source_name,
            if opt {
                " (optional: `None` when the loaded profile lacks it)"
            } else {
                ""
            }
        ));
        let o = quote!(::core::option::Option);

        if let Some((start_bit, end_bit, target)) = bitfield_of(m.descriptor) {
            let bits = end_bit.saturating_sub(start_bit);
            let out = format_ident!(
                "u{}",
                match bits {
                    0..=8 => 8u32,
                    9..=16 => 16,
                    17..=32 => 32,
                    _ => 64,
                }
            );
            let unit = match target.map(|t| self.resolve(t, 0)) {
                Some(Ty::Int { size, .. }) => size.min(8),
                _ => unit_for(end_bit),
            };
            let (cast, out) = match self.enum_of(m.descriptor) {
                Some(en) => {
                    let eid = ident(self.enums.get(en).map(String::as_str).unwrap_or(en));
                    (quote!(.map(|v| #eid::from_raw(v as i64))), quote!(#eid))
                }
                None if bits > 32 => (quote!(), quote!(#out)),
                None => (quote!(.map(|v| v as #out)), quote!(#out)),
            };
            let body = if dynamic {
                let get = if opt {
                    quote!(let p = self.ctx.layout.#tfield.#mfield?;)
                } else {
                    quote!(let p = self.ctx.layout.#tfield.#mfield;)
                };
                quote! {
                    #get
                    #rt::typed::read_bits(self.ctx.space, self.addr.wrapping_add(p.offset), p.unit, p.shift, p.bits)#cast
                }
            } else {
                let off = lit_u64(m.offset);
                let unit = Literal::u8_suffixed(unit);
                let shift = Literal::u32_suffixed(start_bit);
                let bits = Literal::u32_suffixed(bits);
                quote!(#rt::typed::read_bits(self.ctx.space, self.addr.wrapping_add(#off), #unit, #shift, #bits)#cast)
            };
            return quote! {
                #d
                #[inline]
                pub fn #mid(&self) -> #o<#out> { #body }
            };
        }

        let (off_stmt, off) = if dynamic {
            if opt {
                (
                    quote!(let off = self.ctx.layout.#tfield.#mfield?;),
                    quote!(off),
                )
            } else {
                (
                    quote!(let off = self.ctx.layout.#tfield.#mfield;),
                    quote!(off),
                )
            }
        } else {
            let l = lit_u64(m.offset);
            (quote!(), quote!(#l))
        };
        let addr = quote!(self.addr.wrapping_add(#off));
        let tt = self.ty_tokens(&ty);

        if let Some(en) = self.enum_of(m.descriptor) {
            let eid = ident(self.enums.get(en).map(String::as_str).unwrap_or(en));
            let conv = match &ty {
                Ty::Int {
                    size: 8,
                    signed: true,
                } => quote!(v),
                Ty::Int { size: 1..=4, .. } => quote!(i64::from(v)),
                _ => quote!(v as i64),
            };
            let map = match &ty {
                Ty::Int {
                    size: 8,
                    signed: true,
                } => quote!(#eid::from_raw),
                _ => quote!(|v| #eid::from_raw(#conv)),
            };
            if matches!(ty, Ty::Int { .. }) {
                return quote! {
                    #d
                    #[inline]
                    pub fn #mid(&self) -> #o<#eid> {
                        #off_stmt
                        <#tt as #rt::typed::Load<'a, Layout>>::load(self.ctx, #addr).map(#map)
                    }
                };
            }
        }

        if self.is_view(&ty) {
            if opt {
                quote! {
                    #d
                    #[inline]
                    pub fn #mid(&self) -> #o<#tt> {
                        #off_stmt
                        #o::Some(<#tt as #rt::typed::View<'a, Layout>>::at(self.ctx, #addr))
                    }
                }
            } else {
                quote! {
                    #d
                    #[inline]
                    pub fn #mid(&self) -> #tt {
                        #off_stmt
                        <#tt as #rt::typed::View<'a, Layout>>::at(self.ctx, #addr)
                    }
                }
            }
        } else {
            quote! {
                #d
                #[inline]
                pub fn #mid(&self) -> #o<#tt> {
                    #off_stmt
                    <#tt as #rt::typed::Load<'a, Layout>>::load(self.ctx, #addr)
                }
            }
        }
    }

    fn enum_tokens(&self, name: &str, id: &str, choices: &BTreeMap<i128, String>) -> TokenStream {
        let allow = allows();
        let t = ident(id);
        let mut used: BTreeSet<String> =
            ["from_raw", "raw"].iter().map(|s| s.to_string()).collect();
        // One variant per name (a name given to several values keeps the
        // first); values outside i64 are left to the unknown variant.
        let mut seen = BTreeSet::new();
        let values: Vec<(i64, &String)> = choices
            .iter()
            .filter_map(|(v, n)| Some((i64::try_from(*v).ok()?, n)))
            .filter(|(_, n)| seen.insert(n.as_str()))
            .collect();
        let vids = assign(values.iter().map(|(_, n)| n.as_str()), &mut used);
        let mut unknown = "Unknown".to_string();
        while used.contains(&unknown) {
            unknown.push('_');
        }
        let unknown = ident(&unknown);
        let variants = values.iter().filter_map(|(v, n)| {
            let vid = ident(vids.get(n.as_str())?);
            let d = doc(format!("`{n}` = {v}"));
            Some(quote!(#d #vid,))
        });
        let from = values.iter().filter_map(|(v, n)| {
            let vid = ident(vids.get(n.as_str())?);
            let l = Literal::i64_unsuffixed(*v);
            Some(quote!(#l => #t::#vid,))
        });
        let to = values.iter().filter_map(|(v, n)| {
            let vid = ident(vids.get(n.as_str())?);
            let l = Literal::i64_unsuffixed(*v);
            Some(quote!(#t::#vid => #l,))
        });
        let d = doc(format!(
            "Enumeration `{name}` of `{}`; values it does not name are kept.",
            self.opts.source_name
        ));
        quote! {
            #d
            #allow
            #[derive(::core::clone::Clone, ::core::marker::Copy, ::core::fmt::Debug, ::core::cmp::PartialEq, ::core::cmp::Eq, ::core::hash::Hash)]
            pub enum #t {
                #(#variants)*
                /// A value the profile does not name.
                #unknown(i64),
            }
            #allow
            impl #t {
                /// The enumerator of `v` (the unknown variant for other values).
                pub const fn from_raw(v: i64) -> Self {
                    match v { #(#from)* _ => #t::#unknown(v) }
                }
                /// The integer value.
                pub const fn raw(self) -> i64 {
                    match self { #(#to)* #t::#unknown(v) => v }
                }
            }
        }
    }
}

fn doc_type(d: &Descriptor) -> String {
    match d {
        Descriptor::Named(n) => n.clone(),
        Descriptor::Pointer { target } => format!("{} *", doc_type(target)),
        Descriptor::Array { count, target } => format!("{}[{count}]", doc_type(target)),
        Descriptor::BitField {
            start_bit, end_bit, ..
        } => format!("bits {start_bit}..{end_bit}"),
        Descriptor::Enumeration {
            enum_name, target, ..
        } => {
            format!(
                "enum {} ({})",
                enum_name.as_deref().unwrap_or("inline"),
                doc_type(target)
            )
        }
        Descriptor::String { length } => format!("String[{length}]"),
        Descriptor::UnicodeString { length } => format!("UnicodeString[{length}]"),
        Descriptor::Void => "void".into(),
        Descriptor::Function => "function".into(),
        Descriptor::Other { class, .. } => class.clone(),
    }
    .replace('`', "'")
}

/// Marks as optional every member of the chosen structs of `first` that
/// one of `others` lacks (so one dynamic-mode module loads from them all).
pub fn optional_from(first: &Profile, others: &[Profile], opts: &mut Options) {
    for (sname, def) in &first.structs {
        for m in def.fields.keys() {
            let key = (sname.clone(), m.clone());
            let names: Vec<&str> = std::iter::once(m.as_str())
                .chain(
                    opts.aliases
                        .get(&key)
                        .into_iter()
                        .flatten()
                        .map(String::as_str),
                )
                .collect();
            let lacking = others.iter().any(|o| {
                o.structs
                    .get(sname)
                    .is_some_and(|d| !names.iter().any(|n| d.fields.contains_key(*n)))
            });
            if lacking {
                opts.optional.insert(key);
            }
        }
    }
}

/// Writes `content` to `path` unless the file already holds exactly it.
/// Returns true when it wrote.
pub fn write_if_changed(path: &Path, content: &str) -> Result<bool, Error> {
    if std::fs::read(path).is_ok_and(|old| old == content.as_bytes()) {
        return Ok(false);
    }
    profile_runtime::write_atomic(path, profile_runtime::WriteMode::Overwrite, |w| {
        w.write_all(content.as_bytes())
    })
    .map_err(|e| Error(format!("{}: {e}", path.display())))?;
    Ok(true)
}

/// The `build.rs` builder: one call generates the accessors into `OUT_DIR`.
#[derive(Debug, Clone, Default)]
pub struct Builder {
    opts: Options,
    out_dir: Option<PathBuf>,
    file_name: Option<String>,
}

impl Builder {
    /// A builder for static mode, every struct, runtime at `::profile_runtime`.
    pub fn new() -> Self {
        Builder::default()
    }
    /// The structs to generate (their embedded structs are added).
    pub fn types<I: IntoIterator<Item = S>, S: Into<String>>(mut self, types: I) -> Self {
        self.opts.types = types.into_iter().map(Into::into).collect();
        self
    }
    /// Static or dynamic offsets.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.opts.mode = mode;
        self
    }
    /// Path of the runtime crate as seen from the generated code
    /// (default `::profile_runtime`).
    pub fn runtime_path(mut self, path: impl Into<String>) -> Self {
        self.opts.runtime_path = path.into();
        self
    }
    /// Marks `struct_name.member` optional (dynamic mode: its method returns
    /// `None` when the loaded profile lacks it).
    pub fn optional(mut self, struct_name: &str, member: &str) -> Self {
        self.opts
            .optional
            .insert((struct_name.into(), member.into()));
        self
    }
    /// Other names of `struct_name.member` in other profiles (tried in order
    /// when the dynamic table is loaded).
    pub fn alias<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        struct_name: &str,
        member: &str,
        names: I,
    ) -> Self {
        self.opts
            .aliases
            .entry((struct_name.into(), member.into()))
            .or_default()
            .extend(names.into_iter().map(Into::into));
        self
    }
    /// Generates only `members` of `struct_name` (and, in dynamic mode,
    /// requires only them).
    pub fn members<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        struct_name: &str,
        members: I,
    ) -> Self {
        self.opts
            .members
            .entry(struct_name.into())
            .or_default()
            .extend(members.into_iter().map(Into::into));
        self
    }
    /// Output directory (default: `$OUT_DIR`).
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(dir.into());
        self
    }
    /// Output file name (default `profile_types.rs`).
    pub fn file_name(mut self, name: impl Into<String>) -> Self {
        self.file_name = Some(name.into());
        self
    }

    /// Generates from the first of `profiles` (members the others lack
    /// become optional in dynamic mode), writes the file when its content
    /// changed, prints `cargo:rerun-if-changed` for each profile, and
    /// returns the path written.
    pub fn compile<P: AsRef<Path>>(&self, profiles: &[P]) -> Result<PathBuf, Error> {
        let mut opts = self.opts.clone();
        let mut loaded = Vec::new();
        for p in profiles {
            let p = p.as_ref();
            println!("cargo:rerun-if-changed={}", p.display());
            loaded.push(Profile::load(p).map_err(|e| Error(format!("{}: {e}", p.display())))?);
        }
        let (first, others) = loaded
            .split_first()
            .ok_or_else(|| Error("no profile given".into()))?;
        if opts.source_name.is_empty() {
            opts.source_name = profiles
                .first()
                .and_then(|p| p.as_ref().file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
        }
        if opts.mode == Mode::Dynamic {
            optional_from(first, others, &mut opts);
        }
        let code = generate(first, &opts)?;
        let dir = match &self.out_dir {
            Some(d) => d.clone(),
            None => std::env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or_else(|| {
                    Error("OUT_DIR is not set (not in a build script?): use out_dir()".into())
                })?,
        };
        let path = dir.join(self.file_name.as_deref().unwrap_or("profile_types.rs"));
        write_if_changed(&path, &code)?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_is_predictable() {
        assert_eq!(sanitize("task_struct"), "task_struct");
        assert_eq!(sanitize("Box<int>"), "Box_int_");
        assert_eq!(sanitize("NAME@2"), "NAME_2");
        assert_eq!(sanitize("1st"), "_1st");
        assert_eq!(sanitize("self"), "self_");
        assert_eq!(sanitize("_"), "__");
        assert_eq!(sanitize(""), "__");
        assert_eq!(sanitize("type"), "type"); // made raw by `ident`
    }

    #[test]
    fn colliding_names_are_mapped_in_sorted_order() {
        let p = Profile::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/names.json"))
            .unwrap();
        let code = generate(&p, &Options::default()).unwrap();
        let flat: String = code.split_whitespace().collect();
        for want in [
            "pub struct Layout {",          // the generated layout
            "pub struct Layout_<'a>",       // the profile's `Layout`
            "pub struct __private_<'a>",    // the profile's `__private`
            "pub struct a_b<'a>",           // `a-b`
            "pub struct a_b_<'a>",          // `a_b`
            "pub enum Dup {",                // enums used by members only
            "pub struct Option<'a>",
            "pub fn r#type(&self)",
            "pub fn self_(&self)",
            "pub fn _1st(&self)",
            "pub fn a_b(&self)",            // `a b`
            "pub fn a_b_(&self)",           // `a_b`
            "pub fn __(&self)",             // `_`
            "pub fn r#fn(&self) -> ::core::option::Option<Dup>",
            "pub fn bits(&self) -> ::core::option::Option<u64>",
            "raw_,",
            "Unknown,",
            "Unknown_(i64)",
            "_9lives,",
            "::profile_runtime::typed::Array<'a, Layout, ::profile_runtime::typed::Array<'a, Layout, ::profile_runtime::typed::Ptr<'a, Layout, a_b<'a>>, 3,>, 2,>",
        ] {
            let w: String = want.split_whitespace().collect();
            assert!(flat.contains(&w), "missing {want:?} in:\n{code}");
        }
        // `A` (values 0 and 1) is one variant.
        assert_eq!(code.matches("    A,").count(), 1);
    }

    #[test]
    fn unknown_types_and_bad_runtime_paths_are_errors() {
        let p = Profile::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/names.json"))
            .unwrap();
        let opts = Options {
            types: vec!["nope".into(), "Layout".into()],
            source_name: "names.json".into(),
            ..Options::default()
        };
        assert_eq!(
            generate(&p, &opts).unwrap_err().to_string(),
            "names.json: no struct named nope"
        );
        let opts = Options {
            runtime_path: "::a::(".into(),
            ..Options::default()
        };
        assert!(generate(&p, &opts).is_err());
    }
}
