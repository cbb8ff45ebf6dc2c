//! Transcription end to end: real speech (espeak-ng) through the
//! repository's local transcription server (faster-whisper, Whisper
//! tiny.en), and the provider's behaviour (429, bad answers, rejections)
//! against the OpenAI-compatible test server.

use std::{path::Path, process::Command, time::Duration};

use launchpad_domain::{
    jobs::Failure,
    transcripts::speech::{SpeechProvider, SpeechRequest},
};
use launchpad_worker::{
    llm::Endpoint,
    speech::{OpenAiSpeech, SpeechSettings},
};
use test_support::{
    LlmReply, LlmServer, SpeechServer,
    speech::{say, word_error_rate},
};

const SENTENCE: &str = "The quarterly onboarding session starts with a short product tour. \
     Please open the dashboard and create a new project for your team.";

fn settings(base_url: &str) -> SpeechSettings {
    SpeechSettings {
        endpoint: Endpoint {
            base_url: Some(base_url.to_string()),
            api_key: Some("test-key".into()),
            azure_api_version: None,
        },
        model: "whisper-1".into(),
        request_timeout: Duration::from_secs(120),
        concurrency: 2,
        max_request_bytes: 25 * 1024 * 1024,
        chunk_secs: 600,
        overlap_secs: 2.0,
    }
}

/// `wav` as the worker sends it: mono 16 kHz Ogg Opus (ffmpeg).
fn opus(wav: &Path) -> bytes::Bytes {
    let out = wav.with_extension("ogg");
    let st = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(wav)
        .args([
            "-vn", "-ac", "1", "-ar", "16000", "-c:a", "libopus", "-b:a", "24k",
        ])
        .arg(&out)
        .status()
        .expect("ffmpeg");
    assert!(st.success());
    std::fs::read(&out).unwrap().into()
}

fn request(audio: bytes::Bytes, seconds: f64) -> SpeechRequest {
    SpeechRequest {
        audio,
        filename: "chunk.ogg".into(),
        seconds,
        language: Some("en".into()),
        prompt: Some("Launchpad, onboarding".into()),
    }
}

#[tokio::test]
async fn the_local_server_transcribes_real_speech() {
    let server = SpeechServer::start().await;
    let dir = tempdir();
    let wav = dir.join("sentence.wav");
    say(SENTENCE, &wav);
    let seconds = test_support::speech::seconds(&wav);
    let provider = OpenAiSpeech::from_settings(&settings(&server.base_url()))
        .unwrap()
        .unwrap();
    assert_eq!(provider.name(), "openai_compatible");
    let t = provider
        .transcribe(request(opus(&wav), seconds))
        .await
        .unwrap();
    let text: Vec<&str> = t.segments.iter().map(|s| s.text.as_str()).collect();
    let wer = word_error_rate(SENTENCE, &text.join(" "));
    assert!(wer < 0.2, "word error rate {wer:.2}: {text:?}");
    let mut last = 0.0;
    for s in &t.segments {
        assert!(s.start >= last && s.end >= s.start, "{:?}", t.segments);
        assert!(s.end <= seconds + 0.5, "{s:?} past {seconds} s");
        assert!(!s.words.is_empty(), "word timestamps: {s:?}");
        last = s.start;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "lp-speech-{}",
        ulid::Ulid::generate().to_string().to_lowercase()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test]
async fn provider_failures_are_classified() {
    let server = LlmServer::start().await;
    let provider = OpenAiSpeech::from_settings(&settings(&server.base_url()))
        .unwrap()
        .unwrap();
    let audio = bytes::Bytes::from_static(b"OggS-not-really");
    // 429 with Retry-After: transient, the provider's delay kept.
    server.push(LlmReply::rate_limited(7));
    match provider.transcribe(request(audio.clone(), 3.0)).await {
        Err(Failure::Transient {
            code, retry_after, ..
        }) => {
            assert_eq!(code, "provider_rate_limited");
            assert_eq!(retry_after, Some(Duration::from_secs(7)));
        }
        other => panic!("{other:?}"),
    }
    // 503: transient.
    server.push(LlmReply::raw(503, "upstream down"));
    let e = provider
        .transcribe(request(audio.clone(), 3.0))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Failure::Transient { code, .. } if code == "provider_unavailable"),
        "{e:?}"
    );
    // An answer that is not a transcription: transient, saying so.
    server.push(LlmReply::raw(
        200,
        r#"{"segments":[{"start":"x","end":1}]}"#,
    ));
    let e = provider
        .transcribe(request(audio.clone(), 3.0))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Failure::Transient { code, message, .. }
            if code == "provider_bad_response" && message.contains("not a transcription")),
        "{e:?}"
    );
    // 400: permanent, with the provider's reason.
    server.push(LlmReply::error(
        400,
        "invalid_request_error",
        "Audio file might be corrupted or unsupported",
    ));
    let e = provider
        .transcribe(request(audio.clone(), 3.0))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Failure::Permanent { code, message }
            if code == "provider_rejected" && message.contains("corrupted")),
        "{e:?}"
    );
    // A good answer; what was sent is what OpenAI expects.
    server.push(LlmReply::transcription(&[(0.0, 1.5, "hello there")]));
    let t = provider
        .transcribe(request(audio.clone(), 3.0))
        .await
        .unwrap();
    assert_eq!(t.segments[0].text, "hello there");
    assert_eq!(t.segments[0].words.len(), 2);
    let sent = server.requests().pop().unwrap();
    assert_eq!(sent.path, "/v1/audio/transcriptions");
    assert_eq!(sent.authorization.as_deref(), Some("Bearer test-key"));
    assert_eq!(sent.form_field("model").as_deref(), Some("whisper-1"));
    assert_eq!(
        sent.form_field("response_format").as_deref(),
        Some("verbose_json")
    );
    assert_eq!(sent.form_field("language").as_deref(), Some("en"));
    assert_eq!(sent.form_part("file").as_deref(), Some(&audio[..]));
}
