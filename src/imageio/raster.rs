//! PNG and JPEG through the `image` crate: decoding under the image-size limit into planes, and
//! encoding 8- and 16-bit samples.

use super::{split, too_large, Format, Image, Layout, Reason};
use crate::dtype::DType;
use crate::limits::Limits;
use image::{DynamicImage, ExtendedColorType, ImageEncoder, ImageFormat};
use std::borrow::Cow;
use std::io::{self, Write};

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
) -> Result<(), Reason> {
    let &[h, w] = image.shape() else {
        return Err(Reason::Encode("images are 2-D".into()));
    };
    let samples = samples(image)?;
    if colour.bits_per_pixel() as usize / 8 * w * h != samples.len() {
        return Err(Reason::Encode(
            "pixel data does not match the image size".into(),
        ));
    }
    if format == Format::Jpeg {
        return write_jpeg(out, &samples, w, h, colour);
    }
    image::codecs::png::PngEncoder::new(out)
        .write_image(&samples, w as u32, h as u32, colour)
        .map_err(|e| match e {
            image::ImageError::IoError(e) => Reason::Io(e),
            other => Reason::Encode(other.to_string()),
        })
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
/// reach here (see [`Format::encoding`]). A single u8 plane is lent as it is: no copy of a big
/// grey image.
fn samples(image: &Image) -> Result<Cow<'_, [u8]>, Reason> {
    if let ([plane], None) = (image.planes(), image.alpha()) {
        if let Some(slice) = plane.view::<u8>().and_then(|v| v.to_slice()) {
            return Ok(Cow::Borrowed(slice));
        }
    }
    Ok(Cow::Owned(match image.dtype() {
        DType::U8 => image.interleaved::<u8>()?,
        _ => image
            .interleaved::<u16>()?
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect(),
    }))
}
