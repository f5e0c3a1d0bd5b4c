//! Footprints: which neighbours form the window, in what order, and with what weights (`k`).

use crate::error::Error;
use ndarray::ArrayViewD;
use std::str::FromStr;

/// Largest radius a disk, diamond or ball may be built with (larger ones are refused).
const MAX_RADIUS: usize = 1 << 16;

/// Most elements a footprint may have (about a 1024×1024 box).
pub const MAX_FOOTPRINT_ELEMENTS: usize = 1 << 20;

/// The neighbourhood of a filter. Cells are visited in C order, as scipy fills its buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct Footprint {
    spec: Spec,
}

#[derive(Debug, Clone, PartialEq)]
enum Spec {
    /// `size` along every axis of whatever array it is applied to (scipy's `size=N`).
    Cube(usize),
    /// A footprint too large to build (its constructor's arguments), refused by `resolve`.
    TooLarge(String),
    /// An explicit N-D footprint; a weight of 0 means "not in the window".
    Explicit {
        shape: Vec<usize>,
        weights: Vec<f64>,
    },
}

/// A footprint made concrete for a 3-D view of an array: shape, and per window element its
/// footprint coordinates and weight.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub shape: [usize; 3],
    pub cells: Vec<[usize; 3]>,
    pub weights: Vec<f64>,
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
        Footprint::from_fn(&[height, width], |_| true)
    }

    /// A 2-D disk of radius `r`: cells with x² + y² ≤ r² (scikit-image's `disk`).
    pub fn disk(r: usize) -> Footprint {
        if r > MAX_RADIUS {
            return Footprint {
                spec: Spec::TooLarge(format!("disk:{r}")),
            };
        }
        let r2 = (r * r) as isize;
        let c = r as isize;
        Footprint::from_fn(&[2 * r + 1, 2 * r + 1], |i| {
            let (y, x) = (i[0] as isize - c, i[1] as isize - c);
            x * x + y * y <= r2
        })
    }

    /// A 2-D diamond of radius `r`: cells with |x| + |y| ≤ r.
    pub fn diamond(r: usize) -> Footprint {
        if r > MAX_RADIUS {
            return Footprint {
                spec: Spec::TooLarge(format!("diamond:{r}")),
            };
        }
        let c = r as isize;
        Footprint::from_fn(&[2 * r + 1, 2 * r + 1], |i| {
            (i[0] as isize - c).abs() + (i[1] as isize - c).abs() <= c
        })
    }

    /// A 3-D ball of radius `r`: cells with x² + y² + z² ≤ r².
    pub fn ball(r: usize) -> Footprint {
        if r > MAX_RADIUS {
            return Footprint {
                spec: Spec::TooLarge(format!("ball:{r}")),
            };
        }
        let r2 = (r * r) as isize;
        let c = r as isize;
        Footprint::from_fn(&[2 * r + 1; 3], |i| {
            i.iter().map(|&v| (v as isize - c).pow(2)).sum::<isize>() <= r2
        })
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

    fn from_fn(shape: &[usize], inside: impl Fn(&[usize]) -> bool) -> Footprint {
        // Refuse (at `resolve`) boxes too large to build, before allocating or overflowing.
        let total = shape.iter().try_fold(1usize, |a, &b| a.checked_mul(b));
        let total = match total {
            Some(t) if t <= 4 * MAX_FOOTPRINT_ELEMENTS => t,
            _ => {
                return Footprint {
                    spec: Spec::TooLarge(format!("a footprint of shape {shape:?}")),
                }
            }
        };
        let mut idx = vec![0; shape.len()];
        let mut weights = Vec::with_capacity(total);
        for mut flat in 0..total {
            for a in (0..shape.len()).rev() {
                idx[a] = flat % shape[a];
                flat /= shape[a];
            }
            weights.push(if inside(&idx) { 1.0 } else { 0.0 });
        }
        Footprint {
            spec: Spec::Explicit {
                shape: shape.to_vec(),
                weights,
            },
        }
    }

    /// Number of dimensions, or `None` for a box that adapts to the array.
    pub fn ndim(&self) -> Option<usize> {
        match &self.spec {
            Spec::Cube(_) | Spec::TooLarge(_) => None,
            Spec::Explicit { shape, .. } => Some(shape.len()),
        }
    }

    /// Makes the footprint concrete for an array of `ndim` dimensions (1 to 3). A footprint with
    /// fewer dimensions than the array applies along its last axes.
    pub fn resolve(&self, ndim: usize) -> Result<Resolved, Error> {
        let (shape, weights): (Vec<usize>, Vec<f64>) = match &self.spec {
            Spec::Cube(n) => {
                let shape = vec![*n; ndim];
                let total = n.checked_pow(ndim as u32).unwrap_or(usize::MAX);
                if total > MAX_FOOTPRINT_ELEMENTS {
                    return Err(too_big(total));
                }
                (shape, vec![1.0; total])
            }
            Spec::Explicit { shape, weights } => (shape.clone(), weights.clone()),
            Spec::TooLarge(what) => {
                return Err(Error::Footprint(format!(
                    "{what} is larger than the limit of {MAX_FOOTPRINT_ELEMENTS} elements"
                )))
            }
        };
        if shape.len() > ndim {
            return Err(Error::Footprint(format!(
                "a {}-D footprint cannot be applied to a {ndim}-D array",
                shape.len()
            )));
        }
        if shape.len() > 3 || shape.contains(&0) {
            return Err(Error::Footprint(format!(
                "footprint shape {shape:?} is empty or has more than 3 axes"
            )));
        }
        let mut s3 = [1usize; 3];
        s3[3 - shape.len()..].copy_from_slice(&shape);
        let mut cells = Vec::new();
        let mut ws = Vec::new();
        for (flat, &w) in weights.iter().enumerate() {
            if w != 0.0 {
                cells.push([flat / (s3[1] * s3[2]), (flat / s3[2]) % s3[1], flat % s3[2]]);
                ws.push(w);
            }
        }
        if cells.is_empty() {
            return Err(Error::Footprint("the footprint has no cells in it".into()));
        }
        if cells.len() > MAX_FOOTPRINT_ELEMENTS {
            return Err(too_big(cells.len()));
        }
        Ok(Resolved {
            shape: s3,
            cells,
            weights: ws,
        })
    }
}

fn too_big(n: usize) -> Error {
    Error::Footprint(format!(
        "{n} elements is more than the limit of {MAX_FOOTPRINT_ELEMENTS}"
    ))
}

/// Parses `box:N`, `rect:WxH`, `disk:R`, `diamond:R` and `ball:R`.
impl FromStr for Footprint {
    type Err = Error;

    fn from_str(s: &str) -> Result<Footprint, Error> {
        let bad = |why: &str| {
            Error::Footprint(format!(
                "`{s}`: {why} (expected box:N, rect:WxH, disk:R, diamond:R or ball:R)"
            ))
        };
        let (kind, arg) = s.split_once(':').ok_or_else(|| bad("missing `:`"))?;
        let num = |t: &str| -> Result<usize, Error> {
            let v: usize = t
                .trim()
                .parse()
                .map_err(|_| bad(&format!("`{t}` is not a whole number")))?;
            if v > 4096 {
                return Err(bad(&format!("{v} is too large")));
            }
            Ok(v)
        };
        // The shapes are built as their whole bounding box, which must not exhaust memory
        // first (ball:300 is 217M cells); each fills over a quarter of its box, so a box over
        // 4x the limit could never pass the check below.
        let bounded = |r: usize, ndim: u32| {
            let cells = (2 * r + 1).pow(ndim);
            if cells > 4 * MAX_FOOTPRINT_ELEMENTS {
                Err(too_big(cells))
            } else {
                Ok(r)
            }
        };
        let fp = match kind.trim() {
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
            "disk" => Footprint::disk(bounded(num(arg)?, 2)?),
            "diamond" => Footprint::diamond(bounded(num(arg)?, 2)?),
            "ball" => Footprint::ball(bounded(num(arg)?, 3)?),
            other => return Err(bad(&format!("unknown footprint kind `{other}`"))),
        };
        fp.resolve(fp.ndim().unwrap_or(2))?;
        Ok(fp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(Footprint::disk(11).resolve(2).unwrap().cells.len(), 377);
        assert_eq!(Footprint::diamond(2).resolve(2).unwrap().cells.len(), 13);
        assert_eq!(Footprint::ball(1).resolve(3).unwrap().cells.len(), 7);
        let r = Footprint::rect(4, 2).resolve(2).unwrap();
        assert_eq!(r.shape, [1, 2, 4]);
        assert_eq!(Footprint::cube(3).resolve(3).unwrap().cells.len(), 27);
    }

    #[test]
    fn parse_specs() {
        assert_eq!("disk:2".parse::<Footprint>().unwrap(), Footprint::disk(2));
        assert_eq!(
            "rect:5x3".parse::<Footprint>().unwrap(),
            Footprint::rect(5, 3)
        );
        for bad in [
            "disk",
            "disk:x",
            "rect:5",
            "box:0",
            "star:3",
            "box:-1",
            "disk:99999",
            "ball:300",
            "ball:4096",
        ] {
            assert!(bad.parse::<Footprint>().is_err(), "{bad}");
        }
    }

    #[test]
    fn huge_constructors_are_errors_not_panics() {
        for fp in [
            Footprint::disk(1 << 33),
            Footprint::rect(1 << 40, 1 << 40),
            Footprint::ball(usize::MAX / 2),
        ] {
            assert!(fp.resolve(3).is_err());
        }
    }

    #[test]
    fn too_many_dims_is_an_error() {
        assert!(Footprint::ball(1).resolve(2).is_err());
    }
}
