//! `bflow bench diagnose`: reading and diagnosing a gradient (or Gram) file of K × n values.
//!
//! Writes the file once to a temporary directory (CSV with 17 significant digits, or `.npy`
//! float32/float64), then times `read_array` + the diagnosis `repeats` times and reports the
//! median, and the peak memory the repeats added over the resident memory before them
//! (`/proc/self/clear_refs` resets the kernel's peak counter, Linux).

use std::io::Write as _;
use std::time::Instant;

use bflow::diagnose::{DiagnoseParams, diagnose_gradient_trajectory, diagnose_gram_trajectory};
use bflow::gradients::{Content, NpyValues, Values, read_array, write_npy};

use super::bench::{proc_status_kib, reset_peak_rss};

/// The file format benchmarked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum BenchFormat {
    /// Comma-separated text, `%.17g`-like.
    Csv,
    /// `.npy` float32.
    Npy32,
    /// `.npy` float64.
    Npy64,
}

/// What one `bench diagnose` run measured.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DiagnoseBench {
    /// K.
    pub k: usize,
    /// n (K for Gram input).
    pub n: usize,
    /// The format.
    pub format: BenchFormat,
    /// Gram input (K×K) instead of gradients.
    pub gram: bool,
    /// File size, bytes.
    pub file_bytes: u64,
    /// Seconds to write the file (not part of the timing).
    pub write_seconds: f64,
    /// Each repeat's read + diagnose time, seconds.
    pub seconds: Vec<f64>,
    /// Their median.
    pub median_seconds: f64,
    /// Bytes of the values as held in memory (`K·n` × 4 or 8).
    pub values_bytes: u64,
    /// Peak RSS during the repeats minus RSS before them (null where not measurable).
    pub added_peak_bytes: Option<u64>,
    /// B of the generated data (a check that the run did the work).
    pub b: Option<f64>,
}

/// Deterministic values in (−1, 1): xorshift64*.
fn values(count: usize, seed: u64) -> Vec<f64> {
    let mut x = seed | 1;
    (0..count)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
            (r >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect()
}

/// Runs the benchmark (see the module docs); the temporary file is removed afterwards.
///
/// # Errors
/// A one-line message for an I/O failure or a failed read.
pub fn bench_diagnose(
    k: usize,
    n: usize,
    format: BenchFormat,
    gram: bool,
    repeats: usize,
) -> Result<DiagnoseBench, String> {
    let repeats = repeats.max(1);
    let n = if gram { k } else { n };
    let mut data = values(k * n, 0x9E37_79B9_7F4A_7C15);
    if gram {
        // A Gram matrix of K random gradients of length 64.
        let g = values(k * 64, 7);
        for i in 0..k {
            for j in 0..k {
                data[i * k + j] = (0..64).map(|t| g[i * 64 + t] * g[j * 64 + t]).sum();
            }
        }
    }
    let dir = std::env::temp_dir().join(format!("bflow-bench-diagnose-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(match format {
        BenchFormat::Csv => "g.csv",
        _ => "g.npy",
    });
    let io = |e: std::io::Error| format!("{}: {e}", path.display());
    let t = Instant::now();
    {
        let file = std::fs::File::create(&path).map_err(io)?;
        let mut w = std::io::BufWriter::new(file);
        match format {
            BenchFormat::Csv => {
                for row in data.chunks(n) {
                    for (j, x) in row.iter().enumerate() {
                        if j > 0 {
                            w.write_all(b",").map_err(io)?;
                        }
                        write!(w, "{x:.17e}").map_err(io)?;
                    }
                    w.write_all(b"\n").map_err(io)?;
                }
                w.flush().map_err(io)?;
            }
            BenchFormat::Npy32 => {
                let v: Vec<f32> = data.iter().map(|&x| x as f32).collect();
                write_npy(w, &[k, n], NpyValues::F32(&v), false, false).map_err(io)?;
            }
            BenchFormat::Npy64 => {
                write_npy(w, &[k, n], NpyValues::F64(&data), false, false).map_err(io)?;
            }
        }
    }
    let write_seconds = t.elapsed().as_secs_f64();
    drop(data);
    let file_bytes = std::fs::metadata(&path).map_err(io)?.len();
    let content = if gram {
        Content::Gram
    } else {
        Content::Gradients
    };
    let params = DiagnoseParams::default();
    let can_reset = reset_peak_rss();
    let baseline = proc_status_kib("VmRSS:");
    let mut seconds = Vec::with_capacity(repeats);
    let mut b = None;
    for _ in 0..repeats {
        let t = Instant::now();
        let array = read_array(&path, content).map_err(|e| e.to_string())?;
        let steps = match (&array.values, gram) {
            (Values::F32(v), false) => array
                .view(v)
                .and_then(|view| diagnose_gradient_trajectory(&view, &params)),
            (Values::F64(v), false) => array
                .view(v)
                .and_then(|view| diagnose_gradient_trajectory(&view, &params)),
            (Values::F32(v), true) => array
                .view(v)
                .and_then(|view| diagnose_gram_trajectory(&view, &params)),
            (Values::F64(v), true) => array
                .view(v)
                .and_then(|view| diagnose_gram_trajectory(&view, &params)),
        }
        .map_err(|e| e.to_string())?;
        seconds.push(t.elapsed().as_secs_f64());
        b = steps[0].b;
    }
    let peak = proc_status_kib("VmHWM:");
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_dir(&dir);
    let mut sorted = seconds.clone();
    sorted.sort_by(f64::total_cmp);
    let median_seconds = if repeats % 2 == 1 {
        sorted[repeats / 2]
    } else {
        0.5 * (sorted[repeats / 2 - 1] + sorted[repeats / 2])
    };
    let width = if format == BenchFormat::Npy32 { 4 } else { 8 };
    Ok(DiagnoseBench {
        k,
        n,
        format,
        gram,
        file_bytes,
        write_seconds,
        seconds,
        median_seconds,
        values_bytes: (k * n * width) as u64,
        added_peak_bytes: match (can_reset, peak, baseline) {
            (true, Some(p), Some(b)) => Some(p.saturating_sub(b) * 1024),
            _ => None,
        },
        b,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_bench_reads_every_format_and_agrees() {
        let mut bs = Vec::new();
        for format in [BenchFormat::Csv, BenchFormat::Npy32, BenchFormat::Npy64] {
            let r = bench_diagnose(3, 500, format, false, 1).unwrap();
            assert_eq!(r.seconds.len(), 1);
            bs.push(r.b.unwrap());
        }
        // Random gradients in (−1, 1): B ≈ 1; CSV and float64 hold the same values.
        assert!((bs[0] - 1.0).abs() < 0.2, "{bs:?}");
        assert!((bs[0] - bs[2]).abs() < 1e-14, "{bs:?}");
        assert!((bs[0] - bs[1]).abs() < 1e-5, "{bs:?}");
        let g = bench_diagnose(4, 0, BenchFormat::Npy64, true, 1).unwrap();
        assert_eq!(g.n, 4);
        assert!(g.b.is_some());
    }
}
