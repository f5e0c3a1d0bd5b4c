//! Row streaming: filters an image from a [`RowSource`] (a decoder) into a [`RowSink`] (an
//! encoder) a band of rows at a time, holding only the rows the band reads — memory bounded by
//! the width, the footprint and the thread count, not by the height. An array of more than two
//! axes streams the same way along its first axis, a row being all of one position's values.
//!
//! Each band computes whole stripes ([`crate::window::STRIPE_ROWS`]; whole positions of an N-D
//! array's first axis) from the rows [`Kernel::needed`] names, so the result equals the whole
//! image's bit for bit, stages included. The rows near a band come through a window that slides
//! down the image; the rows a boundary mode fetches from far away (`wrap`'s top rows read the
//! bottom ones) are kept as they stream past, or read ahead once by a second decoder.
//!
//! ```no_run
//! use jitfilter::imageio::{open_rows, save_rows, WriteOptions};
//! use jitfilter::stream::Stream;
//! use jitfilter::{DType, Footprint, Kernel, Limits, Options};
//! use std::path::Path;
//!
//! let kernel = Kernel::compile("median(w)")?;
//! let fp = Footprint::rect(7, 7);
//! let options = Options::default();
//! let mut source = open_rows(Path::new("big.tif"), &Limits::default())?
//!     .map_err(|why| format!("not streamable: {why}"))?;
//! let stream = Stream { kernel: &kernel, named: &[], channels: false, footprint: &fp, options: &options, out: DType::U8 };
//! let (layout, shape) = stream.result_of(&*source);
//! save_rows(Path::new("out.tif"), &shape, layout, DType::U8, WriteOptions::default(), |sink| {
//!     stream.run(&mut *source, sink, &mut |_, _| {}).map(|_| ()).map_err(|e| e.into_reason())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::dtype::DType;
use crate::error::Error;
use crate::footprint::Footprint;
use crate::image_filter::{self, Loss};
use crate::imageio::{
    with_type, DynArray, Image, IoError, Layout, Reason, RowSink, RowSource, Sample,
};
use crate::kernel::{Kernel, Options};
use crate::window::{units, Span};
use ndarray::{ArrayD, IxDyn};
use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;
use thiserror::Error as ThisError;

/// Why a stream stopped.
#[derive(Debug, ThisError)]
pub enum StreamError {
    #[error(transparent)]
    Filter(Error),
    #[error(transparent)]
    Read(IoError),
    #[error("{0}")]
    Write(Reason),
}

impl StreamError {
    /// As the reason a write failed (for [`crate::imageio::save_rows`]'s closure).
    pub fn into_reason(self) -> Reason {
        match self {
            StreamError::Write(r) => r,
            other => Reason::Encode(other.to_string()),
        }
    }
}

/// One application of a kernel to a stream of rows: what [`image_filter::apply_measured`]
/// does to a whole image.
pub struct Stream<'a> {
    pub kernel: &'a Kernel,
    /// Named inputs, whole images in memory (cropped to each band's rows).
    pub named: &'a [(&'a str, &'a Image)],
    pub channels: bool,
    pub footprint: &'a Footprint,
    pub options: &'a Options,
    /// The result's sample type.
    pub out: DType,
}

impl Stream<'_> {
    /// The result's layout and shape for the image `source` decodes.
    pub fn result_of(&self, source: &dyn RowSource) -> (Layout, Vec<usize>) {
        let mut shape = source.dims();
        let nd = shape.len();
        let layout = image_filter::layout_of(self.kernel, source.layout(), nd, self.channels);
        if layout == (Layout::Array, nd + 1) {
            shape.push(self.kernel.program().roots.len());
        }
        (layout.0, shape)
    }

    /// Filters every row of `source` into `sink`, calling `progress(rows done, rows)` after
    /// each band; returns what writing an integer type lost (as the whole-image path measures).
    pub fn run(
        &self,
        source: &mut dyn RowSource,
        sink: &mut dyn RowSink,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Option<Loss>, StreamError> {
        with_type!(source.dtype(), T => self.run_typed::<T>(source, sink, progress))
    }

    fn run_typed<T: Sample>(
        &self,
        source: &mut dyn RowSource,
        sink: &mut dyn RowSink,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Option<Loss>, StreamError> {
        let [h, w] = source.shape();
        let shape = source.dims();
        let nd = shape.len();
        let (kernel, fp, options) = (self.kernel, self.footprint, self.options);
        let wrong = |i: &Image| i.shape().get(..nd) != Some(&shape[..]);
        if let Some((name, image)) = (self.named.iter()).find(|(_, i)| wrong(i)) {
            return Err(StreamError::Filter(Error::Input(format!(
                "input `{name}` has shape {:?}, but the image `w` has shape {shape:?}",
                image.shape()
            ))));
        }
        let threads = options.threads.unwrap_or_else(rayon::current_num_threads);
        // Rows of a 2-D image are computed a stripe at a time, the first axis of more a
        // position at a time (each its own planes of stripes).
        let unit = units(nd)[0];
        // A stripe per thread (two at least) of an image, a plane of more: every thread busy,
        // memory small; and a million pixels at least, so that a narrow image is not cut into
        // millions of bands.
        let per_thread = if nd == 2 { threads.max(2) } else { 1 };
        let band = (unit * per_thread).max((1 << 20) / w.max(1) / unit * unit);
        let bands: Vec<Range<usize>> = (0..h).step_by(band).map(|a| a..(a + band).min(h)).collect();
        // A band reads the rows around it, through every pass's halo and the whole stripes
        // its stages compute; rows further away come from a boundary mode at an edge.
        let reach = kernel
            .reach(&shape, fp, options)
            .map_err(StreamError::Filter)?;
        let span = (reach[0].1 - reach[0].0) as usize + unit * kernel.passes().len();
        // The window of rows around band `b` that `need` reads.
        let near = |b: &Range<usize>, need: &[Range<usize>]| {
            let (lo, hi) = (b.start.saturating_sub(span), (b.end + span).min(h));
            let close = need.iter().filter(|r| r.start < hi && r.end > lo);
            let start = close
                .clone()
                .map(|r| r.start.max(lo))
                .min()
                .unwrap_or(b.start);
            start..close.map(|r| r.end.min(hi)).max().unwrap_or(b.end)
        };
        // Per band, the rows it reads and its window, whose start never goes back up the image
        // (rows above it have left the window; the band keeps them as far rows instead).
        let mut needs = Vec::with_capacity(bands.len());
        let mut windows: Vec<Range<usize>> = Vec::with_capacity(bands.len());
        // Far rows: read ahead (below a band's window when it runs), or kept as they pass.
        let (mut ahead, mut keep) = (Vec::new(), Vec::new());
        for b in &bands {
            let out = std::iter::once(b.clone()).chain(shape[1..].iter().map(|&n| 0..n));
            let need = (kernel.needed(&shape, fp, options, out.collect()))
                .map_err(StreamError::Filter)?
                .swap_remove(0);
            let mut n = near(b, &need);
            n.start = n.start.max(windows.last().map_or(0, |p| p.start));
            n.end = n.end.max(n.start);
            for r in &need {
                if r.end > n.end {
                    ahead.push(r.start.max(n.end)..r.end);
                }
                if r.start < n.start {
                    keep.push(r.start..r.end.min(n.start));
                }
            }
            needs.push(need);
            windows.push(n);
        }
        let ahead = crate::window::merge(ahead);
        let keep = crate::window::merge(keep);
        let planes = source.layout().samples();
        let mut rows = Store::<T> {
            width: w,
            planes,
            ring: VecDeque::new(),
            first: 0,
            far: BTreeMap::new(),
        };
        let ended = |row: usize| {
            StreamError::Read(IoError {
                op: crate::imageio::Op::Read,
                path: "input".into(),
                reason: Reason::Unsupported(format!("the image ended at row {row} of {h}")),
            })
        };
        if !ahead.is_empty() {
            let mut second = source.reopen().map_err(StreamError::Read)?;
            let mut y = 0;
            while y < ahead.last().map_or(0, |r| r.end) {
                let Some(block) = second.next_rows().map_err(StreamError::Read)? else {
                    return Err(ended(y));
                };
                for (i, row) in Store::<T>::split_rows(&block, w).into_iter().enumerate() {
                    if ahead.iter().any(|r| r.contains(&(y + i))) {
                        rows.far.insert(y + i, row);
                    }
                }
                y += block.shape()[0];
            }
        }
        let layout = source.layout();
        // A program of its input's value, in the input's type and layout: each band's rows
        // pass through as they are (a copy converts formats alone).
        let copy = kernel.program().is_centre()
            && self.named.is_empty()
            && self.out == source.dtype()
            && self.result_of(&*source).0 == layout;
        let mut loss: Option<Loss> = None;
        let mut read = 0;
        for ((b, need), n) in bands.iter().zip(&needs).zip(&windows) {
            // Slide the window: drop the rows above it, read down to its end.
            while rows.first < n.start {
                // Past the rows read so far, the rows up to `first` are skipped as they come.
                rows.ring.pop_front();
                rows.first += 1;
            }
            while read < n.end {
                let Some(block) = source.next_rows().map_err(StreamError::Read)? else {
                    return Err(ended(read));
                };
                for row in Store::<T>::split_rows(&block, w) {
                    if keep.iter().any(|r| r.contains(&read)) {
                        rows.far.insert(read, row.clone());
                    }
                    if read >= rows.first {
                        rows.ring.push_back(row);
                    }
                    read += 1;
                }
            }
            if copy {
                let band = rows.image(std::slice::from_ref(b), b, layout, &shape[1..]);
                sink.write_rows(&band).map_err(StreamError::Write)?;
                progress(b.end, h);
                continue;
            }
            let main = rows.image(need, b, layout, &shape[1..]);
            let named: Vec<(&str, Image)> = (self.named.iter())
                .map(|(name, image)| (*name, rows_of(image, need)))
                .collect();
            let named: Vec<(&str, &Image)> = named.iter().map(|(n, i)| (*n, i)).collect();
            let rows_span = Span {
                len: h,
                held: need.clone(),
                out: b.clone(),
            };
            let band_options = options.clone().region(
                std::iter::once(Some(rows_span))
                    .chain(vec![None; nd - 1])
                    .collect(),
            );
            let (result, l) = image_filter::apply_measured(
                kernel,
                &main,
                &named,
                self.channels,
                fp,
                &band_options,
                self.out,
            )
            .map_err(StreamError::Filter)?;
            loss = Loss::merge(loss, l);
            sink.write_rows(&result).map_err(StreamError::Write)?;
            progress(b.end, h);
        }
        Ok(loss)
    }
}

/// The rows `held` of a whole image.
fn rows_of(image: &Image, held: &[Range<usize>]) -> Image {
    let parts: Vec<Image> = held
        .iter()
        .map(|r| image.crop(std::slice::from_ref(r)))
        .collect();
    Image::concat_rows(&parts).expect("crops of one image")
}

/// The rows a stream holds: a window of consecutive rows, and far rows by index. A row is its
/// planes (colour, then alpha) one after another.
struct Store<T> {
    width: usize,
    planes: usize,
    ring: VecDeque<Vec<T>>,
    /// The image row of `ring[0]`.
    first: usize,
    far: BTreeMap<usize, Vec<T>>,
}

impl<T: Sample> Store<T> {
    /// A decoded block's rows, each its planes one after another.
    fn split_rows(block: &Image, w: usize) -> Vec<Vec<T>> {
        let planes: Vec<&[T]> = (block.planes().iter().chain(block.alpha()))
            .map(|p| {
                (T::unwrap(p).and_then(|a| a.as_slice()))
                    .expect("decoded planes are contiguous, of the stream's type")
            })
            .collect();
        (0..block.shape()[0])
            .map(|r| {
                // Slices copied whole (a chain of values collected one by one was a fifth of a
                // streamed copy's time).
                let mut row = Vec::with_capacity(planes.len() * w);
                for p in &planes {
                    row.extend_from_slice(&p[r * w..(r + 1) * w]);
                }
                row
            })
            .collect()
    }

    fn row(&self, y: usize) -> &[T] {
        match y.checked_sub(self.first).and_then(|i| self.ring.get(i)) {
            Some(r) => r,
            None => self
                .far
                .get(&y)
                .expect("a held row is in the window or kept"),
        }
    }

    /// The image of rows `held` (alpha: only the rows `out`, which the result passes through);
    /// an array's rows are of shape `row` (its axes after the first).
    fn image(
        &self,
        held: &[Range<usize>],
        out: &Range<usize>,
        layout: Layout,
        row: &[usize],
    ) -> Image {
        let w = self.width;
        let count: usize = held.iter().map(|r| r.len()).sum();
        let row = if layout == Layout::Array {
            row
        } else {
            &[w][..]
        };
        let plane = |p: usize, rows: &mut dyn Iterator<Item = usize>, n: usize| -> DynArray {
            let mut data = Vec::with_capacity(n * w);
            for y in rows {
                data.extend_from_slice(&self.row(y)[p * w..(p + 1) * w]);
            }
            let dims: Vec<usize> = std::iter::once(n).chain(row.iter().copied()).collect();
            T::wrap(ArrayD::from_shape_vec(IxDyn(&dims), data).expect("n rows of w values"))
        };
        let colours = layout.colour_channels();
        let planes: Vec<DynArray> = (0..colours)
            .map(|p| plane(p, &mut held.iter().flat_map(|r| r.clone()), count))
            .collect();
        if layout == Layout::Array {
            return Image::array(planes.into_iter().next().expect("one plane"));
        }
        let alpha = (self.planes > colours).then(|| plane(colours, &mut out.clone(), out.len()));
        Image::from_planes(layout, planes, alpha)
    }
}
