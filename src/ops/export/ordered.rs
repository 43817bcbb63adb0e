//! Work on the jobs spread over threads, its results taken in the jobs' order: what reading,
//! checking and parsing the result files costs is shared by the cores, while everything that
//! depends on the order (ids, the label map, the files written, the report) stays on the
//! calling thread, as if one thread had done it all.
//!
//! Memory is bounded by the work in flight, never by the number of jobs: at most
//! [`IN_FLIGHT_PER_THREAD`] chunks a thread are sent and not yet taken, and they weigh (the
//! sizes of the files the jobs read, as the index records them) at most [`IN_FLIGHT_BYTES`],
//! or one chunk when a single one weighs more: a dataset of large files is worked on a few
//! files at a time, as one thread would.

use std::collections::BTreeMap;
use std::sync::mpsc;

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

/// Runs `work` on each of `inputs` on [`threads`] threads and gives the outputs to `take` in
/// the order of `inputs`; `weight` is what an input's work holds in memory (bytes). Stops at
/// the first error of `take` (the threads then finish the chunks they hold, and nothing more
/// is sent).
pub(super) fn in_order<I, O, E>(
    inputs: impl Iterator<Item = I>,
    weight: impl Fn(&I) -> u64,
    work: impl Fn(I) -> O + Sync,
    mut take: impl FnMut(O) -> Result<(), E>,
) -> Result<(), E>
where
    I: Send,
    O: Send,
{
    let threads = threads();
    if threads == 1 {
        for input in inputs {
            take(work(input))?;
        }
        return Ok(());
    }
    let in_flight = threads * IN_FLIGHT_PER_THREAD;
    let (send_work, receive_work) = mpsc::sync_channel::<(u64, Vec<I>)>(in_flight);
    let receive_work = std::sync::Mutex::new(receive_work);
    let (send_done, receive_done) = mpsc::channel::<(u64, Vec<O>)>();
    let (receive_work, work) = (&receive_work, &work);
    std::thread::scope(move |scope| {
        for _ in 0..threads {
            let send_done = send_done.clone();
            scope.spawn(move || {
                loop {
                    let next = receive_work
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .recv();
                    let Ok((sequence, chunk)) = next else {
                        return;
                    };
                    let outputs = chunk.into_iter().map(work).collect();
                    if send_done.send((sequence, outputs)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(send_done);
        // Outputs that came back before their turn.
        let mut waiting: BTreeMap<u64, Vec<O>> = BTreeMap::new();
        // The weight of each chunk sent and not yet taken, oldest first.
        let mut weights: std::collections::VecDeque<u64> = std::collections::VecDeque::new();
        let mut next_taken = 0u64;
        let mut sent = 0u64;
        let mut take_ready = |waiting: &mut BTreeMap<u64, Vec<O>>,
                              weights: &mut std::collections::VecDeque<u64>,
                              next_taken: &mut u64|
         -> Result<(), E> {
            while let Some(outputs) = waiting.remove(next_taken) {
                *next_taken += 1;
                weights.pop_front();
                for output in outputs {
                    take(output)?;
                }
            }
            Ok(())
        };
        let mut inputs = inputs.peekable();
        'send: while inputs.peek().is_some() {
            let mut chunk: Vec<I> = Vec::with_capacity(CHUNK);
            let mut chunk_weight = 0u64;
            while chunk.len() < CHUNK && chunk_weight < CHUNK_BYTES {
                let Some(input) = inputs.next() else {
                    break;
                };
                chunk_weight = chunk_weight.saturating_add(weight(&input));
                chunk.push(input);
            }
            // Wait for the oldest chunks to be taken while too many, or too heavy with this
            // one, are out (one chunk alone is always sent).
            while !weights.is_empty()
                && (weights.len() >= in_flight
                    || weights.iter().sum::<u64>().saturating_add(chunk_weight) > IN_FLIGHT_BYTES)
            {
                // No thread left (one panicked): stop; the scope passes the panic on.
                let Ok((sequence, outputs)) = receive_done.recv() else {
                    break 'send;
                };
                waiting.insert(sequence, outputs);
                take_ready(&mut waiting, &mut weights, &mut next_taken)?;
            }
            if send_work.send((sent, chunk)).is_err() {
                break;
            }
            sent += 1;
            weights.push_back(chunk_weight);
            while let Ok((sequence, outputs)) = receive_done.try_recv() {
                waiting.insert(sequence, outputs);
            }
            take_ready(&mut waiting, &mut weights, &mut next_taken)?;
        }
        // The threads end when the chunks sent are done.
        drop(send_work);
        while next_taken < sent {
            let Ok((sequence, outputs)) = receive_done.recv() else {
                break;
            };
            waiting.insert(sequence, outputs);
            take_ready(&mut waiting, &mut weights, &mut next_taken)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_come_in_the_order_of_the_inputs_whatever_the_threads_finish_first() {
        let mut seen = Vec::new();
        in_order(
            0..1000u64,
            |_| 1,
            |n| {
                // Uneven work, so that later chunks often finish first.
                if n % 97 == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                n * 2
            },
            |output| {
                seen.push(output);
                Ok::<(), ()>(())
            },
        )
        .unwrap();
        assert_eq!(seen, (0..1000u64).map(|n| n * 2).collect::<Vec<_>>());
    }

    #[test]
    fn the_first_error_of_take_stops_the_run_and_is_returned() {
        let mut taken = 0;
        let result = in_order(
            0..10_000u32,
            |_| 1,
            |n| n,
            |n| {
                taken += 1;
                if n == 100 { Err(n) } else { Ok(()) }
            },
        );
        assert_eq!(result, Err(100));
        assert_eq!(taken, 101);
    }

    #[test]
    fn heavy_inputs_are_worked_on_a_few_at_a_time() {
        use std::sync::atomic::{AtomicU64, Ordering};
        // Each input weighs a quarter of the bound: never more than 4 worked on or waiting,
        // plus the one being sent when the others are light enough.
        let held = AtomicU64::new(0);
        let most = AtomicU64::new(0);
        in_order(
            0..200u32,
            |_| IN_FLIGHT_BYTES / 4,
            |n| {
                let now = held.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                n
            },
            |_| {
                held.fetch_sub(1, Ordering::SeqCst);
                Ok::<(), ()>(())
            },
        )
        .unwrap();
        assert!(most.load(Ordering::SeqCst) <= 4, "{most:?}");
    }
}
