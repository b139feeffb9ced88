//! [`NatsServer`]: a real `nats-server -js` per test, with the users and permissions of
//! `deploy/nats/ROLES.md` (no anonymous access) and fresh passwords.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::auth::{FRAMELOG_USER, TestAuth};
use crate::tools::find_binary;

/// A running `nats-server -js` on a random loopback port with a private store directory, which
/// refuses clients without credentials. Dropping it kills the server and deletes its files.
#[derive(Debug)]
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    store: tempfile::TempDir,
    extra_args: Vec<String>,
    auth: TestAuth,
    conf: tempfile::TempDir,
}

impl NatsServer {
    /// Starts a server on a random port (`-p -1`) and waits until it accepts clients.
    pub fn start() -> NatsServer {
        Self::start_with(&[])
    }

    /// Starts a server with extra command-line arguments.
    pub fn start_with(extra: &[&str]) -> NatsServer {
        Self::start_configured(extra, "")
    }

    /// Starts a server whose configuration file also has `conf` (e.g. `jetstream {
    /// max_file_store: 8MB }`). A second `-c` would replace the users and permissions.
    pub fn start_with_conf(conf: &str) -> NatsServer {
        Self::start_configured(&[], conf)
    }

    fn start_configured(extra: &[&str], extra_conf: &str) -> NatsServer {
        framelog_core::tls::install_crypto_provider();
        let store = tempfile::Builder::new().prefix("framelog-nats-").tempdir().expect("temp dir");
        let conf = tempfile::Builder::new().prefix("framelog-natsconf-").tempdir().expect("temp");
        let auth = TestAuth::generate();
        let text = format!("{}\n{extra_conf}\n", auth.server_conf(conf.path()));
        std::fs::write(conf.path().join("server.conf"), text)
            .expect("writing the nats-server configuration");
        let mut s = NatsServer {
            child: None,
            port: 0,
            store,
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
            auth,
            conf,
        };
        s.spawn(None);
        s
    }

    fn spawn(&mut self, port: Option<u16>) {
        let bin = find_binary("nats-server");
        let port_arg = port.map(|p| p.to_string()).unwrap_or_else(|| "-1".into());
        let mut child = Command::new(&bin)
            .arg("-c")
            .arg(self.conf.path().join("server.conf"))
            .args(["-js", "-a", "127.0.0.1", "-p", &port_arg, "-sd"])
            .arg(self.store.path())
            .args(&self.extra_args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut port = None;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("Listening for client connections on ").nth(1) {
                    port = rest.trim().rsplit(':').next().and_then(|p| p.parse::<u16>().ok());
                }
                if line.contains("Server is ready") {
                    let _ = tx.send(port);
                }
                // Keep draining so the server never blocks on a full pipe.
            }
        });
        let found = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("nats-server did not become ready"))
            .expect("nats-server printed no client port");
        self.port = found;
        self.child = Some(child);
    }

    /// The client URL with the all-in-one `framelog` user's credentials, e.g.
    /// `nats://framelog:<password>@127.0.0.1:41234` (Framelog's `connect` and `--nats-url` take
    /// them out of the URL; plain async-nats ignores them: use [`NatsServer::client`]).
    pub fn url(&self) -> String {
        self.auth.framelog_url(&format!("127.0.0.1:{}", self.port))
    }

    /// The client URL without credentials (which the server refuses).
    pub fn anonymous_url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The users and passwords of this server.
    pub fn auth(&self) -> &TestAuth {
        &self.auth
    }

    /// A client logged in as `user` (`framelog` or the read-only `dashboard`).
    pub async fn connect_as(
        &self,
        user: &str,
    ) -> Result<async_nats::Client, async_nats::ConnectError> {
        self.auth.options(user).connect(self.anonymous_url()).await
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id (for resource measurements).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The JetStream store directory.
    pub fn store_dir(&self) -> &Path {
        self.store.path()
    }

    /// Kills the server (SIGKILL), keeping its store, to simulate an outage.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same port with the same store.
    pub fn restart(&mut self) {
        self.stop();
        let port = self.port;
        // The port may linger briefly after the kill: wait until it can be bound again.
        for _ in 0..50 {
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.spawn(Some(port));
    }

    /// A connected async-nats client (the `framelog` user).
    pub async fn client(&self) -> async_nats::Client {
        self.connect_as(FRAMELOG_USER).await.expect("connecting to the test nats-server")
    }

    /// A path inside a fresh directory that lives as long as the server (for sled stores, media).
    pub fn scratch_dir(&self, name: &str) -> PathBuf {
        let p = self.store.path().parent().expect("temp dir parent").join(format!(
            "{}-{name}",
            self.store.path().file_name().and_then(|s| s.to_str()).unwrap_or("nats")
        ));
        std::fs::create_dir_all(&p).expect("scratch dir");
        p
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}
