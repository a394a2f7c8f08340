# shellcheck shell=bash
# Helpers shared by apply.sh and check.sh (sourced, not executed).
#
# Every host path goes through "$ROOT", empty on a real host; tests point it
# at a fake /proc and /sys tree so both scripts can be exercised as root
# without touching the machine.

ROOT="${TRADSYS_TUNING_ROOT:-}"

die() {
	printf '%s: %s\n' "${0##*/}" "$*" >&2
	exit 2
}

# expand_list "0-3,8" -> "0 1 2 3 8"
expand_list() {
	local list="${1//[[:space:]]/}" part first last cpu out=()
	[[ -z "$list" || "$list" == "(null)" ]] && return 0
	local IFS=,
	for part in $list; do
		if [[ "$part" =~ ^([0-9]+)-([0-9]+)$ ]]; then
			first="${BASH_REMATCH[1]}" last="${BASH_REMATCH[2]}"
		elif [[ "$part" =~ ^[0-9]+$ ]]; then
			first="$part" last="$part"
		else
			die "bad cpu list '$1'"
		fi
		((first <= last)) || die "bad cpu range '$part'"
		for ((cpu = first; cpu <= last; cpu++)); do out+=("$cpu"); done
	done
	IFS=' '
	printf '%s\n' "${out[*]}"
}

# join_list "0 1 4" -> "0,1,4" (a valid kernel cpu list)
join_list() {
	local -a cpus
	read -r -a cpus <<<"$1"
	local IFS=,
	printf '%s\n' "${cpus[*]}"
}

# hex_mask "0 1 33" -> "00000002,00000003" (32-bit groups, as the kernel prints)
hex_mask() {
	local cpu max=0 group groups=() mask=""
	for cpu in $1; do ((cpu > max)) && max=$cpu; done
	for ((group = 0; group <= max / 32; group++)); do groups[group]=0; done
	for cpu in $1; do ((groups[cpu / 32] |= 1 << (cpu % 32))); done
	for ((group = max / 32; group >= 0; group--)); do
		mask+="$(printf '%08x' "${groups[group]}")"
		((group > 0)) && mask+=","
	done
	printf '%s\n' "$mask"
}

# mask_cpus "00000002,00000003" -> "0 1 33"
mask_cpus() {
	local mask="${1//[[:space:]]/}" group bits bit index=0 out=() groups=()
	IFS=, read -r -a groups <<<"$mask"
	for ((group = ${#groups[@]} - 1; group >= 0; group--)); do
		bits=$((16#${groups[group]}))
		for ((bit = 0; bit < 32; bit++)); do
			((bits & (1 << bit))) && out+=($((index * 32 + bit)))
		done
		index=$((index + 1))
	done
	printf '%s\n' "${out[*]}"
}

# intersects "0 1 2" "2 3" -> true when the sets share a cpu
intersects() {
	local a b
	for a in $1; do
		for b in $2; do [[ "$a" == "$b" ]] && return 0; done
	done
	return 1
}

# minus "0 1 2 3" "2 3" -> "0 1"
minus() {
	local a out=()
	for a in $1; do intersects "$a" "$2" || out+=("$a"); done
	printf '%s\n' "${out[*]}"
}

# The `cores = [..]` array of the [server] table of a tradsys TOML file
# (single-line arrays only), as a cpu list: "2,3,4,5".
config_cores() {
	[[ -r "$1" ]] || die "cannot read config '$1'"
	awk '
		/^[[:space:]]*\[/ { in_server = ($0 ~ /^[[:space:]]*\[server\][[:space:]]*(#.*)?$/); next }
		in_server && /^[[:space:]]*cores[[:space:]]*=/ {
			line = $0; sub(/#.*/, "", line); sub(/^[^[]*\[/, "", line); sub(/\].*/, "", line)
			gsub(/[[:space:]]/, "", line); print line; exit
		}' "$1"
}

# The bracketed choice of a sysfs selector: "always [madvise] never" -> madvise
selected() {
	local text="$1"
	text="${text#*[}"
	printf '%s\n' "${text%%]*}"
}

# read_value PATH -> contents (trimmed of the trailing newline), or fails
read_value() {
	local value
	value="$(cat "$ROOT$1" 2>/dev/null)" || return 1
	printf '%s\n' "$value"
}

# resolve_cores CORES CONFIG: the shard cores as a space-separated list, from
# --cores, else $TRADSYS_CORES, else the config file.
resolve_cores() {
	local list="${1:-${TRADSYS_CORES:-}}" config="${2:-${TRADSYS_CONFIG:-}}"
	if [[ -z "$list" && -n "$config" ]]; then
		list="$(config_cores "$config")"
		[[ -n "$list" ]] || die "no single-line 'cores = [...]' under [server] in $config"
	fi
	[[ -n "$list" ]] || die "shard cores unknown: pass --cores LIST or --config FILE"
	expand_list "$list"
}
