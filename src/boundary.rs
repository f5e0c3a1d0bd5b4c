//! Boundary modes: how indices outside the array map back into it, exactly as scipy.ndimage
//! extends lines (periodically, for windows of any size).

use crate::error::Error;
use std::fmt;
use std::str::FromStr;

/// scipy.ndimage's boundary modes for filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// `d c b a | a b c d | d c b a` (half-sample symmetric). Also `grid-mirror`.
    #[default]
    Reflect,
    /// `d c b | a b c d | c b a` (whole-sample symmetric).
    Mirror,
    /// `a a a | a b c d | d d d`.
    Nearest,
    /// `b c d | a b c d | a b c`. Also `grid-wrap`.
    Wrap,
    /// `k k k | a b c d | k k k` with `k = cval`. Also `grid-constant`.
    Constant,
}

impl Mode {
    /// Every mode (the `grid-` names are aliases of three of them).
    pub const ALL: [Mode; 5] = [
        Mode::Reflect,
        Mode::Mirror,
        Mode::Nearest,
        Mode::Wrap,
        Mode::Constant,
    ];
    pub const NAMES: [&'static str; 8] = [
        "reflect",
        "mirror",
        "nearest",
        "wrap",
        "constant",
        "grid-mirror",
        "grid-constant",
        "grid-wrap",
    ];

    /// Maps index `i` (possibly outside `0..n`) to the index whose value it takes, or `None`
    /// for the constant value.
    pub fn map(self, i: isize, n: usize) -> Option<usize> {
        let n = n as isize;
        if (0..n).contains(&i) {
            return Some(i as usize);
        }
        Some(match self {
            Mode::Constant => return None,
            Mode::Nearest => i.clamp(0, n - 1),
            Mode::Wrap => i.rem_euclid(n),
            Mode::Reflect => {
                let m = i.rem_euclid(2 * n);
                if m < n {
                    m
                } else {
                    2 * n - 1 - m
                }
            }
            Mode::Mirror if n == 1 => 0,
            Mode::Mirror => {
                let m = i.rem_euclid(2 * n - 2);
                if m < n {
                    m
                } else {
                    2 * n - 2 - m
                }
            }
        } as usize)
    }
}

/// The mode of each of an array's `ndim` axes: `mode` on every axis, or `modes` one per axis.
pub fn axis_modes(mode: Mode, modes: &[Mode], ndim: usize) -> Result<Vec<Mode>, Error> {
    if modes.is_empty() {
        return Ok(vec![mode; ndim]);
    }
    if modes.len() != ndim {
        return Err(Error::Shape(format!(
            "{} boundary modes for a {ndim}-D array: give one mode, or one per axis",
            modes.len()
        )));
    }
    Ok(modes.to_vec())
}

/// Parses `reflect` or a comma-separated list, one mode per axis: `reflect,wrap`.
pub fn parse_modes(text: &str) -> Result<Vec<Mode>, Error> {
    text.split(',').map(|m| m.trim().parse()).collect()
}

impl FromStr for Mode {
    type Err = Error;

    fn from_str(s: &str) -> Result<Mode, Error> {
        Ok(match s {
            "reflect" | "grid-mirror" => Mode::Reflect,
            "mirror" => Mode::Mirror,
            "nearest" => Mode::Nearest,
            "wrap" | "grid-wrap" => Mode::Wrap,
            "constant" | "grid-constant" => Mode::Constant,
            other => return Err(Error::Mode(other.to_string())),
        })
    }
}

/// The canonical name, which [`FromStr`] parses back; the `grid-` aliases show as the mode they
/// stand for.
impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Reflect => "reflect",
            Mode::Mirror => "mirror",
            Mode::Nearest => "nearest",
            Mode::Wrap => "wrap",
            Mode::Constant => "constant",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in Mode::NAMES {
            let mode: Mode = name.parse().unwrap();
            assert_eq!(mode.to_string().parse::<Mode>().unwrap(), mode, "{name}");
            assert!(Mode::NAMES.contains(&mode.to_string().as_str()));
        }
        assert_eq!(Mode::Wrap.to_string(), "wrap");
        assert_eq!(
            "grid-mirror".parse::<Mode>().unwrap().to_string(),
            "reflect"
        );
    }

    fn extend(mode: Mode, n: usize) -> Vec<Option<usize>> {
        (-4..n as isize + 4).map(|i| mode.map(i, n)).collect()
    }

    #[test]
    fn matches_scipy_documentation() {
        let s = |v: &[usize]| v.iter().map(|&x| Some(x)).collect::<Vec<_>>();
        assert_eq!(
            extend(Mode::Reflect, 4),
            s(&[3, 2, 1, 0, 0, 1, 2, 3, 3, 2, 1, 0])
        );
        assert_eq!(
            extend(Mode::Mirror, 4),
            s(&[2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1])
        );
        assert_eq!(
            extend(Mode::Nearest, 4),
            s(&[0, 0, 0, 0, 0, 1, 2, 3, 3, 3, 3, 3])
        );
        assert_eq!(
            extend(Mode::Wrap, 4),
            s(&[0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3])
        );
        assert_eq!(Mode::Constant.map(-1, 4), None);
        assert_eq!(extend(Mode::Mirror, 1), s(&[0; 9]));
    }
}
