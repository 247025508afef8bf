# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection as a whole: docs render, the action group reaches amazon.aws, AWS_* env works."""

import glob
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULES = sorted(
    os.path.splitext(os.path.basename(path))[0]
    for path in glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py"))
    if not os.path.basename(path).startswith("_")
)


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_renders_with_examples(bed, module):
    proc = subprocess.run(
        ["ansible-doc", "-t", "module", "keyops.aws.%s" % module], env=bed.env(), capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "EXAMPLES:" in proc.stdout
    assert "keyops.aws.%s" % module in proc.stdout


def test_module_defaults_group_configures_both_collections(bed, ansible_playbook):
    """One group/keyops.aws.aws block sets endpoint/credentials/region for amazon.aws and keyops.aws modules.

    The AWS_* variables are removed from the environment for this run, so only module_defaults can work.
    """
    admin = bed.admin_credentials
    env = {name: None for name in bed.aws_env() if name not in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")}
    ansible_playbook(
        "collection/module_defaults.yml",
        extra_vars={
            "endpoint": bed.endpoint,
            "admin_key": admin["access_key_id"],
            "admin_secret": admin["secret_access_key"],
        },
        env=env,
    )


def test_standard_aws_environment_variables_work(bed, ansible_playbook):
    """AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION alone configure the modules."""
    ansible_playbook("collection/env_only.yml")
