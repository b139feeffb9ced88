//! [`NginxRtmp`]: a real nginx with the rtmp module per test, rendered from
//! `deploy/nginx/nginx-rtmp.conf.in` on random loopback ports.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::tools::workspace_root;

/// A running nginx-rtmp; killed (single process) and its files removed on drop.
#[derive(Debug)]
pub struct NginxRtmp {
    child: Child,
    dir: tempfile::TempDir,
    pub rtmp_port: u16,
    pub http_port: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// What the template needs besides the working directory and ports.
#[derive(Debug, Clone)]
pub struct Hooks<'a> {
    /// Base URL of the webhooks, e.g. `http://127.0.0.1:<port>/v1/hooks/nginx-rtmp`.
    pub url: &'a str,
    /// live-auth's webhook secret (`?secret=` on every hook URL).
    pub secret: &'a str,
    /// Where recordings go (default `<dir>/recordings`).
    pub recordings: Option<&'a Path>,
}

/// Renders the template with the given values.
pub fn render(dir: &Path, rtmp_port: u16, http_port: u16, hooks: &Hooks<'_>) -> String {
    let tpl = std::fs::read_to_string(workspace_root().join("deploy/nginx/nginx-rtmp.conf.in"))
        .expect("deploy/nginx/nginx-rtmp.conf.in");
    let recordings = hooks.recordings.map_or_else(|| dir.join("recordings"), Path::to_owned);
    tpl.replace("@DIR@", &dir.display().to_string())
        .replace("@RECORDINGS@", &recordings.display().to_string())
        .replace("@RTMP_PORT@", &rtmp_port.to_string())
        .replace("@HTTP_PORT@", &http_port.to_string())
        .replace("@HOOK_SECRET@", hooks.secret)
        .replace("@HOOKS@", hooks.url)
}

impl NginxRtmp {
    /// Starts nginx-rtmp calling the webhooks under `hooks` (e.g.
    /// `http://127.0.0.1:<port>/v1/hooks/nginx-rtmp`) with the webhook `secret`, recording
    /// into [`NginxRtmp::recordings_dir`].
    pub fn start(hooks: &str, secret: &str) -> NginxRtmp {
        Self::start_with(&Hooks { url: hooks, secret, recordings: None })
    }

    /// [`NginxRtmp::start`] with every template value given.
    pub fn start_with(hooks: &Hooks<'_>) -> NginxRtmp {
        let dir = tempfile::Builder::new().prefix("framelog-nginx-").tempdir().expect("temp dir");
        for sub in ["hls", "recordings", "tmp"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        if let Some(r) = hooks.recordings {
            std::fs::create_dir_all(r).unwrap();
        }
        let (rtmp_port, http_port) = (free_port(), free_port());
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, render(dir.path(), rtmp_port, http_port, hooks)).unwrap();
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting nginx (installed by deploy/bootstrap.sh)");
        let n = NginxRtmp { child, dir, rtmp_port, http_port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", rtmp_port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx-rtmp did not start: {}",
                std::fs::read_to_string(n.dir.path().join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        n
    }

    /// `rtmp://127.0.0.1:<port>/live`.
    pub fn rtmp_url(&self) -> String {
        format!("rtmp://127.0.0.1:{}/live", self.rtmp_port)
    }

    /// The `rtmp_control` base URL.
    pub fn control_url(&self) -> String {
        format!("http://127.0.0.1:{}/control", self.http_port)
    }

    /// Where live HLS is written (`<dir>/<stream name>/index.m3u8`).
    pub fn hls_dir(&self) -> PathBuf {
        self.dir.path().join("hls")
    }

    /// Where recordings go by default (see [`Hooks::recordings`]).
    pub fn recordings_dir(&self) -> PathBuf {
        self.dir.path().join("recordings")
    }

    /// The working directory (pid, logs, hls/, recordings/).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// nginx's error log, for failure messages.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for NginxRtmp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An ffmpeg pushing a generated test stream (`secs` long, real time) to `url`.
pub fn push(url: &str, secs: u32) -> Child {
    Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size=320x240:rate=15:duration={secs}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:duration={secs}"))
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30"])
        .args(["-c:a", "aac", "-b:a", "64k", "-f", "flv"])
        .arg(url)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg")
}
