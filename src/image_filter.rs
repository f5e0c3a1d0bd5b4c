//! Applies a kernel to decoded [`Image`]s, whose element types are known only at run time: the
//! main image, named inputs, channels (colour planes, or an array's last axis with `channels`),
//! and a result of one plane per value (grey, RGB, RGBA, or an array with a last axis).

use crate::bind::Inputs;
use crate::dtype::DType;
use crate::error::Error;
use crate::footprint::Footprint;
use crate::imageio::{dispatch, with_type, DynArray, Image, Layout, Sample};
use crate::kernel::{Kernel, Options};
use ndarray::{ArrayD, ArrayViewD, Axis};

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
    let program = kernel.program();
    let ndim = main.shape().len();
    // One value per pixel of each colour plane, in the image's own layout.
    let per_channel = !program.indexes_channels() && program.roots.len() == 1;
    match main.layout() {
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
        _ => Image::from_planes(layout, split_last_axis(&result), alpha),
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

/// The planes along the last axis of `a` (whose last axis is channels).
fn split_last_axis(a: &DynArray) -> Vec<DynArray> {
    fn split<T: Sample>(a: &ArrayD<T>) -> Vec<DynArray> {
        let last = Axis(a.ndim() - 1);
        (a.axis_iter(last)).map(|p| T::wrap(p.to_owned())).collect()
    }
    dispatch!(a, a => split(a))
}
