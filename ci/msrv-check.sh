#!/usr/bin/env bash
# The toolchain claim, checked (run by .ci/run, or by hand from anywhere in
# the repo): bash ci/msrv-check.sh
#
# Cargo.toml's [workspace.package] rust-version is the oldest Rust the
# workspace builds with, and the README repeats it. Neither holds if
# Cargo.lock pins a crate that declares a newer rust-version. This reads
# every package of the lock file (all targets, dev and bench dependencies
# included) from `cargo metadata --locked` and fails, naming them, if any
# declares a rust-version above the workspace's, or if the README's
# "Rust X.Y+" is not the workspace's. It prints the highest rust-version
# the lock needs and the crates that need it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

metadata="$(mktemp)"
trap 'rm -f "$metadata"' EXIT
cargo metadata --format-version 1 --locked >"$metadata"

python3 - "$metadata" <<'EOF'
import json
import re
import sys


def version(text):
    parts = [int(p) for p in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


with open(sys.argv[1], encoding="utf-8") as f:
    metadata = json.load(f)
members = set(metadata["workspace_members"])
claims = {p["rust_version"] for p in metadata["packages"]
          if p["id"] in members and p.get("rust_version")}
if len(claims) != 1:
    sys.exit("msrv: the workspace members should share one rust-version, "
             "found %s" % (sorted(claims) or "none"))
claim = claims.pop()

locked = [(version(p["rust_version"]), p["rust_version"], p["name"], p["version"])
          for p in metadata["packages"]
          if p["id"] not in members and p.get("rust_version")]
needed = max(v for v, _, _, _ in locked)
needers = sorted("%s %s" % (name, ver) for v, _, name, ver in locked if v == needed)
print("msrv: workspace rust-version %s; Cargo.lock needs %d.%d.%d (%s)"
      % (claim, needed[0], needed[1], needed[2], ", ".join(needers)))

failed = False
for v, text, name, ver in sorted(locked):
    if v > version(claim):
        print("msrv: %s %s declares rust-version %s, above the workspace's %s"
              % (name, ver, text, claim))
        failed = True

with open("README.md", encoding="utf-8") as f:
    stated = re.findall(r"Rust (\d+\.\d+(?:\.\d+)?)\+", f.read())
if stated != [claim]:
    print('msrv: README.md should say "Rust %s+" once; it says %s' % (claim, stated))
    failed = True

if failed:
    sys.exit("msrv: raise [workspace.package] rust-version (and the README) "
             "or pin older crates")
EOF
