//! Checked IR → loop plan. High-level reductions are lowered to a few primitive accumulators
//! (`mean` = sum / n, `var` = two passes, the `nan*` family = masked accumulators…), shared
//! subexpressions stay shared, and every accumulator is assigned to a *stage*: all accumulators
//! of a stage are computed in one fused pass over the window, after the stages they depend on.

use crate::ir::{BinOp, Builtin, Func, Op, Program, Reduction, Shape, UnOp};
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
    Builtin(Builtin),
    Un(UnOp, P),
    Bin(BinOp, P, P),
    Call(Func, Vec<P>),
    Select(P, P, P),
    /// A primitive accumulator of a vector operand, with an optional scalar operand.
    Reduce(Acc, P, Option<P>),
    /// A reduction the planner computes for all pixels beforehand (see `planner.rs`): the
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
    pub root: P,
    /// The reduction nodes of each pass, in order.
    pub stages: Vec<Vec<P>>,
}

impl Plan {
    pub fn operands(op: &POp) -> Vec<P> {
        match op {
            POp::Const(_) | POp::Param(_) | POp::Builtin(_) | POp::Plane(_) => vec![],
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

    /// Lowers a checked program in which the reductions in `planes` (IR node → plane index) are
    /// precomputed per pixel rather than computed from the window.
    pub fn with_planes(program: &Program, planes: &HashMap<usize, usize>) -> Plan {
        let mut b = Builder {
            nodes: Vec::new(),
            interned: HashMap::new(),
        };
        let mut map: Vec<P> = Vec::with_capacity(program.nodes.len());
        for node in &program.nodes {
            let m = |id: usize| map[id];
            let p = match &node.op {
                Op::Const(v) => b.konst(*v),
                Op::Param(i) => b.add(POp::Param(*i)),
                Op::Builtin(bi) => b.add(POp::Builtin(*bi)),
                Op::Unary(op, a) => b.add(POp::Un(*op, m(*a))),
                Op::Binary(op, a, c) => b.add(POp::Bin(*op, m(*a), m(*c))),
                Op::Call(f, args) => b.add(POp::Call(*f, args.iter().map(|a| m(*a)).collect())),
                Op::Select(c, x, y) => b.add(POp::Select(m(*c), m(*x), m(*y))),
                Op::Reduce(..) if planes.contains_key(&map.len()) => {
                    b.add(POp::Plane(planes[&map.len()]))
                }
                Op::Reduce(red, a, extra) => b.reduction(*red, m(*a), extra.map(m)),
            };
            debug_assert_eq!(b.nodes[p].vector, node.shape == Shape::Vector);
            map.push(p);
        }
        let root = map[program.root];
        let nstages = b.nodes.iter().map(|n| n.stage).max().unwrap_or(0);
        let mut stages = vec![Vec::new(); nstages];
        for (p, node) in b.nodes.iter().enumerate() {
            if matches!(node.op, POp::Reduce(..)) {
                stages[node.stage - 1].push(p);
            }
        }
        Plan {
            nodes: b.nodes,
            root,
            stages,
        }
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::compile_program;
    use crate::limits::Limits;

    #[test]
    fn variance_takes_two_passes_and_shares_the_sum() {
        let plan = Plan::new(
            &compile_program(
                "let m = mean(w); (c - m) / (std(w) + 1e-9)",
                &Limits::default(),
            )
            .unwrap(),
        );
        assert_eq!(plan.stages.len(), 2);
        assert_eq!(plan.stages[0].len(), 1, "mean and std share one sum");
        assert_eq!(plan.stages[1].len(), 1);
    }

    #[test]
    fn independent_reductions_fuse_into_one_pass() {
        let src = "let g = exp(-(dx^2+dy^2)/242 - (w-c)^2/1800); sum(g*w)/sum(g)";
        let plan = Plan::new(&compile_program(src, &Limits::default()).unwrap());
        assert_eq!(plan.stages.len(), 1);
        assert_eq!(plan.stages[0].len(), 2);
    }
}
