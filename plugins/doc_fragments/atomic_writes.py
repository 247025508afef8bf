# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""For the file modules that take ansible-core's file common arguments (add_file_common_args).

List it before C(ansible.builtin.files): the first fragment that documents an option wins, so this
text replaces ansible-core's for O(unsafe_writes), which these modules accept and never use.
"""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  unsafe_writes:
    description:
      - Not used - the file is always replaced atomically (a temporary file in the same directory, then a rename).
    type: bool
    default: false
"""
