//! The `supportprobe` binary: a thin shell over the library's CLI.
#![deny(unsafe_code)]

fn main() -> std::process::ExitCode {
    size_allocator();
    supportprobe::cli::main()
}

/// glibc's allocator gives each thread that allocates under contention an
/// arena of its own (up to eight per core), and memory freed into one is not
/// reused by another: with the store's blocking threads coming and going, the
/// daemon at 10,000 probes in flight held 150 MiB where two arenas hold 85.
/// Two arenas suit a daemon sized for two cores. Blocks of 128 KiB and more
/// (a `/metrics` answer, a large vendor response) are mapped on their own and
/// given back when freed, and free memory at the top of the heap is returned
/// from 128 KiB on: glibc's adaptive threshold otherwise rises to 32 MiB after
/// the first large block freed, and the daemon at 10,000 probes in flight kept
/// about 10 MiB more resident. `MALLOC_ARENA_MAX`, `MALLOC_MMAP_THRESHOLD_`
/// and `MALLOC_TRIM_THRESHOLD_` in the environment still win.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn size_allocator() {
    let unset = |name: &str| std::env::var_os(name).is_none();
    // SAFETY: mallopt only sets allocator parameters; it is called before any
    // thread other than this one exists.
    unsafe {
        if unset("MALLOC_ARENA_MAX") {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
        if unset("MALLOC_MMAP_THRESHOLD_") {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        }
        if unset("MALLOC_TRIM_THRESHOLD_") {
            libc::mallopt(libc::M_TRIM_THRESHOLD, 128 * 1024);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn size_allocator() {}
