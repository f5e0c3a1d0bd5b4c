//! The command line: subcommands, options, and the parsers of option values. The parsers are
//! shared with the REPL's `:commands`, so that a value means the same and fails with the same
//! message in both; their errors are plain text, which clap reports as usage errors (exit 2).

use clap::{Args, Parser, Subcommand, ValueEnum};
use jitfilter::DType;
use jitfilter::{Engine, Footprint, Limits, Mode, Options};
use std::ffi::OsString;
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  jitfilter apply 'max(w)' camera.png dilated.png
  jitfilter apply 'median(w)' -f disk:3 noisy.png clean.png
  jitfilter apply 'mean(w)' scans/*.png --out-dir smooth/ --suffix _mean
  jitfilter check 'let m = mean(w); (c - m) / std(w)'
  jitfilter bench 'max(w)' camera.png -f disk:5 --json

Exit status: 0 success, 1 runtime or file error, 2 usage or expression error.";

const APPLY_EXAMPLES: &str = "\
Examples:
  jitfilter apply 'max(w)' camera.png dilated.png
  jitfilter apply 'median(w)' -f disk:3 -m nearest noisy.png clean.png
  jitfilter apply 'std(w)' -f rect:7x3 camera.png std.tiff --dtype f32
  jitfilter apply 'sum(k * w)' -f gauss:2 camera.png blurred.png
  jitfilter apply 'if at(m) > 0 then median(w) else c' -i m=mask.png photo.png out.png
  jitfilter apply '(mean(w), std(w))' -f disk:5 camera.png mean_std.npy
  jitfilter apply -e sauvola.kf -p kappa=0.3 page.png binary.png
  jitfilter apply 'mean(w)' photos/*.jpg --out-dir smooth/ --suffix _mean

The output format follows OUTPUT's extension: .png, .tif/.tiff, .jpg/.jpeg or .npy.
PNG holds u8 and u16, JPEG u8; .tiff and .npy hold every type.
An expression that starts with '-' goes in parentheses, '(-max(w))', or after '--'.";

/// jitfilter: filter images and arrays with kernel expressions compiled to native code.
///
/// A kernel expression computes one output value per pixel from its window: `w` holds the
/// values under the footprint, `c` the centre value, and reductions like max(w), mean(w),
/// median(w) or sum(k * w) combine them. See docs/language.md for the language.
#[derive(Debug, Parser)]
#[command(name = "jitfilter", version, after_help = EXAMPLES, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Filter an image or array (or many, with --out-dir) with a kernel expression
    #[command(
        override_usage = "jitfilter apply [OPTIONS] <EXPR> <INPUT> <OUTPUT>\n       \
                          jitfilter apply [OPTIONS] <EXPR> <INPUT>... --out-dir <DIR>\n       \
                          jitfilter apply [OPTIONS] -e <PATH> <INPUT> <OUTPUT>",
        after_help = APPLY_EXAMPLES
    )]
    Apply(ApplyArgs),
    /// Parse and check an expression; print the typed program and what it uses
    Check(SourceArgs),
    /// Print the Cranelift IR a kernel compiles to
    Ir(IrArgs),
    /// Time compiling and filtering (median and min over repeats)
    #[command(override_usage = "jitfilter bench [OPTIONS] <EXPR> <INPUT>\n       \
                                jitfilter bench [OPTIONS] -e <PATH> <INPUT>")]
    Bench(BenchArgs),
    /// Try kernel expressions interactively on an image (default: the bundled camera.png)
    Repl(ReplArgs),
    /// Design kernels live in the browser: serve a page that re-filters as you type
    Studio(StudioArgs),
    /// Print a shell completion script
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct ReplArgs {
    /// The image or .npy array to start with (default: the bundled camera.png, 512×512 grey)
    #[arg(value_name = "IMAGE")]
    pub image: Option<PathBuf>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

#[derive(Debug, Args)]
pub struct StudioArgs {
    /// The image or .npy array to filter (default: the bundled camera.png, 512×512 grey)
    #[arg(value_name = "IMAGE")]
    pub image: Option<PathBuf>,
    /// The port to listen on (0: any free port; the first line printed says which)
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    pub port: u16,
    /// The address to listen on; other than loopback, anyone who can reach it can use the studio
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// Open the page in the system's browser
    #[arg(long)]
    pub open: bool,
    /// Stop a filter that runs longer than this (the request answers 503; the server goes on)
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub time_limit: u64,
    #[command(flatten)]
    pub limits: LimitArgs,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// EXPR (unless -e), then INPUT OUTPUT, or INPUT... with --out-dir
    #[arg(value_name = "ARGS", required = true)]
    pub args: Vec<OsString>,
    #[command(flatten)]
    pub kernel: KernelArgs,
    #[command(flatten)]
    pub window: WindowArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Kernel")]
pub struct KernelArgs {
    /// Read the kernel program from a file (.kf) instead of EXPR
    #[arg(short = 'e', long, value_name = "PATH")]
    pub kernel_file: Option<PathBuf>,
    /// Set a param the kernel declares (`param NAME = default;`); repeatable
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, f64)>,
    /// Another image the program reads by NAME (its window, like `w`; `at(NAME)` its value
    /// here), of the input's shape; repeatable; in batch mode the same for every file
    #[arg(short = 'i', long = "input", value_name = "NAME=PATH", value_parser = parse_input)]
    pub inputs: Vec<InputArg>,
    /// A .npy array's last axis holds channels (`w[0]`, `w[1]`…), for the input and
    /// every --input (images have their colour channels anyway)
    #[arg(long)]
    pub channels: bool,
}

/// `--input NAME=PATH` (the path may be left out where only the name matters: check, ir).
#[derive(Debug, Clone)]
pub struct InputArg {
    pub name: String,
    pub path: Option<PathBuf>,
}

pub fn parse_input(s: &str) -> Result<InputArg, String> {
    let (name, path) = match s.split_once('=') {
        Some((n, p)) => (n.trim(), Some(PathBuf::from(p))),
        None => (s.trim(), None),
    };
    if !jitfilter::check::is_identifier(name) {
        return Err(format!(
            "`{name}` is not a name for an input (expected NAME=PATH, e.g. g=guide.png)"
        ));
    }
    if path.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
        return Err(format!("no path after `{name}=`"));
    }
    Ok(InputArg {
        name: name.to_string(),
        path,
    })
}

/// The limits against oversized input (docs/limits.md), one flag each, named after the
/// library's `Limits` fields. Sizes take K, M or G (binary: 64K is 65536).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Limits (raise them for unusually large programs or images)")]
pub struct LimitArgs {
    /// Longest program text, in bytes
    #[arg(long, value_name = "N", value_parser = parse_size, default_value_t = DEFAULTS.max_source_bytes)]
    pub max_source_bytes: usize,
    /// Deepest nesting of brackets and `^`, and most `if` expressions
    #[arg(long, value_name = "N", value_parser = parse_size, default_value_t = DEFAULTS.max_nesting)]
    pub max_nesting: usize,
    /// Most operators in one statement
    #[arg(long, value_name = "N", value_parser = parse_size, default_value_t = DEFAULTS.max_operators)]
    pub max_operators: usize,
    /// Most statements (`let`, `param`)
    #[arg(long, value_name = "N", value_parser = parse_size, default_value_t = DEFAULTS.max_statements)]
    pub max_statements: usize,
    /// Most stages (`stage` statements and those `over` makes)
    #[arg(long, value_name = "N", value_parser = parse_size, default_value_t = DEFAULTS.max_stages)]
    pub max_stages: usize,
    /// Most distinct operations after sharing common subexpressions
    #[arg(long, value_name = "N", value_parser = parse_size, default_value_t = DEFAULTS.max_nodes)]
    pub max_nodes: usize,
    /// Most bytes of machine code one kernel compiles to
    #[arg(long, value_name = "N", value_parser = parse_size, default_value_t = DEFAULTS.max_code_bytes)]
    pub max_code_bytes: usize,
    /// Most elements (cells) in a footprint
    #[arg(long, value_name = "N", value_parser = parse_size, default_value_t = DEFAULTS.max_footprint)]
    pub max_footprint: usize,
    /// Most bytes of decoded pixel data in one image (decompression bombs)
    #[arg(long, value_name = "N", value_parser = parse_size, default_value_t = DEFAULTS.max_image_bytes)]
    pub max_image_bytes: usize,
    /// Most bytes of decoded pixel data in one streamed image, in all (forged headers)
    #[arg(long, value_name = "N", value_parser = parse_size, default_value_t = DEFAULTS.max_stream_bytes)]
    pub max_stream_bytes: usize,
}

const DEFAULTS: Limits = Limits::DEFAULT;

impl LimitArgs {
    pub fn limits(&self) -> Limits {
        Limits {
            max_source_bytes: self.max_source_bytes,
            max_nesting: self.max_nesting,
            max_operators: self.max_operators,
            max_statements: self.max_statements,
            max_nodes: self.max_nodes,
            max_stages: self.max_stages,
            max_code_bytes: self.max_code_bytes,
            max_footprint: self.max_footprint,
            max_image_bytes: self.max_image_bytes,
            max_stream_bytes: self.max_stream_bytes,
        }
    }
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Window")]
pub struct WindowArgs {
    /// The footprint: box:N, rect:WxH, disk:R, diamond:R, ball:R (3-D), gauss:S or gauss:SY,SX
    /// (scipy's gaussian_filter weights as k), or file:PATH (a mask
    /// from an image or .npy; nonzero = in)
    #[arg(short, long, value_name = "SPEC", default_value = "box:3", value_parser = parse_footprint)]
    pub footprint: FootprintSpec,
    /// Weights (the values of `k`) from a .npy file; its nonzero cells form the footprint
    #[arg(long, value_name = "PATH", conflicts_with = "footprint")]
    pub weights: Option<PathBuf>,
    /// Boundary mode: reflect, mirror, nearest, wrap, constant (and grid-mirror, grid-wrap,
    /// grid-constant), as scipy.ndimage; or one per axis, first axis first: reflect,wrap
    #[arg(short, long, value_name = "MODE", default_value = "reflect", value_parser = parse_mode)]
    pub mode: ModeArg,
    /// The value outside the array for --mode constant
    #[arg(
        long,
        value_name = "V",
        default_value_t = 0.0,
        allow_hyphen_values = true
    )]
    pub cval: f64,
    /// Shift of the window: one value for every axis, or one per axis (O1,O2)
    #[arg(long, value_name = "O[,O2...]", value_parser = parse_origin, allow_hyphen_values = true)]
    pub origin: Option<Origin>,
    /// The axes the footprint applies along, first axis 0 (scipy's axes=): `--axes 0,2` filters
    /// a 3-D array along its first and last axes; the footprint, origins and a mode list then
    /// have one entry per listed axis
    #[arg(long, value_name = "A[,A2...]", value_parser = parse_axes)]
    pub axes: Option<Axes>,
    /// Worker threads (default: one per core)
    #[arg(long, value_name = "N", value_parser = parse_threads)]
    pub threads: Option<usize>,
    /// Evaluation engine: auto (fastest), fused, callback (scipy's ABI) or interpreter (the
    /// reference); all give the same results, to rounding (the planner sums otherwise)
    #[arg(long, value_name = "ENGINE", default_value = "auto", value_parser = parse_engine)]
    pub engine: Engine,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// Element type of the output; integers are rounded half to even and saturated
    #[arg(long, value_enum, value_name = "TYPE", default_value = "same")]
    pub dtype: DtypeArg,
    /// Batch mode: write each INPUT's result into DIR (created if missing)
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Batch mode: appended to each output's file stem
    #[arg(long, value_name = "S", default_value = "", requires = "out_dir")]
    pub suffix: String,
    /// Batch mode: the outputs' extension (default: each input's)
    #[arg(long, value_name = "EXT", requires = "out_dir")]
    pub ext: Option<String>,
    /// Print compile, read, filter and write times (ms) to stderr
    #[arg(long)]
    pub time: bool,
    /// No progress bar or summary (errors are still printed)
    #[arg(short, long)]
    pub quiet: bool,
    /// Stream rows from decoder to encoder in bounded memory: auto (images over 64 MiB that
    /// stream), always (every input that streams), never
    #[arg(long, value_enum, value_name = "WHEN", default_value = "auto")]
    pub stream: StreamArg,
    /// TIFF output compression (strips compressed in parallel)
    #[arg(long, value_name = "none|lzw|deflate", default_value = "none")]
    pub compress: jitfilter::imageio::TiffCompression,
    /// PNG output deflate level, 0 (none) to 9 (smallest); default: balanced
    #[arg(long, value_name = "0-9", value_parser = clap::value_parser!(u8).range(0..=9))]
    pub png_level: Option<u8>,
}

impl OutputArgs {
    /// How outputs are written (`--compress`, `--png-level`).
    pub fn write_options(&self) -> jitfilter::imageio::WriteOptions {
        jitfilter::imageio::WriteOptions {
            tiff: self.compress,
            png_level: self.png_level,
        }
    }
}

/// When `apply` streams rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StreamArg {
    Auto,
    Always,
    Never,
}

/// The program, as EXPR or from a file.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// The kernel expression
    #[arg(
        value_name = "EXPR",
        required_unless_present = "kernel_file",
        conflicts_with = "kernel_file"
    )]
    pub expr: Option<String>,
    /// Read the kernel program from a file (.kf) instead of EXPR
    #[arg(short = 'e', long, value_name = "PATH")]
    pub kernel_file: Option<PathBuf>,
    /// A named input the program reads (NAME, or NAME=PATH as for apply); repeatable
    #[arg(short = 'i', long = "input", value_name = "NAME[=PATH]", value_parser = parse_input)]
    pub inputs: Vec<InputArg>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

#[derive(Debug, Args)]
pub struct IrArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The footprint, checked and noted in the header (the IR is the same for every footprint)
    #[arg(short, long, value_name = "SPEC", default_value = "box:3", value_parser = parse_footprint)]
    pub footprint: FootprintSpec,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// EXPR (unless -e), then INPUT
    #[arg(value_name = "ARGS", required = true)]
    pub args: Vec<OsString>,
    #[command(flatten)]
    pub kernel: KernelArgs,
    #[command(flatten)]
    pub window: WindowArgs,
    /// How many times to compile and filter
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub repeat: u32,
    /// Print one JSON object instead of a table
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub limits: LimitArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DtypeArg {
    Same,
    U8,
    U16,
    I16,
    I32,
    F32,
    F64,
}

impl DtypeArg {
    /// The requested type, or `None` to keep the input's.
    pub fn dtype(self) -> Option<DType> {
        Some(match self {
            DtypeArg::Same => return None,
            DtypeArg::U8 => DType::U8,
            DtypeArg::U16 => DType::U16,
            DtypeArg::I16 => DType::I16,
            DtypeArg::I32 => DType::I32,
            DtypeArg::F32 => DType::F32,
            DtypeArg::F64 => DType::F64,
        })
    }
}

/// A footprint given on the command line; a file is read only once the kernel has compiled.
#[derive(Debug, Clone, PartialEq)]
pub enum FootprintSpec {
    Shape(Footprint),
    File(PathBuf),
}

/// As given (a shape in its canonical spelling), so that it parses back.
impl std::fmt::Display for FootprintSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FootprintSpec::Shape(footprint) => write!(f, "{footprint}"),
            FootprintSpec::File(p) => write!(f, "file:{}", p.display()),
        }
    }
}

/// Origins as given: empty (none), one for all axes, or one per axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Origin(pub Vec<isize>);

pub fn parse_footprint(s: &str) -> Result<FootprintSpec, String> {
    match s.strip_prefix("file:") {
        Some("") => Err("file: needs a path, e.g. file:mask.png".into()),
        Some(path) => Ok(FootprintSpec::File(PathBuf::from(path))),
        None => s
            .parse()
            .map(FootprintSpec::Shape)
            .map_err(|e| format!("{e}, or file:PATH for a mask")),
    }
}

/// `--mode`: one boundary mode for every axis, or one per axis (`reflect,wrap`).
#[derive(Debug, Clone, PartialEq)]
pub struct ModeArg(pub Vec<Mode>);

impl ModeArg {
    /// `options` with these modes.
    pub fn apply(&self, options: Options) -> Options {
        match self.0.as_slice() {
            [mode] => options.mode(*mode),
            modes => options.modes(modes),
        }
    }

    /// Whether `cval` is used (some axis is constant).
    pub fn constant(&self) -> bool {
        self.0.contains(&Mode::Constant)
    }
}

impl std::fmt::Display for ModeArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.0.iter().map(Mode::to_string).collect();
        f.write_str(&names.join(","))
    }
}

pub fn parse_mode(s: &str) -> Result<ModeArg, String> {
    jitfilter::boundary::parse_modes(s)
        .map(ModeArg)
        .map_err(|e| e.to_string())
}

pub fn parse_engine(s: &str) -> Result<Engine, String> {
    s.parse().map_err(|e: jitfilter::Error| e.to_string())
}

/// A `--dtype` value: clap parses the option itself from [`DtypeArg`]'s names (and lists them in
/// its help and completions); this takes the same names elsewhere.
pub fn parse_dtype(s: &str) -> Result<DtypeArg, String> {
    DtypeArg::from_str(s, false).map_err(|_| {
        let names: Vec<String> = DtypeArg::value_variants()
            .iter()
            .filter_map(|v| Some(v.to_possible_value()?.get_name().to_string()))
            .collect();
        format!("unknown dtype `{s}` (expected {})", names.join(", "))
    })
}

pub fn parse_origin(s: &str) -> Result<Origin, String> {
    s.split(',')
        .map(|o| {
            o.trim()
                .parse::<isize>()
                .map_err(|_| format!("`{o}` is not a whole number (expected O or O1,O2,...)"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Origin)
}

/// `--axes`: the axes the footprint applies along.
#[derive(Debug, Clone, PartialEq)]
pub struct Axes(pub Vec<usize>);

pub fn parse_axes(s: &str) -> Result<Axes, String> {
    s.split(',')
        .map(|a| {
            a.trim().parse::<usize>().map_err(|_| {
                format!("`{a}` is not an axis number (expected A or A1,A2,..., from 0)")
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Axes)
}

pub fn parse_param(s: &str) -> Result<(String, f64), String> {
    let (name, value) = s.split_once('=').ok_or("expected NAME=VALUE, e.g. r=0.3")?;
    let (name, value) = (name.trim(), value.trim());
    if name.is_empty() {
        return Err("the param name is empty (expected NAME=VALUE)".into());
    }
    let value: f64 = value
        .parse()
        .map_err(|_| format!("`{value}` is not a number"))?;
    Ok((name.to_string(), value))
}

/// A whole number, optionally with a binary K, M, G or T suffix (`64K` is 65536).
fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let (digits, scale) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1usize << 10),
        Some((i, 'm' | 'M')) => (&t[..i], 1 << 20),
        Some((i, 'g' | 'G')) => (&t[..i], 1 << 30),
        Some((i, 't' | 'T')) => (&t[..i], 1 << 40),
        _ => (t, 1),
    };
    digits
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| format!("`{s}` is not a whole number (optionally with K, M, G or T)"))
}

pub fn parse_threads(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        _ => Err(format!(
            "`{s}` is not a number of threads (expected 1 to 1024)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn value_parsers() {
        assert_eq!(parse_origin("-1,2").unwrap(), Origin(vec![-1, 2]));
        assert!(parse_origin("1,x").is_err());
        assert_eq!(parse_param("r = -0.5").unwrap(), ("r".to_string(), -0.5));
        assert!(
            parse_param("r").is_err() && parse_param("=1").is_err() && parse_param("r=x").is_err()
        );
        assert!(matches!(
            parse_footprint("file:m.npy").unwrap(),
            FootprintSpec::File(_)
        ));
        assert!(parse_footprint("file:").is_err() && parse_footprint("disk").is_err());
        assert!(parse_threads("0").is_err());
        assert_eq!(parse_dtype("f32"), Ok(DtypeArg::F32));
        assert_eq!(
            parse_dtype("u7").unwrap_err(),
            "unknown dtype `u7` (expected same, u8, u16, i16, i32, f32, f64)"
        );
        assert_eq!(parse_size("64K"), Ok(65536));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(
            parse_size("-1").is_err() && parse_size("1.5M").is_err() && parse_size("K").is_err()
        );
    }

    /// Values print as the spelling that parses back to them.
    #[test]
    fn values_round_trip() {
        for name in ["auto", "fused", "callback", "interpreter"] {
            assert_eq!(parse_engine(name).unwrap().to_string(), name);
        }
        for spec in [
            "box:3",
            "rect:25x25",
            "disk:11",
            "diamond:2",
            "ball:1",
            "file:m.npy",
        ] {
            assert_eq!(parse_footprint(spec).unwrap().to_string(), spec);
        }
    }

    /// The hints of limit errors name these flags.
    #[test]
    fn every_limit_has_its_flag() {
        let command = Cli::command();
        let apply = command.find_subcommand("apply").unwrap();
        for limit in jitfilter::Limit::ALL {
            let flag = limit.flag();
            assert!(
                apply
                    .get_arguments()
                    .any(|a| a.get_long() == flag.strip_prefix("--")),
                "{flag}"
            );
        }
    }
}
