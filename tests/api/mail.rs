//! A mail catcher for the tests: a small SMTP server on a free port that keeps every message it is given, so a test
//! can read the mail the app sent (and follow its link) the way a person would. It speaks the part of SMTP (RFC 5321)
//! that a client sending mail uses; the app talks to it through lettre, exactly as to a real server. The browser
//! tests use maildev instead.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
};

#[derive(Clone, Debug)]
pub struct Caught {
    pub to: Vec<String>,
    /// Headers and body, transfer encodings undone (quoted-printable soft breaks and escapes).
    pub text: String,
}

impl Caught {
    pub fn subject(&self) -> String {
        self.text.lines().find_map(|l| l.strip_prefix("Subject: ")).unwrap_or_default().to_owned()
    }

    /// The first link in the message that starts with `prefix` (e.g. `http://127.0.0.1:1234/verify-email?token=`),
    /// as the path and query a browser would ask for.
    pub fn link(&self, address: &str, path: &str) -> Option<String> {
        let prefix = format!("{address}{path}");
        let start = self.text.find(&prefix)? + address.len();
        let rest = &self.text[start..];
        let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || "-_/?=&.%~".contains(c))).unwrap_or(rest.len());
        Some(rest[..end].to_owned())
    }
}

#[derive(Clone)]
pub struct MailCatcher {
    pub url: String,
    caught: Arc<Mutex<Vec<Caught>>>,
}

impl MailCatcher {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("free port");
        let url = format!("smtp://{}", listener.local_addr().expect("bound address"));
        let caught = Arc::new(Mutex::new(Vec::new()));
        let store = caught.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let _ = converse(stream, store).await;
                });
            }
        });
        Self { url, caught }
    }

    pub fn all(&self) -> Vec<Caught> {
        self.caught.lock().expect("mail store").clone()
    }

    /// Messages to `to` (any case), in the order they came.
    pub fn to(&self, to: &str) -> Vec<Caught> {
        self.all().into_iter().filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(to))).collect()
    }

    /// Waits (up to 10 s) until `to` has received `count` messages, and returns them. Mail goes out after the
    /// request has answered, so a test waits for it as a person would.
    pub async fn wait_for(&self, to: &str, count: usize) -> Vec<Caught> {
        for _ in 0..200 {
            let messages = self.to(to);
            if messages.len() >= count {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{to} received {} messages, expected {count}: {:#?}", self.to(to).len(), self.all());
    }

    /// Asserts that nothing more arrives for `to` within half a second.
    pub async fn assert_no_more(&self, to: &str, count: usize) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(self.to(to).len(), count, "no other mail to {to}: {:#?}", self.to(to));
    }
}

async fn converse(stream: tokio::net::TcpStream, store: Arc<Mutex<Vec<Caught>>>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 catcher.test ESMTP\r\n").await?;
    let mut to = Vec::new();
    while let Some(line) = lines.next_line().await? {
        let command = line.to_ascii_uppercase();
        let reply: &[u8] = if command.starts_with("EHLO") {
            b"250-catcher.test\r\n250 8BITMIME\r\n"
        } else if command.starts_with("HELO") || command.starts_with("MAIL FROM") || command.starts_with("NOOP") {
            b"250 OK\r\n"
        } else if command.starts_with("RSET") {
            to.clear();
            b"250 OK\r\n"
        } else if let Some(rest) = command.strip_prefix("RCPT TO:") {
            let address = line[line.len() - rest.len()..].trim().trim_start_matches('<').trim_end_matches('>');
            to.push(address.to_owned());
            b"250 OK\r\n"
        } else if command == "DATA" {
            write.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
            let mut data = String::new();
            while let Some(line) = lines.next_line().await? {
                if line == "." {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
                data.push('\n');
            }
            store.lock().expect("mail store").push(Caught { to: std::mem::take(&mut to), text: unquote(&data) });
            b"250 OK: queued\r\n"
        } else if command.starts_with("QUIT") {
            write.write_all(b"221 Bye\r\n").await?;
            return Ok(());
        } else {
            b"502 Command not implemented\r\n"
        };
        write.write_all(reply).await?;
    }
    Ok(())
}

/// Undoes quoted-printable (RFC 2045): soft line breaks (`=` at a line's end) and `=XX` escapes.
fn unquote(text: &str) -> String {
    let joined = text.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
