//! Which values a row function reads from tables it fills once per stripe, instead of
//! computing them per pixel: decided here because it weighs what the generated code costs
//! (helper calls and the inline `exp`, see [`inlined`]) against a table read.

use super::inlined;
use crate::ir::{BinOp, Func};
use crate::plan::{Keyed, POp, Plan, P};

/// At most this many tables of each kind: element tables cost `n` values each per thread
/// (8 MiB at the largest footprint), and filling keyed tables costs up to 8191 values each per
/// stripe. What is not tabulated is computed per pixel as before.
const MAX_TABLES: usize = 16;
/// Values a row function reads from tables it fills once per stripe instead of computing them
/// per pixel (see [`Plan::tables`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tables {
    /// Element-only vectors (of `dx`, `k`, `i`, numbers, params): one value per window element.
    pub element: Vec<P>,
    /// Keyed vectors worth a lookup, with their key: one value per key value.
    pub keyed: Vec<(P, P)>,
}

/// The values worth tabulating: the outermost element-only vectors that pixel-dependent
/// values use (computed once per window element instead of once per pixel), and, if
/// `keyed`, the outermost keyed vectors whose computation is costlier than a lookup
/// (a libm call or an inline `exp`, a power or a modulo).
pub fn tables(plan: &Plan, keyed: bool) -> Tables {
    let elem = plan.element_only();
    let keys = plan.keyed();
    let mut costly = vec![false; plan.nodes.len()];
    for (p, node) in plan.nodes.iter().enumerate() {
        let own = match &node.op {
            // A helper call, or the inline `exp`'s polynomial.
            POp::Call(f, _) => *f == Func::Exp || !inlined(*f),
            POp::Bin(BinOp::Pow, _, e) => plan.nodes[*e].op != POp::Const(2.0),
            POp::Bin(BinOp::Mod, _, _) => true,
            _ => false,
        };
        costly[p] = own
            || Plan::operands(&node.op)
                .into_iter()
                .any(|o| costly[o] && keys[o] == keys[p]);
    }
    // A node is on the frontier of a class when some user is outside it.
    let mut elem_frontier = vec![false; plan.nodes.len()];
    let mut key_frontier = vec![false; plan.nodes.len()];
    // Only what the result needs (a split leaves the unsplit argument unused).
    let mut live = vec![false; plan.nodes.len()];
    for &r in &plan.roots {
        live[r] = true;
    }
    for p in (0..plan.nodes.len()).rev() {
        if live[p] {
            Plan::operands(&plan.nodes[p].op)
                .into_iter()
                .for_each(|o| live[o] = true);
        }
    }
    for (u, node) in plan.nodes.iter().enumerate().filter(|(u, _)| live[*u]) {
        for o in Plan::operands(&node.op) {
            elem_frontier[o] |= !elem[u];
            key_frontier[o] |= keys[u] != keys[o];
        }
    }
    let mut t = Tables::default();
    // Split factors first: they must be tabulated (and checked).
    let order = (plan.split.iter().copied())
        .chain((0..plan.nodes.len()).filter(|p| !plan.split.contains(p)));
    for p in order.filter(|&p| live[p]) {
        let node = &plan.nodes[p];
        let leaf = matches!(
            node.op,
            POp::Sample(_) | POp::Builtin(_) | POp::Const(_) | POp::Param(_)
        );
        if node.vector && !leaf && elem[p] && elem_frontier[p] && t.element.len() < MAX_TABLES {
            t.element.push(p);
        }
        if let Keyed::By(k) = keys[p] {
            if keyed
                && node.vector
                && p != k
                && costly[p]
                && key_frontier[p]
                && t.keyed.len() < MAX_TABLES
            {
                t.keyed.push((p, k));
            }
        }
    }
    t.element.sort_unstable();
    t.keyed.sort_unstable();
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::compile_program;
    use crate::limits::Limits;

    #[test]
    fn bilateral_weights_split_into_tabulated_factors() {
        let src = "let g = exp(-(dx^2+dy^2)/242 - (w-c)^2/1800); sum(g*w)/sum(g)";
        let plan = Plan::new(&compile_program(src, &[], &Limits::default()).unwrap());
        // Without the split: the spatial term is an element table, nothing is keyed.
        let t = tables(&plan, true);
        assert_eq!((t.element.len(), t.keyed.len()), (1, 0));
        let split = plan.split_exps();
        assert_eq!(split.split.len(), 2);
        let t = tables(&split, true);
        assert_eq!(t.element, vec![split.split[0]]);
        assert_eq!(t.keyed.len(), 1);
        assert_eq!(t.keyed[0].0, split.split[1]);
        let key = &split.nodes[t.keyed[0].1].op;
        assert!(
            matches!(key, POp::Bin(BinOp::Sub, ..)),
            "keyed by w - c: {key:?}"
        );
        // Keyed tables only when asked for.
        assert!(tables(&split, false).keyed.is_empty());
    }

    #[test]
    fn tables_are_bounded() {
        let many: Vec<String> = (0..40).map(|i| format!("sum(exp(dx * {i}) * w)")).collect();
        let plan = Plan::new(&compile_program(&many.join(" + "), &[], &Limits::default()).unwrap());
        assert_eq!(tables(&plan, true).element.len(), MAX_TABLES);
    }
}
