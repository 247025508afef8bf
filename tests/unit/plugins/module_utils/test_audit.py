# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The credentials audit's findings engine (_audit) and its HTML (_audit_html): every check, inclusive
thresholds, severities, environments, fix texts and the no-secret guarantee."""

import base64
import datetime
import html
import json
import re
import struct

import pytest

from ansible_collections.keyops.aws.plugins.module_utils import _audit
from ansible_collections.keyops.aws.plugins.module_utils import _audit_html

NOW = datetime.datetime(2026, 6, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzSECRETKEY"


def ed25519(seed):
    raw = bytes([seed]) * 32
    blob = struct.pack(">I", 11) + b"ssh-ed25519" + struct.pack(">I", 32) + raw
    return "ssh-ed25519 " + base64.b64encode(blob).decode("ascii")


CURRENT = ed25519(1)
RETIRED = ed25519(2)
OTHER = ed25519(3)


def key_id(n):
    return "AKIA" + ("%016d" % n)


def days_ago(days):
    return (NOW - datetime.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def iam_key(n, status="Active", age=1, used=0):
    return {"access_key_id": key_id(n), "status": status, "create_date": days_ago(age),
            "last_used_date": days_ago(used) if used is not None else None}


def profile(name, n=None, reason="ok", arn=None, key=None):
    return {"name": name, "access_key_id": key if key is not None else key_id(n), "has_secret_access_key": True,
            "verify": {"reason": reason, "arn": arn} if reason else None}


def cred(path, profiles, managed=(), mode="0600", exists=True):
    return {"path": path, "exists": exists, "mode": mode, "error": None,
            "managed": [{"profile": p, "iam_user": u} for p, u in managed], "profiles": list(profiles)}


def host(name, env="prod", credentials=(), authorized=None):
    return {"host": name, "environment": env, "credentials": list(credentials), "authorized_keys": authorized}


def clean_facts():
    """A fleet with nothing wrong: one user, one young used key held by two hosts, key pair everywhere."""
    return {
        "hosts": [
            host("h1", credentials=[cred("/h1/credentials", [profile("default", 1)], managed=[("default", "app")])],
                 authorized={"path": "/h1/ak", "exists": True, "content": "# admin\n%s current\n" % CURRENT}),
            host("h2", credentials=[cred("/h2/credentials", [profile("default", 1)], managed=[("default", "app")])],
                 authorized={"path": "/h2/ak", "exists": True, "content": 'from="10.0.0.1" %s c\n' % CURRENT}),
        ],
        "iam": {"prod": {"users": [{"user_name": "app", "access_keys": [iam_key(1)]}], "missing_users": [], "error": None}},
        "key_pairs": {"prod": {"name": "deploy", "regions": {
            "us-east-1": {"present": True, "public_key": CURRENT + " deploy"},
            "eu-west-1": {"present": True, "public_key": CURRENT},
        }}},
        "controller": {"name": "deploy", "key_dir": "/keys", "public_key": CURRENT + " me@ctl", "public_key_path": "/keys/deploy.pub",
                       "private_key": {"path": "/keys/deploy", "exists": True, "mode": "0600"},
                       "retired_public_keys": [{"path": "/keys/retired/old.pub", "public_key": RETIRED}]},
    }


def run(facts, **kwargs):
    kwargs.setdefault("now", NOW)
    findings, errors = _audit.evaluate(facts, **kwargs)
    return findings, errors


def checks(findings):
    return sorted(item["check"] for item in findings)


def test_clean_fleet_has_no_findings_and_no_errors():
    findings, errors = run(clean_facts())
    assert findings == []
    assert errors == []


def test_every_finding_has_every_field_and_its_severity():
    facts = clean_facts()
    facts["hosts"][0]["credentials"][0]["mode"] = "0644"
    findings, _errors = run(facts)
    assert checks(findings) == ["file_mode_open"]
    item = findings[0]
    assert set(item) == set(_audit.FINDING_FIELDS)
    assert item["severity"] == "high"
    assert item["host"] == "h1" and item["path"] == "/h1/credentials" and item["environment"] == "prod"
    assert item["profile"] is None and item["region"] is None and item["key_pair"] is None
    assert "chmod 0600 /h1/credentials" in item["fix"]


@pytest.mark.parametrize("mode,flagged", [("0600", False), ("0400", False), ("0640", True), ("0604", True), ("0660", True),
                                          ("0700", False), (0o644, True), ("644", True)])
def test_file_mode_open(mode, flagged):
    facts = clean_facts()
    facts["hosts"][0]["credentials"][0]["mode"] = mode
    assert checks(run(facts)[0]) == (["file_mode_open"] if flagged else [])


@pytest.mark.parametrize("bad", ["AKIA123", "akia0000000000000001", "AKIA00000000000000011", "XKIA0000000000000001", "AKIA000000000000000-"])
def test_malformed_key_id(bad):
    facts = clean_facts()
    facts["hosts"][0]["credentials"][0]["profiles"].append(profile("typo", key=bad, reason="malformed_key_id"))
    findings = run(facts)[0]
    assert checks(findings) == ["malformed_key_id"]
    assert findings[0]["profile"] == "typo" and findings[0]["severity"] == "high"
    assert "aws_access_key_id" in findings[0]["fix"]


def test_asia_key_id_is_well_formed():
    assert not _audit.is_malformed_key_id("ASIA0000000000000001")
    assert not _audit.is_malformed_key_id(key_id(7))


def test_key_not_found_from_verify_and_from_iam():
    facts = clean_facts()
    # unmanaged profile: AWS does not know the key (verify says so)
    facts["hosts"][0]["credentials"][0]["profiles"].append(profile("gone", 9, reason="key_not_found"))
    # managed profile of a listed user, no secret to verify with: absent from the user's keys
    facts["hosts"][1]["credentials"].append(cred("/h2/other", [profile("default", 8, reason=None)], managed=[("default", "app")]))
    findings = run(facts)[0]
    assert checks(findings) == ["holders_disagree", "key_not_found", "key_not_found"]
    nf = [item for item in findings if item["check"] == "key_not_found"]
    assert {item["access_key_id"] for item in nf} == {key_id(9), key_id(8)}
    assert all(item["severity"] == "high" for item in nf)
    assert "rotate_access_keys" in nf[0]["fix"]


def test_key_not_found_names_a_missing_user():
    facts = clean_facts()
    facts["hosts"][0]["credentials"].append(cred("/h1/ghost", [profile("default", 5, reason="key_not_found")], managed=[("default", "ghost")]))
    facts["iam"]["prod"]["missing_users"] = ["ghost"]
    findings, errors = run(facts)
    assert checks(findings) == ["key_not_found"]
    assert "ghost does not exist" in findings[0]["message"]
    assert any("ghost" in err["message"] for err in errors)


def test_key_inactive_from_iam_and_from_verify():
    facts = clean_facts()
    facts["iam"]["prod"]["users"][0]["access_keys"].append(iam_key(2, status="Inactive"))
    facts["hosts"][0]["credentials"][0]["profiles"].append(profile("old", 2, reason="key_inactive"))
    facts["hosts"][1]["credentials"][0]["profiles"].append(profile("elsewhere", 4, reason="key_inactive"))
    findings = run(facts)[0]
    assert checks(findings) == ["key_inactive", "key_inactive", "key_limit_reached"]
    assert {item["access_key_id"] for item in findings if item["check"] == "key_inactive"} == {key_id(2), key_id(4)}


def test_unheld_inactive_key_is_not_key_inactive():
    facts = clean_facts()
    facts["iam"]["prod"]["users"][0]["access_keys"].append(iam_key(2, status="Inactive"))
    assert checks(run(facts)[0]) == ["key_limit_reached"]


def test_secret_mismatch():
    facts = clean_facts()
    facts["hosts"][1]["credentials"][0]["profiles"][0]["verify"]["reason"] = "secret_mismatch"
    findings = run(facts)[0]
    assert checks(findings) == ["secret_mismatch"]
    assert findings[0]["host"] == "h2" and findings[0]["iam_user"] == "app"
    assert "SignatureDoesNotMatch" in findings[0]["message"]


def test_unmanaged_profile_user_comes_from_verify_arn():
    facts = clean_facts()
    facts["hosts"][0]["credentials"][0]["profiles"].append(
        profile("ci", 6, reason="secret_mismatch", arn="arn:aws:iam::123456789012:user/team/ci-bot"))
    findings = run(facts)[0]
    assert findings[0]["iam_user"] == "ci-bot"


@pytest.mark.parametrize("age,max_age,flagged", [(89, 90, False), (90, 90, True), (91, 90, True), (0, 0, True), (5, 0, True)])
def test_key_too_old_is_inclusive(age, max_age, flagged):
    facts = clean_facts()
    facts["iam"]["prod"]["users"][0]["access_keys"] = [iam_key(1, age=age, used=0)]
    findings = run(facts, max_age_days=max_age, unused_days=1000)[0]
    assert checks(findings) == (["key_too_old"] if flagged else [])
    if flagged:
        assert findings[0]["severity"] == "medium"
        assert findings[0]["access_key_id"] == key_id(1) and findings[0]["iam_user"] == "app"
        assert findings[0]["host"] is None


def test_inactive_keys_are_never_too_old_or_unused():
    facts = clean_facts()
    facts["iam"]["prod"]["users"][0]["access_keys"] = [iam_key(1, age=1), iam_key(2, status="Inactive", age=500, used=None)]
    assert checks(run(facts)[0]) == ["key_limit_reached"]


@pytest.mark.parametrize("age,used,threshold,flagged", [
    (100, 89, 90, False), (100, 90, 90, True), (100, None, 90, True), (89, None, 90, False), (90, None, 90, True), (0, 0, 0, True)])
def test_key_unused_is_inclusive_and_counts_never_used_from_creation(age, used, threshold, flagged):
    facts = clean_facts()
    facts["iam"]["prod"]["users"][0]["access_keys"] = [iam_key(1, age=age, used=used)]
    findings = run(facts, max_age_days=1000, unused_days=threshold)[0]
    assert checks(findings) == (["key_unused"] if flagged else [])
    if flagged:
        assert findings[0]["severity"] == "low"
        assert ("never been used" in findings[0]["message"]) == (used is None)


def test_key_limit_reached_names_the_key_to_retire():
    facts = clean_facts()
    users = facts["iam"]["prod"]["users"]
    # both Active, key 1 held: retire the unheld one
    users[0]["access_keys"] = [iam_key(3, age=2), iam_key(1, age=5)]
    findings = run(facts)[0]
    assert checks(findings) == ["key_limit_reached"]
    assert findings[0]["access_key_id"] == key_id(3)
    assert "LimitExceeded" in findings[0]["message"] and key_id(3) in findings[0]["fix"]
    # an Inactive key is the one to go, even when it is the newest
    users[0]["access_keys"] = [iam_key(3, status="Inactive", age=1), iam_key(1, age=5)]
    findings = run(facts)[0]
    assert findings[0]["access_key_id"] == key_id(3) and "Inactive" in findings[0]["message"]
    # Inactive keys: the one with the oldest recorded deactivation goes first, then unrecorded ones; when the keys
    # to delete are all recorded (scheduled by a rotation) it is expected state, not a finding
    users[0]["access_keys"] = [dict(iam_key(4, status="Inactive", age=1), deactivated_date=days_ago(1)),
                               dict(iam_key(5, status="Inactive", age=9), deactivated_date=None),
                               dict(iam_key(6, status="Inactive", age=3), deactivated_date=days_ago(2))]
    findings = run(facts)[0]
    assert [item["access_key_id"] for item in findings if item["check"] == "key_limit_reached"] == []
    users[0]["access_keys"] = [dict(iam_key(4, status="Inactive", age=1), deactivated_date=days_ago(1)),
                               dict(iam_key(5, status="Inactive", age=9), deactivated_date=None),
                               iam_key(1, age=5)]
    findings = run(facts)[0]
    assert [item["access_key_id"] for item in findings if item["check"] == "key_limit_reached"] == [key_id(4)]
    # both Active, key 1 held: the fix retires the other with key 1 as the current one
    users[0]["access_keys"] = [iam_key(3, age=2), iam_key(1, age=5)]
    findings = run(facts)[0]
    assert "current_key_id: %s" % key_id(1) in findings[0]["fix"] and "--access-key-id %s" % key_id(3) in findings[0]["fix"]
    # both held (holders disagree): the oldest
    facts["hosts"][1]["credentials"][0]["profiles"][0]["access_key_id"] = key_id(3)
    users[0]["access_keys"] = [iam_key(3, age=1), iam_key(1, age=5)]
    findings = [item for item in run(facts)[0] if item["check"] == "key_limit_reached"]
    assert findings[0]["access_key_id"] == key_id(1)


def test_holders_disagree():
    facts = clean_facts()
    facts["iam"]["prod"]["users"][0]["access_keys"] = [iam_key(2, age=0), iam_key(1, age=3)]
    facts["hosts"][1]["credentials"][0]["profiles"][0]["access_key_id"] = key_id(2)
    findings = run(facts)[0]
    assert checks(findings) == ["holders_disagree", "key_limit_reached"]
    item = findings[0]
    assert item["iam_user"] == "app" and item["environment"] == "prod"
    assert key_id(1) in item["message"] and key_id(2) in item["message"] and "h1" in item["message"]
    assert "newest Active key is %s" % key_id(2) in item["message"]
    assert "--limit h1,h2" in item["fix"]


def test_holders_in_other_environments_do_not_disagree():
    facts = clean_facts()
    facts["hosts"][1]["environment"] = "staging"
    facts["hosts"][1]["credentials"][0]["profiles"][0]["access_key_id"] = key_id(2)
    facts["iam"]["staging"] = {"users": [{"user_name": "app", "access_keys": [iam_key(2)]}]}
    assert run(facts)[0] == []


def test_key_pair_missing_and_drift_against_the_controller_key():
    facts = clean_facts()
    facts["key_pairs"]["prod"]["regions"]["us-west-2"] = {"present": False}
    facts["key_pairs"]["prod"]["regions"]["ap-south-1"] = {"present": True, "public_key": OTHER}
    findings = run(facts)[0]
    assert checks(findings) == ["key_pair_drift", "key_pair_missing"]
    drift = [item for item in findings if item["check"] == "key_pair_drift"][0]
    missing = [item for item in findings if item["check"] == "key_pair_missing"][0]
    assert drift["region"] == "ap-south-1" and drift["key_pair"] == "deploy" and drift["severity"] == "medium"
    assert "controller's current public key" in drift["message"]
    assert missing["region"] == "us-west-2" and "rotate_key_pairs" in missing["fix"]


def test_key_pair_missing_says_where_the_name_exists():
    facts = clean_facts()
    facts["key_pairs"]["prod"]["regions"]["us-west-2"] = {"present": False}
    facts["key_pairs"]["prod"]["found_elsewhere"] = ["ap-south-1"]
    findings = run(facts)[0]
    assert checks(findings) == ["key_pair_missing"]
    message = findings[0]["message"]
    assert "key pair not found" in message and "it exists in eu-west-1, us-east-1" in message
    assert "outside the listed regions it exists in ap-south-1" in message and "check the region" in message


def test_key_pair_drift_against_the_majority_without_a_controller_key():
    facts = clean_facts()
    facts["controller"]["public_key"] = None
    facts["key_pairs"]["prod"]["regions"]["ap-south-1"] = {"present": True, "public_key": OTHER}
    findings = run(facts)[0]
    assert [(item["check"], item["region"]) for item in findings] == [("key_pair_drift", "ap-south-1")]
    assert "most regions" in findings[0]["message"]


def test_key_pair_drift_by_ec2_fingerprint_when_no_public_key_is_returned():
    facts = clean_facts()
    from ansible_collections.keyops.aws.plugins.module_utils import _ssh_public_keys
    facts["key_pairs"]["prod"]["regions"] = {
        "us-east-1": {"present": True, "fingerprint": _ssh_public_keys.ec2_fingerprint(CURRENT)},
        "eu-west-1": {"present": True, "fingerprint": _ssh_public_keys.ec2_fingerprint(OTHER)},
    }
    assert [(item["check"], item["region"]) for item in run(facts)[0]] == [("key_pair_drift", "eu-west-1")]


def test_authorized_key_missing_and_retired_key_present():
    facts = clean_facts()
    facts["hosts"][0]["authorized_keys"]["content"] = "%s old\n" % RETIRED
    facts["hosts"][1]["authorized_keys"] = {"path": "/h2/ak", "exists": False, "content": None}
    findings = run(facts)[0]
    assert [(item["check"], item["host"]) for item in findings] == [
        ("retired_key_present", "h1"), ("authorized_key_missing", "h1"), ("authorized_key_missing", "h2")]
    assert findings[0]["severity"] == "high" and "SHA256:" in findings[0]["fix"] and "/keys/retired/old.pub" in findings[0]["message"]
    assert "Permission denied" in findings[1]["message"]


def test_authorized_keys_parsing_handles_options_comments_and_garbage():
    content = '\n'.join(['# c', '', 'command="echo a b",no-pty %s x' % CURRENT, 'garbage line', '@revoked %s' % RETIRED, OTHER + ' y'])
    keys = _audit.authorized_keys_of(content)
    assert keys == [_audit.canonical_key(CURRENT), _audit.canonical_key(OTHER)]


def test_private_key_mode_open():
    for mode, flagged in (("0600", False), ("0400", False), ("0644", True), ("0640", True), ("0700", True)):
        facts = clean_facts()
        facts["controller"]["private_key"]["mode"] = mode
        findings = run(facts)[0]
        assert checks(findings) == (["private_key_mode_open"] if flagged else [])
        if flagged:
            assert findings[0]["environment"] is None and findings[0]["path"] == "/keys/deploy"
            assert "UNPROTECTED PRIVATE KEY FILE" in findings[0]["message"] and findings[0]["fix"] == "chmod 0600 /keys/deploy"


def test_severities_are_the_specified_ones():
    assert {check for check, sev in _audit.CHECK_SEVERITY.items() if sev == "high"} == {
        "key_not_found", "key_inactive", "secret_mismatch", "malformed_key_id", "file_mode_open", "private_key_mode_open",
        "retired_key_present"}
    assert {check for check, sev in _audit.CHECK_SEVERITY.items() if sev == "medium"} == {
        "holders_disagree", "key_pair_missing", "key_pair_drift", "authorized_key_missing", "key_too_old", "key_limit_reached"}
    assert {check for check, sev in _audit.CHECK_SEVERITY.items() if sev == "low"} == {"key_unused"}


@pytest.mark.parametrize("explicit,groups,expected", [
    ("prod", ["staging"], "prod"),
    (None, ["staging", "web"], "staging"),
    ("", ["all", "ungrouped", "dev"], "dev"),
    (None, ["all"], "ungrouped"),
    (None, {"all": ["h1"], "ungrouped": [], "web": ["h2"], "qa": ["h1"], "aa": ["h1"]}, "qa"),
])
def test_resolve_environment(explicit, groups, expected):
    assert _audit.resolve_environment("h1", explicit, groups) == expected


def test_errors_for_missing_files_profiles_and_hosts():
    facts = clean_facts()
    facts["hosts"][0]["credentials"].append(cred("/h1/missing", [], managed=[("default", "app")], exists=False))
    facts["hosts"][1]["credentials"][0]["managed"].append({"profile": "deploy", "iam_user": "app"})
    facts["hosts"][1]["credentials"].append({"path": "/h2/bad", "error": "line 3: not a profile"})
    facts["not_audited"] = ["h9"]
    findings, errors = run(facts)
    assert findings == []
    assert len(errors) == 4
    assert any(err["host"] == "h9" for err in errors)


def test_bad_thresholds_and_fail_on_are_refused():
    with pytest.raises(_audit.AuditError):
        _audit.evaluate(clean_facts(), max_age_days=-1)
    with pytest.raises(_audit.AuditError):
        _audit.summarize([], fail_on="critical")


@pytest.mark.parametrize("fail_on,failed", [("none", False), ("low", True), ("medium", True), ("high", False)])
def test_summary_and_fail_on(fail_on, failed):
    facts = clean_facts()
    facts["iam"]["prod"]["users"][0]["access_keys"] = [iam_key(1, age=100, used=0), iam_key(2, age=100, used=None)]
    report = _audit.build_report(facts, fail_on=fail_on, now=NOW)
    summary = report["summary"]
    assert summary["by_severity"] == {"high": 0, "medium": 3, "low": 1}
    assert summary["findings"] == 4 and summary["failed"] is failed
    assert summary["worst"]["severity"] == "medium"
    if failed:
        message = _audit.fail_message(report)
        assert summary["worst"]["check"] in message and "medium" in message


def test_report_shape_and_json():
    report = _audit.build_report(clean_facts(), now=NOW)
    assert report["generated_at"] == "2026-06-01T12:00:00Z"
    assert report["summary"]["findings"] == 0 and report["summary"]["by_severity"] == {"high": 0, "medium": 0, "low": 0}
    assert report["keys"][0]["age_days"] == 1
    json.dumps(report)
    assert _audit.text_summary(report)[0].startswith("credentials audit: 0 finding(s)")


def everything_wrong():
    facts = clean_facts()
    facts["hosts"][0]["credentials"][0]["mode"] = "0644"
    facts["hosts"][0]["credentials"][0]["profiles"].append(profile("typo", key="AKIA<script>alert(1)</script>", reason=None))
    facts["hosts"][1]["credentials"][0]["profiles"][0]["verify"]["reason"] = "secret_mismatch"
    facts["iam"]["prod"]["users"][0]["access_keys"].append(iam_key(2, age=400, used=None))
    facts["key_pairs"]["prod"]["regions"]["us-west-2"] = {"present": False}
    facts["controller"]["private_key"]["mode"] = "0644"
    return facts


def test_no_secret_fed_in_reaches_findings_report_or_html():
    facts = everything_wrong()
    # secrets where they must never be: in profiles, verify results, IAM data, key pair data, host facts
    prof = facts["hosts"][0]["credentials"][0]["profiles"][0]
    prof["secret_access_key"] = SECRET
    prof["aws_secret_access_key"] = SECRET
    prof["settings"] = {"aws_secret_access_key": SECRET}
    prof["verify"]["message"] = "secret %s" % SECRET
    facts["hosts"][0]["secret"] = SECRET
    facts["hosts"][0]["credentials"][0]["raw"] = "[default]\naws_secret_access_key = %s\n" % SECRET
    facts["iam"]["prod"]["users"][0]["access_keys"][0]["secret_access_key"] = SECRET
    facts["key_pairs"]["prod"]["regions"]["us-east-1"]["private_key"] = SECRET
    facts["controller"]["private_key"]["content"] = SECRET
    report = _audit.build_report(facts, now=NOW, fail_on="low")
    assert report["summary"]["findings"] >= 6
    blobs = [json.dumps(report), _audit_html.render(report), "\n".join(_audit.text_summary(report)), _audit.fail_message(report)]
    for blob in blobs:
        assert SECRET not in blob
        assert "K7MDENG" not in blob


def test_html_escapes_everything_and_shows_counts():
    report = _audit.build_report(everything_wrong(), now=NOW)
    page = _audit_html.render(report)
    assert "<script>" not in page and "&lt;script&gt;" in page
    sev = report["summary"]["by_severity"]
    assert '<span class="n" id="count-total">%d</span>' % report["summary"]["findings"] in page
    assert '<span class="n" id="count-high">%d</span>' % sev["high"] in page
    assert "<svg" in page and "max age 90 days" in page
    assert page.count('<tr class="finding"') == report["summary"]["findings"]
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in page
    for check in _audit.CHECK_IDS:
        assert check in page  # matrix columns


def test_html_of_a_clean_fleet():
    page = _audit_html.render(_audit.build_report(clean_facts(), now=NOW))
    assert 'id="no-findings"' in page and '<span class="n" id="count-total">0</span>' in page


def all_checks_facts():
    """Every check planted once in one fleet."""
    facts = everything_wrong()  # file_mode_open, malformed_key_id, secret_mismatch, key_pair_missing, private_key_mode_open
    users = facts["iam"]["prod"]["users"]
    users[0]["access_keys"] = [iam_key(1, age=400, used=0), iam_key(2, age=100, used=None)]  # too old, unused, limit
    users.append({"user_name": "old", "access_keys": [iam_key(3, status="Inactive")]})
    facts["hosts"][0]["credentials"][0]["profiles"].append(profile("stale", 3, reason="key_inactive"))
    facts["hosts"][0]["credentials"][0]["profiles"].append(profile("gone", 9, reason="key_not_found"))
    facts["hosts"][0]["credentials"].append(cred("/h1/split", [profile("default", 2)], managed=[("default", "app")]))
    facts["key_pairs"]["prod"]["regions"]["ap-south-1"] = {"present": True, "public_key": OTHER}
    facts["hosts"][0]["authorized_keys"]["content"] = "%s\n%s\n" % (CURRENT, RETIRED)
    facts["hosts"][1]["authorized_keys"]["content"] = ""
    return facts


def test_every_check_can_fire_and_every_fix_names_a_command_or_variable():
    findings, errors = run(all_checks_facts())
    assert set(checks(findings)) == set(_audit.CHECK_IDS)
    assert errors == []
    command = re.compile(r"ansible-playbook keyops\.aws\.|aws iam |chmod 0600|keyops\.aws\.[a-z_]+|access_key_rotation_|key_pair_rotation_")
    for item in findings:
        assert command.search(item["fix"]), item
        assert item["severity"] == _audit.CHECK_SEVERITY[item["check"]]
        assert set(item) == set(_audit.FINDING_FIELDS)


def test_findings_are_sorted_most_severe_first():
    findings = run(all_checks_facts())[0]
    ranks = [_audit.SEVERITY_RANK[item["severity"]] for item in findings]
    assert ranks == sorted(ranks, reverse=True)


def test_html_chart_shows_keys_created_today():
    facts = clean_facts()
    for env in facts["iam"].values():
        for user in env["users"]:
            for key in user["access_keys"]:
                key["create_date"] = days_ago(0)
    report = _audit.build_report(facts, now=NOW)
    assert report["keys"] and all(row["age_days"] == 0 for row in report["keys"])
    page = _audit_html.render(report)
    bars = re.findall(r'<rect x="330" y="\d+" width="([0-9.]+)"', page)
    assert bars and all(float(width) >= _audit_html.MIN_BAR_WIDTH for width in bars)
    assert "0 d (new today)" in page


def test_html_matrix_columns_are_check_titles_with_the_id_in_a_tooltip():
    report = _audit.build_report(everything_wrong(), now=NOW)
    page = _audit_html.render(report)
    for check in report["checks"]:
        assert '<th class="check" title="%s (%s)">%s</th>' % (check["check"], check["severity"], html.escape(check["title"])) in page


# --------------------------------------------------------------------------- accounts, scheduled deletions, other holders
def test_scheduled_deletion_is_expected_state_with_its_date():
    facts = clean_facts()
    facts["iam"]["prod"]["users"][0]["access_keys"].append(
        dict(iam_key(2, status="Inactive", age=100), deactivated_date=days_ago(2)))
    facts["iam"]["prod"]["delete_after_days"] = 10
    report = _audit.build_report(facts, now=NOW)
    assert report["findings"] == []
    assert report["scheduled_deletions"] == [{
        "environment": "prod", "account": None, "iam_user": "app", "access_key_id": key_id(2),
        "deactivated_date": days_ago(2), "delete_after_days": 10, "deletion_date": days_ago(-8), "due": False}]
    assert any("scheduled for deletion" in line and days_ago(-8)[:10] in line for line in _audit.text_summary(report))
    assert "Keys scheduled for deletion (1)" in _audit_html.render(report)
    # the grace has passed: still expected (the next rotation run deletes it), marked due
    facts["iam"]["prod"]["delete_after_days"] = 1
    assert _audit.build_report(facts, now=NOW)["scheduled_deletions"][0]["due"] is True
    # default grace: the rotation's 7 days
    del facts["iam"]["prod"]["delete_after_days"]
    assert _audit.build_report(facts, now=NOW)["scheduled_deletions"][0]["deletion_date"] == days_ago(-5)


def test_unrecorded_inactive_key_and_two_active_keys_stay_key_limit_reached():
    facts = clean_facts()
    facts["iam"]["prod"]["users"][0]["access_keys"].append(iam_key(2, status="Inactive", age=100))
    findings = run(facts)[0]
    assert checks(findings) == ["key_limit_reached"]
    assert "no deactivation record" in findings[0]["fix"]
    facts["iam"]["prod"]["users"][0]["access_keys"][1] = iam_key(2, age=10, used=0)
    assert checks(run(facts)[0]) == ["key_limit_reached"]


def two_envs_one_account(account="111122223333"):
    facts = clean_facts()
    facts["hosts"][1]["environment"] = "staging"
    facts["iam"]["staging"] = {"users": [{"user_name": "app", "access_keys": [iam_key(1)]}], "missing_users": [], "error": None}
    facts["accounts"] = {"prod": account, "staging": account}
    return facts


def test_holders_in_two_environments_of_one_account_disagree():
    facts = two_envs_one_account()
    users = [facts["iam"][env]["users"][0] for env in ("prod", "staging")]
    for user in users:
        user["access_keys"] = [iam_key(2, age=0), iam_key(1, age=3)]
    facts["hosts"][1]["credentials"][0]["profiles"][0]["access_key_id"] = key_id(2)
    findings = run(facts)[0]
    # one user: one holders_disagree across environments and one key_limit_reached, not one per environment
    assert checks(findings) == ["holders_disagree", "key_limit_reached"]
    item = findings[0]
    assert item["environment"] == "prod,staging" and item["account"] == "111122223333"
    assert "h1 holds %s" % key_id(1) in item["message"] and "h2 holds %s" % key_id(2) in item["message"]
    assert "--limit h1,h2" in item["fix"]
    assert findings[1]["environment"] == "prod,staging"
    report = _audit.build_report(facts, now=NOW)
    assert report["scope"]["accounts"] == ["111122223333"] and report["scope"]["iam_users"] == 1
    assert len(report["keys"]) == 2 and {row["environment"] for row in report["keys"]} == {"prod,staging"}
    assert "prod,staging" in _audit_html.render(report)


def test_two_environments_in_two_accounts_stay_apart():
    facts = two_envs_one_account()
    facts["accounts"] = {"prod": "111122223333", "staging": "444455556666"}
    facts["hosts"][1]["credentials"][0]["profiles"][0]["access_key_id"] = key_id(2)
    facts["iam"]["staging"]["users"][0]["access_keys"] = [iam_key(2)]
    assert run(facts)[0] == []


def test_a_user_read_in_dev_and_staging_gets_key_limit_reached_once():
    facts = two_envs_one_account()
    for env in ("prod", "staging"):
        facts["iam"][env]["users"][0]["access_keys"] = [iam_key(1, age=3), iam_key(3, age=1)]
    findings = run(facts)[0]
    assert checks(findings) == ["key_limit_reached"]
    # without the accounts (STS not read) each environment is its own scope, as before
    del facts["accounts"]
    assert checks(run(facts)[0]) == ["key_limit_reached", "key_limit_reached"]


def store_holder(kind, path, key, user="app", slot="AWS_ACCESS_KEY_ID", **extra):
    return dict({"type": kind, "path": path, "slot": slot, "secret_slot": None, "iam_user": user, "exists": True,
                 "access_key_id": key, "mode": None, "error": None}, **extra)


def test_other_holder_types_key_not_found_and_holders_disagree():
    facts = clean_facts()
    facts["iam"]["prod"]["users"][0]["access_keys"] = [iam_key(1, age=3)]
    facts["hosts"][0]["holders"] = [
        store_holder("env_file", "/etc/app.env", key_id(1), mode="0600"),
        store_holder("secretsmanager", "prod/app", key_id(9), slot="aws_access_key_id"),
        store_holder("ssm_parameter", "/app/id", key_id(1), slot=None, secret_slot="/app/secret"),
    ]
    findings = run(facts)[0]
    assert checks(findings) == ["holders_disagree", "key_not_found"]
    gone = [item for item in findings if item["check"] == "key_not_found"][0]
    assert gone["path"] == "prod/app" and gone["access_key_id"] == key_id(9)
    assert "Secrets Manager secret prod/app" in gone["message"] and "JSON key aws_access_key_id" in gone["fix"]
    disagree = [item for item in findings if item["check"] == "holders_disagree"][0]
    assert "Secrets Manager secret prod/app" in disagree["message"] and "env file /etc/app.env" in disagree["message"]


def test_other_holder_types_inactive_malformed_mode_mismatch_and_problems():
    facts = clean_facts()
    facts["iam"]["prod"]["users"][0]["access_keys"].append(dict(iam_key(2, status="Inactive"), deactivated_date=days_ago(1)))
    facts["hosts"][0]["holders"] = [
        store_holder("env_file", "/etc/app.env", key_id(1), mode="0644"),
        store_holder("ssm_parameter", "/app/id", key_id(2), slot=None, secret_slot="/app/secret"),
        store_holder("secretsmanager", "prod/typo", "AKIA1", slot="aws_access_key_id"),
        store_holder("secretsmanager", "prod/mism", key_id(1), slot="aws_access_key_id", verify={"reason": "secret_mismatch"}),
        store_holder("secretsmanager", "prod/missing", None, slot="aws_access_key_id", exists=False),
        store_holder("ssm_parameter", "/broken/id", None, slot=None, error="parameters /broken/id: cannot read them"),
    ]
    findings, errors = run(facts)
    assert checks(findings) == ["file_mode_open", "holders_disagree", "key_inactive", "malformed_key_id", "secret_mismatch"]
    assert [item["path"] for item in findings if item["check"] == "file_mode_open"] == ["/etc/app.env"]
    assert [item["path"] for item in findings if item["check"] == "key_inactive"] == ["/app/id"]
    assert sorted(err["path"] for err in errors) == ["/broken/id", "prod/missing"]
    assert not any(SECRET in json.dumps(item) for item in findings)
