//! File formats: naming by extension, recognising by content, and the one table of what each
//! format can write ([`Format::encoding`]), which both [`Format::can_write`] and the encoders read.

use super::tiff::Colour as TiffColour;
use super::Layout;
use crate::dtype::DType;
use image::{ExtendedColorType, ImageFormat};
use std::fmt;
use std::path::Path;

/// File formats, chosen by extension when writing and by content when reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Tiff,
    Jpeg,
    Npy,
}

/// How a format stores data it can write: the encoders match on this, so whatever
/// [`Format::can_write`] accepts has an encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Encoding {
    Npy,
    Png(ExtendedColorType),
    Jpeg(ExtendedColorType),
    Tiff(TiffColour),
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
    pub(super) fn sniff(bytes: &[u8]) -> Option<Format> {
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
        self.encoding(layout, dtype, ndim).is_some()
    }

    /// How this format writes data of this layout, type and dimensionality, if it can: `.npy`
    /// anything, the image formats 2-D data only. PNG holds 8 and 16 bits, JPEG 8 bits without
    /// alpha, TIFF every grey type, RGB(A) of 8, 16, 32f and 64f bits (no grey+alpha), and
    /// H×W×N arrays of every type as N samples per pixel (up to `MAX_TIFF_BANDS`).
    pub(super) fn encoding(self, layout: Layout, dtype: DType, ndim: usize) -> Option<Encoding> {
        match self {
            Format::Npy => Some(Encoding::Npy),
            // H×W×N: N values per pixel, as a TIFF of N samples.
            Format::Tiff if ndim == 3 && layout == Layout::Array => {
                Some(Encoding::Tiff(TiffColour::Bands(dtype)))
            }
            _ if ndim != 2 => None,
            Format::Png => raster_colour(layout, dtype).map(Encoding::Png),
            Format::Jpeg if dtype == DType::U8 && !layout.has_alpha() => {
                raster_colour(layout, dtype).map(Encoding::Jpeg)
            }
            Format::Jpeg => None,
            Format::Tiff => tiff_colour(layout, dtype).map(Encoding::Tiff),
        }
    }
}

/// The colour type of 8- and 16-bit images in the `image` crate (PNG and JPEG).
fn raster_colour(layout: Layout, dtype: DType) -> Option<ExtendedColorType> {
    use DType::*;
    use ExtendedColorType as C;
    use Layout::*;
    Some(match (layout, dtype) {
        (Array | Grey, U8) => C::L8,
        (GreyAlpha, U8) => C::La8,
        (Rgb, U8) => C::Rgb8,
        (Rgba, U8) => C::Rgba8,
        (Array | Grey, U16) => C::L16,
        (GreyAlpha, U16) => C::La16,
        (Rgb, U16) => C::Rgb16,
        (Rgba, U16) => C::Rgba16,
        _ => return None,
    })
}

/// The colour types the `tiff` crate writes.
fn tiff_colour(layout: Layout, dtype: DType) -> Option<TiffColour> {
    use DType::*;
    use Layout::*;
    use TiffColour as T;
    Some(match (layout, dtype) {
        (Array | Grey, U8) => T::Gray8,
        (Rgb, U8) => T::Rgb8,
        (Rgba, U8) => T::Rgba8,
        (Array | Grey, U16) => T::Gray16,
        (Rgb, U16) => T::Rgb16,
        (Rgba, U16) => T::Rgba16,
        (Array | Grey, I16) => T::GrayI16,
        (Array | Grey, I32) => T::GrayI32,
        (Array | Grey, F32) => T::Gray32Float,
        (Rgb, F32) => T::Rgb32Float,
        (Rgba, F32) => T::Rgba32Float,
        (Array | Grey, F64) => T::Gray64Float,
        (Rgb, F64) => T::Rgb64Float,
        (Rgba, F64) => T::Rgba64Float,
        _ => return None,
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imageio::{load, save_atomic, DynArray, Image, IoError, Reason};
    use ndarray::{ArrayD, IxDyn};

    /// The table and the encoders agree: every combination `can_write` accepts is written and
    /// reads back (exactly, from PNG and TIFF), and every other is refused before writing.
    #[test]
    fn the_table_matches_the_encoders() {
        let dir = tempfile::tempdir().unwrap();
        let values = ArrayD::from_shape_fn(IxDyn(&[3, 4]), |i| (i[0] * 4 + i[1]) as f64 * 9.0);
        for (format, ext) in [
            (Format::Png, "png"),
            (Format::Tiff, "tiff"),
            (Format::Jpeg, "jpg"),
            (Format::Npy, "npy"),
        ] {
            for layout in [
                Layout::Array,
                Layout::Grey,
                Layout::GreyAlpha,
                Layout::Rgb,
                Layout::Rgba,
            ] {
                for dtype in DType::ALL {
                    let plane = DynArray::F64(values.clone()).convert(dtype);
                    let image = Image {
                        layout,
                        planes: vec![plane.clone(); layout.colour_channels()],
                        alpha: layout.has_alpha().then_some(plane),
                    };
                    let path = dir.path().join(format!("out.{ext}"));
                    let what = format!("{format} {}", image.describe());
                    let written = save_atomic(&path, &image);
                    if !format.can_write(layout, dtype, 2) {
                        assert!(
                            matches!(
                                written,
                                Err(IoError {
                                    reason: Reason::CannotWrite { .. },
                                    ..
                                })
                            ),
                            "{what}: {written:?}"
                        );
                        continue;
                    }
                    written.unwrap_or_else(|e| panic!("{what}: {e}"));
                    let back = load(&path).unwrap_or_else(|e| panic!("{what}: {e}"));
                    if matches!(format, Format::Png | Format::Tiff) {
                        assert_eq!(
                            (back.planes(), back.alpha()),
                            (image.planes(), image.alpha()),
                            "{what}"
                        );
                    }
                }
            }
        }
    }
}
