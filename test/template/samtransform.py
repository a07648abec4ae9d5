"""Transforms a SAM template as CloudFormation will: reads the template (JSON) on stdin and
writes the template SAM makes of it (JSON) on stdout, offline, with the AWS managed policies
cfn-lint ships instead of asking IAM for them."""

import json
import sys

from cfnlint.template.transforms._sam import Transform


def main() -> int:
    template = json.load(sys.stdin)
    transform = Transform("template.json", template, "us-east-1")
    errors = transform.transform_template()
    if errors:
        for e in errors:
            print(e.message, file=sys.stderr)
        return 1
    json.dump(transform.template(), sys.stdout, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
