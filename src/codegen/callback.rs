//! The callback target: scipy's `generic_filter` LowLevelCallable,
//! `int f(double *buffer, intptr_t filter_size, double *return_value, void *user_data)`.
//! Owns its signature, its prologue (checking and loading the `CallbackContext`, the params)
//! and its frame: how the lowering loads builtins from one window in a buffer.

use super::{axis_names, flags, uses, Emitter, Frame, Helpers, Inputs, Lanes, Lookups, PTR};
use crate::ir::{Builtin, Sample};
use crate::plan::{POp, Plan, P};
use crate::runtime::CallbackContext;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, AbiParam, Block, InstBuilder, Signature, Type, Value};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::FunctionBuilder;
use std::collections::HashMap;
use std::mem::offset_of;

/// What the callback's prologue loaded that only the callback has.
#[derive(Clone, Copy)]
pub(super) struct CallbackFrame {
    /// The window's values.
    buf: Value,
    /// The `CallbackContext` (null when the program needs none of it).
    ctxp: Value,
    /// The centre value, when the program reads `c`.
    c: Option<Value>,
}

impl CallbackFrame {
    fn load(&self, fb: &mut FunctionBuilder, ty: Type, offset: usize) -> Value {
        fb.ins().load(ty, flags(), self.ctxp, offset as i32)
    }
}

/// Branches to the `return 0` block `err` (created on first use) when `cond` (an i8) is true.
fn fail_if(fb: &mut FunctionBuilder, err: &mut Option<Block>, cond: Value) {
    let err = *err.get_or_insert_with(|| fb.create_block());
    let cont = fb.create_block();
    fb.ins().brif(cond, err, &[], cont, &[]);
    fb.seal_block(cont);
    fb.switch_to_block(cont);
}

pub(super) fn signature() -> Signature {
    let mut sig = Signature::new(CallConv::SystemV);
    sig.params.extend([PTR, PTR, PTR, PTR].map(AbiParam::new));
    sig.returns.push(AbiParam::new(types::I32));
    sig
}

/// Emits the callback: a prologue that checks the context for what the program reads (returning
/// 0 when it lacks it), the plan's passes over the window, and the result stored to `out`.
pub(super) fn emit<'a, 'b>(
    plan: &'a Plan,
    mut fb: FunctionBuilder<'b>,
    mut helpers: Helpers<'a>,
    defaults: &[f64],
) -> FunctionBuilder<'b> {
    let entry = fb.create_block();
    fb.append_block_params_for_function_params(entry);
    fb.switch_to_block(entry);
    fb.seal_block(entry);
    let args = fb.block_params(entry).to_vec();
    let (buf, n, out, ctxp) = (args[0], args[1], args[2], args[3]);
    let mut frame = CallbackFrame { buf, ctxp, c: None };
    let nf = fb.ins().fcvt_from_sint(types::F64, n);
    // The block returning 0, created by the first check.
    let mut err: Option<Block> = None;

    let tables = [Builtin::K, Builtin::Dx, Builtin::Dy, Builtin::Dz];
    let positions = [
        Builtin::X,
        Builtin::Y,
        Builtin::Z,
        Builtin::Width,
        Builtin::Height,
        Builtin::Depth,
        Builtin::Channels,
    ];
    let uses_c = uses(plan, POp::Sample(Sample::C));
    let named = axis_names(plan);
    let offsets_named = named.iter().any(|b| matches!(b, Builtin::D(_)));
    let positions_named = named.iter().any(|b| matches!(b, Builtin::Pos(_)));
    let uses_tables =
        tables.iter().any(|b| uses(plan, POp::Builtin(*b))) || uses_c || offsets_named;
    let uses_pos = positions.iter().any(|b| uses(plan, POp::Builtin(*b))) || positions_named;
    if uses_tables || uses_pos {
        let null = fb.ins().icmp_imm_s(IntCC::Equal, ctxp, 0);
        fail_if(&mut fb, &mut err, null);
    }
    let mut table_addrs = HashMap::new();
    if uses_tables {
        let fs = frame.load(&mut fb, PTR, offset_of!(CallbackContext, footprint_size));
        let bad = fb.ins().icmp(IntCC::NotEqual, fs, n);
        fail_if(&mut fb, &mut err, bad);
        for (b, off) in [
            (Builtin::K, offset_of!(CallbackContext, k)),
            (Builtin::Dx, offset_of!(CallbackContext, dx)),
            (Builtin::Dy, offset_of!(CallbackContext, dy)),
            (Builtin::Dz, offset_of!(CallbackContext, dz)),
        ] {
            if uses(plan, POp::Builtin(b)) {
                let t = frame.load(&mut fb, PTR, off);
                let null = fb.ins().icmp_imm_s(IntCC::Equal, t, 0);
                fail_if(&mut fb, &mut err, null);
                table_addrs.insert(b, t);
            }
        }
        if offsets_named {
            let d = frame.load(&mut fb, PTR, offset_of!(CallbackContext, d));
            let null = fb.ins().icmp_imm_s(IntCC::Equal, d, 0);
            fail_if(&mut fb, &mut err, null);
            for &b in &named {
                if let Builtin::D(j) = b {
                    let slot = (Builtin::axis_slot(j) * 8) as i32;
                    let t = fb.ins().load(PTR, flags(), d, slot);
                    let null = fb.ins().icmp_imm_s(IntCC::Equal, t, 0);
                    fail_if(&mut fb, &mut err, null);
                    table_addrs.insert(b, t);
                }
            }
        }
    }
    if uses_c {
        let ci = frame.load(&mut fb, PTR, offset_of!(CallbackContext, c_index));
        let neg = fb.ins().icmp_imm_s(IntCC::SignedLessThan, ci, 0);
        fail_if(&mut fb, &mut err, neg);
        let off = fb.ins().ishl_imm_s(ci, 3);
        let addr = fb.ins().iadd(buf, off);
        frame.c = Some(fb.ins().load(types::F64, flags(), addr, 0));
    }
    if uses_pos {
        let has = frame.load(&mut fb, PTR, offset_of!(CallbackContext, has_shape));
        let none = fb.ins().icmp_imm_s(IntCC::Equal, has, 0);
        fail_if(&mut fb, &mut err, none);
        let track = frame.load(&mut fb, PTR, offset_of!(CallbackContext, track));
        let do_track = fb.create_block();
        let after = fb.create_block();
        fb.ins().brif(track, do_track, &[], after, &[]);
        fb.seal_block(do_track);
        fb.switch_to_block(do_track);
        helpers.call(&mut fb, "jf_track", &[PTR], None, &[ctxp]);
        fb.ins().jump(after, &[]);
        fb.seal_block(after);
        fb.switch_to_block(after);
        if positions_named {
            let axes = frame.load(&mut fb, PTR, offset_of!(CallbackContext, axes));
            let null = fb.ins().icmp_imm_s(IntCC::Equal, axes, 0);
            fail_if(&mut fb, &mut err, null);
        }
    }
    let mut params = None;
    if !defaults.is_empty() {
        // params = ctx && ctx.params ? ctx.params (checked count) : defaults
        let use_ctx = fb.create_block();
        let done = fb.create_block();
        fb.append_block_param(done, PTR);
        let dflt = fb.ins().iconst(PTR, defaults.as_ptr() as i64);
        fb.ins().brif(ctxp, use_ctx, &[], done, &[dflt.into()]);
        fb.seal_block(use_ctx);
        fb.switch_to_block(use_ctx);
        let pp = frame.load(&mut fb, PTR, offset_of!(CallbackContext, params));
        let np = frame.load(&mut fb, PTR, offset_of!(CallbackContext, n_params));
        let wrong = fb
            .ins()
            .icmp_imm_s(IntCC::NotEqual, np, defaults.len() as i64);
        let set = fb.ins().icmp_imm_s(IntCC::NotEqual, pp, 0);
        let bad = fb.ins().band(wrong, set);
        fail_if(&mut fb, &mut err, bad);
        let chosen = fb.ins().select(set, pp, dflt);
        fb.ins().jump(done, &[chosen.into()]);
        fb.seal_block(done);
        fb.switch_to_block(done);
        params = Some(fb.block_params(done)[0]);
    }

    let inputs = Inputs {
        n,
        nf,
        params,
        tables: table_addrs,
        samples: HashMap::new(),
        planes: HashMap::new(),
    };
    let frame = Frame::Callback(frame);
    let mut e = Emitter::new(plan, fb, helpers, inputs, frame, Lookups::default());
    for stage in 0..plan.stages.len() {
        e.emit_pass(stage);
    }
    let [root] = plan.roots[..] else {
        unreachable!("the kernel refuses a callback for several outputs")
    };
    let result = e.scalar(root);
    e.fb.ins().store(flags(), result, out, 0);
    let one = e.fb.ins().iconst(types::I32, 1);
    e.fb.ins().return_(&[one]);
    if let Some(err) = err {
        e.fb.switch_to_block(err);
        e.fb.seal_block(err);
        let zero = e.fb.ins().iconst(types::I32, 0);
        e.fb.ins().return_(&[zero]);
    }
    e.fb
}

impl Emitter<'_, '_> {
    /// Scalar leaf `op` (a builtin of the window's pixel) in the callback.
    pub(super) fn callback_scalar(&mut self, f: CallbackFrame, op: &POp) -> Value {
        let pos = offset_of!(CallbackContext, pos);
        let size = offset_of!(CallbackContext, size);
        let fb = &mut self.fb;
        match *op {
            POp::Sample(Sample::C) => f.c.expect("c is loaded in the prologue"),
            POp::Builtin(Builtin::N) => self.inputs.nf,
            POp::Builtin(Builtin::X) => f.load(fb, types::F64, pos),
            POp::Builtin(Builtin::Y) => f.load(fb, types::F64, pos + 8),
            POp::Builtin(Builtin::Z) => f.load(fb, types::F64, pos + 16),
            POp::Builtin(Builtin::Width) => f.load(fb, types::F64, size),
            POp::Builtin(Builtin::Height) => f.load(fb, types::F64, size + 8),
            POp::Builtin(Builtin::Depth) => f.load(fb, types::F64, size + 16),
            POp::Builtin(Builtin::Channels) => f.load(fb, types::F64, size + 24),
            POp::Builtin(Builtin::Pos(j)) => {
                // sx·x + sy·y + sz·z + the position along a folded axis (see `Setup::axes`).
                let axes = f.load(fb, PTR, offset_of!(CallbackContext, axes));
                let slot = (Builtin::axis_slot(j) * 40) as i32;
                let mut acc = fb.ins().load(types::F64, flags(), axes, slot + 24);
                for k in 0..3 {
                    let s = fb.ins().load(types::F64, flags(), axes, slot + 8 * k);
                    let p = f.load(fb, types::F64, pos + 8 * k as usize);
                    let term = fb.ins().fmul(s, p);
                    acc = fb.ins().fadd(acc, term);
                }
                acc
            }
            ref op => unreachable!("{op:?} is not a scalar leaf of the callback"),
        }
    }

    /// Vector leaf `p` (`w` or a builtin) at window elements `j..j+lanes`: consecutive values in
    /// the buffer or the context's tables.
    pub(super) fn callback_vector(
        &mut self,
        f: CallbackFrame,
        p: P,
        lanes: Lanes,
        j: Value,
    ) -> Value {
        let base = match self.plan.nodes[p].op {
            POp::Sample(Sample::W) => f.buf,
            POp::Builtin(Builtin::I) => {
                let jf = self.fb.ins().fcvt_from_sint(types::F64, j);
                return self.iota(jf, lanes);
            }
            POp::Builtin(other) => self.inputs.tables[&other],
            ref op => unreachable!("{op:?} is not a vector leaf of the callback"),
        };
        let off = self.fb.ins().ishl_imm_s(j, 3);
        let addr = self.fb.ins().iadd(base, off);
        self.fb.ins().load(lanes.ty(), flags(), addr, 0)
    }
}
