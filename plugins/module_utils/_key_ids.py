# -*- coding: utf-8 -*-
# Copyright: keyops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Access key ids, defined once: the pattern, validation with a reason, masking.

One rule everywhere (modules, the audit, the escrow action plugin): an access key id is 20 characters,
``AKIA`` (long-term IAM user key) or ``ASIA`` (temporary STS key) followed by 16 upper-case letters or
digits. ``_iam`` used to accept any 16-128 characters of ``[A-Z0-9]``, ids the escrow then refused;
it now uses this rule too, so a malformed id is refused before the first AWS call.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

KEY_ID_RE = re.compile(r"^(AKIA|ASIA)[A-Z0-9]{16}$")
KEY_ID_RULE = "20 characters, AKIA or ASIA then uppercase letters and digits"


def is_key_id(value):
    """True when value is a well-formed access key id."""
    return isinstance(value, str) and bool(KEY_ID_RE.match(value))


def key_id_problem(key_id):
    """None when key_id looks like an AWS access key id, else a description that never repeats it."""
    if not isinstance(key_id, str) or not key_id:
        return "the access key id is empty"
    if KEY_ID_RE.match(key_id):
        return None
    problems = []
    if len(key_id) != 20:
        problems.append("it has %d characters, not 20" % len(key_id))
    if not key_id.startswith(("AKIA", "ASIA")):
        problems.append("it does not start with AKIA or ASIA")
    if not re.match(r"^[A-Z0-9]*$", key_id):
        problems.append("it holds characters other than uppercase letters and digits")
    return "the access key id is malformed (%s)" % "; ".join(problems)


def mask_key_id(key_id):
    """A key id safe to show: itself when well formed, else only its first 4 characters."""
    if is_key_id(key_id):
        return key_id
    if not isinstance(key_id, str):
        return None
    return (key_id[:4] + "...") if len(key_id) > 4 else "..."
