# -*- coding: utf-8 -*-
# Copyright: keyops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Dates, defined once: UTC now, UTC normalisation, ISO 8601 text and parsing, ages in days.

Pure (no AWS, no I/O), so planners, the audit and action plugins can all use it.

Rules chosen (the copies this replaces disagreed):

- a naive datetime is taken as UTC; an aware one is converted to UTC;
- ISO text accepts ``Z``/``z`` or an offset, surrounding blanks are ignored;
- ``parse_iso`` raises ValueError for anything that is not a date (callers that validate input);
  ``parse_iso_or_none`` returns None instead (callers reading recorded dates that fall back to
  another source, e.g. a file's mtime). Both accept a datetime as well as text.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime


def utcnow():
    """The current time, timezone-aware UTC, without microseconds."""
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def as_utc(value):
    """A datetime in UTC (naive values are taken as UTC); None stays None."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=datetime.timezone.utc)
    return value.astimezone(datetime.timezone.utc)


def iso(value):
    """ISO 8601 UTC text (``2026-01-02T03:04:05Z``) of a datetime; None stays None; strings pass."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return as_utc(value).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text):
    """A timezone-aware UTC datetime from ISO 8601 text (``Z`` or an offset; naive = UTC) or a datetime.

    Raises ValueError on anything that is not a date (the message quotes at most 40 characters).
    """
    if isinstance(text, datetime.datetime):
        return as_utc(text)
    if not isinstance(text, str) or not text.strip():
        raise ValueError("not an ISO 8601 date: %r" % (text,))
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        return as_utc(datetime.datetime.fromisoformat(value))
    except ValueError:
        raise ValueError("not an ISO 8601 date: %r" % (text[:40],)) from None


def parse_iso_or_none(text):
    """Like parse_iso, but None (instead of ValueError) for missing or unreadable text."""
    try:
        return parse_iso(text)
    except ValueError:
        return None


def age_days(value, now):
    """Whole days (floored, never negative) from ``value`` to ``now``; None when value is None."""
    if value is None:
        return None
    delta = as_utc(now) - as_utc(value)
    return max(0, delta.days)
