# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to keyops.aws: may change without notice.

The pure planner of keyops.aws.iam_access_key_rotation: one user's keys + the policy + a clock in,
a decision and an ordered list of actions out. No AWS, no I/O, so check mode is the plan itself.

A key is a plain dict::

    {"access_key_id": "AKIA...", "status": "Active" | "Inactive",
     "create_date": datetime, "deactivated_date": datetime | None}

``deactivated_date`` is the time recorded in the user tag ``keyops:deactivated:<AccessKeyId>``
(IAM itself records no deactivation time).

The policy is a dict::

    {"state": "rotated" | "retired", "max_age_days": int, "force": bool, "delete_after_days": int,
     "held_key_ids": list | None, "escrowed_key_ids": list | None, "current_key_id": str | None}

``held_key_ids`` has one entry per holder (credentials file) of the user: the key id that holder
holds, or None/"" when it holds none. None or an empty list means "no holder information".

Actions (applied in order, stopping at the first failure):

- ``{"action": "delete", "access_key_id": id, "reason": ...}``   DeleteAccessKey
- ``{"action": "untag", "access_key_id": id, "reason": ...}``    UntagUser keyops:deactivated:<id>
- ``{"action": "deactivate", "access_key_id": id, "reason": ..., "record": bool}``  TagUser
  keyops:deactivated:<id>=now, then UpdateAccessKey Inactive (the tag first: a failure in between
  leaves an Active key with a harmless tag, never an Inactive key without its time). With
  ``"record": False`` (delete_after_days 0: the key is deleted right after) no tag is written; a
  delete that then fails writes the record instead.
- ``{"action": "create", "access_key_id": None, "reason": ...}``   CreateAccessKey (never retried)

Rules (state=rotated), per user:

- the key in use is the Active key all holders agree on (when ``held_key_ids`` is given and they
  agree on one Active key), else the newest Active key;
- rotation is due when there is no Active key, the key in use is ``max_age_days`` old or older,
  ``force`` is set, or holders disagree (different keys, or a missing/Inactive key, or none);
- when due, ``converge`` (no AWS write) is preferred: onto the newest escrowed Active key (one an
  earlier, interrupted run created; with force too, so a re-run never makes a third key), else -
  when the user has two Active keys and holders disagree - onto the newest Active key some holder
  holds; a converge target must be younger than ``max_age_days`` (an escrowed one also with force);
- otherwise ``create``: with two keys already, an Inactive key is deleted first (one with a recorded
  deactivation time first, oldest time first; then the oldest key); never an Active key: with two
  Active keys the user fails with a message naming them;
- not due: ``none``, the target is the key in use.

Rules (state=retired), per user with ``current_key_id`` (must exist and be Active, else the user
fails and nothing changes): the other Active keys are deactivated (recorded time = now); Inactive
keys whose recorded time + ``delete_after_days`` <= now are deleted (0: in the same run, right after
being deactivated, without writing a record) and their tag removed when they have one; an Inactive
key without a recorded time is never deleted;
tags naming keys that no longer exist are removed.
"""

import datetime

from ansible_collections.keyops.aws.plugins.module_utils._dates import as_utc

ACTIVE = "Active"
INACTIVE = "Inactive"

TAG_PREFIX = "keyops:deactivated:"

DECISION_NONE = "none"
DECISION_CONVERGE = "converge"
DECISION_CREATE = "create"
DECISION_RETIRE = "retire"

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def tag_key(access_key_id):
    """The IAM user tag key recording when ``access_key_id`` was deactivated."""
    return TAG_PREFIX + access_key_id


def _age_days(key, now):
    created = as_utc(key.get("create_date"))
    if created is None:  # IAM always dates keys; an undated key counts as new rather than failing the plan
        return 0
    return max(0, (now - created).days)


def newest_first(keys):
    """Keys sorted newest first (ties broken by id, so plans are deterministic)."""
    # ties on create_date broken by id so the order (and the plan) is deterministic
    ordered = sorted(keys, key=lambda k: k["access_key_id"], reverse=True)
    return sorted(ordered, key=lambda k: as_utc(k.get("create_date")) or _EPOCH, reverse=True)


def room_order(keys):
    """The Inactive keys in the order a rotation deletes them to make room under the two-key limit:
    those with a recorded deactivation time first (oldest record first), then the others (oldest key
    first). Dates may be datetimes or None; the audit names the first one as the key to retire next."""
    inactive = [
        dict(k, create_date=as_utc(k.get("create_date")), deactivated_date=as_utc(k.get("deactivated_date")))
        for k in keys if k["status"] != ACTIVE
    ]
    recorded = sorted((k for k in inactive if k["deactivated_date"]), key=lambda k: (k["deactivated_date"], k["access_key_id"]))
    unrecorded = sorted((k for k in inactive if not k["deactivated_date"]), key=lambda k: (k["create_date"] or _EPOCH, k["access_key_id"]))
    return recorded + unrecorded


def _action(action, access_key_id, reason):
    return {"action": action, "access_key_id": access_key_id, "reason": reason}


def _result(decision, target, previous, actions=None, failed=False, msg=None):
    return {
        "decision": decision,
        "target_key_id": target,
        "previous_key_ids": list(previous),
        "actions": list(actions or []),
        "failed": failed,
        "msg": msg,
    }


def _fail(msg, target=None):
    return _result(None, target, [], [], failed=True, msg=msg)


def holders_agree(held_key_ids, active_ids):
    """The Active key every holder holds, or None when they disagree (or hold a missing/Inactive key)."""
    distinct = set(held_key_ids)
    if len(distinct) != 1:
        return None
    (only,) = distinct
    return only if only and only in active_ids else None


def plan_rotation(keys, policy, now, tagged_key_ids=()):
    """Plan one user's keys. Returns a dict:

    ``{decision, target_key_id, previous_key_ids, actions, failed, msg}``

    ``decision`` is ``none``/``converge``/``create`` (state=rotated) or ``none``/``retire``
    (state=retired); ``target_key_id`` is the key holders should hold afterwards (None for a
    create: its id is known only once created); ``previous_key_ids`` are the user's other Active
    keys (to retire once the target is distributed). ``tagged_key_ids`` lists the key ids that have
    a ``keyops:deactivated:`` tag on the user (to clean up tags of keys that no longer exist).
    A failed plan has ``failed=True``, a ``msg`` and no actions.
    """
    now = as_utc(now)
    keys = [dict(k, create_date=as_utc(k.get("create_date")), deactivated_date=as_utc(k.get("deactivated_date"))) for k in keys]
    if policy.get("state", "rotated") == "retired":
        return _plan_retired(keys, policy, now, tagged_key_ids)
    return _plan_rotated(keys, policy, now)


def _plan_rotated(keys, policy, now):
    max_age = int(policy.get("max_age_days", 90))
    force = bool(policy.get("force"))
    held = policy.get("held_key_ids")
    held = list(held) if held else None
    held = [h or None for h in held] if held is not None else None
    escrowed = set(policy.get("escrowed_key_ids") or ())

    active = newest_first([k for k in keys if k["status"] == ACTIVE])
    active_ids = [k["access_key_id"] for k in active]
    by_id = {k["access_key_id"]: k for k in keys}

    agreed = holders_agree(held, active_ids) if held is not None else None
    in_use = by_id[agreed] if agreed else (active[0] if active else None)

    reasons = []
    if not active:
        reasons.append("the user has no Active key")
    elif _age_days(in_use, now) >= max_age:
        reasons.append("key %s is %d days old (max_age_days %d)" % (in_use["access_key_id"], _age_days(in_use, now), max_age))
    if held is not None and agreed is None:
        reasons.append("holders do not all hold one Active key (they hold: %s)" % ", ".join(sorted(set(h or "nothing" for h in held))))
    if force:
        reasons.append("force")

    if not reasons:
        target = in_use["access_key_id"]
        return _result(DECISION_NONE, target, [i for i in active_ids if i != target])

    why = "; ".join(reasons)

    # converge on a key an earlier (interrupted) run created: its secret is in escrow
    for key in active:
        if key["access_key_id"] in escrowed and (force or _age_days(key, now) < max_age):
            target = key["access_key_id"]
            return _result(DECISION_CONVERGE, target, [i for i in active_ids if i != target],
                           msg="rotation due (%s); converging on escrowed key %s" % (why, target))

    # two Active keys and disagreeing holders: the newest held one can be read back from a holder
    if len(active) >= 2 and held is not None and agreed is None and not force:
        held_set = set(h for h in held if h)
        for key in active:
            if key["access_key_id"] in held_set and _age_days(key, now) < max_age:
                target = key["access_key_id"]
                return _result(DECISION_CONVERGE, target, [i for i in active_ids if i != target],
                               msg="rotation due (%s); converging on key %s held by a holder" % (why, target))

    actions = []
    if len(keys) >= 2:
        candidates = room_order(keys)
        if not candidates:
            return _fail(
                "a new key is needed (%s) but the user already has two Active keys (%s) and an Active key is never "
                "deleted by state=rotated; retire one first: state=retired with current_key_id set to the key the "
                "holders use (the other is deactivated, then deleted after delete_after_days)" % (why, ", ".join(active_ids))
            )
        # room for one more key: delete Inactive keys beyond the limit, best candidate first
        for key in candidates[: len(keys) - 1]:
            actions.append(_action("delete", key["access_key_id"], "Inactive key deleted to make room for a new key (two keys per user)"))
            if key["deactivated_date"] or key.get("tagged"):
                actions.append(_action("untag", key["access_key_id"], "deactivation record of a deleted key"))
    actions.append(_action("create", None, why))
    return _result(DECISION_CREATE, None, active_ids, actions, msg="rotation due: %s" % why)


def _plan_retired(keys, policy, now, tagged_key_ids):
    current = policy.get("current_key_id")
    delete_after = int(policy.get("delete_after_days", 7))
    by_id = {k["access_key_id"]: k for k in keys}
    if not current:
        return _fail("state=retired needs current_key_id (the key to keep) for this user")
    if current not in by_id:
        return _fail("current_key_id %s is not a key of this user; nothing changed" % current)
    if by_id[current]["status"] != ACTIVE:
        return _fail("current_key_id %s is %s, not Active; nothing changed" % (current, by_id[current]["status"]), target=current)

    actions = []
    previous = []
    grace = datetime.timedelta(days=delete_after)
    for key in newest_first(keys):
        kid = key["access_key_id"]
        if kid == current:
            continue
        previous.append(kid)
        recorded = key["deactivated_date"]
        tagged = bool(recorded or key.get("tagged") or kid in (tagged_key_ids or ()))
        if key["status"] == ACTIVE:
            deactivate = _action("deactivate", kid, "not the current key %s" % current)
            if delete_after == 0:
                # deleted right after: no record to write (a failed delete records it, see _iam.apply_plan)
                deactivate["record"] = False
            else:
                tagged = True
            actions.append(deactivate)
            recorded = now
        elif recorded is None:
            continue  # Inactive with no recorded time: never deleted here
        if recorded + grace <= now:
            actions.append(_action("delete", kid, "Inactive since %s, delete_after_days %d passed" % (recorded.strftime("%Y-%m-%dT%H:%M:%SZ"), delete_after)))
            if tagged:
                actions.append(_action("untag", kid, "deactivation record of a deleted key"))
    for kid in sorted(set(tagged_key_ids or ()) - set(by_id)):
        actions.append(_action("untag", kid, "deactivation record of a key that no longer exists"))
    return _result(DECISION_RETIRE if actions else DECISION_NONE, current, previous, actions)


def simulate(keys, plan, now, new_key_id="AKIANEWKEY", tagged_key_ids=()):
    """The keys (and tagged ids) after applying ``plan`` at ``now``: for tests and diffs.

    Returns ``(keys, tagged_key_ids)``; a created key gets ``new_key_id`` and ``create_date=now``.
    """
    now = as_utc(now)
    result = {k["access_key_id"]: dict(k) for k in keys}
    tagged = set(tagged_key_ids or ()) | set(k["access_key_id"] for k in keys if k.get("deactivated_date"))
    for action in plan["actions"]:
        kid = action["access_key_id"]
        if action["action"] == "delete":
            result.pop(kid, None)
        elif action["action"] == "untag":
            tagged.discard(kid)
            if kid in result:
                result[kid]["deactivated_date"] = None
        elif action["action"] == "deactivate":
            result[kid]["status"] = INACTIVE
            if action.get("record", True):
                result[kid]["deactivated_date"] = now
                tagged.add(kid)
        elif action["action"] == "create":
            result[new_key_id] = {"access_key_id": new_key_id, "status": ACTIVE, "create_date": now, "deactivated_date": None}
    return list(result.values()), sorted(tagged)
