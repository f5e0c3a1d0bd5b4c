//! Running a kernel over arrays: the public entry points, stages one after another (fused
//! runs in one pass), each pass over the whole array or a part of it, and the setup of a run.

use super::region::region_of;
use super::*;
use crate::bind::Values;

impl Kernel {
    /// Filters `input`, producing the same element type (rounded and saturated for integers).
    pub fn filter<T: Element, D: Dimension>(
        &self,
        input: ArrayView<T, D>,
        footprint: &Footprint,
        options: &Options,
    ) -> Result<Array<T, D>, Error> {
        self.filter_as(input, footprint, options)
    }

    /// Filters `input` into an array of element type `O` (e.g. f64 for the unrounded result).
    pub fn filter_as<T: Element, O: Element, D: Dimension>(
        &self,
        input: ArrayView<T, D>,
        footprint: &Footprint,
        options: &Options,
    ) -> Result<Array<O, D>, Error> {
        Ok(self.filter_traced(input, footprint, options)?.0)
    }

    /// [`Kernel::filter_as`], also returning what the run did: the path each reduction took.
    /// A program with several results or reading named inputs needs [`Kernel::apply`].
    pub fn filter_traced<T: Element, O: Element, D: Dimension>(
        &self,
        input: ArrayView<T, D>,
        footprint: &Footprint,
        options: &Options,
    ) -> Result<(Array<O, D>, Trace), Error> {
        let dim = input.raw_dim();
        let (out, trace) = self.apply_traced(&Inputs::new(input), footprint, options)?;
        let out = out.into_dimensionality::<D>().map_err(|_| {
            Error::Input(format!(
                "the program returns {} values per pixel: use Kernel::apply, whose result has a channel axis",
                self.program.roots.len()
            ))
        })?;
        debug_assert!(!options.region.is_empty() || out.raw_dim() == dim);
        Ok((out, trace))
    }

    /// Filters `inputs` (the main input, named inputs, channels) into an array of element type
    /// `O`. The result has the image's shape, plus a last axis when there are several values per
    /// pixel (a tuple result, or each channel of a multi-channel input filtered in turn).
    pub fn apply<T: Element, O: Element>(
        &self,
        inputs: &Inputs<T>,
        footprint: &Footprint,
        options: &Options,
    ) -> Result<ArrayD<O>, Error> {
        Ok(self.apply_traced(inputs, footprint, options)?.0)
    }

    /// [`Kernel::apply`], also returning what the run did (of its last run, when each channel
    /// runs in turn).
    pub fn apply_traced<T: Element, O: Element>(
        &self,
        inputs: &Inputs<T>,
        footprint: &Footprint,
        options: &Options,
    ) -> Result<(ArrayD<O>, Trace), Error> {
        self.apply_dest(inputs, footprint, options, None)
    }

    /// [`Kernel::apply_traced`] writing the result into `out` instead of a new array: no
    /// allocation, and no copy when the caller keeps its results in an array of its own (as
    /// `scipy.ndimage`'s `output=`). `out` must have the result's shape and be in C order;
    /// it must not overlap the inputs (they are read while it is written). A wrong shape or
    /// order is refused before anything is written; a run cancelled through
    /// [`Options::cancel`] leaves `out` partly written.
    ///
    /// ```
    /// use jitfilter::{Footprint, Inputs, Kernel, Options};
    /// use ndarray::Array2;
    /// let k = Kernel::compile("max(w)")?;
    /// let image = Array2::from_shape_fn((8, 8), |(y, x)| (x * y) as f64);
    /// let mut out = Array2::<f64>::zeros((8, 8));
    /// k.apply_into(&Inputs::new(image.view()), &Footprint::rect(3, 3), &Options::default(), out.view_mut().into_dyn())?;
    /// assert_eq!(out, k.filter(image.view(), &Footprint::rect(3, 3), &Options::default())?);
    /// # Ok::<(), jitfilter::Error>(())
    /// ```
    pub fn apply_into<T: Element, O: Element>(
        &self,
        inputs: &Inputs<T>,
        footprint: &Footprint,
        options: &Options,
        out: ArrayViewMutD<O>,
    ) -> Result<Trace, Error> {
        Ok(self.apply_dest(inputs, footprint, options, Some(out))?.1)
    }

    /// [`Kernel::apply_traced`], into `dest` when given (the array returned is then empty).
    fn apply_dest<T: Element, O: Element>(
        &self,
        inputs: &Inputs<T>,
        footprint: &Footprint,
        options: &Options,
        dest: Option<ArrayViewMutD<O>>,
    ) -> Result<(ArrayD<O>, Trace), Error> {
        // A pass of `passes()` reads stages `over` made by their names (`mean(w) over box:3`).
        let stage = |name: &str| (self.program.inputs.iter()).any(|p| p.name == name);
        for name in inputs.names() {
            if !stage(name) {
                check_input_name(name)?;
            }
        }
        // In a part of a larger array, per pass the positions it computes (the stages', whole
        // units of the positions their readers read).
        let outs = if options.region.is_empty() {
            // Before any block is made: stages add up their halos, and `at()` offsets far
            // along every axis would ask for a block of the box they span (a footprint's box is
            // as large as the mask it was made from).
            if !self.stages.is_empty() || self.reads_offsets() {
                self.reach(inputs.shape(), footprint, options)?;
            }
            None
        } else {
            let (image, region) = region_of(&options.region, inputs.shape())?;
            let out = region.iter().map(|s| s.out.clone()).collect();
            let (held, outs) = self.region_plan(&image, footprint, options, out)?;
            for (a, (need, span)) in held.iter().zip(&region).enumerate() {
                let has = window::merge(span.held.clone());
                if let Some(r) =
                    (need.iter()).find(|r| (has.iter()).all(|h| h.start > r.start || h.end < r.end))
                {
                    return Err(Error::Shape(format!(
                        "the part does not hold positions {r:?} of axis {a}, which it reads (Kernel::needed says which)"
                    )));
                }
            }
            self.reach(&image, footprint, options)?;
            Some(outs)
        };
        if self.stages.is_empty() {
            return self.run(inputs, footprint, options, dest);
        }
        let outs = |i: usize| outs.as_ref().map(|o| &o[i][..]);
        self.param_values(&options.params)?;
        // Stages that each pick a value of their window (`min`, `max`) of an integer image are
        // exact in its type: kept in it, they run natively, and so may the pass reading them
        // (an opening's `max(e)`).
        let exact = (self.stages.iter()).all(|(_, s)| {
            s.native()
                .is_some_and(|(n, _)| n.picks_a_value() && n.pad::<T>(options.cval).is_some())
        });
        if exact && options.engine == Engine::Auto {
            let mut made: Vec<Made<T>> = Vec::new();
            let mut trace = Trace::default();
            for (i, (name, stage)) in self.stages.iter().enumerate() {
                let opts = stage.own_params(options);
                let (out, t) =
                    stage.run_over::<T, T>(&inputs.and_made(&made), footprint, &opts, outs(i))?;
                trace.add(t);
                made.push(Made::whole(name, out));
            }
            let (out, t) = self.run(&inputs.and_made(&made), footprint, options, dest)?;
            trace.add(t);
            return Ok((out, trace));
        }
        // Each stage over the whole array in turn, its result an input of what follows; in f64
        // throughout, so nothing is rounded between stages.
        let wide = inputs.to_f64();
        let mut made: Vec<Made<f64>> = Vec::new();
        let mut trace = Trace::default();
        // Fused runs of stages make all their results in one pass over the whole array (the
        // auto engine's; the others run each stage alone), when their stages all run once:
        // each indexes channels, or the image has one (per channel, each stage runs per
        // channel of its own).
        let fused = |i: usize| {
            self.fused_at(i).filter(|f| {
                let joint = (self.program.stages[f.stages.clone()].iter())
                    .all(|s| s.program.indexes_channels());
                let one_run = joint || inputs.main_channels() == 1;
                options.region.is_empty() && options.engine == Engine::Auto && one_run
            })
        };
        let mut i = 0;
        while i < self.stages.len() {
            let run = fused(i);
            let (kernel, names) = match run {
                Some(f) => (&f.kernel, f.stages.clone()),
                None => (&self.stages[i].1, i..i + 1),
            };
            let opts = kernel.own_params(options);
            // A pass of the inputs alone reads them in their own type (native paths and all).
            let reads_stages =
                (kernel.program.inputs.iter()).any(|p| made.iter().any(|m| m.name == p.name));
            let (out, t) = if reads_stages {
                kernel.run_over::<f64, f64>(&wide.view(&made), footprint, &opts, outs(i))?
            } else {
                kernel.run_over::<T, f64>(inputs, footprint, &opts, outs(i))?
            };
            trace.add(t);
            match run {
                Some(f) => {
                    let out = Rc::new(out);
                    for (k, results) in f.stages.clone().zip(&f.results) {
                        made.push(Made {
                            name: &self.stages[k].0,
                            result: out.clone(),
                            channels: Some(results.clone()),
                        });
                    }
                }
                None => made.push(Made::whole(&self.stages[i].0, out)),
            }
            i = names.end;
        }
        let (out, t) = self.run(&wide.view(&made), footprint, options, dest)?;
        trace.add(t);
        // The stages' results, read no more, serve the next application's.
        for m in made {
            if let Ok(result) = Rc::try_unwrap(m.result) {
                crate::spare::keep(result.into_raw_vec_and_offset().0);
            }
        }
        Ok((out, trace))
    }

    /// `options` with only the params this kernel declares (a stage declares those it reads).
    fn own_params(&self, options: &Options) -> Options {
        let mut opts = options.clone();
        (opts.params).retain(|(p, _)| self.params().iter().any(|d| &d.name == p));
        opts
    }

    /// [`Kernel::run`]; in a part of a larger array, over each combination of `outs`' ranges
    /// per axis in turn, into an array of the part's held positions (those not computed are 0,
    /// and no reader reads them).
    fn run_over<T: Element, O: Element>(
        &self,
        inputs: &Inputs<T>,
        footprint: &Footprint,
        options: &Options,
        outs: Option<&[Vec<Range<usize>>]>,
    ) -> Result<(ArrayD<O>, Trace), Error> {
        let Some(outs) = outs else {
            return self.run(inputs, footprint, options, None);
        };
        let (_, region) = region_of(&options.region, inputs.shape())?;
        // Every combination of one range per axis (one empty run when some axis has none).
        let mut parts: Vec<Vec<Range<usize>>> = vec![Vec::new()];
        for ranges in outs {
            let ranges: Vec<Range<usize>> = match &ranges[..] {
                [] => std::iter::once(0..0).collect(),
                r => r.to_vec(),
            };
            parts = (parts.iter())
                .flat_map(|p| {
                    ranges
                        .iter()
                        .map(move |r| [&p[..], std::slice::from_ref(r)].concat())
                })
                .collect();
        }
        let mut whole: Option<ArrayD<O>> = None;
        let mut trace = Trace::default();
        for part_out in parts {
            let part_region = (region.iter().zip(&part_out))
                .map(|(s, o)| {
                    Some(Span {
                        out: o.clone(),
                        ..s.clone()
                    })
                })
                .collect();
            let part_options = options.clone().region(part_region);
            let (part, t) = self.run(inputs, footprint, &part_options, None)?;
            let whole = whole.get_or_insert_with(|| {
                let mut shape = part.shape().to_vec();
                for (d, s) in shape.iter_mut().zip(&region) {
                    *d = s.held_len();
                }
                ArrayD::from_elem(shape, O::from_f64(0.0))
            });
            let mut view = whole.view_mut();
            for (a, (s, o)) in region.iter().zip(&part_out).enumerate() {
                let at = Span::index(&s.held, o.start).unwrap_or(0);
                view.slice_axis_inplace(Axis(a), Slice::from(at..at + o.len()));
            }
            view.assign(&part);
            trace = t;
        }
        Ok((whole.expect("one run at least"), trace))
    }

    /// Applies this kernel alone (its stages' results among `inputs`), into `dest` when given
    /// (the array returned is then empty).
    fn run<T: Element, O: Element>(
        &self,
        inputs: &Inputs<T>,
        footprint: &Footprint,
        options: &Options,
        mut dest: Option<ArrayViewMutD<O>>,
    ) -> Result<(ArrayD<O>, Trace), Error> {
        let bound = Binding::new(&self.program, inputs)?;
        let (footprint, options) = &self.pass_footprint(footprint, options);
        let nd = bound.shape.len();
        let (image, region) = match &options.region[..] {
            [] => (bound.shape.clone(), Vec::new()),
            r => region_of(r, &bound.shape)?,
        };
        let mut setup = self.setup(&image, footprint, options)?;
        setup.size[3] = bound.channels as f64;
        // Per axis the positions held and those computed (in a part; all of each otherwise):
        // the axes folded into planes, then y and x (arrays of fewer than three axes have
        // planes and rows of one).
        let full: Vec<usize> = (nd..3).map(|_| 1).chain(image.iter().copied()).collect();
        let lead = full.len() - nd;
        let mut held: Vec<&[Range<usize>]> = vec![&[]; full.len()];
        let mut outs: Vec<Range<usize>> = full.iter().map(|&n| 0..n).collect();
        for (a, s) in region.iter().enumerate() {
            held[lead + a] = &s.held;
            outs[lead + a] = s.out.clone();
        }
        let folded = full.len() - 2;
        let dims = window::fold3(&bound.shape);
        let folds = window::Planes {
            lens: full[..folded].to_vec(),
            held: held[..folded].to_vec(),
            out: outs[..folded].to_vec(),
        };
        setup.geo.held_x = held[folded + 1].to_vec();
        setup.geo.out_x = outs[folded + 1].clone();
        let schedule = Schedule::<T>::new(self, setup, options)?;
        let out_dims = [folds.computed(), outs[folded].len(), outs[folded + 1].len()];
        let pixels = out_dims.iter().product::<usize>();
        let values = bound.runs.len() * bound.outputs;
        let mut out_shape = bound.out_shape;
        for (d, o) in out_shape.iter_mut().zip(&outs[lead..]) {
            *d = o.len();
        }
        // Every value is written by the schedule's run.
        let mut owned = Vec::new();
        let out: &mut [O] = match dest.as_mut() {
            None => {
                owned = O::buffer(pixels * values);
                &mut owned
            }
            Some(d) if d.shape() != out_shape => {
                return Err(Error::Shape(format!(
                    "the output array has shape {:?}; the result's is {out_shape:?}",
                    d.shape()
                )))
            }
            Some(d) => d.as_slice_mut().ok_or_else(|| {
                Error::Shape("the output array must be contiguous in C order".into())
            })?,
        };
        let mut trace = Trace::default();
        let mut part = Vec::new();
        for (r, planes) in bound.runs.iter().enumerate() {
            // Per plane in pieces, each piece's rows and where the pieces begin along each of
            // the `full` axes.
            let tables: Vec<Option<Table<T>>> = (planes.iter())
                .map(|p| match &p.data {
                    Values::One(_) => None,
                    Values::Pieces(rows, cuts) => {
                        let cuts =
                            (full[..lead].iter().map(|&n| vec![0, n])).chain(cuts.iter().cloned());
                        Some((rows.iter().map(|r| r.rows()).collect(), cuts.collect()))
                    }
                })
                .collect();
            let arrays: Vec<window::Array<T>> = (planes.iter().zip(&tables))
                .map(|(p, table)| window::Array {
                    data: match (&p.data, table) {
                        (Values::One(data), _) => window::Data::One(data),
                        (_, Some((rows, cuts))) => window::Data::Pieces(rows, cuts),
                        (Values::Pieces(..), None) => unreachable!("tabled above"),
                    },
                    step: p.step,
                    dims,
                    planes: &folds,
                    held_y: held[folded],
                })
                .collect();
            let sources: Vec<&dyn window::Source<T>> =
                arrays.iter().map(|a| a as &dyn window::Source<T>).collect();
            // One run writes the result in place; runs per channel each fill their column.
            let target = if bound.runs.len() == 1 {
                &mut *out
            } else {
                part.resize(pixels, O::from_f64(0.0));
                &mut part
            };
            let mut sink = window::ArrayMut {
                data: target,
                shape: out_dims,
                channels: bound.outputs,
                planes: &folds,
                y0: outs[folded].start,
            };
            trace = schedule.run(&sources, &mut sink)?;
            if bound.runs.len() > 1 {
                for (o, v) in out.iter_mut().skip(r).step_by(values).zip(&part) {
                    *o = *v;
                }
            }
        }
        if dest.is_some() {
            return Ok((
                ArrayD::from_shape_vec(IxDyn(&[0]), owned).expect("empty"),
                trace,
            ));
        }
        let out = Array::from_shape_vec(IxDyn(&out_shape), owned)
            .expect("the result has the bound shape");
        Ok((out, trace))
    }

    /// Validates shape, footprint, origin and params, and builds the tables a run needs.
    pub(super) fn setup(
        &self,
        shape: &[usize],
        footprint: &Footprint,
        options: &Options,
    ) -> Result<Setup, Error> {
        let ndim = shape.len();
        if !(1..=MAX_DIMS).contains(&ndim) {
            return Err(Error::Shape(format!(
                "arrays must have 1 to {MAX_DIMS} dimensions, got {ndim}"
            )));
        }
        for (b, span) in self.program.builtins_used() {
            if let Some(axis) = b.axis_needed() {
                if axis > ndim {
                    let axis = ["x (last)", "y (second-last)", "z (third-last)"][axis - 1];
                    return Err(ExprError::NoPosition {
                        span,
                        name: b.name().into(),
                        axis,
                        ndim,
                    }
                    .into());
                }
            }
        }
        for node in &self.program.nodes {
            if let Op::Sample(Sample {
                at: At::Offset(o), ..
            }) = node.op
            {
                // o is (z, y, x): an array of ndim dimensions has the last ndim of them.
                if let Some(a) = (0..3usize.saturating_sub(ndim)).find(|&a| o[a] != 0) {
                    return Err(ExprError::Type {
                        span: node.span,
                        message: format!(
                            "this offset moves along the {} axis, which a {ndim}-D array does not have",
                            ["z (third-last)", "y (second-last)"][a]
                        ),
                        hint: Some("give offsets only along the array's axes".into()),
                    }
                    .into());
                }
            }
        }
        let (fp, origin, modes) = if options.axes.is_empty() {
            let fp = footprint.resolve(ndim, &self.limits)?;
            (fp, options.origin.clone(), options.modes.clone())
        } else {
            let axes = &options.axes;
            let n = axes.len();
            if let Some(&a) = axes.iter().find(|&&a| a >= ndim) {
                return Err(Error::Shape(format!(
                    "axis {a} is out of range for a {ndim}-D array"
                )));
            }
            if (1..n).any(|i| axes[..i].contains(&axes[i])) {
                return Err(Error::Shape(format!("axes {axes:?} name an axis twice")));
            }
            let fp = footprint.resolve(n, &self.limits)?.along(axes, ndim);
            let origin = spread(&options.origin, axes, ndim, 0, "origins")?;
            let modes = spread(&options.modes, axes, ndim, options.mode, "boundary modes")?;
            (fp, origin, modes)
        };
        let origin = origins(&origin, &fp.shape)?;
        let modes = crate::boundary::axis_modes(options.mode, &modes, ndim)?;
        let geo = Geometry::new(shape, &fp, &origin, &self.program.points(), &modes);
        let params = self.param_values(&options.params)?;
        let (axes, d) = self.axis_tables(&geo)?;
        let s3 = geo.shape;
        Ok(Setup {
            axes,
            d,
            modes: std::array::from_fn(|a| modes[(ndim + a).saturating_sub(3).min(ndim - 1)]),
            axis_modes: modes,
            dx: geo.offset_table(1),
            dy: geo.offset_table(2),
            dz: geo.offset_table(3),
            k: fp.weights,
            size: [
                s3[2] as f64,
                s3[1] as f64,
                (if ndim >= 3 { shape[ndim - 3] } else { 1 }) as f64,
                1.0,
            ],
            geo,
            params,
        })
    }
}

impl Kernel {
    /// The tables of `pos(j)` and `d(j)` (see [`Setup::axes`]) for the axes the program names,
    /// which the array must have.
    fn axis_tables(&self, geo: &Geometry) -> Result<(Vec<f64>, Vec<Vec<f64>>), Error> {
        let nd = geo.ndim;
        let mut axes = vec![0.0; AXES * 5];
        let mut d = vec![Vec::new(); AXES];
        for (b, span) in self.program.builtins_used() {
            let (Builtin::Pos(j) | Builtin::D(j)) = b else {
                continue;
            };
            let a = if j < 0 {
                nd as isize + j as isize
            } else {
                j as isize
            };
            if !(0..nd as isize).contains(&a) {
                return Err(ExprError::Type {
                    span,
                    message: format!("axis {j} is out of range for a {nd}-D array"),
                    hint: Some(format!(
                        "name an axis from {} to {} (negative numbers count from the last)",
                        -(nd as isize),
                        nd - 1
                    )),
                }
                .into());
            }
            let (a, s) = (a as usize, Builtin::axis_slot(j));
            let folded = geo.outer.is_some() && a + 3 < nd;
            axes[s * 5..s * 5 + 5].copy_from_slice(&[
                (a + 1 == nd) as u8 as f64,
                (a + 2 == nd) as u8 as f64,
                (a + 3 == nd) as u8 as f64,
                0.0,
                if folded { a as f64 } else { -1.0 },
            ]);
            d[s] = geo.axis_offsets(a);
        }
        Ok((axes, d))
    }
}

/// A plane given in pieces as the window loop reads it: per piece its rows, and per axis where
/// each piece along it begins (see [`window::Data::Pieces`]).
type Table<'a, T> = (Vec<Vec<&'a [T]>>, Vec<Vec<usize>>);

/// Values given per listed axis (none, one for all, or one each) spread over an array's `ndim`
/// axes, `fill` on the others — scipy's `_expand_origin`/`_expand_mode`, which keep a list that
/// names every axis as given.
fn spread<T: Copy>(
    given: &[T],
    axes: &[usize],
    ndim: usize,
    fill: T,
    what: &str,
) -> Result<Vec<T>, Error> {
    let n = axes.len();
    match given.len() {
        0 => Ok(Vec::new()),
        l if l == n && n == ndim => Ok(given.to_vec()),
        l if l == 1 || l == n => {
            let mut out = vec![fill; ndim];
            for (j, &a) in axes.iter().enumerate() {
                out[a] = given[if l == 1 { 0 } else { j }];
            }
            Ok(out)
        }
        l => Err(Error::Shape(format!("{l} {what} given for {n} axes"))),
    }
}

/// The user's origin (none, one for all axes, or one per axis) per axis of a footprint of
/// `fshape`, checking scipy's limits: for a footprint of size f, `-(f/2) <= origin <= (f-1)/2`.
fn origins(origin: &[isize], fshape: &[usize]) -> Result<Vec<isize>, Error> {
    let ndim = fshape.len();
    let per_axis: Vec<isize> = match origin.len() {
        0 => vec![0; ndim],
        1 => vec![origin[0]; ndim],
        l if l == ndim => origin.to_vec(),
        l => {
            return Err(Error::Shape(format!(
                "{l} origins given for a {ndim}-D array"
            )))
        }
    };
    for (a, (&o, &size)) in per_axis.iter().zip(fshape).enumerate() {
        check_origin(a, o, size)?;
    }
    Ok(per_axis)
}

/// scipy's bound on an origin along an axis where the footprint has `size` cells.
pub(crate) fn check_origin(axis: usize, origin: isize, size: usize) -> Result<(), Error> {
    let (min, max) = (-((size / 2) as isize), ((size as isize) - 1) / 2);
    if origin < min || origin > max {
        return Err(Error::Origin {
            axis,
            origin,
            size,
            min,
            max,
        });
    }
    Ok(())
}
