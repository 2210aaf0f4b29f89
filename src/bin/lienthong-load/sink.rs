//! A push endpoint for benchmarks (`--push-sink ADDR`): an HTTP/1.1 server with keep-alive that
//! takes every POST, answers `200`, and counts — so that pushes/s can be measured beside the
//! accept rate, with no agency system's own cost in the numbers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the sink has taken.
#[derive(Debug, Default)]
pub struct Sink {
    received: AtomicU64,
    /// When the first and the last push arrived.
    span: Mutex<Option<(Instant, Instant)>>,
}

impl Sink {
    /// Listens on `addr` and serves every connection on its own thread.
    pub fn start(addr: &str) -> anyhow::Result<Arc<Sink>> {
        let listener = TcpListener::bind(addr)?;
        let sink = Arc::new(Sink::default());
        let shared = sink.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let sink = shared.clone();
                std::thread::spawn(move || sink.serve(stream));
            }
        });
        Ok(sink)
    }

    fn serve(&self, stream: TcpStream) {
        let Ok(mut writer) = stream.try_clone() else {
            return;
        };
        let mut reader = BufReader::new(stream);
        loop {
            let mut length = 0usize;
            let mut line = String::new();
            let mut first = true;
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if line == "\r\n" && !first {
                    break;
                }
                first = false;
                if let Some((name, value)) = line.trim_end().split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            self.took();
            if writer
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                .is_err()
            {
                return;
            }
        }
    }

    fn took(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let mut span = self
            .span
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *span = Some(span.map_or((now, now), |(first, _)| (first, now)));
    }

    /// Pushes taken so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Waits until `expected` pushes arrived, or none for `quiet`; then reports the count, how
    /// many came during the load (`during_load`, counted at `load_end`), the rate between the
    /// first and the last, and how long after `load_end` the last came.
    pub fn report(
        &self,
        expected: u64,
        quiet: Duration,
        load_end: Instant,
        during_load: u64,
    ) -> serde_json::Value {
        let mut last_count = 0;
        let mut still = Instant::now();
        loop {
            let count = self.received.load(Ordering::Relaxed);
            if count >= expected || still.elapsed() >= quiet {
                break;
            }
            if count != last_count {
                last_count = count;
                still = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let received = self.received.load(Ordering::Relaxed);
        let span = *self
            .span
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (rate, lag) = match span {
            Some((first, last)) => {
                let seconds = last.duration_since(first).as_secs_f64().max(1e-3);
                let lag = last.saturating_duration_since(load_end).as_secs_f64();
                (received as f64 / seconds, lag)
            }
            None => (0.0, 0.0),
        };
        serde_json::json!({
            "expected": expected,
            "received": received,
            "during_load": during_load,
            "per_second": rate.round(),
            "last_after_load_s": (lag * 100.0).round() / 100.0,
        })
    }
}
