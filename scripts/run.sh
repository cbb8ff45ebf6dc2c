#!/usr/bin/env bash
# scripts/run.sh: start Launchpad locally with one command.
#
#   scripts/run.sh
#
# What it does, in order:
#   1. creates .env from .env.example if .env is missing, and loads .env
#      (variables already set in the environment win, as with dotenvy);
#   2. stops early, with a clear message, if Launchpad already answers on
#      $LAUNCHPAD_HTTP_ADDR (a previous run still alive) or the port is taken;
#   3. finds or starts PostgreSQL (scripts/db.sh) and exports DATABASE_URL;
#   4. sets demo defaults (admin credentials, a JWT secret kept in .data/jwt_secret);
#   5. builds the release binaries, applies migrations, seeds the demo tenant;
#   6. starts a development SMTP sink (aiosmtpd) that stores mail in .data/mail,
#      and, when no speech provider is configured, the local transcription
#      server (scripts/transcribe_server.py: Whisper tiny.en on the CPU);
#   7. starts the API and the worker (logs in .data/, plain text, ending with
#      their "stopped" lines), waits for /ready and prints the URLs.
# Ctrl-C (or any exit) stops what this script started: API, worker, SMTP sink,
# and the private PostgreSQL cluster under .data if this run started it (also
# when interrupted during the build, migrations or seeding). A PostgreSQL server
# that was already running (DATABASE_URL, the machine's server on :5432, a
# private cluster started earlier) is left alone; for a private cluster the
# script prints how to stop it.
#
# Knobs (environment or .env):
#   LAUNCHPAD_HTTP_ADDR                  API listen address (default 127.0.0.1:8080)
#   LAUNCHPAD_BOOTSTRAP_ADMIN_EMAIL      demo admin (default admin@launchpad.local)
#   LAUNCHPAD_BOOTSTRAP_ADMIN_PASSWORD   demo admin password (default launchpad-admin-demo)
#   LAUNCHPAD_JWT_SECRET                 default: random, generated once into .data/jwt_secret
#   LAUNCHPAD_SMTP_URL                   default: the dev sink, smtp://127.0.0.1:$LAUNCHPAD_DEV_SMTP_PORT
#   LAUNCHPAD_DEV_SMTP_PORT              dev sink port (default 2525)
#   LAUNCHPAD_WORKER_METRICS_ADDR        the worker's /metrics (default 127.0.0.1:9091)
#   LAUNCHPAD_TRANSCRIBE_BASE_URL        a speech provider (else OPENAI_BASE_URL/OPENAI_API_KEY's,
#                                        else the local transcription server)
#   LAUNCHPAD_DEV_TRANSCRIBE_PORT        the local transcription server's port (default 8765)
# A second copy on the same machine needs its own three ports, e.g.
#   LAUNCHPAD_HTTP_ADDR=127.0.0.1:8081 LAUNCHPAD_DEV_SMTP_PORT=2526 \
#   LAUNCHPAD_WORKER_METRICS_ADDR=127.0.0.1:9092 scripts/run.sh
# (its logs: .data/api-8081.log, .data/worker-8081.log, .data/smtp-8081.log).
#   DATABASE_URL, LAUNCHPAD_PG_PORT, ... see scripts/db.sh

set -euo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO"
DATA="$REPO/.data"
mkdir -p "$DATA"

say() { printf '\n==> %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

# load_dotenv FILE: export KEY=VALUE lines of FILE whose KEY is not already set.
# Understands comments, blank lines, `export KEY=...`, and '...' / "..." quoting.
load_dotenv() {
	local file="$1" line key value
	[[ -f $file ]] || return 0
	while IFS= read -r line || [[ -n $line ]]; do
		line="${line%$'\r'}"
		[[ $line =~ ^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*=[[:space:]]*(.*)$ ]] || continue
		key="${BASH_REMATCH[2]}"
		value="${BASH_REMATCH[3]}"
		if [[ $value =~ ^\"(.*)\"[[:space:]]*(#.*)?$ ]] || [[ $value =~ ^\'(.*)\'[[:space:]]*(#.*)?$ ]]; then
			value="${BASH_REMATCH[1]}"
		else
			value="${value%%[[:space:]]#*}" # trailing " # comment"
			value="${value%"${value##*[![:space:]]}"}"
		fi
		if [[ -z ${!key+set} ]]; then
			export "$key=$value"
		fi
	done <"$file"
}

# port_busy HOST PORT: something accepts TCP connections there.
port_busy() {
	local host="${1#[}"
	host="${host%]}"
	# shellcheck disable=SC2016 # $1/$2 expand in the inner bash
	timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$host" "$2" 2>/dev/null
}

# smtp_banner HOST PORT: the greeting line of an SMTP server (empty if none).
smtp_banner() {
	# shellcheck disable=SC2016 # $1/$2 expand in the inner bash
	timeout 4 bash -c '
		exec 3<>"/dev/tcp/$1/$2" || exit 1
		IFS= read -r -t 3 line <&3 || exit 1
		printf "%s" "$line"
		printf "QUIT\r\n" >&3' _ "$1" "$2" 2>/dev/null || true
}

# smtp_python: an interpreter that can import aiosmtpd. pyenv's python3 and
# Debian's /usr/bin/python3 (where python3-aiosmtpd installs) are both tried.
smtp_python() {
	local py
	for py in python3 /usr/bin/python3; do
		if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import aiosmtpd' >/dev/null 2>&1; then
			printf '%s\n' "$py"
			return 0
		fi
	done
	return 1
}

# ---------------------------------------------------------------------------
# 1. .env
# ---------------------------------------------------------------------------

# Where DATABASE_URL comes from, for the messages (db.sh reports it).
if [[ -n ${DATABASE_URL+set} ]]; then
	export LAUNCHPAD_DATABASE_URL_ORIGIN="the environment"
else
	export LAUNCHPAD_DATABASE_URL_ORIGIN=".env"
fi
if [[ ! -f .env && -f .env.example ]]; then
	cp .env.example .env
	say "Created .env from .env.example (edit it to change settings)"
fi
load_dotenv .env

: "${LAUNCHPAD_HTTP_ADDR:=127.0.0.1:8080}"
export LAUNCHPAD_HTTP_ADDR
http_host="${LAUNCHPAD_HTTP_ADDR%:*}"
http_port="${LAUNCHPAD_HTTP_ADDR##*:}"
# The address to talk to: a wildcard listen address is reached via loopback.
case "$http_host" in
"" | 0.0.0.0) url_host=127.0.0.1 ;;
"[::]" | "::") url_host="[::1]" ;;
*) url_host="$http_host" ;;
esac
BASE_URL="http://$url_host:$http_port"
# Log files: .data/api.log etc.; a copy on another port than 8080 has its
# own (.data/api-8081.log), so that two copies do not share them.
LOG_SUFFIX=""
[[ $http_port == 8080 ]] || LOG_SUFFIX="-$http_port"
API_LOG=".data/api$LOG_SUFFIX.log"
WORKER_LOG=".data/worker$LOG_SUFFIX.log"
SMTP_LOG=".data/smtp$LOG_SUFFIX.log"
TRANSCRIBE_LOG=".data/transcribe$LOG_SUFFIX.log"

# ---------------------------------------------------------------------------
# 2. Already running?
# ---------------------------------------------------------------------------

if curl -fsS --max-time 3 "$BASE_URL/health" >/dev/null 2>&1; then
	die "Launchpad already answers at $BASE_URL (Swagger UI: $BASE_URL/docs).
       Another scripts/run.sh is probably still running: use it, or stop it with
       Ctrl-C in its terminal. To run a second copy, give it its own ports, e.g.
       LAUNCHPAD_HTTP_ADDR=127.0.0.1:8081 LAUNCHPAD_DEV_SMTP_PORT=2526 LAUNCHPAD_WORKER_METRICS_ADDR=127.0.0.1:9092 scripts/run.sh"
fi
if port_busy "$url_host" "$http_port"; then
	die "port $http_port on $url_host is used by another program (not Launchpad: /health does not answer).
       Stop that program or set LAUNCHPAD_HTTP_ADDR, e.g. LAUNCHPAD_HTTP_ADDR=127.0.0.1:8081 scripts/run.sh"
fi

# The worker's metrics endpoint (if configured) must be free as well: a worker
# left over from an earlier run would make the new one fail to start.
metrics_addr="${LAUNCHPAD_WORKER_METRICS_ADDR:-}"
if [[ -n $metrics_addr && ${metrics_addr##*:} != 0 ]] &&
	port_busy "${metrics_addr%:*}" "${metrics_addr##*:}"; then
	die "port ${metrics_addr##*:} (LAUNCHPAD_WORKER_METRICS_ADDR=$metrics_addr) is already in use,
       by the worker of another copy or one left from an earlier run. Stop it, or set
       LAUNCHPAD_WORKER_METRICS_ADDR to another address, e.g.
       LAUNCHPAD_WORKER_METRICS_ADDR=127.0.0.1:9092 scripts/run.sh (127.0.0.1:0 picks a free port)."
fi

# ---------------------------------------------------------------------------
# 3. Toolchain and database
# ---------------------------------------------------------------------------

if ! command -v cargo >/dev/null 2>&1 && [[ -x ${HOME:-}/.cargo/bin/cargo ]]; then
	PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null 2>&1 ||
	die "cargo (the Rust toolchain) is not installed or not on PATH.
       Install Rust with rustup, open a new shell, and run scripts/run.sh again."

# ---------------------------------------------------------------------------
# From here on we may start things (PostgreSQL in step 3, services in 6 and 7):
# stop exactly those on exit, Ctrl-C included.
# ---------------------------------------------------------------------------

PIDS=()
# The loggers of the API and the worker (step 7): their pipes and pids.
LOGGER_FDS=()
LOGGER_PIDS=()
CLEANED=0
# Closes this shell's copies of the loggers' pipes: each logger then ends
# once its service has exited.
close_logger_fds() {
	local f
	for f in "${LOGGER_FDS[@]}"; do
		exec {f}>&-
	done
}
# shellcheck disable=SC2317 # invoked through trap
cleanup() {
	((CLEANED)) && return 0
	CLEANED=1
	# A second Ctrl-C must not cut the cleanup short (and leave a server running).
	trap '' INT TERM
	local pid alive=() i
	for pid in "${PIDS[@]}"; do
		if kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null || true
			alive+=("$pid")
		fi
	done
	if ((${#alive[@]})); then
		printf '\nStopping Launchpad (pids %s)...\n' "${alive[*]}"
		# Up to 10 s for a graceful shutdown, then SIGKILL.
		for ((i = 0; i < 20; i++)); do
			local still=()
			for pid in "${alive[@]}"; do
				if kill -0 "$pid" 2>/dev/null; then
					still+=("$pid")
				fi
			done
			((${#still[@]})) || break
			sleep 0.5
		done
		for pid in "${alive[@]}"; do
			kill -KILL "$pid" 2>/dev/null || true
		done
		wait "${alive[@]}" 2>/dev/null || true
	fi
	# The loggers end once they have written the services' last lines.
	close_logger_fds
	for pid in "${LOGGER_PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	# PostgreSQL last: the services above were its clients. db.sh records
	# whether this run started the private cluster (LAUNCHPAD_PG_STARTED, or a
	# start that was interrupted); only then is it stopped. Functions exist
	# only once db.sh has been sourced.
	if declare -F launchpad_pg_stop_if_started >/dev/null; then
		if [[ ${LAUNCHPAD_PG_STARTED:-0} == 1 || ${_LP_PG_STARTING:-0} == 1 ]]; then
			printf 'Stopping the PostgreSQL server this script started...\n'
			launchpad_pg_stop_if_started || true
		else
			launchpad_pg_stop_hint
		fi
	fi
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

say "Database"
# shellcheck source=scripts/db.sh
source "$REPO/scripts/db.sh"

# ---------------------------------------------------------------------------
# 4. Demo defaults
# ---------------------------------------------------------------------------

: "${LAUNCHPAD_BOOTSTRAP_ADMIN_EMAIL:=admin@launchpad.local}"
: "${LAUNCHPAD_BOOTSTRAP_ADMIN_PASSWORD:=launchpad-admin-demo}"
export LAUNCHPAD_BOOTSTRAP_ADMIN_EMAIL LAUNCHPAD_BOOTSTRAP_ADMIN_PASSWORD
# Files on local disk unless an S3-compatible store is configured; the API
# and the worker must share the directory.
: "${LAUNCHPAD_STORAGE_DIR:=$DATA/files}"
export LAUNCHPAD_STORAGE_DIR
# Created by `launchpad-api seed-demo`; printed for convenience only.
DEMO_USER_EMAIL="exec@acme.example"
DEMO_USER_PASSWORD="launchpad-demo-pass"

if [[ -z ${LAUNCHPAD_JWT_SECRET:-} ]]; then
	secret_file="$DATA/jwt_secret"
	if [[ ! -s $secret_file ]]; then
		# 32 random bytes as hex, written atomically and readable by us only.
		(
			umask 077
			tmp="$(mktemp "$DATA/.jwt_secret.XXXXXX")"
			od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$tmp"
			mv -f "$tmp" "$secret_file"
		)
		echo "Generated a JWT secret in .data/jwt_secret"
	fi
	LAUNCHPAD_JWT_SECRET="$(<"$secret_file")"
fi
export LAUNCHPAD_JWT_SECRET

# ---------------------------------------------------------------------------
# 5. Build, migrate, seed
# ---------------------------------------------------------------------------

say "Building (release)"
SQLX_OFFLINE=true cargo build --release -p launchpad-api -p launchpad-worker
target_dir="${CARGO_TARGET_DIR:-$REPO/target}"
BIN="$target_dir/release"
for exe in launchpad-api launchpad-worker; do
	[[ -x $BIN/$exe ]] || die "$BIN/$exe was not built"
done

say "Applying migrations"
"$BIN/launchpad-api" migrate

say "Seeding the demo tenant (KPIs rolled up; invitations queued for the worker)"
"$BIN/launchpad-api" seed-demo

# ---------------------------------------------------------------------------
# 6. Development SMTP sink
# ---------------------------------------------------------------------------

SMTP_PORT="${LAUNCHPAD_DEV_SMTP_PORT:-2525}"
SINK_URL="smtp://127.0.0.1:$SMTP_PORT"
MAIL_DIR="$DATA/mail"
MAIL_NOTE=""
if [[ -n ${LAUNCHPAD_SMTP_URL:-} && ${LAUNCHPAD_SMTP_URL%/} != "$SINK_URL" ]]; then
	# The user configured a real SMTP server: no sink.
	MAIL_NOTE="sent via LAUNCHPAD_SMTP_URL (no local sink started)"
else
	export LAUNCHPAD_SMTP_URL="$SINK_URL"
	say "SMTP sink on 127.0.0.1:$SMTP_PORT"
	if [[ $(smtp_banner 127.0.0.1 "$SMTP_PORT") == 220* ]]; then
		warn "an SMTP server already answers on 127.0.0.1:$SMTP_PORT (a sink left by an earlier run?); using it"
		MAIL_NOTE="sent to the SMTP server already on 127.0.0.1:$SMTP_PORT (with a sink left by an earlier run: $MAIL_DIR/new/)"
	elif port_busy 127.0.0.1 "$SMTP_PORT"; then
		die "port $SMTP_PORT is used by a program that is not an SMTP server; set LAUNCHPAD_DEV_SMTP_PORT"
	else
		if ! SMTP_PY="$(smtp_python)"; then
			echo "Installing aiosmtpd..."
			launchpad_apt_install python3-aiosmtpd || true
			if ! SMTP_PY="$(smtp_python)"; then
				PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 \
					python3 -m pip install --quiet aiosmtpd || true
				SMTP_PY="$(smtp_python)" ||
					die "could not install aiosmtpd (tried apt-get install python3-aiosmtpd and pip install aiosmtpd)"
			fi
		fi
		# Python's Maildir only creates tmp/new/cur when MAIL_DIR itself is new,
		# so create all of them (idempotent).
		mkdir -p "$MAIL_DIR/tmp" "$MAIL_DIR/new" "$MAIL_DIR/cur"
		# -n: do not try to setuid to nobody. Mailbox stores a Maildir in MAIL_DIR.
		"$SMTP_PY" -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" \
			-c aiosmtpd.handlers.Mailbox "$MAIL_DIR" >"$REPO/$SMTP_LOG" 2>&1 &
		SMTP_PID=$!
		PIDS+=("$SMTP_PID")
		for ((i = 0; i < 40; i++)); do
			port_busy 127.0.0.1 "$SMTP_PORT" && break
			kill -0 "$SMTP_PID" 2>/dev/null || break
			sleep 0.25
		done
		if ! port_busy 127.0.0.1 "$SMTP_PORT"; then
			tail -n 20 "$REPO/$SMTP_LOG" >&2 || true
			die "the SMTP sink did not start (see $SMTP_LOG)"
		fi
		MAIL_NOTE="$MAIL_DIR/new/ (one file per message; dev SMTP sink on 127.0.0.1:$SMTP_PORT)"
	fi
fi

# ---------------------------------------------------------------------------
# 6b. Local transcription server (no speech provider configured)
# ---------------------------------------------------------------------------

TRANSCRIBE_NOTE="LAUNCHPAD_TRANSCRIBE_BASE_URL / the AI provider's settings"
if [[ -z ${LAUNCHPAD_TRANSCRIBE_BASE_URL:-}${LAUNCHPAD_TRANSCRIBE_API_KEY:-}${OPENAI_BASE_URL:-}${OPENAI_API_KEY:-} ]]; then
	TRANSCRIBE_PORT="${LAUNCHPAD_DEV_TRANSCRIBE_PORT:-8765}"
	say "Local transcription server on 127.0.0.1:$TRANSCRIBE_PORT (Whisper tiny.en, no key needed)"
	if port_busy 127.0.0.1 "$TRANSCRIBE_PORT"; then
		if curl -fsS --max-time 2 "http://127.0.0.1:$TRANSCRIBE_PORT/health" >/dev/null 2>&1; then
			warn "a server already answers on 127.0.0.1:$TRANSCRIBE_PORT (left by an earlier run?); using it"
		else
			die "port $TRANSCRIBE_PORT is taken; set LAUNCHPAD_DEV_TRANSCRIBE_PORT"
		fi
	else
		"$REPO/scripts/transcribe-deps.sh" || die "could not install the local transcription server's packages"
		HF_HUB_OFFLINE=1 python3 "$REPO/scripts/transcribe_server.py" --host 127.0.0.1 \
			--port "$TRANSCRIBE_PORT" >"$REPO/$TRANSCRIBE_LOG" 2>&1 &
		TRANSCRIBE_PID=$!
		PIDS+=("$TRANSCRIBE_PID")
		for ((i = 0; i < 120; i++)); do
			curl -fsS --max-time 2 "http://127.0.0.1:$TRANSCRIBE_PORT/health" >/dev/null 2>&1 && break
			kill -0 "$TRANSCRIBE_PID" 2>/dev/null || break
			sleep 0.5
		done
		curl -fsS --max-time 2 "http://127.0.0.1:$TRANSCRIBE_PORT/health" >/dev/null 2>&1 || {
			tail -n 20 "$REPO/$TRANSCRIBE_LOG" >&2 || true
			die "the local transcription server did not start (see $TRANSCRIBE_LOG)"
		}
	fi
	export LAUNCHPAD_TRANSCRIBE_BASE_URL="http://127.0.0.1:$TRANSCRIBE_PORT/v1"
	export LAUNCHPAD_TRANSCRIBE_MODEL="${LAUNCHPAD_TRANSCRIBE_MODEL:-whisper-tiny.en}"
	TRANSCRIBE_NOTE="local server $LAUNCHPAD_TRANSCRIBE_BASE_URL (log $TRANSCRIBE_LOG)"
fi

# ---------------------------------------------------------------------------
# 7. API and worker
# ---------------------------------------------------------------------------

say "Starting the API and the worker"
: >"$REPO/$API_LOG"
: >"$REPO/$WORKER_LOG"
# Output goes to the log file and, prefixed, to this terminal, through a
# logger that ignores Ctrl-C and SIGTERM: it ends when its service has
# closed its output, so the services' last lines ("... stopped") still
# reach the log and the terminal. The services write plain text (no colour
# codes: their output is not a terminal).
start_logged() { # NAME LOG COMMAND...: starts COMMAND; its pid in $STARTED_PID
	local name="$1" log="$2" fd
	shift 2
	exec {fd}> >(
		trap '' INT TERM
		close_logger_fds
		tee -a "$log" | sed -u "s/^/[$name] /"
	)
	LOGGER_PIDS+=($!)
	LOGGER_FDS+=("$fd")
	(
		close_logger_fds
		exec "$@"
	) >&"$fd" 2>&1 &
	STARTED_PID=$!
	PIDS+=("$STARTED_PID")
}
start_logged api "$REPO/$API_LOG" "$BIN/launchpad-api" serve
API_PID=$STARTED_PID
start_logged worker "$REPO/$WORKER_LOG" "$BIN/launchpad-worker"
WORKER_PID=$STARTED_PID

startup_failed() {
	printf '\nerror: %s. Last lines of %s:\n' "$1" "$API_LOG" >&2
	tail -n 50 "$REPO/$API_LOG" >&2 || true
	exit 1
}
deadline=$((SECONDS + 60))
until curl -fsS --max-time 2 "$BASE_URL/ready" >/dev/null 2>&1; do
	kill -0 "$API_PID" 2>/dev/null || startup_failed "the API exited during startup"
	((SECONDS < deadline)) || startup_failed "the API did not answer $BASE_URL/ready within 60 s"
	sleep 1
done
kill -0 "$WORKER_PID" 2>/dev/null || {
	tail -n 50 "$REPO/$WORKER_LOG" >&2 || true
	die "the worker exited during startup (see $WORKER_LOG)"
}

case "$LAUNCHPAD_PG_SOURCE" in
env) db_note="DATABASE_URL from $LAUNCHPAD_DATABASE_URL_ORIGIN" ;;
local) db_note="the server on 127.0.0.1:5432" ;;
*) db_note="the private cluster under .data/" ;;
esac
PG_NOTE=""
if [[ ${LAUNCHPAD_PG_STARTED:-0} == 1 ]]; then
	PG_NOTE=" (and the PostgreSQL server this run started)"
fi

cat <<EOF

==========================================================================
 Launchpad is running
--------------------------------------------------------------------------
 API          $BASE_URL
 Swagger UI   $BASE_URL/docs
 OpenAPI      $BASE_URL/openapi.json

 Demo admin   $LAUNCHPAD_BOOTSTRAP_ADMIN_EMAIL / $LAUNCHPAD_BOOTSTRAP_ADMIN_PASSWORD
 Demo user    $DEMO_USER_EMAIL / $DEMO_USER_PASSWORD

 Mail         $MAIL_NOTE
 Speech       $TRANSCRIBE_NOTE
 Database     $(_lp_redact "$DATABASE_URL") ($db_note)
 Worker       metrics on ${LAUNCHPAD_WORKER_METRICS_ADDR:-127.0.0.1:9091}
 Logs         $API_LOG  $WORKER_LOG  $SMTP_LOG

 Press Ctrl-C to stop the API, the worker, the SMTP sink and the
 local transcription server$PG_NOTE.
==========================================================================
EOF

# Wait until Ctrl-C (the traps clean up) or until a service dies on its own.
set +e
wait -n "$API_PID" "$WORKER_PID"
status=$?
set -e
if ! kill -0 "$API_PID" 2>/dev/null; then
	warn "the API exited unexpectedly (status $status); see $API_LOG"
fi
if ! kill -0 "$WORKER_PID" 2>/dev/null; then
	warn "the worker exited unexpectedly (status $status); see $WORKER_LOG"
fi
exit 1
