"""The shape of the tree: files of one concept, docs that a reader can run anywhere."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 400


def test_no_source_file_is_over_the_line_budget():
    too_long = {
        str(path.relative_to(ROOT)): n
        for path in (ROOT / "src").rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert too_long == {}


def test_doc_commands_name_no_machine_specific_data_folder():
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    absolute = re.compile(r"MINIGRAD_DATA=/(?!path/to/)")
    offenders = [str(p.relative_to(ROOT)) for p in docs if absolute.search(p.read_text())]
    assert offenders == []


def test_design_doc_holds_no_dated_measurements():
    design = (ROOT / "docs" / "design.md").read_text()
    assert re.findall(r"\b20\d\d-\d\d-\d\d\b", design) == []  # dated figures: benchmarks.md
