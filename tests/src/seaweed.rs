//! [`SeaweedFs`]: a real SeaweedFS (`weed server -s3`) per test, the S3 media store's backend.
//! Free loopback ports for every listener (the gRPC ones too), a private data directory, and a
//! guard that stops it (SIGTERM, then SIGKILL after a grace period: `weed` takes more than 8 s
//! to stop by itself) and deletes its files.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use framelog_core::S3Settings;

use crate::tools::find_binary;

/// Dummy credentials: SeaweedFS accepts any while S3 auth is not configured.
pub const ACCESS_KEY_ID: &str = "framelog-test";
/// The secret of [`ACCESS_KEY_ID`].
pub const SECRET_ACCESS_KEY: &str = "framelog-test-secret";
/// The region the test settings name.
pub const REGION: &str = "us-east-1";

/// How long `stop` waits after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// How long a start may take before it counts as failed (~10 s idle, more on a busy machine).
const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// Bucket written at start to prove that writes work (a volume server has registered).
const READY_BUCKET: &str = "framelog-ready";

/// The listeners of one `weed server`.
#[derive(Debug, Clone, Copy)]
struct Ports {
    master: u16,
    master_grpc: u16,
    volume: u16,
    volume_grpc: u16,
    filer: u16,
    filer_grpc: u16,
    s3: u16,
    s3_grpc: u16,
}

impl Ports {
    /// Eight distinct free loopback ports (held together while picking, so they differ).
    fn pick() -> Ports {
        let held: Vec<TcpListener> = (0..8)
            .map(|_| TcpListener::bind("127.0.0.1:0").expect("binding a free port"))
            .collect();
        let p: Vec<u16> = held.iter().map(|l| l.local_addr().expect("addr").port()).collect();
        Ports {
            master: p[0],
            master_grpc: p[1],
            volume: p[2],
            volume_grpc: p[3],
            filer: p[4],
            filer_grpc: p[5],
            s3: p[6],
            s3_grpc: p[7],
        }
    }

    fn all(&self) -> [u16; 8] {
        [
            self.master,
            self.master_grpc,
            self.volume,
            self.volume_grpc,
            self.filer,
            self.filer_grpc,
            self.s3,
            self.s3_grpc,
        ]
    }
}

/// A running SeaweedFS (master, volume, filer and S3 gateway in one process) on free loopback
/// ports with a private data directory. Dropping it kills the server and deletes its files.
#[derive(Debug)]
pub struct SeaweedFs {
    child: Option<Child>,
    ports: Ports,
    dir: tempfile::TempDir,
    /// S3 authentication on: only [`ACCESS_KEY_ID`] with its secret, signatures and presigned
    /// URLs (and their expiry) checked.
    auth: bool,
}

impl SeaweedFs {
    /// Starts a server and waits until its S3 gateway accepts a write. A start that fails
    /// (a port taken meanwhile by another test) is retried on fresh ports.
    pub async fn start() -> SeaweedFs {
        Self::start_with(false).await
    }

    /// Starts a server that checks S3 signatures: one identity, [`ACCESS_KEY_ID`] /
    /// [`SECRET_ACCESS_KEY`]; unsigned, wrongly signed and expired presigned requests are
    /// refused. Ready once the S3 gateway refuses an unsigned request and the master assigns
    /// volumes.
    pub async fn start_with_auth() -> SeaweedFs {
        Self::start_with(true).await
    }

    async fn start_with(auth: bool) -> SeaweedFs {
        framelog_core::tls::install_crypto_provider();
        let dir = tempfile::Builder::new().prefix("framelog-seaweed-").tempdir().expect("temp");
        if auth {
            let conf = serde_json::json!({"identities": [{
                "name": "framelog",
                "credentials": [{"accessKey": ACCESS_KEY_ID, "secretKey": SECRET_ACCESS_KEY}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }]});
            std::fs::write(dir.path().join("s3.json"), conf.to_string()).expect("s3 config");
        }
        let mut s = SeaweedFs { child: None, ports: Ports::pick(), dir, auth };
        let mut last = String::new();
        for _ in 0..3 {
            s.spawn();
            match s.wait_ready().await {
                Ok(()) => return s,
                Err(e) => last = e,
            }
            s.kill();
            s.ports = Ports::pick();
        }
        panic!("SeaweedFS did not start: {last}");
    }

    fn spawn(&mut self) {
        let bin = find_binary("weed");
        let data = self.dir.path().join("data");
        std::fs::create_dir_all(&data).expect("seaweed data dir");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("seaweed log file");
        let p = self.ports;
        let mut cmd = Command::new(&bin);
        cmd.arg("server");
        if self.auth {
            cmd.arg(format!("-s3.config={}", self.dir.path().join("s3.json").display()));
        }
        let child = cmd
            .arg(format!("-dir={}", data.display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3"])
            .arg(format!("-master.port={}", p.master))
            .arg(format!("-master.port.grpc={}", p.master_grpc))
            .arg(format!("-volume.port={}", p.volume))
            .arg(format!("-volume.port.grpc={}", p.volume_grpc))
            .arg(format!("-filer.port={}", p.filer))
            .arg(format!("-filer.port.grpc={}", p.filer_grpc))
            .arg(format!("-s3.port={}", p.s3))
            .arg(format!("-s3.port.grpc={}", p.s3_grpc))
            // No other listeners (both default to fixed ports), no phoning home, small volumes
            // (a test writes megabytes, not the 30 GiB default), no 10 s pre-stop pause.
            .args(["-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false"])
            .args(["-master.volumeSizeLimitMB=64", "-volume.max=0", "-volume.preStopSeconds=0"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        self.child = Some(child);
    }

    /// Waits until a bucket can be created and an object written through the S3 gateway.
    async fn wait_ready(&mut self) -> Result<(), String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("http client");
        let bucket = format!("{}/{READY_BUCKET}", self.endpoint());
        let assign = format!("http://127.0.0.1:{}/dir/assign", self.ports.master);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                return Err(format!("weed exited with {status}: {}", self.log_tail()));
            }
            if self.auth {
                // Unsigned writes are refused now: the gateway answering 403 and the master
                // handing out a volume for writes is ready.
                let refused = http.get(&bucket).send().await.is_ok_and(|r| r.status() == 403);
                let fid = match http.get(&assign).send().await {
                    Ok(r) => r.json::<serde_json::Value>().await.ok(),
                    Err(_) => None,
                };
                if refused && fid.is_some_and(|v| v["fid"].is_string()) {
                    return Ok(());
                }
            } else if let Ok(r) = http.put(&bucket).send().await
                && (r.status().is_success() || r.status().as_u16() == 409)
                && let Ok(w) = http.put(format!("{bucket}/probe")).body("ok").send().await
                && w.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("no S3 write within {READY_TIMEOUT:?}: {}", self.log_tail()));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The S3 endpoint, `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.s3)
    }

    /// The S3 port.
    pub fn s3_port(&self) -> u16 {
        self.ports.s3
    }

    /// Settings for an `S3MediaStore` on `bucket`: path-style, create the bucket if missing,
    /// dummy credentials.
    pub fn settings(&self, bucket: &str) -> S3Settings {
        S3Settings {
            endpoint: Some(self.endpoint()),
            bucket: Some(bucket.to_owned()),
            region: Some(REGION.to_owned()),
            access_key_id: Some(ACCESS_KEY_ID.to_owned()),
            secret_access_key: Some(SECRET_ACCESS_KEY.to_owned()),
            session_token: None,
            path_style: true,
            create_bucket: true,
            ..S3Settings::default()
        }
    }

    /// The same as [`SeaweedFs::settings`] as `framelog serve` flags, `--media-store s3`
    /// included (do not pass that flag again).
    pub fn args(&self, bucket: &str) -> Vec<String> {
        [
            "--media-store",
            "s3",
            "--s3-endpoint",
            &self.endpoint(),
            "--s3-bucket",
            bucket,
            "--s3-region",
            REGION,
            "--s3-access-key-id",
            ACCESS_KEY_ID,
            "--s3-secret-access-key",
            SECRET_ACCESS_KEY,
            "--s3-path-style",
            "--s3-create-bucket",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    /// The server's process id (for resource measurements), while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The data directory.
    pub fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    /// Stops the server, keeping its data: SIGTERM, then SIGKILL after a 3 s grace period.
    pub fn stop(&mut self) {
        let Some(mut c) = self.child.take() else { return };
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = c.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
    }

    /// Starts the server again on the same ports with the same data, and waits until it
    /// accepts writes.
    pub async fn restart(&mut self) {
        self.stop();
        // The ports may linger briefly after the kill: wait until they can be bound again.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline
            && !self.ports.all().iter().all(|p| TcpListener::bind(("127.0.0.1", *p)).is_ok())
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.spawn();
        if let Err(e) = self.wait_ready().await {
            panic!("SeaweedFS did not restart: {e}");
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn log_path(&self) -> std::path::PathBuf {
        self.dir.path().join("weed.log")
    }

    /// The last lines `weed` wrote (for failure messages).
    pub fn log_tail(&self) -> String {
        tail(&self.log_path(), 20)
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

impl Drop for SeaweedFs {
    fn drop(&mut self) {
        self.kill();
    }
}
