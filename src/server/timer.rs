//! hyper's header-read timer without an allocation per request.
//!
//! # Why
//!
//! hyper's HTTP/1 server arms a fresh `Pin<Box<dyn Sleep>>` for every
//! request head it reads, so a timer whose sleep holds its own state
//! allocates once per request: hyper-util's `TokioTimer` costs 96 B per
//! scrape, most of what a keep-alive scrape allocated (the figures are in
//! docs/BENCHMARKS.md, under allocations per scrape). Here the common sleep is a
//! zero-sized handle, and boxing a zero-sized value allocates nothing. Its
//! state, one tokio `Sleep` per connection, lives in a task-local that
//! [`scoped`] sets around the connection's task, and is re-armed in place
//! for each request.
//!
//! # What it assumes of hyper
//!
//! Read from hyper 1.12's `proto/h1/conn.rs` (`Conn::poll_read_head`), the
//! only place its HTTP/1 server touches the timer:
//!
//! 1. The timer is used for the header-read deadline alone, so one sleep
//!    per connection is enough.
//! 2. hyper asks for the sleep (`sleep_until`, or `reset` of the one it
//!    holds) and polls it only while the connection's future is polled,
//!    that is inside the connection's task, where [`scoped`] has set the
//!    task-local.
//! 3. It holds at most one such sleep at a time: it drops the last one
//!    when a head completes, before it asks for the next.
//!
//! # When an assumption does not hold
//!
//! Nothing here trusts them blindly. Each is checked on every call, in
//! release builds too, and a call that breaks one gets a plain sleep of
//! its own instead (a boxed tokio `Sleep`, what `TokioTimer` would hand
//! out: correct, only not allocation-free), counted in [`fallbacks`]
//! (`telemeter::server::header_timer_fallbacks`):
//!
//! - a sleep asked for outside a connection's scope, or while the
//!   connection's shared sleep is already handed out (a second timer use),
//!   is a sleep of its own;
//! - `reset` of a handle outside its scope, or of a sleep this timer did
//!   not make, replaces it with a sleep of its own at the new deadline;
//!   `reset` of a sleep of its own re-arms it in place;
//! - a handle polled where it cannot find its deadline (outside any
//!   connection's scope, or in one whose shared sleep is not handed out)
//!   counts its deadline as passed: the connection closes rather than
//!   waiting on a client forever. This is the one case a fallback cannot
//!   make exact, since a zero-sized handle carries no deadline of its own.
//!
//! # The test that pins it
//!
//! `tests/server_hardening.rs`,
//! `the_header_timer_keeps_to_one_shared_sleep_with_the_locked_hyper`,
//! serves keep-alive requests and a client too slow with its headers, and
//! asserts that the header timeout still answers and closes as the other
//! hardening tests expect and that the fallback count stays 0 with the
//! hyper in `Cargo.lock`. A hyper upgrade that uses its timer differently
//! fails that test (the server keeps behaving, paying the allocation):
//! re-read `poll_read_head` and adapt this file, or use `TokioTimer`.
#![forbid(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::rt::{Sleep, Timer};

use crate::sync::process::{AtomicU64, Ordering};

tokio::task_local! {
    /// The connection's header-read deadline.
    static DEADLINE: Conn;
}

/// Calls that broke an assumption of the module docs and got a sleep of
/// their own (or, for a handle polled out of place, a passed deadline).
static FALLBACKS: AtomicU64 = AtomicU64::new(0);

/// How many times the timer has fallen back (see the module docs): 0 while
/// hyper uses it as it assumes.
pub(crate) fn fallbacks() -> u64 {
    FALLBACKS.load(Ordering::Relaxed)
}

fn fell_back() {
    FALLBACKS.fetch_add(1, Ordering::Relaxed);
}

/// A connection's deadline, and whether a handle on it is out.
struct Conn {
    sleep: RefCell<Pin<Box<tokio::time::Sleep>>>,
    handed_out: Cell<bool>,
}

/// Runs a connection's task with its header-read deadline: every
/// connection served with [`HeaderTimer`] runs inside this (one outside it
/// only falls back). One allocation per connection (the sleep), none per
/// request. Call it inside the runtime (it creates a tokio timer).
pub(crate) fn scoped<F: Future>(fut: F) -> impl Future<Output = F::Output> {
    // Armed by hyper before it is ever polled; a day is only the start.
    let sleep = Box::pin(tokio::time::sleep(Duration::from_secs(86_400)));
    let conn = Conn {
        sleep: RefCell::new(sleep),
        handed_out: Cell::new(false),
    };
    DEADLINE.scope(conn, fut)
}

/// The timer hyper's HTTP/1 connections use (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct HeaderTimer;

/// A handle on the connection's shared deadline; zero-sized.
struct ConnSleep;

/// The plain path: a sleep with its own deadline.
struct OwnSleep(Pin<Box<tokio::time::Sleep>>);

fn own_sleep(deadline: Instant) -> Pin<Box<dyn Sleep>> {
    Box::pin(OwnSleep(Box::pin(tokio::time::sleep_until(
        deadline.into(),
    ))))
}

impl Timer for HeaderTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.sleep_until(self.now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        let shared = DEADLINE
            .try_with(|c| {
                if c.handed_out.replace(true) {
                    // A second sleep on one connection: it must not share
                    // the first one's deadline.
                    return false;
                }
                c.sleep.borrow_mut().as_mut().reset(deadline.into());
                true
            })
            .unwrap_or(false);
        if shared {
            Box::pin(ConnSleep)
        } else {
            fell_back();
            own_sleep(deadline)
        }
    }

    /// Re-arms a sleep in place: the connection's shared one through its
    /// handle, or a sleep of its own; anything else is replaced.
    fn reset(&self, sleep: &mut Pin<Box<dyn Sleep>>, new_deadline: Instant) {
        if let Some(own) = sleep.as_mut().downcast_mut_pin::<OwnSleep>() {
            own.get_mut().0.as_mut().reset(new_deadline.into());
            return;
        }
        if sleep.is::<ConnSleep>() {
            let rearmed = DEADLINE
                .try_with(|c| {
                    let mine = c.handed_out.get();
                    if mine {
                        c.sleep.borrow_mut().as_mut().reset(new_deadline.into());
                    }
                    mine
                })
                .unwrap_or(false);
            if rearmed {
                return;
            }
        }
        fell_back();
        *sleep = own_sleep(new_deadline);
    }

    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

impl Future for ConnSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let polled = DEADLINE.try_with(|c| {
            c.handed_out
                .get()
                .then(|| c.sleep.borrow_mut().as_mut().poll(cx))
        });
        match polled {
            Ok(Some(poll)) => poll,
            // Out of place: the deadline counts as passed (module docs).
            _ => {
                fell_back();
                Poll::Ready(())
            }
        }
    }
}

impl Drop for ConnSleep {
    fn drop(&mut self) {
        let _ = DEADLINE.try_with(|c| c.handed_out.set(false));
    }
}

impl Sleep for ConnSleep {}

impl Future for OwnSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().0.as_mut().poll(cx)
    }
}

impl Sleep for OwnSleep {}

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

    fn shared(s: &Pin<Box<dyn Sleep>>) -> bool {
        s.is::<ConnSleep>()
    }

    fn own(s: &Pin<Box<dyn Sleep>>) -> bool {
        s.is::<OwnSleep>()
    }

    // `fallbacks()` is process-wide and other tests here fall back on
    // purpose, concurrently: tests read which kind of sleep they got, and
    // only that the count grew where they expect a fallback.

    #[test]
    fn a_sleep_fires_at_its_deadline_and_rearms_in_place() {
        rt().block_on(async {
            scoped(async {
                let t = HeaderTimer;
                let start = tokio::time::Instant::now();
                let s = t.sleep(Duration::from_secs(5));
                assert!(shared(&s));
                s.await;
                about(start.elapsed(), Duration::from_secs(5));
                // Re-armed: the same connection sleep, a new deadline.
                let mut s = t.sleep(Duration::from_secs(60));
                let at = tokio::time::Instant::now();
                t.reset(&mut s, t.now() + Duration::from_secs(2));
                assert!(shared(&s), "reset in place, not replaced");
                s.await;
                about(at.elapsed(), Duration::from_secs(2));
            })
            .await
        });
    }

    #[test]
    fn a_second_live_sleep_gets_its_own_deadline_and_is_counted() {
        rt().block_on(async {
            scoped(async {
                let start = tokio::time::Instant::now();
                let before = fallbacks();
                let first = HeaderTimer.sleep(Duration::from_secs(1));
                let second = HeaderTimer.sleep(Duration::from_secs(2));
                assert!(shared(&first));
                assert!(own(&second));
                assert!(fallbacks() > before);
                let first = async {
                    first.await;
                    start.elapsed()
                };
                let second = async {
                    second.await;
                    start.elapsed()
                };
                let (a, b) = tokio::join!(first, second);
                about(a, Duration::from_secs(1));
                about(b, Duration::from_secs(2));
            })
            .await
        });
    }

    #[test]
    fn a_dropped_sleep_makes_room_for_the_next() {
        rt().block_on(async {
            scoped(async {
                for _ in 0..3 {
                    let s = HeaderTimer.sleep(Duration::from_secs(1));
                    assert!(shared(&s));
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
    fn outside_a_scope_a_sleep_is_its_own_and_keeps_its_deadline() {
        rt().block_on(async {
            let before = fallbacks();
            let start = tokio::time::Instant::now();
            let mut s = HeaderTimer.sleep(Duration::from_secs(3));
            assert!(own(&s));
            assert!(fallbacks() > before);
            // Reset in place: still its own, at the new deadline.
            HeaderTimer.reset(&mut s, HeaderTimer.now() + Duration::from_secs(7));
            assert!(own(&s));
            s.await;
            about(start.elapsed(), Duration::from_secs(7));
        });
    }

    #[test]
    fn a_handle_reset_outside_its_scope_becomes_a_sleep_of_its_own() {
        rt().block_on(async {
            let start = tokio::time::Instant::now();
            let mut s: Pin<Box<dyn Sleep>> = Box::pin(ConnSleep);
            let before = fallbacks();
            HeaderTimer.reset(&mut s, HeaderTimer.now() + Duration::from_secs(4));
            assert!(own(&s));
            assert!(fallbacks() > before);
            s.await;
            about(start.elapsed(), Duration::from_secs(4));
        });
    }

    #[test]
    fn a_foreign_sleep_is_replaced_on_reset() {
        struct Never;
        impl Future for Never {
            type Output = ();
            fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
                Poll::Pending
            }
        }
        impl Sleep for Never {}
        rt().block_on(async {
            scoped(async {
                let start = tokio::time::Instant::now();
                let mut s: Pin<Box<dyn Sleep>> = Box::pin(Never);
                HeaderTimer.reset(&mut s, HeaderTimer.now() + Duration::from_secs(2));
                assert!(own(&s));
                s.await;
                about(start.elapsed(), Duration::from_secs(2));
                // The connection's shared sleep was never handed out.
                assert!(shared(&HeaderTimer.sleep(Duration::from_secs(1))));
            })
            .await
        });
    }

    #[test]
    fn a_handle_polled_out_of_place_counts_its_deadline_as_passed() {
        rt().block_on(async {
            let waker = std::task::Waker::noop();
            let mut cx = Context::from_waker(waker);
            let before = fallbacks();
            // Outside any scope.
            let mut s = Box::pin(ConnSleep);
            assert!(s.as_mut().poll(&mut cx).is_ready());
            // In a connection whose shared sleep is not handed out.
            scoped(async {
                let mut stray = Box::pin(ConnSleep);
                assert!(stray.as_mut().poll(&mut cx).is_ready());
            })
            .await;
            assert!(fallbacks() >= before + 2);
        });
    }
}
