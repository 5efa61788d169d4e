//! Fuzzes the `.npy` reader: any bytes must read or fail with an error, never panic or
//! allocate beyond the input's size; what reads must have the shape it claims and
//! diagnose (or fail with an error).
#![no_main]

use bflow::diagnose::{DiagnoseParams, diagnose_gradient_trajectory, diagnose_gram_trajectory};
use bflow::gradients::{Array, ArrayFormat, Content, Values, read_array_from};
use libfuzzer_sys::fuzz_target;

fn check<T: bflow::diagnose::Element>(array: &Array, values: &[T], content: Content) {
    let product: usize = array.shape.iter().product();
    assert_eq!(values.len(), product);
    let Ok(view) = array.view(values) else {
        return;
    };
    let params = DiagnoseParams::default();
    let _ = match content {
        Content::Gradients => diagnose_gradient_trajectory(&view, &params),
        Content::Gram => diagnose_gram_trajectory(&view, &params),
    };
}

fuzz_target!(|data: &[u8]| {
    for content in [Content::Gradients, Content::Gram] {
        let read = read_array_from(data, "fuzz.npy", data.len() as u64, ArrayFormat::Npy, content);
        let array = match read {
            Ok(a) => a,
            Err(e) => {
                let _ = e.to_string();
                continue;
            }
        };
        assert!(array.shape.len() == 2 || array.shape.len() == 3);
        match &array.values {
            Values::F32(v) => {
                assert!(v.len() * 4 <= data.len());
                check(&array, v, content);
            }
            Values::F64(v) => {
                assert!(v.len() * 8 <= data.len());
                check(&array, v, content);
            }
        }
    }
});
