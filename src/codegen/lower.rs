//! The lowering of operations: a plan node's value from its operands' (`scalar` once per
//! pixel, `elem` per window element), the arithmetic, comparisons and selects on one or two
//! lanes, the functions inline or as helper calls, and the inline `exp`. Leaves that a target
//! provides (`w`, `c`, `x`, planes…) come from the target's frame.

use super::{flags, inlined, Emitter, Frame, Lanes, F64X2, SHIFTER};
use crate::ir::{BinOp, Func, UnOp};
use crate::plan::{POp, Plan, P};
use crate::runtime;
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{types, Endianness, InstBuilder, MemFlagsData, Type, Value};
use cranelift_frontend::Variable;
use std::collections::HashMap;

impl Emitter<'_, '_> {
    pub(super) fn fconst(&mut self, v: f64, lanes: Lanes) -> Value {
        let s = self.fb.ins().f64const(v);
        match lanes {
            Lanes::One => s,
            Lanes::Two => self.fb.ins().splat(F64X2, s),
        }
    }

    pub(super) fn new_var(&mut self, ty: Type) -> Variable {
        self.fb.declare_var(ty)
    }

    pub(super) fn zero_of(&mut self, ty: Type) -> Value {
        if ty == F64X2 {
            return self.fconst(0.0, Lanes::Two);
        }
        if ty.is_vector() {
            let z = self.fb.ins().iconst(ty.lane_type(), 0);
            return self.fb.ins().splat(ty, z);
        }
        self.fb.ins().iconst(ty, 0)
    }

    /// Moves on to other window elements: the values shared by their pixel groups are stale.
    pub(super) fn next_element(&mut self) {
        self.jcache.clear();
        self.jmemo.clear();
    }

    /// Calls a scalar helper once per lane.
    fn call_lanes(&mut self, name: &'static str, args: &[Value], lanes: Lanes) -> Value {
        let params = vec![types::F64; args.len()];
        match lanes {
            Lanes::One => (self.helpers)
                .call(&mut self.fb, name, &params, Some(types::F64), args)
                .unwrap(),
            Lanes::Two => {
                let mut out = None;
                for lane in 0..2u8 {
                    let a: Vec<Value> = args
                        .iter()
                        .map(|v| self.fb.ins().extractlane(*v, lane))
                        .collect();
                    let r = (self.helpers)
                        .call(&mut self.fb, name, &params, Some(types::F64), &a)
                        .unwrap();
                    out = Some(match out {
                        None => self.fb.ins().scalar_to_vector(F64X2, r),
                        Some(v) => self.fb.ins().insertlane(v, r, 1),
                    });
                }
                out.unwrap()
            }
        }
    }

    /// A comparison result (i8 or I64X2 mask) as 1.0 / 0.0.
    pub(super) fn mask_to_f64(&mut self, mask: Value, lanes: Lanes) -> Value {
        match lanes {
            Lanes::One => {
                let one = self.fconst(1.0, lanes);
                let zero = self.fconst(0.0, lanes);
                self.fb.ins().select(mask, one, zero)
            }
            Lanes::Two => {
                let m = self.fb.ins().bitcast(
                    F64X2,
                    MemFlagsData::new().with_endianness(Endianness::Little),
                    mask,
                );
                let one = self.fconst(1.0, lanes);
                self.fb.ins().band(m, one)
            }
        }
    }

    /// `a ? x : y` per lane, for a mask from `fcmp`.
    pub(super) fn select_mask(&mut self, mask: Value, x: Value, y: Value, lanes: Lanes) -> Value {
        match lanes {
            Lanes::One => self.fb.ins().select(mask, x, y),
            Lanes::Two => {
                let m = self.fb.ins().bitcast(
                    F64X2,
                    MemFlagsData::new().with_endianness(Endianness::Little),
                    mask,
                );
                self.fb.ins().bitselect(m, x, y)
            }
        }
    }

    pub(super) fn truthy(&mut self, v: Value, lanes: Lanes) -> Value {
        let zero = self.fconst(0.0, lanes);
        self.fb.ins().fcmp(FloatCC::NotEqual, v, zero)
    }

    /// Emits the pure operation of node `p` given its operands' values.
    fn apply(&mut self, p: P, a: &[Value], lanes: Lanes) -> Value {
        let op = self.plan.nodes[p].op.clone();
        match op {
            POp::Un(UnOp::Neg, _) => self.fb.ins().fneg(a[0]),
            POp::Un(UnOp::Not, _) => {
                let zero = self.fconst(0.0, lanes);
                let m = self.fb.ins().fcmp(FloatCC::Equal, a[0], zero);
                self.mask_to_f64(m, lanes)
            }
            POp::Bin(op, _, rhs) => self.binary(op, a[0], a[1], rhs, lanes),
            POp::Select(..) => {
                let m = self.truthy(a[0], lanes);
                self.select_mask(m, a[1], a[2], lanes)
            }
            POp::Call(f, _) => self.call(f, a, lanes),
            POp::Const(_)
            | POp::Param(_)
            | POp::Sample(_)
            | POp::Builtin(_)
            | POp::Reduce(..)
            | POp::Plane(_) => {
                unreachable!("leaves are not applied")
            }
        }
    }

    fn binary(&mut self, op: BinOp, a: Value, b: Value, rhs: P, lanes: Lanes) -> Value {
        let cmp = |cc| Some(cc);
        let cc = match op {
            BinOp::Eq => cmp(FloatCC::Equal),
            BinOp::Ne => cmp(FloatCC::NotEqual),
            BinOp::Lt => cmp(FloatCC::LessThan),
            BinOp::Le => cmp(FloatCC::LessThanOrEqual),
            BinOp::Gt => cmp(FloatCC::GreaterThan),
            BinOp::Ge => cmp(FloatCC::GreaterThanOrEqual),
            _ => None,
        };
        if let Some(cc) = cc {
            let m = self.fb.ins().fcmp(cc, a, b);
            return self.mask_to_f64(m, lanes);
        }
        match op {
            BinOp::Add => self.fb.ins().fadd(a, b),
            BinOp::Sub => self.fb.ins().fsub(a, b),
            BinOp::Mul => self.fb.ins().fmul(a, b),
            BinOp::Div => self.fb.ins().fdiv(a, b),
            BinOp::And | BinOp::Or => {
                let ta = self.truthy(a, lanes);
                let tb = self.truthy(b, lanes);
                let m = if op == BinOp::And {
                    self.fb.ins().band(ta, tb)
                } else {
                    self.fb.ins().bor(ta, tb)
                };
                self.mask_to_f64(m, lanes)
            }
            BinOp::Mod => self.call_lanes("jf_mod", &[a, b], lanes),
            // x^2 is exact as x*x; it is the common case (dx^2 + dy^2).
            BinOp::Pow if self.plan.nodes[rhs].op == POp::Const(2.0) => self.fb.ins().fmul(a, a),
            BinOp::Pow => self.call_lanes("jf_pow", &[a, b], lanes),
            _ => unreachable!(),
        }
    }

    /// Function `f` of `a`: inline or a helper call per lane, as [`inlined`] says.
    fn call(&mut self, f: Func, a: &[Value], lanes: Lanes) -> Value {
        if !inlined(f) {
            let name = match f {
                Func::Pow => "jf_pow",
                Func::Atan2 => "jf_atan2",
                Func::Hypot => "jf_hypot",
                other => {
                    let (name, _) =
                        runtime::unary_helper(other).expect("every other function has a helper");
                    name
                }
            };
            return self.call_lanes(name, a, lanes);
        }
        match f {
            // A mask that the optimiser hoists out of loops: `fabs` makes its own every time.
            Func::Abs => {
                let mask = self.fconst(f64::from_bits(!(1 << 63)), lanes);
                self.fb.ins().band(a[0], mask)
            }
            Func::Sqrt => self.fb.ins().sqrt(a[0]),
            Func::Floor => self.fb.ins().floor(a[0]),
            Func::Ceil => self.fb.ins().ceil(a[0]),
            Func::Trunc => self.fb.ins().trunc(a[0]),
            Func::Round => self.fb.ins().nearest(a[0]),
            // numpy: `a < b || isnan(a) ? a : b` (the second when equal, so signed zeros match).
            Func::Min2 | Func::Max2 => {
                let cc = if f == Func::Min2 {
                    FloatCC::LessThan
                } else {
                    FloatCC::GreaterThan
                };
                let better = self.fb.ins().fcmp(cc, a[0], a[1]);
                let nan = self.fb.ins().fcmp(FloatCC::Unordered, a[0], a[0]);
                let take = self.fb.ins().bor(better, nan);
                self.select_mask(take, a[0], a[1], lanes)
            }
            // np.clip: `x` itself within the bounds; NaN if any operand is NaN.
            Func::Clamp => {
                let below = self.fb.ins().fcmp(FloatCC::GreaterThan, a[1], a[0]);
                let t = self.select_mask(below, a[1], a[0], lanes);
                let above = self.fb.ins().fcmp(FloatCC::GreaterThan, t, a[2]);
                let t = self.select_mask(above, a[2], t, lanes);
                let nan = self.fb.ins().fcmp(FloatCC::Unordered, a[1], a[2]);
                let qnan = self.fconst(f64::NAN, lanes);
                self.select_mask(nan, qnan, t, lanes)
            }
            Func::IsNan => {
                let m = self.fb.ins().fcmp(FloatCC::Unordered, a[0], a[0]);
                self.mask_to_f64(m, lanes)
            }
            Func::IsFinite => {
                let abs = self.fb.ins().fabs(a[0]);
                let inf = self.fconst(f64::INFINITY, lanes);
                let m = self.fb.ins().fcmp(FloatCC::LessThan, abs, inf);
                self.mask_to_f64(m, lanes)
            }
            Func::Exp => self.inline_exp(a[0], lanes),
            _ => unreachable!("{f:?} is a helper call"),
        }
    }

    /// `exp` inline, so exp-weighted kernels stay in SIMD registers: exp(x) = 2^n · p(r) with
    /// n = round(x / ln 2), r = x − n·ln 2 (two-part ln 2), p the degree-13 Taylor polynomial
    /// (|r| ≤ 0.35, truncation < 1e-17 relative), and 2^n built from exponent bits in two halves
    /// so that overflow gives inf and underflow 0. NaN propagates through the clamp.
    fn inline_exp(&mut self, x: Value, lanes: Lanes) -> Value {
        let ity = match lanes {
            Lanes::One => types::I64,
            Lanes::Two => types::I64X2,
        };
        let le = MemFlagsData::new().with_endianness(Endianness::Little);
        let lo = self.fconst(-746.0, lanes);
        let hi = self.fconst(710.0, lanes);
        // Clamp with compare+select (cheaper than IEEE fmin/fmax); NaN compares false and
        // passes through unchanged.
        let above = self.fb.ins().fcmp(FloatCC::GreaterThan, x, hi);
        let x = self.select_mask(above, hi, x, lanes);
        let below = self.fb.ins().fcmp(FloatCC::LessThan, x, lo);
        let x = self.select_mask(below, lo, x, lanes);
        let shifter = self.fconst(SHIFTER, lanes);
        let log2e = self.fconst(std::f64::consts::LOG2_E, lanes);
        let t = self.fb.ins().fmul(x, log2e);
        let t = self.fb.ins().fadd(t, shifter);
        let n = self.fb.ins().fsub(t, shifter);
        let ln2_hi = self.fconst(f64::from_bits(0x3fe6_2e42_fee0_0000), lanes);
        let ln2_lo = self.fconst(f64::from_bits(0x3dea_39ef_3579_3c76), lanes);
        let r = self.fb.ins().fmul(n, ln2_hi);
        let r = self.fb.ins().fsub(x, r);
        let r2 = self.fb.ins().fmul(n, ln2_lo);
        let r = self.fb.ins().fsub(r, r2);
        let mut coeffs = [1.0f64; 14];
        for k in 1..14 {
            coeffs[k] = coeffs[k - 1] / k as f64;
        }
        // Estrin's scheme for q = c[1] + c[2]·r + … (pairs `c[2i+1] + c[2i+2]·r`, then pairs of
        // those with r², r⁴, r⁸), then p = 1 + r·q. Its dependency chain is five multiply-adds
        // deep where Horner's is thirteen: the pixel loop around an `exp` is bound by that
        // latency, not by the operations' count. Adding the small r·q to 1 last keeps the error
        // near Horner's (about 1 ulp; Estrin over all 14 terms reached 2).
        let mut terms: Vec<Value> = coeffs[1..]
            .chunks(2)
            .map(|c| match *c {
                [c0, c1] => {
                    let (c0, c1) = (self.fconst(c0, lanes), self.fconst(c1, lanes));
                    let t = self.fb.ins().fmul(c1, r);
                    self.fb.ins().fadd(c0, t)
                }
                [c0] => self.fconst(c0, lanes),
                _ => unreachable!("chunks of two"),
            })
            .collect();
        let mut power = r;
        while terms.len() > 1 {
            power = self.fb.ins().fmul(power, power);
            terms = terms
                .chunks(2)
                .map(|t| match t {
                    [lo, hi] => {
                        let h = self.fb.ins().fmul(*hi, power);
                        self.fb.ins().fadd(*lo, h)
                    }
                    [only] => *only,
                    _ => unreachable!("chunks of two"),
                })
                .collect();
        }
        let rq = self.fb.ins().fmul(r, terms[0]);
        let one = self.fconst(1.0, lanes);
        let p = self.fb.ins().fadd(one, rq);
        // 2^n = 2^n1 · 2^n2 with n1 = floor(n / 2): each half stays a normal number.
        let half = self.fconst(0.5, lanes);
        let n1 = self.fb.ins().fmul(n, half);
        let n1 = self.fb.ins().floor(n1);
        let n2 = self.fb.ins().fsub(n, n1);
        let mut scaled = p;
        for part in [n1, n2] {
            let t = self.fb.ins().fadd(part, shifter);
            let bits = self.fb.ins().bitcast(ity, le, t);
            // bits(t) − bits(shifter) is the integer; add the exponent bias and shift it in.
            let bias = (1023i64).wrapping_sub(SHIFTER.to_bits() as i64);
            let bias = self.fb.ins().iconst(types::I64, bias);
            let bias = match lanes {
                Lanes::One => bias,
                Lanes::Two => self.fb.ins().splat(types::I64X2, bias),
            };
            let e = self.fb.ins().iadd(bits, bias);
            let e = self.fb.ins().ishl_imm_s(e, 52);
            let scale = self.fb.ins().bitcast(lanes.ty(), le, e);
            scaled = self.fb.ins().fmul(scaled, scale);
        }
        scaled
    }

    /// The value of scalar node `p`, emitting it (and what it needs) at the current point.
    pub(super) fn scalar(&mut self, p: P) -> Value {
        if let Some(v) = self.svals[self.group].get(&p) {
            return *v;
        }
        let node = self.plan.nodes[p].clone();
        debug_assert!(!node.vector);
        let pix = self.pix;
        let v = match node.op {
            POp::Const(c) => self.fconst(c, pix),
            POp::Param(i) => {
                let params = (self.inputs.params)
                    .expect("params pointer is loaded when the program has params");
                let v = self
                    .fb
                    .ins()
                    .load(types::F64, flags(), params, (8 * i) as i32);
                self.widen(v, pix)
            }
            ref op @ (POp::Sample(_) | POp::Builtin(_) | POp::Plane(_)) => match self.frame {
                Frame::Callback(f) => self.callback_scalar(f, op),
                Frame::Row(r) => self.row_scalar(r, op),
            },
            POp::Reduce(..) => unreachable!("reductions are computed by their pass"),
            ref op => {
                let args: Vec<Value> = Plan::operands(op)
                    .into_iter()
                    .map(|o| self.scalar(o))
                    .collect();
                self.apply(p, &args, pix)
            }
        };
        self.svals[self.group].insert(p, v);
        v
    }

    /// `[v, v + 1]` for two lanes, `v` for one.
    pub(super) fn iota(&mut self, v: Value, lanes: Lanes) -> Value {
        match lanes {
            Lanes::One => v,
            Lanes::Two => {
                let v = self.fb.ins().splat(F64X2, v);
                let one = self.fb.ins().f64const(1.0);
                let zero = self.fb.ins().f64const(0.0);
                let step = self.fb.ins().scalar_to_vector(F64X2, zero);
                let step = self.fb.ins().insertlane(step, one, 1);
                self.fb.ins().fadd(v, step)
            }
        }
    }

    /// A scalar as a per-pixel value: splatted when pixels come two at a time.
    pub(super) fn widen(&mut self, v: Value, lanes: Lanes) -> Value {
        match lanes {
            Lanes::One => v,
            Lanes::Two => self.fb.ins().splat(F64X2, v),
        }
    }

    /// Computes (before the pass) every scalar a pass's vector expressions use, splatted for SIMD.
    pub(super) fn prepare(&mut self, p: P, simd: bool) {
        let mut seen = vec![false; self.plan.nodes.len()];
        self.prepare_node(p, simd, &mut seen);
    }

    pub(super) fn prepare_node(&mut self, p: P, simd: bool, seen: &mut [bool]) {
        if std::mem::replace(&mut seen[p], true) {
            return;
        }
        let node = &self.plan.nodes[p];
        if !node.vector {
            let v = self.scalar(p);
            if simd && !self.splats.contains_key(&p) {
                let s = self.fb.ins().splat(F64X2, v);
                self.splats.insert(p, s);
            }
            return;
        }
        for o in Plan::operands(&node.op) {
            self.prepare_node(o, simd, seen);
        }
    }

    /// The value of node `p` for window elements `j..j+lanes`.
    pub(super) fn elem(
        &mut self,
        p: P,
        lanes: Lanes,
        j: Value,
        memo: &mut HashMap<P, Value>,
    ) -> Value {
        if let Some(v) = memo.get(&p) {
            return *v;
        }
        // A vector that depends only on the element (dx, k, i, numbers, params) is the same for
        // every pixel, so all groups share one computation per element.
        let shared = self.plan.nodes[p].vector && self.elem_only[p];
        if shared {
            if let Some(v) = self.jmemo.get(&p) {
                return *v;
            }
        }
        if self.filling != Some(p) {
            if let Some(&table) = self.lookups.element.get(&p) {
                let j8 = self.fb.ins().ishl_imm_s(j, 3);
                let addr = self.fb.ins().iadd(table, j8);
                let v = self.fb.ins().load(types::F64, flags(), addr, 0);
                let v = self.widen(v, lanes);
                memo.insert(p, v);
                if shared {
                    self.jmemo.insert(p, v);
                }
                return v;
            }
            if let Some(&(table, key)) = self.lookups.keyed.get(&p) {
                let kv = self.elem(key, lanes, j, memo);
                let v = self.lookup(table, kv, lanes);
                memo.insert(p, v);
                return v;
            }
        }
        let node = &self.plan.nodes[p];
        let v = if !node.vector {
            // Splatted when the lanes are elements of one pixel (the callback's SIMD part).
            if lanes == self.pix {
                self.svals[self.group][&p]
            } else {
                self.splats[&p]
            }
        } else {
            match node.op.clone() {
                POp::Sample(_) | POp::Builtin(_) => match self.frame {
                    Frame::Callback(f) => self.callback_vector(f, p, lanes, j),
                    Frame::Row(r) => self.row_vector(r, p, lanes, j),
                },
                ref op => {
                    let args: Vec<Value> = Plan::operands(op)
                        .into_iter()
                        .map(|o| self.elem(o, lanes, j, memo))
                        .collect();
                    self.apply(p, &args, lanes)
                }
            }
        };
        memo.insert(p, v);
        if shared {
            self.jmemo.insert(p, v);
        }
        v
    }
}
