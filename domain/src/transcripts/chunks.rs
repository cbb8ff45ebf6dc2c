//! Long media in pieces: where to cut (at silences, with overlap, every
//! piece under the provider's request limit), and how the pieces'
//! transcripts join again (times shifted by the piece's start, the overlap
//! kept once).

use super::speech::{ChunkTranscript, Segment};

/// A stretch of silence, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Silence {
    pub start: f64,
    pub end: f64,
}

/// One piece of the audio to send: `[start, end)` in seconds. Pieces
/// overlap: what is said between `keep_from` and `keep_until` is taken from
/// this piece, the rest of it from its neighbours.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chunk {
    pub index: usize,
    pub start: f64,
    pub end: f64,
    pub keep_from: f64,
    pub keep_until: f64,
}

impl Chunk {
    pub fn seconds(&self) -> f64 {
        self.end - self.start
    }
}

/// How to cut.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// The longest piece, overlap included (from the request limit and the
    /// encoded bitrate, and a configured maximum).
    pub max_seconds: f64,
    /// Seconds each cut is widened by on each side.
    pub overlap: f64,
    /// Cuts are looked for at silences in the last `search` share of a
    /// piece (0.3: in its last 30 %).
    pub search: f64,
}

/// Pieces covering `[0, duration)`: each at most `max_seconds` long, cut in
/// the middle of the latest silence in the search window (at the window's
/// end when there is none), widened by `overlap` on each side of the cut.
pub fn plan(duration: f64, silences: &[Silence], p: Plan) -> Vec<Chunk> {
    let duration = duration.max(0.0);
    let overlap = p.overlap.clamp(0.0, p.max_seconds / 4.0);
    // A cut at c gives a piece [start, c + overlap): its kept part is at
    // most max - 2 * overlap long (the piece also starts `overlap` early).
    let step = (p.max_seconds - 2.0 * overlap).max(1.0);
    let mut out = vec![];
    let mut keep_from = 0.0f64;
    loop {
        let start = (keep_from - overlap).max(0.0);
        if duration - start <= p.max_seconds || duration - keep_from <= step {
            out.push(Chunk {
                index: out.len(),
                start,
                end: duration,
                keep_from,
                keep_until: duration,
            });
            return out;
        }
        let latest = keep_from + step;
        let earliest = keep_from + step * (1.0 - p.search.clamp(0.0, 0.9));
        let cut = silences
            .iter()
            .map(|s| (s.start + s.end) / 2.0)
            .filter(|&m| m >= earliest && m <= latest)
            .fold(None, |best: Option<f64>, m| {
                Some(best.map_or(m, |b| b.max(m)))
            })
            .unwrap_or(latest);
        out.push(Chunk {
            index: out.len(),
            start,
            end: (cut + overlap).min(duration),
            keep_from,
            keep_until: cut,
        });
        keep_from = cut;
    }
}

/// Whether the silences cover (nearly) all of `duration`: nothing to send.
pub fn all_silent(duration: f64, silences: &[Silence]) -> bool {
    let silent: f64 = silences
        .iter()
        .map(|s| (s.end.min(duration) - s.start.max(0.0)).max(0.0))
        .sum();
    duration <= 0.0 || silent >= duration - 0.25
}

/// Joins the pieces' transcripts (in any order, with their chunks): times
/// shifted by each piece's start; of the overlap, each piece keeps what it
/// says between its `keep_from` and `keep_until` (by the middle of each
/// word, or of each segment without word times), so nothing is said twice.
pub fn merge(parts: &[(Chunk, ChunkTranscript)]) -> Vec<Segment> {
    let mut parts: Vec<&(Chunk, ChunkTranscript)> = parts.iter().collect();
    parts.sort_by_key(|(c, _)| c.index);
    let mut out: Vec<Segment> = vec![];
    for (c, t) in parts {
        let inside = |s: f64, e: f64| {
            let mid = (s + e) / 2.0;
            mid >= c.keep_from && (mid < c.keep_until || c.keep_until >= c.end)
        };
        for s in &t.segments {
            let mut s = s.clone();
            s.start += c.start;
            s.end += c.start;
            for w in &mut s.words {
                w.start += c.start;
                w.end += c.start;
            }
            if s.words.is_empty() {
                if inside(s.start, s.end) {
                    out.push(s);
                }
                continue;
            }
            let all = s.words.len();
            s.words.retain(|w| inside(w.start, w.end));
            if s.words.is_empty() {
                continue;
            }
            if s.words.len() < all {
                s.start = s.words[0].start;
                s.end = s.words[s.words.len() - 1].end;
                s.text = join_words(&s.words);
            }
            out.push(s);
        }
    }
    // Monotonic: a segment never starts before the one before it.
    let mut last = 0.0f64;
    for s in &mut out {
        s.start = s.start.max(last);
        s.end = s.end.max(s.start);
        last = s.start;
    }
    out
}

fn join_words(words: &[super::speech::Word]) -> String {
    let mut text = String::new();
    for w in words {
        let punct = w.word.starts_with([',', '.', '!', '?', ';', ':']);
        if !text.is_empty() && !punct {
            text.push(' ');
        }
        text.push_str(&w.word);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcripts::speech::Word;

    const PLAN: Plan = Plan {
        max_seconds: 100.0,
        overlap: 2.0,
        search: 0.3,
    };

    #[test]
    fn short_media_is_one_piece() {
        let c = plan(90.0, &[], PLAN);
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].start, c[0].end), (0.0, 90.0));
    }

    #[test]
    fn pieces_cover_everything_under_the_limit_and_cut_at_silences() {
        let silences = [
            Silence {
                start: 80.0,
                end: 81.0,
            },
            Silence {
                start: 90.0,
                end: 92.0,
            },
            Silence {
                start: 170.0,
                end: 172.0,
            },
        ];
        let c = plan(400.0, &silences, PLAN);
        assert!(c.len() >= 5, "{c:?}");
        assert_eq!(c[0].keep_until, 91.0, "the latest silence in the window");
        assert_eq!(c[1].keep_until, 171.0);
        for (i, p) in c.iter().enumerate() {
            assert!(p.seconds() <= PLAN.max_seconds + 1e-9, "{p:?}");
            assert_eq!(p.index, i);
            if i > 0 {
                assert_eq!(p.keep_from, c[i - 1].keep_until, "no gap, no double");
                assert!(p.start < c[i - 1].end, "overlap");
            }
        }
        assert_eq!(c.last().unwrap().end, 400.0);
        assert_eq!(c[0].keep_from, 0.0);
    }

    #[test]
    fn ten_hours_plan_quickly_into_bounded_pieces() {
        let c = plan(
            36_000.0,
            &[],
            Plan {
                max_seconds: 600.0,
                ..PLAN
            },
        );
        assert_eq!(c.len(), 61);
        assert!(c.iter().all(|p| p.seconds() <= 600.0));
    }

    fn seg(start: f64, end: f64, words: &[(&str, f64, f64)]) -> Segment {
        Segment {
            start,
            end,
            text: words.iter().map(|w| w.0).collect::<Vec<_>>().join(" "),
            confidence: None,
            speaker: None,
            words: words
                .iter()
                .map(|&(w, s, e)| Word {
                    word: w.into(),
                    start: s,
                    end: e,
                    confidence: None,
                })
                .collect(),
        }
    }

    #[test]
    fn merging_shifts_times_and_keeps_the_overlap_once() {
        let c = plan(
            150.0,
            &[Silence {
                start: 89.0,
                end: 91.0,
            }],
            PLAN,
        );
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].keep_until, c[1].start), (90.0, 88.0));
        // Both pieces heard "and then" around the cut (88–92 s).
        let a = ChunkTranscript {
            language: None,
            segments: vec![seg(
                80.0,
                91.5,
                &[
                    ("first", 80.0, 85.0),
                    ("and", 88.2, 88.8),
                    ("then", 90.5, 91.5),
                ],
            )],
        };
        let b = ChunkTranscript {
            language: None,
            segments: vec![seg(
                0.2,
                10.0,
                &[("and", 0.2, 0.8), ("then", 2.5, 3.5), ("second", 5.0, 10.0)],
            )],
        };
        let merged = merge(&[(c[1], b), (c[0], a)]);
        let words: Vec<(&str, f64)> = merged
            .iter()
            .flat_map(|s| s.words.iter().map(|w| (w.word.as_str(), w.start)))
            .collect();
        assert_eq!(
            words,
            vec![
                ("first", 80.0),
                ("and", 88.2),
                ("then", 90.5),
                ("second", 93.0)
            ]
        );
        assert_eq!(merged[0].text, "first and");
        assert_eq!(merged[1].text, "then second");
        assert_eq!(merged[1].start, 90.5);
    }

    #[test]
    fn silence_everywhere_is_nothing_to_send() {
        assert!(all_silent(
            10.0,
            &[Silence {
                start: 0.0,
                end: 10.0
            }]
        ));
        assert!(all_silent(0.0, &[]));
        assert!(!all_silent(
            10.0,
            &[Silence {
                start: 0.0,
                end: 5.0
            }]
        ));
    }
}
