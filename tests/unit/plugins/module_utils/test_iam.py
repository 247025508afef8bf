# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_iam.py (reading, applying, the module runs) against an in-memory IAM; no network."""

import datetime
import itertools
import threading

import pytest

botocore = pytest.importorskip("botocore")
from botocore.exceptions import ClientError, EndpointConnectionError  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper  # noqa: E402
from ansible_collections.keyops.aws.plugins.module_utils import _iam  # noqa: E402

UTC = datetime.timezone.utc
OLD = datetime.datetime(2020, 1, 1, tzinfo=UTC)


def client_error(code, status=400, op="Op"):
    return ClientError({"Error": {"Code": code, "Message": "%s happened" % code}, "ResponseMetadata": {"HTTPStatusCode": status}}, op)


class FakeIAM:
    """Just enough IAM: users, two keys each, user tags, Marker pagination, injectable failures."""

    def __init__(self):
        self.users = {}
        self.calls = []
        self.fail = {}  # (operation, user) -> exception, raised once per call
        self.lock = threading.Lock()
        self._ids = itertools.count(1)

    def add_user(self, name, keys=(), tags=None):
        self.users[name] = {"keys": {}, "tags": dict(tags or {})}
        for kid, status, created in keys:
            self.users[name]["keys"][kid] = {"AccessKeyId": kid, "Status": status, "CreateDate": created, "UserName": name}

    def _record(self, op, user):
        with self.lock:
            self.calls.append((op, user))
        exc = self.fail.get((op, user))
        if exc is not None:
            raise exc
        if user is not None and user not in self.users:
            raise client_error("NoSuchEntity", 404, op)

    def writes(self, user=None):
        return [c for c in self.calls if c[0] in ("create_access_key", "delete_access_key", "update_access_key", "tag_user", "untag_user")
                and (user is None or c[1] == user)]

    # reads
    def list_users(self, Marker=None):
        self._record("list_users", None)
        names = sorted(self.users)
        start = int(Marker or 0)
        page = names[start:start + 2]
        result = {"Users": [{"UserName": n} for n in page], "IsTruncated": start + 2 < len(names)}
        if result["IsTruncated"]:
            result["Marker"] = str(start + 2)
        return result

    def list_access_keys(self, UserName, Marker=None):
        self._record("list_access_keys", UserName)
        return {"AccessKeyMetadata": [dict(k) for k in self.users[UserName]["keys"].values()], "IsTruncated": False}

    def list_user_tags(self, UserName, Marker=None):
        self._record("list_user_tags", UserName)
        return {"Tags": [{"Key": k, "Value": v} for k, v in self.users[UserName]["tags"].items()], "IsTruncated": False}

    def get_access_key_last_used(self, AccessKeyId):
        self._record("get_access_key_last_used", None)
        return {"UserName": "x", "AccessKeyLastUsed": {"ServiceName": "N/A", "Region": "N/A"}}

    # writes
    def create_access_key(self, UserName):
        self._record("create_access_key", UserName)
        keys = self.users[UserName]["keys"]
        if len(keys) >= 2:
            raise client_error("LimitExceeded", 409, "CreateAccessKey")
        kid = "AKIANEW%013d" % next(self._ids)
        now = datetime.datetime.now(UTC)
        keys[kid] = {"AccessKeyId": kid, "Status": "Active", "CreateDate": now, "UserName": UserName}
        return {"AccessKey": dict(keys[kid], SecretAccessKey="s3cr3t-" + kid)}

    def delete_access_key(self, UserName, AccessKeyId):
        self._record("delete_access_key", UserName)
        if AccessKeyId not in self.users[UserName]["keys"]:
            raise client_error("NoSuchEntity", 404)
        del self.users[UserName]["keys"][AccessKeyId]

    def update_access_key(self, UserName, AccessKeyId, Status):
        self._record("update_access_key", UserName)
        self.users[UserName]["keys"][AccessKeyId]["Status"] = Status

    def tag_user(self, UserName, Tags):
        self._record("tag_user", UserName)
        for tag in Tags:
            self.users[UserName]["tags"][tag["Key"]] = tag["Value"]

    def untag_user(self, UserName, TagKeys):
        self._record("untag_user", UserName)
        for key in TagKeys:
            self.users[UserName]["tags"].pop(key, None)


class Exit(Exception):
    def __init__(self, kind, result):
        super().__init__(kind)
        self.kind = kind
        self.result = result


class FakeModule:
    def __init__(self, iam, check_mode=False, diff=False, **params):
        self.iam = iam
        self.check_mode = check_mode
        self._diff = diff
        self.params = {"users": None, "user_names": None, "all_users": False, "state": "rotated", "max_age_days": 90,
                       "force": False, "delete_after_days": 7, "concurrency": 4, "aws_config": None}
        self.params.update(params)
        self.warnings = []
        self.clients = []

    def client(self, service, retry_decorator=None, **extra):
        assert service == "iam"
        self.clients.append((retry_decorator is not None, extra))
        return self.iam if retry_decorator is None else RetryingBotoClientWrapper(self.iam, retry_decorator)

    def warn(self, msg):
        self.warnings.append(msg)

    def exit_json(self, **result):
        raise Exit("exit", result)

    def fail_json(self, **result):
        raise Exit("fail", result)


def run(runner, module):
    with pytest.raises(Exit) as info:
        runner(module)
    return info.value.kind, info.value.result


# ---------------------------------------------------------------- rotation module


def test_rotation_creates_and_second_run_is_unchanged():
    iam = FakeIAM()
    iam.add_user("alice")
    iam.add_user("bob", keys=[("AKIAOLD0000000000001", "Active", OLD), ("AKIAOLD0000000000002", "Inactive", OLD)])
    kind, result = run(_iam.run_rotation, FakeModule(iam, users=["alice", "bob"], check_mode=True))
    assert kind == "exit" and result["changed"] and iam.writes() == []
    assert [u["decision"] for u in result["users"]] == ["create", "create"]

    kind, result = run(_iam.run_rotation, FakeModule(iam, users=["alice", "bob"]))
    assert kind == "exit" and result["changed"] and result["failed_users"] == []
    bob = result["users"][1]
    assert [a["action"] for a in bob["actions"]] == ["delete", "create"]
    assert bob["new_key"]["secret_access_key"] == "s3cr3t-" + bob["new_key"]["access_key_id"]
    assert bob["target_key_id"] == bob["new_key"]["access_key_id"] and bob["previous_key_ids"] == ["AKIAOLD0000000000001"]
    assert set(iam.users["bob"]["keys"]) == {"AKIAOLD0000000000001", bob["new_key"]["access_key_id"]}

    iam.calls = []
    kind, result = run(_iam.run_rotation, FakeModule(iam, users=["alice", "bob"]))
    assert kind == "exit" and not result["changed"] and iam.writes() == []


def test_create_is_never_retried_and_an_unanswered_create_is_reported_as_unknown():
    iam = FakeIAM()
    iam.add_user("alice")
    iam.fail[("create_access_key", "alice")] = EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
    kind, result = run(_iam.run_rotation, FakeModule(iam, users=["alice"]))
    assert kind == "fail" and result["failed_users"] == ["alice"]
    assert iam.writes() == [("create_access_key", "alice")]
    assert "may have been created" in result["users"][0]["msg"]


def test_server_error_on_create_is_not_retried():
    iam = FakeIAM()
    iam.add_user("alice")
    iam.fail[("create_access_key", "alice")] = client_error("ServiceFailure", 500)
    kind, result = run(_iam.run_rotation, FakeModule(iam, users=["alice"]))
    assert kind == "fail" and iam.writes() == [("create_access_key", "alice")]
    assert "may have been created" in result["msg"]


def test_writer_client_makes_one_attempt():
    iam = FakeIAM()
    iam.add_user("alice")
    module = FakeModule(iam, users=["alice"], aws_config={"connect_timeout": 5})
    run(_iam.run_rotation, module)
    (retrying, reader_extra), (plain, writer_extra) = module.clients
    assert retrying and not plain
    config = writer_extra["aws_config"]
    assert config.retries == {"total_max_attempts": 1, "mode": "standard"} and config.connect_timeout == 5
    assert config.max_pool_connections >= 4 and reader_extra["config"].max_pool_connections >= 4


def test_one_failing_user_does_not_stop_the_others():
    iam = FakeIAM()
    iam.add_user("two", keys=[("AKIAAAAAAAAAAAAAAAA1", "Active", OLD), ("AKIAAAAAAAAAAAAAAAA2", "Active", OLD)])
    for name in ("u1", "u2", "u3"):
        iam.add_user(name)
    iam.fail[("create_access_key", "u2")] = client_error("LimitExceeded", 409)
    kind, result = run(_iam.run_rotation, FakeModule(iam, users=["two", "u1", "u2", "ghost", "u3"]))
    assert kind == "fail"
    assert result["failed_users"] == ["two", "u2", "ghost"]
    assert "two, u2, ghost" in result["msg"] and "the other users were applied" in result["msg"]
    assert result["changed"]
    assert [u["user_name"] for u in result["users"]] == ["two", "u1", "u2", "ghost", "u3"]
    assert iam.writes("two") == []
    assert len(iam.users["u1"]["keys"]) == 1 and len(iam.users["u3"]["keys"]) == 1
    assert "LimitExceeded" in result["users"][2]["msg"]
    assert "does not exist" in result["users"][3]["msg"]


def test_failure_midway_reports_what_was_applied():
    iam = FakeIAM()
    iam.add_user("bob", keys=[("AKIAOLD0000000000002", "Inactive", OLD)])
    iam.users["bob"]["keys"]["AKIAOLD0000000000003"] = {"AccessKeyId": "AKIAOLD0000000000003", "Status": "Inactive", "CreateDate": OLD}
    iam.fail[("create_access_key", "bob")] = client_error("AccessDenied", 403)
    kind, result = run(_iam.run_rotation, FakeModule(iam, users=["bob"]))
    assert kind == "fail"
    user = result["users"][0]
    assert user["changed"] and [a["action"] for a in user["actions"]] == ["delete"]
    assert "AccessDenied" in user["msg"] and "applied before: delete" in user["msg"]


def test_retired_records_time_then_deletes_after_grace():
    iam = FakeIAM()
    iam.add_user("carol", keys=[("AKIAOLD0000000000001", "Active", OLD), ("AKIACUR0000000000001", "Active", OLD)],
                 tags={"keyops:deactivated:AKIAGONE000000000001": "2020-01-01T00:00:00Z", "team": "x"})
    users = [{"name": "carol", "current_key_id": "AKIACUR0000000000001"}]
    kind, result = run(_iam.run_rotation, FakeModule(iam, users=users, state="retired", diff=True))
    assert kind == "exit" and result["changed"]
    assert [(c[0]) for c in iam.writes()] == ["tag_user", "update_access_key", "untag_user"]
    assert iam.users["carol"]["keys"]["AKIAOLD0000000000001"]["Status"] == "Inactive"
    tags = iam.users["carol"]["tags"]
    assert "keyops:deactivated:AKIAGONE000000000001" not in tags and tags["team"] == "x"
    recorded = tags["keyops:deactivated:AKIAOLD0000000000001"]
    assert recorded.endswith("Z")
    assert result["diff"]["before"]["carol"]["AKIAOLD0000000000001"] == "Active"
    assert result["diff"]["after"]["carol"]["AKIAOLD0000000000001"].startswith("Inactive (deactivated ")

    iam.calls = []
    kind, result = run(_iam.run_rotation, FakeModule(iam, users=users, state="retired"))
    assert not result["changed"] and iam.writes() == []

    tags["keyops:deactivated:AKIAOLD0000000000001"] = "2020-01-01T00:00:00Z"
    kind, result = run(_iam.run_rotation, FakeModule(iam, users=users, state="retired"))
    assert result["changed"] and set(iam.users["carol"]["keys"]) == {"AKIACUR0000000000001"}
    assert "keyops:deactivated:AKIAOLD0000000000001" not in tags


def test_retired_needs_current_key_id_for_every_user():
    iam = FakeIAM()
    iam.add_user("carol")
    kind, result = run(_iam.run_rotation, FakeModule(iam, users=["carol"], state="retired"))
    assert kind == "fail" and "carol" in result["msg"] and iam.calls == []


def test_unreadable_tag_warns_and_key_is_not_deleted():
    iam = FakeIAM()
    iam.add_user("dave", keys=[("AKIACUR0000000000001", "Active", OLD), ("AKIAOLD0000000000001", "Inactive", OLD)],
                 tags={"keyops:deactivated:AKIAOLD0000000000001": "yesterday"})
    module = FakeModule(iam, users=[{"name": "dave", "current_key_id": "AKIACUR0000000000001"}], state="retired", delete_after_days=0)
    kind, result = run(_iam.run_rotation, module)
    assert kind == "exit" and not result["changed"]
    assert module.warnings and "yesterday" in module.warnings[0]


@pytest.mark.parametrize("users, message", [
    ([], "at least one"),
    (["a", "a"], "more than once"),
    (["bad name"], "invalid"),
    ([{"name": "a", "colour": "red"}], "unsupported key(s) colour"),
    ([{"held_key_ids": []}], "invalid or missing"),
    ([{"name": "a", "current_key_id": "nope"}], "not an access key id"),
    (["a", "a"], "users[1]: user a is listed more than once"),
    ([{"name": "a", "force": "maybe"}], "boolean"),
    ([42], "user name or a dict"),
])
def test_bad_users_option_fails_before_any_call(users, message):
    iam = FakeIAM()
    kind, result = run(_iam.run_rotation, FakeModule(iam, users=users))
    assert kind == "fail" and message in result["msg"] and iam.calls == []


@pytest.mark.parametrize("params, message", [
    ({"max_age_days": 0}, "max_age_days"),
    ({"delete_after_days": -1}, "delete_after_days"),
    ({"delete_after_days": 10000000000}, "delete_after_days must be between 0 and 36500"),
    ({"max_age_days": 10000000000}, "max_age_days must be between 0 and 36500"),
    ({"concurrency": 0}, "concurrency"),
])
def test_bad_numbers_fail(params, message):
    kind, result = run(_iam.run_rotation, FakeModule(FakeIAM(), users=["a"], **params))
    assert kind == "fail" and message in result["msg"]


def test_per_user_options_reach_the_planner():
    iam = FakeIAM()
    now = datetime.datetime.now(UTC)
    iam.add_user("erin", keys=[("AKIAOLD0000000000001", "Active", OLD), ("AKIAESC0000000000001", "Active", now)])
    users = [{"name": "erin", "held_key_ids": ["AKIAOLD0000000000001", None], "escrowed_key_ids": ["AKIAESC0000000000001"], "force": "yes"}]
    kind, result = run(_iam.run_rotation, FakeModule(iam, users=users))
    assert kind == "exit" and not result["changed"]
    assert result["users"][0]["decision"] == "converge" and result["users"][0]["target_key_id"] == "AKIAESC0000000000001"


def test_batch_escrowed_key_ids_reach_only_the_user_holding_the_key():
    """The task-level escrowed_key_ids (the escrow listing, shared by the batch) make the user whose
    key is escrowed converge on it; the others rotate as usual. Each user sees only its own keys of
    the list (no per-user copy of the whole list)."""
    iam = FakeIAM()
    now = datetime.datetime.now(UTC)
    iam.add_user("erin", keys=[("AKIAOLD0000000000001", "Active", OLD), ("AKIAESC0000000000001", "Active", now)])
    iam.add_user("finn", keys=[("AKIAOLD0000000000002", "Active", OLD)])
    others = ["AKIAZZZ%013d" % i for i in range(2000)]
    kind, result = run(_iam.run_rotation, FakeModule(iam, users=["erin", "finn"], force=True,
                                                     escrowed_key_ids=others + ["AKIAESC0000000000001"]))
    assert kind == "exit"
    by_name = {u["user_name"]: u for u in result["users"]}
    assert by_name["erin"]["decision"] == "converge" and by_name["erin"]["target_key_id"] == "AKIAESC0000000000001"
    assert by_name["finn"]["decision"] == "create" and iam.writes("erin") == []
    entries = _iam.normalize_users(["erin", "finn"], {"state": "rotated", "max_age_days": 90, "delete_after_days": 7, "force": False,
                                                      "escrowed_key_ids": others})
    assert entries[0][1]["escrow_pool"] is entries[1][1]["escrow_pool"]


# ---------------------------------------------------------------- info module


def test_info_list_and_all_users():
    iam = FakeIAM()
    iam.add_user("a", keys=[("AKIAAAAAAAAAAAAAAAA1", "Inactive", OLD), ("AKIAAAAAAAAAAAAAAAA2", "Active", OLD + datetime.timedelta(days=1))],
                 tags={"keyops:deactivated:AKIAAAAAAAAAAAAAAAA1": "2020-02-01T00:00:00+00:00"})
    for name in ("b", "c", "d", "e"):
        iam.add_user(name)
    kind, result = run(_iam.run_info, FakeModule(iam, user_names=["a", "b"]))
    assert kind == "exit" and not result["changed"]
    keys = result["users"][0]["access_keys"]
    assert [k["access_key_id"] for k in keys] == ["AKIAAAAAAAAAAAAAAAA2", "AKIAAAAAAAAAAAAAAAA1"]  # newest first
    assert keys[1]["deactivated_date"] == "2020-02-01T00:00:00Z" and keys[0]["deactivated_date"] is None
    assert keys[1]["create_date"] == "2020-01-01T00:00:00Z" and keys[1]["age_days"] > 365
    assert keys[0]["last_used_service"] is None and keys[0]["last_used_region"] is None and keys[0]["last_used_date"] is None
    kind, result = run(_iam.run_info, FakeModule(iam, all_users=True))
    assert [u["user_name"] for u in result["users"]] == ["a", "b", "c", "d", "e"]  # three pages


def test_info_unknown_user_fails_naming_it():
    iam = FakeIAM()
    iam.add_user("a")
    kind, result = run(_iam.run_info, FakeModule(iam, user_names=["a", "ghost", "ghost2"]))
    assert kind == "fail" and "ghost, ghost2" in result["msg"] and result["unknown_users"] == ["ghost", "ghost2"]
    assert [u["user_name"] for u in result["users"]] == ["a"]


def test_diff_shows_the_created_key_and_check_mode_a_placeholder():
    iam = FakeIAM()
    iam.add_user("fred")
    kind, result = run(_iam.run_rotation, FakeModule(iam, users=["fred"], diff=True, check_mode=True))
    assert result["diff"] == {"before": {"fred": {}}, "after": {"fred": {"(new key)": "Active"}}}
    kind, result = run(_iam.run_rotation, FakeModule(iam, users=["fred"], diff=True))
    new_id = result["users"][0]["new_key"]["access_key_id"]
    assert result["diff"]["after"] == {"fred": {new_id: "Active"}}
    assert "s3cr3t" not in repr(result["diff"])


def test_many_failures_keep_the_message_short_but_name_every_user():
    iam = FakeIAM()
    names = ["ghost%02d" % i for i in range(25)]
    kind, result = run(_iam.run_rotation, FakeModule(iam, users=names))
    assert kind == "fail" and result["failed_users"] == names
    assert all(name in result["msg"] for name in names)
    assert "15 more in users[].msg" in result["msg"]


def test_forced_rotation_then_retire_with_carried_state_costs_four_iam_requests():
    """list, create (rotate step); deactivate, delete (retire step, state carried over): no tag request at all."""
    iam = FakeIAM()
    iam.add_user("erin", keys=[("AKIAOLD0000000000009", "Active", OLD)])
    kind, result = run(_iam.run_rotation, FakeModule(iam, users=["erin"], force=True))
    assert kind == "exit"
    user = result["users"][0]
    new = user["new_key"]["access_key_id"]
    assert [k["access_key_id"] for k in user["access_keys"]["keys"]] == ["AKIAOLD0000000000009", new]
    assert user["keys"] == user["access_keys"]  # the deprecated alias, removed in 1.0.0
    assert "s3cr3t" not in repr(user["access_keys"])
    kind, result = run(_iam.run_rotation, FakeModule(iam, state="retired", delete_after_days=0,
                                                     users=[{"name": "erin", "current_key_id": new, "access_keys": user["access_keys"]}]))
    assert kind == "exit" and result["changed"]
    assert [c[0] for c in iam.calls] == ["list_access_keys", "create_access_key", "update_access_key", "delete_access_key"]
    assert set(iam.users["erin"]["keys"]) == {new} and iam.users["erin"]["tags"] == {}


def test_failed_delete_after_unrecorded_deactivation_records_it():
    iam = FakeIAM()
    iam.add_user("fred", keys=[("AKIAOLD0000000000008", "Active", OLD), ("AKIACUR0000000000008", "Active", OLD)])
    iam.fail[("delete_access_key", "fred")] = client_error("AccessDenied", 403)
    kind, result = run(_iam.run_rotation, FakeModule(iam, state="retired", delete_after_days=0,
                                                     users=[{"name": "fred", "current_key_id": "AKIACUR0000000000008"}]))
    assert kind == "fail" and "AccessDenied" in result["msg"]
    assert iam.users["fred"]["keys"]["AKIAOLD0000000000008"]["Status"] == "Inactive"
    assert "keyops:deactivated:AKIAOLD0000000000008" in iam.users["fred"]["tags"]  # a later run deletes it after the grace


def test_user_tags_read_only_when_an_inactive_key_exists():
    iam = FakeIAM()
    iam.add_user("gina", keys=[("AKIACUR0000000000007", "Active", datetime.datetime.now(UTC))])
    iam.add_user("hank", keys=[("AKIACUR0000000000006", "Active", datetime.datetime.now(UTC)),
                               ("AKIAOLD0000000000006", "Inactive", OLD)])
    kind, _result = run(_iam.run_rotation, FakeModule(iam, users=["gina", "hank"]))
    assert kind == "exit"
    assert sorted(iam.calls) == [("list_access_keys", "gina"), ("list_access_keys", "hank"), ("list_user_tags", "hank")]


@pytest.mark.parametrize("keys, message", [
    ({"keys": "x"}, "users[0].access_keys"),
    ({"keys": [{"access_key_id": "nope", "status": "Active"}]}, "access_key_id"),
    ({"keys": [{"access_key_id": "AKIACUR0000000000001", "status": "Gone"}]}, "status"),
    ({"keys": [{"access_key_id": "AKIACUR0000000000001", "status": "Active", "create_date": "yesterday"}]}, "ISO 8601"),
])
def test_bad_carried_state_fails_before_any_call(keys, message):
    iam = FakeIAM()
    user = {"name": "a", "current_key_id": "AKIACUR0000000000001", "access_keys": keys}
    kind, result = run(_iam.run_rotation, FakeModule(iam, state="retired", users=[user]))
    assert kind == "fail" and message in result["msg"] and iam.calls == []


def test_carried_state_under_the_deprecated_name_keys_is_taken_and_named_in_errors():
    iam = FakeIAM()
    kind, result = run(_iam.run_rotation, FakeModule(iam, state="retired", users=[{"name": "a", "current_key_id": "AKIACUR0000000000001", "keys": "x"}]))
    assert kind == "fail" and "users[0].keys must be a dict" in result["msg"] and iam.calls == []


def test_bad_escrowed_key_ids_fail_before_any_call_without_echoing_the_value():
    iam = FakeIAM()
    kind, result = run(_iam.run_rotation, FakeModule(iam, users=["a"], escrowed_key_ids=["secret-pasted-here"]))
    assert kind == "fail" and "escrowed_key_ids[0] is not an access key id" in result["msg"] and iam.calls == []
    assert "secret-pasted-here" not in result["msg"]
