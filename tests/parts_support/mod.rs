//! Shared by tests/region.rs and tests/pieces.rs: arrays cut into pieces.

use ndarray::{ArrayViewD, Axis, Slice};
use std::ops::Range;

/// The views of `a` that `cuts` (ranges per axis, for its first axes) cut out, in C order.
pub fn pieces<'a>(a: ArrayViewD<'a, f64>, cuts: &[Vec<Range<usize>>]) -> Vec<ArrayViewD<'a, f64>> {
    let mut parts = vec![a];
    for (axis, ranges) in cuts.iter().enumerate() {
        parts = (parts.iter())
            .flat_map(|p| {
                (ranges.iter()).map(move |r| {
                    p.clone()
                        .slice_axis_move(Axis(axis), Slice::from(r.clone()))
                })
            })
            .collect();
    }
    parts
}
