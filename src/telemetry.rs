//! Structured logs. Identity numbers are kept out of logs by design (they never
//! enter a span or event); as defence in depth, the writer also masks any run of
//! exactly eleven digits before a line leaves the process.

use std::io::{self, Write};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Masks every standalone run of exactly 11 ASCII digits.
pub fn mask_identity_numbers(line: &[u8]) -> Vec<u8> {
    let mut out = line.to_vec();
    let mut i = 0;
    while i < out.len() {
        if out[i].is_ascii_digit() {
            let start = i;
            while i < out.len() && out[i].is_ascii_digit() {
                i += 1;
            }
            if i - start == 11 {
                out[start..i].fill(b'*');
            }
        } else {
            i += 1;
        }
    }
    out
}

/// A writer that masks before writing. Logs go to stderr, so a command's own
/// output on stdout stays clean.
pub struct Masked<W>(W);

impl<W: Write> Write for Masked<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_all(&mask_identity_numbers(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[derive(Clone, Copy)]
pub struct MaskedStderr;

impl<'a> MakeWriter<'a> for MaskedStderr {
    type Writer = Masked<io::Stderr>;

    fn make_writer(&'a self) -> Self::Writer {
        Masked(io::stderr())
    }
}

/// Installs the global subscriber. Call once, from the binary.
pub fn init(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(MaskedStderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.with_ansi(false).try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_only_eleven_digit_runs() {
        let cases = [
            ("pid=12345678901 ok", "pid=*********** ok"),
            ("org 974123456", "org 974123456"),
            ("123456789012", "123456789012"),
            ("a12345678901b", "a***********b"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(
                String::from_utf8(mask_identity_numbers(input.as_bytes())).unwrap(),
                want
            );
        }
    }
}
