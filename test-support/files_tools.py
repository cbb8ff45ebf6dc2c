#!/usr/bin/env python3
"""Independent makers and readers of file contents for the files tests.

  make-png W H OUT          a W×H RGB PNG (Pillow)
  make-jpeg W H OUT         a W×H RGB JPEG (Pillow)
  make-wav MS RATE CH OUT   MS milliseconds of 16-bit PCM (the `wave` module)
  image-size FILE           prints {"format", "width", "height"} (Pillow)
  disposition HEADER        prints {"disposition", "filename"} as Python's
                            e-mail header parser reads a Content-Disposition
                            (RFC 2231/5987 `filename*` included)
"""
import json
import sys


def main(argv):
    cmd = argv[1]
    if cmd in ("make-png", "make-jpeg"):
        from PIL import Image

        w, h, out = int(argv[2]), int(argv[3]), argv[4]
        img = Image.new("RGB", (w, h))
        img.putdata([((x * 7) % 256, (y * 3) % 256, 90) for y in range(h) for x in range(w)])
        img.save(out, "PNG" if cmd == "make-png" else "JPEG")
    elif cmd == "make-wav":
        import wave

        ms, rate, ch, out = int(argv[2]), int(argv[3]), int(argv[4]), argv[5]
        frames = rate * ms // 1000
        with wave.open(out, "wb") as w:
            w.setnchannels(ch)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(b"\x01\x00" * ch * frames)
    elif cmd == "image-size":
        from PIL import Image

        with Image.open(argv[2]) as img:
            print(json.dumps({"format": img.format, "width": img.width, "height": img.height}))
    elif cmd == "disposition":
        from email.message import Message
        from email.utils import collapse_rfc2231_value

        m = Message()
        m["Content-Disposition"] = argv[2]
        params = m.get_params(header="content-disposition")[1:]
        # RFC 6266 4.3: the extended `filename*` wins over `filename`.
        encoded = [v for k, v in params if k == "filename" and isinstance(v, tuple)]
        plain = [v for k, v in params if k == "filename" and not isinstance(v, tuple)]
        name = collapse_rfc2231_value(encoded[0]) if encoded else (plain[0] if plain else None)
        print(json.dumps({"disposition": m.get_content_disposition(), "filename": name,
                          "fallback": plain[0] if plain else None}))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv)
