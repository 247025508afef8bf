# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to keyops.aws: may change without notice. EC2 key pairs: pure planning, no AWS calls.

An EC2 key pair is regional and EC2 cannot update one: "holding our public key in a region" means
a key pair of that name whose public key material (``type base64``, comments ignored) equals ours.

- ``desired_key(text)`` -> the validated key we want (canonical form, EC2 fingerprint computed here).
- ``region_state(described)`` -> what one region holds (from one DescribeKeyPairs entry, or None).
- ``plan_region(state, policy)`` -> what to do in that region (``none``, ``tag``, ``import``,
  ``replace``, ``delete`` or ``drift``), with the before/after view used for check mode and --diff.
- ``summarize(...)`` -> which regions hold a name, which miss it, which drift (for the info module).

Everything here is a function of its arguments, so the unit tests drive it with fake region states.
"""

import re

from ansible_collections.keyops.aws.plugins.module_utils._ssh_public_keys import EC2_KEY_TYPES
from ansible_collections.keyops.aws.plugins.module_utils._ssh_public_keys import InvalidPublicKey
from ansible_collections.keyops.aws.plugins.module_utils._ssh_public_keys import UnsupportedKeyType
from ansible_collections.keyops.aws.plugins.module_utils._ssh_public_keys import canonical_public_key
from ansible_collections.keyops.aws.plugins.module_utils._ssh_public_keys import ec2_fingerprint
from ansible_collections.keyops.aws.plugins.module_utils._ssh_public_keys import key_bits
from ansible_collections.keyops.aws.plugins.module_utils._ssh_public_keys import openssh_fingerprint
from ansible_collections.keyops.aws.plugins.module_utils._ssh_public_keys import parse_public_key

ACTIONS = ("none", "tag", "import", "replace", "delete", "drift")
CHANGING_ACTIONS = ("tag", "import", "replace", "delete")
MIN_RSA_BITS = 1024
MAX_KEY_NAME = 255
_REGION_RE = re.compile(r"^[a-z]{2,}(-[a-z0-9]+)+-[0-9]+$")


class PlanError(ValueError):
    """Bad input found while planning (nothing has been changed)."""


# --------------------------------------------------------------------------- input checks
def check_key_name(name):
    """EC2 key pair names: 1-255 ASCII characters, no leading/trailing blanks."""
    if not isinstance(name, str) or not name:
        raise PlanError("name must be a non-empty string")
    if len(name) > MAX_KEY_NAME:
        raise PlanError("name is %d characters long; EC2 allows at most %d" % (len(name), MAX_KEY_NAME))
    if name != name.strip():
        raise PlanError("name %r has leading or trailing blanks" % name)
    if any(ord(char) < 32 or ord(char) > 126 for char in name):
        raise PlanError("name %r holds characters EC2 does not accept (printable ASCII only)" % name)
    return name


def check_region_names(regions):
    """A de-duplicated list of syntactically valid region names (order kept)."""
    if not regions:
        raise PlanError("regions is empty: give at least one region, or all_regions=true")
    seen = []
    for region in regions:
        if not isinstance(region, str) or not _REGION_RE.match(region):
            raise PlanError("%r is not an AWS region name (e.g. us-east-1, eu-west-2)" % (region,))
        if region not in seen:
            seen.append(region)
    return seen


def check_tags(tags):
    """Tags as a dict of str -> str; aws: keys and over-long keys/values are refused."""
    if tags is None:
        return None
    result = {}
    for key, value in tags.items():
        key = str(key)
        value = "" if value is None else str(value)
        if not key or len(key) > 128:
            raise PlanError("tag key %r must be 1 to 128 characters" % key[:140])
        if key.lower().startswith("aws:"):
            raise PlanError("tag key %r: keys starting with aws: are reserved by AWS" % key)
        if len(value) > 256:
            raise PlanError("the value of tag %r is longer than 256 characters" % key)
        result[key] = value
    return result


def desired_key(text, source="public_key"):
    """The key we want in EC2, validated: ``{canonical, key_type, fingerprint, openssh_fingerprint, comment}``.

    ``fingerprint`` is the one EC2 shows once the key is imported, computed locally. Raises PlanError
    for a malformed or truncated key, a type EC2 cannot import, or an RSA key EC2 refuses.
    """
    try:
        key_type, _blob, comment = parse_public_key(text)
        if key_type not in EC2_KEY_TYPES:
            raise UnsupportedKeyType(
                "EC2 imports only RSA (ssh-rsa) and ed25519 (ssh-ed25519) keys, not %s" % key_type
            )
        if key_type == "ssh-rsa" and key_bits(text) < MIN_RSA_BITS:
            raise InvalidPublicKey("EC2 refuses RSA keys shorter than %d bits (this one has %d)" % (MIN_RSA_BITS, key_bits(text)))
        return {
            "canonical": canonical_public_key(text),
            "key_type": key_type,
            "fingerprint": ec2_fingerprint(text),
            "openssh_fingerprint": openssh_fingerprint(text),
            "comment": comment,
        }
    except InvalidPublicKey as exc:
        raise PlanError("%s: %s" % (source, exc)) from None


# --------------------------------------------------------------------------- region state
def material_of(public_key):
    """``(canonical, fingerprint, problem)`` of the material EC2 returned (problem: why unreadable)."""
    if not public_key:
        return None, None, "holds no public key material (EC2 returned none)"
    try:
        canonical = canonical_public_key(public_key)
    except InvalidPublicKey as exc:
        return None, None, "holds public key material that cannot be read (%s)" % exc
    try:
        fingerprint = ec2_fingerprint(canonical)
    except InvalidPublicKey:
        fingerprint = None
    return canonical, fingerprint, None


def tags_dict(tag_list):
    return dict((tag["Key"], tag.get("Value", "")) for tag in (tag_list or []))


def region_state(described):
    """What a region holds, from a DescribeKeyPairs entry (``None``: no key pair of that name)."""
    if not described:
        return {"present": False}
    canonical, fingerprint, problem = material_of(described.get("PublicKey"))
    return {
        "present": True,
        "key_name": described.get("KeyName"),
        "key_pair_id": described.get("KeyPairId"),
        "key_type": described.get("KeyType"),
        "canonical": canonical,
        "fingerprint": fingerprint,
        "reported_fingerprint": described.get("KeyFingerprint"),
        "create_time": described.get("CreateTime"),
        "tags": tags_dict(described.get("Tags")),
        "problem": problem,
    }


# --------------------------------------------------------------------------- planning
def plan_tags(current, desired, purge):
    """``(to_set, to_unset)`` turning ``current`` into ``desired`` (``desired=None``: leave tags alone)."""
    if desired is None:
        return {}, []
    to_set = dict((key, value) for key, value in desired.items() if current.get(key) != value)
    to_unset = []
    if purge:
        to_unset = sorted(key for key in current if key not in desired and not key.lower().startswith("aws:"))
    return to_set, to_unset


def tags_after_replace(current, desired, purge):
    """Tags the replacing key pair gets: the old ones kept (aws: ones cannot be set), then ``desired``."""
    if desired is not None and purge:
        result = {}
    else:
        result = dict((key, value) for key, value in current.items() if not key.lower().startswith("aws:"))
    result.update(desired or {})
    return result


def _view(state):
    if not state.get("present"):
        return {"present": False, "fingerprint": None, "tags": {}}
    return {"present": True, "fingerprint": state.get("fingerprint"), "tags": dict(state.get("tags") or {})}


def plan_region(state, policy):
    """Plan one region.

    ``state``: from region_state(). ``policy``: ``{state: present|absent, key: desired_key() or None,
    force: bool, tags: dict or None, purge_tags: bool}``.

    Returns ``{action, changed, failed, msg, key_pair_id, import_tags, set_tags, unset_tags, before,
    after}``; ``before``/``after`` are ``{present, fingerprint, tags}`` (what check mode predicts
    and --diff shows). ``failed`` is only set for drift here (nothing will be changed there).
    """
    before = _view(state)
    plan = {
        "action": "none", "changed": False, "failed": False, "msg": "",
        "key_pair_id": state.get("key_pair_id"),
        "import_tags": None, "set_tags": {}, "unset_tags": [],
        "before": before, "after": dict(before, tags=dict(before["tags"])),
    }
    if policy["state"] == "absent":
        if state.get("present"):
            plan.update(action="delete", changed=True, msg="key pair deleted")
            plan["after"] = {"present": False, "fingerprint": None, "tags": {}}
        else:
            plan["msg"] = "no key pair of that name"
        return plan

    key = policy["key"]
    desired_tags = policy.get("tags")
    purge = bool(policy.get("purge_tags"))
    if not state.get("present"):
        tags = dict(desired_tags or {})
        plan.update(action="import", changed=True, import_tags=tags, msg="public key imported", key_pair_id=None)
        plan["after"] = {"present": True, "fingerprint": key["fingerprint"], "tags": tags}
        return plan

    current_tags = dict(state.get("tags") or {})
    if state.get("canonical") == key["canonical"]:
        to_set, to_unset = plan_tags(current_tags, desired_tags, purge)
        if to_set or to_unset:
            after_tags = dict((k, v) for k, v in current_tags.items() if k not in to_unset)
            after_tags.update(to_set)
            plan.update(action="tag", changed=True, set_tags=to_set, unset_tags=to_unset,
                        msg="tags updated (%s)" % _tag_summary(to_set, to_unset))
            plan["after"]["tags"] = after_tags
        else:
            plan["msg"] = "key pair holds the public key"
        return plan

    theirs = state.get("problem") or "holds a different public key, EC2 fingerprint %s" % state.get("fingerprint")
    if not policy.get("force"):
        plan.update(action="drift", failed=True,
                    msg="drift: %s; nothing changed here, force=true would replace it (delete and import, tags kept)" % theirs)
        return plan
    tags = tags_after_replace(current_tags, desired_tags, purge)
    plan.update(action="replace", changed=True, import_tags=tags, key_pair_id=None,
                msg="replaced (deleted and imported again, tags kept); it %s" % theirs)
    plan["after"] = {"present": True, "fingerprint": key["fingerprint"], "tags": tags}
    return plan


def _tag_summary(to_set, to_unset):
    parts = []
    if to_set:
        parts.append("set " + ", ".join(sorted(to_set)))
    if to_unset:
        parts.append("removed " + ", ".join(to_unset))
    return "; ".join(parts)


# --------------------------------------------------------------------------- info summary
def majority(materials):
    """The material held by strictly more regions than any other, else None.

    ``materials``: ``{region: canonical or None}``; unreadable (None) material never wins.
    """
    counts = {}
    for canonical in materials.values():
        if canonical is not None:
            counts[canonical] = counts.get(canonical, 0) + 1
    if not counts:
        return None
    ranked = sorted(counts.items(), key=lambda item: -item[1])
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None
    return ranked[0][0]


def summarize(regions, held, reference=None):
    """Where one key pair name stands across the queried regions.

    ``regions``: the regions read successfully; ``held``: ``{region: canonical or None}`` for the
    regions holding the name (None: material unreadable); ``reference``: canonical key to compare
    with, else the majority material is the reference.

    Returns ``{present_in, missing_in, drift, reference, reference_source}``; reference_source is
    ``public_key``, ``majority``, ``tie`` (regions disagree and no material is held by most: every
    holder is reported as drift) or ``none`` (nothing held).
    """
    present_in = sorted(region for region in regions if region in held)
    missing_in = sorted(region for region in regions if region not in held)
    if reference is not None:
        source = "public_key"
    else:
        reference = majority(held)
        distinct = set(value for value in held.values())
        if reference is not None:
            source = "majority"
        elif held and (len(distinct) > 1 or None in distinct):
            source = "tie"
        else:
            source = "none"
    if source == "tie":
        drift = list(present_in)
    elif reference is None:
        drift = []
    else:
        drift = [region for region in present_in if held[region] != reference]
    return {"present_in": present_in, "missing_in": missing_in, "drift": drift,
            "reference": reference, "reference_source": source}
