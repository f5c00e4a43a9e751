//! The per-thread lookup cache: label values -> series, through this
//! thread's table (`local/`), without touching a shared cache line.
//!
//! # The cache
//!
//! 128 sets of 4 ways per thread, indexed by a seeded hash of the values
//! mixed with the family id; a hit compares the values, so a collision is a
//! miss (the family's shared map), never a wrong series. A set of at most 3
//! values of at most 8 bytes each is its own key (see `local/key.rs`): the hit
//! compares five words and no bytes. A miss replaces the ways round-robin,
//! skipping the one used last. A hit touches no shared cache line and no
//! reference count. An owned handle made from a hit takes one of the
//! thread's spare references (`handle.rs`).
#![forbid(unsafe_code)]

use crate::handle::Found;
#[cfg(not(telemeter_loom))]
use crate::local::{
    key::key_of,
    table::{set_of, Miss, WAYS},
    with_cache,
};
use crate::series::Series;
#[cfg(not(telemeter_loom))]
use crate::sync::{AtomicU64, Ordering};
use crate::Error;

/// Runs `f` on the series for `values` in the family with id `family`
/// (see the module docs): a cached entry made before the family's
/// `removals` count last moved is stale; a miss asks `find` for the series
/// and whether it may be cached (the overflow series may not), or the
/// error that the label set cannot be a series. `f` runs
/// while the cache is borrowed; a lookup from inside `f` finds it busy and
/// asks `find`.
#[cfg(not(telemeter_loom))]
#[inline]
pub(crate) fn lookup<R>(
    family: u64,
    removals: &AtomicU64,
    values: &[&str],
    find: impl Fn(&[&str]) -> Result<(Series, bool), Error>,
    f: impl FnOnce(Found<'_>) -> R,
) -> Result<R, Error> {
    let mut f = Some(f);
    let cached = with_cache(|cache| {
        if cache.entries.is_empty() {
            cache.fill();
        }
        let (key, hash) = key_of(cache.seed, values);
        let set = set_of(hash, family);
        let removals = removals.load(Ordering::Relaxed);
        let base = set * WAYS;
        // `Cache::miss` searches the next set the same way. A shared
        // `Cache::way_in(&self, ..)` for both slowed the borrowed lookup
        // in `labelled_lookup_inc` by a third and the owned one by a fifth
        // (figures in commit 919c47b), so the search is written here in
        // place.
        let way = (0..WAYS).find(|w| {
            cache.entries[base + w]
                .as_ref()
                .is_some_and(|e| e.matches(&key, family, removals, values))
        });
        let slot = match way {
            Some(w) => {
                cache.recent[set].0 = w as u8;
                base + w
            }
            None => match cache.miss(set, &key, removals, family, values, &find) {
                Ok(slot) => slot,
                Err(Miss::Uncached(series)) => {
                    return Some(Ok((f.take().expect("once"))(Found::uncached(&series))))
                }
                Err(Miss::Failed(e)) => return Some(Err(e)),
            },
        };
        let e = cache.entries[slot].as_ref().expect("present");
        Some(Ok((f.take().expect("once"))(Found {
            series: &e.series,
            spares: Some(&mut cache.spares),
        })))
    });
    match cached {
        Some(r) => r,
        // Thread-local teardown, or a lookup from inside `f`: the map.
        _ => {
            let (series, _) = find(values)?;
            Ok((f.take().expect("not called yet"))(Found::uncached(
                &series,
            )))
        }
    }
}

/// Under loom there is no cache: every lookup asks `find`.
#[cfg(telemeter_loom)]
#[inline]
pub(crate) fn lookup<R>(
    _family: u64,
    _removals: &crate::sync::AtomicU64,
    values: &[&str],
    find: impl Fn(&[&str]) -> Result<(Series, bool), Error>,
    f: impl FnOnce(Found<'_>) -> R,
) -> Result<R, Error> {
    let (series, _) = find(values)?;
    Ok(f(Found::uncached(&series)))
}

/// The cache's reading of a label value of at most 8 bytes (see `lane`),
/// for the lookup floor of `benches/hot_path.rs`, which reads values
/// exactly as the cache does; not API.
#[cfg(all(feature = "bench-internals", not(telemeter_loom)))]
#[inline(always)]
pub fn value_lane(b: &[u8]) -> u64 {
    crate::local::key::lane(b)
}

#[cfg(all(test, not(telemeter_loom)))]
mod tests {
    use crate::local::key::key_of;
    use crate::local::seed_for_tests;
    use crate::local::spares::{spare_set, REFILLS, SPARE_WAYS};
    use crate::local::table::{set_of, MISSES, SETS};
    use crate::{Counter, Family, Opts, Registry};
    use std::collections::HashMap;

    fn family(reg: &Registry) -> Family<Counter> {
        reg.counter_family(Opts::new("spill_total", "Spill.").labels(&["k"]))
            .expect("valid family")
    }

    /// The first five keys `{prefix}{i}` for which `group` agrees.
    fn five_alike(prefix: &str, mut group: impl FnMut(&str) -> usize) -> Vec<String> {
        let mut groups: HashMap<usize, Vec<String>> = HashMap::new();
        for i in 0.. {
            let k = format!("{prefix}{i}");
            let g = groups.entry(group(&k)).or_default();
            g.push(k);
            if g.len() == 5 {
                return g.clone();
            }
        }
        unreachable!()
    }

    #[test]
    fn five_keys_of_one_set_all_stay_cached() {
        std::thread::spawn(|| {
            let reg = Registry::new();
            let f = family(&reg);
            f.with(&["warm"], |_| ()).expect("series"); // draws the seed
            let seed = seed_for_tests();
            let id = f.core.id;
            // One more key than the set has ways: cycled through, each
            // evicted the next until full sets spilled.
            let keys = five_alike("s", |k| set_of(key_of(seed, &[k]).1, id) % SETS);
            let pass = || {
                for k in &keys {
                    f.with(&[k], |c| c.inc()).expect("series");
                }
            };
            pass();
            let before = MISSES.with(|m| m.get());
            for _ in 0..10 {
                pass();
            }
            assert_eq!(MISSES.with(|m| m.get()), before, "lookups that missed");
            for k in &keys {
                assert_eq!(f.with(&[k], |c| c.get()).expect("series"), 11);
            }
        })
        .join()
        .expect("no panic");
    }

    #[test]
    fn five_series_of_one_spare_set_keep_their_spares() {
        std::thread::spawn(|| {
            let reg = Registry::new();
            let f = family(&reg);
            let keys = five_alike("p", |k| {
                f.with(&[k], |c| spare_set(c.series_for_tests().as_ptr()))
                    .expect("series")
                    / SPARE_WAYS
            });
            let pass = || {
                for k in &keys {
                    f.with_label_values(&[k]).expect("series").inc();
                }
            };
            pass();
            let before = REFILLS.with(|r| r.get());
            for _ in 0..10 {
                pass();
            }
            assert_eq!(REFILLS.with(|r| r.get()), before, "batches taken");
        })
        .join()
        .expect("no panic");
    }
}

#[cfg(all(test, not(telemeter_loom)))]
mod lending_tests {
    use crate::local::spares::LEND_BATCH;
    use crate::local::spares_of;
    use crate::{Counter, Family, Opts, Registry};

    fn family(reg: &Registry) -> Family<Counter> {
        reg.counter_family(Opts::new("lent_total", "Lent.").labels(&["k"]))
            .expect("valid family")
    }

    /// The count of `k`'s series besides the map's and the series list's.
    fn extra_refs(f: &Family<Counter>, k: &str) -> u64 {
        f.core.refs_of(&[k]).expect("series exists") - 1
    }

    #[test]
    fn handles_move_spares_and_leave_the_count_alone() {
        let reg = Registry::new();
        let f = family(&reg);
        std::thread::spawn(move || {
            let first = f.with_label_values(&["a"]).expect("series");
            // The cache entry's reference, the batch (one lent to `first`).
            assert_eq!(extra_refs(&f, "a"), 1 + u64::from(LEND_BATCH));
            let series = first.series_for_tests();
            assert_eq!(spares_of(series), LEND_BATCH - 1);
            let more: Vec<Counter> = (0..10)
                .map(|_| f.with_label_values(&["a"]).expect("series"))
                .collect();
            let clones: Vec<Counter> = more.iter().map(Counter::clone).collect();
            assert_eq!(spares_of(series), LEND_BATCH - 21);
            assert_eq!(extra_refs(&f, "a"), 1 + u64::from(LEND_BATCH));
            drop(more);
            drop(clones);
            assert_eq!(spares_of(series), LEND_BATCH - 1);
            assert_eq!(extra_refs(&f, "a"), 1 + u64::from(LEND_BATCH));
            first.inc();
            assert_eq!(f.with_label_values(&["a"]).expect("series").get(), 1);
        })
        .join()
        .expect("no panic");
    }

    #[test]
    fn a_handle_dropped_on_another_thread_releases_its_reference() {
        let reg = Registry::new();
        let f = family(&reg);
        let g = f.clone();
        let h = std::thread::spawn(move || {
            let h = g.with_label_values(&["b"]).expect("series");
            let before = extra_refs(&g, "b");
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                h.inc();
                drop(h); // no spares for it on this thread: a decrement
                tx.send(()).expect("receiver alive");
            })
            .join()
            .expect("no panic");
            rx.recv().expect("sent");
            assert_eq!(extra_refs(&g, "b"), before - 1);
        });
        h.join().expect("no panic");
        // The thread's cache entry and spares went with it.
        assert_eq!(extra_refs(&f, "b"), 0);
        assert_eq!(f.with(&["b"], |c| c.get()).expect("series"), 1);
    }

    #[test]
    fn every_reference_comes_back_when_threads_exit() {
        let reg = Registry::new();
        let f = family(&reg);
        let keys: std::sync::Arc<Vec<String>> =
            std::sync::Arc::new((0..700).map(|i| format!("k{i}")).collect());
        // Spawned and joined, not scoped: a scope returns once the closures
        // finish, which may be before the threads' thread-locals (the cache
        // and the spares) are destroyed.
        let workers: Vec<_> = (0..2)
            .map(|t| {
                let (f, keys) = (f.clone(), keys.clone());
                std::thread::spawn(move || {
                    // More series than the cache and the spare table hold,
                    // so entries and spare slots are replaced while handles
                    // to their series are alive.
                    let mut held = Vec::new();
                    for round in 0..3 {
                        for k in keys.iter() {
                            let c = f.with_label_values(&[k]).expect("series");
                            c.inc();
                            if (k.len() + round + t) % 3 == 0 {
                                held.push(c.clone());
                            }
                        }
                        held.truncate(held.len() / 2);
                    }
                    held
                })
            })
            .collect();
        // Half the kept handles are dropped here, on a thread that lent
        // none of them.
        for w in workers {
            let held = w.join().expect("no panic");
            drop(held);
        }
        for k in keys.iter() {
            assert_eq!(extra_refs(&f, k), 0, "series {k}");
            assert_eq!(f.with(&[k], |c| c.get()).expect("series"), 6, "series {k}");
        }
    }

    #[test]
    fn a_removed_series_is_freed_once_the_spares_go() {
        let reg = Registry::new();
        let f = family(&reg);
        let (tx, rx) = std::sync::mpsc::channel();
        let g = f.clone();
        let worker = std::thread::spawn(move || {
            let c = g.with_label_values(&["gone"]).expect("series");
            c.add(5);
            tx.send(c).expect("receiver alive");
        });
        let c = rx.recv().expect("sent");
        worker.join().expect("no panic");
        // The worker's cache entry and spares went back when it exited:
        // besides the map and the list, only `c` is left.
        assert_eq!(extra_refs(&f, "gone"), 1);
        assert!(f.remove(&["gone"]).expect("arity"));
        assert_eq!(c.get(), 5);
        drop(c);
        // A new series for the same values starts from zero.
        assert_eq!(f.with_label_values(&["gone"]).expect("series").get(), 0);
    }
}
