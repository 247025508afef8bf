# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to keyops.aws: may change without notice. The controller-side key set of an EC2 key pair rotation.

One rotated key pair ``NAME`` lives in a key directory on the controller:

  NAME, NAME.pub            the current key (the one hosts and regions converge to)
  NAME.new, NAME.new.pub    a pending key: generated, not yet verified on the hosts
  NAME.retired/STAMP[.pub]  retired keys, private keys kept (0600) so a host that was unreachable
                            during a rotation can still be reached and cleaned up later
  NAME.state.json           dates per fingerprint: ``{"keys": {fp: {"created", "retired"}}}``

The private key files are the truth; public key files and the JSON are derived from them and
repaired when they disagree. Promotion of the pending key is ordered so that a crash between any
two steps leaves a state the next run reads correctly and finishes:

  1. copy the current key into NAME.retired/ (idempotent: skipped when a copy exists)
  2. record the dates in NAME.state.json
  3. rename NAME.new over NAME (atomic)
  4. write NAME.pub, remove NAME.new.pub

Pure function: ``plan`` (key set + policy + now -> decision and actions). ``read_key_set`` reads the
directory, ``apply`` performs the actions. The public key of a private key file is
``_ssh_private_keys.public_key_of_private`` (shared with key_pair_rotation_verify).
"""

import datetime
import json
import os
import re
import stat

from ansible_collections.keyops.aws.plugins.module_utils._aws_common import known_ec2_regions
from ansible_collections.keyops.aws.plugins.module_utils._dates import age_days, iso, parse_iso_or_none, utcnow
from ansible_collections.keyops.aws.plugins.module_utils._fileops import (
    FileOpError,
    atomic_write,
    directory_lock,
    make_parent_dirs,
    read_regular_file,
)
from ansible_collections.keyops.aws.plugins.module_utils._ssh_public_keys import (
    InvalidPublicKey,
    canonical_public_key,
    ec2_fingerprint,
    openssh_fingerprint,
    parse_public_key,
)
from ansible_collections.keyops.aws.plugins.module_utils._ssh_private_keys import PrivateKeyError, public_key_of_private

STATE_VERSION = 1
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@+=,:-]{0,254}$")


class KeyRotationStateError(Exception):
    """A problem with the key directory, described for a user (never with key material)."""


# --------------------------------------------------------------------------- names and paths
def check_name(name):
    """The key pair name becomes file names: refuse what could escape the key directory."""
    if not isinstance(name, str) or not NAME_RE.match(name) or ".." in name:
        raise KeyRotationStateError(
            "invalid key pair name %r: use letters, digits and . _ - @ + = , : (not starting with . or -, no '..', "
            "at most 255 characters)" % (name,)
        )
    return name


class Layout:
    """File names of one rotated key pair in the key directory."""

    def __init__(self, key_dir, name):
        self.key_dir = os.path.abspath(key_dir)
        self.name = check_name(name)
        self.current = os.path.join(self.key_dir, name)
        self.pending = self.current + ".new"
        self.retired_dir = self.current + ".retired"
        self.state_file = self.current + ".state.json"

    def retired_path(self, stamp):
        return os.path.join(self.retired_dir, stamp)


# --------------------------------------------------------------------------- reading
def _mtime(path):
    return datetime.datetime.fromtimestamp(int(os.stat(path).st_mtime), datetime.timezone.utc)


def _read_key(private_path):
    """One key on disk: dict or None when the private key file does not exist."""
    try:
        data = read_regular_file(private_path)
    except FileOpError as exc:
        raise KeyRotationStateError(str(exc)) from None
    if data is None:
        return None
    try:
        public = public_key_of_private(private_path, data)
    except PrivateKeyError as exc:
        raise KeyRotationStateError(str(exc)) from None
    pub_path = private_path + ".pub"
    try:
        pub_data = read_regular_file(pub_path)
    except FileOpError as exc:
        raise KeyRotationStateError(str(exc)) from None
    pub_text = None
    comment = ""
    if pub_data is not None:
        try:
            key_type, blob, comment = parse_public_key(pub_data)
            if canonical_public_key(blob) == public:
                pub_text = pub_data.decode("utf-8").strip()
            else:
                comment = ""
        except (InvalidPublicKey, UnicodeDecodeError):
            comment = ""
    return {
        "path": private_path,
        "public_key_path": pub_path,
        "public_key": ("%s %s" % (public, comment)).strip() if comment else public,
        "public_key_file_ok": pub_text is not None,
        "fingerprint": openssh_fingerprint(public),
        "ec2_fingerprint": _ec2_fingerprint(public),
        "type": public.split(" ", 1)[0],
        "mode": stat.S_IMODE(os.stat(private_path).st_mode),
        "mtime": _mtime(private_path),
    }


def _ec2_fingerprint(public):
    try:
        return ec2_fingerprint(public)
    except InvalidPublicKey:
        return None


def read_state_file(path):
    try:
        data = read_regular_file(path)
    except FileOpError as exc:
        raise KeyRotationStateError(str(exc)) from None
    if data is None:
        return {"version": STATE_VERSION, "keys": {}}
    try:
        state = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise KeyRotationStateError("%s is not valid JSON: fix or remove it (it only holds dates)" % path) from None
    if not isinstance(state, dict) or not isinstance(state.get("keys", {}), dict):
        raise KeyRotationStateError("%s does not hold a key rotation state" % path)
    state.setdefault("keys", {})
    return state


def read_key_set(layout):
    """Everything on disk for one key pair name: current, pending, retired, orphans, recorded dates."""
    if os.path.exists(layout.key_dir) and not os.path.isdir(layout.key_dir):
        raise KeyRotationStateError("%s is not a directory" % layout.key_dir)
    key_set = {
        "current": _read_key(layout.current),
        "pending": _read_key(layout.pending),
        "retired": [],
        "orphan_public_keys": [],
        "state": read_state_file(layout.state_file),
        "dir_exists": os.path.isdir(layout.key_dir),
        "paths": {"current": layout.current, "pending": layout.pending, "retired_dir": layout.retired_dir},
    }
    if key_set["pending"] is None and os.path.lexists(layout.pending + ".pub"):
        key_set["orphan_public_keys"].append(layout.pending + ".pub")
    if os.path.isdir(layout.retired_dir):
        for entry in sorted(os.listdir(layout.retired_dir)):
            if entry.endswith(".pub") or entry.startswith("."):
                continue
            key = _read_key(os.path.join(layout.retired_dir, entry))
            if key is not None:
                key["stamp"] = entry
                key_set["retired"].append(key)
    elif os.path.lexists(layout.retired_dir):
        raise KeyRotationStateError("%s is not a directory" % layout.retired_dir)
    return key_set


# --------------------------------------------------------------------------- planning (pure)
def _created(key, recorded):
    entry = recorded.get(key["fingerprint"]) or {}
    return parse_iso_or_none(entry.get("created")) or key["mtime"]


def describe(key, recorded, now, role):
    """The public view of a key (no private material)."""
    if key is None:
        return None
    created = _created(key, recorded)
    view = {
        "role": role,
        "path": key["path"],
        "public_key_path": key["public_key_path"],
        "public_key": key["public_key"],
        "fingerprint": key["fingerprint"],
        "ec2_fingerprint": key["ec2_fingerprint"],
        "type": key["type"],
        "created": iso(created),
        "age_days": age_days(created, now),
    }
    if role == "retired":
        entry = recorded.get(key["fingerprint"]) or {}
        view["retired"] = key.get("retired") or entry.get("retired") or iso(key["mtime"])
    return view


def retire_stamp(now):
    return now.strftime("%Y%m%dT%H%M%SZ")


def _live_retired(key_set, current, pending):
    """The retired keys, once each, without copies of the current or pending key.

    A retired copy of the current or pending key is not retired: a promotion was interrupted.
    """
    active = {k["fingerprint"] for k in (current, pending) if k}
    retired, seen = [], set()
    for key in key_set["retired"]:
        if key["fingerprint"] not in active and key["fingerprint"] not in seen:
            seen.add(key["fingerprint"])
            retired.append(key)
    return retired


def _promotion(key_set, wanted, now, retired, actions):
    """state=promoted: the current and pending key after promoting the pending key ``wanted``.

    Appends the retire/promote actions to ``actions`` and the retired current key to ``retired``.
    Returns ``(new_current, new_pending, promoted)``.
    """
    paths = key_set["paths"]
    current = key_set["current"]
    pending = key_set["pending"]
    if not wanted:
        raise KeyRotationStateError("state=promoted needs the fingerprint of the verified pending key")
    if pending is not None and pending["fingerprint"] == wanted:
        if current is not None and current["fingerprint"] != wanted:
            copy = [k for k in key_set["retired"] if k["fingerprint"] == current["fingerprint"]]
            if copy:
                retired.append(copy[0])
            else:
                target = os.path.join(paths["retired_dir"], retire_stamp(now))
                actions.append({"action": "retire", "fingerprint": current["fingerprint"], "path": target,
                                "reason": "the current key is replaced by the verified pending key"})
                retired.append(dict(current, path=target, public_key_path=target + ".pub", retired=iso(now)))
        actions.append({"action": "promote", "fingerprint": pending["fingerprint"], "path": paths["current"],
                        "reason": "the pending key was verified on the hosts"})
        new_current = dict(pending, path=paths["current"], public_key_path=paths["current"] + ".pub",
                           public_key_file_ok=True, mode=0o600)
        return new_current, None, True
    if current is None or current["fingerprint"] != wanted:
        raise KeyRotationStateError(
            "refusing to promote: no pending key with fingerprint %s (the key directory changed since it was verified)" % wanted
        )
    return current, pending, False


def _file_actions(new_current, new_pending, promoted):
    """fix_mode / write_public_key for the key files kept in place (a promoted key is written whole)."""
    actions = []
    for key, role in ((new_current, "current"), (new_pending, "pending")):
        if key is None or (promoted and role == "current"):
            continue
        if key["mode"] & 0o077:
            actions.append({"action": "fix_mode", "fingerprint": key["fingerprint"], "path": key["path"],
                            "reason": "the %s private key file is readable by others (mode %04o)" % (role, key["mode"])})
        if not key["public_key_file_ok"]:
            actions.append({"action": "write_public_key", "fingerprint": key["fingerprint"], "path": key["public_key_path"],
                            "reason": "the %s public key file is missing or does not match its private key" % role})
    return actions


def _record_actions(new_current, new_pending, retired, recorded):
    """record: a key whose dates (or retirement) the state file does not hold yet."""
    actions = []
    for key in [k for k in (new_current, new_pending) if k] + retired:
        entry = recorded.get(key["fingerprint"])
        if entry is None or (key in retired and not entry.get("retired")):
            actions.append({"action": "record", "fingerprint": key["fingerprint"],
                            "reason": "the dates of this key are not recorded yet"})
    return actions


def _orphan_actions(orphan_public_keys):
    return [{"action": "remove_orphan", "path": path,
             "reason": "a pending public key without its private key (interrupted promotion)"}
            for path in orphan_public_keys]


def _due(policy, current_view, pending_view, promoted):
    """Whether a rotation is due, and why: ``(due, reason)``."""
    max_age = policy.get("max_age_days")
    if pending_view is not None:
        return True, "pending"
    if current_view is None:
        return True, "no_key"
    if promoted:
        return False, "promoted"
    if policy.get("force"):
        return True, "force"
    if max_age is not None and current_view["age_days"] >= max_age:
        return True, "max_age"
    return False, "none"


def _old_fingerprints(current_view, pending_view, retired_views, target):
    """The fingerprints the hosts should lose once the target key is in place."""
    old = []
    if pending_view is not None and current_view is not None:
        old.append(current_view["fingerprint"])
    old.extend(view["fingerprint"] for view in retired_views)
    if target is not None:
        old = [fp for fp in old if fp != target["fingerprint"]]
    return old


def plan(key_set, policy, now):
    """Decide what the key set needs. Pure: returns the decision, the views and the file actions.

    policy: ``{"state": "present"|"promoted", "max_age_days": int, "force": bool, "fingerprint": str|None}``
    """
    recorded = key_set["state"].get("keys", {})
    actions = []
    if not key_set.get("dir_exists", True):
        actions.append({"action": "create_dir", "path": os.path.dirname(key_set["paths"]["current"]),
                        "reason": "the key directory does not exist (created 0700)"})
    retired = _live_retired(key_set, key_set["current"], key_set["pending"])
    new_current, new_pending, promoted = key_set["current"], key_set["pending"], False
    if policy.get("state") == "promoted":
        new_current, new_pending, promoted = _promotion(key_set, policy.get("fingerprint"), now, retired, actions)
    actions.extend(_file_actions(new_current, new_pending, promoted))
    actions.extend(_record_actions(new_current, new_pending, retired, recorded))
    actions.extend(_orphan_actions(key_set["orphan_public_keys"]))

    current_view = describe(new_current, recorded, now, "current")
    pending_view = describe(new_pending, recorded, now, "pending")
    retired_views = [describe(k, recorded, now, "retired") for k in retired]
    due, reason = _due(policy, current_view, pending_view, promoted)
    target = pending_view or current_view
    generate = due and pending_view is None
    return {
        "due": due,
        "reason": reason,
        "current": current_view,
        "pending": pending_view,
        "retired": retired_views,
        "target": target,
        "old_fingerprints": _old_fingerprints(current_view, pending_view, retired_views, target),
        "actions": actions,
        # the role's decisions, made here once instead of in its tasks
        "generate": generate,
        "distribute": target is not None and not generate,
        "fallback_private_key_paths": (
            [view["path"] for view in reversed(retired_views)] if current_view is not None else []
        ),
    }


# --------------------------------------------------------------------------- applying
def _public_line(view):
    return (view["public_key"].strip() + "\n").encode("utf-8")


def _write_state(layout, key_set, result):
    state = dict(key_set["state"])
    recorded = dict(state.get("keys", {}))
    state.update(version=STATE_VERSION, name=layout.name)
    for view in [result["current"], result["pending"]] + result["retired"]:
        if view is None:
            continue
        entry = dict(recorded.get(view["fingerprint"]) or {})
        entry.setdefault("created", view["created"])
        entry["type"] = view["type"]
        if view["role"] == "retired":
            entry.setdefault("retired", view["retired"])
        recorded[view["fingerprint"]] = entry
    state["keys"] = recorded
    atomic_write(layout.state_file, (json.dumps(state, indent=2, sort_keys=True) + "\n").encode("utf-8"), mode=0o600)


def apply(layout, key_set, result):
    """Perform result['actions'] in the crash-safe order described in the module header."""
    by_kind = {}
    for action in result["actions"]:
        by_kind.setdefault(action["action"], []).append(action)
    if not by_kind:
        return
    make_parent_dirs(layout.current)
    for action in by_kind.get("retire", []):
        # 1. a private copy of the key being replaced, before anything else moves
        data = read_regular_file(key_set["current"]["path"])
        make_parent_dirs(action["path"])
        os.chmod(layout.retired_dir, 0o700)
        atomic_write(action["path"] + ".pub", _public_line(key_set["current"]), mode=0o644)
        atomic_write(action["path"], data, mode=0o600)
    if by_kind.keys() & {"record", "retire", "promote"}:
        # 2. dates (creation of the new key, retirement of the old one)
        _write_state(layout, key_set, result)
    for action in by_kind.get("promote", []):
        # 3. the verified key becomes the current one (atomic rename), 4. derived files
        pending = key_set["pending"]
        os.chmod(pending["path"], 0o600)
        os.replace(pending["path"], layout.current)
        atomic_write(layout.current + ".pub", _public_line(result["current"]), mode=0o644)
        if os.path.lexists(pending["public_key_path"]):
            os.unlink(pending["public_key_path"])
    for action in by_kind.get("fix_mode", []):
        os.chmod(action["path"], 0o600)
    for action in by_kind.get("write_public_key", []):
        view = result["current"] if result["current"] and result["current"]["fingerprint"] == action["fingerprint"] else result["pending"]
        atomic_write(action["path"], _public_line(view), mode=0o644)
    for action in by_kind.get("remove_orphan", []):
        if os.path.lexists(action["path"]):
            os.unlink(action["path"])


def _summary(key_set_or_result):
    def fp(view):
        return view["fingerprint"] if view else None

    return {
        "current": fp(key_set_or_result["current"]),
        "pending": fp(key_set_or_result["pending"]),
        "retired": sorted({k["fingerprint"] for k in key_set_or_result["retired"]}),
    }


def run(key_dir, name, policy, check_mode=False, now=None):
    """Read, plan and (unless check_mode) apply; returns the plan result with ``changed`` and ``diff``."""
    layout = Layout(key_dir, name)
    now = now or utcnow()
    max_age = policy.get("max_age_days")
    if max_age is not None and max_age < 0:
        raise KeyRotationStateError("max_age_days must be 0 or more, got %s" % max_age)
    dir_existed = os.path.isdir(layout.key_dir)
    try:
        if check_mode:
            key_set = read_key_set(layout)
            result = plan(key_set, policy, now)
        else:
            with directory_lock(layout.current):  # creates the key directory (0700) when missing
                key_set = read_key_set(layout)
                result = plan(key_set, policy, now)
                apply(layout, key_set, result)
    except FileOpError as exc:
        raise KeyRotationStateError(str(exc)) from None
    except OSError as exc:
        raise KeyRotationStateError("cannot update %s: %s" % (layout.key_dir, exc.strerror or exc)) from None
    if not dir_existed and not any(a["action"] == "create_dir" for a in result["actions"]):
        result["actions"].insert(0, {"action": "create_dir", "path": layout.key_dir, "reason": "the key directory does not exist"})
    result["changed"] = bool(result["actions"])
    result["diff"] = {"before": _summary(key_set), "after": _summary(result)}
    result.update(
        key_dir=layout.key_dir,
        name=layout.name,
        paths={"current": layout.current, "pending": layout.pending, "retired_dir": layout.retired_dir,
               "state_file": layout.state_file},
        current_realpath=os.path.realpath(layout.current),
    )
    return result


def region_problem(regions, known):
    """None when every region is known, else a message naming the variable and the bad names."""
    if regions is None:
        return None
    if not regions:
        return "regions (key_pair_rotation_regions) must list at least one region"
    bad = [region for region in regions if region not in known]
    if bad:
        return ("regions (key_pair_rotation_regions): %s %s not an EC2 region of any AWS partition; nothing was changed"
                % (", ".join(repr(region) for region in bad), "is" if len(bad) == 1 else "are"))
    if len(set(regions)) != len(regions):
        return "regions (key_pair_rotation_regions) lists a region twice"
    return None


def key_pair_problem(entry, known):
    """None when one entry of the option key_pairs can be planned, else a message naming it."""
    name = entry.get("name")
    try:
        check_name(name)
    except KeyRotationStateError as exc:
        return "key_pairs: %s" % exc
    if entry.get("max_age_days") is not None and entry["max_age_days"] < 0:
        return "key_pairs: %s: max_age_days must be 0 or more, got %s" % (name, entry["max_age_days"])
    if entry.get("regions") is not None:
        problem = region_problem(entry["regions"], known)
        if problem:
            return "key pair %s: %s" % (name, problem)
    return None


def _policy(params):
    return {
        "state": params.get("state") or "present",
        "max_age_days": params.get("max_age_days"),
        "force": params.get("force") or False,
        "fingerprint": params.get("fingerprint"),
    }


def run_many(entries, check_mode=False, now=None, known_regions=None):
    """Plan (and unless check_mode apply) several key pairs, each in its own key directory entry.

    Every entry is checked before the first one is read or written. Returns ``changed``, ``diff``
    and ``key_pairs`` (name -> the result of ``run`` for that name).
    """
    names = [entry.get("name") for entry in entries]
    if len(set(names)) != len(names):
        raise KeyRotationStateError("key_pairs lists a key pair name twice")
    for entry in entries:
        problem = key_pair_problem(entry, known_regions or set())
        if problem:
            raise KeyRotationStateError(problem)
    now = now or utcnow()
    results = {}
    for entry in entries:
        try:
            results[entry["name"]] = run(entry["key_dir"], entry["name"], _policy(entry), check_mode=check_mode, now=now)
        except KeyRotationStateError as exc:
            raise KeyRotationStateError("key pair %s: %s" % (entry["name"], exc)) from None
    return {
        "changed": any(result["changed"] for result in results.values()),
        "diff": {
            "before": {name: result["diff"]["before"] for name, result in results.items()},
            "after": {name: result["diff"]["after"] for name, result in results.items()},
        },
        "key_pairs": results,
    }


def _known_regions_or_fail(module, entries):
    if all(entry.get("regions") is None for entry in entries):
        return set()
    try:
        return known_ec2_regions()
    except ImportError:
        module.fail_json(msg="regions: checking region names needs botocore on the controller")
    return set()


def run_module(module):
    params = module.params
    if params.get("key_pairs") is not None:
        entries = params["key_pairs"]
        known = _known_regions_or_fail(module, entries)
        error = None
        try:
            result = run_many(entries, check_mode=module.check_mode, known_regions=known)
        except KeyRotationStateError as exc:
            error = str(exc)
        if error is not None:
            module.fail_json(msg=error)
        module.exit_json(**result)
    if params.get("regions") is not None:
        try:
            known = known_ec2_regions()
        except ImportError:
            module.fail_json(msg="regions: checking region names needs botocore on the controller")
        problem = region_problem(params["regions"], known)
        if problem:
            module.fail_json(msg=problem)
    policy = {
        "state": params["state"],
        "max_age_days": params["max_age_days"],
        "force": params["force"],
        "fingerprint": params["fingerprint"],
    }
    result = None
    error = None
    try:
        result = run(params["key_dir"], params["name"], policy, check_mode=module.check_mode)
    except KeyRotationStateError as exc:
        error = str(exc)
    if error is not None:
        module.fail_json(msg=error)
    module.exit_json(**result)
