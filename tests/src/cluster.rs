//! [`NatsCluster`]: a real 3-node JetStream cluster on random loopback ports, for fault tests.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::auth::{FRAMELOG_USER, TestAuth};
use crate::tools::find_binary;

struct Node {
    child: Option<Child>,
    port: u16,
    conf: std::path::PathBuf,
}

/// Three `nats-server -js` nodes clustered on loopback; killed and removed on drop. Clients and
/// routes must log in (the roles of `deploy/nats/ROLES.md`, fresh passwords).
pub struct NatsCluster {
    nodes: Vec<Node>,
    auth: TestAuth,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for NatsCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsCluster").field("urls", &self.urls()).finish()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl NatsCluster {
    /// Starts three nodes and waits until JetStream has a meta leader.
    pub async fn start() -> NatsCluster {
        framelog_core::tls::install_crypto_provider();
        let dir = tempfile::Builder::new().prefix("framelog-cluster-").tempdir().unwrap();
        let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
        let auth = TestAuth::generate();
        let routes: Vec<String> =
            ports.iter().map(|(_, c)| auth.route_url(&format!("127.0.0.1:{c}"))).collect();
        let users = auth.server_conf(dir.path());
        let mut nodes = Vec::new();
        for (i, (port, cport)) in ports.iter().enumerate() {
            let conf = dir.path().join(format!("n{i}.conf"));
            let store = dir.path().join(format!("n{i}"));
            std::fs::write(
                &conf,
                format!(
                    "server_name: n{i}\nlisten: 127.0.0.1:{port}\njetstream {{ store_dir: \"{}\" }}\n\
                     {users}\
                     cluster {{ name: framelog_test\n listen: 127.0.0.1:{cport}\n {}\n routes: [{}] }}\n",
                    store.display(),
                    auth.route_authorization(),
                    routes.join(", ")
                ),
            )
            .unwrap();
            nodes.push(Node { child: None, port: *port, conf });
        }
        let mut c = NatsCluster { nodes, auth, _dir: dir };
        for i in 0..3 {
            c.spawn(i);
        }
        c.wait_ready().await;
        c
    }

    fn spawn(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let child = Command::new(find_binary("nats-server"))
            .arg("-c")
            .arg(&node.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server");
        node.child = Some(child);
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(client) =
                self.auth.options(FRAMELOG_USER).connect(self.anonymous_urls()).await
            {
                let js = async_nats::jetstream::new(client);
                if js.query_account().await.is_ok() {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "the cluster never elected a JetStream meta leader");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Client URLs of the nodes, with the `framelog` user's credentials (Framelog's `connect`
    /// and `--nats-url` take them out; for plain async-nats use [`NatsCluster::connect_as`]).
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| self.auth.framelog_url(&format!("127.0.0.1:{}", n.port)))
            .collect()
    }

    /// Client URLs of the nodes without credentials (which the nodes refuse).
    pub fn anonymous_urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| format!("nats://127.0.0.1:{}", n.port)).collect()
    }

    /// The users and passwords of this cluster.
    pub fn auth(&self) -> &TestAuth {
        &self.auth
    }

    /// A client of the whole cluster logged in as `user` (`framelog` or `dashboard`).
    pub async fn connect_as(
        &self,
        user: &str,
    ) -> Result<async_nats::Client, async_nats::ConnectError> {
        self.auth.options(user).connect(self.anonymous_urls()).await
    }

    /// The seed list as one comma-separated setting.
    pub fn url_list(&self) -> String {
        self.urls().join(",")
    }

    /// The index of the node listening on `port`.
    pub fn index_of_port(&self, port: u16) -> Option<usize> {
        self.nodes.iter().position(|n| n.port == port)
    }

    /// Kills node `i` with SIGKILL.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Restarts node `i` with its store.
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        self.spawn(i);
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}
