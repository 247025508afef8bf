# -*- coding: utf-8 -*-
# Copyright: keyops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Booleans, defined once: ansible-core's own rule (``convert_bool.boolean`` with ``strict=True``).

True: ``True``, ``1``, and the strings yes, on, y, t, true, 1 (any case, surrounding spaces ignored);
false: ``False``, ``0``, and no, off, n, f, false, 0. Anything else (``None``, 2, the empty string,
a list, "maybe") is refused, so every module and role variable reads booleans as Ansible does.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.parsing.convert_bool import boolean

BOOLEAN_RULE = "true or false (yes/no, on/off, 1/0)"


def parse_bool(value):
    """The boolean ``value`` stands for; ValueError (without the value) when it stands for none."""
    try:
        return boolean(value, strict=True)
    except TypeError:
        raise ValueError("must be %s" % BOOLEAN_RULE) from None
