//! [`TestAuth`]: the NATS users of `deploy/nats/ROLES.md` with fresh random passwords, written
//! into a test server's configuration. The permissions are `deploy/nats/permissions.conf`
//! itself (compiled in), so tests run against exactly what is deployed.

use std::io::Read;
use std::path::Path;

use framelog_core::nats_auth::NatsCredentials;

/// The shipped role permissions (included by every generated configuration).
pub const PERMISSIONS_CONF: &str = include_str!("../../deploy/nats/permissions.conf");

/// The all-in-one role `framelog serve` uses.
pub const FRAMELOG_USER: &str = "framelog";
/// The read-only reader role (dashboards, billing).
pub const DASHBOARD_USER: &str = "dashboard";
/// The inbox prefix the reader role must use (it may subscribe to nothing else of `_INBOX`).
pub const DASHBOARD_INBOX_PREFIX: &str = "_INBOX_dashboard";

/// Passwords of one test server (or cluster): the users, and the route user of a cluster.
#[derive(Clone)]
pub struct TestAuth {
    framelog: String,
    dashboard: String,
    route: String,
}

impl std::fmt::Debug for TestAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestAuth(..)")
    }
}

fn random_password() -> String {
    let mut b = [0u8; 18];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .expect("reading /dev/urandom");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl TestAuth {
    pub fn generate() -> TestAuth {
        TestAuth {
            framelog: random_password(),
            dashboard: random_password(),
            route: random_password(),
        }
    }

    /// The credentials of `user` (`framelog` or `dashboard`).
    pub fn credentials(&self, user: &str) -> NatsCredentials {
        match user {
            FRAMELOG_USER => NatsCredentials::new(user, &self.framelog),
            DASHBOARD_USER => NatsCredentials::new(user, &self.dashboard),
            other => panic!("the test servers have no NATS user {other}"),
        }
    }

    /// The client URL of `host:port` logged in as `framelog` (URL-safe hex password).
    pub fn framelog_url(&self, host_port: &str) -> String {
        format!("nats://{FRAMELOG_USER}:{}@{host_port}", self.framelog)
    }

    /// Client options logged in as `user`; the reader gets its own inbox prefix.
    pub fn options(&self, user: &str) -> async_nats::ConnectOptions {
        let opts = self.credentials(user).apply(async_nats::ConnectOptions::new());
        if user == DASHBOARD_USER { opts.custom_inbox_prefix(DASHBOARD_INBOX_PREFIX) } else { opts }
    }

    /// Writes `permissions.conf` into `dir` and returns the configuration text that includes it
    /// and defines the users (to be written into the same directory).
    pub fn server_conf(&self, dir: &Path) -> String {
        std::fs::write(dir.join("permissions.conf"), PERMISSIONS_CONF).expect("permissions.conf");
        format!(
            "include \"permissions.conf\"\n\
             authorization {{\n  users = [\n\
             {{ user: {FRAMELOG_USER}, password: \"{}\", permissions: $FRAMELOG_PERMISSIONS }}\n\
             {{ user: {DASHBOARD_USER}, password: \"{}\", permissions: $DASHBOARD_PERMISSIONS }}\n\
             ]\n}}\n",
            self.framelog, self.dashboard
        )
    }

    /// The URL of a route to `host:port` with the route user's credentials (nats-server does
    /// not log outgoing routes in with the cluster's `authorization` by itself).
    pub fn route_url(&self, host_port: &str) -> String {
        format!("nats-route://route:{}@{host_port}", self.route)
    }

    /// The `authorization` block of a cluster's routes.
    pub fn route_authorization(&self) -> String {
        format!("authorization {{ user: route, password: \"{}\" }}", self.route)
    }
}
