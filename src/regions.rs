//! `over` regions: a checked program whose reductions use several footprints becomes stages of
//! one footprint each, so that everything after the checker (planner, code generator, window
//! loop, interpreter) sees programs of a single footprint ([`Program::footprint`]).
//!
//! A reduction over another footprint than the result's is computed by a stage of that
//! footprint, and read back at the output position (`at(stage)`): a reduction is one value per
//! pixel, so reading it there is exact at the array's edges too, whatever the boundary mode.
//! The reductions of the result's footprint (that of the last one) stay in the result; every
//! other, and all it needs, is a stage of its own.

use crate::footprint::Footprint;
use crate::ir::{At, Node, NodeId, Op, Plane, Program, Sample, Shape, Stage};

/// Which footprint a reduction runs over: 0 the command's (`-f`), `i` the `i`-th of the
/// checker's table (`over` footprints, 1-based).
pub type Over = usize;

/// Splits `program` by footprint (`footprints[i - 1]` is footprint `i`): the stages to run
/// before it, named apart from `taken`, and the program of the last reduction's footprint.
pub fn split(
    mut program: Program,
    footprints: &[Footprint],
    taken: &[String],
) -> (Vec<Stage>, Program) {
    let reductions: Vec<NodeId> = program.reductions().collect();
    let fp_of = |p: &Program, id: NodeId| match p.nodes[id].op {
        Op::Reduce(.., over) => over,
        _ => unreachable!("a reduction"),
    };
    let footprint = |over: Over| (over > 0).then(|| footprints[over - 1].clone());
    let Some(&last) = reductions.last() else {
        return (Vec::new(), program);
    };
    let main_fp = fp_of(&program, last);
    if reductions.iter().all(|&r| fp_of(&program, r) == main_fp) {
        clear_overs(&mut program);
        program.footprint = footprint(main_fp);
        return (Vec::new(), program);
    }

    // The reductions each node reaches without passing through another reduction.
    let mut reach: Vec<Vec<NodeId>> = vec![Vec::new(); program.nodes.len()];
    for (id, node) in program.nodes.iter().enumerate() {
        let mut set: Vec<NodeId> = Vec::new();
        for o in node.op.operands() {
            let from: &[NodeId] = if matches!(program.nodes[o].op, Op::Reduce(..)) {
                std::slice::from_ref(&o)
            } else {
                &reach[o]
            };
            for &r in from {
                if !set.contains(&r) {
                    set.push(r);
                }
            }
        }
        reach[id] = set;
    }
    // Lifted into stages: every reduction of another footprint than the result's, and all they
    // need. Needs have smaller ids, so one pass down the ids closes the set.
    let mut lifted = vec![false; program.nodes.len()];
    for &r in reductions.iter().rev() {
        if fp_of(&program, r) != main_fp {
            lifted[r] = true;
        }
        if lifted[r] {
            for &d in &reach[r] {
                lifted[d] = true;
            }
        }
    }
    // One stage per lifted reduction, in order (what one needs comes before it). One result
    // each, so that a program that never indexes channels still runs per channel.
    let mut names: Vec<String> = taken.to_vec();
    let mut stage_of: Vec<Option<usize>> = vec![None; program.nodes.len()];
    let mut stages: Vec<Stage> = Vec::new();
    for &r in reductions.iter().filter(|&&r| lifted[r]) {
        let over = fp_of(&program, r);
        // Never a name of the language (`n` lifted alone would be): later statements must not
        // read the stage where they mean the built-in.
        let base = match footprint(over) {
            Some(f) => format!("{} over {f}", program.text(r)),
            None => format!("{} over -f", program.text(r)),
        };
        let name = (1..)
            .map(|n| match n {
                1 => base.clone(),
                n => format!("{base} #{n}"),
            })
            .find(|n| !names.contains(n))
            .expect("a free name");
        names.push(name.clone());
        let mut part = extract(&program, &[r], &stages, &stage_of, |id| id == r);
        part.footprint = footprint(over);
        stage_of[r] = Some(stages.len());
        stages.push(Stage {
            span: program.nodes[r].span,
            name,
            program: part,
        });
    }
    let mut main = extract(&program, &program.roots, &stages, &stage_of, |r| !lifted[r]);
    main.footprint = footprint(main_fp);
    (stages, main)
}

/// The part of `program` that computes `roots`, where the reductions `inside` accepts are its
/// own and every other is read from its stage at the output position.
fn extract(
    program: &Program,
    roots: &[NodeId],
    stages: &[Stage],
    stage_of: &[Option<usize>],
    inside: impl Fn(NodeId) -> bool,
) -> Program {
    let mut inputs = program.inputs.clone();
    let mut nodes: Vec<Node> = Vec::new();
    let mut map: Vec<Option<NodeId>> = vec![None; program.nodes.len()];
    let mut needed = vec![false; program.nodes.len()];
    for &r in roots {
        needed[r] = true;
    }
    for id in (0..program.nodes.len()).rev() {
        let node = &program.nodes[id];
        let own = inside(id) || !matches!(node.op, Op::Reduce(..));
        if needed[id] && own {
            for o in node.op.operands() {
                needed[o] = true;
            }
        }
    }
    for (id, node) in program.nodes.iter().enumerate() {
        if !needed[id] {
            continue;
        }
        let op = match &node.op {
            Op::Reduce(..) if !inside(id) => {
                let stage = &stages[stage_of[id].expect("a reduction outside is in a stage")];
                let plane = Plane {
                    name: stage.name.clone(),
                    channel: None,
                    span: node.span,
                };
                let input = match (inputs.iter())
                    .position(|p| p.name == plane.name && p.channel.is_none())
                {
                    Some(i) => i,
                    None => {
                        inputs.push(plane);
                        inputs.len() - 1
                    }
                };
                Op::Sample(Sample {
                    input,
                    at: At::Center,
                })
            }
            op => {
                let m = |o: NodeId| map[o].expect("operands come first");
                match op {
                    Op::Unary(u, a) => Op::Unary(*u, m(*a)),
                    Op::Binary(b, x, y) => Op::Binary(*b, m(*x), m(*y)),
                    Op::Call(f, args) => Op::Call(*f, args.iter().map(|a| m(*a)).collect()),
                    Op::Reduce(r, a, e, _) => Op::Reduce(*r, m(*a), e.map(m), 0),
                    Op::Select(c, x, y) => Op::Select(m(*c), m(*x), m(*y)),
                    leaf => leaf.clone(),
                }
            }
        };
        let shape = match op {
            Op::Sample(_) if matches!(node.op, Op::Reduce(..)) => Shape::Scalar,
            _ => node.shape,
        };
        map[id] = Some(nodes.len());
        nodes.push(Node {
            op,
            shape,
            span: node.span,
        });
    }
    Program {
        source: program.source.clone(),
        nodes,
        roots: roots
            .iter()
            .map(|&r| map[r].expect("roots are kept"))
            .collect(),
        params: program.params.clone(),
        inputs,
        stages: Vec::new(),
        footprint: None,
    }
}

/// Marks every reduction of `program` as over the program's own footprint.
fn clear_overs(program: &mut Program) {
    for node in &mut program.nodes {
        if let Op::Reduce(.., over) = &mut node.op {
            *over = 0;
        }
    }
}
