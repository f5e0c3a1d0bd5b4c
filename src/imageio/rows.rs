//! Row streaming: decoders that give an image's rows in order ([`RowSource`]) and encoders that
//! take them in order ([`RowSink`]), so that a huge image flows from file to file through a
//! window of rows and is never held whole.
//!
//! What streams: TIFF of strips or tiles (samples interleaved or planar, any engine type, any
//! compression the `tiff` crate reads), `.npy` of 2 to 32 axes in C order (its "rows" are the
//! first axis's positions, each the values of all the others), PNG of 8 or 16 bits (not
//! interlaced, no palette or transparency chunk) — read; TIFF, `.npy` and PNG — written. The
//! rest (JPEG input, interlaced or palette PNG, 1-D arrays) is read whole: [`open_rows`] says
//! why.

use super::tiff_writer::{Compression, StripWriter};
use super::{
    format::Encoding, npy, raster, read_error, sample_bytes, tiff, too_large, with_type, DynArray,
    Format, Image, IoError, Layout, Reason, Sample,
};
use crate::dtype::{DType, Element};
use crate::limits::{Limit, Limits};
use ndarray::{ArrayD, IxDyn};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, Write};
use std::path::{Path, PathBuf};

/// A decoder giving an image's rows in order.
pub trait RowSource: Send {
    /// Height and width: rows, and the values of one row (per plane).
    fn shape(&self) -> [usize; 2];
    /// The array's shape, every axis: `[height, width]` but for an `.npy` of more than two
    /// axes, whose rows are its first axis's positions.
    fn dims(&self) -> Vec<usize> {
        self.shape().to_vec()
    }
    fn layout(&self) -> Layout;
    fn dtype(&self) -> DType;
    /// The next rows (one or more) as an image of those rows; `None` after the last.
    fn next_rows(&mut self) -> Result<Option<Image>, IoError>;
    /// A new decoder of the same image from its first row (to read far rows ahead).
    fn reopen(&self) -> Result<Box<dyn RowSource>, IoError>;
}

/// An encoder taking an image's rows in order.
pub trait RowSink {
    /// The next rows, as an image of those rows.
    fn write_rows(&mut self, rows: &Image) -> Result<(), Reason>;
    /// Completes the file once every row is written.
    fn finish(self: Box<Self>) -> Result<(), Reason>;
}

/// How files are written: TIFF compression, PNG deflate level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteOptions {
    pub tiff: Compression,
    /// 0 (none) to 9 (smallest); `None`: the encoder's default.
    pub png_level: Option<u8>,
}

/// Opens `path` to read it row by row: the decoder, or (`Err` inside) why this file is read
/// whole. A row may decode to at most `limits.max_image_bytes` (the rows never are all in
/// memory), the image to at most `limits.max_stream_bytes` in all.
pub fn open_rows(
    path: &Path,
    limits: &Limits,
) -> Result<Result<Box<dyn RowSource>, String>, IoError> {
    let fail = |reason| read_error(path, reason);
    let mut file = File::open(path).map_err(|e| fail(Reason::Io(e)))?;
    let mut magic = [0u8; 8];
    let n = read_up_to(&mut file, &mut magic).map_err(|e| fail(Reason::Io(e)))?;
    let format = Format::sniff(&magic[..n]).or_else(|| Format::from_extension(path));
    let source: Result<Box<dyn RowSource>, String> = match format {
        Some(Format::Tiff) => tiff::rows(path, limits)?,
        Some(Format::Npy) => NpyRows::open(path, limits)?.map(|s| Box::new(s) as _),
        Some(Format::Png) => raster::png_rows(path, limits)?,
        Some(Format::Jpeg) => Err("JPEG is decoded whole".into()),
        None => return Err(fail(Reason::UnknownContent)),
    };
    Ok(source)
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// The limits on one row's decoded size, and on all `rows` rows': the row's size.
pub(super) fn check_row(
    row_bytes: Option<usize>,
    rows: usize,
    limits: &Limits,
) -> Result<usize, Reason> {
    let row = match row_bytes {
        Some(b) if b <= limits.max_image_bytes => b,
        _ => return Err(too_large(limits)),
    };
    let total = (row as u128) * (rows as u128);
    if total > limits.max_stream_bytes as u128 {
        let what = format!("the image would stream {total} bytes of pixel data");
        return Err(Reason::Limit(Limit::StreamBytes.exceeded(limits, what)));
    }
    Ok(row)
}

/// Writes the rows `write` gives to `path` (atomically: nothing is left behind on failure),
/// encoded for an image of `shape`, `layout` and `dtype` in the format the extension names.
pub fn save_rows(
    path: &Path,
    shape: &[usize],
    layout: Layout,
    dtype: DType,
    options: WriteOptions,
    write: impl FnOnce(&mut dyn RowSink) -> Result<(), Reason>,
) -> Result<(), IoError> {
    let (_, encoding) = super::output_encoding(path, layout, dtype, shape.len())?;
    super::atomic::replace(path, |out| {
        let mut sink: Box<dyn RowSink + '_> = match encoding {
            Encoding::Tiff(colour) => {
                Box::new(TiffSink(tiff::writer(out, shape, colour, options.tiff)?))
            }
            Encoding::Npy => {
                // Images of several channels are H×W×channels arrays, as whole ones.
                let n = layout.samples();
                let mut shape = shape.to_vec();
                if layout != Layout::Array && n > 1 {
                    shape.push(n);
                }
                Box::new(NpySink::new(out, &shape, dtype)?)
            }
            Encoding::Png(colour) => raster::png_sink(out, shape, colour, options.png_level)?,
            // JPEG encodes whole: the rows are gathered first.
            Encoding::Jpeg(_) => Box::new(Gather {
                out,
                parts: Vec::new(),
                encoding,
            }),
        };
        write(&mut *sink)?;
        sink.finish()
    })
}

struct TiffSink<W: Write + Seek>(StripWriter<W>);

impl<W: Write + Seek> RowSink for TiffSink<W> {
    fn write_rows(&mut self, rows: &Image) -> Result<(), Reason> {
        tiff::write_rows(&mut self.0, rows)
    }
    fn finish(self: Box<Self>) -> Result<(), Reason> {
        self.0.finish().map(|_| ())
    }
}

/// Rows gathered into a whole image, for encoders that need one.
struct Gather<W: Write + Seek> {
    out: W,
    parts: Vec<Image>,
    encoding: Encoding,
}

impl<W: Write + Seek> RowSink for Gather<W> {
    fn write_rows(&mut self, rows: &Image) -> Result<(), Reason> {
        self.parts.push(rows.clone());
        Ok(())
    }
    fn finish(mut self: Box<Self>) -> Result<(), Reason> {
        let whole = Image::concat_rows(&self.parts).map_err(|e| Reason::Encode(e.to_string()))?;
        super::encode(
            &mut self.out,
            &whole,
            self.encoding,
            WriteOptions::default(),
        )
    }
}

/// An `.npy` array of two axes or more in C order, read a block of rows (positions along the
/// first axis) at a time.
struct NpyRows {
    path: PathBuf,
    limits: Limits,
    file: BufReader<File>,
    /// Rows, and the values of one row.
    shape: [usize; 2],
    dims: Vec<usize>,
    dtype: DType,
    swap: bool,
    row: usize,
    block: usize,
}

impl NpyRows {
    fn open(path: &Path, limits: &Limits) -> Result<Result<NpyRows, String>, IoError> {
        let fail = |reason| read_error(path, reason);
        let mut file = BufReader::new(File::open(path).map_err(|e| fail(Reason::Io(e)))?);
        let size = (file.get_ref().metadata()).map_err(|e| fail(Reason::Io(e)))?;
        let size = size.len();
        let header = npy::header(&mut file, size).map_err(fail)?;
        let npy::Header {
            dtype,
            big_endian,
            fortran,
            shape,
        } = header;
        let Some(dtype) = dtype else {
            return Ok(Err("its dtype is read whole (converted)".into()));
        };
        let &[h, ref rest @ ..] = &shape[..] else {
            return Ok(Err("0-D arrays are read whole".into()));
        };
        if rest.is_empty() {
            return Ok(Err("1-D arrays are read whole".into()));
        }
        let w = (rest.iter()).try_fold(1usize, |n, &d| n.checked_mul(d));
        let Some(w) = w else {
            return Err(fail(too_large(limits)));
        };
        if fortran {
            return Ok(Err("Fortran-order arrays are read whole".into()));
        }
        let row = check_row(w.checked_mul(dtype.size()), h, limits).map_err(fail)?;
        // The data must be there: a forged header is found before any row is filtered.
        let here = file.stream_position().map_err(|e| fail(Reason::Io(e)))?;
        if (row as u128) * (h as u128) > size.saturating_sub(here) as u128 {
            return Err(fail(Reason::Decode {
                format: Format::Npy,
                detail: format!("the header's shape {shape:?} needs more data than the file holds"),
            }));
        }
        Ok(Ok(NpyRows {
            path: path.to_path_buf(),
            limits: *limits,
            file,
            shape: [h, w],
            dims: shape,
            dtype,
            swap: big_endian != cfg!(target_endian = "big"),
            row: 0,
            block: (1 << 20) / row.max(1) + 1,
        }))
    }
}

impl RowSource for NpyRows {
    fn shape(&self) -> [usize; 2] {
        self.shape
    }
    fn dims(&self) -> Vec<usize> {
        self.dims.clone()
    }
    fn layout(&self) -> Layout {
        Layout::Array
    }
    fn dtype(&self) -> DType {
        self.dtype
    }
    fn next_rows(&mut self) -> Result<Option<Image>, IoError> {
        let [h, w] = self.shape;
        let n = self.block.min(h - self.row);
        if n == 0 {
            return Ok(None);
        }
        let path = &self.path;
        let data = with_type!(self.dtype, T => {
            let mut v: Vec<T> = vec![T::from_f64(0.0); n * w];
            // SAFETY: see `sample_bytes`; every bit pattern is a valid value of these types.
            let bytes = unsafe {
                std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(&v[..]))
            };
            self.file.read_exact(bytes).map_err(|e| {
                read_error(path, broken(Format::Npy, self.row, e))
            })?;
            if self.swap {
                let size = self.dtype.size();
                for c in bytes.chunks_exact_mut(size) {
                    c.reverse();
                }
            }
            T::wrap(ArrayD::from_shape_vec(IxDyn(&[n, w]), v).expect("n × w values"))
        });
        self.row += n;
        Ok(Some(Image::array(data)))
    }
    fn reopen(&self) -> Result<Box<dyn RowSource>, IoError> {
        match NpyRows::open(&self.path, &self.limits)? {
            Ok(s) => Ok(Box::new(s)),
            Err(why) => Err(read_error(&self.path, Reason::Unsupported(why))),
        }
    }
}

/// The error for a file that ended or broke at `row`.
pub(super) fn broken(format: Format, row: usize, e: io::Error) -> Reason {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        Reason::Decode {
            format,
            detail: format!("the data ends at row {row}: the file is truncated"),
        }
    } else {
        Reason::Io(e)
    }
}

/// Writes a 2-D `.npy`: the header, then the rows as they come.
struct NpySink<W: Write> {
    out: W,
}

impl<W: Write> NpySink<W> {
    fn new(mut out: W, shape: &[usize], dtype: DType) -> Result<Self, Reason> {
        out.write_all(&npy::header_bytes(shape, dtype))
            .map_err(Reason::Io)?;
        Ok(NpySink { out })
    }
}

impl<W: Write> RowSink for NpySink<W> {
    fn write_rows(&mut self, rows: &Image) -> Result<(), Reason> {
        with_type!(rows.dtype(), T => self.out.write_all(sample_bytes(&rows.samples::<T>()?)))
            .map_err(Reason::Io)
    }
    fn finish(self: Box<Self>) -> Result<(), Reason> {
        Ok(())
    }
}

impl Image {
    /// The images' rows one after another (all of one layout, type and width).
    pub fn concat_rows(parts: &[Image]) -> Result<Image, ndarray::ShapeError> {
        fn cat<T: Sample>(planes: &[&DynArray]) -> Result<DynArray, ndarray::ShapeError> {
            let views: Vec<_> = (planes.iter())
                .map(|p| T::unwrap(p).expect("one type").view())
                .collect();
            Ok(T::wrap(ndarray::concatenate(ndarray::Axis(0), &views)?))
        }
        let first = &parts[0];
        let join = |pick: &dyn Fn(&Image) -> &DynArray| -> Result<DynArray, ndarray::ShapeError> {
            let planes: Vec<&DynArray> = parts.iter().map(pick).collect();
            with_type!(first.dtype(), T => cat::<T>(&planes))
        };
        let planes = (0..first.planes.len())
            .map(|i| join(&|im: &Image| &im.planes[i]))
            .collect::<Result<Vec<_>, _>>()?;
        let alpha = match first.alpha {
            Some(_) => Some(join(&|im: &Image| {
                im.alpha.as_ref().expect("alpha in every part")
            })?),
            None => None,
        };
        Ok(Image {
            layout: first.layout,
            planes,
            alpha,
        })
    }
}
