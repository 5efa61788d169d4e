//! Readers for per-task gradients and Gram matrices logged by training code.
//!
//! Two file formats, each read in time linear in its size:
//!
//! * **CSV** (any extension but `.npy`): one row per gradient (or per Gram row), fields
//!   separated by commas — or by runs of spaces and tabs, as numpy's `savetxt` writes them.
//!   The first data row decides: a comma after its first field means comma-separated.
//!   Blank lines and lines starting with `#` are skipped. The first data row is a header,
//!   skipped and reported in [`CsvTable::header`], only when *none* of its fields is a
//!   number (a row with one mistyped number among numbers is data with an error). Read as
//!   a stream through a buffered reader: memory is the values (8 bytes each) and one field.
//! * **`.npy`** (numpy's binary format, through the `npyz` crate): float32 or float64,
//!   either byte order, C or Fortran order; shape `K×n` (one step) or `T×K×n` (a
//!   trajectory), `K×K` or `T×K×K` for Gram matrices. Other dtypes are refused naming the
//!   dtype. float32 values stay float32 in memory.
//!
//! Every file is opened through [`crate::files::open_regular`] (regular files only, a size
//! cap per kind). The values come back as plain arrays ([`Array`]) to be viewed as
//! [`crate::diagnose::MatrixView`]s and [`crate::diagnose::TrajectoryView`]s — the same
//! views a caller holding arrays in memory (numpy, through the Python package) builds
//! directly, without copying.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use crate::diagnose::{Element, TrajectoryView};
use crate::error::{Error, Result};
use crate::files::{FileKind, open_regular};

/// A header row that was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedHeader {
    /// Its 1-based line.
    pub line: usize,
    /// Its text (fields joined by `,`, cut to 200 characters).
    pub text: String,
}

/// A table of numbers read from CSV text: `rows × cols`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvTable {
    /// Data rows.
    pub rows: usize,
    /// Values per row.
    pub cols: usize,
    /// Row-major values.
    pub values: Vec<f64>,
    /// The header row, when the first row was one (see the module docs).
    pub header: Option<SkippedHeader>,
    /// 1-based line of each data row.
    pub row_lines: Vec<usize>,
}

/// The longest field accepted, in bytes.
const MAX_FIELD: usize = 1024;
/// The most header text kept for the note.
const HEADER_NOTE: usize = 200;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Delimiter {
    Undecided,
    Comma,
    Whitespace,
}

struct CsvParser<'a> {
    origin: &'a str,
    noun: &'a str,
    line: usize,
    column: usize,
    delimiter: Delimiter,
    // The current line.
    in_comment: bool,
    line_has_content: bool,
    field: Vec<u8>,
    field_column: usize,
    /// A token ended and no comma followed yet (comma mode: the next token needs one).
    token_pending_separator: bool,
    /// Column just after the last comma on this line (where an empty field would start).
    after_comma: Option<usize>,
    fields_in_row: usize,
    /// Values per row, once the first data row is read.
    expected: Option<usize>,
    /// Bytes processed, and where the current line started.
    offset: u64,
    line_start: u64,
    /// Bytes of the first data row.
    first_row_bytes: u64,
    // The first data row, while it may still be a header.
    first_row: bool,
    first_row_numbers: usize,
    first_row_error: Option<(usize, String)>,
    header_text: String,
    // The table.
    table: CsvTable,
}

impl<'a> CsvParser<'a> {
    fn err(&self, line: usize, column: usize, message: String) -> Error {
        Error::GradientsFile {
            file: self.origin.to_string(),
            line,
            column,
            message,
        }
    }

    fn end_token(&mut self) -> Result<()> {
        if self.field.is_empty() {
            return Ok(());
        }
        let column = self.field_column;
        if self.delimiter == Delimiter::Comma && self.token_pending_separator {
            return Err(self.err(
                self.line,
                column,
                "a field with a space inside, or a missing comma before it".into(),
            ));
        }
        let text = String::from_utf8_lossy(&self.field).into_owned();
        self.field.clear();
        self.token_pending_separator = true;
        self.after_comma = None;
        self.fields_in_row += 1;
        let parsed = text.parse::<f64>();
        if self.first_row {
            match parsed {
                Ok(x) => {
                    if !x.is_finite() && self.first_row_error.is_none() {
                        self.first_row_error = Some((column, format!("`{text}` is not finite")));
                    }
                    self.first_row_numbers += 1;
                    self.table.values.push(x);
                }
                Err(_) => {
                    if self.first_row_error.is_none() {
                        self.first_row_error = Some((column, format!("`{text}` is not a number")));
                    }
                    if self.header_text.chars().count() < HEADER_NOTE {
                        if !self.header_text.is_empty() {
                            self.header_text.push(',');
                        }
                        self.header_text.push_str(&text);
                    }
                }
            }
            return Ok(());
        }
        match parsed {
            Ok(x) if x.is_finite() => {
                if self.fields_in_row <= self.expected.unwrap_or(usize::MAX) {
                    self.table.values.push(x);
                }
                Ok(())
            }
            Ok(_) => Err(self.err(self.line, column, format!("`{text}` is not finite"))),
            Err(_) => Err(self.err(self.line, column, format!("`{text}` is not a number"))),
        }
    }

    fn empty_field(&self, column: usize) -> Error {
        self.err(self.line, column, "empty field".into())
    }

    fn end_line(&mut self) -> Result<()> {
        self.end_token()?;
        if self.in_comment || !self.line_has_content {
            self.reset_line();
            return Ok(());
        }
        if let Some(column) = self.after_comma {
            return Err(self.empty_field(column));
        }
        let count = self.fields_in_row;
        if self.first_row {
            self.first_row = false;
            if self.first_row_numbers == 0 {
                let mut text: String = self.header_text.chars().take(HEADER_NOTE).collect();
                if self.header_text.chars().count() >= HEADER_NOTE {
                    text.push('…');
                }
                self.table.header = Some(SkippedHeader {
                    line: self.line,
                    text,
                });
                self.reset_line();
                return Ok(());
            }
            if let Some((column, message)) = self.first_row_error.take() {
                return Err(self.err(self.line, column, message));
            }
        }
        match self.expected {
            None => {
                self.expected = Some(count);
                self.table.cols = count;
            }
            Some(n) if n != count => {
                let first = self.table.row_lines[0];
                return Err(self.err(
                    self.line,
                    1,
                    format!(
                        "row has {count} values, the first {} (line {first}) has {n}",
                        self.noun
                    ),
                ));
            }
            Some(_) => {}
        }
        self.table.rows += 1;
        if self.table.rows == 1 {
            self.first_row_bytes = self.offset - self.line_start;
        }
        self.table.row_lines.push(self.line);
        self.reset_line();
        Ok(())
    }

    fn reset_line(&mut self) {
        self.in_comment = false;
        self.line_has_content = false;
        self.token_pending_separator = false;
        self.after_comma = None;
        self.fields_in_row = 0;
    }

    fn byte(&mut self, b: u8) -> Result<()> {
        // Columns count characters: every byte but UTF-8 continuation bytes starts one.
        if b & 0xC0 != 0x80 {
            self.column += 1;
        }
        self.offset += 1;
        if b == b'\n' {
            self.end_line()?;
            self.line += 1;
            self.column = 0;
            self.line_start = self.offset;
            return Ok(());
        }
        if self.in_comment {
            return Ok(());
        }
        match b {
            b' ' | b'\t' | b'\r' => {
                // Ends a field; whether a comma or another field follows decides the
                // delimiter of an undecided file.
                self.end_token()?;
            }
            b',' => {
                if !self.line_has_content {
                    self.line_has_content = true;
                }
                self.end_token()?;
                if self.delimiter == Delimiter::Undecided {
                    self.delimiter = Delimiter::Comma;
                }
                if self.delimiter == Delimiter::Whitespace {
                    return Err(self.err(
                        self.line,
                        self.column,
                        "`,` in a whitespace-separated file (the first data row has no commas)"
                            .into(),
                    ));
                }
                if !self.token_pending_separator {
                    // Nothing since the line start or the last comma.
                    let column = self.after_comma.unwrap_or(1);
                    return Err(self.empty_field(column));
                }
                self.token_pending_separator = false;
                self.after_comma = Some(self.column + 1);
            }
            b'#' if !self.line_has_content => self.in_comment = true,
            _ => {
                if self.field.is_empty() {
                    if self.token_pending_separator && self.delimiter == Delimiter::Undecided {
                        self.delimiter = Delimiter::Whitespace;
                        self.token_pending_separator = false;
                    } else if self.delimiter == Delimiter::Whitespace {
                        self.token_pending_separator = false;
                    }
                    self.field_column = self.column;
                    self.line_has_content = true;
                }
                if self.field.len() >= MAX_FIELD {
                    return Err(self.err(
                        self.line,
                        self.field_column,
                        format!("field longer than {MAX_FIELD} bytes"),
                    ));
                }
                self.field.push(b);
            }
        }
        Ok(())
    }
}

/// Reads a CSV table of numbers from `reader` (see the module docs for the format).
/// `origin` names the input in errors; `noun` names a row in them (`"gradient"`);
/// `size_hint` (the input's size in bytes) lets the value buffer be reserved once.
///
/// # Errors
/// [`Error::GradientsFile`] with the 1-based line and column of the first problem: a field
/// that is not a number, a NaN or infinite value, an empty field, a row whose length
/// differs from the first, no data rows, or an I/O error.
pub fn read_csv_table<R: BufRead>(
    mut reader: R,
    origin: &str,
    noun: &str,
    size_hint: Option<u64>,
) -> Result<CsvTable> {
    let mut p = CsvParser {
        origin,
        noun,
        line: 1,
        column: 0,
        delimiter: Delimiter::Undecided,
        in_comment: false,
        line_has_content: false,
        field: Vec::with_capacity(64),
        field_column: 1,
        token_pending_separator: false,
        after_comma: None,
        fields_in_row: 0,
        expected: None,
        offset: 0,
        line_start: 0,
        first_row_bytes: 0,
        first_row: true,
        first_row_numbers: 0,
        first_row_error: None,
        header_text: String::new(),
        table: CsvTable {
            rows: 0,
            cols: 0,
            values: Vec::new(),
            header: None,
            row_lines: Vec::new(),
        },
    };
    let mut at_start = true;
    let mut reserved = false;
    loop {
        let chunk = match reader.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(p.err(p.line, p.column.max(1), format!("cannot read: {e}"))),
        };
        if chunk.is_empty() {
            break;
        }
        let mut bytes = chunk;
        if at_start {
            at_start = false;
            // A byte-order mark (spreadsheets write one) is not part of the first field.
            if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
                bytes = rest;
            }
        }
        let len = chunk.len();
        for &b in bytes {
            p.byte(b)?;
            if !reserved && p.table.rows == 1 {
                // One row is known: reserve for as many rows of its size as the input holds,
                // so the values are allocated once (every value takes at least two bytes).
                reserved = true;
                if let Some(size) = size_hint {
                    let row_bytes = p.first_row_bytes.max(1);
                    let rows = size / row_bytes + 1;
                    let want = (rows as u128 * p.table.cols as u128).min(size as u128 / 2 + 1);
                    let want = usize::try_from(want).unwrap_or(usize::MAX);
                    p.table
                        .values
                        .reserve(want.saturating_sub(p.table.values.len()));
                }
            }
        }
        reader.consume(len);
    }
    if p.column > 0 || p.line_has_content {
        p.end_line()?;
    } else {
        p.line -= 1;
    }
    let last_line = p.line.max(1);
    if p.table.rows == 0 {
        return Err(p.err(last_line, 1, format!("no {noun} rows")));
    }
    p.table.values.shrink_to_fit();
    Ok(p.table)
}

/// Parses CSV text (see [`read_csv_table`]) into K gradient vectors, one per row, K ≥ 2.
///
/// # Errors
/// As [`read_csv_table`]; also fewer than two rows.
///
/// ```
/// let g = bflow::gradients::parse_gradients_csv("g1,g2\n1.0, 2.0\n-1.0, -2.5\n", "grads.csv")?;
/// assert_eq!(g, vec![vec![1.0, 2.0], vec![-1.0, -2.5]]);
/// # Ok::<(), bflow::Error>(())
/// ```
pub fn parse_gradients_csv(text: &str, origin: &str) -> Result<Vec<Vec<f64>>> {
    let table = gradients_table(text.as_bytes(), origin, Some(text.len() as u64))?;
    Ok(table
        .values
        .chunks(table.cols)
        .map(<[f64]>::to_vec)
        .collect())
}

fn gradients_table<R: BufRead>(reader: R, origin: &str, size: Option<u64>) -> Result<CsvTable> {
    let table = read_csv_table(reader, origin, "gradient", size)?;
    if table.rows == 1 {
        return Err(Error::GradientsFile {
            file: origin.to_string(),
            line: table.row_lines[0],
            column: 1,
            message: "only one gradient row: balance needs K ≥ 2".into(),
        });
    }
    Ok(table)
}

/// What the values of an array are stored as.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// float32 (`.npy` `<f4`/`>f4`).
    F32(Vec<f32>),
    /// float64 (CSV, `.npy` `<f8`/`>f8`).
    F64(Vec<f64>),
}

impl Values {
    /// The number of values.
    pub fn len(&self) -> usize {
        match self {
            Values::F32(v) => v.len(),
            Values::F64(v) => v.len(),
        }
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `"float32"` or `"float64"`.
    pub fn dtype_name(&self) -> &'static str {
        match self {
            Values::F32(_) => "float32",
            Values::F64(_) => "float64",
        }
    }
}

/// An array read from a file: its shape (2 or 3 axes), storage order and values.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    /// `[K, n]`, `[T, K, n]`, `[K, K]` or `[T, K, K]`.
    pub shape: Vec<usize>,
    /// True for Fortran (column-major) order, false for C (row-major) order.
    pub fortran_order: bool,
    /// The values in storage order.
    pub values: Values,
    /// The header row a CSV file had (never for `.npy`).
    pub header: Option<SkippedHeader>,
}

impl Array {
    /// Steps in the array: the first axis of a 3-axis shape, else 1.
    pub fn steps(&self) -> usize {
        if self.shape.len() == 3 {
            self.shape[0]
        } else {
            1
        }
    }

    /// `(K, n)` of each step (n = K for a Gram matrix).
    pub fn matrix_shape(&self) -> (usize, usize) {
        let s = &self.shape;
        (s[s.len() - 2], s[s.len() - 1])
    }

    /// The array as a trajectory of `steps()` matrices over `data` (which must be this
    /// array's values of element type `T`).
    ///
    /// # Errors
    /// As [`TrajectoryView::c_order`] (never for an array this module read).
    pub fn view<'a, T: Element>(&self, data: &'a [T]) -> Result<TrajectoryView<'a, T>> {
        let (k, n) = self.matrix_shape();
        let shape = [self.steps(), k, n];
        if self.fortran_order {
            TrajectoryView::fortran_order(data, shape)
        } else {
            TrajectoryView::c_order(data, shape)
        }
    }
}

/// Whether a file holds gradients or Gram matrices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// K×n or T×K×n gradients.
    Gradients,
    /// K×K or T×K×K Gram matrices.
    Gram,
}

impl Content {
    fn file_kind(self) -> FileKind {
        match self {
            Content::Gradients => crate::files::GRADIENTS_FILE,
            Content::Gram => crate::files::GRAM_FILE,
        }
    }
}

/// True when `path` ends in `.npy` (any case).
pub fn is_npy(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
}

/// Reads a gradient or Gram file: `.npy` by its extension, CSV otherwise (see the module
/// docs). A CSV file is one step (`K×n`, or `K×K` for Gram); `.npy` may hold a trajectory.
///
/// # Errors
/// [`Error::FileRead`] (see [`open_regular`]); [`Error::GradientsFile`] for CSV content
/// (with line and column); [`Error::ArrayFile`] for `.npy` content: a dtype other than
/// float32/float64, a shape with other than 2 or 3 axes or a zero axis, a non-square Gram
/// matrix, a truncated file; [`Error::TooFewObjectives`] for K < 2.
pub fn read_array(path: &Path, content: Content) -> Result<Array> {
    let origin = path.display().to_string();
    let (file, size) = open_regular(path, content.file_kind())?;
    let reader = BufReader::with_capacity(1 << 16, file);
    let array = if is_npy(path) {
        read_npy(reader, &origin, size)?
    } else {
        let table = match content {
            Content::Gradients => gradients_table(reader, &origin, Some(size))?,
            Content::Gram => read_csv_table(reader, &origin, "row", Some(size))?,
        };
        Array {
            shape: vec![table.rows, table.cols],
            fortran_order: false,
            values: Values::F64(table.values),
            header: table.header,
        }
    };
    let (k, n) = array.matrix_shape();
    if content == Content::Gram && k != n {
        return Err(Error::ArrayFile {
            file: origin,
            message: format!(
                "a Gram matrix is K×K; this one is {k}×{n}{}",
                if array.steps() > 1 || array.shape.len() == 3 {
                    " at each step"
                } else {
                    ""
                }
            ),
        });
    }
    if k < 2 {
        return Err(Error::ArrayFile {
            file: origin,
            message: format!("K = {k}: balance needs at least 2 tasks"),
        });
    }
    Ok(array)
}

/// The largest `.npy` header accepted (numpy itself refuses more than 10 000 bytes unless
/// told otherwise).
const MAX_NPY_HEADER: usize = 1 << 16;

/// The shape as written in a `.npy` header dict, found without a Python-literal parser:
/// the integers between the brackets after `'shape':`. `None` when not found (the full
/// parser then reports what is wrong).
fn scan_shape(header: &str) -> Option<Vec<u128>> {
    let at = header
        .find("'shape'")
        .or_else(|| header.find("\"shape\""))?;
    let rest = &header[at + 7..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let close = if rest.starts_with('(') {
        ')'
    } else if rest.starts_with('[') {
        ']'
    } else {
        return None;
    };
    let inner = &rest[1..rest.find(close)?];
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<u128>().ok())
        .collect()
}

fn read_npy<R: Read>(mut reader: R, origin: &str, file_size: u64) -> Result<Array> {
    let bad = |message: String| Error::ArrayFile {
        file: origin.to_string(),
        message,
    };
    // The pre-header (magic, version, header length) is read here so that a hostile
    // length or shape is refused before the crate allocates or multiplies.
    let mut pre = [0u8; 12];
    reader
        .read_exact(&mut pre[..8])
        .map_err(|_| bad("not a .npy file (too short for the magic string)".into()))?;
    if &pre[..6] != b"\x93NUMPY" {
        return Err(bad("not a .npy file (no \\x93NUMPY magic string)".into()));
    }
    let (len_bytes, header_len) = match pre[6] {
        1 => {
            reader
                .read_exact(&mut pre[8..10])
                .map_err(|_| bad("truncated .npy header".into()))?;
            (2, u16::from_le_bytes([pre[8], pre[9]]) as usize)
        }
        2 | 3 => {
            reader
                .read_exact(&mut pre[8..12])
                .map_err(|_| bad("truncated .npy header".into()))?;
            (
                4,
                u32::from_le_bytes([pre[8], pre[9], pre[10], pre[11]]) as usize,
            )
        }
        v => return Err(bad(format!(".npy format version {v} is not supported"))),
    };
    if header_len > MAX_NPY_HEADER {
        return Err(bad(format!(
            ".npy header of {header_len} bytes (at most {MAX_NPY_HEADER} accepted)"
        )));
    }
    let mut head = pre[..8 + len_bytes].to_vec();
    let start = head.len();
    head.resize(start + header_len, 0);
    reader
        .read_exact(&mut head[start..])
        .map_err(|_| bad("truncated .npy header".into()))?;
    let header_text = String::from_utf8_lossy(&head[start..]).into_owned();
    let data_bytes = file_size.saturating_sub(head.len() as u64);
    if let Some(shape) = scan_shape(&header_text) {
        let product = shape
            .iter()
            .try_fold(1u128, |acc, &d| acc.checked_mul(d))
            .filter(|&p| p <= u64::MAX as u128 / 8);
        match product {
            Some(p) if p * 8 <= data_bytes as u128 * 2 + 64 => {}
            _ => {
                return Err(bad(format!(
                    "shape {shape:?} does not fit in a file of {file_size} bytes"
                )));
            }
        }
    }
    let header = npyz::NpyHeader::from_reader(&head[..])
        .map_err(|e| bad(format!("bad .npy header: {e}")))?;
    let dtype = header.dtype();
    let descr = match &dtype {
        npyz::DType::Plain(t) => t.to_string(),
        other => other.descr(),
    };
    let shape: Vec<usize> = header
        .shape()
        .iter()
        .map(|&d| usize::try_from(d).unwrap_or(usize::MAX))
        .collect();
    if shape.len() != 2 && shape.len() != 3 {
        return Err(bad(format!(
            "shape {shape:?}: expected 2 axes (K×n) or 3 (T×K×n, a trajectory)"
        )));
    }
    if shape.contains(&0) {
        return Err(bad(format!("shape {shape:?} has an empty axis")));
    }
    let count: usize = shape.iter().product();
    let item = match descr.trim_start_matches(['<', '>', '|', '=']) {
        "f4" => 4,
        "f8" => 8,
        _ => {
            return Err(bad(format!(
                "dtype `{descr}` is not supported: gradients and Gram matrices must be float32 or float64 (in numpy: a.astype(np.float64))"
            )));
        }
    };
    let needed = count as u128 * item;
    if needed > data_bytes as u128 {
        return Err(bad(format!(
            "truncated: shape {shape:?} of {descr} needs {needed} bytes of data, the file has {data_bytes}"
        )));
    }
    let fortran_order = header.order() == npyz::Order::Fortran;
    let npy = npyz::NpyFile::with_header(header, reader);
    let io = |e: std::io::Error| bad(format!("cannot read the data: {e}"));
    let values = if item == 4 {
        let mut v = Vec::with_capacity(count);
        for x in npy.data::<f32>().map_err(|e| bad(e.to_string()))? {
            v.push(x.map_err(io)?);
        }
        Values::F32(v)
    } else {
        let mut v = Vec::with_capacity(count);
        for x in npy.data::<f64>().map_err(|e| bad(e.to_string()))? {
            v.push(x.map_err(io)?);
        }
        Values::F64(v)
    };
    Ok(Array {
        shape,
        fortran_order,
        values,
        header: None,
    })
}

/// Values to write with [`write_npy`].
#[derive(Debug, Clone, Copy)]
pub enum NpyValues<'a> {
    /// float32.
    F32(&'a [f32]),
    /// float64.
    F64(&'a [f64]),
}

/// Writes an array in numpy's `.npy` format (version 1.0): `values` in storage order
/// (C order, or Fortran order when `fortran_order`), little- or big-endian. For tests,
/// benchmarks and tools that hand arrays to bflow.
///
/// # Errors
/// The writer's I/O error; [`std::io::ErrorKind::InvalidInput`] when the shape's product
/// is not the number of values.
pub fn write_npy<W: std::io::Write>(
    mut w: W,
    shape: &[usize],
    values: NpyValues<'_>,
    fortran_order: bool,
    big_endian: bool,
) -> std::io::Result<()> {
    let (len, code) = match values {
        NpyValues::F32(v) => (v.len(), "f4"),
        NpyValues::F64(v) => (v.len(), "f8"),
    };
    if shape.iter().product::<usize>() != len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "shape does not match the number of values",
        ));
    }
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let shape_text = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut dict = format!(
        "{{'descr': '{}{code}', 'fortran_order': {}, 'shape': {shape_text}, }}",
        if big_endian { '>' } else { '<' },
        if fortran_order { "True" } else { "False" }
    );
    // Magic (6) + version (2) + length (2) + dict + newline: a multiple of 64.
    let total = 10 + dict.len() + 1;
    dict.push_str(&" ".repeat((64 - total % 64) % 64));
    dict.push('\n');
    w.write_all(b"\x93NUMPY\x01\x00")?;
    let header_len = u16::try_from(dict.len())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "header too long"))?;
    w.write_all(&header_len.to_le_bytes())?;
    w.write_all(dict.as_bytes())?;
    let mut out = std::io::BufWriter::new(w);
    match values {
        NpyValues::F32(v) => {
            for x in v {
                let b = if big_endian {
                    x.to_be_bytes()
                } else {
                    x.to_le_bytes()
                };
                out.write_all(&b)?;
            }
        }
        NpyValues::F64(v) => {
            for x in v {
                let b = if big_endian {
                    x.to_be_bytes()
                } else {
                    x.to_le_bytes()
                };
                out.write_all(&b)?;
            }
        }
    }
    out.flush()
}

use std::io::Write as _;

#[cfg(test)]
mod tests;
