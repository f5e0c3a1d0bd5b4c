//! Stage fusion: consecutive stages of one footprint that read each other only at the output
//! position (`at(a)`) run as one pass, which makes all their results at once — their inputs
//! read into blocks once, and reductions they share (a guided filter's `mean(w)` and `mean(g)`
//! in both of its stages) computed once. A reduction's value depends only on its own input and
//! footprint (never on what else a pass computes, see [`crate::planes`]), so a fused pass gives
//! the same bits as its stages one after another: fusing is a matter of speed alone.

use crate::ir::{At, Node, NodeId, Op, ParamDecl, Plane, Program, Sample, Stage};
use std::collections::HashMap;
use std::ops::Range;

/// The runs of stages that fuse: consecutive, of one footprint and the same `at()` offsets (so
/// that a fused pass reads the same blocks as each stage alone, and every value comes out the
/// same), each reading the ones before it in the run at most at the output position and
/// outside its reductions (a stage's value inside a reduction would change how that is
/// planned). Runs of one stage are left out.
pub fn groups(stages: &[Stage]) -> Vec<Range<usize>> {
    let points = |p: &Program| {
        let mut v = p.points();
        v.sort_unstable();
        v
    };
    let mut out = Vec::new();
    let mut start = 0;
    for j in 1..=stages.len() {
        let joins = j < stages.len() && {
            let (run, next) = (&stages[start..j], &stages[j].program);
            let inside = inside_reductions(next);
            next.footprint == run[0].program.footprint
                && next.source == run[0].program.source
                && points(next) == points(&run[0].program)
                && (next.nodes.iter().enumerate()).all(|(id, n)| match n.op {
                    Op::Sample(s) => {
                        let read = &next.inputs[s.input].name;
                        let of_run = run.iter().any(|st| &st.name == read);
                        !of_run || (s.at == At::Center && !inside[id])
                    }
                    _ => true,
                })
        };
        if !joins {
            if j - start > 1 {
                out.push(start..j);
            }
            start = j;
        }
    }
    out
}

/// Per node of `p`, whether it is part of a reduction's argument.
fn inside_reductions(p: &Program) -> Vec<bool> {
    let mut inside = vec![false; p.nodes.len()];
    for id in (0..p.nodes.len()).rev() {
        let args: Vec<NodeId> = match &p.nodes[id].op {
            Op::Reduce(..) => p.nodes[id].op.operands(),
            op if inside[id] => op.operands(),
            _ => continue,
        };
        for a in args {
            inside[a] = true;
        }
    }
    inside
}

/// One program computing the results of all of `stages` (a run [`groups`] gives), in order,
/// and per stage the range of its results among the program's — if the stages share
/// reductions. Fused stages save a pass but their results, read from one array holding them
/// all, cost more to read; only shared reductions pay for that (Harris's two gradients, which
/// share none, ran 10% slower fused).
pub fn fuse(stages: &[Stage]) -> Option<(Program, Vec<Range<usize>>)> {
    let first = &stages[0].program;
    let mut fused = Program {
        source: first.source.clone(),
        nodes: Vec::new(),
        roots: Vec::new(),
        params: Vec::new(),
        // `w` first, always; the others as nodes read them.
        inputs: vec![first.inputs[0].clone()],
        stages: Vec::new(),
        footprint: first.footprint.clone(),
    };
    // Nodes by what they compute (operation and shape), so that a value two stages both
    // compute is one node.
    let mut known: HashMap<String, NodeId> = HashMap::new();
    let mut ranges: Vec<Range<usize>> = Vec::new();
    for (i, stage) in stages.iter().enumerate() {
        let p = &stage.program;
        let mut map: Vec<NodeId> = Vec::with_capacity(p.nodes.len());
        for node in &p.nodes {
            let m = |o: &NodeId| map[*o];
            let op = match &node.op {
                Op::Sample(s) => {
                    let plane = &p.inputs[s.input];
                    // An earlier stage of the run, read here: its result itself.
                    if let Some(k) = stages[..i].iter().position(|st| st.name == plane.name) {
                        debug_assert_eq!(s.at, At::Center, "groups() fuses only such reads");
                        let at = ranges[k].start + plane.channel.unwrap_or(0);
                        map.push(fused.roots[at]);
                        continue;
                    }
                    Op::Sample(Sample {
                        input: input_of(&mut fused.inputs, plane),
                        at: s.at,
                    })
                }
                Op::Param(j) => Op::Param(param_of(&mut fused.params, &p.params[*j])),
                Op::Unary(u, a) => Op::Unary(*u, m(a)),
                Op::Binary(b, x, y) => Op::Binary(*b, m(x), m(y)),
                Op::Call(f, args) => Op::Call(*f, args.iter().map(m).collect()),
                Op::Reduce(r, a, e, over) => Op::Reduce(*r, m(a), e.as_ref().map(m), *over),
                Op::Select(c, x, y) => Op::Select(m(c), m(x), m(y)),
                leaf @ (Op::Const(_) | Op::Builtin(_)) => leaf.clone(),
            };
            // Constants by their bits (every NaN prints alike).
            let key = match &op {
                Op::Const(v) => format!("const {:x} {:?}", v.to_bits(), node.shape),
                op => format!("{op:?} {:?}", node.shape),
            };
            let id = *known.entry(key).or_insert_with(|| {
                fused.nodes.push(Node {
                    op,
                    shape: node.shape,
                    span: node.span,
                });
                fused.nodes.len() - 1
            });
            map.push(id);
        }
        let start = fused.roots.len();
        fused.roots.extend(p.roots.iter().map(|&r| map[r]));
        ranges.push(start..fused.roots.len());
    }
    let apart: usize = (stages.iter())
        .map(|s| s.program.reductions().count())
        .sum();
    (fused.reductions().count() < apart).then_some((fused, ranges))
}

/// The index of `plane` (by name and channel) among `inputs`, added if new.
fn input_of(inputs: &mut Vec<Plane>, plane: &Plane) -> usize {
    let same = |q: &Plane| q.name == plane.name && q.channel == plane.channel;
    inputs.iter().position(same).unwrap_or_else(|| {
        inputs.push(plane.clone());
        inputs.len() - 1
    })
}

/// The index of param `decl` (by name) among `params`, added if new.
fn param_of(params: &mut Vec<ParamDecl>, decl: &ParamDecl) -> usize {
    params
        .iter()
        .position(|q| q.name == decl.name)
        .unwrap_or_else(|| {
            params.push(decl.clone());
            params.len() - 1
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::compile_program;
    use crate::limits::Limits;

    fn program(src: &str, inputs: &[&str]) -> Program {
        compile_program(src, inputs, &Limits::default()).expect("checks")
    }

    #[test]
    fn a_guided_filters_two_stages_fuse_and_share_their_means() {
        let p = program(
            "param eps = 100; stage a = ((mean(g*w) - mean(g)*mean(w)) / (var(g) + eps)) over box:9; \
             stage b = (mean(w) - at(a) * mean(g)) over box:9; (mean(a) * at(g) + mean(b)) over box:9",
            &["g"],
        );
        assert_eq!(groups(&p.stages), vec![0..2]);
        let (fused, ranges) = fuse(&p.stages).expect("they share reductions");
        assert_eq!(ranges, vec![0..1, 1..2]);
        let reductions = fused.reductions().count();
        let apart: usize = p
            .stages
            .iter()
            .map(|s| s.program.reductions().count())
            .sum();
        assert_eq!((reductions, apart), (4, 6), "mean(w) and mean(g) once each");
        assert!(
            fused.inputs.iter().all(|i| i.name != "a"),
            "`at(a)` is a's value"
        );
        assert_eq!(fused.params.len(), 1);
    }

    #[test]
    fn stages_read_in_their_window_or_at_an_offset_or_of_another_footprint_stay_apart() {
        for src in [
            "stage e = min(w); stage o = max(e); c - at(o)",
            "stage e = min(w); stage o = at(e, 1, 0); c - at(o)",
            "stage e = min(w) over box:3; stage o = at(e) + max(w) over box:5; c - at(o)",
            // At other offsets (wider blocks would change a variance's bits).
            "stage e = var(w); stage o = at(e) + var(w) + at(w, 3, 0); c - at(o)",
            // Inside a reduction (its planning would change).
            "stage e = 2 * mean(w); stage o = mean(w * at(e)); c - at(o)",
        ] {
            assert!(groups(&program(src, &[]).stages).is_empty(), "{src}");
        }
        // Harris's gradients read only `w`: they could fuse, but share no reduction.
        let p = program(
            "stage gx = sum(w * dx) over box:3; stage gy = sum(w * dy) over box:3; \
             sum(gx * gy) over box:5",
            &[],
        );
        assert_eq!(groups(&p.stages), vec![0..2]);
        assert!(fuse(&p.stages).is_none());
    }
}
