//! Checked IR → loop plan. High-level reductions are lowered to a few primitive accumulators
//! (`mean` = sum / n, `var` = two passes, the `nan*` family = masked accumulators…), shared
//! subexpressions stay shared, and every accumulator is assigned to a *stage*: all accumulators
//! of a stage are computed in one fused pass over the window, after the stages they depend on.

use crate::ir::{BinOp, Builtin, Func, Op, Program, Reduction, Sample, Shape, UnOp};
use std::collections::HashMap;

pub type P = usize;

/// How a sort-based reduction picks its value from the stored window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortKind {
    /// NaN if any element is NaN, else the median.
    Median = 0,
    /// The median of the non-NaN elements (NaN if there are none).
    NanMedian = 1,
    /// NaN if any element is NaN, else the linear-interpolated percentile `q`.
    Percentile = 2,
    /// Element `q` of the window sorted with NaN last (`kth`).
    Kth = 3,
}

/// A primitive accumulator over the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Acc {
    Sum,
    Prod,
    /// NaN-propagating maximum / minimum.
    Max,
    Min,
    /// Number of nonzero elements (NaN counts).
    Count,
    ArgMin,
    ArgMax,
    /// Stores the window; `q` (for percentile) is an extra scalar operand.
    Sorted(SortKind),
}

#[derive(Debug, Clone, PartialEq)]
pub enum POp {
    Const(f64),
    Param(usize),
    /// A value of an input (see [`Sample`]).
    Sample(Sample),
    Builtin(Builtin),
    Un(UnOp, P),
    Bin(BinOp, P, P),
    Call(Func, Vec<P>),
    Select(P, P, P),
    /// A primitive accumulator of a vector operand, with an optional scalar operand.
    Reduce(Acc, P, Option<P>),
    /// A reduction the planner computes for all pixels beforehand (see `planner.rs`, computed by `planes.rs`): the
    /// index of its plane.
    Plane(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub struct PNode {
    pub op: POp,
    pub vector: bool,
    /// 0 for values available before any pass over the window; s ≥ 1 for values that need the
    /// results of pass s (reductions of stage s, and what is computed from them).
    pub stage: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub nodes: Vec<PNode>,
    /// One node per output.
    pub roots: Vec<P>,
    /// The reduction nodes of each pass, in order.
    pub stages: Vec<Vec<P>>,
    /// The `exp` factors made by [`Plan::split_exps`], whose tables a row function checks.
    pub split: Vec<P>,
}

/// At most this many `exp`s are split, so that their factors always get tables (2 × 8 is
/// codegen's bound on tables of each kind).
const MAX_SPLITS: usize = 8;

impl Plan {
    /// The planes the results are, when every result is a plane (nothing left to compute).
    pub fn plane_roots(&self) -> Option<Vec<usize>> {
        (self.roots.iter())
            .map(|&r| match self.nodes[r].op {
                POp::Plane(i) => Some(i),
                _ => None,
            })
            .collect()
    }

    pub fn operands(op: &POp) -> Vec<P> {
        match op {
            POp::Const(_) | POp::Param(_) | POp::Sample(_) | POp::Builtin(_) | POp::Plane(_) => {
                vec![]
            }
            POp::Un(_, a) => vec![*a],
            POp::Bin(_, a, b) => vec![*a, *b],
            POp::Call(_, args) => args.clone(),
            POp::Select(c, a, b) => vec![*c, *a, *b],
            POp::Reduce(_, a, q) => std::iter::once(*a).chain(*q).collect(),
        }
    }

    /// Lowers a checked program.
    pub fn new(program: &Program) -> Plan {
        Plan::with_planes(program, &HashMap::new())
    }

    /// Lowers a checked program in which the reductions and linear sums in `planes` (IR node →
    /// plane index) are precomputed per pixel rather than computed from the window.
    pub fn with_planes(program: &Program, planes: &HashMap<usize, usize>) -> Plan {
        let mut b = Builder {
            nodes: Vec::new(),
            interned: HashMap::new(),
        };
        let mut map: Vec<P> = Vec::with_capacity(program.nodes.len());
        for node in &program.nodes {
            let m = |id: usize| map[id];
            let p = match &node.op {
                // A planned reduction or linear sum.
                _ if planes.contains_key(&map.len()) => b.add(POp::Plane(planes[&map.len()])),
                Op::Const(v) => b.konst(*v),
                Op::Param(i) => b.add(POp::Param(*i)),
                Op::Sample(s) => b.add(POp::Sample(*s)),
                Op::Builtin(bi) => b.add(POp::Builtin(*bi)),
                Op::Unary(op, a) => b.add(POp::Un(*op, m(*a))),
                Op::Binary(op, a, c) => b.add(POp::Bin(*op, m(*a), m(*c))),
                Op::Call(f, args) => b.add(POp::Call(*f, args.iter().map(|a| m(*a)).collect())),
                Op::Select(c, x, y) => b.add(POp::Select(m(*c), m(*x), m(*y))),
                Op::Reduce(red, a, extra, _) => b.reduction(*red, m(*a), extra.map(m)),
            };
            debug_assert_eq!(b.nodes[p].vector, node.shape == Shape::Vector);
            map.push(p);
        }
        let roots = program.roots.iter().map(|&r| map[r]).collect();
        let nstages = b.nodes.iter().map(|n| n.stage).max().unwrap_or(0);
        let mut stages = vec![Vec::new(); nstages];
        for (p, node) in b.nodes.iter().enumerate() {
            if matches!(node.op, POp::Reduce(..)) {
                stages[node.stage - 1].push(p);
            }
        }
        Plan {
            nodes: b.nodes,
            roots,
            stages,
            split: Vec::new(),
        }
    }
}

/// How a node depends on the pixel: not at all (numbers, params, `n`, sizes), only through one
/// *key* node (see [`Plan::keys`]: `w`, `w - c`, `abs(w[0] - c[0]) + abs(w[1] - c[1])`…), or
/// otherwise. On integer images a key takes few distinct values, so a table over the key's
/// range can replace the computation of what depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyed {
    Free,
    By(P),
    No,
}

impl Plan {
    /// Per node: depends only on the window element (`dx`, `k`, `i`, numbers, params, `n`).
    pub fn element_only(&self) -> Vec<bool> {
        let mut out: Vec<bool> = Vec::with_capacity(self.nodes.len());
        for node in &self.nodes {
            let is = match &node.op {
                POp::Builtin(b) => b.is_table() || matches!(b, Builtin::I | Builtin::N),
                POp::Const(_) | POp::Param(_) => true,
                POp::Sample(_) | POp::Reduce(..) | POp::Plane(_) => false,
                op => Plan::operands(op).into_iter().all(|o| out[o]),
            };
            out.push(is);
        }
        out
    }

    /// Per node: how it depends on the pixel ([`Keyed`]).
    pub fn keyed(&self) -> Vec<Keyed> {
        let keys = self.keys();
        let mut out: Vec<Keyed> = Vec::with_capacity(self.nodes.len());
        for (p, node) in self.nodes.iter().enumerate() {
            let k = match &node.op {
                _ if keys[p] => Keyed::By(p),
                POp::Builtin(Builtin::N | Builtin::Width | Builtin::Height | Builtin::Depth)
                | POp::Const(_)
                | POp::Param(_) => Keyed::Free,
                POp::Sample(_) | POp::Builtin(_) | POp::Reduce(..) | POp::Plane(_) => Keyed::No,
                op => Plan::operands(op)
                    .into_iter()
                    .try_fold(Keyed::Free, |acc, o| match (acc, out[o]) {
                        (Keyed::No, _) | (_, Keyed::No) => None,
                        (Keyed::Free, k) | (k, Keyed::Free) => Some(k),
                        (Keyed::By(a), Keyed::By(b)) if a == b => Some(Keyed::By(a)),
                        _ => None,
                    })
                    .unwrap_or(Keyed::No),
            };
            out.push(k);
        }
        out
    }

    /// Per node: whether it is a *key*: an input sample, or a sum, difference, absolute value,
    /// minimum or maximum of keys and whole numbers. On integer data a key is an integer whose
    /// range follows from the data's ([`Plan::key_range`]), and never -0 (no negation or
    /// product makes one), so a table indexed by its value gives exactly what computing from it
    /// gives.
    pub fn keys(&self) -> Vec<bool> {
        // Per node: (an integer expression, reads a sample).
        let mut int: Vec<(bool, bool)> = Vec::with_capacity(self.nodes.len());
        for node in &self.nodes {
            let both = |a: P, b: P| (int[a].0 && int[b].0, int[a].1 || int[b].1);
            int.push(match &node.op {
                POp::Sample(_) => (true, true),
                POp::Const(v) => (v.fract() == 0.0 && v.abs() < 2_147_483_648.0, false),
                POp::Bin(BinOp::Add | BinOp::Sub, a, b) => both(*a, *b),
                POp::Call(Func::Abs, args) => int[args[0]],
                POp::Call(Func::Min2 | Func::Max2, args) => both(args[0], args[1]),
                _ => (false, false),
            });
        }
        int.into_iter().map(|(i, s)| i && s).collect()
    }

    /// The inputs the keys `keys` read, in order.
    pub fn key_inputs(&self, keys: &[P]) -> Vec<usize> {
        let mut marked = vec![false; self.nodes.len()];
        keys.iter().for_each(|&k| marked[k] = true);
        let mut inputs = Vec::new();
        for p in (0..self.nodes.len()).rev() {
            if !marked[p] {
                continue;
            }
            match self.nodes[p].op {
                POp::Sample(s) => inputs.push(s.input),
                ref op => Plan::operands(op)
                    .into_iter()
                    .for_each(|o| marked[o] = true),
            }
        }
        inputs.sort_unstable();
        inputs.dedup();
        inputs
    }

    /// The least and greatest value key `k` takes when each input `i`'s values are integers in
    /// `spans[i]` (`None`: not integers, or not known); `None` if some input it reads has none.
    pub fn key_range(&self, k: P, spans: &[Option<(i64, i64)>]) -> Option<(i64, i64)> {
        let mut r: Vec<Option<(i64, i64)>> = Vec::with_capacity(k + 1);
        for node in &self.nodes[..=k] {
            let get = |q: P| r[q];
            let v = match &node.op {
                POp::Sample(s) => spans[s.input],
                POp::Const(c) if c.fract() == 0.0 && c.abs() < 2_147_483_648.0 => {
                    Some((*c as i64, *c as i64))
                }
                // Checked: a long sum of wide spans gives up rather than wrap.
                POp::Bin(BinOp::Add, a, b) => {
                    (get(*a)).zip(get(*b)).and_then(|((a0, a1), (b0, b1))| {
                        Some((a0.checked_add(b0)?, a1.checked_add(b1)?))
                    })
                }
                POp::Bin(BinOp::Sub, a, b) => {
                    (get(*a)).zip(get(*b)).and_then(|((a0, a1), (b0, b1))| {
                        Some((a0.checked_sub(b1)?, a1.checked_sub(b0)?))
                    })
                }
                POp::Call(Func::Abs, args) => get(args[0]).map(|(a0, a1)| {
                    if a0 >= 0 {
                        (a0, a1)
                    } else if a1 <= 0 {
                        (-a1, -a0)
                    } else {
                        (0, a1.max(-a0))
                    }
                }),
                POp::Call(Func::Min2, args) => (get(args[0]))
                    .zip(get(args[1]))
                    .map(|((a0, a1), (b0, b1))| (a0.min(b0), a1.min(b1))),
                POp::Call(Func::Max2, args) => (get(args[0]))
                    .zip(get(args[1]))
                    .map(|((a0, a1), (b0, b1))| (a0.max(b0), a1.max(b1))),
                _ => None,
            };
            r.push(v);
        }
        r[k]
    }

    /// The same plan with every `exp(a ± b …)` whose terms are element-only or keyed split into
    /// `exp(element terms) · exp(keyed terms)`, so that both factors can be tabulated. The
    /// product differs from the direct `exp` by a few ulps while both factors are normal
    /// numbers, or while both are 0 or normal and at most 1 (a subnormal product is then
    /// within one subnormal step, as the direct `exp` is; a subnormal factor is not accepted,
    /// being rounded already); the row function that uses it checks its tables for this and is
    /// not used otherwise.
    pub fn split_exps(&self) -> Plan {
        let elem = self.element_only();
        let keys = self.keyed();
        let mut b = Builder {
            nodes: Vec::new(),
            interned: HashMap::new(),
        };
        let mut map: Vec<P> = Vec::with_capacity(self.nodes.len());
        let mut factors = Vec::new();
        for node in &self.nodes {
            let m = |q: P| map[q];
            let p = match &node.op {
                POp::Call(Func::Exp, args) if factors.len() < 2 * MAX_SPLITS => {
                    // The additive terms of the argument, with their signs.
                    let terms = self.terms(args[0]);
                    let is_elem = |q: P| elem[q];
                    // The other terms must share one key, so that both factors are tabulated
                    // (and checked).
                    let key = (terms.iter().filter(|(q, _)| !is_elem(*q))).try_fold(
                        None,
                        |k, &(q, _)| match (k, keys[q]) {
                            (None, Keyed::By(a)) => Some(Some(a)),
                            (Some(a), Keyed::By(b)) if a == b => Some(Some(a)),
                            _ => None,
                        },
                    );
                    let split = terms
                        .iter()
                        .any(|&(q, _)| is_elem(q) && self.nodes[q].vector)
                        && matches!(key, Some(Some(_)));
                    if split {
                        let factor = |take: &dyn Fn(P) -> bool, b: &mut Builder| {
                            let mut sum: Option<P> = None;
                            for &(q, neg) in terms.iter().filter(|(q, _)| take(*q)) {
                                sum = Some(match (sum, neg) {
                                    (None, false) => map[q],
                                    (None, true) => b.add(POp::Un(UnOp::Neg, map[q])),
                                    (Some(s), false) => b.bin(BinOp::Add, s, map[q]),
                                    (Some(s), true) => b.bin(BinOp::Sub, s, map[q]),
                                });
                            }
                            let sum = sum.expect("both parts have terms");
                            b.add(POp::Call(Func::Exp, vec![sum]))
                        };
                        let e = factor(&|q| is_elem(q), &mut b);
                        let k = factor(&|q| !is_elem(q), &mut b);
                        factors.extend([e, k]);
                        b.bin(BinOp::Mul, e, k)
                    } else {
                        b.add(POp::Call(Func::Exp, vec![m(args[0])]))
                    }
                }
                op => b.add(remap(op, &m)),
            };
            map.push(p);
        }
        let stages = (self.stages.iter())
            .map(|s| s.iter().map(|&p| map[p]).collect())
            .collect();
        Plan {
            nodes: b.nodes,
            roots: self.roots.iter().map(|&r| map[r]).collect(),
            stages,
            split: factors,
        }
    }

    /// The additive terms of node `p` (through `+`, `-` and negation), left to right, each
    /// with whether it is subtracted. Iterative: a sum chained through many `let`s is as deep
    /// as the plan, and this runs outside the code generator's sized stack.
    fn terms(&self, p: P) -> Vec<(P, bool)> {
        let (mut out, mut todo) = (Vec::new(), vec![(p, false)]);
        while let Some((p, neg)) = todo.pop() {
            match self.nodes[p].op {
                POp::Bin(BinOp::Add, a, b) => todo.extend([(b, neg), (a, neg)]),
                POp::Bin(BinOp::Sub, a, b) => todo.extend([(b, !neg), (a, neg)]),
                POp::Un(UnOp::Neg, a) => todo.push((a, !neg)),
                _ => out.push((p, neg)),
            }
        }
        out
    }
}

/// `op` with its operands renamed by `m`.
fn remap(op: &POp, m: &dyn Fn(P) -> P) -> POp {
    match op {
        POp::Un(u, a) => POp::Un(*u, m(*a)),
        POp::Bin(o, a, b) => POp::Bin(*o, m(*a), m(*b)),
        POp::Call(f, args) => POp::Call(*f, args.iter().map(|a| m(*a)).collect()),
        POp::Select(c, a, b) => POp::Select(m(*c), m(*a), m(*b)),
        POp::Reduce(acc, a, q) => POp::Reduce(*acc, m(*a), q.map(m)),
        leaf => leaf.clone(),
    }
}

struct Builder {
    nodes: Vec<PNode>,
    interned: HashMap<String, P>,
}

impl Builder {
    fn add(&mut self, op: POp) -> P {
        let key = match &op {
            POp::Const(v) => format!("const {}", v.to_bits()),
            other => format!("{other:?}"),
        };
        if let Some(&p) = self.interned.get(&key) {
            return p;
        }
        let ops = Plan::operands(&op);
        let (vector, stage) = match &op {
            POp::Sample(s) => (s.shape() == Shape::Vector, 0),
            POp::Builtin(b) => (b.shape() == Shape::Vector, 0),
            POp::Reduce(..) => (
                false,
                ops.iter().map(|&o| self.nodes[o].stage).max().unwrap_or(0) + 1,
            ),
            _ => (
                ops.iter().any(|&o| self.nodes[o].vector),
                ops.iter().map(|&o| self.nodes[o].stage).max().unwrap_or(0),
            ),
        };
        self.nodes.push(PNode { op, vector, stage });
        let p = self.nodes.len() - 1;
        self.interned.insert(key, p);
        p
    }

    fn konst(&mut self, v: f64) -> P {
        self.add(POp::Const(v))
    }

    fn bin(&mut self, op: BinOp, a: P, b: P) -> P {
        self.add(POp::Bin(op, a, b))
    }

    fn acc(&mut self, acc: Acc, a: P) -> P {
        self.add(POp::Reduce(acc, a, None))
    }

    /// `v` with NaN elements replaced by `fill`, and the count of non-NaN elements.
    fn without_nan(&mut self, v: P, fill: f64) -> (P, P) {
        let isnan = self.add(POp::Call(Func::IsNan, vec![v]));
        let fill = self.konst(fill);
        let clean = self.add(POp::Select(isnan, fill, v));
        let valid = self.add(POp::Un(UnOp::Not, isnan));
        let count = self.acc(Acc::Count, valid);
        (clean, count)
    }

    /// Variance with a divisor clamped at zero, as numpy: sum((v - mean)^2 masked) / max(count - ddof, 0).
    fn variance(&mut self, v: P, ddof: Option<P>, nan_aware: bool) -> P {
        let (clean, count) = if nan_aware {
            self.without_nan(v, 0.0)
        } else {
            (v, self.add(POp::Builtin(Builtin::N)))
        };
        let sum = self.acc(Acc::Sum, clean);
        let mean = self.bin(BinOp::Div, sum, count);
        let dev = self.bin(BinOp::Sub, v, mean);
        let sq = self.bin(BinOp::Mul, dev, dev);
        let sq = if nan_aware {
            let isnan = self.add(POp::Call(Func::IsNan, vec![v]));
            let zero = self.konst(0.0);
            self.add(POp::Select(isnan, zero, sq))
        } else {
            sq
        };
        let ss = self.acc(Acc::Sum, sq);
        let ddof = ddof.unwrap_or_else(|| self.konst(0.0));
        let dof = self.bin(BinOp::Sub, count, ddof);
        let zero = self.konst(0.0);
        let dof = self.add(POp::Call(Func::Max2, vec![dof, zero]));
        self.bin(BinOp::Div, ss, dof)
    }

    fn reduction(&mut self, red: Reduction, v: P, extra: Option<P>) -> P {
        let n = self.add(POp::Builtin(Builtin::N));
        match red {
            Reduction::Sum => self.acc(Acc::Sum, v),
            Reduction::Prod => self.acc(Acc::Prod, v),
            Reduction::Min => self.acc(Acc::Min, v),
            Reduction::Max => self.acc(Acc::Max, v),
            Reduction::Count => self.acc(Acc::Count, v),
            Reduction::ArgMin => self.acc(Acc::ArgMin, v),
            Reduction::ArgMax => self.acc(Acc::ArgMax, v),
            Reduction::Mean => {
                let s = self.acc(Acc::Sum, v);
                self.bin(BinOp::Div, s, n)
            }
            Reduction::Any => {
                let c = self.acc(Acc::Count, v);
                let zero = self.konst(0.0);
                self.bin(BinOp::Gt, c, zero)
            }
            Reduction::All => {
                let c = self.acc(Acc::Count, v);
                self.bin(BinOp::Eq, c, n)
            }
            Reduction::Var => self.variance(v, extra, false),
            Reduction::Std => {
                let var = self.variance(v, extra, false);
                self.add(POp::Call(Func::Sqrt, vec![var]))
            }
            Reduction::NanVar => self.variance(v, extra, true),
            Reduction::NanStd => {
                let var = self.variance(v, extra, true);
                self.add(POp::Call(Func::Sqrt, vec![var]))
            }
            Reduction::NanSum => {
                let (clean, _) = self.without_nan(v, 0.0);
                self.acc(Acc::Sum, clean)
            }
            Reduction::NanMean => {
                let (clean, count) = self.without_nan(v, 0.0);
                let s = self.acc(Acc::Sum, clean);
                self.bin(BinOp::Div, s, count)
            }
            Reduction::NanMin | Reduction::NanMax => {
                let (fill, acc) = if red == Reduction::NanMin {
                    (f64::INFINITY, Acc::Min)
                } else {
                    (f64::NEG_INFINITY, Acc::Max)
                };
                let (clean, count) = self.without_nan(v, fill);
                let m = self.acc(acc, clean);
                let zero = self.konst(0.0);
                let empty = self.bin(BinOp::Eq, count, zero);
                let nan = self.konst(f64::NAN);
                self.add(POp::Select(empty, nan, m))
            }
            Reduction::Median => self.add(POp::Reduce(Acc::Sorted(SortKind::Median), v, None)),
            Reduction::NanMedian => {
                self.add(POp::Reduce(Acc::Sorted(SortKind::NanMedian), v, None))
            }
            Reduction::Percentile => {
                self.add(POp::Reduce(Acc::Sorted(SortKind::Percentile), v, extra))
            }
            Reduction::Kth => self.add(POp::Reduce(Acc::Sorted(SortKind::Kth), v, extra)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::compile_program;
    use crate::limits::Limits;

    #[test]
    fn keys_and_their_ranges() {
        let src = "sum(exp(abs(w[0] - c[0]) + max(w[1], 3) - 2) + (w[0] - c[0]) * 2 + w[0] / 2)";
        let plan = Plan::new(&compile_program(src, &[], &Limits::default()).unwrap());
        let keys = plan.keys();
        let find = |f: &dyn Fn(&POp) -> bool| {
            (0..plan.nodes.len())
                .find(|&p| f(&plan.nodes[p].op))
                .unwrap()
        };
        let exp = find(&|op| matches!(op, POp::Call(Func::Exp, _)));
        let POp::Call(_, args) = &plan.nodes[exp].op else {
            unreachable!()
        };
        let key = args[0];
        assert!(keys[key], "abs(..) + max(..) - 2 is a key");
        assert_eq!(plan.keyed()[exp], Keyed::By(key));
        // Products and halves are not keys (a product can be -0, a half is not whole).
        let times = find(&|op| matches!(op, POp::Bin(BinOp::Mul, ..)));
        let half = find(&|op| matches!(op, POp::Bin(BinOp::Div, ..)));
        assert!(!keys[times] && !keys[half]);
        // Planes: 0 `w` (unread), 1 `w[0]`, 2 `w[1]`.
        let spans = [None, Some((10, 20)), Some((-5, 7))];
        // abs(w0 - c0) in 0..=10, max(w1, 3) in 3..=7, less 2.
        assert_eq!(plan.key_range(key, &spans), Some((1, 15)));
        assert_eq!(plan.key_inputs(&[key]), [1, 2]);
        assert_eq!(plan.key_range(key, &[None, Some((10, 20)), None]), None);
    }

    #[test]
    fn variance_takes_two_passes_and_shares_the_sum() {
        let plan = Plan::new(
            &compile_program(
                "let m = mean(w); (c - m) / (std(w) + 1e-9)",
                &[],
                &Limits::default(),
            )
            .unwrap(),
        );
        assert_eq!(plan.stages.len(), 2);
        assert_eq!(plan.stages[0].len(), 1, "mean and std share one sum");
        assert_eq!(plan.stages[1].len(), 1);
    }

    #[test]
    fn a_long_sum_splits_without_recursion() {
        // 5000 terms chained through lets: deeper than a 64 KiB stack allows recursively.
        let mut src = String::from("let a0 = -dx*dx;");
        for i in 1..5000 {
            src.push_str(&format!(" let a{i} = a{} - dy * {i};", i - 1));
        }
        src.push_str(" sum(exp(a4999 - (w - c)^2))");
        let limits = Limits {
            max_source_bytes: 1 << 20,
            max_statements: 6000,
            max_nodes: 40_000,
            ..Limits::default()
        };
        let plan = Plan::new(&compile_program(&src, &[], &limits).unwrap());
        let split = std::thread::Builder::new()
            .stack_size(64 << 10)
            .spawn(move || plan.split_exps().split.len())
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(split, 2);
    }

    #[test]
    fn no_split_without_a_common_key() {
        let plan = |src: &str| Plan::new(&compile_program(src, &[], &Limits::default()).unwrap());
        // w and w - c are different keys; c * x is not keyed at all.
        for src in ["sum(exp(dx - w - (w - c)))", "sum(exp(dx - c * x))"] {
            assert!(plan(src).split_exps().split.is_empty(), "{src}");
        }
    }

    #[test]
    fn independent_reductions_fuse_into_one_pass() {
        let src = "let g = exp(-(dx^2+dy^2)/242 - (w-c)^2/1800); sum(g*w)/sum(g)";
        let plan = Plan::new(&compile_program(src, &[], &Limits::default()).unwrap());
        assert_eq!(plan.stages.len(), 1);
        assert_eq!(plan.stages[0].len(), 2);
    }
}
