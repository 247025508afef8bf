# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every module's docs render with only this collection installed (galaxy-importer's sterile import):
no module extends another collection's doc fragment (ansible-core's are always there); keyops.aws.aws ships the AWS options."""

import ast
import glob
import os

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULES = sorted(glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py")))


def _documentation(path):
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["DOCUMENTATION"]:
            return yaml.safe_load(node.value.value)
    raise AssertionError("no DOCUMENTATION in %s" % path)


@pytest.mark.parametrize("path", MODULES, ids=[os.path.basename(p) for p in MODULES])
def test_only_own_doc_fragments(path):
    fragments = _documentation(path).get("extends_documentation_fragment") or []
    # ansible-core's own fragments (files: add_file_common_args) are always there
    assert [f for f in fragments if not f.startswith(("keyops.aws.", "ansible.builtin."))] == []
