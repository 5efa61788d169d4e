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
//! * **`.npy`** (numpy's binary format, versions 1–3): float32 or float64, either byte
//!   order, C or Fortran order; shape `K×n` (one step) or `T×K×n` (a
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
                    self.push(x, column)?;
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
                    self.push(x, column)?;
                }
                Ok(())
            }
            Ok(_) => Err(self.err(self.line, column, format!("`{text}` is not finite"))),
            Err(_) => Err(self.err(self.line, column, format!("`{text}` is not a number"))),
        }
    }

    /// Appends a value, growing the buffer without aborting when memory runs out.
    fn push(&mut self, x: f64, column: usize) -> Result<()> {
        let values = &mut self.table.values;
        if values.len() == values.capacity() && values.try_reserve(values.len().max(1024)).is_err()
        {
            return Err(self.err(
                self.line,
                column,
                format!(
                    "cannot allocate memory for more than {} values",
                    self.table.values.len()
                ),
            ));
        }
        self.table.values.push(x);
        Ok(())
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
                    let more = want.saturating_sub(p.table.values.len());
                    if p.table.values.try_reserve_exact(more).is_err() {
                        return Err(p.err(
                            p.line,
                            1,
                            format!(
                                "a file of {} holds about {want} values: cannot allocate {}",
                                crate::files::human_bytes(size),
                                crate::files::human_bytes((want as u64).saturating_mul(8))
                            ),
                        ));
                    }
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
    let format = if is_npy(path) {
        ArrayFormat::Npy
    } else {
        ArrayFormat::Csv
    };
    read_array_from(reader, &origin, size, format, content)
}

/// How an array is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArrayFormat {
    /// CSV text (see the module docs).
    Csv,
    /// numpy's `.npy`.
    Npy,
}

/// As [`read_array`], from a reader holding `size` bytes in `format`; `origin` names the
/// input in errors. For input that is not a file (memory, a network stream) — and for
/// fuzzing the readers.
///
/// # Errors
/// As [`read_array`], except [`Error::FileRead`].
///
/// ```
/// use bflow::gradients::{read_array_from, ArrayFormat, Content};
/// let text = b"1,2\n-1,-1.5\n";
/// let a = read_array_from(&text[..], "g.csv", text.len() as u64, ArrayFormat::Csv, Content::Gradients)?;
/// assert_eq!(a.shape, vec![2, 2]);
/// # Ok::<(), bflow::Error>(())
/// ```
pub fn read_array_from<R: BufRead>(
    reader: R,
    origin: &str,
    size: u64,
    format: ArrayFormat,
    content: Content,
) -> Result<Array> {
    let origin = origin.to_string();
    let array = match format {
        ArrayFormat::Npy => read_npy(reader, &origin, size)?,
        ArrayFormat::Csv => {
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

/// The header dict of a `.npy` file.
#[derive(Debug, PartialEq)]
struct NpyDict {
    /// `descr` when it is a string (`"<f8"`); `None` for a structured dtype (a list).
    descr: Option<String>,
    fortran_order: bool,
    shape: Vec<u64>,
}

/// A cursor over the header dict text.
struct DictParser<'a> {
    text: &'a [u8],
    at: usize,
}

impl DictParser<'_> {
    fn skip_space(&mut self) {
        while self
            .text
            .get(self.at)
            .is_some_and(|b| b.is_ascii_whitespace())
        {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn expect(&mut self, b: u8) -> std::result::Result<(), String> {
        self.skip_space();
        if self.peek() == Some(b) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!(
                "expected `{}` at byte {} of the header dict",
                b as char, self.at
            ))
        }
    }

    /// A quoted string without escapes.
    fn string(&mut self) -> std::result::Result<String, String> {
        self.skip_space();
        let quote = match self.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => return Err(format!("expected a string at byte {}", self.at)),
        };
        let start = self.at + 1;
        let len = self.text[start..]
            .iter()
            .position(|&b| b == quote || b == b'\\')
            .ok_or("unterminated string in the header dict")?;
        if self.text[start + len] == b'\\' {
            return Err("escapes in header strings are not supported".into());
        }
        self.at = start + len + 1;
        Ok(String::from_utf8_lossy(&self.text[start..start + len]).into_owned())
    }

    /// A word: `True`, `False`.
    fn word(&mut self) -> &str {
        self.skip_space();
        let start = self.at;
        while self.peek().is_some_and(|b| b.is_ascii_alphanumeric()) {
            self.at += 1;
        }
        std::str::from_utf8(&self.text[start..self.at]).unwrap_or("")
    }

    /// `(a, b, …)` or `[a, b, …]` of non-negative integers (a trailing comma and Python 2's
    /// `L` suffix allowed).
    fn shape(&mut self) -> std::result::Result<Vec<u64>, String> {
        self.skip_space();
        let close = match self.peek() {
            Some(b'(') => b')',
            Some(b'[') => b']',
            _ => return Err("`shape` is not a tuple".into()),
        };
        self.at += 1;
        let mut dims = Vec::new();
        loop {
            self.skip_space();
            if self.peek() == Some(close) {
                self.at += 1;
                return Ok(dims);
            }
            let start = self.at;
            while self.peek().is_some_and(|b| b.is_ascii_digit()) {
                self.at += 1;
            }
            let digits = std::str::from_utf8(&self.text[start..self.at]).unwrap_or("");
            if digits.is_empty() {
                return Err("`shape` holds something other than non-negative integers".into());
            }
            let d = digits
                .parse::<u64>()
                .map_err(|_| format!("`shape` entry {digits} is too large"))?;
            if self.peek() == Some(b'L') {
                self.at += 1;
            }
            if dims.len() == 8 {
                return Err("`shape` has more than 8 axes".into());
            }
            dims.push(d);
            self.skip_space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(c) if c == close => {}
                _ => return Err("`shape` is not a tuple of integers".into()),
            }
        }
    }

    /// A structured dtype's list, skipped (bracket depth only; strings hold no brackets
    /// that count).
    fn skip_list(&mut self) -> std::result::Result<(), String> {
        let mut depth = 0usize;
        loop {
            match self.peek() {
                None => return Err("unterminated list in the header dict".into()),
                Some(b'\'' | b'"') => {
                    self.string()?;
                    continue;
                }
                Some(b'[' | b'(') => depth += 1,
                Some(b']' | b')') => {
                    depth -= 1;
                    if depth == 0 {
                        self.at += 1;
                        return Ok(());
                    }
                }
                Some(_) => {}
            }
            self.at += 1;
        }
    }
}

/// Parses the header dict numpy writes (`{'descr': '<f8', 'fortran_order': False, 'shape':
/// (3, 4), }`): exactly these three keys, once each, in any order; nothing else.
fn parse_npy_dict(text: &[u8]) -> std::result::Result<NpyDict, String> {
    let mut p = DictParser { text, at: 0 };
    p.expect(b'{')?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        p.skip_space();
        if p.peek() == Some(b'}') {
            p.at += 1;
            break;
        }
        let key = p.string()?;
        p.expect(b':')?;
        p.skip_space();
        let duplicate = match key.as_str() {
            "descr" => {
                let value = if p.peek() == Some(b'[') {
                    p.skip_list()?;
                    None
                } else {
                    Some(p.string()?)
                };
                descr.replace(value).is_some()
            }
            "fortran_order" => {
                let value = match p.word() {
                    "True" => true,
                    "False" => false,
                    _ => return Err("`fortran_order` is not True or False".into()),
                };
                fortran.replace(value).is_some()
            }
            "shape" => shape.replace(p.shape()?).is_some(),
            other => return Err(format!("unexpected key `{other}` in the header dict")),
        };
        if duplicate {
            return Err(format!("key `{key}` appears twice in the header dict"));
        }
        p.skip_space();
        match p.peek() {
            Some(b',') => p.at += 1,
            Some(b'}') => {}
            _ => return Err(format!("expected `,` or `}}` at byte {}", p.at)),
        }
    }
    if text[p.at..]
        .iter()
        .any(|b| !b.is_ascii_whitespace() && *b != 0)
    {
        return Err("text after the header dict".into());
    }
    let missing = |key: &str| format!("the header dict has no `{key}`");
    Ok(NpyDict {
        descr: descr.ok_or_else(|| missing("descr"))?,
        fortran_order: fortran.ok_or_else(|| missing("fortran_order"))?,
        shape: shape.ok_or_else(|| missing("shape"))?,
    })
}

/// Reads a `.npy` file from `reader` (`file_size` bytes in all). The header is parsed
/// here, strictly (see [`parse_npy_dict`]), and its shape checked against the file's size
/// before anything is allocated; the values are then read in storage order and converted
/// from the file's byte order.
fn read_npy<R: Read>(mut reader: R, origin: &str, file_size: u64) -> Result<Array> {
    let bad = |message: String| Error::ArrayFile {
        file: origin.to_string(),
        message,
    };
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
    let mut head = vec![0u8; header_len];
    reader
        .read_exact(&mut head)
        .map_err(|_| bad("truncated .npy header".into()))?;
    let dict = parse_npy_dict(&head).map_err(|e| bad(format!("bad .npy header: {e}")))?;
    let data_bytes = file_size.saturating_sub((8 + len_bytes + header_len) as u64);
    let shape_text = format!("{:?}", dict.shape);
    if dict.shape.len() != 2 && dict.shape.len() != 3 {
        return Err(bad(format!(
            "shape {shape_text}: expected 2 axes (K×n) or 3 (T×K×n, a trajectory)"
        )));
    }
    if dict.shape.contains(&0) {
        return Err(bad(format!("shape {shape_text} has an empty axis")));
    }
    let descr = match &dict.descr {
        Some(d) => d.clone(),
        None => {
            return Err(bad(
                "a structured dtype is not supported: gradients and Gram matrices must be float32 or float64".into(),
            ));
        }
    };
    let (order, code) = match descr.as_bytes().first() {
        Some(&c @ (b'<' | b'>' | b'|' | b'=')) => (c, &descr[1..]),
        _ => (b'=', descr.as_str()),
    };
    let item: u64 = match code {
        "f4" => 4,
        "f8" => 8,
        _ => {
            return Err(bad(format!(
                "dtype `{descr}` is not supported: gradients and Gram matrices must be float32 or float64 (in numpy: a.astype(np.float64))"
            )));
        }
    };
    // The product, checked: it must fit in the file (so in memory no larger than the file).
    let needed = dict
        .shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .and_then(|c| c.checked_mul(item));
    let count = match needed {
        Some(b) if b <= data_bytes => b / item,
        Some(b) => {
            return Err(bad(format!(
                "truncated: shape {shape_text} of {descr} needs {b} bytes of data, the file has {data_bytes}"
            )));
        }
        None => {
            return Err(bad(format!(
                "shape {shape_text} does not fit in a file of {file_size} bytes"
            )));
        }
    };
    let big_endian = match order {
        b'>' => true,
        b'<' => false,
        _ => cfg!(target_endian = "big"),
    };
    let shape: Vec<usize> = dict
        .shape
        .iter()
        .map(|&d| usize::try_from(d).unwrap_or(usize::MAX))
        .collect();
    let count = usize::try_from(count)
        .map_err(|_| bad(format!("shape {shape_text} is too large for this machine")))?;
    let no_memory = |_| {
        bad(format!(
            "cannot allocate {count} values ({})",
            crate::files::human_bytes(count as u64 * item)
        ))
    };
    let io = |e: std::io::Error| bad(format!("cannot read the data: {e}"));
    let mut chunk = vec![0u8; 1 << 16];
    let values = if item == 4 {
        let mut v: Vec<f32> = Vec::new();
        v.try_reserve_exact(count).map_err(no_memory)?;
        read_values(&mut reader, &mut chunk, count, 4, |b| {
            let b = [b[0], b[1], b[2], b[3]];
            v.push(if big_endian {
                f32::from_be_bytes(b)
            } else {
                f32::from_le_bytes(b)
            });
        })
        .map_err(io)?;
        Values::F32(v)
    } else {
        let mut v: Vec<f64> = Vec::new();
        v.try_reserve_exact(count).map_err(no_memory)?;
        read_values(&mut reader, &mut chunk, count, 8, |b| {
            let b = [b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]];
            v.push(if big_endian {
                f64::from_be_bytes(b)
            } else {
                f64::from_le_bytes(b)
            });
        })
        .map_err(io)?;
        Values::F64(v)
    };
    Ok(Array {
        shape,
        fortran_order: dict.fortran_order,
        values,
        header: None,
    })
}

/// Reads `count` items of `item` bytes through `buffer`, handing each to `each`.
fn read_values<R: Read>(
    reader: &mut R,
    buffer: &mut [u8],
    count: usize,
    item: usize,
    mut each: impl FnMut(&[u8]),
) -> std::io::Result<()> {
    let per_chunk = buffer.len() / item;
    let mut left = count;
    while left > 0 {
        let take = left.min(per_chunk);
        let bytes = &mut buffer[..take * item];
        reader.read_exact(bytes)?;
        bytes.chunks_exact(item).for_each(&mut each);
        left -= take;
    }
    Ok(())
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
