//! The offline survey summary (`provider: "extractive"`): no model, no
//! network.
//!
//! 1. Answers are split into sentences and clauses (verbatim slices). Each
//!    gets a lexicon sentiment score (with negation) and is a *suggestion*
//!    when it carries a request cue ("should", "more", "would be useful",
//!    "please"…) or starts with an imperative ("Invite…", "Keep…").
//!    Praise feeds "working well"; criticism and suggestions feed
//!    "opportunities".
//! 2. Key phrases are RAKE candidates: runs of content words between stop
//!    words, opinion words, common verbs and punctuation, scored by word
//!    degree over frequency across all answers.
//! 3. Themes are stemmed words and word pairs that at least two distinct
//!    answers of the same side share; the rest of the points are the
//!    strongest single answers, labelled by their best key phrase.
//! 4. Quotes are whole short answers or the sentence that carries the
//!    point: always verbatim.

use std::collections::{HashMap, HashSet};

use super::types::{Sentiment, SummaryItem};

/// Version of the method (recorded as the result's `prompt_version`).
pub const METHOD_VERSION: &str = "extractive/v2";

/// What the extractive method produces.
#[derive(Debug, Clone, PartialEq)]
pub struct Extract {
    pub working_well: Vec<SummaryItem>,
    pub opportunities: Vec<SummaryItem>,
    pub top_actions: Vec<SummaryItem>,
    pub sentiment: Sentiment,
}

#[rustfmt::skip]
const STOP_WORDS: &[&str] = &[
    "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any", "are", "as", "at",
    "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "did", "do", "does",
    "doing", "down", "during", "each", "even", "every", "few", "for", "from", "further", "had", "has", "have", "having",
    "he", "her", "here", "hers", "him", "his", "how", "i", "i'd", "i'm", "i've", "i'll", "if", "in", "into", "is", "it",
    "it's", "its", "itself", "just", "me", "much", "my", "myself", "now", "of", "off", "on", "once", "one", "only", "or",
    "other", "our", "ours", "out", "over", "own", "same", "she", "so", "some", "such", "than", "that", "that's", "the",
    "their", "theirs", "them", "then", "there", "there's", "these", "they", "they're", "this", "those", "through", "to",
    "under", "until", "up", "us", "very", "was", "we", "we're", "were", "what", "when", "where", "which", "while",
    "who", "whom", "why", "will", "with", "you", "you're", "your", "yours", "really", "quite", "still", "always",
    "often", "sometimes", "overall", "thing", "things", "way", "ways", "bit", "kind", "sort", "yes", "yet", "etc",
    "via", "per", "since", "though", "although", "however", "many", "most", "lot", "lots", "cop", "community",
    "session", "sessions", "team", "teams", "people", "everyone", "someone", "something", "anything", "everything",
    "day", "days", "week", "weeks", "year", "years", "month", "months", "quarter", "twice", "once", "right", "left",
    "last", "next", "first", "new", "old", "part", "exactly", "enough", "ready", "able", "whole", "half", "two",
    "three", "four", "five", "ten", "twenty", "ninety", "hour", "hours", "minutes", "minute", "topic", "topics",
];

/// Common verbs: they break key phrases (themes are things, not actions).
#[rustfmt::skip]
const VERBS: &[&str] = &[
    "get", "gets", "getting", "got", "make", "makes", "made", "used", "using", "think", "feel", "felt", "find",
    "found", "keep", "kept", "see", "saw", "know", "knew", "apply", "applied", "leave", "left", "help", "helps",
    "share", "shared", "come", "comes", "came", "run", "runs", "ran", "join", "joined", "assume", "assumes", "start",
    "starts", "started", "take", "takes", "took", "give", "gives", "gave", "go", "goes", "went", "going", "say", "said",
    "ask", "asked", "look", "looks", "seem", "seems", "become", "becomes", "happen", "happens", "try", "tried", "learn",
    "learned", "bring", "put", "covered", "cover", "covers", "report", "record", "recorded", "invite", "motivates",
    "motivate", "needed", "clashes", "clash", "migrate", "migrating", "focus", "alternate", "provide", "offer",
    "include", "schedule", "move", "avoid", "let", "publish", "update", "create", "reduce", "increase", "limit",
    "organise", "organize", "stop", "attend", "attended", "explain", "explained", "show", "shows", "showed",
];

/// Sentences starting with one of these are requests ("Invite more…").
#[rustfmt::skip]
const IMPERATIVES: &[&str] = &[
    "add", "alternate", "invite", "keep", "share", "record", "focus", "make", "provide", "offer", "include", "consider",
    "try", "start", "stop", "reduce", "increase", "limit", "schedule", "organise", "organize", "move", "avoid",
    "give", "let", "publish", "update", "create", "run", "bring", "host", "split", "shorten", "allow", "send", "post",
];

#[rustfmt::skip]
const POSITIVE: &[&str] = &[
    "good", "great", "excellent", "useful", "helpful", "love", "loved", "enjoy", "enjoyed", "enjoying", "valuable",
    "clear", "practical", "relevant", "insightful", "amazing", "awesome", "fantastic", "interesting", "engaging", "fun",
    "perfect", "nice", "best", "happy", "easy", "inspiring", "inspired", "informative", "appreciate", "appreciated",
    "thanks", "thank", "brilliant", "efficient", "impressive", "productive", "recommend", "solid", "friendly",
    "welcoming", "supportive", "responsive", "benefit", "benefits", "improved", "works", "worked", "helped", "excited",
    "wonderful", "superb", "outstanding", "concrete", "actionable", "smooth", "organised", "organized", "liked",
    "saved", "saves", "motivating", "motivates", "motivated", "exactly",
];

#[rustfmt::skip]
const NEGATIVE: &[&str] = &[
    "bad", "poor", "boring", "confusing", "confused", "difficult", "hard", "slow", "noisy", "hectic", "rushed",
    "unclear", "irrelevant", "useless", "waste", "frustrating", "frustrated", "problem", "problems", "issue", "issues",
    "lacking", "lack", "missing", "miss", "missed", "hate", "disappointing", "disappointed", "annoying", "inconvenient",
    "overwhelming", "dull", "shallow", "outdated", "broken", "crowded", "awkward", "worse", "worst", "terrible",
    "awful", "unfortunately", "cancelled", "canceled", "conflict", "conflicts", "clash", "clashes", "too", "late",
    "superficial", "repetitive", "chaotic", "struggle", "struggled", "impossible", "expensive", "generic", "tough",
    "theoretical",
];

#[rustfmt::skip]
const NEGATORS: &[&str] = &[
    "not", "no", "never", "don't", "doesn't", "didn't", "isn't", "wasn't", "aren't", "weren't", "can't", "cannot",
    "couldn't", "won't", "wouldn't", "hardly", "without", "nothing",
];

#[rustfmt::skip]
const SUGGESTION_CUES: &[&str] = &[
    "should", "could", "would", "more", "wish", "please", "suggest", "suggestion", "maybe", "perhaps", "need", "needs",
    "want", "improve", "improvement", "better", "prefer", "instead", "hope", "fewer", "less", "longer", "shorter",
    "earlier", "like", "guidance", "addition",
];

fn in_list(list: &[&str], w: &str) -> bool {
    list.contains(&w)
}

/// Lower-case words of `s` (letters, digits, inner `'` or `-`); `,` marks
/// punctuation that breaks phrases.
fn words(s: &str) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    for c in s.chars() {
        if c.is_alphanumeric() || ((c == '\'' || c == '’' || c == '-') && !cur.is_empty()) {
            cur.extend(c.to_lowercase().map(|c| if c == '’' { '\'' } else { c }));
            continue;
        }
        if !cur.is_empty() {
            out.push(
                std::mem::take(&mut cur)
                    .trim_end_matches(['\'', '-'])
                    .to_string(),
            );
        }
        if c.is_ascii_punctuation() && out.last().is_none_or(|w: &String| w != ",") {
            out.push(",".into());
        }
    }
    if !cur.is_empty() {
        out.push(cur.trim_end_matches(['\'', '-']).to_string());
    }
    out
}

/// A crude stem, so that "demo" and "demos" count as one phrase.
fn stem(w: &str) -> String {
    if let Some(b) = w.strip_suffix("ies").filter(|b| b.len() > 2) {
        format!("{b}y")
    } else if w.len() > 3 && w.ends_with('s') && !w.ends_with("ss") && !w.ends_with("us") {
        w[..w.len() - 1].to_string()
    } else {
        w.to_string()
    }
}

/// Sentences and contrasting clauses of `s` as verbatim slices: split
/// after `.`, `!`, `?`, `;` and newlines, and before ", but".
fn sentences(s: &str) -> Vec<&str> {
    let mut cuts = vec![0];
    for (i, c) in s.char_indices() {
        if matches!(c, '.' | '!' | '?' | ';' | '\n') {
            cuts.push(i + c.len_utf8());
        }
    }
    let mut from = 0;
    while let Some(i) = s[from..].find(", but ") {
        cuts.push(from + i + 2);
        from += i + 2;
    }
    cuts.push(s.len());
    cuts.sort_unstable();
    cuts.windows(2)
        .map(|w| s[w[0]..w[1]].trim())
        .filter(|t| t.chars().any(char::is_alphanumeric))
        .collect()
}

/// Lexicon score: +1 per positive word, −1 per negative word, flipped when
/// one of the three previous words negates it; "out of date" counts as negative.
fn polarity(ws: &[String]) -> i32 {
    let mut score = 0;
    for (i, w) in ws.iter().enumerate() {
        let p = if in_list(POSITIVE, w) {
            1
        } else if in_list(NEGATIVE, w)
            || (w == "date" && i >= 2 && ws[i - 2] == "out" && ws[i - 1] == "of")
        {
            -1
        } else {
            continue;
        };
        let negated = ws[i.saturating_sub(3)..i]
            .iter()
            .any(|x| in_list(NEGATORS, x));
        score += if negated { -p } else { p };
    }
    score
}

fn is_suggestion(ws: &[String]) -> bool {
    ws.iter().any(|w| in_list(SUGGESTION_CUES, w))
        || ws.first().is_some_and(|w| in_list(IMPERATIVES, w))
}

fn is_delimiter(w: &str) -> bool {
    w == ","
        || w.chars().count() < 3
        || w.chars().all(|c| c.is_ascii_digit())
        || in_list(STOP_WORDS, w)
        || in_list(VERBS, w)
        || in_list(POSITIVE, w)
        || in_list(NEGATIVE, w)
        || in_list(NEGATORS, w)
        || in_list(SUGGESTION_CUES, w)
        || in_list(IMPERATIVES, w)
}

/// RAKE candidates of a sentence: runs of content words (at most three).
fn runs(ws: &[String]) -> Vec<Vec<String>> {
    let mut out = vec![];
    let mut run: Vec<String> = vec![];
    for w in ws.iter().map(String::as_str).chain([","]) {
        if is_delimiter(w) {
            if !run.is_empty() {
                run.truncate(3);
                out.push(std::mem::take(&mut run));
            }
        } else {
            run.push(w.to_string());
        }
    }
    out
}

/// Theme keys of a sentence: stemmed words and adjacent pairs within runs.
fn keys(runs: &[Vec<String>]) -> HashSet<String> {
    let mut out = HashSet::new();
    for r in runs {
        let stems: Vec<String> = r.iter().map(|w| stem(w)).collect();
        out.extend(stems.iter().cloned());
        out.extend(stems.windows(2).map(|p| p.join(" ")));
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Side {
    Works,
    Improve,
    Neutral,
}

struct Sentence<'a> {
    /// Index of the distinct answer text.
    text_index: usize,
    text: &'a str,
    side: Side,
    strength: i32,
    suggestion: bool,
    runs: Vec<Vec<String>>,
    keys: HashSet<String>,
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn answers_label(n: usize) -> String {
    if n == 1 {
        "1 answer".into()
    } else {
        format!("{n} answers")
    }
}

/// Summarises `answers` without a model.
pub fn summarise(answers: &[&str]) -> Extract {
    // Distinct texts, with how many answers gave each.
    let mut texts: Vec<&str> = vec![];
    let mut weight: Vec<usize> = vec![];
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut scores: Vec<i32> = vec![];
    for a in answers {
        let a = a.trim();
        match index.get(a) {
            Some(&i) => weight[i] += 1,
            None => {
                index.insert(a, texts.len());
                texts.push(a);
                weight.push(1);
            }
        }
    }
    let mut all: Vec<Sentence<'_>> = vec![];
    for (ti, t) in texts.iter().enumerate() {
        let mut total = 0;
        for text in sentences(t) {
            let ws = words(text);
            let score = polarity(&ws);
            let suggestion = is_suggestion(&ws);
            total += score;
            let side = if score < 0 || suggestion {
                Side::Improve
            } else if score > 0 {
                Side::Works
            } else {
                Side::Neutral
            };
            let runs = runs(&ws);
            all.push(Sentence {
                text_index: ti,
                text,
                side,
                strength: score.abs() + i32::from(suggestion),
                suggestion,
                keys: keys(&runs),
                runs,
            });
        }
        scores.push(total);
    }
    // RAKE word scores over all answers: degree / frequency.
    let mut freq: HashMap<&str, f64> = HashMap::new();
    let mut degree: HashMap<&str, f64> = HashMap::new();
    for s in &all {
        for r in &s.runs {
            for w in r {
                *freq.entry(w.as_str()).or_default() += 1.0;
                *degree.entry(w.as_str()).or_default() += r.len() as f64;
            }
        }
    }
    let rake = |r: &[String]| -> f64 {
        r.iter()
            .map(|w| degree[w.as_str()] / freq[w.as_str()])
            .sum()
    };
    // The best key phrase of a sentence (the first among equals).
    let label_of = |s: &Sentence<'_>| -> Option<String> {
        s.runs
            .iter()
            .fold(None::<(&Vec<String>, f64)>, |best, r| match best {
                Some((_, b)) if b >= rake(r) => best,
                _ => Some((r, rake(r))),
            })
            .map(|(r, _)| r.join(" "))
    };
    // Answers that both praise and criticise ("great, but out of date").
    let mut sides: Vec<HashSet<Side>> = vec![HashSet::new(); texts.len()];
    for s in &all {
        sides[s.text_index].insert(s.side);
    }
    let mixed = |i: usize| sides[i].contains(&Side::Works) && sides[i].contains(&Side::Improve);
    // The whole answer when it is short and one-sided, else the sentence
    // or clause that carries the point (a half-complaint is not quoted
    // whole under "working well").
    let quote = |s: &Sentence<'_>| -> String {
        let whole = texts[s.text_index];
        if whole.chars().count() <= 200 && !mixed(s.text_index) {
            whole.to_string()
        } else {
            s.text.trim_end_matches([',', ';', ' ']).to_string()
        }
    };

    let points = |side: Side, max: usize| -> Vec<(String, Vec<&Sentence<'_>>)> {
        let mine: Vec<&Sentence<'_>> = all.iter().filter(|s| s.side == side).collect();
        // Themes: keys shared by at least two distinct answers.
        let mut by_key: HashMap<&str, HashSet<usize>> = HashMap::new();
        for s in &mine {
            for k in &s.keys {
                by_key.entry(k.as_str()).or_default().insert(s.text_index);
            }
        }
        let mut themes: Vec<(&str, usize)> = by_key
            .iter()
            .filter(|(_, t)| t.len() >= 2)
            .map(|(k, t)| (*k, t.len()))
            .collect();
        let score =
            |(k, n): &(&str, usize)| *n as f64 * (1.0 + 0.5 * (k.split(' ').count() as f64 - 1.0));
        themes.sort_by(|a, b| score(b).total_cmp(&score(a)).then(a.0.cmp(b.0)));
        let mut used_words: HashSet<&str> = HashSet::new();
        let mut used_texts: HashSet<usize> = HashSet::new();
        let mut out: Vec<(String, Vec<&Sentence<'_>>)> = vec![];
        for (k, _) in themes {
            if out.len() >= max {
                break;
            }
            if k.split(' ').any(|w| used_words.contains(w)) {
                continue;
            }
            let mut members: Vec<&Sentence<'_>> = mine
                .iter()
                .copied()
                .filter(|s| s.keys.contains(k))
                .collect();
            // A theme over answers already covered adds nothing.
            if members.iter().all(|s| used_texts.contains(&s.text_index)) {
                continue;
            }
            members.sort_by_key(|s| {
                (
                    std::cmp::Reverse(s.strength),
                    s.text.len().abs_diff(90),
                    s.text_index,
                )
            });
            used_words.extend(k.split(' '));
            used_texts.extend(members.iter().map(|s| s.text_index));
            // The surface form: the run that contains the key, most common first.
            let label = members
                .iter()
                .flat_map(|s| s.runs.iter())
                .map(|r| r.join(" "))
                .find(|r| {
                    let stems: Vec<String> = r.split(' ').map(stem).collect();
                    stems.join(" ").contains(k)
                })
                .unwrap_or_else(|| k.to_string());
            out.push((label, members));
        }
        // Then the strongest single answers not covered yet.
        let mut singles: Vec<&Sentence<'_>> = mine
            .iter()
            .copied()
            .filter(|s| !used_texts.contains(&s.text_index))
            .collect();
        singles.sort_by_key(|s| (std::cmp::Reverse(s.strength), s.text_index));
        for s in singles {
            if out.len() >= max {
                break;
            }
            if used_texts.insert(s.text_index)
                && let Some(label) = label_of(s)
            {
                out.push((label, vec![s]));
            }
        }
        out
    };
    // A point with quotes no other point used (one quote never serves two
    // themes); none when every quote of its answers is taken.
    let item = |members: &[&Sentence<'_>],
                text: String,
                max_quotes: usize,
                used: &mut HashSet<String>|
     -> Option<SummaryItem> {
        let mut quotes: Vec<String> = vec![];
        for s in members {
            let q = quote(s);
            if quotes.len() < max_quotes && !quotes.contains(&q) && !used.contains(&q) {
                quotes.push(q);
            }
        }
        used.extend(quotes.iter().cloned());
        (!quotes.is_empty()).then_some(SummaryItem { text, quotes })
    };
    // A theme as the answers spell it when that keeps capitals inside a
    // word ("MLOps"), else in lower case.
    let surface = |label: &str, members: &[&Sentence<'_>]| -> String {
        members
            .iter()
            .find_map(|s| {
                let lower = s.text.to_lowercase();
                let i = lower.find(label).filter(|_| lower.len() == s.text.len())?;
                let found = s.text.get(i..i + label.len())?;
                found
                    .chars()
                    .skip(1)
                    .any(char::is_uppercase)
                    .then(|| found.to_string())
            })
            .unwrap_or_else(|| label.to_string())
    };
    let count = |members: &[&Sentence<'_>]| -> usize {
        members
            .iter()
            .map(|s| s.text_index)
            .collect::<HashSet<_>>()
            .iter()
            .map(|i| weight[*i])
            .sum()
    };
    let works = points(Side::Works, 5);
    let improve = points(Side::Improve, 5);
    let mut used = HashSet::new();
    let mut theme_items = |points: &[(String, Vec<&Sentence<'_>>)]| -> Vec<SummaryItem> {
        points
            .iter()
            .filter_map(|(label, m)| {
                let text = format!(
                    "{} ({})",
                    capitalise(&surface(label, m)),
                    answers_label(count(m))
                );
                item(m, text, 2, &mut used)
            })
            .collect()
    };
    let working_well = theme_items(&works);
    let opportunities = theme_items(&improve);
    // Actions: the opportunities backed by a suggestion, most supported first.
    let mut actionable: Vec<(&String, Vec<&Sentence<'_>>, usize)> = improve
        .iter()
        .filter_map(|(label, m)| {
            let suggestions: Vec<&Sentence<'_>> =
                m.iter().copied().filter(|s| s.suggestion).collect();
            (!suggestions.is_empty()).then(|| (label, suggestions, count(m)))
        })
        .collect();
    actionable.sort_by_key(|(_, _, n)| std::cmp::Reverse(*n));
    let top_actions = actionable
        .iter()
        .take(3)
        .filter_map(|(label, m, n)| {
            // An action quotes the request behind it, which its opportunity may quote too.
            let text = format!(
                "Act on {}: {} ask for a change",
                surface(label, m),
                answers_label(*n)
            );
            item(m, text, 1, &mut HashSet::new())
        })
        .collect();
    let n: usize = weight.iter().sum();
    let positive: usize = scores
        .iter()
        .zip(&weight)
        .filter(|(s, _)| **s > 0)
        .map(|(_, w)| w)
        .sum();
    let negative: usize = scores
        .iter()
        .zip(&weight)
        .filter(|(s, _)| **s < 0)
        .map(|(_, w)| w)
        .sum();
    Extract {
        working_well,
        opportunities,
        top_actions,
        sentiment: Sentiment {
            positive: positive as i64,
            negative: negative as i64,
            neutral: (n - positive - negative) as i64,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_sentences_and_stems() {
        assert_eq!(
            words("Hands-on labs, please!"),
            vec!["hands-on", "labs", ",", "please", ","]
        );
        assert_eq!(words("I don’t like it"), vec!["i", "don't", "like", "it"]);
        assert_eq!(
            sentences("Great demos, but too long. More labs please!\nThanks"),
            vec![
                "Great demos,",
                "but too long.",
                "More labs please!",
                "Thanks"
            ]
        );
        assert_eq!(stem("demos"), "demo");
        assert_eq!(stem("stories"), "story");
        assert_eq!(stem("class"), "class");
    }

    #[test]
    fn polarity_handles_negation() {
        assert_eq!(polarity(&words("the demos were great")), 1);
        assert_eq!(polarity(&words("the demos were not great")), -1);
        assert_eq!(polarity(&words("too long and boring")), -2);
        assert_eq!(polarity(&words("some are out of date")), -1);
    }

    #[test]
    fn summarises_themes_with_verbatim_quotes() {
        let answers = [
            "The live demos are great and very practical.",
            "Great live demos, I learn a lot.",
            "I love the live demos.",
            "More hands-on labs please.",
            "We need more hands-on labs with real data.",
            "The timing is bad for APAC colleagues.",
            "Session timing is difficult for people in Asia.",
            "Recordings would help when I miss a session.",
            "Please share recordings afterwards.",
            "Fine.",
            "Fine.",
        ];
        let e = summarise(&answers);
        let ww: Vec<&str> = e.working_well.iter().map(|i| i.text.as_str()).collect();
        assert_eq!(ww[0], "Live demos (3 answers)", "{ww:?}");
        let opp: Vec<&str> = e.opportunities.iter().map(|i| i.text.as_str()).collect();
        assert!(opp.contains(&"Hands-on labs (2 answers)"), "{opp:?}");
        assert!(opp.contains(&"Recordings (2 answers)"), "{opp:?}");
        assert!(opp.contains(&"Timing (2 answers)"), "{opp:?}");
        for item in e
            .working_well
            .iter()
            .chain(&e.opportunities)
            .chain(&e.top_actions)
        {
            assert!(!item.quotes.is_empty(), "{item:?}");
            let distinct: HashSet<&String> = item.quotes.iter().collect();
            assert_eq!(
                distinct.len(),
                item.quotes.len(),
                "no repeated quotes: {item:?}"
            );
            for q in &item.quotes {
                assert!(
                    answers.iter().any(|a| a.contains(q.as_str())),
                    "not verbatim: {q}"
                );
            }
        }
        let actions: Vec<&str> = e.top_actions.iter().map(|i| i.text.as_str()).collect();
        assert!(
            actions.contains(&"Act on hands-on labs: 2 answers ask for a change"),
            "{actions:?}"
        );
        let s = e.sentiment;
        assert_eq!(s.positive + s.neutral + s.negative, 11);
        assert_eq!(s.positive, 3);
        assert_eq!(s.negative, 3);
    }

    #[test]
    fn nothing_to_say_gives_empty_sections() {
        let e = summarise(&["ok", "n/a"]);
        assert!(
            e.working_well.is_empty() && e.opportunities.is_empty() && e.top_actions.is_empty()
        );
        assert_eq!(e.sentiment.neutral, 2);
    }

    #[test]
    fn a_quote_serves_one_theme_and_half_complaints_are_quoted_by_their_clause() {
        let answers = [
            "The notebooks in the library are great, but some are out of date.",
            "The notebooks are great for onboarding.",
            "More hands-on labs, fewer slides.",
            "Labs should come with a sandbox workspace.",
            "Please share the slides before the session starts.",
            "The MLOps session was exactly what we needed.",
            "MLOps examples were great.",
        ];
        let e = summarise(&answers);
        let quotes: Vec<&String> = e
            .working_well
            .iter()
            .chain(&e.opportunities)
            .flat_map(|i| &i.quotes)
            .collect();
        let distinct: HashSet<&&String> = quotes.iter().collect();
        assert_eq!(distinct.len(), quotes.len(), "{e:#?}");
        let praise: Vec<&String> = e.working_well.iter().flat_map(|i| &i.quotes).collect();
        assert!(
            praise.iter().all(|q| !q.contains("out of date")),
            "{praise:?}"
        );
        assert!(
            praise.contains(&&"The notebooks in the library are great".to_string()),
            "{praise:?}"
        );
        let themes: Vec<&str> = e.working_well.iter().map(|i| i.text.as_str()).collect();
        assert!(themes.contains(&"MLOps (2 answers)"), "{themes:?}");
    }
}
