#!/usr/bin/env python3
"""Verifies an Open Badges 3.0 credential as an outside verifier would, with
PyJWT (not our code): the VC-JWT's signature against the key its `kid`
names in the published JWKS, then the Bitstring Status List its
`credentialStatus` points at (itself a signed VC-JWT), and the
certificate's bit in it.

    python3 test-support/verify_credential.py BASE_URL JWT

BASE_URL is where the API answers (the status list URL's path is fetched
from there). Prints one JSON document: header, claims, the status list's
claims, and `bit` (1 = revoked).
"""

import base64
import gzip
import json
import sys
import urllib.parse
import urllib.request

import jwt


def fetch(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.headers.get("Content-Type"), r.read().decode()


def main():
    base, token = sys.argv[1].rstrip("/"), sys.argv[2].strip()
    jwks = jwt.PyJWKClient(base + "/.well-known/jwks.json", cache_keys=False)
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(
        token,
        jwks.get_signing_key_from_jwt(token),
        algorithms=["EdDSA"],
        options={"verify_aud": False, "require": ["iss", "jti", "nbf"]},
    )
    status = claims["credentialStatus"]
    assert status["type"] == "BitstringStatusListEntry", status
    assert status["statusPurpose"] == "revocation", status
    path = urllib.parse.urlsplit(status["statusListCredential"]).path
    content_type, list_jwt = fetch(base + path)
    list_claims = jwt.decode(
        list_jwt,
        jwks.get_signing_key_from_jwt(list_jwt),
        algorithms=["EdDSA"],
        options={"verify_aud": False},
    )
    subject = list_claims["credentialSubject"]
    assert subject["type"] == "BitstringStatusList", subject
    encoded = subject["encodedList"]
    assert encoded.startswith("u"), "multibase base64url"
    b64 = encoded[1:]
    raw = gzip.decompress(base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4)))
    i = int(status["statusListIndex"])
    bit = (raw[i // 8] >> (7 - i % 8)) & 1
    json.dump(
        {
            "header": header,
            "claims": claims,
            "status_list": list_claims,
            "status_list_content_type": content_type,
            "list_bits": len(raw) * 8,
            "bit": bit,
        },
        sys.stdout,
        ensure_ascii=False,
    )


if __name__ == "__main__":
    main()
