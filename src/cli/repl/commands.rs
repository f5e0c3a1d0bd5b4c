//! The REPL's `:commands`: what they are (for `:help` and completion), and what each does to
//! the session. Their values are parsed by the command line's parsers (`cli::args`),
//! so that `:mode`, `:origin`, `:param`, `:dtype`, `:threads` and `:engine` take what the
//! options take and fail with the same messages.

use super::view::{self, num, stats};
use super::{engine_trouble, usage, Repl, Trouble};
use crate::cli::args::{
    parse_dtype, parse_engine, parse_footprint, parse_input, parse_mode, parse_origin, parse_param,
    parse_threads, FootprintSpec,
};
use crate::cli::report::Failure;
use crate::cli::setup;
use jitfilter::imageio::{self, Image};
use jitfilter::Kernel;
use jitfilter::{image_filter, DType};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

/// The commands, for `:help` and completion.
pub const COMMANDS: &[(&str, &str, &str)] = &[
    (
        ":load",
        "PATH",
        "load an image or .npy array (`:load _` continues from the last result)",
    ),
    (
        ":input",
        "NAME [PATH]",
        "load another image that expressions read as NAME (without PATH: drop it)",
    ),
    (":inputs", "", "the images loaded with :input"),
    (
        ":save",
        "PATH",
        "write the last result `_` (.png .tif .tiff .jpg .jpeg .npy), atomically",
    ),
    (
        ":footprint",
        "SPEC",
        "box:N rect:WxH disk:R diamond:R ball:R gauss:S file:PATH",
    ),
    (
        ":mode",
        "MODE [CVAL]",
        "reflect mirror nearest wrap constant (with CVAL, default 0)",
    ),
    (
        ":origin",
        "O[,O2...]",
        "shift the window: one value for all axes or one per axis",
    ),
    (
        ":param",
        "NAME=VALUE",
        "set a param (`param NAME = default;` in the program)",
    ),
    (
        ":params",
        "",
        "the last expression's params and their values",
    ),
    (":dtype", "TYPE", "output type: same u8 u16 i16 i32 f32 f64"),
    (":threads", "N|auto", "worker threads"),
    (":engine", "ENGINE", "auto fused callback interpreter"),
    (":ir", "", "the Cranelift IR of the last expression"),
    (":ast", "", "the typed program of the last expression"),
    (
        ":view",
        "[STAGE] [WIDTH]",
        "a preview of the last result (or the image, or a stage of the last expression)",
    ),
    (
        ":stages",
        "",
        "the passes of the last expression: its stages, then the result",
    ),
    (":info", "", "the current image and settings"),
    (":help", "", "this list"),
    (":quit", "", "leave (or Ctrl-D)"),
];

impl Repl {
    /// Runs a `:command` line; what it prints, or why it failed.
    pub(super) fn command(&mut self, line: &str) -> Result<String, Trouble> {
        let (name, arg) = match line.split_once(char::is_whitespace) {
            Some((n, a)) => (n, a.trim()),
            None => (line, ""),
        };
        let no_arg = |out: String| {
            if arg.is_empty() {
                Ok(out)
            } else {
                Err(usage(format!("{name} takes no argument"), None))
            }
        };
        match name {
            ":help" | ":h" | ":?" => no_arg(help()),
            ":quit" | ":q" | ":exit" => {
                self.quit = true;
                no_arg(String::new())
            }
            ":load" => self.load(arg),
            ":input" => self.input(arg),
            ":inputs" => no_arg(self.show_inputs()),
            ":save" => self.save(arg),
            ":footprint" | ":fp" => self.set_footprint(arg),
            ":mode" => self.set_mode(arg),
            ":origin" => self.set_origin(arg),
            ":param" => self.set_param(arg),
            ":params" => no_arg(self.show_params()),
            ":dtype" => self.set_dtype(arg),
            ":threads" => self.set_threads(arg),
            ":engine" => self.set_engine(arg),
            ":ir" => {
                let kernel = self.last_kernel()?;
                let ir = kernel
                    .cranelift_ir()
                    .map_err(|e| Trouble::Failure(Failure::Runtime(e.to_string())))?;
                no_arg(format!("; kernel: {}\n{ir}", kernel.source().trim()))
            }
            ":ast" => {
                let kernel = self.last_kernel()?;
                no_arg(format!("{}", kernel.program()))
            }
            ":view" => self.view(arg),
            ":stages" => no_arg(self.show_stages()),
            ":info" => no_arg(self.info()),
            _ => {
                let known: Vec<&str> = COMMANDS.iter().map(|c| c.0).collect();
                let hint = jitfilter::check::closest(name, &known)
                    .map(|s| format!("did you mean `{s}`? (:help lists the commands)"));
                Err(usage(
                    format!("unknown command `{name}`"),
                    Some(hint.as_deref().unwrap_or(":help lists the commands")),
                ))
            }
        }
    }

    fn last_kernel(&self) -> Result<&Kernel, Trouble> {
        self.kernel
            .as_ref()
            .ok_or_else(|| usage("no expression yet", Some("type one, e.g. max(w)")))
    }

    fn load(&mut self, arg: &str) -> Result<String, Trouble> {
        if arg.is_empty() {
            return Err(usage(":load needs a PATH (or _ for the last result)", None));
        }
        if arg == "_" {
            let result = self
                .result
                .clone()
                .ok_or_else(|| usage("no result yet", Some("type an expression first")))?;
            self.image = result;
            self.image_name = "_ (the last result)".into();
        } else {
            let path = Path::new(arg);
            self.image = Arc::new(imageio::load_with(path, &self.limits).map_err(Failure::File)?);
            self.image_name = path.display().to_string();
        }
        Ok(format!(
            "loaded {}: {}\n",
            self.image_name,
            self.image.describe()
        ))
    }

    fn input(&mut self, arg: &str) -> Result<String, Trouble> {
        let (name, path) = match arg.split_once(char::is_whitespace) {
            Some((n, p)) => (n, Some(p.trim())),
            None => (arg, None),
        };
        let name = parse_input(name)
            .map_err(|e| usage(e, Some("e.g. :input g guide.png")))?
            .name;
        self.inputs.retain(|(n, _)| *n != name);
        let Some(path) = path else {
            return Ok(format!("dropped input {name}\n"));
        };
        let image = imageio::load_with(Path::new(path), &self.limits).map_err(Failure::File)?;
        let line = format!("input {name} = {path}: {}\n", image.describe());
        self.inputs.push((name, Arc::new(image)));
        Ok(line)
    }

    fn show_inputs(&self) -> String {
        if self.inputs.is_empty() {
            return "no inputs (load one with :input NAME PATH)\n".into();
        }
        (self.inputs.iter())
            .map(|(n, i)| format!("{n:9} {}\n", i.describe()))
            .collect()
    }

    fn save(&mut self, arg: &str) -> Result<String, Trouble> {
        if arg.is_empty() {
            return Err(usage(":save needs a PATH", Some("e.g. :save out.png")));
        }
        let result = self
            .result
            .as_ref()
            .ok_or_else(|| usage("nothing to save yet", Some("type an expression first")))?;
        let path = Path::new(arg);
        imageio::save_atomic(path, result).map_err(Failure::File)?;
        Ok(format!(
            "saved _ ({}) to {}\n",
            result.describe(),
            path.display()
        ))
    }

    fn set_footprint(&mut self, arg: &str) -> Result<String, Trouble> {
        if arg.is_empty() {
            return Ok(format!("footprint {}\n", self.footprint_spec));
        }
        let spec = parse_footprint(arg).map_err(bad_argument(":footprint"))?;
        let footprint = match &spec {
            FootprintSpec::Shape(footprint) => footprint.clone(),
            // Read now: a mask that changes on disk does not change the session.
            FootprintSpec::File(_) => setup::footprint(&spec, None, &self.limits)?,
        };
        let ndim = footprint.ndim().unwrap_or(self.image.shape().len());
        let cells = footprint
            .resolve(ndim, &self.limits)
            .map(|r| r.cells.len())
            .map_err(engine_trouble)?;
        self.footprint = footprint;
        self.footprint_spec = spec;
        Ok(format!(
            "footprint {} ({cells} cells)\n",
            self.footprint_spec
        ))
    }

    fn set_mode(&mut self, arg: &str) -> Result<String, Trouble> {
        let mut words = arg.split_whitespace();
        let Some(name) = words.next() else {
            return Ok(self.mode_line());
        };
        let mode = parse_mode(name).map_err(bad_argument(":mode"))?;
        let cval = match words.next() {
            Some(v) => v
                .parse::<f64>()
                .map_err(|_| usage(format!("`{v}` is not a number"), Some(":mode constant 0")))?,
            None => 0.0,
        };
        if let Some(extra) = words.next() {
            return Err(bad_argument(":mode")(format!("unexpected `{extra}`")));
        }
        self.mode = mode;
        self.cval = cval;
        Ok(self.mode_line())
    }

    fn mode_line(&self) -> String {
        if self.mode.constant() {
            format!("mode {} (cval {})\n", self.mode, num(self.cval))
        } else {
            format!("mode {}\n", self.mode)
        }
    }

    fn set_origin(&mut self, arg: &str) -> Result<String, Trouble> {
        if !arg.is_empty() {
            self.origin = parse_origin(arg).map_err(bad_argument(":origin"))?.0;
        }
        Ok(format!("origin {}\n", self.origin_text()))
    }

    fn origin_text(&self) -> String {
        if self.origin.is_empty() {
            "0".into()
        } else {
            self.origin
                .iter()
                .map(|o| o.to_string())
                .collect::<Vec<_>>()
                .join(",")
        }
    }

    fn set_param(&mut self, arg: &str) -> Result<String, Trouble> {
        let (name, value) = parse_param(arg).map_err(bad_argument(":param"))?;
        self.params.retain(|(n, _)| *n != name);
        self.params.push((name.clone(), value));
        let declared = self
            .kernel
            .as_ref()
            .is_some_and(|k| k.params().iter().any(|p| p.name == name));
        Ok(if declared || self.kernel.is_none() {
            format!("{name} = {}\n", num(value))
        } else {
            format!(
                "{name} = {} (the last expression does not declare it; kept for those that do)\n",
                num(value)
            )
        })
    }

    fn show_params(&self) -> String {
        let mut out = String::new();
        if let Some(kernel) = &self.kernel {
            if kernel.params().is_empty() {
                out.push_str("the last expression declares no params\n");
            }
            for p in kernel.params() {
                let range = match p.range {
                    Some((lo, hi)) => format!(", in {} .. {}", num(lo), num(hi)),
                    None => String::new(),
                };
                let _ = match self.params.iter().find(|(n, _)| *n == p.name) {
                    Some((_, v)) => writeln!(
                        out,
                        "{} = {} (default {}{range})",
                        p.name,
                        num(*v),
                        num(p.default)
                    ),
                    None => writeln!(out, "{} = {} (default{range})", p.name, num(p.default)),
                };
            }
        } else {
            out.push_str("no expression yet\n");
        }
        for (name, v) in &self.params {
            if !self
                .kernel
                .as_ref()
                .is_some_and(|k| k.params().iter().any(|p| &p.name == name))
            {
                let _ = writeln!(
                    out,
                    "{name} = {} (set, not declared by the last expression)",
                    num(*v)
                );
            }
        }
        out
    }

    fn set_dtype(&mut self, arg: &str) -> Result<String, Trouble> {
        if !arg.is_empty() {
            self.dtype = parse_dtype(arg).map_err(bad_argument(":dtype"))?.dtype();
        }
        Ok(format!("dtype {}\n", self.dtype_text()))
    }

    fn dtype_text(&self) -> String {
        match self.dtype {
            None => format!("same (the image's: {})", self.image.dtype()),
            Some(t) => t.to_string(),
        }
    }

    fn set_threads(&mut self, arg: &str) -> Result<String, Trouble> {
        match arg {
            "" => {}
            "auto" => self.threads = None,
            n => self.threads = Some(parse_threads(n).map_err(bad_argument(":threads"))?),
        }
        Ok(format!("threads {}\n", self.threads_text()))
    }

    fn threads_text(&self) -> String {
        self.threads
            .map_or("auto (one per core)".into(), |t| t.to_string())
    }

    fn set_engine(&mut self, arg: &str) -> Result<String, Trouble> {
        if !arg.is_empty() {
            self.engine = parse_engine(arg).map_err(bad_argument(":engine"))?;
        }
        Ok(format!("engine {}\n", self.engine))
    }

    fn show_stages(&self) -> String {
        let Some(k) = &self.kernel else {
            return "no expression yet: type one, e.g. stage e = min(w); max(e)\n".into();
        };
        let mut out = String::new();
        if k.program().stages.is_empty() {
            out.push_str("one pass (no stages):\n");
        }
        for line in k.plan_summary() {
            let _ = writeln!(out, "  {line}");
        }
        out
    }

    fn view(&mut self, arg: &str) -> Result<String, Trouble> {
        // A stage's name, then the width: `:view e`, `:view e 48`, `:view 48`. Names made by
        // `over` have spaces, so the width is the last word when it is a number.
        let (stage, arg) = match arg.rsplit_once(' ') {
            Some((name, w)) if w.parse::<usize>().is_ok() => (name.trim(), w),
            _ if arg.parse::<usize>().is_ok() || arg.is_empty() => ("", arg),
            _ => (arg, ""),
        };
        let width = match arg {
            "" => self.width.map_or(64, |w| w.saturating_sub(1).clamp(8, 64)),
            w => w
                .parse::<usize>()
                .ok()
                .filter(|w| (1..=1000).contains(w))
                .ok_or_else(|| usage(format!("`{w}` is not a width"), Some("e.g. :view 48")))?,
        };
        if !stage.is_empty() {
            let image = self.stage_image(stage)?;
            return Ok(view::preview(&image, stage, width, self.colour));
        }
        let (image, what) = match &self.result {
            Some(r) => (r.clone(), "_"),
            None => (self.image.clone(), "the image"),
        };
        Ok(view::preview(&image, what, width, self.colour))
    }

    /// Stage `name` of the last expression, made over the image (in f64).
    fn stage_image(&self, name: &str) -> Result<Arc<Image>, Trouble> {
        let last = self.kernel.as_ref().ok_or_else(|| {
            usage(
                "no expression yet",
                Some("type one with stages, then :view NAME"),
            )
        })?;
        let k = last.stage(name).ok_or_else(|| {
            let names: Vec<String> = last
                .program()
                .stages
                .iter()
                .map(|s| s.name.clone())
                .collect();
            match names.is_empty() {
                true => usage(
                    "the last expression has no stages",
                    Some("e.g. stage e = min(w); max(e)"),
                ),
                false => usage(
                    format!("the last expression has no stage `{name}`"),
                    Some(&format!("its stages: {}", names.join(", "))),
                ),
            }
        })?;
        let mut options = self.options();
        for (p, v) in &self.params {
            if k.params().iter().any(|d| &d.name == p) {
                options = options.param(p, *v);
            }
        }
        let named: Vec<(&str, &Image)> = self
            .inputs
            .iter()
            .map(|(n, i)| (n.as_str(), &**i))
            .collect();
        let image = image_filter::apply(
            &k,
            &self.image,
            &named,
            false,
            &self.footprint,
            &options,
            DType::F64,
        )
        .map_err(engine_trouble)?;
        Ok(Arc::new(image))
    }

    fn info(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "image     {} ({})",
            self.image_name,
            self.image.describe()
        );
        for (name, image) in &self.inputs {
            let _ = writeln!(out, "input     {name} ({})", image.describe());
        }
        let _ = writeln!(out, "footprint {}", self.footprint_spec);
        let _ = write!(
            out,
            "{}",
            self.mode_line().replacen("mode ", "mode      ", 1)
        );
        let _ = writeln!(out, "origin    {}", self.origin_text());
        let _ = writeln!(out, "dtype     {}", self.dtype_text());
        let _ = writeln!(out, "threads   {}", self.threads_text());
        let _ = writeln!(out, "engine    {}", self.engine);
        if let Some(k) = &self.kernel {
            let _ = writeln!(out, "last      {}", k.source().trim().replace('\n', " "));
        }
        if let Some(r) = &self.result {
            let _ = writeln!(out, "_         {}  {}", r.describe(), stats(r));
        }
        out
    }
}

fn help() -> String {
    let mut out = String::from(
        "Type a kernel expression to apply it to the image, e.g. max(w), median(w),\n\
         let m = mean(w); (c - m) / std(w). Input continues on the next line while a\n\
         bracket is open or the line ends with `;`. The result is kept as `_`.\n\n",
    );
    for (name, arg, what) in COMMANDS {
        let _ = writeln!(out, "  {:<24}{what}", format!("{name} {arg}"));
    }
    out.push_str(
        "\nTab completes names, functions, params and commands. Ctrl-C clears the line or\n\
                  stops waiting for a filter; Ctrl-D quits. docs/language.md has the language.\n",
    );
    out
}

/// A bad argument of `command`: the parser's message, and the command's usage as the hint.
fn bad_argument(command: &'static str) -> impl Fn(String) -> Trouble {
    move |message| {
        let usage_line = COMMANDS
            .iter()
            .find(|c| c.0 == command)
            .map(|(name, arg, _)| format!("usage: {name} {arg}"));
        usage(message, usage_line.as_deref())
    }
}
