//! Running ffmpeg: progress from `-progress pipe:1`, CPU time from `-benchmark`
//! (`bench: utime=..s stime=..s`, the child's own rusage, so no `unsafe` is needed here), the
//! tail of stderr for error reasons, and a kill when the job is cancelled or dropped.

use std::collections::VecDeque;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_util::sync::CancellationToken;
use tracing::instrument;

/// Lines of stderr kept for error reports.
const TAIL_LINES: usize = 12;

/// What a finished ffmpeg run cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunStats {
    /// User + system CPU seconds of the process (all its threads).
    pub cpu_secs: f64,
    pub wall: Duration,
}

/// An ffmpeg run that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum FfmpegError {
    #[error("cannot run {program}: {source}")]
    Spawn { program: String, source: std::io::Error },
    #[error("cancelled")]
    Cancelled,
    #[error("ffmpeg exited with {status}: {tail}")]
    Failed {
        status: String,
        /// The last meaningful stderr lines.
        tail: String,
        /// Whether the input is at fault (corrupt, unsupported): retrying cannot help.
        input_fault: bool,
    },
}

/// Parses `bench: utime=1.234s stime=0.056s rtime=...` into user + system seconds.
pub fn parse_bench(line: &str) -> Option<f64> {
    let rest = line.trim().strip_prefix("bench:")?;
    let mut total = None;
    for part in rest.split_whitespace() {
        if let Some(v) = part.strip_prefix("utime=").or_else(|| part.strip_prefix("stime=")) {
            let secs: f64 = v.trim_end_matches('s').parse().ok()?;
            total = Some(total.unwrap_or(0.0) + secs);
        }
    }
    total
}

/// `line` with every URL replaced by `<url>`: ffmpeg names its HTTP input in errors, and a
/// source's URL is presigned (a credential), while the tail goes into logs and failure events.
pub fn without_urls(line: &str) -> String {
    let words: Vec<&str> = line
        .split(' ')
        .map(|w| if w.contains("http://") || w.contains("https://") { "<url>" } else { w })
        .collect();
    words.join(" ")
}

/// Whether ffmpeg's error output blames the input (corrupt data, no decoder, no video), as
/// opposed to the machine (memory, disk, a killed process, a missing device).
pub fn is_input_fault(stderr_tail: &str) -> bool {
    const INPUT: [&str; 11] = [
        "invalid data found when processing input",
        "moov atom not found",
        "decoder (codec",
        "could not find codec parameters",
        "does not contain any stream",
        "stream specifier ':v' in filtergraph description",
        "matches no streams",
        "error while decoding stream",
        "unsupported codec",
        // The input fence refused the source's format or a protocol it tried to open.
        "not on whitelist",
        "not on the whitelist",
    ];
    let t = stderr_tail.to_ascii_lowercase();
    INPUT.iter().any(|p| t.contains(p))
}

/// One `-progress` value: the output position in seconds, or the end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ProgressEvent {
    At(f64),
    End,
}

/// Reads `-progress` key=value lines; yields at each `progress=` line that ends a block.
#[derive(Debug, Default)]
pub struct ProgressParser {
    out_us: Option<i64>,
}

impl ProgressParser {
    /// Feeds one line.
    pub fn feed(&mut self, line: &str) -> Option<ProgressEvent> {
        let (k, v) = line.trim().split_once('=')?;
        match k {
            "out_time_us" | "out_time_ms" => {
                // ffmpeg 5.1 prints microseconds under both names; "N/A" before the first frame.
                if let Ok(us) = v.parse::<i64>() {
                    self.out_us = Some(us.max(0));
                }
                None
            }
            "progress" if v == "end" => Some(ProgressEvent::End),
            "progress" => self.out_us.map(|us| ProgressEvent::At(us as f64 / 1e6)),
            _ => None,
        }
    }
}

/// CPU priority of an ffmpeg process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    Normal,
    /// `nice -n 19`: runs on what normal-priority processes leave idle (the rest of the ladder
    /// while the lowest rendition is being made), so the lowest rendition is not slowed down.
    Background,
}

fn command(ffmpeg: &Path, args: &[String], priority: Priority) -> tokio::process::Command {
    let mut cmd = match priority {
        Priority::Normal => tokio::process::Command::new(ffmpeg),
        Priority::Background => {
            // `nice` execs ffmpeg, so the child's pid (and kill) is ffmpeg's.
            let mut c = tokio::process::Command::new("nice");
            c.args(["-n", "19"]).arg(ffmpeg);
            c
        }
    };
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Runs `ffmpeg args`, calling `on_progress` with the output position; kills it when `cancel`
/// fires (or when this future is dropped).
#[instrument(skip_all, fields(?priority), err)]
pub async fn run(
    ffmpeg: &Path,
    args: &[String],
    priority: Priority,
    cancel: &CancellationToken,
    on_progress: &mut (dyn FnMut(ProgressEvent) + Send),
) -> Result<RunStats, FfmpegError> {
    let started = Instant::now();
    let spawn_err = |source| FfmpegError::Spawn { program: ffmpeg.display().to_string(), source };
    let mut child = match command(ffmpeg, args, priority).spawn() {
        Ok(c) => c,
        // No `nice` on this machine: run at normal priority.
        Err(e) if priority == Priority::Background && e.kind() == std::io::ErrorKind::NotFound => {
            command(ffmpeg, args, Priority::Normal).spawn().map_err(spawn_err)?
        }
        Err(e) => return Err(spawn_err(e)),
    };
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    // stderr: keep the CPU figure and the last lines, on a task so the pipe never fills up.
    let err_task = tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        let (mut cpu, mut tail) = (None, VecDeque::new());
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(c) = parse_bench(&line) {
                cpu = Some(c);
            } else if !line.trim().is_empty() && !line.starts_with("bench:") {
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(without_urls(&line));
            }
        }
        (cpu, Vec::from(tail).join("\n"))
    });
    let mut parser = ProgressParser::default();
    let mut out = BufReader::new(stdout).lines();
    let mut out_open = true;
    let status = loop {
        tokio::select! {
            _ = cancel.cancelled() => {
                let _ = child.kill().await;
                err_task.abort();
                return Err(FfmpegError::Cancelled);
            }
            line = out.next_line(), if out_open => match line {
                Ok(Some(l)) => {
                    if let Some(ev) = parser.feed(&l) {
                        on_progress(ev);
                    }
                }
                _ => out_open = false,
            },
            status = child.wait(), if !out_open => break status,
        }
    };
    let (cpu, tail) = err_task.await.unwrap_or((None, String::new()));
    let status = status
        .map_err(|source| FfmpegError::Spawn { program: ffmpeg.display().to_string(), source })?;
    if !status.success() {
        let input_fault = is_input_fault(&tail);
        return Err(FfmpegError::Failed { status: status.to_string(), tail, input_fault });
    }
    Ok(RunStats { cpu_secs: cpu.unwrap_or(0.0), wall: started.elapsed() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_benchmark_line_gives_user_plus_system_seconds() {
        assert_eq!(parse_bench("bench: utime=3.400s stime=0.115s rtime=2.118s"), Some(3.515));
        assert_eq!(parse_bench("bench: maxrss=97340kB"), None);
        assert_eq!(parse_bench("frame=1"), None);
    }

    #[test]
    fn progress_blocks_yield_the_output_position_and_the_end() {
        let mut p = ProgressParser::default();
        let lines = ["frame=0", "out_time_us=N/A", "progress=continue", "out_time_us=1500000"];
        let got: Vec<_> = lines.iter().filter_map(|l| p.feed(l)).collect();
        assert!(got.is_empty(), "no position before the first frame");
        assert_eq!(p.feed("progress=continue"), Some(ProgressEvent::At(1.5)));
        assert_eq!(p.feed("progress=end"), Some(ProgressEvent::End));
    }

    #[test]
    fn urls_never_reach_the_tail() {
        let l = "https://s3/b/k?X-Amz-Signature=abc: Server returned 404 Not Found";
        assert_eq!(without_urls(l), "<url> Server returned 404 Not Found");
        assert_eq!(
            without_urls("[in#0 @ 0x1] Error opening input file:/x"),
            "[in#0 @ 0x1] Error opening input file:/x"
        );
    }

    #[test]
    fn corrupt_or_undecodable_inputs_are_told_apart_from_machine_trouble() {
        assert!(is_input_fault("/x/source: Invalid data found when processing input"));
        assert!(is_input_fault("[mov,mp4] moov atom not found"));
        assert!(is_input_fault("Decoder (codec none) not found for input stream #0:0"));
        assert!(is_input_fault("[hls @ 0x1] Format not on whitelist 'mov,matroska'"));
        assert!(is_input_fault("Protocol 'http' not on whitelist 'file,pipe'!"));
        assert!(!is_input_fault("Cannot allocate memory"));
        assert!(!is_input_fault("No space left on device"));
    }

    #[tokio::test]
    async fn a_cancelled_run_kills_ffmpeg_at_once() {
        let cancel = CancellationToken::new();
        let args: Vec<String> = [
            "-nostdin",
            "-re",
            "-progress",
            "pipe:1",
            "-stats_period",
            "0.1",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=d=30",
            "-f",
            "null",
            "-",
        ]
        .map(String::from)
        .to_vec();
        let c = cancel.clone();
        let started = Instant::now();
        // Cancel as soon as ffmpeg reports its first position: it is surely running then.
        let r = run(Path::new("ffmpeg"), &args, Priority::Background, &cancel, &mut |_| c.cancel())
            .await;
        assert!(matches!(r, Err(FfmpegError::Cancelled)), "{r:?}");
        assert!(started.elapsed() < Duration::from_secs(10), "killed, not waited for");
    }
}
