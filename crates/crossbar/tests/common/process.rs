//! A real `crossbar serve` process (for what only a process shows: SIGKILL, its environment).

use std::time::Duration;

pub struct Served {
    pub child: std::process::Child,
    pub url: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `crossbar serve --config cfg` on port 0 (the config's `listen` must say `127.0.0.1:0`), with
/// `env` set and DATABASE_URL/REDIS_URL removed; returns once it has logged its address.
pub fn serve(cfg: &std::path::Path, env: &[(&str, Option<&str>)]) -> Served {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_crossbar"));
    cmd.args(["serve", "--config"])
        .arg(cfg)
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let mut child = cmd.spawn().expect("spawn crossbar");
    // Port 0: the kernel picks a free port and crossbar logs it (no race for a port chosen
    // beforehand); the rest of its log is drained in the background.
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut tx = Some(tx);
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.split_whitespace().find_map(|w| w.strip_prefix("addr=")) {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(addr.to_string());
                }
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(30)).expect("crossbar did not report its address");
    Served { child, url: format!("http://{addr}") }
}
