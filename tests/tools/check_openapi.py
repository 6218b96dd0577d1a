#!/usr/bin/env python3
"""Validate OpenAPI documents with openapi-spec-validator (pinned in tests/requirements.txt).

Usage: python3 tests/tools/check_openapi.py FILE [FILE...]

Prints `ok FILE (OpenAPI V)` or `invalid FILE: <first error>` per file.
Exit status: 0 if every file is valid, 1 if any is not, 2 on usage errors or
when openapi-spec-validator is not installed.
"""

import json
import sys


def main(paths):
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        from openapi_spec_validator import validate
        from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
    except ImportError as exc:
        print(f"openapi-spec-validator is not installed ({exc}); pip install -r tests/requirements.txt", file=sys.stderr)
        return 2
    status = 0
    for path in paths:
        try:
            with open(path, "rb") as fh:
                spec = json.load(fh)
            validate(spec)
        except (OSError, ValueError, OpenAPIValidationError) as exc:
            print(f"invalid {path}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
            status = 1
            continue
        print(f"ok {path} (OpenAPI {spec.get('openapi')})")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
