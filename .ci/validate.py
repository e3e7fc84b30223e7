"""Validates Brygga's native-format output against schemas/ with xmlschema and
jsonschema (independent validators).

Usage: validate.py NATIVE_DIR VECTORS_DIR

Checks every file synth wrote under NATIVE_DIR, and every reencoded.* file of
the golden vectors (the exact bytes the encoders must write). Exits 1 and
names file and problem when anything fails.
"""

import json
import sys
from pathlib import Path

import jsonschema
import xmlschema

SCHEMAS = {
    "pmo": Path("schemas/pmo/pmo.xsd"),
    "bhv": Path("schemas/bhv/bhv.xsd"),
    "prorenata": Path("schemas/prorenata/prorenata.schema.json"),
}


def validate_xml(schema, path):
    errors = list(schema.iter_errors(str(path)))
    return [f"{path}: {e.reason} at {e.path}" for e in errors[:5]]


def validate_json(validator, path):
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("["):
        items = json.loads(text)
    else:
        items = [json.loads(line) for line in text.splitlines() if line.strip()]
    problems = []
    for number, item in enumerate(items, start=1):
        for error in validator.iter_errors(item):
            problems.append(f"{path}: record {number}: {error.message} at {list(error.absolute_path)}")
            if len(problems) >= 5:
                return problems
    return problems


def main():
    native, vectors = Path(sys.argv[1]), Path(sys.argv[2])
    checked, problems = 0, []
    for name, schema_path in SCHEMAS.items():
        files = sorted(native.glob(f"{name}.*")) + sorted((vectors / name).glob("*/reencoded.*"))
        if not files:
            problems.append(f"{name}: nothing to validate")
            continue
        if schema_path.suffix == ".xsd":
            schema = xmlschema.XMLSchema(str(schema_path))
            check = lambda path: validate_xml(schema, path)
        else:
            schema = json.loads(schema_path.read_text(encoding="utf-8"))
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
            validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
            check = lambda path: validate_json(validator, path)
        for path in files:
            found = check(path)
            problems.extend(found)
            checked += 1
            print(f"{'ok  ' if not found else 'FAIL'} {path} against {schema_path}")
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"validate: {checked} files checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
