use super::*;
use crate::objectives::check_derivatives;

const GOOD: &str = r#"name = "himmelblau-split"
vars = ["x", "y"]
[params]
a = 11.0
[[objective]]
name = "L1"
expr = "(x^2 + y - a)^2"
[[objective]]
expr = "(x + y^2 - 7)^2"
[start]
x = -3.0
y = -3
[region]
x = [-6.0, 6.0]
y = [-6, 6.5]
[[equilibrium]]
point = [3.0, 2.0]
note = "a minimum"
"#;

/// The error's Display for `text`, which must fail.
fn fail(text: &str) -> String {
    match parse_problem(text, "p.toml") {
        Ok(p) => panic!("expected an error, parsed {p:?}"),
        Err(e) => e.to_string(),
    }
}

fn assert_fails(text: &str, prefix: &str, contains: &str) {
    let msg = fail(text);
    assert!(
        msg.starts_with(prefix),
        "`{msg}` should start with `{prefix}`"
    );
    assert!(
        msg.contains(contains),
        "`{msg}` should contain `{contains}`"
    );
}

/// Two objectives in x, y, followed by `tail`.
fn with(tail: &str) -> String {
    format!(
        "vars = [\"x\", \"y\"]\n[[objective]]\nexpr = \"x^2\"\n[[objective]]\nexpr = \"(y-1)^2\"\n{tail}"
    )
}

#[test]
fn parses_a_full_file() {
    let pf = parse_problem_file(GOOD, "dir/h.toml").unwrap();
    assert_eq!(pf.name, "himmelblau-split");
    assert_eq!(pf.objectives.vars, ["x", "y"]);
    assert_eq!(pf.objectives.names, ["L1", "L2"]);
    assert_eq!(pf.start, [-3.0, -3.0]);
    assert_eq!(pf.region, Some(vec![(-6.0, 6.0), (-6.0, 6.5)]));
    assert_eq!(pf.equilibria, [vec![3.0, 2.0]]);
    assert_eq!(pf.objectives.exprs[0].eval(&[1.0, 2.0]), 64.0);
    let p = pf.into_problem();
    let mut g = [0.0; 2];
    p.objectives.gradient(0, &[1.0, 2.0], &mut g);
    // ∂/∂x (x²+y−11)² = 4x(x²+y−11), ∂/∂y = 2(x²+y−11).
    assert_eq!(g, [-32.0, -16.0]);
    let err = check_derivatives(p.objectives.as_ref(), &[0.4, -1.3], &[1.0, 0.5], 1e-5);
    assert!(err < 1e-8, "{err:e}");
}

#[test]
fn default_start_is_region_centre_or_origin() {
    let p = parse_problem(&with("[region]\nx = [0, 4]\ny = [-3, 5]\n"), "p.toml").unwrap();
    assert_eq!(p.start, [2.0, 1.0]);
    let p = parse_problem(&with(""), "dir/q.toml").unwrap();
    assert_eq!(p.start, [0.0, 0.0]);
    assert_eq!(p.name, "q", "name defaults to the file stem");
}

#[test]
fn toml_syntax_error() {
    assert_fails(&with("[start\nx = 1\n"), "p.toml:6:7:", "");
}

#[test]
fn expression_syntax_error_points_into_the_file() {
    // `*` is at column 15 of line 5: `expr = "(y-1) ** 2"`.
    let text = "vars = [\"x\", \"y\"]\n[[objective]]\nexpr = \"x^2\"\n[[objective]]\nexpr = \"(y-1) ** 2\"\n";
    assert_fails(text, "p.toml:5:16:", "objective 2: expected a number");
    // Multi-line literal string: the error is on the string's second line.
    let text = "vars = [\"x\", \"y\"]\n[[objective]]\nexpr = \"x^2\"\n[[objective]]\nname = \"B\"\nexpr = '''\n(y - 1)^2\n  + q'''\n";
    assert_fails(
        text,
        "p.toml:8:5:",
        "objective 2 (`B`): unknown variable `q`",
    );
    // With an escape the mapping is not exact: the string's start plus the expr column.
    let text = "vars = [\"x\", \"y\"]\n[[objective]]\nexpr = \"x^2\"\n[[objective]]\nexpr = \"\\u0079 + w\"\n";
    assert_fails(
        text,
        "p.toml:5:8:",
        "column 5 of expr: unknown variable `w`",
    );
}

#[test]
fn unknown_variable() {
    assert_fails(
        "vars = [\"x\", \"y\"]\n[[objective]]\nexpr = \"x^2 + z\"\n[[objective]]\nexpr = \"y\"\n",
        "p.toml:3:15:",
        "unknown variable `z`",
    );
}

#[test]
fn unknown_function() {
    assert_fails(
        "vars = [\"x\", \"y\"]\n[[objective]]\nexpr = \"x^2\"\n[[objective]]\nexpr = \"  sec(y)\"\n",
        "p.toml:5:11:",
        "unknown function `sec`",
    );
}

#[test]
fn misspelt_field() {
    assert_fails(
        &with("[[objective]]\nexpresion = \"x\"\n"),
        "p.toml:7:1:",
        "unknown field `expresion`",
    );
    assert_fails(&with("strat = 1\n"), "p.toml:6:1:", "unknown field `strat`");
    assert_fails(
        &with("[[equilibrium]]\npoints = [1, 2]\n"),
        "p.toml:7:1:",
        "unknown field `points`",
    );
}

#[test]
fn missing_field() {
    assert_fails(
        "[[objective]]\nexpr = \"1\"\n[[objective]]\nexpr = \"2\"\n",
        "p.toml:1:1:",
        "missing field `vars`",
    );
    assert_fails(
        &with("[[objective]]\nname = \"L3\"\n"),
        "p.toml:6:1:",
        "missing field `expr`",
    );
    assert_fails(
        &with("[[equilibrium]]\n"),
        "p.toml:6:1:",
        "missing field `point`",
    );
}

#[test]
fn duplicate_var() {
    assert_fails(
        "vars = [\"x\", \"y\", \"x\"]\n[[objective]]\nexpr = \"x\"\n[[objective]]\nexpr = \"y\"\n",
        "p.toml:1:19:",
        "duplicate var `x`",
    );
}

#[test]
fn var_named_like_a_function_or_constant() {
    let tail = "[[objective]]\nexpr = \"1\"\n[[objective]]\nexpr = \"2\"\n";
    assert_fails(
        &format!("vars = [\"x\", \"sin\"]\n{tail}"),
        "p.toml:1:14:",
        "`sin` is reserved",
    );
    assert_fails(
        &format!("vars = [\"pi\"]\n{tail}"),
        "p.toml:1:9:",
        "`pi` is reserved",
    );
    assert_fails(
        &format!("vars = [\"e\"]\n{tail}"),
        "p.toml:1:9:",
        "`e` is reserved",
    );
    assert_fails(
        &format!("vars = [\"log\"]\n{tail}"),
        "p.toml:1:9:",
        "`log` is reserved",
    );
    assert_fails(
        &format!("vars = [\"2x\"]\n{tail}"),
        "p.toml:1:9:",
        "not an identifier",
    );
    assert_fails(
        &format!("vars = []\n{tail}"),
        "p.toml:1:8:",
        "at least one parameter",
    );
    assert_fails(
        &with("[params]\ncos = 1\n"),
        "p.toml:7:1:",
        "param name `cos` is reserved",
    );
    assert_fails(
        &with("[params]\ny = 1\n"),
        "p.toml:7:1:",
        "param `y` has the name of a var",
    );
}

#[test]
fn non_finite_param() {
    assert_fails(
        &with("[params]\nk = nan\n"),
        "p.toml:7:5:",
        "param `k` is not finite",
    );
    assert_fails(
        &with("[params]\nk = -inf\n"),
        "p.toml:7:5:",
        "param `k` is not finite",
    );
}

#[test]
fn start_of_wrong_shape() {
    assert_fails(
        &with("[start]\nx = 1\n"),
        "p.toml:6:1:",
        "start is missing var `y`",
    );
    assert_fails(
        &with("[start]\nx = 1\ny = 2\nw = 3\n"),
        "p.toml:9:1:",
        "start for unknown var `w`",
    );
    assert_fails(
        &with("[start]\nx = 1\ny = nan\n"),
        "p.toml:8:5:",
        "start for `y` is not finite",
    );
}

#[test]
fn region_of_wrong_shape() {
    assert_fails(
        &with("[region]\nx = [0, 1]\n"),
        "p.toml:6:1:",
        "region is missing var `y`",
    );
    assert_fails(
        &with("[region]\nx = [0, 1]\ny = [0, 1]\nq = [0, 1]\n"),
        "p.toml:9:1:",
        "unknown var `q`",
    );
    assert_fails(
        &with("[region]\nx = [0, 1, 2]\ny = [0, 1]\n"),
        "p.toml:7:5:",
        "must be [lo, hi], got 3",
    );
}

#[test]
fn region_lo_not_below_hi_or_not_finite() {
    assert_fails(
        &with("[region]\nx = [0, 1]\ny = [2, 2]\n"),
        "p.toml:8:5:",
        "finite lo < hi",
    );
    assert_fails(
        &with("[region]\nx = [3, 1]\ny = [0, 1]\n"),
        "p.toml:7:5:",
        "got [3, 1]",
    );
    assert_fails(
        &with("[region]\nx = [0, inf]\ny = [0, 1]\n"),
        "p.toml:7:5:",
        "finite lo < hi",
    );
    assert_fails(
        &with("[region]\nx = [nan, 1]\ny = [0, 1]\n"),
        "p.toml:7:5:",
        "finite lo < hi",
    );
}

#[test]
fn equilibrium_of_wrong_length() {
    assert_fails(
        &with("[[equilibrium]]\npoint = [1.0]\n"),
        "p.toml:7:9:",
        "equilibrium 1 has 1 components, there are 2 vars",
    );
    assert_fails(
        &with("[[equilibrium]]\npoint = [0, 1]\n[[equilibrium]]\npoint = [1, 2, 3]\n"),
        "p.toml:9:9:",
        "equilibrium 2 has 3",
    );
    assert_fails(
        &with("[[equilibrium]]\npoint = [0, -inf]\n"),
        "p.toml:7:9:",
        "not finite",
    );
}

#[test]
fn one_objective_loads_and_none_is_an_error() {
    let p = parse_problem("vars = [\"x\"]\n[[objective]]\nexpr = \"x^2\"\n", "p.toml").unwrap();
    assert_eq!(p.objectives.num_objectives(), 1);
    assert_fails(
        "vars = [\"x\"]\n",
        "p.toml: `objective`:",
        "need at least 1 objective",
    );
    assert_fails(
        "vars = [\"x\"]\nobjective = []\n",
        "p.toml:2:",
        "need at least 1 objective, got 0",
    );
}

#[test]
fn non_numeric_value() {
    assert_fails(
        &with("[start]\nx = 1\ny = \"2\"\n"),
        "p.toml:8:5:",
        "invalid type: string \"2\", expected f64",
    );
    assert_fails(
        &with("[params]\nk = true\n"),
        "p.toml:7:5:",
        "invalid type: boolean",
    );
    assert_fails(
        &with("[[equilibrium]]\npoint = [0, \"1\"]\n"),
        "p.toml:7:13:",
        "invalid type: string",
    );
    assert_fails(
        &with("[region]\nx = 5\ny = [0, 1]\n"),
        "p.toml:7:5:",
        "invalid type: integer `5`, expected a sequence",
    );
    assert_fails("vars = \"x\"\n", "p.toml:1:8:", "expected a sequence");
    assert_fails(
        &with("[[objective]]\nexpr = 3\n"),
        "p.toml:7:8:",
        "invalid type: integer `3`, expected a string",
    );
}

#[test]
fn non_finite_at_start() {
    // ln(x) at x = 0 is −inf.
    let text = "vars = [\"x\"]\n[[objective]]\nexpr = \"x^2\"\n[[objective]]\nname = \"log\"\nexpr = \"ln(x)\"\n[start]\nx = 0\n";
    assert_fails(
        text,
        "p.toml:7:1:",
        "objective 2 (`log`) or its gradient is not finite at the start [0.0]",
    );
    // A default start (origin or region centre) is not checked when the file is read — the
    // user may never use it — but a run from it is refused, naming the objective.
    for text in [
        "vars = [\"x\"]\n[[objective]]\nexpr = \"x^2\"\n[[objective]]\nexpr = \"sqrt(x)\"\n",
        "vars = [\"x\"]\n[[objective]]\nexpr = \"1/x\"\n[[objective]]\nexpr = \"x\"\n[region]\nx = [-1, 1]\n",
    ] {
        let p = parse_problem(text, "p.toml").unwrap();
        assert_eq!(p.start, vec![0.0]);
        let err = crate::flow::run(
            &p,
            &p.start,
            &crate::flow::Method::BFlow(crate::flow::StepRule::fixed(0.5)),
            &crate::flow::Limits::default(),
        )
        .unwrap_err();
        assert!(matches!(err, Error::NonFiniteStart { .. }), "{err}");
        // From a usable start the same file runs.
        assert!(
            crate::flow::run(
                &p,
                &[0.5],
                &crate::flow::Method::BFlow(crate::flow::StepRule::fixed(0.5)),
                &crate::flow::Limits::default()
            )
            .is_ok()
        );
    }
    // A region centre that would overflow as lo + (hi − lo)/2 does not.
    let text = "vars = [\"x\"]\n[[objective]]\nexpr = \"x\"\n[[objective]]\nexpr = \"-x\"\n[region]\nx = [-1e308, 1e308]\n";
    assert_eq!(parse_problem(text, "p.toml").unwrap().start, vec![0.0]);
}

#[test]
fn unreadable_file() {
    let err = load_problem(Path::new("/nonexistent/bflow/p.toml")).unwrap_err();
    assert!(
        matches!(&err, Error::ProblemFileRead { file, .. } if file == "/nonexistent/bflow/p.toml"),
        "{err}"
    );
}

#[test]
fn line_col_counts_characters() {
    assert_eq!(line_col("ab\ncdé f", 0), (1, 1));
    assert_eq!(line_col("ab\ncdé f", 3), (2, 1));
    assert_eq!(line_col("ab\ncdé f", 8), (2, 5));
    assert_eq!(
        line_col("ab\ncdé f", 6),
        (2, 3),
        "inside a character: its start"
    );
    assert_eq!(line_col("ab", 99), (1, 3));
}

fn example_files() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/problems");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn example_problems_load_and_are_right() {
    let files = example_files();
    assert!(files.len() >= 7, "{files:?}");
    for path in files {
        let pf = load_problem_file(&path).unwrap_or_else(|e| panic!("{e}"));
        // The trees' symbolic gradient agrees with AD at the start.
        let mut g = vec![0.0; pf.start.len()];
        for (i, e) in pf.objectives.exprs.iter().enumerate() {
            AutoDiff(pf.objectives.clone()).gradient(i, &pf.start, &mut g);
            for (j, gj) in g.iter().enumerate() {
                let sym = e.derivative(j).eval(&pf.start);
                assert!(
                    (sym - gj).abs() <= 1e-12 * gj.abs().max(1.0),
                    "{}: {sym} vs {gj}",
                    pf.name
                );
            }
        }
        let p = pf.into_problem();
        let n = p.dim();
        let v: Vec<f64> = (0..n).map(|j| 1.0 - 0.3 * j as f64).collect();
        let err = check_derivatives(p.objectives.as_ref(), &p.start, &v, 1e-5);
        assert!(
            err < 1e-7,
            "{}: relative FD error {err:e} at the start",
            p.name
        );
        for eq in &p.equilibria {
            let mut sum = vec![0.0; n];
            let mut scale = 1.0_f64;
            let mut g = vec![0.0; n];
            for i in 0..p.num_objectives() {
                p.objectives.gradient(i, eq, &mut g);
                scale += crate::real::norm_l2(&g);
                for (s, gj) in sum.iter_mut().zip(&g) {
                    *s += gj;
                }
            }
            let residual = crate::real::norm_l2(&sum);
            assert!(
                residual <= 1e-12 * scale,
                "{}: ||Σ g_i|| = {residual:e} at {eq:?} (scale {scale})",
                p.name
            );
        }
    }
}

#[test]
fn seed_files_match_the_builtin_problems() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/problems");
    for name in ["e1", "e2", "e3", "e4"] {
        let file = load_problem(&dir.join(format!("{name}.toml"))).unwrap();
        let builtin = crate::problems::builtin::<f64>(name).unwrap();
        assert_eq!(file.start, builtin.start, "{name}");
        assert_eq!(file.region, builtin.region, "{name}");
        assert_eq!(file.num_objectives(), builtin.num_objectives(), "{name}");
        let n = file.dim();
        assert_eq!(n, builtin.dim(), "{name}");
        for eq in &file.equilibria {
            if let Some(d) = builtin.distance_to_equilibrium(eq) {
                assert!(
                    d < 1e-15,
                    "{name}: equilibrium {eq:?} is {d:e} from the builtin's"
                );
            }
        }
        let theta: Vec<f64> = (0..n).map(|j| 0.37 - 1.3 * j as f64).collect();
        let (mut a, mut b) = (vec![0.0; n], vec![0.0; n]);
        for i in 0..file.num_objectives() {
            let (lf, lb) = (
                file.objectives.loss(i, &theta),
                builtin.objectives.loss(i, &theta),
            );
            assert!(
                (lf - lb).abs() <= 1e-12 * lb.abs().max(1.0),
                "{name} L{i}: {lf} vs {lb}"
            );
            file.objectives.gradient(i, &theta, &mut a);
            builtin.objectives.gradient(i, &theta, &mut b);
            for j in 0..n {
                assert!(
                    (a[j] - b[j]).abs() <= 1e-11 * b[j].abs().max(1.0),
                    "{name} g{i}[{j}]: {} vs {}",
                    a[j],
                    b[j]
                );
            }
        }
    }
}

#[test]
fn saddle_example_is_a_saddle_with_nonvanishing_gradients() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/problems");
    let p = load_problem(&dir.join("saddle.toml")).unwrap();
    let eq = &p.equilibria[0];
    let mut hv_sum = [[0.0; 2]; 2];
    let mut q = 0.0;
    let mut g = [0.0; 2];
    for i in 0..p.num_objectives() {
        p.objectives.gradient(i, eq, &mut g);
        q += g[0] * g[0] + g[1] * g[1];
        for (k, row) in hv_sum.iter_mut().enumerate() {
            let mut e = [0.0; 2];
            e[k] = 1.0;
            let mut hv = [0.0; 2];
            p.objectives.hvp(i, eq, &e, &mut hv);
            row[0] += hv[0];
            row[1] += hv[1];
        }
    }
    assert!((q - 80.0).abs() < 1e-12, "Q = {q}");
    assert!((hv_sum[0][0] - 5.0).abs() < 1e-12 && hv_sum[0][1].abs() < 1e-12);
    assert!((hv_sum[1][1] + 1.0).abs() < 1e-12 && hv_sum[1][0].abs() < 1e-12);
}

#[test]
fn control_characters_are_refused_in_names_and_escaped_in_messages() {
    // A name or description is printed by every report: an escape sequence in it would
    // reach the user's terminal. Refused where it stands.
    let named = |field: &str| format!("{field}\n{}", with(""));
    assert_fails(
        &named("name = \"a\\u001b[31mb\""),
        "p.toml:1:8: ",
        "name holds \\u{1b}, a control or bidirectional formatting character",
    );
    assert_fails(
        &named("description = \"one\\ntwo\""),
        "p.toml:1:15: ",
        "description holds \\n, a control",
    );
    assert_fails(
        "vars = [\"x\"]\n[[objective]]\nname = \"o\\u0007\"\nexpr = \"x^2\"\n",
        "p.toml:3:8: ",
        "objective name holds \\u{7}, a control",
    );
    // What an error quotes from the file is escaped: no raw control character in a message.
    for text in [
        "vars = [\"x\"]\n[[objective]]\nexpr = \"x + \\u001b[31m\"\n",
        "vars = [\"x\\u0007\"]\n[[objective]]\nexpr = \"x\"\n",
    ] {
        let msg = fail(text);
        assert!(!msg.chars().any(char::is_control), "{msg:?}");
        assert!(msg.contains("\\u{1b}") || msg.contains("\\u{7}"), "{msg}");
    }
    // A bidirectional override would reorder what the report prints after it.
    assert_fails(
        &named("name = \"abc\\u202Edef\""),
        "p.toml:1:8: ",
        "name holds \\u{202e}, a control or bidirectional formatting character",
    );
    // Without a name, the file's stem names the problem: escaped.
    let p = parse_problem(&with(""), "a\u{1b}[31mred.toml").unwrap();
    assert_eq!(p.name, "a\\u{1b}[31mred");
    assert!(
        !p.description.chars().any(char::is_control),
        "{}",
        p.description
    );
    // Printable Unicode stays as it is.
    let p = parse_problem(&named("name = \"Müller–Brown θ\""), "p.toml").unwrap();
    assert_eq!(p.name, "Müller–Brown θ");
}
