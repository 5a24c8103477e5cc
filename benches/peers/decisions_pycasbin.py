"""pycasbin on samtykke's own policy model, answering the same requests that
samtykke's decisions bench exported, so the two can be compared in one run.

    python decisions_pycasbin.py DIR     (DIR holds world.json, requests.json, baseline.json)

Prints one JSON line per variant: "plain" calls enforce() for the baseline of both
parties on every request; "precomputed" evaluates the enforcer once per
(org_type, category, action, purpose) at load, as samtykke does, and then decides
by dict lookups only. Both must agree with samtykke on every baseline row and on
the requests before anything is timed (exit 1 otherwise).

pycasbin's enforce() takes ~0.5 ms here (it evaluates the matcher against every
policy row), so "plain" checks and times only the first 20,000 requests; its
line says so ("capped": true). "precomputed" uses the same consent/law code and
is checked on every request. SAMTYKKE_BENCH_QUICK=1 keeps the first 2,000 (for CI).
"""

import json
import os
import sys
import time
from importlib.metadata import version

import casbin

PLAIN_CAP = 20_000
HERE = os.path.dirname(os.path.abspath(__file__))
POLICIES = os.path.join(HERE, "..", "..", "policies")

if len(sys.argv) != 2:
    sys.exit("usage: decisions_pycasbin.py DIR")
DIR = sys.argv[1]


def load(name):
    with open(os.path.join(DIR, name), encoding="utf-8") as f:
        return json.load(f)


world, requests, baseline = load("world.json"), load("requests.json"), load("baseline.json")
quick = os.environ.get("SAMTYKKE_BENCH_QUICK") == "1"
if quick:
    requests = requests[:2000]

# The policy rows, with the comment lines stripped: casbin's CSV adapter does not
# take samtykke's comments, so the rules are added programmatically.
with open(os.path.join(POLICIES, "baseline.csv"), encoding="utf-8") as f:
    rules = [[x.strip() for x in line.split(",")][1:] for line in f
             if line.strip() and not line.strip().startswith("#")]
enforcer = casbin.Enforcer(os.path.join(POLICIES, "model.conf"))
enforcer.add_policies(rules)

# The world, indexed as samtykke indexes it: pupil id -> grants; org id -> type.
purpose = world["purpose"]
orgs = world["orgs"]
alone_from = world["alone_from"]
statutory = {(s["discloser"], s["recipient"], s["category"]) for s in world["statutory"]}
grants = {p["id"]: p["grants"] for p in world["pupils"]}


def type_of(org_id):
    return "tutor" if org_id == "tutor" else orgs.get(org_id)


def consent_or_law(q, dtype, rtype):
    """Consent and law, shared by both variants (only the baseline check differs)."""
    if q["action"] != "read":
        return False
    held = grants.get(q["pupil"])
    if held is None:
        return False
    category = q["category"]
    if (dtype, rtype, category) in statutory:
        return True
    age = alone_from.get(category)
    if age is None:
        return False
    d, r = q["discloser"], q["recipient"]
    return any(g["discloser"] == d and g["recipient"] == r and g["category"] == category
               and not g["withdrawn"] and g["age"] >= age for g in held)


def plain_base(t, c, a, p):
    """plain: the enforcer on every request."""
    return t is not None and enforcer.enforce(t, c, a, p)


# precomputed: every (type, category, action, purpose) the world and the baseline
# name, evaluated once; a combination not seen at load is evaluated and kept.
types = set(orgs.values()) | {"tutor"} | {b["org_type"] for b in baseline}
categories = (set(alone_from) | {s["category"] for s in world["statutory"]}
              | {g["category"] for p in world["pupils"] for g in p["grants"]}
              | {b["category"] for b in baseline})
table = {(t, c, a, purpose): enforcer.enforce(t, c, a, purpose)
         for t in types for c in categories for a in ("read", "write", "disclose")}


def pre_base(t, c, a, p):
    if t is None:
        return False
    v = table.get((t, c, a, p))
    if v is None:
        v = table[(t, c, a, p)] = enforcer.enforce(t, c, a, p)
    return v


def make_decide(base):
    def decide(q):
        rtype, dtype = type_of(q["recipient"]), type_of(q["discloser"])
        category = q["category"]
        return (base(rtype, category, q["action"], purpose)
                and base(dtype, category, "disclose", purpose)
                and consent_or_law(q, dtype, rtype))
    return decide


failed = False
for variant, base in (("plain", plain_base), ("precomputed", pre_base)):
    decide = make_decide(base)
    capped = variant == "plain" and len(requests) > PLAIN_CAP
    reqs = requests[:PLAIN_CAP] if capped else requests

    # Same answers as samtykke first: the whole baseline table, then the requests.
    differ = [b for b in baseline
              if base(b["org_type"], b["category"], b["action"], b["purpose"]) != b["allowed"]]
    differ += [q for q in reqs if decide(q) != q["allowed"]]
    for what in differ[:5]:
        print(f"pycasbin {variant}: differs from samtykke on {json.dumps(what)}", file=sys.stderr)
    line = {"peer": "pycasbin", "variant": variant, "n": len(reqs), "capped": capped, "quick": quick,
            "mismatches": len(differ), "version": version("casbin")}
    if differ:
        # A peer that answers differently is not timed: its figures would compare nothing.
        failed = True
        print(json.dumps(line), flush=True)
        continue

    # Latency: each decision timed alone (the clock's own cost, ~100 ns, included).
    clock = time.perf_counter_ns
    samples = []
    for q in reqs:
        t0 = clock()
        decide(q)
        samples.append(clock() - t0)
    samples.sort()

    def pct(p):
        return samples[min(int(len(samples) * p), len(samples) - 1)]

    # Throughput: untimed passes over the whole list, repeated to at least a second
    # (one pass in quick mode) so a fast variant is not measured on a few milliseconds.
    n, t0 = 0, clock()
    while True:
        for q in reqs:
            decide(q)
        n += len(reqs)
        elapsed = clock() - t0
        if quick or elapsed >= 1_000_000_000:
            break

    print(json.dumps({
        **line, "p50_ns": pct(0.5), "p99_ns": pct(0.99), "p999_ns": pct(0.999), "max_ns": samples[-1],
        "per_s": round(n / (elapsed / 1e9)), "runtime": f"python {sys.version.split()[0]}",
    }), flush=True)

sys.exit(1 if failed else 0)
