#!/usr/bin/env python3
"""Check that feed files parse cleanly with feedparser.

Usage: python3 tests/tools/check_feed.py FILE [FILE...]

For each FILE prints one line:
    ok FILE (N entries, version V)      parsed cleanly, N > 0
    empty FILE (0 entries, version V)   parsed cleanly but has no entries
    bozo FILE: <exception>              feedparser flagged it (or it could not be read)

Exit status: 0 if every file is ok, 1 if any file is bozo or has zero
entries, 2 on usage errors or when feedparser is not installed.

feedparser (6.0.x, the newest release) understands RSS and Atom only, so a
*.json file is checked instead against tests/schema/jsonfeed-1.1.schema.json
with the `jsonschema` package, and must have at least one item.
"""

import json
import os

import sys


SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "schema", "jsonfeed-1.1.schema.json")


def check_json(path):
    import jsonschema

    try:
        with open(path, "rb") as fh:
            feed = json.load(fh)
        with open(SCHEMA, "rb") as fh:
            schema = json.load(fh)
    except (OSError, ValueError) as exc:
        print(f"bozo {path}: {type(exc).__name__}: {exc}")
        return False
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(feed), key=lambda e: list(e.path))
    if errors:
        for error in errors:
            where = "/".join(str(p) for p in error.path) or "(root)"
            print(f"bozo {path}: {where}: {error.message}")
        return False
    count = len(feed.get("items", []))
    if count == 0:
        print(f"empty {path} (0 items, version {feed.get('version')})")
        return False
    print(f"ok {path} ({count} items, version {feed.get('version')})")
    return True


def check(path, feedparser):
    if path.endswith(".json"):
        return check_json(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        print(f"bozo {path}: cannot read file: {exc}")
        return False
    # Parse the bytes rather than the path so feedparser never treats the
    # argument as a URL.
    result = feedparser.parse(data)
    if result.get("bozo"):
        exc = result.get("bozo_exception")
        print(f"bozo {path}: {type(exc).__name__}: {exc}")
        return False
    count = len(result.entries)
    version = result.get("version") or "unknown"
    if count == 0:
        print(f"empty {path} (0 entries, version {version})")
        return False
    print(f"ok {path} ({count} entries, version {version})")
    return True


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        import feedparser
        import jsonschema  # noqa: F401  (used by check_json)
    except ImportError:
        print(
            "check_feed.py: the 'feedparser' or 'jsonschema' module is not installed; "
            "run: pip install -r tests/requirements.txt",
            file=sys.stderr,
        )
        return 2
    all_ok = True
    for path in argv[1:]:
        if not check(path, feedparser):
            all_ok = False
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
