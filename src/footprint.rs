//! Footprints: which neighbours form the window, in what order, and with what weights (`k`).

use crate::error::Error;
use crate::limits::{Limit, Limits};
use ndarray::ArrayViewD;
use std::fmt;
use std::str::FromStr;

/// The neighbourhood of a filter. Cells are visited in C order, as scipy fills its buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct Footprint {
    spec: Spec,
}

#[derive(Debug, Clone, PartialEq)]
enum Spec {
    /// `size` along every axis of whatever array it is applied to (scipy's `size=N`).
    Cube(usize),
    /// A shape, built only when resolved, once its size has been checked against the limit.
    Shape(Shape),
    /// An explicit N-D footprint; a weight of 0 means "not in the window".
    Explicit {
        shape: Vec<usize>,
        weights: Vec<f64>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    Rect {
        width: usize,
        height: usize,
    },
    Disk(usize),
    Diamond(usize),
    Ball(usize),
    /// scipy's `gaussian_filter(sigma=(sy, sx), truncate=4.0)`: a box of radius
    /// `int(4σ + 0.5)` per axis, weighted by the product of normalised 1-D Gaussians.
    Gauss {
        sy: f64,
        sx: f64,
    },
}

/// scipy's Gaussian radius for `sigma` at `truncate=4.0`.
fn gauss_radius(sigma: f64) -> Option<usize> {
    let r = (4.0 * sigma + 0.5).floor();
    (r < 1e9).then_some(r as usize)
}

/// scipy's `_gaussian_kernel1d(sigma, 0, radius)`: `exp(-x²/2σ²)` normalised to sum 1 (a
/// single 1 for σ = 0).
fn gauss_1d(sigma: f64, radius: usize) -> Vec<f64> {
    let r = radius as isize;
    let phi: Vec<f64> = (-r..=r)
        .map(|x| (-0.5 / (sigma * sigma) * (x * x) as f64).exp())
        .collect();
    let total: f64 = phi.iter().sum();
    if radius == 0 {
        return vec![1.0];
    }
    phi.iter().map(|v| v / total).collect()
}

impl Shape {
    /// The bounding box, or `None` if its size overflows.
    fn dims(self) -> Option<Vec<usize>> {
        let side = |r: usize| r.checked_mul(2)?.checked_add(1);
        Some(match self {
            Shape::Rect { width, height } => vec![height, width],
            Shape::Disk(r) | Shape::Diamond(r) => vec![side(r)?; 2],
            Shape::Ball(r) => vec![side(r)?; 3],
            Shape::Gauss { sy, sx } => vec![side(gauss_radius(sy)?)?, side(gauss_radius(sx)?)?],
        })
    }

    /// The weight of every cell of the bounding box `dims`, in C order: 1 inside the shape and
    /// 0 outside, or a Gaussian's weights.
    fn weights(self, dims: &[usize]) -> Result<Vec<f64>, Error> {
        match self {
            Shape::Gauss { sy, sx } => {
                let (wy, wx) = (gauss_1d(sy, dims[0] / 2), gauss_1d(sx, dims[1] / 2));
                let total = dims[0] * dims[1];
                let mut weights = Vec::new();
                weights.try_reserve_exact(total).map_err(|_| {
                    Error::Resources(format!("cannot allocate a footprint of {total} cells"))
                })?;
                weights.extend(wy.iter().flat_map(|a| wx.iter().map(move |b| a * b)));
                Ok(weights)
            }
            _ => filled(dims, |i| self.contains(i)),
        }
    }

    /// Whether the cell at `idx` (in the bounding box) is in the shape. The box fits in memory,
    /// so these squares and sums cannot overflow.
    fn contains(self, idx: &[usize]) -> bool {
        let (r, off) = match self {
            Shape::Rect { .. } | Shape::Gauss { .. } => return true,
            Shape::Disk(r) | Shape::Diamond(r) | Shape::Ball(r) => {
                (r as i64, idx.iter().map(move |&v| v as i64 - r as i64))
            }
        };
        match self {
            Shape::Diamond(_) => off.map(i64::abs).sum::<i64>() <= r,
            _ => off.map(|v| v * v).sum::<i64>() <= r * r,
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Rect { width, height } => write!(f, "rect:{width}x{height}"),
            Shape::Disk(r) => write!(f, "disk:{r}"),
            Shape::Diamond(r) => write!(f, "diamond:{r}"),
            Shape::Ball(r) => write!(f, "ball:{r}"),
            Shape::Gauss { sy, sx } if sy == sx => write!(f, "gauss:{sx}"),
            Shape::Gauss { sy, sx } => write!(f, "gauss:{sy},{sx}"),
        }
    }
}

/// Most axes an array may have (scipy's and numpy's limit).
pub const MAX_DIMS: usize = 32;

/// A footprint made concrete for an array: its box, one length per array axis, and per window
/// element its cell in the box and weight.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub shape: Vec<usize>,
    /// Per window element, in C order, its cell's index in the box (C order).
    pub cells: Vec<usize>,
    pub weights: Vec<f64>,
}

impl Resolved {
    /// Window element `j`'s position in the box, one index per axis.
    pub fn cell(&self, j: usize) -> Vec<usize> {
        unflatten(self.cells[j], &self.shape)
    }

    /// This footprint (resolved for `axes.len()` dimensions) along `axes` of an `ndim`-D array,
    /// one cell thick along the others. Its dimensions go to the axes in increasing order, as
    /// scipy's `axes=` expands a footprint (`np.expand_dims` over the other axes).
    pub fn along(self, axes: &[usize], ndim: usize) -> Resolved {
        let mut sorted = axes.to_vec();
        sorted.sort_unstable();
        let mut shape = vec![1usize; ndim];
        for (j, &a) in sorted.iter().enumerate() {
            shape[a] = self.shape[j];
        }
        let cells = (0..self.cells.len())
            .map(|j| {
                let at = self.cell(j);
                let mut full = vec![0usize; ndim];
                for (j, &a) in sorted.iter().enumerate() {
                    full[a] = at[j];
                }
                flatten(&full, &shape)
            })
            .collect();
        Resolved {
            shape,
            cells,
            weights: self.weights,
        }
    }
}

/// The index per axis of C-order index `flat` in a box of `shape`.
pub fn unflatten(flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    unflatten_into(flat, shape, &mut idx);
    idx
}

/// [`unflatten`] into `idx` (one per axis of `shape`).
pub fn unflatten_into(mut flat: usize, shape: &[usize], idx: &mut [usize]) {
    for a in (0..shape.len()).rev() {
        idx[a] = flat % shape[a];
        flat /= shape[a];
    }
}

/// The C-order index of `idx` in a box of `shape`.
pub fn flatten(idx: &[usize], shape: &[usize]) -> usize {
    idx.iter().zip(shape).fold(0, |f, (&i, &n)| f * n + i)
}

impl Footprint {
    /// A box of `size` along every axis of the array (`box:N`), as scipy's `size=N`.
    pub fn cube(size: usize) -> Footprint {
        Footprint {
            spec: Spec::Cube(size),
        }
    }

    /// A 2-D rectangle `width` columns by `height` rows (`rect:WxH`).
    pub fn rect(width: usize, height: usize) -> Footprint {
        Footprint::shape(Shape::Rect { width, height })
    }

    /// A 2-D disk of radius `r`: cells with x² + y² ≤ r² (scikit-image's `disk`).
    pub fn disk(r: usize) -> Footprint {
        Footprint::shape(Shape::Disk(r))
    }

    /// A 2-D diamond of radius `r`: cells with |x| + |y| ≤ r.
    pub fn diamond(r: usize) -> Footprint {
        Footprint::shape(Shape::Diamond(r))
    }

    /// A 3-D ball of radius `r`: cells with x² + y² + z² ≤ r².
    pub fn ball(r: usize) -> Footprint {
        Footprint::shape(Shape::Ball(r))
    }

    /// The 2-D footprint of scipy's `gaussian_filter(sigma=(sy, sx), truncate=4.0)`
    /// (`gauss:S`, `gauss:SY,SX`): radius `int(4σ + 0.5)` per axis, `k` the normalised
    /// Gaussian weights, so `sum(k * w)` is the Gaussian filter.
    pub fn gauss(sy: f64, sx: f64) -> Footprint {
        Footprint::shape(Shape::Gauss { sy, sx })
    }

    fn shape(shape: Shape) -> Footprint {
        Footprint {
            spec: Spec::Shape(shape),
        }
    }

    /// A footprint from a boolean mask (true = in the window).
    pub fn from_mask(mask: ArrayViewD<bool>) -> Footprint {
        let weights = mask.iter().map(|&b| if b { 1.0 } else { 0.0 }).collect();
        Footprint {
            spec: Spec::Explicit {
                shape: mask.shape().to_vec(),
                weights,
            },
        }
    }

    /// A weighted footprint: nonzero cells form the window, their values are `k`.
    pub fn from_weights(weights: ArrayViewD<f64>) -> Footprint {
        Footprint {
            spec: Spec::Explicit {
                shape: weights.shape().to_vec(),
                weights: weights.iter().copied().collect(),
            },
        }
    }

    /// Number of dimensions, or `None` for a box that adapts to the array.
    pub fn ndim(&self) -> Option<usize> {
        match &self.spec {
            Spec::Cube(_) => None,
            Spec::Shape(Shape::Ball(_)) => Some(3),
            Spec::Shape(_) => Some(2),
            Spec::Explicit { shape, .. } => Some(shape.len()),
        }
    }

    /// Makes the footprint concrete for an array of `ndim` dimensions (1 to [`MAX_DIMS`]), refusing more
    /// than `limits.max_footprint` elements. A footprint with fewer dimensions than the array
    /// applies along its last axes.
    pub fn resolve(&self, ndim: usize, limits: &Limits) -> Result<Resolved, Error> {
        let too_big = |what: String| Error::from(Limit::Footprint.exceeded(limits, what));
        let (shape, weights): (Vec<usize>, Vec<f64>) = match &self.spec {
            Spec::Cube(n) => {
                let shape = vec![*n; ndim];
                match n.checked_pow(ndim as u32) {
                    Some(t) if t <= limits.max_footprint => {}
                    Some(t) => {
                        return Err(too_big(format!("box:{n} in {ndim}-D has {t} elements")))
                    }
                    None => {
                        return Err(too_big(format!(
                            "box:{n} in {ndim}-D has {n}^{ndim} elements"
                        )))
                    }
                }
                let weights = filled(&shape, |_| true)?;
                (shape, weights)
            }
            Spec::Shape(s) => {
                // Built as the whole bounding box, which must not exhaust memory first (ball:300
                // is 217M cells); each shape fills over a quarter of its box, so a box over 4x
                // the limit could never pass the check below.
                let dims = s.dims();
                let cells = dims
                    .as_ref()
                    .and_then(|d| d.iter().try_fold(1usize, |a, &b| a.checked_mul(b)));
                match cells {
                    Some(c) if c <= limits.max_footprint.saturating_mul(4) => {}
                    Some(c) => return Err(too_big(format!("{s} has over {} elements", c / 4))),
                    None => return Err(too_big(format!("{s} has over {} elements", usize::MAX))),
                }
                let dims = dims.unwrap_or_default();
                let weights = s.weights(&dims)?;
                (dims, weights)
            }
            Spec::Explicit { shape, weights } => (shape.clone(), weights.clone()),
        };
        if shape.len() > ndim {
            return Err(Error::Footprint(format!(
                "a {}-D footprint cannot be applied to a {ndim}-D array",
                shape.len()
            )));
        }
        if ndim == 0 || ndim > MAX_DIMS || shape.contains(&0) {
            return Err(Error::Footprint(format!(
                "footprint shape {shape:?} is empty, or the array has not 1 to {MAX_DIMS} axes"
            )));
        }
        let mut full = vec![1usize; ndim - shape.len()];
        full.extend_from_slice(&shape);
        let mut cells = Vec::new();
        let mut ws = Vec::new();
        for (flat, &w) in weights.iter().enumerate() {
            if w != 0.0 {
                cells.push(flat);
                ws.push(w);
            }
        }
        if cells.is_empty() {
            return Err(Error::Footprint("the footprint has no cells in it".into()));
        }
        if cells.len() > limits.max_footprint {
            return Err(too_big(format!(
                "the footprint has {} elements",
                cells.len()
            )));
        }
        Ok(Resolved {
            shape: full,
            cells,
            weights: ws,
        })
    }
}

/// Weights 1 for the cells of a box of `shape` (C order) where `inside` holds, else 0. The box
/// is within the limit, but a raised limit may still ask for more memory than there is: that is
/// an error, not an abort.
fn filled(shape: &[usize], inside: impl Fn(&[usize]) -> bool) -> Result<Vec<f64>, Error> {
    let total: usize = shape.iter().product();
    let mut weights = Vec::new();
    weights
        .try_reserve_exact(total)
        .map_err(|_| Error::Resources(format!("cannot allocate a footprint of {total} cells")))?;
    let mut idx = vec![0; shape.len()];
    for flat in 0..total {
        unflatten_into(flat, shape, &mut idx);
        weights.push(if inside(&idx) { 1.0 } else { 0.0 });
    }
    Ok(weights)
}

/// The spec that [`FromStr`] parses back to this footprint (`box:3`, `disk:11`, `rect:25x25`).
/// A footprint from a mask or weights has no spec: it shows as `mask 5x5` or `weights 5x5`
/// (its shape, C order), which does not parse.
impl fmt::Display for Footprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.spec {
            Spec::Cube(n) => write!(f, "box:{n}"),
            Spec::Shape(s) => write!(f, "{s}"),
            Spec::Explicit { shape, weights } => {
                let kind = if weights.iter().all(|&w| w == 0.0 || w == 1.0) {
                    "mask"
                } else {
                    "weights"
                };
                let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
                write!(f, "{kind} {}", dims.join("x"))
            }
        }
    }
}

/// Parses `box:N`, `rect:WxH`, `disk:R`, `diamond:R`, `ball:R` and `gauss:S` or `gauss:SY,SX`
/// (the syntax only: sizes are checked by [`Footprint::resolve`]).
impl FromStr for Footprint {
    type Err = Error;

    fn from_str(s: &str) -> Result<Footprint, Error> {
        let bad = |why: &str| {
            Error::Footprint(format!(
                "`{s}`: {why} (expected box:N, rect:WxH, disk:R, diamond:R, ball:R or gauss:S)"
            ))
        };
        let (kind, arg) = s.split_once(':').ok_or_else(|| bad("missing `:`"))?;
        let num = |t: &str| -> Result<usize, Error> {
            let v: usize = t
                .trim()
                .parse()
                .map_err(|_| bad(&format!("`{t}` is not a whole number")))?;
            Ok(v)
        };
        // Only the syntax: the size is checked against the limits in force by `resolve`.
        Ok(match kind.trim() {
            "box" => match num(arg)? {
                0 => return Err(bad("size must be at least 1")),
                n => Footprint::cube(n),
            },
            "rect" => {
                let (w, h) = arg
                    .split_once(['x', 'X'])
                    .ok_or_else(|| bad("rect needs WxH, e.g. rect:5x3"))?;
                let (w, h) = (num(w)?, num(h)?);
                if w == 0 || h == 0 {
                    return Err(bad("width and height must be at least 1"));
                }
                Footprint::rect(w, h)
            }
            "disk" => Footprint::disk(num(arg)?),
            "diamond" => Footprint::diamond(num(arg)?),
            "ball" => Footprint::ball(num(arg)?),
            "gauss" => {
                let sigma = |t: &str| -> Result<f64, Error> {
                    match t.trim().parse::<f64>() {
                        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
                        _ => Err(bad(&format!("`{t}` is not a sigma (a number >= 0)"))),
                    }
                };
                match arg.split_once(',') {
                    Some((sy, sx)) => Footprint::gauss(sigma(sy)?, sigma(sx)?),
                    None => {
                        let s = sigma(arg)?;
                        Footprint::gauss(s, s)
                    }
                }
            }
            other => return Err(bad(&format!("unknown footprint kind `{other}`"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(fp: Footprint, ndim: usize) -> usize {
        fp.resolve(ndim, &Limits::default()).unwrap().cells.len()
    }

    #[test]
    fn gaussian_weights_follow_scipy() {
        let r = Footprint::gauss(1.0, 2.0)
            .resolve(2, &Limits::default())
            .unwrap();
        // Radii int(4σ + 0.5): 4 and 8.
        assert_eq!(r.shape, [9, 17]);
        assert!((r.weights.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        // The centre: 1 / (Σ exp(-x²/2) · Σ exp(-x²/8)) over the radii.
        let sy: f64 = (-4..=4).map(|x: i32| (-0.5 * (x * x) as f64).exp()).sum();
        let sx: f64 = (-8..=8).map(|x: i32| (-0.125 * (x * x) as f64).exp()).sum();
        let centre = r.weights[(0..r.cells.len())
            .position(|j| r.cell(j) == [4, 8])
            .unwrap()];
        assert!((centre - 1.0 / (sy * sx)).abs() < 1e-16);
        assert_eq!(
            "gauss:1.5".parse::<Footprint>().unwrap(),
            Footprint::gauss(1.5, 1.5)
        );
        assert_eq!(Footprint::gauss(1.0, 2.0).to_string(), "gauss:1,2");
        assert!("gauss:-1".parse::<Footprint>().is_err());
        assert_eq!(cells(Footprint::gauss(0.0, 0.0), 2), 1);
    }

    #[test]
    fn sizes() {
        assert_eq!(cells(Footprint::disk(11), 2), 377);
        assert_eq!(cells(Footprint::diamond(2), 2), 13);
        assert_eq!(cells(Footprint::ball(1), 3), 7);
        assert_eq!(cells(Footprint::cube(3), 3), 27);
        let r = Footprint::rect(4, 2)
            .resolve(2, &Limits::default())
            .unwrap();
        assert_eq!(r.shape, [2, 4]);
    }

    #[test]
    fn parse_specs() {
        assert_eq!("disk:2".parse::<Footprint>().unwrap(), Footprint::disk(2));
        assert_eq!(
            "rect:5x3".parse::<Footprint>().unwrap(),
            Footprint::rect(5, 3)
        );
        for bad in ["disk", "disk:x", "rect:5", "box:0", "star:3", "box:-1"] {
            assert!(bad.parse::<Footprint>().is_err(), "{bad}");
        }
        // Well-formed but over the default limit; a raised limit takes them.
        for (big, ndim) in [("disk:99999", 2), ("ball:300", 3), ("rect:1025x1024", 2)] {
            let fp = big.parse::<Footprint>().unwrap();
            let err = fp.resolve(ndim, &Limits::default()).unwrap_err();
            assert!(matches!(err, Error::Limit(_)), "{big}: {err}");
        }
        let raised = Limits {
            max_footprint: 1 << 21,
            ..Limits::default()
        };
        assert!(Footprint::rect(1025, 1024).resolve(2, &raised).is_ok());
    }

    #[test]
    fn specs_round_trip() {
        for fp in [
            Footprint::cube(3),
            Footprint::rect(25, 7),
            Footprint::disk(11),
            Footprint::diamond(0),
            Footprint::ball(2),
        ] {
            assert_eq!(fp.to_string().parse::<Footprint>().unwrap(), fp, "{fp}");
        }
        assert_eq!(
            "rect:5X3".parse::<Footprint>().unwrap().to_string(),
            "rect:5x3"
        );
        let mask = ndarray::ArrayD::from_elem(vec![2, 3], true);
        assert_eq!(Footprint::from_mask(mask.view()).to_string(), "mask 2x3");
        let weights = ndarray::ArrayD::from_elem(vec![3], 0.5);
        let weighted = Footprint::from_weights(weights.view());
        assert_eq!(weighted.to_string(), "weights 3");
        assert!(weighted.to_string().parse::<Footprint>().is_err());
    }

    #[test]
    fn huge_constructors_are_errors_not_panics() {
        let unlimited = Limits {
            max_footprint: usize::MAX,
            ..Limits::default()
        };
        for fp in [
            Footprint::disk(1 << 33),
            Footprint::rect(1 << 40, 1 << 40),
            Footprint::ball(usize::MAX / 2),
            Footprint::cube(1 << 22),
        ] {
            assert!(fp.resolve(3, &Limits::default()).is_err());
            // Beyond memory: an error too, not an abort.
            assert!(fp.resolve(3, &unlimited).is_err());
        }
    }

    #[test]
    fn too_many_dims_is_an_error() {
        assert!(Footprint::ball(1).resolve(2, &Limits::default()).is_err());
        let r = Footprint::rect(3, 2).resolve(MAX_DIMS, &Limits::default());
        assert_eq!(r.unwrap().shape.len(), MAX_DIMS);
        assert!(Footprint::cube(1)
            .resolve(MAX_DIMS + 1, &Limits::default())
            .is_err());
    }
}
