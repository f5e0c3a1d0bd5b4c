//! Reading and writing arrays: images (PNG, TIFF, JPEG) and `.npy`, with atomic writes.
//!
//! A file loads as an [`Image`]: one plane per colour channel (grey, or R, G and B), which
//! filters apply to, plus an optional alpha plane, which they pass through. A `.npy` file is a
//! single plane of 1 to 3 dimensions. Samples keep their type: 8- and 16-bit images stay `u8` and
//! `u16`, `.npy` files keep their dtype.
//!
//! PNG and JPEG go through the `image` crate; TIFF goes through the `tiff` crate directly, because
//! it reads and writes grey images of every sample type (signed and float too), which makes
//! `.tiff` the lossless image format for any result.
//!
//! Writes are atomic: [`save_atomic`] encodes into a temporary file in the target's folder and
//! renames it over the target, so a failure at any point leaves an existing file as it was and
//! no temporary file behind.
//!
//! Decompression bombs: decoding an image stops with an error once its pixels would need more than
//! [`Limits::max_image_bytes`] (by default 512 MiB, the `image` crate's default `max_alloc`,
//! applied to TIFF as well). A `.npy` header must not describe more data than the file holds, so
//! reading one never allocates much more than the file's size.

use crate::dtype::Element;
use crate::error::Error;
use crate::footprint::Footprint;
use crate::kernel::{Kernel, Options};
use crate::limits::{Limit, LimitError, Limits};
use image::{DynamicImage, ExtendedColorType, ImageEncoder, ImageFormat};
use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};
use ndarray_npy::{ReadNpyError, ReadNpyExt, ReadableElement, WritableElement, WriteNpyExt};
use std::borrow::Cow;
use std::fmt;
use std::fs;
use std::io::{self, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// JPEG quality (0–100) of written files: high, since filter results are often compared closely.
const JPEG_QUALITY: u8 = 95;

/// The element types the engine reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    U8,
    U16,
    I16,
    I32,
    F32,
    F64,
}

impl DType {
    pub fn name(self) -> &'static str {
        match self {
            DType::U8 => "u8",
            DType::U16 => "u16",
            DType::I16 => "i16",
            DType::I32 => "i32",
            DType::F32 => "f32",
            DType::F64 => "f64",
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

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
            DynArray::U8($a) => $body,
            DynArray::U16($a) => $body,
            DynArray::I16($a) => $body,
            DynArray::I32($a) => $body,
            DynArray::F32($a) => $body,
            DynArray::F64($a) => $body,
        }
    };
}

/// Runs `$body` with the type alias `$t` set to the element type of `$dtype`.
macro_rules! with_type {
    ($dtype:expr, $t:ident => $body:expr) => {
        match $dtype {
            DType::U8 => {
                type $t = u8;
                $body
            }
            DType::U16 => {
                type $t = u16;
                $body
            }
            DType::I16 => {
                type $t = i16;
                $body
            }
            DType::I32 => {
                type $t = i32;
                $body
            }
            DType::F32 => {
                type $t = f32;
                $body
            }
            DType::F64 => {
                type $t = f64;
                $body
            }
        }
    };
}

/// The element types of [`DynArray`], tying each Rust type to its variant.
trait Sample: Element + ReadableElement + WritableElement {
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
        dispatch!(self, a => with_type!(to, O => Sample::wrap(a.mapv(|v| O::from_f64(v.to_f64())))))
    }

    /// Applies `kernel` and returns the result as `out`. With `out` equal to the input type this
    /// is [`Kernel::filter`]; otherwise the unrounded f64 result is converted, which gives the
    /// same values as [`Kernel::filter_as`] while compiling the window loop for 12 type pairs
    /// instead of 36.
    pub fn filter(
        &self,
        kernel: &Kernel,
        footprint: &Footprint,
        options: &Options,
        out: DType,
    ) -> Result<DynArray, Error> {
        dispatch!(self, a => {
            if out == self.dtype() {
                Ok(Sample::wrap(kernel.filter(a.view(), footprint, options)?))
            } else {
                Ok(DynArray::F64(kernel.filter_as::<_, f64, _>(a.view(), footprint, options)?).convert(out))
            }
        })
    }

    fn view<T: Sample>(&self) -> Option<ArrayViewD<'_, T>> {
        T::unwrap(self).map(|a| a.view())
    }
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
    fn channels<T: Sample>(&self) -> Option<Vec<ArrayViewD<'_, T>>> {
        self.planes
            .iter()
            .chain(&self.alpha)
            .map(|p| p.view::<T>())
            .collect()
    }

    /// The channels interleaved per pixel, as image encoders want them.
    fn interleaved<T: Sample>(&self) -> Result<Vec<T>, Reason> {
        let channels = self
            .channels::<T>()
            .ok_or_else(|| Reason::Encode("planes differ in element type".into()))?;
        let ndim = self.shape().len();
        let stacked =
            ndarray::stack(Axis(ndim), &channels).map_err(|e| Reason::Encode(e.to_string()))?;
        Ok(stacked.as_standard_layout().iter().copied().collect())
    }
}

/// File formats, chosen by extension when writing and by content when reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Tiff,
    Jpeg,
    Npy,
}

impl Format {
    /// The format a path's extension names (case-insensitive).
    pub fn from_extension(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "png" => Format::Png,
            "tif" | "tiff" => Format::Tiff,
            "jpg" | "jpeg" => Format::Jpeg,
            "npy" => Format::Npy,
            _ => return None,
        })
    }

    /// The format a file's first bytes identify.
    fn sniff(bytes: &[u8]) -> Option<Format> {
        if bytes.starts_with(b"\x93NUMPY") {
            Some(Format::Npy)
        } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
            Some(Format::Tiff)
        } else {
            match image::guess_format(bytes).ok()? {
                ImageFormat::Png => Some(Format::Png),
                ImageFormat::Jpeg => Some(Format::Jpeg),
                _ => None,
            }
        }
    }

    /// Whether data of this layout, type and dimensionality can be written in this format.
    pub fn can_write(self, layout: Layout, dtype: DType, ndim: usize) -> bool {
        use DType::*;
        let image_2d = ndim == 2;
        match self {
            Format::Npy => true,
            Format::Png => image_2d && matches!(dtype, U8 | U16),
            Format::Jpeg => image_2d && dtype == U8 && !layout.has_alpha(),
            Format::Tiff => {
                image_2d
                    && match layout {
                        Layout::Array | Layout::Grey => true,
                        Layout::Rgb | Layout::Rgba => matches!(dtype, U8 | U16 | F32 | F64),
                        Layout::GreyAlpha => false,
                    }
            }
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Png => "PNG",
            Format::Tiff => "TIFF",
            Format::Jpeg => "JPEG",
            Format::Npy => ".npy",
        })
    }
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
    let bytes = read_bytes(path)?;
    let format = Format::sniff(&bytes)
        .or_else(|| Format::from_extension(path))
        .ok_or_else(|| read_error(path, Reason::UnknownContent))?;
    let image = match format {
        Format::Npy => npy::read(&bytes).map(Image::array),
        Format::Tiff => tiff_io::read(&bytes, limits),
        Format::Png | Format::Jpeg => read_image(bytes, format, limits),
    }
    .map_err(|reason| read_error(path, reason))?;
    let ndim = image.shape().len();
    if !(1..=3).contains(&ndim) {
        return Err(read_error(
            path,
            Reason::Unsupported(format!("{ndim}-D arrays are not supported (1-D to 3-D)")),
        ));
    }
    if image.shape().contains(&0) {
        return Err(read_error(
            path,
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
    let format =
        Format::from_extension(path).ok_or_else(|| write_error(path, Reason::UnknownExtension))?;
    if !format.can_write(layout, dtype, ndim) {
        return Err(write_error(
            path,
            Reason::CannotWrite {
                format,
                layout,
                dtype,
                ndim,
            },
        ));
    }
    Ok(format)
}

/// Writes `image` to `path` in the format its extension names, atomically: into a temporary
/// file in the same folder, then renamed over `path`. On any failure `path` is untouched and the
/// temporary file is removed. A symlink at `path` is followed, so its target is replaced.
/// Temporary files being written right now, so that an interrupted run can remove them.
static IN_FLIGHT: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Removes the temporary files of writes still in progress (for a SIGINT/SIGTERM handler: the
/// outputs they would have replaced stay as they were).
/// Called just before the process exits: the registry stays locked, so no write can create a
/// new temporary file after this.
pub fn remove_temporary_files() {
    let mut files = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
    for f in files.drain(..) {
        let _ = fs::remove_file(f);
    }
    std::mem::forget(files);
}

/// Registers a temporary file for [`remove_temporary_files`] while it lives.
struct InFlight(PathBuf);

impl InFlight {
    /// Creates a temporary file with `create` and registers it, under the registry's lock: an
    /// interrupt can come before (no file yet) or after (the file is removed), never between.
    fn create(
        create: impl FnOnce() -> io::Result<tempfile::NamedTempFile>,
    ) -> io::Result<(tempfile::NamedTempFile, InFlight)> {
        let mut files = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
        let temp = create()?;
        files.push(temp.path().to_path_buf());
        let path = temp.path().to_path_buf();
        Ok((temp, InFlight(path)))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|p| *p != self.0);
    }
}

pub fn save_atomic(path: &Path, image: &Image) -> Result<(), IoError> {
    let format = check_output(path, image.layout(), image.dtype(), image.shape().len())?;
    let fail = |reason| write_error(path, reason);
    let target = if path.is_symlink() {
        fs::canonicalize(path).map_err(|e| fail(Reason::Io(e)))?
    } else {
        path.to_path_buf()
    };
    // A FIFO, device or socket (e.g. a symlink to /dev/null) would be replaced by the rename:
    // refuse instead of destroying it. (Directories fail on their own with a clear message.)
    if let Ok(meta) = fs::metadata(&target) {
        if !meta.is_file() && !meta.is_dir() {
            return Err(fail(Reason::Unsupported(
                "not a regular file (a FIFO or device): jitfilter writes outputs by replacing them"
                    .into(),
            )));
        }
    }
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".jitfilter-").suffix(".tmp");
    // tempfile defaults to 0600; ask for 0666 so the umask decides, as for any new file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    let (mut temp, _in_flight) =
        InFlight::create(|| builder.tempfile_in(dir)).map_err(|e| fail(Reason::Io(e)))?;
    // Replacing a file keeps its permissions.
    if let Ok(meta) = fs::metadata(&target) {
        if meta.is_file() {
            fs::set_permissions(temp.path(), meta.permissions())
                .map_err(|e| fail(Reason::Io(e)))?;
        }
    }
    {
        let mut out = BufWriter::new(temp.as_file_mut());
        encode(&mut out, image, format).map_err(fail)?;
        out.flush().map_err(|e| fail(Reason::Io(e)))?;
    }
    temp.as_file().sync_all().map_err(|e| fail(Reason::Io(e)))?;
    // On error the returned temporary file is dropped, which deletes it.
    temp.persist(&target)
        .map_err(|e| fail(Reason::Io(e.error)))?;
    Ok(())
}

fn encode<W: Write + Seek>(out: &mut W, image: &Image, format: Format) -> Result<(), Reason> {
    match format {
        Format::Npy => npy::write(out, image),
        Format::Tiff => tiff_io::write(out, image),
        Format::Png | Format::Jpeg => {
            let &[h, w] = image.shape() else {
                return Err(Reason::Encode("images are 2-D".into()));
            };
            let (samples, color) = encoder_input(image)?;
            if color.bits_per_pixel() as usize / 8 * w * h != samples.len() {
                return Err(Reason::Encode(
                    "pixel data does not match the image size".into(),
                ));
            }
            let (w, h) = (w as u32, h as u32);
            if format == Format::Png {
                image::codecs::png::PngEncoder::new(out).write_image(&samples, w, h, color)
            } else {
                image::codecs::jpeg::JpegEncoder::new_with_quality(out, JPEG_QUALITY)
                    .write_image(&samples, w, h, color)
            }
            .map_err(image_error)
        }
    }
}

fn image_error(e: image::ImageError) -> Reason {
    match e {
        image::ImageError::IoError(e) => Reason::Io(e),
        other => Reason::Encode(other.to_string()),
    }
}

/// The error for an image that would decode to more than `limits.max_image_bytes`.
fn too_large(limits: &Limits) -> Reason {
    Reason::Limit(Limit::ImageBytes.exceeded(limits, "the image is too large to decode"))
}

/// Decodes PNG or JPEG with the `image` crate, under `limits.max_image_bytes`. Takes the file's
/// bytes so that they are freed as soon as they are decoded (peak memory of big images).
fn read_image(bytes: Vec<u8>, format: Format, limits: &Limits) -> Result<Image, Reason> {
    let mut reader = image::ImageReader::new(io::Cursor::new(bytes));
    reader.set_format(if format == Format::Png {
        ImageFormat::Png
    } else {
        ImageFormat::Jpeg
    });
    let mut image_limits = image::Limits::default();
    image_limits.max_alloc = Some(limits.max_image_bytes as u64);
    reader.limits(image_limits);
    let decoded = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => too_large(limits),
        image::ImageError::Decoding(d) => Reason::Decode {
            format,
            detail: std::error::Error::source(&d)
                .map_or_else(|| "invalid data".to_string(), |s| s.to_string()),
        },
        other => Reason::Decode {
            format,
            detail: other.to_string(),
        },
    })?;
    let (w, h) = (decoded.width() as usize, decoded.height() as usize);
    match decoded {
        DynamicImage::ImageLuma8(b) => split(b.into_raw(), h, w, Layout::Grey),
        DynamicImage::ImageLumaA8(b) => split(b.into_raw(), h, w, Layout::GreyAlpha),
        DynamicImage::ImageRgb8(b) => split(b.into_raw(), h, w, Layout::Rgb),
        DynamicImage::ImageRgba8(b) => split(b.into_raw(), h, w, Layout::Rgba),
        DynamicImage::ImageLuma16(b) => split(b.into_raw(), h, w, Layout::Grey),
        DynamicImage::ImageLumaA16(b) => split(b.into_raw(), h, w, Layout::GreyAlpha),
        DynamicImage::ImageRgb16(b) => split(b.into_raw(), h, w, Layout::Rgb),
        DynamicImage::ImageRgba16(b) => split(b.into_raw(), h, w, Layout::Rgba),
        other => Err(Reason::Unsupported(format!(
            "pixel format {:?}",
            other.color()
        ))),
    }
}

/// Splits interleaved `h × w` pixels into planes (and alpha) of `layout`.
fn split<T: Sample>(raw: Vec<T>, h: usize, w: usize, layout: Layout) -> Result<Image, Reason> {
    let n = layout.colour_channels() + layout.has_alpha() as usize;
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

/// The samples (native-endian bytes, interleaved) and colour type the PNG and JPEG encoders
/// take (u8 and u16 only; [`check_output`] has excluded the rest). A single u8 plane is lent
/// as it is: no copy of a big grey image.
fn encoder_input(image: &Image) -> Result<(Cow<'_, [u8]>, ExtendedColorType), Reason> {
    use ExtendedColorType as C;
    let colors = match image.dtype() {
        DType::U8 => [C::L8, C::La8, C::Rgb8, C::Rgba8],
        DType::U16 => [C::L16, C::La16, C::Rgb16, C::Rgba16],
        other => {
            return Err(Reason::Encode(format!(
                "{other} samples in an 8/16-bit image format"
            )))
        }
    };
    let color = colors[match image.layout() {
        Layout::Array | Layout::Grey => 0,
        Layout::GreyAlpha => 1,
        Layout::Rgb => 2,
        Layout::Rgba => 3,
    }];
    if let ([plane], None) = (image.planes(), image.alpha()) {
        if let Some(slice) = plane.view::<u8>().and_then(|v| v.to_slice()) {
            return Ok((Cow::Borrowed(slice), color));
        }
    }
    let samples = match image.dtype() {
        DType::U8 => image.interleaved::<u8>()?,
        _ => image
            .interleaved::<u16>()?
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect(),
    };
    Ok((Cow::Owned(samples), color))
}

/// `.npy` through `ndarray-npy`.
mod npy {
    use super::*;
    use ndarray_npy::npy::header::Header;

    /// Checks the header against the file size, so that a forged shape cannot make the reader
    /// allocate more than about 8× the file, and returns a description of the dtype.
    fn check_header(bytes: &[u8]) -> Result<String, Reason> {
        // The header's own length first: the reader allocates it before reading (versions 2
        // and 3 allow 4 GiB), so a 20-byte file could ask for that much.
        let (start, len) = match bytes {
            [0x93, b'N', b'U', b'M', b'P', b'Y', 1, _, a, b, ..] => {
                (10, u16::from_le_bytes([*a, *b]) as usize)
            }
            [0x93, b'N', b'U', b'M', b'P', b'Y', 2 | 3, _, a, b, c, d, ..] => {
                (12, u32::from_le_bytes([*a, *b, *c, *d]) as usize)
            }
            _ => (0, 0),
        };
        if start + len > bytes.len() {
            return Err(bad(format!(
                "the header claims {len} bytes but the file has only {} after it",
                bytes.len() - start
            )));
        }
        let mut rest = bytes;
        let header = Header::from_reader(&mut rest).map_err(|e| bad(e.to_string()))?;
        let elements = header
            .shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d));
        match elements {
            Some(n) if n <= rest.len() => Ok(header.type_descriptor.to_string()),
            _ => Err(bad(format!(
                "the header's shape {:?} needs more data than the file holds",
                header.shape
            ))),
        }
    }

    fn bad(detail: String) -> Reason {
        Reason::Decode {
            format: Format::Npy,
            detail,
        }
    }

    /// Tries each type in turn; `ndarray-npy` rejects a wrong dtype before reading any data.
    macro_rules! read_as {
        ($bytes:expr, $($t:ty => $convert:expr),*) => {
            $(match ArrayD::<$t>::read_npy($bytes) {
                Ok(a) => return Ok($convert(a)),
                Err(ReadNpyError::WrongDescriptor(_)) => {}
                Err(e) => return Err(bad(e.to_string())),
            })*
        };
    }

    /// An array of an engine type; bool reads as u8 0/1.
    pub(super) fn read(bytes: &[u8]) -> Result<DynArray, Reason> {
        let dtype = check_header(bytes)?;
        read_as!(bytes,
            u8 => DynArray::U8, u16 => DynArray::U16, i16 => DynArray::I16, i32 => DynArray::I32,
            f32 => DynArray::F32, f64 => DynArray::F64,
            bool => |a: ArrayD<bool>| DynArray::U8(a.mapv(u8::from)));
        Err(Reason::Unsupported(format!(
            "dtype {dtype} is not supported (u8, u16, i16, i32, f32, f64 and bool are; convert with numpy's astype)"
        )))
    }

    /// Any real dtype as f64, for footprints and weights. (64-bit integers round to the nearest
    /// f64, which is exact for any sensible weight.)
    pub(super) fn read_f64(bytes: &[u8]) -> Result<ArrayD<f64>, Reason> {
        let dtype = check_header(bytes)?;
        macro_rules! widen {
            ($($t:ty),*) => { read_as!(bytes, $($t => |a: ArrayD<$t>| a.mapv(|v| v as f64)),*) };
        }
        widen!(f64, f32, u8, u16, i16, i32, i8, u32, i64, u64);
        read_as!(bytes, bool => |a: ArrayD<bool>| a.mapv(|b| if b { 1.0 } else { 0.0 }));
        Err(Reason::Unsupported(format!(
            "dtype {dtype} is not a real number type"
        )))
    }

    /// Plain arrays as they are; images as `h × w × channels` (alpha last), or `h × w` for grey.
    pub(super) fn write<W: Write>(out: W, image: &Image) -> Result<(), Reason> {
        with_type!(image.dtype(), T => {
            let channels = image.channels::<T>().ok_or_else(|| Reason::Encode("planes differ in element type".into()))?;
            let result = if channels.len() == 1 {
                channels[0].write_npy(out)
            } else {
                let ndim = image.shape().len();
                ndarray::stack(Axis(ndim), &channels).map_err(|e| Reason::Encode(e.to_string()))?.write_npy(out)
            };
            result.map_err(|e| match e {
                ndarray_npy::WriteNpyError::Io(e) => Reason::Io(e),
                other => Reason::Encode(other.to_string()),
            })
        })
    }
}

/// TIFF through the `tiff` crate: grey of every engine type, RGB(A) of 8, 16, 32f and 64f bits.
mod tiff_io {
    use super::*;
    use tiff::decoder::{Decoder, DecodingResult, Limits as TiffLimits};
    use tiff::encoder::{colortype, TiffEncoder};
    use tiff::tags::{ExtraSamples, Tag};
    use tiff::{ColorType, TiffError};

    fn bad(e: TiffError, limits: &Limits) -> Reason {
        match e {
            TiffError::LimitsExceeded => too_large(limits),
            TiffError::IoError(e) if e.kind() != io::ErrorKind::UnexpectedEof => Reason::Io(e),
            other => Reason::Decode {
                format: Format::Tiff,
                detail: other.to_string(),
            },
        }
    }

    /// The first image in the file.
    pub(super) fn read(bytes: &[u8], limits: &Limits) -> Result<Image, Reason> {
        let bad = |e| bad(e, limits);
        let mut tiff_limits = TiffLimits::default();
        tiff_limits.decoding_buffer_size = limits.max_image_bytes;
        // Compressed strips are staged here; a raised image limit must not stop at its default.
        tiff_limits.intermediate_buffer_size = tiff_limits
            .intermediate_buffer_size
            .max(limits.max_image_bytes);
        let mut decoder = Decoder::new(io::Cursor::new(bytes))
            .map_err(bad)?
            .with_limits(tiff_limits);
        let (w, h) = decoder.dimensions().map_err(bad)?;
        let (w, h) = (w as usize, h as usize);
        let colour = decoder.colortype().map_err(bad)?;
        let layout = match colour {
            ColorType::Gray(_) => Layout::Grey,
            ColorType::GrayA(_) => Layout::GreyAlpha,
            ColorType::RGB(_) => Layout::Rgb,
            ColorType::RGBA(_) => Layout::Rgba,
            other => {
                return Err(Reason::Unsupported(format!(
                    "TIFF colour type {other:?} (grey, RGB and RGBA are)"
                )))
            }
        };
        let unsupported = |what: &str| {
            Err(Reason::Unsupported(format!(
                "{what} TIFF samples (u8, u16, i16, i32, f32 and f64 are)"
            )))
        };
        match decoder.read_image().map_err(bad)? {
            DecodingResult::U8(v) if colour != ColorType::Gray(1) => split(v, h, w, layout),
            DecodingResult::U16(v) => split(v, h, w, layout),
            DecodingResult::I16(v) => split(v, h, w, layout),
            DecodingResult::I32(v) => split(v, h, w, layout),
            DecodingResult::F32(v) => split(v, h, w, layout),
            DecodingResult::F64(v) => split(v, h, w, layout),
            DecodingResult::U8(_) => unsupported("1-bit"),
            DecodingResult::U32(_) => unsupported("u32"),
            DecodingResult::U64(_) => unsupported("u64"),
            DecodingResult::I8(_) => unsupported("i8"),
            DecodingResult::I64(_) => unsupported("i64"),
            DecodingResult::F16(_) => unsupported("f16"),
        }
    }

    pub(super) fn write<W: Write + Seek>(out: &mut W, image: &Image) -> Result<(), Reason> {
        let &[h, w] = image.shape() else {
            return Err(Reason::Encode("TIFF images are 2-D".into()));
        };
        let (w, h) = (w as u32, h as u32);
        let mut encoder = TiffEncoder::new(out).map_err(encode_error)?;
        let rgb = matches!(image.layout(), Layout::Rgb);
        let rgba = matches!(image.layout(), Layout::Rgba);
        macro_rules! put {
            ($t:ty, $c:ty) => {{
                let data = image.interleaved::<$t>()?;
                let mut tiff = encoder.new_image::<$c>(w, h).map_err(encode_error)?;
                if rgba {
                    // Readers take a fourth sample for alpha only when told so.
                    let unassociated_alpha = [ExtraSamples::UnassociatedAlpha.to_u16()];
                    tiff.encoder()
                        .write_tag(Tag::ExtraSamples, &unassociated_alpha[..])
                        .map_err(encode_error)?;
                }
                tiff.write_data(&data).map_err(encode_error)
            }};
        }
        let grey = matches!(image.layout(), Layout::Array | Layout::Grey);
        match image.dtype() {
            DType::U8 if grey => put!(u8, colortype::Gray8),
            DType::U8 if rgb => put!(u8, colortype::RGB8),
            DType::U8 if rgba => put!(u8, colortype::RGBA8),
            DType::U16 if grey => put!(u16, colortype::Gray16),
            DType::U16 if rgb => put!(u16, colortype::RGB16),
            DType::U16 if rgba => put!(u16, colortype::RGBA16),
            DType::I16 if grey => put!(i16, colortype::GrayI16),
            DType::I32 if grey => put!(i32, colortype::GrayI32),
            DType::F32 if grey => put!(f32, colortype::Gray32Float),
            DType::F32 if rgb => put!(f32, colortype::RGB32Float),
            DType::F32 if rgba => put!(f32, colortype::RGBA32Float),
            DType::F64 if grey => put!(f64, colortype::Gray64Float),
            DType::F64 if rgb => put!(f64, colortype::RGB64Float),
            DType::F64 if rgba => put!(f64, colortype::RGBA64Float),
            other => Err(Reason::Encode(format!(
                "{other} {} in TIFF",
                image.layout().name()
            ))),
        }
    }

    fn encode_error(e: TiffError) -> Reason {
        match e {
            TiffError::IoError(e) => Reason::Io(e),
            other => Reason::Encode(other.to_string()),
        }
    }
}
