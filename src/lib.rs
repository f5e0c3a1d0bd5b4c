//! jitfilter: kernel expressions compiled to native code, applied as N-D window filters with
//! scipy.ndimage's footprints, boundary modes and origins.

pub mod check;
pub mod error;
pub mod interp;
pub mod ir;
pub mod syntax;

pub use error::{Error, ExprError, Span};
pub mod codegen;
pub mod plan;
pub mod runtime;
