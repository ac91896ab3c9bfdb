//! A child stampede watched while it runs: waiting for an event (the server's count, a
//! line of its progress) instead of sleeping a guessed time before acting on it.

use std::io::Read;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Polls `ready` every 20 ms until it holds, so that a test acts on an event rather than
/// after a guessed delay; panics (killing `child`) if `child` ends first or 30 s pass.
pub fn wait_for(child: &mut Child, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        if let Some(status) = child.try_wait().expect("wait") {
            panic!("stampede ended ({status}) before {what}");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("waited 30 s for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A child's stderr, read as it comes by a thread of its own, so that a test can wait for
/// a line of it (the headless progress) while the run goes on.
pub struct Stderr {
    text: Arc<Mutex<String>>,
    reader: std::thread::JoinHandle<()>,
}

impl Stderr {
    pub fn take(child: &mut Child) -> Self {
        let mut pipe = child.stderr.take().expect("stderr piped");
        let text = Arc::new(Mutex::new(String::new()));
        let into = Arc::clone(&text);
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                let mut text = into.lock().expect("stderr text");
                text.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Self { text, reader }
    }

    pub fn contains(&self, what: &str) -> bool {
        self.text.lock().expect("stderr text").contains(what)
    }

    /// Everything the child wrote, once it has ended.
    pub fn finish(self) -> String {
        self.reader.join().expect("stderr reader");
        let text = self.text.lock().expect("stderr text");
        text.clone()
    }
}
