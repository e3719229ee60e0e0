#!/usr/bin/env python3
"""How far the fuzzer got: for every operation of the OpenAPI document, the requests the server
answered by status class (its /metrics counters, which count by route template, read after the
fuzzing less those read before it, so the fixtures' own requests do not count), and whether any
reached 2xx. Prints a table, writes it as JSON, and exits 1 if fewer than MIN_PERCENT of the
fuzzed operations reached 2xx.
    reach.py OPENAPI_JSON METRICS_BEFORE METRICS_AFTER OUT_JSON MIN_PERCENT [EXCLUDED_OPERATION_ID ...]
"""
import collections
import json
import re
import sys

openapi_path, before_path, after_path, out_path, min_percent = sys.argv[1:6]
excluded = set(sys.argv[6:])
openapi = json.load(open(openapi_path, encoding="utf-8"))
line = re.compile(r'^dongxi_http_requests_total\{method="([A-Z]+)",route="([^"]*)",status="(\d+)"\} (\d+)')


def read(path):
    counts = collections.defaultdict(collections.Counter)
    for text in open(path, encoding="utf-8"):
        m = line.match(text)
        if m:
            method, route, status, n = m.group(1), m.group(2), int(m.group(3)), int(m.group(4))
            counts[(method, route)][f"{status // 100}xx"] += n
    return counts


before, counts = read(before_path), read(after_path)
for key, c in before.items():
    counts[key].subtract(c)

rows = []
for path, item in openapi["paths"].items():
    for method, op in item.items():
        if method not in ("get", "post", "put", "patch", "delete"):
            continue
        op_id = op.get("operationId", f"{method} {path}")
        if op_id in excluded:
            continue
        c = counts[(method.upper(), path)]
        rows.append({"operation": op_id, "method": method.upper(), "path": path,
                     "2xx": c["2xx"], "4xx": c["4xx"], "5xx": c["5xx"], "total": sum(c.values())})

reached = [r for r in rows if r["2xx"] > 0]
percent = 100.0 * len(reached) / len(rows) if rows else 0.0
width = max(len(r["operation"]) for r in rows)
print(f"{'operation':<{width}}  {'2xx':>6} {'4xx':>6} {'5xx':>4}  path")
for r in sorted(rows, key=lambda r: (r["2xx"] > 0, r["path"])):
    print(f"{r['operation']:<{width}}  {r['2xx']:>6} {r['4xx']:>6} {r['5xx']:>4}  {r['method']} {r['path']}")
print(f"operations reaching 2xx: {len(reached)} of {len(rows)} ({percent:.1f}%)")
json.dump({"operations": rows, "reached": len(reached), "fuzzed": len(rows), "percent": round(percent, 1)},
          open(out_path, "w", encoding="utf-8"), ensure_ascii=False, indent=1)
sys.exit(0 if percent >= float(min_percent) else 1)
