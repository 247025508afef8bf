# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/architecture.md has one step table per role: each row names a task of the role by its exact ``name:``.

A table starts after a line ``<!-- steps: <role> -->``; the first column whose header starts with
``step`` holds the task name. The role's tasks are read from ``roles/<role>/tasks/main.yml``, following
``block``/``rescue``/``always`` and ``include_tasks``/``import_tasks`` of files in the role's tasks directory.
The table and the tasks must name the same steps in the same order.
"""

import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLES = ["access_key_rotation", "key_pair_rotation", "credentials_audit"]
INCLUDES = ("include_tasks", "import_tasks", "ansible.builtin.include_tasks", "ansible.builtin.import_tasks")
MARKER = re.compile(r"^<!-- steps: (\S+) -->\s*$")


def _cells(line):
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def doc_tables(text):
    """{role: [step names]} from the marked tables of the document."""
    tables = {}
    lines = text.splitlines()
    for index, line in enumerate(lines):
        match = MARKER.match(line)
        if not match:
            continue
        rows = []
        for row in lines[index + 1:]:
            if not row.startswith("|"):
                break
            rows.append(_cells(row))
        assert len(rows) >= 2, "the step table of %s has no header" % match.group(1)
        column = next(i for i, cell in enumerate(rows[0]) if cell.lower().startswith("step"))
        assert match.group(1) not in tables, "two step tables for %s" % match.group(1)
        tables[match.group(1)] = [row[column].strip("`").strip() for row in rows[2:]]
    return tables


def _include_file(task):
    for key in INCLUDES:
        if key in task:
            value = task[key]
            return value.get("file") if isinstance(value, dict) else value
    return None


def task_names(tasks_dir, filename="main.yml"):
    """Every task name of a task file in order, blocks and included files of the tasks directory followed."""
    with open(os.path.join(tasks_dir, filename), encoding="utf-8") as handle:
        tasks = yaml.safe_load(handle) or []
    names = []

    def walk(items):
        for task in items:
            if task.get("name"):
                names.append(task["name"])
            for section in ("block", "rescue", "always"):
                walk(task.get(section) or [])
            included = _include_file(task)
            if included:
                assert "{{" not in included, "a templated include cannot be followed: %s" % included
                names.extend(task_names(tasks_dir, included))

    walk(tasks)
    return names


def _doc():
    with open(os.path.join(ROOT, "docs", "architecture.md"), encoding="utf-8") as handle:
        return handle.read()


@pytest.mark.parametrize("role", ROLES)
def test_step_table_names_every_task_of_the_role_in_order(role):
    table = doc_tables(_doc()).get(role)
    assert table is not None, "docs/architecture.md has no <!-- steps: %s --> table" % role
    tasks = task_names(os.path.join(ROOT, "roles", role, "tasks"))
    missing = [name for name in tasks if name not in table]
    unknown = [name for name in table if name not in tasks]
    assert not missing, "tasks of %s missing from its step table in docs/architecture.md: %s" % (role, missing)
    assert not unknown, "steps in the %s table of docs/architecture.md that its tasks do not have: %s" % (role, unknown)
    assert table == tasks, "the %s step table is not in the order of its tasks" % role


def test_every_task_is_named_once():
    for role in ROLES:
        tasks = task_names(os.path.join(ROOT, "roles", role, "tasks"))
        assert len(tasks) == len(set(tasks)), "%s has two tasks with the same name" % role


def test_tables_are_parsed_and_includes_followed(tmp_path):
    text = "\n".join([
        "intro", "<!-- steps: demo -->", "| # | step (task name) | file | why |", "|---|---|---|---|",
        "| 1 | `First` | a | b |", "| 2 | Second | a | b |", "", "| not | a | step |",
    ])
    assert doc_tables(text) == {"demo": ["First", "Second"]}
    (tmp_path / "main.yml").write_text(
        "- name: First\n  block:\n    - name: Inner\n      ansible.builtin.debug: {}\n"
        "- name: Second\n  ansible.builtin.include_tasks: more.yml\n", encoding="utf-8")
    (tmp_path / "more.yml").write_text("- name: Third\n  ansible.builtin.debug: {}\n", encoding="utf-8")
    assert task_names(str(tmp_path)) == ["First", "Inner", "Second", "Third"]
