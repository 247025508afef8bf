# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to keyops.aws: may change without notice.

The logic of keyops.aws.access_key_verify: prove that an access key pair works with STS
GetCallerIdentity, tolerating IAM's eventual consistency, and name a failure in words a user
understands.

- ``verify_keys()`` verifies many keys in rounds (one concurrent STS call per due key per round, the
  waits shared by the batch); ``verify_key()`` is the same for one key: bounded backoff, ``required_successes`` consecutive successes (a
  failure after a success restarts the count), retries only on the errors a fresh key shows for a
  few seconds (InvalidClientTokenId, InvalidAccessKeyId, SignatureDoesNotMatch). Its clock, sleep,
  STS client factory and IAM lookup are passed in, so it is tested without a network.
- ``classify()`` turns the last error (and what IAM says about the key) into a reason and a message.
- ``run_module()`` wires it to an AnsibleAWSModule.

No message, warning or result ever holds a secret access key or session token; a malformed key
id is shown only by its first characters (it may be a secret pasted in the wrong field).
"""

import os
import re
import threading
import time

try:
    import boto3
    import botocore.config
    import botocore.credentials
    import botocore.session
    import botocore.exceptions
    _CredentialsBase = botocore.credentials.Credentials
    _ProviderBase = botocore.credentials.CredentialProvider
except ImportError:  # AnsibleAWSModule reports a missing boto3/botocore itself
    _CredentialsBase = _ProviderBase = object

from ansible_collections.amazon.aws.plugins.module_utils.botocore import get_aws_connection_info

from ansible_collections.keyops.aws.plugins.module_utils import _fileops
from ansible_collections.keyops.aws.plugins.module_utils._aws_common import check_concurrency, error_code, run_concurrently
from ansible_collections.keyops.aws.plugins.module_utils._credentials_file import (
    ACCESS_KEY_ID,
    SECRET_ACCESS_KEY,
    SECURITY_TOKEN,
    SESSION_TOKEN,
    CredentialsFile,
    CredentialsFileError,
    check_profile_name,
)
from ansible_collections.keyops.aws.plugins.module_utils._key_ids import key_id_problem, mask_key_id

OK = "ok"
KEY_NOT_FOUND = "key_not_found"
KEY_INACTIVE = "key_inactive"
SECRET_MISMATCH = "secret_mismatch"
MALFORMED_KEY_ID = "malformed_key_id"
TOKEN_EXPIRED = "token_expired"
WRONG_IDENTITY = "wrong_identity"
REASONS = (OK, KEY_NOT_FOUND, KEY_INACTIVE, SECRET_MISMATCH, MALFORMED_KEY_ID, TOKEN_EXPIRED, WRONG_IDENTITY)

UNKNOWN_KEY_CODES = frozenset(("InvalidClientTokenId", "InvalidAccessKeyId", "UnrecognizedClientException", "AuthFailure"))
MISMATCH_CODES = frozenset(("SignatureDoesNotMatch", "IncompleteSignature"))
EXPIRED_CODES = frozenset(("ExpiredToken", "ExpiredTokenException", "RequestExpired"))
# Errors a freshly created key shows for a few seconds: retried until the timeout.
RETRIED_CODES = UNKNOWN_KEY_CODES | MISMATCH_CODES
# A key IAM has listed for this long is settled: its refusal is final, no need to wait for the timeout.
SETTLED_SECONDS = 300
MAX_DELAY = 8.0

MISSING = "missing"  # iam lookup: IAM says the key does not exist

# bounds of the options (the access_key_rotation role uses the same ones for its variables)
MAX_SUCCESSES = 100
MAX_TIMEOUT = 86400
MAX_FIRST_DELAY = 3600
_ACCOUNT_RE = re.compile(r"^[0-9]{12}$")
_ARN_RE = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:([0-9]{12})?:.+$")


class VerifyError(Exception):
    """A problem that stops the task (bad input, an unexpected AWS error); never holds a secret."""


class Policy:
    """How hard to try: consecutive successes needed, time budget, first delay, expected identity."""

    def __init__(self, required_successes=3, timeout=60.0, delay=1.0, expected_account=None, expected_arn=None,
                 max_delay=MAX_DELAY):
        for option, value, low, high, unit in (("required_successes", required_successes, 1, MAX_SUCCESSES, ""),
                                               ("timeout", timeout, 0, MAX_TIMEOUT, " (seconds)"),
                                               ("delay", delay, 0, MAX_FIRST_DELAY, " (seconds)")):
            if value is None or value < low or value > high:
                raise VerifyError("%s must be between %s and %s%s, got %s; no AWS call was made" % (option, low, high, unit, value))
        if expected_account not in (None, "") and not _ACCOUNT_RE.match(str(expected_account)):
            raise VerifyError("expected_account must be a 12-digit AWS account id, got %r; no AWS call was made" % (expected_account,))
        if expected_arn not in (None, "") and not _ARN_RE.match(str(expected_arn)):
            raise VerifyError("expected_arn %r is not an ARN (such as arn:aws:iam::123456789012:user/name); no AWS call was made"
                              % (expected_arn,))
        self.required_successes = required_successes
        self.timeout = float(timeout)
        self.delay = float(delay)
        self.max_delay = max(float(max_delay), self.delay)
        self.expected_account = str(expected_account) if expected_account not in (None, "") else None
        self.expected_arn = expected_arn or None


def _result(access_key_id, name=None):
    return {
        "access_key_id": mask_key_id(access_key_id),
        "name": name,
        "valid": False,
        "reason": None,
        "message": None,
        "arn": None,
        "account": None,
        "user_name": None,
        "attempts": 0,
    }


def identity_problem(identity, policy):
    """None when the identity is the expected one, else a message."""
    arn = identity.get("Arn")
    account = identity.get("Account")
    if policy.expected_account and account != policy.expected_account:
        return "the key belongs to account %s (%s), not to the expected account %s" % (account, arn, policy.expected_account)
    if policy.expected_arn and arn != policy.expected_arn:
        return "the key belongs to %s, not to the expected %s" % (arn, policy.expected_arn)
    return None


def classify(access_key_id, code, facts, waited):
    """(reason, message) for a key STS refused with ``code``; ``facts`` is what IAM says (or None)."""
    shown = mask_key_id(access_key_id)
    if code in EXPIRED_CODES:
        return TOKEN_EXPIRED, "the session token of access key %s has expired (%s): get new temporary credentials" % (shown, code)
    if code in MISMATCH_CODES:
        return SECRET_MISMATCH, (
            "the secret access key does not match access key %s (%s): the key pair is mismatched "
            "(a secret of another key, or a truncated or mistyped secret)" % (shown, code)
        )
    if facts == MISSING:
        return KEY_NOT_FOUND, "access key %s does not exist (deleted, or never created in this account) (%s)" % (shown, code)
    if isinstance(facts, dict):
        if facts.get("status") == "Inactive":
            return KEY_INACTIVE, "access key %s of IAM user %s is Inactive (%s): activate it or use the user's active key" % (
                shown, facts.get("user_name"), code)
        return KEY_NOT_FOUND, (
            "IAM lists access key %s of user %s as %s, but STS still refused it (%s) after %.0f s: IAM may not have "
            "caught up yet (raise timeout), or the key belongs to another partition" % (
                shown, facts.get("user_name"), facts.get("status"), code, waited)
        )
    return KEY_NOT_FOUND, (
        "AWS does not accept access key %s (%s): it was deleted, never existed, or is inactive "
        "(the task's own credentials cannot read IAM to tell which)" % (shown, code)
    )


def _settled(facts, now_epoch):
    if not isinstance(facts, dict):
        return False
    if facts.get("status") == "Inactive":
        return True
    created = facts.get("create_epoch")
    return created is not None and now_epoch - created > SETTLED_SECONDS


class _Check:
    """One key's verification as a state machine: attempt() makes one STS call and says how long to
    wait before the next one (None: decided). verify_key() drives one key, verify_keys() many in rounds."""

    def __init__(self, key, policy, start):
        self.key = key
        self.policy = policy
        self.start = start
        self.result = _result(key.get("access_key_id"), key.get("name"))
        self.successes = 0
        self.wait = policy.delay

    def precheck(self):
        """True when the key is decided without any AWS call (malformed id). VerifyError without a secret."""
        problem = key_id_problem(self.key.get("access_key_id"))
        if problem:
            source = self.key.get("source")
            self.result.update(reason=MALFORMED_KEY_ID, message=("%s: " % source if source else "") + problem + "; no AWS call was made")
            return True
        if not self.key.get("secret_access_key"):
            raise VerifyError("no secret access key given for access key %s" % self.key.get("access_key_id"))
        return False

    def attempt(self, client, iam_lookup, clock, wall):
        access_key_id = self.key.get("access_key_id")
        policy = self.policy
        result = self.result
        result["attempts"] += 1
        try:
            identity = client.get_caller_identity()
        except botocore.exceptions.ClientError as exc:
            code = error_code(exc)
            self.successes = 0
            if code in EXPIRED_CODES:
                reason, message = classify(access_key_id, code, None, clock() - self.start)
                result.update(reason=reason, message=message)
                return None
            if code not in RETRIED_CODES:
                raise VerifyError("verifying access key %s: AWS answered %s" % (access_key_id, code)) from None
            facts = iam_lookup(access_key_id)
            if isinstance(facts, dict):
                result["user_name"] = facts.get("user_name")
            waited = clock() - self.start
            if _settled(facts, wall()) or waited + self.wait > policy.timeout:
                reason, message = classify(access_key_id, code, facts, waited)
                result.update(reason=reason, message=message)
                return None
            wait = self.wait
            self.wait = min(self.wait * 2, policy.max_delay)
            return wait
        except botocore.exceptions.BotoCoreError as exc:
            raise VerifyError("verifying access key %s: %s" % (access_key_id, type(exc).__name__)) from None
        problem = identity_problem(identity, policy)
        result.update(arn=identity.get("Arn"), account=identity.get("Account"))
        if problem:
            result.update(reason=WRONG_IDENTITY, message="access key %s works, but %s" % (access_key_id, problem))
            return None
        self.successes += 1
        if self.successes >= policy.required_successes:
            arn = identity.get("Arn") or ""
            if ":user/" in arn:
                result["user_name"] = arn.rsplit("/", 1)[-1]
            result.update(
                valid=True, reason=OK,
                message="access key %s works as %s (%d consecutive successes)" % (access_key_id, arn, self.successes),
            )
            return None
        return policy.delay


def verify_key(key, sts_for, iam_lookup, policy, clock=time.monotonic, sleep=time.sleep, wall=time.time):
    """Verify one key pair; returns the result dict (``valid``, ``reason``, ``message``, ...).

    key: {access_key_id, secret_access_key, session_token, name}; sts_for(key) -> an STS client for
    that key; iam_lookup(access_key_id) -> {user_name, status, create_epoch} | MISSING | None.
    Raises VerifyError for errors that say nothing about the key (network, throttling beyond
    botocore's retries, an unexpected code).
    """
    check = _Check(key, policy, 0.0)
    if check.precheck():
        return check.result
    client = sts_for(key)
    check.start = clock()
    while True:
        wait = check.attempt(client, iam_lookup, clock, wall)
        if wait is None:
            return check.result
        sleep(wait)


def verify_keys(keys, sts_for, iam_lookup, policy, concurrency=16, clock=time.monotonic, sleep=time.sleep, wall=time.time):
    """Verify many key pairs together, in rounds: each round makes one STS call for every key that is
    due, concurrently; the waits (IAM's propagation delay, the delay between successes, the backoff)
    are waited once for the whole batch, so 1000 keys take about as long as one. A key's wait runs
    from its own call: when a round takes longer than the delay, the waits overlap the calls.

    Returns ``[(key, result, exception)]`` in the order of ``keys``: a VerifyError (never holding a
    secret) for a key whose check stopped on an error that says nothing about the key.
    """
    checks = [_Check(key, policy, 0.0) for key in keys]
    outcome = [None] * len(checks)
    clients = {}
    active = []
    for index, check in enumerate(checks):
        try:
            if check.precheck():
                outcome[index] = (check.key, check.result, None)
                continue
            clients[index] = sts_for(check.key)
        except Exception as exc:  # pylint: disable=broad-except
            outcome[index] = (check.key, None, exc)
            continue
        active.append(index)

    def attempt(index):
        return checks[index].attempt(clients[index], iam_lookup, clock, wall), clock()

    start = clock()
    due = {}
    for index in active:
        checks[index].start = start
        due[index] = start
    while active:
        now = clock()
        ready = [index for index in active if due[index] <= now]
        if not ready:
            sleep(max(0.0, min(due[index] for index in active) - now))
            continue
        results = run_concurrently(ready, attempt, concurrency)
        finished = set()
        for index, answer, exc in results:
            if exc is not None:
                outcome[index] = (checks[index].key, None, exc)
                finished.add(index)
            elif answer[0] is None:
                outcome[index] = (checks[index].key, checks[index].result, None)
                finished.add(index)
            else:
                # each key waits from its own call, not from the end of the round: a key checked early
                # in a long round is due again while the round still runs, so the next round starts
                # at once and the waits overlap the calls instead of adding to them
                due[index] = answer[1] + answer[0]
        active = [index for index in active if index not in finished]
    return outcome


# ---------------------------------------------------------------------- AWS wiring
def make_iam_lookup(iam):
    """An iam_lookup for verify_key using the task's own credentials; None results when IAM is unreadable."""

    def lookup(access_key_id):
        try:
            user = iam.get_access_key_last_used(AccessKeyId=access_key_id).get("UserName")
        except botocore.exceptions.ClientError as exc:
            return MISSING if error_code(exc) == "NoSuchEntity" else None
        except botocore.exceptions.BotoCoreError:
            return None
        if not user:
            return None
        try:
            pages = iam.get_paginator("list_access_keys").paginate(UserName=user)
            for page in pages:
                for item in page.get("AccessKeyMetadata", []):
                    if item.get("AccessKeyId") == access_key_id:
                        created = item.get("CreateDate")
                        return {
                            "user_name": user,
                            "status": item.get("Status"),
                            "create_epoch": created.timestamp() if hasattr(created, "timestamp") else None,
                        }
        except botocore.exceptions.ClientError as exc:
            return MISSING if error_code(exc) == "NoSuchEntity" else {"user_name": user, "status": None, "create_epoch": None}
        except botocore.exceptions.BotoCoreError:
            return None
        return MISSING

    return lookup


class _ThreadKeyCredentials(_CredentialsBase):
    """Credentials that are a different key in each thread: one STS client (one connection pool, built
    once) signs every thread's calls with the key that thread is verifying. botocore reads the
    credentials when it signs a request, in the thread that makes the call (retries too)."""

    def __init__(self):  # pylint: disable=super-init-not-called  # the values live per thread
        self._local = threading.local()
        self.method = "keyops-verify"

    def use(self, frozen):
        self._local.frozen = frozen

    def get_frozen_credentials(self):
        frozen = getattr(self._local, "frozen", None)
        if frozen is None:
            raise VerifyError("internal error: an STS call without a key to sign it")
        return frozen

    access_key = property(lambda self: self.get_frozen_credentials().access_key)
    secret_key = property(lambda self: self.get_frozen_credentials().secret_key)
    token = property(lambda self: self.get_frozen_credentials().token)
    account_id = None


class _ThreadKeyProvider(_ProviderBase):
    METHOD = "keyops-verify"

    def __init__(self, credentials):
        super().__init__()
        self._credentials = credentials

    def load(self):
        return self._credentials


class _KeySTS:
    """What verify_keys() calls for one key: the shared STS client, signed with this key."""

    def __init__(self, client, credentials, frozen):
        self._client = client
        self._credentials = credentials
        self._frozen = frozen

    def get_caller_identity(self):
        self._credentials.use(self._frozen)
        try:
            return self._client.get_caller_identity()
        finally:
            self._credentials.use(None)


def _frozen(key):
    values = [key["access_key_id"], key["secret_access_key"], key.get("session_token") or None]
    fields = botocore.credentials.ReadOnlyCredentials._fields
    return botocore.credentials.ReadOnlyCredentials(*(values + [None] * (len(fields) - len(values))))


def sts_factory(module, config):
    """sts_for(key): STS GetCallerIdentity signed with that key, through one STS client for all keys
    (a client per key cost 7-15 ms of CPU each and one connection per key, growing with the batch),
    with the task's region, endpoint, certificate settings and aws_config, never its credentials or
    profile: the client's only credentials are the key of the calling thread."""
    region, endpoint, params = get_aws_connection_info(module)
    user_config = params.get("aws_config")
    merged = user_config.merge(config) if user_config is not None else config
    extra = {}
    if "verify" in params:
        extra["verify"] = params["verify"]
    credentials = _ThreadKeyCredentials()
    core = botocore.session.Session()
    core.register_component("credential_provider", botocore.credentials.CredentialResolver([_ThreadKeyProvider(credentials)]))
    client = boto3.session.Session(botocore_session=core).client("sts", region_name=region, endpoint_url=endpoint, config=merged, **extra)

    def sts_for(key):
        return _KeySTS(client, credentials, _frozen(key))

    return sts_for


def read_profile_key(path, profile_name):
    """{access_key_id, secret_access_key, session_token, name} from a credentials file on this host."""
    try:
        data = _fileops.read_regular_file(path, follow=True)
    except _fileops.FileOpError as exc:
        raise VerifyError(str(exc)) from None
    if data is None:
        raise VerifyError("%s does not exist" % path)
    try:
        parsed = CredentialsFile.parse(data)
    except CredentialsFileError as exc:
        raise VerifyError("%s is not a valid AWS credentials file: %s" % (path, exc)) from None
    section = parsed.find_profile(profile_name)
    if section is None:
        raise VerifyError("%s has no profile %s" % (path, profile_name))
    key_id = parsed.option_value(section, ACCESS_KEY_ID)
    secret = parsed.option_value(section, SECRET_ACCESS_KEY)
    if not key_id or not secret:
        raise VerifyError("profile %s in %s has no aws_access_key_id and aws_secret_access_key" % (profile_name, path))
    token = parsed.option_value(section, SESSION_TOKEN) or parsed.option_value(section, SECURITY_TOKEN)
    return {"access_key_id": key_id, "secret_access_key": secret, "session_token": token or None, "name": profile_name}


def _keys_from_params(params):
    if params.get("keys"):
        # a key with a name (a holder: the audit, the rotation role) is reported under that name
        return [dict(item, source=None if item.get("name") else "keys[%d].access_key_id" % index)
                for index, item in enumerate(params["keys"])], True
    if params.get("path"):
        profile_name = params.get("profile_name") or "default"
        try:
            check_profile_name(profile_name)
        except CredentialsFileError as exc:
            raise VerifyError("profile_name: %s" % exc) from None
        key = read_profile_key(os.path.expanduser(params["path"]), profile_name)
        return [dict(key, source="profile %s of %s" % (profile_name, params["path"]))], False
    if params.get("access_key_id"):
        return [{
            "access_key_id": params["access_key_id"],
            "secret_access_key": params.get("secret_access_key"),
            "session_token": params.get("key_session_token"),
            "name": None,
            "source": "access_key_id",
        }], False
    raise VerifyError("one of access_key_id, path or keys is required")


def run_module(module):
    params = module.params
    try:
        policy = Policy(
            required_successes=params["required_successes"], timeout=params["timeout"], delay=params["delay"],
            expected_account=params.get("expected_account"), expected_arn=params.get("expected_arn"),
        )
        keys, many = _keys_from_params(params)
        check_concurrency(params["concurrency"])
    except (VerifyError, ValueError) as exc:
        module.fail_json(msg=str(exc))

    config = botocore.config.Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=max(10, params["concurrency"]))

    sts_for = sts_factory(module, config)
    iam_lookup = make_iam_lookup(module.client("iam", config=config))
    outcomes = verify_keys(keys, sts_for, iam_lookup, policy, params["concurrency"])
    results = []
    errors = []
    for key, result, exc in outcomes:
        if exc is not None:
            if not isinstance(exc, VerifyError):
                exc = VerifyError("verifying access key %s: %s" % (mask_key_id(key.get("access_key_id")), type(exc).__name__))
            errors.append(str(exc))
            continue
        results.append(result)
    if errors:
        module.fail_json(msg="; ".join(errors), results=results)
    if many:
        invalid = [item for item in results if not item["valid"]]
        output = {
            "changed": False,
            "valid": not invalid,
            "reason": OK if not invalid else invalid[0]["reason"],
            "message": "%d of %d keys work" % (len(results) - len(invalid), len(results)),
            "results": results,
            "invalid_keys": [item["access_key_id"] for item in invalid],
        }
    else:
        output = dict(results[0], changed=False)
        invalid = [] if output["valid"] else [output]
    if invalid and params["fail_on_invalid"]:
        messages = [item["message"] for item in invalid]
        module.fail_json(msg="; ".join(messages), **{k: v for k, v in output.items() if k != "changed"})
    module.exit_json(**output)
