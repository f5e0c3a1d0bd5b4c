//! Buffers of f64 kept per thread for reuse: the plane kernels need several block-sized
//! buffers per stripe (prefix sums, mapped values), and a fresh allocation of that size is a
//! fresh `mmap` whenever the allocator's heap does not keep freed memory around — as under
//! Dask's worker processes, which set `MALLOC_TRIM_THRESHOLD_` — costing a page fault per 4 KiB
//! on every stripe (the planner's sums ran ~2× slower there). A [`Spare`] goes back to its
//! thread's stock when dropped, its values kept: a buffer that will be overwritten whole is
//! taken [`Spare::dirty`], holding the last user's values, and so costs no clearing pass (a
//! block-sized `memset` per buffer per stripe was a tenth of a Harris filter's time).

use std::any::Any;
use std::cell::RefCell;
use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

/// At most this many bytes of plane buffers are kept per thread (a stripe's few blocks' worth
/// for large footprints), and as many of window blocks per element type ([`Blocks`]); more are
/// freed.
const KEPT_BYTES: usize = 16 << 20;

thread_local! {
    static STOCK: RefCell<Vec<Vec<f64>>> = const { RefCell::new(Vec::new()) };
    /// Kept [`Blocks`], of any element type.
    static BLOCKS: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

/// An empty `Vec<f64>` from the thread's stock, returned to it on drop.
#[derive(Debug, Default)]
pub(crate) struct Spare(Vec<f64>);

impl Spare {
    /// An empty buffer with room for at least `n` values.
    pub(crate) fn with_capacity(n: usize) -> Spare {
        let mut s = Spare::take(n);
        s.clear();
        s
    }

    /// `n` values, whatever an earlier user left there (not cleared, not even where none
    /// did): for a buffer every value of which is written before it is read.
    pub(crate) fn dirty(n: usize) -> Spare {
        let mut s = Spare::take(n);
        set_unwritten(&mut s, n);
        s
    }

    /// A buffer of the stock with room for `n` values (its length and values as left), or a
    /// new one.
    fn take(n: usize) -> Spare {
        let taken =
            STOCK.with_borrow_mut(|stock| smallest(stock, n, usize::MAX, |v| Some(v.capacity())));
        Spare(taken.unwrap_or_else(|| Vec::with_capacity(n)))
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
        let v = std::mem::take(&mut self.0);
        if v.capacity() == 0 {
            return;
        }
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

/// A window-loop worker's padded input blocks, kept per thread from one run to the next. A
/// block is a stripe of an input with its halo (a few hundred KiB): fresh each run, it was
/// fresh memory faulted in page by page, which cost a sixth of a guided filter's time.
#[derive(Debug)]
pub(crate) struct Blocks<B: 'static>(pub Vec<Vec<B>>);

impl<B: 'static> Blocks<B> {
    /// The thread's kept blocks of `B` (their values as the last run left them), or none.
    pub(crate) fn take() -> Blocks<B> {
        let kept = BLOCKS.with_borrow_mut(|stock| {
            let i = stock.iter().position(|b| b.is::<Vec<Vec<B>>>())?;
            stock.swap_remove(i).downcast::<Vec<Vec<B>>>().ok()
        });
        Blocks(kept.map_or_else(Vec::new, |b| *b))
    }
}

impl<B: 'static> Drop for Blocks<B> {
    fn drop(&mut self) {
        let v = std::mem::take(&mut self.0);
        let bytes = |v: &Vec<Vec<B>>| -> usize {
            v.iter().map(|b| b.capacity()).sum::<usize>() * std::mem::size_of::<B>()
        };
        if bytes(&v) == 0 || bytes(&v) > KEPT_BYTES {
            return;
        }
        // `try_with`: a thread being torn down frees instead. One set per type is kept, the
        // latest dropped (stripes rayon nests on one thread take sets of their own).
        let _ = BLOCKS.try_with(|stock| {
            let mut stock = stock.borrow_mut();
            stock.retain(|b| !b.is::<Vec<Vec<B>>>());
            stock.push(Box::new(v));
        });
    }
}

/// Takes from `stock` the item of least capacity from `n` up to `most` values (`capacity`:
/// an item's, or `None` for one of another kind), if any; the others keep their order.
fn smallest<E>(
    stock: &mut Vec<E>,
    n: usize,
    most: usize,
    capacity: impl Fn(&E) -> Option<usize>,
) -> Option<E> {
    let i = (stock.iter().enumerate())
        .filter_map(|(i, e)| Some((i, capacity(e)?)))
        .filter(|(_, c)| (n..=most).contains(c))
        .min_by_key(|&(_, c)| c)
        .map(|(i, _)| i)?;
    Some(stock.remove(i))
}

/// Result arrays are whole arrays, made and dropped once per application: a stage result
/// dropped by the engine, or a result the Python binding's array no longer holds
/// ([`crate::Element::recycle`]), is kept here for the next result of about its size (of any
/// thread), which is then neither cleared (a `memset` of 8 bytes a pixel, a tenth of a Harris
/// filter) nor faulted in again (fresh memory under Dask's workers, whose
/// `MALLOC_TRIM_THRESHOLD_` makes every freed result go back to the system: 1.9 ms of a
/// 1024² chunk's 8.7). At most this many bytes are kept.
const KEPT_RESULTS: usize = 256 << 20;

/// Kept results of any element type, each with its size in bytes, oldest first.
static RESULTS: Mutex<Vec<(usize, Box<dyn Any + Send>)>> = Mutex::new(Vec::new());

/// Results smaller than this are neither kept nor taken from those kept.
const SMALL: usize = 256 << 10;

fn kept_results() -> std::sync::MutexGuard<'static, Vec<(usize, Box<dyn Any + Send>)>> {
    RESULTS.lock().unwrap_or_else(|e| e.into_inner())
}

/// `n` values for a result array, whatever an earlier result left there (not cleared when
/// none fits): its every value is written before it is read.
pub(crate) fn reuse<T: Plain + Send + 'static>(n: usize) -> Vec<T> {
    if n * std::mem::size_of::<T>() < SMALL {
        return unwritten(n);
    }
    // A kept buffer more than twice the size asked for would hold its memory for a small
    // result.
    let taken = smallest(&mut kept_results(), n, 2 * n, |(_, b)| {
        b.downcast_ref::<Vec<T>>().map(Vec::capacity)
    });
    match taken.and_then(|(_, b)| b.downcast::<Vec<T>>().ok()) {
        Some(mut v) => {
            set_unwritten(&mut *v, n);
            *v
        }
        None => unwritten(n),
    }
}

/// Number types for which every bit pattern is a value.
pub(crate) trait Plain: Copy {}
impl Plain for u8 {}
impl Plain for u16 {}
impl Plain for i16 {}
impl Plain for i32 {}
impl Plain for f32 {}
impl Plain for f64 {}
impl Plain for u32 {}
impl Plain for u64 {}

/// `n` values for a caller that writes every one before it reads any: not cleared (clearing
/// costs a pass over the memory, 8 bytes a pixel of an f64 result, a tenth of a box mean).
// The lint warns of values nobody wrote: here none is read before the caller writes it (the
// window loop's sink assigns every value of a result array; stores read nothing).
#[allow(clippy::uninit_vec)]
pub(crate) fn unwritten<T: Plain>(n: usize) -> Vec<T> {
    let mut v = Vec::with_capacity(n);
    advise_huge_pages(&v);
    set_unwritten(&mut v, n);
    v
}

/// Fresh buffers at least this large (as numpy's rule) are backed by huge pages where the
/// kernel allows it.
const HUGE_FROM: usize = 4 << 20;

/// Asks the kernel to back `v`'s fresh memory with 2 MiB pages (Linux's transparent huge pages
/// in `madvise` mode, the common default): a result array is written once, and faulting it in
/// 4 KiB at a time cost a third as much as filtering it (`max(w)` of a 1024² f64 chunk: 7.0 ms
/// filtering, 3.5 ms more in fresh memory, as a Dask worker's results are). numpy advises its own
/// large arrays the same way.
fn advise_huge_pages<T>(v: &Vec<T>) {
    let bytes = v.capacity() * std::mem::size_of::<T>();
    if bytes < HUGE_FROM {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        const PAGE: usize = 4096;
        let start = (v.as_ptr() as usize).div_ceil(PAGE) * PAGE;
        let end = (v.as_ptr() as usize + bytes) / PAGE * PAGE;
        // SAFETY: the range lies within `v`'s allocation, which nothing has touched yet;
        // the advice changes how its pages are backed, never their contents. A refusal (no
        // transparent huge pages) leaves it as it was.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

/// `v` made `n` long, its values as they are where it held some and unwritten beyond (growing
/// it by zeros would be a pass over the new tail: on a buffer reused for a larger block, a
/// tenth of a planned pass's instructions), for a caller that writes every value before it
/// reads any.
#[allow(clippy::uninit_vec)]
pub(crate) fn set_unwritten<T: Plain>(v: &mut Vec<T>, n: usize) {
    v.reserve(n.saturating_sub(v.len()));
    // SAFETY: the capacity is at least `n`; every bit pattern of a `Plain` type is a value, and
    // the caller writes all `n` before reading any.
    unsafe { v.set_len(n) };
}

/// Keeps `v` (a result no longer read) for [`reuse`], within [`KEPT_RESULTS`] (the oldest
/// go first).
pub(crate) fn keep<T: Plain + Send + 'static>(v: Vec<T>) {
    let bytes = v.capacity() * std::mem::size_of::<T>();
    if !(SMALL..=KEPT_RESULTS).contains(&bytes) {
        return;
    }
    let mut kept = kept_results();
    while kept.iter().map(|(b, _)| b).sum::<usize>() + bytes > KEPT_RESULTS {
        kept.remove(0);
    }
    kept.push((bytes, Box::new(v)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_buffer_is_taken_again() {
        let mut first = Spare::with_capacity(1000);
        first.resize(1000, 1.0);
        let ptr = first.as_ptr();
        drop(first);
        let again = Spare::with_capacity(500);
        assert!(again.is_empty(), "a buffer from the stock comes back empty");
        assert_eq!(again.as_ptr(), ptr, "the freed buffer is reused");
        let other = Spare::with_capacity(10);
        assert_ne!(other.as_ptr(), ptr, "one buffer is never handed out twice");
    }

    #[test]
    fn a_dirty_buffer_keeps_the_values_left_in_it() {
        let mut first = Spare::with_capacity(2000);
        first.extend((0..1000).map(|i| i as f64));
        let ptr = first.as_ptr();
        drop(first);
        let shorter = Spare::dirty(400);
        assert_eq!(shorter.as_ptr(), ptr, "the freed buffer is reused");
        assert!(shorter.iter().enumerate().all(|(i, &v)| v == i as f64));
        drop(shorter);
        let longer = Spare::dirty(1500);
        assert_eq!(
            (longer.len(), longer.as_ptr()),
            (1500, ptr),
            "grown in place"
        );
        assert!(longer[..400]
            .iter()
            .enumerate()
            .all(|(i, &v)| v == i as f64));
    }

    #[test]
    fn a_kept_result_is_reused_for_one_of_about_its_size_only() {
        // A size no other test's results have (the store is the process's).
        let n = 5 * SMALL / 8 + 7;
        let mut v = vec![0.0; n];
        v[n - 1] = 3.5;
        let ptr = v.as_ptr();
        keep(v);
        let small = reuse::<f64>(n / 3);
        assert_ne!(small.as_ptr(), ptr, "a buffer over twice the size is left");
        let other = reuse::<f32>(n);
        assert_ne!(
            other.as_ptr().cast(),
            ptr,
            "a buffer of another type is left"
        );
        let again = reuse::<f64>(n - 5);
        assert_eq!(again.as_ptr(), ptr, "the kept buffer is reused");
        assert_eq!(again.len(), n - 5);
        keep(again);
        let grown = reuse::<f64>(n);
        assert_eq!((grown.as_ptr(), grown.len()), (ptr, n), "grown in place");
        assert_eq!(reuse::<f64>(SMALL / 8 - 1).len(), SMALL / 8 - 1);
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
