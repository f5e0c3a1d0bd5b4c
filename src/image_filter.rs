//! Applies a kernel to decoded [`Image`]s, whose element types are known only at run time: the
//! main image, named inputs, channels (colour planes, or an array's last axis with `channels`),
//! and a result of one plane per value (grey, RGB, RGBA, or an array with a last axis).

use crate::bind::Inputs;
use crate::dtype::DType;
use crate::error::Error;
use crate::footprint::Footprint;
use crate::imageio::{dispatch, with_type, DynArray, Image, Layout, Sample};
use crate::ir::MAIN;
use crate::kernel::{Kernel, Options};
use crate::native::Native;
use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};

/// Filtering of whole [`Image`]s.
pub trait Filter: Sized {
    /// Applies `kernel` and returns the result as `out`.
    fn filter(
        &self,
        kernel: &Kernel,
        footprint: &Footprint,
        options: &Options,
        out: DType,
    ) -> Result<Self, Error>;
}

impl Filter for Image {
    /// Filters each colour plane (or all jointly, when the program indexes channels); alpha is
    /// passed through, converted to `out` by value.
    fn filter(
        &self,
        kernel: &Kernel,
        footprint: &Footprint,
        options: &Options,
        out: DType,
    ) -> Result<Image, Error> {
        apply(kernel, self, &[], false, footprint, options, out)
    }
}

/// The layout and number of dimensions of what filtering `main` with `kernel` gives: one value
/// per pixel per colour plane for a program that does not index channels, else its results.
pub fn result_layout(kernel: &Kernel, main: &Image, channels: bool) -> (Layout, usize) {
    layout_of(kernel, main.layout(), main.shape().len(), channels)
}

/// [`result_layout`] for an image of `layout` and `ndim` dimensions.
pub fn layout_of(kernel: &Kernel, layout: Layout, ndim: usize, channels: bool) -> (Layout, usize) {
    let program = kernel.program();
    // One value per pixel of each colour plane, in the image's own layout.
    let per_channel = !program.indexes_channels() && program.roots.len() == 1;
    match layout {
        Layout::Array => {
            let axis = channels || program.roots.len() > 1;
            (Layout::Array, ndim + axis as usize)
        }
        layout if per_channel => (layout, ndim),
        // Alpha passes through when the result has as many colour planes as the image.
        layout => match (
            program.roots.len(),
            layout.colour_channels(),
            layout.has_alpha(),
        ) {
            (1, 1, true) => (Layout::GreyAlpha, ndim),
            (1, ..) => (Layout::Grey, ndim),
            (3, 3, true) | (4, ..) => (Layout::Rgba, ndim),
            (3, ..) => (Layout::Rgb, ndim),
            _ => (Layout::Array, ndim + 1),
        },
    }
}

/// Filters `main` with the named inputs into element type `out`. All inputs must share the
/// image's shape (channels aside); inputs of different element types are read as f64, which
/// holds every value exactly.
pub fn apply(
    kernel: &Kernel,
    main: &Image,
    named: &[(&str, &Image)],
    channels: bool,
    footprint: &Footprint,
    options: &Options,
    out: DType,
) -> Result<Image, Error> {
    let (layout, _) = result_layout(kernel, main, channels);
    let same = named.iter().all(|(_, i)| i.dtype() == main.dtype());
    let common = if same { main.dtype() } else { DType::F64 };
    let converted: Vec<Image>;
    let (main_c, named_c): (&Image, Vec<(&str, &Image)>) = if same {
        (main, named.to_vec())
    } else {
        converted = std::iter::once(main)
            .chain(named.iter().map(|(_, i)| *i))
            .map(|i| i.map_planes(|p| Ok::<_, Error>(p.convert(common))))
            .collect::<Result<_, _>>()?;
        let names = named.iter().map(|(n, _)| *n);
        (&converted[0], names.zip(&converted[1..]).collect())
    };
    let result: DynArray = with_type!(common, T => {
        let mut inputs = match main_c.layout() {
            Layout::Array => Inputs::new(planes::<T>(main_c).remove(0)),
            _ => Inputs::from_planes(planes::<T>(main_c)),
        };
        for (name, image) in &named_c {
            inputs = match image.layout() {
                Layout::Array => inputs.with(name, planes::<T>(image).remove(0)),
                _ => inputs.with_planes(name, planes::<T>(image)),
            };
        }
        if channels {
            inputs = inputs.channels();
        }
        if out == common {
            T::wrap(kernel.apply::<T, T>(&inputs, footprint, options)?)
        } else {
            DynArray::F64(kernel.apply::<T, f64>(&inputs, footprint, options)?).convert(out)
        }
    });
    let alpha = (main.alpha())
        .filter(|_| {
            layout.has_alpha() && layout.colour_channels() == main.layout().colour_channels()
        })
        .map(|a| a.convert(out));
    Ok(match layout {
        Layout::Array => Image::array(result),
        _ => Image::from_planes(layout, split_last_axis(result), alpha),
    })
}

/// 2⁵²: every f64 from here on is an integer.
const TWO_52: f64 = (1u64 << 52) as f64;

/// What writing a float result in an integer type loses: values outside the type's range
/// (saturated), NaN (written as 0), and fractional parts (rounded half to even).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Loss {
    /// The integer type written.
    pub dtype: DType,
    /// Values in the result (every colour plane; alpha is not the program's).
    pub values: usize,
    /// Values below or above the type's range, saturated at its limits.
    pub clamped: usize,
    /// NaN values, written as 0.
    pub nan: usize,
    /// Values with a fractional part, rounded.
    pub fractional: usize,
    /// The lowest and highest finite values of the result (NaN when none is finite).
    pub min: f64,
    pub max: f64,
}

impl Loss {
    /// Fewer distinct integers than this across a result with fractional parts means the
    /// rounding, not the program, decides what the image shows (a z-score, `exp(-w)`).
    pub const FEW_LEVELS: f64 = 16.0;

    fn measure(planes: &[DynArray], dtype: DType) -> Loss {
        let (lo, hi) = dtype.integer_range().unwrap_or((f64::MIN, f64::MAX));
        let mut loss = Loss::of(&[], lo, hi, dtype);
        for plane in planes {
            let DynArray::F64(a) = plane else {
                continue;
            };
            let part = match a.as_slice() {
                Some(values) => Loss::of(values, lo, hi, dtype),
                None => Loss::of(&a.iter().copied().collect::<Vec<_>>(), lo, hi, dtype),
            };
            loss = Loss::merge(Some(loss), Some(part)).expect("two measures");
        }
        loss
    }

    /// What `values` lose, in lanes side by side (the counts, lowest and highest per lane),
    /// which vectorise: a scalar pass cost a quarter of a streamed copy's time.
    fn of(values: &[f64], lo: f64, hi: f64, dtype: DType) -> Loss {
        const L: usize = 8;
        let (parts, rest) = values.split_at(values.len() / L * L);
        // The rest padded with NaN, counted and then taken off.
        let mut last = [f64::NAN; L];
        last[..rest.len()].copy_from_slice(rest);
        let (nan, clamped, fractional, min, max) = crate::simd::avx2(
            #[inline(always)]
            || {
                let (mut nan, mut clamped, mut fractional) = ([0u64; L], [0u64; L], [0u64; L]);
                let (mut min, mut max) = ([f64::INFINITY; L], [f64::NEG_INFINITY; L]);
                // Without short-circuits or a chained iterator, which kept it scalar.
                let mut lanes = |part: &[f64; L]| {
                    for l in 0..L {
                        let v = part[l];
                        nan[l] += u64::from(v.is_nan());
                        clamped[l] += u64::from((v < lo) | (v > hi));
                        // From 2⁵² on every f64 is an integer; NaN fails the first test.
                        fractional[l] += u64::from((v.abs() < TWO_52) & (v.trunc() != v));
                        let finite = v.abs() < f64::INFINITY;
                        min[l] = if finite & (v < min[l]) { v } else { min[l] };
                        max[l] = if finite & (v > max[l]) { v } else { max[l] };
                    }
                };
                (parts.chunks_exact(L)).for_each(|p| lanes(p.try_into().unwrap()));
                lanes(&last);
                (nan, clamped, fractional, min, max)
            },
        );
        let total = |c: [u64; L]| c.iter().sum::<u64>() as usize;
        let min = min.into_iter().fold(f64::INFINITY, f64::min);
        let max = max.into_iter().fold(f64::NEG_INFINITY, f64::max);
        Loss {
            dtype,
            values: values.len(),
            clamped: total(clamped),
            nan: total(nan) - (L - rest.len()),
            fractional: total(fractional),
            // NaN when no value is finite.
            min: if min.is_finite() { min } else { f64::NAN },
            max: if max.is_finite() { max } else { f64::NAN },
        }
    }

    /// What two parts of a result lose together (either may have lost nothing measured).
    pub fn merge(a: Option<Loss>, b: Option<Loss>) -> Option<Loss> {
        match (a, b) {
            (Some(a), Some(b)) => Some(Loss {
                values: a.values + b.values,
                clamped: a.clamped + b.clamped,
                nan: a.nan + b.nan,
                fractional: a.fractional + b.fractional,
                min: a.min.min(b.min),
                max: a.max.max(b.max),
                ..a
            }),
            (a, b) => a.or(b),
        }
    }

    /// Whether the written image misrepresents the result: some values were saturated or NaN,
    /// or rounding leaves fewer than [`Loss::FEW_LEVELS`] levels. (Rounding a result that spans
    /// many levels, like `mean(w)` on u8, loses at most half a level, as OpenCV's filters do.)
    pub fn is_real(&self) -> bool {
        self.clamped + self.nan > 0
            || (self.fractional > 0 && self.max - self.min < Self::FEW_LEVELS)
    }

    /// One sentence: what was lost, and how much of the result.
    pub fn describe(&self) -> String {
        let share = |n: usize| 100.0 * n as f64 / self.values.max(1) as f64;
        let mut parts = Vec::new();
        if self.clamped > 0 {
            let (lo, hi) = self.dtype.integer_range().unwrap_or_default();
            parts.push(format!(
                "{:.1}% of the values lie outside {}'s range {lo}..{hi} and were clamped",
                share(self.clamped),
                self.dtype
            ));
        }
        if self.nan > 0 {
            parts.push(format!("{:.1}% are NaN, written as 0", share(self.nan)));
        }
        if self.fractional > 0 && self.max - self.min < Self::FEW_LEVELS {
            parts.push(format!(
                "{:.1}% have fractional parts, rounded to integers",
                share(self.fractional)
            ));
        }
        format!(
            "the result spans {} to {}; {}",
            short(self.min),
            short(self.max),
            parts.join(", ")
        )
    }
}

/// A number in at most 4 significant digits.
fn short(v: f64) -> String {
    let s = format!("{v:.4}");
    let t = s.trim_end_matches('0').trim_end_matches('.');
    t.to_string()
}

/// [`apply`] into element type `out`, measuring what an integer `out` loses. A program that is
/// one order statistic of an integer image's window gives values of the image's type and is
/// not measured; otherwise the result is computed in f64 and converted here.
pub fn apply_measured(
    kernel: &Kernel,
    main: &Image,
    named: &[(&str, &Image)],
    channels: bool,
    footprint: &Footprint,
    options: &Options,
    out: DType,
) -> Result<(Image, Option<Loss>), Error> {
    let reads_w =
        Native::with_input(kernel.program()).is_some_and(|(n, input)| n.orders() && input == 0);
    let exact = out == main.dtype()
        && named.is_empty()
        && (reads_w
            || kernel.program().is_centre()
            || picks_values(kernel, main.dtype(), options.cval));
    if out.integer_range().is_none() || exact {
        return Ok((
            apply(kernel, main, named, channels, footprint, options, out)?,
            None,
        ));
    }
    let wide = apply(
        kernel,
        main,
        named,
        channels,
        footprint,
        options,
        DType::F64,
    )?;
    let loss = Loss::measure(wide.planes(), out);
    let image = wide.map_planes(|p| Ok::<_, Error>(p.convert(out)))?;
    Ok((image, Some(loss)))
}

/// Whether every pass of a program with stages picks one value of a window (`min`, `max`, a
/// rank, run natively) of the image or of an earlier such pass, as an opening does: the result
/// is then exact in the image's type (and its stages run natively in it, see `Kernel::apply`).
fn picks_values(kernel: &Kernel, dtype: DType, cval: f64) -> bool {
    let passes = kernel.passes();
    passes.len() > 1
        && (passes.iter().enumerate()).all(|(i, (_, k))| {
            k.native().is_some_and(|(n, input)| {
                let name = &k.program().inputs[input].name;
                let earlier = (passes[..i].iter()).any(|(stage, _)| stage == name);
                n.picks_a_value()
                    && with_type!(dtype, T => n.pad::<T>(cval).is_some())
                    && (name == MAIN || earlier)
            })
        })
}

/// The image's colour planes as views of `T`, their element type.
fn planes<T: Sample>(image: &Image) -> Vec<ArrayViewD<'_, T>> {
    (image.planes().iter())
        .map(|p| {
            T::unwrap(p)
                .expect("planes share the converted type")
                .view()
        })
        .collect()
}

/// The planes along the last axis of `a` (whose last axis is channels); one plane without a
/// copy.
fn split_last_axis(a: DynArray) -> Vec<DynArray> {
    fn split<T: Sample>(a: ArrayD<T>) -> Vec<DynArray> {
        let last = Axis(a.ndim() - 1);
        if a.len_of(last) == 1 && a.is_standard_layout() {
            let shape = IxDyn(&a.shape()[..a.ndim() - 1]);
            let plane = a.into_shape_with_order(shape).expect("one plane, in order");
            return vec![T::wrap(plane)];
        }
        (a.axis_iter(last)).map(|p| T::wrap(p.to_owned())).collect()
    }
    dispatch!(a, a => split(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A program of its input's value here (`c`, `at(w)`) is known as such, and made in the
    /// input's type gives the input's values with no loss measured; programs that compute are
    /// not.
    #[test]
    fn a_program_of_its_input_is_its_input() {
        for (source, centre) in [
            ("c", true),
            ("at(w)", true),
            ("c + 0", false),
            ("(c, c)", false),
            ("max(w)", false),
            ("at(w, 1, 0)", false),
        ] {
            let k = Kernel::compile(source).unwrap();
            assert_eq!(k.program().is_centre(), centre, "{source}");
        }
        let a = ndarray::Array2::from_shape_fn((37, 53), |(y, x)| (y * 997 + x * 131) as u16);
        let image = Image::array(DynArray::U16(a.clone().into_dyn()));
        let (fp, options) = (Footprint::rect(3, 3), Options::default());
        let k = Kernel::compile("c").unwrap();
        let (out, loss) =
            apply_measured(&k, &image, &[], false, &fp, &options, DType::U16).unwrap();
        assert!(loss.is_none());
        assert_eq!(out.planes()[0], DynArray::U16(a.into_dyn()));
    }

    /// The measure value by value, as written before it ran in lanes.
    fn one_by_one(values: &[f64], dtype: DType) -> Loss {
        let (lo, hi) = dtype.integer_range().unwrap();
        let mut loss = Loss {
            dtype,
            values: values.len(),
            clamped: 0,
            nan: 0,
            fractional: 0,
            min: f64::NAN,
            max: f64::NAN,
        };
        for &v in values {
            if v.is_nan() {
                loss.nan += 1;
                continue;
            }
            loss.clamped += usize::from(v < lo || v > hi);
            loss.fractional += usize::from(v.fract() != 0.0 && v.is_finite());
            if v.is_finite() {
                loss.min = loss.min.min(v);
                loss.max = loss.max.max(v);
            }
        }
        loss
    }

    #[test]
    fn measures_in_lanes_equal_value_by_value() {
        let mut s = 7u64;
        for n in (0..40).chain([1000, 1003]) {
            let values: Vec<f64> = (0..n)
                .map(|_| {
                    s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
                    match (s >> 59) % 16 {
                        0 => f64::NAN,
                        1 => f64::INFINITY,
                        2 => f64::NEG_INFINITY,
                        3 => 1e300,
                        4 => ((s >> 20) % 300) as f64 - 20.0,
                        _ => ((s >> 11) as f64 / (1u64 << 53) as f64) * 400.0 - 60.0,
                    }
                })
                .collect();
            for dtype in [DType::U8, DType::I16] {
                let (lo, hi) = dtype.integer_range().unwrap();
                let got = Loss::of(&values, lo, hi, dtype);
                let want = one_by_one(&values, dtype);
                let same = |a: f64, b: f64| a == b || (a.is_nan() && b.is_nan());
                assert!(
                    (got.values, got.clamped, got.nan, got.fractional)
                        == (want.values, want.clamped, want.nan, want.fractional)
                        && same(got.min, want.min)
                        && same(got.max, want.max),
                    "{n} values, {dtype}: {got:?} vs {want:?}"
                );
            }
        }
    }
}
