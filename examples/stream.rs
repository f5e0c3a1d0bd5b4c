//! Row streaming from your own reader: a `RowSource` that makes its rows as they are asked for
//! (here a synthetic 40000×3000 scan, 120 MB, never held whole), filtered by a median into a
//! TIFF written strip by strip, then read back to check a few rows against the whole-image
//! filter of the same rows.
//!
//!     cargo run --release --example stream [OUT.tif]

use jitfilter::imageio::{self, DynArray, Image, IoError, Layout, RowSource, WriteOptions};
use jitfilter::stream::Stream;
use jitfilter::{DType, Footprint, Kernel, Options};
use ndarray::{s, Array2, ArrayD, IxDyn};
use std::path::PathBuf;
use std::time::Instant;

/// A scan of `height` × `width` u8 pixels: stripes, a gradient and speckle, made row by row.
struct Scan {
    height: usize,
    width: usize,
    row: usize,
}

fn pixel(y: usize, x: usize) -> u8 {
    let speckle = (x.wrapping_mul(7919) ^ y.wrapping_mul(104729)) % 97 == 0;
    if speckle {
        255
    } else {
        ((x / 40 % 2) * 60 + y * 100 / 40000 + x % 17) as u8
    }
}

impl RowSource for Scan {
    fn shape(&self) -> [usize; 2] {
        [self.height, self.width]
    }
    fn layout(&self) -> Layout {
        Layout::Grey
    }
    fn dtype(&self) -> DType {
        DType::U8
    }
    fn next_rows(&mut self) -> Result<Option<Image>, IoError> {
        let n = 100.min(self.height - self.row);
        if n == 0 {
            return Ok(None);
        }
        let first = self.row;
        let rows = ArrayD::from_shape_fn(IxDyn(&[n, self.width]), |i| pixel(first + i[0], i[1]));
        self.row += n;
        Ok(Some(Image::from_planes(
            Layout::Grey,
            vec![DynArray::U8(rows)],
            None,
        )))
    }
    fn reopen(&self) -> Result<Box<dyn RowSource>, IoError> {
        Ok(Box::new(Scan { row: 0, ..*self }))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args().nth(1).map_or_else(
        || std::env::temp_dir().join("jitfilter-stream.tif"),
        PathBuf::from,
    );
    let (height, width) = (40_000, 3_000);
    let kernel = Kernel::compile("median(w)")?;
    let fp = Footprint::rect(5, 5);
    let options = Options::default();
    let stream = Stream {
        kernel: &kernel,
        named: &[],
        channels: false,
        footprint: &fp,
        options: &options,
        out: DType::U8,
    };
    let mut scan = Scan {
        height,
        width,
        row: 0,
    };
    let (layout, shape) = stream.result_of(&scan);
    let start = Instant::now();
    imageio::save_rows(
        &out,
        &shape,
        layout,
        DType::U8,
        WriteOptions::default(),
        |sink| {
            let mut shown = 0;
            let progress = &mut |done: usize, all: usize| {
                if done * 10 / all > shown {
                    shown = done * 10 / all;
                    eprint!("{}% ", shown * 10);
                }
            };
            stream
                .run(&mut scan, sink, progress)
                .map(|_| ())
                .map_err(|e| e.into_reason())
        },
    )?;
    eprintln!(
        "\n{height}×{width} median 5×5 streamed into {} in {:.2} s",
        out.display(),
        start.elapsed().as_secs_f64()
    );

    // Check: rows 20000..20064 of the file equal the whole-image filter of rows around them.
    let written = imageio::load(&out)?;
    let DynArray::U8(result) = &written.planes()[0] else {
        unreachable!("a u8 grey TIFF")
    };
    let around = Array2::from_shape_fn((64 + 4, width), |(y, x)| pixel(19_998 + y, x));
    let whole = kernel.filter(around.view(), &fp, &options)?;
    let got = result.slice(s![20_000..20_064, ..]);
    assert_eq!(got, whole.slice(s![2..66, ..]));
    println!("rows 20000..20064 match the whole-image filter");
    std::fs::remove_file(&out)?;
    Ok(())
}
