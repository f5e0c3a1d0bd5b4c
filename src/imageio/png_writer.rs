//! PNG writing, row by row, compressed in parallel: rows are filtered (the filter each row
//! compresses best with, by the usual minimum-sum-of-absolute-differences guess) and deflated in
//! pieces of rows, each piece a deflate stream of its own ended by a full flush, so the pieces
//! run on every core and join into one valid zlib stream (as `pigz` does). Memory holds a batch
//! of pieces, never the image.

use super::Reason;
use rayon::prelude::*;
use std::io::Write;

/// Uncompressed bytes per piece: large enough that the lost back-references at its start do not
/// matter, small enough to spread a band over the cores.
const PIECE_BYTES: usize = 256 << 10;

/// The PNG colour types and depths the engine writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Kind {
    /// PNG colour type: 0 grey, 4 grey+alpha, 2 RGB, 6 RGBA.
    pub colour: u8,
    /// 8 or 16.
    pub depth: u8,
    pub samples: usize,
}

pub(super) struct PngWriter<W: Write> {
    out: W,
    row_bytes: usize,
    /// Bytes per pixel (the filters' distance).
    bpp: usize,
    height: usize,
    rows: usize,
    level: u32,
    /// The last row written (the next piece's first row filters against it).
    previous: Vec<u8>,
    /// Rows received and not yet compressed.
    pending: Vec<u8>,
    adler: adler2::Adler32,
    zlib_started: bool,
}

impl<W: Write> PngWriter<W> {
    /// Writes the signature and header of a `width`×`height` image; `level` 0–9 (6: zlib's
    /// default, as libpng and libvips use).
    pub fn new(
        mut out: W,
        width: usize,
        height: usize,
        kind: Kind,
        level: u8,
    ) -> Result<Self, Reason> {
        let (Ok(w), Ok(h)) = (u32::try_from(width), u32::try_from(height)) else {
            return Err(Reason::Encode(format!(
                "PNG holds at most 2³¹ pixels a side, not {width}×{height}"
            )));
        };
        if w == 0 || h == 0 || w > i32::MAX as u32 || h > i32::MAX as u32 {
            return Err(Reason::Encode(format!(
                "PNG holds 1 to 2³¹ pixels a side, not {width}×{height}"
            )));
        }
        out.write_all(b"\x89PNG\r\n\x1a\n").map_err(Reason::Io)?;
        let mut ihdr = Vec::with_capacity(13);
        ihdr.extend_from_slice(&w.to_be_bytes());
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[kind.depth, kind.colour, 0, 0, 0]);
        chunk(&mut out, b"IHDR", &ihdr)?;
        let bpp = kind.samples * kind.depth as usize / 8;
        Ok(PngWriter {
            out,
            row_bytes: width * bpp,
            bpp,
            height,
            rows: 0,
            level: u32::from(level.min(9)),
            previous: vec![0; width * bpp],
            pending: Vec::new(),
            adler: adler2::Adler32::new(),
            zlib_started: false,
        })
    }

    /// Whole rows of samples as PNG stores them (big-endian for 16 bits).
    pub fn write_rows(&mut self, bytes: &[u8]) -> Result<(), Reason> {
        let rows = bytes.len() / self.row_bytes;
        if bytes.len() % self.row_bytes != 0 || self.rows + rows > self.height {
            return Err(Reason::Encode(
                "pixel data does not match the image size".into(),
            ));
        }
        if rows == 0 {
            return Ok(());
        }
        self.rows += rows;
        self.pending.extend_from_slice(bytes);
        let piece_rows = (PIECE_BYTES / self.row_bytes).max(1);
        let batch = piece_rows * rayon::current_num_threads().max(1) * 2;
        let done = self.rows == self.height;
        let held = self.pending.len() / self.row_bytes;
        if held >= batch || done {
            let take = if done {
                held
            } else {
                held / piece_rows * piece_rows
            };
            let pending = std::mem::take(&mut self.pending);
            self.compress(&pending[..take * self.row_bytes], piece_rows, done)?;
            self.pending = pending[take * self.row_bytes..].to_vec();
        }
        Ok(())
    }

    /// Filters and deflates `rows` in pieces of `piece_rows`, in parallel, and writes them as
    /// IDAT chunks; `last`: the final rows, which end the zlib stream.
    fn compress(&mut self, rows: &[u8], piece_rows: usize, last: bool) -> Result<(), Reason> {
        let (rb, bpp, level) = (self.row_bytes, self.bpp, self.level);
        let pieces: Vec<&[u8]> = rows.chunks(piece_rows * rb).collect();
        let n = pieces.len();
        let previous = &self.previous;
        let packed: Vec<(Vec<u8>, Vec<u8>)> = (0..n)
            .into_par_iter()
            .map(|i| {
                let before: &[u8] = match i {
                    0 => previous,
                    _ => &pieces[i - 1][pieces[i - 1].len() - rb..],
                };
                let filtered = filter_rows(pieces[i], before, rb, bpp);
                let deflated = deflate(&filtered, level, last && i == n - 1);
                (filtered, deflated)
            })
            .collect::<Vec<_>>();
        if let Some(last_row) = rows.len().checked_sub(rb).map(|s| &rows[s..]) {
            self.previous.copy_from_slice(last_row);
        }
        let mut data = Vec::new();
        if !self.zlib_started {
            // zlib header: deflate, 32 KiB window, no dictionary (check bits make it % 31 == 0).
            data.extend_from_slice(&[0x78, 0x9c]);
            self.zlib_started = true;
        }
        for (filtered, deflated) in &packed {
            self.adler.write_slice(filtered);
            data.extend_from_slice(deflated);
        }
        if last {
            data.extend_from_slice(&self.adler.checksum().to_be_bytes());
        }
        for part in data.chunks(1 << 30) {
            chunk(&mut self.out, b"IDAT", part)?;
        }
        Ok(())
    }

    /// Ends the file once every row is written.
    pub fn finish(mut self) -> Result<W, Reason> {
        if self.rows != self.height {
            return Err(Reason::Encode(format!(
                "{} of {} rows were written",
                self.rows, self.height
            )));
        }
        chunk(&mut self.out, b"IEND", &[])?;
        Ok(self.out)
    }
}

fn chunk<W: Write>(out: &mut W, kind: &[u8; 4], data: &[u8]) -> Result<(), Reason> {
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.write_all(&(data.len() as u32).to_be_bytes())
        .and_then(|_| out.write_all(kind))
        .and_then(|_| out.write_all(data))
        .and_then(|_| out.write_all(&crc.finalize().to_be_bytes()))
        .map_err(Reason::Io)
}

/// A raw deflate stream of `data`, ended by a full flush (byte-aligned, no references beyond
/// it), or finished when it is the last.
fn deflate(data: &[u8], level: u32, last: bool) -> Vec<u8> {
    let mut z = flate2::Compress::new(flate2::Compression::new(level), false);
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    let flush = if last {
        flate2::FlushCompress::Finish
    } else {
        flate2::FlushCompress::Full
    };
    loop {
        let read = z.total_in() as usize;
        out.reserve(data.len() / 4 + 1024);
        let status = z
            .compress_vec(&data[read..], &mut out, flush)
            .expect("deflating a buffer in memory cannot fail");
        let finished = match flush {
            flate2::FlushCompress::Finish => status == flate2::Status::StreamEnd,
            // A full flush is complete when everything is in and room was left over.
            _ => z.total_in() as usize == data.len() && out.len() < out.capacity(),
        };
        if finished {
            return out;
        }
    }
}

/// Each row preceded by its filter type and filtered by the filter whose output has the least
/// sum of absolute values (as signed bytes), `before` being the row above the first.
fn filter_rows(rows: &[u8], before: &[u8], rb: usize, bpp: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.len() + rows.len() / rb);
    let mut candidates = [vec![0u8; rb], vec![0u8; rb], vec![0u8; rb], vec![0u8; rb]];
    let score = |c: &[u8]| -> u64 { c.iter().map(|&b| (b as i8).unsigned_abs() as u64).sum() };
    let mut up = before;
    for row in rows.chunks_exact(rb) {
        let [sub, upf, avg, paeth] = &mut candidates;
        // The first pixel has no left neighbour (0): Sub is None there, Paeth is Up.
        for i in 0..bpp.min(rb) {
            sub[i] = row[i];
            upf[i] = row[i].wrapping_sub(up[i]);
            avg[i] = row[i].wrapping_sub(up[i] >> 1);
            paeth[i] = upf[i];
        }
        for i in bpp..rb {
            let (a, b, c) = (row[i - bpp], up[i], up[i - bpp]);
            sub[i] = row[i].wrapping_sub(a);
            upf[i] = row[i].wrapping_sub(b);
            avg[i] = row[i].wrapping_sub(((a as u16 + b as u16) >> 1) as u8);
            let (a16, b16, c16) = (a as i16, b as i16, c as i16);
            let (pa, pb, pc) = (
                (b16 - c16).abs(),
                (a16 - c16).abs(),
                (a16 + b16 - 2 * c16).abs(),
            );
            let pred = if pa <= pb && pa <= pc {
                a
            } else if pb <= pc {
                b
            } else {
                c
            };
            paeth[i] = row[i].wrapping_sub(pred);
        }
        let mut best = (score(row), 0usize);
        for (f, c) in candidates.iter().enumerate() {
            best = best.min((score(c), f + 1));
        }
        out.push(best.1 as u8);
        match best.1 {
            0 => out.extend_from_slice(row),
            f => out.extend_from_slice(&candidates[f - 1]),
        }
        up = row;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Several pieces and batches, rows given unevenly, every colour type and depth, levels 0,
    /// 1 and 9: the `image` crate's decoder reads back the samples written.
    #[test]
    fn written_files_read_back() {
        let (h, w) = (301, 400);
        for (colour, samples) in [(0u8, 1usize), (4, 2), (2, 3), (6, 4)] {
            for depth in [8u8, 16] {
                let row = w * samples * depth as usize / 8;
                // Smooth ramps with noise: every filter wins somewhere.
                let bytes: Vec<u8> = (0..h * row)
                    .map(|i| ((i % row) / 3 + (i / row) * 2 + (i * 7919 % 5)) as u8)
                    .collect();
                for level in [0u8, 1, 9] {
                    let kind = Kind {
                        colour,
                        depth,
                        samples,
                    };
                    let mut writer = PngWriter::new(Vec::new(), w, h, kind, level).unwrap();
                    for piece in bytes.chunks(row * 37) {
                        writer.write_rows(piece).unwrap();
                    }
                    let file = writer.finish().unwrap();
                    let back = image::load_from_memory(&file).unwrap();
                    let got: Vec<u8> = match depth {
                        8 => back.as_bytes().to_vec(),
                        // `image` gives 16-bit samples in the machine's order.
                        _ => (back.as_bytes().chunks_exact(2))
                            .flat_map(|b| u16::from_ne_bytes([b[0], b[1]]).to_be_bytes())
                            .collect(),
                    };
                    assert!(
                        got == bytes,
                        "colour type {colour}, {depth} bit, level {level}"
                    );
                }
            }
        }
    }
}
