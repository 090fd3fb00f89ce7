"""Reads exported infrastructure-as-code for tests/it/export.rs, as JSON on stdout.

  read_export.py hcl DIR               every *.tf in DIR parsed by python-hcl2: {"main.tf": {...}, ...}
  read_export.py identifiers TYPE...   each CloudFormation type's primaryIdentifier, from the resource
                                   schemas cfn-lint bundles: {"AWS::IAM::Role": ["RoleName"], ...}
"""
import json
import pathlib
import sys


def hcl(directory):
    import hcl2
    from hcl2.utils import SerializationOptions

    # Plain strings instead of python-hcl2's quoted ones; expressions stay as "${...}".
    options = SerializationOptions(
        strip_string_quotes=True, explicit_blocks=False, with_comments=False
    )
    out = {}
    for path in sorted(pathlib.Path(directory).glob("*.tf")):
        with path.open() as f:
            out[path.name] = hcl2.load(f, serialization_options=options)
    return out


def identifiers(types):
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    out = {}
    for t in types:
        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", t).schema
        out[t] = [p.rsplit("/", 1)[-1] for p in schema["primaryIdentifier"]]
    return out


def main():
    command, args = sys.argv[1], sys.argv[2:]
    if command == "hcl":
        result = hcl(args[0])
    elif command == "identifiers":
        result = identifiers(args)
    else:
        sys.exit(f"unknown command {command}: use hcl or identifiers")
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
