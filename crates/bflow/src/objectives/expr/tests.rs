use super::*;
use crate::objectives::problem_file::ExprObjectives;
use crate::objectives::{AutoDiff, Objectives, check_derivatives};
use proptest::prelude::*;

const VARS: [&str; 3] = ["x", "y", "z"];

fn parse(s: &str) -> Expr {
    Expr::parse(s, &VARS, &[("a", 11.0), ("b", -0.5)])
        .unwrap_or_else(|e| panic!("parse `{s}`: {e}"))
}

fn eval_at(s: &str, at: [f64; 3]) -> f64 {
    parse(s).eval(&at)
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + b.abs())
}

#[test]
fn precedence_and_associativity() {
    let at = [2.0, 3.0, 5.0];
    let table: &[(&str, f64)] = &[
        ("1 + 2 * 3", 7.0),
        ("(1 + 2) * 3", 9.0),
        ("10 - 4 - 3", 3.0),
        ("2 ^ 3 ^ 2", 512.0),
        ("(2 ^ 3) ^ 2", 64.0),
        ("-x^2", -4.0),
        ("(-x)^2", 4.0),
        ("-2^2", -4.0),
        ("x^-1", 0.5),
        ("2^-2^-1", 2f64.powf(-0.5)),
        ("24 / 4 / 3", 2.0),
        ("24 / 4 * 3", 18.0),
        ("x * y ^ 2", 18.0),
        ("- - x", 2.0),
        ("+x - -y", 5.0),
        ("x - y - z", -6.0),
        ("x / y / z", 2.0 / 15.0),
        ("2 * -x", -4.0),
        ("a + b * x", 10.0),
        ("1e-3 * 1E3 + .5 + 2.", 3.5),
        ("x^0.5", 2f64.sqrt()),
        ("pi", std::f64::consts::PI),
        ("e", std::f64::consts::E),
        ("e^x", std::f64::consts::E.powi(2)),
        ("2e1", 20.0),
        ("y^2^0", 3.0),
        ("2^x", 4.0),
        ("2^-x", 0.25),
        ("2^x^2", 16.0),
    ];
    for &(s, want) in table {
        let got = eval_at(s, at);
        assert!(close(got, want, 1e-15), "`{s}` = {got}, want {want}");
    }
    // Integer exponents use powi, others powf.
    assert!(matches!(parse("x^3"), Expr::PowI(_, 3)));
    assert!(matches!(parse("x^-2"), Expr::PowI(_, -2)));
    assert!(matches!(parse("x^2.0"), Expr::PowI(_, 2)));
    assert!(matches!(parse("x^1.5"), Expr::PowF(_, p) if p == 1.5));
    assert!(matches!(parse("x^(1/3)"), Expr::PowF(_, p) if p == 1.0 / 3.0));
    assert_eq!(parse("e^(x*y)"), parse("exp(x*y)"));
    // Integer powers up to 2^20 in size; beyond (and i32::MIN, whose n − 1 overflows in the
    // dual-number powi) a real power, which still prints and re-parses exactly.
    assert!(matches!(parse("x^1048576"), Expr::PowI(_, 1_048_576)));
    assert!(matches!(parse("x^-2147483648"), Expr::PowF(_, p) if p == -2147483648.0));
    assert!(matches!(parse("x^2147483648"), Expr::PowF(..)));
    let d = parse("x^-2147483647").derivative(0);
    assert_eq!(parse(&d.display(&VARS).to_string()), d);
}

#[test]
fn every_function() {
    let x: f64 = 0.7;
    for f in Func::ALL {
        let want = match f {
            Func::Sin => x.sin(),
            Func::Cos => x.cos(),
            Func::Tan => x.tan(),
            Func::Exp => x.exp(),
            Func::Ln => x.ln(),
            Func::Sqrt => x.sqrt(),
            Func::Abs => x,
            Func::Sign => 1.0,
            Func::Tanh => x.tanh(),
            Func::Sinh => x.sinh(),
            Func::Cosh => x.cosh(),
            Func::Atan => x.atan(),
        };
        let s = format!("{}(x)", f.name());
        assert_eq!(eval_at(&s, [x, 0.0, 0.0]), want, "{s}");
        // Folded when the argument is constant.
        assert_eq!(parse(&format!("{}(0.7)", f.name())), Expr::Const(want));
    }
    assert_eq!(
        eval_at("log(x)", [x, 0.0, 0.0]),
        x.ln(),
        "log is the natural log"
    );
    assert_eq!(eval_at("abs(x)", [-x, 0.0, 0.0]), x);
    assert_eq!(eval_at("sign(x)", [-x, 0.0, 0.0]), -1.0);
    assert_eq!(eval_at("sign(x)", [0.0, 0.0, 0.0]), 0.0);
    assert!(eval_at("sqrt(x)", [-1.0, 0.0, 0.0]).is_nan());
    assert_eq!(eval_at("1/x", [0.0, 0.0, 0.0]), f64::INFINITY);
    assert_eq!(Func::from_name("sec"), None);
}

#[test]
fn errors_carry_the_column() {
    let cases: &[(&str, usize, &str)] = &[
        ("x + w", 5, "unknown variable `w`"),
        ("x +", 4, "unexpected end"),
        ("2 * foo(x)", 5, "unknown function `foo`"),
        ("sin x", 5, "expected `(` after function `sin`"),
        ("(x + 1", 7, "expected `)` to close the `(` at column 1"),
        ("x + 1)", 6, "expected an operator"),
        ("x $ y", 3, "unexpected character `$`"),
        ("é + x", 1, "unexpected character `é`"),
        ("x + é", 5, "unexpected character `é`"),
        ("x ^ y", 5, "exponent of `^` must be a constant"),
        ("(-2) ^ y", 8, "exponent of `^` must be a constant"),
        ("1.2.3", 4, "expected an operator"),
        ("x y", 3, "expected an operator"),
        ("", 1, "unexpected end"),
        ("1e999", 1, "too large"),
        ("x * * y", 5, "expected a number"),
        ("pi(x)", 1, "unknown function `pi`"),
    ];
    for &(s, col, msg) in cases {
        let err = Expr::parse(s, &VARS, &[]).expect_err(s);
        assert_eq!(err.column, col, "`{s}`: {err}");
        assert!(err.message.contains(msg), "`{s}`: {err}");
    }
    // Byte offset and character column differ after a multi-byte character… which cannot
    // appear in a valid prefix, so check the offset of the column-5 case above.
    assert_eq!(Expr::parse("x + é", &VARS, &[]).unwrap_err().offset, 4);
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("{}x{}", "(".repeat(100_000), ")".repeat(100_000));
    let err = Expr::parse(&deep, &VARS, &[]).unwrap_err();
    assert!(err.message.contains("too deep"), "{err}");
    let minus = format!("{}x", "-".repeat(100_000));
    assert!(Expr::parse(&minus, &VARS, &[]).is_err());
    let calls = format!("{}x{}", "sin(".repeat(300), ")".repeat(300));
    let err = Expr::parse(&calls, &VARS, &[]).unwrap_err();
    assert!(err.message.contains("too deep"), "{err}");
}

#[test]
fn long_flat_chains_are_not_deep() {
    // A chain of + is not nesting: 1 000 and 100 000 terms parse, with a shallow tree.
    for terms in [1_000, 100_000] {
        let sum = vec!["x"; terms].join(" + ");
        let e = Expr::parse(&sum, &VARS, &[]).unwrap_or_else(|err| panic!("{terms}: {err}"));
        assert_eq!(e.eval(&[1.0, 0.0, 0.0]), terms as f64);
        assert_eq!(e.size(), 2 * terms - 1);
        assert!(e.depth() <= CHAIN_RUN + 20, "depth {}", e.depth());
    }
    let product = vec!["x"; 2_000].join("*");
    let e = Expr::parse(&product, &VARS, &[]).unwrap();
    assert_eq!(e.eval(&[1.0, 0.0, 0.0]), 1.0);
    assert_eq!(e.eval(&[-1.0, 0.0, 0.0]), 1.0);
    // Up to CHAIN_RUN operands a chain is exactly left to right.
    let x = || Expr::Var(0);
    let y = || Expr::Var(1);
    assert_eq!(
        parse("x - y + x - y"),
        Expr::sub(Expr::add(Expr::sub(x(), y()), x()), y())
    );
    assert_eq!(
        parse("x / y * x / y"),
        Expr::div(Expr::mul(Expr::div(x(), y()), x()), y())
    );
}

#[test]
fn grouped_chains_are_the_same_function() {
    // Mixed signs and mixed * and /, long enough to be grouped in runs: the value agrees
    // with a left-to-right evaluation to rounding.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for len in [CHAIN_RUN + 1, 3 * CHAIN_RUN + 5, 200] {
        let (x, y, z) = (1.3, -0.7, 2.1);
        let mut text = String::from("x");
        let mut want = x;
        let mut prod_text = String::from("x");
        let mut prod_want = x;
        for k in 1..len {
            let (name, v) = match next() % 3 {
                0 => ("x", x),
                1 => ("y", y),
                _ => ("z", z),
            };
            let c = (k % 7) as f64 + 1.0;
            if next() % 2 == 0 {
                text.push_str(&format!(" + {c}*{name}"));
                want += c * v;
            } else {
                text.push_str(&format!(" - {c}*{name}"));
                want -= c * v;
            }
            if next() % 2 == 0 {
                prod_text.push_str(&format!(" * {name}"));
                prod_want *= v;
            } else {
                prod_text.push_str(&format!(" / {name}"));
                prod_want /= v;
            }
        }
        let got = parse(&text).eval(&[x, y, z]);
        assert!(close(got, want, 1e-12), "{len}: {got} vs {want}");
        let got = parse(&prod_text).eval(&[x, y, z]);
        assert!(
            (got - prod_want).abs() <= 1e-12 * prod_want.abs(),
            "{len}: {got} vs {prod_want}"
        );
    }
}

#[test]
fn expression_size_is_bounded() {
    let terms = MAX_NODES / 2 + 1;
    let sum = vec!["x"; terms].join("+");
    let err = Expr::parse(&sum, &VARS, &[]).unwrap_err();
    assert!(err.message.contains("too large"), "{err}");
    assert!(err.message.contains(&MAX_NODES.to_string()), "{err}");
}

#[test]
fn simplification() {
    assert_eq!(parse("x + 0"), Expr::Var(0));
    assert_eq!(parse("x + -0"), Expr::Var(0), "-0 is a zero too");
    assert_eq!(parse("-0 * x"), Expr::Const(0.0));
    assert_eq!(parse("0 + x"), Expr::Var(0));
    assert_eq!(parse("x * 1"), Expr::Var(0));
    assert_eq!(parse("1 * x"), Expr::Var(0));
    assert_eq!(parse("x * 0"), Expr::Const(0.0));
    assert_eq!(parse("x / 1"), Expr::Var(0));
    assert_eq!(parse("x - 0"), Expr::Var(0));
    assert_eq!(parse("0 - x"), Expr::Neg(Box::new(Expr::Var(0))));
    assert_eq!(parse("x ^ 1"), Expr::Var(0));
    assert_eq!(parse("x ^ 0"), Expr::Const(1.0));
    assert_eq!(parse("2 * a - 3"), Expr::Const(19.0));
    // Not folded when not finite.
    assert!(matches!(parse("1 / 0"), Expr::Div(..)));
}

fn objectives(sources: &[&str]) -> AutoDiff<ExprObjectives> {
    AutoDiff(ExprObjectives::new(
        VARS.iter().map(|s| s.to_string()).collect(),
        (0..sources.len()).map(|i| format!("L{i}")).collect(),
        sources.iter().map(|s| parse(s)).collect(),
    ))
}

const SAMPLES: [&str; 8] = [
    "(x^2 + y - a)^2 + sin(x*y) * exp(-z^2)",
    "sqrt(x^2 + y^2 + 1) / (1 + tanh(z))",
    "ln(1 + x^2) * cosh(y) - sinh(z) * atan(x - y)",
    "tan(0.3*x) + abs(y - 0.2) * z^3 - log(2 + cos(z))",
    "x^1.5 * y^-2 + (x + y + z)^(1/3)",
    "5*(1 - cos(2*pi*(x - 2))) + (x-2)^2 + b*y*z",
    "e^x / (y^2 + 2) - x*y*z",
    "-x^4 + 3*x^2*y - 2*y*z^2 + 7",
];

#[test]
fn gradients_and_hvps_match_finite_differences() {
    let p = objectives(&SAMPLES);
    for theta in [[1.3, 0.7, -0.4], [2.1, 1.9, 0.3], [0.6, 2.5, 1.1]] {
        let v = [0.3, -1.1, 0.8];
        let err = check_derivatives(&p, &theta, &v, 1e-5);
        assert!(err < 1e-6, "relative FD error {err:e} at {theta:?}");
    }
}

#[test]
fn symbolic_derivatives_match_ad() {
    let p = objectives(&SAMPLES);
    let theta = [1.3, 0.7, -0.4];
    let mut g = [0.0; 3];
    for (i, e) in p.0.exprs.iter().enumerate() {
        p.gradient(i, &theta, &mut g);
        for (j, gj) in g.iter().enumerate() {
            let d = e.derivative(j);
            let sym = d.eval(&theta);
            assert!(
                close(sym, *gj, 1e-13),
                "L{i} d/d{}: {sym} vs AD {gj}",
                VARS[j]
            );
            // Hessian entries: d²L/dθ_j dθ_k against the AD HVP along e_k.
            for k in 0..3 {
                let mut ek = [0.0; 3];
                ek[k] = 1.0;
                let mut hv = [0.0; 3];
                p.hvp(i, &theta, &ek, &mut hv);
                let h = d.derivative(k).eval(&theta);
                assert!(
                    close(h, hv[j], 1e-12),
                    "L{i} H[{j}][{k}]: {h} vs AD {}",
                    hv[j]
                );
            }
        }
    }
    // A derivative of a variable-free tree is exactly zero.
    assert_eq!(parse("sin(y) * z").derivative(0), Expr::Const(0.0));
    assert_eq!(parse("3*x").derivative(0), Expr::Const(3.0));
}

#[test]
fn display_round_trips_on_samples() {
    for s in SAMPLES {
        let e = parse(s);
        let printed = e.display(&VARS).to_string();
        assert_eq!(parse(&printed), e, "{s} printed as {printed}");
        let d = e.derivative(1);
        let printed = d.display(&VARS).to_string();
        assert_eq!(parse(&printed), d, "d/dy {s} printed as {printed}");
    }
}

fn expr_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("x".to_string()),
        Just("y".to_string()),
        Just("z".to_string()),
        Just("a".to_string()),
        Just("pi".to_string()),
        (0u32..1000).prop_map(|n| n.to_string()),
        (-1e3f64..1e3).prop_map(|c| format!("{c}")),
        (1e-9f64..1e9).prop_map(|c| format!("{c:e}")),
    ];
    leaf.prop_recursive(5, 40, 2, |inner| {
        prop_oneof![
            (
                inner.clone(),
                inner.clone(),
                prop_oneof![Just("+"), Just("-"), Just("*"), Just("/")]
            )
                .prop_map(|(a, b, op)| format!("{a} {op} {b}")),
            (inner.clone(), -4i32..5).prop_map(|(a, n)| format!("({a})^{n}")),
            (inner.clone(), 0.1f64..3.0).prop_map(|(a, p)| format!("({a})^{p}")),
            inner.clone().prop_map(|a| format!("-{a}")),
            inner.clone().prop_map(|a| format!("({a})")),
            (inner, 0usize..13).prop_map(|(a, k)| {
                let name = if k == 12 { "log" } else { Func::ALL[k].name() };
                format!("{name}({a})")
            }),
        ]
    })
}

proptest! {
    #[test]
    fn parser_never_panics(s in "[ -~]{0,40}") {
        let _ = Expr::parse(&s, &VARS, &[("a", 1.0)]);
    }

    #[test]
    fn parser_never_panics_on_near_miss_text(s in "[xyz0-9.eE+*/^() -]{0,40}|[a-z()]{0,20}") {
        let _ = Expr::parse(&s, &VARS, &[("a", 1.0)]);
    }

    #[test]
    fn printing_then_reparsing_round_trips(s in expr_text()) {
        let e = Expr::parse(&s, &VARS, &[("a", 11.0)]).expect("generated text parses");
        let printed = e.display(&VARS).to_string();
        let back = Expr::parse(&printed, &VARS, &[]).expect("printed text parses");
        prop_assert_eq!(&back, &e, "{} printed as {}", s, printed);
        let d = e.derivative(0);
        let printed = d.display(&VARS).to_string();
        let back = Expr::parse(&printed, &VARS, &[]).expect("printed derivative parses");
        prop_assert_eq!(back, d);
    }
}

#[test]
fn additive_terms_split_the_top_level_sum_with_signs() {
    let terms = parse("x^2 - (y - z) + 2*(x + y) - -sin(z)").additive_terms();
    let at = [0.7, -1.3, 0.4];
    let values: Vec<f64> = terms.iter().map(|t| t.eval(&at)).collect();
    // x², −y, +z (the subtracted difference split with its signs), 2(x + y) whole, +sin z.
    let expected = [0.49, 1.3, 0.4, 2.0 * (0.7 - 1.3), 0.4_f64.sin()];
    assert_eq!(values.len(), expected.len(), "{terms:?}");
    for (v, e) in values.iter().zip(expected) {
        assert!(close(*v, e, 1e-15), "{v} vs {e}");
    }
    // Their sum is the whole.
    let whole = eval_at("x^2 - (y - z) + 2*(x + y) - -sin(z)", at);
    assert!(close(values.iter().sum(), whole, 1e-15));
    // Nothing to split: one term, the expression itself.
    assert_eq!(
        parse("2*(x + y)").additive_terms(),
        vec![parse("2*(x + y)")]
    );
    assert_eq!(parse("-x").additive_terms(), vec![parse("-x")]);
    // A long sum splits without recursion trouble.
    let long = (1..=5000)
        .map(|i| format!("{i}*x"))
        .collect::<Vec<_>>()
        .join(" + ");
    assert_eq!(parse(&long).additive_terms().len(), 5000);
}
