//! How the REPL shows images and numbers: `:view`'s preview, the `min … mean … max` summary of a
//! result, and numbers for people.
//!
//! The preview is small and in the terminal. With colour, each character cell shows
//! two pixels as an upper half block (`▀`) with 24-bit foreground and background colours;
//! without, each cell is one grey level from a ten-step character ramp. Values are stretched
//! from the shown data's minimum (black) to its maximum (white); NaN shows red (or `?`). A
//! signed grey result is centred on 0 instead: blue below, red above (or darker and lighter
//! than middle grey), full scale at the 99th percentile of |v|.

use crate::cli::setup::finite_range;
use jitfilter::imageio::Image;
use ndarray::{Array2, Axis, Ix2};
use std::fmt::Write;

const RAMP: &[u8] = b" .:-=+*#%@";

/// The preview, `width` characters wide, with a header line saying what is shown.
pub fn preview(image: &Image, what: &str, width: usize, colour: bool) -> String {
    let shape = image.shape();
    let channels = image.layout().colour_channels();
    let mut note = String::new();
    let planes: Vec<Array2<f64>> = image
        .planes()
        .iter()
        .take(channels)
        .map(|p| {
            let a = p.to_f64();
            match a.ndim() {
                1 => {
                    let n = a.len();
                    a.into_shape_with_order((1, n)).expect("1-D to one row")
                }
                2 => a.into_dimensionality::<Ix2>().expect("2-D"),
                _ => {
                    let mid = a.shape()[0] / 2;
                    note = format!(", slice {mid} of axis 0");
                    a.index_axis(Axis(0), mid)
                        .to_owned()
                        .into_dimensionality::<Ix2>()
                        .expect("3-D slice is 2-D")
                }
            }
        })
        .collect();
    let (rows, cols) = planes[0].dim();
    let out_w = width.min(cols).max(1);
    // A character cell is about twice as tall as wide: with half blocks it holds two pixels,
    // without it one pixel of double height.
    let out_h_px = ((rows as f64 * out_w as f64 / cols as f64).round() as usize).max(1);
    let grid_h = if colour {
        out_h_px.max(2)
    } else {
        out_h_px.div_ceil(2)
    };
    let sampled: Vec<Array2<f64>> = planes.iter().map(|p| resample(p, grid_h, out_w)).collect();
    let (lo, hi) = finite_range(sampled.iter().flat_map(|s| s.iter()));
    // A signed grey result (a z-score, a derivative) is centred on 0, so that the sign reads
    // off the picture: full scale is the 99th percentile of |v|, so that a few outliers (a
    // z-score over a flat window) do not flatten the rest into noise.
    let scale = (sampled.len() == 1 && lo < 0.0 && hi > 0.0).then(|| {
        let mut mags: Vec<f64> = sampled[0]
            .iter()
            .filter(|v| v.is_finite())
            .map(|v| v.abs())
            .collect();
        mags.sort_by(f64::total_cmp);
        let q = mags[(mags.len() - 1) * 99 / 100];
        if q > 0.0 {
            q
        } else {
            hi.max(-lo)
        }
    });
    // Grey level in 0..=1 (for a signed result, 0.5 is 0).
    let level = |v: f64| -> Option<f64> {
        if !v.is_finite() {
            None
        } else if let Some(m) = scale {
            Some(((v / m).clamp(-1.0, 1.0) + 1.0) / 2.0)
        } else if hi > lo {
            Some((v - lo) / (hi - lo))
        } else {
            Some(0.5)
        }
    };
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let mut out = format!("{what}: {} {}{note}; ", dims.join("×"), image.dtype());
    let _ = match scale {
        Some(m) if colour => writeln!(
            out,
            "signed, centred on 0: black = 0, blue = {} or less, red = {} or more",
            num(-m),
            num(m)
        ),
        Some(m) => writeln!(
            out,
            "signed, centred on 0: black = {} or less, middle grey = 0, white = {} or more",
            num(-m),
            num(m)
        ),
        None => writeln!(
            out,
            "black = {}, white = {}",
            num(if lo.is_finite() { lo } else { f64::NAN }),
            num(if hi.is_finite() { hi } else { f64::NAN }),
        ),
    };
    let rgb = |y: usize, x: usize| -> (u8, u8, u8) {
        let byte = |l: f64| (l * 255.0).round().clamp(0.0, 255.0) as u8;
        let levels: Vec<Option<f64>> = sampled.iter().map(|s| level(s[[y, x]])).collect();
        if levels.iter().any(Option::is_none) {
            return (255, 0, 0);
        }
        match levels.as_slice() {
            [Some(r), Some(g), Some(b)] => (byte(*r), byte(*g), byte(*b)),
            // Diverging: brightness is |v|, hue its sign.
            [Some(v)] if scale.is_some() => {
                let t = 2.0 * v - 1.0;
                let (m, w) = (byte(t.abs()), byte(t.abs() * 0.35));
                if t < 0.0 {
                    (w, w, m)
                } else {
                    (m, w, w)
                }
            }
            [Some(v), ..] => (byte(*v), byte(*v), byte(*v)),
            _ => (255, 0, 0),
        }
    };
    if colour {
        for y in (0..grid_h).step_by(2) {
            for x in 0..out_w {
                let (r, g, b) = rgb(y, x);
                if y + 1 < grid_h {
                    let (r2, g2, b2) = rgb(y + 1, x);
                    let _ = write!(out, "\x1b[38;2;{r};{g};{b}m\x1b[48;2;{r2};{g2};{b2}m▀");
                } else {
                    let _ = write!(out, "\x1b[0m\x1b[38;2;{r};{g};{b}m▀");
                }
            }
            out.push_str("\x1b[0m\n");
        }
    } else {
        for y in 0..grid_h {
            for x in 0..out_w {
                let levels: Vec<Option<f64>> = sampled.iter().map(|s| level(s[[y, x]])).collect();
                let ch = if levels.iter().any(Option::is_none) {
                    b'?'
                } else {
                    let l = levels.iter().flatten().sum::<f64>() / levels.len() as f64;
                    RAMP[((l * (RAMP.len() - 1) as f64).round() as usize).min(RAMP.len() - 1)]
                };
                out.push(ch as char);
            }
            out.push('\n');
        }
    }
    out
}

/// Box-averages `a` down (or repeats it up) to `h`×`w`. NaN in a box makes the box NaN.
fn resample(a: &Array2<f64>, h: usize, w: usize) -> Array2<f64> {
    let (rows, cols) = a.dim();
    Array2::from_shape_fn((h, w), |(y, x)| {
        let y0 = y * rows / h;
        let y1 = ((y + 1) * rows / h).max(y0 + 1).min(rows);
        let x0 = x * cols / w;
        let x1 = ((x + 1) * cols / w).max(x0 + 1).min(cols);
        let cell = a.slice(ndarray::s![y0..y1, x0..x1]);
        cell.sum() / cell.len() as f64
    })
}

/// `min … mean … max …` over the colour planes (NaNs counted apart).
pub fn stats(image: &Image) -> String {
    let (mut lo, mut hi, mut sum, mut n, mut nans) =
        (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0usize, 0usize);
    for plane in image.planes() {
        for &v in plane.to_f64().iter() {
            if v.is_nan() {
                nans += 1;
            } else {
                lo = lo.min(v);
                hi = hi.max(v);
                sum += v;
                n += 1;
            }
        }
    }
    let mut s = if n == 0 {
        "min nan  mean nan  max nan".to_string()
    } else {
        format!(
            "min {}  mean {}  max {}",
            num(lo),
            num(sum / n as f64),
            num(hi)
        )
    };
    if nans > 0 && n > 0 {
        let _ = write!(s, "  ({nans} NaN)");
    }
    s
}

/// A number for people: whole numbers as such, others with up to 4 decimals.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    if v.abs() >= 1e-3 && v.abs() < 1e9 {
        let s = format!("{v:.4}");
        return s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{v:.4e}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use jitfilter::imageio::DynArray;
    use ndarray::ArrayD;

    #[test]
    fn numbers() {
        assert_eq!(num(3.0), "3");
        assert_eq!(num(118.34567), "118.3457");
        assert_eq!(num(0.5), "0.5");
        assert_eq!(num(1e-7), "1.0000e-7");
        assert_eq!(num(f64::NAN), "NaN");
    }

    #[test]
    fn plain_ramp_spans_black_to_white() {
        let a = ArrayD::from_shape_fn(vec![4, 10], |ix| ix[1] as f64);
        let text = preview(&Image::array(DynArray::F64(a)), "_", 10, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[1].starts_with(' ') && lines[1].ends_with('@'),
            "{text}"
        );
    }

    #[test]
    fn signed_results_are_centred_on_zero() {
        // -10..10 with one outlier of 1000: 0 is middle grey, and the outlier does not squash
        // the ramp.
        let mut a = ArrayD::from_shape_fn(vec![2, 201], |ix| ix[1] as f64 / 10.0 - 10.0);
        a[[0, 0]] = -1000.0;
        let image = Image::array(DynArray::F64(a));
        let text = preview(&image, "_", 201, false);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("signed, centred on 0"), "{text}");
        let row: Vec<char> = lines[1].chars().collect();
        assert_eq!(row[0], ' ');
        assert_eq!(row[200], '@');
        // The middle column (value 0) is the middle of the ramp.
        let mid = RAMP[(RAMP.len() - 1) / 2] as char;
        let mid_up = RAMP[RAMP.len() / 2] as char;
        assert!(row[100] == mid || row[100] == mid_up, "{:?}", row[100]);
        // Colour: negative is blue, positive red, 0 black.
        let text = preview(&image, "_", 201, true);
        assert!(text.contains("\x1b[38;2;0;0;0m"), "0 is black");
        assert!(text.contains(";89;89;255m"), "-10 is blue");
        assert!(text.contains("2;255;89;89m"), "+10 is red");
    }

    #[test]
    fn colour_uses_half_blocks() {
        let a = ArrayD::from_shape_fn(vec![8, 8], |ix| (ix[0] * 8 + ix[1]) as f64);
        let text = preview(&Image::array(DynArray::F64(a)), "_", 8, true);
        assert!(text.contains("\x1b[38;2;") && text.contains('▀'));
        assert_eq!(text.lines().count(), 1 + 4);
    }
}
