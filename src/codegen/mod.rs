//! Loop plan → Cranelift IR → native code with scipy's `generic_filter` callback signature:
//! `int f(double *buffer, intptr_t filter_size, double *return_value, void *user_data)`.
//!
//! Each stage of the plan becomes one pass over the window: a SIMD part that handles four
//! elements per iteration in two F64X2 lanes with independent accumulators (so `max` or `sum`
//! is not latency-bound), then a scalar tail. NaN-propagating `min`/`max` use a compare+select
//! and a separate NaN flag fixed up after the pass, which is much cheaper than IEEE `fmax`.

use crate::error::Error;
use crate::ir::{BinOp, Builtin, Func, UnOp};
use crate::limits::{Limit, Limits};
use crate::plan::{Acc, POp, Plan, Tables, P};
use crate::runtime::{self, CallbackContext, RowArgs};
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{
    types, AbiParam, Endianness, Function, InstBuilder, MemFlagsData, Signature, Type,
    UserFuncName, Value,
};
use cranelift_codegen::isa::{CallConv, OwnedTargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, Linkage, Module};
use std::collections::HashMap;
use std::mem::offset_of;
use std::os::raw::{c_int, c_void};
use std::sync::OnceLock;

/// scipy's `generic_filter` LowLevelCallable signature.
pub type CallbackFn = unsafe extern "C" fn(*const f64, isize, *mut f64, *mut c_void) -> c_int;
/// A fused row function: computes one output row straight from the padded input block.
pub type RowFn = unsafe extern "C" fn(*mut RowArgs);

/// A compiled row function and how many tables of each kind it fills (see `Plan::tables`): its
/// caller passes `element × n` and `keyed × lut_len` values of room in `RowArgs`.
#[derive(Clone, Copy)]
pub struct RowCode {
    pub f: RowFn,
    pub element: usize,
    pub keyed: usize,
}

/// Which function to generate from a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// scipy's callback: one window in a buffer, SIMD across window elements.
    Callback,
    /// A whole output row, SIMD across output pixels, reading the padded block directly.
    Row,
    /// A row function that also looks up keyed values in tables over the key's values
    /// (integer images), and checks the split `exp` factors it tabulates.
    RowKeyed,
}

const PTR: Type = types::I64;
/// 1.5·2^52: adding it to a number below 2^51 in magnitude rounds it to an integer held in the
/// low mantissa bits, so `bits(x + SHIFTER) - bits(SHIFTER)` is that integer.
const SHIFTER: f64 = 6_755_399_441_055_744.0;
const F64X2: Type = types::F64X2;
/// F64X2 vectors handled per SIMD iteration, each with its own accumulators.
const UNROLL: usize = 2;
/// Pixel pairs handled per iteration of a row function, each with its own accumulators.
const ROW_GROUPS: usize = 4;
/// Plans larger than this get one pixel pair per iteration: their bodies have independent work
/// enough, and four copies of a huge body cost four times the code and far more than four times
/// the compile time (the register allocator is superlinear in a block's size).
const ROW_GROUPS_MAX_NODES: usize = 1024;

fn isa() -> Result<OwnedTargetIsa, Error> {
    static ISA: OnceLock<Result<OwnedTargetIsa, String>> = OnceLock::new();
    ISA.get_or_init(|| {
        let mut flags = settings::builder();
        let set =
            |f: &mut settings::Builder, k: &str, v: &str| f.set(k, v).map_err(|e| e.to_string());
        set(&mut flags, "opt_level", "speed")?;
        set(&mut flags, "is_pic", "false")?;
        set(&mut flags, "use_colocated_libcalls", "false")?;
        set(
            &mut flags,
            "enable_verifier",
            if cfg!(debug_assertions) {
                "true"
            } else {
                "false"
            },
        )?;
        let builder =
            cranelift_native::builder().map_err(|e| format!("host not supported: {e}"))?;
        builder
            .finish(settings::Flags::new(flags))
            .map_err(|e| e.to_string())
    })
    .clone()
    .map_err(Error::Codegen)
}

/// Native code for one kernel: the functions compiled together, owning their JIT memory.
pub struct Code {
    module: Option<JITModule>,
    /// Each function's target, address and table counts (element, keyed).
    funcs: Vec<(Target, *const u8, (usize, usize))>,
    /// Bytes of machine code of all the functions.
    bytes: usize,
    /// Param defaults, read by the callback when the context gives no params. Boxed so the
    /// address baked into the code stays valid.
    _defaults: Box<[f64]>,
}

impl Code {
    /// Bytes of machine code of all the functions.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The `i`-th function, which must be a callback.
    pub fn callback(&self, i: usize) -> CallbackFn {
        let (target, ptr, _) = self.funcs[i];
        assert_eq!(target, Target::Callback);
        // SAFETY: built with exactly the `CallbackFn` signature.
        unsafe { std::mem::transmute::<*const u8, CallbackFn>(ptr) }
    }

    /// The `i`-th function, which must be a row function, with its table counts.
    pub fn row(&self, i: usize) -> RowCode {
        let (target, ptr, (element, keyed)) = self.funcs[i];
        assert!(matches!(target, Target::Row | Target::RowKeyed));
        // SAFETY: built with exactly the `RowFn` signature.
        let f = unsafe { std::mem::transmute::<*const u8, RowFn>(ptr) };
        RowCode { f, element, keyed }
    }
}

// SAFETY: after `finalize_definitions` the module's code and data are immutable and only read;
// the module is touched again only in `Drop`, which has exclusive access. The generated function
// keeps no state of its own (per-call state lives in the caller's context and in thread-locals).
unsafe impl Send for Code {}
unsafe impl Sync for Code {}

impl Drop for Code {
    fn drop(&mut self) {
        if let Some(m) = self.module.take() {
            // SAFETY: no copy of `func` outlives the `Kernel` that owns this `Code` (and a failed
            // `compile` handed none out).
            unsafe { m.free_memory() };
        }
    }
}

/// Helper symbols the generated code may call.
fn helper_symbols() -> Vec<(&'static str, *const u8)> {
    let mut v: Vec<(&'static str, *const u8)> = Func::ALL
        .iter()
        .filter_map(|f| runtime::unary_helper(*f))
        .collect();
    v.extend(["pow", "atan2", "hypot", "mod"].map(runtime::binary_helper));
    v.push(("jf_scratch", runtime::jf_scratch as *const u8));
    v.push(("jf_sorted", runtime::jf_sorted as *const u8));
    v.push(("jf_track", runtime::jf_track as *const u8));
    v
}

/// Compiles each (plan, target) into one module. `defaults` are the params' default values.
/// The functions' machine code together may take at most `limits.max_code_bytes`. Recursive over
/// the plans' depth: `Kernel` runs it on a thread with stack for their nodes (`src/stack.rs`).
pub fn compile(
    functions: &[(&Plan, Target)],
    defaults: &[f64],
    limits: &Limits,
) -> Result<Code, Error> {
    let isa = isa()?;
    let mut jb = JITBuilder::with_isa(isa, default_libcall_names());
    for (name, ptr) in helper_symbols() {
        jb.symbol(name, ptr);
    }
    // Owned by `Code` from the start, so that an error below frees the JIT memory.
    let mut code = Code {
        module: Some(JITModule::new(jb)),
        funcs: Vec::new(),
        bytes: 0,
        _defaults: defaults.into(),
    };
    let module = code.module.as_mut().expect("the module is set above");
    let cg = |e: cranelift_module::ModuleError| Error::Codegen(format!("{e:?}"));
    let mut ids = Vec::new();
    for (i, (plan, target)) in functions.iter().enumerate() {
        let mut ctx = module.make_context();
        let tables = tables_for(plan, *target);
        ctx.func = build_function(plan, *target, &tables, &code._defaults, module)?;
        let id = module
            .declare_function(&format!("f{i}"), Linkage::Export, &ctx.func.signature)
            .map_err(cg)?;
        module.define_function(id, &mut ctx).map_err(cg)?;
        // Checked per function, so that a huge kernel stops at its first function over the limit.
        code.bytes += ctx
            .compiled_code()
            .map_or(0, |c| c.code_info().total_size as usize);
        if code.bytes > limits.max_code_bytes {
            let what = format!(
                "the generated machine code is at least {} bytes",
                code.bytes
            );
            return Err(Limit::CodeBytes.exceeded(limits, what).into());
        }
        ids.push((*target, id, (tables.element.len(), tables.keyed.len())));
    }
    module.finalize_definitions().map_err(cg)?;
    code.funcs = ids
        .into_iter()
        .map(|(t, id, counts)| (t, module.get_finalized_function(id), counts))
        .collect();
    Ok(code)
}

/// The Cranelift IR of a plan for `target`, as text (for `jitfilter ir`).
pub fn ir_text(plan: &Plan, target: Target) -> Result<String, Error> {
    let isa = isa()?;
    let mut module = JITModule::new(JITBuilder::with_isa(isa, default_libcall_names()));
    // Placeholder defaults: the text shows their address, nothing runs.
    let params = plan.nodes.iter().filter_map(|n| match n.op {
        POp::Param(i) => Some(i + 1),
        _ => None,
    });
    let defaults = vec![0.0; params.max().unwrap_or(0)];
    let tables = tables_for(plan, target);
    Ok(
        build_function(plan, target, &tables, &defaults, &mut module)?
            .display()
            .to_string(),
    )
}

fn row_signature() -> Signature {
    let mut sig = Signature::new(CallConv::SystemV);
    sig.params.push(AbiParam::new(PTR));
    sig
}

fn callback_signature() -> Signature {
    let mut sig = Signature::new(CallConv::SystemV);
    sig.params.extend([PTR, PTR, PTR, PTR].map(AbiParam::new));
    sig.returns.push(AbiParam::new(types::I32));
    sig
}

/// The tables a function for `target` fills (none for the callback).
fn tables_for(plan: &Plan, target: Target) -> Tables {
    match target {
        Target::Callback => Tables::default(),
        Target::Row => plan.tables(false),
        Target::RowKeyed => plan.tables(true),
    }
}

fn build_function(
    plan: &Plan,
    target: Target,
    tables: &Tables,
    defaults: &[f64],
    module: &mut JITModule,
) -> Result<Function, Error> {
    let sig = match target {
        Target::Callback => callback_signature(),
        Target::Row | Target::RowKeyed => row_signature(),
    };
    let mut func = Function::with_name_signature(UserFuncName::user(0, 0), sig);
    let mut fctx = FunctionBuilderContext::new();
    let frontend_config = module.target_config();
    {
        let fb = FunctionBuilder::new(&mut func, &mut fctx);
        let none = Value::reserved_value_hack();
        let mut e = Emitter {
            plan,
            fb,
            module,
            svals: vec![HashMap::new()],
            group: 0,
            xs: Vec::new(),
            jcache: HashMap::new(),
            jmemo: HashMap::new(),
            elem_only: plan.element_only(),
            etables: (tables.element.iter().enumerate())
                .map(|(i, &p)| (p, i))
                .collect(),
            ktables: (tables.keyed.iter().enumerate())
                .map(|(i, &(p, key))| (p, (i, key)))
                .collect(),
            etab: Vec::new(),
            ktab: Vec::new(),
            filling: None,
            table_list: tables.clone(),
            splats: HashMap::new(),
            helpers: HashMap::new(),
            buf: none,
            n: none,
            nf: none,
            ctxp: none,
            params: None,
            tables: HashMap::new(),
            c: None,
            err_block: None,
            sorted_slots: 0,
            row: None,
            pix: Lanes::One,
        };
        match target {
            Target::Callback => e.emit_callback(defaults)?,
            Target::Row | Target::RowKeyed => e.emit_row(),
        }
        e.fb.finalize(frontend_config);
    }
    Ok(func)
}

trait Placeholder {
    fn reserved_value_hack() -> Self;
}
impl Placeholder for Value {
    fn reserved_value_hack() -> Value {
        use cranelift_codegen::entity::packed_option::ReservedValue;
        Value::reserved_value()
    }
}

/// Element width of a pass: one double, or two in an F64X2.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Lanes {
    One,
    Two,
}

impl Lanes {
    fn ty(self) -> Type {
        match self {
            Lanes::One => types::F64,
            Lanes::Two => F64X2,
        }
    }
}

struct Emitter<'a, 'b> {
    plan: &'a Plan,
    fb: FunctionBuilder<'b>,
    module: &'a mut JITModule,
    /// Scalar values computed so far (they dominate everything emitted later).
    svals: Vec<HashMap<P, Value>>,
    /// Row target: the pixel group being emitted (each group is two pixels with its own values
    /// and accumulators; several groups per iteration keep the accumulator chains independent).
    group: usize,
    /// Row target: each group's first column.
    xs: Vec<Value>,
    /// Row target: per window element, values shared by all groups (the element's address in
    /// the block, table entries), so each is loaded once per element.
    jcache: HashMap<Builtin, Value>,
    /// Row target: per window element, element-only vector values shared by all groups.
    jmemo: HashMap<P, Value>,
    /// Per node: depends only on the window element (dx, k, i, numbers, params), not the pixel.
    elem_only: Vec<bool>,
    /// Row targets: tabulated nodes (see `Plan::tables`) → index of their element table, or
    /// of their keyed table and the key.
    etables: HashMap<P, usize>,
    ktables: HashMap<P, (usize, P)>,
    /// Row targets: each element table's address; each keyed table's address minus
    /// `(lut_lo + bits(SHIFTER)) * 8`, so that a key's bits after adding `SHIFTER` index it.
    etab: Vec<Value>,
    ktab: Vec<Value>,
    /// The tabulated node being computed to fill its table (not looked up).
    filling: Option<P>,
    /// The same tables in index order.
    table_list: Tables,
    /// Scalars splatted to F64X2 for the current pass.
    splats: HashMap<P, Value>,
    helpers: HashMap<&'static str, cranelift_codegen::ir::FuncRef>,
    buf: Value,
    n: Value,
    nf: Value,
    ctxp: Value,
    params: Option<Value>,
    tables: HashMap<Builtin, Value>,
    c: Option<Value>,
    err_block: Option<cranelift_codegen::ir::Block>,
    sorted_slots: i64,
    /// Row target: the row's values; `None` for the callback.
    row: Option<RowVals>,
    /// Lanes of per-pixel values: one for the callback, two (or one in the tail) for rows.
    pix: Lanes,
}

/// Values the row function loads once.
#[derive(Clone, Copy)]
struct RowVals {
    args: Value,
    base: Value,
    offs: Value,
    c_off: Value,
    planes: Value,
    /// The current output column.
    x: Value,
}

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

fn flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

impl<'a, 'b> Emitter<'a, 'b> {
    fn uses(&self, b: Builtin) -> bool {
        self.plan.nodes.iter().any(|n| n.op == POp::Builtin(b))
    }

    fn fconst(&mut self, v: f64, lanes: Lanes) -> Value {
        let s = self.fb.ins().f64const(v);
        match lanes {
            Lanes::One => s,
            Lanes::Two => self.fb.ins().splat(F64X2, s),
        }
    }

    /// Branches to the `return 0` block when `cond` (an i8) is true.
    fn fail_if(&mut self, cond: Value) {
        let err = *self.err_block.get_or_insert_with(|| self.fb.create_block());
        let cont = self.fb.create_block();
        self.fb.ins().brif(cond, err, &[], cont, &[]);
        self.fb.seal_block(cont);
        self.fb.switch_to_block(cont);
    }

    fn ctx_load(&mut self, ty: Type, offset: usize) -> Value {
        self.fb.ins().load(ty, flags(), self.ctxp, offset as i32)
    }

    fn emit_callback(&mut self, defaults: &[f64]) -> Result<(), Error> {
        let entry = self.fb.create_block();
        self.fb.append_block_params_for_function_params(entry);
        self.fb.switch_to_block(entry);
        self.fb.seal_block(entry);
        let args = self.fb.block_params(entry).to_vec();
        let (buf, n, out, ctxp) = (args[0], args[1], args[2], args[3]);
        self.buf = buf;
        self.n = n;
        self.ctxp = ctxp;
        self.nf = self.fb.ins().fcvt_from_sint(types::F64, n);

        let tables = [Builtin::K, Builtin::Dx, Builtin::Dy, Builtin::Dz];
        let positions = [
            Builtin::X,
            Builtin::Y,
            Builtin::Z,
            Builtin::Width,
            Builtin::Height,
            Builtin::Depth,
        ];
        let uses_tables = tables.iter().any(|b| self.uses(*b)) || self.uses(Builtin::C);
        let uses_pos = positions.iter().any(|b| self.uses(*b));
        if uses_tables || uses_pos {
            let null = self.fb.ins().icmp_imm_s(IntCC::Equal, ctxp, 0);
            self.fail_if(null);
        }
        if uses_tables {
            let fs = self.ctx_load(PTR, offset_of!(CallbackContext, footprint_size));
            let bad = self.fb.ins().icmp(IntCC::NotEqual, fs, n);
            self.fail_if(bad);
            for (b, off) in [
                (Builtin::K, offset_of!(CallbackContext, k)),
                (Builtin::Dx, offset_of!(CallbackContext, dx)),
                (Builtin::Dy, offset_of!(CallbackContext, dy)),
                (Builtin::Dz, offset_of!(CallbackContext, dz)),
            ] {
                if self.uses(b) {
                    let t = self.ctx_load(PTR, off);
                    let null = self.fb.ins().icmp_imm_s(IntCC::Equal, t, 0);
                    self.fail_if(null);
                    self.tables.insert(b, t);
                }
            }
        }
        if self.uses(Builtin::C) {
            let ci = self.ctx_load(PTR, offset_of!(CallbackContext, c_index));
            let neg = self.fb.ins().icmp_imm_s(IntCC::SignedLessThan, ci, 0);
            self.fail_if(neg);
            let off = self.fb.ins().ishl_imm_s(ci, 3);
            let addr = self.fb.ins().iadd(buf, off);
            self.c = Some(self.fb.ins().load(types::F64, flags(), addr, 0));
        }
        if uses_pos {
            let has = self.ctx_load(PTR, offset_of!(CallbackContext, has_shape));
            let none = self.fb.ins().icmp_imm_s(IntCC::Equal, has, 0);
            self.fail_if(none);
            let track = self.ctx_load(PTR, offset_of!(CallbackContext, track));
            let do_track = self.fb.create_block();
            let after = self.fb.create_block();
            self.fb.ins().brif(track, do_track, &[], after, &[]);
            self.fb.seal_block(do_track);
            self.fb.switch_to_block(do_track);
            self.call_helper("jf_track", &[PTR], None, &[ctxp]);
            self.fb.ins().jump(after, &[]);
            self.fb.seal_block(after);
            self.fb.switch_to_block(after);
        }
        if !defaults.is_empty() {
            // params = ctx && ctx.params ? ctx.params (checked count) : defaults
            let use_ctx = self.fb.create_block();
            let done = self.fb.create_block();
            self.fb.append_block_param(done, PTR);
            let dflt = self.fb.ins().iconst(PTR, defaults.as_ptr() as i64);
            self.fb.ins().brif(ctxp, use_ctx, &[], done, &[dflt.into()]);
            self.fb.seal_block(use_ctx);
            self.fb.switch_to_block(use_ctx);
            let pp = self.ctx_load(PTR, offset_of!(CallbackContext, params));
            let np = self.ctx_load(PTR, offset_of!(CallbackContext, n_params));
            let wrong = self
                .fb
                .ins()
                .icmp_imm_s(IntCC::NotEqual, np, defaults.len() as i64);
            let set = self.fb.ins().icmp_imm_s(IntCC::NotEqual, pp, 0);
            let bad = self.fb.ins().band(wrong, set);
            self.fail_if(bad);
            let chosen = self.fb.ins().select(set, pp, dflt);
            self.fb.ins().jump(done, &[chosen.into()]);
            self.fb.seal_block(done);
            self.fb.switch_to_block(done);
            self.params = Some(self.fb.block_params(done)[0]);
        }

        for stage in 0..self.plan.stages.len() {
            self.emit_pass(stage);
        }
        let result = self.scalar(self.plan.root);
        self.fb.ins().store(flags(), result, out, 0);
        let one = self.fb.ins().iconst(types::I32, 1);
        self.fb.ins().return_(&[one]);
        if let Some(err) = self.err_block {
            self.fb.switch_to_block(err);
            self.fb.seal_block(err);
            let zero = self.fb.ins().iconst(types::I32, 0);
            self.fb.ins().return_(&[zero]);
        }
        Ok(())
    }

    fn row_load(&mut self, ty: Type, offset: usize) -> Value {
        let args = self.row.expect("row target").args;
        self.fb.ins().load(ty, flags(), args, offset as i32)
    }

    /// `void row(const RowArgs *)`: for x in 0..width, out[x] = kernel(pixel x). Two pixels per
    /// iteration in F64X2 lanes, then a one-pixel tail.
    fn emit_row(&mut self) {
        let entry = self.fb.create_block();
        self.fb.append_block_params_for_function_params(entry);
        self.fb.switch_to_block(entry);
        self.fb.seal_block(entry);
        let args = self.fb.block_params(entry)[0];
        let none = Value::reserved_value_hack();
        self.row = Some(RowVals {
            args,
            base: none,
            offs: none,
            c_off: none,
            planes: none,
            x: none,
        });
        let base = self.row_load(PTR, offset_of!(RowArgs, base));
        let offs = self.row_load(PTR, offset_of!(RowArgs, offs));
        let c_off = self.row_load(types::I64, offset_of!(RowArgs, c_off));
        let planes = self.row_load(PTR, offset_of!(RowArgs, planes));
        self.row = Some(RowVals {
            args,
            base,
            offs,
            c_off,
            planes,
            x: none,
        });
        self.n = self.row_load(types::I64, offset_of!(RowArgs, n));
        self.nf = self.fb.ins().fcvt_from_sint(types::F64, self.n);
        self.params = Some(self.row_load(PTR, offset_of!(RowArgs, params)));
        for (b, off) in [
            (Builtin::K, offset_of!(RowArgs, k)),
            (Builtin::Dx, offset_of!(RowArgs, dx)),
            (Builtin::Dy, offset_of!(RowArgs, dy)),
            (Builtin::Dz, offset_of!(RowArgs, dz)),
        ] {
            if self.uses(b) {
                let t = self.row_load(PTR, off);
                self.tables.insert(b, t);
            }
        }
        if !self.etables.is_empty() || !self.ktables.is_empty() {
            self.emit_tables();
        }
        let out = self.row_load(PTR, offset_of!(RowArgs, out));
        let width = self.row_load(types::I64, offset_of!(RowArgs, width));
        let x = self.new_var(types::I64);
        let zero = self.fb.ins().iconst(types::I64, 0);
        self.fb.def_var(x, zero);
        // Several pixel pairs per iteration give independent chains to overlap. Big plans and
        // an inline `exp` have long chains of their own, and one pair keeps their code small:
        // bilateral compiles in 0.7 ms instead of 2.4 ms with 4 pairs, for ~20% more filter time.
        let has_exp = self.loop_has_exp();
        let loops: &[(Lanes, usize)] = if self.plan.nodes.len() > ROW_GROUPS_MAX_NODES || has_exp {
            &[(Lanes::Two, 1), (Lanes::One, 1)]
        } else {
            &[(Lanes::Two, ROW_GROUPS), (Lanes::Two, 1), (Lanes::One, 1)]
        };
        for &(lanes, groups) in loops {
            let width_of_group = if lanes == Lanes::Two { 2 } else { 1 };
            self.counted_loop(x, (width_of_group * groups) as i64, width, |e, xv| {
                e.pix = lanes;
                e.svals = vec![HashMap::new(); groups];
                e.xs = (0..groups)
                    .map(|g| e.fb.ins().iadd_imm_s(xv, (g * width_of_group) as i64))
                    .collect();
                for stage in 0..e.plan.stages.len() {
                    e.emit_pass(stage);
                }
                for g in 0..groups {
                    e.set_group(g);
                    let result = e.scalar(e.plan.root);
                    let off = e.fb.ins().ishl_imm_s(e.xs[g], 3);
                    let addr = e.fb.ins().iadd(out, off);
                    e.fb.ins().store(flags(), result, addr, 0);
                }
            });
        }
        self.fb.ins().return_(&[]);
    }

    /// Whether the pixel loop computes an `exp` (not counting those in tables).
    fn loop_has_exp(&self) -> bool {
        let mut seen = vec![false; self.plan.nodes.len()];
        let mut todo = vec![self.plan.root];
        todo.extend(self.plan.stages.iter().flatten());
        while let Some(p) = todo.pop() {
            if std::mem::replace(&mut seen[p], true)
                || self.etables.contains_key(&p)
                || self.ktables.contains_key(&p)
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

    /// The row function's prologue: the tables' addresses, and when `fill` is set, their
    /// values — element tables for each window element, keyed tables for each key value
    /// `lut_lo ..`, computed one value at a time by the same operations as the pixel loop's.
    fn emit_tables(&mut self) {
        let etab = self.row_load(PTR, offset_of!(RowArgs, tables));
        let ktab = self.row_load(PTR, offset_of!(RowArgs, luts));
        let lo = self.row_load(types::I64, offset_of!(RowArgs, lut_lo));
        let len = self.row_load(types::I64, offset_of!(RowArgs, lut_len));
        let n8 = self.fb.ins().ishl_imm_s(self.n, 3);
        let len8 = self.fb.ins().ishl_imm_s(len, 3);
        let raw = |e: &mut Self, base: Value, stride: Value, i: usize| {
            let off = e.fb.ins().imul_imm_s(stride, i as i64);
            e.fb.ins().iadd(base, off)
        };
        let t = self.table_list.clone();
        let eraw: Vec<Value> = (0..t.element.len())
            .map(|i| raw(self, etab, n8, i))
            .collect();
        let kraw: Vec<Value> = (0..t.keyed.len())
            .map(|i| raw(self, ktab, len8, i))
            .collect();
        let bias = self.fb.ins().iadd_imm_s(lo, SHIFTER.to_bits() as i64);
        let bias = self.fb.ins().ishl_imm_s(bias, 3);
        self.etab = eraw.clone();
        self.ktab = kraw.iter().map(|&r| self.fb.ins().isub(r, bias)).collect();

        let fill = self.row_load(types::I64, offset_of!(RowArgs, fill));
        let fill_block = self.fb.create_block();
        let after = self.fb.create_block();
        self.fb.ins().brif(fill, fill_block, &[], after, &[]);
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
        let entries = (t
            .element
            .iter()
            .zip(&eraw)
            .map(|(&p, &b)| (p, None, b, self.n)))
        .chain((t.keyed.iter().zip(&kraw)).map(|(&(p, k), &b)| (p, Some(k), b, len)))
        .collect::<Vec<_>>();
        for (p, key, base, count) in entries {
            let mut seen = vec![false; self.plan.nodes.len()];
            if let Some(k) = key {
                seen[k] = true; // the key is given, not computed from the pixel
            }
            self.prepare_node(p, false, &mut seen);
            let j = self.new_var(types::I64);
            let zero = self.fb.ins().iconst(types::I64, 0);
            self.fb.def_var(j, zero);
            self.counted_loop(j, 1, count, |e, jv| {
                e.jcache.clear();
                e.jmemo.clear();
                let mut memo = HashMap::new();
                if let Some(k) = key {
                    let d = e.fb.ins().iadd(jv, lo);
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
        let args = self.row.expect("row target").args;
        (self.fb.ins()).store(flags(), ok, args, offset_of!(RowArgs, ok) as i32);
        self.fb.ins().jump(after, &[]);
        self.fb.seal_block(after);
        self.fb.switch_to_block(after);
        // Values of the fill block do not dominate what follows.
        self.jcache.clear();
        self.jmemo.clear();
        self.svals = groups;
        self.pix = pix;
    }

    /// The entry of keyed table `i` for key values `kv` (exact integers in the table's range).
    fn lookup(&mut self, i: usize, kv: Value, lanes: Lanes) -> Value {
        let le = MemFlagsData::new().with_endianness(Endianness::Little);
        let shifter = self.fconst(SHIFTER, lanes);
        let t = self.fb.ins().fadd(kv, shifter);
        let table = self.ktab[i];
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
                let v = self.fb.ins().scalar_to_vector(F64X2, v0);
                self.fb.ins().insertlane(v, v1, 1)
            }
        }
    }

    /// Makes group `g` current: its values and its column.
    fn set_group(&mut self, g: usize) {
        self.group = g;
        if let Some(r) = self.row.as_mut() {
            r.x = self.xs[g];
        }
    }

    fn call_helper(
        &mut self,
        name: &'static str,
        params: &[Type],
        ret: Option<Type>,
        args: &[Value],
    ) -> Option<Value> {
        let fref = match self.helpers.get(name) {
            Some(f) => *f,
            None => {
                let mut sig = Signature::new(CallConv::SystemV);
                sig.params.extend(params.iter().map(|t| AbiParam::new(*t)));
                sig.returns.extend(ret.map(AbiParam::new));
                let id = self
                    .module
                    .declare_function(name, Linkage::Import, &sig)
                    .expect("helper signature is fixed");
                let f = self.module.declare_func_in_func(id, self.fb.func);
                self.helpers.insert(name, f);
                f
            }
        };
        let call = self.fb.ins().call(fref, args);
        self.fb.inst_results(call).first().copied()
    }

    /// Calls a scalar helper once per lane.
    fn call_lanes(&mut self, name: &'static str, args: &[Value], lanes: Lanes) -> Value {
        let params = vec![types::F64; args.len()];
        match lanes {
            Lanes::One => self
                .call_helper(name, &params, Some(types::F64), args)
                .unwrap(),
            Lanes::Two => {
                let mut out = None;
                for lane in 0..2u8 {
                    let a: Vec<Value> = args
                        .iter()
                        .map(|v| self.fb.ins().extractlane(*v, lane))
                        .collect();
                    let r = self
                        .call_helper(name, &params, Some(types::F64), &a)
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
    fn mask_to_f64(&mut self, mask: Value, lanes: Lanes) -> Value {
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
    fn select_mask(&mut self, mask: Value, x: Value, y: Value, lanes: Lanes) -> Value {
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

    fn truthy(&mut self, v: Value, lanes: Lanes) -> Value {
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
            POp::Const(_) | POp::Param(_) | POp::Builtin(_) | POp::Reduce(..) | POp::Plane(_) => {
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

    fn call(&mut self, f: Func, a: &[Value], lanes: Lanes) -> Value {
        match f {
            Func::Abs => self.fb.ins().fabs(a[0]),
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
            Func::Pow => self.call_lanes("jf_pow", a, lanes),
            Func::Atan2 => self.call_lanes("jf_atan2", a, lanes),
            Func::Hypot => self.call_lanes("jf_hypot", a, lanes),
            other => {
                let (name, _) =
                    runtime::unary_helper(other).expect("every other function has a helper");
                self.call_lanes(name, a, lanes)
            }
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
        let mut p = self.fconst(coeffs[13], lanes);
        for &c in coeffs[..13].iter().rev() {
            let c = self.fconst(c, lanes);
            p = self.fb.ins().fmul(p, r);
            p = self.fb.ins().fadd(p, c);
        }
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
    fn scalar(&mut self, p: P) -> Value {
        if let Some(v) = self.svals[self.group].get(&p) {
            return *v;
        }
        let node = self.plan.nodes[p].clone();
        debug_assert!(!node.vector);
        let pix = self.pix;
        let v = match node.op {
            POp::Const(c) => self.fconst(c, pix),
            POp::Param(i) => {
                let params = self
                    .params
                    .expect("params pointer is loaded when the program has params");
                let v = self
                    .fb
                    .ins()
                    .load(types::F64, flags(), params, (8 * i) as i32);
                self.widen(v, pix)
            }
            POp::Builtin(b) => self.scalar_builtin(b),
            POp::Plane(i) => {
                let r = self.row.expect("planes exist only in row functions");
                let row = self.fb.ins().load(PTR, flags(), r.planes, (8 * i) as i32);
                let off = self.fb.ins().ishl_imm_s(r.x, 3);
                let addr = self.fb.ins().iadd(row, off);
                self.fb.ins().load(pix.ty(), flags(), addr, 0)
            }
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

    /// A scalar as a per-pixel value: splatted when pixels come two at a time.
    fn widen(&mut self, v: Value, lanes: Lanes) -> Value {
        match lanes {
            Lanes::One => v,
            Lanes::Two => self.fb.ins().splat(F64X2, v),
        }
    }

    /// `[v, v + 1]` for two lanes, `v` for one.
    fn iota(&mut self, v: Value, lanes: Lanes) -> Value {
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

    fn scalar_builtin(&mut self, b: Builtin) -> Value {
        let pix = self.pix;
        if let Some(r) = self.row {
            let v = match b {
                Builtin::C => {
                    let i = self.fb.ins().iadd(r.x, r.c_off);
                    let off = self.fb.ins().ishl_imm_s(i, 3);
                    let addr = self.fb.ins().iadd(r.base, off);
                    return self.fb.ins().load(pix.ty(), flags(), addr, 0);
                }
                Builtin::X => {
                    let xf = self.fb.ins().fcvt_from_sint(types::F64, r.x);
                    return self.iota(xf, pix);
                }
                Builtin::N => self.nf,
                Builtin::Y => self.row_load(types::F64, offset_of!(RowArgs, y)),
                Builtin::Z => self.row_load(types::F64, offset_of!(RowArgs, z)),
                Builtin::Width => self.row_load(types::F64, offset_of!(RowArgs, size)),
                Builtin::Height => self.row_load(types::F64, offset_of!(RowArgs, size) + 8),
                Builtin::Depth => self.row_load(types::F64, offset_of!(RowArgs, size) + 16),
                _ => unreachable!("{b:?} is a vector"),
            };
            return self.widen(v, pix);
        }
        let pos = offset_of!(CallbackContext, pos);
        let size = offset_of!(CallbackContext, size);
        match b {
            Builtin::C => self.c.expect("c is loaded in the prologue"),
            Builtin::N => self.nf,
            Builtin::X => self.ctx_load(types::F64, pos),
            Builtin::Y => self.ctx_load(types::F64, pos + 8),
            Builtin::Z => self.ctx_load(types::F64, pos + 16),
            Builtin::Width => self.ctx_load(types::F64, size),
            Builtin::Height => self.ctx_load(types::F64, size + 8),
            Builtin::Depth => self.ctx_load(types::F64, size + 16),
            _ => unreachable!("{b:?} is a vector"),
        }
    }

    /// Computes (before the pass) every scalar a pass's vector expressions use, splatted for SIMD.
    fn prepare(&mut self, p: P, simd: bool) {
        let mut seen = vec![false; self.plan.nodes.len()];
        self.prepare_node(p, simd, &mut seen);
    }

    fn prepare_node(&mut self, p: P, simd: bool, seen: &mut [bool]) {
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
    fn elem(&mut self, p: P, lanes: Lanes, j: Value, memo: &mut HashMap<P, Value>) -> Value {
        if let Some(v) = memo.get(&p) {
            return *v;
        }
        // Row target: a vector that depends only on the element (dx, k, i, numbers, params) is
        // the same for every pixel, so all groups share one computation per element.
        let shared = self.row.is_some() && self.plan.nodes[p].vector && self.element_only(p);
        if shared {
            if let Some(v) = self.jmemo.get(&p) {
                return *v;
            }
        }
        if self.filling != Some(p) {
            if let Some(&i) = self.etables.get(&p) {
                let j8 = self.fb.ins().ishl_imm_s(j, 3);
                let addr = self.fb.ins().iadd(self.etab[i], j8);
                let v = self.fb.ins().load(types::F64, flags(), addr, 0);
                let v = self.widen(v, lanes);
                memo.insert(p, v);
                if shared {
                    self.jmemo.insert(p, v);
                }
                return v;
            }
            if let Some(&(i, key)) = self.ktables.get(&p) {
                let kv = self.elem(key, lanes, j, memo);
                let v = self.lookup(i, kv, lanes);
                memo.insert(p, v);
                return v;
            }
        }
        let node = &self.plan.nodes[p];
        let v = if !node.vector {
            match lanes {
                Lanes::One => self.svals[self.group][&p],
                _ if self.row.is_some() => self.svals[self.group][&p],
                Lanes::Two => self.splats[&p],
            }
        } else {
            match node.op.clone() {
                POp::Builtin(b) => self.vector_builtin(b, lanes, j),
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

    /// Whether node `p` depends only on the window element, not on the pixel.
    fn element_only(&self, p: P) -> bool {
        self.elem_only[p]
    }

    fn vector_builtin(&mut self, b: Builtin, lanes: Lanes, j: Value) -> Value {
        if let Some(r) = self.row {
            // Row target: lanes are output pixels; element j of pixel x is base[x + offs[j]].
            let shared = match self.jcache.get(&b) {
                Some(v) => *v,
                None => {
                    let j8 = self.fb.ins().ishl_imm_s(j, 3);
                    let v = match b {
                        // The element's address for column 0: base + offs[j] * 8.
                        Builtin::W => {
                            let oaddr = self.fb.ins().iadd(r.offs, j8);
                            let o = self.fb.ins().load(types::I64, flags(), oaddr, 0);
                            let o8 = self.fb.ins().ishl_imm_s(o, 3);
                            self.fb.ins().iadd(r.base, o8)
                        }
                        Builtin::I => {
                            let jf = self.fb.ins().fcvt_from_sint(types::F64, j);
                            self.widen(jf, lanes)
                        }
                        other => {
                            let addr = self.fb.ins().iadd(self.tables[&other], j8);
                            let t = self.fb.ins().load(types::F64, flags(), addr, 0);
                            self.widen(t, lanes)
                        }
                    };
                    self.jcache.insert(b, v);
                    v
                }
            };
            if b != Builtin::W {
                return shared;
            }
            let x8 = self.fb.ins().ishl_imm_s(r.x, 3);
            let addr = self.fb.ins().iadd(shared, x8);
            return self.fb.ins().load(lanes.ty(), flags(), addr, 0);
        }
        let base = match b {
            Builtin::W => self.buf,
            Builtin::I => {
                let jf = self.fb.ins().fcvt_from_sint(types::F64, j);
                return self.iota(jf, lanes);
            }
            other => self.tables[&other],
        };
        let off = self.fb.ins().ishl_imm_s(j, 3);
        let addr = self.fb.ins().iadd(base, off);
        self.fb.ins().load(lanes.ty(), flags(), addr, 0)
    }

    fn new_var(&mut self, ty: Type) -> Variable {
        self.fb.declare_var(ty)
    }

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
    fn emit_pass(&mut self, stage: usize) {
        let reds = self.plan.stages[stage].clone();
        let row = self.row.is_some();
        let pix = self.pix;
        let simd = !row
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
            self.set_group(g);
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
                    let buf = self.call_helper("jf_scratch", &sig, Some(PTR), &[slot, self.n]);
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
        let n = self.n;
        if simd {
            let step = (2 * UNROLL) as i64;
            self.counted_loop(j, step, n, |e, jv| {
                for u in 0..UNROLL {
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
        let lanes = if row { pix } else { Lanes::One };
        self.counted_loop(j, 1, n, |e, jv| {
            e.jcache.clear();
            e.jmemo.clear();
            for (g, group) in states.iter().enumerate() {
                e.set_group(g);
                let mut memo = HashMap::new();
                for st in group {
                    let POp::Reduce(_, arg, _) = e.plan.nodes[st.node].op else {
                        unreachable!()
                    };
                    let v = e.elem(arg, lanes, jv, &mut memo);
                    e.update(st, None, v, jv, lanes);
                }
            }
        });
        for (g, group) in states.iter().enumerate() {
            self.set_group(g);
            for st in group {
                let v = self.finish(st, lanes);
                self.svals[g].insert(st.node, v);
            }
        }
    }

    fn zero_of(&mut self, ty: Type) -> Value {
        if ty == F64X2 {
            return self.fconst(0.0, Lanes::Two);
        }
        if ty.is_vector() {
            let z = self.fb.ins().iconst(ty.lane_type(), 0);
            return self.fb.ins().splat(ty, z);
        }
        self.fb.ins().iconst(ty, 0)
    }

    /// `while j + step <= n { body(j); j += step }`, continuing at the exit block.
    fn counted_loop(
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
                if lanes == Lanes::Two && self.row.is_some() {
                    // One buffer per output pixel.
                    for (lane, buf) in st.scratch.iter().enumerate() {
                        let x = self.fb.ins().extractlane(v, lane as u8);
                        let addr = self.fb.ins().iadd(*buf, off);
                        self.fb.ins().store(flags(), x, addr, 0);
                    }
                } else {
                    let addr = self.fb.ins().iadd(st.scratch[0], off);
                    self.fb.ins().store(flags(), v, addr, 0);
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
                    let args = [kind, buf, self.n, q];
                    let sig = [types::I64, PTR, types::I64, types::F64];
                    results.push(
                        self.call_helper("jf_sorted", &sig, Some(types::F64), &args)
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
