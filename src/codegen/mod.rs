//! Loop plan → Cranelift IR → native code, for two targets: scipy's `generic_filter` callback
//! (`callback`) and fused row functions (`row`). This module owns what they share: the
//! compiled [`Code`], [`compile`] and [`ir_text`], the ISA, the helper symbols, which functions
//! are computed inline ([`inlined`], also the planner's cost model), and the `Emitter` that the
//! lowering of operations (`lower`) and the accumulator passes (`accum`) extend. A target's
//! prologue loads its `Frame` before the lowering starts.

mod accum;
mod callback;
mod keyed;
mod lower;
mod row;
pub mod tables;

use crate::error::Error;
use crate::ir::{Builtin, Func, Sample};
use crate::limits::{Limit, Limits};
use crate::plan::{POp, Plan, P};
use crate::runtime::{self, RowArgs};
use crate::stack::Depth;
use callback::CallbackFrame;
use cranelift_codegen::ir::{
    types, AbiParam, FuncRef, Function, InstBuilder, MemFlagsData, Signature, Type, UserFuncName,
    Value,
};
use cranelift_codegen::isa::{CallConv, OwnedTargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, Linkage, Module};
pub use keyed::native_passes;
use row::RowFrame;
use std::collections::HashMap;
use std::os::raw::{c_int, c_void};
use std::sync::OnceLock;
pub use tables::{tables, Tables};

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
pub(crate) const SHIFTER: f64 = 6_755_399_441_055_744.0;
const F64X2: Type = types::F64X2;

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
    v.push((
        "jf_keyed_sums",
        crate::keyed_sums::jf_keyed_sums as *const u8,
    ));
    v.push(("jf_track", runtime::jf_track as *const u8));
    v
}

/// Compiles each (plan, target) into one module. `defaults` are the params' default values.
/// The functions' machine code together may take at most `limits.max_code_bytes`. Recursive over
/// the plans' depth: `Kernel` runs it with stack for their [`depth`] (`src/stack.rs`).
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
        ctx.func = build_function(plan, *target, &tables, &code._defaults, module);
        // For work on code shapes: JF_DISASM=1 prints each function's machine code to stderr.
        ctx.set_disasm(std::env::var_os("JF_DISASM").is_some());
        let id = module
            .declare_function(&format!("f{i}"), Linkage::Export, &ctx.func.signature)
            .map_err(cg)?;
        module.define_function(id, &mut ctx).map_err(cg)?;
        if let Some(v) = ctx.compiled_code().and_then(|c| c.vcode.as_ref()) {
            eprintln!("{v}");
        }
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
    let func = build_function(plan, target, &tables, &defaults, &mut module);
    Ok(func.display().to_string())
}

/// The code generator's depth for these plans: it recurses per node along a plan's longest path.
pub fn depth<'a>(plans: impl IntoIterator<Item = &'a Plan>) -> Depth {
    Depth {
        nodes: plans.into_iter().map(|p| p.nodes.len()).max().unwrap_or(0),
        ..Depth::default()
    }
}

/// Whether the generated code computes `f` inline; every other function is a helper call per
/// lane. The planner's cost model reads it too: it tabulates helper calls and the inline `exp`.
pub fn inlined(f: Func) -> bool {
    matches!(
        f,
        Func::Abs
            | Func::Sqrt
            | Func::Floor
            | Func::Ceil
            | Func::Trunc
            | Func::Round
            | Func::Min2
            | Func::Max2
            | Func::Clamp
            | Func::IsNan
            | Func::IsFinite
            | Func::Exp
    )
}

/// The tables a function for `target` fills (none for the callback).
fn tables_for(plan: &Plan, target: Target) -> Tables {
    match target {
        Target::Callback => Tables::default(),
        Target::Row => tables(plan, false),
        Target::RowKeyed => tables(plan, true),
    }
}

fn build_function(
    plan: &Plan,
    target: Target,
    tables: &Tables,
    defaults: &[f64],
    module: &mut JITModule,
) -> Function {
    let sig = match target {
        Target::Callback => callback::signature(),
        Target::Row | Target::RowKeyed => row::signature(),
    };
    let mut func = Function::with_name_signature(UserFuncName::user(0, 0), sig);
    let mut fctx = FunctionBuilderContext::new();
    let frontend_config = module.target_config();
    let fb = FunctionBuilder::new(&mut func, &mut fctx);
    let helpers = Helpers {
        module,
        refs: HashMap::new(),
    };
    let fb = match target {
        Target::Callback => callback::emit(plan, fb, helpers, defaults),
        Target::Row | Target::RowKeyed => row::emit(plan, fb, helpers, tables),
    };
    fb.finalize(frontend_config);
    func
}

/// Whether the plan has a node `op` (a builtin or a sample).
fn uses(plan: &Plan, op: POp) -> bool {
    plan.nodes.iter().any(|n| n.op == op)
}

/// The `pos(j)` and `d(j)` the plan reads, each once.
fn axis_names(plan: &Plan) -> Vec<Builtin> {
    let mut named = Vec::new();
    for n in &plan.nodes {
        if let POp::Builtin(b @ (Builtin::Pos(_) | Builtin::D(_))) = n.op {
            if !named.contains(&b) {
                named.push(b);
            }
        }
    }
    named
}

fn flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

/// The runtime helpers a function calls, each imported once.
struct Helpers<'a> {
    module: &'a mut JITModule,
    refs: HashMap<&'static str, FuncRef>,
}

impl Helpers<'_> {
    fn call(
        &mut self,
        fb: &mut FunctionBuilder,
        name: &'static str,
        params: &[Type],
        ret: Option<Type>,
        args: &[Value],
    ) -> Option<Value> {
        let fref = match self.refs.get(name) {
            Some(f) => *f,
            None => {
                let mut sig = Signature::new(CallConv::SystemV);
                sig.params.extend(params.iter().map(|t| AbiParam::new(*t)));
                sig.returns.extend(ret.map(AbiParam::new));
                let id = self
                    .module
                    .declare_function(name, Linkage::Import, &sig)
                    .expect("helper signature is fixed");
                let f = self.module.declare_func_in_func(id, fb.func);
                self.refs.insert(name, f);
                f
            }
        };
        let call = fb.ins().call(fref, args);
        fb.inst_results(call).first().copied()
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

/// The target-specific values its prologue loaded. The lowering asks the frame for the leaves a
/// target provides its own way (`w`, `c`, `x`, `k`, planes…), matching on it in one place for
/// scalars (`Emitter::scalar`) and one for vectors (`Emitter::elem`).
#[derive(Clone, Copy)]
enum Frame {
    Callback(CallbackFrame),
    Row(RowFrame),
}

/// What both targets' prologues load.
struct Inputs {
    /// Window elements, as an integer and as a double.
    n: Value,
    nf: Value,
    /// The params' values, when the program has params.
    params: Option<Value>,
    /// The `k`/`dx`/`dy`/`dz` tables the program reads.
    tables: HashMap<Builtin, Value>,
    /// Row target: per input sample the program reads, the address of its value for column 0
    /// (a window's: of its block row, which each element's offset is added to).
    samples: HashMap<Sample, Value>,
    /// Row target: per plane the program reads, the address of its row (loaded once, not per
    /// pixel: Cranelift does not hoist loads out of the pixel loop).
    planes: HashMap<usize, Value>,
}

/// Where the row function's tables (see `Plan::tables`) are: empty for the callback.
#[derive(Default)]
struct Lookups {
    /// Tabulated element-only node → its element table.
    element: HashMap<P, Value>,
    /// Tabulated keyed node → its keyed table, less `(lut_lo + bits(SHIFTER)) * 8` so that a
    /// key's bits after adding `SHIFTER` index it, and the key.
    keyed: HashMap<P, (Value, P)>,
}

/// The state of emitting one function: its frame, and the values computed so far.
struct Emitter<'a, 'b> {
    plan: &'a Plan,
    fb: FunctionBuilder<'b>,
    helpers: Helpers<'a>,
    inputs: Inputs,
    frame: Frame,
    lookups: Lookups,
    /// Scalar values computed so far, per pixel group (they dominate everything emitted later).
    svals: Vec<HashMap<P, Value>>,
    /// The pixel group being emitted (row target: each group is two pixels with its own values
    /// and accumulators; several groups per iteration keep the accumulator chains independent).
    group: usize,
    /// Row target: each group's first column.
    xs: Vec<Value>,
    /// Per window element, values shared by all groups (row target: the element's address in
    /// the block, table entries), so each is loaded once per element.
    jcache: HashMap<P, Value>,
    /// Per window element, element-only vector values shared by all groups.
    jmemo: HashMap<P, Value>,
    /// Per node: depends only on the window element (dx, k, i, numbers, params), not the pixel.
    elem_only: Vec<bool>,
    /// The tabulated node being computed to fill its table (not looked up).
    filling: Option<P>,
    /// Scalars splatted to F64X2 for the current pass.
    splats: HashMap<P, Value>,
    sorted_slots: i64,
    /// Row target: per pass the native loop computed (see `keyed.rs`), the rows of its sums.
    native: HashMap<usize, Vec<Value>>,
    /// Lanes of per-pixel values: one for the callback, two (or one in the tail) for rows.
    pix: Lanes,
}

impl<'a, 'b> Emitter<'a, 'b> {
    fn new(
        plan: &'a Plan,
        fb: FunctionBuilder<'b>,
        helpers: Helpers<'a>,
        inputs: Inputs,
        frame: Frame,
        lookups: Lookups,
    ) -> Self {
        Emitter {
            plan,
            fb,
            helpers,
            inputs,
            frame,
            lookups,
            svals: vec![HashMap::new()],
            group: 0,
            xs: Vec::new(),
            jcache: HashMap::new(),
            jmemo: HashMap::new(),
            elem_only: plan.element_only(),
            filling: None,
            splats: HashMap::new(),
            sorted_slots: 0,
            native: HashMap::new(),
            pix: Lanes::One,
        }
    }
}
