//! Reading and writing arrays: images (PNG, TIFF, JPEG) and `.npy`, with atomic writes.
//!
//! A file loads as an [`Image`]: one plane per colour channel (grey, or R, G and B), which
//! filters apply to, plus an optional alpha plane, which they pass through. A `.npy` file is a
//! single plane of 1 to 32 dimensions. Samples keep their type: 8- and 16-bit images stay `u8` and
//! `u16`, `.npy` files keep their dtype.
//!
//! This module holds the types and the entry points; one submodule per concern does the rest:
//! `format` (naming, recognising, and the one table of what each format can write), `raster`
//! (PNG and JPEG through the `image` crate), `tiff` (through the `tiff` crate directly, because
//! it reads and writes grey images of every sample type, signed and float too, which makes
//! `.tiff` the lossless image format for any result), `npy`, and `atomic`.
//!
//! Writes are atomic: [`save_atomic`] encodes into a temporary file in the target's folder and
//! renames it over the target, so a failure at any point leaves an existing file as it was and
//! no temporary file behind.
//!
//! Decompression bombs: decoding an image stops with an error once its pixels would need more than
//! [`Limits::max_image_bytes`] (by default 512 MiB, the `image` crate's default `max_alloc`,
//! applied to TIFF as well). A `.npy` header must not describe more data than the file holds, so
//! reading one never allocates much more than the file's size.

mod atomic;
mod format;
mod npy;
mod png_writer;
mod raster;
mod rows;
mod tiff;
mod tiff_writer;

pub use atomic::remove_temporary_files;
pub use format::Format;
pub use rows::{open_rows, save_rows, RowSink, RowSource, WriteOptions};
pub use tiff::MAX_BANDS as MAX_TIFF_BANDS;
pub use tiff_writer::Compression as TiffCompression;

use crate::dtype::{DType, Element};
use crate::limits::{Limit, LimitError, Limits};
use format::Encoding;
use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};
use ndarray_npy::{ReadableElement, WritableElement};
use std::borrow::Cow;
use std::fs;
use std::io::{self, Seek, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// An N-D array whose element type is known only at run time.
#[derive(Debug, Clone, PartialEq)]
pub enum DynArray {
    U8(ArrayD<u8>),
    U16(ArrayD<u16>),
    I16(ArrayD<i16>),
    I32(ArrayD<i32>),
    F32(ArrayD<f32>),
    F64(ArrayD<f64>),
}

/// Runs `$body` with `$a` bound to the typed array inside a [`DynArray`].
macro_rules! dispatch {
    ($value:expr, $a:ident => $body:expr) => {
        match $value {
            $crate::imageio::DynArray::U8($a) => $body,
            $crate::imageio::DynArray::U16($a) => $body,
            $crate::imageio::DynArray::I16($a) => $body,
            $crate::imageio::DynArray::I32($a) => $body,
            $crate::imageio::DynArray::F32($a) => $body,
            $crate::imageio::DynArray::F64($a) => $body,
        }
    };
}
pub(crate) use dispatch;

/// Runs `$body` with the type alias `$t` set to the element type of `$dtype`.
macro_rules! with_type {
    ($dtype:expr, $t:ident => $body:expr) => {
        match $dtype {
            $crate::dtype::DType::U8 => {
                type $t = u8;
                $body
            }
            $crate::dtype::DType::U16 => {
                type $t = u16;
                $body
            }
            $crate::dtype::DType::I16 => {
                type $t = i16;
                $body
            }
            $crate::dtype::DType::I32 => {
                type $t = i32;
                $body
            }
            $crate::dtype::DType::F32 => {
                type $t = f32;
                $body
            }
            $crate::dtype::DType::F64 => {
                type $t = f64;
                $body
            }
        }
    };
}
pub(crate) use with_type;

/// The element types of [`DynArray`], tying each Rust type to its variant.
pub(crate) trait Sample: Element + ReadableElement + WritableElement {
    fn wrap(a: ArrayD<Self>) -> DynArray;
    fn unwrap(a: &DynArray) -> Option<&ArrayD<Self>>;
}

macro_rules! sample {
    ($($t:ty => $v:ident),*) => {$(
        impl Sample for $t {
            fn wrap(a: ArrayD<$t>) -> DynArray {
                DynArray::$v(a)
            }
            fn unwrap(a: &DynArray) -> Option<&ArrayD<$t>> {
                match a {
                    DynArray::$v(a) => Some(a),
                    _ => None,
                }
            }
        }
    )*};
}
sample!(u8 => U8, u16 => U16, i16 => I16, i32 => I32, f32 => F32, f64 => F64);

impl DynArray {
    pub fn dtype(&self) -> DType {
        match self {
            DynArray::U8(_) => DType::U8,
            DynArray::U16(_) => DType::U16,
            DynArray::I16(_) => DType::I16,
            DynArray::I32(_) => DType::I32,
            DynArray::F32(_) => DType::F32,
            DynArray::F64(_) => DType::F64,
        }
    }

    pub fn shape(&self) -> &[usize] {
        dispatch!(self, a => a.shape())
    }

    /// The values as f64 (exact for every element type).
    pub fn to_f64(&self) -> ArrayD<f64> {
        dispatch!(self, a => a.mapv(|v| v.to_f64()))
    }

    /// Converts to `to` by value (no rescaling), rounding half to even and saturating as the
    /// engine does for integer outputs.
    pub fn convert(&self, to: DType) -> DynArray {
        if self.dtype() == to {
            return self.clone();
        }
        dispatch!(self, a => with_type!(to, O => Sample::wrap(converted::<_, O>(a))))
    }

    fn view<T: Sample>(&self) -> Option<ArrayViewD<'_, T>> {
        T::unwrap(self).map(|a| a.view())
    }
}

/// `a` converted by value ([`crate::dtype::convert`]: whole vectors at a time when `a` is
/// contiguous, as results are; `mapv` converted a value at a time, a fifth of a streamed copy).
fn converted<T: Element, O: Element>(a: &ArrayD<T>) -> ArrayD<O> {
    let Some(src) = a.as_slice() else {
        return a.mapv(|v| O::from_f64(v.to_f64()));
    };
    let mut out = O::buffer(src.len());
    crate::dtype::convert(src, &mut out);
    ArrayD::from_shape_vec(a.raw_dim(), out).expect("the shape of `a`")
}

/// How an image's channels are laid out. [`Layout::Array`] is a plain N-D array (from `.npy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Array,
    Grey,
    GreyAlpha,
    Rgb,
    Rgba,
}

impl Layout {
    /// Planes the filter applies to.
    pub fn colour_channels(self) -> usize {
        match self {
            Layout::Array | Layout::Grey | Layout::GreyAlpha => 1,
            Layout::Rgb | Layout::Rgba => 3,
        }
    }

    /// Samples per pixel: colour planes and alpha.
    pub fn samples(self) -> usize {
        self.colour_channels() + self.has_alpha() as usize
    }

    pub fn has_alpha(self) -> bool {
        matches!(self, Layout::GreyAlpha | Layout::Rgba)
    }

    pub fn name(self) -> &'static str {
        match self {
            Layout::Array => "array",
            Layout::Grey => "grey",
            Layout::GreyAlpha => "grey+alpha",
            Layout::Rgb => "RGB",
            Layout::Rgba => "RGBA",
        }
    }
}

/// A loaded file: colour planes (filtered) and an optional alpha plane (passed through), all of
/// the same shape and element type.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    layout: Layout,
    planes: Vec<DynArray>,
    alpha: Option<DynArray>,
}

impl Image {
    /// A plain array (as from `.npy`).
    pub fn array(data: DynArray) -> Image {
        Image {
            layout: Layout::Array,
            planes: vec![data],
            alpha: None,
        }
    }

    /// An image of `layout` from its planes: colour planes, then alpha, either given apart or
    /// as the last plane. Planes must share one type and shape.
    pub fn from_planes(
        layout: Layout,
        mut planes: Vec<DynArray>,
        alpha: Option<DynArray>,
    ) -> Image {
        let alpha = match alpha {
            Some(a) => Some(a),
            None if layout.has_alpha() && planes.len() > layout.colour_channels() => planes.pop(),
            None => None,
        };
        debug_assert_eq!(planes.len(), layout.colour_channels());
        debug_assert_eq!(alpha.is_some(), layout.has_alpha());
        Image {
            layout,
            planes,
            alpha,
        }
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    pub fn planes(&self) -> &[DynArray] {
        &self.planes
    }

    pub fn alpha(&self) -> Option<&DynArray> {
        self.alpha.as_ref()
    }

    pub fn dtype(&self) -> DType {
        self.planes[0].dtype()
    }

    /// The shape of each plane.
    pub fn shape(&self) -> &[usize] {
        self.planes[0].shape()
    }

    /// The part of the image in `ranges`, one per leading axis (rows, columns, …), alpha too.
    pub fn crop(&self, ranges: &[std::ops::Range<usize>]) -> Image {
        let cut = |a: &DynArray| {
            dispatch!(a, a => Sample::wrap(a
                .slice_each_axis(|ax| match ranges.get(ax.axis.index()) {
                    Some(r) => ndarray::Slice::from(r.clone()),
                    None => ndarray::Slice::from(..),
                })
                .to_owned()))
        };
        Image {
            layout: self.layout,
            planes: self.planes.iter().map(cut).collect(),
            alpha: self.alpha.as_ref().map(cut),
        }
    }

    /// Replaces every colour plane by `f(plane)` (e.g. a filter). The results must share one
    /// type and shape (writing an image whose planes differ fails); alpha is converted to the
    /// first plane's type by value.
    pub fn map_planes<E>(
        &self,
        mut f: impl FnMut(&DynArray) -> Result<DynArray, E>,
    ) -> Result<Image, E> {
        let planes = self
            .planes
            .iter()
            .map(&mut f)
            .collect::<Result<Vec<_>, E>>()?;
        let dtype = planes[0].dtype();
        let alpha = self.alpha.as_ref().map(|a| a.convert(dtype));
        Ok(Image {
            layout: self.layout,
            planes,
            alpha,
        })
    }

    /// E.g. `512×512 u8 RGB` or `4×5×6 f64 array`.
    pub fn describe(&self) -> String {
        let dims: Vec<String> = self.shape().iter().map(|d| d.to_string()).collect();
        format!("{} {} {}", dims.join("×"), self.dtype(), self.layout.name())
    }

    /// All planes, alpha last, as typed views.
    fn channels<T: Sample>(&self) -> Result<Vec<ArrayViewD<'_, T>>, Reason> {
        self.planes
            .iter()
            .chain(&self.alpha)
            .map(|p| p.view::<T>())
            .collect::<Option<_>>()
            .ok_or_else(|| Reason::Encode("planes differ in element type".into()))
    }

    /// All channels stacked on a last axis (`h × w × channels`), alpha last.
    fn stacked<T: Sample>(&self) -> Result<ArrayD<T>, Reason> {
        let ndim = self.shape().len();
        ndarray::stack(Axis(ndim), &self.channels::<T>()?)
            .map_err(|e| Reason::Encode(e.to_string()))
    }

    /// The channels interleaved per pixel, as image encoders want them; a single contiguous
    /// plane is lent as it is (no copy of a big grey image).
    fn samples<T: Sample>(&self) -> Result<Cow<'_, [T]>, Reason> {
        let channels = self.channels::<T>()?;
        let planes: Vec<Cow<[T]>> = (channels.iter())
            .map(|c| match c.to_slice() {
                Some(s) => Cow::Borrowed(s),
                None => Cow::Owned(c.iter().copied().collect()),
            })
            .collect();
        let n = planes.len();
        if n == 1 {
            return Ok(planes.into_iter().next().expect("one plane"));
        }
        let len = planes[0].len();
        let mut out = vec![T::from_f64(0.0); len * n];
        for (c, plane) in planes.iter().enumerate() {
            for (o, v) in out[c..].iter_mut().step_by(n).zip(plane.iter()) {
                *o = *v;
            }
        }
        Ok(Cow::Owned(out))
    }
}

/// The bytes of `samples` in the machine's byte order.
fn sample_bytes<T: Sample>(samples: &[T]) -> &[u8] {
    // SAFETY: every engine type (u8 … f64) is plain data without padding or invalid bit
    // patterns; the slice covers exactly the samples' memory, borrowed for as long.
    unsafe { std::slice::from_raw_parts(samples.as_ptr().cast(), std::mem::size_of_val(samples)) }
}

/// Reading or writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Read,
    Write,
}

/// A file that could not be read or written: the path, and why.
#[derive(Debug, Error)]
#[error("cannot {} {}: {reason}", if *.op == Op::Read { "read" } else { "write" }, .path.display())]
pub struct IoError {
    pub op: Op,
    pub path: PathBuf,
    pub reason: Reason,
}

/// Why a file could not be read or written.
#[derive(Debug, Error)]
pub enum Reason {
    #[error("{}", describe_io(.0))]
    Io(#[source] io::Error),
    #[error("not a valid {format} file: {detail}")]
    Decode { format: Format, detail: String },
    #[error("not a PNG, TIFF, JPEG or .npy file")]
    UnknownContent,
    #[error("unknown file extension (expected .png, .tif, .tiff, .jpg, .jpeg or .npy)")]
    UnknownExtension,
    #[error("{0}")]
    Unsupported(String),
    #[error("{format} cannot hold {}", data_words(*.layout, *.dtype, *.ndim))]
    CannotWrite {
        format: Format,
        layout: Layout,
        dtype: DType,
        ndim: usize,
    },
    #[error(transparent)]
    Limit(LimitError),
    #[error("encoding failed: {0}")]
    Encode(String),
}

fn data_words(layout: Layout, dtype: DType, ndim: usize) -> String {
    match layout {
        Layout::Array if ndim != 2 => format!("{ndim}-D arrays"),
        Layout::Array => format!("{dtype} data"),
        l => format!("{dtype} {} images", l.name()),
    }
}

/// An `io::Error` in words, without Rust's "(os error N)" suffix for the common cases.
fn describe_io(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        io::ErrorKind::IsADirectory => "is a directory".into(),
        io::ErrorKind::ReadOnlyFilesystem => "read-only file system".into(),
        io::ErrorKind::StorageFull => "no space left on device".into(),
        _ => e.to_string(),
    }
}

fn read_error(path: &Path, reason: Reason) -> IoError {
    IoError {
        op: Op::Read,
        path: path.to_path_buf(),
        reason,
    }
}

fn write_error(path: &Path, reason: Reason) -> IoError {
    IoError {
        op: Op::Write,
        path: path.to_path_buf(),
        reason,
    }
}

/// Reads an image (PNG, TIFF, JPEG) or a `.npy` array within the default [`Limits`].
pub fn load(path: &Path) -> Result<Image, IoError> {
    load_with(path, &Limits::default())
}

/// Reads an image (PNG, TIFF, JPEG) or a `.npy` array; an image may decode to at most
/// `limits.max_image_bytes`. The content decides the format; the extension is only a fallback, so
/// that a damaged file gets that format's error message.
pub fn load_with(path: &Path, limits: &Limits) -> Result<Image, IoError> {
    decode(read_bytes(path)?, path, limits)
}

/// Decodes an image or `.npy` array held in memory, as [`load_with`] decodes a file; `name` (an
/// upload's file name, say) only names it in errors and is the fallback for its format.
pub fn decode(bytes: Vec<u8>, name: &Path, limits: &Limits) -> Result<Image, IoError> {
    let format = Format::sniff(&bytes)
        .or_else(|| Format::from_extension(name))
        .ok_or_else(|| read_error(name, Reason::UnknownContent))?;
    let image = match format {
        Format::Npy => npy::read(&bytes).map(Image::array),
        Format::Tiff => tiff::read(&bytes, limits),
        Format::Png | Format::Jpeg => raster::read(bytes, format, limits),
    }
    .map_err(|reason| read_error(name, reason))?;
    let ndim = image.shape().len();
    if !(1..=crate::footprint::MAX_DIMS).contains(&ndim) {
        return Err(read_error(
            name,
            Reason::Unsupported(format!(
                "{ndim}-D arrays are not supported (1-D to {}-D)",
                crate::footprint::MAX_DIMS
            )),
        ));
    }
    if image.shape().contains(&0) {
        return Err(read_error(
            name,
            Reason::Unsupported("the array is empty".into()),
        ));
    }
    Ok(image)
}

/// Reads a footprint mask or weights: a `.npy` of any real dtype (bool and 64-bit integers too,
/// as numpy makes them by default) or a grey image (within `limits`), as f64.
pub fn load_weights(path: &Path, limits: &Limits) -> Result<ArrayD<f64>, IoError> {
    let bytes = read_bytes(path)?;
    if Format::sniff(&bytes) == Some(Format::Npy)
        || Format::from_extension(path) == Some(Format::Npy)
    {
        return npy::read_f64(&bytes).map_err(|r| read_error(path, r));
    }
    let image = load_with(path, limits)?;
    match image.layout() {
        Layout::Array | Layout::Grey => Ok(image.planes()[0].to_f64()),
        other => Err(read_error(
            path,
            Reason::Unsupported(format!(
                "a footprint must be a grey image or an array, not {}",
                other.name()
            )),
        )),
    }
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, IoError> {
    fs::read(path).map_err(|e| read_error(path, Reason::Io(e)))
}

/// Checks that `image`-like data can be written to `path`, before any work is spent on it.
pub fn check_output(
    path: &Path,
    layout: Layout,
    dtype: DType,
    ndim: usize,
) -> Result<Format, IoError> {
    output_encoding(path, layout, dtype, ndim).map(|(format, _)| format)
}

/// The format `path`'s extension names and how it encodes such data, or why it cannot.
fn output_encoding(
    path: &Path,
    layout: Layout,
    dtype: DType,
    ndim: usize,
) -> Result<(Format, Encoding), IoError> {
    let format =
        Format::from_extension(path).ok_or_else(|| write_error(path, Reason::UnknownExtension))?;
    let encoding = format.encoding(layout, dtype, ndim).ok_or_else(|| {
        write_error(
            path,
            Reason::CannotWrite {
                format,
                layout,
                dtype,
                ndim,
            },
        )
    })?;
    Ok((format, encoding))
}

/// Writes `image` to `path` in the format its extension names, atomically: into a temporary
/// file in the same folder, then renamed over `path`. On any failure `path` is untouched and the
/// temporary file is removed. A symlink at `path` is followed, so its target is replaced.
pub fn save_atomic(path: &Path, image: &Image) -> Result<(), IoError> {
    save_atomic_with(path, image, WriteOptions::default())
}

/// [`save_atomic`] with TIFF compression and PNG level as `options` say.
pub fn save_atomic_with(path: &Path, image: &Image, options: WriteOptions) -> Result<(), IoError> {
    let (_, encoding) = output_encoding(path, image.layout(), image.dtype(), image.shape().len())?;
    atomic::replace(path, |out| encode(out, image, encoding, options))
}

/// Encodes `image` in memory in the format `name`'s extension names (a download, say).
pub fn encode_as(name: &Path, image: &Image) -> Result<Vec<u8>, IoError> {
    let (_, encoding) = output_encoding(name, image.layout(), image.dtype(), image.shape().len())?;
    let mut out = io::Cursor::new(Vec::new());
    encode(&mut out, image, encoding, WriteOptions::default())
        .map_err(|reason| write_error(name, reason))?;
    Ok(out.into_inner())
}

fn encode<W: Write + Seek>(
    out: &mut W,
    image: &Image,
    encoding: Encoding,
    options: WriteOptions,
) -> Result<(), Reason> {
    match encoding {
        Encoding::Npy => npy::write(out, image),
        Encoding::Tiff(colour) => tiff::write(out, image, colour, options.tiff),
        Encoding::Png(colour) => raster::write(out, image, Format::Png, colour, options.png_level),
        Encoding::Jpeg(colour) => raster::write(out, image, Format::Jpeg, colour, None),
    }
}

/// The error for an image that would decode to more than `limits.max_image_bytes`.
fn too_large(limits: &Limits) -> Reason {
    Reason::Limit(Limit::ImageBytes.exceeded(limits, "the image is too large to decode"))
}

/// Splits interleaved `h × w` pixels into planes (and alpha) of `layout`.
fn split<T: Sample>(raw: Vec<T>, h: usize, w: usize, layout: Layout) -> Result<Image, Reason> {
    let n = layout.samples();
    let all = ArrayD::from_shape_vec(IxDyn(&[h, w, n]), raw)
        .map_err(|_| Reason::Unsupported("pixel data does not match the image size".into()))?;
    if n == 1 {
        // One channel: the decoded buffer is the plane, no copy.
        let plane = all
            .into_shape_with_order(IxDyn(&[h, w]))
            .expect("h × w × 1 elements");
        return Ok(Image {
            layout,
            planes: vec![T::wrap(plane)],
            alpha: None,
        });
    }
    let mut planes: Vec<DynArray> = (0..n)
        .map(|c| T::wrap(all.index_axis(Axis(2), c).to_owned()))
        .collect();
    let alpha = if layout.has_alpha() {
        planes.pop()
    } else {
        None
    };
    Ok(Image {
        layout,
        planes,
        alpha,
    })
}
