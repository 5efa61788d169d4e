//! `bflow bench map PROBLEM [--peers]`: the time bflow's adaptive default map takes to the
//! complete set of equilibria, and with `--peers` the time scipy's multi-start
//! (`peers/peers.py map`) takes to the same set.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use clap::Args;

use super::problem_arg::{load_problem_file_arg, load_problem_named};
use super::{CliError, check_writable, write_file};
use crate::experiment::map_bench::{
    MapBench, MapRun, PeerLimits, PeerMapRun, map_once, parse_peer_run, peer_run, peers_input,
    summarise_bflow, summarise_peer,
};

/// Flags of `bflow bench map`.
#[derive(Debug, Args)]
pub struct MapBenchArgs {
    /// A built-in problem name or a path to a problem file; it must have a region (--peers
    /// needs a problem file: its expressions are what scipy evaluates).
    pub problem: String,
    /// Also run scipy's multi-start (root, method "hybr", exact Jacobian, Halton starts) to
    /// the set bflow found; needs python3 with scipy and sympy.
    #[arg(long)]
    pub peers: bool,
    /// The first Halton seed; repeat r uses seed + r (bflow and scipy alike).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Repeats (medians are reported).
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    /// scipy's start cap per repeat.
    #[arg(long, value_name = "N", default_value_t = 200_000)]
    pub peer_max_starts: usize,
    /// scipy's time cap per repeat, seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    pub peer_max_time: f64,
    /// The peers script.
    #[arg(long, value_name = "PATH", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/peers/peers.py"))]
    pub peers_script: PathBuf,
    /// Write the figures (and every repeat) as JSON.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
}

/// Runs `bflow bench map`.
pub fn bench_map(args: &MapBenchArgs) -> Result<(), CliError> {
    super::bench::check_repeats(args.repeats)?;
    if args.peer_max_starts == 0 {
        return Err(CliError::input("--peer-max-starts: must be at least 1"));
    }
    if !(args.peer_max_time.is_finite() && args.peer_max_time > 0.0) {
        return Err(CliError::input(format!(
            "--peer-max-time: must be a number of seconds > 0, got {}",
            super::short_number(args.peer_max_time)
        )));
    }
    if let Some(path) = &args.json {
        check_writable("--json", path)?;
    }
    // The expression trees, for the peer: only a problem file has them.
    let file = if args.peers {
        match load_problem_file_arg(&args.problem)? {
            Some(file) => Some(file),
            None => {
                return Err(CliError::input(format!(
                    "--peers: `{}` is a built-in problem without expressions scipy can \
                     evaluate; give a problem file (examples/problems/*.toml)",
                    args.problem
                )));
            }
        }
    } else {
        None
    };
    let problem = match &file {
        Some(file) => file.clone().into_problem(),
        None => load_problem_named(&args.problem)?.0,
    };
    let Some(region) = problem.region.clone() else {
        return Err(CliError::input(format!(
            "{}: the problem has no region to map",
            args.problem
        )));
    };
    if args.peers {
        check_peer(&args.peers_script)?;
    }

    let scale = region
        .iter()
        .map(|&(lo, hi)| hi - lo)
        .fold(0.0_f64, f64::max);
    let limits = PeerLimits {
        max_starts: args.peer_max_starts,
        max_seconds: args.peer_max_time,
        tolerance: 1e-6 * scale,
    };
    // The peer builds its functions first (not timed); then bflow's map of each seed and
    // scipy's run of it, back to back.
    let mut peer = match &file {
        Some(file) => {
            let input = peers_input(file, &limits).map_err(CliError::input)?;
            Some(Peer::start(&args.peers_script, &input)?)
        }
        None => None,
    };
    let mut runs: Vec<MapRun> = Vec::with_capacity(args.repeats);
    let mut peer_runs: Vec<PeerMapRun> = Vec::with_capacity(args.repeats);
    for r in 0..args.repeats {
        let seed = args.seed.wrapping_add(r as u64);
        let run = map_once(&problem, seed).map_err(CliError::input)?;
        if let Some(peer) = &mut peer {
            peer_runs.push(peer.run(&run)?);
        }
        runs.push(run);
    }
    if let Some(peer) = peer {
        peer.finish()?;
    }
    let bflow = summarise_bflow(runs);
    let seeds = if args.repeats == 1 {
        format!("seed {}", args.seed)
    } else {
        format!(
            "seeds {}–{}",
            args.seed,
            args.seed.wrapping_add(args.repeats as u64 - 1)
        )
    };
    outln!(
        "bench map {} (n = {}, K = {}): medians over {} repeat{}, {seeds}",
        problem.name,
        problem.dim(),
        problem.num_objectives(),
        args.repeats,
        if args.repeats == 1 { "" } else { "s" }
    );
    outln!(
        "bflow  adaptive default map: {:.3} s, {} starts, {} equilibria, stop {}, {:.0} starts/s ({} threads)",
        bflow.seconds,
        bflow.starts,
        bflow.found,
        bflow.stopped,
        bflow.starts_per_second,
        bflow.threads
    );
    if let (Some(cpu), Some(waiting)) = (bflow.cpu_seconds, bflow.waiting_seconds) {
        outln!(
            "       the process's threads: {cpu:.3} s on a CPU, {waiting:.3} s ready but waiting \
             for one (medians; CPU ÷ wall {:.1} with {} workers)",
            cpu / bflow.seconds,
            bflow.threads
        );
    }

    let scipy = match &file {
        None => None,
        Some(_) => {
            let s = summarise_peer(peer_runs, limits, bflow.seconds);
            outln!(
                "scipy  root(hybr) multi-start: {:.3} s, {} starts, {} roots, complete set reached in {}/{} repeats{}",
                s.seconds,
                s.starts,
                s.found,
                s.complete_runs,
                s.runs.len(),
                if s.complete {
                    String::new()
                } else {
                    format!(
                        " (caps: {} starts, {} s)",
                        limits.max_starts,
                        super::short_number(limits.max_seconds)
                    )
                }
            );
            let bound = if s.complete { "" } else { "≥ " };
            if s.ratio >= 1.0 || !s.complete {
                outln!(
                    "ratio  scipy s / bflow s = {bound}{:.2}: bflow is {bound}{:.1}× faster to the complete set{}",
                    s.ratio,
                    s.ratio,
                    if s.complete {
                        ""
                    } else {
                        " (scipy did not reach it in every repeat)"
                    }
                );
            } else {
                outln!(
                    "ratio  scipy s / bflow s = {:.2}: scipy is {:.1}× faster to the complete set",
                    s.ratio,
                    1.0 / s.ratio
                );
            }
            Some(s)
        }
    };
    if let Some(path) = &args.json {
        let report = MapBench {
            problem: problem.name.clone(),
            n: problem.dim(),
            k: problem.num_objectives(),
            repeats: args.repeats,
            seed: args.seed,
            bflow,
            scipy,
        };
        let text = serde_json::to_string_pretty(&report).map_err(CliError::failure)?;
        write_file(path, &text)?;
    }
    Ok(())
}

/// Maps the peer script's exit status to an error: 3 scipy missing, 4 sympy missing.
fn peer_status(
    script: &Path,
    status: std::io::Result<std::process::ExitStatus>,
) -> Result<(), CliError> {
    match status {
        Err(e) => Err(spawn_error(&e)),
        Ok(s) if s.code() == Some(3) => Err(CliError::failure(
            "--peers needs scipy: python3 -m pip install scipy",
        )),
        Ok(s) if s.code() == Some(4) => Err(CliError::failure(
            "--peers needs sympy: python3 -m pip install sympy",
        )),
        Ok(s) if !s.success() => Err(CliError::failure(format!(
            "--peers: {} exited with {s}",
            script.display()
        ))),
        Ok(_) => Ok(()),
    }
}

/// Why python3 could not be started.
fn spawn_error(e: &std::io::Error) -> CliError {
    if e.kind() == std::io::ErrorKind::NotFound {
        CliError::failure(
            "--peers needs python3 with scipy and sympy (python3 -m pip install scipy sympy); \
             python3 not found",
        )
    } else {
        CliError::failure(format!("--peers: cannot run python3: {e}"))
    }
}

/// Checks before any timing that python3 can run the script with scipy and sympy.
fn check_peer(script: &Path) -> Result<(), CliError> {
    let status = Command::new("python3")
        .arg(script)
        .args(["map", "--check"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    peer_status(script, status)
}

/// `python3 SCRIPT map` running beside the maps: the problem goes in first, then one run per
/// line, each answered on one line (see `peers.py`'s `map` header).
struct Peer<'a> {
    script: &'a Path,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl<'a> Peer<'a> {
    /// Starts the script, sends the problem and waits until its functions are built.
    fn start(script: &'a Path, input: &serde_json::Value) -> Result<Self, CliError> {
        let mut child = Command::new("python3")
            .arg(script)
            .arg("map")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| spawn_error(&e))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(CliError::failure("--peers: no pipes to python3"));
        };
        let mut peer = Peer {
            script,
            child,
            stdin,
            stdout: BufReader::new(stdout),
        };
        peer.send(input)?;
        let line = peer.answer()?;
        if serde_json::from_str::<serde_json::Value>(&line)
            .ok()
            .and_then(|v| v.get("ready").and_then(serde_json::Value::as_bool))
            != Some(true)
        {
            return Err(CliError::failure(format!(
                "--peers: {} did not say it was ready: `{}`",
                script.display(),
                line.trim()
            )));
        }
        Ok(peer)
    }

    /// One line to the script.
    fn send(&mut self, v: &serde_json::Value) -> Result<(), CliError> {
        let mut line = serde_json::to_string(v).map_err(CliError::failure)?;
        line.push('\n');
        // A script that exited closes the pipe; its exit status says why.
        if self
            .stdin
            .write_all(line.as_bytes())
            .and_then(|()| self.stdin.flush())
            .is_err()
        {
            return Err(self.failed());
        }
        Ok(())
    }

    /// The script's next line; its exit status as the error when there is none.
    fn answer(&mut self) -> Result<String, CliError> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(n) if n > 0 => Ok(line),
            _ => Err(self.failed()),
        }
    }

    /// scipy's run to the equilibria bflow's map `run` found.
    fn run(&mut self, run: &MapRun) -> Result<PeerMapRun, CliError> {
        self.send(&peer_run(run))?;
        let line = self.answer()?;
        let peer = parse_peer_run(&line).map_err(CliError::failure)?;
        if peer.seed != run.seed {
            return Err(CliError::failure(format!(
                "--peers: {} answered seed {} for seed {}",
                self.script.display(),
                peer.seed,
                run.seed
            )));
        }
        Ok(peer)
    }

    /// Closes the script's input and checks that it exited cleanly.
    fn finish(self) -> Result<(), CliError> {
        let Peer {
            script,
            mut child,
            stdin,
            ..
        } = self;
        drop(stdin);
        peer_status(script, child.wait())
    }

    /// Why the script stopped answering: its exit status (3, 4: scipy, sympy missing).
    fn failed(&mut self) -> CliError {
        let status = self.child.wait();
        match peer_status(self.script, status) {
            Err(e) => e,
            Ok(()) => CliError::failure(format!(
                "--peers: {} stopped answering",
                self.script.display()
            )),
        }
    }
}
