//! Progress of `bflow map` on stderr: a bar on a terminal, and otherwise (a log file, a batch
//! job's output) one line at most every [`LINE_INTERVAL`]:
//! `mapped 123456 of 100000000 starts, 441 equilibria, 12.3 s`.

use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The shortest time between two progress lines on a stderr that is not a terminal.
pub const LINE_INTERVAL: Duration = Duration::from_secs(10);

/// Progress lines written to `out`, at most one per `interval` (callable from any thread).
pub struct ProgressLines<W: Write + Send> {
    interval: Duration,
    clock: Instant,
    /// When the next line is due, in milliseconds since `clock`.
    due_ms: AtomicU64,
    /// Distinct equilibria found so far (known at batch ends).
    equilibria: AtomicUsize,
    printed: AtomicBool,
    out: Mutex<W>,
}

impl<W: Write + Send> ProgressLines<W> {
    /// Lines to `out`, the first one `interval` from now.
    pub fn new(out: W, interval: Duration) -> Self {
        Self {
            interval,
            clock: Instant::now(),
            due_ms: AtomicU64::new(millis(interval)),
            equilibria: AtomicUsize::new(0),
            printed: AtomicBool::new(false),
            out: Mutex::new(out),
        }
    }

    /// Sets the count of distinct equilibria the next lines show.
    pub fn set_equilibria(&self, n: usize) {
        self.equilibria.store(n, Ordering::Relaxed);
    }

    /// `done` of `total` starts are mapped: writes a line when one is due.
    pub fn tick(&self, done: usize, total: usize) {
        self.tick_at(self.clock.elapsed(), done, total);
    }

    /// As [`tick`](Self::tick), `now` after the start: a line when `now` is at or past the
    /// time due, and the next one due an interval after `now` (one thread wins a race).
    pub fn tick_at(&self, now: Duration, done: usize, total: usize) {
        let now_ms = millis(now);
        let due = self.due_ms.load(Ordering::Relaxed);
        if now_ms < due
            || self
                .due_ms
                .compare_exchange(
                    due,
                    now_ms.saturating_add(millis(self.interval)),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_err()
        {
            return;
        }
        self.write_line(now, done, total, "");
    }

    /// A last line, with why the map stopped, when any line was written (so a log ends with
    /// the final count: a line written while the time limit struck may count starts that
    /// were then dropped to keep the map a prefix of its starts).
    pub fn finish(&self, done: usize, total: usize, stopped: &str) {
        if self.printed.load(Ordering::Relaxed) {
            self.write_line(
                self.clock.elapsed(),
                done,
                total,
                &format!(" (stopped: {stopped})"),
            );
        }
    }

    fn write_line(&self, now: Duration, done: usize, total: usize, note: &str) {
        self.printed.store(true, Ordering::Relaxed);
        let line = format!(
            "mapped {done} of {total} starts, {} equilibria, {:.1} s{note}\n",
            self.equilibria.load(Ordering::Relaxed),
            now.as_secs_f64()
        );
        if let Ok(mut out) = self.out.lock() {
            let _ = out.write_all(line.as_bytes());
            let _ = out.flush();
        }
    }

    /// The writer back (for tests).
    #[cfg(test)]
    fn into_inner(self) -> W {
        self.out.into_inner().unwrap()
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_one_line_per_interval_with_the_counts() {
        let p = ProgressLines::new(Vec::new(), Duration::from_millis(100));
        p.set_equilibria(7);
        let ms = Duration::from_millis;
        p.tick_at(ms(0), 1, 1000); // not due before one interval
        p.tick_at(ms(99), 2, 1000);
        p.tick_at(ms(100), 3, 1000); // due: a line; the next one due at 200
        p.tick_at(ms(150), 4, 1000);
        p.set_equilibria(9);
        p.tick_at(ms(199), 5, 1000);
        p.tick_at(ms(230), 6, 1000); // a line; the next one due at 330
        p.tick_at(ms(329), 7, 1000);
        let text = String::from_utf8(p.into_inner()).unwrap();
        assert_eq!(
            text,
            "mapped 3 of 1000 starts, 7 equilibria, 0.1 s\n\
             mapped 6 of 1000 starts, 9 equilibria, 0.2 s\n"
        );
    }

    #[test]
    fn finish_writes_a_last_line_only_after_a_progress_line() {
        let quiet = ProgressLines::new(Vec::new(), Duration::from_secs(3600));
        quiet.tick(5, 10);
        quiet.finish(10, 10, "fixed");
        assert!(quiet.into_inner().is_empty());
        let shown = ProgressLines::new(Vec::new(), Duration::ZERO);
        shown.tick(5, 10);
        shown.finish(10, 10, "fixed");
        let text = String::from_utf8(shown.into_inner()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].starts_with("mapped 5 of 10 starts, 0 equilibria, "));
        assert!(lines[1].starts_with("mapped 10 of 10 starts, 0 equilibria, "));
        assert!(lines[1].ends_with(" s (stopped: fixed)"), "{text}");
    }
}
