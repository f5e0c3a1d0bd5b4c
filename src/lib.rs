//! jitfilter: kernel expressions compiled to native code, applied as N-D window filters with
//! scipy.ndimage's footprints, boundary modes and origins.
//!
//! Data flow, one module per stage: source text → [`syntax`] (pest) → [`check`] → [`ir`]
//! (checked, typed DAG) → [`interp`] (reference) or [`plan`] (lowered passes) and [`planner`]
//! (which reductions become planes) → [`codegen`] (Cranelift: scipy callback ABI, row
//! functions) → [`schedule`] (the passes of one application and the engine each runs on) →
//! [`window`] (the N-D window loop, rows from sources to sinks) → output. [`kernel`] ties them
//! together behind a small API, [`bind`] fits named inputs and channels to a program; [`imageio`] reads and writes files.
//!
//! ```
//! use jitfilter::{Footprint, Kernel, Mode, Options};
//! use ndarray::Array2;
//!
//! let k = Kernel::compile("max(w)")?;
//! let img = Array2::<u8>::from_shape_fn((32, 32), |(y, x)| (x ^ y) as u8);
//! let out = k.filter(img.view(), &Footprint::disk(2), &Options::default().mode(Mode::Nearest))?;
//! assert!(out.iter().zip(img.iter()).all(|(o, i)| o >= i));
//! # Ok::<(), jitfilter::Error>(())
//! ```

pub mod auto;
pub mod bind;
pub mod boundary;
pub mod check;
pub mod codegen;
pub mod dtype;
pub mod error;
pub mod footprint;
mod fusion;
pub mod image_filter;
pub mod imageio;
pub mod int_sums;
pub mod interp;
pub mod ir;
pub mod kernel;
mod keyed_sums;
pub mod limits;
pub mod lines;
pub mod native;
pub mod order;
pub mod outer;
pub mod plan;
pub mod planes;
pub mod planner;
pub mod regions;
pub mod runtime;
pub mod schedule;
pub mod select;
pub mod simd;
mod spare;
mod stack;
pub mod stream;
pub mod syntax;
pub mod window;

pub use bind::Inputs;
pub use boundary::Mode;
pub use codegen::CallbackFn;
pub use dtype::{DType, Element};
pub use error::{Error, ExprError, Span};
pub use footprint::Footprint;
pub use kernel::{Cancel, Engine, Kernel, Options, ScipyContext};
pub use limits::{Limit, LimitError, Limits};
pub use runtime::CallbackContext;
pub use schedule::{Path, Trace};
