//! Problem files certify their equilibria through symbolic derivatives evaluated over
//! intervals, and refuse where the derivative does not exist.

use bflow::map::{certify, krawczyk};
use bflow::objectives::parse_problem;

#[test]
fn himmelblau_file_equilibria_are_certified() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/problems/himmelblau-split.toml"
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
