#!/usr/bin/env bash
# scripts/db.sh: find (or start) a PostgreSQL server for Launchpad.
#
# Sourced by run.sh, test.sh and bench.sh:
#
#     source scripts/db.sh
#
# After that, these are exported:
#   DATABASE_URL            the application database (postgres://.../launchpad); it exists
#   LAUNCHPAD_PG_ADMIN_URL  the same server, database "postgres" (tests create databases from it)
#   LAUNCHPAD_PG_SOURCE     where the server came from: env | local | private
#   LAUNCHPAD_PG_DATA_DIR   (private only) the data directory of the private cluster
#   LAUNCHPAD_PG_BINDIR     (private only) the PostgreSQL binaries that run it
#   LAUNCHPAD_PG_STARTED    1 if this invocation started the private cluster, else 0
# and these functions can be used:
#   ensure_database NAME    create database NAME on the server if it is missing
#   launchpad_pg_stop_hint  print how to stop the private cluster (if one is used)
#   launchpad_pg_stop_if_started  stop the private cluster if this invocation
#                           started it (also after an interrupted start); a server
#                           that was already running is never touched
#   launchpad_apt_install PKG...  apt-get install (runs `apt-get update` once first)
#
# The server is chosen in this order:
#   1. $DATABASE_URL, if it is set and its server answers;
#   2. a server on 127.0.0.1:5432, user postgres, trust auth (the usual dev/CI machine);
#      database $LAUNCHPAD_DB_NAME (default launchpad) is created if missing;
#   3. a private cluster under .data/ (initdb --auth=trust -U postgres), listening on
#      127.0.0.1:$LAUNCHPAD_PG_PORT (default 55432). It is created once and reused;
#      it keeps running after the scripts end (stop it with `scripts/db.sh stop`),
#      unless the caller stops it with launchpad_pg_stop_if_started (run.sh does).
#
# Run directly, it prints instead of exporting:
#   scripts/db.sh [url]      DATABASE_URL (default)
#   scripts/db.sh admin-url  LAUNCHPAD_PG_ADMIN_URL
#   scripts/db.sh env        `export ...` lines, for: eval "$(scripts/db.sh env)"
#   scripts/db.sh psql ...   open psql on DATABASE_URL
#   scripts/db.sh stop       stop the private cluster, if it runs
#
# Progress goes to stderr, so stdout carries only the answer. Meant to be sourced
# from scripts (it sets `set -euo pipefail` and exits on fatal errors), not from an
# interactive shell: there use `eval "$(scripts/db.sh env)"`.
#
# Knobs: DATABASE_URL, LAUNCHPAD_PG_ADMIN_URL, LAUNCHPAD_DB_NAME, LAUNCHPAD_PG_PORT,
#        LAUNCHPAD_DATA_DIR (default <repo>/.data).

set -euo pipefail

LAUNCHPAD_REPO_ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
LAUNCHPAD_DATA_DIR="${LAUNCHPAD_DATA_DIR:-$LAUNCHPAD_REPO_ROOT/.data}"

# The well-known local server of the dev/CI machines. Connections to a
# server on this machine's loopback skip TLS (sslmode=disable): encrypting
# traffic that never leaves the machine only costs CPU on both ends.
_LP_LOCAL_ADMIN_URL="postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

_lp_db_log() { printf '[db] %s\n' "$*" >&2; }
_lp_db_warn() { printf '[db] warning: %s\n' "$*" >&2; }
_lp_db_die() {
	printf '[db] error: %s\n' "$*" >&2
	exit 1
}

# Hide the password of a URL before logging it.
_lp_redact() {
	# shellcheck disable=SC2001 # a regex with groups is clearer than ${//} here
	sed -E 's#^([a-z]+://[^:/@]*):[^@/]*@#\1:***@#' <<<"$1"
}

# ---------------------------------------------------------------------------
# Packages
# ---------------------------------------------------------------------------

_LP_APT_UPDATED="${_LP_APT_UPDATED:-0}"

# launchpad_apt_install PKG... : install Debian packages (root only). apt's
# output goes to stderr so that stdout stays clean for the callers.
launchpad_apt_install() {
	if ! command -v apt-get >/dev/null 2>&1; then
		_lp_db_warn "apt-get is not available: install $* with your package manager"
		return 1
	fi
	if ((EUID != 0)); then
		_lp_db_warn "installing $* needs root: run 'sudo apt-get install -y $*' and retry"
		return 1
	fi
	if [[ $_LP_APT_UPDATED != 1 ]]; then
		_lp_db_log "apt-get update"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
		_LP_APT_UPDATED=1
	fi
	_lp_db_log "apt-get install -y $*"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2 || return 1
	hash -r
}

# psql and pg_isready come with the Debian package postgresql-client.
_lp_ensure_client() {
	if command -v psql >/dev/null 2>&1 && command -v pg_isready >/dev/null 2>&1; then
		return 0
	fi
	launchpad_apt_install postgresql-client ||
		_lp_db_die "psql/pg_isready are missing and postgresql-client could not be installed"
	command -v psql >/dev/null 2>&1 || _lp_db_die "psql still not found after installing postgresql-client"
}

# ---------------------------------------------------------------------------
# Probing servers and URLs
# ---------------------------------------------------------------------------

# The server behind URL accepts connections (auth and database not checked).
_lp_server_answers() {
	PGCONNECT_TIMEOUT=5 pg_isready -q -t 5 -d "$1" >/dev/null 2>&1
}

# We can log in to URL and run a query. -w: never prompt for a password.
_lp_sql_works() {
	PGCONNECT_TIMEOUT=5 psql -X -q -t -w -d "$1" -c 'select 1' >/dev/null 2>&1
}

# postgres://auth@host:port/db?params -> groups: 1 prefix, 3 /db, 4 ?params
_LP_URL_RE='^(postgres(ql)?://[^/?#]*)(/[^?#]*)?([?].*)?$'

# _lp_url_with_db URL DB : URL with its database replaced by DB.
_lp_url_with_db() {
	[[ $1 =~ $_LP_URL_RE ]] || return 1
	printf '%s/%s%s\n' "${BASH_REMATCH[1]}" "$2" "${BASH_REMATCH[4]}"
}

# _lp_url_db URL : the database named in URL (empty if none).
_lp_url_db() {
	[[ $1 =~ $_LP_URL_RE ]] || return 1
	local path="${BASH_REMATCH[3]}"
	printf '%s\n' "${path#/}"
}

# _lp_db_exists ADMIN_URL NAME : 0 exists, 1 missing, 2 could not ask.
_lp_db_exists() {
	local found
	found="$(psql -X -q -t -A -w -v ON_ERROR_STOP=1 -v name="$2" -d "$1" 2>/dev/null <<'SQL'
SELECT 1 FROM pg_database WHERE datname = :'name';
SQL
)" || return 2
	[[ $found == 1 ]]
}

# ensure_database NAME [ADMIN_URL] : create database NAME if it does not exist.
# Safe to call concurrently: losing a creation race counts as success.
ensure_database() {
	local name="${1:?usage: ensure_database NAME [ADMIN_URL]}"
	local admin="${2:-${LAUNCHPAD_PG_ADMIN_URL:-}}"
	local out rc=0
	if [[ -z $admin ]]; then
		_lp_db_warn "ensure_database: LAUNCHPAD_PG_ADMIN_URL is not set (source scripts/db.sh first)"
		return 1
	fi
	_lp_db_exists "$admin" "$name" || rc=$?
	case $rc in
	0) return 0 ;;
	2)
		_lp_db_warn "ensure_database: cannot query $(_lp_redact "$admin")"
		return 1
		;;
	esac
	_lp_db_log "creating database $name"
	# :"name" is psql's quoted-identifier interpolation (stdin only, not -c).
	if out="$(psql -X -q -w -v ON_ERROR_STOP=1 -v name="$name" -d "$admin" 2>&1 <<'SQL'
CREATE DATABASE :"name";
SQL
)"; then
		return 0
	fi
	# Someone else may have created it in between.
	if _lp_db_exists "$admin" "$name"; then
		return 0
	fi
	_lp_db_warn "could not create database $name: $out"
	return 1
}

# ---------------------------------------------------------------------------
# The private cluster (used when no server is reachable)
# ---------------------------------------------------------------------------

# _lp_find_pg_bindir [MAJOR] : a directory holding initdb and pg_ctl. With MAJOR
# (from an existing cluster's PG_VERSION) only that major version qualifies.
_lp_find_pg_bindir() {
	local major="${1:-}" dir candidate
	if [[ -n $major ]]; then
		dir="/usr/lib/postgresql/$major/bin"
		if [[ -x $dir/initdb && -x $dir/pg_ctl ]]; then
			printf '%s\n' "$dir"
			return 0
		fi
	fi
	if command -v pg_config >/dev/null 2>&1; then
		dir="$(pg_config --bindir 2>/dev/null || true)"
		if [[ -n $dir && -x $dir/initdb && -x $dir/pg_ctl ]] &&
			{ [[ -z $major ]] || [[ "$("$dir/pg_ctl" --version)" =~ \ $major(\.|$) ]]; }; then
			printf '%s\n' "$dir"
			return 0
		fi
	fi
	[[ -z $major ]] || return 1
	# Highest installed version first. An unmatched glob fails the -x test.
	while IFS= read -r candidate; do
		if [[ -x $candidate/initdb && -x $candidate/pg_ctl ]]; then
			printf '%s\n' "$candidate"
			return 0
		fi
	done < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -rV)
	return 1
}

# As root, server binaries must run as the (unprivileged) postgres user.
_lp_ensure_pg_user() {
	((EUID == 0)) || return 0
	id -u postgres >/dev/null 2>&1 && return 0
	_lp_db_log "creating system user postgres"
	if getent group postgres >/dev/null 2>&1; then
		useradd --system -g postgres --home-dir /var/lib/postgresql --no-create-home --shell /bin/bash postgres
	else
		useradd --system --user-group --home-dir /var/lib/postgresql --no-create-home --shell /bin/bash postgres
	fi
}

# _lp_as_pg_owner CMD... : run CMD as the cluster owner (postgres when we are
# root, else ourselves). cd / so that an unreadable cwd (/root) is no problem.
_lp_as_pg_owner() {
	if ((EUID != 0)); then
		"$@"
	elif command -v runuser >/dev/null 2>&1; then
		(cd / && runuser -u postgres -- "$@")
	else
		(cd / && su -s /bin/bash postgres -c "$(printf '%q ' "$@")")
	fi
}

# Pick the directory holding the private cluster and set _LP_PG_BASE, _LP_PGDATA,
# _LP_PG_SOCKDIR, _LP_PG_LOG. Normally .data/; if the postgres user cannot reach
# it (the repository lives under a private home, say), a fixed directory under
# /var/tmp named after the repository path, so that re-runs find it again.
_lp_private_paths() {
	local fallback
	fallback="/var/tmp/launchpad-pg-$(printf '%s' "$LAUNCHPAD_REPO_ROOT" | cksum | cut -d' ' -f1)"
	if [[ -f $LAUNCHPAD_DATA_DIR/postgres/PG_VERSION ]]; then
		_LP_PG_BASE="$LAUNCHPAD_DATA_DIR"
	elif [[ -f $fallback/postgres/PG_VERSION ]]; then
		_LP_PG_BASE="$fallback"
	elif ((EUID == 0)) && { ! mkdir -p "$LAUNCHPAD_DATA_DIR" ||
		! _lp_as_pg_owner test -x "$LAUNCHPAD_DATA_DIR" 2>/dev/null; }; then
		_lp_db_log "user postgres cannot reach $LAUNCHPAD_DATA_DIR; using $fallback"
		_LP_PG_BASE="$fallback"
	else
		_LP_PG_BASE="$LAUNCHPAD_DATA_DIR"
	fi
	_LP_PGDATA="$_LP_PG_BASE/postgres"
	_LP_PG_SOCKDIR="$_LP_PG_BASE/pg-socket"
	_LP_PG_LOG="$_LP_PG_BASE/postgres.log"
}

# Port of a running cluster, from line 4 of postmaster.pid.
_lp_running_port() {
	sed -n '4p' "$_LP_PGDATA/postmaster.pid" 2>/dev/null || true
}

# Create (once) and start (if stopped) the private cluster; sets _LP_PG_PORT.
_lp_start_private_cluster() {
	local major="" bindir port="${LAUNCHPAD_PG_PORT:-55432}" sockdir conf
	_lp_private_paths
	[[ -f $_LP_PGDATA/PG_VERSION ]] && major="$(<"$_LP_PGDATA/PG_VERSION")"

	if ! bindir="$(_lp_find_pg_bindir "$major")"; then
		[[ -z $major ]] || _lp_db_die "the cluster in $_LP_PGDATA needs PostgreSQL $major, which is not installed (install postgresql-$major, or remove that directory)"
		_lp_db_log "no PostgreSQL server binaries found; installing postgresql"
		launchpad_apt_install postgresql || _lp_db_die "could not install PostgreSQL"
		bindir="$(_lp_find_pg_bindir)" || _lp_db_die "PostgreSQL server binaries not found after installing postgresql"
	fi
	_lp_ensure_pg_user

	mkdir -p "$_LP_PG_BASE" "$_LP_PG_SOCKDIR"
	touch "$_LP_PG_LOG"
	if ((EUID == 0)); then
		chown postgres: "$_LP_PG_SOCKDIR" "$_LP_PG_LOG"
	fi

	# 1. initdb, once. trust auth is fine: it listens on 127.0.0.1 and a socket
	#    directory inside .data only, and holds throwaway development data.
	if [[ ! -f $_LP_PGDATA/PG_VERSION ]]; then
		if [[ -d $_LP_PGDATA ]] && [[ -n "$(ls -A "$_LP_PGDATA")" ]]; then
			_lp_db_die "$_LP_PGDATA exists but holds no cluster (a failed initdb?): remove it and retry"
		fi
		mkdir -p "$_LP_PGDATA"
		chmod 700 "$_LP_PGDATA"
		if ((EUID == 0)); then
			chown postgres: "$_LP_PGDATA"
		fi
		_lp_db_log "initdb $_LP_PGDATA ($bindir)"
		touch "$_LP_PG_BASE/initdb.log"
		if ((EUID == 0)); then
			chown postgres: "$_LP_PG_BASE/initdb.log"
		fi
		if ! _lp_as_pg_owner "$bindir/initdb" -D "$_LP_PGDATA" --auth=trust -U postgres \
			--encoding=UTF8 --no-locale --no-sync >"$_LP_PG_BASE/initdb.log" 2>&1; then
			tail -n 30 "$_LP_PG_BASE/initdb.log" >&2 || true
			_lp_db_die "initdb failed (see $_LP_PG_BASE/initdb.log)"
		fi
		printf "\n# Launchpad: settings written by scripts/db.sh\ninclude_if_exists = 'launchpad.conf'\n" \
			>>"$_LP_PGDATA/postgresql.conf"
	fi

	# 2. start it unless it runs already (then keep whatever port it has).
	if _lp_as_pg_owner "$bindir/pg_ctl" -D "$_LP_PGDATA" status >/dev/null 2>&1; then
		_LP_PG_PORT="$(_lp_running_port)"
		[[ -n $_LP_PG_PORT ]] || _LP_PG_PORT="$port"
		if [[ $_LP_PG_PORT != "$port" ]]; then
			_lp_db_log "private cluster already runs on port $_LP_PG_PORT (not $port); using it"
		fi
		LAUNCHPAD_PG_STARTED=0
	else
		# Socket paths are limited to ~107 bytes; without a socket dir we use TCP only.
		sockdir="$_LP_PG_SOCKDIR"
		if ((${#sockdir} > 90)); then
			sockdir=""
		fi
		# Rewritten at every start so that LAUNCHPAD_PG_PORT can change. Durability
		# is traded for speed: this cluster only holds development and test data.
		conf="$_LP_PGDATA/launchpad.conf"
		cat >"$conf" <<EOF
# Managed by scripts/db.sh; rewritten at every start.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '${sockdir//\'/\'\'}'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
		if ((EUID == 0)); then
			chown postgres: "$conf"
		fi
		_lp_db_log "starting private PostgreSQL on 127.0.0.1:$port (data $_LP_PGDATA, log $_LP_PG_LOG)"
		# From here on the server may be ours even if pg_ctl is interrupted
		# (the postmaster detaches from the terminal and survives a Ctrl-C):
		# launchpad_pg_stop_if_started looks at these.
		_LP_PG_STARTING=1
		_LP_PG_STARTING_BINDIR="$bindir"
		_LP_PG_STARTING_DATA="$_LP_PGDATA"
		if ! _lp_as_pg_owner "$bindir/pg_ctl" -D "$_LP_PGDATA" -l "$_LP_PG_LOG" -w -t 60 start >&2; then
			tail -n 30 "$_LP_PG_LOG" >&2 || true
			_lp_db_die "could not start the private PostgreSQL cluster (port $port in use? set LAUNCHPAD_PG_PORT)"
		fi
		_LP_PG_PORT="$port"
		LAUNCHPAD_PG_STARTED=1
	fi
	LAUNCHPAD_PG_BINDIR="$bindir"
	LAUNCHPAD_PG_DATA_DIR="$_LP_PGDATA"
	export LAUNCHPAD_PG_BINDIR LAUNCHPAD_PG_DATA_DIR
}

# The command that stops the private cluster.
_lp_stop_command() {
	local cmd
	cmd="$(printf '%q ' "$1/pg_ctl" -D "$2" -m fast stop)"
	if ((EUID == 0)); then
		cmd="runuser -u postgres -- $cmd"
	fi
	printf '%s\n' "${cmd% }"
}

# Print how to stop the private cluster (nothing for the other sources).
launchpad_pg_stop_hint() {
	[[ ${LAUNCHPAD_PG_SOURCE:-} == private ]] || return 0
	printf 'PostgreSQL (private cluster in %s) keeps running. To stop it:\n' "$LAUNCHPAD_PG_DATA_DIR"
	printf '    scripts/db.sh stop\n'
	printf '  or\n    %s\n' "$(_lp_stop_command "$LAUNCHPAD_PG_BINDIR" "$LAUNCHPAD_PG_DATA_DIR")"
}

# Stop the private cluster if this invocation started it (LAUNCHPAD_PG_STARTED=1,
# or a start was begun and interrupted). A server that was already running when
# db.sh looked (DATABASE_URL, the machine's server, a private cluster started
# earlier) is left alone. Safe to call more than once and from traps.
launchpad_pg_stop_if_started() {
	local bindir="${_LP_PG_STARTING_BINDIR:-}" data="${_LP_PG_STARTING_DATA:-}"
	[[ ${LAUNCHPAD_PG_STARTED:-0} == 1 || ${_LP_PG_STARTING:-0} == 1 ]] || return 0
	[[ -n $bindir && -n $data ]] || return 0
	_LP_PG_STARTING=0
	LAUNCHPAD_PG_STARTED=0
	if ! _lp_as_pg_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
		return 0
	fi
	_lp_db_log "stopping the private PostgreSQL this script started ($data)"
	if ! _lp_as_pg_owner "$bindir/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null 2>&1; then
		_lp_db_warn "could not stop it; run: $(_lp_stop_command "$bindir" "$data")"
		return 1
	fi
}

# scripts/db.sh stop
_lp_stop_private() {
	local major bindir
	_lp_private_paths
	if [[ ! -f $_LP_PGDATA/PG_VERSION ]]; then
		_lp_db_log "no private cluster in $_LP_PGDATA"
		return 0
	fi
	major="$(<"$_LP_PGDATA/PG_VERSION")"
	bindir="$(_lp_find_pg_bindir "$major")" || _lp_db_die "PostgreSQL $major binaries not found"
	if ! _lp_as_pg_owner "$bindir/pg_ctl" -D "$_LP_PGDATA" status >/dev/null 2>&1; then
		_lp_db_log "private cluster in $_LP_PGDATA is not running"
		return 0
	fi
	_lp_as_pg_owner "$bindir/pg_ctl" -D "$_LP_PGDATA" -m fast -w stop >&2
}

# ---------------------------------------------------------------------------
# Main: choose the server
# ---------------------------------------------------------------------------

_lp_db_main() {
	local dbname="${LAUNCHPAD_DB_NAME:-launchpad}" db admin
	LAUNCHPAD_PG_STARTED=0
	_LP_PG_STARTING=0
	_lp_ensure_client

	# 1. DATABASE_URL from the environment (or .env, if the caller loaded it).
	if [[ -n ${DATABASE_URL:-} ]]; then
		if _lp_server_answers "$DATABASE_URL" || _lp_sql_works "$DATABASE_URL"; then
			LAUNCHPAD_PG_SOURCE="env"
			if [[ -z ${LAUNCHPAD_PG_ADMIN_URL:-} ]] || ! _lp_sql_works "$LAUNCHPAD_PG_ADMIN_URL"; then
				LAUNCHPAD_PG_ADMIN_URL="$(_lp_url_with_db "$DATABASE_URL" postgres)" ||
					_lp_db_die "cannot derive the admin URL from DATABASE_URL: use the form postgres://user@host:port/db, or set LAUNCHPAD_PG_ADMIN_URL"
			fi
			# The server answers; create the database itself if it is missing.
			if ! _lp_sql_works "$DATABASE_URL"; then
				db="$(_lp_url_db "$DATABASE_URL" || true)"
				if [[ -z $db ]] || ! ensure_database "$db"; then
					_lp_db_warn "cannot log in with DATABASE_URL=$(_lp_redact "$DATABASE_URL") and could not create its database"
				fi
			fi
			_lp_db_log "using DATABASE_URL from ${LAUNCHPAD_DATABASE_URL_ORIGIN:-the environment}: $(_lp_redact "$DATABASE_URL")"
			export DATABASE_URL LAUNCHPAD_PG_ADMIN_URL LAUNCHPAD_PG_SOURCE LAUNCHPAD_PG_STARTED
			return 0
		fi
		_lp_db_warn "DATABASE_URL=$(_lp_redact "$DATABASE_URL") does not answer; looking for another server"
	fi

	# 2. The machine's own server on 127.0.0.1:5432 (postgres, trust).
	if _lp_sql_works "$_LP_LOCAL_ADMIN_URL"; then
		LAUNCHPAD_PG_SOURCE=local
		admin="$_LP_LOCAL_ADMIN_URL"
	else
		# 3. A private cluster under .data/.
		_lp_db_log "no server on 127.0.0.1:5432 (user postgres, trust); using a private cluster"
		_lp_start_private_cluster
		LAUNCHPAD_PG_SOURCE=private
		admin="postgres://postgres@127.0.0.1:$_LP_PG_PORT/postgres?sslmode=disable"
		_lp_sql_works "$admin" || _lp_db_die "the private cluster does not answer on $admin (see $_LP_PG_LOG)"
	fi
	LAUNCHPAD_PG_ADMIN_URL="$admin"
	ensure_database "$dbname" "$admin" || _lp_db_die "could not create database $dbname"
	DATABASE_URL="$(_lp_url_with_db "$admin" "$dbname")"
	_lp_db_log "using $LAUNCHPAD_PG_SOURCE server: $DATABASE_URL"
	export DATABASE_URL LAUNCHPAD_PG_ADMIN_URL LAUNCHPAD_PG_SOURCE LAUNCHPAD_PG_STARTED
}

_lp_db_usage() {
	cat <<'EOF'
usage: scripts/db.sh [url|admin-url|env|psql [ARGS...]|stop|help]
  url        print DATABASE_URL (default); starts/creates what is needed
  admin-url  print LAUNCHPAD_PG_ADMIN_URL (same server, database postgres)
  env        print export lines: eval "$(scripts/db.sh env)"
  psql       open psql on DATABASE_URL
  stop       stop the private cluster under .data/, if it runs
EOF
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	# Executed.
	case "${1:-url}" in
	url)
		_lp_db_main
		printf '%s\n' "$DATABASE_URL"
		;;
	admin-url)
		_lp_db_main
		printf '%s\n' "$LAUNCHPAD_PG_ADMIN_URL"
		;;
	env)
		_lp_db_main
		printf 'export DATABASE_URL=%q\n' "$DATABASE_URL"
		printf 'export LAUNCHPAD_PG_ADMIN_URL=%q\n' "$LAUNCHPAD_PG_ADMIN_URL"
		printf 'export LAUNCHPAD_PG_SOURCE=%q\n' "$LAUNCHPAD_PG_SOURCE"
		;;
	psql)
		shift
		_lp_db_main
		exec psql "$DATABASE_URL" "$@"
		;;
	stop) _lp_stop_private ;;
	-h | --help | help) _lp_db_usage ;;
	*)
		_lp_db_usage >&2
		exit 2
		;;
	esac
else
	# Sourced.
	_lp_db_main
fi
