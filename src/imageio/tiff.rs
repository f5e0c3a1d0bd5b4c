//! TIFF through the `tiff` crate directly, which reads and writes grey images of every engine
//! type (signed and float too) and RGB(A) of 8, 16, 32f and 64f bits.

use super::{split, too_large, Format, Image, Layout, Reason};
use crate::dtype::DType;
use crate::limits::Limits;
use std::io::{self, Seek, Write};
use tiff::decoder::{Decoder, DecodingResult, Limits as TiffLimits};
use tiff::encoder::{colortype, TiffEncoder};
use tiff::tags::{ExtraSamples, PhotometricInterpretation, SampleFormat, Tag};
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

/// A sample type of [`Bands`].
trait Band: tiff::encoder::TiffValue + Copy {
    const BITS: u16;
    const FORMAT: SampleFormat;
}

macro_rules! band {
    ($($t:ty: $bits:expr, $format:ident),*) => {$(
        impl Band for $t {
            const BITS: u16 = $bits;
            const FORMAT: SampleFormat = SampleFormat::$format;
        }
    )*};
}
band!(u8: 8, Uint, u16: 16, Uint, i16: 16, Int, i32: 32, Int, f32: 32, IEEEFP, f64: 64, IEEEFP);

/// N samples of `T` per pixel, none of them colour or alpha: what the `tiff` crate calls a
/// colour type, for any N.
struct Bands<T, const N: usize>(std::marker::PhantomData<T>);

impl<T: Band, const N: usize> colortype::ColorType for Bands<T, N> {
    type Inner = T;
    const TIFF_VALUE: PhotometricInterpretation = PhotometricInterpretation::BlackIsZero;
    const BITS_PER_SAMPLE: &'static [u16] = &[T::BITS; N];
    const SAMPLE_FORMAT: &'static [SampleFormat] = &[T::FORMAT; N];

    // Only used with a predictor, which these files are written without.
    fn horizontal_predict(row: &[T], result: &mut Vec<T>) {
        result.extend_from_slice(row);
    }
}

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

/// Writes `image` as `colour`, which [`Format::encoding`] chose for its layout and type.
pub(super) fn write<W: Write + Seek>(
    out: &mut W,
    image: &Image,
    colour: Colour,
) -> Result<(), Reason> {
    if let Colour::Bands(dtype) = colour {
        return write_bands(out, image, dtype);
    }
    let &[h, w] = image.shape() else {
        return Err(Reason::Encode("TIFF images are 2-D".into()));
    };
    let (w, h) = (w as u32, h as u32);
    let mut encoder = TiffEncoder::new(out).map_err(encode_error)?;
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
    match colour {
        Colour::Gray8 => put!(u8, colortype::Gray8),
        Colour::Rgb8 => put!(u8, colortype::RGB8),
        Colour::Rgba8 => put!(u8, colortype::RGBA8),
        Colour::Gray16 => put!(u16, colortype::Gray16),
        Colour::Rgb16 => put!(u16, colortype::RGB16),
        Colour::Rgba16 => put!(u16, colortype::RGBA16),
        Colour::GrayI16 => put!(i16, colortype::GrayI16),
        Colour::GrayI32 => put!(i32, colortype::GrayI32),
        Colour::Gray32Float => put!(f32, colortype::Gray32Float),
        Colour::Rgb32Float => put!(f32, colortype::RGB32Float),
        Colour::Rgba32Float => put!(f32, colortype::RGBA32Float),
        Colour::Gray64Float => put!(f64, colortype::Gray64Float),
        Colour::Rgb64Float => put!(f64, colortype::RGB64Float),
        Colour::Rgba64Float => put!(f64, colortype::RGBA64Float),
        Colour::Bands(_) => unreachable!("written above"),
    }
}

fn encode_error(e: TiffError) -> Reason {
    match e {
        TiffError::IoError(e) => Reason::Io(e),
        other => Reason::Encode(other.to_string()),
    }
}

/// Writes an H×W×N array as N samples per pixel.
fn write_bands<W: Write + Seek>(out: &mut W, image: &Image, dtype: DType) -> Result<(), Reason> {
    let &[h, w, n] = image.shape() else {
        return Err(Reason::Encode(
            "an array of N values per pixel is H×W×N".into(),
        ));
    };
    let mut encoder = TiffEncoder::new(out).map_err(encode_error)?;
    fn put<W: Write + Seek, T: Band + super::Sample, const N: usize>(
        encoder: &mut TiffEncoder<W>,
        image: &Image,
        (w, h): (u32, u32),
    ) -> Result<(), Reason>
    where
        [T]: tiff::encoder::TiffValue,
    {
        let data = image.interleaved::<T>()?;
        let mut tiff = encoder
            .new_image::<Bands<T, N>>(w, h)
            .map_err(encode_error)?;
        // Every sample after the first is an extra one, of no colour meaning.
        let extra = vec![ExtraSamples::Unspecified.to_u16(); N - 1];
        (tiff.encoder())
            .write_tag(Tag::ExtraSamples, &extra[..])
            .map_err(encode_error)?;
        tiff.write_data(&data).map_err(encode_error)
    }
    macro_rules! bands {
        ($t:ty) => {
            bands!($t; 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
        };
        ($t:ty; $($n:literal)*) => {
            match n {
                $($n => put::<&mut W, $t, $n>(&mut encoder, image, (w as u32, h as u32)),)*
                _ => Err(Reason::Encode(format!(
                    "a TIFF holds 2 to {MAX_BANDS} values per pixel, not {n}: write .npy"
                ))),
            }
        };
    }
    match dtype {
        DType::U8 => bands!(u8),
        DType::U16 => bands!(u16),
        DType::I16 => bands!(i16),
        DType::I32 => bands!(i32),
        DType::F32 => bands!(f32),
        DType::F64 => bands!(f64),
    }
}
