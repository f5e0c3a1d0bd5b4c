//! The row target: `void row(const RowArgs *)` computes a whole output row straight from the
//! padded input block, SIMD across output pixels. Owns its signature, its prologue (loading
//! `RowArgs`, locating and filling the tables of `Plan::tables`), the pixel loops, the keyed
//! lookups, and its frame: how the lowering loads builtins and planes for the current pixels.

use super::Tables;
use super::{
    axis_names, flags, uses, Emitter, Frame, Helpers, Inputs, Lanes, Lookups, F64X2, PTR, SHIFTER,
};
use crate::ir::{At, Builtin, Func, Sample};
use crate::plan::{POp, Plan, P};
use crate::runtime::RowArgs;
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{
    types, AbiParam, Endianness, InstBuilder, MemFlagsData, Signature, Type, Value,
};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::FunctionBuilder;
use std::collections::HashMap;
use std::mem::offset_of;

/// Pixel pairs handled per iteration of a row function, each with its own accumulators.
const ROW_GROUPS: usize = 4;
/// Plans larger than this get one pixel pair per iteration: their bodies have independent work
/// enough, and four copies of a huge body cost four times the code and far more than four times
/// the compile time (the register allocator is superlinear in a block's size).
const ROW_GROUPS_MAX_NODES: usize = 1024;

/// Vector registers the pixel groups of one iteration may fill (of x86-64's 16, the rest for
/// the element's own values).
const VECTOR_REGISTERS: usize = 12;

/// Vector values each pixel group keeps live across its window loop, at most over the passes:
/// its accumulators, and the per-pixel scalars that window values are computed from (`c`,
/// planes, earlier reductions).
fn live_per_group(plan: &Plan) -> usize {
    let mut most = 1;
    for stage in &plan.stages {
        let mut scalars = std::collections::HashSet::new();
        let mut todo: Vec<P> = stage.clone();
        let mut seen = vec![false; plan.nodes.len()];
        while let Some(p) = todo.pop() {
            if std::mem::replace(&mut seen[p], true) {
                continue;
            }
            for o in Plan::operands(&plan.nodes[p].op) {
                let node = &plan.nodes[o];
                if node.vector {
                    todo.push(o);
                } else if !matches!(node.op, POp::Const(_) | POp::Param(_)) {
                    scalars.insert(o);
                }
            }
        }
        most = most.max(stage.len() + scalars.len());
    }
    most
}

/// What the row function's prologue loaded that only rows have.
#[derive(Clone, Copy)]
pub(super) struct RowFrame {
    args: Value,
    /// Each window element's offset from a pixel in its block row.
    pub(super) offs: Value,
}

/// Loads field `offset` of the `RowArgs` at `args`.
fn arg(fb: &mut FunctionBuilder, args: Value, ty: Type, offset: usize) -> Value {
    fb.ins().load(ty, flags(), args, offset as i32)
}

/// The tables to fill when the caller asks: each tabulated node, its key (keyed tables), where
/// its values go and how many there are.
struct Fill {
    /// The lowest key value.
    lo: Value,
    entries: Vec<(P, Option<P>, Value, Value)>,
}

pub(super) fn signature() -> Signature {
    let mut sig = Signature::new(CallConv::SystemV);
    sig.params.push(AbiParam::new(PTR));
    sig
}

/// Emits the row function: for x in 0..width, out[x] = kernel(pixel x). Two pixels per
/// iteration in F64X2 lanes, then a one-pixel tail.
pub(super) fn emit<'a, 'b>(
    plan: &'a Plan,
    mut fb: FunctionBuilder<'b>,
    helpers: Helpers<'a>,
    tables: &Tables,
) -> FunctionBuilder<'b> {
    let entry = fb.create_block();
    fb.append_block_params_for_function_params(entry);
    fb.switch_to_block(entry);
    fb.seal_block(entry);
    let args = fb.block_params(entry)[0];
    let frame = RowFrame {
        args,
        offs: arg(&mut fb, args, PTR, offset_of!(RowArgs, offs)),
    };
    let samples = locate_samples(&mut fb, args, plan);
    let planes = locate_planes(&mut fb, args, plan);
    let n = arg(&mut fb, args, types::I64, offset_of!(RowArgs, n));
    let nf = fb.ins().fcvt_from_sint(types::F64, n);
    let params = Some(arg(&mut fb, args, PTR, offset_of!(RowArgs, params)));
    let mut table_addrs = HashMap::new();
    for (b, off) in [
        (Builtin::K, offset_of!(RowArgs, k)),
        (Builtin::Dx, offset_of!(RowArgs, dx)),
        (Builtin::Dy, offset_of!(RowArgs, dy)),
        (Builtin::Dz, offset_of!(RowArgs, dz)),
    ] {
        if uses(plan, POp::Builtin(b)) {
            table_addrs.insert(b, arg(&mut fb, args, PTR, off));
        }
    }
    for b in axis_names(plan) {
        if let Builtin::D(j) = b {
            let d = arg(&mut fb, args, PTR, offset_of!(RowArgs, d));
            let slot = (Builtin::axis_slot(j) * 8) as i32;
            table_addrs.insert(b, fb.ins().load(PTR, flags(), d, slot));
        }
    }
    let mut lookups = Lookups::default();
    let fill = (!tables.element.is_empty() || !tables.keyed.is_empty())
        .then(|| locate_tables(&mut fb, args, n, tables, &mut lookups));
    let inputs = Inputs {
        n,
        nf,
        params,
        tables: table_addrs,
        samples,
        planes,
    };
    let mut e = Emitter::new(plan, fb, helpers, inputs, Frame::Row(frame), lookups);
    if let Some(fill) = fill {
        e.fill_tables(frame, fill);
    }
    let outputs = arg(&mut e.fb, args, PTR, offset_of!(RowArgs, outputs));
    let outs: Vec<Value> = (0..plan.roots.len())
        .map(|k| (e.fb.ins()).load(PTR, flags(), outputs, (8 * k) as i32))
        .collect();
    let width = arg(&mut e.fb, args, types::I64, offset_of!(RowArgs, width));
    if !tables.keyed.is_empty() {
        e.call_natives(frame, width, tables);
    }
    let x = e.new_var(types::I64);
    let zero = e.fb.ins().iconst(types::I64, 0);
    e.fb.def_var(x, zero);
    // Several pixel pairs per iteration give independent chains to overlap. Big plans and
    // an inline `exp` have long chains of their own, and one pair keeps their code small:
    // bilateral compiles in 0.7 ms instead of 2.4 ms with 4 pairs, for ~20% more filter time.
    let has_exp = e.loop_has_exp();
    let groups = if plan.nodes.len() > ROW_GROUPS_MAX_NODES || has_exp {
        1
    } else {
        // x86-64 has 16 vector registers: each group keeps its accumulators and the
        // per-pixel values its window loop reads in registers, or spills them every element.
        (VECTOR_REGISTERS / live_per_group(plan)).clamp(1, ROW_GROUPS)
    };
    // The last `width mod (2·groups)` pixels one at a time: a loop of single pairs between
    // would save a few pixels' work per row and cost a third more code to compile.
    let loops: &[(Lanes, usize)] = &[(Lanes::Two, groups), (Lanes::One, 1)];
    for &(lanes, groups) in loops {
        let width_of_group = if lanes == Lanes::Two { 2 } else { 1 };
        e.counted_loop(x, (width_of_group * groups) as i64, width, |e, xv| {
            e.pix = lanes;
            e.svals = vec![HashMap::new(); groups];
            e.xs = (0..groups)
                .map(|g| e.fb.ins().iadd_imm_s(xv, (g * width_of_group) as i64))
                .collect();
            for stage in 0..plan.stages.len() {
                e.emit_pass(stage);
            }
            for g in 0..groups {
                e.group = g;
                for (&root, &out) in plan.roots.iter().zip(&outs) {
                    let result = e.scalar(root);
                    let off = e.fb.ins().ishl_imm_s(e.xs[g], 3);
                    let addr = e.fb.ins().iadd(out, off);
                    e.fb.ins().store(flags(), result, addr, 0);
                }
            }
        });
    }
    e.fb.ins().return_(&[]);
    e.fb
}

/// The rows of the planes (see `Plan::with_planes`) that `plan` reads.
fn locate_planes(fb: &mut FunctionBuilder, args: Value, plan: &Plan) -> HashMap<usize, Value> {
    let mut rows = HashMap::new();
    let mut table = None;
    for node in &plan.nodes {
        let POp::Plane(i) = node.op else { continue };
        let table = *table.get_or_insert_with(|| arg(fb, args, PTR, offset_of!(RowArgs, planes)));
        rows.entry(i)
            .or_insert_with(|| fb.ins().load(PTR, flags(), table, (8 * i) as i32));
    }
    rows
}

/// Per input sample of the plan, the address of its value for column 0 of the row: the input's
/// block row (windows add each element's offset), moved by the centre's offset (`c`, `at(g)`)
/// or by that and an `at()` offset along the block's planes, rows and columns.
fn locate_samples(fb: &mut FunctionBuilder, args: Value, plan: &Plan) -> HashMap<Sample, Value> {
    let inputs = arg(fb, args, PTR, offset_of!(RowArgs, inputs));
    let mut bases = HashMap::new();
    let mut out = HashMap::new();
    for node in &plan.nodes {
        let POp::Sample(s) = node.op else { continue };
        let base = *bases
            .entry(s.input)
            .or_insert_with(|| fb.ins().load(PTR, flags(), inputs, (8 * s.input) as i32));
        let at = match s.at {
            At::Window => base,
            At::Center | At::Offset(_) => {
                let [z, y, x] = match s.at {
                    At::Offset(o) => o,
                    _ => [0; 3],
                };
                let c_off = arg(fb, args, types::I64, offset_of!(RowArgs, c_off));
                let mut off = fb.ins().iadd_imm_s(c_off, x as i64);
                for (d, field) in [(z, 0), (y, 8)] {
                    if d != 0 {
                        let stride =
                            arg(fb, args, types::I64, offset_of!(RowArgs, strides) + field);
                        let step = fb.ins().imul_imm_s(stride, d as i64);
                        off = fb.ins().iadd(off, step);
                    }
                }
                let off8 = fb.ins().ishl_imm_s(off, 3);
                fb.ins().iadd(base, off8)
            }
        };
        out.insert(s, at);
    }
    out
}

/// The tables' addresses, recorded in `lookups`: each element table's, and each keyed
/// table's biased so that a key's bits after adding `SHIFTER` index it. Returns where to fill
/// them.
fn locate_tables(
    fb: &mut FunctionBuilder,
    args: Value,
    n: Value,
    tables: &Tables,
    lookups: &mut Lookups,
) -> Fill {
    let etab = arg(fb, args, PTR, offset_of!(RowArgs, tables));
    let ktab = arg(fb, args, PTR, offset_of!(RowArgs, luts));
    let lo = arg(fb, args, types::I64, offset_of!(RowArgs, lut_lo));
    let len = arg(fb, args, types::I64, offset_of!(RowArgs, lut_len));
    let n8 = fb.ins().ishl_imm_s(n, 3);
    let len8 = fb.ins().ishl_imm_s(len, 3);
    let raw = |fb: &mut FunctionBuilder, base: Value, stride: Value, i: usize| {
        let off = fb.ins().imul_imm_s(stride, i as i64);
        fb.ins().iadd(base, off)
    };
    let eraw: Vec<Value> = (0..tables.element.len())
        .map(|i| raw(fb, etab, n8, i))
        .collect();
    let kraw: Vec<Value> = (0..tables.keyed.len())
        .map(|i| raw(fb, ktab, len8, i))
        .collect();
    let bias = fb.ins().iadd_imm_s(lo, SHIFTER.to_bits() as i64);
    let bias = fb.ins().ishl_imm_s(bias, 3);
    lookups.element = tables
        .element
        .iter()
        .copied()
        .zip(eraw.iter().copied())
        .collect();
    for (&(p, key), &r) in tables.keyed.iter().zip(&kraw) {
        let biased = fb.ins().isub(r, bias);
        lookups.keyed.insert(p, (biased, key));
    }
    let entries = (tables.element.iter().zip(&eraw))
        .map(|(&p, &b)| (p, None, b, n))
        .chain((tables.keyed.iter().zip(&kraw)).map(|(&(p, k), &b)| (p, Some(k), b, len)))
        .collect();
    Fill { lo, entries }
}

impl Emitter<'_, '_> {
    /// Fills the tables when the caller sets `fill`: element tables for each window element,
    /// keyed tables for each key value `lut_lo ..`, computed one value at a time by the same
    /// operations as the pixel loop's. Also records whether the split `exp` factors are fit
    /// for a product (`RowArgs::ok`).
    fn fill_tables(&mut self, r: RowFrame, fill: Fill) {
        let flag = arg(&mut self.fb, r.args, types::I64, offset_of!(RowArgs, fill));
        let fill_block = self.fb.create_block();
        let after = self.fb.create_block();
        self.fb.ins().brif(flag, fill_block, &[], after, &[]);
        self.fb.seal_block(fill_block);
        self.fb.switch_to_block(fill_block);
        let (pix, groups) = (self.pix, std::mem::take(&mut self.svals));
        self.pix = Lanes::One;
        self.svals = vec![HashMap::new()];
        self.group = 0;
        let one = self.fb.ins().iconst(types::I8, 1);
        let (normal, unit) = (self.new_var(types::I8), self.new_var(types::I8));
        self.fb.def_var(normal, one);
        self.fb.def_var(unit, one);
        for (p, key, base, count) in fill.entries {
            let mut seen = vec![false; self.plan.nodes.len()];
            if let Some(k) = key {
                seen[k] = true; // the key is given, not computed from the pixel
            }
            self.prepare_node(p, false, &mut seen);
            let j = self.new_var(types::I64);
            let zero = self.fb.ins().iconst(types::I64, 0);
            self.fb.def_var(j, zero);
            self.counted_loop(j, 1, count, |e, jv| {
                e.next_element();
                let mut memo = HashMap::new();
                if let Some(k) = key {
                    let d = e.fb.ins().iadd(jv, fill.lo);
                    let d = e.fb.ins().fcvt_from_sint(types::F64, d);
                    memo.insert(k, d);
                }
                e.filling = Some(p);
                let v = e.elem(p, Lanes::One, jv, &mut memo);
                e.filling = None;
                let off = e.fb.ins().ishl_imm_s(jv, 3);
                let addr = e.fb.ins().iadd(base, off);
                e.fb.ins().store(flags(), v, addr, 0);
                if e.plan.split.contains(&p) {
                    // normal: MIN_POSITIVE <= v <= MAX; unit: v == 0 or MIN_POSITIVE <= v <= 1.
                    // A subnormal factor is already coarse, and a product would round it again.
                    let small = e.fb.ins().f64const(f64::MIN_POSITIVE);
                    let zero = e.fb.ins().f64const(0.0);
                    let is_normal = e.fb.ins().fcmp(FloatCC::GreaterThanOrEqual, v, small);
                    let is_zero = e.fb.ins().fcmp(FloatCC::Equal, v, zero);
                    let normal_or_zero = e.fb.ins().bor(is_normal, is_zero);
                    for (var, low, hi) in
                        [(normal, is_normal, f64::MAX), (unit, normal_or_zero, 1.0)]
                    {
                        let hi = e.fb.ins().f64const(hi);
                        let below = e.fb.ins().fcmp(FloatCC::LessThanOrEqual, v, hi);
                        let within = e.fb.ins().band(low, below);
                        let all = e.fb.use_var(var);
                        let all = e.fb.ins().band(all, within);
                        e.fb.def_var(var, all);
                    }
                }
            });
        }
        let normal = self.fb.use_var(normal);
        let unit = self.fb.use_var(unit);
        let ok = self.fb.ins().bor(normal, unit);
        let ok = self.fb.ins().uextend(types::I64, ok);
        (self.fb.ins()).store(flags(), ok, r.args, offset_of!(RowArgs, ok) as i32);
        self.fb.ins().jump(after, &[]);
        self.fb.seal_block(after);
        self.fb.switch_to_block(after);
        // Values of the fill block do not dominate what follows.
        self.next_element();
        self.svals = groups;
        self.pix = pix;
    }

    /// Whether the pixel loop computes an `exp` (not counting those in tables).
    fn loop_has_exp(&self) -> bool {
        let mut seen = vec![false; self.plan.nodes.len()];
        let mut todo = self.plan.roots.clone();
        todo.extend(self.plan.stages.iter().flatten());
        while let Some(p) = todo.pop() {
            if std::mem::replace(&mut seen[p], true)
                || self.lookups.element.contains_key(&p)
                || self.lookups.keyed.contains_key(&p)
            {
                continue;
            }
            if matches!(self.plan.nodes[p].op, POp::Call(Func::Exp, _)) {
                return true;
            }
            todo.extend(Plan::operands(&self.plan.nodes[p].op));
        }
        false
    }

    /// The entry of a keyed table (`table`: its biased address) for key values `kv` (exact
    /// integers in the table's range).
    pub(super) fn lookup(&mut self, table: Value, kv: Value, lanes: Lanes) -> Value {
        let le = MemFlagsData::new().with_endianness(Endianness::Little);
        let shifter = self.fconst(SHIFTER, lanes);
        let t = self.fb.ins().fadd(kv, shifter);
        let load = |e: &mut Self, bits: Value| {
            let off = e.fb.ins().ishl_imm_s(bits, 3);
            let addr = e.fb.ins().iadd(table, off);
            e.fb.ins().load(types::F64, flags(), addr, 0)
        };
        match lanes {
            Lanes::One => {
                let bits = self.fb.ins().bitcast(types::I64, le, t);
                load(self, bits)
            }
            Lanes::Two => {
                let bits = self.fb.ins().bitcast(types::I64X2, le, t);
                let b0 = self.fb.ins().extractlane(bits, 0);
                let b1 = self.fb.ins().extractlane(bits, 1);
                let v0 = load(self, b0);
                let v1 = load(self, b1);
                // A splat and an insert: `scalar_to_vector` would zero a register first.
                let v = self.fb.ins().splat(F64X2, v0);
                self.fb.ins().insertlane(v, v1, 1)
            }
        }
    }

    /// Scalar leaf `op` (a builtin or a plane) of the current pixels.
    pub(super) fn row_scalar(&mut self, r: RowFrame, op: &POp) -> Value {
        let pix = self.pix;
        let field = |e: &mut Self, offset| arg(&mut e.fb, r.args, types::F64, offset);
        let size = offset_of!(RowArgs, size);
        let v = match *op {
            POp::Sample(s) => {
                let off = self.fb.ins().ishl_imm_s(self.xs[self.group], 3);
                let addr = self.fb.ins().iadd(self.inputs.samples[&s], off);
                return self.fb.ins().load(pix.ty(), flags(), addr, 0);
            }
            POp::Builtin(Builtin::X) => {
                let xf = self
                    .fb
                    .ins()
                    .fcvt_from_sint(types::F64, self.xs[self.group]);
                let x0 = field(self, offset_of!(RowArgs, x0));
                let xf = self.fb.ins().fadd(xf, x0);
                return self.iota(xf, pix);
            }
            POp::Builtin(Builtin::Pos(j)) => {
                // sx·x + (sy·y + sz·z + the position along a folded axis): see `Setup::axes`.
                let axes = arg(&mut self.fb, r.args, PTR, offset_of!(RowArgs, axes));
                let slot = (Builtin::axis_slot(j) * 40) as i32;
                let t =
                    |e: &mut Self, k: i32| e.fb.ins().load(types::F64, flags(), axes, slot + 8 * k);
                let mut rest = t(self, 3);
                for (k, at) in [(1, offset_of!(RowArgs, y)), (2, offset_of!(RowArgs, z))] {
                    let s = t(self, k);
                    let p = field(self, at);
                    let term = self.fb.ins().fmul(s, p);
                    rest = self.fb.ins().fadd(rest, term);
                }
                let x = self.row_scalar(r, &POp::Builtin(Builtin::X));
                let sx = t(self, 0);
                let sx = self.widen(sx, pix);
                let rest = self.widen(rest, pix);
                let sx_x = self.fb.ins().fmul(sx, x);
                return self.fb.ins().fadd(sx_x, rest);
            }
            POp::Plane(i) => {
                let row = self.inputs.planes[&i];
                let off = self.fb.ins().ishl_imm_s(self.xs[self.group], 3);
                let addr = self.fb.ins().iadd(row, off);
                return self.fb.ins().load(pix.ty(), flags(), addr, 0);
            }
            POp::Builtin(Builtin::N) => self.inputs.nf,
            POp::Builtin(Builtin::Y) => field(self, offset_of!(RowArgs, y)),
            POp::Builtin(Builtin::Z) => field(self, offset_of!(RowArgs, z)),
            POp::Builtin(Builtin::Width) => field(self, size),
            POp::Builtin(Builtin::Height) => field(self, size + 8),
            POp::Builtin(Builtin::Depth) => field(self, size + 16),
            POp::Builtin(Builtin::Channels) => field(self, size + 24),
            ref op => unreachable!("{op:?} is not a scalar leaf of a row"),
        };
        self.widen(v, pix)
    }

    /// Vector leaf `p` (an input's window or a builtin) at window element `j` of the current
    /// pixels (lanes are pixels): element j of pixel x is base[x + offs[j]].
    pub(super) fn row_vector(&mut self, r: RowFrame, p: P, lanes: Lanes, j: Value) -> Value {
        let op = self.plan.nodes[p].op.clone();
        let shared = match self.jcache.get(&p) {
            Some(v) => *v,
            None => {
                let j8 = self.fb.ins().ishl_imm_s(j, 3);
                let v = match op {
                    // The element's address for column 0: base + offs[j] * 8.
                    POp::Sample(s) => {
                        let oaddr = self.fb.ins().iadd(r.offs, j8);
                        let o = self.fb.ins().load(types::I64, flags(), oaddr, 0);
                        let o8 = self.fb.ins().ishl_imm_s(o, 3);
                        self.fb.ins().iadd(self.inputs.samples[&s], o8)
                    }
                    POp::Builtin(Builtin::I) => {
                        let jf = self.fb.ins().fcvt_from_sint(types::F64, j);
                        self.widen(jf, lanes)
                    }
                    POp::Builtin(other) => {
                        let addr = self.fb.ins().iadd(self.inputs.tables[&other], j8);
                        let t = self.fb.ins().load(types::F64, flags(), addr, 0);
                        self.widen(t, lanes)
                    }
                    ref op => unreachable!("{op:?} is not a vector leaf of a row"),
                };
                self.jcache.insert(p, v);
                v
            }
        };
        if !matches!(op, POp::Sample(_)) {
            return shared;
        }
        let x8 = self.fb.ins().ishl_imm_s(self.xs[self.group], 3);
        let addr = self.fb.ins().iadd(shared, x8);
        self.fb.ins().load(lanes.ty(), flags(), addr, 0)
    }
}
