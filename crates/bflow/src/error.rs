//! The one error type of the bflow library.
//!
//! Stopping a flow is never an error: every run returns a report with its
//! [`StopReason`](crate::flow::StopReason). Errors are for input that cannot be used: a caller
//! can match on the variant and read the data it carries.

/// Why bflow could not do what it was asked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Fewer than two gradient vectors or objectives: balance needs K ≥ 2.
    #[error("need at least 2 objectives (gradient vectors), got {found}")]
    TooFewObjectives {
        /// How many were given.
        found: usize,
    },
    /// Gradient vectors of different lengths.
    #[error("gradient {index} has {found} components, gradient 0 has {expected}")]
    RaggedGradients {
        /// Index of the first vector whose length differs.
        index: usize,
        /// Length of gradient 0.
        expected: usize,
        /// Length of the offending vector.
        found: usize,
    },
    /// Gradient vectors with no components at all.
    #[error("gradient vectors are empty (n = 0)")]
    EmptyGradients,
    /// A NaN or infinite gradient component.
    #[error("gradient {index} component {component} is not finite ({value})")]
    NonFiniteGradient {
        /// The objective.
        index: usize,
        /// The component.
        component: usize,
        /// The value, as f64.
        value: f64,
    },
    /// A vector given for the problem has the wrong length.
    #[error("{what} has {found} components, the problem has {expected} parameters")]
    DimensionMismatch {
        /// What the vector is (`"start"`, `"region"`, …).
        what: String,
        /// The problem's dimension n.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// A parameter of a run is out of its range.
    #[error("invalid {name}: {reason}")]
    InvalidParameter {
        /// The parameter's name as the user spells it (`"step_size"`, `"eps_switch"`, …).
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No built-in problem has this name.
    #[error("unknown problem `{name}` (see `bflow problems` for the built-in ones)")]
    UnknownProblem {
        /// The name asked for.
        name: String,
    },
    /// A start point where some loss or gradient is NaN or infinite.
    #[error("objective {} is not finite at the start point", .index + 1)]
    NonFiniteStart {
        /// The objective (0-based; printed 1-based, as problem files number them).
        index: usize,
    },
    /// Bad input in a gradients file (one gradient per row), at a known line and column.
    #[error("{file}:{line}:{column}: {message}")]
    GradientsFile {
        /// The file (as the caller named it).
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column, in characters.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// Bad input in a problem file, at a known line and column.
    #[error("{file}:{line}:{column}: {message}")]
    ProblemFile {
        /// The file (as the caller named it).
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column, in characters.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// Bad input in a problem file where no position is known: names the field.
    #[error("{file}: `{field}`: {message}")]
    ProblemFileField {
        /// The file (as the caller named it).
        file: String,
        /// The field (`"objective"`, `"start"`, …).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A problem file that cannot be read.
    #[error("cannot read {file}: {message}")]
    ProblemFileRead {
        /// The path.
        file: String,
        /// The I/O error, as text.
        message: String,
    },
    /// Mapping needs a box to sample starts in, and the problem has none.
    #[error(
        "problem `{problem}` has no region: mapping needs a box (`region`) to sample starts in"
    )]
    MissingRegion {
        /// The problem's name.
        problem: String,
    },
    /// A file that bflow refuses to read, or cannot: no such file, not a regular file (a
    /// FIFO, a device, a directory, a socket), larger than the cap for its kind, or an I/O
    /// failure. The message says which, with the figures.
    #[error("{file}: {message}")]
    FileRead {
        /// The path, as the caller named it.
        file: String,
        /// What is wrong (`"no such file"`, `"not a regular file (a FIFO)"`, …).
        message: String,
    },
    /// Bad content in a binary array file (`.npy`): dtype, shape, truncation.
    #[error("{file}: {message}")]
    ArrayFile {
        /// The path, as the caller named it.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A Gram matrix that no set of gradients can have: asymmetric beyond rounding, a
    /// negative diagonal entry, |G_ij| > √(G_ii G_jj), or a non-finite entry.
    #[error("not a Gram matrix: {message}")]
    InvalidGram {
        /// What is wrong, naming the entry (1-based, as `G[i,j]`).
        message: String,
    },
    /// An error at one step of a trajectory (0-based step, printed as it is numbered in
    /// the input).
    #[error("step {step}: {source}")]
    AtStep {
        /// The step.
        step: usize,
        /// What went wrong there.
        source: Box<Error>,
    },
    /// An output that would need more memory than its documented cap.
    #[error("{what} needs {needed_bytes} bytes ({}), above the cap of {cap_bytes} bytes ({}){hint}",
        crate::files::human_bytes(*.needed_bytes), crate::files::human_bytes(*.cap_bytes))]
    TooLarge {
        /// What would be built (`"the 10000×10000 cosine matrix"`).
        what: String,
        /// Bytes it would need.
        needed_bytes: u64,
        /// The cap.
        cap_bytes: u64,
        /// What to do instead (may be empty; starts with `"; "` when not).
        hint: String,
    },
    /// Shard outputs that cannot be merged into one map.
    #[error("cannot merge shards: {reason}")]
    ShardMismatch {
        /// What differs or is missing.
        reason: String,
    },
    /// A map checkpoint that cannot be resumed: of another map, or not a checkpoint.
    #[error("line {line}: {reason}")]
    Checkpoint {
        /// 1-based line of the checkpoint.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// `Result` with bflow's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// `Ok` when `needed ≤ cap` bytes; otherwise [`Error::TooLarge`] for `what`, with both
/// figures and the `hint` (empty, or starting with `"; "`).
pub(crate) fn within_cap(
    needed: u64,
    cap: u64,
    what: impl FnOnce() -> String,
    hint: &str,
) -> Result<()> {
    if needed <= cap {
        return Ok(());
    }
    Err(Error::TooLarge {
        what: what(),
        needed_bytes: needed,
        cap_bytes: cap,
        hint: hint.into(),
    })
}

/// Whether `c` would act on a terminal or on the text around it rather than show: a
/// control character (an escape sequence's start, a bell, a newline) or a bidirectional
/// formatting character (U+200E–U+200F, U+202A–U+202E, U+2066–U+2069), which reorders
/// what follows it.
pub(crate) fn unprintable(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every [`unprintable`] character escaped (`\u{1b}`, `\n`, `\u{202e}`):
/// messages and reports quote what a user wrote, and a terminal must not take a quoted
/// escape sequence for a command, nor a quoted newline break a message's one line.
pub(crate) fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if unprintable(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
