#!/usr/bin/env python3
"""The links the stateful phase followed: every transition schemathesis applied (a call made with
values a previous answer gave, through an OpenAPI link of the document or one it inferred), read
from each caller's NDJSON report. Prints the count per caller and the distinct links of the whole
run, writes them to OUT, and exits 1 if fewer than MIN distinct links were followed.
    links.py OUT MIN NDJSON...
"""
import json
import sys

out_path, minimum, reports = sys.argv[1], int(sys.argv[2]), sys.argv[3:]


def applied(node, found):
    if isinstance(node, dict):
        transition = node.get("transition")
        if isinstance(transition, dict) and "id" in transition and node.get("is_transition_applied"):
            found.add(transition["id"])
        for value in node.values():
            applied(value, found)
    elif isinstance(node, list):
        for value in node:
            applied(value, found)


union = set()
for report in reports:
    found = set()
    for line in open(report, encoding="utf-8"):
        applied(json.loads(line), found)
    print(f"{report.split('/')[-2]}: {len(found)} links followed")
    union |= found
with open(out_path, "w", encoding="utf-8") as out:
    out.write("\n".join(sorted(union)) + "\n")
print(f"distinct links followed: {len(union)} (listed in {out_path})")
sys.exit(0 if len(union) >= minimum else 1)
