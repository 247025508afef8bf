# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to keyops.aws: may change without notice.

Reading and applying IAM access-key state for keyops.aws.iam_access_key_info and
keyops.aws.iam_access_key_rotation. The decisions are made by the pure planner in
``_access_key_planner.py``; this file only talks to IAM (one shared client pair, users worked
concurrently) and shapes the module results.

Reads and idempotent writes (tag, untag, deactivate, delete) go through a retrying client
(``AWSRetry.jittered_backoff``); CreateAccessKey goes through a client that makes exactly one
attempt: a create is never repeated.
"""

import re

try:
    import botocore.exceptions  # noqa: F401  pylint: disable=unused-import
except ImportError:  # AnsibleAWSModule reports a missing boto3/botocore itself
    pass

from ansible_collections.keyops.aws.plugins.module_utils import _access_key_planner as planner
from ansible_collections.keyops.aws.plugins.module_utils import _durable_state as durable
from ansible_collections.keyops.aws.plugins.module_utils._aws_common import (
    check_concurrency,
    client_pair,
    error_code,
    error_message,
    run_concurrently,
)
from ansible_collections.keyops.aws.plugins.module_utils._booleans import parse_bool
from ansible_collections.keyops.aws.plugins.module_utils._dates import age_days, iso, parse_iso, utcnow
from ansible_collections.keyops.aws.plugins.module_utils._key_ids import KEY_ID_RE, KEY_ID_RULE

USER_NAME_RE = re.compile(r"^[\w+=,.@-]{1,64}$")
MAX_DETAILS = 10  # failure reasons quoted in the task message (all are in users[].msg)
USER_ENTRY_KEYS = ("name", "held_key_ids", "escrowed_key_ids", "current_key_id", "force", "access_keys", "keys")
MAX_DAYS = 36500  # a hundred years: larger values are a typo (and overflow date arithmetic)


class KeyopsIamError(Exception):
    """The one error type of these modules; ``msg`` never holds a secret."""

    def __init__(self, msg, exception=None, **result):
        super().__init__(msg)
        self.msg = msg
        self.exception = exception
        self.result = result


class UserNotFound(KeyopsIamError):
    pass


# ---------------------------------------------------------------- reading


def _paginate(call, result_key, **kwargs):
    """All items of a Marker-paginated IAM list call (retried reads)."""
    items = []
    marker = None
    while True:
        if marker:
            kwargs["Marker"] = marker
        page = call(aws_retry=True, **kwargs)
        items.extend(page.get(result_key) or [])
        if not page.get("IsTruncated"):
            return items
        marker = page.get("Marker")
        if not marker:
            return items


def list_user_names(reader):
    """Every IAM user name of the account (paginated)."""
    return [u["UserName"] for u in _paginate(reader.list_users, "Users")]


def read_user(reader, user_name, last_used=False, tags="always"):
    """One user's access keys and deactivation records.

    Returns ``{"user_name", "keys": [planner key dicts, + "tagged"], "tagged_key_ids", "warnings",
    "tags_read"}``; with ``last_used`` each key also carries ``last_used_date``/``last_used_service``/
    ``last_used_region``. With ``tags="if_inactive"`` the user's tags (the deactivation records) are
    read only when the user has an Inactive key: a deactivation record matters only for an Inactive key,
    so a user with Active keys only costs one request. Raises UserNotFound for a user that does not exist.
    """
    try:
        metadata = _paginate(reader.list_access_keys, "AccessKeyMetadata", UserName=user_name)
        tags_read = tags == "always" or any(item.get("Status") != planner.ACTIVE for item in metadata)
        tags = _paginate(reader.list_user_tags, "Tags", UserName=user_name) if tags_read else []
    except Exception as exc:  # pylint: disable=broad-except
        if error_code(exc) == "NoSuchEntity":
            raise UserNotFound("IAM user %s does not exist" % user_name, exception=exc)
        raise
    warnings = []
    recorded = {}
    for tag in tags:
        if tag["Key"].startswith(planner.TAG_PREFIX):
            key_id = tag["Key"][len(planner.TAG_PREFIX):]
            try:
                recorded[key_id] = parse_iso(tag.get("Value"))
            except ValueError:
                recorded[key_id] = None
                warnings.append("user %s: tag %s has no readable time (%r); its key counts as having no recorded deactivation time"
                                % (user_name, tag["Key"], tag.get("Value")))
    keys = []
    for item in metadata:
        key_id = item["AccessKeyId"]
        key = {
            "access_key_id": key_id,
            "status": item["Status"],
            "create_date": item.get("CreateDate"),
            "deactivated_date": recorded.get(key_id),
            "tagged": key_id in recorded,
        }
        if last_used:
            key.update(_last_used(reader, key_id))
        keys.append(key)
    return {"user_name": user_name, "keys": keys, "tagged_key_ids": sorted(recorded), "warnings": warnings, "tags_read": tags_read}


def _known(item, index):
    """users[].access_keys (or its deprecated alias users[].keys), validated; None when not given."""
    name = "access_keys" if item.get("access_keys") is not None else "keys"
    return known_state(item[name], index, name) if item.get(name) is not None else None


def known_state(state, index, name="access_keys"):
    """A user's keys as carried over from an earlier step of the same run (``users[].access_keys``), validated:
    the same shape as read_user()'s result, so no IAM read is needed."""
    if not isinstance(state, dict) or not isinstance(state.get("keys"), list):
        raise KeyopsIamError("users[%d].%s must be a dict with keys (a list) and tagged_key_ids" % (index, name))
    keys = []
    for item in state["keys"]:
        if not isinstance(item, dict) or not isinstance(item.get("access_key_id"), str) or not KEY_ID_RE.match(item["access_key_id"]):
            raise KeyopsIamError("users[%d].%s: every key needs an access_key_id" % (index, name))
        if item.get("status") not in (planner.ACTIVE, planner.INACTIVE):
            raise KeyopsIamError("users[%d].%s: status must be Active or Inactive" % (index, name))
        try:
            created = parse_iso(item["create_date"]) if item.get("create_date") else None
            deactivated = parse_iso(item["deactivated_date"]) if item.get("deactivated_date") else None
        except ValueError:
            raise KeyopsIamError("users[%d].%s: dates must be ISO 8601" % (index, name)) from None
        keys.append({"access_key_id": item["access_key_id"], "status": item["status"], "create_date": created,
                     "deactivated_date": deactivated, "tagged": bool(item.get("tagged"))})
    tagged = state.get("tagged_key_ids") or []
    if not isinstance(tagged, list) or not all(isinstance(k, str) and KEY_ID_RE.match(k) for k in tagged):
        raise KeyopsIamError("users[%d].%s.tagged_key_ids must be a list of access key ids" % (index, name))
    return {"keys": keys, "tagged_key_ids": sorted(tagged)}


def _carry(result, state):
    """The carried state under its name (access_keys) and its deprecated alias (keys, removed in 1.0.0)."""
    result["access_keys"] = state
    result["keys"] = state


def carried_state(keys, tagged_key_ids):
    """The state handed to a later step of the run (JSON-friendly; see known_state)."""
    return {
        "keys": [{"access_key_id": k["access_key_id"], "status": k["status"], "create_date": iso(k.get("create_date")),
                  "deactivated_date": iso(k.get("deactivated_date")), "tagged": bool(k.get("tagged") or k["access_key_id"] in tagged_key_ids)}
                 for k in keys],
        "tagged_key_ids": sorted(tagged_key_ids),
    }


def _last_used(reader, key_id):
    try:
        info = reader.get_access_key_last_used(AccessKeyId=key_id, aws_retry=True).get("AccessKeyLastUsed") or {}
    except Exception as exc:  # pylint: disable=broad-except
        if error_code(exc) == "NoSuchEntity":  # deleted meanwhile
            info = {}
        else:
            raise

    def _value(name):
        value = info.get(name)
        return None if value in (None, "", "N/A") else value

    return {"last_used_date": iso(info.get("LastUsedDate")), "last_used_service": _value("ServiceName"), "last_used_region": _value("Region")}


# ---------------------------------------------------------------- info module


def _key_info(key, now):
    return {
        "access_key_id": key["access_key_id"],
        "status": key["status"],
        "create_date": iso(key["create_date"]),
        "age_days": age_days(key["create_date"], now),
        "last_used_date": key.get("last_used_date"),
        "last_used_service": key.get("last_used_service"),
        "last_used_region": key.get("last_used_region"),
        "deactivated_date": iso(key["deactivated_date"]) if key["status"] != planner.ACTIVE else None,
    }


def run_info(module):
    """keyops.aws.iam_access_key_info."""
    params = module.params
    users = []
    # not mutually_exclusive in the argspec: an explicit all_users=false beside user_names is fine
    if params["all_users"] and params["user_names"]:
        module.fail_json(msg="user_names and all_users=true are mutually exclusive")
    if not params["all_users"] and not params["user_names"]:
        module.fail_json(msg="one of user_names or all_users=true is required")
    try:
        concurrency = check_concurrency(params["concurrency"])
        reader, _writer = client_pair(module, "iam", concurrency)
        if params["all_users"]:
            try:
                names = list_user_names(reader)
            except Exception as exc:  # pylint: disable=broad-except
                raise KeyopsIamError("listing IAM users failed: %s" % error_message(exc), exception=exc)
        else:
            names = _unique_names(params["user_names"])
        now = utcnow()

        def _work(name):
            data = read_user(reader, name, last_used=True)
            keys = planner.newest_first(data["keys"])
            return {"user_name": name, "access_keys": [_key_info(k, now) for k in keys]}, data["warnings"]

        users, unknown, errors = [], [], []
        for name, result, exc in run_concurrently(names, _work, concurrency):
            if exc is None:
                users.append(result[0])
                for warning in result[1]:
                    module.warn(warning)
            elif isinstance(exc, UserNotFound):
                unknown.append(name)
            else:
                errors.append("%s: %s" % (name, exc.msg if isinstance(exc, KeyopsIamError) else error_message(exc)))
        if unknown or errors:
            parts = []
            if unknown:
                parts.append("IAM user(s) not found: %s" % ", ".join(unknown))
            if errors:
                parts.append("reading failed for: %s" % "; ".join(errors))
            raise KeyopsIamError("; ".join(parts), users=users, unknown_users=unknown)
    except KeyopsIamError as exc:
        module.fail_json(msg=exc.msg, **exc.result)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, users=users)


def _unique_names(names):
    seen = []
    for name in names or []:
        if not isinstance(name, str) or not USER_NAME_RE.match(name):
            raise KeyopsIamError("user_names: invalid IAM user name %r (1-64 letters, digits and +=,.@_-)" % (name,))
        if name not in seen:
            seen.append(name)
    if not seen:
        raise KeyopsIamError("no user names given")
    return seen


# ---------------------------------------------------------------- rotation module


def normalize_users(users, params):
    """Validate the ``users`` option; returns a list of ``(user_name, policy)`` in input order."""
    if not users:
        raise KeyopsIamError("users must list at least one IAM user")
    entries = []
    seen = set()
    # the batch's escrowed ids, shared by every user: copying them into each user's policy was O(users x ids)
    pool = frozenset(params.get("escrowed_key_ids") or ())
    for index, item in enumerate(users):
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict):
            raise KeyopsIamError("users[%d] must be a user name or a dict with a name, got %s" % (index, type(item).__name__))
        unknown = sorted(set(item) - set(USER_ENTRY_KEYS))
        if unknown:
            raise KeyopsIamError("users[%d]: unsupported key(s) %s (supported: %s)" % (index, ", ".join(unknown), ", ".join(USER_ENTRY_KEYS)))
        name = item.get("name")
        if not isinstance(name, str) or not USER_NAME_RE.match(name):
            raise KeyopsIamError("users[%d]: invalid or missing IAM user name %r (1-64 letters, digits and +=,.@_-)" % (index, name))
        if name in seen:
            raise KeyopsIamError("users[%d]: user %s is listed more than once (list each user once); nothing was changed" % (index, name))
        seen.add(name)
        policy = {
            "state": params["state"],
            "max_age_days": params["max_age_days"],
            "delete_after_days": params["delete_after_days"],
            "force": params["force"] if item.get("force") is None else _bool(item["force"], index, "force"),
            "held_key_ids": _id_list(item.get("held_key_ids"), index, "held_key_ids", allow_empty_entries=True),
            "escrowed_key_ids": _id_list(item.get("escrowed_key_ids"), index, "escrowed_key_ids"),
            "current_key_id": _key_id(item.get("current_key_id"), index, "current_key_id"),
            "known": _known(item, index),
        }
        if pool:
            policy["escrow_pool"] = pool  # narrowed to the user's own keys once they are read (rotate_user)
        entries.append((name, policy))
    return entries


def _bool(value, index, field):
    try:
        return parse_bool(value)
    except ValueError:
        raise KeyopsIamError("users[%d].%s must be a boolean" % (index, field)) from None


def _key_id(value, index, field):
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not KEY_ID_RE.match(value):
        raise KeyopsIamError("users[%d].%s is not an access key id" % (index, field))
    return value


def _id_list(value, index, field, allow_empty_entries=False):
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise KeyopsIamError("users[%d].%s must be a list of access key ids" % (index, field))
    result = []
    for item in value:
        if item in (None, "") and allow_empty_entries:
            result.append(None)
        else:
            result.append(_key_id(item, index, field))
    return result


class ClaimLost(KeyopsIamError):
    """Another run claimed the user between our read and our claim: the user is busy, nothing created."""


class Claim:
    """The durable-state steps around one user's CreateAccessKey (see _durable_state.py).

    ``before_create`` writes the claim (create-if-absent, or over a stale/finished claim);
    ``after_create`` records the new key pair in the store at once, before the next user's work and
    before the module returns.
    """

    def __init__(self, store, user_name, claimed_by, now, replace):
        self.store = store
        self.user_name = user_name
        self.document = durable.new_claim(user_name, claimed_by, now)
        self.replace = replace
        self.recorded = False

    def before_create(self):
        try:
            won = self.store.claim(self.user_name, self.document, replace=self.replace)
        except durable.StoreError as exc:
            raise KeyopsIamError("the rotation of %s could not be claimed in the %s store (no key created): %s" % (
                self.user_name, self.store.backend, exc))
        if not won:
            raise ClaimLost("busy: another run claimed %s in the %s store just now; no key created for this user" % (
                self.user_name, self.store.backend))
        self.replace = True  # the claim is ours now: a second create (ambiguous first one) rewrites it

    def after_create(self, new_key):
        try:
            self.store.record(self.user_name, durable.with_key(self.document, new_key))
        except durable.StoreError as exc:
            raise KeyopsIamError("key %s of %s was created but could not be recorded in the %s store: %s" % (
                new_key["access_key_id"], self.user_name, self.store.backend, exc))
        self.recorded = True


def _create_key(reader, writer, user_name, now, claim, keys_before):
    """CreateAccessKey, one attempt; with a claim an ambiguous create is resolved, never blindly retried.

    Ambiguous (no answer, or a 5xx after IAM may have done it): list the user's keys; an Active key
    that was not there before is ours (we hold the claim, so no other run creates for this user):
    nobody has its secret, so it is deleted, and the key is created once more.
    """
    for attempt in (1, 2):
        try:
            created = writer.create_access_key(UserName=user_name)["AccessKey"]  # one attempt, never retried
            break
        except Exception as exc:  # pylint: disable=broad-except
            if not outcome_unknown(exc):
                raise
            if claim is None or attempt == 2:
                raise KeyopsIamError(
                    "CreateAccessKey for %s ended without an answer from IAM (%s): a key may have been created; "
                    "it is not retried.%s" % (user_name, error_message(exc),
                                              " The claim stays: a run after claim_ttl_minutes deletes such a key."
                                              if claim is not None else " Check the user's keys before running again"),
                    exception=exc,
                )
            try:
                after = read_user(reader, user_name)["keys"]
                for kid in durable.unrecorded_new_keys(keys_before, after):
                    reader.delete_access_key(UserName=user_name, AccessKeyId=kid, aws_retry=True)
            except Exception as exc2:  # pylint: disable=broad-except
                raise KeyopsIamError(
                    "CreateAccessKey for %s ended without an answer from IAM (%s) and the user's keys could not be "
                    "cleaned up (%s); the claim stays: a run after claim_ttl_minutes deletes such a key" % (
                        user_name, error_message(exc), exc2.msg if isinstance(exc2, KeyopsIamError) else error_message(exc2)),
                    exception=exc2,
                )
    return {
        "access_key_id": created["AccessKeyId"],
        "secret_access_key": created["SecretAccessKey"],
        "create_date": iso(created.get("CreateDate") or now),
    }


def apply_plan(reader, writer, user_name, plan, now, claim=None, keys_before=()):
    """Apply one user's actions in order. Returns ``(new_key or None, applied actions)``.

    Stops at the first failing action and raises KeyopsIamError naming it and what was applied.
    With ``claim`` (a Claim), the claim is written right before CreateAccessKey and the new key
    recorded right after it.
    """
    applied = []
    new_key = None
    for action in plan["actions"]:
        kid = action["access_key_id"]
        try:
            if action["action"] == "delete":
                try:
                    reader.delete_access_key(UserName=user_name, AccessKeyId=kid, aws_retry=True)
                except Exception as exc:  # pylint: disable=broad-except
                    if error_code(exc) != "NoSuchEntity":  # already gone (e.g. a retried call that succeeded)
                        raise
            elif action["action"] == "untag":
                reader.untag_user(UserName=user_name, TagKeys=[planner.tag_key(kid)], aws_retry=True)
            elif action["action"] == "deactivate":
                if action.get("record", True):
                    reader.tag_user(UserName=user_name, Tags=[{"Key": planner.tag_key(kid), "Value": iso(now)}], aws_retry=True)
                reader.update_access_key(UserName=user_name, AccessKeyId=kid, Status=planner.INACTIVE, aws_retry=True)
            elif action["action"] == "create":
                if claim is not None:
                    claim.before_create()
                new_key = _create_key(reader, writer, user_name, now, claim, keys_before)
                action = dict(action, access_key_id=new_key["access_key_id"])
                if claim is not None:
                    try:
                        claim.after_create(new_key)
                    except KeyopsIamError as exc:
                        exc.result.update(new_key=new_key)
                        raise
            else:  # pragma: no cover - planner only emits the above
                raise KeyopsIamError("unknown action %r" % action["action"])
        except KeyopsIamError as exc:
            exc.result.update(applied=applied + ([action] if exc.result.get("new_key") else []))
            raise
        except Exception as exc:  # pylint: disable=broad-except
            _record_unrecorded(reader, user_name, kid, applied, now)
            raise KeyopsIamError(
                "%s of key %s failed: %s%s" % (action["action"], kid or "(new)", error_message(exc),
                                               "; applied before: %s" % _describe(applied) if applied else ""),
                exception=exc, applied=applied,
            )
        applied.append(action)
    return new_key, applied


def _record_unrecorded(reader, user_name, kid, applied, now):
    """A key deactivated without a record (to be deleted in the same run) whose delete failed: record
    the deactivation now (best effort), so a later run deletes it once its grace has passed."""
    if not any(a["action"] == "deactivate" and a["access_key_id"] == kid and not a.get("record", True) for a in applied):
        return
    try:
        reader.tag_user(UserName=user_name, Tags=[{"Key": planner.tag_key(kid), "Value": iso(now)}], aws_retry=True)
    except Exception:  # pylint: disable=broad-except  # the delete's own error is the one reported
        pass


def outcome_unknown(exc):
    """Whether a failed write may still have happened: no AWS answer, or a server-side (5xx) error."""
    if error_code(exc) is None:
        return True
    status = (getattr(exc, "response", None) or {}).get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return status >= 500


def _describe(actions):
    return ", ".join("%s %s" % (a["action"], a["access_key_id"] or "(new)") for a in actions)


def _state_view(keys, tagged):
    """A diff-friendly view of one user's keys: {key_id: status (+ recorded deactivation)}."""
    view = {}
    for key in planner.newest_first(keys):
        text = key["status"]
        if key.get("deactivated_date"):
            text += " (deactivated %s)" % iso(key["deactivated_date"])
        view[key["access_key_id"]] = text
    for kid in tagged:
        if kid not in view:
            view["%s (tag only)" % kid] = "no such key"
    return view


def _claim_step(store, name, data, policy, now, durable_opts):
    """Read the user's claim and decide (pure planner); returns (decision, policy, keys to plan with, orphan deletes)."""
    document = store.read(name)
    decision = durable.plan_claim(document, data["keys"], now, durable_opts["claim_ttl_minutes"],
                                  held_key_ids=policy.get("held_key_ids") or (), stored_key_ids=policy.get("escrowed_key_ids") or ())
    keys = data["keys"]
    orphan_deletes = []
    if decision["decision"] == durable.RESUME:
        policy = dict(policy, escrowed_key_ids=list(policy.get("escrowed_key_ids") or []) + [decision["recorded_key_id"]])
    elif decision["decision"] == durable.STALE and decision["orphan_key_ids"]:
        keys = [k for k in keys if k["access_key_id"] not in decision["orphan_key_ids"]]
        why = ("orphan of a stale claim (%s at %s): created after the claim, held by no holder and no store, so nobody has its secret"
               % (decision["claimed_by"], decision["claimed_at"]))
        orphan_deletes = [{"action": "delete", "access_key_id": kid, "reason": why} for kid in decision["orphan_key_ids"]]
    return decision, policy, keys, orphan_deletes, document


def rotate_user(reader, writer, name, policy, now, check_mode, store=None, durable_opts=None):
    """Read, plan and (unless check mode) apply one user. Returns the per-user result.

    With ``store`` (a durable store of _durable_state.py, state=rotated): the user's claim is read
    and decided first (resume / busy / stale with orphans), and a create is claimed and recorded.
    """
    result = {"user_name": name, "decision": None, "target_key_id": None, "previous_key_ids": [], "actions": [],
              "new_key": None, "failed": False, "msg": None, "changed": False}
    try:
        if policy.get("known") is not None:  # carried over from the rotate step of the same run: no read
            data = dict(policy["known"], user_name=name, warnings=[])
        else:
            data = read_user(reader, name, tags="always" if policy["state"] == "retired" else "if_inactive")
    except KeyopsIamError as exc:
        return dict(result, failed=True, msg=exc.msg)
    except Exception as exc:  # pylint: disable=broad-except
        return dict(result, failed=True, msg="reading the user's keys failed: %s" % error_message(exc))

    pool = policy.get("escrow_pool")
    if pool:
        mine = pool.intersection(k["access_key_id"] for k in data["keys"])
        policy = dict(policy, escrowed_key_ids=sorted(set(policy.get("escrowed_key_ids") or ()) | mine))
    claim = None
    plan_keys = data["keys"]
    orphan_deletes = []
    claim_decision = document = None
    if store is not None:
        try:
            claim_decision, policy, plan_keys, orphan_deletes, document = _claim_step(store, name, data, policy, now, durable_opts)
        except durable.StoreError as exc:
            return dict(result, failed=True, msg="reading the %s store failed (no key created): %s" % (store.backend, exc))
        result["claim"] = {k: claim_decision[k] for k in ("decision", "claimed_by", "claimed_at", "orphan_key_ids", "recorded_key_id")}

    plan = planner.plan_rotation(plan_keys, policy, now, tagged_key_ids=data["tagged_key_ids"])
    creates = any(a["action"] == planner.DECISION_CREATE for a in plan["actions"])
    if store is not None:
        # another run is inside its create for this user: a key may appear any moment whose secret only
        # that run has, so no create, no converge, and "two Active keys" is not this run's finding
        if claim_decision["decision"] == durable.BUSY and (creates or plan["failed"] or plan["decision"] == planner.DECISION_CONVERGE):
            result.update(decision="busy", busy=True, msg=claim_decision["msg"], warnings=data["warnings"])
            return result
    if policy["state"] == "rotated" and not (durable_opts or {}).get("create_keys", True):
        # create_keys=false (the role's distribute phase): never create, deactivate or delete a key;
        # a user due for a new key waits for a run that may create one (prepare or all)
        if plan["actions"] or orphan_deletes:
            result.update(decision="waiting", waiting=True, target_key_id=None, warnings=data["warnings"],
                          previous_key_ids=[k["access_key_id"] for k in data["keys"] if k["status"] == "Active"],
                          msg="due for a new key (%s), but create_keys is false: a run that may create keys (the role's phase "
                              "prepare or all) makes it; nothing was changed for this user" % (plan["msg"] or plan["decision"]))
            _carry(result, carried_state(data["keys"], data["tagged_key_ids"]))
            return result
    if store is not None:
        if orphan_deletes:
            plan = dict(plan, actions=orphan_deletes + plan["actions"])
        if creates:
            claim = Claim(store, name, durable_opts["claimed_by"], now, replace=claim_decision["decision"] != durable.FREE)
    result.update(decision=plan["decision"], target_key_id=plan["target_key_id"], previous_key_ids=plan["previous_key_ids"],
                  actions=plan["actions"], failed=plan["failed"], msg=plan["msg"], warnings=data["warnings"])
    if (store is not None and store.backend == "secretsmanager" and claim_decision["decision"] == durable.RESUME
            and plan["target_key_id"] == claim_decision["recorded_key_id"] and document.get("secret_access_key")):
        # the store holds the secret of the key this run converges on: hand it to the caller (hidden
        # by the action plugin), so a fresh controller can distribute it
        result["stored_key"] = {"access_key_id": claim_decision["recorded_key_id"], "secret_access_key": document["secret_access_key"]}
    after_keys, after_tagged = planner.simulate(data["keys"], plan, now, new_key_id="(new key)", tagged_key_ids=data["tagged_key_ids"])
    result["_diff"] = (_state_view(data["keys"], data["tagged_key_ids"]), _state_view(after_keys, after_tagged))
    if plan["failed"] or not plan["actions"]:
        _carry(result, carried_state(data["keys"], data["tagged_key_ids"]))
        return result
    result["changed"] = True
    if check_mode:
        return result
    try:
        new_key, applied = apply_plan(reader, writer, name, plan, now, claim=claim, keys_before=data["keys"])
    except ClaimLost as exc:
        applied = exc.result.get("applied") or []
        result.update(decision="busy", busy=True, msg=exc.msg, actions=applied, changed=bool(applied))
        new_key = None
    except KeyopsIamError as exc:
        applied = exc.result.get("applied") or []
        new_key = exc.result.get("new_key")  # created, not recorded: the caller must still get (and hide) it
        result.update(failed=True, msg=exc.msg, actions=applied, changed=bool(applied), new_key=new_key)
        if new_key:
            result["target_key_id"] = new_key["access_key_id"]
    else:
        result.update(actions=applied, new_key=new_key)
        if new_key:
            result["target_key_id"] = new_key["access_key_id"]
    if claim is not None and claim.recorded and new_key:
        result["_recorded"] = True
    # the diff shows what was really done (the created key's id; only the actions applied before a failure)
    after_keys, after_tagged = planner.simulate(data["keys"], {"actions": applied}, now,
                                                new_key_id=new_key["access_key_id"] if new_key else "(new key)",
                                                tagged_key_ids=data["tagged_key_ids"])
    result["_diff"] = (result["_diff"][0], _state_view(after_keys, after_tagged))
    # the keys as they are now, for a later step of the same run (state=retired with users[].access_keys)
    _carry(result, carried_state(after_keys, after_tagged))
    return result


def durable_options(params):
    """Validated durable-store options (before any write); KeyopsIamError names the option."""
    try:
        return durable.store_options(params)
    except durable.StoreError as exc:
        raise KeyopsIamError(str(exc))


def forget_finished(store, outcomes, concurrency):
    """After state=retired: delete the store entry of each user retired onto the key the store recorded."""
    def _work(item):
        (name, policy), result, exc = item
        if exc is not None or result is None or result["failed"]:
            return None
        try:
            document = store.read(name)
            if document and document.get("access_key_id") == policy["current_key_id"]:
                store.delete(name)
                result["escrow_forgotten"] = True
            if store.backend == "local":
                store.forget_acknowledgements(name)
        except durable.StoreError as exc2:
            result.setdefault("warnings", []).append("user %s: retired, but its %s store entry could not be removed: %s" % (
                name, store.backend, exc2))
        return None

    run_concurrently(list(outcomes), _work, concurrency)


def run_rotation(module):
    """keyops.aws.iam_access_key_rotation."""
    params = module.params
    outcomes = []
    try:
        for option in ("max_age_days", "delete_after_days"):
            if params[option] < 0 or params[option] > MAX_DAYS:
                raise KeyopsIamError("%s must be between 0 and %d (days), got %d; nothing was changed" % (option, MAX_DAYS, params[option]))
        if params["max_age_days"] < 1:
            raise KeyopsIamError("max_age_days must be at least 1 (use force to rotate regardless of age)")
        try:
            concurrency = check_concurrency(params["concurrency"])
        except ValueError as exc:
            raise KeyopsIamError(str(exc))
        for index, key_id in enumerate(params.get("escrowed_key_ids") or []):
            if not isinstance(key_id, str) or not KEY_ID_RE.match(key_id):
                # the value is not echoed: a secret pasted in the wrong place must not reach the output
                raise KeyopsIamError("escrowed_key_ids[%d] is not an access key id (%s); nothing was changed" % (index, KEY_ID_RULE))
        entries = normalize_users(params["users"], params)
        if params["state"] == "retired":
            missing = [name for name, policy in entries if not policy["current_key_id"]]
            if missing:
                raise KeyopsIamError("state=retired needs current_key_id for every user; missing for: %s" % ", ".join(missing))
        durable_opts = durable_options(params)
        reader, writer = client_pair(module, "iam", concurrency)
        store = durable.open_store(module, params, concurrency)
        now = utcnow()
        durable_opts["claimed_by"] = durable.run_id()
        rotate_store = store if params["state"] == "rotated" else None
        outcomes = run_concurrently(entries, lambda entry: rotate_user(reader, writer, entry[0], entry[1], now, module.check_mode,
                                                                       store=rotate_store, durable_opts=durable_opts), concurrency)
        if store is not None and params["state"] == "retired" and not module.check_mode:
            forget_finished(store, outcomes, concurrency)
    except KeyopsIamError as exc:
        module.fail_json(msg=exc.msg, **exc.result)

    users, failed_users, before, after = [], [], {}, {}
    busy_users, recorded = [], []
    for (name, _policy), result, exc in outcomes:
        if result is not None and result.get("busy"):
            busy_users.append(name)
        if result is not None and result.pop("_recorded", False):
            recorded.append(result["new_key"]["access_key_id"])
        if exc is not None:  # an unexpected error in our own code path: still per user
            result = {"user_name": name, "decision": None, "target_key_id": None, "previous_key_ids": [], "actions": [],
                      "new_key": None, "failed": True, "msg": error_message(exc), "changed": False}
        for warning in result.pop("warnings", None) or []:
            module.warn(warning)
        diff = result.pop("_diff", None)
        if diff and result["actions"]:
            before[name], after[name] = diff
        if result["failed"]:
            failed_users.append(name)
        users.append(result)
    changed = any(u["changed"] for u in users)
    output = dict(changed=changed, users=users, failed_users=failed_users)
    waiting_users = [u["user_name"] for u in users if u.get("waiting")]
    if waiting_users or not params.get("create_keys", True):
        output["waiting_users"] = waiting_users
    if store is not None:
        output.update(busy_users=busy_users, escrow_backend=store.backend)
        if recorded:
            output["escrowed_key_ids"] = sorted(recorded)
    if module._diff:  # pylint: disable=protected-access
        output["diff"] = {"before": before, "after": after}
    if failed_users:
        failures = [u for u in users if u["failed"]]
        details = "; ".join("%s: %s" % (u["user_name"], u["msg"]) for u in failures[:MAX_DETAILS])
        if len(failures) > MAX_DETAILS:
            details += "; ... %d more in users[].msg" % (len(failures) - MAX_DETAILS)
        module.fail_json(msg="access key rotation failed for %d user(s): %s (%s)%s" % (
            len(failed_users), ", ".join(failed_users), details,
            "; the other users were applied" if changed and not module.check_mode else ""), **output)
    module.exit_json(**output)
