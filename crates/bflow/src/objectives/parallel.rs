//! The K gradients of a problem evaluated in parallel (rayon).
//!
//! Each objective's gradient `g_i = ∇L_i(θ)` is independent of the others, so the K
//! evaluations run as K rayon tasks on the global thread pool, each writing into its own
//! caller-owned buffer. Nothing of size n is allocated here.

use rayon::prelude::*;

use super::Objectives;
use crate::error::{Error, Result};
use crate::real::Real;

/// Writes `grads[i] = ∇L_i(θ)` for every objective `i = 0..K`, the K evaluations running in
/// parallel on rayon's global pool.
///
/// `grads` is caller-owned and reused: it must hold exactly K buffers of length n; no n-vector
/// is allocated. The result equals, bit for bit, K sequential calls to
/// [`Objectives::gradient`] (each gradient is computed by one thread).
///
/// # Errors
/// [`Error::DimensionMismatch`] when `theta` does not have length n, when `grads` does not
/// hold K buffers (`what = "grads"`, lengths compared against K) or when a buffer does not
/// have length n (`what = "grads[i]"`). Nothing is written then.
pub fn gradients_parallel<F: Real>(
    obj: &dyn Objectives<F>,
    theta: &[F],
    grads: &mut [Vec<F>],
) -> Result<()> {
    let n = obj.dim();
    let k = obj.num_objectives();
    if theta.len() != n {
        return Err(Error::DimensionMismatch {
            what: "theta".to_string(),
            expected: n,
            found: theta.len(),
        });
    }
    if grads.len() != k {
        return Err(Error::DimensionMismatch {
            what: "grads (number of buffers, expected K)".to_string(),
            expected: k,
            found: grads.len(),
        });
    }
    if let Some((i, g)) = grads.iter().enumerate().find(|(_, g)| g.len() != n) {
        return Err(Error::DimensionMismatch {
            what: format!("grads[{i}]"),
            expected: n,
            found: g.len(),
        });
    }
    grads
        .par_iter_mut()
        .enumerate()
        .for_each(|(i, g)| obj.gradient(i, theta, g));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problems::Targets;

    #[test]
    fn parallel_gradients_equal_sequential_ones() {
        let t = Targets::quadratic(vec![
            vec![3.0, 1.0, -2.0],
            vec![-1.0, 3.0, 2.0],
            vec![0.0, -1.0, 4.0],
        ]);
        let theta = [0.25, -0.5, 1.5];
        let mut par = vec![vec![f64::NAN; 3]; 3];
        gradients_parallel(&t, &theta, &mut par).unwrap();
        for (i, g) in par.iter().enumerate() {
            let mut seq = vec![0.0; 3];
            t.gradient(i, &theta, &mut seq);
            assert_eq!(g, &seq);
        }
        // g_0 = 2(θ − t_0)
        assert_eq!(par[0], vec![-5.5, -3.0, 7.0]);
    }

    #[test]
    fn parallel_gradients_reject_bad_shapes() {
        let t = Targets::quadratic(vec![vec![1.0, 2.0], vec![3.0, 4.0]]);
        let mut two = vec![vec![0.0; 2]; 2];
        let err = gradients_parallel(&t, &[0.0; 3], &mut two).unwrap_err();
        assert!(matches!(
            err,
            Error::DimensionMismatch {
                expected: 2,
                found: 3,
                ..
            }
        ));
        let mut three = vec![vec![0.0; 2]; 3];
        let err = gradients_parallel(&t, &[0.0; 2], &mut three).unwrap_err();
        assert!(matches!(
            err,
            Error::DimensionMismatch {
                expected: 2,
                found: 3,
                ..
            }
        ));
        let mut ragged = vec![vec![0.0; 2], vec![0.0; 1]];
        let err = gradients_parallel(&t, &[0.0; 2], &mut ragged).unwrap_err();
        assert_eq!(
            err,
            Error::DimensionMismatch {
                what: "grads[1]".to_string(),
                expected: 2,
                found: 1
            }
        );
    }
}
