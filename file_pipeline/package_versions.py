"""Check that the installed Dagster packages agree: dagster-aws/dagster-postgres 0.29.N need
dagster 1.13.N exactly (a mismatch makes pip fall back to ancient integration releases).

`python -m file_pipeline.package_versions` exits non-zero and says which versions disagree.
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version

CORE = ("dagster", "dagster-webserver", "dagster-dg-cli", "dagster-graphql")
INTEGRATIONS = ("dagster-aws", "dagster-postgres")


def version_problems() -> list[str]:
    problems = []
    try:
        core = version("dagster")
    except PackageNotFoundError:
        return ["dagster is not installed"]
    major, minor, patch = core.split(".")[:3]
    for name in CORE:
        try:
            if version(name) != core:
                problems.append(f"{name} {version(name)} != dagster {core}")
        except PackageNotFoundError:
            problems.append(f"{name} is not installed")
    expected = f"0.{int(minor) + 16}.{patch}"
    for name in INTEGRATIONS:
        try:
            if version(name) != expected:
                problems.append(
                    f"{name} {version(name)} does not match dagster {core} (needs {expected})"
                )
        except PackageNotFoundError:
            problems.append(f"{name} is not installed")
    if major != "1":
        problems.append(f"unexpected dagster major version {core}")
    return problems


def main() -> int:
    problems = version_problems()
    for problem in problems:
        print(f"version mismatch: {problem}", file=sys.stderr)
    if not problems:
        print(f"dagster {version('dagster')} / integrations {version('dagster-aws')}: in step")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
