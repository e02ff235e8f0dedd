//! `mailferry`: argv -> run -> exit code. All the work is in the library.

mod cli;

fn main() {
    bounded_allocator();
    std::process::exit(cli::main());
}

/// glibc's malloc raises its mmap threshold after the first large buffer is freed; from then
/// on message-sized buffers come from its heaps and stay with the process after they are
/// freed, so peak RSS follows the mailbox instead of the byte budget (78 MiB copying 10,000
/// messages, 208 MiB for a batch of 50 accounts). Fixed thresholds keep large buffers in mmap,
/// given back when freed (44 and 53 MiB, at the same speed: docs/performance.md). glibc reads
/// them from the environment at start-up only, so the process starts itself again, once, with
/// them set: same PID, arguments and open files. A value the user set is left alone.
/// One arena, too: with one per thread, each worker thread's arena grew to the budget's worth of
/// message bodies it had once held (bodies are allocated on one thread and freed on another), so
/// 100,000 small messages peaked at 79 MiB instead of 59 MiB, at the same speed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn bounded_allocator() {
    use std::os::unix::process::CommandExt;
    const MMAP: &str = "MALLOC_MMAP_THRESHOLD_";
    const TRIM: &str = "MALLOC_TRIM_THRESHOLD_";
    const ARENAS: &str = "MALLOC_ARENA_MAX";
    const BYTES: &str = "262144";
    if std::env::var_os(MMAP).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let mut cmd = std::process::Command::new(exe);
    if let Some(arg0) = args.next() {
        cmd.arg0(arg0);
    }
    cmd.args(args).env(MMAP, BYTES);
    if std::env::var_os(TRIM).is_none() {
        cmd.env(TRIM, BYTES);
    }
    if std::env::var_os(ARENAS).is_none() {
        cmd.env(ARENAS, "1");
    }
    // exec returns only when it failed: carry on with glibc's defaults.
    let _ = cmd.exec();
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn bounded_allocator() {}
