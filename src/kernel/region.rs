//! Parts of a larger array (bands of rows, Dask chunks): which positions of the inputs a part
//! needs, through every pass, and the grid parts are cut on.

use super::*;

impl Kernel {
    /// The rows of the inputs that computing rows `out` of a 2-D image of `shape` reads, through
    /// every pass: a band holding them, with [`Options::rows`], computes those rows exactly as
    /// filtering the whole image would. `out` starts on a multiple of [`window::STRIPE_ROWS`].
    pub fn rows_needed(
        &self,
        shape: &[usize],
        footprint: &Footprint,
        options: &Options,
        out: Range<usize>,
    ) -> Result<Vec<Range<usize>>, Error> {
        let &[_, w] = shape else {
            return Err(Error::Shape(format!(
                "bands of rows are of 2-D images, not {}-D arrays",
                shape.len()
            )));
        };
        Ok(self
            .needed(shape, footprint, options, vec![out, 0..w])?
            .swap_remove(0))
    }

    /// Per axis, the positions of the inputs that computing positions `out` (per axis) of an
    /// array of `shape` reads, through every pass: a part holding them, with
    /// [`Options::region`], computes those positions exactly as filtering the whole array
    /// would. Each range of `out` is whole units of [`window::UNITS`] (from and to multiples of
    /// the unit, or to the axis's end; every axis before the last two is one of planes, whose
    /// unit is one).
    pub fn needed(
        &self,
        shape: &[usize],
        footprint: &Footprint,
        options: &Options,
        out: Vec<Range<usize>>,
    ) -> Result<Vec<Vec<Range<usize>>>, Error> {
        if out.len() != shape.len() {
            return Err(Error::Shape(format!(
                "{} ranges for a {}-D array",
                out.len(),
                shape.len()
            )));
        }
        Ok(self.region_plan(shape, footprint, options, out)?.0)
    }

    /// For the positions `out` (per axis) of an array of `shape`: per axis the positions the
    /// inputs must hold, and per pass (stages, then the result) per axis the positions it
    /// computes. A stage computes whole units ([`window::UNITS`]) covering the positions its
    /// readers read, so that its values equal the whole array's.
    #[allow(clippy::type_complexity)]
    pub(super) fn region_plan(
        &self,
        shape: &[usize],
        footprint: &Footprint,
        options: &Options,
        out: Vec<Range<usize>>,
    ) -> Result<(Vec<Vec<Range<usize>>>, Vec<Vec<Vec<Range<usize>>>>), Error> {
        let nd = shape.len();
        let units = grid(nd)?;
        for (a, o) in out.iter().enumerate() {
            check_out(o, a, shape[a], units[a])?;
        }
        let passes = self.passes();
        let n = passes.len();
        // Per pass, per axis.
        let mut outs = vec![vec![Vec::new(); nd]; n];
        let mut needs = vec![vec![Vec::new(); nd]; n];
        outs[n - 1] = out.into_iter().map(|o| vec![o]).collect();
        for i in (0..n).rev() {
            let (name, pass) = &passes[i];
            let (fp, opts) = pass.pass_footprint(footprint, options);
            let s = pass.setup(shape, &fp, &opts)?;
            let reach = s.geo.reach();
            for a in 0..nd {
                if i + 1 < n {
                    let read = (i + 1..n)
                        .filter(|&j| (passes[j].1.program.inputs.iter()).any(|p| &p.name == name))
                        .flat_map(|j| needs[j][a].iter().cloned())
                        .collect();
                    outs[i][a] = window::whole_units(&window::merge(read), units[a], shape[a]);
                }
                needs[i][a] =
                    window::positions_read(&outs[i][a], reach[a], s.axis_modes[a], shape[a]);
            }
        }
        let held = (0..nd)
            .map(|a| {
                let all = needs.iter().chain(&outs).flat_map(|p| p[a].iter().cloned());
                window::merge(all.collect())
            })
            .collect();
        Ok((held, outs))
    }
}

/// The whole array's shape, and a span for every axis, of a part described by `region` whose
/// inputs are of shape `data`.
pub(super) fn region_of(
    region: &[Option<Span>],
    data: &[usize],
) -> Result<(Vec<usize>, Vec<Span>), Error> {
    let nd = data.len();
    let units = grid(nd)?;
    if region.len() != nd {
        return Err(Error::Shape(format!(
            "the region describes {} axes, but the inputs have {nd}",
            region.len()
        )));
    }
    let spans: Vec<Span> = (region.iter().zip(data))
        .map(|(s, &n)| s.clone().unwrap_or_else(|| Span::whole(n)))
        .collect();
    for (a, (s, &n)) in spans.iter().zip(data).enumerate() {
        if n != s.held_len() || s.held.iter().any(|r| r.end > s.len) {
            return Err(Error::Shape(format!(
                "the inputs have {n} positions along axis {a}, but the part holds {:?} of {}",
                s.held, s.len
            )));
        }
        check_out(&s.out, a, s.len, units[a])?;
        // Computed positions are read and written from where their first one is held on.
        let first = s.held.iter().find(|r| r.contains(&s.out.start));
        if !s.out.is_empty() && first.is_none_or(|r| r.end < s.out.end) {
            return Err(Error::Shape(format!(
                "the part computes positions {:?} of axis {a}, which it does not hold in one piece (the first range holding {} must hold them all)",
                s.out, s.out.start
            )));
        }
    }
    Ok((spans.iter().map(|s| s.len).collect(), spans))
}

/// [`window::units`] of an array of `ndim` dimensions, which must be 1 to 32.
pub(super) fn grid(ndim: usize) -> Result<Vec<usize>, Error> {
    if !(1..=MAX_DIMS).contains(&ndim) {
        return Err(Error::Shape(format!(
            "arrays must have 1 to {MAX_DIMS} dimensions, got {ndim}"
        )));
    }
    Ok(window::units(ndim))
}

/// Checks that `out` is whole units of `unit` of an axis of `len`.
fn check_out(out: &Range<usize>, axis: usize, len: usize, unit: usize) -> Result<(), Error> {
    let whole = |p: usize| p % unit == 0 || p == len;
    if out.end > len || !(out.is_empty() || whole(out.start) && whole(out.end)) {
        return Err(Error::Shape(format!(
            "a part computes positions of axis {axis} from and to multiples of {unit} (or the axis's end, {len}), not {out:?}"
        )));
    }
    Ok(())
}
