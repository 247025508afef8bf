# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_authorized_keys: every line form sshd accepts, byte-exact round trips, and the pure planner."""

import base64
import struct

import pytest

from ansible_collections.keyops.aws.plugins.module_utils import _authorized_keys as ak
from ansible_collections.keyops.aws.plugins.module_utils import _ssh_public_keys


def _string(data):
    return struct.pack(">I", len(data)) + data


def ed25519(seed):
    return "ssh-ed25519 " + base64.b64encode(_string(b"ssh-ed25519") + _string(bytes([seed]) * 32)).decode()


P256_G = bytes.fromhex(
    "04"
    "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
    "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"
)
ECDSA = "ecdsa-sha2-nistp256 " + base64.b64encode(_string(b"ecdsa-sha2-nistp256") + _string(b"nistp256") + _string(P256_G)).decode()
SK_ED = "sk-ssh-ed25519@openssh.com " + base64.b64encode(
    _string(b"sk-ssh-ed25519@openssh.com") + _string(bytes(32)) + _string(b"ssh:")
).decode()
SK_EC = "sk-ecdsa-sha2-nistp256@openssh.com " + base64.b64encode(
    _string(b"sk-ecdsa-sha2-nistp256@openssh.com") + _string(b"nistp256") + _string(P256_G) + _string(b"ssh:")
).decode()
RSA = "ssh-rsa " + base64.b64encode(_string(b"ssh-rsa") + _string(b"\x01\x00\x01") + _string(b"\x00" + b"\xc5" * 256)).decode()
DSA = "ssh-dss " + base64.b64encode(_string(b"ssh-dss") + _string(b"\x01") * 4).decode()

K1, K2, K3, K4 = ed25519(1), ed25519(2), ed25519(3), ed25519(4)


# every form of line, as sshd reads them
FORMS = [
    ("", "blank"),
    ("   \t", "blank"),
    ("# a comment line, ssh-ed25519 AAAA", "comment"),
    ("   # an indented comment", "comment"),
    (K1, "key"),
    (K1 + " alice@laptop", "key"),
    (K1 + " a comment   with  spaces ", "key"),
    ("  \t" + K1 + " leading blanks", "key"),
    ('command="echo a, b" ' + K1 + " cmd", "key"),
    ('environment="A=b c",no-pty ' + K1, "key"),
    ('from="10.0.0.0/8,!10.1.*",no-agent-forwarding ' + K1 + " from", "key"),
    ('command="echo \\"quoted\\" done",restrict ' + K1, "key"),
    ("cert-authority,principals=\"alice,bob\" " + ECDSA + " ca", "key"),
    ("restrict,pty " + RSA + " rsa", "key"),
    ("no-touch-required " + SK_ED + " yubikey 5", "key"),
    ("verify-required " + SK_EC, "key"),
    (ECDSA + " ecdsa", "key"),
    ("expiry-time=\"20301231\",tunnel=\"0\"\t" + K1, "key"),
    (DSA + " old dsa key", "other"),
    ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI truncated", "other"),
    ('command="unterminated ' + K1, "other"),
    ("garbage line", "other"),
    ("ssh-ed25519-cert-v01@openssh.com AAAA cert", "other"),
]


@pytest.mark.parametrize("raw, kind", FORMS)
@pytest.mark.parametrize("eol", ["\n", "\r\n", ""])
def test_every_form_parses_and_round_trips(raw, kind, eol):
    text = raw + eol
    lines = ak.parse(text) if text else []
    if text:
        assert len(lines) == 1
        assert lines[0].kind == kind
        assert lines[0].eol == eol
    assert ak.render(lines) == text


def test_whole_file_round_trips_byte_exact():
    text = "\r\n".join(raw for raw, _kind in FORMS) + "\n" + "\xe9t\xe9 latin text " + K2 + "\n" + K3 + " no final newline"
    data = text.encode("utf-8") + b" \xff\xfe invalid utf-8"
    assert ak.encode(ak.render(ak.parse(ak.decode(data)))) == data


def test_options_and_comments_are_read_like_sshd():
    line = ak.parse_line('command="echo a, b",from="10.0.0.0/8,!10.1.*",environment="A=b c" ' + K1 + " bob at work")
    assert line.options == ['command="echo a, b"', 'from="10.0.0.0/8,!10.1.*"', 'environment="A=b c"']
    assert line.comment == "bob at work"
    assert line.key_type == "ssh-ed25519"
    line = ak.parse_line('command="echo \\"x, y\\"",no-pty ' + K1)
    assert line.options == ['command="echo \\"x, y\\""', "no-pty"]
    assert ak.parse_line("cert-authority " + ECDSA).options == ["cert-authority"]


def test_crlf_line_has_no_cr_in_comment():
    line = ak.parse(K1 + " c\r\n")[0]
    assert line.comment == "c" and line.eol == "\r\n" and line.raw == K1 + " c"


@pytest.mark.parametrize(
    "options, fragment",
    [
        ("bogus", "unknown key option"),
        ("command=echo", "double-quoted"),
        ("no-pty=1", "takes no value"),
        ('command="a b', "unterminated"),
        ("no-pty, restrict", "blanks outside"),
        ("no-pty,,restrict", "empty key option"),
    ],
)
def test_bad_options_are_refused(options, fragment):
    with pytest.raises(ak.AuthorizedKeysError) as info:
        ak.desired_key({"key": K1, "options": options})
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI", "truncated"),
        (DSA, "unsupported key type ssh-dss"),
        ("ssh-foo AAAA", "unsupported key type"),
        ("", "required"),
        ({"options": "no-pty"}, "required"),
        ({"key": K1, "colour": "red"}, "unknown field"),
        (K1 + "\n" + K2, "one line"),
        ({"key": K1, "comment": "a\nb"}, "line break"),
    ],
)
def test_bad_keys_are_refused(spec, fragment):
    with pytest.raises(ak.AuthorizedKeysError) as info:
        ak.desired_key(spec)
    assert fragment in str(info.value)


def test_desired_key_from_line_and_dict():
    key = ak.desired_key('no-pty,from="10.*" ' + K1 + " my comment")
    assert key.options == ["no-pty", 'from="10.*"'] and key.comment == "my comment"
    key = ak.desired_key({"key": "no-pty " + K1, "options": ["restrict", 'command="x"']})
    assert key.options == ["restrict", 'command="x"'] and key.comment is None
    assert ak.desired_key({"key": "no-pty " + K1, "options": ""}).options == []


def test_fingerprint_of_accepts_keys_and_fingerprints():
    fingerprint = _ssh_public_keys.openssh_fingerprint(K1)
    assert ak.fingerprint_of(fingerprint, "remove[0]") == fingerprint
    assert ak.fingerprint_of("no-pty " + K1 + " c", "remove[0]") == fingerprint
    for bad in ("SHA256:short", "MD5:aa:bb", "ssh-ed25519 AAAA"):
        with pytest.raises(ak.AuthorizedKeysError):
            ak.fingerprint_of(bad, "remove[0]")


# ------------------------------------------------------------------------------------- planner

UNRELATED = '# managed by hand\r\nfrom="10.0.0.0/8,!10.1.*",command="echo a, b" ' + K3 + " ops  team\r\n\r\n" + DSA + " legacy\r\n"


def run(text, keys=(), **kwargs):
    desired = [ak.desired_key(k) for k in keys]
    kwargs["remove"] = [ak.fingerprint_of(r, "remove") for r in kwargs.get("remove", ())]
    kwargs["managed"] = [ak.fingerprint_of(m, "managed") for m in kwargs.get("managed", ())]
    lines, actions = ak.plan(ak.parse(text), desired, **kwargs)
    return ak.render(lines), actions


def test_add_keeps_unrelated_lines_and_crlf():
    text, actions = run(UNRELATED, [K1 + " new key"])
    assert text == UNRELATED + K1 + " new key\r\n"
    assert actions == [dict(action="add", fingerprint=_ssh_public_keys.openssh_fingerprint(K1), comment="new key", reason="missing")]
    assert run(text, [K1 + " new key"]) == (text, [])


def test_new_lines_take_the_line_ending_of_the_last_line():
    assert run("a\r\nb\n", [K1])[0] == "a\r\nb\n" + K1 + "\n"
    assert run("a\nb\r\nc", [K1])[0] == "a\nb\r\nc\r\n" + K1 + "\r\n"


def test_add_to_file_without_final_newline_and_to_empty_file():
    assert run(K2, [K1])[0] == K2 + "\n" + K1 + "\n"
    assert run("", [K1, K2])[0] == K1 + "\n" + K2 + "\n"


def test_same_key_other_options_is_updated_in_place():
    text = K2 + " first\n" + "no-pty " + K1 + " mine\n" + K3 + " last\n"
    new, actions = run(text, [{"key": K1, "options": 'restrict,from="10.0.0.0/8"'}])
    assert new == K2 + " first\n" + 'restrict,from="10.0.0.0/8" ' + K1 + " mine\n" + K3 + " last\n"
    assert [a["action"] for a in actions] == ["update"] and actions[0]["reason"] == "options"
    # no options given = no options
    new, actions = run(new, [K1 + " renamed"])
    assert new == K2 + " first\n" + K1 + " renamed\n" + K3 + " last\n"
    assert actions[0]["reason"] == "options and comment"


def test_comment_not_given_keeps_comment():
    text = K1 + " keep me\n"
    assert run(text, [K1]) == (text, [])


def test_duplicates_of_a_listed_key_are_removed():
    text = K1 + " a\n" + K2 + "\n" + 'from="1.2.3.4" ' + K1 + " b\n"
    new, actions = run(text, [K1])
    assert new == K1 + " a\n" + K2 + "\n"
    assert [(a["action"], a["reason"]) for a in actions] == [("remove", "duplicate")]


def test_remove_by_fingerprint_and_by_key():
    text = UNRELATED + K1 + " one\r\n" + K2 + " two\r\n"
    new, actions = run(text, remove=[_ssh_public_keys.openssh_fingerprint(K1), "no-pty " + K2 + " other comment"])
    assert new == UNRELATED
    assert [a["comment"] for a in actions] == ["one", "two"]
    assert run(new, remove=[_ssh_public_keys.openssh_fingerprint(K1)]) == (new, [])


def test_state_absent():
    new, actions = run(K1 + "\n" + K2 + "\n", [K1], state="absent")
    assert new == K2 + "\n" and actions[0]["action"] == "remove"


def test_present_and_removed_is_an_error():
    with pytest.raises(ak.AuthorizedKeysError, match="both"):
        run("", [K1], remove=[K1])


def test_exclusive_needs_a_managed_set():
    with pytest.raises(ak.AuthorizedKeysError, match="never removes lines it does not manage"):
        run(K1 + "\n", [K2], exclusive=True)


def test_exclusive_over_managed_list_never_touches_other_lines():
    text = UNRELATED + K1 + " old rotation\r\n" + K2 + " current\r\n"
    new, actions = run(text, [K2, K4 + " next"], exclusive=True, managed=[_ssh_public_keys.openssh_fingerprint(K1), K2, K4])
    assert new == UNRELATED + K2 + " current\r\n" + K4 + " next\r\n"
    assert [(a["action"], a["reason"]) for a in actions] == [("remove", "exclusive"), ("add", "missing")]


def test_exclusive_over_managed_comment():
    text = K1 + " rotation:2025\n" + K3 + " hand made\n"
    new, actions = run(text, [K2 + " rotation:2026"], exclusive=True, managed_comment="rotation:")
    assert new == K3 + " hand made\n" + K2 + " rotation:2026\n"
    assert [a["action"] for a in actions] == ["remove", "add"]


def test_listed_twice_with_other_options_is_an_error():
    with pytest.raises(ak.AuthorizedKeysError, match="twice"):
        run("", [K1, "no-pty " + K1])
    assert run("", [K1, K1 + " same"])[0] == K1 + "\n"


def test_display_shows_fingerprints_not_blobs():
    lines = ak.parse(UNRELATED + 'environment="TOKEN=s3cr3t",no-pty ' + K1 + " c\n")
    shown = ak.display(lines)
    blob = K1.split()[1]
    assert blob not in shown and K3.split()[1] not in shown
    assert _ssh_public_keys.openssh_fingerprint(K1) in shown
    assert "s3cr3t" not in shown and 'environment="TOKEN=***"' in shown
    assert "not a key line" in shown  # the DSA line


# Every option form tests/integration/test_authorized_keys_options.py proves with a real sshd login
# (or a real refusal, for from= patterns that do not match): desired_key accepts them all.
ACCEPTED_OPTION_FORMS = [
    'from="127.0.0.1"',
    'from="10.0.0.1"',
    'from="127.0.0.0/8,!10.1.*"',
    'from="!127.0.0.1,*"',
    'command="echo forced-$SSH_ORIGINAL_COMMAND"',
    'command="echo \\"quoted\\""',
    'environment="KEYOPS_X=1"',
    'environment="A=b c",environment="B_2=x"',
    'expiry-time="20991231"',
    'expiry-time="209912312359"',
    'expiry-time="20991231235959Z"',
    'permitopen="127.0.0.1:80"',
    'permitopen="[::1]:22",permitopen="host:*"',
    'permitlisten="8080"',
    'permitlisten="localhost:8080"',
    'cert-authority,principals="alice,bob"',
    'principals="alice",cert-authority',
    'tunnel="0"',
    'tunnel="any"',
    "no-pty",
    "restrict",
    "restrict,pty",
    "no-port-forwarding,no-agent-forwarding,no-X11-forwarding,no-user-rc",
    "RESTRICT,No-Pty",
    'restrict,command="true"',
]


@pytest.mark.parametrize("options", ACCEPTED_OPTION_FORMS)
def test_every_option_form_proven_with_sshd_is_accepted(options):
    key = ak.desired_key(options + " " + K1 + " form", now=1700000000)
    assert ",".join(key.options) == options
    # and from a dict, as a string and as a list
    assert ak.desired_key({"key": K1, "options": options}, now=1700000000).options == key.options
    assert ak.desired_key({"key": K1, "options": ak.split_options(options)}, now=1700000000).options == key.options


@pytest.mark.parametrize("options, fragment", [
    ('expiry-time="20000101"', "in the past"),
    ('expiry-time="20231114"', "in the past"),  # the day before the fixed now below
    ('expiry-time="INVALID"', "invalid expiry time"),
    ('tunnel="blah"', "invalid tun device"),
    ('environment=",=bah"', "invalid environment string"),
    ('environment="=bah"', "invalid environment string"),  # sshd would accept an empty name: we refuse it
    ('permitopen="host"', "invalid permission port"),
    ('permitopen="host:0"', "invalid permission port"),
    ('permitlisten="[::1"', "invalid permission hostname"),
    ('from=""', "empty pattern"),
    ('from="10.0.0.0/99"', "not a network"),
    ('principals=""', "empty principal"),
    ('command="a",command="b"', "more than one"),
    ("no-pty,", "empty key option"),
    ('principals="alice"', "without cert-authority"),
    ('restrict,principals="alice"', "without cert-authority"),
])
def test_option_values_sshd_rejects_or_that_lock_out_are_refused(options, fragment):
    with pytest.raises(ak.AuthorizedKeysError) as info:
        ak.desired_key(options + " " + K1, now=1700000000 + 86400)
    assert fragment in str(info.value) and str(info.value).startswith("keys[0]")


def test_a_future_expiry_is_accepted_until_it_passes():
    line = 'expiry-time="20231115" ' + K1
    assert ak.desired_key(line, now=0).options == ['expiry-time="20231115"']
    with pytest.raises(ak.AuthorizedKeysError, match="in the past"):
        ak.desired_key(line, now=2000000000)


@pytest.mark.parametrize("spec, fragment", [
    ({"key": K1, "options": {"a": 1}}, "keys[0].options must be a string or a list of strings, got dict"),
    ({"key": K1, "options": 5}, "keys[0].options must be a string or a list of strings, got int"),
    ({"key": K1, "options": ["no-pty", 3]}, "keys[0].options must be a string or a list of strings"),
    ({"key": K1, "comment": 7}, "keys[0].comment must be a string"),
])
def test_option_and_comment_types_are_checked(spec, fragment):
    with pytest.raises(ak.AuthorizedKeysError) as info:
        ak.desired_key(spec)
    assert fragment in str(info.value)


def _ssh_corpus():
    import json
    import os

    path = os.path.join(os.path.dirname(__file__), "fixtures", "real_inputs.json")
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    for name, item in sorted(data["ssh"].items()):
        if isinstance(item, str):
            text = item
        elif "text" in item:
            text = item["text"]
        else:
            text = base64.b64decode(item["base64"]).decode("utf-8", "surrogateescape")
        for number, line in enumerate(ak.parse(text), 1):
            if line.kind == "key":
                yield "%s:%d" % (name, number), line.raw.strip().rstrip("\r")


# The only reasons a key line of the real-world corpus is refused; each is a line sshd refuses too
# (env= is no sshd option, expiry-time="INVALID" fails sshauthopt_parse, an expiry-time in the past and
# principals= on a key without cert-authority fail auth_authorise_keyopts at login).
SSHD_REFUSES = ("unknown key option 'env'", "invalid expiry time", "is in the past", "without cert-authority")


@pytest.mark.parametrize("where, line", list(_ssh_corpus()))
def test_real_world_key_lines_are_refused_only_where_sshd_refuses_them(where, line):
    try:
        ak.desired_key(line, now=1700000000)
    except ak.AuthorizedKeysError as exc:
        assert any(reason in str(exc) for reason in SSHD_REFUSES), (where, str(exc))
