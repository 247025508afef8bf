# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_dates.py: the one definition of UTC dates, ISO parsing and ages."""

import datetime

import pytest

from ansible_collections.keyops.aws.plugins.module_utils import _dates

UTC = datetime.timezone.utc


@pytest.mark.parametrize("text", ["2026-01-02T03:04:05Z", "2026-01-02T03:04:05z", " 2026-01-02T03:04:05+00:00 ",
                                  "2026-01-02T04:04:05+01:00", "2026-01-02T03:04:05"])
def test_parse_iso_reads_z_offsets_and_naive_as_utc(text):
    assert _dates.parse_iso(text) == datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert _dates.parse_iso(text).tzinfo == UTC


@pytest.mark.parametrize("bad", [None, "", "   ", "yesterday", 42])
def test_the_two_parse_iso_behaviours_are_explicit(bad):
    # The old copies disagreed (one raised, one returned None): both exist now, named for what they do.
    with pytest.raises(ValueError):
        _dates.parse_iso(bad)
    assert _dates.parse_iso_or_none(bad) is None


def test_parse_iso_error_quotes_at_most_40_characters():
    with pytest.raises(ValueError) as err:
        _dates.parse_iso("x" * 100)
    assert "x" * 41 not in str(err.value)


def test_datetimes_pass_through_converted_to_utc():
    aware = datetime.datetime(2026, 1, 2, 5, 4, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    assert _dates.parse_iso(aware) == _dates.as_utc(aware)
    assert _dates.as_utc(aware).tzinfo == UTC and _dates.as_utc(aware).hour == 3
    assert _dates.as_utc(datetime.datetime(2026, 1, 2)).tzinfo == UTC
    assert _dates.as_utc(None) is None


def test_iso_and_age_days():
    value = datetime.datetime(2026, 1, 2, 3, 4, 5, 999, tzinfo=UTC)
    assert _dates.iso(value) == "2026-01-02T03:04:05Z"
    assert _dates.iso(None) is None and _dates.iso("as is") == "as is"
    assert _dates.age_days(value, value + datetime.timedelta(days=3, hours=23)) == 3
    assert _dates.age_days(value, value - datetime.timedelta(days=1)) == 0
    assert _dates.age_days(None, value) is None


def test_utcnow_is_aware_utc_without_microseconds():
    now = _dates.utcnow()
    assert now.tzinfo == UTC and now.microsecond == 0


def test_the_old_homes_use_the_one_definition():
    from ansible_collections.keyops.aws.plugins.module_utils import _audit
    assert _audit.parse_iso is _dates.parse_iso
    pytest.importorskip("ansible_collections.amazon.aws.plugins.module_utils.retries")
    from ansible_collections.keyops.aws.plugins.module_utils import _durable_state, _key_pair_rotation_state
    assert _key_pair_rotation_state.parse_iso_or_none is _dates.parse_iso_or_none
    assert _durable_state.parse_iso_or_none is _dates.parse_iso_or_none
