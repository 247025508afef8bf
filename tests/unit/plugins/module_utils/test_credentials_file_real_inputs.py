# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real credentials/config files (botocore's, the AWS CLI's, the Go and Rust SDKs' test inputs) read as botocore reads them.

For every file: we refuse it exactly when botocore refuses it; for every file we accept, setting the
keys of one profile changes only that profile's key lines, and botocore reads every other profile
(and every other setting of the edited one) identically before and after.
"""

import base64
import difflib
import json
import os
import re

import pytest
from botocore import configloader

from ansible_collections.keyops.aws.plugins.module_utils._credentials_file import (
    CredentialsFile,
    CredentialsFileError,
    check_profile_name,
)

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "real_inputs.json")
with open(FIXTURES, encoding="utf-8") as handle:
    CORPUS = json.load(handle)

NEW_KEY = "AKIAZZZZZZZZZZZZZZZ9"
NEW_SECRET = "new/" + "z" * 36
KEY_LINE = re.compile(r"^\s*aws_(access_key_id|secret_access_key)\s*[=:]", re.IGNORECASE)
# Deliberate difference: [default] + [profile default] in one config file. botocore reads the later
# section, smithy-rs the [profile default] one, so which keys a host uses depends on the SDK: refused.
AMBIGUOUS_DEFAULT = re.compile(r"profile default is defined twice")


def _files():
    cases = []
    for name, entry in sorted(CORPUS["aws"].items()):
        if name.endswith(".json"):
            continue
        data = base64.b64decode(entry["base64"]) if "base64" in entry else entry["text"].encode("utf-8")
        cases.append(pytest.param(data, entry.get("file_type", "config"), id=name))
    tests = json.loads(CORPUS["aws"]["smithy-rs__profile-parser-tests.json"]["text"])["tests"]
    for number, test in enumerate(tests):
        for key, file_type in (("configFile", "config"), ("credentialsFile", "credentials")):
            if test["input"].get(key) is not None:
                cases.append(pytest.param(test["input"][key].encode("utf-8"), file_type, id="smithy-%d-%s" % (number, file_type)))
    return cases


def _botocore(tmp_path, data, file_type):
    """What botocore reads: {profile: settings} (or the exception type when it refuses the file)."""
    path = tmp_path / ("file-%d" % len(list(tmp_path.iterdir())))
    path.write_bytes(data)
    try:
        raw = configloader.raw_config_parse(str(path))
    except Exception as exc:  # pylint: disable=broad-except
        return type(exc).__name__
    if file_type == "credentials":
        return raw
    built = configloader.build_profile_map(raw)
    return built


FILES = _files()


@pytest.mark.parametrize("data, file_type", FILES)
def test_refused_exactly_when_botocore_refuses(tmp_path, data, file_type):
    boto = _botocore(tmp_path, data, file_type)
    try:
        CredentialsFile.parse(data, file_type)
        ours = None
    except CredentialsFileError as exc:
        ours = str(exc)
    if ours is not None and AMBIGUOUS_DEFAULT.search(ours):
        assert not isinstance(boto, str)
        return
    assert isinstance(boto, str) == (ours is not None), (boto, ours)
    if ours is not None:
        assert re.search(r"line \d+|lines \d+ and \d+|section \[", ours), ours


def _without_keys(settings):
    return {k: v for k, v in settings.items() if k not in ("aws_access_key_id", "aws_secret_access_key")}


@pytest.mark.parametrize("data, file_type", FILES)
def test_editing_one_profile_changes_only_its_key_lines(tmp_path, data, file_type):
    try:
        parsed = CredentialsFile.parse(data, file_type)
    except CredentialsFileError:
        pytest.skip("refused (see test_refused_exactly_when_botocore_refuses)")
    assert parsed.render() == data
    before = _botocore(tmp_path, data, file_type)
    profiles = before if file_type == "credentials" else before["profiles"]
    edited = 0
    for name, _options in parsed.profiles():
        try:
            check_profile_name(name)
        except CredentialsFileError:
            continue  # a name the module refuses to edit
        after_file = CredentialsFile.parse(data, file_type)
        assert after_file.set_profile(name, {"aws_access_key_id": NEW_KEY, "aws_secret_access_key": NEW_SECRET})
        new_data = after_file.render()
        edited += 1
        # only key lines of that profile are removed or added
        old_lines = data.decode("utf-8").splitlines()
        new_lines = new_data.decode("utf-8").splitlines()
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False).get_opcodes():
            if tag == "equal":
                continue
            for line in old_lines[i1:i2] + new_lines[j1:j2]:
                assert KEY_LINE.match(line), (name, line)
        after = _botocore(tmp_path, new_data, file_type)
        assert not isinstance(after, str), after
        after_profiles = after if file_type == "credentials" else after["profiles"]
        assert set(after_profiles) == set(profiles)
        for other in profiles:
            if other == name:
                assert _without_keys(after_profiles[other]) == _without_keys(profiles[other])
                assert after_profiles[other]["aws_access_key_id"] == NEW_KEY
                assert after_profiles[other]["aws_secret_access_key"] == NEW_SECRET
            else:
                assert after_profiles[other] == profiles[other], other
        if file_type == "config":
            assert {k: v for k, v in after.items() if k != "profiles"} == {k: v for k, v in before.items() if k != "profiles"}
    if profiles:
        assert edited or all(' ' in p or '"' in p or "'" in p for p in profiles)
