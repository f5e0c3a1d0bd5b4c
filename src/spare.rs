//! Buffers of f64 kept per thread for reuse: the plane kernels need several block-sized
//! buffers per stripe (prefix sums, mapped values), and a fresh allocation of that size is a
//! fresh `mmap` whenever the allocator's heap does not keep freed memory around — as under
//! Dask's worker processes, which set `MALLOC_TRIM_THRESHOLD_` — costing a page fault per 4 KiB
//! on every stripe (the planner's sums ran ~2× slower there). A [`Spare`] goes back to its
//! thread's stock when dropped.

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};

/// At most this many bytes of buffers are kept per thread (a stripe's few blocks' worth for
/// large footprints); more are freed.
const KEPT_BYTES: usize = 16 << 20;

thread_local! {
    static STOCK: RefCell<Vec<Vec<f64>>> = const { RefCell::new(Vec::new()) };
}

/// An empty `Vec<f64>` from the thread's stock, returned to it on drop.
#[derive(Debug, Default)]
pub(crate) struct Spare(Vec<f64>);

impl Spare {
    /// An empty buffer with room for at least `n` values.
    pub(crate) fn with_capacity(n: usize) -> Spare {
        let taken = STOCK.with_borrow_mut(|stock| {
            let i = (stock.iter().enumerate())
                .filter(|(_, v)| v.capacity() >= n)
                .min_by_key(|(_, v)| v.capacity())
                .map(|(i, _)| i)?;
            Some(stock.swap_remove(i))
        });
        Spare(taken.unwrap_or_else(|| Vec::with_capacity(n)))
    }

    /// `n` copies of `value`.
    #[inline]
    pub(crate) fn filled(n: usize, value: f64) -> Spare {
        let mut s = Spare::with_capacity(n);
        s.resize(n, value);
        s
    }

    /// The values of `values`, whose length is exactly `n`. Inlined, so that a function the
    /// iterator calls per value is inlined too (not an indirect call per value).
    #[inline(always)]
    pub(crate) fn of(n: usize, values: impl Iterator<Item = f64>) -> Spare {
        let mut s = Spare::with_capacity(n);
        s.extend(values);
        s
    }
}

impl Deref for Spare {
    type Target = Vec<f64>;
    fn deref(&self) -> &Vec<f64> {
        &self.0
    }
}

impl DerefMut for Spare {
    fn deref_mut(&mut self) -> &mut Vec<f64> {
        &mut self.0
    }
}

impl Drop for Spare {
    fn drop(&mut self) {
        let mut v = std::mem::take(&mut self.0);
        if v.capacity() == 0 {
            return;
        }
        v.clear();
        // `try_with`: a thread being torn down frees instead.
        let _ = STOCK.try_with(|stock| {
            let mut stock = stock.borrow_mut();
            let kept: usize = stock.iter().map(|b| b.capacity() * 8).sum();
            if kept + v.capacity() * 8 <= KEPT_BYTES {
                stock.push(v);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_buffer_is_taken_again() {
        let first = Spare::filled(1000, 1.0);
        let ptr = first.as_ptr();
        drop(first);
        let again = Spare::with_capacity(500);
        assert!(again.is_empty(), "a buffer from the stock comes back empty");
        assert_eq!(again.as_ptr(), ptr, "the freed buffer is reused");
        let other = Spare::with_capacity(10);
        assert_ne!(other.as_ptr(), ptr, "one buffer is never handed out twice");
    }

    #[test]
    fn the_stock_is_bounded() {
        let kept = || STOCK.with_borrow(|s| s.iter().map(|b| b.capacity() * 8).sum::<usize>());
        drop(Spare::with_capacity(KEPT_BYTES / 8 / 2));
        let before = kept();
        assert!(
            before >= KEPT_BYTES / 2,
            "a buffer within the limit is kept"
        );
        drop(Spare::with_capacity(KEPT_BYTES / 8));
        assert_eq!(kept(), before, "a buffer over the limit is freed, not kept");
    }
}
