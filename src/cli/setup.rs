//! From arguments to the library's values: the program text, the compiled kernel with its params
//! checked, the footprint and the options. Everything here fails before any input is read.

use super::args::{FootprintSpec, InputArg, KernelArgs, WindowArgs};
use super::report::{Failure, Source};
use clap::CommandFactory;
use jitfilter::imageio::{self, IoError, Op, Reason};
use jitfilter::{Error, Footprint, Kernel, Limits, Options};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Everything needed to filter: compiled once, applied to every input.
pub struct Job {
    pub source: Source,
    pub kernel: Kernel,
    pub footprint: Footprint,
    pub options: Options,
    pub limits: Limits,
    pub compile_time: Duration,
    /// The named inputs (`--input`), and whether `.npy` arrays hold channels last.
    pub inputs: Vec<InputArg>,
    pub channels: bool,
}

impl Job {
    pub fn new(
        source: Source,
        kernel_args: &KernelArgs,
        window: &WindowArgs,
        limits: Limits,
    ) -> Result<Job, Failure> {
        let start = Instant::now();
        let kernel = compile(&source, &kernel_args.inputs, &limits)?;
        let compile_time = start.elapsed();
        kernel
            .param_values(&kernel_args.params)
            .map_err(|e| Failure::from_engine(e, &source))?;
        let footprint = footprint(&window.footprint, window.weights.as_deref(), &limits)?;
        // Built with Options' methods, so that new fields keep their defaults.
        let origin = window.origin.clone().map(|o| o.0).unwrap_or_default();
        let mut options = window
            .mode
            .apply(Options::default())
            .cval(window.cval)
            .origin(&origin)
            .engine(window.engine);
        for (name, value) in &kernel_args.params {
            options = options.param(name, *value);
        }
        if let Some(axes) = &window.axes {
            options = options.axes(&axes.0);
        }
        if let Some(threads) = window.threads {
            options = options.threads(threads);
        }
        Ok(Job {
            source,
            kernel,
            footprint,
            options,
            limits,
            compile_time,
            inputs: kernel_args.inputs.clone(),
            channels: kernel_args.channels,
        })
    }

    /// Compiles the job's program again (to time it).
    pub fn recompile(&self) -> Result<Kernel, Failure> {
        compile(&self.source, &self.inputs, &self.limits)
    }

    /// Reads the named inputs.
    pub fn load_inputs(&self) -> Result<Vec<(String, imageio::Image)>, Failure> {
        (self.inputs.iter())
            .map(|i| {
                let path = i
                    .path
                    .as_deref()
                    .expect("apply and bench inputs have paths");
                let image = imageio::load_with(path, &self.limits).map_err(Failure::File)?;
                Ok((i.name.clone(), image))
            })
            .collect()
    }

    /// A library error from applying this job's kernel.
    pub fn failure(&self, error: jitfilter::Error) -> Failure {
        Failure::from_engine(error, &self.source)
    }
}

/// Compiles `source` for the named `inputs`; a name given twice is a usage error.
pub fn compile(source: &Source, inputs: &[InputArg], limits: &Limits) -> Result<Kernel, Failure> {
    let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
    for (i, name) in names.iter().enumerate() {
        if names[..i].contains(name) {
            return Err(Failure::usage(
                format!("--input `{name}` is given twice"),
                Some("name each input once"),
            ));
        }
    }
    Kernel::compile_for(&source.text, &names, limits).map_err(|e| Failure::from_engine(e, source))
}

/// The program from `-e PATH`, or else from `expr`.
pub fn source(expr: Option<String>, kernel_file: Option<&Path>) -> Result<Source, Failure> {
    match (kernel_file, expr) {
        (Some(path), _) => {
            let text = std::fs::read(path).map_err(|e| {
                Failure::File(IoError {
                    op: Op::Read,
                    path: path.into(),
                    reason: Reason::Io(e),
                })
            })?;
            let text = String::from_utf8(text).map_err(|_| {
                Failure::File(IoError {
                    op: Op::Read,
                    path: path.into(),
                    reason: Reason::Unsupported("a kernel file must be UTF-8 text".into()),
                })
            })?;
            Ok(Source {
                name: path.display().to_string(),
                text,
            })
        }
        (None, Some(text)) => Ok(Source {
            name: "expression".into(),
            text,
        }),
        (None, None) => Err(Failure::usage("no kernel: give EXPR or -e PATH", None)),
    }
}

/// Splits positionals into the program (the first, unless `-e` gave it) and the rest.
pub fn split_positionals(
    subcommand: &str,
    args: &[OsString],
    kernel_file: Option<&Path>,
) -> Result<(Source, Vec<PathBuf>), Failure> {
    let (expr, rest) = match kernel_file {
        Some(_) => (None, args),
        None => {
            let (first, rest) = args
                .split_first()
                .ok_or_else(|| usage_error(subcommand, "EXPR is missing"))?;
            let expr = first
                .to_str()
                .ok_or_else(|| usage_error(subcommand, "EXPR is not valid UTF-8"))?;
            (Some(expr.to_string()), rest)
        }
    };
    let source = source(expr, kernel_file)?;
    Ok((source, rest.iter().map(PathBuf::from).collect()))
}

/// A usage error in clap's format, with the subcommand's usage lines.
pub fn usage_error(subcommand: &str, message: &str) -> Failure {
    let mut cli = super::args::Cli::command();
    cli.build();
    let error = match cli.find_subcommand_mut(subcommand) {
        Some(sub) => sub.error(clap::error::ErrorKind::WrongNumberOfValues, message),
        None => cli.error(clap::error::ErrorKind::WrongNumberOfValues, message),
    };
    Failure::Clap(Box::new(error))
}

/// The footprint, checked here against `limits` (and a file's for being an empty or 4-D
/// mask), so that problems are reported before any input is read.
pub fn footprint(
    spec: &FootprintSpec,
    weights: Option<&Path>,
    limits: &Limits,
) -> Result<Footprint, Failure> {
    let (what, footprint) = match (weights, spec) {
        (None, FootprintSpec::Shape(footprint)) => {
            (format!("--footprint {footprint}"), footprint.clone())
        }
        (Some(path), _) => {
            let weights = imageio::load_weights(path, limits).map_err(Failure::File)?;
            (
                path.display().to_string(),
                Footprint::from_weights(weights.view()),
            )
        }
        (None, FootprintSpec::File(path)) => {
            let mask = imageio::load_weights(path, limits).map_err(Failure::File)?;
            (
                path.display().to_string(),
                Footprint::from_mask(mask.mapv(|v| v != 0.0).view()),
            )
        }
    };
    let hint = |e: &Error| {
        match e {
        Error::Limit(limit) => limit.hint(),
        _ if matches!(spec, FootprintSpec::Shape(_)) && weights.is_none() => {
            "footprints: box:N, rect:WxH, disk:R, diamond:R, ball:R (3-D only), gauss:S, gauss:SY,SX, file:PATH".into()
        }
        _ => "a footprint file holds a 1-D to 32-D mask with at least one nonzero cell".into(),
    }
    };
    match footprint.resolve(footprint.ndim().unwrap_or(2), limits) {
        Ok(_) => Ok(footprint),
        Err(e) => Err(Failure::Usage {
            message: format!("{what}: {e}"),
            hint: Some(hint(&e)),
        }),
    }
}

/// The image `jitfilter repl` and `studio` start with when given none, so that they work anywhere.
static CAMERA_PNG: &[u8] = include_bytes!("../../tests/data/camera.png");

/// The bundled camera.png (512×512 grey) and its name for messages.
fn bundled_camera() -> Result<(imageio::Image, String), Failure> {
    let name = "camera.png (bundled)";
    let image = imageio::decode(CAMERA_PNG.to_vec(), Path::new(name), &Limits::default());
    Ok((image.map_err(Failure::File)?, name.to_string()))
}

/// The image at `path` (within `limits`), or the bundled camera.png; and its name for messages.
pub fn image_or_camera(
    path: Option<&Path>,
    limits: &Limits,
) -> Result<(imageio::Image, String), Failure> {
    match path {
        Some(path) => Ok((
            imageio::load_with(path, limits).map_err(Failure::File)?,
            path.display().to_string(),
        )),
        None => bundled_camera(),
    }
}

/// The smallest and largest finite values (`(inf, -inf)` when there are none).
pub fn finite_range<'a>(values: impl Iterator<Item = &'a f64>) -> (f64, f64) {
    (values.filter(|v| v.is_finite())).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
        (lo.min(v), hi.max(v))
    })
}

/// Milliseconds, for reports.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
