# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to keyops.aws: may change without notice.

The runner of keyops.aws.access_key_rotation_state: the holders' acknowledgements of a rotation in
the durable store (_durable_state.py), written by the role's distribute phase and read by its
retire phase. Pure decisions (``plan_acknowledgements``) first, then the store I/O.

An acknowledgement says "this holder holds this key, verified": one record per holder (a tag on the
user's secret in Secrets Manager, a file under the escrow directory for the local backend), so
several distribute jobs at once never overwrite each other's records. No secret is read or returned.
"""

import re

from ansible_collections.keyops.aws.plugins.module_utils import _durable_state as durable
from ansible_collections.keyops.aws.plugins.module_utils._aws_common import check_concurrency, run_concurrently
from ansible_collections.keyops.aws.plugins.module_utils._key_ids import KEY_ID_RE

USER_RE = re.compile(r"^[\w+=,.@-]{1,64}$")


class StateError(Exception):
    """Bad input, described for a user."""


def check_users(users):
    for name in users:
        if not isinstance(name, str) or not USER_RE.match(name):
            raise StateError("users: %r is not an IAM user name; nothing was changed" % (name,))
    return list(dict.fromkeys(users))


def check_acknowledgements(items):
    """The ``acknowledgements`` option, validated before any write."""
    out = []
    for index, item in enumerate(items or []):
        where = "acknowledgements[%d]" % index
        if not isinstance(item, dict):
            raise StateError("%s must be a dict with iam_user, access_key_id and holders; nothing was changed" % where)
        unknown = sorted(set(item) - {"iam_user", "access_key_id", "holders"})
        if unknown:
            raise StateError("%s has unknown keys %s; nothing was changed" % (where, ", ".join(unknown)))
        if not isinstance(item.get("iam_user"), str) or not USER_RE.match(item["iam_user"]):
            raise StateError("%s.iam_user must be an IAM user name; nothing was changed" % where)
        if not isinstance(item.get("access_key_id"), str) or not KEY_ID_RE.match(item["access_key_id"]):
            raise StateError("%s.access_key_id must be an access key id (AKIA/ASIA and 16 characters); nothing was changed" % where)
        holders = item.get("holders")
        if not isinstance(holders, list) or not holders or not all(isinstance(h, str) and h for h in holders):
            raise StateError("%s.holders must be a non-empty list of holder ids; nothing was changed" % where)
        out.append({"iam_user": item["iam_user"], "access_key_id": item["access_key_id"], "holders": list(dict.fromkeys(holders))})
    return out


def plan_acknowledgements(wanted, document, recorded, backend):
    """Which holders of one user to record. ``wanted``: {iam_user, access_key_id, holders};
    ``document``: the user's store document (None: none); ``recorded``: {holder hash: key id}.
    Returns ``{"write": {holder: key id}, "skipped": reason or None}``."""
    kid = wanted["access_key_id"]
    if backend == "secretsmanager":
        if not document:
            return {"write": {}, "skipped": "no rotation of this user is in the store: nothing to acknowledge"}
        if document.get("access_key_id") != kid:
            return {"write": {}, "skipped": "the store's rotation of this user is to %s, not %s: not acknowledged" % (
                document.get("access_key_id") or "a key not created yet", kid)}
    write = {h: kid for h in wanted["holders"] if recorded.get(durable.holder_hash(h)) != kid}
    return {"write": write, "skipped": None}


def _query(store, name):
    document = store.read(name) if store.backend == "secretsmanager" else None
    return {
        "iam_user": name,
        "recorded_key_id": (document or {}).get("access_key_id"),
        "claimed_by": (document or {}).get("claimed_by"),
        "claimed_at": (document or {}).get("claimed_at"),
        "in_store": bool(document) if store.backend == "secretsmanager" else None,
        "acknowledgements": store.acknowledgements(name),
    }


def run_state(module):
    params = module.params
    try:
        concurrency = check_concurrency(params["concurrency"])
        if params["escrow_backend"] == "local" and not params.get("escrow_dir"):
            raise StateError("escrow_backend=local needs escrow_dir (the controller's escrow directory)")
        if params["state"] == "query":
            users = check_users(params.get("users") or [])
            wanted = []
        else:
            users = []
            wanted = check_acknowledgements(params.get("acknowledgements"))
        store = durable.open_store(module, dict(params, claim_ttl_minutes=None), concurrency)
    except (StateError, ValueError) as exc:
        module.fail_json(msg=str(exc))
    except durable.StoreError as exc:
        module.fail_json(msg=str(exc))

    if params["state"] == "query":
        outcomes = run_concurrently(users, lambda name: _query(store, name), concurrency)
        results, errors = [], []
        for name, result, exc in outcomes:
            if exc is not None:
                msg = str(exc) if isinstance(exc, durable.StoreError) else "unexpected error: %s" % type(exc).__name__
                errors.append("%s: %s" % (name, msg))
                result = {"iam_user": name, "failed": True, "msg": msg}
            results.append(result)
        if errors:
            module.fail_json(msg="reading the %s store failed for %d user(s): %s" % (store.backend, len(errors), "; ".join(errors[:10])),
                             users=results)
        module.exit_json(changed=False, users=results, escrow_backend=store.backend)

    def _work(item):
        document = store.read(item["iam_user"]) if store.backend == "secretsmanager" else None
        plan = plan_acknowledgements(item, document, store.acknowledgements(item["iam_user"]), store.backend)
        if plan["write"] and not module.check_mode:
            store.acknowledge(item["iam_user"], plan["write"])
        return {"iam_user": item["iam_user"], "access_key_id": item["access_key_id"], "holders_recorded": sorted(plan["write"]),
                "skipped": plan["skipped"], "changed": bool(plan["write"])}

    outcomes = run_concurrently(wanted, _work, concurrency)
    results, errors = [], []
    for item, result, exc in outcomes:
        if exc is not None:
            msg = str(exc) if isinstance(exc, durable.StoreError) else "unexpected error: %s" % type(exc).__name__
            errors.append("%s: %s" % (item["iam_user"], msg))
            result = {"iam_user": item["iam_user"], "access_key_id": item["access_key_id"], "failed": True, "msg": msg, "changed": False}
        results.append(result)
    changed = any(r.get("changed") for r in results)
    output = dict(changed=changed, acknowledged=results, escrow_backend=store.backend)
    if module._diff:  # pylint: disable=protected-access
        output["diff"] = {"before": {r["iam_user"]: [] for r in results if r.get("changed")},
                          "after": {r["iam_user"]: r["holders_recorded"] for r in results if r.get("changed")}}
    if errors:
        module.fail_json(msg="recording acknowledgements failed for %d user(s): %s" % (len(errors), "; ".join(errors[:10])), **output)
    module.exit_json(**output)
