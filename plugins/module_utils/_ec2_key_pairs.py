# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to keyops.aws: may change without notice. EC2 key pairs across regions (read and apply).

``run_key_pair_module(module)`` backs keyops.aws.ec2_key_pair, ``run_info_module(module)`` backs
keyops.aws.ec2_key_pair_info. The decisions are in ``_ec2_key_pair_planner`` (pure); this file
reads regions, applies plans and shapes the result.

- Regions (and the connection region) are checked first against botocore's regions of every
  partition, then against DescribeRegions (unknown name: bad input, nothing changed, the message
  names the option; a region not enabled for the account: that region fails, the others go on).
- One boto3 client per region, all made from one session in the main thread (a session per client
  costs ~0.14 s of CPU each, ~0.02 s from a shared session) and shared by the worker threads.
  botocore's own retries are off; reads and idempotent writes are retried by amazon.aws AWSRetry
  (``aws_retry=True``); ImportKeyPair is never retried. InvalidKeyPair.Duplicate on import means
  someone imported the name meanwhile: the region is read and planned again, once.
- A region failing (AuthFailure, disabled region, throttled out) never hides the others' results;
  the task fails at the end naming every failed region.
"""

import os

try:
    import boto3
    import botocore.config
    import botocore.exceptions
except ImportError:  # AnsibleAWSModule reports a missing boto3/botocore itself
    pass

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.amazon.aws.plugins.module_utils.botocore import get_aws_connection_info
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper

from ansible_collections.keyops.aws.plugins.module_utils._aws_common import check_concurrency
from ansible_collections.keyops.aws.plugins.module_utils._aws_common import error_code
from ansible_collections.keyops.aws.plugins.module_utils._aws_common import error_message
from ansible_collections.keyops.aws.plugins.module_utils._aws_common import iso
from ansible_collections.keyops.aws.plugins.module_utils._aws_common import run_concurrently
from ansible_collections.keyops.aws.plugins.module_utils._aws_common import unknown_ec2_regions
from ansible_collections.keyops.aws.plugins.module_utils._ec2_key_pair_planner import PlanError
from ansible_collections.keyops.aws.plugins.module_utils._ec2_key_pair_planner import check_key_name
from ansible_collections.keyops.aws.plugins.module_utils._ec2_key_pair_planner import check_region_names
from ansible_collections.keyops.aws.plugins.module_utils._ec2_key_pair_planner import check_tags
from ansible_collections.keyops.aws.plugins.module_utils._ec2_key_pair_planner import desired_key
from ansible_collections.keyops.aws.plugins.module_utils._ec2_key_pair_planner import plan_region
from ansible_collections.keyops.aws.plugins.module_utils._ec2_key_pair_planner import region_state
from ansible_collections.keyops.aws.plugins.module_utils._ec2_key_pair_planner import summarize

USER_AGENT_EXTRA = "keyops.aws/0.1.0"
ENABLED_OPT_IN = ("opt-in-not-required", "opted-in")
MAX_PUBLIC_KEY_FILE = 64 * 1024
NOT_FOUND = "InvalidKeyPair.NotFound"
DUPLICATE = "InvalidKeyPair.Duplicate"


class KeyPairError(Exception):
    """The one error type of these modules; ``exception`` is the botocore error behind it, if any."""

    def __init__(self, msg, exception=None):
        super().__init__(msg)
        self.msg = msg
        self.exception = exception


def _aws_errors():
    return (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)


# --------------------------------------------------------------------------- clients
class RegionClients:
    """One EC2 client per region, made from one boto3 session (in the calling thread only)."""

    def __init__(self, module):
        _region, self.endpoint, params = get_aws_connection_info(module)
        params = dict(params)
        profile = params.pop("profile_name", None)
        user_config = params.pop("aws_config", None)
        config = botocore.config.Config(user_agent_extra=USER_AGENT_EXTRA, max_pool_connections=10)
        if user_config is not None:
            config = config.merge(user_config)
        # botocore never retries, whatever aws_config says: ImportKeyPair must be attempted once;
        # reads and idempotent writes are retried by AWSRetry (aws_retry=True) instead
        self.config = config.merge(botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"}))
        self.params = params
        self.retry = AWSRetry.jittered_backoff(retries=8, delay=1, max_delay=20)
        try:
            self.session = boto3.session.Session(profile_name=profile)
        except botocore.exceptions.BotoCoreError as exc:
            raise KeyPairError("cannot set up the AWS session: %s" % exc, exc) from None
        self.clients = {}

    def get(self, region):
        if region not in self.clients:
            try:
                client = self.session.client(
                    "ec2", region_name=region, endpoint_url=self.endpoint, config=self.config, **self.params
                )
            except (ValueError,) + _aws_errors() as exc:
                raise KeyPairError("cannot make an EC2 client for %s: %s" % (region, exc), exc) from None
            self.clients[region] = RetryingBotoClientWrapper(client, self.retry)
        return self.clients[region]

    def partition(self, region):
        """The AWS partition (aws, aws-cn, aws-us-gov...) of a region, None when botocore cannot tell."""
        try:
            return self.session.get_partition_for_region(region)
        except Exception:  # pylint: disable=broad-except
            return None

    def prepare(self, regions):
        for region in regions:
            self.get(region)


# --------------------------------------------------------------------------- regions
class Regions:
    """The regions to work: ``work`` (to call), ``refused`` (region -> why not), ``enabled`` (all, or None)."""

    def __init__(self, work, refused, enabled, explicit):
        self.work = work
        self.refused = refused
        self.enabled = enabled
        self.explicit = explicit


def resolve_regions(module, clients, regions, all_regions):
    """Check the region names against DescribeRegions (AllRegions) before anything else."""
    if all_regions and regions:
        raise KeyPairError("regions and all_regions=true are mutually exclusive")
    if module.region:
        _check_known(["region"], [module.region])
    if not all_regions:
        source = "regions"
        if regions is None:
            # no regions given: the connection region (region, AWS_REGION); an explicit [] is an error
            regions = [module.region] if module.region else []
            source = "region"
        try:
            regions = check_region_names(regions)
        except PlanError as exc:
            text = str(exc)
            raise KeyPairError(text if text.startswith("regions") else "%s: %s" % (source, text)) from None
        _check_known([source], regions)
    control = module.region or (regions[0] if regions else "us-east-1")
    try:
        listing = clients.get(control).describe_regions(AllRegions=True, aws_retry=True)["Regions"]
    except _aws_errors() as exc:
        if all_regions:
            raise KeyPairError("all_regions=true needs ec2:DescribeRegions, which failed in %s (%s)"
                               % (control, error_message(exc)), exc) from None
        module.warn("could not list the account's regions in %s (%s): region names are not checked"
                    % (control, error_message(exc)))
        return Regions(list(regions), {}, None, True)
    status = dict((item["RegionName"], item.get("OptInStatus", "opt-in-not-required")) for item in listing)
    # regions of the control region's partition only: credentials of one partition are refused in
    # the others (moto lists every partition's regions; AWS lists the caller's partition only)
    partition = clients.partition(control)
    enabled = sorted(region for region, opt_in in status.items()
                     if opt_in in ENABLED_OPT_IN and clients.partition(region) in (partition, None))
    if all_regions:
        return Regions(enabled, {}, enabled, False)
    unknown = [region for region in regions if region not in status]
    if unknown:
        raise KeyPairError("unknown region%s %s (this account knows: %s); nothing was changed"
                           % ("s" if len(unknown) > 1 else "", ", ".join(unknown), ", ".join(sorted(status))))
    refused = dict(
        (region, "region %s is not enabled for this account (opt-in status %s)" % (region, status[region]))
        for region in regions if status[region] not in ENABLED_OPT_IN
    )
    return Regions([region for region in regions if region not in refused], refused, enabled, True)


def _check_known(option, regions):
    """Every name must be an EC2 region of some partition botocore knows (checked before any call)."""
    unknown = unknown_ec2_regions(regions)
    if unknown:
        raise KeyPairError("%s: unknown region%s %s: not an EC2 region of any AWS partition; nothing was changed"
                           % (option[0], "s" if len(unknown) > 1 else "", ", ".join(unknown)))


# --------------------------------------------------------------------------- reading
def read_key_pairs(client, name=None):
    """DescribeKeyPairs with the public key: a list of entries (``[]`` when the name does not exist)."""
    kwargs = {"IncludePublicKey": True, "aws_retry": True}
    if name is not None:
        kwargs["KeyNames"] = [name]
    try:
        return client.describe_key_pairs(**kwargs).get("KeyPairs", [])
    except botocore.exceptions.ClientError as exc:
        if name is not None and error_code(exc) == NOT_FOUND:
            return []
        raise


def read_key_pair(client, name):
    for entry in read_key_pairs(client, name):
        if entry.get("KeyName") == name:
            return entry
    return None


def read_public_key_path(path):
    """The public key text from a file on the machine running the module (never echoed in errors)."""
    path = os.path.expanduser(path)
    if not os.path.exists(path):
        raise KeyPairError("public_key_path %s does not exist" % path)
    if not os.path.isfile(path):
        raise KeyPairError("public_key_path %s is not a regular file" % path)
    size = os.path.getsize(path)
    if size > MAX_PUBLIC_KEY_FILE:
        raise KeyPairError("public_key_path %s is %d bytes: too large for a public key" % (path, size))
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise KeyPairError("cannot read public_key_path %s: %s" % (path, exc.strerror or exc)) from None
    if b"PRIVATE KEY" in data:
        raise KeyPairError("public_key_path %s holds a private key; give the public key (the .pub file)" % path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise KeyPairError("public_key_path %s is not UTF-8 text" % path) from None


def find_elsewhere(clients, name, regions, concurrency):
    """Enabled regions outside the queried set that hold ``name`` (for the not-found hint)."""
    if regions.enabled is None:
        return None
    others = [region for region in regions.enabled if region not in regions.work and region not in regions.refused]
    if not others:
        return []
    try:
        clients.prepare(others)
    except KeyPairError:
        return None
    outcome = run_concurrently(others, lambda region: read_key_pair(clients.get(region), name), concurrency)
    return sorted(region for region, entry, exc in outcome if exc is None and entry)


def hint_for(name, regions, present_in, found):
    """A hint for a name missing where it was looked for (usually a region mistake), else None."""
    if found:
        return ("key pair %s is not in %s but exists in %s; check the region list"
                % (name, ", ".join(sorted(r for r in regions.work if r not in present_in)), ", ".join(found)))
    if present_in:
        return None
    if found is None:
        return ("key pair %s exists in none of the regions looked at (%s); other regions could not be searched"
                % (name, ", ".join(sorted(regions.work)) or "none"))
    return "no enabled region of this account holds a key pair named %s (%d searched)" % (name, len(regions.enabled or regions.work))


# --------------------------------------------------------------------------- applying
def _import(client, name, key, tags):
    material = key["canonical"] + ((" " + key["comment"]) if key.get("comment") else "")
    kwargs = {"KeyName": name, "PublicKeyMaterial": material.encode("utf-8")}
    if tags:
        kwargs["TagSpecifications"] = [{
            "ResourceType": "key-pair",
            "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())],
        }]
    # never retried: no aws_retry, botocore retries off
    return client.import_key_pair(**kwargs)


def _public_view(view):
    return {"present": view["present"], "fingerprint": view["fingerprint"], "tags": view["tags"]}


def _region_result(plan):
    after = plan["after"]
    return {
        "action": plan["action"],
        "changed": False,
        "failed": plan["failed"],
        "msg": plan["msg"],
        "fingerprint": after["fingerprint"] if after["present"] else None,
        "key_pair_id": plan["key_pair_id"] if after["present"] else None,
        "tags": dict(after["tags"]),
        "error_code": None,
        "before": _public_view(plan["before"]),
        "after": _public_view(after),
    }


def converge_region(client, name, policy, check_mode, raced=False):
    """Read, plan and (unless check mode) apply in one region; returns that region's result."""
    try:
        described = read_key_pair(client, name)
    except _aws_errors() as exc:
        return _failure("none", "cannot read key pair: %s" % error_message(exc), exc)
    plan = plan_region(region_state(described), policy)
    result = _region_result(plan)
    if not plan["changed"]:
        return result
    result["changed"] = True
    if check_mode:
        return result
    action = plan["action"]
    tagged = False
    try:
        if action in ("delete", "replace"):
            client.delete_key_pair(KeyName=name, aws_retry=True)
            if action == "delete":
                return result
        if action == "tag":
            key_id = plan["key_pair_id"]
            if plan["set_tags"]:
                client.create_tags(Resources=[key_id], aws_retry=True,
                                   Tags=[{"Key": k, "Value": v} for k, v in sorted(plan["set_tags"].items())])
                tagged = True
            if plan["unset_tags"]:
                client.delete_tags(Resources=[key_id], Tags=[{"Key": k} for k in plan["unset_tags"]], aws_retry=True)
            return result
    except _aws_errors() as exc:
        failed = _failure(action, "%s failed: %s" % (action, error_message(exc)), exc, changed=tagged)
        failed["before"] = result["before"]
        return failed
    # import or replace
    try:
        response = _import(client, name, policy["key"], plan["import_tags"])
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) == DUPLICATE and action == "import" and not raced:
            # someone imported this name since we read it: read, compare and plan again (once)
            again = converge_region(client, name, policy, check_mode, raced=True)
            again["msg"] = "another writer imported %s meanwhile; %s" % (name, again["msg"])
            return again
        return _import_failure(action, name, result, exc)
    except botocore.exceptions.BotoCoreError as exc:
        return _import_failure(action, name, result, exc)
    result["key_pair_id"] = response.get("KeyPairId")
    return result


def _import_failure(action, name, result, exc):
    if action == "replace":
        msg = ("the old key pair was deleted but importing the new public key failed (%s): this region has NO "
               "key pair named %s now; run again" % (error_message(exc), name))
        failed = _failure(action, msg, exc, changed=True)
        failed["before"] = result["before"]
        failed["after"] = {"present": False, "fingerprint": None, "tags": {}}
        return failed
    failed = _failure(action, "import failed (not retried): %s" % error_message(exc), exc)
    failed["before"] = result["before"]
    failed["after"] = result["before"]
    return failed


def _failure(action, msg, exc=None, changed=False):
    return {
        "action": action, "changed": changed, "failed": True, "msg": msg,
        "fingerprint": None, "key_pair_id": None, "tags": {},
        "error_code": error_code(exc) if exc is not None else None,
        "before": None, "after": None,
    }


# --------------------------------------------------------------------------- module runs
def _failed_message(prefix, results):
    parts = []
    for region in sorted(results):
        if results[region]["failed"]:
            parts.append("%s (%s)" % (region, results[region]["msg"]))
    return "%s failed in %d region%s: %s" % (prefix, len(parts), "" if len(parts) == 1 else "s", "; ".join(parts))


def _finish(module, result, failed_msg=None, exception=None):
    """The one exit point of both modules."""
    if exception is not None:
        result.pop("msg", None)
        module.fail_json_aws(exception, msg=failed_msg, **result)
    if failed_msg:
        result.pop("msg", None)
        module.fail_json(msg=failed_msg, **result)
    module.exit_json(**result)


def _common_setup(module):
    try:
        concurrency = check_concurrency(module.params["concurrency"])
    except ValueError as exc:
        raise KeyPairError(str(exc)) from None
    return concurrency, RegionClients(module)


def _key_from_params(module, required):
    text = module.params.get("public_key")
    source = "public_key"
    if module.params.get("public_key_path"):
        text = read_public_key_path(module.params["public_key_path"])
        source = "public_key_path %s" % module.params["public_key_path"]
    if text is None:
        if required:
            raise KeyPairError("state=present needs public_key or public_key_path")
        return None
    try:
        return desired_key(to_text(text), source)
    except PlanError as exc:
        raise KeyPairError("%s; nothing was changed" % exc) from None


def run_key_pair_module(module):
    result = {"changed": False}
    try:
        params = module.params
        state = params["state"]
        try:
            name = check_key_name(params["name"])
            tags = check_tags(params.get("tags"))
        except PlanError as exc:
            raise KeyPairError("%s; nothing was changed" % exc) from None
        key = _key_from_params(module, required=(state == "present")) if state == "present" else None
        concurrency, clients = _common_setup(module)
        regions = resolve_regions(module, clients, params.get("regions"), params["all_regions"])
        clients.prepare(regions.work)
        policy = {"state": state, "key": key, "force": params["force"], "tags": tags,
                  "purge_tags": params["purge_tags"]}
        outcome = run_concurrently(
            regions.work, lambda region: converge_region(clients.get(region), name, policy, module.check_mode),
            concurrency)
        results = {}
        for region, region_result, exc in outcome:
            if exc is not None:  # a bug or an unexpected error: still reported per region
                region_result = _failure("none", "unexpected error: %s" % error_message(exc), exc)
            results[region] = region_result
        for region, why in regions.refused.items():
            results[region] = _failure("none", why)
        result.update(_key_pair_result(module, name, key, results))
        if (state == "absent" and regions.explicit and not result["changed"]
                and not result["failed_regions"]):
            found = find_elsewhere(clients, name, regions, concurrency)
            result["hint"] = hint_for(name, regions, [], found)
            if found:
                module.warn(result["hint"])
        failed_msg = _failed_message("ec2_key_pair %s" % name, results) if result["failed_regions"] else None
        exception = None
    except KeyPairError as exc:
        failed_msg, exception = exc.msg, exc.exception
    _finish(module, result, failed_msg, exception)


def _key_pair_result(module, name, key, results):
    failed = sorted(region for region, res in results.items() if res["failed"])
    out = {
        "changed": any(res["changed"] for res in results.values()),
        "name": name,
        "fingerprint": key["fingerprint"] if key else None,
        "openssh_fingerprint": key["openssh_fingerprint"] if key else None,
        "key_type": key["key_type"] if key else None,
        "failed_regions": failed,
        "drift": sorted(region for region, res in results.items() if res["action"] == "drift"),
    }
    if module._diff:
        out["diff"] = {
            "before": dict((region, res["before"]) for region, res in sorted(results.items()) if res["before"]),
            "after": dict((region, res["after"]) for region, res in sorted(results.items()) if res["after"]),
        }
    for res in results.values():
        res.pop("before", None)
        res.pop("after", None)
    out["regions"] = dict(sorted(results.items()))
    return out


# --------------------------------------------------------------------------- info
def _entry(region, described):
    state = region_state(described)
    return {
        "region": region,
        "key_name": described.get("KeyName"),
        "key_pair_id": described.get("KeyPairId"),
        "key_type": described.get("KeyType"),
        "public_key": state["canonical"],
        "fingerprint": state["fingerprint"],
        "reported_fingerprint": described.get("KeyFingerprint"),
        "create_time": iso(described.get("CreateTime")),
        "tags": state["tags"],
        "problem": state["problem"],
    }


def run_info_module(module):
    result = {"changed": False}
    try:
        params = module.params
        name = params.get("name")
        if name is not None:
            try:
                check_key_name(name)
            except PlanError as exc:
                raise KeyPairError(str(exc)) from None
        key = _key_from_params(module, required=False)
        concurrency, clients = _common_setup(module)
        regions = resolve_regions(module, clients, params.get("regions"), params["all_regions"])
        clients.prepare(regions.work)
        outcome = run_concurrently(regions.work, lambda region: read_key_pairs(clients.get(region), name), concurrency)
        entries, failures = [], {}
        for region, described, exc in outcome:
            if exc is not None:
                failures[region] = "cannot read key pairs: %s" % error_message(exc)
                continue
            entries.extend(_entry(region, item) for item in described if name is None or item.get("KeyName") == name)
        failures.update(regions.refused)
        read_ok = [region for region in regions.work if region not in failures]
        entries.sort(key=lambda item: (item["key_name"] or "", item["region"]))
        result.update(_info_result(name, key, entries, read_ok))
        result["failed_regions"] = sorted(failures)
        result["errors"] = dict(sorted(failures.items()))
        if name is not None and result["missing_in"]:
            found = find_elsewhere(clients, name, regions, concurrency) if regions.explicit else []
            result["found_elsewhere"] = found or []
            result["hint"] = hint_for(name, regions, result["present_in"], found)
        failed_msg, exception = None, None
        if failures:
            failed_msg = "ec2_key_pair_info failed in %d region%s: %s" % (
                len(failures), "" if len(failures) == 1 else "s",
                "; ".join("%s (%s)" % item for item in sorted(failures.items())))
    except KeyPairError as exc:
        failed_msg, exception = exc.msg, exc.exception
    _finish(module, result, failed_msg, exception)


def _info_result(name, key, entries, read_ok):
    reference = key["canonical"] if key else None
    by_name = {}
    for entry in entries:
        by_name.setdefault(entry["key_name"], {})[entry["region"]] = entry["public_key"]
    fingerprints = dict((entry["public_key"], entry["fingerprint"]) for entry in entries if entry["public_key"])
    out = {
        "key_pairs": entries,
        "present_in": [], "missing_in": [], "drift": [],
        "fingerprint": key["fingerprint"] if key else None,
        "reference": "public_key" if key else "none",
        "found_elsewhere": [],
        "hint": None,
    }
    names = {}
    for key_name in sorted(set(by_name) | (set([name]) if name is not None else set())):
        summary = summarize(read_ok, by_name.get(key_name, {}), reference if name is not None else None)
        names[key_name] = {
            "present_in": summary["present_in"], "missing_in": summary["missing_in"], "drift": summary["drift"],
            "reference": summary["reference_source"],
            "fingerprint": fingerprints.get(summary["reference"]) if summary["reference"] else None,
        }
    out["key_names"] = names
    if name is not None:
        summary = names[name]
        out.update(present_in=summary["present_in"], missing_in=summary["missing_in"], drift=summary["drift"],
                   reference=summary["reference"])
        if key:
            summary["fingerprint"] = key["fingerprint"]
        out["fingerprint"] = summary["fingerprint"]
    if key:
        out["matches"] = [{"region": entry["region"], "key_name": entry["key_name"]}
                          for entry in entries if entry["public_key"] == reference]
    return out
