//! HTTPS in front of a test server: a CA and a certificate for `localhost` made with the
//! `openssl` command, and a real nginx terminating TLS and proxying to the server, stopped
//! when dropped.

use super::TempDir;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct TlsProxy {
    child: Child,
    pub dir: TempDir,
    pub port: u16,
}

impl TlsProxy {
    /// A proxy to `upstream` (`127.0.0.1:PORT`), or `None` when nginx or openssl is missing
    /// and this is not CI (`CI=true` makes that a failure).
    pub fn start(upstream: &str) -> Option<TlsProxy> {
        let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
        let openssl = Command::new("openssl")
            .arg("version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let Some(nginx) = nginx.filter(|_| openssl) else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "nginx or openssl is not installed (.ci/setup installs them); CI=true, so this fails"
            );
            eprintln!("SKIPPED: nginx or openssl is not installed");
            return None;
        };
        let dir = TempDir::new("tls");
        make_certificates(&dir);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let d = dir.str();
        let conf = format!(
            "pid {d}/nginx.pid;\nerror_log {d}/error.log;\ndaemon off;\nworker_processes 1;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
               server {{\n    listen 127.0.0.1:{port} ssl;\n    server_name localhost;\n\
                 ssl_certificate {d}/server.pem;\n    ssl_certificate_key {d}/server.key;\n\
                 location / {{ proxy_pass http://{upstream}; proxy_http_version 1.1; }}\n  }}\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).expect("write nginx.conf");
        let child = Command::new(nginx)
            .args(["-p", d, "-c", &format!("{d}/nginx.conf")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not listen in 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(TlsProxy { child, dir, port })
    }

    /// The CA certificate that signed the proxy's certificate.
    pub fn ca(&self) -> String {
        format!("{}/ca.pem", self.dir.str())
    }

    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.port)
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        // SIGTERM: the master stops its worker too (SIGKILL would leave the worker behind).
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the `openssl` command is there; when it is not and this is CI, a failure.
pub fn openssl_installed() -> bool {
    let yes = Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        yes || std::env::var("CI").as_deref() != Ok("true"),
        "openssl is not installed; CI=true, so this fails"
    );
    yes
}

/// `ca.pem` (a CA), and `server.pem`/`server.key` for localhost and 127.0.0.1, signed by it.
/// The key is readable by all: a broker that drops root's privileges must read it.
pub fn make_certificates(dir: &TempDir) {
    let d = dir.str();
    std::fs::write(
        dir.path().join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .expect("write san.ext");
    for args in [
        format!(
            "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
             -subj /CN=Livechart-test-CA -keyout {d}/ca.key -out {d}/ca.pem"
        ),
        format!(
            "req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
             -keyout {d}/server.key -out {d}/server.csr"
        ),
        format!(
            "x509 -req -in {d}/server.csr -CA {d}/ca.pem -CAkey {d}/ca.key -CAcreateserial \
             -days 2 -extfile {d}/san.ext -out {d}/server.pem"
        ),
    ] {
        let out = Command::new("openssl")
            .args(args.split_whitespace())
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dir.path().join("server.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod server.key");
}
