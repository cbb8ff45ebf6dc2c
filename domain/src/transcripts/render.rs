//! A transcript as WebVTT, SRT or plain text, the forms players and editors
//! load.

use super::speech::Segment;

/// `HH:MM:SS{sep}mmm`.
fn timestamp(seconds: f64, sep: char) -> String {
    let ms = (seconds.max(0.0) * 1000.0).round() as u64;
    let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let (s, ms) = (rest / 1000, rest % 1000);
    format!("{h:02}:{m:02}:{s:02}{sep}{ms:03}")
}

/// Cue text: one line, nothing a parser reads as markup or a cue boundary.
fn cue_text(text: &str, vtt: bool) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = if vtt {
        one_line
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    } else {
        one_line
    };
    // "-->" would start a new timing line.
    while out.contains("-->") {
        out = out.replace("-->", "->");
    }
    out
}

/// Cues with a positive length in order (a player skips empty ones).
fn cues(segments: &[Segment]) -> impl Iterator<Item = (f64, f64, &str)> {
    segments
        .iter()
        .filter(|s| !s.text.trim().is_empty())
        .map(|s| {
            let end = if s.end > s.start {
                s.end
            } else {
                s.start + 0.001
            };
            (s.start, end, s.text.as_str())
        })
}

/// WebVTT (W3C): the header, then one cue per segment.
pub fn vtt(segments: &[Segment]) -> String {
    let mut out = String::from("WEBVTT\n");
    for (i, (start, end, text)) in cues(segments).enumerate() {
        out.push_str(&format!(
            "\n{}\n{} --> {}\n{}\n",
            i + 1,
            timestamp(start, '.'),
            timestamp(end, '.'),
            cue_text(text, true)
        ));
    }
    out
}

/// SubRip: numbered cues, comma before the milliseconds.
pub fn srt(segments: &[Segment]) -> String {
    let mut out = String::new();
    for (i, (start, end, text)) in cues(segments).enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!(
            "{}\n{} --> {}\n{}\n",
            i + 1,
            timestamp(start, ','),
            timestamp(end, ','),
            cue_text(text, false)
        ));
    }
    out
}

/// Plain text: one segment per line.
pub fn txt(segments: &[Segment]) -> String {
    let mut out = String::new();
    for s in segments {
        let t = s.text.split_whitespace().collect::<Vec<_>>().join(" ");
        if !t.is_empty() {
            out.push_str(&t);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(start: f64, end: f64, text: &str) -> Segment {
        Segment {
            start,
            end,
            text: text.into(),
            confidence: None,
            speaker: None,
            words: vec![],
        }
    }

    #[test]
    fn webvtt_and_srt_cues() {
        let s = [
            seg(0.0, 1.5, "Hello <b> & -->  you"),
            seg(3661.25, 3661.25, "later\nline"),
        ];
        assert_eq!(
            vtt(&s),
            "WEBVTT\n\n1\n00:00:00.000 --> 00:00:01.500\nHello &lt;b&gt; &amp; --&gt; you\n\n2\n01:01:01.250 --> 01:01:01.251\nlater line\n"
        );
        assert_eq!(
            srt(&s),
            "1\n00:00:00,000 --> 00:00:01,500\nHello <b> & -> you\n\n2\n01:01:01,250 --> 01:01:01,251\nlater line\n"
        );
        assert_eq!(txt(&s), "Hello <b> & --> you\nlater line\n");
        assert_eq!(vtt(&[]), "WEBVTT\n");
    }
}
