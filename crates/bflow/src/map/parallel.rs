//! Running a batch of independent items on every thread of the current rayon pool at once.
//!
//! A map runs its starts in batches (the blocks of [`known_block`](super::known_block) and
//! the mode starts' passes), each ending in a join. With a parallel iterator each batch
//! wakes the pool's threads one from another as work is split; on a machine whose idle
//! CPUs are slow to be given a woken thread, a 2-thread pool whose batches last a
//! millisecond then often ran both threads on one CPU for a whole map (a 3-D map of eight
//! blocks after a pause: as long as on one thread). [`broadcast_map`] wakes every thread of
//! the pool together ([`rayon::broadcast`]) and lets each take the next item from a shared
//! counter until none is left: the same balancing of uneven items, one wake-up per thread
//! per batch, no splitting. The result is in item order whichever thread ran an item.
//!
//! A broadcast returns only once every thread of the pool has taken its share; called from
//! a thread of the pool itself — a map run inside the caller's own parallel work — it would
//! wait for threads that may be blocked or busy outside rayon (on a lock the caller holds,
//! say: for ever). There the batch runs as a parallel iterator, which the calling thread
//! can finish alone.

use rayon::prelude::*;

use std::sync::atomic::{AtomicUsize, Ordering};

/// `f(state, item)` for every item of `items`, in item order: every thread of the current
/// rayon pool (or the global one) takes the next item from a shared counter until none is
/// left, with its own `state`, made by `init` when it takes its first item. The results do
/// not depend on the number of threads or on which thread ran which item, as long as
/// `f`'s result depends only on the item (and not on what `state` saw before). Called from
/// a thread of a rayon pool, a parallel iterator instead (see the module docs).
pub(crate) fn broadcast_map<I, T, S>(
    items: &[I],
    init: impl Fn() -> S + Sync + Send,
    f: impl Fn(&mut S, &I) -> T + Sync + Send,
) -> Vec<T>
where
    I: Sync,
    T: Send,
{
    if rayon::current_thread_index().is_some() {
        return items.par_iter().map_init(init, f).collect();
    }
    let next = AtomicUsize::new(0);
    let parts: Vec<Vec<(usize, T)>> = rayon::broadcast(|_| {
        let mut state: Option<S> = None;
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else {
                return done;
            };
            let state = state.get_or_insert_with(&init);
            done.push((i, f(state, item)));
        }
    });
    let mut slots: Vec<Option<T>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    for (i, t) in parts.into_iter().flatten() {
        slots[i] = Some(t);
    }
    // Each index below items.len() was taken by exactly one thread.
    debug_assert!(slots.iter().all(Option::is_some));
    slots.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_item_order_on_any_number_of_threads() {
        let items: Vec<u64> = (0..1000).collect();
        // Uneven items: item i spins i mod 7 rounds, so threads take different shares.
        let work = |calls: &mut usize, &x: &u64| {
            *calls += 1;
            (0..x % 7).fold(x, |a, k| a.wrapping_mul(31).wrapping_add(k))
        };
        let serial: Vec<u64> = items.iter().map(|x| work(&mut 0, x)).collect();
        // From this (non-pool) thread: the broadcast over the global pool.
        assert!(rayon::current_thread_index().is_none());
        assert_eq!(broadcast_map(&items, || 0usize, work), serial);
        // From a pool's own thread: the parallel iterator, on any number of threads.
        for threads in [1, 2, 3, 8] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let got = pool.install(|| broadcast_map(&items, || 0usize, work));
            assert_eq!(got, serial, "{threads} threads");
        }
        // No items: every thread finds the counter past the end at once.
        assert!(broadcast_map(&[] as &[u64], || 0usize, work).is_empty());
    }

    /// A fixed 24-start map of Himmelblau's split surface (as untimed JSON), what it gives
    /// on its own, and a 2-thread pool to run it in.
    fn small_map_and_pool() -> (impl Fn() -> String + Sync, String, rayon::ThreadPool) {
        use crate::map::tests::untimed;
        use crate::map::{MapParams, map_equilibria};
        let p = crate::problems::himmelblau_split::<f64>();
        let params = MapParams {
            starts: Some(24),
            ..MapParams::default()
        };
        let map = move || untimed(&map_equilibria(&p, &params).unwrap());
        let alone = map();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        (map, alone, pool)
    }

    #[test]
    fn maps_run_at_once_from_the_pools_own_threads_finish_and_agree() {
        // Maps run by the pool's own threads at once (their batches as parallel iterators)
        // and maps from outside it at once (broadcasts: a thread waiting for its broadcast
        // to finish runs the others', which rayon services while it waits): none waits for
        // ever, and each map is the one it is alone.
        let (map, alone, pool) = small_map_and_pool();
        let maps: Vec<String> = pool.install(|| {
            use rayon::prelude::*;
            (0..4).into_par_iter().map(|_| map()).collect()
        });
        assert!(maps.iter().all(|m| *m == alone));
        let outside: Vec<String> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..3).map(|_| scope.spawn(&map)).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(outside.iter().all(|m| *m == alone));
    }

    #[test]
    fn a_map_run_by_a_pool_thread_finishes_while_the_other_is_blocked() {
        // One thread of a 2-thread pool holds a lock and maps; the other waits for the lock.
        // A broadcast would wait for the blocked thread for ever; from inside the pool the
        // batches run as parallel iterators, which the mapping thread finishes alone.
        let (map, alone, pool) = small_map_and_pool();
        let lock = std::sync::Mutex::new(());
        let taken = std::sync::Barrier::new(2);
        let (inside, ()) = pool.install(|| {
            rayon::join(
                || {
                    let _held = lock.lock().unwrap();
                    taken.wait();
                    map()
                },
                || {
                    taken.wait();
                    drop(lock.lock().unwrap());
                },
            )
        });
        assert_eq!(inside, alone);
    }

    #[test]
    fn each_thread_makes_its_state_once_and_only_if_it_takes_an_item() {
        // The broadcast (from this non-pool thread, over the global pool).
        let made = AtomicUsize::new(0);
        let items = [1u8; 64];
        let got = broadcast_map(&items, || made.fetch_add(1, Ordering::Relaxed), |_, &x| x);
        assert_eq!(got, items);
        let (made, threads) = (made.load(Ordering::Relaxed), rayon::current_num_threads());
        assert!(
            (1..=threads).contains(&made),
            "{made} states for {threads} threads"
        );
    }
}
