#!/usr/bin/python3
"""Validates JSON records against nurs-lua's JSON Schema with the
jsonschema package (Debian's python3-jsonschema, hence /usr/bin/python3).

Usage: json_schema_check.py SCHEMA.json RECORDS.jsonl [MIN]
Every line must be valid; at least MIN (default 1) lines must be there.
"""
import json
import sys

import jsonschema


def main():
    schema = json.load(open(sys.argv[1]))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    n, errors = 0, []
    with open(sys.argv[2]) as f:
        for i, line in enumerate(f, 1):
            n += 1
            for e in validator.iter_errors(json.loads(line)):
                errors.append(f"line {i}: {e.message} at {list(e.absolute_path)}")
    want = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    if n < want:
        errors.append(f"{n} records, wanted at least {want}")
    if errors:
        print("\n".join(errors[:40]))
        sys.exit(1)
    print(f"ok: {n} records valid against {sys.argv[1]}")


if __name__ == "__main__":
    main()
