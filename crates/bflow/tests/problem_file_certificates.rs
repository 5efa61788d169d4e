//! Problem files certify their equilibria through symbolic derivatives evaluated over
//! intervals, and refuse where the derivative does not exist.

use bflow::map::{certify, krawczyk};
use bflow::objectives::parse_problem;

#[test]
fn himmelblau_file_equilibria_are_certified() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/problems/himmelblau-split.toml"
    ))
    .unwrap();
    let p = parse_problem(&text, "himmelblau-split.toml").unwrap();
    assert_eq!(p.equilibria.len(), 9);
    for e in &p.equilibria {
        // The listed points are rounded to 16 digits; the certificate must still hold in a
        // small box around them.
        let c = certify(p.objectives.as_ref(), e, 1.0);
        assert!(c.radius.is_some(), "{e:?}: {:?}", c.reason);
    }
    // Away from any equilibrium the test must fail.
    assert_eq!(
        krawczyk(p.objectives.as_ref(), &[1.0, 1.0], 1e-6),
        Ok(false)
    );
}

#[test]
fn a_kink_in_the_box_cannot_be_certified() {
    // Σ L = |x| + y²: s = (sign x, 2y) jumps at x = 0, where the only "zero"
    // is not a zero of a differentiable map. The interval test must not certify it.
    let text = "vars = [\"x\", \"y\"]\n[[objective]]\nexpr = \"abs(x) + y^2/2\"\n[[objective]]\nexpr = \"y^2/2\"\n";
    let p = parse_problem(text, "kink.toml").unwrap();
    let c = certify(p.objectives.as_ref(), &[0.0, 0.0], 1.0);
    assert!(c.radius.is_none(), "certified a kink: {c:?}");
}

#[test]
fn abs_in_an_objective_is_never_certified() {
    // s(x) = sign(x) + 1 + x has no zero at all; the symbolic Jacobian (sign' = 0) would
    // wrongly "prove" one near 0, so enclosures must be refused for non-smooth objectives.
    let text = "vars = [\"x\"]\n[[objective]]\nexpr = \"abs(x) + x\"\n[[objective]]\nexpr = \"0.5*x^2\"\n[start]\nx = 1.0\n";
    let p = parse_problem(text, "kink2.toml").unwrap();
    let c = certify(p.objectives.as_ref(), &[-2.5e-12], 1.0);
    assert!(
        c.radius.is_none(),
        "certified a point where s has no zero: {c:?}"
    );
}

#[test]
fn derivative_trees_do_not_round_constants() {
    // 0.1 + 0.2 − 0.30000000000000004 is −2.78e-17 exactly, not 0: the only zero of s is
    // near x = 1388, so nothing may be certified at x = 0.
    let text = "vars = [\"x\"]\n[[objective]]\nexpr = \"0.1*x + 0.2*x - 0.30000000000000004*x\"\n[[objective]]\nexpr = \"1e-20*x^2\"\n";
    let p = parse_problem(text, "fold.toml").unwrap();
    let c = certify(p.objectives.as_ref(), &[0.0], 1.0);
    assert!(c.radius.is_none(), "certified a non-zero: {c:?}");
}
