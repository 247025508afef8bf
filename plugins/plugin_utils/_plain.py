# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to keyops.aws: may change without notice.

Task variables and results as the roles' bookkeeping (pure functions) expects them.
"""

from collections.abc import Mapping, Sequence


def plain(value):
    """Ansible's lazy/tagged containers as plain dicts, lists and strings."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (bytes, bool, int, float)) or value is None:
        return value
    if isinstance(value, (Sequence, set)):
        return [plain(v) for v in value]
    return value
