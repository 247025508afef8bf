# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_durable_state.py (claim planner, local and Secrets Manager stores) and the create path of _iam.py with a store."""

import datetime
import json
import os
import stat
import threading

import pytest

botocore = pytest.importorskip("botocore")
from botocore.exceptions import EndpointConnectionError  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper  # noqa: E402
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry  # noqa: E402
from ansible_collections.keyops.aws.plugins.module_utils import _durable_state as durable  # noqa: E402
from ansible_collections.keyops.aws.plugins.module_utils import _iam  # noqa: E402
from ansible_collections.keyops.aws.tests.unit.plugins.module_utils.test_iam import FakeIAM, client_error  # noqa: E402

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
OLD = datetime.datetime(2020, 1, 1, tzinfo=UTC)
AK = "AKIAOLD0000000000001"


def key(kid, created, status="Active"):
    return {"access_key_id": kid, "status": status, "create_date": created}


def claim(minutes_ago, kid=None, by="other run"):
    doc = durable.new_claim("u", by, NOW - datetime.timedelta(minutes=minutes_ago))
    if kid:
        doc.update(access_key_id=kid, secret_access_key="x")
    return doc


# ---------------------------------------------------------------- planner


def test_no_claim_is_free():
    assert durable.plan_claim(None, [key(AK, OLD)], NOW, 60)["decision"] == durable.FREE


def test_live_claim_without_key_is_busy():
    result = durable.plan_claim(claim(5), [key(AK, OLD)], NOW, 60)
    assert result["decision"] == durable.BUSY and "other run" in result["msg"] and result["orphan_key_ids"] == []


def test_recorded_active_key_resumes_even_when_live_or_stale():
    for minutes in (1, 600):
        result = durable.plan_claim(claim(minutes, kid="AKIANEW0000000000001"), [key(AK, OLD), key("AKIANEW0000000000001", NOW)], NOW, 60)
        assert result["decision"] == durable.RESUME and result["recorded_key_id"] == "AKIANEW0000000000001"


def test_recorded_key_gone_or_inactive_is_leftover():
    assert durable.plan_claim(claim(1, kid="AKIAGONE000000000001"), [key(AK, OLD)], NOW, 60)["decision"] == durable.LEFTOVER
    doc = claim(1, kid="AKIANEW0000000000001")
    keys = [key(AK, OLD), key("AKIANEW0000000000001", NOW, "Inactive")]
    assert durable.plan_claim(doc, keys, NOW, 60)["decision"] == durable.LEFTOVER


def test_stale_claim_names_only_unheld_unstored_active_keys_created_after_it():
    doc = claim(90)
    after = NOW - datetime.timedelta(minutes=80)
    keys = [key(AK, OLD), key("AKIAORPHAN0000000001", after)]
    result = durable.plan_claim(doc, keys, NOW, 60, held_key_ids=[AK])
    assert result["decision"] == durable.STALE and result["orphan_key_ids"] == ["AKIAORPHAN0000000001"]
    # held by a holder or stored somewhere: not an orphan
    assert durable.plan_claim(doc, keys, NOW, 60, held_key_ids=[AK, "AKIAORPHAN0000000001"])["orphan_key_ids"] == []
    assert durable.plan_claim(doc, keys, NOW, 60, stored_key_ids=["AKIAORPHAN0000000001"])["orphan_key_ids"] == []
    # Inactive, or created before the claim: not an orphan
    assert durable.plan_claim(doc, [key(AK, OLD), key("AKIAORPHAN0000000001", after, "Inactive")], NOW, 60)["orphan_key_ids"] == []
    assert durable.plan_claim(doc, [key(AK, NOW - datetime.timedelta(minutes=95))], NOW, 60)["orphan_key_ids"] == []


def test_ttl_zero_makes_every_keyless_claim_stale_and_bad_times_are_old():
    assert durable.plan_claim(claim(0), [], NOW, 0)["decision"] == durable.STALE
    doc = dict(claim(0), claimed_at="not a date")
    assert durable.plan_claim(doc, [], NOW, 60)["decision"] == durable.STALE


def test_unrecorded_new_keys():
    before = [key(AK, OLD)]
    after = [key(AK, OLD), key("AKIANEW0000000000009", NOW)]
    assert durable.unrecorded_new_keys(before, after) == ["AKIANEW0000000000009"]


@pytest.mark.parametrize("prefix", ["", "bad prefix", "x" * 401, None, "a*b"])
def test_bad_prefix(prefix):
    with pytest.raises(durable.StoreError, match="escrow_prefix"):
        durable.check_prefix(prefix)


def test_kms_and_ttl_checks():
    assert durable.check_kms_key_id("alias/keyops") == "alias/keyops"
    assert durable.check_kms_key_id("arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab")
    assert durable.check_kms_key_id(None) is None
    with pytest.raises(durable.StoreError, match="escrow_kms_key_id"):
        durable.check_kms_key_id("not a key!")
    for bad in (-1, "5", True, 10081):
        with pytest.raises(durable.StoreError, match="claim_ttl_minutes"):
            durable.check_ttl(bad)


# ---------------------------------------------------------------- local store


def test_local_store_claim_is_create_if_absent_and_record_writes_0600(tmp_path):
    store = durable.LocalStore(str(tmp_path / "escrow"))
    doc = durable.new_claim("u", "me", NOW)
    assert store.claim("u", doc) is True
    assert store.claim("u", durable.new_claim("u", "them", NOW)) is False
    assert store.read("u")["claimed_by"] == "me"
    store.record("u", durable.with_key(doc, {"access_key_id": "AKIANEW0000000000001", "secret_access_key": "SeCrEt", "create_date": NOW}))
    entry = tmp_path / "escrow" / "AKIANEW0000000000001"
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "escrow").stat().st_mode) == 0o700
    assert json.loads(entry.read_text())["secret_access_key"] == "SeCrEt"
    # the entry is the record: the claim is gone, the escrow holds only entries (as before claims)
    assert sorted(os.listdir(tmp_path / "escrow")) == ["AKIANEW0000000000001"]
    assert store.read("u") is None and store.delete("u") is False


def test_local_store_concurrent_claims_one_winner(tmp_path):
    store = durable.LocalStore(str(tmp_path / "escrow"))
    wins = []

    def _claim(i):
        wins.append(store.claim("u", durable.new_claim("u", "run %d" % i, NOW)))

    threads = [threading.Thread(target=_claim, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wins.count(True) == 1


# ---------------------------------------------------------------- Secrets Manager store


class FakeSM:
    """Just enough Secrets Manager: create-if-absent, scheduled deletion, tags, injectable failures."""

    def __init__(self):
        self.secrets = {}
        self.calls = []
        self.fail = {}
        self.lock = threading.Lock()

    def _record(self, op, name):
        self.calls.append((op, name))
        exc = self.fail.pop((op, name), None)
        if exc is not None:
            raise exc

    def create_secret(self, Name, SecretString, Description=None, Tags=None, KmsKeyId=None):
        self._record("create_secret", Name)
        with self.lock:
            if Name in self.secrets:
                if self.secrets[Name].get("deleted"):
                    raise client_error("InvalidRequestException", 400, "CreateSecret")
                raise client_error("ResourceExistsException", 400, "CreateSecret")
            self.secrets[Name] = {"value": SecretString, "tags": {t["Key"]: t["Value"] for t in Tags or []}, "kms": KmsKeyId}

    def get_secret_value(self, SecretId):
        self._record("get_secret_value", SecretId)
        secret = self.secrets.get(SecretId)
        if secret is None:
            raise client_error("ResourceNotFoundException", 400, "GetSecretValue")
        if secret.get("deleted"):
            raise client_error("InvalidRequestException", 400, "GetSecretValue")
        return {"SecretString": secret["value"]}

    def describe_secret(self, SecretId):
        self._record("describe_secret", SecretId)
        secret = self.secrets.get(SecretId)
        if secret is None:
            raise client_error("ResourceNotFoundException", 400, "DescribeSecret")
        info = {"Name": SecretId, "Tags": [{"Key": k, "Value": v} for k, v in secret["tags"].items()]}
        if secret.get("deleted"):
            info["DeletedDate"] = NOW
        return info

    def put_secret_value(self, SecretId, SecretString):
        self._record("put_secret_value", SecretId)
        self.secrets[SecretId]["value"] = SecretString

    def delete_secret(self, SecretId, ForceDeleteWithoutRecovery=False):
        self._record("delete_secret", SecretId)
        if SecretId not in self.secrets:
            raise client_error("ResourceNotFoundException", 400, "DeleteSecret")
        if ForceDeleteWithoutRecovery:
            del self.secrets[SecretId]
        else:
            self.secrets[SecretId]["deleted"] = True

    def tag_resource(self, SecretId, Tags):
        self._record("tag_resource", SecretId)
        self.secrets[SecretId]["tags"].update({t["Key"]: t["Value"] for t in Tags})


def sm_store(fake, **kwargs):
    reader = RetryingBotoClientWrapper(fake, AWSRetry.jittered_backoff(retries=1, delay=0))
    return durable.SecretsManagerStore(reader, fake, **kwargs)


def test_sm_claim_create_if_absent_record_and_delete():
    fake = FakeSM()
    store = sm_store(fake, kms_key_id="alias/keyops")
    doc = durable.new_claim("u", "me", NOW)
    assert store.claim("u", doc) is True
    assert fake.secrets["keyops/access-keys/u"]["kms"] == "alias/keyops"
    assert store.claim("u", durable.new_claim("u", "them", NOW)) is False
    store.record("u", durable.with_key(doc, {"access_key_id": "AKIANEW0000000000001", "secret_access_key": "SeCrEt", "create_date": NOW}))
    assert store.read("u")["secret_access_key"] == "SeCrEt"
    assert store.delete("u") is True and store.read("u") is None and store.delete("u") is False


def test_sm_claim_over_a_name_scheduled_for_deletion_deletes_it_for_good():
    fake = FakeSM()
    fake.secrets["keyops/access-keys/u"] = {"value": "{}", "tags": {}, "deleted": True}
    store = sm_store(fake)
    assert store.read("u") is None
    assert store.claim("u", durable.new_claim("u", "me", NOW)) is True
    assert json.loads(fake.secrets["keyops/access-keys/u"]["value"])["claimed_by"] == "me"
    assert ("delete_secret", "keyops/access-keys/u") in fake.calls


def test_sm_claim_without_answer_reads_back_whose_claim_it_is():
    fake = FakeSM()
    store = sm_store(fake)
    doc = durable.new_claim("u", "me", NOW)
    # the create happened, the answer was lost
    original = fake.create_secret

    def _lost(**kwargs):
        original(**kwargs)
        raise EndpointConnectionError(endpoint_url="https://secretsmanager")

    fake.create_secret = _lost
    assert store.claim("u", doc) is True


def test_sm_refusal_is_a_clear_error_without_secrets():
    fake = FakeSM()
    fake.fail[("create_secret", "keyops/access-keys/u")] = client_error("AccessDeniedException", 400, "CreateSecret")
    with pytest.raises(durable.StoreError, match="CreateSecret .the claim. of keyops/access-keys/u failed: AccessDeniedException"):
        sm_store(fake).claim("u", durable.new_claim("u", "me", NOW))


def test_sm_foreign_secret_is_refused():
    fake = FakeSM()
    fake.secrets["keyops/access-keys/u"] = {"value": "hunter2", "tags": {}}
    with pytest.raises(durable.StoreError, match="does not hold a keyops.aws claim document"):
        sm_store(fake).read("u")


def test_sm_acknowledgements_are_one_tag_per_holder():
    fake = FakeSM()
    store = sm_store(fake)
    store.claim("u", durable.new_claim("u", "me", NOW))
    store.acknowledge("u", {"host1:/a:default": "AKIANEW0000000000001"})
    store.acknowledge("u", {"host2:/a:default": "AKIANEW0000000000001"})
    acks = store.acknowledgements("u")
    assert len(acks) == 2 and set(acks.values()) == {"AKIANEW0000000000001"}
    with pytest.raises(durable.StoreError, match="at most"):
        store.acknowledge("u", {"h%d" % i: "AKIANEW0000000000001" for i in range(durable.MAX_ACK_TAGS + 1)})


# ---------------------------------------------------------------- the create path of _iam.py with a store


def rotate(iam, store, name, ttl=60, **policy_over):
    policy = {"state": "rotated", "max_age_days": 90, "delete_after_days": 7, "force": True, "held_key_ids": None,
              "escrowed_key_ids": None, "current_key_id": None}
    policy.update(policy_over)
    reader = RetryingBotoClientWrapper(iam, AWSRetry.jittered_backoff(retries=1, delay=0))
    return _iam.rotate_user(reader, iam, name, policy, _iam.utcnow(), False, store=store,
                            durable_opts={"claim_ttl_minutes": ttl, "claimed_by": "this run"})


class OrderedStore(durable.LocalStore):
    """A local store that logs its writes into the IAM fake's call list (to check the order)."""

    def __init__(self, directory, iam):
        super().__init__(directory)
        self.iam = iam

    def claim(self, user_name, document, replace=False):
        self.iam.calls.append(("claim", user_name))
        return super().claim(user_name, document, replace)

    def record(self, user_name, document):
        self.iam.calls.append(("record", user_name))
        return super().record(user_name, document)


def test_claim_before_create_and_record_right_after(tmp_path):
    iam = FakeIAM()
    iam.add_user("u", keys=[(AK, "Active", OLD)])
    store = OrderedStore(str(tmp_path / "e"), iam)
    result = rotate(iam, store, "u")
    ops = [c[0] for c in iam.calls if c[0] in ("claim", "create_access_key", "record")]
    assert ops == ["claim", "create_access_key", "record"]
    assert result["_recorded"] and not result["failed"]
    assert os.path.exists(os.path.join(store.directory, result["new_key"]["access_key_id"]))
    # the next run, given the escrowed id (as the role lists it), converges, creates nothing
    again = rotate(iam, store, "u", escrowed_key_ids=[result["new_key"]["access_key_id"]])
    assert again["decision"] == "converge" and again["claim"]["decision"] == "free"
    assert len(iam.users["u"]["keys"]) == 2


def test_live_claim_makes_the_user_busy_and_creates_nothing(tmp_path):
    iam = FakeIAM()
    iam.add_user("u", keys=[(AK, "Active", OLD)])
    store = durable.LocalStore(str(tmp_path / "e"))
    store.claim("u", durable.new_claim("u", "another run", _iam.utcnow()))
    result = rotate(iam, store, "u")
    assert result["busy"] and not result["failed"] and result["decision"] == "busy" and "another run" in result["msg"]
    assert iam.writes() == []


def test_stale_claim_orphan_is_deleted_before_the_new_create(tmp_path):
    iam = FakeIAM()
    claimed = _iam.utcnow() - datetime.timedelta(minutes=5)
    iam.add_user("u", keys=[(AK, "Active", OLD), ("AKIAORPHAN0000000001", "Active", claimed + datetime.timedelta(seconds=1))])
    store = durable.LocalStore(str(tmp_path / "e"))
    store.claim("u", durable.new_claim("u", "dead run", claimed))
    result = rotate(iam, store, "u", ttl=0, held_key_ids=[AK])
    assert not result["failed"], result["msg"]
    assert result["claim"]["orphan_key_ids"] == ["AKIAORPHAN0000000001"]
    assert [a["action"] for a in result["actions"]] == ["delete", "create"]
    assert set(iam.users["u"]["keys"]) == {AK, result["new_key"]["access_key_id"]}
    assert store.read("u") is None and os.path.exists(os.path.join(store.directory, result["new_key"]["access_key_id"]))


def test_ambiguous_create_deletes_the_unrecorded_key_and_creates_once_more(tmp_path):
    iam = FakeIAM()
    iam.add_user("u", keys=[(AK, "Active", OLD)])
    original = iam.create_access_key
    state = {"n": 0}

    def _flaky(UserName):
        state["n"] += 1
        created = original(UserName=UserName)
        if state["n"] == 1:  # IAM did it, the answer was lost
            raise EndpointConnectionError(endpoint_url="https://iam")
        return created

    iam.create_access_key = _flaky
    store = durable.LocalStore(str(tmp_path / "e"))
    result = rotate(iam, store, "u")
    assert not result["failed"], result["msg"]
    assert state["n"] == 2
    assert set(iam.users["u"]["keys"]) == {AK, result["new_key"]["access_key_id"]}
    assert os.path.exists(os.path.join(store.directory, result["new_key"]["access_key_id"]))


def test_without_a_store_an_ambiguous_create_is_still_reported_not_retried():
    iam = FakeIAM()
    iam.add_user("u", keys=[(AK, "Active", OLD)])
    iam.fail[("create_access_key", "u")] = EndpointConnectionError(endpoint_url="https://iam")
    result = rotate(iam, None, "u")
    assert result["failed"] and "not retried" in result["msg"]
    assert [c for c in iam.calls if c[0] == "create_access_key"] == [("create_access_key", "u")]


def test_refused_claim_creates_no_key(tmp_path):
    iam = FakeIAM()
    iam.add_user("u", keys=[(AK, "Active", OLD)])
    fake = FakeSM()
    fake.fail[("create_secret", "bad/u")] = client_error("ValidationException", 400, "CreateSecret")
    result = rotate(iam, sm_store(fake, prefix="bad/"), "u")
    assert result["failed"] and "could not be claimed" in result["msg"] and "no key created" in result["msg"]
    assert [c for c in iam.calls if c[0] == "create_access_key"] == []


def test_unrecordable_key_is_still_returned(tmp_path):
    iam = FakeIAM()
    iam.add_user("u", keys=[(AK, "Active", OLD)])
    fake = FakeSM()
    fake.fail[("put_secret_value", "keyops/access-keys/u")] = client_error("AccessDeniedException", 400, "PutSecretValue")
    result = rotate(iam, sm_store(fake), "u")
    assert result["failed"] and "could not be recorded" in result["msg"]
    assert result["new_key"]["secret_access_key"].startswith("s3cr3t-")
    assert "s3cr3t" not in result["msg"]


def test_local_acknowledgements_one_file_per_holder(tmp_path):
    store = durable.LocalStore(str(tmp_path / "escrow"))
    store.acknowledge("u", {"h1:/c[default]": "AKIANEW0000000000002"})
    store.acknowledge("u", {"h2:/d[default]": "AKIANEW0000000000002"})  # another job: adds, never overwrites
    acks = store.acknowledgements("u")
    assert acks == {durable.holder_hash("h1:/c[default]"): "AKIANEW0000000000002",
                    durable.holder_hash("h2:/d[default]"): "AKIANEW0000000000002"}
    for name in os.listdir(tmp_path / "escrow" / "acks" / "u"):
        assert stat.S_IMODE(os.stat(tmp_path / "escrow" / "acks" / "u" / name).st_mode) == 0o600
    assert store.forget_acknowledgements("u") and store.acknowledgements("u") == {}
    assert not os.path.exists(tmp_path / "escrow" / "acks")
    with pytest.raises(durable.StoreError):
        store.acknowledge("u", {"h": "not-a-key"})


def test_create_keys_false_never_writes_iam_and_reports_waiting(tmp_path):
    iam = FakeIAM()
    iam.add_user("u", keys=[(AK, "Active", OLD)])
    store = durable.LocalStore(str(tmp_path / "e"))
    reader = RetryingBotoClientWrapper(iam, AWSRetry.jittered_backoff(retries=1, delay=0))
    policy = {"state": "rotated", "max_age_days": 90, "delete_after_days": 7, "force": True, "held_key_ids": None,
              "escrowed_key_ids": None, "current_key_id": None}
    result = _iam.rotate_user(reader, iam, "u", policy, _iam.utcnow(), False, store=store,
                              durable_opts={"claim_ttl_minutes": 60, "claimed_by": "me", "create_keys": False})
    assert result["waiting"] and result["decision"] == "waiting" and not result["failed"] and result["actions"] == []
    assert iam.writes() == [] and store.read("u") is None


def test_create_keys_false_leaves_a_stale_claims_orphan_alone(tmp_path):
    iam = FakeIAM()
    claimed = _iam.utcnow() - datetime.timedelta(minutes=5)
    iam.add_user("u", keys=[(AK, "Active", OLD), ("AKIAORPHAN0000000001", "Active", claimed + datetime.timedelta(seconds=1))])
    store = durable.LocalStore(str(tmp_path / "e"))
    store.claim("u", durable.new_claim("u", "dead run", claimed))
    reader = RetryingBotoClientWrapper(iam, AWSRetry.jittered_backoff(retries=1, delay=0))
    policy = {"state": "rotated", "max_age_days": 90, "delete_after_days": 7, "force": True, "held_key_ids": [AK],
              "escrowed_key_ids": None, "current_key_id": None}
    result = _iam.rotate_user(reader, iam, "u", policy, _iam.utcnow(), False, store=store,
                              durable_opts={"claim_ttl_minutes": 0, "claimed_by": "me", "create_keys": False})
    assert result["waiting"] and iam.writes() == []


def test_sm_resume_returns_the_stored_key_for_a_fresh_controller():
    iam = FakeIAM()
    iam.add_user("u", keys=[(AK, "Active", OLD), ("AKIANEW0000000000001", "Active", NOW)])
    fake = FakeSM()
    store = sm_store(fake)
    doc = durable.new_claim("u", "prepare job", NOW)
    store.claim("u", doc)
    store.record("u", durable.with_key(doc, {"access_key_id": "AKIANEW0000000000001", "secret_access_key": "SeCrEt", "create_date": NOW}))
    result = rotate(iam, store, "u", held_key_ids=[AK])
    assert result["decision"] == "converge" and result["target_key_id"] == "AKIANEW0000000000001"
    assert result["stored_key"] == {"access_key_id": "AKIANEW0000000000001", "secret_access_key": "SeCrEt"}
    assert iam.writes() == []


def test_acknowledgement_plan_only_for_the_recorded_key():
    from ansible_collections.keyops.aws.plugins.module_utils import _rotation_state as rs  # pylint: disable=import-outside-toplevel
    wanted = {"iam_user": "u", "access_key_id": "AKIANEW0000000000001", "holders": ["h1:/c[default]", "h2:/c[default]"]}
    done = {durable.holder_hash("h1:/c[default]"): "AKIANEW0000000000001"}
    assert rs.plan_acknowledgements(wanted, {"access_key_id": "AKIANEW0000000000001"}, done, "secretsmanager") == {
        "write": {"h2:/c[default]": "AKIANEW0000000000001"}, "skipped": None}
    assert rs.plan_acknowledgements(wanted, {"access_key_id": "AKIAOTHER00000000001"}, {}, "secretsmanager")["write"] == {}
    assert rs.plan_acknowledgements(wanted, None, {}, "secretsmanager")["skipped"]
    assert rs.plan_acknowledgements(wanted, None, {}, "local")["write"] == dict.fromkeys(wanted["holders"], "AKIANEW0000000000001")
    with pytest.raises(rs.StateError, match=r"acknowledgements\[0\].access_key_id"):
        rs.check_acknowledgements([{"iam_user": "u", "access_key_id": "nope", "holders": ["h"]}])
