//! Fuzzes the expression parser: any text must parse or fail with an error, never panic;
//! a parsed tree must evaluate, differentiate and print, and the printed form must parse
//! back to the same tree.
#![no_main]

use bflow::objectives::expr::Expr;
use libfuzzer_sys::fuzz_target;

const VARS: [&str; 3] = ["x", "y", "z"];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(e) = Expr::parse(text, &VARS, &[("a", 2.5)]) else {
        return;
    };
    let _ = e.eval(&[0.5, -1.25, 3.0]);
    let printed = e.display(&VARS).to_string();
    // Printing parenthesises everything, which adds nesting: only check the round trip
    // when the printed form is within the parser's limits.
    match Expr::parse(&printed, &VARS, &[]) {
        Ok(back) => assert_eq!(back, e, "{text:?} printed as {printed:?}"),
        Err(err) => assert!(err.message.contains("too deep"), "{printed:?}: {err}"),
    }
    let d = e.derivative(0);
    let _ = d.eval(&[0.5, -1.25, 3.0]);
});
