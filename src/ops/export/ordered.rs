//! Work on the jobs spread over threads, its results taken in the jobs' order ([`InOrder`], an
//! iterator): what reading,
//! checking and parsing the result files costs is shared by the cores, while everything that
//! depends on the order (ids, the label map, the files written, the report) stays on the
//! calling thread, as if one thread had done it all.
//!
//! Memory is bounded by the work in flight, never by the number of jobs: at most
//! [`IN_FLIGHT_PER_THREAD`] chunks a thread are sent and not yet taken, and they weigh (the
//! sizes of the files the jobs read, as the index records them) at most [`IN_FLIGHT_BYTES`],
//! or one chunk when a single one weighs more: a dataset of large files is worked on a few
//! files at a time, as one thread would.

use std::collections::{BTreeMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, mpsc};

/// Jobs sent to a thread at a time, at most.
pub(super) const CHUNK: usize = 32;
/// A chunk is sent once it weighs this much, even with fewer jobs.
const CHUNK_BYTES: u64 = 1 << 20;
/// Chunks sent and not yet taken, at most, per thread.
const IN_FLIGHT_PER_THREAD: usize = 4;
/// The weight of the chunks sent and not yet taken, at most (one chunk may weigh more).
pub(super) const IN_FLIGHT_BYTES: u64 = 16 << 20;
/// The most threads used (each reads one result file at a time).
pub(super) const MAX_THREADS: usize = 4;

/// How many threads do the work: the cores, at most [`MAX_THREADS`].
pub(super) fn threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, MAX_THREADS)
}

/// The outputs of `work` on each input, in the inputs' order: an iterator, so that the caller
/// takes them in a plain loop. Inputs are pulled (and weighed) on the caller's thread as room
/// frees; [`threads`] threads run `work`. Dropping it stops the threads (they finish the
/// chunks they hold).
pub(super) struct InOrder<'a, I, O> {
    inputs: Box<dyn Iterator<Item = I> + 'a>,
    inputs_done: bool,
    weight: Box<dyn Fn(&I) -> u64 + 'a>,
    work: Arc<dyn Fn(I) -> O + Send + Sync>,
    /// `None` with one thread: `work` then runs on the caller's.
    send_work: Option<mpsc::SyncSender<(u64, Vec<I>)>>,
    receive_done: Option<mpsc::Receiver<Done<O>>>,
    workers: Vec<std::thread::JoinHandle<()>>,
    in_flight: usize,
    /// A chunk made and not sent yet (no room), and its weight.
    pending: Option<(Vec<I>, u64)>,
    /// Outputs that came back before their turn.
    waiting: BTreeMap<u64, Vec<O>>,
    /// Outputs of the chunk being given out.
    ready: VecDeque<O>,
    /// The weight of each chunk sent and not yet taken, oldest first.
    weights: VecDeque<u64>,
    next_taken: u64,
    sent: u64,
}

/// A chunk's outputs, or `None` when `work` panicked on it.
type Done<O> = (u64, Option<Vec<O>>);

impl<'a, I: Send + 'static, O: Send + 'static> InOrder<'a, I, O> {
    /// Runs `work` on each of `inputs`; `weight` is what an input's work holds in memory
    /// (bytes).
    pub(super) fn new(
        inputs: impl Iterator<Item = I> + 'a,
        weight: impl Fn(&I) -> u64 + 'a,
        work: impl Fn(I) -> O + Send + Sync + 'static,
    ) -> InOrder<'a, I, O> {
        let threads = threads();
        let in_flight = threads * IN_FLIGHT_PER_THREAD;
        let mut this = InOrder {
            inputs: Box::new(inputs),
            inputs_done: false,
            weight: Box::new(weight),
            work: Arc::new(work),
            send_work: None,
            receive_done: None,
            workers: Vec::new(),
            in_flight,
            pending: None,
            waiting: BTreeMap::new(),
            ready: VecDeque::new(),
            weights: VecDeque::new(),
            next_taken: 0,
            sent: 0,
        };
        if threads > 1 {
            let (send_work, receive_work) = mpsc::sync_channel::<(u64, Vec<I>)>(in_flight);
            let receive_work = Arc::new(Mutex::new(receive_work));
            let (send_done, receive_done) = mpsc::channel::<Done<O>>();
            for _ in 0..threads {
                let (receive_work, send_done) = (Arc::clone(&receive_work), send_done.clone());
                let work = Arc::clone(&this.work);
                this.workers.push(std::thread::spawn(move || {
                    loop {
                        let next = receive_work
                            .lock()
                            .unwrap_or_else(|poisoned| poisoned.into_inner())
                            .recv();
                        let Ok((sequence, chunk)) = next else {
                            return;
                        };
                        // A panic (a bug) is passed to the caller's thread, not left to
                        // stall it waiting for this chunk.
                        let outputs = std::panic::catch_unwind(AssertUnwindSafe(|| {
                            chunk.into_iter().map(|input| work(input)).collect()
                        }))
                        .ok();
                        if send_done.send((sequence, outputs)).is_err() {
                            return;
                        }
                    }
                }));
            }
            this.send_work = Some(send_work);
            this.receive_done = Some(receive_done);
        }
        this
    }

    /// Sends chunks while there is room: fewer than `in_flight` out, and their weight within
    /// [`IN_FLIGHT_BYTES`] (one chunk alone is always sent).
    fn feed(&mut self) {
        let Some(send_work) = self.send_work.as_ref() else {
            return;
        };
        loop {
            if self.pending.is_none() {
                let mut chunk = Vec::with_capacity(CHUNK);
                let mut weight = 0u64;
                while !self.inputs_done && chunk.len() < CHUNK && weight < CHUNK_BYTES {
                    match self.inputs.next() {
                        Some(input) => {
                            weight = weight.saturating_add((self.weight)(&input));
                            chunk.push(input);
                        }
                        None => self.inputs_done = true,
                    }
                }
                if chunk.is_empty() {
                    return;
                }
                self.pending = Some((chunk, weight));
            }
            let weight = self.pending.as_ref().map_or(0, |(_, weight)| *weight);
            let out: u64 = self.weights.iter().sum();
            if !self.weights.is_empty()
                && (self.weights.len() >= self.in_flight
                    || out.saturating_add(weight) > IN_FLIGHT_BYTES)
            {
                return;
            }
            let Some((chunk, weight)) = self.pending.take() else {
                return;
            };
            if send_work.send((self.sent, chunk)).is_err() {
                return;
            }
            self.sent += 1;
            self.weights.push_back(weight);
        }
    }
}

impl<I: Send + 'static, O: Send + 'static> Iterator for InOrder<'_, I, O> {
    type Item = O;

    fn next(&mut self) -> Option<O> {
        if self.send_work.is_none() {
            let input = self.inputs.next()?;
            return Some((self.work)(input));
        }
        loop {
            if let Some(output) = self.ready.pop_front() {
                return Some(output);
            }
            if let Some(outputs) = self.waiting.remove(&self.next_taken) {
                self.next_taken += 1;
                self.weights.pop_front();
                self.ready.extend(outputs);
                continue;
            }
            self.feed();
            if self.next_taken == self.sent {
                return None;
            }
            let received = self.receive_done.as_ref().map(mpsc::Receiver::recv);
            match received {
                Some(Ok((sequence, Some(outputs)))) => {
                    self.waiting.insert(sequence, outputs);
                }
                // A thread panicked on a chunk (its message printed): so does this one.
                _ => panic!("a thread reading the result files stopped"),
            }
        }
    }
}

impl<I, O> Drop for InOrder<'_, I, O> {
    fn drop(&mut self) {
        self.send_work = None;
        self.receive_done = None;
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_come_in_the_order_of_the_inputs_whatever_the_threads_finish_first() {
        let seen: Vec<u64> = InOrder::new(
            0..1000u64,
            |_| 1,
            |n| {
                // Uneven work, so that later chunks often finish first.
                if n % 97 == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                n * 2
            },
        )
        .collect();
        assert_eq!(seen, (0..1000u64).map(|n| n * 2).collect::<Vec<_>>());
    }

    #[test]
    fn stopping_early_stops_the_threads_and_pulls_no_more_inputs() {
        let pulled = std::cell::Cell::new(0u32);
        let mut outputs = InOrder::new(
            (0..1_000_000u32).inspect(|_| pulled.set(pulled.get() + 1)),
            |_| 1,
            |n| n,
        );
        assert_eq!(outputs.by_ref().take(100).count(), 100);
        drop(outputs);
        // What was in flight at most, not the million.
        assert!(
            pulled.get() <= 100 + (MAX_THREADS * IN_FLIGHT_PER_THREAD + 1) as u32 * CHUNK as u32,
            "{}",
            pulled.get()
        );
    }

    #[test]
    fn heavy_inputs_are_worked_on_a_few_at_a_time() {
        use std::sync::atomic::{AtomicU64, Ordering};
        // Each input weighs a quarter of the bound: never more than 4 worked on or waiting.
        let held = Arc::new(AtomicU64::new(0));
        let most = Arc::new(AtomicU64::new(0));
        let (worked, highest) = (Arc::clone(&held), Arc::clone(&most));
        for _ in InOrder::new(
            0..200u32,
            |_| IN_FLIGHT_BYTES / 4,
            move |n| {
                let now = worked.fetch_add(1, Ordering::SeqCst) + 1;
                highest.fetch_max(now, Ordering::SeqCst);
                n
            },
        ) {
            held.fetch_sub(1, Ordering::SeqCst);
        }
        assert!(most.load(Ordering::SeqCst) <= 4, "{most:?}");
    }
}
