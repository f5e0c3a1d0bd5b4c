//! The studio's answers: the page and its assets, and the JSON API the page uses (see
//! docs/studio.md for the contract). Programs are compiled once and cached by their text, so a
//! slider move only re-filters; a newer filter request from the same page cancels the older one
//! still running, and a run that goes on too long is cancelled by a watchdog.

use super::guard::Guard;
use crate::cli::inspect;
use crate::cli::report::{Failure, Source};
use crate::cli::setup::finite_range;
use jitfilter::image_filter;
use jitfilter::imageio::{self, DynArray, Image, Layout};
use jitfilter::{Cancel, DType, Engine, Error, ExprError, Footprint, Kernel, Limits, Options};
use ndarray::{ArrayD, Axis};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

const INDEX_HTML: &str = include_str!("page/index.html");
const STUDIO_JS: &str = include_str!("page/studio.js");
const STUDIO_CSS: &str = include_str!("page/studio.css");

/// Uploaded inputs held at once.
const MAX_INPUTS: usize = 16;
/// Compiled programs kept for re-filtering (slider moves, mode changes) without recompiling.
const CACHED_KERNELS: usize = 32;

/// One answer: status, type, body and extra headers.
pub struct Answer {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
}

impl Answer {
    fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Answer {
        Answer {
            status,
            content_type,
            body: body.into(),
            headers: Vec::new(),
        }
    }

    fn json(status: u16, value: &Value) -> Answer {
        Answer::new(status, "application/json", value.to_string())
    }

    /// `{"error": message}` with `status`.
    pub fn error(status: u16, message: &str) -> Answer {
        Answer::json(status, &json!({ "error": message, "hint": null }))
    }

    fn header(mut self, name: &'static str, value: impl ToString) -> Answer {
        self.headers.push((name, value.to_string()));
        self
    }

    pub fn into_response(self) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
        let header = |name: &str, value: &str| {
            tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes())
                .expect("header names and values are ASCII")
        };
        let mut response = tiny_http::Response::from_data(self.body)
            .with_status_code(self.status)
            .with_header(header("Content-Type", self.content_type))
            .with_header(header("Cache-Control", "no-store"))
            .with_header(header("X-Content-Type-Options", "nosniff"))
            // The page loads nothing from elsewhere and may not be framed by other sites.
            .with_header(header(
                "Content-Security-Policy",
                "default-src 'self'; img-src 'self' blob: data:; frame-ancestors 'none'",
            ));
        for (name, value) in &self.headers {
            response = response.with_header(header(name, value));
        }
        response
    }
}

/// A program compiled once.
#[derive(Clone)]
struct Compiled {
    key: (String, Vec<String>),
    kernel: Kernel,
    compile_ms: f64,
}

/// The session: the image being filtered, the uploaded inputs, compiled programs and the filter
/// run of each page.
pub struct Studio {
    pub guard: Guard,
    image: RwLock<(Arc<Image>, String)>,
    /// Uploaded inputs: name, image, file name.
    inputs: Mutex<Vec<(String, Arc<Image>, String)>>,
    limits: Limits,
    kernels: Mutex<Vec<Compiled>>,
    /// Held while compiling, so that the page's check and filter of a new text compile it once.
    compiling: Mutex<()>,
    /// Per page (its `client` id), its newest filter run: its `seq` and cancel flag.
    running: Mutex<HashMap<String, (u64, Cancel)>>,
    /// How long one filter may run before it is cancelled.
    time_limit: Duration,
}

/// What a request asked for and the error the page shows if it cannot be had.
type Reply = Result<Answer, Answer>;

impl Studio {
    pub fn new(
        image: Image,
        name: String,
        limits: Limits,
        guard: Guard,
        time_limit: Duration,
    ) -> Studio {
        Studio {
            guard,
            image: RwLock::new((Arc::new(image), name)),
            inputs: Mutex::new(Vec::new()),
            limits,
            kernels: Mutex::new(Vec::new()),
            compiling: Mutex::new(()),
            running: Mutex::new(HashMap::new()),
            time_limit,
        }
    }

    pub fn answer(&self, request: &tiny_http::Request, body: Vec<u8>) -> Answer {
        use tiny_http::Method::{Delete, Get, Post};
        let url = request.url();
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        // The page sends the file name percent-encoded (a header holds ASCII only).
        let upload_name = (request.headers().iter())
            .find(|h| h.field.equiv("X-Filename"))
            .map(|h| percent_decoded(h.value.as_str()));
        let reply = match (request.method(), path) {
            (Get, "/") => Ok(Answer::new(200, "text/html; charset=utf-8", INDEX_HTML)),
            (Get, "/studio.js") => Ok(Answer::new(200, "text/javascript", STUDIO_JS)),
            (Get, "/studio.css") => Ok(Answer::new(200, "text/css", STUDIO_CSS)),
            (Get, "/api/info") => Ok(self.info()),
            (Get, "/api/image") => {
                let image = self
                    .image
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .0
                    .clone();
                picture(&image, query_value(query, "format").unwrap_or("png"), true)
            }
            (Post, "/api/image") => self.upload(None, upload_name, body),
            (Post, "/api/input") => self.upload(query_value(query, "name"), upload_name, body),
            (Delete, "/api/input") => self.remove_input(query_value(query, "name")),
            (Post, "/api/check") => self.check(&body),
            (Post, "/api/filter") => self.filter(&body),
            (_, "/" | "/studio.js" | "/studio.css" | "/api/info" | "/api/image")
            | (_, "/api/input" | "/api/check" | "/api/filter") => {
                Err(Answer::error(405, "method not allowed here"))
            }
            _ => Err(Answer::error(404, &format!("no such page: {path}"))),
        };
        reply.unwrap_or_else(|e| e)
    }

    /// `GET /api/info`: the image and the session's inputs.
    fn info(&self) -> Answer {
        let (image, name) = self.image.read().unwrap_or_else(|e| e.into_inner()).clone();
        let inputs: Vec<Value> = (self.inputs.lock().unwrap_or_else(|e| e.into_inner()).iter())
            .map(|(n, i, file)| json!({ "name": n, "file": file, "about": about(i) }))
            .collect();
        let mut value = about(&image);
        value["name"] = json!(name);
        value["inputs"] = json!(inputs);
        value["max_source_bytes"] = json!(self.limits.max_source_bytes);
        value["max_footprint"] = json!(self.limits.max_footprint);
        Answer::json(200, &value)
    }

    /// `POST /api/image` (the image to filter) or `POST /api/input?name=NAME` (an input the
    /// program reads by NAME): the file's bytes, decoded in memory and never stored.
    fn upload(&self, name: Option<&str>, file: Option<String>, body: Vec<u8>) -> Reply {
        let file = file.unwrap_or_else(|| "upload".into());
        let image = imageio::decode(body, Path::new(&file), &self.limits)
            .map_err(|e| Answer::error(400, &e.to_string()))?;
        viewable(&image).map_err(|e| Answer::error(400, &format!("{file}: {e}")))?;
        let Some(name) = name else {
            // Inputs of the old image's shape cannot go with the new one.
            let mut inputs = self.inputs.lock().unwrap_or_else(|e| e.into_inner());
            inputs.retain(|(_, input, _)| input.shape() == image.shape());
            *self.image.write().unwrap_or_else(|e| e.into_inner()) = (Arc::new(image), file);
            drop(inputs);
            return Ok(self.info());
        };
        jitfilter::kernel::check_input_name(name)
            .map_err(|e| Answer::error(400, &e.to_string()))?;
        let main = self
            .image
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .clone();
        if image.shape() != main.shape() {
            return Err(Answer::error(
                400,
                &format!(
                    "{file} is {:?}, but the image is {:?}: an input must have the image's shape",
                    image.shape(),
                    main.shape()
                ),
            ));
        }
        {
            let mut inputs = self.inputs.lock().unwrap_or_else(|e| e.into_inner());
            inputs.retain(|(n, ..)| n != name);
            if inputs.len() >= MAX_INPUTS {
                return Err(Answer::error(
                    400,
                    &format!("the studio holds at most {MAX_INPUTS} inputs: remove one first"),
                ));
            }
            inputs.push((name.to_string(), Arc::new(image), file));
        }
        Ok(self.info())
    }

    fn remove_input(&self, name: Option<&str>) -> Reply {
        let name = name.ok_or_else(|| Answer::error(400, "which input? (?name=NAME)"))?;
        (self.inputs.lock().unwrap_or_else(|e| e.into_inner())).retain(|(n, ..)| n != name);
        Ok(self.info())
    }

    /// The compiled program, from the cache or compiled now.
    fn compile(&self, program: &str) -> Result<Compiled, Answer> {
        let names: Vec<String> = (self.inputs.lock().unwrap_or_else(|e| e.into_inner()).iter())
            .map(|(n, ..)| n.clone())
            .collect();
        let key = (program.to_string(), names);
        let cached = || {
            let mut cache = self.kernels.lock().unwrap_or_else(|e| e.into_inner());
            let i = cache.iter().position(|c| c.key == key)?;
            let hit = cache.remove(i);
            cache.insert(0, hit.clone());
            Some(hit)
        };
        if let Some(hit) = cached() {
            return Ok(hit);
        }
        let _compiling = self.compiling.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(hit) = cached() {
            return Ok(hit);
        }
        let start = Instant::now();
        let names: Vec<&str> = key.1.iter().map(String::as_str).collect();
        let kernel = Kernel::compile_for(program, &names, &self.limits)
            .map_err(|e| engine_error(e, program))?;
        let compiled = Compiled {
            key,
            kernel,
            compile_ms: start.elapsed().as_secs_f64() * 1e3,
        };
        let mut cache = self.kernels.lock().unwrap_or_else(|e| e.into_inner());
        cache.insert(0, compiled.clone());
        cache.truncate(CACHED_KERNELS);
        Ok(compiled)
    }

    /// `POST /api/check {"program"}`: what the program declares and how it runs.
    fn check(&self, body: &[u8]) -> Reply {
        let request = parse_body(body)?;
        let program = text(&request, "program", None)?;
        let compiled = self.compile(&program)?;
        let kernel = &compiled.kernel;
        let source = Source {
            name: "program".into(),
            text: program.clone(),
        };
        let params: Vec<Value> = (kernel.params().iter())
            .map(|p| {
                let (min, max) = p.range.or_else(|| slider_range(p.default)).unzip();
                // A default that JSON cannot hold (inf, nan) is text.
                let default = match p.default.is_finite() {
                    true => json!(p.default),
                    false => json!(p.default.to_string()),
                };
                json!({ "name": p.name, "default": default, "min": min, "max": max,
                        "declared": p.range.is_some() })
            })
            .collect();
        let stages: Vec<String> = (kernel.passes().into_iter())
            .map(|(name, _)| name)
            .filter(|n| !n.is_empty())
            .collect();
        let mut inputs: Vec<&str> = (kernel.program().inputs.iter())
            .map(|i| i.name.as_str())
            .filter(|n| *n != jitfilter::ir::MAIN && !stages.iter().any(|s| s == n))
            .collect();
        inputs.dedup();
        Ok(Answer::json(
            200,
            &json!({
                "params": params,
                "stages": stages,
                "inputs": inputs,
                "outputs": kernel.program().roots.len(),
                "plan": inspect::describe(kernel, &source, &self.limits),
                "compile_ms": compiled.compile_ms,
            }),
        ))
    }

    /// `POST /api/filter`: the image filtered by the program, as a PNG (default), raw f32
    /// planes for the page (`"format": "raw"`), or a file to download (`"tiff"`, `"npy"`).
    fn filter(&self, body: &[u8]) -> Reply {
        let request = parse_body(body)?;
        let program = text(&request, "program", None)?;
        let footprint = text(&request, "footprint", Some("box:3"))?;
        let footprint = (footprint.parse::<Footprint>())
            .and_then(|fp| fp.resolve(fp.ndim().unwrap_or(2), &self.limits).map(|_| fp))
            .map_err(|e| field_error("footprint", &e.to_string()))?;
        let modes = jitfilter::boundary::parse_modes(&text(&request, "mode", Some("reflect"))?)
            .map_err(|e| field_error("mode", &e.to_string()))?;
        let engine: Engine = (text(&request, "engine", Some("auto"))?.parse())
            .map_err(|e: Error| field_error("engine", &e.to_string()))?;
        let cval = number(&request, "cval", 0.0)?;
        let format = text(&request, "format", Some("png"))?;
        let compiled = self.compile(&program)?;
        let kernel = match request.get("stage").and_then(Value::as_str) {
            None | Some("") => compiled.kernel.clone(),
            Some(name) => compiled.kernel.stage(name).ok_or_else(|| {
                field_error("stage", &format!("the program has no stage `{name}`"))
            })?,
        };
        let mut options = match modes.as_slice() {
            [mode] => Options::default().mode(*mode),
            modes => Options::default().modes(modes),
        }
        .cval(cval)
        .engine(engine);
        if let Some(params) = request.get("params").and_then(Value::as_object) {
            for (name, value) in params {
                let value = value
                    .as_f64()
                    .ok_or_else(|| field_error("params", &format!("`{name}` is not a number")))?;
                // A stage declares only the params it reads.
                if kernel.params().iter().any(|p| &p.name == name) {
                    options = options.param(name, value);
                }
            }
        }
        let (image, _) = self.image.read().unwrap_or_else(|e| e.into_inner()).clone();
        let dtype = match text(&request, "dtype", Some("same"))?.as_str() {
            "same" | "" => image.dtype(),
            name => crate::cli::args::parse_dtype(name)
                .map_err(|e| field_error("dtype", &e))?
                .dtype()
                .unwrap_or(image.dtype()),
        };
        let mut inputs: Vec<(String, Arc<Image>)> = (self.inputs.lock())
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(n, ..)| kernel.program().inputs.iter().any(|i| &i.name == n))
            .map(|(n, i, _)| (n.clone(), i.clone()))
            .collect();
        // Only the rows and columns a region needs (what the page sees first of a large image).
        let region = match request.get("region") {
            None | Some(Value::Null) => None,
            Some(v) => Some(region(v)?),
        };
        let same_shape = inputs.iter().all(|(_, i)| i.shape() == image.shape());
        let (image, cut) = match region {
            Some(r) if same_shape && !kernel.reads_positions() => {
                let (crop, cut) = crop_for(&kernel, &image, &footprint, &options, r)?;
                for (_, input) in &mut inputs {
                    *input = Arc::new(input.crop(&crop));
                }
                (Arc::new(image.crop(&crop)), Some(cut))
            }
            _ => (image, None),
        };
        let named: Vec<(&str, &Image)> = inputs.iter().map(|(n, i)| (n.as_str(), &**i)).collect();
        let client = text(&request, "client", Some(""))?;
        let seq = match request.get("seq") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_u64().ok_or_else(|| {
                field_error(
                    "seq",
                    "`seq` must be a whole number (the page's request count)",
                )
            })?),
        };
        let run = self.start(&client, seq)?;
        options = options.cancel(&run.cancel);
        let start = Instant::now();
        let result = image_filter::apply_measured(
            &kernel, &image, &named, false, &footprint, &options, dtype,
        );
        let filter_ms = start.elapsed().as_secs_f64() * 1e3;
        let (result, _) = match result {
            Ok(r) => r,
            Err(Error::Cancelled) if run.timed_out() => {
                return Err(Answer::error(
                    503,
                    &format!(
                        "the filter ran for more than {} s and was stopped (studio --time-limit)",
                        self.time_limit.as_secs()
                    ),
                ))
            }
            Err(Error::Cancelled) => return Err(superseded()),
            Err(e) => return Err(engine_error(e, &program)),
        };
        let (result, shown) = match cut {
            Some((inner, at)) => (result.crop(&inner), at),
            None => (result, [0, 0, image.shape()[0], image.shape()[1]]),
        };
        let shown: Vec<String> = shown.iter().map(usize::to_string).collect();
        // A download holds the exact values (a float result cannot be a PNG); a view may not.
        let download = request.get("download").and_then(Value::as_bool) == Some(true);
        Ok(picture(&result, &format, !download)?
            .header("X-Region", shown.join(","))
            .header("X-Compile-Ms", format!("{:.3}", compiled.compile_ms))
            .header("X-Filter-Ms", format!("{filter_ms:.3}")))
    }

    /// Registers run `seq` of page `client` (`None`: after its last), cancelling the page's run
    /// still in flight, and starts the watchdog that cancels this one after the time limit. A
    /// run older than the page's newest (requests can arrive out of order) is refused: 409.
    fn start(&self, client: &str, seq: Option<u64>) -> Result<Run, Answer> {
        let cancel = Cancel::new();
        {
            let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
            let newest = running.get(client);
            let seq = seq.unwrap_or_else(|| newest.map_or(0, |(n, _)| n + 1));
            match newest {
                Some((n, _)) if seq < *n => return Err(superseded()),
                Some((_, older)) => older.cancel(),
                None => {}
            }
            running.insert(client.to_string(), (seq, cancel.clone()));
        }
        let (done, watch) = mpsc::channel::<()>();
        let fired = Cancel::new();
        let (c, f, limit) = (cancel.clone(), fired.clone(), self.time_limit);
        std::thread::spawn(move || {
            // The sender is dropped when the run ends, which ends the wait at once.
            if watch.recv_timeout(limit) == Err(mpsc::RecvTimeoutError::Timeout) {
                f.cancel();
                c.cancel();
            }
        });
        Ok(Run {
            cancel,
            fired,
            _done: done,
        })
    }
}

fn superseded() -> Answer {
    Answer::error(409, "superseded by a newer request")
}

/// A filter run in flight: its cancel flag and whether the watchdog set it.
struct Run {
    cancel: Cancel,
    fired: Cancel,
    _done: mpsc::Sender<()>,
}

impl Run {
    fn timed_out(&self) -> bool {
        self.fired.is_cancelled()
    }
}

/// `[y0, x0, h, w]`, as the request gives a region.
fn region(v: &Value) -> Result<[usize; 4], Answer> {
    let bad = || {
        field_error(
            "region",
            "`region` must be [y0, x0, height, width] in pixels",
        )
    };
    let items = v.as_array().filter(|a| a.len() == 4).ok_or_else(bad)?;
    let mut r = [0usize; 4];
    for (slot, item) in r.iter_mut().zip(items) {
        *slot = item.as_u64().ok_or_else(bad)? as usize;
    }
    Ok(r)
}

/// The crop of `image` that gives region `[y0, x0, h, w]` (clamped to the image) as the whole
/// image does: the region plus what the program reads around it (all passes, so stages too),
/// whole along an axis that wraps. Returns the crop's ranges, where the region lies in the
/// crop, and the region as clamped.
#[allow(clippy::type_complexity)]
fn crop_for(
    kernel: &Kernel,
    image: &Image,
    footprint: &Footprint,
    options: &Options,
    [y0, x0, h, w]: [usize; 4],
) -> Result<(Vec<Range<usize>>, (Vec<Range<usize>>, [usize; 4])), Answer> {
    let shape = image.shape();
    let halo =
        (kernel.reach(shape, footprint, options)).map_err(|e| engine_error(e, kernel.source()))?;
    let mut crop = Vec::new();
    let mut inner: Vec<Range<usize>> = Vec::new();
    let mut clamped = [0; 4];
    for (a, (start, len)) in [(y0, h), (x0, w)].into_iter().enumerate() {
        let n = shape[a];
        let start = start.min(n - 1);
        let len = len.clamp(1, n - start);
        let margin = (-halo[a].0).max(halo[a].1) as usize;
        let mode = options.modes.get(a).copied().unwrap_or(options.mode);
        let (c0, c1) = if mode == jitfilter::Mode::Wrap {
            (0, n)
        } else {
            (start.saturating_sub(margin), (start + len + margin).min(n))
        };
        crop.push(c0..c1);
        inner.push(start - c0..start - c0 + len);
        (clamped[a], clamped[a + 2]) = (start, len);
    }
    Ok((crop, (inner, clamped)))
}

/// Whether the studio can show `image`: a 2-D image or array (colour planes apart).
pub fn viewable(image: &Image) -> Result<(), String> {
    match image.shape().len() {
        2 => Ok(()),
        n => Err(format!(
            "the studio shows 2-D images, and this is {n}-D (filter it with `jitfilter apply`)"
        )),
    }
}

/// Shape, element type and layout, as JSON.
fn about(image: &Image) -> Value {
    json!({
        "shape": image.shape(),
        "dtype": image.dtype().name(),
        "layout": image.layout().name(),
        "channels": image.planes().len(),
    })
}

/// The slider's ends for a param declared without a range: around its default; none for a
/// default that is not finite.
fn slider_range(default: f64) -> Option<(f64, f64)> {
    // Twice the default, or the default itself where twice would overflow.
    let far = Some(2.0 * default)
        .filter(|f| f.is_finite())
        .unwrap_or(default);
    match default {
        d if !d.is_finite() => None,
        d if d > 0.0 => Some((0.0, far)),
        d if d < 0.0 => Some((far, 0.0)),
        _ => Some((-1.0, 1.0)),
    }
}

/// `image` in `format`: `png`, `raw` (planes one after another, for the page: u8 results as
/// bytes, others as f32 little-endian; `X-Raw` says which), `tiff` or `npy`. A PNG holds 8- and 16-bit results as they are; other types are
/// stretched from their finite minimum to maximum onto 8 bits when `stretch` (for viewing), and
/// refused otherwise (a download keeps exact values).
fn picture(image: &Image, format: &str, stretch: bool) -> Reply {
    // Colour planes, or the planes along an array's last axis (a tuple result).
    let shape = image.shape();
    let split = matches!((image.layout(), shape), (Layout::Array, [_, _, _]));
    let count = if split {
        shape[2]
    } else {
        image.planes().len()
    };
    let dims = format!("{count},{},{}", shape[0], shape[1]);
    match format {
        "raw" => {
            let planes: Vec<ArrayD<f64>> = if split {
                let all = image.planes()[0].to_f64();
                (all.axis_iter(Axis(2))).map(|p| p.to_owned()).collect()
            } else {
                image.planes().iter().map(DynArray::to_f64).collect()
            };
            // u8 results as bytes (a quarter of the f32s to send and read), others as f32.
            let bytes = image.dtype() == DType::U8;
            let mut body = Vec::with_capacity(planes.len() * planes[0].len() * 4);
            for plane in &planes {
                if bytes {
                    body.extend(plane.iter().map(|v| *v as u8));
                } else {
                    body.extend(plane.iter().flat_map(|v| (*v as f32).to_le_bytes()));
                }
            }
            Ok(Answer::new(200, "application/octet-stream", body)
                .header("X-Shape", dims)
                .header("X-Raw", if bytes { "u8" } else { "f32" })
                .header("X-Dtype", image.dtype().name()))
        }
        "png" | "tiff" | "npy" => {
            let name = format!("result.{format}");
            let shown;
            let image = match (format, image.dtype()) {
                ("png", DType::U8 | DType::U16) => image,
                ("png", _) if stretch => {
                    shown = stretched(image);
                    &shown
                }
                _ => image,
            };
            let body = imageio::encode_as(Path::new(&name), image)
                .map_err(|e| Answer::error(400, &e.to_string()))?;
            let mime = match format {
                "png" => "image/png",
                "tiff" => "image/tiff",
                _ => "application/octet-stream",
            };
            Ok(Answer::new(200, mime, body)
                .header("X-Shape", dims)
                .header("X-Dtype", image.dtype().name()))
        }
        other => Err(field_error(
            "format",
            &format!("unknown format `{other}` (png, raw, tiff, npy)"),
        )),
    }
}

/// The image's colour planes stretched from their finite minimum to maximum onto u8 (NaN: 0).
fn stretched(image: &Image) -> Image {
    let planes: Vec<_> = image.planes().iter().map(DynArray::to_f64).collect();
    let (lo, hi) = finite_range(planes.iter().flat_map(|p| p.iter()));
    let scale = if hi > lo { 255.0 / (hi - lo) } else { 0.0 };
    let planes: Vec<DynArray> = (planes.into_iter())
        .map(|p| {
            DynArray::U8(p.mapv(|v| {
                if v.is_finite() {
                    ((v - lo) * scale).round() as u8
                } else {
                    0
                }
            }))
        })
        .collect();
    match image.layout() {
        Layout::Array => Image::array(planes.into_iter().next().expect("one plane")),
        layout => {
            let alpha = image.alpha().map(|a| a.convert(DType::U8));
            Image::from_planes(layout, planes, alpha)
        }
    }
}

fn parse_body(body: &[u8]) -> Result<Map<String, Value>, Answer> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Answer::error(400, "the request body must be a JSON object")),
        Err(e) => Err(Answer::error(
            400,
            &format!("the request body is not JSON: {e}"),
        )),
    }
}

/// A string field, or `default` when it is absent (required when `default` is `None`).
fn text(request: &Map<String, Value>, name: &str, default: Option<&str>) -> Result<String, Answer> {
    match (request.get(name), default) {
        (Some(Value::String(s)), _) => Ok(s.clone()),
        (None | Some(Value::Null), Some(d)) => Ok(d.to_string()),
        (None | Some(Value::Null), None) => Err(field_error(name, &format!("`{name}` is missing"))),
        (Some(_), _) => Err(field_error(name, &format!("`{name}` must be a string"))),
    }
}

fn number(request: &Map<String, Value>, name: &str, default: f64) -> Result<f64, Answer> {
    match request.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_f64()
            .ok_or_else(|| field_error(name, &format!("`{name}` must be a number"))),
    }
}

/// A 400 about one field of the request.
fn field_error(field: &str, message: &str) -> Answer {
    Answer::json(
        400,
        &json!({ "error": message, "hint": null, "field": field }),
    )
}

/// A library error as the page shows it: an expression error with the byte span it points at
/// (`start`, `end`), its hint and the nearest name; others with the CLI's hint.
fn engine_error(error: Error, program: &str) -> Answer {
    let source = Source {
        name: "program".into(),
        text: program.to_string(),
    };
    match Failure::from_engine(error, &source) {
        Failure::Expr { error, .. } => {
            let span = error.span();
            let suggestion = match &error {
                ExprError::UnknownName { suggestion, .. }
                | ExprError::UnknownFunction { suggestion, .. } => suggestion.clone(),
                _ => None,
            };
            Answer::json(
                400,
                &json!({ "error": error.to_string(), "hint": error.hint(),
                         "start": span.start, "end": span.end, "suggestion": suggestion }),
            )
        }
        Failure::Usage { message, hint } => {
            Answer::json(400, &json!({ "error": message, "hint": hint }))
        }
        other => Answer::json(
            500,
            &json!({ "error": other.render(false).trim_end(), "hint": null }),
        ),
    }
}

/// The value of `name` in a URL query (`a=1&b=2`), undecoded.
fn query_value<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    (query.split('&')).find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

/// `%XX` sequences decoded (as UTF-8, lossily); anything else kept as it is.
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes.get(i + 1..i + 3))
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
