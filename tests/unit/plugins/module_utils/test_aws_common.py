# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_aws_common.py: the concurrency runner, error codes, dates."""

import datetime
import threading
import time

import pytest

from ansible_collections.keyops.aws.plugins.module_utils._aws_common import (
    age_days,
    check_concurrency,
    error_code,
    error_message,
    iso,
    parse_iso,
    run_concurrently,
)

UTC = datetime.timezone.utc


def test_run_concurrently_keeps_order_and_collects_exceptions():
    def work(item):
        time.sleep(0.01 * (5 - item))
        if item == 2:
            raise ValueError("two")
        return item * 10

    results = run_concurrently(range(5), work, 3)
    assert [r[0] for r in results] == [0, 1, 2, 3, 4]
    assert [r[1] for r in results] == [0, 10, None, 30, 40]
    assert isinstance(results[2][2], ValueError) and results[0][2] is None


def test_run_concurrently_is_bounded():
    running, peak, lock = [0], [0], threading.Lock()

    def work(_item):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1

    run_concurrently(range(20), work, 4)
    assert 1 < peak[0] <= 4
    assert run_concurrently([], work, 4) == []


def test_error_code_and_message():
    class Fake(Exception):
        response = {"Error": {"Code": "NoSuchEntity", "Message": "gone"}}

    assert error_code(Fake()) == "NoSuchEntity" and error_message(Fake()) == "NoSuchEntity: gone"
    assert error_code(ValueError("x")) is None and error_message(ValueError("x")) == "x"


def test_dates():
    moment = datetime.datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC)
    assert iso(moment) == "2026-01-02T03:04:05Z" and iso(None) is None
    assert iso(datetime.datetime(2026, 1, 2, 4, 4, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))) == "2026-01-02T03:04:05Z"
    assert parse_iso("2026-01-02T03:04:05Z") == moment.replace(microsecond=0)
    assert parse_iso("2026-01-02T03:04:05+00:00") == moment.replace(microsecond=0)
    assert parse_iso("2026-01-02T03:04:05").tzinfo is not None
    for bad in ("", "yesterday", None):
        with pytest.raises(ValueError):
            parse_iso(bad)
    assert age_days(moment, moment + datetime.timedelta(days=3, hours=23)) == 3
    assert age_days(moment, moment - datetime.timedelta(days=1)) == 0 and age_days(None, moment) is None


def test_check_concurrency():
    assert check_concurrency(16) == 16
    for bad in (0, -1, 1000, None):
        with pytest.raises(ValueError):
            check_concurrency(bad)


def test_known_ec2_regions_cover_every_partition_and_refuse_made_up_names():
    from ansible_collections.keyops.aws.plugins.module_utils._aws_common import known_ec2_regions, unknown_ec2_regions

    known = known_ec2_regions()
    assert {"us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1"} <= known
    assert unknown_ec2_regions(["us-east-1", "moon-1", "moon-east-1", "eu-west-1"]) == ["moon-1", "moon-east-1"]
    assert unknown_ec2_regions(["a"], known={"a"}) == []
