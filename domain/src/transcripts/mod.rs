//! Transcription: lesson videos and session recordings become timed,
//! searchable transcripts through any OpenAI-compatible speech model.
//!
//! The `media_transcribe` job extracts the audio track (mono, 16 kHz),
//! cuts long media into pieces under the provider's request limit at
//! silences with some overlap ([`chunks`]), sends them in parallel to the
//! [`speech::SpeechProvider`] the worker supplies, joins the answers
//! ([`chunks::merge`]) and stores the transcript. What a transcript is
//! rendered as ([`render`]): WebVTT, SRT, text.

pub mod chunks;
pub mod render;
pub mod speech;

use crate::config::{self, ConfigError};

/// Transcription limits both the API (refusing too long media early) and
/// the worker (refusing what it measures) keep.
#[derive(Debug, Clone)]
pub struct TranscribeConfig {
    /// `LAUNCHPAD_TRANSCRIBE_MAX_DURATION_SECS` (12 h): longer media is refused.
    pub max_duration_secs: u64,
}

impl TranscribeConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            max_duration_secs: config::parsed_or(
                "LAUNCHPAD_TRANSCRIBE_MAX_DURATION_SECS",
                43_200u64,
            )?
            .max(1),
        })
    }
}

impl Default for TranscribeConfig {
    fn default() -> Self {
        Self {
            max_duration_secs: 43_200,
        }
    }
}
