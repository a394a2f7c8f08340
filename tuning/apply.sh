#!/usr/bin/env bash
# Host tuning for tradsys shards. Idempotent: run at every boot by
# tradsys-tuning.service; a second run changes nothing. Nothing here
# survives a reboot by itself, which is why the unit runs it at boot.
#
#   apply.sh --cores 2-5            shard cores given directly
#   apply.sh --config /etc/tradsys/tradsys.toml
#   apply.sh --cores 2-5 --dry-run  print what would change, change nothing
#
# Options:
#   --housekeeping LIST  cores for IRQs and kernel work (default: online - shard cores)
#   --busy-poll US       net.core.busy_poll/busy_read (default 50)
#   --rt-unthrottle      also set kernel.sched_rt_runtime_us=-1 (only with
#                        isolated shard cores; see docs/OPERATIONS.md)
# Environment: TRADSYS_CORES, TRADSYS_CONFIG, TRADSYS_TUNING_ROOT (tests).
#
# Exit status: 0 when everything is set (or absent on this host and
# skipped), 1 when a write the host should accept failed, 2 on usage errors.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; }

cores_arg="" config_arg="" housekeeping_arg="" busy_poll_us=50 rt_unthrottle=0 dry_run=0
while (($#)); do
	case "$1" in
	--cores) cores_arg="${2:?--cores needs a list}"; shift 2 ;;
	--config) config_arg="${2:?--config needs a file}"; shift 2 ;;
	--housekeeping) housekeeping_arg="${2:?--housekeeping needs a list}"; shift 2 ;;
	--busy-poll) busy_poll_us="${2:?--busy-poll needs microseconds}"; shift 2 ;;
	--rt-unthrottle) rt_unthrottle=1; shift ;;
	--dry-run) dry_run=1; shift ;;
	--root) ROOT="${2:?--root needs a directory}"; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
done
[[ "$busy_poll_us" =~ ^[0-9]+$ ]] || die "--busy-poll wants microseconds, got '$busy_poll_us'"
if ((!dry_run)) && [[ -z "$ROOT" && "$EUID" -ne 0 ]]; then
	die "must run as root (or with --dry-run)"
fi

shard_cores="$(resolve_cores "$cores_arg" "$config_arg")"
online="$(expand_list "$(read_value /sys/devices/system/cpu/online || echo 0)")"
for cpu in $shard_cores; do
	intersects "$cpu" "$online" || die "shard core $cpu is not online (online: $(join_list "$online"))"
done
if [[ -n "$housekeeping_arg" ]]; then
	housekeeping="$(expand_list "$housekeeping_arg")"
	! intersects "$housekeeping" "$shard_cores" || die "--housekeeping overlaps the shard cores"
	for cpu in $housekeeping; do
		intersects "$cpu" "$online" || die "housekeeping core $cpu is not online (online: $(join_list "$online"))"
	done
else
	housekeeping="$(minus "$online" "$shard_cores")"
fi
[[ -n "$housekeeping" ]] || die "no housekeeping core left: shards take every online cpu"

failures=0
changed=0

report() { printf '%-8s %s\n' "$1" "$2"; }

# set_value KIND PATH VALUE: write VALUE unless the file already says it.
# KIND says how to compare: plain, selector (THP), list (cpu list), mask (hex).
set_value() {
	local kind="$1" path="$2" want="$3" current same=0
	if ! current="$(read_value "$path")"; then
		report skip "$path absent on this host"
		return 0
	fi
	case "$kind" in
	plain) [[ "$current" == "$want" ]] && same=1 ;;
	selector) [[ "$(selected "$current")" == "$want" ]] && same=1 ;;
	list) [[ "$(expand_list "$current")" == "$(expand_list "$want")" ]] && same=1 ;;
	mask) [[ "$(mask_cpus "$current")" == "$(mask_cpus "$want")" ]] && same=1 ;;
	esac
	if ((same)); then
		report ok "$path = $want"
	elif ((dry_run)); then
		report would "$path: $current -> $want"
	elif printf '%s\n' "$want" 2>/dev/null >"$ROOT$path"; then
		report set "$path: $current -> $want"
		changed=$((changed + 1))
	else
		report fail "$path: kernel refused '$want' (still $current)"
		failures=$((failures + 1))
	fi
}

# at_least PATH MIN: raise a numeric sysctl to MIN, never lower it.
at_least() {
	local current
	if current="$(read_value "$1")" && [[ "$current" =~ ^[0-9]+$ ]] && ((current >= $2)); then
		report ok "$1 = $current (>= $2)"
	else
		set_value plain "$1" "$2"
	fi
}

echo "tradsys tuning: shard cores $(join_list "$shard_cores"), housekeeping $(join_list "$housekeeping")$( ((dry_run)) && echo ' (dry run)')"

# Full clock on the shard cores from the first packet (VMs have no cpufreq).
for cpu in $shard_cores; do
	set_value plain "/sys/devices/system/cpu/cpu$cpu/cpufreq/scaling_governor" performance
done

# Huge pages only where we madvise (the engine's tables); compaction for them
# is deferred to kcompactd rather than stalling the faulting thread.
set_value selector /sys/kernel/mm/transparent_hugepage/enabled madvise
set_value selector /sys/kernel/mm/transparent_hugepage/defrag defer+madvise

# Swap anonymous memory only under real pressure.
set_value plain /proc/sys/vm/swappiness 1
# Timers stay on the cpu that armed them instead of migrating to busy cores.
set_value plain /proc/sys/kernel/timer_migration 0
# Socket reads spin on the NIC queue for up to busy_poll_us before sleeping.
set_value plain /proc/sys/net/core/busy_poll "$busy_poll_us"
set_value plain /proc/sys/net/core/busy_read "$busy_poll_us"
# The listen backlog is capped at somaxconn: room for a reconnect storm.
at_least /proc/sys/net/core/somaxconn 4096
if ((rt_unthrottle)); then
	set_value plain /proc/sys/kernel/sched_rt_runtime_us -1
fi

# Unbound kernel work queues and new IRQs go to housekeeping cores.
housekeeping_mask="$(hex_mask "$housekeeping")"
set_value mask /sys/devices/virtual/workqueue/cpumask "$housekeeping_mask"
set_value mask /proc/irq/default_smp_affinity "$housekeeping_mask"

# Existing IRQs that may fire on a shard core move to the housekeeping cores.
# Per-cpu and kernel-managed IRQs refuse the write (EIO): that is expected,
# so those are reported and do not fail the run.
irq_moved=0 irq_refused=0 irq_kept=0
for dir in "$ROOT"/proc/irq/[0-9]*; do
	[[ -e "$dir/smp_affinity_list" ]] || continue
	irq="${dir##*/}"
	current="$(cat "$dir/smp_affinity_list" 2>/dev/null)" || continue
	if ! intersects "$(expand_list "$current")" "$shard_cores"; then
		irq_kept=$((irq_kept + 1))
		continue
	fi
	if ((dry_run)); then
		report would "/proc/irq/$irq/smp_affinity_list: $current -> $(join_list "$housekeeping")"
		irq_moved=$((irq_moved + 1))
	elif printf '%s\n' "$(join_list "$housekeeping")" 2>/dev/null >"$dir/smp_affinity_list"; then
		report set "/proc/irq/$irq/smp_affinity_list: $current -> $(join_list "$housekeeping")"
		irq_moved=$((irq_moved + 1))
		changed=$((changed + 1))
	else
		report skip "/proc/irq/$irq/smp_affinity_list: kernel refused (per-cpu or managed IRQ)"
		irq_refused=$((irq_refused + 1))
	fi
done
report irqs "$irq_kept already off shard cores, $irq_moved $( ((dry_run)) && echo 'to move' || echo moved), $irq_refused refused"
if [[ -z "$ROOT" ]] && pgrep -x irqbalance >/dev/null 2>&1; then
	report note "irqbalance is running and will undo the IRQ moves: set IRQBALANCE_BANNED_CPULIST=$(join_list "$shard_cores") in /etc/default/irqbalance, or disable it"
fi

echo "tuning: $changed changed, $failures failed$( ((dry_run)) && echo ' (dry run: nothing written)')"
((failures == 0))
