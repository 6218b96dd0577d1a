"""Parses an OpenMetrics text exposition (herald's /metrics) on stdin with
the Prometheus project's own parser and prints its families as JSON:
{"name": {"type": ..., "samples": [{"name": ..., "labels": {...}, "value": ...}]}}.

Exit 2 when prometheus_client is missing, 1 when the text does not parse."""

import json
import sys

try:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
except ImportError as error:  # pragma: no cover
    print(f"prometheus_client is not installed ({error}): pip install -r tests/requirements.txt", file=sys.stderr)
    sys.exit(2)

text = sys.stdin.read()
try:
    families = {
        family.name: {
            "type": family.type,
            "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in family.samples],
        }
        for family in text_string_to_metric_families(text)
    }
except Exception as error:  # the parser raises ValueError and others
    print(f"not valid OpenMetrics: {error}", file=sys.stderr)
    sys.exit(1)
print(json.dumps(families))
