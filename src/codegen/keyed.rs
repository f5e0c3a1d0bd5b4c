//! Which passes of a keyed row function run natively ([`crate::keyed_sums`]): a pass whose every
//! accumulator is a sum of one weight `g` or of `g` times a window, where `g` is a keyed table's
//! entry (times an element table's or `k`/`dx`/`dy`/`dz`) and the key is a sum of `w − c` or
//! `w` terms, or of `abs(w − c)` terms. The row function calls the native loop once per row, before
//! its pixel loops, and each pixel group then reads its sums from the rows it wrote.

use super::row::RowFrame;
use super::{Emitter, Tables, PTR, SHIFTER};
use crate::ir::{At, BinOp, Func, Sample};
use crate::keyed_sums::{KeyedSums, Term, MAX_SUMS, MAX_TERMS};
use crate::plan::{Acc, POp, Plan, P};
use cranelift_codegen::ir::{types, InstBuilder, StackSlotData, StackSlotKind, Value};
use std::mem::{offset_of, size_of};

/// A pass the native loop computes, in plan nodes.
struct Shape {
    /// The per-element factor of the weight, if any.
    element: Option<P>,
    /// The keyed table's node.
    keyed: P,
    /// The key's terms: window sample, and center sample (none: the window value alone).
    terms: Vec<(Sample, Option<Sample>)>,
    /// Whether the terms are `abs(w − c)`.
    abs: bool,
    /// Per accumulator of the pass, the window sample it weights (none: the weight alone).
    sums: Vec<Option<Sample>>,
}

/// The passes of `plan` the native loop computes when the row function has `tables`.
pub fn native_passes(plan: &Plan, tables: &Tables) -> Vec<usize> {
    (0..plan.stages.len())
        .filter(|&s| shape(plan, tables, s).is_some())
        .collect()
}

fn sample(plan: &Plan, p: P, window: bool) -> Option<Sample> {
    match plan.nodes[p].op {
        POp::Sample(s) if (s.at == At::Window) == window => Some(s),
        _ => None,
    }
}

/// A per-element factor: an element table's node, or `k`, `dx`, `dy`, `dz`.
fn element_factor(plan: &Plan, tables: &Tables, p: P) -> bool {
    tables.element.contains(&p) || matches!(plan.nodes[p].op, POp::Builtin(b) if b.is_table())
}

/// The key of keyed table node `p`, if `p` has a keyed table.
fn key_of(tables: &Tables, p: P) -> Option<P> {
    tables.keyed.iter().find(|(t, _)| *t == p).map(|&(_, k)| k)
}

/// `g` as (element factor, keyed table node), when it is a keyed entry or one times an element
/// factor.
fn weight(plan: &Plan, tables: &Tables, g: P) -> Option<(Option<P>, P)> {
    if key_of(tables, g).is_some() {
        return Some((None, g));
    }
    let POp::Bin(BinOp::Mul, a, b) = plan.nodes[g].op else {
        return None;
    };
    [(a, b), (b, a)].into_iter().find_map(|(e, k)| {
        (element_factor(plan, tables, e) && key_of(tables, k).is_some()).then_some((Some(e), k))
    })
}

/// The native shape of pass `stage`, if it has one. Only with AVX2 (the code is for this host):
/// one pixel at a time, the native loop would be slower than the generated pass.
fn shape(plan: &Plan, tables: &Tables, stage: usize) -> Option<Shape> {
    #[cfg(target_arch = "x86_64")]
    let wide = std::arch::is_x86_feature_detected!("avx2");
    #[cfg(not(target_arch = "x86_64"))]
    let wide = false;
    let reds = &plan.stages[stage];
    if !wide || reds.len() > MAX_SUMS {
        return None;
    }
    let mut g = None;
    let mut sums = Vec::new();
    for &r in reds {
        let POp::Reduce(Acc::Sum, arg, None) = plan.nodes[r].op else {
            return None;
        };
        let (w, v) = if weight(plan, tables, arg).is_some() {
            (arg, None)
        } else if let POp::Bin(BinOp::Mul, a, b) = plan.nodes[arg].op {
            [(a, b), (b, a)].into_iter().find_map(|(w, v)| {
                let v = sample(plan, v, true)?;
                weight(plan, tables, w).is_some().then_some((w, Some(v)))
            })?
        } else {
            return None;
        };
        if *g.get_or_insert(w) != w {
            return None;
        }
        sums.push(v);
    }
    // The plan shares equal sums: the weights' own sum comes once at most.
    if sums.iter().filter(|v| v.is_none()).count() > 1 {
        return None;
    }
    let (element, keyed) = weight(plan, tables, g?)?;
    let mut terms = Vec::new();
    let abs = key_terms(plan, key_of(tables, keyed)?, &mut terms)?;
    (terms.len() <= MAX_TERMS).then_some(Shape {
        element,
        keyed,
        terms,
        abs,
        sums,
    })
}

/// The terms of key `p`, and whether they are all `abs(w − c)` (else none is).
fn key_terms(plan: &Plan, p: P, out: &mut Vec<(Sample, Option<Sample>)>) -> Option<bool> {
    let diff = |a: P, b: P| Some((sample(plan, a, true)?, sample(plan, b, false)?));
    let (term, abs) = match &plan.nodes[p].op {
        POp::Bin(BinOp::Add, a, b) => {
            let abs = key_terms(plan, *a, out)?;
            return (key_terms(plan, *b, out)? == abs).then_some(abs);
        }
        POp::Call(Func::Abs, args) => {
            let POp::Bin(BinOp::Sub, a, b) = plan.nodes[args[0]].op else {
                return None;
            };
            // abs(c − w) is abs(w − c), bit for bit.
            let (w, c) = diff(a, b).or_else(|| diff(b, a))?;
            ((w, Some(c)), true)
        }
        POp::Sample(s) if s.at == At::Window => ((*s, None), false),
        POp::Bin(BinOp::Sub, a, b) => {
            let (w, c) = diff(*a, *b)?;
            ((w, Some(c)), false)
        }
        _ => return None,
    };
    out.push(term);
    Some(abs)
}

impl Emitter<'_, '_> {
    /// Calls the native loop for each pass it can compute, recording where its sums are for
    /// [`Emitter::native_sums`].
    pub(super) fn call_natives(&mut self, r: RowFrame, width: Value, tables: &Tables) {
        for stage in 0..self.plan.stages.len() {
            if let Some(shape) = shape(self.plan, tables, stage) {
                let rows = self.call_native(r, width, &shape);
                self.native.insert(stage, rows);
            }
        }
    }

    /// The accumulators of `stage`, when the native loop computed them: each pixel group's
    /// values, read from its rows.
    pub(super) fn native_sums(&mut self, stage: usize) -> bool {
        let Some(rows) = self.native.get(&stage).cloned() else {
            return false;
        };
        let reds = self.plan.stages[stage].clone();
        for g in 0..self.svals.len() {
            let off = self.fb.ins().ishl_imm_s(self.xs[g], 3);
            for (&r, &row) in reds.iter().zip(&rows) {
                let addr = self.fb.ins().iadd(row, off);
                let v = self.fb.ins().load(self.pix.ty(), super::flags(), addr, 0);
                self.svals[g].insert(r, v);
            }
        }
        true
    }

    /// Builds the [`KeyedSums`] of `shape` in the frame, calls the native loop, and returns the
    /// rows of its sums.
    fn call_native(&mut self, r: RowFrame, width: Value, shape: &Shape) -> Vec<Value> {
        let size = size_of::<KeyedSums>() as u32;
        let slot = (self.fb).create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            size,
            3,
        ));
        let zero = self.fb.ins().iconst(PTR, 0);
        let put = |e: &mut Self, v: Value, at: usize| {
            e.fb.ins().stack_store(PTR, v, slot, at as i32);
        };
        put(self, width, offset_of!(KeyedSums, width));
        put(self, self.inputs.n, offset_of!(KeyedSums, n));
        put(self, r.offs, offset_of!(KeyedSums, offs));
        let element = match shape.element {
            None => zero,
            Some(e) => match (self.lookups.element.get(&e), &self.plan.nodes[e].op) {
                (Some(&table), _) => table,
                (None, POp::Builtin(b)) => self.inputs.tables[b],
                _ => unreachable!("an element factor is a table or a builtin"),
            },
        };
        put(self, element, offset_of!(KeyedSums, element));
        // The biased table plus bits(SHIFTER) entries is its entry for key 0 (see `Lookups`).
        let biased = self.lookups.keyed[&shape.keyed].0;
        let keyed = (self.fb.ins()).iadd_imm_s(biased, (SHIFTER.to_bits() as i64).wrapping_mul(8));
        put(self, keyed, offset_of!(KeyedSums, keyed));
        let count = |e: &mut Self, n: usize| e.fb.ins().iconst(types::I64, n as i64);
        let terms = count(self, shape.terms.len());
        put(self, terms, offset_of!(KeyedSums, terms));
        // Unused entries are null, so that the whole struct is initialised.
        for t in 0..MAX_TERMS {
            let at = offset_of!(KeyedSums, term) + t * size_of::<Term>();
            let (window, center) = match shape.terms.get(t) {
                Some(&(w, c)) => (
                    self.inputs.samples[&w],
                    c.map_or(zero, |c| self.inputs.samples[&c]),
                ),
                None => (zero, zero),
            };
            put(self, window, at + offset_of!(Term, window));
            put(self, center, at + offset_of!(Term, center));
        }
        let abs = count(self, shape.abs as usize);
        put(self, abs, offset_of!(KeyedSums, abs));
        let sums = count(self, shape.sums.len());
        put(self, sums, offset_of!(KeyedSums, sums));
        for s in 0..MAX_SUMS {
            let base = shape.sums.get(s).copied().flatten();
            let base = base.map_or(zero, |v| self.inputs.samples[&v]);
            put(self, base, offset_of!(KeyedSums, sum) + 8 * s);
        }
        let slot_no = self.fb.ins().iconst(types::I64, self.sorted_slots);
        self.sorted_slots += 1;
        let values = self.fb.ins().imul_imm_s(width, shape.sums.len() as i64);
        let sig = [types::I64, types::I64];
        let out = (self.helpers).call(
            &mut self.fb,
            "jf_scratch",
            &sig,
            Some(PTR),
            &[slot_no, values],
        );
        let out = out.expect("jf_scratch returns its buffer");
        put(self, out, offset_of!(KeyedSums, out));
        let args = self.fb.ins().stack_addr(PTR, slot, 0);
        (self.helpers).call(&mut self.fb, "jf_keyed_sums", &[PTR], None, &[args]);
        let row_bytes = self.fb.ins().ishl_imm_s(width, 3);
        (0..shape.sums.len())
            .map(|s| {
                let off = self.fb.ins().imul_imm_s(row_bytes, s as i64);
                self.fb.ins().iadd(out, off)
            })
            .collect()
    }
}
