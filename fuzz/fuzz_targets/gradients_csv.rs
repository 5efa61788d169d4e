//! Fuzzes the CSV reader of gradient and Gram files: any bytes must read or fail with an
//! error, never panic; what reads must have the shape it claims and diagnose (or fail with
//! an error) as one step.
#![no_main]

use bflow::diagnose::{DiagnoseParams, diagnose_gradient_trajectory, diagnose_gram_trajectory};
use bflow::gradients::{ArrayFormat, Content, Values, read_array_from};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for content in [Content::Gradients, Content::Gram] {
        let read = read_array_from(data, "fuzz.csv", data.len() as u64, ArrayFormat::Csv, content);
        let array = match read {
            Ok(a) => a,
            Err(e) => {
                let _ = e.to_string();
                continue;
            }
        };
        let Values::F64(values) = &array.values else {
            panic!("CSV values are float64");
        };
        assert_eq!(array.shape.len(), 2);
        assert_eq!(values.len(), array.shape[0] * array.shape[1]);
        assert!(values.iter().all(|x| x.is_finite()));
        let view = array.view(values).expect("a read array has a view");
        let params = DiagnoseParams::default();
        let result = match content {
            Content::Gradients => diagnose_gradient_trajectory(&view, &params),
            Content::Gram => diagnose_gram_trajectory(&view, &params),
        };
        if let Ok(steps) = result {
            for d in steps {
                if let Some(b) = d.b {
                    assert!(b >= 0.0 && b <= d.k as f64 * (1.0 + 1e-9), "B = {b}, K = {}", d.k);
                }
            }
        }
    }
});
