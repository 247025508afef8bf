# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to keyops.aws: may change without notice.

Action plugin base for modules whose result can carry a secret (a new secret access key, a secret
read back from a credentials file). The module returns the secret in a field documented as secret;
this action marks such a result no_log, so no callback prints it at any verbosity, while a
registered variable still holds it for the next task (which must itself use no_log). The raw
transport output (which ssh prints at -vvv) is censored for these tasks as well.
"""

from ansible.plugins.action import ActionBase

# Keys whose non-empty string values are secrets, wherever they are nested in a result.
SECRET_KEYS = frozenset(("secret_access_key", "session_token", "aws_secret_access_key", "aws_session_token"))


def contains_secret(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in SECRET_KEYS and isinstance(value, str) and value:
                return True
            if contains_secret(value):
                return True
    elif isinstance(node, (list, tuple)):
        return any(contains_secret(item) for item in node)
    return False


class SecretResultAction(ActionBase):
    """Run the module of the same name; hide the whole displayed result when it holds a secret."""

    _supports_check_mode = True
    _supports_async = False

    def process_result(self, result, task_vars):  # pylint: disable=unused-argument
        """Hook for subclasses: act on the module's result on the controller before it is returned."""
        return result

    def check_args(self, task_vars):  # pylint: disable=unused-argument
        """Hook for subclasses: a message when the task cannot run as given (checked before the module runs)."""
        return None

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        problem = self.check_args(task_vars)
        if problem:
            result.update(failed=True, msg=problem)
            return result
        # The connection plugin (ssh) prints the module's raw output at -vvv unless the play context
        # says no_log: this task's play context is its own copy, so only this task's transport
        # logging is censored.
        self._play_context.no_log = True
        result.update(self._execute_module(module_name=self._task.resolved_action, module_args=self._task.args, task_vars=task_vars))
        result = self.process_result(result, task_vars)
        if contains_secret(result):
            result["_ansible_no_log"] = True
        return result
