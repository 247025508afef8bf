# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the C(concurrency) option shared by the fleet-wide keyops.aws modules."""


class ModuleDocFragment:
    # Mirrors CONCURRENCY_ARGSPEC in plugins/module_utils/_aws_common.py.
    DOCUMENTATION = r"""
options:
  concurrency:
    description:
      - How many items (users, regions) are worked at the same time, each on its own thread
        sharing one AWS client per service and region.
      - Between V(1) and V(256). Lower it when AWS throttles the account.
    type: int
    default: 16
"""
