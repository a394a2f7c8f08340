#!/usr/bin/env python3
"""Reads a running gateway's admin endpoints with third-party parsers.

  admin_check.py metrics URL MIN_JOURNAL  -- /metrics through
      prometheus_client's parser: every latency histogram well formed
      (cumulative buckets in increasing le order, +Inf equal to _count),
      and at least MIN_JOURNAL journal appends counted.
  admin_check.py latency URL 0            -- /latency's encoded histogram
      decoded by hdrh (the Python HdrHistogram port) agrees with the
      gateway's .hgrm text: same total count, the same value at every
      percentile row (to the histogram's precision), same mean and max.
  admin_check.py log URL 0                -- /latency/log read by hdrh's
      HistogramLogReader: the Java header lines, and per shard and stage the
      same counts as /stats.

Exit 0 on success, 1 on a failed check, 77 if a package is missing (the
caller prints the reason and skips; .ci/run installs them).
"""

import sys
import urllib.request


def fetch(url):
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.read().decode()


def fail(message):
    print("FAIL", message)
    sys.exit(1)


def check_metrics(base, min_journal):
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        print("python package prometheus_client is not installed")
        sys.exit(77)
    families = {f.name: f for f in text_string_to_metric_families(fetch(base + "/metrics"))}
    latency = families.get("tradsys_latency_seconds")
    if latency is None or latency.type != "histogram":
        fail("no tradsys_latency_seconds histogram")
    series = {}
    for sample in latency.samples:
        key = (sample.labels["shard"], sample.labels["stage"])
        series.setdefault(key, []).append(sample)
    journal = 0
    for key, samples in series.items():
        buckets = [s for s in samples if s.name.endswith("_bucket")]
        count = [s.value for s in samples if s.name.endswith("_count")][0]
        les = [float(s.labels["le"]) for s in buckets]
        if les != sorted(les) or les[-1] != float("inf"):
            fail(f"{key}: le not increasing to +Inf: {les}")
        values = [s.value for s in buckets]
        if values != sorted(values):
            fail(f"{key}: buckets not cumulative: {values}")
        if values[-1] != count:
            fail(f"{key}: +Inf {values[-1]} != _count {count}")
        if key[1] == "journal":
            journal += count
    if journal < min_journal:
        fail(f"journal appends {journal} < {min_journal}")
    if "tradsys_messages_in" not in families or families["tradsys_messages_in"].type != "counter":
        fail("no tradsys_messages_in_total counter")
    print(f"ok: {len(families)} families, {len(series)} latency series, journal appends {journal}")


def hgrm_rows(text):
    rows, footer = [], {}
    for line in text.splitlines()[2:]:
        if line.startswith("#["):
            for part in line[2:-1].split(","):
                name, value = part.split("=")
                footer[name.strip()] = float(value)
        elif line.strip():
            rows.append([float(x) for x in line.split()])
    return rows, footer


def check_latency(base):
    try:
        from hdrh.histogram import HdrHistogram
    except ImportError:
        print("python package hdrhistogram (hdrh) is not installed")
        sys.exit(77)
    for stage in ["wire_to_wire", "engine", "journal", "intake"]:
        query = f"/latency?stage={stage}&shard=all&unit=ns"
        def same(a, b):
            return histogram.get_highest_equivalent_value(int(a)) == histogram.get_highest_equivalent_value(int(b))

        encoded = fetch(base + query + "&format=base64").strip()
        histogram = HdrHistogram.decode(encoded)
        rows, footer = hgrm_rows(fetch(base + query))
        total = histogram.get_total_count()
        if total == 0 or total != int(footer["Total count"]) or total != int(rows[-1][2]):
            fail(f"{stage}: hdrh counts {total}, .hgrm says {footer['Total count']} / {rows[-1][2]}")

        # Java's rule, checked against hdrh's decoded counts: each row's
        # value is the first recorded value at which the cumulative count
        # reaches the row's percentile, and the row's count is that
        # cumulative count.
        cumulative, buckets = 0, []
        for item in histogram.get_recorded_iterator():
            cumulative += item.count_at_value_iterated_to
            buckets.append((item.value_iterated_to, cumulative))
        for value, percentile, count, *_ in rows:
            level = round(percentile * 100.0, 9)  # the row prints the level to 12 places
            reached = [(v, c) for v, c in buckets if 100.0 * c / total >= level]
            first_value, first_count = reached[0]
            if not same(value, first_value) or int(count) != first_count:
                fail(f"{stage}: at {percentile}: .hgrm {value} ({count}), hdrh {first_value} ({first_count})")

        def close(a, b):
            return abs(a - b) <= max(1.0, 0.001 * max(a, b))

        if not same(footer["Max"], histogram.get_max_value()):
            fail(f"{stage}: max .hgrm {footer['Max']}, hdrh {histogram.get_max_value()}")
        mean = histogram.get_mean_value()
        if abs(footer["Mean"] - mean) > max(1.0, 0.001 * mean):
            fail(f"{stage}: mean .hgrm {footer['Mean']}, hdrh {mean}")
        print(f"ok: {stage}: {total} values, {len(rows)} rows agree with hdrh")


def check_log(base):
    try:
        from hdrh.histogram import HdrHistogram
        from hdrh.log import HistogramLogReader
    except ImportError:
        print("python package hdrhistogram (hdrh) is not installed")
        sys.exit(77)
    import json
    import tempfile

    stats = json.loads(fetch(base + "/stats"))
    text = fetch(base + "/latency/log")
    lines = text.splitlines()
    for header in ["#[Histogram log format version 1.3]",
                   '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"']:
        if header not in lines:
            fail(f"interval log lacks {header!r}")
    if not any(line.startswith("#[StartTime: ") for line in lines):
        fail("interval log lacks StartTime")
    with tempfile.NamedTemporaryFile("w", suffix=".hlog", delete=False) as f:
        f.write(text)
        path = f.name
    reader = HistogramLogReader(path, HdrHistogram(1, 60 * 10**9, 3))
    counts, intervals = {}, 0
    while True:
        histogram = reader.get_next_interval_histogram()
        if histogram is None:
            break
        intervals += 1
        tag = histogram.get_tag()
        counts[tag] = counts.get(tag, 0) + histogram.get_total_count()
    # Stages that see nothing once trading stops: the log holds exactly the
    # values the gateway reports.
    for shard in stats["shards"]:
        for stage in ["engine", "journal", "wire_to_wire"]:
            expected = shard["latency"][stage]["total"]["count"]
            tag = f"s{shard['shard']}.{stage}"
            if counts.get(tag, 0) != expected:
                fail(f"{tag}: the log has {counts.get(tag, 0)} values, /stats {expected}")
    print(f"ok: {intervals} intervals, counts agree with /stats")


def main():
    check, base, number = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if check == "metrics":
        check_metrics(base, number)
    elif check == "latency":
        check_latency(base)
    elif check == "log":
        check_log(base)
    else:
        fail(f"unknown check {check}")


if __name__ == "__main__":
    main()
