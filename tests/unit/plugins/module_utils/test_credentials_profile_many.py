# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""credentials_profile with ``profiles``: many profiles of one file planned at once (pure)."""

import pytest

from ansible_collections.keyops.aws.plugins.module_utils import _credentials_profile as cp

A = "AKIAAAAAAAAAAAAAAAA1"
B = "AKIABBBBBBBBBBBBBBB2"
FILE = b"[keep]\n# comment\naws_access_key_id = AKIAKEEPKEEPKEEPKEEP\naws_secret_access_key = keep-secret\n\n[one]\naws_access_key_id = AKIAOLDOLDOLDOLDOLD1\naws_secret_access_key = old\n"


def params(*entries):
    return {"path": "/x", "mode": "0600", "file_type": "credentials", "state": "present", "profiles": list(entries)}


def entry(name, key=A, secret="s3cr3t", state=None):
    return {"profile": name, "access_key_id": key, "secret_access_key": secret, "session_token": None, "state": state}


def test_one_parse_one_render_per_file():
    planned = cp.plan_many(FILE, {"mode": 0o100600, "uid": 0, "gid": 0}, params(entry("one"), entry("two", B, "t")))
    text = planned["new_data"].decode()
    assert text.startswith("[keep]\n# comment\naws_access_key_id = AKIAKEEPKEEPKEEPKEEP\n")
    assert "aws_access_key_id = %s" % A in text and "[two]" in text and "AKIAOLDOLDOLDOLDOLD1" not in text
    assert [(r["profile"], r["changed"]) for r in planned["results"]] == [("one", True), ("two", True)]
    diff = cp.masked_diff("/x", planned["before"], planned["after"])
    assert "s3cr3t" not in repr(diff) and "keep-secret" not in repr(diff)


def test_nothing_to_do_writes_nothing():
    planned = cp.plan_many(FILE, {"mode": 0o100600, "uid": 0, "gid": 0},
                           params(entry("one", "AKIAOLDOLDOLDOLDOLD1", "old")))
    assert planned["new_data"] is None and planned["actions"] == [] and planned["results"][0]["changed"] is False


def test_absent_and_new_file():
    planned = cp.plan_many(FILE, {"mode": 0o100600, "uid": 0, "gid": 0}, params(entry("one", state="absent")))
    assert "[one]" not in planned["new_data"].decode()
    created = cp.plan_many(None, None, params(entry("a"), entry("b", B)))
    assert created["actions"][0]["action"] == "create_file" and created["new_data"].count(b"[") == 2


@pytest.mark.parametrize("bad, message", [
    (entry("a]b"), "profiles\\[1\\].profile"),
    (entry("a\nb"), "profiles\\[1\\].profile"),
    (entry("one", key="AKIA-bad"), "profiles\\[1\\] \\(profile one\\)"),
    (entry("one", secret=""), "secret_access_key is required"),
    (dict(entry("one"), access_key_id=None), "needs access_key_id"),
])
def test_bad_entry_changes_nothing(bad, message):
    with pytest.raises(cp.ProfileError, match=message) as info:
        cp.plan_many(FILE, None, params(entry("fine"), bad))
    assert "s3cr3t" not in str(info.value)


def test_duplicate_profile_refused():
    with pytest.raises(cp.ProfileError, match="listed twice"):
        cp.plan_many(FILE, None, params(entry("one"), entry("one", B)))
