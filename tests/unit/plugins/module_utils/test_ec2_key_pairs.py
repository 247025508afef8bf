# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Applying EC2 key pair plans in one region, against a fake EC2 client (no network).

Covers what moto cannot show: a concurrent import (InvalidKeyPair.Duplicate), an import failing
after the delete of a replacement, AuthFailure, and that check mode makes no write call at all.
"""

import base64
import hashlib
import struct

import pytest

botocore_exceptions = pytest.importorskip("botocore.exceptions")

from ansible_collections.keyops.aws.plugins.module_utils import _ec2_key_pairs as kp  # noqa: E402
from ansible_collections.keyops.aws.plugins.module_utils._ec2_key_pair_planner import desired_key  # noqa: E402

WRITES = ("import_key_pair", "delete_key_pair", "create_tags", "delete_tags")


def _line(seed):
    blob = struct.pack(">I", 11) + b"ssh-ed25519" + struct.pack(">I", 32) + hashlib.sha256(seed.encode()).digest()
    return "ssh-ed25519 " + base64.b64encode(blob).decode()


OURS, THEIRS = _line("ours"), _line("theirs")
KEY = desired_key(OURS + " me@host")


def _error(code, op):
    return botocore_exceptions.ClientError({"Error": {"Code": code, "Message": code + " happened"}}, op)


class FakeEC2:
    """Holds at most one key pair; scripted failures per operation; records every call."""

    def __init__(self, material=None, tags=None, fail=None, on_import=None):
        self.pair = None
        if material:
            self.pair = {"KeyName": "deploy", "KeyPairId": "key-old", "PublicKey": material,
                         "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()]}
        self.fail = dict(fail or {})
        self.on_import = on_import
        self.calls = []

    def _maybe_fail(self, op):
        if op in self.fail:
            error = self.fail[op]
            if isinstance(error, list):
                error = error.pop(0) if error else None
            if error:
                raise _error(error, op)

    def describe_key_pairs(self, KeyNames=None, IncludePublicKey=False, aws_retry=False):
        self.calls.append(("describe_key_pairs", aws_retry))
        self._maybe_fail("describe_key_pairs")
        if self.pair is None:
            raise _error("InvalidKeyPair.NotFound", "DescribeKeyPairs")
        return {"KeyPairs": [dict(self.pair)]}

    def import_key_pair(self, KeyName, PublicKeyMaterial, TagSpecifications=None, **kwargs):
        assert "aws_retry" not in kwargs  # ImportKeyPair is never retried
        self.calls.append(("import_key_pair", PublicKeyMaterial))
        if self.on_import:
            self.on_import(self)
            self.on_import = None
        if self.pair is not None:
            raise _error("InvalidKeyPair.Duplicate", "ImportKeyPair")
        self._maybe_fail("import_key_pair")
        tags = TagSpecifications[0]["Tags"] if TagSpecifications else []
        self.pair = {"KeyName": KeyName, "KeyPairId": "key-new", "PublicKey": PublicKeyMaterial.decode(), "Tags": tags}
        return {"KeyPairId": "key-new", "KeyName": KeyName}

    def delete_key_pair(self, KeyName, aws_retry=False):
        self.calls.append(("delete_key_pair", KeyName))
        self._maybe_fail("delete_key_pair")
        self.pair = None

    def create_tags(self, Resources, Tags, aws_retry=False):
        self.calls.append(("create_tags", Resources, Tags))
        self._maybe_fail("create_tags")
        current = dict((t["Key"], t["Value"]) for t in self.pair["Tags"])
        current.update((t["Key"], t["Value"]) for t in Tags)
        self.pair["Tags"] = [{"Key": k, "Value": v} for k, v in current.items()]

    def delete_tags(self, Resources, Tags, aws_retry=False):
        self.calls.append(("delete_tags", Resources, Tags))
        gone = set(t["Key"] for t in Tags)
        self.pair["Tags"] = [t for t in self.pair["Tags"] if t["Key"] not in gone]

    def writes(self):
        return [call for call in self.calls if call[0] in WRITES]


def policy(**overrides):
    base = {"state": "present", "key": KEY, "force": False, "tags": None, "purge_tags": False}
    base.update(overrides)
    return base


@pytest.mark.parametrize("material, pol", [
    (None, {}), (THEIRS, {"force": True}), (OURS, {"tags": {"a": "1"}}), (THEIRS, {"state": "absent", "key": None}),
    (THEIRS, {}),
])
def test_check_mode_makes_no_write_and_predicts_the_run(material, pol):
    checked, applied = FakeEC2(material, {"keep": "x"}), FakeEC2(material, {"keep": "x"})
    prediction = kp.converge_region(checked, "deploy", policy(**pol), check_mode=True)
    outcome = kp.converge_region(applied, "deploy", policy(**pol), check_mode=False)
    assert checked.writes() == []
    for field in ("action", "changed", "failed", "fingerprint", "tags"):
        assert prediction[field] == outcome[field], field
    assert prediction["after"] == outcome["after"]


def test_import_sends_canonical_key_with_comment_and_tags():
    ec2 = FakeEC2()
    result = kp.converge_region(ec2, "deploy", policy(tags={"owner": "p"}), check_mode=False)
    assert result["action"] == "import" and result["key_pair_id"] == "key-new"
    assert ec2.writes() == [("import_key_pair", (OURS + " me@host").encode())]
    assert ec2.pair["Tags"] == [{"Key": "owner", "Value": "p"}]


def test_duplicate_on_import_with_same_material_is_fine():
    def race(fake):
        fake.pair = {"KeyName": "deploy", "KeyPairId": "key-raced", "PublicKey": OURS + " other", "Tags": []}

    ec2 = FakeEC2(on_import=race)
    result = kp.converge_region(ec2, "deploy", policy(), check_mode=False)
    assert not result["failed"] and result["action"] == "none"
    assert "another writer" in result["msg"]
    assert [c[0] for c in ec2.writes()] == ["import_key_pair"]  # never imported twice


def test_duplicate_on_import_with_other_material_is_drift():
    def race(fake):
        fake.pair = {"KeyName": "deploy", "KeyPairId": "key-raced", "PublicKey": THEIRS, "Tags": []}

    ec2 = FakeEC2(on_import=race)
    result = kp.converge_region(ec2, "deploy", policy(force=False), check_mode=False)
    assert result["failed"] and result["action"] == "drift"
    assert [c[0] for c in ec2.writes()] == ["import_key_pair"]


def test_replace_keeps_tags_and_reports_a_failed_import_after_delete():
    ec2 = FakeEC2(THEIRS, {"team": "blue"})
    result = kp.converge_region(ec2, "deploy", policy(force=True), check_mode=False)
    assert result["action"] == "replace" and not result["failed"]
    assert ec2.pair["Tags"] == [{"Key": "team", "Value": "blue"}]
    assert [c[0] for c in ec2.writes()] == ["delete_key_pair", "import_key_pair"]

    ec2 = FakeEC2(THEIRS, {"team": "blue"}, fail={"import_key_pair": "RequestLimitExceeded"})
    result = kp.converge_region(ec2, "deploy", policy(force=True), check_mode=False)
    assert result["failed"] and result["changed"]
    assert "NO key pair" in result["msg"] and result["error_code"] == "RequestLimitExceeded"
    assert [c[0] for c in ec2.writes()] == ["delete_key_pair", "import_key_pair"]  # not retried


def test_tags_update_and_purge_calls():
    ec2 = FakeEC2(OURS, {"old": "1", "keep": "2"})
    result = kp.converge_region(ec2, "deploy", policy(tags={"keep": "2", "new": "3"}, purge_tags=True),
                                check_mode=False)
    assert result["action"] == "tag"
    assert ec2.writes() == [("create_tags", ["key-old"], [{"Key": "new", "Value": "3"}]),
                            ("delete_tags", ["key-old"], [{"Key": "old"}])]
    assert result["tags"] == {"keep": "2", "new": "3"}


def test_auth_failure_is_a_failed_region_not_an_exception():
    ec2 = FakeEC2(fail={"describe_key_pairs": "AuthFailure"})
    result = kp.converge_region(ec2, "deploy", policy(), check_mode=False)
    assert result["failed"] and result["error_code"] == "AuthFailure" and not result["changed"]
    assert ec2.writes() == []


def test_reads_are_retried_writes_that_create_are_not():
    ec2 = FakeEC2()
    kp.converge_region(ec2, "deploy", policy(), check_mode=False)
    assert ("describe_key_pairs", True) in ec2.calls


def test_public_key_path_errors(tmp_path):
    with pytest.raises(kp.KeyPairError, match="does not exist"):
        kp.read_public_key_path(str(tmp_path / "nope.pub"))
    with pytest.raises(kp.KeyPairError, match="not a regular file"):
        kp.read_public_key_path(str(tmp_path))
    private = tmp_path / "id"
    private.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nsecretstuff\n-----END OPENSSH PRIVATE KEY-----\n")
    with pytest.raises(kp.KeyPairError) as info:
        kp.read_public_key_path(str(private))
    assert "secretstuff" not in str(info.value) and "private key" in str(info.value)
    big = tmp_path / "big.pub"
    big.write_bytes(b"a" * (kp.MAX_PUBLIC_KEY_FILE + 1))
    with pytest.raises(kp.KeyPairError, match="too large"):
        kp.read_public_key_path(str(big))
    good = tmp_path / "good.pub"
    good.write_text(OURS + " me\n")
    assert kp.read_public_key_path(str(good)) == OURS + " me\n"


class _FakeModule:
    def __init__(self, **params):
        self.params = dict({"endpoint_url": "http://127.0.0.1:9", "access_key": "AKIAEXAMPLEEXAMPLE00",
                            "secret_key": "not-a-real-secret", "session_token": None, "profile": None,
                            "region": "us-east-1", "validate_certs": True, "aws_ca_bundle": None,
                            "aws_config": None}, **params)


def test_one_client_per_region_never_retried_by_botocore_even_if_aws_config_asks():
    clients = kp.RegionClients(_FakeModule(aws_config={"retries": {"max_attempts": 10}}))
    first = clients.get("eu-west-1")
    assert clients.get("eu-west-1") is first
    assert first.client.meta.region_name == "eu-west-1"
    assert first.client.meta.config.retries["total_max_attempts"] == 1
    assert clients.get("ap-southeast-2").client.meta.region_name == "ap-southeast-2"
    assert clients.partition("us-gov-west-1") == "aws-us-gov" and clients.partition("eu-west-1") == "aws"


class _RegionsClient:
    def __init__(self, listing=None, error=None):
        self.listing, self.error = listing, error

    def describe_regions(self, AllRegions=False, aws_retry=False):
        assert AllRegions and aws_retry
        if self.error:
            raise _error(self.error, "DescribeRegions")
        return {"Regions": [{"RegionName": name, "OptInStatus": status} for name, status in self.listing]}


class _Clients:
    PARTITIONS = {"cn-north-1": "aws-cn", "us-gov-west-1": "aws-us-gov"}

    def __init__(self, client):
        self.client = client

    def get(self, region):
        return self.client

    def partition(self, region):
        return self.PARTITIONS.get(region, "aws")


class _Module:
    def __init__(self, region="us-east-1"):
        self.region = region
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)


LISTING = [("us-east-1", "opt-in-not-required"), ("eu-west-1", "opt-in-not-required"), ("ap-east-1", "not-opted-in"),
           ("me-south-1", "opted-in"), ("cn-north-1", "opt-in-not-required"), ("us-gov-west-1", "opt-in-not-required")]


def test_regions_unknown_name_is_bad_input_before_anything():
    with pytest.raises(kp.KeyPairError, match="unknown region xx-west-9"):
        kp.resolve_regions(_Module(), _Clients(_RegionsClient(LISTING)), ["us-east-1", "xx-west-9"], False)


def test_regions_not_enabled_are_refused_individually():
    regions = kp.resolve_regions(_Module(), _Clients(_RegionsClient(LISTING)), ["eu-west-1", "ap-east-1"], False)
    assert regions.work == ["eu-west-1"] and list(regions.refused) == ["ap-east-1"]
    assert "not enabled" in regions.refused["ap-east-1"]


def test_all_regions_are_the_enabled_ones_of_the_callers_partition():
    regions = kp.resolve_regions(_Module(), _Clients(_RegionsClient(LISTING)), None, True)
    assert regions.work == ["eu-west-1", "me-south-1", "us-east-1"]
    with pytest.raises(kp.KeyPairError, match="mutually exclusive"):
        kp.resolve_regions(_Module(), _Clients(_RegionsClient(LISTING)), ["us-east-1"], True)


def test_describe_regions_denied_warns_for_a_list_and_fails_all_regions():
    module = _Module()
    regions = kp.resolve_regions(module, _Clients(_RegionsClient(error="UnauthorizedOperation")), ["eu-west-1"], False)
    assert regions.work == ["eu-west-1"] and regions.enabled is None
    assert "not checked" in module.warnings[0]
    with pytest.raises(kp.KeyPairError, match="DescribeRegions"):
        kp.resolve_regions(_Module(), _Clients(_RegionsClient(error="UnauthorizedOperation")), None, True)


def test_no_regions_means_the_connection_region():
    regions = kp.resolve_regions(_Module("eu-west-1"), _Clients(_RegionsClient(LISTING)), None, False)
    assert regions.work == ["eu-west-1"]
    with pytest.raises(kp.KeyPairError, match="regions is empty"):
        kp.resolve_regions(_Module(None), _Clients(_RegionsClient(LISTING)), None, False)


@pytest.mark.parametrize("module_region, regions, fragment", [
    ("us-east-1", ["moon-1"], "regions: 'moon-1' is not an AWS region name"),
    ("us-east-1", ["us-east-1", "moon-east-1"], "regions: unknown region moon-east-1: not an EC2 region of any AWS partition"),
    ("moon-east-1", None, "region: unknown region moon-east-1"),
    ("moon-east-1", ["us-east-1"], "region: unknown region moon-east-1"),
    ("us-east-1", [], "regions is empty"),
])
def test_region_names_are_checked_against_botocore_before_any_call(module_region, regions, fragment):
    class _NoCalls:
        def describe_regions(self, **_kwargs):
            raise AssertionError("DescribeRegions called before the names were checked")

    with pytest.raises(kp.KeyPairError) as info:
        kp.resolve_regions(_Module(module_region), _Clients(_NoCalls()), regions, False)
    assert fragment in str(info.value)
