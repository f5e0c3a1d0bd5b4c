//! Accumulator passes: each stage of the plan becomes one pass over the window computing its
//! reductions. For the callback, a SIMD part handles four elements per iteration in two F64X2
//! lanes with independent accumulators (so `max` or `sum` is not latency-bound), then a scalar
//! tail; for rows the lanes are output pixels. NaN-propagating `min`/`max` use a compare+select
//! and a separate NaN flag fixed up after the pass, which is much cheaper than IEEE `fmax`.
//! Sort-based reductions fill a scratch buffer per pixel and call `jf_sorted`.

use super::{flags, Emitter, Frame, Lanes, F64X2, PTR};
use crate::plan::{Acc, POp, P};
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, InstBuilder, Value};
use cranelift_frontend::Variable;
use std::collections::HashMap;

/// F64X2 vectors handled per SIMD iteration, each with its own accumulators.
const UNROLL: usize = 2;

/// Per-reduction accumulator state of one pass.
struct AccState {
    node: P,
    acc: Acc,
    vec: Vec<Variable>,
    vflag: Vec<Variable>,
    s: Variable,
    sflag: Variable,
    idx: Variable,
    found: Variable,
    /// Sort-based reductions: one buffer per pixel lane.
    scratch: Vec<Value>,
}

impl Emitter<'_, '_> {
    fn acc_init(acc: Acc) -> f64 {
        match acc {
            // -0 is the identity of addition, so sums keep numpy's signed zeros.
            Acc::Sum => -0.0,
            Acc::Count | Acc::Sorted(_) => 0.0,
            Acc::Prod => 1.0,
            Acc::Max | Acc::ArgMax => f64::NEG_INFINITY,
            Acc::Min | Acc::ArgMin => f64::INFINITY,
        }
    }

    /// One pass over the window computing every accumulator of `stage`. For the callback, SIMD
    /// lanes run across window elements (folded at the end); for rows, across output pixels.
    pub(super) fn emit_pass(&mut self, stage: usize) {
        if self.native_sums(stage) {
            return;
        }
        let reds = self.plan.stages[stage].clone();
        let pix = self.pix;
        // SIMD across window elements: the callback's lanes are free, a row's hold its pixels.
        let simd = matches!(self.frame, Frame::Callback(_))
            && !reds.iter().any(|&r| {
                matches!(
                    self.plan.nodes[r].op,
                    POp::Reduce(Acc::ArgMin | Acc::ArgMax, ..)
                )
            });
        // Per-pixel accumulator types: masks are i8 for one lane, I64X2 for two.
        let (mask_ty, idx_ty) = match pix {
            Lanes::One => (types::I8, types::I64),
            Lanes::Two => (types::I64X2, F64X2),
        };
        self.splats.clear();
        let groups = self.svals.len();
        // states[g]: the accumulators of pixel group g (one group for the callback).
        let mut states: Vec<Vec<AccState>> = (0..groups).map(|_| Vec::new()).collect();
        for (g, r) in (0..groups).flat_map(|g| reds.iter().map(move |&r| (g, r))) {
            self.group = g;
            let POp::Reduce(acc, arg, q) = self.plan.nodes[r].op else {
                unreachable!()
            };
            self.prepare(arg, simd);
            if let Some(q) = q {
                self.scalar(q);
            }
            let init = Self::acc_init(acc);
            let s = self.new_var(pix.ty());
            let sinit = self.fconst(init, pix);
            self.fb.def_var(s, sinit);
            let zmask = self.zero_of(mask_ty);
            let sflag = self.new_var(mask_ty);
            self.fb.def_var(sflag, zmask);
            let idx = self.new_var(idx_ty);
            let zidx = self.zero_of(idx_ty);
            self.fb.def_var(idx, zidx);
            let found = self.new_var(mask_ty);
            self.fb.def_var(found, zmask);
            let mut vec = Vec::new();
            let mut vflag = Vec::new();
            if simd {
                let vinit = self.fconst(init, Lanes::Two);
                let zmask = self.zero_of(types::I64X2);
                for _ in 0..UNROLL {
                    let v = self.new_var(F64X2);
                    self.fb.def_var(v, vinit);
                    vec.push(v);
                    let f = self.new_var(types::I64X2);
                    self.fb.def_var(f, zmask);
                    vflag.push(f);
                }
            }
            let mut scratch = Vec::new();
            if let Acc::Sorted(_) = acc {
                let lanes = if pix == Lanes::Two { 2 } else { 1 };
                for _ in 0..lanes {
                    let slot = self.fb.ins().iconst(types::I64, self.sorted_slots);
                    self.sorted_slots += 1;
                    let sig = [types::I64, types::I64];
                    let args = [slot, self.inputs.n];
                    let buf =
                        (self.helpers).call(&mut self.fb, "jf_scratch", &sig, Some(PTR), &args);
                    scratch.push(buf.unwrap());
                }
            }
            states[g].push(AccState {
                node: r,
                acc,
                vec,
                vflag,
                s,
                sflag,
                idx,
                found,
                scratch,
            });
        }

        let j = self.new_var(types::I64);
        let zero = self.fb.ins().iconst(types::I64, 0);
        self.fb.def_var(j, zero);
        let n = self.inputs.n;
        if simd {
            let step = (2 * UNROLL) as i64;
            self.counted_loop(j, step, n, |e, jv| {
                for u in 0..UNROLL {
                    e.next_element();
                    let ju = e.fb.ins().iadd_imm_s(jv, 2 * u as i64);
                    let mut memo = HashMap::new();
                    for st in &states[0] {
                        let POp::Reduce(_, arg, _) = e.plan.nodes[st.node].op else {
                            unreachable!()
                        };
                        let v = e.elem(arg, Lanes::Two, ju, &mut memo);
                        e.update(st, Some(u), v, ju, Lanes::Two);
                    }
                }
            });
            // Fold the SIMD accumulators into the scalar ones.
            for st in &states[0] {
                self.fold_vector(st);
            }
        }
        self.counted_loop(j, 1, n, |e, jv| {
            e.next_element();
            for (g, group) in states.iter().enumerate() {
                e.group = g;
                let mut memo = HashMap::new();
                for st in group {
                    let POp::Reduce(_, arg, _) = e.plan.nodes[st.node].op else {
                        unreachable!()
                    };
                    let v = e.elem(arg, pix, jv, &mut memo);
                    e.update(st, None, v, jv, pix);
                }
            }
        });
        for (g, group) in states.iter().enumerate() {
            self.group = g;
            for st in group {
                let v = self.finish(st, pix);
                self.svals[g].insert(st.node, v);
            }
        }
    }

    /// `while j + step <= n { body(j); j += step }`, continuing at the exit block.
    pub(super) fn counted_loop(
        &mut self,
        j: Variable,
        step: i64,
        limit: Value,
        mut body: impl FnMut(&mut Self, Value),
    ) {
        let head = self.fb.create_block();
        let body_block = self.fb.create_block();
        let exit = self.fb.create_block();
        self.fb.ins().jump(head, &[]);
        self.fb.switch_to_block(head);
        let jv = self.fb.use_var(j);
        let next = self.fb.ins().iadd_imm_s(jv, step);
        // The exit is the branch's first target so that it comes after the body in reverse
        // postorder: Cranelift's optimizer places pure values walking the dominator tree in that
        // order and forgets the enclosing loop for a body it reaches after the exit. It then
        // computed loop-invariant values inside the loop, recomputing whole chains of earlier
        // passes' results per element: code quadratic in the number of passes (1000 `let`s of
        // `var(w * a, a)` made 150 MB in 11 minutes; now 1.2 MB in 2 s).
        let done = self.fb.ins().icmp(IntCC::SignedGreaterThan, next, limit);
        self.fb.ins().brif(done, exit, &[], body_block, &[]);
        self.fb.switch_to_block(body_block);
        self.fb.seal_block(body_block);
        let jv = self.fb.use_var(j);
        body(self, jv);
        let jn = self.fb.ins().iadd_imm_s(jv, step);
        self.fb.def_var(j, jn);
        self.fb.ins().jump(head, &[]);
        self.fb.seal_block(head);
        self.fb.switch_to_block(exit);
        self.fb.seal_block(exit);
    }

    /// Accumulates value `v` of elements `j..` into a reduction's state (`u`: SIMD slot).
    fn update(&mut self, st: &AccState, u: Option<usize>, v: Value, j: Value, lanes: Lanes) {
        let (var, flag) = match u {
            Some(u) => (st.vec[u], st.vflag[u]),
            None => (st.s, st.sflag),
        };
        match st.acc {
            Acc::Sum | Acc::Prod | Acc::Count => {
                let cur = self.fb.use_var(var);
                let new = match st.acc {
                    Acc::Sum => self.fb.ins().fadd(cur, v),
                    Acc::Prod => self.fb.ins().fmul(cur, v),
                    _ => {
                        let m = self.truthy(v, lanes);
                        let one = self.mask_to_f64(m, lanes);
                        self.fb.ins().fadd(cur, one)
                    }
                };
                self.fb.def_var(var, new);
            }
            Acc::Max | Acc::Min => {
                let cur = self.fb.use_var(var);
                let new = self.pseudo_extreme(st.acc, cur, v, lanes);
                self.fb.def_var(var, new);
                let isnan = self.fb.ins().fcmp(FloatCC::Unordered, v, v);
                let f = self.fb.use_var(flag);
                let f = self.fb.ins().bor(f, isnan);
                self.fb.def_var(flag, f);
            }
            Acc::ArgMin | Acc::ArgMax => {
                let cc = if st.acc == Acc::ArgMax {
                    FloatCC::GreaterThan
                } else {
                    FloatCC::LessThan
                };
                let best = self.fb.use_var(st.s);
                let found = self.fb.use_var(st.found);
                let idx = self.fb.use_var(st.idx);
                let isnan = self.fb.ins().fcmp(FloatCC::Unordered, v, v);
                let better = self.fb.ins().fcmp(cc, v, best);
                let cand = self.fb.ins().bor(isnan, better);
                let open = self.fb.ins().bnot(found);
                let take = self.fb.ins().band(open, cand);
                let idx = match lanes {
                    Lanes::One => self.fb.ins().select(take, j, idx),
                    Lanes::Two => {
                        let jf = self.fb.ins().fcvt_from_sint(types::F64, j);
                        let jv = self.fb.ins().splat(F64X2, jf);
                        self.select_mask(take, jv, idx, lanes)
                    }
                };
                let best = self.select_mask(take, v, best, lanes);
                let found = self.fb.ins().bor(found, isnan);
                self.fb.def_var(st.idx, idx);
                self.fb.def_var(st.s, best);
                self.fb.def_var(st.found, found);
            }
            Acc::Sorted(_) => {
                let off = self.fb.ins().ishl_imm_s(j, 3);
                match st.scratch[..] {
                    // One buffer: `v` holds consecutive elements of one pixel.
                    [buf] => {
                        let addr = self.fb.ins().iadd(buf, off);
                        self.fb.ins().store(flags(), v, addr, 0);
                    }
                    // One buffer per output pixel.
                    ref bufs => {
                        for (lane, buf) in bufs.iter().enumerate() {
                            let x = self.fb.ins().extractlane(v, lane as u8);
                            let addr = self.fb.ins().iadd(*buf, off);
                            self.fb.ins().store(flags(), x, addr, 0);
                        }
                    }
                }
            }
        }
    }

    /// `max(cur, v)` / `min(cur, v)` ignoring NaN (tracked separately), written as
    /// `cur < v ? v : cur` / `v < cur ? v : cur` so Cranelift emits one maxpd/minpd (maxsd/minsd).
    fn pseudo_extreme(&mut self, acc: Acc, cur: Value, v: Value, lanes: Lanes) -> Value {
        let take = if acc == Acc::Max {
            self.fb.ins().fcmp(FloatCC::LessThan, cur, v)
        } else {
            self.fb.ins().fcmp(FloatCC::LessThan, v, cur)
        };
        self.select_mask(take, v, cur, lanes)
    }

    /// Combines the SIMD slots and lanes of a reduction into its scalar accumulator.
    fn fold_vector(&mut self, st: &AccState) {
        let mut lanes_vals = Vec::new();
        for u in 0..UNROLL {
            let v = self.fb.use_var(st.vec[u]);
            for lane in 0..2u8 {
                lanes_vals.push(self.fb.ins().extractlane(v, lane));
            }
        }
        let mut acc = lanes_vals[0];
        for &x in &lanes_vals[1..] {
            acc = match st.acc {
                Acc::Sum | Acc::Count => self.fb.ins().fadd(acc, x),
                Acc::Prod => self.fb.ins().fmul(acc, x),
                Acc::Max | Acc::Min => self.pseudo_extreme(st.acc, acc, x, Lanes::One),
                _ => acc,
            };
        }
        if matches!(st.acc, Acc::Max | Acc::Min) {
            let mut any = self.fb.use_var(st.vflag[0]);
            for u in 1..UNROLL {
                let f = self.fb.use_var(st.vflag[u]);
                any = self.fb.ins().bor(any, f);
            }
            let any = self.fb.ins().vany_true(any);
            self.fb.def_var(st.sflag, any);
        }
        if !matches!(st.acc, Acc::Sorted(_)) {
            self.fb.def_var(st.s, acc);
        }
    }

    /// The final per-pixel value of a reduction (`lanes`: pixel lanes of the accumulators).
    fn finish(&mut self, st: &AccState, lanes: Lanes) -> Value {
        match st.acc {
            Acc::Sum | Acc::Prod | Acc::Count => self.fb.use_var(st.s),
            Acc::Max | Acc::Min => {
                let v = self.fb.use_var(st.s);
                let flag = self.fb.use_var(st.sflag);
                let nan = self.fconst(f64::NAN, lanes);
                self.select_mask(flag, nan, v, lanes)
            }
            Acc::ArgMin | Acc::ArgMax => {
                let idx = self.fb.use_var(st.idx);
                match lanes {
                    Lanes::One => self.fb.ins().fcvt_from_sint(types::F64, idx),
                    Lanes::Two => idx,
                }
            }
            Acc::Sorted(kind) => {
                let POp::Reduce(_, _, q) = self.plan.nodes[st.node].op else {
                    unreachable!()
                };
                let mut results = Vec::new();
                for (lane, buf) in st.scratch.clone().into_iter().enumerate() {
                    let q = match q {
                        Some(q) if lanes == Lanes::Two => {
                            let qv = self.svals[self.group][&q];
                            self.fb.ins().extractlane(qv, lane as u8)
                        }
                        Some(q) => self.svals[self.group][&q],
                        None => self.fb.ins().f64const(50.0),
                    };
                    let kind = self.fb.ins().iconst(types::I64, kind as i64);
                    let args = [kind, buf, self.inputs.n, q];
                    let sig = [types::I64, PTR, types::I64, types::F64];
                    let sorted = "jf_sorted";
                    results.push(
                        (self.helpers)
                            .call(&mut self.fb, sorted, &sig, Some(types::F64), &args)
                            .unwrap(),
                    );
                }
                match results[..] {
                    [one] => one,
                    [a, b] => {
                        let v = self.fb.ins().scalar_to_vector(F64X2, a);
                        self.fb.ins().insertlane(v, b, 1)
                    }
                    _ => unreachable!("one buffer per pixel lane"),
                }
            }
        }
    }
}
