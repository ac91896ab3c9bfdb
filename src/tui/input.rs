//! The dashboard's keys, read from the terminal on a thread of their own and decoded here.
//!
//! crossterm's event reader is not used: when the terminal goes away (its window closed,
//! its tmux server killed) its read loop gets end-of-file or an I/O error forever and never
//! returns, spinning a core inside the dashboard's task, which then never sees a signal.
//! A blocking read on a thread sees the end as one `Ok(0)` or an error, says so once
//! (`Input::Ended`) and stops. Only the keys the dashboard uses are decoded; anything else
//! is ignored. A resize needs no event: each draw fits the terminal's current size.

use std::io::{IsTerminal, Read};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tokio::sync::mpsc;

/// What the terminal sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Key(KeyEvent),
    /// The terminal's input ended (the terminal went away): no key will come.
    Ended(String),
}

/// Starts reading keys: from standard input when it is the terminal, else from
/// `/dev/tty` (input redirected, as crossterm does). `None`: no terminal to read.
pub fn spawn() -> Option<mpsc::UnboundedReceiver<Input>> {
    let mut source: Box<dyn Read + Send> = if std::io::stdin().is_terminal() {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open("/dev/tty").ok()?)
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let spawned = std::thread::Builder::new()
        .name("stampede-keys".into())
        .spawn(move || {
            let mut buf = [0u8; 256];
            loop {
                let ended = match source.read(&mut buf) {
                    Ok(0) => "the terminal's input ended".to_string(),
                    Ok(n) => {
                        for key in decode(&buf[..n]) {
                            if tx.send(Input::Key(key)).is_err() {
                                return; // the dashboard has gone
                            }
                        }
                        continue;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    // A terminal another program left non-blocking: nothing to read yet.
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        continue;
                    }
                    Err(e) => format!("the terminal cannot be read: {e}"),
                };
                let _ = tx.send(Input::Ended(ended));
                return;
            }
        });
    spawned.ok().map(|_| rx)
}

/// The keys in one read of raw-mode input. An escape sequence arrives whole in one read;
/// an `Esc` alone at the end of a read is the Esc key.
pub fn decode(bytes: &[u8]) -> Vec<KeyEvent> {
    let key = |code| KeyEvent::new(code, KeyModifiers::NONE);
    let mut keys = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        i += 1;
        let code = match b {
            0x03 => {
                keys.push(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
                continue;
            }
            b'\r' | b'\n' => KeyCode::Enter,
            b'\t' => KeyCode::Tab,
            0x1b => match (bytes.get(i), bytes.get(i + 1)) {
                (None, _) => KeyCode::Esc,
                (Some(b'[' | b'O'), Some(&last)) => {
                    // CSI or SS3: skip parameters up to the final byte.
                    let mut end = i + 1;
                    let mut last = last;
                    while (0x30..=0x3f).contains(&last) {
                        end += 1;
                        match bytes.get(end) {
                            Some(&b) => last = b,
                            None => return keys,
                        }
                    }
                    i = end + 1;
                    match last {
                        b'A' => KeyCode::Up,
                        b'B' => KeyCode::Down,
                        b'C' => KeyCode::Right,
                        b'D' => KeyCode::Left,
                        b'Z' => KeyCode::BackTab,
                        _ => continue,
                    }
                }
                // Alt+key, or an Esc typed just before another key.
                (Some(_), _) => KeyCode::Esc,
            },
            0x20..=0x7e => KeyCode::Char(char::from(b)),
            _ => continue,
        };
        keys.push(key(code));
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(bytes: &[u8]) -> Vec<KeyCode> {
        decode(bytes).into_iter().map(|k| k.code).collect()
    }

    #[test]
    fn keys_and_sequences_decode() {
        assert_eq!(
            codes(b"qp+-sz?"),
            "qp+-sz?".chars().map(KeyCode::Char).collect::<Vec<_>>()
        );
        assert_eq!(codes(b"\r\t"), [KeyCode::Enter, KeyCode::Tab]);
        assert_eq!(codes(b"\x1b"), [KeyCode::Esc]);
        assert_eq!(
            codes(b"\x1b[A\x1b[B\x1b[C\x1b[D\x1b[Z\x1bOA"),
            [
                KeyCode::Up,
                KeyCode::Down,
                KeyCode::Right,
                KeyCode::Left,
                KeyCode::BackTab,
                KeyCode::Up
            ]
        );
        // Parameters are skipped; unknown sequences and control bytes are ignored.
        assert_eq!(
            codes(b"\x1b[1;5A\x1b[15~\x01q"),
            [KeyCode::Up, KeyCode::Char('q')]
        );
        let ctrl_c = decode(b"\x03");
        assert_eq!(ctrl_c[0].code, KeyCode::Char('c'));
        assert!(ctrl_c[0].modifiers.contains(KeyModifiers::CONTROL));
        // A cut sequence gives what came before it.
        assert_eq!(codes(b"q\x1b[1;"), [KeyCode::Char('q')]);
    }
}
