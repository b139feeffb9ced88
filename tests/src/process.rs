//! [`FramelogProcess`]: the real `framelog serve` binary as a child process (one replica of a
//! multi-process topology), on its own free loopback port and data dir; SIGKILLed on drop.
//!
//! The binary is `target/<profile>/framelog`, found next to the running test (cargo builds it
//! for `cargo test --workspace`; with `-p framelog-tests` alone, `cargo build -p framelog`
//! first) or named by `FRAMELOG_BIN`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The `framelog` binary the tests spawn.
pub fn framelog_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("FRAMELOG_BIN") {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/<test binary> → target/<profile>/framelog
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe.parent().and_then(|d| d.parent()).expect("target/<profile>");
    let bin = profile_dir.join("framelog");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p framelog` first (or set FRAMELOG_BIN)",
        bin.display()
    );
    bin
}

/// One `framelog serve` child process. Killed with SIGKILL on drop; its data dir is removed.
pub struct FramelogProcess {
    child: Option<Child>,
    base: String,
    data: tempfile::TempDir,
}

impl std::fmt::Debug for FramelogProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FramelogProcess").field("base", &self.base).finish()
    }
}

impl FramelogProcess {
    /// Starts `framelog serve --listen 127.0.0.1:0 --nats-url <nats_url> --data-dir <temp>
    /// <args>` and waits (up to 30 s) until it prints its URL and `/readyz` answers 200. Its logs
    /// go to `<data dir>/framelog.log` (quoted when it fails to start).
    pub async fn serve(nats_url: &str, args: &[String]) -> FramelogProcess {
        let data = tempfile::Builder::new().prefix("framelog-proc-").tempdir().expect("temp dir");
        let log_path = data.path().join("framelog.log");
        let log = std::fs::File::create(&log_path).expect("log file");
        let mut cmd = Command::new(framelog_binary());
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if k.starts_with("FRAMELOG_") || k.starts_with("AWS_") || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
        cmd.env("RUST_LOG", "info")
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--nats-url", nats_url, "--data-dir"])
            .arg(data.path())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        let mut child = cmd.spawn().expect("spawning framelog serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
            if let Some(l) = lines.by_ref().find(|l| l.contains("listening on")) {
                let _ = tx.send(l.rsplit(' ').next().unwrap_or_default().to_owned());
            }
            for _ in lines {}
        });
        let mut p = FramelogProcess { child: Some(child), base: String::new(), data };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match rx.try_recv() {
                Ok(base) => {
                    p.base = base;
                    break;
                }
                Err(mpsc::TryRecvError::Disconnected) => p.fail("exited before listening"),
                Err(mpsc::TryRecvError::Empty) if Instant::now() > deadline => {
                    p.fail("did not listen within 30 s")
                }
                Err(mpsc::TryRecvError::Empty) => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
            }
        }
        let http = reqwest::Client::new();
        loop {
            let ready = http
                .get(p.url("/readyz"))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return p;
            }
            if Instant::now() > deadline {
                p.fail("was not ready within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn fail(&mut self, what: &str) -> ! {
        self.kill();
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let tail: String = log
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        panic!("framelog serve {what}; last log lines:\n{tail}");
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Where its stderr (the logs) goes.
    pub fn log_path(&self) -> PathBuf {
        self.data.path().join("framelog.log")
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills it with SIGKILL (no graceful shutdown, as a crash or an OOM kill) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for FramelogProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
