//! Checkpoints of a map: every start's record on disk, so a stopped map resumes where it
//! stopped and gives the map an uninterrupted run gives.
//!
//! A checkpoint is JSON Lines (UTF-8, one JSON value per line, each ended by `\n`):
//!
//! * line 1, the header ([`CheckpointHeader`]): `format` (`"bflow-map-checkpoint"`),
//!   `version` (4), `problem` (its name), `fingerprint` ([`problem_fingerprint`]; a value
//!   that is not finite is written as the string `"NaN"`, `"inf"` or `"-inf"`),
//!   `problem_source` (what the problem was loaded from: a built-in name or a file path) and
//!   `params` (the [`MapParams`]: everything that decides the result);
//! * every further line, one [`StartRecord`] in start order: `index`, `start`, `searches`
//!   (per searcher: `searcher`, `outcome`, `point`, `B`, `steps`, `polish_steps`).
//!
//! [`resume`] reads a checkpoint back into a [`Mapper`]: the header must be this map's
//! ([`CheckpointHeader::compare_line`] names what differs), then every record is fed in
//! order. A last line without its `\n` is a write cut short by a kill: it is ignored, and
//! [`Resumed::valid_bytes`] says where the caller should cut the file before appending. Any
//! other line that is not a record of this map is an error naming the line. Memory does not
//! grow with the records read (unless they are kept for the map's `records`).
//!
//! Floats are written by `serde_json` with the shortest representation that reads back to
//! the same bits, so a resumed map equals the uninterrupted one exactly.

use std::io::{BufRead, Read};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::search::StartRecord;
use super::{MapParams, Mapper, problem_fingerprint};
use crate::error::{Error, Result};
use crate::problems::Problem;

/// The `format` field of a checkpoint's header.
pub const CHECKPOINT_FORMAT: &str = "bflow-map-checkpoint";

/// The version of the checkpoint format this bflow reads and writes. 2: the searches'
/// line searches interpolate and the rounds end at quarters, so records of version 1 are
/// not what this bflow would compute, and a map resumed from them would mix the two. 3: the
/// first round of a 3-D map with mode starts is 128 starts, not 256, and an adaptive map
/// stops only once its hits bound the missing mass below ½, so a version-2 checkpoint can
/// hold records past the round where this bflow stops, or stop where this bflow would not.
/// 4: an adaptive map's searches end where they enter the certified box of an equilibrium an
/// earlier block of starts found, so a version-3 record of an adaptive map is a search run
/// to its end that this bflow would have ended early (with other steps, and sometimes
/// another outcome).
pub const CHECKPOINT_VERSION: u32 = 4;

/// The longest line a checkpoint may have, in bytes: a record of [`super::MAX_MAP_DIM`]
/// parameters and three searches takes well under a tenth of it.
pub const MAX_CHECKPOINT_LINE: usize = 1 << 20;

/// The first line of a checkpoint: which map its records belong to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointHeader {
    /// [`CHECKPOINT_FORMAT`].
    pub format: String,
    /// [`CHECKPOINT_VERSION`].
    pub version: u32,
    /// The problem's name.
    pub problem: String,
    /// [`problem_fingerprint`], compared bit for bit (NaN equal to NaN).
    #[serde(with = "exact_floats")]
    pub fingerprint: Vec<f64>,
    /// What the problem was loaded from (a built-in name or a file path).
    pub problem_source: String,
    /// The map's parameters.
    pub params: MapParams,
}

impl CheckpointHeader {
    /// The header of a map of `problem` (loaded from `source`) with `params`.
    ///
    /// # Errors
    /// As [`problem_fingerprint`].
    pub fn new(problem: &Problem<f64>, source: &str, params: &MapParams) -> Result<Self> {
        Ok(Self {
            format: CHECKPOINT_FORMAT.into(),
            version: CHECKPOINT_VERSION,
            problem: problem.name.clone(),
            fingerprint: problem_fingerprint(problem)?,
            problem_source: source.into(),
            params: params.clone(),
        })
    }

    /// The header as its line of the file (ending in `\n`).
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).unwrap_or_default();
        line.push('\n');
        line
    }

    /// Compares the header line of a checkpoint (without its `\n`) with this one.
    ///
    /// # Errors
    /// What differs, in one line: the format or version, the problem's name, its
    /// fingerprint, its source, or each parameter that differs with both values.
    pub fn compare_line(&self, line: &str) -> std::result::Result<(), String> {
        let not_ours = || {
            format!(
                "not a bflow map checkpoint (its first line is not a {CHECKPOINT_FORMAT} header)"
            )
        };
        let found: serde_json::Value = serde_json::from_str(line).map_err(|_| not_ours())?;
        if found["format"] != CHECKPOINT_FORMAT {
            return Err(not_ours());
        }
        if found["version"] != CHECKPOINT_VERSION {
            return Err(format!(
                "checkpoint format version {} (this bflow reads version {CHECKPOINT_VERSION})",
                found["version"]
            ));
        }
        let here = serde_json::to_value(self).map_err(|e| e.to_string())?;
        let mut differences = Vec::new();
        let shown = |v: &serde_json::Value| match v {
            serde_json::Value::Null => "none".to_string(),
            v => v.to_string(),
        };
        for field in ["problem", "problem_source"] {
            if found[field] != here[field] {
                differences.push(format!(
                    "{field} {} in the checkpoint, {} now",
                    shown(&found[field]),
                    shown(&here[field])
                ));
            }
        }
        let fingerprint: Option<Vec<f64>> = exact_floats::deserialize(&found["fingerprint"]).ok();
        let same_fingerprint = fingerprint.is_some_and(|f| {
            f.len() == self.fingerprint.len()
                && f.iter()
                    .zip(&self.fingerprint)
                    .all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()))
        });
        if !same_fingerprint {
            differences.push("the problem's objectives (fingerprints differ)".into());
        }
        let empty = serde_json::Map::new();
        let theirs = found["params"].as_object().unwrap_or(&empty);
        let ours = here["params"].as_object().unwrap_or(&empty);
        for (key, value) in ours {
            let other = theirs.get(key).unwrap_or(&serde_json::Value::Null);
            if other != value {
                differences.push(format!(
                    "{key} {} in the checkpoint, {} now",
                    shown(other),
                    shown(value)
                ));
            }
        }
        for key in theirs.keys().filter(|k| !ours.contains_key(*k)) {
            differences.push(format!("parameter {key} in the checkpoint is unknown"));
        }
        if differences.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "the checkpoint is of another map: {}",
                differences.join("; ")
            ))
        }
    }
}

/// A record as its line of a checkpoint (ending in `\n`).
pub fn record_line(record: &StartRecord) -> String {
    let mut line = serde_json::to_string(record).unwrap_or_default();
    line.push('\n');
    line
}

/// What [`resume`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resumed {
    /// The file had a complete header (otherwise it was empty, or held only part of this
    /// map's header line: the caller writes the header anew).
    pub header: bool,
    /// Records fed to the mapper.
    pub records: usize,
    /// Bytes of complete lines: where the caller cuts the file before appending.
    pub valid_bytes: u64,
    /// Bytes of the partial last line ignored (0 when the file ended with a complete line).
    pub torn_bytes: u64,
}

/// Reads one line (with its `\n`, when it has one) of at most [`MAX_CHECKPOINT_LINE`] bytes.
fn read_line<R: BufRead>(reader: &mut R, buf: &mut Vec<u8>, line: usize) -> Result<()> {
    buf.clear();
    let limit = MAX_CHECKPOINT_LINE as u64 + 1;
    Read::take(&mut *reader, limit)
        .read_until(b'\n', buf)
        .map_err(|e| Error::Checkpoint {
            line,
            reason: format!("cannot read: {e}"),
        })?;
    if buf.len() > MAX_CHECKPOINT_LINE {
        return Err(Error::Checkpoint {
            line,
            reason: format!("line longer than {MAX_CHECKPOINT_LINE} bytes: not a record"),
        });
    }
    Ok(())
}

/// Reads a checkpoint of the map `header` describes and feeds its records to `mapper` (see
/// the module docs); `seen` sees each record first (to keep a sample, say), and `keep`
/// keeps them in the mapper as [`Mapper::feed`] does.
///
/// # Errors
/// [`Error::Checkpoint`] naming the line: a header of another map (what differs), a line
/// that is not JSON of a record, a record that does not continue the map, a line too long or
/// not readable.
pub fn resume<R: BufRead>(
    mut reader: R,
    header: &CheckpointHeader,
    mapper: &mut Mapper<'_>,
    keep: bool,
    seen: &mut dyn FnMut(&StartRecord),
) -> Result<Resumed> {
    let mut buf = Vec::new();
    read_line(&mut reader, &mut buf, 1)?;
    let expected = header.to_line();
    let mut resumed = Resumed {
        header: false,
        records: 0,
        valid_bytes: 0,
        torn_bytes: 0,
    };
    if buf.last() != Some(&b'\n') {
        // Empty, or the header cut short by a kill: only a prefix of this very header line is
        // taken as such (anything else is some other file, not to be overwritten).
        if expected.as_bytes().starts_with(&buf) {
            resumed.torn_bytes = buf.len() as u64;
            return Ok(resumed);
        }
        return Err(Error::Checkpoint {
            line: 1,
            reason: format!(
                "not a bflow map checkpoint (its first line is not a {CHECKPOINT_FORMAT} header)"
            ),
        });
    }
    let text = std::str::from_utf8(&buf[..buf.len() - 1]).unwrap_or("");
    header
        .compare_line(text)
        .map_err(|reason| Error::Checkpoint { line: 1, reason })?;
    resumed.header = true;
    resumed.valid_bytes = buf.len() as u64;
    for line in 2.. {
        read_line(&mut reader, &mut buf, line)?;
        if buf.is_empty() {
            break;
        }
        if buf.last() != Some(&b'\n') {
            resumed.torn_bytes = buf.len() as u64;
            break;
        }
        let record: StartRecord =
            serde_json::from_slice(&buf[..buf.len() - 1]).map_err(|e| Error::Checkpoint {
                line,
                reason: format!("not a start record: {e}"),
            })?;
        seen(&record);
        mapper.feed(record, keep).map_err(|e| Error::Checkpoint {
            line,
            reason: match e {
                Error::InvalidParameter { reason, .. } => reason,
                other => other.to_string(),
            },
        })?;
        resumed.records += 1;
        resumed.valid_bytes += buf.len() as u64;
    }
    Ok(resumed)
}

/// Vectors of floats that keep NaN and ±∞: finite values as JSON numbers, the others as the
/// strings `"NaN"`, `"inf"`, `"-inf"`.
mod exact_floats {
    use super::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Float {
        Finite(f64),
        Named(String),
    }

    pub fn serialize<S: Serializer>(v: &[f64], serializer: S) -> Result<S::Ok, S::Error> {
        v.iter()
            .map(|&x| {
                if x.is_finite() {
                    Float::Finite(x)
                } else if x.is_nan() {
                    Float::Named("NaN".into())
                } else if x > 0.0 {
                    Float::Named("inf".into())
                } else {
                    Float::Named("-inf".into())
                }
            })
            .collect::<Vec<_>>()
            .serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<f64>, D::Error> {
        Vec::<Float>::deserialize(deserializer)?
            .into_iter()
            .map(|f| match f {
                Float::Finite(x) => Ok(x),
                Float::Named(s) => match s.as_str() {
                    "NaN" => Ok(f64::NAN),
                    "inf" => Ok(f64::INFINITY),
                    "-inf" => Ok(f64::NEG_INFINITY),
                    _ => Err(serde::de::Error::custom(format!("`{s}` is not a number"))),
                },
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::Outcome;
    use crate::map::tests::{run_with_records, untimed};

    fn checkpoint_of(header: &CheckpointHeader, records: &[StartRecord]) -> Vec<u8> {
        let mut text = header.to_line();
        for r in records {
            text.push_str(&record_line(r));
        }
        text.into_bytes()
    }

    #[test]
    fn a_checkpoint_cut_anywhere_in_a_line_resumes_to_the_uninterrupted_map() {
        let p = crate::problems::himmelblau_split::<f64>();
        let params = MapParams {
            starts: Some(40),
            seed: 9,
            searchers: vec![
                crate::map::Searcher::Newton,
                crate::map::Searcher::Bflow,
                crate::map::Searcher::Lossflow,
            ],
            ..MapParams::default()
        };
        let (whole, records) = run_with_records(&p, &params);
        let header = CheckpointHeader::new(&p, "himmelblau-split", &params).unwrap();
        let full = checkpoint_of(&header, &records);
        for m in [0, 1, 17, 39, 40] {
            let complete = checkpoint_of(&header, &records[..m]);
            // The next line cut short (or nothing more, when m = 40).
            let next = full[complete.len()..].iter().position(|&b| b == b'\n');
            let cuts = match next {
                Some(k) => vec![0, 1, k / 2, k],
                None => vec![0],
            };
            for cut in cuts {
                let bytes = &full[..complete.len() + cut];
                let mut mapper = Mapper::new(&p, &params).unwrap();
                let mut seen = 0;
                let r = resume(bytes, &header, &mut mapper, false, &mut |_| seen += 1).unwrap();
                assert_eq!(
                    r,
                    Resumed {
                        header: true,
                        records: m,
                        valid_bytes: complete.len() as u64,
                        torn_bytes: cut as u64,
                    }
                );
                assert_eq!(seen, m);
                let again = crate::map::tests::map_run(mapper);
                assert_eq!(untimed(&again), untimed(&whole), "{m} records, cut {cut}");
            }
        }
    }

    #[test]
    fn a_header_of_another_map_is_refused_naming_what_differs() {
        let p = crate::problems::himmelblau_split::<f64>();
        let params = MapParams {
            starts: Some(10),
            ..MapParams::default()
        };
        let header = CheckpointHeader::new(&p, "himmelblau-split", &params).unwrap();
        let other = CheckpointHeader::new(
            &p,
            "himmelblau-split",
            &MapParams {
                seed: 5,
                bflow_steps: 7,
                ..params.clone()
            },
        )
        .unwrap();
        let line = other.to_line();
        let err = header.compare_line(line.trim_end()).unwrap_err();
        assert_eq!(
            err,
            "the checkpoint is of another map: bflow_steps 7 in the checkpoint, 200 now; seed 5 \
             in the checkpoint, 0 now"
        );
        let mut mapper = Mapper::new(&p, &params).unwrap();
        let e = resume(line.as_bytes(), &header, &mut mapper, false, &mut |_| {}).unwrap_err();
        assert!(matches!(e, Error::Checkpoint { line: 1, .. }), "{e}");

        // Another problem: name, source and objectives differ.
        let q = crate::problems::builtin::<f64>("branin-split").unwrap();
        let theirs = CheckpointHeader::new(&q, "branin-split", &params).unwrap();
        let err = header
            .compare_line(theirs.to_line().trim_end())
            .unwrap_err();
        assert!(
            err.contains("problem \"branin-split\" in the checkpoint, \"himmelblau-split\" now")
        );
        assert!(err.contains("fingerprints differ"), "{err}");

        // The same problem with its fingerprint changed in the last bit.
        let mut nudged = header.clone();
        nudged.fingerprint[2] = f64::from_bits(nudged.fingerprint[2].to_bits() ^ 1);
        let err = header
            .compare_line(nudged.to_line().trim_end())
            .unwrap_err();
        assert!(
            err.ends_with("the problem's objectives (fingerprints differ)"),
            "{err}"
        );

        // NaN and infinities survive the file and compare equal to themselves.
        let mut odd = header.clone();
        odd.fingerprint = vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY];
        let line = odd.to_line();
        assert!(
            line.contains(r#""fingerprint":["NaN","inf","-inf"]"#),
            "{line}"
        );
        assert_eq!(odd.compare_line(line.trim_end()), Ok(()));
        let back: CheckpointHeader = serde_json::from_str(&line).unwrap();
        assert!(back.fingerprint[0].is_nan() && back.fingerprint[1] == f64::INFINITY);

        // Not a checkpoint at all, and a newer version.
        assert!(
            header
                .compare_line("{\"a\": 1}")
                .unwrap_err()
                .contains("not a bflow map checkpoint")
        );
        let newer = line.replace("\"version\":4", "\"version\":5");
        assert!(
            odd.compare_line(newer.trim_end())
                .unwrap_err()
                .contains("version 5")
        );
        // And older ones: version 1's records were made by other searches, version 2's
        // rounds in 3-D were longer, version 3's adaptive searches never ended early.
        for v in [1, 2, 3] {
            let older = line.replace("\"version\":4", &format!("\"version\":{v}"));
            assert!(
                odd.compare_line(older.trim_end())
                    .unwrap_err()
                    .contains(&format!("version {v}"))
            );
        }
    }

    #[test]
    fn torn_headers_damaged_records_and_foreign_files() {
        let p = crate::problems::himmelblau_split::<f64>();
        let params = MapParams {
            starts: Some(12),
            ..MapParams::default()
        };
        let (_, records) = run_with_records(&p, &params);
        let header = CheckpointHeader::new(&p, "x", &params).unwrap();
        let line = header.to_line();
        let fresh = |bytes: &[u8]| {
            let mut mapper = Mapper::new(&p, &params).unwrap();
            resume(bytes, &header, &mut mapper, false, &mut |_| {})
        };
        // Empty, or part of this header: start afresh (the caller rewrites the header).
        for cut in [0, 1, line.len() - 1] {
            let r = fresh(&line.as_bytes()[..cut]).unwrap();
            assert!(!r.header && r.records == 0 && r.valid_bytes == 0);
            assert_eq!(r.torn_bytes, cut as u64);
        }
        // One line of something else, without a newline, is not taken for a torn header.
        let e = fresh(b"{\"some\": \"json\"}").unwrap_err();
        assert!(e.to_string().contains("not a bflow map checkpoint"), "{e}");
        // A damaged complete line names its line.
        let mut bytes = checkpoint_of(&header, &records[..3])
            .into_iter()
            .collect::<Vec<u8>>();
        bytes.extend_from_slice(b"{\"index\": 3, garbage\n");
        bytes.extend_from_slice(record_line(&records[4]).as_bytes());
        let e = fresh(&bytes).unwrap_err();
        assert!(matches!(e, Error::Checkpoint { line: 5, .. }), "{e}");
        // A record that skips a start names its line too.
        let mut skipped = records[..2].to_vec();
        skipped.push(records[3].clone());
        let e = fresh(&checkpoint_of(&header, &skipped)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 4: record 3 does not continue this map (expected start 2 with 4 searches of \
             2 parameters)"
        );
        // A record whose start is not its index's, or whose equilibrium is none, is refused:
        // resumed, it would put a false equilibrium on the map.
        let mut moved = records[..3].to_vec();
        moved[2].start[0] += 0.25;
        let e = fresh(&checkpoint_of(&header, &moved)).unwrap_err();
        assert!(
            e.to_string().starts_with("line 4: record 2: its start [")
                && e.to_string().contains("is not start 2 of this map"),
            "{e}"
        );
        let mut false_equilibrium = records[..3].to_vec();
        let search = false_equilibrium[1]
            .searches
            .iter_mut()
            .find(|s| s.outcome == Outcome::Equilibrium)
            .expect("a search of start 1 reached an equilibrium");
        let searcher = search.searcher;
        search.point = Some(vec![0.5, 0.5]);
        let e = fresh(&checkpoint_of(&header, &false_equilibrium)).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "line 3: record 1: its `{searcher}` search ends at [0.5, 0.5], which is no \
                 equilibrium inside the region"
            )
        );
        // The records as written resume.
        assert_eq!(
            fresh(&checkpoint_of(&header, &records)).unwrap().records,
            12
        );
        // A line longer than the cap is refused, not read into memory.
        let mut long = line.clone().into_bytes();
        long.extend(std::iter::repeat_n(b' ', MAX_CHECKPOINT_LINE + 10));
        let e = fresh(&long).unwrap_err();
        assert!(e.to_string().contains("longer than"), "{e}");
    }
}
