//! Running the real `framelog` binary in tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// The `framelog` binary with a clean environment.
pub fn framelog() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_framelog"));
    c.env_remove("FRAMELOG_NATS_URL").env_remove("RUST_LOG").env_remove("FRAMELOG_API_KEY");
    c.env_remove("FRAMELOG_NATS_USER").env_remove("FRAMELOG_NATS_PASSWORD_FILE");
    // No GPU here: skip the hardware trial encodes at every start (one libx264 trial instead).
    c.env("FRAMELOG_TRANSCODE_ENCODER", "libx264");
    c
}

/// A `framelog serve` child process; killed on drop.
pub struct Served {
    pub child: Child,
    pub base: String,
    /// The data dir, when the guard owns it.
    pub data: Option<tempfile::TempDir>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `framelog serve` on a random port against `nats_url` with extra args.
pub fn serve(nats_url: &str, extra: &[&str]) -> Served {
    let data = tempfile::tempdir().unwrap();
    let mut args: Vec<&str> = extra.to_vec();
    let dir = data.path().to_str().unwrap().to_owned();
    args.extend(["--data-dir", &dir]);
    let mut s = serve_in(nats_url, &args);
    s.data = Some(data);
    s
}

/// Starts `framelog serve` with exactly `extra` (which must name the data dir).
pub fn serve_in(nats_url: &str, extra: &[&str]) -> Served {
    serve_logged(nats_url, extra, None)
}

/// [`serve_in`] with stderr (the logs) written to `log`.
pub fn serve_logged(nats_url: &str, extra: &[&str], log: Option<&std::path::Path>) -> Served {
    let stderr = match log {
        Some(p) => Stdio::from(std::fs::File::create(p).unwrap()),
        None => Stdio::null(),
    };
    let mut child = framelog()
        .args(["serve", "--listen", "127.0.0.1:0", "--nats-url", nats_url])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("listening on"))
        .expect("serve prints its URL");
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    let base = line.rsplit(' ').next().unwrap().to_owned();
    Served { child, base, data: None }
}

/// Creates a tenant with the CLI and returns its key.
pub fn tenant(nats_url: &str, id: &str) -> String {
    let out = framelog().args(["tenant", "create", id, "--nats-url", nats_url]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().last().unwrap().to_owned()
}
