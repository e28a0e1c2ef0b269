"""Run by tests/infra/test_infra.py with the tool venv's interpreter (.venv-tools, which has
pycep-parser and PyYAML): parses every .bicep file under infra/ and azure.yaml, and prints them as
one JSON document. Any file that does not parse fails the run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml
from pycep import BicepParser


def main(root: Path) -> None:
    parser = BicepParser()
    bicep = {
        path.relative_to(root).as_posix(): parser.parse(file_path=path)
        for path in sorted((root / "infra").rglob("*.bicep"))
    }
    azure_yaml = yaml.safe_load((root / "azure.yaml").read_text())
    json.dump({"bicep": bicep, "azure_yaml": azure_yaml}, sys.stdout)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
