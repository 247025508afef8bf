# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to keyops.aws: may change without notice.

The logic of keyops.aws.secretsmanager_credentials and keyops.aws.ssm_parameter_credentials: AWS key
pairs held in a Secrets Manager JSON secret or in a pair of SSM parameters, written from the
controller, many holders of one account and region per call.

Per holder: validate (pure) -> read the current state -> plan (pure: what to write, if anything) ->
apply unless in check mode. One holder failing never stops the others; the task fails at the end
naming every failed holder. No message and no diff holds a secret; a result holds one only with
return_secrets (reads only: each holder's secret_access_key, which the action plugin hides).
"""

import json
import re

from ansible_collections.keyops.aws.plugins.module_utils._aws_common import (
    CONCURRENCY_ARGSPEC,
    check_concurrency,
    client_pair,
    error_code,
    error_message,
    run_concurrently,
)
from ansible_collections.keyops.aws.plugins.module_utils._credentials_file import MASK, key_id_problem

DEFAULT_ID_KEY = "aws_access_key_id"
DEFAULT_SECRET_KEY = "aws_secret_access_key"
_SECRET_VALUE = re.compile(r"^[A-Za-z0-9/+=]{16,128}$")
# Secrets Manager: names are 1-512 of letters, digits and /_+=.@- ; or a full ARN
_SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$")
# SSM: letters, digits and _.-/ ; a hierarchy starts with /; at most 15 levels; not aws*/ssm* (reserved)
_PARAMETER_NAME = re.compile(r"^[A-Za-z0-9_.\-/]{1,2048}$")


class HolderError(Exception):
    """A problem of one holder, described for the user (never a secret)."""


def _check_pair(where, holder):
    key_id = holder.get("access_key_id")
    secret = holder.get("secret_access_key")
    if key_id is None and secret is None:
        return
    problem = key_id_problem(key_id)
    if problem:
        raise HolderError("%s: access_key_id: %s" % (where, problem))
    if not isinstance(secret, str) or not _SECRET_VALUE.match(secret):
        raise HolderError("%s: secret_access_key is missing or does not look like a secret access key" % where)


def secret_name_problem(secret_id):
    if not isinstance(secret_id, str) or not secret_id:
        return "secret_id is required"
    if _SECRET_ARN.match(secret_id):
        return None
    if secret_id.startswith("arn:"):
        return "secret_id %r looks like an ARN but is not a Secrets Manager secret ARN" % secret_id
    if not _SECRET_NAME.match(secret_id):
        return "secret_id %r is not a valid secret name (1-512 of letters, digits and /_+=.@-)" % secret_id
    return None


def parameter_name_problem(option, name):
    """None when name is a valid SSM parameter name, else the problem naming the option."""
    if not isinstance(name, str) or not name:
        return "%s is required" % option
    if not _PARAMETER_NAME.match(name):
        return "%s %r is not a valid parameter name (letters, digits and _.-/ only)" % (option, name)
    if "/" in name and not name.startswith("/"):
        return "%s %r: a parameter name with a hierarchy must start with /" % (option, name)
    if "//" in name or name.endswith("/"):
        return "%s %r has an empty hierarchy level" % (option, name)
    if name.count("/") > 15:
        return "%s %r has more than 15 hierarchy levels" % (option, name)
    first = name.lstrip("/").lower()
    if first.startswith(("aws", "ssm")):
        return "%s %r: names starting with aws or ssm are reserved by AWS" % (option, name)
    return None


def _validate_holders(holders, check_one):
    """Validated holders, in order: check_one(index, holder, seen) gives each (defaults filled in);
    HolderError naming the first bad one (nothing is read yet)."""
    result = []
    seen = set()
    for index, holder in enumerate(holders or []):
        if not isinstance(holder, dict):
            raise HolderError("holders[%d] must be a dict" % index)
        result.append(check_one(index, holder, seen))
    return result


def _check_secret_holder(index, holder, seen):
    secret_id = holder.get("secret_id")
    where = "holders[%d] (secret_id %s)" % (index, secret_id)
    problem = secret_name_problem(secret_id)
    if problem:
        raise HolderError("holders[%d]: %s" % (index, problem))
    id_key = holder.get("id_key") or DEFAULT_ID_KEY
    secret_key = holder.get("secret_key") or DEFAULT_SECRET_KEY
    if id_key == secret_key:
        raise HolderError("%s: id_key and secret_key must differ" % where)
    if secret_id in seen:
        raise HolderError("%s: the secret is listed twice" % where)
    seen.add(secret_id)
    _check_pair(where, holder)
    if holder.get("create") and _SECRET_ARN.match(secret_id):
        raise HolderError("%s: a secret named by its ARN is never created; use its name with create: true" % where)
    return dict(holder, id_key=id_key, secret_key=secret_key, create=bool(holder.get("create")))


def _check_parameter_holder(index, holder, seen):
    for option in ("id_parameter", "secret_parameter"):
        problem = parameter_name_problem(option, holder.get(option))
        if problem:
            raise HolderError("holders[%d]: %s" % (index, problem))
    where = "holders[%d] (parameter %s)" % (index, holder["secret_parameter"])
    if holder["id_parameter"] == holder["secret_parameter"]:
        raise HolderError("%s: id_parameter and secret_parameter must differ" % where)
    for name in (holder["id_parameter"], holder["secret_parameter"]):
        if name in seen:
            raise HolderError("%s: parameter %s is listed twice" % (where, name))
        seen.add(name)
    _check_pair(where, holder)
    return dict(holder)


def validate_secretsmanager(holders):
    """Validated Secrets Manager holders (defaults filled in); HolderError naming the first bad one."""
    return _validate_holders(holders, _check_secret_holder)


def validate_ssm(holders):
    """Validated SSM parameter pairs; HolderError naming the first bad one."""
    return _validate_holders(holders, _check_parameter_holder)


# ---------------------------------------------------------------------- planning (pure)
def plan_secret(holder, current):
    """current: None (no secret) or the SecretString. Returns {"write": None|"put"|"create", "new": dict|None, ...}."""
    secret_id = holder["secret_id"]
    before = None
    if current is not None:
        try:
            before = json.loads(current)
        except ValueError:
            raise HolderError("secret %s does not hold JSON; nothing was changed" % secret_id) from None
        if not isinstance(before, dict):
            raise HolderError("secret %s does not hold a JSON object; nothing was changed" % secret_id)
    held = before.get(holder["id_key"]) if before is not None else None
    if holder.get("access_key_id") is None:
        held_secret = before.get(holder["secret_key"]) if before is not None else None
        return {"write": None, "before": before, "after": before, "access_key_id": held,
                "secret_access_key": held_secret if isinstance(held_secret, str) and held_secret else None}
    if before is None and not holder["create"]:
        if _SECRET_ARN.match(secret_id):
            raise HolderError("secret %s does not exist (a secret named by its ARN is never created)" % secret_id)
        raise HolderError("secret %s does not exist; set create: true on the holder to create it" % secret_id)
    after = dict(before or {})
    after[holder["id_key"]] = holder["access_key_id"]
    after[holder["secret_key"]] = holder["secret_access_key"]
    if before is not None and after == before:
        return {"write": None, "before": before, "after": before, "access_key_id": held}
    return {"write": "create" if before is None else "put", "before": before, "after": after,
            "access_key_id": holder["access_key_id"]}


def plan_parameters(holder, current):
    """current: {name: {"Value", "Type"}} of the existing parameters. Returns the puts to make, in order."""
    puts = []
    secret_name = holder["secret_parameter"]
    id_name = holder["id_parameter"]
    held_id = (current.get(id_name) or {}).get("Value")
    if holder.get("access_key_id") is None:
        return {"puts": [], "access_key_id": held_id, "secret_access_key": (current.get(secret_name) or {}).get("Value") or None}
    secret = current.get(secret_name)
    if secret is None or secret["Value"] != holder["secret_access_key"] or secret["Type"] != "SecureString":
        put = {"Name": secret_name, "Value": holder["secret_access_key"], "Type": "SecureString", "Overwrite": secret is not None}
        if holder.get("kms_key_id"):
            put["KeyId"] = holder["kms_key_id"]
        puts.append(put)
    id_param = current.get(id_name)
    if id_param is None or id_param["Value"] != holder["access_key_id"]:
        put = {"Name": id_name, "Value": holder["access_key_id"], "Type": (id_param or {}).get("Type") or "String",
               "Overwrite": id_param is not None}
        puts.append(put)
    return {"puts": puts, "access_key_id": holder["access_key_id"], "held_id": held_id}


def _masked_json(data, id_key):
    if data is None:
        return ""
    return json.dumps({key: (value if key == id_key else MASK) for key, value in data.items()}, indent=2, sort_keys=True) + "\n"


# ---------------------------------------------------------------------- the stores (I/O)
def _write_secret(writer, holder, planned):
    secret_id = holder["secret_id"]
    text = json.dumps(planned["after"])
    try:
        if planned["write"] == "create":
            kwargs = {"Name": secret_id, "SecretString": text}
            if holder.get("kms_key_id"):
                kwargs["KmsKeyId"] = holder["kms_key_id"]
            writer.create_secret(**kwargs)
        else:
            writer.put_secret_value(SecretId=secret_id, SecretString=text)
    except Exception as exc:  # pylint: disable=broad-except
        raise HolderError("secret %s: cannot write it: %s" % (secret_id, error_message(exc))) from None


def _secret_work(holder, reader, writer, check_mode):
    secret_id = holder["secret_id"]
    try:
        current = reader.get_secret_value(SecretId=secret_id, aws_retry=True)
    except Exception as exc:  # pylint: disable=broad-except
        if error_code(exc) != "ResourceNotFoundException":
            raise HolderError("secret %s: cannot read it: %s" % (secret_id, error_message(exc))) from None
        current = None
    if current is not None and current.get("SecretString") is None:
        raise HolderError("secret %s holds binary data, not a JSON object; nothing was changed" % secret_id)
    planned = plan_secret(holder, current["SecretString"] if current is not None else None)
    if planned["write"] and not check_mode:
        _write_secret(writer, holder, planned)
    return planned


def _secret_done(holder, planned):
    fields = {"changed": bool(planned["write"]), "action": planned["write"], "access_key_id": planned["access_key_id"]}
    diff = None
    if planned["write"]:
        header = "secret %s\n" % holder["secret_id"]
        diff = (header + _masked_json(planned["before"], holder["id_key"]), header + _masked_json(planned["after"], holder["id_key"]))
    return fields, diff


def _parameters_work(holder, reader, writer, check_mode):
    names = [holder["id_parameter"], holder["secret_parameter"]]
    try:
        response = reader.get_parameters(Names=names, WithDecryption=True, aws_retry=True)
    except Exception as exc:  # pylint: disable=broad-except
        raise HolderError("parameters %s: cannot read them: %s" % (", ".join(names), error_message(exc))) from None
    current = {item["Name"]: {"Value": item["Value"], "Type": item["Type"]} for item in response.get("Parameters", [])}
    planned = plan_parameters(holder, current)
    if not check_mode:
        for put in planned["puts"]:
            try:
                writer.put_parameter(**put)
            except Exception as exc:  # pylint: disable=broad-except
                raise HolderError("parameter %s: cannot write it: %s" % (put["Name"], error_message(exc))) from None
    return planned


def _parameters_done(holder, planned):
    written = [put["Name"] for put in planned["puts"]]
    fields = {"changed": bool(written), "written": written, "access_key_id": planned["access_key_id"]}
    diff = None
    if written:
        new_secret = "%s(new)" % MASK if holder["secret_parameter"] in written else MASK
        diff = (
            "%s = %s\n%s = %s\n" % (holder["id_parameter"], planned.get("held_id"), holder["secret_parameter"], MASK),
            "%s = %s\n%s = %s (SecureString)\n" % (holder["id_parameter"], planned["access_key_id"], holder["secret_parameter"], new_secret),
        )
    return fields, diff


class Store(object):
    """What differs between the two holder modules; run_store() does the rest."""

    def __init__(self, service, validate, work, done, identity, label, describe):
        self.service = service  # the boto3 client
        self.validate = validate  # holders -> validated holders (HolderError)
        self.work = work  # (holder, reader, writer, check_mode) -> planned: read, plan, write unless check mode
        self.done = done  # (holder, planned) -> (result fields, (diff before, diff after) or None)
        self.identity = identity  # holder -> the result fields that name it, with the empty fields of a failure
        self.label = label  # the identity field listed in failed_holders
        self.describe = describe  # holder -> how a message names it


SECRETSMANAGER = Store(
    "secretsmanager", validate_secretsmanager, _secret_work, _secret_done,
    lambda holder: {"secret_id": holder["secret_id"], "action": None},
    "secret_id", lambda holder: "secret %s" % holder["secret_id"],
)
SSM = Store(
    "ssm", validate_ssm, _parameters_work, _parameters_done,
    lambda holder: {"id_parameter": holder["id_parameter"], "secret_parameter": holder["secret_parameter"], "written": []},
    "secret_parameter", lambda holder: "parameters %s" % holder["secret_parameter"],
)


# ---------------------------------------------------------------------- the runner
def holders_argument_spec(holder_options):
    """The argument_spec of a holder module: its holders' options, return_secrets, and concurrency."""
    return dict(holders=dict(type="list", elements="dict", required=True, no_log=False, options=holder_options),
                return_secrets=dict(type="bool", default=False), **CONCURRENCY_ARGSPEC)


def check_return_secrets(return_secrets, holders):
    """None, or the message when return_secrets is asked of a call that writes (it is for reads only)."""
    if not return_secrets:
        return None
    writing = [index for index, holder in enumerate(holders or []) if isinstance(holder, dict) and holder.get("access_key_id") is not None]
    if writing:
        return "return_secrets is for reads only: holders[%d] sets access_key_id" % writing[0]
    return None


def _finish(module, results, diffs, label):
    failed = [item for item in results if item.get("failed")]
    changed = any(item.get("changed") for item in results)
    out = {"changed": changed, "holders": results, "failed_holders": [item[label] for item in failed]}
    if module._diff and diffs:
        out["diff"] = {"before": "".join(d[0] for d in diffs), "after": "".join(d[1] for d in diffs)}
    if failed:
        module.fail_json(msg="; ".join(item["msg"] for item in failed), **out)
    module.exit_json(**out)


def _hide_secrets(module, holders):
    for holder in holders or []:
        if isinstance(holder, dict) and holder.get("secret_access_key"):
            module.no_log_values.add(str(holder["secret_access_key"]))


def run_store(module, store):
    """Validate every holder, then per holder (concurrently): read, plan, write unless in check mode."""
    params = module.params
    _hide_secrets(module, params.get("holders"))
    try:
        concurrency = check_concurrency(params.get("concurrency"))
        holders = store.validate(params.get("holders"))
        problem = check_return_secrets(params.get("return_secrets"), holders)
        if problem:
            raise HolderError(problem)
    except (HolderError, ValueError) as exc:
        module.fail_json(msg="%s; nothing was changed" % exc, holders=[], failed_holders=[])
    reader, writer = client_pair(module, store.service, concurrency)

    def work(holder):
        return store.work(holder, reader, writer, module.check_mode)

    results, diffs = [], []
    for holder, planned, exc in run_concurrently(holders, work, concurrency):
        item = dict(store.identity(holder), changed=False, failed=False, msg="", access_key_id=None)
        if exc is not None:
            item.update(failed=True, msg=str(exc) if isinstance(exc, HolderError) else
                        "%s: %s" % (store.describe(holder), error_message(exc)))
        else:
            fields, diff = store.done(holder, planned)
            item.update(fields)
            if params.get("return_secrets"):
                item["secret_access_key"] = planned.get("secret_access_key")
            if diff:
                diffs.append(diff)
        results.append(item)
    _finish(module, results, diffs, store.label)
