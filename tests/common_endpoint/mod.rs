//! An agency system's push endpoint in the test process: a plain HTTP/1.1 server on a random
//! port that records every request (method, target, headers, body) and answers each with the
//! next status of a script (the last one repeats), closing the connection after each answer.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request the endpoint received, and the status it answered.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub target: String,
    /// Header names in lowercase.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub answered: u16,
    /// When its body had arrived.
    pub at: Instant,
}

/// A port nobody listens on: pushes to it are refused at once (a dead endpoint).
pub fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}/lienthong/push")
}

/// A running endpoint; it keeps accepting until the test process ends.
pub struct Endpoint {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Endpoint {
    /// Starts an endpoint answering `script` in order (then its last status forever).
    pub fn start(script: &[u16]) -> Endpoint {
        Endpoint::start_with_delay(script, Duration::ZERO)
    }

    /// Like [`Endpoint::start`], answering each request `delay` after its body arrived (a
    /// slow agency system).
    pub fn start_with_delay(script: &[u16], delay: Duration) -> Endpoint {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the endpoint");
        let url = format!(
            "http://{}/lienthong/push",
            listener.local_addr().expect("addr")
        );
        let received = Arc::new(Mutex::new(Vec::new()));
        let script = script.to_vec();
        let log = received.clone();
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { continue };
                let status = *script
                    .get(n)
                    .or(script.last())
                    .expect("a script of at least one status");
                let log = log.clone();
                std::thread::spawn(move || serve(stream, status, delay, &log));
            }
        });
        Endpoint { url, received }
    }

    /// What it received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("log").clone()
    }

    /// Waits until it has received `n` requests (panics after `within`).
    pub fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            assert!(
                started.elapsed() < within,
                "the endpoint received {} requests in {within:?}, not {n}",
                received.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn serve(stream: TcpStream, status: u16, delay: Duration, log: &Mutex<Vec<Received>>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
            break;
        }
        if let Some((name, value)) = header.trim_end().split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    log.lock().expect("log").push(Received {
        method,
        target,
        headers,
        body,
        answered: status,
        at: Instant::now(),
    });
    std::thread::sleep(delay);
    let reason = if status < 300 { "OK" } else { "Not Now" };
    let answer =
        format!("HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let mut stream = stream;
    let _ = stream.write_all(answer.as_bytes());
}
