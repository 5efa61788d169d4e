//! Observers that keep a run's history without holding it all: a CSV trace streamed to any
//! writer, and a bounded series for plots.

use std::io::Write;
use std::ops::ControlFlow;

use super::driver::{Observation, Observer};
use crate::real::Real;

/// Streams one CSV row per iterate to a writer: `step,theta_1..theta_n,B,sum_norm,total_loss,
/// gradient_equivalents` (B empty where degenerate), numbers with 17 significant digits. Holds
/// nothing but the writer, so a run of any length traces in constant memory. A write error
/// stops the run ([`StopReason::Interrupted`](super::StopReason::Interrupted)) and is kept
/// for [`TraceCsv::finish`].
#[derive(Debug)]
pub struct TraceCsv<W: Write> {
    out: W,
    header_written: bool,
    error: Option<std::io::Error>,
    rows: u64,
}

impl<W: Write> TraceCsv<W> {
    /// A trace into `out` (wrap files in a `BufWriter`).
    pub fn new(out: W) -> Self {
        Self {
            out,
            header_written: false,
            error: None,
            rows: 0,
        }
    }

    /// Flushes the writer; returns the rows written, or the first write error.
    ///
    /// # Errors
    /// The I/O error that stopped the trace, or the flush's.
    pub fn finish(mut self) -> std::io::Result<u64> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()?;
        Ok(self.rows)
    }

    fn write_row<F: Real>(&mut self, at: &Observation<'_, F>) -> std::io::Result<()> {
        if !self.header_written {
            self.out.write_all(b"step")?;
            for j in 1..=at.theta.len() {
                write!(self.out, ",theta_{j}")?;
            }
            self.out
                .write_all(b",B,sum_norm,total_loss,gradient_equivalents\n")?;
            self.header_written = true;
        }
        write!(self.out, "{}", at.step)?;
        for x in at.theta {
            write!(self.out, ",{:.16e}", x.to_f64_lossy())?;
        }
        match at.stats.b() {
            Some(b) => write!(self.out, ",{:.16e}", b.to_f64_lossy())?,
            None => self.out.write_all(b",")?,
        }
        writeln!(
            self.out,
            ",{:.16e},{:.16e},{}",
            at.stats.sum_norm.to_f64_lossy(),
            at.stats.total_loss.to_f64_lossy(),
            at.counts.gradient_equivalents()
        )?;
        self.rows += 1;
        Ok(())
    }
}

impl<F: Real, W: Write> Observer<F> for TraceCsv<W> {
    fn observe(&mut self, at: &Observation<'_, F>) -> ControlFlow<()> {
        match self.write_row(at) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                self.error = Some(e);
                ControlFlow::Break(())
            }
        }
    }
}

/// One point of a [`Series`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeriesPoint {
    /// Steps taken.
    pub step: usize,
    /// Work so far, in gradient-equivalents.
    pub gradient_equivalents: u64,
    /// `‖s‖`.
    pub sum_norm: f64,
    /// B (`None` where degenerate).
    pub b: Option<f64>,
    /// `Σ L_i`.
    pub total_loss: f64,
}

/// `‖s‖`, B and `Σ L` per iterate for plots, in bounded memory: once `capacity` points are
/// held, every other one is dropped and only every second later iterate is kept (and so on),
/// so the series always spans the whole run at a resolution of at least `capacity/2` points.
/// The last iterate is always kept.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    points: Vec<SeriesPoint>,
    capacity: usize,
    stride: usize,
    last: Option<SeriesPoint>,
}

impl Series {
    /// A series of at most `capacity` points (at least 4).
    pub fn new(capacity: usize) -> Self {
        Self {
            points: Vec::new(),
            capacity: capacity.max(4),
            stride: 1,
            last: None,
        }
    }

    /// The points kept, in step order, ending with the last iterate seen.
    pub fn points(&self) -> Vec<SeriesPoint> {
        let mut out = self.points.clone();
        if let Some(last) = self.last
            && out.last().is_none_or(|p| p.step != last.step)
        {
            out.push(last);
        }
        out
    }
}

impl<F: Real> Observer<F> for Series {
    fn observe(&mut self, at: &Observation<'_, F>) -> ControlFlow<()> {
        let point = SeriesPoint {
            step: at.step,
            gradient_equivalents: at.counts.gradient_equivalents(),
            sum_norm: at.stats.sum_norm.to_f64_lossy(),
            b: at.stats.b().map(|b| b.to_f64_lossy()),
            total_loss: at.stats.total_loss.to_f64_lossy(),
        };
        self.last = Some(point);
        if at.step.is_multiple_of(self.stride) {
            if self.points.len() == self.capacity {
                let mut k = 0;
                self.points.retain(|_| {
                    k += 1;
                    k % 2 == 1
                });
                self.stride *= 2;
            }
            if at.step.is_multiple_of(self.stride) {
                self.points.push(point);
            }
        }
        ControlFlow::Continue(())
    }
}

/// Several observers as one: each sees every iterate; the run stops when any asks.
pub struct Observers<'o, F: Real>(pub Vec<&'o mut dyn Observer<F>>);

impl<F: Real> Observer<F> for Observers<'_, F> {
    fn observe(&mut self, at: &Observation<'_, F>) -> ControlFlow<()> {
        let mut flow = ControlFlow::Continue(());
        for o in &mut self.0 {
            if o.observe(at).is_break() {
                flow = ControlFlow::Break(());
            }
        }
        flow
    }

    fn is_silent(&self) -> bool {
        self.0.iter().all(|o| o.is_silent())
    }
}
