"""Runs the Autobahn|Testsuite fuzzing client (pip package `kosoku`) against a
WebSocket endpoint and prints its verdicts.

    python3 tests/python/autobahn_counts.py ws://127.0.0.1:7002/md [--outdir DIR]

Prints one line `autobahn: N cases: OK=a NON-STRICT=b INFORMATIONAL=c
UNIMPLEMENTED=d FAILED=e ERROR=f` (the closing-handshake verdicts the same
way), then every case that is not acceptable with its description and
Autobahn's reason. Acceptable: OK, NON-STRICT or INFORMATIONAL, and
UNIMPLEMENTED for the compression cases (12.*, 13.*: no extension is
negotiated). Exits 1 when any case is not acceptable.

Autobahn's cases 1-10 expect an echo server (every text or binary message
sent back unchanged); point this at an endpoint that echoes.
"""

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile


def acceptable(case_id, behavior):
    if behavior in ("OK", "NON-STRICT", "INFORMATIONAL"):
        return True
    return behavior == "UNIMPLEMENTED" and case_id.split(".")[0] in ("12", "13")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--outdir", help="keep the reports here (default: a temporary dir)")
    parser.add_argument("--kosoku", default=shutil.which("kosoku"),
                        help="the kosoku command (default: on PATH, else this Python's kosoku)")
    parser.add_argument("--parallelism", type=int, default=1, help="cases run at once")
    args = parser.parse_args()
    outdir = args.outdir or tempfile.mkdtemp(prefix="autobahn-")
    # pip may install the package without its script on PATH (--user).
    kosoku = [args.kosoku] if args.kosoku else [
        sys.executable, "-c", "import sys; from kosoku._cli import main; sys.exit(main())"]
    run = subprocess.run(kosoku + ["-m", "fuzzingclient", "-p", str(args.parallelism),
                          "-o", outdir, args.url],
                         capture_output=True, text=True)
    index_path = os.path.join(outdir, "index.json")
    if not os.path.exists(index_path):
        print(f"kosoku wrote no report (exit {run.returncode}):\n{run.stdout}\n{run.stderr}")
        return 1
    index = json.load(open(index_path))
    cases = {case_id: v for agent in index.values() for case_id, v in agent.items()}
    behaviors = collections.Counter(v["behavior"] for v in cases.values())
    closes = collections.Counter(v["behaviorClose"] for v in cases.values())
    order = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED", "ERROR"]
    print(f"autobahn: {len(cases)} cases: "
          + " ".join(f"{k}={behaviors.get(k, 0)}" for k in order))
    print("autobahn close: " + " ".join(f"{k}={v}" for k, v in sorted(closes.items())))

    def key(case_id):
        return [int(p) for p in case_id.split(".")]

    bad = sorted((c for c, v in cases.items() if not acceptable(c, v["behavior"])), key=key)
    for case_id in bad:
        report = json.load(open(os.path.join(outdir, cases[case_id]["reportfile"])))
        print(f"  {case_id} {cases[case_id]['behavior']}: {report.get('description')} "
              f"-> {report.get('result')} (close: {report.get('resultClose')})")
    if not args.outdir:
        shutil.rmtree(outdir, ignore_errors=True)
    return 1 if bad or not cases else 0


if __name__ == "__main__":
    sys.exit(main())
