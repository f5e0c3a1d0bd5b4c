//! TIFF writing, strip by strip, for whole images and row streams alike: rows go in as they
//! come, each strip is compressed (in parallel, strips being independent) and written, and the
//! directory goes at the end, so memory holds a few strips, never the image. Classic TIFF, or
//! BigTIFF when the data may pass 4 GiB. Samples are written in the machine's byte order, which
//! the header declares.

use super::Reason;
use crate::dtype::DType;
use rayon::prelude::*;
use std::borrow::Cow;
use std::io::{self, Seek, SeekFrom, Write};
use std::str::FromStr;

/// How strips are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Uncompressed (libvips's default too): the fastest to write and to read.
    #[default]
    None,
    Lzw,
    /// zlib's deflate ("Adobe deflate"), level 6.
    Deflate,
}

impl FromStr for Compression {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(Compression::None),
            "lzw" => Ok(Compression::Lzw),
            "deflate" | "zip" => Ok(Compression::Deflate),
            _ => Err(format!(
                "unknown TIFF compression `{s}` (none, lzw or deflate)"
            )),
        }
    }
}

impl Compression {
    fn tag(self) -> u16 {
        match self {
            Compression::None => 1,
            Compression::Lzw => 5,
            Compression::Deflate => 8,
        }
    }

    fn compress(self, data: &[u8]) -> io::Result<Cow<'_, [u8]>> {
        Ok(Cow::Owned(match self {
            Compression::None => return Ok(Cow::Borrowed(data)),
            Compression::Lzw => {
                weezl::encode::Encoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8)
                    .encode(data)
                    .map_err(io::Error::other)?
            }
            Compression::Deflate => {
                let mut z = flate2::write::ZlibEncoder::new(
                    Vec::with_capacity(data.len() / 2),
                    flate2::Compression::new(6),
                );
                z.write_all(data)?;
                z.finish()?
            }
        }))
    }
}

/// What the pixels are: `samples` per pixel of `dtype`, grey (`rgb` false) or RGB, and which
/// of the samples after the colour ones are extra (TIFF's ExtraSamples values: 2 unassociated
/// alpha, 0 unspecified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Pixels {
    pub width: usize,
    pub height: usize,
    pub samples: usize,
    pub dtype: DType,
    pub rgb: bool,
    pub extra: Vec<u16>,
}

/// Uncompressed bytes per strip: large enough that per-strip costs vanish, small enough that
/// a few per thread stay in cache.
const STRIP_BYTES: usize = 256 << 10;
/// Strips compressed together (in parallel) before being written.
const BATCH: usize = 32;

/// A TIFF being written: rows in, strips out.
pub(super) struct StripWriter<W: Write + Seek> {
    out: W,
    big: bool,
    pixels: Pixels,
    compression: Compression,
    row_bytes: usize,
    rows_per_strip: usize,
    /// Rows received but not yet written (whole strips are written in batches).
    pending: Vec<u8>,
    rows: usize,
    offsets: Vec<u64>,
    counts: Vec<u64>,
    /// Where the next byte goes.
    at: u64,
}

impl<W: Write + Seek> StripWriter<W> {
    /// A writer of classic TIFF, or BigTIFF when the data may pass 4 GiB.
    pub fn new(out: W, pixels: Pixels, compression: Compression) -> Result<Self, Reason> {
        let total = pixels.width as u128
            * pixels.height as u128
            * (pixels.samples * pixels.dtype.size()) as u128;
        // Compression may grow incompressible data: deflate a little, LZW by up to ~1.4×.
        let worst = match compression {
            Compression::Lzw => total * 3 / 2,
            _ => total + total / 64,
        };
        let big = worst + (1 << 20) > u32::MAX as u128;
        Self::with_kind(out, pixels, compression, big)
    }

    fn with_kind(
        mut out: W,
        pixels: Pixels,
        compression: Compression,
        big: bool,
    ) -> Result<Self, Reason> {
        let row_bytes = (pixels.width)
            .checked_mul(pixels.samples * pixels.dtype.size())
            .filter(|&b| b > 0 && pixels.height > 0)
            .ok_or_else(|| Reason::Encode("an empty image".into()))?;
        let order: &[u8; 2] = if cfg!(target_endian = "little") {
            b"II"
        } else {
            b"MM"
        };
        out.write_all(order).map_err(Reason::Io)?;
        let header_len = if big {
            out.write_all(&43u16.to_ne_bytes()).map_err(Reason::Io)?;
            out.write_all(&8u16.to_ne_bytes()).map_err(Reason::Io)?;
            out.write_all(&0u16.to_ne_bytes()).map_err(Reason::Io)?;
            out.write_all(&0u64.to_ne_bytes()).map_err(Reason::Io)?;
            16
        } else {
            out.write_all(&42u16.to_ne_bytes()).map_err(Reason::Io)?;
            out.write_all(&0u32.to_ne_bytes()).map_err(Reason::Io)?;
            8
        };
        let rows_per_strip = (STRIP_BYTES / row_bytes).clamp(1, pixels.height);
        Ok(StripWriter {
            out,
            big,
            pixels,
            compression,
            row_bytes,
            rows_per_strip,
            pending: Vec::new(),
            rows: 0,
            offsets: Vec::new(),
            counts: Vec::new(),
            at: header_len,
        })
    }

    /// Whole rows of interleaved samples in the machine's byte order.
    pub fn write_rows(&mut self, bytes: &[u8]) -> Result<(), Reason> {
        let rows = bytes.len() / self.row_bytes;
        if bytes.len() % self.row_bytes != 0 || self.rows + rows > self.pixels.height {
            return Err(Reason::Encode(
                "pixel data does not match the image size".into(),
            ));
        }
        self.rows += rows;
        let strip = self.rows_per_strip * self.row_bytes;
        let mut bytes = bytes;
        // Complete the pending strip first, then whole batches straight from `bytes`.
        if !self.pending.is_empty() {
            let take = (strip - self.pending.len()).min(bytes.len());
            self.pending.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.pending.len() == strip || self.rows == self.pixels.height {
                let pending = std::mem::take(&mut self.pending);
                self.put(&pending)?;
            }
        }
        let whole = if self.rows == self.pixels.height {
            bytes.len()
        } else {
            bytes.len() / strip * strip
        };
        self.put(&bytes[..whole])?;
        self.pending.extend_from_slice(&bytes[whole..]);
        Ok(())
    }

    /// Compresses and writes `bytes` as strips (the last may be short), in batches.
    fn put(&mut self, bytes: &[u8]) -> Result<(), Reason> {
        let strip = self.rows_per_strip * self.row_bytes;
        let compression = self.compression;
        for batch in bytes.chunks(strip * BATCH) {
            let packed: Vec<io::Result<Cow<[u8]>>> = (batch.par_chunks(strip))
                .map(|s| compression.compress(s))
                .collect();
            for s in packed {
                self.strip(&s.map_err(Reason::Io)?)?;
            }
        }
        Ok(())
    }

    fn strip(&mut self, data: &[u8]) -> Result<(), Reason> {
        self.out.write_all(data).map_err(Reason::Io)?;
        self.offsets.push(self.at);
        self.counts.push(data.len() as u64);
        self.at += data.len() as u64;
        if !self.big && self.at > u32::MAX as u64 {
            return Err(Reason::Encode(
                "the compressed data passed 4 GiB in a classic TIFF".into(),
            ));
        }
        Ok(())
    }

    /// Writes the directory and points the header at it.
    pub fn finish(mut self) -> Result<W, Reason> {
        if self.rows != self.pixels.height {
            return Err(Reason::Encode(format!(
                "{} of {} rows were written",
                self.rows, self.pixels.height
            )));
        }
        let p = &self.pixels;
        let (bits, format) = match p.dtype {
            DType::U8 => (8, 1),
            DType::U16 => (16, 1),
            DType::I16 => (16, 2),
            DType::I32 => (32, 2),
            DType::F32 => (32, 3),
            DType::F64 => (64, 3),
        };
        let n = p.samples;
        // (tag, type, values): type 3 SHORT, 4 LONG, 16 LONG8; sorted by tag.
        let longs = |v: &[u64]| {
            if self.big {
                (16, v.to_vec())
            } else {
                (4, v.to_vec())
            }
        };
        let mut entries: Vec<(u16, (u16, Vec<u64>))> = vec![
            (256, (4, vec![p.width as u64])),
            (257, (4, vec![p.height as u64])),
            (258, (3, vec![bits; n])),
            (259, (3, vec![self.compression.tag() as u64])),
            (262, (3, vec![if p.rgb { 2 } else { 1 }])),
            (273, longs(&self.offsets)),
            (277, (3, vec![n as u64])),
            (278, (4, vec![self.rows_per_strip as u64])),
            (279, longs(&self.counts)),
            (284, (3, vec![1])),
        ];
        if !p.extra.is_empty() {
            entries.push((338, (3, p.extra.iter().map(|&e| e as u64).collect())));
        }
        entries.push((339, (3, vec![format; n])));
        // The directory on a word boundary, its out-of-line values right after it.
        let pad = self.at % 2;
        self.out
            .write_all(&[0][..pad as usize])
            .map_err(Reason::Io)?;
        let ifd = self.at + pad;
        let (count_len, entry_len, next_len) = if self.big { (8, 20, 8) } else { (2, 12, 4) };
        let inline = if self.big { 8 } else { 4 };
        let mut extra_at = ifd + count_len + entries.len() as u64 * entry_len + next_len;
        let mut dir: Vec<u8> = Vec::new();
        let mut tail: Vec<u8> = Vec::new();
        let put = |buf: &mut Vec<u8>, ty: u16, v: u64| match ty {
            3 => buf.extend_from_slice(&(v as u16).to_ne_bytes()),
            4 => buf.extend_from_slice(&(v as u32).to_ne_bytes()),
            _ => buf.extend_from_slice(&v.to_ne_bytes()),
        };
        if self.big {
            dir.extend_from_slice(&(entries.len() as u64).to_ne_bytes());
        } else {
            dir.extend_from_slice(&(entries.len() as u16).to_ne_bytes());
        }
        for (tag, (ty, values)) in &entries {
            dir.extend_from_slice(&tag.to_ne_bytes());
            dir.extend_from_slice(&ty.to_ne_bytes());
            if self.big {
                dir.extend_from_slice(&(values.len() as u64).to_ne_bytes());
            } else {
                dir.extend_from_slice(&(values.len() as u32).to_ne_bytes());
            }
            let size = match ty {
                3 => 2,
                4 => 4,
                _ => 8,
            };
            let mut value = Vec::new();
            for &v in values {
                put(&mut value, *ty, v);
            }
            if value.len() <= inline {
                value.resize(inline, 0);
                dir.extend_from_slice(&value);
            } else {
                put(&mut dir, if self.big { 16 } else { 4 }, extra_at);
                extra_at += (values.len() * size) as u64;
                tail.extend_from_slice(&value);
            }
        }
        dir.extend_from_slice(&[0u8; 8][..next_len as usize]);
        self.out.write_all(&dir).map_err(Reason::Io)?;
        self.out.write_all(&tail).map_err(Reason::Io)?;
        if !self.big && extra_at > u32::MAX as u64 {
            return Err(Reason::Encode(
                "the file passed 4 GiB in a classic TIFF".into(),
            ));
        }
        self.out
            .seek(SeekFrom::Start(if self.big { 8 } else { 4 }))
            .map_err(Reason::Io)?;
        if self.big {
            self.out.write_all(&ifd.to_ne_bytes()).map_err(Reason::Io)?;
        } else {
            self.out
                .write_all(&(ifd as u32).to_ne_bytes())
                .map_err(Reason::Io)?;
        }
        self.out.seek(SeekFrom::End(0)).map_err(Reason::Io)?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imageio::{DynArray, Image, Layout};
    use crate::limits::Limits;
    use ndarray::{ArrayD, IxDyn};

    /// Classic and BigTIFF, every compression, rows given in uneven pieces: the `tiff` crate
    /// reads back the pixels written.
    #[test]
    fn written_files_read_back() {
        let (h, w) = (97, 53);
        let values: Vec<u16> = (0..h * w * 3).map(|i| (i * 7919 % 65536) as u16).collect();
        let plane = |c: usize| {
            let v: Vec<u16> = values[c * h * w..(c + 1) * h * w].to_vec();
            DynArray::U16(ArrayD::from_shape_vec(IxDyn(&[h, w]), v).unwrap())
        };
        let image = Image::from_planes(Layout::Rgb, (0..3).map(plane).collect(), None);
        let samples = image.samples::<u16>().unwrap();
        let bytes = crate::imageio::sample_bytes(&samples);
        for big in [false, true] {
            for compression in [Compression::None, Compression::Lzw, Compression::Deflate] {
                let pixels = Pixels {
                    width: w,
                    height: h,
                    samples: 3,
                    dtype: DType::U16,
                    rgb: true,
                    extra: Vec::new(),
                };
                let out = io::Cursor::new(Vec::new());
                let mut writer = StripWriter::with_kind(out, pixels, compression, big).unwrap();
                // Strips hold 256 KiB: force several by small pieces of uneven row counts.
                writer.rows_per_strip = 10;
                let row = w * 3 * 2;
                for piece in bytes.chunks(row * 13) {
                    writer.write_rows(piece).unwrap();
                }
                let file = writer.finish().unwrap().into_inner();
                assert_eq!(&file[2..4], if big { &[43, 0] } else { &[42, 0] });
                let back = super::super::tiff::read(&file, &Limits::default()).unwrap();
                assert_eq!(back, image, "big {big}, {compression:?}");
            }
        }
    }
}
