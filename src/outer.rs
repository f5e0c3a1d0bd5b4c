//! Arrays of more than three axes. The window loop works on planes of rows of columns; an array
//! of N axes is handed to it as one of three, whose plane axis runs over every combination of
//! the first N − 2 axes (C order: a reshape, no copy). A window reaching along those axes reads
//! whole planes, so a stripe's block holds one plane per distinct offset along them — the
//! *slots* — and each slot is found through each axis's own boundary mode, never by stepping
//! along the flattened axis (which would wrap from one axis into the next).

use crate::boundary::Mode;

/// The first N − 2 axes of an array of N > 3, folded into the window loop's plane axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Outer {
    /// Lengths of axes 0 ..= N − 3 (the last of them is the third-last axis, `z`).
    pub lens: Vec<usize>,
    /// Their boundary modes.
    pub modes: Vec<Mode>,
    /// The distinct offsets along axes 0 .. N − 3 (all but `z`) that the window reaches, the
    /// zero offset first.
    pub prefixes: Vec<Vec<isize>>,
    /// The lowest offset along `z` and how many follow it: a stripe's block holds this many
    /// planes per prefix, prefix after prefix.
    pub zlo: isize,
    pub zspan: usize,
}

impl Outer {
    /// For window offsets `offsets` (N > 3 per window element, one after another) and the
    /// `at()` offsets `points` (along `z`, y, x only), the folded layout, and per window
    /// element its offset (plane slot, y, x) in the folded array.
    pub fn fold(
        lens: &[usize],
        modes: &[Mode],
        offsets: &[isize],
        points: &[[isize; 3]],
    ) -> (Outer, Vec<[isize; 3]>) {
        let z = lens.len() - 1;
        let offsets: Vec<&[isize]> = offsets.chunks_exact(lens.len() + 2).collect();
        let mut prefixes = vec![vec![0isize; z]];
        for o in &offsets {
            if !prefixes.iter().any(|p| p[..] == o[..z]) {
                prefixes.push(o[..z].to_vec());
            }
        }
        let zs = (offsets.iter().map(|o| o[z])).chain(points.iter().map(|p| p[0]));
        let (zlo, zhi) = zs.fold((0, 0), |(lo, hi), v| (v.min(lo), v.max(hi)));
        let zspan = (zhi - zlo + 1) as usize;
        let slot = |prefix: &[isize], oz: isize| {
            let p = prefixes.iter().position(|q| q == prefix).expect("listed");
            (p * zspan) as isize + oz
        };
        let folded = (offsets.iter())
            .map(|o| [slot(&o[..z], o[z]), o[z + 1], o[z + 2]])
            .collect();
        let outer = Outer {
            lens: lens.to_vec(),
            modes: modes.to_vec(),
            prefixes,
            zlo,
            zspan,
        };
        (outer, folded)
    }

    /// The planes a block holds, `(lowest, highest)` slot: the plane axis's halo.
    pub fn halo(&self) -> (isize, isize) {
        (
            self.zlo,
            self.zlo + (self.prefixes.len() * self.zspan) as isize - 1,
        )
    }

    /// The offset along `z` of a folded offset along the plane axis.
    pub fn z_offset(&self, slot: isize) -> isize {
        (slot - self.zlo).rem_euclid(self.zspan as isize) + self.zlo
    }

    /// The offset along axis `a` (< N − 2) of a folded offset along the plane axis.
    pub fn offset(&self, slot: isize, a: usize) -> isize {
        match a == self.lens.len() - 1 {
            true => self.z_offset(slot),
            false => self.prefixes[((slot - self.zlo) as usize) / self.zspan][a],
        }
    }

    /// The (flattened) plane that block plane `bz` of a stripe in plane `plane` reads, or
    /// `None` where some axis's mode gives the constant.
    pub fn source(&self, plane: usize, bz: usize) -> Option<usize> {
        let prefix = &self.prefixes[bz / self.zspan];
        let oz = self.zlo + (bz % self.zspan) as isize;
        let at = self.position(plane);
        let mut flat = 0;
        for (a, (&p, &n)) in at.iter().zip(&self.lens).enumerate() {
            let off = prefix.get(a).copied().unwrap_or(oz);
            flat = flat * n + self.modes[a].map(p as isize + off, n)?;
        }
        Some(flat)
    }

    /// Sets, in the `pos(j)` table `axes` (see `Setup::axes`), the positions along the folded
    /// axes of (flattened) plane `plane`.
    pub fn place(&self, plane: usize, axes: &mut [f64]) {
        let at = self.position(plane);
        for slot in axes.chunks_exact_mut(5) {
            if slot[4] >= 0.0 {
                slot[3] = at[slot[4] as usize] as f64;
            }
        }
    }

    /// The position along axes 0 ..= N − 3 of (flattened) plane `plane`.
    pub fn position(&self, plane: usize) -> Vec<usize> {
        crate::footprint::unflatten(plane, &self.lens)
    }
}

/// `pos(j)`'s table `axes` (see `Setup::axes`) for plane `plane`: `axes` itself, or, when
/// axes are folded into planes, a copy in `into` with the plane's positions set.
pub fn axes_at<'a>(
    axes: &'a [f64],
    outer: Option<&Outer>,
    plane: usize,
    into: &'a mut Vec<f64>,
) -> &'a [f64] {
    match outer {
        Some(o) => {
            into.clear();
            into.extend_from_slice(axes);
            o.place(plane, into);
            into
        }
        None => axes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_find_each_axis_through_its_own_mode() {
        // Axes of 3 and 4 before y and x; a window reaching ±1 along both.
        let offsets: Vec<Vec<isize>> = (-1..=1)
            .flat_map(|a| (-1..=1).map(move |b| vec![a, b, 0, 0]))
            .collect();
        let modes = [Mode::Wrap, Mode::Constant];
        let (outer, folded) = Outer::fold(&[3, 4], &modes, &offsets.concat(), &[]);
        assert_eq!(outer.prefixes.len(), 3);
        assert_eq!(outer.zspan, 3);
        for (o, f) in offsets.iter().zip(&folded) {
            assert_eq!(outer.offset(f[0], 0), o[0]);
            assert_eq!(outer.offset(f[0], 1), o[1]);
            let bz = (f[0] - outer.halo().0) as usize;
            for plane in 0..12 {
                let (p0, p1) = (plane / 4, plane % 4);
                let a = (p0 as isize + o[0]).rem_euclid(3) as usize;
                let b = p1 as isize + o[1];
                let want = (0..4).contains(&b).then(|| a * 4 + b as usize);
                assert_eq!(outer.source(plane, bz), want, "plane {plane} offset {o:?}");
            }
        }
    }
}
