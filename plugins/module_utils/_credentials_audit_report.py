# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to keyops.aws: may change without notice. run_module() of keyops.aws.credentials_audit_report.

Reads the previous report.json (if any), builds the new report with the pure engine (_audit), renders
the HTML (_audit_html) and writes both files atomically (0600, directory created 0700). No AWS call.
``changed`` is true when the report's content other than ``generated_at`` differs from the previous
one (or a file is missing); check mode predicts it without writing.
"""

import json
import os

from ansible_collections.keyops.aws.plugins.module_utils import _audit
from ansible_collections.keyops.aws.plugins.module_utils import _audit_html
from ansible_collections.keyops.aws.plugins.module_utils import _fileops

REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
VOLATILE = ("generated_at", "report_dir")


class ReportError(Exception):
    """A problem described for a user."""


def _comparable(report):
    if not isinstance(report, dict):
        return None
    return dict((key, value) for key, value in report.items() if key not in VOLATILE)


def _previous(json_path):
    try:
        data = _fileops.read_regular_file(json_path)
    except _fileops.FileOpError as exc:
        raise ReportError(str(exc)) from None
    if data is None:
        return None
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None  # an unreadable old report is simply replaced


def _described(report):
    if not isinstance(report, dict):
        return ""
    return "".join(_audit.describe(item) + "\n" for item in report.get("findings") or [] if isinstance(item, dict) and "severity" in item)


def run_module(module):
    params = module.params
    report_dir = params["report_dir"]
    facts = {
        "hosts": params["hosts"] or [],
        "iam": params["iam"] or {},
        "key_pairs": params["key_pairs"] or {},
        "controller": params["controller"] or {},
        "not_audited": params["not_audited"] or [],
        "accounts": params.get("accounts") or {},
    }
    result = {"changed": False, "report_dir": report_dir}
    try:
        if os.path.exists(report_dir) and not os.path.isdir(report_dir):
            raise ReportError("report_dir %s exists and is not a directory" % report_dir)
        report = _audit.build_report(facts, max_age_days=params["max_age_days"], unused_days=params["unused_days"],
                                     fail_on=params["fail_on"])
        report["report_dir"] = report_dir
        json_path = os.path.join(report_dir, REPORT_JSON)
        html_path = os.path.join(report_dir, REPORT_HTML)
        previous = _previous(json_path)
        changed = _comparable(previous) != _comparable(report) or not os.path.isfile(html_path)
        if changed and not module.check_mode:
            _fileops.atomic_write(html_path, _audit_html.render(report).encode("utf-8"), mode=0o600, dir_mode=0o700)
            _fileops.atomic_write(json_path, (json.dumps(report, indent=2, sort_keys=True) + "\n").encode("utf-8"),
                                  mode=0o600, dir_mode=0o700)
        result.update(
            changed=changed,
            json_path=json_path,
            html_path=html_path,
            generated_at=report["generated_at"],
            summary=report["summary"],
            findings=report["findings"],
            errors=report["errors"],
            scheduled_deletions=report["scheduled_deletions"],
            lines=_audit.text_summary(report),
            fail_message=_audit.fail_message(report) if report["summary"]["failed"] else None,
        )
        if module._diff:  # pylint: disable=protected-access
            result["diff"] = {"before": _described(previous), "after": _described(report),
                              "before_header": json_path, "after_header": json_path}
    except (ReportError, _audit.AuditError, _fileops.FileOpError) as exc:
        module.fail_json(msg=str(exc), **result)
    module.exit_json(**result)
