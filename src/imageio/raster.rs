//! PNG and JPEG through the `image` crate: decoding under the image-size limit into planes, and
//! encoding 8- and 16-bit samples.

use super::png_writer::{Kind, PngWriter};
use super::rows::{check_row, RowSink, RowSource};
use super::{read_error, sample_bytes, split, too_large, Format, Image, IoError, Layout, Reason};
use crate::dtype::DType;
use crate::limits::Limits;
use image::{DynamicImage, ExtendedColorType, ImageFormat};
use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};

/// JPEG quality (0–100) of written files: high, since filter results are often compared closely.
const JPEG_QUALITY: u8 = 95;

/// Decodes PNG or JPEG, under `limits.max_image_bytes`. Takes the file's bytes so that they are
/// freed as soon as they are decoded (peak memory of big images).
pub(super) fn read(bytes: Vec<u8>, format: Format, limits: &Limits) -> Result<Image, Reason> {
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

/// Writes `image` as PNG or JPEG in `colour`, which [`Format::encoding`] chose for its layout and
/// type.
pub(super) fn write<W: Write>(
    out: W,
    image: &Image,
    format: Format,
    colour: ExtendedColorType,
    png_level: Option<u8>,
) -> Result<(), Reason> {
    let &[h, w] = image.shape() else {
        return Err(Reason::Encode("images are 2-D".into()));
    };
    if format == Format::Png {
        let mut sink = png_sink(out, image.shape(), colour, png_level)?;
        sink.write_rows(image)?;
        return sink.finish();
    }
    let samples = samples(image)?;
    if colour.bits_per_pixel() as usize / 8 * w * h != samples.len() {
        return Err(Reason::Encode(
            "pixel data does not match the image size".into(),
        ));
    }
    write_jpeg(out, &samples, w, h, colour)
}

/// JPEG by the `jpeg-encoder` crate: its AVX2 colour conversion and DCT (chosen at run time)
/// write 3× faster than `image`'s encoder (docs/cli.md).
fn write_jpeg<W: Write>(
    out: W,
    samples: &[u8],
    w: usize,
    h: usize,
    colour: ExtendedColorType,
) -> Result<(), Reason> {
    let kind = match colour {
        ExtendedColorType::L8 => jpeg_encoder::ColorType::Luma,
        ExtendedColorType::Rgb8 => jpeg_encoder::ColorType::Rgb,
        other => return Err(Reason::Encode(format!("JPEG cannot hold {other:?}"))),
    };
    let (Ok(w16), Ok(h16)) = (u16::try_from(w), u16::try_from(h)) else {
        return Err(Reason::Encode(format!(
            "JPEG holds at most 65535×65535 pixels, not {w}×{h}"
        )));
    };
    jpeg_encoder::Encoder::new(out, JPEG_QUALITY)
        .encode(samples, w16, h16, kind)
        .map_err(|e| match e {
            jpeg_encoder::EncodingError::IoError(e) => Reason::Io(e),
            other => Reason::Encode(other.to_string()),
        })
}

/// The samples as the encoders take them: native-endian bytes, interleaved. Only u8 and u16
/// reach here (see [`Format::encoding`]).
fn samples(image: &Image) -> Result<Cow<'_, [u8]>, Reason> {
    Ok(match image.dtype() {
        DType::U8 => image.samples::<u8>()?,
        _ => Cow::Owned(sample_bytes(&image.samples::<u16>()?).to_vec()),
    })
}

/// Opens a PNG to read it row by row: 8- or 16-bit grey, grey+alpha, RGB or RGBA, not
/// interlaced, without palette or transparency chunk (those decode whole, as `image` expands
/// them).
pub(super) fn png_rows(
    path: &Path,
    limits: &Limits,
) -> Result<Result<Box<dyn RowSource>, String>, IoError> {
    let fail = |reason| read_error(path, reason);
    let file = File::open(path).map_err(|e| fail(Reason::Io(e)))?;
    // The png crate's own budget (64 MiB by default) is for a row buffer here: ours instead.
    let budget = png::Limits {
        bytes: limits.max_image_bytes,
    };
    let mut decoder = png::Decoder::new_with_limits(BufReader::new(file), budget);
    decoder.set_transformations(png::Transformations::IDENTITY);
    let reader = decoder
        .read_info()
        .map_err(|e| fail(png_error(e, limits)))?;
    let info = reader.info();
    let layout = match info.color_type {
        png::ColorType::Grayscale => Layout::Grey,
        png::ColorType::GrayscaleAlpha => Layout::GreyAlpha,
        png::ColorType::Rgb => Layout::Rgb,
        png::ColorType::Rgba => Layout::Rgba,
        png::ColorType::Indexed => return Ok(Err("palette PNG is decoded whole".into())),
    };
    let dtype = match info.bit_depth {
        png::BitDepth::Eight => DType::U8,
        png::BitDepth::Sixteen => DType::U16,
        _ => return Ok(Err("PNG of fewer than 8 bits is decoded whole".into())),
    };
    if info.interlaced {
        return Ok(Err("interlaced PNG is decoded whole".into()));
    }
    if info.trns.is_some() {
        return Ok(Err("PNG with a transparency chunk is decoded whole".into()));
    }
    let (w, h) = (info.width as usize, info.height as usize);
    let n = layout.samples();
    let row = check_row(w.checked_mul(n * dtype.size()), h, limits).map_err(fail)?;
    Ok(Ok(Box::new(PngRows {
        path: path.to_path_buf(),
        limits: *limits,
        reader,
        shape: [h, w],
        layout,
        dtype,
        row: 0,
        block: ((1 << 20) / row.max(1)).max(1),
    })))
}

fn png_error(e: png::DecodingError, limits: &Limits) -> Reason {
    match e {
        png::DecodingError::IoError(e) if e.kind() != io::ErrorKind::UnexpectedEof => Reason::Io(e),
        png::DecodingError::LimitsExceeded => too_large(limits),
        other => Reason::Decode {
            format: Format::Png,
            detail: other.to_string(),
        },
    }
}

struct PngRows {
    path: PathBuf,
    limits: Limits,
    reader: png::Reader<BufReader<File>>,
    shape: [usize; 2],
    layout: Layout,
    dtype: DType,
    row: usize,
    block: usize,
}

impl RowSource for PngRows {
    fn shape(&self) -> [usize; 2] {
        self.shape
    }
    fn layout(&self) -> Layout {
        self.layout
    }
    fn dtype(&self) -> DType {
        self.dtype
    }
    fn next_rows(&mut self) -> Result<Option<Image>, IoError> {
        let [h, w] = self.shape;
        let rows = self.block.min(h - self.row);
        if rows == 0 {
            return Ok(None);
        }
        let n = self.layout.samples();
        let mut bytes = Vec::with_capacity(rows * w * n * self.dtype.size());
        for r in 0..rows {
            let at = self.row + r;
            let broke = |e| {
                let reason = match png_error(e, &self.limits) {
                    Reason::Decode { format, detail } => Reason::Decode {
                        format,
                        detail: format!("{detail} (at row {at})"),
                    },
                    other => other,
                };
                read_error(&self.path, reason)
            };
            match self.reader.next_row().map_err(broke)? {
                Some(row) => bytes.extend_from_slice(row.data()),
                None => {
                    return Err(read_error(
                        &self.path,
                        Reason::Decode {
                            format: Format::Png,
                            detail: format!("the data ends at row {at}: the file is truncated"),
                        },
                    ))
                }
            }
        }
        self.row += rows;
        let image = match self.dtype {
            DType::U8 => split(bytes, rows, w, self.layout),
            // PNG's 16-bit samples are big-endian.
            _ => split(
                (bytes.chunks_exact(2))
                    .map(|b| u16::from_be_bytes([b[0], b[1]]))
                    .collect::<Vec<u16>>(),
                rows,
                w,
                self.layout,
            ),
        };
        image.map(Some).map_err(|r| read_error(&self.path, r))
    }
    fn reopen(&self) -> Result<Box<dyn RowSource>, IoError> {
        png_rows(&self.path, &self.limits)?
            .map_err(|why| read_error(&self.path, Reason::Unsupported(why)))
    }
}

/// A PNG encoder taking rows as they come (`level` 0–9, default 6), compressing in parallel.
pub(super) fn png_sink<'w, W: Write + 'w>(
    out: W,
    shape: &[usize],
    colour: ExtendedColorType,
    level: Option<u8>,
) -> Result<Box<dyn RowSink + 'w>, Reason> {
    let &[h, w] = shape else {
        return Err(Reason::Encode("images are 2-D".into()));
    };
    let (colour, depth, samples) = match colour {
        ExtendedColorType::L8 => (0, 8, 1),
        ExtendedColorType::La8 => (4, 8, 2),
        ExtendedColorType::Rgb8 => (2, 8, 3),
        ExtendedColorType::Rgba8 => (6, 8, 4),
        ExtendedColorType::L16 => (0, 16, 1),
        ExtendedColorType::La16 => (4, 16, 2),
        ExtendedColorType::Rgb16 => (2, 16, 3),
        ExtendedColorType::Rgba16 => (6, 16, 4),
        other => return Err(Reason::Encode(format!("PNG cannot hold {other:?}"))),
    };
    let kind = Kind {
        colour,
        depth,
        samples,
    };
    Ok(Box::new(PngWriter::new(
        out,
        w,
        h,
        kind,
        level.unwrap_or(6),
    )?))
}

impl<W: Write> RowSink for PngWriter<W> {
    fn write_rows(&mut self, rows: &Image) -> Result<(), Reason> {
        // PNG's 16-bit samples are big-endian.
        let bytes: Cow<[u8]> = match rows.dtype() {
            DType::U8 => rows.samples::<u8>()?,
            _ => Cow::Owned(
                (rows.samples::<u16>()?.iter())
                    .flat_map(|v| v.to_be_bytes())
                    .collect(),
            ),
        };
        PngWriter::write_rows(self, &bytes)
    }
    fn finish(self: Box<Self>) -> Result<(), Reason> {
        PngWriter::finish(*self).map(|_| ())
    }
}
