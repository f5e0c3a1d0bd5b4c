//! The algebraic planner. Reductions of a *point map* of the window — `sum`, `mean`, `count`,
//! `var`, `std`, `min`, `max` of `f(w)` where `f` uses only `w`, numbers and params — are computed
//! for a whole stripe at once from the footprint's runs of consecutive cells (chords): sums from
//! prefix sums, extremes by van Herk/Gil-Werman per distinct chord length. Their cost grows with
//! the footprint's height, not its area. The rest of the program reads them per pixel as planes.
//!
//! Accuracy: prefix sums run over the stripe's padded block with the data shifted by one of its
//! values, so integer data sums exactly and float data loses at most about `T·ε` of the data's
//! scale (T = block length, ~10⁵ → ~10⁻¹¹); variance is `(Σd² − (Σd)²/n)/(n − ddof)` of the shifted
//! data `d`, clamped at 0. Non-finite values are counted separately so that one NaN or ∞ affects
//! only the windows that contain it, with numpy's results (NaN, ±∞).

use crate::codegen::RowFn;
use crate::ir::{Builtin, Node, NodeId, Op, Program, Reduction, Shape};
use crate::runtime::RowArgs;
use crate::window::Stripe;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Sum,
    Mean,
    Count,
    Var(f64),
    Std(f64),
    Max,
    Min,
    /// numpy's median; `skip_nan` for `nanmedian`.
    Median {
        skip_nan: bool,
    },
    /// numpy's linear percentile with a constant `q`.
    Percentile(f64),
}

#[derive(Debug, Clone)]
struct Item {
    kind: Kind,
    /// Index into `Planner::maps`.
    map: usize,
}

/// Which reductions are planned, and the point maps they reduce.
#[derive(Debug, Clone, Default)]
pub struct Planner {
    items: Vec<Item>,
    planes: HashMap<NodeId, usize>,
    /// Per point map: `None` for `w` itself, else a program whose row function computes it.
    maps: Vec<Option<Program>>,
}

/// Per node, whether it depends only on `w`, numbers and params (one pass in topological order).
fn point_maps(p: &Program) -> Vec<bool> {
    let mut point = Vec::with_capacity(p.nodes.len());
    for node in &p.nodes {
        let is = match &node.op {
            Op::Builtin(Builtin::W) | Op::Const(_) | Op::Param(_) => true,
            Op::Builtin(_) | Op::Reduce(..) => false,
            op => op.operands().iter().all(|&o| point[o]),
        };
        point.push(is);
    }
    point
}

impl Planner {
    /// Decides which reductions of `program` to plan.
    pub fn new(program: &Program) -> Planner {
        let mut planner = Planner::default();
        let mut map_index: HashMap<NodeId, usize> = HashMap::new();
        let point = point_maps(program);
        for (id, node) in program.nodes.iter().enumerate() {
            let Op::Reduce(red, arg, extra) = node.op else {
                continue;
            };
            let ddof = match extra.map(|e| &program.nodes[e].op) {
                None => 0.0,
                Some(Op::Const(d)) => *d,
                Some(_) => continue,
            };
            let kind = match red {
                Reduction::Sum => Kind::Sum,
                Reduction::Mean => Kind::Mean,
                Reduction::Count => Kind::Count,
                Reduction::Var => Kind::Var(ddof),
                Reduction::Std => Kind::Std(ddof),
                Reduction::Max => Kind::Max,
                Reduction::Min => Kind::Min,
                Reduction::Median => Kind::Median { skip_nan: false },
                Reduction::NanMedian => Kind::Median { skip_nan: true },
                Reduction::Percentile if extra.is_some() => Kind::Percentile(ddof),
                _ => continue,
            };
            if !point[arg] {
                continue;
            }
            let map = *map_index.entry(arg).or_insert_with(|| {
                planner
                    .maps
                    .push(if program.nodes[arg].op == Op::Builtin(Builtin::W) {
                        None
                    } else {
                        Some(map_program(program, arg))
                    });
                planner.maps.len() - 1
            });
            planner.planes.insert(id, planner.items.len());
            planner.items.push(Item { kind, map });
        }
        planner
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Planned IR reduction nodes → plane index.
    pub fn planes(&self) -> &HashMap<NodeId, usize> {
        &self.planes
    }

    /// The programs whose row functions compute the non-identity point maps, in order.
    pub fn map_programs(&self) -> Vec<&Program> {
        self.maps.iter().flatten().collect()
    }

    /// One line per reduction: how it is computed.
    pub fn describe(&self, program: &Program) -> Vec<String> {
        program
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| matches!(n.op, Op::Reduce(..)))
            .map(|(id, _)| {
                let how = match self.planes.get(&id).map(|&i| self.items[i].kind) {
                    Some(Kind::Sum | Kind::Mean | Kind::Count) => "planned: chord prefix sums",
                    Some(Kind::Var(_) | Kind::Std(_)) => {
                        "planned: chord prefix sums of shifted moments"
                    }
                    Some(Kind::Max | Kind::Min) => "planned: van Herk/Gil-Werman per chord length",
                    Some(Kind::Median { .. } | Kind::Percentile(_)) => {
                        "planned: sliding two-level histogram (values, or ranks for non-integer data)"
                    }
                    None => "fused: one pass over the window per pixel, SIMD across pixels",
                };
                let span = program.nodes[id].span;
                let text = program.source.get(span.start..span.end).unwrap_or("?");
                format!("{text}  ->  {how}")
            })
            .collect()
    }

    /// Computes this stripe's planes (one `nrows × width` buffer per planned reduction). `maps`
    /// are the compiled row functions of [`Planner::map_programs`].
    pub fn compute(&self, s: &Stripe, maps: &[RowFn], params: &[f64], planes: &mut Vec<Vec<f64>>) {
        planes.resize_with(self.items.len(), Vec::new);
        if self.items.is_empty() {
            return;
        }
        let chords = chords(s.offs);
        let n = s.offs.len() as f64;
        let mut compiled = maps.iter();
        for (m, map) in self.maps.iter().enumerate() {
            let mapped;
            let f: &[f64] = match map {
                None => s.block,
                Some(_) => {
                    mapped = apply_map(
                        *compiled.next().expect("one function per map"),
                        s.block,
                        params,
                    );
                    &mapped
                }
            };
            let items: Vec<(usize, &Item)> = self
                .items
                .iter()
                .enumerate()
                .filter(|(_, it)| it.map == m)
                .collect();
            let stats = BlockStats::new(f, &items);
            for (plane, item) in items {
                let out = &mut planes[plane];
                out.clear();
                out.resize(s.nrows * s.width, 0.0);
                stats.fill(item.kind, &chords, n, s, out);
            }
        }
    }
}

/// The program `sum(f(w))` for point map `arg`: on a one-element window it computes `f`.
fn map_program(program: &Program, arg: NodeId) -> Program {
    let mut nodes: Vec<Node> = program.nodes[..=arg].to_vec();
    nodes.push(Node {
        op: Op::Reduce(Reduction::Sum, arg, None),
        shape: Shape::Scalar,
        span: program.nodes[arg].span,
    });
    Program {
        source: program.source.clone(),
        root: nodes.len() - 1,
        nodes,
        params: program.params.clone(),
    }
    .pruned()
}

/// Runs a map's row function over the whole block as one row of one-element windows.
fn apply_map(f: RowFn, block: &[f64], params: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; block.len()];
    let zero = [0i64];
    let args = RowArgs {
        base: block.as_ptr(),
        offs: zero.as_ptr(),
        n: 1,
        c_off: 0,
        k: std::ptr::null(),
        dx: std::ptr::null(),
        dy: std::ptr::null(),
        dz: std::ptr::null(),
        params: params.as_ptr(),
        planes: std::ptr::null(),
        out: out.as_mut_ptr(),
        width: block.len() as i64,
        y: 0.0,
        z: 0.0,
        size: [1.0; 3],
    };
    // SAFETY: a point map reads only base[x] for x < width, and params.
    unsafe { f(&args) };
    out
}

/// Maximal runs of consecutive block offsets: (start, length).
fn chords(offs: &[usize]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for &o in offs {
        match out.last_mut() {
            Some((start, len)) if *start + *len == o => *len += 1,
            _ => out.push((o, 1)),
        }
    }
    out
}

/// Prefix sums and running extremes of one mapped block, as the planned items need them.
struct BlockStats {
    shift: f64,
    /// Prefix sums of finite values minus `shift`, and of their squares.
    p1: Prefix,
    p2: Prefix,
    /// Prefix counts of nonzero values.
    p0: Prefix,
    /// Prefix counts of NaN, +inf, -inf (empty when the block is all finite).
    nan: Prefix,
    pinf: Prefix,
    ninf: Prefix,
    /// The mapped values, kept for running extremes and for `huge` blocks.
    f: Vec<f64>,
    /// Some finite value is so large that its square overflows: moments are computed per
    /// window (two passes) instead of from prefix sums for this block.
    huge: bool,
}

/// Prefix sums kept as double-doubles (`hi + lo`, TwoSum), so that a window's sum, a difference
/// of two prefixes, is accurate to about ε of the window's own magnitude, not of the block's.
struct Prefix {
    hi: Vec<f64>,
    lo: Vec<f64>,
    /// All `lo` are zero (e.g. integer data): the high parts alone are exact.
    exact: bool,
}

impl Prefix {
    fn new(values: impl Iterator<Item = f64>, len: usize) -> Prefix {
        let mut hi = Vec::with_capacity(len + 1);
        let mut lo = Vec::with_capacity(len + 1);
        let (mut h, mut l) = (0.0f64, 0.0f64);
        hi.push(h);
        lo.push(l);
        for v in values {
            let s = h + v;
            let bp = s - h;
            l += (h - (s - bp)) + (v - bp);
            h = s;
            hi.push(h);
            lo.push(l);
        }
        let exact = lo.iter().all(|&l| l == 0.0);
        Prefix { hi, lo, exact }
    }

    fn is_empty(&self) -> bool {
        self.hi.is_empty()
    }

    /// Adds, for each of the `out.len()` windows starting at `base`, `base + 1`, …, the sum of
    /// the values under the chords.
    fn add_chords(&self, chords: &[(usize, usize)], base: usize, out: &mut [f64]) {
        let w = out.len();
        for &(s, l) in chords {
            let (a, b) = (base + s, base + s + l);
            let (ha, hb) = (&self.hi[a..a + w], &self.hi[b..b + w]);
            for ((o, x), y) in out.iter_mut().zip(ha).zip(hb) {
                *o += y - x;
            }
            if self.exact {
                continue;
            }
            let (la, lb) = (&self.lo[a..a + w], &self.lo[b..b + w]);
            for ((o, x), y) in out.iter_mut().zip(la).zip(lb) {
                *o += y - x;
            }
        }
    }
}

impl BlockStats {
    fn new(f: &[f64], items: &[(usize, &Item)]) -> BlockStats {
        let kinds: Vec<Kind> = items.iter().map(|(_, it)| it.kind).collect();
        let moments = kinds
            .iter()
            .any(|k| matches!(k, Kind::Sum | Kind::Mean | Kind::Var(_) | Kind::Std(_)));
        let second = kinds
            .iter()
            .any(|k| matches!(k, Kind::Var(_) | Kind::Std(_)));
        let huge = f.iter().any(|v| v.is_finite() && v.abs() > 1e150);
        let extremes = huge
            || kinds.iter().any(|k| {
                !matches!(
                    k,
                    Kind::Sum | Kind::Mean | Kind::Var(_) | Kind::Std(_) | Kind::Count
                )
            });
        // Shifting by a data value keeps sums of squares small; with huge values around, the
        // double-double prefix alone keeps small windows exact, so no shift.
        let shift = if huge {
            0.0
        } else {
            f.iter().copied().find(|v| v.is_finite()).unwrap_or(0.0)
        };
        let finite = |v: f64| if v.is_finite() { v - shift } else { 0.0 };
        let t = f.len();
        let all_finite = f.iter().all(|v| v.is_finite());
        let count = |pred: fn(f64) -> bool| {
            Prefix::new(f.iter().map(|&v| if pred(v) { 1.0 } else { 0.0 }), t)
        };
        let none = || Prefix {
            hi: Vec::new(),
            lo: Vec::new(),
            exact: true,
        };
        BlockStats {
            shift,
            p1: if moments {
                Prefix::new(f.iter().map(|&v| finite(v)), t)
            } else {
                none()
            },
            p2: if second {
                Prefix::new(f.iter().map(|&v| finite(v) * finite(v)), t)
            } else {
                none()
            },
            p0: if kinds.contains(&Kind::Count) {
                count(|v| v != 0.0)
            } else {
                none()
            },
            nan: if all_finite {
                none()
            } else {
                count(f64::is_nan)
            },
            pinf: if all_finite {
                none()
            } else {
                count(|v| v == f64::INFINITY)
            },
            ninf: if all_finite {
                none()
            } else {
                count(|v| v == f64::NEG_INFINITY)
            },
            f: if extremes { f.to_vec() } else { Vec::new() },
            huge,
        }
    }

    /// Fills one plane. Work is done a whole output row at a time, chord by chord, in straight
    /// loops over the row that the compiler vectorises.
    fn fill(&self, kind: Kind, chords: &[(usize, usize)], n: f64, s: &Stripe, out: &mut [f64]) {
        if let Kind::Median { .. } | Kind::Percentile(_) = kind {
            return rank_fill(&self.f, kind, chords, s, out);
        }
        let w = s.width;
        let mut s1 = vec![0.0; w];
        let mut s2 = vec![0.0; w];
        let mut bad = vec![0.0; w];
        // For max/min: the running extreme for each chord length, and each chord's array.
        let extreme = matches!(kind, Kind::Max | Kind::Min);
        let by_len = if extreme {
            let lengths: Vec<usize> = chords.iter().map(|&(_, l)| l).collect();
            running_extremes(&self.f, &lengths, kind == Kind::Max)
        } else {
            HashMap::new()
        };
        let runs: Vec<(usize, &[f64])> = if extreme {
            chords
                .iter()
                .map(|&(st, l)| (st, &by_len[&l][..]))
                .collect()
        } else {
            Vec::new()
        };
        for ry in 0..s.nrows {
            let base = ry * s.bw;
            let row = &mut out[ry * w..(ry + 1) * w];
            // Windows holding a NaN (or, for sums, infinities of both signs) are NaN.
            if !self.nan.is_empty() {
                self.nan.add_chords(chords, base, &mut bad);
            }
            match kind {
                Kind::Max | Kind::Min => {
                    let max = kind == Kind::Max;
                    row.fill(if max {
                        f64::NEG_INFINITY
                    } else {
                        f64::INFINITY
                    });
                    for &(st, r) in &runs {
                        let r = &r[base + st..base + st + w];
                        // Compare-and-select (maxpd/minpd); NaN was handled by the counts.
                        if max {
                            row.iter_mut()
                                .zip(r)
                                .for_each(|(o, &v)| *o = if v > *o { v } else { *o });
                        } else {
                            row.iter_mut()
                                .zip(r)
                                .for_each(|(o, &v)| *o = if v < *o { v } else { *o });
                        }
                    }
                }
                Kind::Count => self.p0.add_chords(chords, base, row),
                Kind::Median { .. } | Kind::Percentile(_) => {
                    unreachable!("rank kinds fill by histogram")
                }
                Kind::Sum | Kind::Mean => {
                    self.p1.add_chords(chords, base, &mut s1);
                    let div = if kind == Kind::Mean { n } else { 1.0 };
                    if !self.nan.is_empty() {
                        let (mut pinf, mut ninf) = (vec![0.0; w], vec![0.0; w]);
                        self.pinf.add_chords(chords, base, &mut pinf);
                        self.ninf.add_chords(chords, base, &mut ninf);
                        for x in 0..w {
                            s1[x] = match (bad[x] > 0.0, pinf[x] > 0.0, ninf[x] > 0.0) {
                                (true, _, _) | (_, true, true) => f64::NAN,
                                (_, true, _) => f64::INFINITY,
                                (_, _, true) => f64::NEG_INFINITY,
                                _ => s1[x],
                            };
                        }
                    }
                    for (o, v) in row.iter_mut().zip(&s1) {
                        *o = (v + n * self.shift) / div;
                    }
                }
                Kind::Var(ddof) | Kind::Std(ddof) => {
                    self.p1.add_chords(chords, base, &mut s1);
                    self.p2.add_chords(chords, base, &mut s2);
                    if !self.nan.is_empty() {
                        // Any non-finite value makes the variance NaN.
                        self.pinf.add_chords(chords, base, &mut bad);
                        self.ninf.add_chords(chords, base, &mut bad);
                    }
                    // max(n - ddof, 0), keeping a NaN ddof NaN as numpy does.
                    let dof = if n - ddof < 0.0 { 0.0 } else { n - ddof };
                    if self.huge {
                        for (x, o) in row.iter_mut().enumerate() {
                            let v: Vec<f64> = chords
                                .iter()
                                .flat_map(|&(st, l)| {
                                    self.f[base + x + st..base + x + st + l].iter().copied()
                                })
                                .collect();
                            let mean = v.iter().sum::<f64>() / n;
                            let var = v.iter().map(|a| (a - mean) * (a - mean)).sum::<f64>() / dof;
                            *o = if matches!(kind, Kind::Std(_)) {
                                var.sqrt()
                            } else {
                                var
                            };
                        }
                        s1.fill(0.0);
                        s2.fill(0.0);
                        bad.fill(0.0);
                        continue;
                    }
                    for x in 0..w {
                        // Below the rounding error of the one-pass formula the deviation is
                        // zero (a flat window gives exactly 0, as numpy's two-pass formula).
                        let ss = s2[x] - s1[x] * s1[x] / n;
                        let ss = if ss <= (n + 2.0) * f64::EPSILON * s2[x] {
                            0.0
                        } else {
                            ss
                        };
                        let var = ss / dof;
                        row[x] = if matches!(kind, Kind::Std(_)) {
                            var.sqrt()
                        } else {
                            var
                        };
                    }
                }
            }
            if !self.nan.is_empty() && kind != Kind::Count {
                for (o, b) in row.iter_mut().zip(&bad) {
                    if *b > 0.0 {
                        *o = f64::NAN;
                    }
                }
            }
            for v in [&mut s1, &mut s2, &mut bad] {
                v.fill(0.0);
            }
        }
    }
}

/// Per block value a histogram key (NaN: `u32::MAX`), and each key's value. Integer data in
/// 0..65536 keys by value; anything else by rank among the block's distinct values.
fn keys_of(f: &[f64]) -> (Vec<u32>, Vec<f64>) {
    let integral = f
        .iter()
        .all(|v| v.is_nan() || (v.fract() == 0.0 && (0.0..65536.0).contains(v)));
    if integral {
        let top = f
            .iter()
            .filter(|v| !v.is_nan())
            .fold(0.0f64, |m, &v| m.max(v)) as usize;
        let keys = f
            .iter()
            .map(|&v| if v.is_nan() { u32::MAX } else { v as u32 })
            .collect();
        return (keys, (0..=top).map(|k| k as f64).collect());
    }
    let mut order: Vec<u32> = (0..f.len() as u32)
        .filter(|&i| !f[i as usize].is_nan())
        .collect();
    order.sort_unstable_by(|&a, &b| f[a as usize].total_cmp(&f[b as usize]));
    let mut keys = vec![u32::MAX; f.len()];
    let mut values: Vec<f64> = Vec::new();
    for &i in &order {
        let v = f[i as usize];
        if values.last() != Some(&v) {
            values.push(v);
        }
        keys[i as usize] = (values.len() - 1) as u32;
    }
    (keys, values)
}

/// Fine bins per coarse bin of the histogram.
const COARSE: usize = 64;

/// A histogram of keys with a cursor that finds the k-th smallest by walking from where the
/// last query ended, skipping whole coarse bins.
struct Hist {
    fine: Vec<u32>,
    coarse: Vec<u32>,
    /// Cursor bin, and how many elements lie in bins below it.
    pos: usize,
    below: u32,
    count: u32,
    nan: u32,
}

impl Hist {
    fn new(bins: usize) -> Hist {
        let bins = bins.div_ceil(COARSE) * COARSE + COARSE;
        Hist {
            fine: vec![0; bins],
            coarse: vec![0; bins / COARSE],
            pos: 0,
            below: 0,
            count: 0,
            nan: 0,
        }
    }

    #[inline]
    fn add(&mut self, key: u32) {
        if key == u32::MAX {
            self.nan += 1;
            return;
        }
        let k = key as usize;
        self.fine[k] += 1;
        self.coarse[k / COARSE] += 1;
        self.count += 1;
        if k < self.pos {
            self.below += 1;
        }
    }

    #[inline]
    fn remove(&mut self, key: u32) {
        if key == u32::MAX {
            self.nan -= 1;
            return;
        }
        let k = key as usize;
        self.fine[k] -= 1;
        self.coarse[k / COARSE] -= 1;
        self.count -= 1;
        if k < self.pos {
            self.below -= 1;
        }
    }

    /// The key of the k-th smallest element (0-based, k < count).
    fn kth(&mut self, k: u32) -> usize {
        while self.below > k {
            let cb = self.pos / COARSE;
            if self.pos % COARSE == 0 && cb > 0 && self.below - self.coarse[cb - 1] > k {
                self.below -= self.coarse[cb - 1];
                self.pos -= COARSE;
            } else {
                self.pos -= 1;
                self.below -= self.fine[self.pos];
            }
        }
        while self.below + self.fine[self.pos] <= k {
            let cb = self.pos / COARSE;
            if self.pos % COARSE == 0 && self.below + self.coarse[cb] <= k {
                self.below += self.coarse[cb];
                self.pos += COARSE;
            } else {
                self.below += self.fine[self.pos];
                self.pos += 1;
            }
        }
        self.pos
    }
}

/// Median / percentile planes by a sliding histogram along each output row: moving one pixel
/// right removes the first and adds the next element of every chord.
fn rank_fill(f: &[f64], kind: Kind, chords: &[(usize, usize)], s: &Stripe, out: &mut [f64]) {
    let (keys, values) = keys_of(f);
    let mut hist = Hist::new(values.len());
    let skip_nan = kind == Kind::Median { skip_nan: true };
    for ry in 0..s.nrows {
        let base = ry * s.bw;
        for &(st, l) in chords {
            keys[base + st..base + st + l]
                .iter()
                .for_each(|&k| hist.add(k));
        }
        for x in 0..s.width {
            let cnt = hist.count;
            out[ry * s.width + x] = if (hist.nan > 0 && !skip_nan) || cnt == 0 {
                f64::NAN
            } else {
                match kind {
                    Kind::Percentile(q) if !(0.0..=100.0).contains(&q) => f64::NAN,
                    Kind::Percentile(q) => {
                        let pos = q / 100.0 * (cnt - 1) as f64;
                        let lo = pos.floor() as u32;
                        let a = values[hist.kth(lo)];
                        let b = values[hist.kth((lo + 1).min(cnt - 1))];
                        crate::interp::lerp(a, b, pos - lo as f64)
                    }
                    _ if cnt % 2 == 1 => values[hist.kth(cnt / 2)],
                    _ => (values[hist.kth(cnt / 2 - 1)] + values[hist.kth(cnt / 2)]) / 2.0,
                }
            };
            if x + 1 < s.width {
                for &(st, l) in chords {
                    hist.remove(keys[base + st + x]);
                    hist.add(keys[base + st + l + x]);
                }
            }
        }
        // Empty the histogram by removing the last window.
        let last = base + s.width - 1;
        for &(st, l) in chords {
            keys[last + st..last + st + l]
                .iter()
                .for_each(|&k| hist.remove(k));
        }
    }
}

/// The max (or min) of every run of `len` consecutive values, for each requested length, by
/// doubling: extremes over runs of 1, 2, 4, … cells, each from two of the previous length, then
/// any length from two overlapping power-of-two runs. Every pass is a straight loop over the
/// block that the compiler vectorises (maxpd/minpd), log₂(len) + 1 passes per length.
/// NaN is ignored here (handled by the caller's counts).
fn running_extremes(f: &[f64], lengths: &[usize], max: bool) -> HashMap<usize, Vec<f64>> {
    let pick = |a: f64, b: f64| if max == (b > a) { b } else { a };
    let t = f.len();
    let longest = lengths.iter().copied().max().unwrap_or(1);
    // pow[k][i]: extreme of f[i .. i + 2^k] (valid for i + 2^k <= t).
    let mut pow: Vec<Vec<f64>> = vec![f.to_vec()];
    while (1usize << pow.len()) <= longest {
        let half = 1usize << (pow.len() - 1);
        let prev = pow.last().expect("starts with f");
        let m = t.saturating_sub(2 * half - 1);
        let next: Vec<f64> = prev[..m]
            .iter()
            .zip(&prev[half..half + m])
            .map(|(&a, &b)| pick(a, b))
            .collect();
        pow.push(next);
    }
    let mut out = HashMap::new();
    for &len in lengths {
        if out.contains_key(&len) {
            continue;
        }
        let k = usize::BITS as usize - 1 - len.leading_zeros() as usize;
        let p = 1usize << k;
        let m = t.saturating_sub(len - 1);
        let run: Vec<f64> = pow[k][..m]
            .iter()
            .zip(&pow[k][len - p..len - p + m])
            .map(|(&a, &b)| pick(a, b))
            .collect();
        out.insert(len, run);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::compile_program;
    use crate::limits::Limits;

    #[test]
    fn running_extremes_match_brute_force() {
        let f: Vec<f64> = (0..50).map(|i| ((i * 37) % 11) as f64 - 5.0).collect();
        let lengths: Vec<usize> = (1..20).collect();
        for max in [true, false] {
            let runs = running_extremes(&f, &lengths, max);
            for &len in &lengths {
                for i in 0..=f.len() - len {
                    let w = f[i..i + len].iter().copied();
                    let brute = if max {
                        w.fold(f64::NEG_INFINITY, f64::max)
                    } else {
                        w.fold(f64::INFINITY, f64::min)
                    };
                    assert_eq!(runs[&len][i], brute, "len {len} at {i}");
                }
            }
        }
    }

    #[test]
    fn chords_are_runs() {
        assert_eq!(chords(&[0, 1, 2, 10, 11, 20]), [(0, 3), (10, 2), (20, 1)]);
    }

    #[test]
    fn plans_point_maps_only() {
        let p = compile_program(
            "let m = mean(w); std(w) + max(w * 2) + mean(abs(w - m)) + sum(dx * w)",
            &Limits::default(),
        )
        .unwrap();
        let planner = Planner::new(&p);
        // mean, std, max of a point map: planned; mean(abs(w - m)) and sum(dx * w): not.
        assert_eq!(planner.items.len(), 3);
        assert_eq!(planner.map_programs().len(), 1);
    }
}
