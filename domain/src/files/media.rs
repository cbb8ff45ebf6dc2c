//! Audio and video facts (duration, channels, sample rate; video size) from
//! a file's bytes: MP3, MP4/M4A/MOV, Ogg (Vorbis, Opus), FLAC and
//! WebM/Matroska. Pure functions over byte slices; where a format keeps its
//! facts away from the head (an MP4's `moov` at the end, an Ogg stream's
//! last granule position), the caller reads those bytes (see
//! [`mp4_box`], [`id3v2_len`]) and hands them over.
//!
//! Malformed or truncated input never panics: what cannot be read is
//! absent from the facts.

use super::sniff::MediaFacts;

fn be16(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes(
        b.get(i..i.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn be32(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_be_bytes(
        b.get(i..i.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn be64(b: &[u8], i: usize) -> Option<u64> {
    Some(u64::from_be_bytes(
        b.get(i..i.checked_add(8)?)?.try_into().ok()?,
    ))
}

fn le16(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(i..i.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn le32(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(i..i.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn le64(b: &[u8], i: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(i..i.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// `units` of `1/per_second` s in milliseconds (no overflow; `None` for a
/// zero rate).
fn ms(units: u64, per_second: u64) -> Option<u64> {
    if per_second == 0 {
        return None;
    }
    u64::try_from(units as u128 * 1000 / per_second as u128).ok()
}

// ---------------------------------------------------------------------------
// MP3
// ---------------------------------------------------------------------------

/// The length of an ID3v2 tag at the start of `head` (header, body and
/// footer): where the MPEG audio frames begin. 0 without a tag.
pub fn id3v2_len(head: &[u8]) -> u64 {
    if head.len() < 10 || &head[..3] != b"ID3" {
        return 0;
    }
    let syncsafe = head[6..10]
        .iter()
        .fold(0u64, |acc, b| (acc << 7) | (*b & 0x7F) as u64);
    let footer = if head[5] & 0x10 != 0 { 10 } else { 0 };
    10 + syncsafe + footer
}

/// An MPEG audio frame header.
#[derive(Debug, Clone, Copy)]
struct MpegFrame {
    mpeg1: bool,
    layer: u8,
    bitrate: u32,
    sample_rate: u32,
    channels: u16,
    /// The frame's length in bytes.
    len: usize,
}

impl MpegFrame {
    fn parse(b: &[u8]) -> Option<Self> {
        let h = be32(b, 0)?;
        if h >> 21 != 0x7FF {
            return None;
        }
        let version = (h >> 19) & 3; // 0: 2.5, 1: reserved, 2: MPEG-2, 3: MPEG-1
        let layer = match (h >> 17) & 3 {
            1 => 3,
            2 => 2,
            3 => 1,
            _ => return None,
        };
        let bitrate_index = ((h >> 12) & 0xF) as usize;
        let rate_index = ((h >> 10) & 3) as usize;
        if version == 1 || bitrate_index == 0 || bitrate_index == 15 || rate_index == 3 {
            return None;
        }
        let mpeg1 = version == 3;
        const V1: [[u32; 15]; 3] = [
            [
                0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448,
            ],
            [
                0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384,
            ],
            [
                0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
            ],
        ];
        const V2_L1: [u32; 15] = [
            0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256,
        ];
        const V2_L23: [u32; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
        let kbps = match (mpeg1, layer) {
            (true, l) => V1[l as usize - 1][bitrate_index],
            (false, 1) => V2_L1[bitrate_index],
            (false, _) => V2_L23[bitrate_index],
        };
        let base = [44_100, 48_000, 32_000][rate_index];
        let sample_rate = match version {
            3 => base,
            2 => base / 2,
            _ => base / 4,
        };
        let bitrate = kbps * 1000;
        let padding = (h >> 9) & 1;
        let len = match layer {
            1 => (12 * bitrate / sample_rate + padding) * 4,
            3 if !mpeg1 => 72 * bitrate / sample_rate + padding,
            _ => 144 * bitrate / sample_rate + padding,
        } as usize;
        let channels = if (h >> 6) & 3 == 3 { 1 } else { 2 };
        Some(Self {
            mpeg1,
            layer,
            bitrate,
            sample_rate,
            channels,
            len,
        })
    }

    fn samples(&self) -> u64 {
        match self.layer {
            1 => 384,
            3 if !self.mpeg1 => 576,
            _ => 1152,
        }
    }

    /// Where a Xing/Info header sits in the frame (after the side info).
    fn xing_offset(&self) -> usize {
        4 + match (self.mpeg1, self.channels) {
            (true, 1) => 17,
            (true, _) => 32,
            (false, 1) => 9,
            (false, _) => 17,
        }
    }
}

/// The first MPEG audio frame in `audio`, confirmed by the next frame's
/// header when that lies within `audio`: (offset, frame).
fn first_frame(audio: &[u8]) -> Option<(usize, MpegFrame)> {
    let mut i = 0usize;
    while i + 4 <= audio.len() {
        if audio[i] == 0xFF
            && let Some(f) = MpegFrame::parse(&audio[i..])
        {
            let next = i + f.len;
            let confirmed = match audio.get(next..next + 4) {
                Some(n) => MpegFrame::parse(n)
                    .is_some_and(|g| g.sample_rate == f.sample_rate && g.layer == f.layer),
                None => true,
            };
            if confirmed && f.len >= 4 {
                return Some((i, f));
            }
        }
        i += 1;
    }
    None
}

/// Facts of MPEG audio (MP3): `audio` starts where the frames start (after
/// any ID3v2 tag: [`id3v2_len`]), `audio_size` is the byte count from there
/// to the end of the file. Duration from a Xing/Info (with LAME's encoder
/// delay and padding) or VBRI frame count when present, else from the
/// bitrate (constant bit rate).
pub fn mp3_facts(audio: &[u8], audio_size: u64) -> Option<MediaFacts> {
    let (at, f) = first_frame(audio)?;
    let frame = audio.get(at..at + f.len).unwrap_or(&audio[at..]);
    let xing = f.xing_offset();
    let mut total_samples = None;
    if let Some(tag) = frame.get(xing..xing + 4)
        && (tag == b"Xing" || tag == b"Info")
    {
        let flags = be32(frame, xing + 4).unwrap_or(0);
        let mut p = xing + 8;
        let frames = if flags & 1 != 0 {
            let n = be32(frame, p);
            p += 4;
            n
        } else {
            None
        };
        for (bit, len) in [(2, 4), (4, 100), (8, 4)] {
            if flags & bit != 0 {
                p += len;
            }
        }
        if let Some(n) = frames.filter(|n| *n > 0) {
            let mut samples = n as u64 * f.samples();
            // LAME's extension: a 9-byte encoder name, then 12 bits of encoder
            // delay and 12 of padding 21 bytes in.
            let named = frame
                .get(p..p + 9)
                .is_some_and(|s| s.iter().all(|c| c.is_ascii_graphic() || *c == b' '));
            if named && let Some(d) = frame.get(p + 21..p + 24) {
                let delay = ((d[0] as u64) << 4) | (d[1] as u64 >> 4);
                let padding = (((d[1] & 0x0F) as u64) << 8) | d[2] as u64;
                samples = samples.saturating_sub(delay + padding);
            }
            total_samples = Some(samples);
        }
    } else if frame.get(36..40) == Some(b"VBRI") {
        total_samples = be32(frame, 36 + 14)
            .filter(|n| *n > 0)
            .map(|n| n as u64 * f.samples());
    }
    let duration_ms = match total_samples {
        Some(s) => ms(s, f.sample_rate as u64),
        None => ms(
            audio_size.saturating_sub(at as u64).saturating_mul(8),
            f.bitrate as u64,
        ),
    };
    Some(MediaFacts {
        duration_ms,
        channels: Some(f.channels),
        sample_rate: Some(f.sample_rate),
        ..Default::default()
    })
}

// ---------------------------------------------------------------------------
// FLAC
// ---------------------------------------------------------------------------

/// Facts of a FLAC stream from its STREAMINFO block (the first metadata
/// block, right after `fLaC`).
pub fn flac_facts(head: &[u8]) -> Option<MediaFacts> {
    if head.get(..4)? != b"fLaC" || head.get(4)? & 0x7F != 0 {
        return None;
    }
    let s = head.get(8..8 + 34)?;
    let rate = ((s[10] as u32) << 12) | ((s[11] as u32) << 4) | (s[12] as u32 >> 4);
    let channels = ((s[12] >> 1) & 7) as u16 + 1;
    let bits = ((((s[12] & 1) << 4) | (s[13] >> 4)) + 1) as u16;
    let total = (((s[13] & 0x0F) as u64) << 32) | be32(s, 14)? as u64;
    if rate == 0 {
        return None;
    }
    Some(MediaFacts {
        // 0 total samples: unknown.
        duration_ms: if total == 0 {
            None
        } else {
            ms(total, rate as u64)
        },
        channels: Some(channels),
        sample_rate: Some(rate),
        bits_per_sample: Some(bits),
        ..Default::default()
    })
}

// ---------------------------------------------------------------------------
// Ogg
// ---------------------------------------------------------------------------

/// An Ogg page header at `b[i..]`: (granule position, serial number,
/// header length + body length).
fn ogg_page(b: &[u8], i: usize) -> Option<(u64, u32, usize)> {
    if b.get(i..i + 4)? != b"OggS" || *b.get(i + 4)? != 0 {
        return None;
    }
    let granule = le64(b, i + 6)?;
    let serial = le32(b, i + 14)?;
    let segments = *b.get(i + 26)? as usize;
    let table = b.get(i + 27..i + 27 + segments)?;
    let body: usize = table.iter().map(|s| *s as usize).sum();
    Some((granule, serial, 27 + segments + body))
}

/// Facts of an Ogg Vorbis or Opus stream: channels and rate from the
/// identification header in `head` (the first page), the duration from
/// the last page's granule position in `tail` (the file's last bytes; the
/// whole file when it is small).
pub fn ogg_facts(head: &[u8], tail: &[u8]) -> Option<MediaFacts> {
    let (_, serial, _) = ogg_page(head, 0)?;
    let segments = head[26] as usize;
    let packet = head.get(27 + segments..)?;
    // (channels, rate, granule rate, pre-skip)
    let (channels, rate, granule_rate, pre_skip) = if packet.starts_with(b"\x01vorbis") {
        let rate = le32(packet, 12)?;
        (*packet.get(11)? as u16, rate, rate as u64, 0)
    } else if packet.starts_with(b"OpusHead") {
        // Opus always decodes at 48 kHz; granules count 48 kHz samples.
        (
            *packet.get(9)? as u16,
            48_000,
            48_000,
            le16(packet, 10)? as u64,
        )
    } else {
        return None;
    };
    if channels == 0 || rate == 0 {
        return None;
    }
    // The last complete page header of this stream with a granule position.
    let mut duration_ms = None;
    let mut i = tail.len().saturating_sub(27);
    loop {
        if tail[i..].starts_with(b"OggS")
            && let Some((granule, s, _)) = ogg_page(tail, i)
            && s == serial
            && granule != u64::MAX
        {
            duration_ms = ms(granule.saturating_sub(pre_skip), granule_rate);
            break;
        }
        if i == 0 {
            break;
        }
        i -= 1;
    }
    Some(MediaFacts {
        duration_ms,
        channels: Some(channels),
        sample_rate: Some(rate),
        ..Default::default()
    })
}

// ---------------------------------------------------------------------------
// MP4 / M4A / MOV (ISO base media)
// ---------------------------------------------------------------------------

/// A box header: its type, the header's length and the whole box's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mp4Box {
    pub kind: [u8; 4],
    pub header_len: u64,
    pub len: u64,
}

/// The box header at the start of `b` (16 bytes are enough), where at most
/// `remaining` bytes are left in the file (or the enclosing box). `None`
/// when it is malformed or runs past `remaining`. A size of 0 (to the end)
/// takes `remaining`; 1 reads the 64-bit size.
pub fn mp4_box(b: &[u8], remaining: u64) -> Option<Mp4Box> {
    let size = be32(b, 0)? as u64;
    let kind: [u8; 4] = b.get(4..8)?.try_into().ok()?;
    let (header_len, len) = match size {
        0 => (8, remaining),
        1 => (16, be64(b, 8)?),
        n => (8, n),
    };
    if len < header_len || len > remaining {
        return None;
    }
    Some(Mp4Box {
        kind,
        header_len,
        len,
    })
}

/// At most this many top-level boxes are looked at for the `moov`.
pub const MP4_MAX_BOXES: usize = 256;

/// The `moov` box among the top-level boxes whose headers lie in `head`
/// (the file's first bytes; `size`: the file's): its offset and header.
pub fn mp4_top_level(head: &[u8], size: u64) -> Option<(u64, Mp4Box)> {
    let mut at = 0u64;
    for _ in 0..MP4_MAX_BOXES {
        let b = mp4_box(
            head.get(usize::try_from(at).ok()?..)?,
            size.checked_sub(at)?,
        )?;
        if &b.kind == b"moov" {
            return Some((at, b));
        }
        at = at.checked_add(b.len)?;
    }
    None
}

/// The children of a box body: (type, body).
fn children(body: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    let mut rest = body;
    std::iter::from_fn(move || {
        let b = mp4_box(rest, rest.len() as u64)?;
        // Both fit in `rest` (len ≤ remaining), so these never panic.
        let item = (b.kind, &rest[b.header_len as usize..b.len as usize]);
        rest = &rest[b.len as usize..];
        Some(item)
    })
}

fn child<'a>(body: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    children(body).find(|(k, _)| k == kind).map(|(_, b)| b)
}

/// The channel count of an AAC stream from the AudioSpecificConfig in an
/// `esds` body (ES_Descriptor → DecoderConfigDescriptor →
/// DecoderSpecificInfo). `None` when the configuration defers to a
/// program config element (channel configuration 0).
fn aac_channels(esds: &[u8]) -> Option<u16> {
    // A descriptor at b[i]: (tag, body start, body length).
    fn descriptor(b: &[u8], i: usize) -> Option<(u8, usize, usize)> {
        let tag = *b.get(i)?;
        let mut len = 0usize;
        for k in 1..=4 {
            let x = *b.get(i + k)?;
            len = (len << 7) | (x & 0x7F) as usize;
            if x & 0x80 == 0 {
                return Some((tag, i + k + 1, len));
            }
        }
        None
    }
    let (tag, es, _) = descriptor(esds, 4)?;
    if tag != 0x03 {
        return None;
    }
    let flags = *esds.get(es + 2)?;
    let mut i = es + 3;
    if flags & 0x80 != 0 {
        i += 2;
    }
    if flags & 0x40 != 0 {
        i += 1 + *esds.get(i)? as usize;
    }
    if flags & 0x20 != 0 {
        i += 2;
    }
    let (tag, dc, _) = descriptor(esds, i)?;
    if tag != 0x04 {
        return None;
    }
    let (tag, asc, len) = descriptor(esds, dc + 13)?;
    if tag != 0x05 || len < 2 {
        return None;
    }
    let config = esds.get(asc..asc + len.min(8))?;
    let bits = config.iter().fold(0u64, |acc, b| (acc << 8) | *b as u64) << (64 - 8 * config.len());
    let mut pos = 0u32;
    let mut take = |n: u32| {
        let v = (bits << pos) >> (64 - n);
        pos += n;
        v
    };
    if take(5) == 31 {
        take(6);
    }
    if take(4) == 15 {
        take(24);
    }
    match take(4) {
        0 => None,
        7 => Some(8),
        c @ 1..=6 => Some(c as u16),
        _ => None,
    }
}

/// (timescale, duration) of an `mvhd` or `mdhd` body (versions 0 and 1).
fn header_time(b: &[u8]) -> Option<(u32, u64)> {
    match b.first()? {
        0 => Some((be32(b, 12)?, be32(b, 16)? as u64)),
        1 => Some((be32(b, 20)?, be64(b, 24)?)),
        _ => None,
    }
}

/// Facts from the body of an MP4/MOV `moov` box: the duration from `mvhd`,
/// channels and sample rate from the first audio track, width and height
/// from the first video track's `tkhd`.
pub fn mp4_facts(moov: &[u8]) -> MediaFacts {
    let mut facts = MediaFacts::default();
    if let Some((scale, duration)) = child(moov, b"mvhd").and_then(header_time)
        && duration != 0
        && duration != u32::MAX as u64
        && duration != u64::MAX
    {
        facts.duration_ms = ms(duration, scale as u64);
    }
    for (_, trak) in children(moov).filter(|(k, _)| k == b"trak") {
        let Some(mdia) = child(trak, b"mdia") else {
            continue;
        };
        let handler = child(mdia, b"hdlr").and_then(|h| h.get(8..12));
        match handler {
            Some(b"soun") if facts.channels.is_none() => {
                let timescale = child(mdia, b"mdhd").and_then(header_time).map(|(s, _)| s);
                let entry = child(mdia, b"minf")
                    .and_then(|m| child(m, b"stbl"))
                    .and_then(|s| child(s, b"stsd"))
                    .and_then(|s| s.get(8..))
                    .and_then(|e| children(e).next());
                // An AudioSampleEntry: 6 reserved, data reference index, 8
                // reserved/version bytes, channel count, sample size,
                // 4 bytes, the rate in 16.16 fixed point.
                if let Some((kind, e)) = entry {
                    // MP4 writers put 2 in the entry for any AAC; the real
                    // count is in the decoder configuration.
                    let aac = if &kind == b"mp4a" {
                        e.get(28..)
                            .and_then(|c| child(c, b"esds"))
                            .and_then(aac_channels)
                    } else {
                        None
                    };
                    facts.channels = aac.or(be16(e, 16).filter(|c| *c > 0));
                    facts.sample_rate = be32(e, 24)
                        .map(|r| r >> 16)
                        .filter(|r| *r > 0)
                        .or(timescale.filter(|t| *t > 0));
                }
            }
            Some(b"vide") if facts.width.is_none() => {
                if let Some(tkhd) = child(trak, b"tkhd") {
                    let at = match tkhd.first() {
                        Some(0) => 76,
                        Some(1) => 88,
                        _ => continue,
                    };
                    if let (Some(w), Some(h)) = (be32(tkhd, at), be32(tkhd, at + 4)) {
                        facts.width = Some(w >> 16);
                        facts.height = Some(h >> 16);
                    }
                }
            }
            _ => {}
        }
    }
    facts
}

// ---------------------------------------------------------------------------
// WebM / Matroska (EBML)
// ---------------------------------------------------------------------------

/// An EBML variable-length integer at `b[i..]`: (value, its length). With
/// `keep_marker` the length marker stays in (element IDs).
fn vint(b: &[u8], i: usize, keep_marker: bool) -> Option<(u64, usize)> {
    let first = *b.get(i)?;
    if first == 0 {
        return None;
    }
    let len = first.leading_zeros() as usize + 1;
    let bytes = b.get(i..i + len)?;
    let mut v = if keep_marker {
        first as u64
    } else {
        (first as u64) & ((1u64 << (8 - len)) - 1)
    };
    for x in &bytes[1..] {
        v = (v << 8) | *x as u64;
    }
    Some((v, len))
}

const EBML_SEGMENT: u64 = 0x1853_8067;
const EBML_INFO: u64 = 0x1549_A966;
const EBML_TRACKS: u64 = 0x1654_AE6B;
const EBML_TRACK_ENTRY: u64 = 0xAE;
const EBML_AUDIO: u64 = 0xE1;
const EBML_VIDEO: u64 = 0xE0;
const EBML_CLUSTER: u64 = 0x1F43_B675;

fn ebml_uint(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 8 {
        return None;
    }
    Some(b.iter().fold(0u64, |acc, x| (acc << 8) | *x as u64))
}

fn ebml_float(b: &[u8]) -> Option<f64> {
    match b.len() {
        4 => Some(f32::from_be_bytes(b.try_into().ok()?) as f64),
        8 => Some(f64::from_be_bytes(b.try_into().ok()?)),
        _ => None,
    }
}

#[derive(Default)]
struct Mkv {
    timecode_scale: Option<u64>,
    duration: Option<f64>,
    track_type: Option<u64>,
    channels: Option<u64>,
    rate: Option<f64>,
    width: Option<u64>,
    height: Option<u64>,
    facts: MediaFacts,
    done: bool,
}

/// Walks the elements of `b` (the body of `parent`), descending into the
/// masters that hold facts; stops at the first cluster.
fn mkv_walk(b: &[u8], parent: u64, depth: u8, m: &mut Mkv) {
    let mut i = 0usize;
    while i < b.len() && !m.done && depth < 8 {
        let Some((id, id_len)) = vint(b, i, true) else {
            return;
        };
        let Some((size, size_len)) = vint(b, i + id_len, false) else {
            return;
        };
        let start = i + id_len + size_len;
        let unknown = size == (1u64 << (7 * size_len)) - 1;
        // A body cut by the end of the buffer is read as far as it goes.
        let end = if unknown {
            b.len()
        } else {
            usize::try_from(size)
                .ok()
                .and_then(|s| start.checked_add(s))
                .map_or(b.len(), |e| e.min(b.len()))
        };
        if start > b.len() {
            return;
        }
        let body = &b[start..end];
        match (parent, id) {
            (_, EBML_CLUSTER) => {
                m.done = true;
                return;
            }
            (0, EBML_SEGMENT) | (EBML_SEGMENT, EBML_INFO | EBML_TRACKS) => {
                mkv_walk(body, id, depth + 1, m)
            }
            (EBML_TRACKS, EBML_TRACK_ENTRY) => {
                m.track_type = None;
                m.channels = None;
                m.rate = None;
                m.width = None;
                m.height = None;
                mkv_walk(body, id, depth + 1, m);
                match m.track_type {
                    Some(2) if m.facts.sample_rate.is_none() => {
                        // Channels default to 1, the rate to 8 kHz.
                        m.facts.channels =
                            Some(m.channels.unwrap_or(1).min(u16::MAX as u64) as u16);
                        m.facts.sample_rate = m
                            .rate
                            .filter(|r| r.is_finite() && *r >= 1.0 && *r < u32::MAX as f64)
                            .map(|r| r as u32)
                            .or(Some(8000));
                    }
                    Some(1) if m.facts.width.is_none() => {
                        m.facts.width = m.width.and_then(|w| u32::try_from(w).ok());
                        m.facts.height = m.height.and_then(|h| u32::try_from(h).ok());
                    }
                    _ => {}
                }
            }
            (EBML_TRACK_ENTRY, EBML_AUDIO | EBML_VIDEO) => mkv_walk(body, id, depth + 1, m),
            (EBML_INFO, 0x2A_D7B1) => m.timecode_scale = ebml_uint(body),
            (EBML_INFO, 0x4489) => m.duration = ebml_float(body),
            (EBML_TRACK_ENTRY, 0x83) => m.track_type = ebml_uint(body),
            (EBML_AUDIO, 0xB5) => m.rate = ebml_float(body),
            (EBML_AUDIO, 0x9F) => m.channels = ebml_uint(body),
            (EBML_VIDEO, 0xB0) => m.width = ebml_uint(body),
            (EBML_VIDEO, 0xBA) => m.height = ebml_uint(body),
            _ => {}
        }
        if unknown {
            return;
        }
        i = end;
    }
}

/// Facts of a WebM/Matroska file from its head: the Segment Info's
/// `Duration` × `TimecodeScale`, the first audio track's channels and
/// sampling frequency, the first video track's pixel size.
pub fn mkv_facts(head: &[u8]) -> MediaFacts {
    let mut m = Mkv::default();
    mkv_walk(head, 0, 0, &mut m);
    let scale = m.timecode_scale.unwrap_or(1_000_000) as f64;
    m.facts.duration_ms = m
        .duration
        .map(|d| d * scale / 1e6)
        .filter(|d| d.is_finite() && *d >= 0.0 && *d < u64::MAX as f64)
        .map(|d| d.round() as u64);
    m.facts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::sniff::{Sniffed, facts, sniff};

    fn facts_of(b: &[u8]) -> MediaFacts {
        facts(sniff(b), b, b.len() as u64)
    }

    fn audio(duration_ms: u64, channels: u16, sample_rate: u32) -> MediaFacts {
        MediaFacts {
            duration_ms: Some(duration_ms),
            channels: Some(channels),
            sample_rate: Some(sample_rate),
            ..Default::default()
        }
    }

    /// Every truncation and a few thousand corrupted bytes: no panic, no hang.
    fn survives_damage(b: &[u8]) {
        for n in 0..b.len().min(4096) {
            let _ = facts_of(&b[..n]);
            let _ = ogg_facts(&b[..n], &b[..n]);
            let _ = mp4_facts(&b[..n]);
            let _ = mkv_facts(&b[..n]);
        }
        let mut x: u32 = 0x9E37_79B9;
        for _ in 0..3000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let mut d = b.to_vec();
            let i = x as usize % d.len();
            d[i] = (x >> 8) as u8;
            let _ = facts_of(&d);
            let _ = mp4_facts(&d);
            let _ = mkv_facts(&d);
        }
    }

    // ----- MP3 -----

    fn id3(body: usize) -> Vec<u8> {
        let mut v = b"ID3\x04\x00\x00".to_vec();
        v.extend([
            (body >> 21) as u8 & 0x7F,
            (body >> 14) as u8 & 0x7F,
            (body >> 7) as u8 & 0x7F,
            body as u8 & 0x7F,
        ]);
        v.resize(10 + body, 0);
        v
    }

    /// MPEG-1 layer III, 128 kbit/s, 44.1 kHz, stereo: 417-byte frames.
    const MPEG1_128K: [u8; 4] = [0xFF, 0xFB, 0x90, 0x00];

    fn frames(header: [u8; 4], len: usize, n: usize) -> Vec<u8> {
        let mut v = Vec::new();
        for _ in 0..n {
            let at = v.len();
            v.extend(header);
            v.resize(at + len, 0);
        }
        v
    }

    #[test]
    fn mp3_cbr_after_an_id3_tag() {
        let mut b = id3(90);
        assert_eq!(id3v2_len(&b), 100);
        b.extend(frames(MPEG1_128K, 417, 10));
        assert_eq!(sniff(&b), Some(Sniffed::Mp3));
        // 4,170 bytes at 128 kbit/s.
        assert_eq!(facts_of(&b), audio(260, 2, 44_100));
        // MPEG-2 layer III, 64 kbit/s, 22.05 kHz, mono: 208-byte frames.
        let b = frames([0xFF, 0xF3, 0x80, 0xC0], 208, 20);
        assert_eq!(facts_of(&b), audio(520, 1, 22_050));
        survives_damage(&b);
    }

    #[test]
    fn mp3_frame_counts_from_xing_lame_and_vbri() {
        let mut b = frames(MPEG1_128K, 417, 3);
        b[36..40].copy_from_slice(b"Info");
        b[40..44].copy_from_slice(&1u32.to_be_bytes());
        b[44..48].copy_from_slice(&100u32.to_be_bytes());
        // 100 frames of 1,152 samples.
        assert_eq!(facts_of(&b), audio(2612, 2, 44_100));
        // LAME's encoder delay (576) and padding (1000) are not sound.
        b[48..57].copy_from_slice(b"LAME3.100");
        let (delay, padding) = (576u32, 1000u32);
        b[69..72].copy_from_slice(&((delay << 12) | padding).to_be_bytes()[1..]);
        assert_eq!(facts_of(&b), audio(2576, 2, 44_100));
        survives_damage(&b);

        let mut b = frames(MPEG1_128K, 417, 3);
        b[36..40].copy_from_slice(b"VBRI");
        b[50..54].copy_from_slice(&50u32.to_be_bytes());
        assert_eq!(facts_of(&b), audio(1306, 2, 44_100));
    }

    #[test]
    fn mp3_without_frames_has_no_facts() {
        assert_eq!(mp3_facts(b"", 0), None);
        assert_eq!(mp3_facts(&[0xFF, 0xFB, 0xF0, 0x00, 0, 0], 6), None);
        // An ID3 tag that claims more than the file.
        let b = id3(10);
        assert_eq!(facts_of(&b[..12]), MediaFacts::default());
        let mut huge = b.clone();
        huge[6..10].copy_from_slice(&[0x7F; 4]);
        assert_eq!(facts_of(&huge), MediaFacts::default());
    }

    // ----- FLAC -----

    fn flac(rate: u32, channels: u8, bits: u8, total: u64) -> Vec<u8> {
        let mut v = b"fLaC".to_vec();
        v.extend([0x80, 0, 0, 34]);
        let mut s = [0u8; 34];
        s[10] = (rate >> 12) as u8;
        s[11] = (rate >> 4) as u8;
        s[12] = ((rate & 0xF) << 4) as u8 | (channels - 1) << 1 | (bits - 1) >> 4;
        s[13] = ((bits - 1) & 0xF) << 4 | (total >> 32) as u8 & 0xF;
        s[14..18].copy_from_slice(&(total as u32).to_be_bytes());
        v.extend(s);
        v
    }

    #[test]
    fn flac_streaminfo() {
        let b = flac(48_000, 2, 24, 96_000);
        assert_eq!(sniff(&b), Some(Sniffed::Flac));
        let f = facts_of(&b);
        assert_eq!(f.bits_per_sample, Some(24));
        assert_eq!(
            MediaFacts {
                bits_per_sample: None,
                ..f
            },
            audio(2000, 2, 48_000)
        );
        // 0 total samples: unknown length.
        assert_eq!(facts_of(&flac(44_100, 1, 16, 0)).duration_ms, None);
        // More than 32 bits of samples.
        let long = facts_of(&flac(96_000, 6, 24, 1 << 33));
        assert_eq!(long.duration_ms, Some((1u64 << 33) * 1000 / 96_000));
        assert_eq!(long.channels, Some(6));
        survives_damage(&b);
    }

    // ----- Ogg -----

    fn page(serial: u32, granule: u64, packet: &[u8]) -> Vec<u8> {
        let mut v = b"OggS\x00\x02".to_vec();
        v.extend(granule.to_le_bytes());
        v.extend(serial.to_le_bytes());
        v.extend([0u8; 8]);
        let mut lacing = vec![255u8; packet.len() / 255];
        lacing.push((packet.len() % 255) as u8);
        v.push(lacing.len() as u8);
        v.extend(lacing);
        v.extend(packet);
        v
    }

    #[test]
    fn ogg_opus_and_vorbis() {
        let mut head = b"OpusHead\x01\x02".to_vec();
        head.extend(312u16.to_le_bytes());
        head.extend(44_100u32.to_le_bytes());
        head.extend([0, 0, 0]);
        let mut b = page(7, 0, &head);
        b.extend(page(7, 0, b"OpusTags"));
        b.extend(page(7, 48_000, &[0; 300]));
        // Another stream's page last: skipped.
        b.extend(page(7, 48_000 * 2 + 312, &[0; 40]));
        b.extend(page(9, 999_999_999, &[0; 40]));
        assert_eq!(sniff(&b), Some(Sniffed::Ogg));
        // Opus decodes at 48 kHz; the pre-skip is not sound.
        assert_eq!(facts_of(&b), audio(2000, 2, 48_000));
        survives_damage(&b);

        let mut id = b"\x01vorbis".to_vec();
        id.extend(0u32.to_le_bytes());
        id.push(1);
        id.extend(44_100u32.to_le_bytes());
        id.extend([0; 14]);
        let first = page(3, 0, &id);
        let last = page(3, 44_100 * 3, &[0; 100]);
        assert_eq!(ogg_facts(&first, &last), Some(audio(3000, 1, 44_100)));
        // No page in the tail: the format without a duration.
        let f = ogg_facts(&first, &[0; 100]).unwrap();
        assert_eq!((f.duration_ms, f.channels), (None, Some(1)));
        assert_eq!(ogg_facts(&first, b""), ogg_facts(&first, &[0; 100]));
        // Neither Vorbis nor Opus.
        assert_eq!(ogg_facts(&page(3, 0, b"\x7fFLAC"), &last), None);
    }

    // ----- MP4 -----

    fn bx(kind: &[u8; 4], parts: &[&[u8]]) -> Vec<u8> {
        let body = parts.concat();
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend(kind);
        v.extend(body);
        v
    }

    fn mvhd_v1(timescale: u32, duration: u64) -> Vec<u8> {
        let mut b = vec![1, 0, 0, 0];
        b.extend([0; 16]);
        b.extend(timescale.to_be_bytes());
        b.extend(duration.to_be_bytes());
        b.extend([0; 80]);
        bx(b"mvhd", &[&b])
    }

    fn mdia(handler: &[u8; 4], timescale: u32, stsd_entry: &[u8]) -> Vec<u8> {
        let mut mdhd = vec![0u8; 12];
        mdhd.extend(timescale.to_be_bytes());
        mdhd.extend([0; 8]);
        let mut hdlr = vec![0u8; 8];
        hdlr.extend(handler);
        hdlr.extend([0; 13]);
        let mut stsd = vec![0, 0, 0, 0, 0, 0, 0, 1];
        stsd.extend(stsd_entry);
        let stbl = bx(b"stbl", &[&bx(b"stsd", &[&stsd])]);
        bx(
            b"mdia",
            &[
                &bx(b"mdhd", &[&mdhd]),
                &bx(b"hdlr", &[&hdlr]),
                &bx(b"minf", &[&stbl]),
            ],
        )
    }

    /// An `mp4a` sample entry (2 channels, as MP4 writers put it) whose
    /// AAC configuration says `channels`.
    fn mp4a(rate: u32, channels: u8) -> Vec<u8> {
        let mut e = vec![0u8; 8];
        e.extend([0; 8]);
        e.extend(2u16.to_be_bytes());
        e.extend(16u16.to_be_bytes());
        e.extend([0; 4]);
        e.extend((rate << 16).to_be_bytes());
        // AAC LC (2), 44.1 kHz (index 4), `channels`.
        let (object_type, rate_index) = (2u8, 4u8);
        let asc = [
            (object_type << 3) | (rate_index >> 1),
            ((rate_index & 1) << 7) | (channels << 3),
        ];
        let mut esds = vec![0, 0, 0, 0, 0x03, 0x80, 0x80, 0x80, 25, 0, 1, 0];
        esds.extend([0x04, 17, 0x40, 0x15]);
        esds.extend([0; 11]);
        esds.extend([0x05, 2]);
        esds.extend(asc);
        esds.extend([0x06, 1, 2]);
        bx(b"mp4a", &[&e, &bx(b"esds", &[&esds])])
    }

    fn tkhd_v0(width: u32, height: u32) -> Vec<u8> {
        let mut b = vec![0u8; 76];
        b.extend((width << 16).to_be_bytes());
        b.extend((height << 16).to_be_bytes());
        bx(b"tkhd", &[&b])
    }

    fn movie() -> Vec<u8> {
        let video = bx(
            b"trak",
            &[
                &tkhd_v0(1280, 720),
                &mdia(b"vide", 12_800, &bx(b"avc1", &[&[0; 70]])),
            ],
        );
        let sound = bx(
            b"trak",
            &[&tkhd_v0(0, 0), &mdia(b"soun", 44_100, &mp4a(44_100, 1))],
        );
        let moov = bx(b"moov", &[&mvhd_v1(1000, 4321), &video, &sound]);
        let mut b = bx(b"ftyp", &[b"isom\x00\x00\x02\x00isomiso2mp41"]);
        b.extend(bx(b"mdat", &[&[0xAB; 5000]]));
        b.extend(bx(b"free", &[]));
        b.extend(moov);
        b
    }

    #[test]
    fn mp4_moov_at_the_end() {
        let b = movie();
        assert_eq!(sniff(&b), Some(Sniffed::Mp4));
        let f = facts_of(&b);
        assert_eq!(
            f,
            MediaFacts {
                width: Some(1280),
                height: Some(720),
                ..audio(4321, 1, 44_100)
            }
        );
        // Walking the top level with box headers only (what the worker
        // does with ranged reads).
        let (at, moov) = mp4_top_level(&b, b.len() as u64).unwrap();
        assert_eq!(&b[at as usize + 4..at as usize + 8], b"moov");
        assert_eq!(at + moov.len, b.len() as u64);
        // The moov beyond the bytes at hand: not found here.
        assert_eq!(mp4_top_level(&b[..100], b.len() as u64), None);
        survives_damage(&b);
    }

    #[test]
    fn mp4_versions_and_audio_only() {
        let mut mvhd0 = vec![0u8; 12];
        mvhd0.extend(600u32.to_be_bytes());
        mvhd0.extend(1800u32.to_be_bytes());
        mvhd0.extend([0; 80]);
        let sound = bx(b"trak", &[&mdia(b"soun", 48_000, &mp4a(48_000, 2))]);
        let moov = bx(b"moov", &[&bx(b"mvhd", &[&mvhd0]), &sound]);
        let mut b = bx(b"ftyp", &[b"M4A \x00\x00\x00\x00M4A mp42isom"]);
        b.extend(moov);
        assert_eq!(facts_of(&b), audio(3000, 2, 48_000));
        // A QuickTime movie without ftyp.
        let mut qt = bx(b"wide", &[]);
        qt.extend(&b[b.len() - (b.len() - 28)..]);
        assert_eq!(sniff(&qt), Some(Sniffed::Mp4));
        survives_damage(&b);
    }

    #[test]
    fn mp4_box_sizes() {
        let h = |size: u32, kind: &[u8; 4], large: u64| {
            let mut v = size.to_be_bytes().to_vec();
            v.extend(kind);
            v.extend(large.to_be_bytes());
            v
        };
        let moov = |len, header_len| {
            Some(Mp4Box {
                kind: *b"moov",
                header_len,
                len,
            })
        };
        assert_eq!(mp4_box(&h(100, b"moov", 0), 1000), moov(100, 8));
        // 0: to the end; 1: a 64-bit size.
        assert_eq!(mp4_box(&h(0, b"moov", 0), 1000), moov(1000, 8));
        assert_eq!(mp4_box(&h(1, b"moov", 500), 1000), moov(500, 16));
        // Smaller than its header, past the end, or cut.
        assert_eq!(mp4_box(&h(4, b"moov", 0), 1000), None);
        assert_eq!(mp4_box(&h(1, b"moov", 8), 1000), None);
        assert_eq!(mp4_box(&h(1, b"moov", u64::MAX), 1000), None);
        assert_eq!(mp4_box(&h(2000, b"moov", 0), 1000), None);
        assert_eq!(mp4_box(&h(1, b"moov", 500)[..12], 1000), None);
        assert_eq!(mp4_box(b"", 1000), None);
        // A child of size 0 runs to the end of its parent.
        assert_eq!(mp4_facts(&h(0, b"trak", 0)), MediaFacts::default());
    }

    // ----- Matroska -----

    fn el(id: &[u8], body: &[u8]) -> Vec<u8> {
        let mut v = id.to_vec();
        v.push(0x01);
        v.extend((body.len() as u64).to_be_bytes()[1..].iter());
        v.extend(body);
        v
    }

    fn webm(duration: &[u8]) -> Vec<u8> {
        let info = el(
            &[0x15, 0x49, 0xA9, 0x66],
            &[
                el(&[0x2A, 0xD7, 0xB1], &[0x0F, 0x42, 0x40]),
                el(&[0x44, 0x89], duration),
            ]
            .concat(),
        );
        let video = el(
            &[0xAE],
            &[
                el(&[0x83], &[1]),
                el(
                    &[0xE0],
                    &[el(&[0xB0], &[0x02, 0x80]), el(&[0xBA], &[0x01, 0xE0])].concat(),
                ),
            ]
            .concat(),
        );
        let sound = el(
            &[0xAE],
            &[
                el(&[0x83], &[2]),
                el(
                    &[0xE1],
                    &[el(&[0xB5], &48_000f64.to_be_bytes()), el(&[0x9F], &[2])].concat(),
                ),
            ]
            .concat(),
        );
        let tracks = el(&[0x16, 0x54, 0xAE, 0x6B], &[video, sound].concat());
        let cluster = el(&[0x1F, 0x43, 0xB6, 0x75], &[0; 64]);
        let mut b = el(&[0x1A, 0x45, 0xDF, 0xA3], &el(&[0x42, 0x82], b"webm"));
        // The segment of unknown size (as live recorders write it).
        b.extend([
            0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        ]);
        b.extend([info, tracks, cluster].concat());
        b
    }

    #[test]
    fn webm_duration_and_tracks() {
        let b = webm(&2500.5f64.to_be_bytes());
        assert_eq!(sniff(&b), Some(Sniffed::Webm));
        let f = facts_of(&b);
        assert_eq!(
            f,
            MediaFacts {
                width: Some(640),
                height: Some(480),
                ..audio(2501, 2, 48_000)
            }
        );
        assert_eq!(
            facts_of(&webm(&1000f32.to_be_bytes())).duration_ms,
            Some(1000)
        );
        // No duration (a live recording): the rest still.
        let f = facts_of(&webm(&[]));
        assert_eq!((f.duration_ms, f.channels), (None, Some(2)));
        assert_eq!(facts_of(&webm(&f64::NAN.to_be_bytes())).duration_ms, None);
        survives_damage(&b);
    }
}
