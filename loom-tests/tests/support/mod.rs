//! `loom::thread` with std's exit ordering: the spawned thread hands its
//! shard back (its thread-local destructor's work) before `join` returns.

pub mod thread {
    pub use loom::thread::JoinHandle;

    /// Spawns a loom thread that runs `f`, then its shard hand-off.
    pub fn spawn<F, T>(f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        loom::thread::spawn(move || {
            let r = f();
            telemeter::loom_thread_exit();
            r
        })
    }
}
