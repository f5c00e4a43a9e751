//! hyper's header-read timer without an allocation per request.
//!
//! hyper arms a fresh `Pin<Box<dyn Sleep>>` for every request head it
//! reads (it drops the last one when a head completes), so a timer whose
//! sleep holds its own state allocates once per request: 96 B per scrape
//! with `TokioTimer`. Here the sleep is a zero-sized handle, and boxing a
//! zero-sized value allocates nothing. Its state, one tokio `Sleep` per
//! connection, lives in a task-local that [`scoped`] sets around the
//! connection's task: hyper creates and polls the handle only while it
//! polls that connection, so the handle always finds its connection's
//! sleep, re-armed in place.
//!
//! One sleep per connection is enough because hyper's HTTP/1 server uses
//! its timer for one thing only, the header-read deadline (hyper 1.12,
//! `proto/h1/conn.rs`), and holds at most one such sleep at a time: it
//! drops the last one before it asks for the next, or re-arms it through
//! [`Timer::reset`]. Debug builds count the live handles and assert that
//! there is never a second, so the hardening tests
//! (`tests/server_hardening.rs`) would fail against a hyper that armed two.
#![forbid(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::rt::{Sleep, Timer};

tokio::task_local! {
    /// The connection's header-read deadline.
    static DEADLINE: Conn;
}

/// A connection's deadline and the number of handles on it.
struct Conn {
    sleep: RefCell<Pin<Box<tokio::time::Sleep>>>,
    live: Cell<usize>,
}

/// Runs a connection's task with its header-read deadline: every
/// connection served with [`HeaderTimer`] must run inside this. One
/// allocation per connection (the sleep), none per request. Call it inside
/// the runtime (it creates a tokio timer).
pub(crate) fn scoped<F: Future>(fut: F) -> impl Future<Output = F::Output> {
    // Armed by hyper before it is ever polled; a day is only the start.
    let sleep = Box::pin(tokio::time::sleep(Duration::from_secs(86_400)));
    let conn = Conn {
        sleep: RefCell::new(sleep),
        live: Cell::new(0),
    };
    DEADLINE.scope(conn, fut)
}

/// The timer hyper's HTTP/1 connections use (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct HeaderTimer;

/// A handle on the connection's deadline; zero-sized.
struct ConnSleep;

impl Timer for HeaderTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.sleep_until(self.now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        let armed = DEADLINE.try_with(|c| {
            debug_assert_eq!(
                c.live.get(),
                0,
                "a second header-read sleep on one connection: they would share one deadline"
            );
            c.live.set(c.live.get() + 1);
            c.sleep.borrow_mut().as_mut().reset(deadline.into());
        });
        debug_assert!(armed.is_ok(), "a HeaderTimer sleep outside `scoped`");
        Box::pin(ConnSleep)
    }

    /// Re-arms the connection's one sleep in place (every sleep this timer
    /// hands out is a handle on it).
    fn reset(&self, _sleep: &mut Pin<Box<dyn Sleep>>, new_deadline: Instant) {
        let _ = DEADLINE.try_with(|c| c.sleep.borrow_mut().as_mut().reset(new_deadline.into()));
    }

    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

impl Future for ConnSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Outside a connection's scope (never, by construction) the
        // deadline counts as passed: the connection closes rather than
        // waiting on a client forever.
        DEADLINE
            .try_with(|c| c.sleep.borrow_mut().as_mut().poll(cx))
            .unwrap_or(Poll::Ready(()))
    }
}

impl Drop for ConnSleep {
    fn drop(&mut self) {
        let _ = DEADLINE.try_with(|c| c.live.set(c.live.get().saturating_sub(1)));
    }
}

impl Sleep for ConnSleep {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Within a millisecond of `want`: tokio's timer wheel rounds up.
    fn about(got: Duration, want: Duration) {
        assert!(
            got >= want && got <= want + Duration::from_millis(1),
            "{got:?}, not {want:?}"
        );
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap()
    }

    #[test]
    fn a_sleep_fires_at_its_deadline_and_rearms_in_place() {
        rt().block_on(async {
            scoped(async {
                let t = HeaderTimer;
                let start = tokio::time::Instant::now();
                t.sleep(Duration::from_secs(5)).await;
                about(start.elapsed(), Duration::from_secs(5));
                // Re-armed: the same connection sleep, a new deadline.
                let mut s = t.sleep(Duration::from_secs(60));
                let at = tokio::time::Instant::now();
                t.reset(&mut s, t.now() + Duration::from_secs(2));
                s.await;
                about(at.elapsed(), Duration::from_secs(2));
            })
            .await
        });
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "a second header-read sleep on one connection")]
    fn a_second_live_sleep_on_one_connection_is_caught() {
        rt().block_on(async {
            scoped(async {
                let _first = HeaderTimer.sleep(Duration::from_secs(1));
                let _second = HeaderTimer.sleep(Duration::from_secs(2));
            })
            .await
        });
    }

    #[test]
    fn a_dropped_sleep_makes_room_for_the_next() {
        rt().block_on(async {
            scoped(async {
                for _ in 0..3 {
                    drop(HeaderTimer.sleep(Duration::from_secs(1)));
                }
                HeaderTimer.sleep(Duration::from_millis(1)).await;
            })
            .await
        });
    }

    #[test]
    fn the_handle_is_zero_sized_so_boxing_it_allocates_nothing() {
        assert_eq!(std::mem::size_of::<ConnSleep>(), 0);
    }

    #[test]
    fn connections_keep_their_own_deadlines() {
        let rt = rt();
        rt.block_on(async {
            let start = tokio::time::Instant::now();
            let short = tokio::spawn(scoped(async {
                HeaderTimer.sleep(Duration::from_secs(1)).await;
                tokio::time::Instant::now()
            }));
            let long = tokio::spawn(scoped(async {
                HeaderTimer.sleep(Duration::from_secs(30)).await;
                tokio::time::Instant::now()
            }));
            about(short.await.unwrap() - start, Duration::from_secs(1));
            about(long.await.unwrap() - start, Duration::from_secs(30));
        });
    }

    #[test]
    fn outside_a_scope_the_deadline_has_passed() {
        rt().block_on(async {
            let mut s = Box::pin(ConnSleep);
            let waker = std::task::Waker::noop();
            let mut cx = Context::from_waker(waker);
            assert!(s.as_mut().poll(&mut cx).is_ready());
        });
    }
}
