//! TIFF through the `tiff` crate directly, which reads and writes grey images of every engine
//! type (signed and float too) and RGB(A) of 8, 16, 32f and 64f bits.

use super::rows::{check_row, RowSource};
use super::tiff_writer::{Compression, Pixels, StripWriter};
use super::{
    read_error, sample_bytes, split, too_large, with_type, Format, Image, IoError, Layout, Reason,
};
use crate::dtype::DType;
use crate::limits::Limits;
use std::fs::File;
use std::io::{self, BufReader, Seek, Write};
use std::path::{Path, PathBuf};
use tiff::decoder::{ChunkType, Decoder, DecodingResult, Limits as TiffLimits};
use tiff::tags::Tag;
use tiff::{ColorType, TiffError};

/// The `tiff` crate's colour types (its `colortype` module) that the engine writes, as values:
/// [`Format::encoding`] picks one, [`write`] encodes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Colour {
    Gray8,
    Rgb8,
    Rgba8,
    Gray16,
    Rgb16,
    Rgba16,
    GrayI16,
    GrayI32,
    Gray32Float,
    Rgb32Float,
    Rgba32Float,
    Gray64Float,
    Rgb64Float,
    Rgba64Float,
    /// An H×W×N array: N samples per pixel of this type.
    Bands(DType),
}

/// The most samples per pixel an H×W×N array may have in a TIFF.
pub const MAX_BANDS: usize = 16;

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
    // The `tiff` crate's whole-image read gives only the first sample of a planar image.
    if planar(&mut decoder) {
        let bytes_per_pixel = colour.num_samples() as u128 * colour.bit_depth().div_ceil(8) as u128;
        if (w as u128) * (h as u128) * bytes_per_pixel > limits.max_image_bytes as u128 {
            return Err(too_large(limits));
        }
        if let Ok(rows) = open(io::Cursor::new(bytes), limits)? {
            return rows.read_all();
        }
    }
    if let ColorType::Multiband { num_samples, .. } = colour {
        return read_bands(&mut decoder, h, w, num_samples as usize).map_err(bad);
    }
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

/// An image of N samples per pixel (no colour meaning) as an H×W×N array.
fn read_bands<R: io::Read + io::Seek>(
    decoder: &mut Decoder<R>,
    h: usize,
    w: usize,
    n: usize,
) -> Result<Image, TiffError> {
    fn array<T: super::Sample>(v: Vec<T>, shape: [usize; 3]) -> Result<Image, TiffError> {
        let a = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&shape), v).map_err(|_| {
            TiffError::FormatError(tiff::TiffFormatError::InconsistentSizesEncountered)
        })?;
        Ok(Image::array(T::wrap(a)))
    }
    let shape = [h, w, n];
    match decoder.read_image()? {
        DecodingResult::U8(v) => array(v, shape),
        DecodingResult::U16(v) => array(v, shape),
        DecodingResult::I16(v) => array(v, shape),
        DecodingResult::I32(v) => array(v, shape),
        DecodingResult::F32(v) => array(v, shape),
        DecodingResult::F64(v) => array(v, shape),
        _ => Err(TiffError::UnsupportedError(
            tiff::TiffUnsupportedError::UnknownInterpretation,
        )),
    }
}

impl Colour {
    /// The pixels of an image of `shape` in this colour, as the strip writer describes them.
    fn pixels(self, shape: &[usize]) -> Result<Pixels, Reason> {
        use DType::*;
        let (dtype, colours, alpha) = match self {
            Colour::Gray8 => (U8, 1, false),
            Colour::Rgb8 => (U8, 3, false),
            Colour::Rgba8 => (U8, 3, true),
            Colour::Gray16 => (U16, 1, false),
            Colour::Rgb16 => (U16, 3, false),
            Colour::Rgba16 => (U16, 3, true),
            Colour::GrayI16 => (I16, 1, false),
            Colour::GrayI32 => (I32, 1, false),
            Colour::Gray32Float => (F32, 1, false),
            Colour::Rgb32Float => (F32, 3, false),
            Colour::Rgba32Float => (F32, 3, true),
            Colour::Gray64Float => (F64, 1, false),
            Colour::Rgb64Float => (F64, 3, false),
            Colour::Rgba64Float => (F64, 3, true),
            Colour::Bands(dtype) => {
                let &[height, width, n] = shape else {
                    return Err(Reason::Encode(
                        "an array of N values per pixel is H×W×N".into(),
                    ));
                };
                if !(2..=MAX_BANDS).contains(&n) {
                    return Err(Reason::Encode(format!(
                        "a TIFF holds 2 to {MAX_BANDS} values per pixel, not {n}: write .npy"
                    )));
                }
                // Every sample after the first is an extra one, of no colour meaning.
                return Ok(Pixels {
                    width,
                    height,
                    samples: n,
                    dtype,
                    rgb: false,
                    extra: vec![0; n - 1],
                });
            }
        };
        let &[height, width] = shape else {
            return Err(Reason::Encode("TIFF images are 2-D".into()));
        };
        Ok(Pixels {
            width,
            height,
            samples: colours + alpha as usize,
            dtype,
            rgb: colours == 3,
            // Readers take a fourth sample for alpha only when told so.
            extra: if alpha { vec![2] } else { Vec::new() },
        })
    }
}

/// Writes `image` as `colour`, which [`Format::encoding`] chose for its layout and type.
pub(super) fn write<W: Write + Seek>(
    out: &mut W,
    image: &Image,
    colour: Colour,
    compression: Compression,
) -> Result<(), Reason> {
    let mut writer = writer(out, image.shape(), colour, compression)?;
    write_rows(&mut writer, image)?;
    writer.finish().map(|_| ())
}

/// A strip writer for images of `shape` (the whole image's) in `colour`.
pub(super) fn writer<W: Write + Seek>(
    out: W,
    shape: &[usize],
    colour: Colour,
    compression: Compression,
) -> Result<StripWriter<W>, Reason> {
    StripWriter::new(out, colour.pixels(shape)?, compression)
}

/// Writes the rows of `image` (a band of the image the writer was made for).
pub(super) fn write_rows<W: Write + Seek>(
    writer: &mut StripWriter<W>,
    image: &Image,
) -> Result<(), Reason> {
    with_type!(image.dtype(), T => writer.write_rows(sample_bytes(&image.samples::<T>()?)))
}

/// Opens a TIFF to read it a strip (or a row of tiles) at a time: the decoder, or why this one
/// is read whole.
pub(super) fn rows(
    path: &Path,
    limits: &Limits,
) -> Result<Result<Box<dyn RowSource>, String>, IoError> {
    let fail = |reason| read_error(path, reason);
    let file = File::open(path).map_err(|e| fail(Reason::Io(e)))?;
    Ok(match open(BufReader::new(file), limits).map_err(fail)? {
        Ok(mut rows) => {
            rows.path = path.to_path_buf();
            Ok(Box::new(rows))
        }
        Err(why) => Err(why),
    })
}

/// A row decoder of the TIFF `reader` holds, or why it is read whole.
fn open<R: io::Read + Seek>(
    reader: R,
    limits: &Limits,
) -> Result<Result<TiffRows<R>, String>, Reason> {
    let mut tiff_limits = TiffLimits::default();
    tiff_limits.decoding_buffer_size = limits.max_image_bytes;
    tiff_limits.intermediate_buffer_size = tiff_limits
        .intermediate_buffer_size
        .max(limits.max_image_bytes);
    let bad = |e| bad(e, limits);
    let mut decoder = Decoder::new(reader).map_err(bad)?.with_limits(tiff_limits);
    let (w, h) = decoder.dimensions().map_err(bad)?;
    let (w, h) = (w as usize, h as usize);
    let (layout, spp, bits) = match decoder.colortype().map_err(bad)? {
        ColorType::Gray(b) if b > 1 => (Layout::Grey, 1, b),
        ColorType::GrayA(b) => (Layout::GreyAlpha, 2, b),
        ColorType::RGB(b) => (Layout::Rgb, 3, b),
        ColorType::RGBA(b) => (Layout::Rgba, 4, b),
        other => return Ok(Err(format!("TIFF colour type {other:?} is read whole"))),
    };
    // From the header, before any strip or tile is decoded.
    check_row(
        w.checked_mul(spp * usize::from(bits).div_ceil(8)),
        h,
        limits,
    )?;
    let planar = planar(&mut decoder);
    let tiles = decoder.get_chunk_type() == ChunkType::Tile;
    let (cw, ch) = decoder.chunk_dimensions();
    let mut source = TiffRows {
        path: PathBuf::new(),
        limits: *limits,
        decoder,
        shape: [h, w],
        layout,
        spp,
        planar,
        tiles,
        chunk: (cw as usize, ch as usize),
        dtype: DType::U8,
        row: 0,
        first: None,
    };
    // The sample type shows in the first chunk, which is kept for the first rows.
    let first = match source.decode() {
        Ok(Some(image)) => image,
        Ok(None) => return Err(Reason::Unsupported("the image is empty".into())),
        Err(Reason::Unsupported(why)) => return Ok(Err(why)),
        Err(reason) => return Err(reason),
    };
    source.dtype = first.dtype();
    source.first = Some(first);
    Ok(Ok(source))
}

/// Whether each sample has chunks of its own (PlanarConfiguration 2).
fn planar<R: io::Read + Seek>(decoder: &mut Decoder<R>) -> bool {
    let tag = decoder.find_tag(Tag::PlanarConfiguration).ok().flatten();
    tag.and_then(|p| p.into_u16().ok()) == Some(2)
}

/// A TIFF of strips or tiles, decoded a strip or a row of tiles at a time.
struct TiffRows<R: io::Read + Seek> {
    /// The file (for errors and reopening).
    path: PathBuf,
    limits: Limits,
    decoder: Decoder<R>,
    shape: [usize; 2],
    layout: Layout,
    spp: usize,
    /// Each sample in chunks of its own (PlanarConfiguration 2), else interleaved.
    planar: bool,
    tiles: bool,
    chunk: (usize, usize),
    dtype: DType,
    /// The next row to decode.
    row: usize,
    /// Rows decoded ahead (the first chunk, decoded on opening).
    first: Option<Image>,
}

impl<R: io::Read + Seek> TiffRows<R> {
    /// The next strip, or row of tiles.
    fn decode(&mut self) -> Result<Option<Image>, Reason> {
        if let Some(first) = self.first.take() {
            return Ok(Some(first));
        }
        let [h, w] = self.shape;
        if self.row >= h {
            return Ok(None);
        }
        let (cw, ch) = self.chunk;
        let k = self.row / ch.max(1);
        let at = self.row;
        let limits = self.limits;
        let broke = |e: TiffError| match bad(e, &limits) {
            Reason::Decode { format, detail } => Reason::Decode {
                format,
                detail: format!("{detail} (in the strip or tile at row {at})"),
            },
            other => other,
        };
        let across = if self.tiles { w.div_ceil(cw) } else { 1 };
        // Planar: each sample's chunks follow the previous sample's, decoded as grey planes.
        let (per_plane, planes, layout, spp) = match self.planar {
            true => (across * h.div_ceil(ch), self.spp, Layout::Grey, 1),
            false => (0, 1, self.layout, self.spp),
        };
        let rows = ch.min(h - self.row);
        let mut parts = Vec::with_capacity(planes);
        for p in 0..planes {
            let image = if !self.tiles {
                let index = (p * per_plane + k) as u32;
                let data = self.decoder.read_chunk(index).map_err(broke)?;
                samples(data, rows, w, layout)?
            } else {
                let mut tiles = Vec::with_capacity(across);
                for i in 0..across {
                    let index = (p * per_plane + k * across + i) as u32;
                    let (dw, dh) = self.decoder.chunk_data_dimensions(index);
                    let data = self.decoder.read_chunk(index).map_err(broke)?;
                    tiles.push((dw as usize, dh as usize, data));
                }
                tile_row(tiles, rows, w, spp, layout)?
            };
            parts.push(image);
        }
        self.row += rows;
        if !self.planar {
            return Ok(parts.pop());
        }
        let planes = parts.into_iter().flat_map(|i| i.planes).collect();
        Ok(Some(Image::from_planes(self.layout, planes, None)))
    }

    /// Every row left, as one image.
    fn read_all(mut self) -> Result<Image, Reason> {
        let mut parts = Vec::new();
        while let Some(part) = self.decode()? {
            parts.push(part);
        }
        Image::concat_rows(&parts).map_err(|e| Reason::Encode(e.to_string()))
    }
}

/// A decoded chunk of `rows` × `w` pixels as an image of `layout`; a sample type the engine
/// lacks is `Unsupported` (the whole-image reader then says which).
fn samples(data: DecodingResult, rows: usize, w: usize, layout: Layout) -> Result<Image, Reason> {
    let n = layout.samples();
    let cut = |len: usize| rows * w * n <= len;
    let short = || Reason::Decode {
        format: Format::Tiff,
        detail: "a strip holds fewer samples than its rows need".into(),
    };
    macro_rules! take {
        ($v:expr) => {{
            let mut v = $v;
            if !cut(v.len()) {
                return Err(short());
            }
            v.truncate(rows * w * n);
            split(v, rows, w, layout)
        }};
    }
    match data {
        DecodingResult::U8(v) => take!(v),
        DecodingResult::U16(v) => take!(v),
        DecodingResult::I16(v) => take!(v),
        DecodingResult::I32(v) => take!(v),
        DecodingResult::F32(v) => take!(v),
        DecodingResult::F64(v) => take!(v),
        _ => Err(Reason::Unsupported("this sample type is read whole".into())),
    }
}

/// A row of tiles (each `dw × dh` of data, padded to the tile size) as `rows` × `w` pixels.
fn tile_row(
    parts: Vec<(usize, usize, DecodingResult)>,
    rows: usize,
    w: usize,
    spp: usize,
    layout: Layout,
) -> Result<Image, Reason> {
    macro_rules! join {
        ($variant:ident, $t:ty) => {{
            let mut out: Vec<$t> = vec![Default::default(); rows * w * spp];
            let mut x0 = 0;
            for (dw, dh, data) in parts {
                let DecodingResult::$variant(v) = data else {
                    return Err(Reason::Unsupported("tiles of mixed types".into()));
                };
                // A tile's data rows are `stride` samples apart (`dw` pixels as the `tiff`
                // crate gives them, cropped; a padded tile would have a longer stride).
                let stride = v.len() / dh.max(1);
                if dh < rows || stride < dw * spp || x0 + dw > w {
                    return Err(Reason::Decode {
                        format: Format::Tiff,
                        detail: "a tile's size does not match the image".into(),
                    });
                }
                for r in 0..rows {
                    out[(r * w + x0) * spp..][..dw * spp]
                        .copy_from_slice(&v[r * stride..][..dw * spp]);
                }
                x0 += dw;
            }
            split(out, rows, w, layout)
        }};
    }
    match parts.first().map(|p| &p.2) {
        Some(DecodingResult::U8(_)) => join!(U8, u8),
        Some(DecodingResult::U16(_)) => join!(U16, u16),
        Some(DecodingResult::I16(_)) => join!(I16, i16),
        Some(DecodingResult::I32(_)) => join!(I32, i32),
        Some(DecodingResult::F32(_)) => join!(F32, f32),
        Some(DecodingResult::F64(_)) => join!(F64, f64),
        _ => Err(Reason::Unsupported("this sample type is read whole".into())),
    }
}

impl RowSource for TiffRows<BufReader<File>> {
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
        let image = self.decode().map_err(|r| read_error(&self.path, r))?;
        match &image {
            Some(i) if i.dtype() != self.dtype => Err(read_error(
                &self.path,
                Reason::Decode {
                    format: Format::Tiff,
                    detail: "strips of different sample types".into(),
                },
            )),
            _ => Ok(image),
        }
    }
    fn reopen(&self) -> Result<Box<dyn RowSource>, IoError> {
        rows(&self.path, &self.limits)?
            .map_err(|why| read_error(&self.path, Reason::Unsupported(why)))
    }
}
