//! The algebraic planner decides which reductions become planes. Reductions of a *point map* of
//! the window — `sum`, `mean`, `count`, `var`, `std`, `min`, `max`, medians and percentiles of
//! `f(w)` where `f` uses only `w`, numbers and params — and absolute deviations from a center
//! known before the window is read are computed for a whole stripe at once by [`crate::planes`];
//! the rest of the program reads them per pixel as planes. So are long sums of values at fixed
//! offsets (`linear` forms, e.g. the 1-D correlations `jitfilter.ndimage` writes in scipy's
//! order of additions). This module only decides: which reductions, of which point maps, in
//! which order.

use crate::ir::{At, BinOp, Builtin, Func, Node, NodeId, Op, Program, Reduction, Sample, Shape};
use crate::order::Rank;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    Sum,
    Mean,
    Count,
    Var(f64),
    Std(f64),
    Max,
    Min,
    Rank(Rank),
    /// `sum`/`mean` of `|f(w) − s|` for a per-pixel `s` computed before (a plane, or `c`).
    AbsDev {
        center: Center,
        mean: bool,
    },
    /// `sum`/`mean` of `f(w)` times weights of the footprint alone (`k`, `dx`, `dy`, `dz`, `i`,
    /// numbers and params): the product of the vectors of `Planner::weights[weights]`.
    Weighted {
        weights: usize,
        mean: bool,
    },
    /// A sum of input values at fixed offsets, `Planner::linears[i]`.
    Linear(usize),
}

/// One term of a [`Kind::Linear`] sum: `k · (a ± b)`, or `k · a`, of input values at fixed
/// offsets from the output position (`c`, `at(X, …)`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Term {
    pub(crate) a: Sample,
    /// The pair's second value, and whether it is subtracted.
    pub(crate) b: Option<(Sample, bool)>,
    /// The factor, with the sign of the term's addition in it: `s - v·k` adds `v·(−k)`, the
    /// same number (`k` is 1 for a term without one: `v·1` is `v`).
    pub(crate) k: f64,
}

/// Fewest input values a linear sum reads for the planner to take it: shorter ones run as fast
/// in the row function, which needs no plane (measured on 512² f64, one thread: level at 3 and
/// 5 values, the plane 6% faster at 7).
const LINEAR_MIN_VALUES: usize = 7;

/// How the plane kernels compute a planned reduction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Planned {
    /// Chord prefix sums (boxes in two 1-D passes).
    Sums,
    /// Chord prefix sums of shifted moments.
    Moments,
    /// Running extremes per chord.
    Extremes,
    /// A sliding two-level histogram.
    Histogram,
    /// After its center, one pass over the window.
    Deviation,
    /// A weighted sum: two 1-D passes when the weights are separable, else one per cell.
    Weighted,
    /// A sum of values at fixed offsets, in the program's order.
    Linear,
}

impl Planned {
    pub fn describe(self) -> &'static str {
        match self {
            Planned::Sums => "planned: chord prefix sums (boxes in two 1-D passes)",
            Planned::Moments => {
                "planned: chord prefix sums of shifted moments (boxes in two 1-D passes)"
            }
            Planned::Extremes => "planned: running extremes per chord (doubling)",
            Planned::Histogram => {
                "planned: sliding two-level histogram (values, or ranks for non-integer data)"
            }
            Planned::Deviation => {
                "planned: after its center, one pass over the window, 24 pixels at a time"
            }
            Planned::Weighted => {
                "planned: weighted sum (two 1-D passes when the weights are separable)"
            }
            Planned::Linear => {
                "planned: a sum of values at fixed offsets, in its order, 16 pixels at a time"
            }
        }
    }
}

/// The per-pixel value an absolute deviation is measured from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Center {
    /// A planned reduction's plane (computed before the item that reads it).
    Plane(usize),
    /// An input plane's value here (`c`, `at(g)`).
    At(usize),
}

/// A point map a planned item reduces.
#[derive(Debug, Clone)]
pub(crate) enum Map {
    /// An input plane's window as it is (`w`, `g`).
    Input(usize),
    /// A node of windows, numbers and params: one of the results of [`Planner::map_program`].
    Program(NodeId),
}

#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub(crate) kind: Kind,
    /// Index into `Planner::maps` (none for a linear sum, which reads the input blocks).
    pub(crate) map: Option<usize>,
}

/// Which reductions are planned, and the point maps they reduce.
#[derive(Debug, Clone, Default)]
pub struct Planner {
    pub(crate) items: Vec<Item>,
    planes: HashMap<NodeId, usize>,
    pub(crate) maps: Vec<Map>,
    /// Per weighted item, a program whose results are the weight vectors to multiply.
    pub(crate) weights: Vec<Program>,
    /// Per linear item, its terms in order.
    pub(crate) linears: Vec<Vec<Term>>,
    /// The point maps of `Map::Program`, in order, as the results of one program: one row
    /// function computes them all (one compile and one pass over the block, not one each).
    map_program: Option<Program>,
}

/// Per node, whether it depends only on input windows, numbers and params (one pass in
/// topological order).
fn point_maps(p: &Program) -> Vec<bool> {
    let mut point = Vec::with_capacity(p.nodes.len());
    for node in &p.nodes {
        let is = match &node.op {
            Op::Sample(Sample { at: At::Window, .. }) | Op::Const(_) | Op::Param(_) => true,
            Op::Sample(_) | Op::Builtin(_) | Op::Reduce(..) => false,
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
        let weight = weight_maps(program);
        for (id, node) in program.nodes.iter().enumerate() {
            let Op::Reduce(red, arg, extra, _) = node.op else {
                continue;
            };
            let ddof = match extra.map(|e| &program.nodes[e].op) {
                None => 0.0,
                Some(Op::Const(d)) => *d,
                Some(_) => continue,
            };
            let mean = red == Reduction::Mean;
            let weighted = match red {
                Reduction::Sum | Reduction::Mean if !point[arg] => {
                    weighted(program, arg, &point, &weight)
                }
                _ => None,
            };
            let (arg, kind) = match (red, abs_dev(program, arg, &planner.planes, &point)) {
                // mean(abs(w - m)) and the like: not a point map, but a per-pixel center
                // known before the window is read; the item reduces the point map `f`.
                (Reduction::Sum | Reduction::Mean, Some((f, center))) => {
                    (f, Kind::AbsDev { center, mean })
                }
                // sum(k * w), sum(w * dx * (2 - abs(dy))): the weights are known per cell.
                (_, None) if weighted.is_some() => {
                    let (factors, f) = weighted.expect("checked");
                    let mut weights = program.clone();
                    weights.roots = factors;
                    planner.weights.push(weights.pruned());
                    let weights = planner.weights.len() - 1;
                    (f, Kind::Weighted { weights, mean })
                }
                (Reduction::Sum, _) => (arg, Kind::Sum),
                (Reduction::Mean, _) => (arg, Kind::Mean),
                (Reduction::Count, _) => (arg, Kind::Count),
                (Reduction::Var, _) => (arg, Kind::Var(ddof)),
                (Reduction::Std, _) => (arg, Kind::Std(ddof)),
                (Reduction::Max, _) => (arg, Kind::Max),
                (Reduction::Min, _) => (arg, Kind::Min),
                (Reduction::Median, _) => (arg, Kind::Rank(Rank::Median { skip_nan: false })),
                (Reduction::NanMedian, _) => (arg, Kind::Rank(Rank::Median { skip_nan: true })),
                (Reduction::Percentile, _) if extra.is_some() => {
                    (arg, Kind::Rank(Rank::Percentile(ddof)))
                }
                (Reduction::Kth, _) if extra.is_some() => (arg, Kind::Rank(Rank::Kth(ddof))),
                _ => continue,
            };
            if !point[arg] {
                continue;
            }
            let map = *map_index.entry(arg).or_insert_with(|| {
                planner.maps.push(match program.nodes[arg].op {
                    Op::Sample(s) => Map::Input(s.input),
                    _ => Map::Program(arg),
                });
                planner.maps.len() - 1
            });
            planner.planes.insert(id, planner.items.len());
            planner.items.push(Item {
                kind,
                map: Some(map),
            });
        }
        // Linear sums, the largest first: the sums inside one are not planned apart, and the
        // chains a walk went down are not walked again (each would end where that one did).
        let mut seen = vec![false; program.nodes.len()];
        for id in (0..program.nodes.len()).rev() {
            if seen[id] {
                continue;
            }
            let Some(terms) = linear(program, id, &mut seen) else {
                continue;
            };
            let values: usize = (terms.iter()).map(|t| 1 + usize::from(t.b.is_some())).sum();
            if values < LINEAR_MIN_VALUES {
                continue;
            }
            let mut todo = vec![id];
            while let Some(n) = todo.pop() {
                seen[n] = true;
                todo.extend(
                    program.nodes[n]
                        .op
                        .operands()
                        .into_iter()
                        .filter(|&o| !seen[o]),
                );
            }
            planner.planes.insert(id, planner.items.len());
            planner.items.push(Item {
                kind: Kind::Linear(planner.linears.len()),
                map: None,
            });
            planner.linears.push(terms);
        }
        let args: Vec<NodeId> = (planner.maps.iter())
            .filter_map(|m| match m {
                Map::Program(arg) => Some(*arg),
                Map::Input(_) => None,
            })
            .collect();
        planner.map_program = (!args.is_empty()).then(|| map_program(program, &args));
        planner
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Planned IR reduction nodes → plane index.
    pub fn planes(&self) -> &HashMap<NodeId, usize> {
        &self.planes
    }

    /// The program whose results are the point maps that are not an input as it is, in order
    /// (none when there are no such maps).
    pub fn map_program(&self) -> Option<&Program> {
        self.map_program.as_ref()
    }

    /// How reduction (or linear sum) node `id` is computed, if planned.
    pub fn planned(&self, id: NodeId) -> Option<Planned> {
        Some(match self.items[*self.planes.get(&id)?].kind {
            Kind::Sum | Kind::Mean | Kind::Count => Planned::Sums,
            Kind::Var(_) | Kind::Std(_) => Planned::Moments,
            Kind::Max | Kind::Min => Planned::Extremes,
            Kind::Rank(_) => Planned::Histogram,
            Kind::AbsDev { .. } => Planned::Deviation,
            Kind::Weighted { .. } => Planned::Weighted,
            Kind::Linear(_) => Planned::Linear,
        })
    }

    /// One line per reduction and per linear sum: how it is computed.
    pub fn describe(&self, program: &Program) -> Vec<String> {
        let mut linear: Vec<NodeId> = (self.planes.iter())
            .filter(|&(_, &i)| matches!(self.items[i].kind, Kind::Linear(_)))
            .map(|(&id, _)| id)
            .collect();
        linear.sort_unstable();
        (program.reductions().chain(linear))
            .map(|id| {
                let how = match self.planned(id) {
                    Some(p) => p.describe(),
                    None => "fused: one pass over the window per pixel, SIMD across pixels",
                };
                format!("{}  ->  {how}", program.text(id))
            })
            .collect()
    }
}

/// Per node, whether it depends only on the footprint (`k`, `dx`, `dy`, `dz`, `i`, `n`),
/// numbers and params: the same for every pixel.
fn weight_maps(p: &Program) -> Vec<bool> {
    let mut weight = Vec::with_capacity(p.nodes.len());
    for node in &p.nodes {
        let is = match &node.op {
            Op::Builtin(b) => b.is_table() || matches!(b, Builtin::I | Builtin::N),
            Op::Const(_) | Op::Param(_) => true,
            Op::Sample(_) | Op::Reduce(..) => false,
            op => op.operands().iter().all(|&o| weight[o]),
        };
        weight.push(is);
    }
    weight
}

/// A product of weights (the same for every pixel) and one point map `f` (with at least one of
/// each): the weight factors, and `f`.
fn weighted(
    program: &Program,
    arg: NodeId,
    point: &[bool],
    weight: &[bool],
) -> Option<(Vec<NodeId>, NodeId)> {
    fn factors(
        p: &Program,
        id: NodeId,
        point: &[bool],
        weight: &[bool],
        out: &mut (Vec<NodeId>, Option<NodeId>),
    ) -> Option<()> {
        if weight[id] {
            out.0.push(id);
        } else if point[id] && p.nodes[id].shape == Shape::Vector && out.1.is_none() {
            out.1 = Some(id);
        } else if let Op::Binary(BinOp::Mul, a, b) = p.nodes[id].op {
            factors(p, a, point, weight, out)?;
            factors(p, b, point, weight, out)?;
        } else {
            return None;
        }
        Some(())
    }
    let mut out = (Vec::new(), None);
    factors(program, arg, point, weight, &mut out)?;
    let (ws, f) = out;
    (!ws.is_empty()).then_some((ws, f?))
}

/// Node `id` as a sum of terms `k · (a ± b)`, `k · a`, `a ± b` or `a` (values of inputs at
/// fixed offsets, numbers `k`), added or subtracted one after another as `t1 + t2 - t3 …`
/// (the program's order, which the planned sum keeps). Marks in `seen` the chain's nodes it
/// went down: each is a shorter chain of the same end.
fn linear(program: &Program, id: NodeId, seen: &mut [bool]) -> Option<Vec<Term>> {
    let op = |id: NodeId| &program.nodes[id].op;
    let value = |id: NodeId| match *op(id) {
        Op::Sample(s) if s.at != At::Window => Some(s),
        _ => None,
    };
    let number = |id: NodeId| match *op(id) {
        Op::Const(k) => Some(k),
        _ => None,
    };
    let term = |id: NodeId, sign: f64| {
        let (x, k) = match *op(id) {
            Op::Binary(BinOp::Mul, x, k) if number(k).is_some() => (x, number(k)?),
            Op::Binary(BinOp::Mul, k, x) if number(k).is_some() => (x, number(k)?),
            _ => (id, 1.0),
        };
        let (a, b) = match *op(x) {
            Op::Binary(o @ (BinOp::Add | BinOp::Sub), a, b) => {
                (value(a)?, Some((value(b)?, o == BinOp::Sub)))
            }
            _ => (value(x)?, None),
        };
        Some(Term { a, b, k: sign * k })
    };
    let mut terms = Vec::new();
    let mut at = id;
    loop {
        seen[at] = true;
        if let Op::Binary(o @ (BinOp::Add | BinOp::Sub), rest, last) = *op(at) {
            if let Some(t) = term(last, if o == BinOp::Sub { -1.0 } else { 1.0 }) {
                terms.push(t);
                at = rest;
                continue;
            }
        }
        terms.push(term(at, 1.0)?);
        terms.reverse();
        return Some(terms);
    }
}

/// `abs(f - s)` or `abs(s - f)` with `f` a point map and `s` a planned reduction or `c`: the
/// point map and the center.
fn abs_dev(
    program: &Program,
    arg: NodeId,
    planes: &HashMap<NodeId, usize>,
    point: &[bool],
) -> Option<(NodeId, Center)> {
    let Op::Call(Func::Abs, args) = &program.nodes[arg].op else {
        return None;
    };
    let Op::Binary(BinOp::Sub, a, b) = program.nodes[args[0]].op else {
        return None;
    };
    let center = |s: NodeId| match program.nodes[s].op {
        Op::Sample(Sample {
            input,
            at: At::Center,
        }) => Some(Center::At(input)),
        _ => planes.get(&s).map(|&i| Center::Plane(i)),
    };
    let vector = |f: NodeId| point[f] && program.nodes[f].shape == Shape::Vector;
    match (center(a), center(b)) {
        (None, Some(c)) if vector(a) => Some((a, c)),
        (Some(c), None) if vector(b) => Some((b, c)),
        _ => None,
    }
}

/// The program whose results are the point maps `f` of `args`, in order, each of the value
/// here: a point map reads windows only element by element, so with every window read as its
/// element at the output position it computes `f` of one element — a plain per-pixel program,
/// compiled without a loop over cells, which the planner runs over a block as one row.
fn map_program(program: &Program, args: &[NodeId]) -> Program {
    let last = args.iter().copied().max().expect("at least one map");
    let nodes: Vec<Node> = (program.nodes[..=last].iter())
        .map(|node| Node {
            op: match node.op {
                Op::Sample(Sample {
                    input,
                    at: At::Window,
                }) => Op::Sample(Sample {
                    input,
                    at: At::Center,
                }),
                ref op => op.clone(),
            },
            shape: Shape::Scalar,
            span: node.span,
        })
        .collect();
    Program {
        source: program.source.clone(),
        roots: args.to_vec(),
        nodes,
        params: program.params.clone(),
        inputs: program.inputs.clone(),
        stages: Vec::new(),
        footprint: None,
    }
    .pruned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::compile_program;
    use crate::limits::Limits;

    #[test]
    fn plans_point_maps_only() {
        let p = compile_program(
            "let m = mean(w); std(w) + max(w * 2) + mean(abs(w - m)) + sum(x * w) + sum(dx * w)",
            &[],
            &Limits::default(),
        )
        .unwrap();
        let planner = Planner::new(&p);
        // mean, std, max of a point map, mean(abs(w - m)) after m and sum(dx * w) (a weighted
        // sum): planned; sum(x * w) (x varies per pixel): not.
        assert_eq!(planner.items.len(), 5);
        assert_eq!(planner.weights.len(), 1);
        assert_eq!(planner.map_program().map(|p| p.roots.len()), Some(1));
    }

    #[test]
    fn point_maps_compile_as_per_pixel_programs() {
        let p = compile_program(
            "sum(w * 2) + max(g - w) + mean(g^2)",
            &["g"],
            &Limits::default(),
        )
        .unwrap();
        let planner = Planner::new(&p);
        let maps = planner.map_program().expect("three point maps");
        assert_eq!(maps.roots.len(), 3);
        // No window and no reduction left: each input is read as its value here, so the row
        // function has no loop over cells.
        assert!(maps.nodes.iter().all(|n| n.shape == Shape::Scalar));
        assert!((maps.nodes.iter()).all(|n| !matches!(n.op, Op::Reduce(..))));
        let read: Vec<Sample> = (maps.nodes.iter())
            .filter_map(|n| match n.op {
                Op::Sample(s) => Some(s),
                _ => None,
            })
            .collect();
        assert!(read.iter().all(|s| s.at == At::Center));
        // Both inputs, each by its own index.
        let names: Vec<&str> = (read.iter())
            .map(|s| maps.inputs[s.input].name.as_str())
            .collect();
        assert!(names.contains(&"w") && names.contains(&"g"), "{names:?}");
    }

    #[test]
    fn deviations_need_a_center_known_before_the_window() {
        let planned = |src: &str| {
            let p = compile_program(src, &[], &Limits::default()).unwrap();
            Planner::new(&p)
                .items
                .iter()
                .filter(|it| matches!(it.kind, Kind::AbsDev { .. }))
                .count()
        };
        assert_eq!(planned("sum(abs(w - c))"), 1);
        assert_eq!(planned("let m = median(w); mean(abs(m - w * 2))"), 1);
        // The center is not known before the window: a pixel-dependent mix, or unplanned.
        assert_eq!(planned("sum(abs(w - c * x))"), 0);
        assert_eq!(planned("let m = sum(x * w); mean(abs(w - m))"), 0);
        assert_eq!(planned("mean(abs(w - dx))"), 0);
    }
}
