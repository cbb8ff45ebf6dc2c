//! What a speech model answers for one chunk of audio, read leniently, and
//! the provider trait the worker implements.
//!
//! OpenAI's `verbose_json` carries `language`, `duration`, `text`,
//! `segments` (with `seek`, `tokens`, `avg_logprob`…) and `words`;
//! self-hosted servers (speaches, whisper.cpp, faster-whisper wrappers)
//! leave out some of it (`usage`, `seek`, `words`), and some answer plain
//! text. Only what a transcript needs is read, and every field but the
//! times and the text is optional.

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::jobs::Failure;

/// A timed piece of speech. Times are seconds from the start of the media.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub start: f64,
    pub end: f64,
    pub text: String,
    /// 0–1, where the model gives one (`exp(avg_logprob)` for Whisper).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speaker: Option<String>,
    /// The segment's words, where the model gives word timestamps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub words: Vec<Word>,
}

/// A timed word.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Word {
    pub start: f64,
    pub end: f64,
    pub word: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
}

/// The transcript of one chunk, times relative to the chunk's start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChunkTranscript {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    pub segments: Vec<Segment>,
}

#[derive(Deserialize)]
struct RawAnswer {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    duration: Option<Lenient>,
    #[serde(default)]
    segments: Option<Vec<RawSegment>>,
    #[serde(default)]
    words: Option<Vec<RawWord>>,
}

#[derive(Deserialize)]
struct RawSegment {
    start: Lenient,
    end: Lenient,
    #[serde(default)]
    text: String,
    #[serde(default)]
    avg_logprob: Option<Lenient>,
    #[serde(default)]
    speaker: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawWord {
    start: Lenient,
    end: Lenient,
    #[serde(default, alias = "text")]
    word: String,
    #[serde(default)]
    probability: Option<Lenient>,
}

/// A number sent as a number or as a string.
#[derive(Deserialize, Clone, Copy)]
#[serde(untagged)]
enum Lenient {
    N(f64),
    S(LenientStr),
}

#[derive(Clone, Copy)]
struct LenientStr(Option<f64>);

impl<'de> Deserialize<'de> for LenientStr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Self(s.trim().parse().ok()))
    }
}

impl Lenient {
    fn get(self) -> Option<f64> {
        match self {
            Lenient::N(n) => Some(n),
            Lenient::S(s) => s.0,
        }
        .filter(|n| n.is_finite())
    }
}

fn time(v: Lenient, what: &str) -> Result<f64, String> {
    match v.get() {
        Some(t) if t >= 0.0 => Ok(t),
        _ => Err(format!("{what} is not a time in seconds")),
    }
}

/// Reads a provider's answer: `verbose_json` (or `json`) from any
/// OpenAI-compatible server, or plain text. `chunk_seconds` is the length of
/// the audio sent: an answer without segments becomes one segment over it.
/// An error says what is wrong with the answer.
pub fn parse_answer(body: &[u8], chunk_seconds: f64) -> Result<ChunkTranscript, String> {
    let trimmed = body.trim_ascii();
    if trimmed.is_empty() {
        return Err("the answer is empty".into());
    }
    if trimmed[0] != b'{' {
        // `response_format=text`.
        let text = std::str::from_utf8(trimmed).map_err(|_| "the answer is not UTF-8")?;
        if text.starts_with('<') {
            return Err("the answer is HTML, not a transcription".into());
        }
        return Ok(ChunkTranscript {
            language: None,
            segments: whole(text, chunk_seconds),
        });
    }
    let raw: RawAnswer = serde_json::from_slice(trimmed)
        .map_err(|e| format!("the answer is not a transcription: {e}"))?;
    let mut segments = vec![];
    for (i, s) in raw.segments.unwrap_or_default().into_iter().enumerate() {
        let start = time(s.start, &format!("segments[{i}].start"))?;
        let end = time(s.end, &format!("segments[{i}].end"))?;
        if end < start {
            return Err(format!(
                "segments[{i}] ends ({end}) before it starts ({start})"
            ));
        }
        let text = s.text.trim().to_string();
        if text.is_empty() {
            continue;
        }
        segments.push(Segment {
            start,
            end,
            text,
            confidence: s
                .avg_logprob
                .and_then(Lenient::get)
                .map(|l| l.min(0.0).exp()),
            speaker: match s.speaker {
                Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s),
                Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                _ => None,
            },
            words: vec![],
        });
    }
    let mut words = vec![];
    for (i, w) in raw.words.unwrap_or_default().into_iter().enumerate() {
        let start = time(w.start, &format!("words[{i}].start"))?;
        let end = time(w.end, &format!("words[{i}].end"))?.max(start);
        let word = w.word.trim().to_string();
        if word.is_empty() {
            continue;
        }
        words.push(Word {
            start,
            end,
            word,
            confidence: w.probability.and_then(Lenient::get),
        });
    }
    if segments.is_empty() {
        let text = raw.text.unwrap_or_default();
        let length = raw.duration.and_then(Lenient::get).unwrap_or(chunk_seconds);
        segments = whole(&text, length);
        if let Some(s) = segments.first_mut() {
            s.words = words;
        }
    } else {
        segments.sort_by(|a, b| a.start.total_cmp(&b.start));
        // Each word goes to the segment its middle falls in.
        let n = segments.len();
        let mut at = 0;
        for w in words {
            let mid = (w.start + w.end) / 2.0;
            while at + 1 < n && mid >= segments[at + 1].start {
                at += 1;
            }
            segments[at].words.push(w);
        }
    }
    Ok(ChunkTranscript {
        language: raw.language.filter(|l| !l.trim().is_empty()),
        segments,
    })
}

fn whole(text: &str, seconds: f64) -> Vec<Segment> {
    let text = text.trim();
    if text.is_empty() {
        return vec![];
    }
    vec![Segment {
        start: 0.0,
        end: seconds.max(0.0),
        text: text.to_string(),
        confidence: None,
        speaker: None,
        words: vec![],
    }]
}

/// One chunk of audio to transcribe.
#[derive(Debug, Clone)]
pub struct SpeechRequest {
    /// The encoded audio (Ogg Opus or FLAC).
    pub audio: bytes::Bytes,
    /// With the extension that names the format (`chunk.ogg`).
    pub filename: String,
    /// Its length in seconds.
    pub seconds: f64,
    /// ISO-639-1, when known.
    pub language: Option<String>,
    /// Vocabulary and style hints (product names).
    pub prompt: Option<String>,
}

/// An OpenAI-compatible speech-to-text model (`POST /v1/audio/transcriptions`).
///
/// `transcribe` waits for one of the process's permits to the provider
/// (its concurrency) rather than failing, and maps the provider's errors to
/// job failures: transient for 429, 5xx, timeouts, unreachable and answers
/// that are not a transcription (with the provider's `Retry-After`);
/// permanent for other rejections, naming the provider.
pub trait SpeechProvider: Send + Sync {
    /// `openai`, `azure_openai`, `openai_compatible` or `local`, as recorded in transcripts and usage.
    fn name(&self) -> &'static str;
    fn model(&self) -> &str;
    /// Requests in flight at once (per worker process).
    fn concurrency(&self) -> usize;
    /// The largest request body the provider accepts (25 MB for OpenAI).
    fn max_request_bytes(&self) -> u64;
    fn transcribe(&self, request: SpeechRequest)
    -> BoxFuture<'_, Result<ChunkTranscript, Failure>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_openais_verbose_json() {
        let body = br#"{"task":"transcribe","language":"english","duration":8.47,
            "text":"The beach was a popular spot. Birds flew.",
            "segments":[{"id":0,"seek":0,"start":0.0,"end":3.32,"text":" The beach was a popular spot.",
              "tokens":[1,2],"temperature":0.0,"avg_logprob":-0.28,"compression_ratio":1.2,"no_speech_prob":0.01},
              {"id":1,"seek":332,"start":3.32,"end":5.0,"text":" Birds flew.","avg_logprob":-0.1}],
            "words":[{"word":"The","start":0.0,"end":0.2},{"word":"beach","start":0.2,"end":0.6},
              {"word":"Birds","start":3.4,"end":3.9},{"word":"flew","start":3.9,"end":4.5}],
            "usage":{"type":"duration","seconds":9}}"#;
        let t = parse_answer(body, 8.5).unwrap();
        assert_eq!(t.language.as_deref(), Some("english"));
        assert_eq!(t.segments.len(), 2);
        assert_eq!(t.segments[0].text, "The beach was a popular spot.");
        assert_eq!(t.segments[0].words.len(), 2);
        assert_eq!(t.segments[1].words[1].word, "flew");
        let c = t.segments[0].confidence.unwrap();
        assert!((c - (-0.28f64).exp()).abs() < 1e-9);
    }

    #[test]
    fn reads_what_self_hosted_servers_leave_out() {
        // No usage, no seek, no words, times as strings.
        let t = parse_answer(
            br#"{"segments":[{"start":"1.5","end":"2","text":"hi"}]}"#,
            3.0,
        )
        .unwrap();
        assert_eq!(t.segments[0].start, 1.5);
        assert_eq!(t.segments[0].confidence, None);
        // `json`: text only.
        let t = parse_answer(br#"{"text":" hello there "}"#, 4.0).unwrap();
        assert_eq!(t.segments.len(), 1);
        assert_eq!((t.segments[0].start, t.segments[0].end), (0.0, 4.0));
        assert_eq!(t.segments[0].text, "hello there");
        // Plain text.
        let t = parse_answer(b"hello\n", 2.0).unwrap();
        assert_eq!(t.segments[0].text, "hello");
        // Nothing said.
        let t = parse_answer(br#"{"text":"","segments":[]}"#, 2.0).unwrap();
        assert!(t.segments.is_empty());
    }

    #[test]
    fn refuses_what_is_not_a_transcription() {
        for bad in [
            &b""[..],
            b"<html>502 Bad Gateway</html>",
            br#"{"segments":[{"start":2,"end":1,"text":"x"}]}"#,
            br#"{"segments":[{"start":"soon","end":1,"text":"x"}]}"#,
            br#"{"segments":[{"start":-1,"end":1,"text":"x"}]}"#,
            br#"{"segments":"none"}"#,
            br#"{"text": 5"#,
        ] {
            assert!(
                parse_answer(bad, 1.0).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
