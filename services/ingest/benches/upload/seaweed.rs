//! A SeaweedFS (`weed server -s3`) for the S3 row, with the same calls as
//! `framelog_tests::SeaweedFs` (engineer "s3", not merged when this was written): `start`,
//! `endpoint`, `args`. Once `framelog_tests::SeaweedFs` is on main, use it and delete this file.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::workspace;

pub struct SeaweedFs {
    child: Child,
    s3: u16,
    _dir: tempfile::TempDir,
}

impl Drop for SeaweedFs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn weed() -> Option<PathBuf> {
    [".tools/bin/weed", ".tools/venv/bin/weed"]
        .iter()
        .map(|p| workspace().join(p))
        .find(|p| p.exists())
}

impl SeaweedFs {
    /// Starts `weed server -s3` on free loopback ports (gRPC ones too) with a temp dir, and
    /// waits until S3 takes a bucket.
    pub async fn start() -> Result<SeaweedFs, String> {
        let bin = weed().ok_or("no weed binary in .tools (deploy/bootstrap.sh installs it)")?;
        let dir = tempfile::Builder::new().prefix("framelog-bench-weed-").tempdir().unwrap();
        let held: Vec<TcpListener> =
            (0..8).map(|_| TcpListener::bind("127.0.0.1:0").expect("free port")).collect();
        let p: Vec<u16> = held.iter().map(|l| l.local_addr().unwrap().port()).collect();
        drop(held);
        let log = std::fs::File::create(dir.path().join("weed.log")).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(dir.path().join("data")).map_err(|e| e.to_string())?;
        let child = Command::new(bin)
            .arg("server")
            .arg(format!("-dir={}", dir.path().join("data").display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3"])
            .arg(format!("-master.port={}", p[0]))
            .arg(format!("-master.port.grpc={}", p[1]))
            .arg(format!("-volume.port={}", p[2]))
            .arg(format!("-volume.port.grpc={}", p[3]))
            .arg(format!("-filer.port={}", p[4]))
            .arg(format!("-filer.port.grpc={}", p[5]))
            .arg(format!("-s3.port={}", p[6]))
            .arg(format!("-s3.port.grpc={}", p[7]))
            .args(["-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false"])
            .args(["-volume.max=0", "-volume.preStopSeconds=0"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("weed: {e}"))?;
        let mut s = SeaweedFs { child, s3: p[6], _dir: dir };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(st)) = s.child.try_wait() {
                return Err(format!("weed exited with {st}"));
            }
            if let Ok(r) = http.put(format!("{}/framelog-ready", s.endpoint())).send().await
                && (r.status().is_success() || r.status().as_u16() == 409)
            {
                return Ok(s);
            }
            if Instant::now() > deadline {
                return Err("SeaweedFS S3 did not answer within 60 s".into());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3)
    }

    /// `framelog serve` flags for `bucket`, `--media-store s3` included (INTERFACE.md names).
    pub fn args(&self, bucket: &str) -> Vec<String> {
        let e = self.endpoint();
        [
            "--media-store",
            "s3",
            "--s3-endpoint",
            &e,
            "--s3-bucket",
            bucket,
            "--s3-region",
            "us-east-1",
            "--s3-access-key-id",
            "bench",
            "--s3-secret-access-key",
            "bench-secret",
            "--s3-path-style",
            "--s3-create-bucket",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }
}
