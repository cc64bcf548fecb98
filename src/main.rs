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
/// Two arenas suit a daemon sized for two cores. `MALLOC_ARENA_MAX` in the
/// environment still wins.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn size_allocator() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator parameter; it is called before
        // any thread other than this one exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn size_allocator() {}
