//! Inputs → planes: binds the arrays a kernel is applied to (the main input `w`, named inputs,
//! each with or without a trailing channel axis) to the input planes its program reads, checks
//! their names, shapes and channel indexes, and decides the runs: one run when the program
//! indexes channels (it sees them jointly), else one run per channel of `w`.

use crate::dtype::Element;
use crate::error::{Error, ExprError};
use crate::ir::{Plane, Program, MAIN};
use ndarray::{ArrayD, ArrayView, ArrayViewD, Axis, CowArray, Dimension, Ix1, IxDyn};
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
            Data::Array(_) => 1,
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

/// One plane's values in C order, `step` apart in `data` (a channel of pixel-interleaved
/// channels is read where it lies: `step` is the channel count).
pub(crate) struct Strided<'a, T: Clone> {
    pub data: Cow<'a, [T]>,
    pub step: usize,
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
            Data::Array(_) => self.axis.unwrap_or(1),
            Data::Channels(_, r) => r.len(),
        }
    }

    /// Channel `j` as a plane in C order: in place when its data allows, else copied.
    fn plane(&self, j: usize) -> Strided<'a, T> {
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
                    data: Cow::Borrowed(&s[j..]),
                    step: count,
                },
                _ => Strided {
                    data: Cow::Owned(c_order(&a.index_axis(Axis(a.ndim() - 1), j))),
                    step: 1,
                },
            }
        };
        let plain = |data| Strided { data, step: 1 };
        match (self.data, self.axis) {
            (Data::Planes(p), _) => plain(contiguous(&p[j])),
            (Data::Array(a), Some(_)) => channel(a, j),
            (Data::Array(a), None) => plain(contiguous(a)),
            (Data::Channels(a, r), _) => channel(a, r.start + j),
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
        Data::Array(a) if a.shape() == shape => {
            return Ok(Input {
                name,
                data,
                axis: None,
            })
        }
        Data::Array(a)
            if channels && a.ndim() == shape.len() + 1 && a.shape()[..shape.len()] == *shape =>
        {
            let c = a.shape()[shape.len()];
            if c == 0 {
                return Err(Error::Input(format!("input `{name}` has no channels")));
            }
            (String::new(), Some(c))
        }
        Data::Array(a) => (shape_of(a.shape()), None),
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
        let main = match &inputs.main {
            Data::Array(a) if inputs.channels => match a.shape().last() {
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
            data => resolve(MAIN, data, &shape, false)?,
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
                planes.push(input.plane(j));
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
                    planes.push(input.plane(k));
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
