# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for keyops.aws.secretsmanager_credentials: a result holding a secret (return_secrets) is never displayed (see plugin_utils/_secret_result.py)."""

from ansible_collections.keyops.aws.plugins.plugin_utils._secret_result import SecretResultAction


class ActionModule(SecretResultAction):
    """Runs keyops.aws.secretsmanager_credentials and hides a displayed result that carries a secret."""
