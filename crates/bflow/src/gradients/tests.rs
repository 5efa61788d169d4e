use super::*;

/// A fresh temporary directory, removed when dropped (at the end of the test, or as its
/// panic unwinds).
fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("bflow-gradients-")
        .tempdir()
        .unwrap()
}

fn table(text: &str) -> CsvTable {
    read_csv_table(text.as_bytes(), "g.csv", "gradient", None).unwrap()
}

#[test]
fn gradients_csv_errors_name_line_and_column() {
    let e = |text: &str| parse_gradients_csv(text, "g.csv").unwrap_err().to_string();
    assert_eq!(e("1,2\n3,x\n"), "g.csv:2:3: `x` is not a number");
    assert_eq!(e("1, 2\n3,  nan\n"), "g.csv:2:5: `nan` is not finite");
    assert_eq!(
        e("1,2\n3,4,5\n"),
        "g.csv:2:1: row has 3 values, the first gradient (line 1) has 2"
    );
    assert_eq!(e(""), "g.csv:1:1: no gradient rows");
    assert_eq!(e("a,b\n\n"), "g.csv:2:1: no gradient rows");
    assert_eq!(
        e("a,b\n1,2\n"),
        "g.csv:2:1: only one gradient row: balance needs K ≥ 2"
    );
    assert_eq!(e("1,,2\n1,2,3\n"), "g.csv:1:3: empty field");
    assert_eq!(e("1,2,\n1,2,3\n"), "g.csv:1:5: empty field");
    let ok = parse_gradients_csv("# comment\nx,y\n1,2\n\n-1,-2\n", "g.csv").unwrap();
    assert_eq!(ok, vec![vec![1.0, 2.0], vec![-1.0, -2.0]]);
    // A numeric first row is data, not a header.
    assert_eq!(parse_gradients_csv("1,2\n3,4\n", "g").unwrap().len(), 2);
    // A mistyped number in the first row is an error, not a header.
    assert_eq!(e("1.0,2.o\n3,4\n5,6\n"), "g.csv:1:5: `2.o` is not a number");
    // A byte-order mark does not turn the first row into a header.
    let bom = parse_gradients_csv("\u{feff}1,2\n3,4\n5,6\n", "g").unwrap();
    assert_eq!(bom, vec![vec![1.0, 2.0], vec![3.0, 4.0], vec![5.0, 6.0]]);
    // Columns count characters, not bytes.
    assert_eq!(e("1,2\n\"é\",x\n"), "g.csv:2:1: `\"é\"` is not a number");
    assert_eq!(e("1,2\né,x\n"), "g.csv:2:1: `é` is not a number");
    assert_eq!(
        e("1,2\n3, 4 5\n"),
        "g.csv:2:6: a field with a space inside, or a missing comma before it"
    );
}

#[test]
fn whitespace_separated_rows_keep_their_first_row() {
    // numpy.savetxt's default: '%.18e' fields joined by one space.
    let t = table(
        "1.000000000000000000e+00 -2.500000000000000000e+00 3.000000000000000000e+00\n\
         4.000000000000000000e+00 5.000000000000000000e+00 -6.000000000000000000e+00\n",
    );
    assert_eq!((t.rows, t.cols), (2, 3));
    assert_eq!(t.values, vec![1.0, -2.5, 3.0, 4.0, 5.0, -6.0]);
    assert_eq!(t.header, None);
    // Tabs, runs of spaces, leading and trailing blanks, CRLF, no final newline.
    let t = table("  1\t 2   3 \r\n4 5\t6");
    assert_eq!(t.values, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert_eq!(t.row_lines, vec![1, 2]);
    // A comma in a whitespace-separated file is an error at its column.
    let e = read_csv_table("1 2\n3,4\n".as_bytes(), "w.txt", "gradient", None)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "w.txt:2:2: `,` in a whitespace-separated file (the first data row has no commas)"
    );
}

#[test]
fn a_header_row_is_skipped_and_reported() {
    let t = table("# logged at step 10\ntask_a task_b\n1 2\n3 4\n");
    assert_eq!(
        t.header,
        Some(SkippedHeader {
            line: 2,
            text: "task_a,task_b".into()
        })
    );
    assert_eq!((t.rows, t.cols), (2, 2));
    assert_eq!(t.row_lines, vec![3, 4]);
    // Only the first data row can be a header.
    let e = read_csv_table("a,b\nc,d\n".as_bytes(), "g.csv", "gradient", None)
        .unwrap_err()
        .to_string();
    assert_eq!(e, "g.csv:2:1: `c` is not a number");
}

#[test]
fn an_overlong_field_is_refused_at_its_column() {
    let text = format!("1,{}\n", "9".repeat(2000));
    let e = read_csv_table(text.as_bytes(), "g.csv", "gradient", None)
        .unwrap_err()
        .to_string();
    assert_eq!(e, "g.csv:1:3: field longer than 1024 bytes");
}

#[test]
fn csv_reads_through_a_file_and_long_rows_stay_linear() {
    let tmp = scratch();
    // 2 rows × 200 000 values: the old reader re-scanned each row per field.
    let n = 200_000;
    let mut text = String::new();
    for r in 0..2 {
        let row: Vec<String> = (0..n)
            .map(|j| format!("{}", (j + r) as f64 * 0.5))
            .collect();
        text.push_str(&row.join(","));
        text.push('\n');
    }
    let path = tmp.path().join("long.csv");
    std::fs::write(&path, &text).unwrap();
    let a = read_array(&path, Content::Gradients).unwrap();
    assert_eq!(a.shape, vec![2, n]);
    let Values::F64(v) = &a.values else {
        panic!("CSV values are f64")
    };
    assert_eq!(v[n + 7], 4.0);
    assert_eq!(v.capacity(), v.len());
}

fn write(path: &std::path::Path, shape: &[usize], values: NpyValues<'_>, fortran: bool, be: bool) {
    let mut bytes = Vec::new();
    write_npy(&mut bytes, shape, values, fortran, be).unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn npy_float32_and_float64_in_every_order_and_byte_order() {
    let tmp = scratch();
    // K = 2, n = 3: rows (1, 2, 3) and (-4, 5.5, -6).
    let c_order = [1.0, 2.0, 3.0, -4.0, 5.5, -6.0];
    let f_order = [1.0, -4.0, 2.0, 5.5, 3.0, -6.0];
    for fortran in [false, true] {
        for be in [false, true] {
            let stored = if fortran { f_order } else { c_order };
            let p64 = tmp.path().join(format!("g64-{fortran}-{be}.npy"));
            write(&p64, &[2, 3], NpyValues::F64(&stored), fortran, be);
            let a = read_array(&p64, Content::Gradients).unwrap();
            assert_eq!(a.shape, vec![2, 3]);
            assert_eq!(a.fortran_order, fortran);
            let Values::F64(v) = &a.values else { panic!() };
            let m = a.view(v).unwrap().step(0).unwrap();
            assert_eq!(m.get(1, 1), 5.5);
            assert_eq!(m.get(0, 2), 3.0);

            let s32: Vec<f32> = stored.iter().map(|&x| x as f32).collect();
            let p32 = tmp.path().join(format!("g32-{fortran}-{be}.npy"));
            write(&p32, &[2, 3], NpyValues::F32(&s32), fortran, be);
            let a = read_array(&p32, Content::Gradients).unwrap();
            let Values::F32(v) = &a.values else {
                panic!("float32 stays float32")
            };
            let m = a.view(v).unwrap().step(0).unwrap();
            assert_eq!(m.get(1, 0), -4.0);
            assert_eq!(m.get(1, 2), -6.0);
        }
    }
}

#[test]
fn npy_trajectories_have_three_axes() {
    let tmp = scratch();
    // T = 2, K = 2, n = 2; C order: step-major.
    let data = [1.0, 0.0, 0.0, 1.0, 1.0, 0.0, -1.0, 0.0];
    let path = tmp.path().join("traj.npy");
    write(&path, &[2, 2, 2], NpyValues::F64(&data), false, false);
    let a = read_array(&path, Content::Gradients).unwrap();
    assert_eq!(a.steps(), 2);
    let Values::F64(v) = &a.values else { panic!() };
    let view = a.view(v).unwrap();
    assert_eq!(view.step(1).unwrap().get(1, 0), -1.0);
    // The same trajectory in Fortran order.
    let mut f = vec![0.0; 8];
    for t in 0..2 {
        for i in 0..2 {
            for j in 0..2 {
                f[t + 2 * i + 4 * j] = data[4 * t + 2 * i + j];
            }
        }
    }
    let path = tmp.path().join("traj-f.npy");
    write(&path, &[2, 2, 2], NpyValues::F64(&f), true, false);
    let b = read_array(&path, Content::Gradients).unwrap();
    let Values::F64(w) = &b.values else { panic!() };
    let fview = b.view(w).unwrap();
    for t in 0..2 {
        for i in 0..2 {
            for j in 0..2 {
                assert_eq!(
                    fview.step(t).unwrap().get(i, j),
                    view.step(t).unwrap().get(i, j)
                );
            }
        }
    }
}

#[test]
fn npy_bad_content_is_refused_with_a_clear_message() {
    let tmp = scratch();
    let e = |path: &std::path::Path| {
        read_array(path, Content::Gradients)
            .unwrap_err()
            .to_string()
    };
    // Another dtype: the header names int64.
    let path = tmp.path().join("int.npy");
    let mut bytes = Vec::new();
    write_npy(&mut bytes, &[2, 2], NpyValues::F64(&[1.0; 4]), false, false).unwrap();
    let mut patched = bytes.clone();
    let at = patched.windows(3).position(|w| w == b"<f8").unwrap();
    patched[at + 1] = b'i';
    std::fs::write(&path, &patched).unwrap();
    let m = e(&path);
    assert!(m.contains("dtype `<i8` is not supported"), "{m}");
    // Truncated data.
    let path = tmp.path().join("short.npy");
    std::fs::write(&path, &bytes[..bytes.len() - 8]).unwrap();
    let m = e(&path);
    assert!(m.contains("truncated"), "{m}");
    // A shape whose product overflows is refused before anything multiplies it.
    let path = tmp.path().join("huge.npy");
    let mut huge = bytes.clone();
    let at = huge.windows(6).position(|w| w == b"(2, 2)").unwrap();
    let dict_end = huge.iter().position(|&b| b == b'\n').unwrap();
    let mut head = huge[..at].to_vec();
    head.extend_from_slice(b"(4294967296, 4294967296, 4294967296), }");
    head.resize(dict_end, b' ');
    head.push(b'\n');
    huge = [head, bytes[dict_end + 1..].to_vec()].concat();
    std::fs::write(&path, &huge).unwrap();
    let m = e(&path);
    assert!(m.contains("does not fit"), "{m}");
    // One axis, and not an npy file at all.
    let path = tmp.path().join("flat.npy");
    write(&path, &[4], NpyValues::F64(&[1.0; 4]), false, false);
    assert!(e(&path).contains("expected 2 axes"));
    let path = tmp.path().join("text.npy");
    std::fs::write(&path, "1,2\n3,4\n").unwrap();
    assert!(e(&path).contains("not a .npy file"));
}

#[test]
fn gram_files_must_be_square() {
    let tmp = scratch();
    let path = tmp.path().join("gram.csv");
    std::fs::write(&path, "1,0,0\n0,1,0\n").unwrap();
    let m = read_array(&path, Content::Gram).unwrap_err().to_string();
    assert!(m.contains("a Gram matrix is K×K; this one is 2×3"), "{m}");
    std::fs::write(&path, "2,-1\n-1,2\n").unwrap();
    let a = read_array(&path, Content::Gram).unwrap();
    assert_eq!(a.shape, vec![2, 2]);
}

#[test]
fn files_are_read_only_when_regular() {
    let m = read_array(Path::new("/dev/zero"), Content::Gradients)
        .unwrap_err()
        .to_string();
    assert_eq!(m, "/dev/zero: not a regular file (a character device)");
    let m = read_array(Path::new("/nonexistent/g.npy"), Content::Gradients)
        .unwrap_err()
        .to_string();
    assert_eq!(m, "/nonexistent/g.npy: no such file");
}
