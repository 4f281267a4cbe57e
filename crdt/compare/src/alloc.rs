//! Counting global allocator, switched on only for the untimed memory pass.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::time::Instant;

// Off during timed runs: the atomic read-modify-writes of counting cost as
// much as a fast malloc, and libraries that allocate more would pay more.
static COUNTING: AtomicBool = AtomicBool::new(false);
// Signed and relative to the window's start: blocks allocated before the
// window (uncounted) may be freed inside it and push the net below zero.
static CURRENT: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

/// Wraps the system allocator and, while counting is on, tracks the net
/// change of live bytes and its high-water mark.
pub struct Counting;

#[expect(
    clippy::cast_possible_wrap,
    reason = "Layout guarantees sizes fit in isize"
)]
fn grow(bytes: usize) {
    let now = CURRENT.fetch_add(bytes as isize, Ordering::Relaxed) + bytes as isize;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

#[expect(
    clippy::cast_possible_wrap,
    reason = "Layout guarantees sizes fit in isize"
)]
fn shrink(bytes: usize) {
    CURRENT.fetch_sub(bytes as isize, Ordering::Relaxed);
}

fn counting() -> bool {
    COUNTING.load(Ordering::Relaxed)
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the counters never influence the returned pointers.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's guarantees on `layout` are passed straight through.
        let ptr = unsafe { System.alloc(layout) };
        if counting() && !ptr.is_null() {
            grow(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if counting() && !ptr.is_null() {
            grow(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, i.e. from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        if counting() {
            shrink(layout.size());
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from `System` with `layout`; the caller vouches for `new_size`.
        let new_ptr = unsafe { System.realloc(ptr, layout, new_size) };
        if counting() && !new_ptr.is_null() {
            if new_size > layout.size() {
                grow(new_size - layout.size());
            } else {
                shrink(layout.size() - new_size);
            }
        }
        new_ptr
    }
}

/// A measurement window: counting is on from `open` until the window is
/// dropped, also when a library panics inside it.
pub struct Window(());

impl Window {
    pub fn open() -> Self {
        CURRENT.store(0, Ordering::Relaxed);
        PEAK.store(0, Ordering::Relaxed);
        COUNTING.store(true, Ordering::Relaxed);
        Window(())
    }

    /// Highest net growth of live bytes since the window opened.
    pub fn peak(&self) -> usize {
        usize::try_from(PEAK.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// Net growth of live bytes right now.
    pub fn current(&self) -> usize {
        usize::try_from(CURRENT.load(Ordering::Relaxed)).unwrap_or(0)
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        COUNTING.store(false, Ordering::Relaxed);
    }
}

/// Blocks per batch in [`alloc_free_ns`]: they are taken in batches and then
/// freed, as a document being built does; freeing each block at once timed a
/// single stack slot's round trip and swung by half with the stack's address.
pub const BATCH: u32 = 64;

/// Which path an allocation takes in [`alloc_free_ns`].
#[derive(Clone, Copy)]
pub enum Via {
    System,
    CountingOff,
    CountingOn,
}

/// Nanoseconds per alloc+free pair of a small block, to show what the
/// flag check costs the timed runs and what counting would cost them.
pub fn alloc_free_ns(via: Via, pairs: u32) -> f64 {
    fn run(a: &impl GlobalAlloc, batches: u32) -> f64 {
        let layout = Layout::new::<[u64; 4]>();
        let mut blocks = [std::ptr::null_mut::<u8>(); BATCH as usize];
        let start = Instant::now();
        for _ in 0..batches {
            for block in &mut blocks {
                // SAFETY: the layout has a non-zero size.
                *block = unsafe { a.alloc(layout) };
            }
            for &block in black_box(&blocks) {
                if !block.is_null() {
                    // SAFETY: each block is freed once, with its own layout.
                    unsafe { a.dealloc(block, layout) };
                }
            }
        }
        start.elapsed().as_secs_f64() * 1e9 / f64::from(batches * BATCH)
    }
    let batches = pairs.div_ceil(BATCH);
    match via {
        Via::System => run(&System, batches),
        Via::CountingOff => run(&Counting, batches),
        Via::CountingOn => {
            let _window = Window::open();
            run(&Counting, batches)
        }
    }
}
