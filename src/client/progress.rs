//! A progress bar on stderr for large uploads and downloads: a reader wrapper that redraws
//! one line at most ten times a second, and clears it when done.

use std::io::{self, Read, Write as _};
use std::time::{Duration, Instant};

/// Counts the bytes read through it and, when `visible`, draws `label  done / total  pct%`.
pub struct Progress<R> {
    inner: R,
    total: u64,
    done: u64,
    label: String,
    visible: bool,
    drawn: Option<Instant>,
}

impl<R: Read> Progress<R> {
    pub fn reading(inner: R, total: u64, label: &str, visible: bool) -> Progress<R> {
        Progress {
            inner,
            total,
            done: 0,
            label: label.to_owned(),
            visible,
            drawn: None,
        }
    }

    /// Bytes read so far.
    pub fn done(&self) -> u64 {
        self.done
    }

    /// Clears the bar's line.
    pub fn finish(&mut self) {
        if self.visible && self.drawn.is_some() {
            let _ = write!(io::stderr(), "\r\x1b[2K");
        }
    }

    fn draw(&mut self) {
        if !self.visible {
            return;
        }
        let now = Instant::now();
        if self
            .drawn
            .is_some_and(|t| now.duration_since(t) < Duration::from_millis(100))
            && self.done < self.total
        {
            return;
        }
        self.drawn = Some(now);
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        let percent = (self.done * 100).checked_div(self.total).unwrap_or(100);
        let width = 30usize;
        let filled = (percent as usize * width / 100).min(width);
        let _ = write!(
            io::stderr(),
            "\r{}  [{}{}]  {:.1} / {:.1} MiB  {percent:>3}%",
            self.label,
            "#".repeat(filled),
            " ".repeat(width - filled),
            mib(self.done),
            mib(self.total)
        );
    }
}

impl<R: Read> Read for Progress<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        self.draw();
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_what_passes_through_unchanged() {
        let data = vec![7u8; 100_000];
        let mut reader = Progress::reading(data.as_slice(), data.len() as u64, "t", false);
        let mut out = Vec::new();
        reader.read_to_end(&mut out).expect("read");
        assert_eq!(out, data);
        assert_eq!(reader.done(), 100_000);
    }
}
