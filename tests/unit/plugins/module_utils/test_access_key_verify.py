# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""access_key_verify's loop and error classification, with a fake STS client and a fake clock (no network)."""

import botocore.exceptions
import pytest

from ansible_collections.keyops.aws.plugins.module_utils import _access_key_verify
from ansible_collections.keyops.aws.plugins.module_utils._access_key_verify import MISSING, Policy, VerifyError, verify_key

KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
ARN = "arn:aws:iam::123456789012:user/deploy"
IDENTITY = {"Arn": ARN, "Account": "123456789012", "UserId": "AIDAEXAMPLE"}


def error(code):
    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": "refused"}}, "GetCallerIdentity")


class Clock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


class FakeSts:
    """Answers from a script: an exception code or IDENTITY; the last entry repeats."""

    def __init__(self, script):
        self.script = list(script)
        self.calls = 0

    def get_caller_identity(self):
        step = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        if isinstance(step, str):
            raise error(step)
        return step


def run(script, facts=None, key=None, **policy):
    clock = Clock()
    sts = FakeSts(script)
    lookups = []

    def lookup(key_id):
        lookups.append(key_id)
        return facts

    key = key or {"access_key_id": KEY_ID, "secret_access_key": SECRET, "name": "p"}
    result = verify_key(key, lambda key_: sts, lookup, Policy(**policy), clock=clock, sleep=clock.sleep, wall=lambda: 10000.0)
    return result, sts, clock, lookups


def assert_no_secret(result):
    assert SECRET not in repr(result)


def test_valid_after_required_consecutive_successes():
    result, sts, clock, _lookups = run([IDENTITY], required_successes=3, delay=1)
    assert result["valid"] is True and result["reason"] == "ok"
    assert result["arn"] == ARN and result["account"] == "123456789012" and result["user_name"] == "deploy"
    assert sts.calls == 3 and result["attempts"] == 3 and clock.sleeps == [1, 1]
    assert_no_secret(result)


def test_fresh_key_refused_then_accepted_is_retried_with_backoff():
    result, sts, clock, _lookups = run(["InvalidClientTokenId", "SignatureDoesNotMatch", IDENTITY], facts=MISSING, delay=1)
    assert result["valid"] is True and sts.calls == 5
    assert clock.sleeps == [1, 2, 1, 1]


def test_a_failure_after_a_success_restarts_the_count():
    script = [IDENTITY, "InvalidClientTokenId", IDENTITY, IDENTITY, IDENTITY]
    clock = Clock()
    sts = FakeSts(script)
    result = verify_key({"access_key_id": KEY_ID, "secret_access_key": SECRET}, lambda key_: sts, lambda key_: MISSING,
                        Policy(required_successes=3, delay=1), clock=clock, sleep=clock.sleep, wall=lambda: 0.0)
    assert result["valid"] is True and sts.calls == 5


def test_unknown_key_gives_up_at_the_timeout():
    result, sts, clock, lookups = run(["InvalidClientTokenId"], facts=MISSING, timeout=10, delay=1)
    assert result["valid"] is False and result["reason"] == "key_not_found"
    assert "does not exist" in result["message"]
    assert clock.now <= 10 and sts.calls == 4  # waits 1, 2, 4, then 8 would pass the timeout
    assert lookups == [KEY_ID] * 4


def test_inactive_key_is_reported_at_once():
    facts = {"user_name": "deploy", "status": "Inactive", "create_epoch": 9990.0}
    result, sts, _clock, _lookups = run(["InvalidClientTokenId"], facts=facts, timeout=60)
    assert result["reason"] == "key_inactive" and sts.calls == 1
    assert "deploy" in result["message"] and "Inactive" in result["message"]


def test_iam_unreadable_says_it_may_be_inactive():
    result, _sts, _clock, _lookups = run(["InvalidClientTokenId"], facts=None, timeout=0)
    assert result["reason"] == "key_not_found" and "inactive" in result["message"]


def test_wrong_secret_is_a_key_pair_mismatch():
    result, _sts, _clock, _lookups = run(["SignatureDoesNotMatch"], facts=MISSING, timeout=3)
    assert result["reason"] == "secret_mismatch" and "mismatch" in result["message"]
    assert_no_secret(result)


def test_settled_key_refusal_is_final_at_once():
    facts = {"user_name": "deploy", "status": "Active", "create_epoch": 10000.0 - 3600}
    result, sts, _clock, _lookups = run(["SignatureDoesNotMatch"], facts=facts, timeout=60)
    assert result["reason"] == "secret_mismatch" and sts.calls == 1


def test_expired_token_is_final_at_once():
    key = {"access_key_id": "ASIAIOSFODNN7EXAMPLE", "secret_access_key": SECRET, "session_token": "tok"}
    result, sts, _clock, lookups = run(["ExpiredToken"], key=key, timeout=60)
    assert result["reason"] == "token_expired" and sts.calls == 1 and lookups == []


@pytest.mark.parametrize("key_id", ["AKIA123", "AKIAiosfodnn7example", SECRET, "AIDAIOSFODNN7EXAMPLE", ""])
def test_malformed_key_id_makes_no_call(key_id):
    result, sts, _clock, lookups = run([IDENTITY], key={"access_key_id": key_id, "secret_access_key": SECRET})
    assert result["reason"] == "malformed_key_id" and result["valid"] is False
    assert sts.calls == 0 and lookups == []
    assert SECRET not in repr(result)


def test_wrong_account_or_arn():
    result, sts, _clock, _lookups = run([IDENTITY], expected_account="999999999999")
    assert result["reason"] == "wrong_identity" and "999999999999" in result["message"] and sts.calls == 1
    result, _sts, _clock, _lookups = run([IDENTITY], expected_arn="arn:aws:iam::123456789012:user/other")
    assert result["reason"] == "wrong_identity" and result["arn"] == ARN
    result, _sts, _clock, _lookups = run([IDENTITY], expected_arn=ARN, expected_account=123456789012)
    assert result["valid"] is True


def test_unexpected_errors_stop_the_task_without_a_secret():
    with pytest.raises(VerifyError) as info:
        run(["Throttling"])
    assert "Throttling" in str(info.value) and SECRET not in str(info.value)


@pytest.mark.parametrize("code, facts, reason", [
    ("InvalidClientTokenId", MISSING, "key_not_found"),
    ("InvalidAccessKeyId", None, "key_not_found"),
    ("InvalidClientTokenId", {"user_name": "u", "status": "Inactive"}, "key_inactive"),
    ("InvalidClientTokenId", {"user_name": "u", "status": "Active"}, "key_not_found"),
    ("SignatureDoesNotMatch", None, "secret_mismatch"),
    ("ExpiredToken", None, "token_expired"),
])
def test_classify(code, facts, reason):
    assert _access_key_verify.classify(KEY_ID, code, facts, 5)[0] == reason


class FakeIam:
    def __init__(self, last_used=None, keys=None, error_code=None):
        self.last_used = last_used
        self.keys = keys or []
        self.error_code = error_code

    def get_access_key_last_used(self, AccessKeyId):  # noqa: N803  pylint: disable=invalid-name
        if self.error_code:
            raise botocore.exceptions.ClientError({"Error": {"Code": self.error_code}}, "GetAccessKeyLastUsed")
        return {"UserName": self.last_used}

    def get_paginator(self, name):
        assert name == "list_access_keys"
        keys = self.keys

        class Pages:
            @staticmethod
            def paginate(UserName):  # noqa: N803  pylint: disable=invalid-name
                return [{"AccessKeyMetadata": keys}]

        return Pages()


def test_iam_lookup():
    assert _access_key_verify.make_iam_lookup(FakeIam(error_code="NoSuchEntity"))(KEY_ID) == MISSING
    assert _access_key_verify.make_iam_lookup(FakeIam(error_code="AccessDenied"))(KEY_ID) is None
    facts = _access_key_verify.make_iam_lookup(FakeIam("deploy", [{"AccessKeyId": KEY_ID, "Status": "Inactive"}]))(KEY_ID)
    assert facts == {"user_name": "deploy", "status": "Inactive", "create_epoch": None}


def test_read_profile_key(tmp_path):
    path = tmp_path / "credentials"
    path.write_text("# c\n[p]\naws_access_key_id = %s\naws_secret_access_key = %s\n[q]\nregion = x\n" % (KEY_ID, SECRET))
    key = _access_key_verify.read_profile_key(str(path), "p")
    assert key == {"access_key_id": KEY_ID, "secret_access_key": SECRET, "session_token": None, "name": "p"}
    with pytest.raises(VerifyError, match="has no profile nope"):
        _access_key_verify.read_profile_key(str(path), "nope")
    with pytest.raises(VerifyError, match="no aws_access_key_id"):
        _access_key_verify.read_profile_key(str(path), "q")
    with pytest.raises(VerifyError, match="does not exist"):
        _access_key_verify.read_profile_key(str(tmp_path / "missing"), "p")


def test_many_keys_in_rounds_wait_once_for_the_batch():
    """1000 keys: every round checks every due key; the waits are those of one key, not 1000 times them."""
    clock = Clock()
    clients = {}

    def sts_for(key):
        fresh = key["name"] % 2 == 0  # half the keys are refused once (IAM catching up)
        clients[key["name"]] = FakeSts((["InvalidClientTokenId"] if fresh else []) + [IDENTITY])
        return clients[key["name"]]

    keys = [{"access_key_id": KEY_ID, "secret_access_key": SECRET, "name": i} for i in range(1000)]
    keys.append({"access_key_id": "not-a-key", "secret_access_key": SECRET, "name": "bad"})
    outcomes = _access_key_verify.verify_keys(keys, sts_for, lambda _id: MISSING, Policy(required_successes=3, delay=1), concurrency=8,
                                              clock=clock, sleep=clock.sleep, wall=lambda: 10000.0)
    assert [o[0]["name"] for o in outcomes] == [k["name"] for k in keys]
    assert all(o[1]["valid"] for o in outcomes[:1000]) and outcomes[1000][1]["reason"] == "malformed_key_id"
    assert {c.calls for n, c in clients.items() if n % 2} == {3} and {c.calls for n, c in clients.items() if n % 2 == 0} == {4}
    assert clock.now == 3  # one key refused once: 1 s backoff + 2 x 1 s between successes, for the whole batch
    assert SECRET not in repr([o[1] for o in outcomes])


def test_many_keys_an_error_stops_only_its_key():
    clock = Clock()
    scripts = {0: ["Throttling"], 1: [IDENTITY]}
    outcomes = _access_key_verify.verify_keys(
        [{"access_key_id": KEY_ID, "secret_access_key": SECRET, "name": i} for i in (0, 1)],
        lambda key: FakeSts(scripts[key["name"]]), lambda _id: None, Policy(required_successes=1), clock=clock, sleep=clock.sleep,
    )
    assert isinstance(outcomes[0][2], VerifyError) and "Throttling" in str(outcomes[0][2]) and outcomes[1][1]["valid"]


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(required_successes=0), "required_successes must be between 1 and 100, got 0"),
    (dict(required_successes=101), "required_successes must be between 1 and 100, got 101"),
    (dict(timeout=-1), "timeout must be between 0 and 86400 (seconds), got -1"),
    (dict(delay=-0.5), "delay must be between 0 and 3600 (seconds), got -0.5"),
    (dict(expected_account="12345"), "expected_account must be a 12-digit AWS account id, got '12345'"),
    (dict(expected_arn="not-an-arn"), "expected_arn 'not-an-arn' is not an ARN"),
])
def test_policy_bounds_name_the_option_and_the_value(kwargs, fragment):
    with pytest.raises(VerifyError) as info:
        Policy(**kwargs)
    assert fragment in str(info.value) and "no AWS call was made" in str(info.value)


def test_policy_accepts_good_identities():
    policy = Policy(expected_account="123456789012", expected_arn="arn:aws:iam::123456789012:user/deploy")
    assert policy.expected_account == "123456789012"
    assert Policy(expected_arn="arn:aws-us-gov:sts::123456789012:assumed-role/r/s").expected_arn


def test_profile_name_is_checked_before_the_file_is_read(tmp_path):
    with pytest.raises(VerifyError, match=r"profile_name: profile name 'a\]b'"):
        _access_key_verify._keys_from_params({"path": str(tmp_path / "missing"), "profile_name": "a]b"})


def test_a_malformed_key_id_names_where_it_came_from():
    keys, many = _access_key_verify._keys_from_params({"keys": [{"access_key_id": "bad", "secret_access_key": "x"}]})
    check = _access_key_verify._Check(keys[0], Policy(required_successes=1), 0.0)
    assert many and check.precheck()
    assert check.result["message"].startswith("keys[0].access_key_id: the access key id is malformed")
    single, _many = _access_key_verify._keys_from_params({"access_key_id": "AKIA1", "secret_access_key": "x"})
    check = _access_key_verify._Check(single[0], Policy(required_successes=1), 0.0)
    assert check.precheck() and check.result["message"].startswith("access_key_id: ")


def test_one_sts_client_signs_each_call_with_its_own_key(monkeypatch):
    """sts_factory builds one STS client for the batch; every call, from many threads at once, is
    signed with the key of its own check (the Credential= of its Authorization header), and the
    client is built once, not once per key."""
    import threading

    import botocore.awsrequest
    import botocore.config

    monkeypatch.setattr(_access_key_verify, "get_aws_connection_info", lambda _module: ("us-east-1", "https://sts.example.invalid", {}))
    created = []
    real_client = _access_key_verify.boto3.session.Session.client

    def counting_client(self, *args, **kwargs):
        created.append(args)
        client = real_client(self, *args, **kwargs)
        client.meta.events.register("before-send", answer)
        return client

    seen = {}
    lock = threading.Lock()

    def answer(request, **_kwargs):
        header = request.headers["Authorization"]
        header = header.decode() if isinstance(header, bytes) else header
        key_id = header.split("Credential=")[1].split("/")[0]
        with lock:
            seen.setdefault(key_id, 0)
            seen[key_id] += 1
        body = ("<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/%s</Arn>"
                "<UserId>AIDA</UserId><Account>123456789012</Account></GetCallerIdentityResult></GetCallerIdentityResponse>" % key_id)
        return botocore.awsrequest.AWSResponse(request.url, 200, {}, _Raw(body.encode()))

    monkeypatch.setattr(_access_key_verify.boto3.session.Session, "client", counting_client)
    sts_for = _access_key_verify.sts_factory(None, botocore.config.Config(retries={"max_attempts": 1}))
    keys = [{"access_key_id": "AKIA%016d" % i, "secret_access_key": "s%039d" % i, "name": "u%d" % i} for i in range(64)]
    outcomes = _access_key_verify.verify_keys(keys, sts_for, lambda _id: MISSING, Policy(required_successes=3, delay=0), concurrency=16)
    assert len(created) == 1
    assert all(result["valid"] and result["user_name"] == key["access_key_id"] for key, result, _exc in outcomes)
    assert seen == {key["access_key_id"]: 3 for key in keys}


class _Raw:
    def __init__(self, data):
        self._data = data

    def stream(self, **_kwargs):
        yield self._data

    def read(self, *_args, **_kwargs):
        data, self._data = self._data, b""
        return data


def test_waits_overlap_a_long_round():
    """A round longer than the delay: each key waits from its own call, so the batch takes the time of
    its calls (no idle second between rounds), and no key is called again sooner than the delay."""
    clock = Clock()
    times = {}

    class TimedSts:
        def __init__(self, name):
            self.name = name

        def get_caller_identity(self):
            clock.now += 0.01  # each call takes 10 ms: a round of 200 keys takes 2 s
            times.setdefault(self.name, []).append(clock.now)
            return IDENTITY

    keys = [{"access_key_id": KEY_ID, "secret_access_key": SECRET, "name": i} for i in range(200)]
    outcomes = _access_key_verify.verify_keys(keys, lambda key: TimedSts(key["name"]), lambda _id: MISSING,
                                              Policy(required_successes=3, delay=1), concurrency=1,
                                              clock=clock, sleep=clock.sleep, wall=lambda: 10000.0)
    assert all(o[1]["valid"] for o in outcomes)
    assert all(len(t) == 3 and t[1] - t[0] >= 1 and t[2] - t[1] >= 1 for t in times.values())
    assert clock.now <= 6.0 + 1e-6  # 600 calls of 10 ms; rounds waited one after the other took 8 s
    assert sum(clock.sleeps) < 0.5
