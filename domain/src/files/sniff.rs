//! What a file really is, from its bytes: the type by magic numbers, and
//! media facts (image size, audio duration and format); image thumbnails.
//! Pure functions over bytes.

use std::io::Cursor;

use super::media;

/// A type recognised from the first bytes of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    Pdf,
    Png,
    Jpeg,
    Gif,
    Webp,
    Wav,
    Mp3,
    Ogg,
    Flac,
    /// ISO base media (MP4, M4A, MOV).
    Mp4,
    /// Matroska / WebM.
    Webm,
    /// ZIP containers (Office documents, EPUB).
    Zip,
    /// ELF, PE (MZ), Mach-O, or a `#!` script.
    Executable,
    /// UTF-8 text without NUL bytes.
    Text,
}

impl Sniffed {
    /// The canonical media type.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Pdf => "application/pdf",
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Gif => "image/gif",
            Self::Webp => "image/webp",
            Self::Wav => "audio/wav",
            Self::Mp3 => "audio/mpeg",
            Self::Ogg => "audio/ogg",
            Self::Flac => "audio/flac",
            Self::Mp4 => "video/mp4",
            Self::Webm => "video/webm",
            Self::Zip => "application/zip",
            Self::Executable => "application/x-executable",
            Self::Text => "text/plain",
        }
    }
}

/// Recognises a file from its first bytes (a few kB are enough; the last
/// bytes may cut a UTF-8 sequence).
pub fn sniff(head: &[u8]) -> Option<Sniffed> {
    let starts = |m: &[u8]| head.starts_with(m);
    let at = |i: usize, m: &[u8]| head.get(i..i + m.len()) == Some(m);
    Some(if starts(b"%PDF-") {
        Sniffed::Pdf
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        Sniffed::Png
    } else if starts(&[0xFF, 0xD8, 0xFF]) {
        Sniffed::Jpeg
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Sniffed::Gif
    } else if starts(b"RIFF") && at(8, b"WEBP") {
        Sniffed::Webp
    } else if starts(b"RIFF") && at(8, b"WAVE") {
        Sniffed::Wav
    } else if starts(b"OggS") {
        Sniffed::Ogg
    } else if starts(b"fLaC") {
        Sniffed::Flac
    } else if at(4, b"ftyp")
        // A QuickTime movie without `ftyp` starts with one of these boxes;
        // its 32-bit size starts with a 0 byte that text never has.
        || (head.first() == Some(&0)
            && [b"moov", b"mdat", b"wide", b"free", b"skip"]
                .iter()
                .any(|k| at(4, &k[..])))
    {
        Sniffed::Mp4
    } else if starts(&[0x1A, 0x45, 0xDF, 0xA3]) {
        Sniffed::Webm
    } else if starts(b"PK\x03\x04") {
        Sniffed::Zip
    } else if starts(b"\x7fELF")
        || starts(b"MZ")
        || starts(&[0xFE, 0xED, 0xFA, 0xCE])
        || starts(&[0xFE, 0xED, 0xFA, 0xCF])
        || starts(&[0xCE, 0xFA, 0xED, 0xFE])
        || starts(&[0xCF, 0xFA, 0xED, 0xFE])
        || starts(&[0xCA, 0xFE, 0xBA, 0xBE])
        || starts(b"#!")
    {
        Sniffed::Executable
    } else if starts(b"ID3") || (head.len() > 1 && head[0] == 0xFF && head[1] & 0xE0 == 0xE0) {
        Sniffed::Mp3
    } else if is_text(head) {
        Sniffed::Text
    } else {
        return None;
    })
}

fn is_text(head: &[u8]) -> bool {
    if head.is_empty() || head.contains(&0) {
        return false;
    }
    let text = match std::str::from_utf8(head) {
        Ok(s) => s,
        // A sequence cut by the end of the sample is fine.
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return false,
    };
    !text.is_empty()
        && text
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t' | '\u{c}'))
}

/// The sniffed types a declared media type may be. `None`: any type that
/// is not executable (`application/octet-stream` and types we cannot
/// recognise).
fn expected(declared: &str) -> Option<&'static [Sniffed]> {
    use Sniffed::*;
    Some(match declared {
        "application/pdf" => &[Pdf],
        "image/png" => &[Png],
        "image/jpeg" | "image/jpg" | "image/pjpeg" => &[Jpeg],
        "image/gif" => &[Gif],
        "image/webp" => &[Webp],
        "audio/wav" | "audio/x-wav" | "audio/wave" | "audio/vnd.wave" => &[Wav],
        "audio/mpeg" | "audio/mp3" => &[Mp3],
        "audio/ogg" | "video/ogg" | "application/ogg" | "audio/opus" => &[Ogg],
        "audio/flac" | "audio/x-flac" => &[Flac],
        "video/mp4" | "audio/mp4" | "audio/x-m4a" | "audio/m4a" | "video/x-m4v"
        | "video/quicktime" | "audio/aac" => &[Mp4],
        "video/webm" | "audio/webm" | "video/x-matroska" | "audio/x-matroska" => &[Webm],
        "application/zip" | "application/epub+zip" => &[Zip],
        d if d.starts_with("application/vnd.openxmlformats-officedocument.")
            || d.starts_with("application/vnd.oasis.opendocument.") =>
        {
            &[Zip]
        }
        d if d.starts_with("text/")
            || d == "application/json"
            || d == "application/x-subrip"
            || d.ends_with("+json")
            || d.ends_with("+xml")
            || d == "application/xml" =>
        {
            &[Text]
        }
        _ => return None,
    })
}

/// Whether `declared` may be what the bytes are; the reason when not.
pub fn check_declared(declared: &str, sniffed: Option<Sniffed>) -> Result<(), String> {
    if sniffed == Some(Sniffed::Executable) {
        return Err(format!(
            "the content is an executable, not {declared}; executables are not accepted"
        ));
    }
    let Some(allowed) = expected(declared) else {
        return Ok(());
    };
    match sniffed {
        Some(s) if allowed.contains(&s) => Ok(()),
        Some(s) => Err(format!(
            "the content is {}, not the declared {declared}",
            s.mime()
        )),
        None => Err(format!(
            "the content is not recognisable as the declared {declared}"
        )),
    }
}

/// Facts read from a file's bytes.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MediaFacts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bits_per_sample: Option<u16>,
}

/// Facts of a file from its first bytes and its size. An MP4's `moov` at
/// the end, an Ogg stream's last page and MP3 frames after a long ID3 tag
/// lie beyond a head: the worker reads those and calls [`media`] itself.
pub fn facts(kind: Option<Sniffed>, head: &[u8], size: u64) -> MediaFacts {
    match kind {
        Some(Sniffed::Wav) => wav_facts(head, size).unwrap_or_default(),
        Some(Sniffed::Mp3) => {
            let start = media::id3v2_len(head);
            usize::try_from(start)
                .ok()
                .and_then(|s| head.get(s..))
                .and_then(|audio| media::mp3_facts(audio, size.saturating_sub(start)))
                .unwrap_or_default()
        }
        Some(Sniffed::Flac) => media::flac_facts(head).unwrap_or_default(),
        Some(Sniffed::Ogg) => media::ogg_facts(head, head).unwrap_or_default(),
        Some(Sniffed::Webm) => media::mkv_facts(head),
        Some(Sniffed::Mp4) => media::mp4_top_level(head, size)
            .and_then(|(at, b)| {
                let body = head.get(usize::try_from(at + b.header_len).ok()?..)?;
                let end = usize::try_from(b.len - b.header_len).ok()?;
                Some(media::mp4_facts(body.get(..end)?))
            })
            .unwrap_or_default(),
        Some(Sniffed::Png) => png_size(head).map(dims).unwrap_or_default(),
        Some(Sniffed::Jpeg) => jpeg_size(head).map(dims).unwrap_or_default(),
        Some(Sniffed::Gif) => head
            .get(6..10)
            .map(|b| {
                dims((
                    u16::from_le_bytes([b[0], b[1]]) as u32,
                    u16::from_le_bytes([b[2], b[3]]) as u32,
                ))
            })
            .unwrap_or_default(),
        _ => MediaFacts::default(),
    }
}

fn dims((w, h): (u32, u32)) -> MediaFacts {
    MediaFacts {
        width: Some(w),
        height: Some(h),
        ..Default::default()
    }
}

fn le16(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(i..i + 2)?.try_into().ok()?))
}

fn le32(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?))
}

/// Format and duration of a RIFF/WAVE file from its header chunks.
fn wav_facts(head: &[u8], size: u64) -> Option<MediaFacts> {
    let mut i = 12usize;
    let (mut channels, mut rate, mut byte_rate, mut bits) = (None, None, None, None);
    while i + 8 <= head.len() {
        let id = &head[i..i + 4];
        let len = le32(head, i + 4)? as u64;
        let body = i + 8;
        if id == b"fmt " {
            channels = le16(head, body + 2);
            rate = le32(head, body + 4);
            byte_rate = le32(head, body + 8);
            bits = le16(head, body + 14);
        } else if id == b"data" {
            // A streamed WAV may say 0 or 0xFFFFFFFF: the rest of the file then.
            let rest = size.saturating_sub(body as u64);
            let data = if len == 0 || len == u32::MAX as u64 || len > rest {
                rest
            } else {
                len
            };
            let br = byte_rate.filter(|b| *b > 0)? as u64;
            return Some(MediaFacts {
                duration_ms: Some(data * 1000 / br),
                channels,
                sample_rate: rate,
                bits_per_sample: bits,
                ..Default::default()
            });
        }
        // Chunks are padded to an even length.
        i = body.checked_add(usize::try_from(len + (len & 1)).ok()?)?;
    }
    None
}

fn png_size(b: &[u8]) -> Option<(u32, u32)> {
    if b.get(12..16)? != b"IHDR" {
        return None;
    }
    Some((
        u32::from_be_bytes(b.get(16..20)?.try_into().ok()?),
        u32::from_be_bytes(b.get(20..24)?.try_into().ok()?),
    ))
}

/// The frame size of a JPEG from its SOF marker (when within `b`).
fn jpeg_size(b: &[u8]) -> Option<(u32, u32)> {
    let mut i = 2usize;
    while i + 4 <= b.len() {
        if b[i] != 0xFF {
            return None;
        }
        let marker = b[i + 1];
        if marker == 0xFF {
            i += 1;
            continue;
        }
        let len = u16::from_be_bytes([b[i + 2], b[i + 3]]) as usize;
        let sof = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if sof {
            let h = u16::from_be_bytes(b.get(i + 5..i + 7)?.try_into().ok()?) as u32;
            let w = u16::from_be_bytes(b.get(i + 7..i + 9)?.try_into().ok()?) as u32;
            return Some((w, h));
        }
        i += 2 + len;
    }
    None
}

/// Thumbnails fit in this box, aspect ratio kept.
pub const THUMBNAIL_MAX: u32 = 320;

/// A PNG thumbnail of an image (PNG or JPEG), with its size.
pub struct Thumbnail {
    pub png: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// The decoded image's size.
    pub source_width: u32,
    pub source_height: u32,
}

/// Decodes an image (with bounded dimensions and memory) and renders a
/// thumbnail that fits in [`THUMBNAIL_MAX`]² (never enlarged).
pub fn thumbnail(bytes: &[u8]) -> Result<Thumbnail, String> {
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(20_000);
    limits.max_image_height = Some(20_000);
    limits.max_alloc = Some(512 * 1024 * 1024);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| e.to_string())?;
    let (source_width, source_height) = (img.width(), img.height());
    let small = if img.width() > THUMBNAIL_MAX || img.height() > THUMBNAIL_MAX {
        img.thumbnail(THUMBNAIL_MAX, THUMBNAIL_MAX)
    } else {
        img
    };
    let mut png = Vec::new();
    small
        .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| e.to_string())?;
    Ok(Thumbnail {
        png,
        width: small.width(),
        height: small.height(),
        source_width,
        source_height,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(channels: u16, rate: u32, bits: u16, frames: u32) -> Vec<u8> {
        let block = channels * bits / 8;
        let data = frames * block as u32;
        let mut v = b"RIFF".to_vec();
        v.extend((36 + data).to_le_bytes());
        v.extend(b"WAVEfmt ");
        v.extend(16u32.to_le_bytes());
        v.extend(1u16.to_le_bytes());
        v.extend(channels.to_le_bytes());
        v.extend(rate.to_le_bytes());
        v.extend((rate * block as u32).to_le_bytes());
        v.extend(block.to_le_bytes());
        v.extend(bits.to_le_bytes());
        v.extend(b"data");
        v.extend(data.to_le_bytes());
        v.resize(v.len() + data as usize, 0);
        v
    }

    #[test]
    fn magic_numbers() {
        assert_eq!(sniff(b"%PDF-1.7\n"), Some(Sniffed::Pdf));
        assert_eq!(sniff(b"\x7fELF\x02\x01"), Some(Sniffed::Executable));
        assert_eq!(sniff(b"MZ\x90\x00"), Some(Sniffed::Executable));
        assert_eq!(sniff(b"#!/bin/sh\nrm -rf /"), Some(Sniffed::Executable));
        assert_eq!(sniff(&wav(1, 8000, 16, 10)), Some(Sniffed::Wav));
        assert_eq!(
            sniff("WEBVTT\n\n00:00.000 --> 00:01.000\nHallo Wélt".as_bytes()),
            Some(Sniffed::Text)
        );
        assert_eq!(sniff(b"\x00\x01\x02\x03"), None);
        // A cut multi-byte sequence at the end of the sample is still text.
        assert_eq!(sniff(&"é".as_bytes()[..1]), None);
        assert_eq!(sniff(&"aé".as_bytes()[..2]), Some(Sniffed::Text));
    }

    #[test]
    fn declared_types_must_match_the_bytes() {
        assert!(check_declared("application/pdf", Some(Sniffed::Pdf)).is_ok());
        let e = check_declared("application/pdf", Some(Sniffed::Executable)).unwrap_err();
        assert!(e.contains("executable"), "{e}");
        assert!(check_declared("application/octet-stream", Some(Sniffed::Executable)).is_err());
        assert!(check_declared("application/octet-stream", None).is_ok());
        assert!(check_declared("image/png", Some(Sniffed::Jpeg)).is_err());
        assert!(check_declared("image/png", None).is_err());
        assert!(check_declared("text/vtt", Some(Sniffed::Text)).is_ok());
        assert!(
            check_declared(
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                Some(Sniffed::Zip)
            )
            .is_ok()
        );
    }

    #[test]
    fn wav_duration_and_format() {
        let w = wav(2, 44_100, 16, 44_100 * 3 / 2);
        let f = facts(sniff(&w), &w[..64], w.len() as u64);
        assert_eq!(f.duration_ms, Some(1500));
        assert_eq!(f.channels, Some(2));
        assert_eq!(f.sample_rate, Some(44_100));
        assert_eq!(f.bits_per_sample, Some(16));
    }

    #[test]
    fn image_sizes_and_thumbnails() {
        let img = image::RgbImage::from_fn(640, 480, |x, y| image::Rgb([x as u8, y as u8, 0]));
        let mut png = Vec::new();
        img.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        assert_eq!(facts(sniff(&png), &png, png.len() as u64), dims((640, 480)));
        let mut jpg = Vec::new();
        img.write_to(&mut Cursor::new(&mut jpg), image::ImageFormat::Jpeg)
            .unwrap();
        assert_eq!(sniff(&jpg), Some(Sniffed::Jpeg));
        assert_eq!(facts(sniff(&jpg), &jpg, jpg.len() as u64), dims((640, 480)));
        let t = thumbnail(&jpg).unwrap();
        assert_eq!((t.width, t.height), (320, 240));
        assert_eq!(png_size(&t.png), Some((320, 240)));
        assert!(thumbnail(b"%PDF-1.4").is_err());
    }
}
