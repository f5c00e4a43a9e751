//! Waiting for the signals that ask a host to stop.
#![forbid(unsafe_code)]

use std::fmt;
use std::io;

/// SIGINT and SIGTERM handlers (Ctrl-C off Unix), installed when this is
/// created and waited for with [`ShutdownSignal::wait`].
///
/// Install it before announcing the listening addresses: a signal that
/// arrives between installation and `wait` is kept, not lost, so a
/// supervisor that stops the process right after it starts is obeyed.
/// The usual shutdown then is: `wait`, then
/// [`ExporterHandle::shutdown`](crate::ExporterHandle::shutdown) (`/ready`
/// turns 503, the drain period passes, the listeners close).
///
/// ```no_run
/// let signal = telemeter::server::ShutdownSignal::install()?;
/// // ... start the exporter, announce, work ...
/// let name = signal.wait()?; // "SIGTERM" or "SIGINT"
/// eprintln!("{name}: shutting down");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct ShutdownSignal {
    rt: tokio::runtime::Runtime,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl fmt::Debug for ShutdownSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownSignal").finish_non_exhaustive()
    }
}

impl ShutdownSignal {
    /// Installs the handlers now.
    pub fn install() -> io::Result<ShutdownSignal> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        #[cfg(unix)]
        let (term, int) = {
            use tokio::signal::unix::{signal, SignalKind};
            let _enter = rt.enter();
            (
                signal(SignalKind::terminate())?,
                signal(SignalKind::interrupt())?,
            )
        };
        Ok(ShutdownSignal {
            rt,
            #[cfg(unix)]
            term,
            #[cfg(unix)]
            int,
        })
    }

    /// Blocks until a signal arrives and returns its name (`"SIGTERM"`,
    /// `"SIGINT"`, or `"Ctrl-C"` off Unix).
    pub fn wait(self) -> io::Result<&'static str> {
        #[cfg(unix)]
        {
            let ShutdownSignal {
                rt,
                mut term,
                mut int,
            } = self;
            Ok(rt.block_on(async {
                tokio::select! {
                    _ = term.recv() => "SIGTERM",
                    _ = int.recv() => "SIGINT",
                }
            }))
        }
        #[cfg(not(unix))]
        {
            self.rt.block_on(tokio::signal::ctrl_c())?;
            Ok("Ctrl-C")
        }
    }
}
