# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to keyops.aws: may change without notice.

Small helpers shared by the AWS modules of keyops.aws:

- ``run_concurrently(items, fn, concurrency)``: work a list with a bounded thread pool, collecting
  ``(item, result, exception)`` in input order (one item failing never stops the others);
- ``known_ec2_regions()``, ``unknown_ec2_regions(regions)``: region names checked against botocore's
  endpoint data for every partition, before any call (a typo such as ``moon-1`` never reaches AWS);
- ``error_code(exc)``: the AWS error code of a botocore ``ClientError`` (else ``None``);
- ``utcnow()``, ``as_utc(dt)``, ``iso(dt)``, ``parse_iso(text)``, ``age_days(dt, now)``: re-exported from ``_dates``;
- ``client_pair(module, service, concurrency)``: a reading client (retried with
  ``AWSRetry.jittered_backoff`` when called with ``aws_retry=True``) and a writing client that never
  retries (botocore's own retries switched off too), both sized for ``concurrency`` threads.
  boto3 clients are thread-safe; one of each per service and region is shared by all threads.
"""

from concurrent.futures import ThreadPoolExecutor

try:
    import botocore.config
except ImportError:  # AnsibleAWSModule reports a missing boto3/botocore itself
    pass

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.keyops.aws.plugins.module_utils._dates import age_days, as_utc, iso, parse_iso, utcnow  # noqa: F401 pylint: disable=unused-import

DEFAULT_CONCURRENCY = 16
MAX_CONCURRENCY = 256

# Shared argument spec entry; mirrors the keyops.aws.concurrency doc fragment.
CONCURRENCY_ARGSPEC = dict(concurrency=dict(type="int", default=DEFAULT_CONCURRENCY))


def check_concurrency(value):
    """Return value if it is a usable thread count, else raise ValueError with a clear message."""
    if value is None or value < 1 or value > MAX_CONCURRENCY:
        raise ValueError("concurrency must be between 1 and %d, got %r" % (MAX_CONCURRENCY, value))
    return value


_KNOWN_EC2_REGIONS = []


def known_ec2_regions():
    """Every EC2 region botocore knows, over all partitions (aws, aws-cn, aws-us-gov, ...); read once."""
    if not _KNOWN_EC2_REGIONS:
        import botocore.session  # pylint: disable=import-outside-toplevel

        session = botocore.session.Session()
        regions = set()
        for partition in session.get_available_partitions():
            regions.update(session.get_available_regions("ec2", partition_name=partition))
        _KNOWN_EC2_REGIONS.append(frozenset(regions))
    return set(_KNOWN_EC2_REGIONS[0])


def unknown_ec2_regions(regions, known=None):
    """The names of ``regions`` (order kept) that are not an EC2 region of any partition botocore knows."""
    known = known_ec2_regions() if known is None else known
    return [region for region in regions if region not in known]


def run_concurrently(items, fn, concurrency=DEFAULT_CONCURRENCY):
    """Call ``fn(item)`` for every item on at most ``concurrency`` threads.

    Returns a list of ``(item, result, exception)`` tuples in the order of ``items``; exactly one of
    result/exception is meaningful (exception is None on success). Exceptions are collected, never
    raised, so one failing item does not stop the others. ``BaseException`` that is not an
    ``Exception`` (KeyboardInterrupt, SystemExit) still propagates.
    """
    items = list(items)
    if not items:
        return []

    def _call(item):
        try:
            return item, fn(item), None
        except Exception as exc:  # pylint: disable=broad-except
            return item, None, exc

    workers = max(1, min(int(concurrency or 1), len(items)))
    if workers == 1:
        return [_call(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_call, items))


def error_code(exc):
    """The AWS error code (``"NoSuchEntity"``, ``"LimitExceeded"``...) of a ClientError, else None."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return (response.get("Error") or {}).get("Code")
    return None


def error_message(exc):
    """A short human-readable text for an exception (the AWS message when there is one)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        err = response.get("Error") or {}
        if err.get("Code") or err.get("Message"):
            return "%s: %s" % (err.get("Code") or "Error", err.get("Message") or "")
    return str(exc) or type(exc).__name__


def botocore_config(concurrency, retries=True):
    """Keyword ``config`` for a client used by ``concurrency`` threads.

    With ``retries=False`` botocore makes exactly one attempt per call (for non-idempotent writes).
    """
    config = {"max_pool_connections": max(10, int(concurrency or 1) + 4)}
    if not retries:
        config["retries"] = {"total_max_attempts": 1, "mode": "standard"}
    return botocore.config.Config(**config)


def client_pair(module, service, concurrency=DEFAULT_CONCURRENCY, **extra):
    """``(reader, writer)`` clients of ``service`` for an AnsibleAWSModule.

    ``reader`` is an amazon.aws retrying wrapper: call with ``aws_retry=True`` for a jittered backoff.
    ``writer`` is a plain client that never retries (no decorator, botocore retries off): use it for
    calls that must not be repeated, e.g. CreateAccessKey.
    """
    reader = module.client(service, retry_decorator=AWSRetry.jittered_backoff(retries=8, delay=1, max_delay=20),
                           config=botocore_config(concurrency), **extra)
    # the user's aws_config is merged last by amazon.aws: merge it here first, so that the
    # single-attempt setting always wins for the writer
    user_config = botocore.config.Config(**(module.params.get("aws_config") or {}))
    writer = module.client(service, aws_config=user_config.merge(botocore_config(concurrency, retries=False)), **extra)
    return reader, writer
