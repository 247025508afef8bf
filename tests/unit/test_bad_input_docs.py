# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/bad-input.md is the bad-input table of tests/integration/bad_input_cases.py, in human form.

Regenerate it with ``python tests/integration/bad_input_cases.py --write-docs``.
"""

import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _table():
    spec = importlib.util.spec_from_file_location(
        "keyops_bad_input_cases", os.path.join(ROOT, "tests", "integration", "bad_input_cases.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_and_table_agree():
    table = _table()
    with open(os.path.join(ROOT, "docs", "bad-input.md"), encoding="utf-8") as handle:
        docs = handle.read()
    assert docs == table.render_markdown(), (
        "docs/bad-input.md is not the table: run python tests/integration/bad_input_cases.py --write-docs")


def test_table_has_sixty_cases_across_modules_and_roles():
    table = _table()
    assert table.check_table() >= 60
    modules = {case["module"] for case in table.CASES if "module" in case}
    roles = {case["role"] for case in table.CASES if "role" in case}
    assert len(modules) >= 14 and len(roles) == 3
    for case in table.CASES:
        if case["xfail"]:
            assert case["xfail"].startswith("owner: ")
