//! `jitfilter apply`: one INPUT to one OUTPUT, or many INPUTs into `--out-dir`.

use super::args::{ApplyArgs, OutputArgs, StreamArg};
use super::progress::Progress;
use super::report::{colour_on_stderr, Failure};
use super::setup::{ms, split_positionals, usage_error, Job};
use jitfilter::dtype::DType;
use jitfilter::image_filter::{self, Loss};
use jitfilter::imageio::{self, Format, Image, IoError, Layout, Op, Reason};
use jitfilter::stream::{Stream, StreamError};
use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub fn run(args: &ApplyArgs) -> Result<(), Failure> {
    let (source, paths) =
        split_positionals("apply", &args.args, args.kernel.kernel_file.as_deref())?;
    let out = &args.output;
    let pairs = match &out.out_dir {
        None => match paths.as_slice() {
            [input, output] => vec![(input.clone(), output.clone())],
            _ => {
                let got = paths.len();
                let message = format!(
                    "expected INPUT OUTPUT after the {}, got {got} path{}; to filter many inputs, add --out-dir DIR",
                    if args.kernel.kernel_file.is_some() { "options" } else { "expression" },
                    if got == 1 { "" } else { "s" }
                );
                return Err(usage_error("apply", &message));
            }
        },
        Some(dir) => batch_outputs(&paths, dir, &out.suffix, out.ext.as_deref())?,
    };
    let job = Job::new(source, &args.kernel, &args.window, args.limits.limits())?;
    let named = job.load_inputs()?;
    match &out.out_dir {
        None => {
            let (input, output) = &pairs[0];
            let timing = process(&job, &named, input, output, out, &|w| eprint!("{w}"))?;
            if out.time {
                eprintln!("time: compile {:.2} ms, {timing}", ms(job.compile_time));
            }
            Ok(())
        }
        Some(dir) => batch(&job, &named, &pairs, dir, out),
    }
}

/// Where each input's result goes in batch mode: `DIR/STEM SUFFIX.EXT`.
fn batch_outputs(
    inputs: &[PathBuf],
    dir: &Path,
    suffix: &str,
    ext: Option<&str>,
) -> Result<Vec<(PathBuf, PathBuf)>, Failure> {
    if inputs.is_empty() {
        return Err(usage_error("apply", "no INPUT given"));
    }
    let ext = ext.map(|e| e.trim_start_matches('.'));
    if let Some(e) = ext {
        if Format::from_extension(Path::new("x").with_extension(e).as_path()).is_none() {
            return Err(Failure::usage(
                format!("unknown output extension `{e}`"),
                Some("use --ext png, tif, tiff, jpg, jpeg or npy"),
            ));
        }
    }
    let mut seen: HashMap<PathBuf, &Path> = HashMap::new();
    let mut pairs = Vec::new();
    for input in inputs {
        let stem = input.file_stem().ok_or_else(|| {
            Failure::usage(format!("`{}` does not name a file", input.display()), None)
        })?;
        let mut name = OsString::from(stem);
        name.push(suffix);
        if let Some(e) = ext
            .map(OsString::from)
            .or_else(|| input.extension().map(OsString::from))
        {
            name.push(".");
            name.push(e);
        }
        let output = dir.join(name);
        if let Some(other) = seen.insert(output.clone(), input) {
            return Err(Failure::usage(
                format!(
                    "`{}` and `{}` would both be written to `{}`",
                    other.display(),
                    input.display(),
                    output.display()
                ),
                Some("use --suffix, or filter them in separate runs"),
            ));
        }
        pairs.push((input.clone(), output));
    }
    Ok(pairs)
}

fn batch(
    job: &Job,
    named: &[(String, Image)],
    pairs: &[(PathBuf, PathBuf)],
    dir: &Path,
    out: &OutputArgs,
) -> Result<(), Failure> {
    std::fs::create_dir_all(dir).map_err(|e| {
        Failure::File(IoError {
            op: Op::Write,
            path: dir.into(),
            reason: Reason::Io(e),
        })
    })?;
    if out.time {
        eprintln!("time: compile {:.2} ms", ms(job.compile_time));
    }
    let start = Instant::now();
    let progress = Progress::new(pairs.len(), out.quiet);
    let colour = colour_on_stderr();
    let mut failed = Vec::new();
    for (input, output) in pairs {
        progress.start(&input.display().to_string());
        match process(job, named, input, output, out, &|w| progress.eprint(w)) {
            Ok(timing) if out.time => {
                progress.eprint(&format!("time: {}: {timing}\n", input.display()))
            }
            Ok(_) => {}
            Err(failure) => {
                progress.eprint(&failure.render(colour));
                failed.push(input.display().to_string());
            }
        }
        progress.done_one();
    }
    progress.finish();
    let written = pairs.len() - failed.len();
    if !out.quiet {
        eprintln!(
            "{written} of {} file{} written to {} in {:.1} s",
            pairs.len(),
            if pairs.len() == 1 { "" } else { "s" },
            dir.display(),
            start.elapsed().as_secs_f64()
        );
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::Runtime(format!(
            "{} file{} failed: {}",
            failed.len(),
            if failed.len() == 1 { "" } else { "s" },
            failed.join(", ")
        )))
    }
}

/// Time spent per stage on one file.
struct Timing {
    read: Duration,
    filter: Duration,
    write: Duration,
    /// Rows streamed: reading, filtering and writing interleave (all in `filter`).
    streamed: bool,
}

impl fmt::Display for Timing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.streamed {
            return write!(
                f,
                "streamed (read, filter and write by bands of rows) {:.2} ms",
                ms(self.filter)
            );
        }
        write!(
            f,
            "read {:.2} ms, filter {:.2} ms, write {:.2} ms",
            ms(self.read),
            ms(self.filter),
            ms(self.write)
        )
    }
}

/// Reads, filters and writes one file. Problems visible from the names alone are reported
/// before reading, and a type the output format cannot hold before filtering; a result the
/// integer output type misrepresents is written with a warning (unless `--quiet`).
fn process(
    job: &Job,
    named: &[(String, Image)],
    input: &Path,
    output: &Path,
    out: &OutputArgs,
    warn: &dyn Fn(&str),
) -> Result<Timing, Failure> {
    check_output_path(output)?;
    if out.stream != StreamArg::Never && !job.channels {
        if let Some(timing) = stream(job, named, input, output, out, warn)? {
            return Ok(timing);
        }
    }
    let start = Instant::now();
    let image = imageio::load_with(input, &job.limits).map_err(Failure::File)?;
    let read = start.elapsed();
    let dtype = out.dtype.dtype().unwrap_or(image.dtype());
    let (layout, ndim) = image_filter::result_layout(&job.kernel, &image, job.channels);
    check_result(job, output, (layout, ndim), dtype, image.layout())?;
    let start = Instant::now();
    let named: Vec<(&str, &Image)> = named.iter().map(|(n, i)| (n.as_str(), i)).collect();
    let (result, loss) = image_filter::apply_measured(
        &job.kernel,
        &image,
        &named,
        job.channels,
        &job.footprint,
        &job.options,
        dtype,
    )
    .map_err(|e| job.failure(e))?;
    // The input is not needed any more: free it before encoding (peak memory of big images).
    drop(image);
    let filter = start.elapsed();
    if let Some(loss) = loss.filter(|l| l.is_real() && !out.quiet) {
        warn(&loss_warning(output, &loss, out.dtype.dtype().is_some()));
    }
    let start = Instant::now();
    let options = out.write_options();
    imageio::save_atomic_with(output, &result, options).map_err(Failure::File)?;
    Ok(Timing {
        read,
        filter,
        write: start.elapsed(),
        streamed: false,
    })
}

/// Images over this many bytes stream (when their format allows) unless `--stream never`.
const STREAM_OVER: usize = 64 << 20;

/// Streams `input` to `output` by bands of rows when it streams and is large (or `--stream
/// always`); `None`: it is to be read whole.
fn stream(
    job: &Job,
    named: &[(String, Image)],
    input: &Path,
    output: &Path,
    out: &OutputArgs,
    warn: &dyn Fn(&str),
) -> Result<Option<Timing>, Failure> {
    let mut source = match imageio::open_rows(input, &job.limits).map_err(Failure::File)? {
        Ok(source) => source,
        Err(why) => {
            if out.stream == StreamArg::Always && !out.quiet {
                warn(&format!("note: {}: {why}\n", input.display()));
            }
            return Ok(None);
        }
    };
    let [h, w] = source.shape();
    let layout = source.layout();
    let samples = layout.samples();
    let bytes = (h as u128) * (w * samples * source.dtype().size()) as u128;
    if out.stream == StreamArg::Auto && bytes <= STREAM_OVER as u128 {
        return Ok(None);
    }
    let dtype = out.dtype.dtype().unwrap_or(source.dtype());
    let named: Vec<(&str, &Image)> = named.iter().map(|(n, i)| (n.as_str(), i)).collect();
    let stream = Stream {
        kernel: &job.kernel,
        named: &named,
        channels: job.channels,
        footprint: &job.footprint,
        options: &job.options,
        out: dtype,
    };
    let (out_layout, shape) = stream.result_of(&*source);
    check_result(job, output, (out_layout, shape.len()), dtype, layout)?;
    // Arrays of more than two axes stream into `.npy` (the image formats' rows are 2-D).
    if source.dims().len() > 2 && Format::from_extension(output) != Some(Format::Npy) {
        if out.stream == StreamArg::Always && !out.quiet {
            let why = "arrays of more than two axes stream into .npy only";
            warn(&format!("note: {}: {why}\n", output.display()));
        }
        return Ok(None);
    }
    let start = Instant::now();
    let bar = Progress::rows(h, out.quiet);
    let mut failure = None;
    let mut loss = None;
    let options = out.write_options();
    let written = imageio::save_rows(output, &shape, out_layout, dtype, options, |sink| {
        let progress = &mut |done: usize, _| bar.set(done);
        match stream.run(&mut *source, sink, progress) {
            Ok(l) => {
                loss = l;
                Ok(())
            }
            Err(StreamError::Write(reason)) => Err(reason),
            Err(e) => {
                failure = Some(e);
                Err(Reason::Encode("stopped".into()))
            }
        }
    });
    bar.finish();
    match failure {
        Some(StreamError::Filter(e)) => return Err(job.failure(e)),
        Some(StreamError::Read(e)) => return Err(Failure::File(e)),
        _ => written.map_err(Failure::File)?,
    }
    if let Some(loss) = loss.filter(|l| l.is_real() && !out.quiet) {
        warn(&loss_warning(output, &loss, out.dtype.dtype().is_some()));
    }
    Ok(Some(Timing {
        read: Duration::ZERO,
        filter: start.elapsed(),
        write: Duration::ZERO,
        streamed: true,
    }))
}

/// Refuses, before any work, a result `output` cannot hold.
fn check_result(
    job: &Job,
    output: &Path,
    (layout, ndim): (Layout, usize),
    dtype: DType,
    input: Layout,
) -> Result<(), Failure> {
    let values = job.kernel.program().roots.len();
    if Format::from_extension(output) == Some(Format::Tiff) && values > imageio::MAX_TIFF_BANDS {
        return Err(Failure::usage(
            format!(
                "the program gives {values} values per pixel; a TIFF holds at most {}",
                imageio::MAX_TIFF_BANDS
            ),
            Some("write .npy"),
        ));
    }
    imageio::check_output(output, layout, dtype, ndim).map_err(|e| {
        match (layout, &e.reason) {
            (Layout::Array, Reason::CannotWrite { format, .. })
                if *format != Format::Npy && input != Layout::Array =>
            {
                Failure::usage(
                    format!(
                        "the program gives {values} values per pixel, which {format} cannot hold as an image (it holds 1, 3 or 4: grey, RGB, RGBA)"
                    ),
                    Some("write .npy or .tiff, or return 1, 3 or 4 values"),
                )
            }
            _ => Failure::File(e),
        }
    })?;
    Ok(())
}

/// The warning for a result that `loss` misrepresents, with the fix: a float output type (in a
/// format that holds one), or a program that scales or clamps into the type's range.
fn loss_warning(output: &Path, loss: &Loss, dtype_given: bool) -> String {
    let holds_floats = matches!(
        Format::from_extension(output),
        Some(Format::Tiff | Format::Npy)
    );
    let keep = if holds_floats {
        "add --dtype f32 to keep the values".to_string()
    } else {
        format!(
            "write .tiff or .npy with --dtype f32 to keep the values ({} holds integers only)",
            Format::from_extension(output).map_or("this format".into(), |f| f.to_string())
        )
    };
    let how = if dtype_given {
        "--dtype asks for it"
    } else {
        "the input's type, the default"
    };
    let (lo, hi) = loss.dtype.integer_range().unwrap_or_default();
    format!(
        "warning: {}: written as {} ({how}): {}\n  help: {keep}, or scale or clamp the result into range in the program, e.g. min(max(EXPR, {lo}), {hi}); -q hides this warning\n",
        output.display(),
        loss.dtype,
        loss.describe()
    )
}

fn check_output_path(output: &Path) -> Result<(), Failure> {
    let fail = |reason| {
        Err(Failure::File(IoError {
            op: Op::Write,
            path: output.into(),
            reason,
        }))
    };
    if Format::from_extension(output).is_none() {
        return fail(Reason::UnknownExtension);
    }
    if output.is_dir() {
        return fail(Reason::Io(io::ErrorKind::IsADirectory.into()));
    }
    match output.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => {
            fail(Reason::Io(io::ErrorKind::NotFound.into()))
        }
        _ => Ok(()),
    }
}
