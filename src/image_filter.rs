//! Applies a kernel to a decoded [`Image`], channel by channel, alpha passed through.

use crate::dtype::DType;
use crate::error::Error;
use crate::footprint::Footprint;
use crate::imageio::{dispatch, DynArray, Image, Sample};
use crate::kernel::{Kernel, Options};

/// Filtering of [`DynArray`] planes and of whole [`Image`]s, whose element types are known only
/// at run time.
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

impl Filter for DynArray {
    /// With `out` equal to the input type this is [`Kernel::filter`]; otherwise the unrounded f64
    /// result is converted, which gives the same values as [`Kernel::filter_as`] while compiling
    /// the window loop for 12 type pairs instead of 36.
    fn filter(
        &self,
        kernel: &Kernel,
        footprint: &Footprint,
        options: &Options,
        out: DType,
    ) -> Result<DynArray, Error> {
        dispatch!(self, a => {
            if out == self.dtype() {
                Ok(Sample::wrap(kernel.filter(a.view(), footprint, options)?))
            } else {
                let wide = kernel.filter_as::<_, f64, _>(a.view(), footprint, options)?;
                Ok(DynArray::F64(wide).convert(out))
            }
        })
    }
}

impl Filter for Image {
    /// Filters each colour plane; alpha is converted to `out` by value.
    fn filter(
        &self,
        kernel: &Kernel,
        footprint: &Footprint,
        options: &Options,
        out: DType,
    ) -> Result<Image, Error> {
        self.map_planes(|plane| plane.filter(kernel, footprint, options, out))
    }
}
