# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""File modes, defined once (_fileops.parse_mode): the file modules and the audit read them by one rule;
only what None means differs, and each caller says it."""

import pytest

from ansible_collections.keyops.aws.plugins.module_utils import _audit, _credentials_profile, _env_file, _fileops


@pytest.mark.parametrize("mode, value", [("0600", 0o600), ("600", 0o600), ("0o640", 0o640), (0o644, 0o644), (384, 0o600)])
def test_one_rule_for_every_caller(mode, value):
    assert _fileops.parse_mode(mode) == value
    assert _credentials_profile.parse_mode(mode) == value
    assert _env_file.parse_mode(mode) == value
    assert _audit.parse_mode(mode) == value


def test_what_none_means_is_the_callers_choice():
    assert _fileops.parse_mode(None) == 0o600  # a file module writes a file that holds secrets
    assert _fileops.parse_mode(None, default=None) is None
    assert _credentials_profile.parse_mode(None) == 0o600
    assert _env_file.parse_mode(None) == 0o600
    assert _audit.parse_mode(None) is None and _audit.parse_mode("") is None  # the host did not say


def test_the_audit_reads_stat_numbers_with_their_file_type_bits():
    assert _audit.parse_mode(0o100640) == 0o640
    assert _audit.format_mode(0o100600) == "0600"


@pytest.mark.parametrize("mode", ["rw-------", "0999", "", 0o17777, True])
def test_refused_by_every_file_module(mode):
    with pytest.raises(_fileops.FileOpError):
        _fileops.parse_mode(mode)
    with pytest.raises(_credentials_profile.ProfileError):
        _credentials_profile.parse_mode(mode)
    with pytest.raises(_env_file.EnvFileError):
        _env_file.parse_mode(mode)


def test_the_audit_refuses_what_is_not_a_mode():
    with pytest.raises(_audit.AuditError, match="mode must be an octal number"):
        _audit.parse_mode("rw-------")
