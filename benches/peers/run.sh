#!/usr/bin/env bash
# Well-known peers for samtykke's benches, installed from their registries at run
# time (nothing of theirs is committed) and measured on the data samtykke's own
# benches export, so both are compared in the same run.
#
#   benches/peers/run.sh install          npm ci + a Python venv; a no-op when done
#   benches/peers/run.sh decisions DIR    node-casbin and pycasbin on DIR/{world,requests,baseline}.json,
#                                         one JSON line per peer and variant on stdout
#   benches/peers/run.sh oidc             oidc-provider on 127.0.0.1:$PORT (see oidc_provider.mjs)
#
# SAMTYKKE_BENCH_QUICK=1 makes the decision peers use the first 2,000 requests.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$root/target/peers/venv" # under target/ so it is ignored and `cargo clean` removes it

# Each install is skipped when a stamp says it was done from the same lock file.
stamp_of() { sha256sum "$@" | sha256sum | cut -d' ' -f1; }

install() {
  local want
  want="$(stamp_of "$here/package-lock.json")"
  if [[ "$(cat "$here/node_modules/.samtykke-stamp" 2>/dev/null)" != "$want" ]]; then
    # The exact tree of the committed lock; no install scripts are needed by these peers.
    (cd "$here" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >&2
    echo "$want" >"$here/node_modules/.samtykke-stamp"
  fi
  want="$(stamp_of "$here/requirements.txt" "$(command -v python3)")"
  if [[ "$(cat "$venv/.samtykke-stamp" 2>/dev/null)" != "$want" ]]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
    echo "$want" >"$venv/.samtykke-stamp"
  fi
}

case "${1:-}" in
  install)
    install
    ;;
  decisions)
    dir="${2:?usage: run.sh decisions DIR}"
    install
    # Both peers run even when one disagrees with samtykke; the exit says if any did.
    rc=0
    node "$here/decisions_node_casbin.mjs" "$dir" || rc=1
    "$venv/bin/python" "$here/decisions_pycasbin.py" "$dir" || rc=1
    exit "$rc"
    ;;
  oidc)
    install
    exec node "$here/oidc_provider.mjs"
    ;;
  *)
    echo "usage: run.sh install | decisions DIR | oidc" >&2
    exit 2
    ;;
esac
