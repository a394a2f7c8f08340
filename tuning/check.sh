#!/usr/bin/env bash
# Read-only: prints the host settings apply.sh manages and the kernel
# command line isolation, one `name value` line each. Changes nothing, so it
# is safe anywhere; `tradsys doctor` is what judges them.
#
#   check.sh                    host-wide values
#   check.sh --cores 2-5        also which IRQs may fire on the shard cores
#   check.sh --config /etc/tradsys/tradsys.toml
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

cores_arg="" config_arg=""
while (($#)); do
	case "$1" in
	--cores) cores_arg="${2:?--cores needs a list}"; shift 2 ;;
	--config) config_arg="${2:?--config needs a file}"; shift 2 ;;
	--root) ROOT="${2:?--root needs a directory}"; shift 2 ;;
	-h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
done

shard_cores=""
if [[ -n "$cores_arg$config_arg${TRADSYS_CORES:-}${TRADSYS_CONFIG:-}" ]]; then
	shard_cores="$(resolve_cores "$cores_arg" "$config_arg")"
fi

show() { printf '%-28s %s\n' "$1" "$2"; }
value() { read_value "$1" || echo "(absent)"; }

cmdline="$(value /proc/cmdline)"
cmdline="${cmdline%% -- *}"
param() {
	local word found="(unset)"
	for word in $cmdline; do [[ "$word" == "$1="* ]] && found="${word#*=}"; done
	echo "$found"
}

show kernel "$(value /proc/sys/kernel/osrelease)"
show online "$(value /sys/devices/system/cpu/online)"
show shard_cores "$( [[ -n "$shard_cores" ]] && join_list "$shard_cores" || echo '(not given)')"
show isolated "$(value /sys/devices/system/cpu/isolated)"
show cmdline.isolcpus "$(param isolcpus)"
show cmdline.nohz_full "$(param nohz_full)"
show cmdline.rcu_nocbs "$(param rcu_nocbs)"
for cpu in $(expand_list "$(value /sys/devices/system/cpu/online)"); do
	show "cpu$cpu.governor" "$(value "/sys/devices/system/cpu/cpu$cpu/cpufreq/scaling_governor")"
done
show thp.enabled "$(value /sys/kernel/mm/transparent_hugepage/enabled)"
show thp.defrag "$(value /sys/kernel/mm/transparent_hugepage/defrag)"
show vm.swappiness "$(value /proc/sys/vm/swappiness)"
swaps="$(value /proc/swaps)"
show swap_devices "$(($(printf '%s\n' "$swaps" | wc -l) - 1))"
show kernel.timer_migration "$(value /proc/sys/kernel/timer_migration)"
show kernel.sched_rt_runtime_us "$(value /proc/sys/kernel/sched_rt_runtime_us)"
show net.core.busy_poll "$(value /proc/sys/net/core/busy_poll)"
show net.core.busy_read "$(value /proc/sys/net/core/busy_read)"
show net.core.somaxconn "$(value /proc/sys/net/core/somaxconn)"
show kernel.io_uring_disabled "$(value /proc/sys/kernel/io_uring_disabled)"
show clocksource "$(value /sys/devices/system/clocksource/clocksource0/current_clocksource)"
show workqueue.cpumask "$(value /sys/devices/virtual/workqueue/cpumask)"
show irq.default_smp_affinity "$(value /proc/irq/default_smp_affinity)"

irq_total=0 on_shards=()
for dir in "$ROOT"/proc/irq/[0-9]*; do
	[[ -r "$dir/smp_affinity_list" ]] || continue
	irq_total=$((irq_total + 1))
	if [[ -n "$shard_cores" ]] && intersects "$(expand_list "$(cat "$dir/smp_affinity_list")")" "$shard_cores"; then
		on_shards+=("${dir##*/}")
	fi
done
if [[ -n "$shard_cores" ]]; then
	show irqs "$irq_total, ${#on_shards[@]} may fire on shard cores${on_shards[*]:+ (${on_shards[*]})}"
else
	show irqs "$irq_total"
fi
