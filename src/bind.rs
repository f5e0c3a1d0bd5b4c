//! Inputs → planes: binds the arrays a kernel is applied to (the main input `w`, named inputs,
//! each with or without a trailing channel axis) to the input planes its program reads, checks
//! their names, shapes and channel indexes, and decides the runs: one run when the program
//! indexes channels (it sees them jointly), else one run per channel of `w`.

use crate::error::{Error, ExprError};
use crate::ir::{Plane, Program, MAIN};
use ndarray::{ArrayView, ArrayViewD, Dimension};
use std::borrow::Cow;

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
    main: ArrayViewD<'a, T>,
    named: Vec<(String, ArrayViewD<'a, T>)>,
    channels: bool,
}

impl<'a, T: Copy> Inputs<'a, T> {
    /// The main input alone.
    pub fn new<D: Dimension>(main: ArrayView<'a, T, D>) -> Self {
        Inputs {
            main: main.into_dyn(),
            named: Vec::new(),
            channels: false,
        }
    }

    /// Adds the input the program calls `name`.
    pub fn with<D: Dimension>(mut self, name: &str, input: ArrayView<'a, T, D>) -> Self {
        self.named.push((name.to_string(), input.into_dyn()));
        self
    }

    /// The main input's last axis holds channels (skimage's `channel_axis=-1`); a named input
    /// has it too when it has one more axis than the image has.
    pub fn channels(mut self) -> Self {
        self.channels = true;
        self
    }

    /// Whether the main input's last axis is channels.
    pub fn has_channels(&self) -> bool {
        self.channels
    }

    /// The names of the named inputs, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.named.iter().map(|(n, _)| n.as_str())
    }

    /// The shape of the image without the channel axis.
    pub fn shape(&self) -> &[usize] {
        let s = self.main.shape();
        if self.channels && !s.is_empty() {
            &s[..s.len() - 1]
        } else {
            s
        }
    }
}

/// What one application reads and writes, resolved against a program.
pub(crate) struct Binding<'a, T: Clone> {
    /// The image shape (no channel axis).
    pub shape: Vec<usize>,
    /// Per run, the data of each of the program's input planes, in `Program::inputs` order.
    pub runs: Vec<Vec<Cow<'a, [T]>>>,
    /// Values per pixel of each run (the program's results).
    pub outputs: usize,
    /// The shape of the result: the image's, with a channel axis when there are several
    /// values per pixel or the main input had one.
    pub out_shape: Vec<usize>,
    /// The main input's channel count (`channels`).
    pub channels: usize,
}

/// One input: its name, data, and its channel count when it has a channel axis.
struct Input<'b, 'a, T> {
    name: &'b str,
    data: &'b ArrayViewD<'a, T>,
    channels: Option<usize>,
}

impl<'a, T: Copy> Input<'_, 'a, T> {
    fn count(&self) -> usize {
        self.channels.unwrap_or(1)
    }

    /// Channel `j` as a contiguous plane in C order.
    fn plane(&self, j: usize) -> Cow<'a, [T]> {
        match self.channels {
            None | Some(1) => match self.data.to_slice() {
                Some(s) => Cow::Borrowed(s),
                None => Cow::Owned(self.data.iter().copied().collect()),
            },
            Some(c) => match self.data.as_slice() {
                Some(s) => Cow::Owned(s.iter().skip(j).step_by(c).copied().collect()),
                None => Cow::Owned(self.data.iter().skip(j).step_by(c).copied().collect()),
            },
        }
    }
}

impl<'a, T: Copy> Binding<'a, T> {
    /// Binds `inputs` to `program`'s planes.
    pub fn new(program: &Program, inputs: &Inputs<'a, T>) -> Result<Binding<'a, T>, Error> {
        let shape = inputs.shape().to_vec();
        if inputs.channels && inputs.main.ndim() == 0 {
            return Err(Error::Shape(
                "a 0-D array has no axis to hold channels".into(),
            ));
        }
        let main = Input {
            name: MAIN,
            data: &inputs.main,
            channels: inputs
                .channels
                .then(|| *inputs.main.shape().last().expect("ndim > 0")),
        };
        let mut all = vec![main];
        for (name, data) in &inputs.named {
            if all.iter().any(|i| i.name == name) {
                return Err(Error::Input(format!("input `{name}` is given twice")));
            }
            let channels = if data.shape() == &shape[..] {
                None
            } else if inputs.channels
                && data.ndim() == shape.len() + 1
                && data.shape()[..shape.len()] == shape[..]
            {
                Some(data.shape()[shape.len()])
            } else {
                return Err(Error::Input(format!(
                    "input `{name}` has shape {:?}, but the image `w` has shape {:?}{}",
                    data.shape(),
                    inputs.main.shape(),
                    if inputs.channels {
                        " (channels last)"
                    } else {
                        ""
                    }
                )));
            };
            all.push(Input {
                name,
                data,
                channels,
            });
        }
        if all.iter().any(|i| i.channels == Some(0)) {
            return Err(Error::Input("an input has 0 channels".into()));
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
        if inputs.channels || values > 1 {
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
