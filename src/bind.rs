//! Inputs → planes: binds the arrays a kernel is applied to (the main input `w`, named inputs,
//! each with or without a trailing channel axis) to the input planes its program reads, checks
//! their names, shapes and channel indexes, and decides the runs: one run when the program
//! indexes channels (it sees them jointly), else one run per channel of `w`.

use crate::dtype::Element;
use crate::error::{Error, ExprError};
use crate::ir::{Plane, Program, MAIN};
use ndarray::{ArrayD, ArrayView, ArrayViewD, Axis, CowArray, Dimension, Ix1, IxDyn, Slice};
use std::borrow::Cow;
use std::ops::Range;
use std::rc::Rc;

/// The arrays a kernel reads: the main input (`w`, `c`) and named inputs, all of one element
/// type and one shape (apart from the channel axis).
///
/// ```
/// use jitfilter::{Footprint, Inputs, Kernel, Options};
/// use ndarray::{Array2, Array3};
///
/// // A joint (guided-style) weighting: the guide's window weights the image's.
/// let k = Kernel::compile_for("sum(g * w) / sum(g)", &["g"], &Default::default())?;
/// let image = Array2::from_shape_fn((32, 32), |(y, x)| (x + y) as f64);
/// let guide = Array2::from_shape_fn((32, 32), |(y, x)| 1.0 + ((x * y) % 5) as f64);
/// let inputs = Inputs::new(image.view()).with("g", guide.view());
/// let out = k.apply::<f64, f64>(&inputs, &Footprint::rect(3, 3), &Options::default())?;
/// assert_eq!(out.shape(), [32, 32]);
///
/// // Channels: the last axis of an RGB array; a tuple result gives one channel per item.
/// let k = Kernel::compile("(max(w[0]), min(w[2]))")?;
/// let rgb = Array3::<u8>::from_shape_fn((16, 16, 3), |(y, x, j)| (x * 7 + y * 3 + j) as u8);
/// let out = k.apply::<u8, u8>(&Inputs::new(rgb.view()).channels(), &Footprint::rect(3, 3), &Options::default())?;
/// assert_eq!(out.shape(), [16, 16, 2]);
/// # Ok::<(), jitfilter::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Inputs<'a, T> {
    main: Data<'a, T>,
    named: Vec<(String, Data<'a, T>)>,
    channels: bool,
}

/// One input's data: an array (its last axis channels in channel mode, when it has one more
/// axis than the image), its channels as separate planes (decoded images), or some channels of
/// an array whose last axis holds them (a stage's results, read where they lie).
#[derive(Debug, Clone)]
enum Data<'a, T> {
    Array(ArrayViewD<'a, T>),
    Planes(Vec<ArrayViewD<'a, T>>),
    Channels(ArrayViewD<'a, T>, Range<usize>),
    Pieces(Pieces<'a, T>),
}

/// An array given in pieces on a grid over its first axes: the pieces in C order over the grid,
/// where along each of those axes each piece begins (and the length last), the whole shape.
#[derive(Debug, Clone)]
struct Pieces<'a, T> {
    parts: Vec<ArrayViewD<'a, T>>,
    cuts: Vec<Vec<usize>>,
    shape: Vec<usize>,
}

/// The positions piece `i` (in C order over the grid `cuts` describes) holds along each axis
/// of the grid.
fn held(cuts: &[Vec<usize>], i: usize) -> Vec<Range<usize>> {
    let mut place = i;
    let mut out = vec![0..0; cuts.len()];
    for (c, o) in cuts.iter().zip(&mut out).rev() {
        let k = place % (c.len() - 1);
        place /= c.len() - 1;
        *o = c[k]..c[k + 1];
    }
    out
}

impl<'a, T: Copy> Pieces<'a, T> {
    /// `parts` in C order over a grid of `grid[a]` pieces along axis `a`: the pieces along an
    /// axis at one place of the grid share its length there, and all share their other axes.
    fn new<D: Dimension>(grid: &[usize], parts: Vec<ArrayView<'a, T, D>>) -> Result<Self, Error> {
        let parts: Vec<ArrayViewD<'a, T>> = parts.into_iter().map(|p| p.into_dyn()).collect();
        let nd = grid.len();
        let count = grid.iter().try_fold(1usize, |n, &g| n.checked_mul(g));
        if nd == 0 || count != Some(parts.len()) {
            return Err(Error::Input(format!(
                "{} pieces for a grid of {grid:?}",
                parts.len()
            )));
        }
        if let Some(p) = parts.iter().find(|p| p.ndim() < nd || p.is_empty()) {
            return Err(Error::Input(format!(
                "a piece of shape {:?} on a grid of {nd} axes: pieces have those axes and no empty one",
                p.shape()
            )));
        }
        // Along axis `a`, the piece at place `i` of the grid and 0 elsewhere has its length.
        let mut stride = parts.len();
        let mut cuts = Vec::with_capacity(nd);
        for (a, &g) in grid.iter().enumerate() {
            stride /= g;
            let mut c = vec![0];
            for i in 0..g {
                c.push(c[i] + parts[i * stride].shape()[a]);
            }
            cuts.push(c);
        }
        let rest = &parts[0].shape()[nd..];
        for (i, p) in parts.iter().enumerate() {
            let want: Vec<usize> = held(&cuts, i).iter().map(|r| r.len()).collect();
            if p.shape()[..nd] != want[..] || p.shape()[nd..] != *rest {
                return Err(Error::Input(format!(
                    "piece {i} has shape {:?}; its place on the grid holds {want:?}{}",
                    p.shape(),
                    if rest.is_empty() {
                        String::new()
                    } else {
                        format!(" and then {rest:?}")
                    }
                )));
            }
        }
        let shape = cuts
            .iter()
            .map(|c| c[c.len() - 1])
            .chain(rest.iter().copied());
        Ok(Pieces {
            shape: shape.collect(),
            cuts,
            parts,
        })
    }

    /// One array of all the pieces.
    fn joined(&self) -> ArrayD<T> {
        let mut out = ArrayD::from_elem(
            IxDyn(&self.shape),
            self.parts[0]
                .first()
                .copied()
                .expect("pieces are not empty"),
        );
        for (i, p) in self.parts.iter().enumerate() {
            let mut view = out.view_mut();
            for (a, r) in held(&self.cuts, i).into_iter().enumerate() {
                view.slice_axis_inplace(Axis(a), Slice::from(r));
            }
            view.assign(p);
        }
        out
    }
}

impl<'a, T: Copy> Inputs<'a, T> {
    /// The main input alone.
    pub fn new<D: Dimension>(main: ArrayView<'a, T, D>) -> Self {
        Inputs {
            main: Data::Array(main.into_dyn()),
            named: Vec::new(),
            channels: false,
        }
    }

    /// The main input given as its channels, one array each (all of one shape).
    pub fn from_planes<D: Dimension>(planes: Vec<ArrayView<'a, T, D>>) -> Self {
        Inputs {
            main: Data::Planes(planes.into_iter().map(|p| p.into_dyn()).collect()),
            named: Vec::new(),
            channels: false,
        }
    }

    /// The main input given in pieces: `parts` in C order over a grid of `grid[a]` pieces along
    /// axis `a` (the first `grid.len()` axes; the pieces along an axis at one place of the grid
    /// share its length there, and all share their other axes) — e.g. a chunk of a larger
    /// array and its neighbours' edges, read where they lie instead of copied into one array.
    ///
    /// ```
    /// use jitfilter::{Footprint, Inputs, Kernel, Options};
    /// use ndarray::{s, Array2};
    /// let k = Kernel::compile("max(w)")?;
    /// let image = Array2::from_shape_fn((8, 10), |(y, x)| ((x * 7 + y * 3) % 11) as f64);
    /// let parts = vec![image.slice(s![..3, ..4]), image.slice(s![..3, 4..]), image.slice(s![3.., ..4]), image.slice(s![3.., 4..])];
    /// let out = k.apply::<f64, f64>(&Inputs::pieces(&[2, 2], parts)?, &Footprint::rect(3, 3), &Options::default())?;
    /// assert_eq!(out, k.filter(image.view(), &Footprint::rect(3, 3), &Options::default())?.into_dyn());
    /// # Ok::<(), jitfilter::Error>(())
    /// ```
    pub fn pieces<D: Dimension>(
        grid: &[usize],
        parts: Vec<ArrayView<'a, T, D>>,
    ) -> Result<Self, Error> {
        Ok(Inputs {
            main: Data::Pieces(Pieces::new(grid, parts)?),
            named: Vec::new(),
            channels: false,
        })
    }

    /// Adds the input the program calls `name`, given in pieces as [`Inputs::pieces`] takes them.
    pub fn with_pieces<D: Dimension>(
        mut self,
        name: &str,
        grid: &[usize],
        parts: Vec<ArrayView<'a, T, D>>,
    ) -> Result<Self, Error> {
        let data = Data::Pieces(Pieces::new(grid, parts)?);
        self.named.push((name.to_string(), data));
        Ok(self)
    }

    /// Adds the input the program calls `name`.
    pub fn with<D: Dimension>(mut self, name: &str, input: ArrayView<'a, T, D>) -> Self {
        (self.named).push((name.to_string(), Data::Array(input.into_dyn())));
        self
    }

    /// Adds the input the program calls `name`, given as its channels.
    pub fn with_planes<D: Dimension>(
        mut self,
        name: &str,
        planes: Vec<ArrayView<'a, T, D>>,
    ) -> Self {
        let planes = planes.into_iter().map(|p| p.into_dyn()).collect();
        self.named.push((name.to_string(), Data::Planes(planes)));
        self
    }

    /// The main input's last axis holds channels (skimage's `channel_axis=-1`); a named input
    /// has it too when it has one more axis than the image has.
    pub fn channels(mut self) -> Self {
        self.channels = true;
        self
    }

    /// The names of the named inputs, in order.
    pub fn names(&self) -> Vec<&str> {
        self.named.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// The shape of the image without the channel axis.
    pub fn shape(&self) -> &[usize] {
        match &self.main {
            Data::Array(a) if self.channels && a.ndim() > 0 => &a.shape()[..a.ndim() - 1],
            Data::Array(a) => a.shape(),
            Data::Planes(p) => p.first().map_or(&[], |p| p.shape()),
            Data::Channels(a, _) => &a.shape()[..a.ndim() - 1],
            Data::Pieces(p) if self.channels => &p.shape[..p.shape.len() - 1],
            Data::Pieces(p) => &p.shape,
        }
    }

    /// Whether the result has a channel axis even for one value per pixel.
    fn channel_axis(&self) -> bool {
        self.channels || matches!(self.main, Data::Planes(_))
    }
}

/// Inputs as f64 (converted copies, or the f64 inputs themselves), for programs with stages
/// (whose results are f64).
pub(crate) struct Wide<'a> {
    main: WideData<'a>,
    named: Vec<(String, WideData<'a>)>,
    channels: bool,
}

enum WideData<'a> {
    Array(CowArray<'a, f64, IxDyn>),
    Planes(Vec<CowArray<'a, f64, IxDyn>>),
    Channels(CowArray<'a, f64, IxDyn>, Range<usize>),
}

impl WideData<'_> {
    fn view(&self) -> Data<'_, f64> {
        match self {
            WideData::Array(a) => Data::Array(a.view()),
            WideData::Planes(p) => Data::Planes(p.iter().map(|a| a.view()).collect()),
            WideData::Channels(a, r) => Data::Channels(a.view(), r.clone()),
        }
    }
}

impl<'a, T: Element> Inputs<'a, T> {
    /// The same inputs as f64 (exact for every element type; f64 inputs are not copied).
    pub(crate) fn to_f64(&self) -> Wide<'a> {
        let one = |a: &ArrayViewD<'a, T>| match T::as_f64(a) {
            Some(v) => CowArray::from(v),
            None => CowArray::from(a.mapv(T::to_f64)),
        };
        let wide = |d: &Data<'a, T>| match d {
            Data::Array(a) => WideData::Array(one(a)),
            Data::Pieces(p) => WideData::Array(CowArray::from(p.joined().mapv(T::to_f64))),
            Data::Planes(p) => WideData::Planes(p.iter().map(one).collect()),
            Data::Channels(a, r) => WideData::Channels(one(a), r.clone()),
        };
        Wide {
            main: wide(&self.main),
            named: self
                .named
                .iter()
                .map(|(n, d)| (n.clone(), wide(d)))
                .collect(),
            channels: self.channels,
        }
    }
}

impl Wide<'_> {
    /// These inputs, and `made` (stage results, by name) as inputs too.
    pub(crate) fn view<'a>(&'a self, made: &'a [Made<f64>]) -> Inputs<'a, f64> {
        let mut inputs = Inputs {
            main: self.main.view(),
            named: (self.named.iter())
                .map(|(n, d)| (n.clone(), d.view()))
                .collect(),
            channels: self.channels,
        };
        inputs.add_made(made);
        inputs
    }
}

impl<'a, T: Copy> Inputs<'a, T> {
    /// These inputs, and `made` (stage results, by name) as inputs too.
    pub(crate) fn and_made<'b>(&'b self, made: &'b [Made<T>]) -> Inputs<'b, T>
    where
        'a: 'b,
    {
        let reborrow = |d: &'b Data<'a, T>| match d {
            Data::Array(a) => Data::Array(a.view()),
            Data::Pieces(p) => Data::Pieces(Pieces {
                parts: p.parts.iter().map(|a| a.view()).collect(),
                cuts: p.cuts.clone(),
                shape: p.shape.clone(),
            }),
            Data::Planes(p) => Data::Planes(p.iter().map(|a| a.view()).collect()),
            Data::Channels(a, r) => Data::Channels(a.view(), r.clone()),
        };
        let mut inputs = Inputs {
            main: reborrow(&self.main),
            named: (self.named.iter())
                .map(|(n, d)| (n.clone(), reborrow(d)))
                .collect(),
            channels: self.channels,
        };
        inputs.add_made(made);
        inputs
    }

    /// Adds `made` (stage results, by name) as inputs: a result with a last axis more than
    /// the image has holds channels.
    fn add_made(&mut self, made: &'a [Made<T>]) {
        let ndim = self.shape().len();
        for m in made {
            let result = m.result.view();
            let data = match &m.channels {
                Some(r) => Data::Channels(result, r.clone()),
                None if result.ndim() > ndim => {
                    let count = result.shape()[ndim];
                    Data::Channels(result, 0..count)
                }
                None => Data::Array(result),
            };
            self.named.push((m.name.to_string(), data));
        }
    }

    /// The main input's channel count (1 for an image without a channel axis).
    pub(crate) fn main_channels(&self) -> usize {
        match &self.main {
            Data::Array(a) if self.channels => a.shape().last().copied().unwrap_or(0),
            Data::Pieces(p) if self.channels => p.shape.last().copied().unwrap_or(0),
            Data::Array(_) | Data::Pieces(_) => 1,
            Data::Planes(p) => p.len(),
            Data::Channels(_, r) => r.len(),
        }
    }
}

/// A stage's result, an input of the passes after it: by the stage's name, its array (shared
/// by the stages a fused pass makes), and which channels of its last axis are the stage's
/// (`None`: all of the array, channels along a last axis the image lacks).
pub(crate) struct Made<'n, T> {
    pub name: &'n str,
    pub result: Rc<ArrayD<T>>,
    pub channels: Option<Range<usize>>,
}

impl<'n, T> Made<'n, T> {
    /// A stage's own result.
    pub fn whole(name: &'n str, result: ArrayD<T>) -> Self {
        Made {
            name,
            result: Rc::new(result),
            channels: None,
        }
    }
}

/// What one application reads and writes, resolved against a program.
pub(crate) struct Binding<'a, T: Clone> {
    /// The image shape (no channel axis).
    pub shape: Vec<usize>,
    /// Per run, the data of each of the program's input planes, in `Program::inputs` order.
    pub runs: Vec<Vec<Strided<'a, T>>>,
    /// Values per pixel of each run (the program's results).
    pub outputs: usize,
    /// The shape of the result: the image's, with a channel axis when there are several
    /// values per pixel or the main input had one.
    pub out_shape: Vec<usize>,
    /// The main input's channel count (`channels`).
    pub channels: usize,
}

/// One plane's values, `step` apart (a channel of pixel-interleaved channels is read where it
/// lies: `step` is the channel count).
pub(crate) struct Strided<'a, T: Clone> {
    pub data: Values<'a, T>,
    pub step: usize,
}

/// A plane's values: in C order, or in pieces on a grid over the image's axes.
pub(crate) enum Values<'a, T: Clone> {
    One(Cow<'a, [T]>),
    /// Per piece (in C order over the grid) its rows, and per image axis where each piece
    /// along it begins and the length last (`[0, n]`: one piece along the axis).
    Pieces(Vec<Rows<'a, T>>, Vec<Vec<usize>>),
}

/// A piece's rows (in C order, each a row's values `step` apart): where they lie, or (for a
/// piece whose rows do not lie in a line) in a copy of the piece in C order, `len` values per
/// row from value `first` on.
pub(crate) enum Rows<'a, T> {
    InPlace(Vec<&'a [T]>),
    Copied {
        values: Vec<T>,
        len: usize,
        first: usize,
    },
}

impl<T> Rows<'_, T> {
    /// Each row's values.
    pub fn rows(&self) -> Vec<&[T]> {
        match self {
            Rows::InPlace(rows) => rows.clone(),
            Rows::Copied { values, len, first } => {
                (values.chunks_exact(*len)).map(|r| &r[*first..]).collect()
            }
        }
    }
}

/// The rows of `a` (a piece of an image of `nd` axes, with a last axis of `count` channels
/// when `count` is given), as [`Rows`] of channel `j` (the channels are read where they lie,
/// `count` apart).
fn rows_of<'a, T: Copy>(
    a: &ArrayViewD<'a, T>,
    nd: usize,
    j: usize,
    count: Option<usize>,
) -> Rows<'a, T> {
    let (shape, strides) = (a.shape(), a.strides());
    let x = nd - 1;
    let c = count.unwrap_or(1);
    let len = shape[x] * c;
    // A row lies in a line when its pixels are `c` apart and their channels next to each other.
    let line = (shape[x] <= 1 || strides[x] == c as isize)
        && (count.is_none() || c <= 1 || strides[nd] == 1);
    if !line || len == 0 {
        let values = c_order(a);
        return Rows::Copied {
            values,
            len: len.max(1),
            first: j,
        };
    }
    let n: usize = shape[..x].iter().product();
    let mut rows = Vec::with_capacity(n);
    let mut at = vec![0usize; x];
    for _ in 0..n {
        let offset: isize = at.iter().zip(strides).map(|(&i, &s)| i as isize * s).sum();
        // SAFETY: the row's `len` values (its pixels, with their channels) are elements of the
        // view `a`, one after another as checked above, and live as long as its data.
        let row = unsafe { std::slice::from_raw_parts(a.as_ptr().offset(offset), len) };
        rows.push(&row[j..]);
        for b in (0..x).rev() {
            at[b] += 1;
            if at[b] < shape[b] {
                break;
            }
            at[b] = 0;
        }
    }
    Rows::InPlace(rows)
}

/// One input, resolved against the image's shape.
struct Input<'b, 'a, T> {
    name: &'b str,
    data: &'b Data<'a, T>,
    /// Channels along the data's last axis (arrays in channel mode).
    axis: Option<usize>,
}

impl<'a, T: Copy> Input<'_, 'a, T> {
    fn count(&self) -> usize {
        match self.data {
            Data::Planes(p) => p.len(),
            Data::Array(_) | Data::Pieces(_) => self.axis.unwrap_or(1),
            Data::Channels(_, r) => r.len(),
        }
    }

    /// Channel `j` as a plane, of an image of `shape`: in place when its data allows, else
    /// copied.
    fn plane(&self, j: usize, shape: &[usize]) -> Strided<'a, T> {
        let contiguous = |v: &ArrayViewD<'a, T>| match v.to_slice() {
            Some(s) => Cow::Borrowed(s),
            None => Cow::Owned(c_order(v)),
        };
        // Channel `j` of an array whose last axis holds channels: strided in place when the
        // array is in C order.
        let channel = |a: &ArrayViewD<'a, T>, j: usize| {
            let count = a.shape()[a.ndim() - 1];
            match a.to_slice() {
                Some(s) if !s.is_empty() => Strided {
                    data: Values::One(Cow::Borrowed(&s[j..])),
                    step: count,
                },
                _ => Strided {
                    data: Values::One(Cow::Owned(c_order(&a.index_axis(Axis(a.ndim() - 1), j)))),
                    step: 1,
                },
            }
        };
        let plain = |data| Strided {
            data: Values::One(data),
            step: 1,
        };
        match (self.data, self.axis) {
            (Data::Planes(p), _) => plain(contiguous(&p[j])),
            (Data::Array(a), Some(_)) => channel(a, j),
            (Data::Array(a), None) => plain(contiguous(a)),
            (Data::Channels(a, r), _) => channel(a, r.start + j),
            (Data::Pieces(p), count) => {
                let nd = shape.len();
                let rows = p.parts.iter().map(|a| rows_of(a, nd, j, count)).collect();
                // Pieces on a grid over the first axes are one piece along the others.
                let one = |n: &usize| vec![0, *n];
                let cuts = (p.cuts.iter().cloned()).chain(shape[p.cuts.len()..].iter().map(one));
                Strided {
                    data: Values::Pieces(rows, cuts.collect()),
                    step: count.unwrap_or(1),
                }
            }
        }
    }
}

/// The values of `v` in C order, copied a row (last-axis lane) at a time: an element iterator
/// over dynamic dimensions steps its index per element (5× the time of the filter that made a
/// tuple stage, whose channels are such strided views).
fn c_order<T: Copy>(v: &ArrayViewD<T>) -> Vec<T> {
    let Some(last) = v.ndim().checked_sub(1) else {
        return v.iter().copied().collect();
    };
    let mut out = Vec::with_capacity(v.len());
    for lane in v.lanes(Axis(last)) {
        let lane = lane.into_dimensionality::<Ix1>().expect("a lane is 1-D");
        out.extend(lane.iter().copied());
    }
    out
}

/// `name`'s data as an input of an image of `shape`, or why it does not fit.
fn resolve<'b, 'a, T>(
    name: &'b str,
    data: &'b Data<'a, T>,
    shape: &[usize],
    channels: bool,
) -> Result<Input<'b, 'a, T>, Error> {
    let shape_of = |s: &[usize]| format!("{s:?}");
    let (given, axis) = match data {
        Data::Planes(p) if p.is_empty() => {
            return Err(Error::Input(format!("input `{name}` has no channels")))
        }
        Data::Planes(p) => match p.iter().find(|q| q.shape() != shape) {
            Some(q) => (shape_of(q.shape()), None),
            None => {
                return Ok(Input {
                    name,
                    data,
                    axis: None,
                })
            }
        },
        Data::Channels(a, r)
            if a.ndim() == shape.len() + 1 && a.shape()[..shape.len()] == *shape =>
        {
            if r.is_empty() {
                return Err(Error::Input(format!("input `{name}` has no channels")));
            }
            return Ok(Input {
                name,
                data,
                axis: None,
            });
        }
        Data::Channels(a, _) => (shape_of(&a.shape()[..a.ndim() - 1]), None),
        Data::Pieces(p) if p.cuts.len() > shape.len() => {
            return Err(Error::Input(format!(
                "input `{name}` is in pieces along {} axes, but the image has {}",
                p.cuts.len(),
                shape.len()
            )))
        }
        Data::Array(_) | Data::Pieces(_) => {
            let a = match data {
                Data::Pieces(p) => &p.shape[..],
                Data::Array(a) => a.shape(),
                _ => unreachable!("matched above"),
            };
            if a == shape {
                return Ok(Input {
                    name,
                    data,
                    axis: None,
                });
            }
            if channels && a.len() == shape.len() + 1 && a[..shape.len()] == *shape {
                let c = a[shape.len()];
                if c == 0 {
                    return Err(Error::Input(format!("input `{name}` has no channels")));
                }
                (String::new(), Some(c))
            } else {
                (shape_of(a), None)
            }
        }
    };
    if axis.is_some() {
        return Ok(Input { name, data, axis });
    }
    Err(Error::Input(format!(
        "input `{name}` has shape {given}, but the image `w` has shape {}{}",
        shape_of(shape),
        if channels {
            " (without its channel axis)"
        } else {
            ""
        }
    )))
}

impl<'a, T: Copy> Binding<'a, T> {
    /// Binds `inputs` to `program`'s planes.
    pub fn new(program: &Program, inputs: &Inputs<'a, T>) -> Result<Binding<'a, T>, Error> {
        let shape = inputs.shape().to_vec();
        if let Data::Pieces(p) = &inputs.main {
            if p.cuts.len() > shape.len() {
                return Err(Error::Input(format!(
                    "the image is in pieces along {} axes, but has {} (without its channel axis)",
                    p.cuts.len(),
                    shape.len()
                )));
            }
        }
        let main_shape = match &inputs.main {
            Data::Array(a) => Some(a.shape()),
            Data::Pieces(p) => Some(&p.shape[..]),
            _ => None,
        };
        let main = match main_shape {
            Some(full) if inputs.channels => match full.last() {
                Some(0) | None => {
                    return Err(Error::Input(
                        "the image has no channel axis, or it is empty".into(),
                    ))
                }
                Some(&c) => Input {
                    name: MAIN,
                    data: &inputs.main,
                    axis: Some(c),
                },
            },
            _ => resolve(MAIN, &inputs.main, &shape, false)?,
        };
        let mut all = vec![main];
        for (name, data) in &inputs.named {
            if all.iter().any(|i| i.name == name) {
                return Err(Error::Input(format!("input `{name}` is given twice")));
            }
            all.push(resolve(name, data, &shape, inputs.channels)?);
        }
        let find = |plane: &Plane| -> Result<&Input<T>, Error> {
            all.iter().find(|i| i.name == plane.name).ok_or_else(|| {
                Error::Input(format!(
                    "the program reads input `{}`, but no input of that name was given",
                    plane.name
                ))
            })
        };
        let channels = all[0].count();
        let outputs = program.roots.len();
        let mut runs = Vec::new();
        if program.indexes_channels() {
            let mut planes = Vec::new();
            for (i, plane) in program.inputs.iter().enumerate() {
                let input = find(plane)?;
                let j = match plane.channel {
                    Some(j) if j >= input.count() => {
                        return Err(ExprError::Type {
                            span: plane.span,
                            message: format!(
                                "`{plane}` is out of range: `{}` has {} channel{}",
                                plane.name,
                                input.count(),
                                if input.count() == 1 { "" } else { "s" }
                            ),
                            hint: Some(format!(
                                "index from 0 to {} (`channels` is the count of `w`)",
                                input.count() - 1
                            )),
                        }
                        .into())
                    }
                    Some(j) => j,
                    None if input.count() > 1 && program.reads(i) => {
                        return Err(ExprError::Type {
                            span: plane.span,
                            message: format!(
                                "`{}` has {} channels and the program indexes channels, so it must say which",
                                plane.name,
                                input.count()
                            ),
                            hint: Some(format!("write `{0}[0]` … `{0}[{1}]`", plane.name, input.count() - 1)),
                        }
                        .into())
                    }
                    None => 0,
                };
                planes.push(input.plane(j, &shape));
            }
            runs.push(planes);
        } else {
            if channels > 1 && outputs > 1 {
                return Err(ExprError::Type {
                    span: program.nodes[program.roots[0]].span,
                    message: format!(
                        "a result of {outputs} values per pixel for an image of {channels} channels, which the program never indexes"
                    ),
                    hint: Some(
                        "index the channels (`w[0]`, `c[1]`…), or filter one channel at a time"
                            .into(),
                    ),
                }
                .into());
            }
            for j in 0..channels {
                let mut planes = Vec::new();
                for plane in &program.inputs {
                    let input = find(plane)?;
                    let k = match input.count() {
                        1 => 0,
                        n if n == channels => j,
                        n => {
                            return Err(Error::Input(format!(
                                "input `{}` has {n} channels and `w` has {channels}: per-channel filtering needs the same count (or 1)",
                                plane.name
                            )))
                        }
                    };
                    planes.push(input.plane(k, &shape));
                }
                runs.push(planes);
            }
        }
        let values = runs.len() * outputs;
        let mut out_shape = shape.clone();
        if inputs.channel_axis() || values > 1 {
            out_shape.push(values);
        }
        Ok(Binding {
            shape,
            runs,
            outputs,
            out_shape,
            channels,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::c_order;
    use ndarray::{s, ArrayD, IxDyn};

    #[test]
    fn c_order_copies_strided_views_in_c_order() {
        let a = ArrayD::from_shape_fn(IxDyn(&[3, 4, 5]), |i| {
            (i[0] * 100 + i[1] * 10 + i[2]) as f64
        });
        let views = [
            a.view(),
            a.view().reversed_axes(),
            a.slice(s![.., 1..3, ..;2]).into_dyn(),
            a.slice(s![1, .., ..;-1]).into_dyn(),
            a.slice(s![.., 2, 3]).into_dyn(),
            a.slice(s![1, 2, 3]).into_dyn(),
        ];
        for v in views {
            assert_eq!(c_order(&v), v.iter().copied().collect::<Vec<_>>(), "{v:?}");
        }
    }
}
