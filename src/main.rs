//! The `stratus` binary: the allocator, then the command line (src/cli/).

// glibc's per-thread arenas kept freed upload buffers (tens of MB each) resident, tripling
// peak RSS under concurrent large uploads; mimalloc returns them to the system.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Returns freed memory to the OS at once rather than after mimalloc's default 10 ms (which
/// on an idle server means never, as purging happens on later allocations): with 20 MB
/// uploads that delay decides peak and idle RSS. Measured cost on the front page: none.
#[allow(unsafe_code)]
fn purge_freed_memory_immediately() {
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: a plain write to mimalloc's option table, made in `main` before the runtime
    // starts any other thread, so nothing reads the option concurrently.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
}

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    purge_freed_memory_immediately();
    rocket::execute(cli::run())
}
