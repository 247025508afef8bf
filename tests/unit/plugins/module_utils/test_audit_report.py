# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""run_module() of keyops.aws.credentials_audit_report: files written 0600 in a 0700 directory,
changed only when the content (not the time) differs, check mode writes nothing, bad input fails."""

import json
import os
import stat

import pytest

from ansible_collections.keyops.aws.plugins.module_utils import _credentials_audit_report as report_module


class Exit(Exception):
    pass


class FakeModule:
    def __init__(self, check_mode=False, diff=False, **params):
        self.params = dict(hosts=[], iam={}, key_pairs={}, controller={}, not_audited=[], max_age_days=90, unused_days=90,
                           fail_on="none")
        self.params.update(params)
        self.check_mode = check_mode
        self._diff = diff
        self.result = None
        self.failed = False

    def exit_json(self, **result):
        self.result = result
        raise Exit()

    def fail_json(self, **result):
        self.result = result
        self.failed = True
        raise Exit()


def run(**kwargs):
    module = FakeModule(**kwargs)
    with pytest.raises(Exit):
        report_module.run_module(module)
    return module


def facts(mode="0600"):
    return {"hosts": [{"host": "h1", "environment": "prod", "credentials": [
        {"path": "/c", "exists": True, "mode": mode, "managed": [], "profiles": []}]}]}


def test_writes_both_files_private_then_reports_no_change(tmp_path):
    target = str(tmp_path / "new" / "reports")
    first = run(report_dir=target, **facts(mode="0644"))
    assert not first.failed and first.result["changed"] is True
    assert first.result["summary"]["findings"] == 1 and first.result["findings"][0]["check"] == "file_mode_open"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o700
    for name in ("report.json", "report.html"):
        assert stat.S_IMODE(os.stat(os.path.join(target, name)).st_mode) == 0o600
    with open(os.path.join(target, "report.json"), encoding="utf-8") as handle:
        data = json.load(handle)
    assert data["summary"]["by_severity"]["high"] == 1 and data["findings"][0]["fix"].startswith("chmod 0600")
    second = run(report_dir=target, **facts(mode="0644"))
    assert second.result["changed"] is False
    third = run(report_dir=target, **facts(mode="0600"))
    assert third.result["changed"] is True and third.result["summary"]["findings"] == 0


def test_check_mode_predicts_without_writing(tmp_path):
    target = str(tmp_path / "reports")
    module = run(report_dir=target, check_mode=True, diff=True, **facts(mode="0644"))
    assert module.result["changed"] is True
    assert "file_mode_open" in module.result["diff"]["after"]
    assert not os.path.exists(target)


def test_fail_on_gives_a_message_naming_the_worst_finding(tmp_path):
    module = run(report_dir=str(tmp_path), fail_on="high", **facts(mode="0644"))
    assert module.result["summary"]["failed"] is True
    assert module.result["fail_message"].startswith("credentials audit: 1 finding(s) at or above severity high")
    assert "file_mode_open prod/h1 /c" in module.result["fail_message"]
    assert not module.failed


def test_report_dir_that_is_a_file_fails_clearly(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    module = run(report_dir=str(path))
    assert module.failed and "is not a directory" in module.result["msg"]


def test_bad_threshold_fails_clearly(tmp_path):
    module = run(report_dir=str(tmp_path), max_age_days=-3)
    assert module.failed and "max_age_days" in module.result["msg"]
