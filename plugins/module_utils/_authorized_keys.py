# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to keyops.aws: may change without notice. authorized_keys files: parser and pure planner.

The parser follows sshd's own reading of a line (auth2-pubkeyfile.c): leading blanks skipped,
blank and ``#`` lines ignored, then either ``type base64 [comment]`` or ``options type base64
[comment]`` where options run up to the first blank outside double quotes (``\\"`` inside quotes
is an escaped quote). Every line keeps its exact text and line ending, so a file parsed and
rendered again is byte-for-byte the same (CRLF, a missing final newline, stray blanks, invalid
lines included). Only the lines a plan changes are rendered anew.

Nothing here touches the filesystem: _authorized_keys_module.py reads, locks and writes.
"""

import base64
import re
import time

from ansible_collections.keyops.aws.plugins.module_utils import _ssh_public_keys


class AuthorizedKeysError(ValueError):
    """Bad input for an authorized_keys change (described for a user, no key material)."""


#: Options sshd accepts in authorized_keys (matched case-insensitively, as sshd does).
KNOWN_OPTIONS = (
    "agent-forwarding", "cert-authority", "command", "environment", "expiry-time", "from",
    "no-agent-forwarding", "no-port-forwarding", "no-pty", "no-touch-required", "no-user-rc",
    "no-x11-forwarding", "permitlisten", "permitopen", "port-forwarding", "principals", "pty",
    "restrict", "tunnel", "user-rc", "verify-required", "x11-forwarding", "touch-required", "no-verify-required",
)
_VALUE_OPTIONS = ("command", "environment", "expiry-time", "from", "permitlisten", "permitopen", "principals", "tunnel")

_FINGERPRINT_RE = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}$")
_BLANKS = " \t"


class Line:
    """One line of an authorized_keys file.

    kind: ``blank``, ``comment``, ``key`` (a key sshd would use) or ``other`` (anything sshd would
    skip: an unsupported key type, a malformed key, bad option syntax). ``raw`` is the text
    without its line ending, ``eol`` the ending (``"\\n"``, ``"\\r\\n"`` or ``""``).
    For ``key`` lines: options (list of option strings as written), key_type, blob, comment.
    """

    __slots__ = ("raw", "eol", "kind", "options", "key_type", "blob", "comment", "error")

    def __init__(self, raw, eol="\n", kind="other", options=None, key_type=None, blob=None, comment="", error=None):
        self.raw = raw
        self.eol = eol
        self.kind = kind
        self.options = options or []
        self.key_type = key_type
        self.blob = blob
        self.comment = comment
        self.error = error

    @property
    def fingerprint(self):
        return _ssh_public_keys.openssh_fingerprint(self.blob) if self.blob is not None else None

    def text(self):
        return self.raw + self.eol

    def __repr__(self):
        return "Line(%r, %r, %s)" % (self.raw[:40], self.eol, self.kind)


def _skip_options(text, pos):
    """Index just past the options starting at pos (sshd's sshkey_advance_past_options)."""
    quoted = False
    while pos < len(text) and (quoted or text[pos] not in _BLANKS):
        if text[pos] == "\\" and text[pos + 1:pos + 2] == '"':
            pos += 1
        elif text[pos] == '"':
            quoted = not quoted
        pos += 1
    if quoted:
        raise AuthorizedKeysError("unterminated double quote in the key options")
    return pos


def split_options(text):
    """Split an options string on the commas outside double quotes; refuses bad syntax."""
    if text is None or text == "":
        return []
    if "\n" in text or "\r" in text:
        raise AuthorizedKeysError("key options cannot contain a line break")
    end = _skip_options(text, 0)
    if end != len(text):
        raise AuthorizedKeysError("key options cannot contain blanks outside double quotes")
    options, start, quoted, pos = [], 0, False, 0
    while pos < len(text):
        char = text[pos]
        if char == "\\" and text[pos + 1:pos + 2] == '"':
            pos += 2
            continue
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            options.append(text[start:pos])
            start = pos + 1
        pos += 1
    options.append(text[start:])
    return options


# sshd's option parser (auth-options.c sshauthopt_parse): flags matched by prefix, case-insensitively,
# in this order; "no-" negates those that allow it.
_FLAGS = (
    ("restrict", False), ("cert-authority", False), ("port-forwarding", True), ("agent-forwarding", True),
    ("x11-forwarding", True), ("touch-required", True), ("verify-required", True), ("pty", True), ("user-rc", True),
)
_VALUED = ("command", "principals", "from", "expiry-time", "environment", "permitopen", "permitlisten", "tunnel")
_ENV_MAX = 1024  # SSH_AUTHOPT_ENV_MAX
_PERMIT_MAX = 4096  # SSH_AUTHOPT_PERMIT_MAX
_TUNID_MAX = 0x7FFFFFFF - 2  # SSH_TUNID_MAX
_NI_MAXHOST = 1025


def _opt_dequote(text, pos, name):
    """(value, position after it) as sshd's opt_dequote: ``\"`` is a quote, the value ends at the next quote."""
    if pos >= len(text) or text[pos] != '"':
        raise AuthorizedKeysError('key option %s needs a double-quoted value: %s="..."' % (name, name))
    pos += 1
    out = []
    while pos < len(text) and text[pos] != '"':
        if text[pos] == "\\" and text[pos + 1:pos + 2] == '"':
            pos += 1
        out.append(text[pos])
        pos += 1
    if pos >= len(text):
        raise AuthorizedKeysError("key option %s: missing end quote" % name)
    return "".join(out), pos + 1


def _strtonum(value, low, high):
    """sshd's strtonum: an optionally signed decimal integer within [low, high], else None."""
    match = re.match(r"^[ \t\n\v\f\r]*([+-]?[0-9]+)$", value)
    if not match:
        return None
    number = int(match.group(1))
    return number if low <= number <= high else None


def _check_expiry(value, now=None):
    """sshd's parse_absolute_time: YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS, optionally followed by Z or UTC.

    With ``now`` (seconds since the epoch), a time before it is refused too: sshd reads the line but
    refuses every login with the key (auth_authorise_keyopts: valid_before < now), a lock-out."""
    import calendar
    import datetime
    import time as _time

    text, utc = value, False
    if len(text) > 1 and text[-1:].upper() == "Z":
        text, utc = text[:-1], True
    elif len(text) > 3 and text[-3:].upper() == "UTC":
        text, utc = text[:-3], True
    formats = {8: "%Y%m%d", 12: "%Y%m%d%H%M", 14: "%Y%m%d%H%M%S"}
    if len(text) not in formats or not text.isdigit() or not text.isascii():
        return "invalid expiry time (sshd reads YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS, optionally followed by Z or UTC)"
    try:
        when = datetime.datetime.strptime(text, formats[len(text)])
    except ValueError:
        return "invalid expiry time (not a real date and time)"
    stamp = calendar.timegm(when.timetuple()) if utc else _time.mktime(when.timetuple())
    if stamp <= 0:
        return "invalid expiry time (sshd refuses a time at or before 1970-01-01)"
    if now is not None and stamp < now:
        return "%s is in the past: sshd would refuse every login with this key" % value
    return None


def _valid_env_name(name):
    return bool(name) and all((char.isascii() and char.isalnum()) or char == "_" for char in name)


def _a2port(port):
    number = _strtonum(port, 0, 65535)
    if number is not None:
        return number
    try:
        import socket

        return socket.getservbyname(port, "tcp")
    except (OSError, UnicodeError, ValueError):
        return -1


def _check_permit(value, listen):
    """sshd's handle_permit: [host:]port (listen) or host:port, host may be [bracketed], port a number or *."""
    if listen and ":" not in value:
        value = "*:" + value
    # hpdelim2
    if value.startswith("["):
        close = value.find("]")
        if close < 0:
            return "invalid permission hostname (an unclosed [)"
        delim = close + 1
    else:
        found = [i for i in (value.find(":"), value.find("/")) if i >= 0]
        delim = min(found) if found else len(value)
    host = value[:delim]
    if delim < len(value) and value[delim] not in ":/":
        return "invalid permission hostname (expected : or / after ])"
    if len(host.encode("utf-8")) >= _NI_MAXHOST:
        return "invalid permission hostname (too long)"
    if delim >= len(value):
        return "invalid permission port (expected host:port)"
    port = value[delim + 1:]
    if port != "*" and _a2port(port) <= 0:
        return "invalid permission port (a port 1-65535, a service name or *)"
    return None


def _check_from(value):
    """What makes sshd deny the key at login (match_host_and_ip returns -1): an empty pattern, a bad CIDR."""
    import ipaddress

    for entry in value.split(","):
        entry = entry[1:] if entry.startswith("!") else entry
        if not entry:
            return "an empty pattern in the list (sshd then refuses every login with this key)"
        address, slash, mask = entry.partition("/")
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            continue  # a host name or wildcard pattern
        if slash:
            if not mask or not mask[0].isdigit() or not mask.isdigit() or int(mask) > 128:
                continue  # sshd does not read it as an address either: a pattern that never matches
            try:
                ipaddress.ip_network(entry, strict=True)
            except ValueError:
                return ("%s is not a network (a mask longer than the address or host bits set); sshd then refuses "
                        "every login with this key" % entry)
        del parsed
    return None


def check_options_text(text, now=None):
    """Refuse an options string sshd would reject (sshd then skips the whole line: a lock-out).

    Follows auth-options.c (sshauthopt_parse and its helpers) step by step; messages name the option
    and the problem, never an environment or command value.
    """
    pos, seen, nenv, npermit = 0, set(), 0, 0
    lower = text.lower()
    while pos < len(text) and text[pos] not in _BLANKS:
        matched, option_start = False, pos
        for flag, negatable in _FLAGS:
            at = pos + 3 if negatable and lower.startswith("no-", pos) and lower.startswith(flag, pos + 3) else pos
            if lower.startswith(flag, at):
                pos, matched = at + len(flag), True
                if flag == "cert-authority":
                    seen.add(flag)
                break
        if not matched:
            for name in _VALUED:
                if lower.startswith(name + "=", pos):
                    pos += len(name) + 1
                    value, pos = _opt_dequote(text, pos, name)
                    problem = None
                    if name in ("command", "principals", "from"):
                        if name in seen:
                            problem = 'more than one %s="..." option' % name
                        elif name == "from":
                            problem = _check_from(value)
                        elif name == "principals" and (not value or "" in value.split(",")):
                            problem = "an empty principal name"
                        seen.add(name)
                    elif name == "expiry-time":
                        problem = _check_expiry(value, now)
                    elif name == "environment":
                        nenv += 1
                        if nenv > _ENV_MAX + 1:
                            problem = "too many environment options"
                        elif "=" not in value or not _valid_env_name(value.partition("=")[0]):
                            problem = "invalid environment string (sshd wants NAME=value, NAME of letters, digits and _)"
                    elif name in ("permitopen", "permitlisten"):
                        npermit += 1
                        if npermit > _PERMIT_MAX + 1:
                            problem = "too many permission options"
                        else:
                            problem = _check_permit(value, name == "permitlisten")
                    elif name == "tunnel":
                        if value.lower() != "any" and _strtonum(value, 0, _TUNID_MAX) is None:
                            problem = "invalid tun device (a number 0-%d or any)" % _TUNID_MAX
                    if problem:
                        raise AuthorizedKeysError("key option %s: %s" % (name, problem))
                    matched = True
                    break
        if pos >= len(text) or text[pos] in _BLANKS:
            break
        if text[pos] != "," or not matched:
            name = text[option_start:].split(",", 1)[0].partition("=")[0]
            if not name:
                raise AuthorizedKeysError("empty key option (two commas in a row?)")
            if matched and text[pos] == "=" and name.lower() in KNOWN_OPTIONS:
                raise AuthorizedKeysError("key option %s takes no value" % name)
            raise AuthorizedKeysError("unknown key option %r (sshd would ignore the whole line)" % name[:40])
        pos += 1
        if pos >= len(text):
            raise AuthorizedKeysError("key options end with a comma (sshd would ignore the whole line)")
    if "principals" in seen and "cert-authority" not in seen:
        # auth_authorise_keyopts: "principals on non-CA key" denies the login
        raise AuthorizedKeysError('key option principals: principals="..." without cert-authority; sshd then refuses '
                                  "every login with this key")
    return None


def check_options(options, now=None):
    """Refuse options sshd would reject (it then ignores the whole line: a lock-out); with ``now``,
    also an expiry-time already past (sshd reads the line, then refuses every login with the key)."""
    for option in options:
        if not option:
            raise AuthorizedKeysError("empty key option (two commas in a row?)")
    if options:
        check_options_text(",".join(options), now)


def _parse_key_at(text, pos):
    """(key_type, blob, comment) for ``type base64 [comment]`` at pos; raises InvalidPublicKey."""
    rest = text[pos:]
    parts = rest.split(None, 2)
    if not parts:
        raise _ssh_public_keys.InvalidPublicKey("no key")
    key_type = parts[0]
    if key_type not in _ssh_public_keys.SUPPORTED_KEY_TYPES:
        raise _ssh_public_keys.UnsupportedKeyType("unsupported key type")
    if len(parts) < 2:
        raise _ssh_public_keys.InvalidPublicKey("no key data")
    blob = _ssh_public_keys.decode_blob(key_type, parts[1])
    comment = parts[2].strip() if len(parts) > 2 else ""
    return key_type, blob, comment


def parse_line(raw, eol="\n"):
    """Parse the text of one line (without its line ending)."""
    pos = 0
    while pos < len(raw) and raw[pos] in _BLANKS:
        pos += 1
    body = raw[pos:].rstrip("\r")
    if not body.strip():
        return Line(raw, eol, "blank")
    if body.startswith("#"):
        return Line(raw, eol, "comment")
    first = body.split(None, 1)[0]
    if first in _ssh_public_keys.SUPPORTED_KEY_TYPES:
        try:
            key_type, blob, comment = _parse_key_at(body, 0)
            return Line(raw, eol, "key", [], key_type, blob, comment)
        except _ssh_public_keys.InvalidPublicKey as exc:
            # sshd would now read the type as options and fail: the line is skipped
            return Line(raw, eol, "other", error=str(exc))
    try:
        end = _skip_options(body, 0)
    except AuthorizedKeysError as exc:
        return Line(raw, eol, "other", error=str(exc))
    options_text = body[:end]
    key_pos = end
    while key_pos < len(body) and body[key_pos] in _BLANKS:
        key_pos += 1
    try:
        key_type, blob, comment = _parse_key_at(body, key_pos)
    except _ssh_public_keys.InvalidPublicKey as exc:
        return Line(raw, eol, "other", error=str(exc))
    return Line(raw, eol, "key", split_options(options_text), key_type, blob, comment)


def parse(text):
    """Lines of an authorized_keys file (str; decode bytes with surrogateescape to keep them exact)."""
    lines = []
    for match in re.finditer(r"[^\n]*\n|[^\n]+$", text):
        chunk = match.group(0)
        if chunk.endswith("\r\n"):
            lines.append(parse_line(chunk[:-2], "\r\n"))
        elif chunk.endswith("\n"):
            lines.append(parse_line(chunk[:-1], "\n"))
        else:
            lines.append(parse_line(chunk, ""))
    return lines


def render(lines):
    return "".join(line.text() for line in lines)


def decode(data):
    """File bytes -> text that encodes back to the very same bytes."""
    return data.decode("utf-8", "surrogateescape")


def encode(text):
    return text.encode("utf-8", "surrogateescape")


def format_key_line(options, key_type, blob, comment):
    text = "%s %s" % (key_type, base64.b64encode(blob).decode("ascii"))
    if options:
        text = ",".join(options) + " " + text
    if comment:
        text += " " + comment
    return text


_ENV_RE = re.compile(r'^(environment=")([^=]*=)(.*)(")$', re.IGNORECASE)


def display_options(options):
    """Options for a diff or a result: environment values masked (they may hold tokens)."""
    shown = []
    for option in options:
        match = _ENV_RE.match(option)
        shown.append(match.group(1) + match.group(2) + "***" + match.group(4) if match else option)
    return ",".join(shown)


def display_line(line, number):
    """A line for --diff: keys by fingerprint and comment, never the key blob."""
    if line.kind == "key":
        parts = [display_options(line.options)] if line.options else []
        parts += [line.key_type, line.fingerprint]
        if line.comment:
            parts.append(line.comment)
        return " ".join(parts)
    if line.kind in ("blank", "comment"):
        return line.raw.rstrip("\r")
    return "# line %d: not a key line sshd would use (kept as is)" % number


def display(lines):
    return "".join(display_line(line, index + 1) + "\n" for index, line in enumerate(lines))


# ---------------------------------------------------------------------------------------- input


class DesiredKey:
    """A key asked for: its identity (blob), the options it must carry, the comment (None = keep)."""

    __slots__ = ("key_type", "blob", "options", "comment")

    def __init__(self, key_type, blob, options, comment):
        self.key_type = key_type
        self.blob = blob
        self.options = options
        self.comment = comment

    @property
    def fingerprint(self):
        return _ssh_public_keys.openssh_fingerprint(self.blob)


def _check_comment(comment):
    if comment is not None and ("\n" in comment or "\r" in comment):
        raise AuthorizedKeysError("a key comment cannot contain a line break")
    return None if comment is None else comment.strip()


def desired_key(spec, index=0, now=None):
    """A DesiredKey from a key line string (``[options] type base64 [comment]``) or a dict
    ``{key, options, comment}`` (options in the dict override those in the line)."""
    where = "keys[%d]" % index
    options_given = comment_given = None
    if isinstance(spec, dict):
        unknown = set(spec) - {"key", "options", "comment"}
        if unknown:
            raise AuthorizedKeysError("%s: unknown field(s) %s (expected key, options, comment)" % (where, ", ".join(sorted(unknown))))
        text = spec.get("key")
        options_given = spec.get("options")
        comment_given = spec.get("comment")
        if isinstance(options_given, list):
            if not all(isinstance(option, str) for option in options_given):
                raise AuthorizedKeysError("%s.options must be a string or a list of strings" % where)
            options_given = ",".join(options_given)
        elif options_given is not None and not isinstance(options_given, str):
            raise AuthorizedKeysError("%s.options must be a string or a list of strings, got %s" % (where, type(options_given).__name__))
        if comment_given is not None and not isinstance(comment_given, str):
            raise AuthorizedKeysError("%s.comment must be a string, got %s" % (where, type(comment_given).__name__))
    else:
        text = spec
    if not isinstance(text, str) or not text.strip():
        raise AuthorizedKeysError("%s: a public key line is required" % where)
    if "\n" in text.strip():
        raise AuthorizedKeysError("%s: a public key is one line; got several lines" % where)
    line = parse_line(text.strip(), "")
    if line.kind != "key":
        # say why, with the key parser's own message
        body = text.strip()
        first = body.split(None, 1)[0]
        try:
            if first in _ssh_public_keys.SUPPORTED_KEY_TYPES or first in ("ssh-dss",) or not ("=" in first or "," in first):
                _ssh_public_keys.parse_public_key(body)
            else:
                end = _skip_options(body, 0)
                _ssh_public_keys.parse_public_key(body[end:])
        except (_ssh_public_keys.InvalidPublicKey, AuthorizedKeysError) as exc:
            raise AuthorizedKeysError("%s: %s" % (where, exc)) from None
        raise AuthorizedKeysError("%s: not a valid authorized_keys line" % where)
    try:
        options = line.options if options_given is None else split_options(options_given)
        check_options(options, now=time.time() if now is None else now)
    except AuthorizedKeysError as exc:
        raise AuthorizedKeysError("%s: %s" % (where, exc)) from None
    comment = _check_comment(comment_given) if comment_given is not None else (line.comment or None)
    return DesiredKey(line.key_type, line.blob, options, comment)


def fingerprint_of(spec, where):
    """A ``SHA256:`` fingerprint from a fingerprint string or a public key line."""
    if isinstance(spec, dict):
        spec = spec.get("key")
    if not isinstance(spec, str) or not spec.strip():
        raise AuthorizedKeysError("%s: a public key or a SHA256: fingerprint is required" % where)
    spec = spec.strip()
    if spec.startswith("SHA256:"):
        if not _FINGERPRINT_RE.match(spec):
            raise AuthorizedKeysError("%s: malformed fingerprint (expected SHA256: and 43 base64 characters)" % where)
        return spec
    line = parse_line(spec, "")
    if line.kind != "key":
        try:
            _ssh_public_keys.parse_public_key(spec)
        except _ssh_public_keys.InvalidPublicKey as exc:
            raise AuthorizedKeysError("%s: %s" % (where, exc)) from None
        raise AuthorizedKeysError("%s: not a public key" % where)
    return line.fingerprint


# ---------------------------------------------------------------------------------------- planner


def plan(lines, keys=(), state="present", remove=(), exclusive=False, managed=(), managed_comment=None):
    """Pure planner: the new list of lines and the actions that lead there.

    keys: DesiredKey list (present: added or updated in place; absent: removed).
    remove: fingerprints to remove. exclusive: also remove every managed line whose key is not in
    keys, a line being managed when its fingerprint is in ``managed`` or its comment starts with
    ``managed_comment``. Lines outside all of this are never touched.
    Actions: ``{action: add|update|remove, fingerprint, comment, reason}``.
    """
    if exclusive and not managed and not managed_comment:
        raise AuthorizedKeysError(
            "exclusive=true needs managed (keys or fingerprints) or managed_comment: "
            "this module never removes lines it does not manage"
        )
    if exclusive and state != "present":
        raise AuthorizedKeysError("exclusive=true goes with state=present")
    wanted = {}
    order = []
    for key in keys:
        fingerprint = key.fingerprint
        if fingerprint in wanted:
            if wanted[fingerprint].options != key.options:
                raise AuthorizedKeysError("key %s is listed twice with different options" % fingerprint)
            continue
        wanted[fingerprint] = key
        order.append(fingerprint)
    to_remove = set(remove)
    if state == "absent":
        to_remove.update(wanted)
        wanted, order = {}, []
    clash = to_remove.intersection(wanted)
    if clash:
        raise AuthorizedKeysError("key %s is both to be present and to be removed" % sorted(clash)[0])
    managed = set(managed)

    def is_managed(line):
        return line.fingerprint in managed or bool(managed_comment and line.comment.startswith(managed_comment))

    new_lines, actions, seen = [], [], set()
    for line in lines:
        if line.kind != "key":
            new_lines.append(line)
            continue
        fingerprint = line.fingerprint
        if fingerprint in to_remove:
            actions.append(dict(action="remove", fingerprint=fingerprint, comment=line.comment, reason="asked"))
            continue
        if fingerprint in wanted:
            if fingerprint in seen:
                actions.append(dict(action="remove", fingerprint=fingerprint, comment=line.comment, reason="duplicate"))
                continue
            seen.add(fingerprint)
            key = wanted[fingerprint]
            comment = line.comment if key.comment is None else key.comment
            reasons = []
            if line.options != key.options:
                reasons.append("options")
            if comment != line.comment:
                reasons.append("comment")
            if reasons:
                raw = format_key_line(key.options, line.key_type, line.blob, comment)
                new_lines.append(Line(raw, line.eol, "key", list(key.options), line.key_type, line.blob, comment))
                actions.append(dict(action="update", fingerprint=fingerprint, comment=comment, reason=" and ".join(reasons)))
            else:
                new_lines.append(line)
            continue
        if exclusive and is_managed(line):
            actions.append(dict(action="remove", fingerprint=fingerprint, comment=line.comment, reason="exclusive"))
            continue
        new_lines.append(line)
    missing = [fp for fp in order if fp not in seen]
    if missing:
        # new lines continue the file as it ends: the line ending of the last line that has one
        eol = next((line.eol for line in reversed(lines) if line.eol), "\n")
        if new_lines and new_lines[-1].eol == "":
            last = new_lines[-1]
            new_lines[-1] = Line(last.raw, eol, last.kind, last.options, last.key_type, last.blob, last.comment, last.error)
        for fingerprint in missing:
            key = wanted[fingerprint]
            raw = format_key_line(key.options, key.key_type, key.blob, key.comment)
            new_lines.append(Line(raw, eol, "key", list(key.options), key.key_type, key.blob, key.comment or ""))
            actions.append(dict(action="add", fingerprint=fingerprint, comment=key.comment or "", reason="missing"))
    return new_lines, actions
