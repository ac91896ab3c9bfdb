//! A tmux server of the test's own (its own socket) running one shell: keys go in with
//! `send-keys`, the screen comes out with `capture-pane`. Needs tmux: required under CI
//! (`.ci/run` installs it), skipped with a visible line elsewhere.

use std::process::Command;
use std::time::{Duration, Instant};

/// Tells apart the tmux servers of one test binary.
static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// A tmux server with one `width` × `height` window; `None` (the test then returns)
    /// when tmux is not installed outside CI, a failure under CI.
    pub fn start(width: u16, height: u16) -> Option<Self> {
        let version = Command::new("tmux").arg("-V").output();
        if !version.is_ok_and(|o| o.status.success()) {
            super::skip_without("tmux not installed", "apt-get install tmux");
            return None;
        }
        let t = Self {
            socket: format!(
                "stampede-test-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ),
        };
        t.run(&[
            "new-session",
            "-d",
            "-s",
            "main",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            "bash --norc --noprofile",
        ]);
        t.keys(&["export PS1='READY> '", "Enter"]);
        t.wait_for("prompt", Duration::from_secs(10), |s| s.contains("READY> "));
        Some(t)
    }

    pub fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "main"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    pub fn screen(&self) -> String {
        self.run(&["capture-pane", "-t", "main", "-p"])
    }

    /// Polls the screen until `ok` holds; panics with the screen after `limit`.
    pub fn wait_for(&self, what: &str, limit: Duration, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited {limit:?} for {what}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}
