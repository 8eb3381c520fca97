//! Renders connections on several threads and hands the results on in
//! the order the connections came: `analyze` of a large capture is mostly
//! formatting, and formatting one connection needs nothing of another.
//! No I/O here: the caller's sink writes.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, sync_channel};

use crate::track::Connection;

/// Renders every connection that arrives on `input` (in handfuls, in
/// order) with `render` (which may also hand it on as it is), on up to `threads` threads, and gives each result
/// to `sink` in the input's order. Stops at the first error of `sink`.
/// Returns how many connections were rendered.
pub fn render_in_order<R: Send, E>(
    input: Receiver<Vec<Connection>>,
    threads: usize,
    render: impl Fn(Connection) -> R + Sync,
    mut sink: impl FnMut(R) -> Result<(), E>,
) -> Result<usize, E> {
    // (the next handful's number, the input): taken together, so numbers
    // follow the input's order.
    let work = Mutex::new((0u64, input));
    let threads = threads.max(1);
    std::thread::scope(|s| {
        let (done, results) = sync_channel::<(u64, Vec<R>)>(2 * threads);
        for _ in 0..threads {
            let done = done.clone();
            let (work, render) = (&work, &render);
            s.spawn(move || {
                loop {
                    let (n, handful) = {
                        let Ok(mut w) = work.lock() else { return };
                        let Ok(handful) = w.1.recv() else { return };
                        w.0 += 1;
                        (w.0 - 1, handful)
                    };
                    let out = handful.into_iter().map(render).collect();
                    if done.send((n, out)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done);
        let mut waiting = BTreeMap::new();
        let (mut next, mut count) = (0u64, 0usize);
        for (n, out) in results {
            waiting.insert(n, out);
            while let Some(out) = waiting.remove(&next) {
                next += 1;
                for r in out {
                    count += 1;
                    sink(r)?;
                }
            }
        }
        Ok(count)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Flags, Segment};
    use crate::time::Timestamp;
    use crate::track::{TrackConfig, Tracker};

    fn connections(n: usize) -> Vec<Connection> {
        let mut t = Tracker::new(TrackConfig::default());
        for i in 0..n {
            let src = format!("10.0.{}.{}:40000", i / 250, i % 250 + 1);
            let seg = Segment::new(
                src.parse().unwrap(),
                "10.1.0.1:80".parse().unwrap(),
                Flags::SYN,
                1,
                0,
                0,
            );
            t.push(&seg, Timestamp::from_nanos(i as i64), i as u64 + 1);
        }
        t.finish(Timestamp::from_nanos(n as i64))
    }

    #[test]
    fn results_come_in_the_input_order_whatever_the_threads() {
        let all = connections(700);
        let (tx, rx) = sync_channel(4);
        let feeder = std::thread::spawn(move || {
            for chunk in all.chunks(7) {
                tx.send(chunk.to_vec()).unwrap();
            }
        });
        let mut seen = Vec::new();
        let n = render_in_order(
            rx,
            3,
            |c: Connection| {
                // Uneven work, so threads finish out of order.
                std::thread::sleep(std::time::Duration::from_micros((c.id % 5) as u64 * 50));
                c.id
            },
            |id| {
                seen.push(id);
                Ok::<(), ()>(())
            },
        );
        feeder.join().unwrap();
        assert_eq!(n, Ok(700));
        assert_eq!(seen, (0..700).collect::<Vec<_>>());
    }

    #[test]
    fn a_failing_sink_stops_it() {
        let (tx, rx) = sync_channel(64);
        for chunk in connections(50).chunks(5) {
            tx.send(chunk.to_vec()).unwrap();
        }
        drop(tx);
        let mut taken = 0;
        let r = render_in_order(
            rx,
            2,
            |c: Connection| c.id,
            |_| {
                taken += 1;
                if taken == 12 { Err("closed") } else { Ok(()) }
            },
        );
        assert_eq!(r, Err("closed"));
        assert_eq!(taken, 12);
    }
}
