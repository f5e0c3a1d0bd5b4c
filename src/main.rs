//! The `jitfilter` command: see `jitfilter --help` and docs/cli.md.

mod cli;

fn main() -> std::process::ExitCode {
    keep_freed_memory();
    cli::main()
}

/// Stripes and stages allocate and free buffers of 0.1–30 MB on every filter call. glibc maps
/// each one afresh from the kernel (above its mmap threshold, at most 32 MB) or gives it back
/// (above its trim threshold), so every call paid page faults on new pages: a fifth of
/// Harris's time. The process filters one job and exits: keep freed memory for reuse instead.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator tunables; called before any thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
    }
}
