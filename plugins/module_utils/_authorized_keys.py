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

from ansible_collections.keyops.aws.plugins.module_utils import _sshkeys


class AuthorizedKeysError(ValueError):
    """Bad input for an authorized_keys change (described for a user, no key material)."""


#: Options sshd accepts in authorized_keys (matched case-insensitively, as sshd does).
KNOWN_OPTIONS = (
    "agent-forwarding", "cert-authority", "command", "environment", "expiry-time", "from",
    "no-agent-forwarding", "no-port-forwarding", "no-pty", "no-touch-required", "no-user-rc",
    "no-x11-forwarding", "permitlisten", "permitopen", "port-forwarding", "principals", "pty",
    "restrict", "tunnel", "user-rc", "verify-required", "x11-forwarding",
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
        return _sshkeys.openssh_fingerprint(self.blob) if self.blob is not None else None

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


def check_options(options):
    """Refuse options sshd would reject (it then ignores the whole line: a lock-out)."""
    for option in options:
        name, sep, value = option.partition("=")
        lname = name.lower()
        if not name:
            raise AuthorizedKeysError("empty key option (two commas in a row?)")
        if lname not in KNOWN_OPTIONS:
            raise AuthorizedKeysError("unknown key option %r (sshd would ignore the whole line)" % name[:40])
        if lname in _VALUE_OPTIONS:
            if not sep or len(value) < 2 or value[0] != '"' or value[-1] != '"':
                raise AuthorizedKeysError('key option %s needs a double-quoted value: %s="..."' % (name, name))
        elif sep:
            raise AuthorizedKeysError("key option %s takes no value" % name)


def _parse_key_at(text, pos):
    """(key_type, blob, comment) for ``type base64 [comment]`` at pos; raises InvalidPublicKey."""
    rest = text[pos:]
    parts = rest.split(None, 2)
    if not parts:
        raise _sshkeys.InvalidPublicKey("no key")
    key_type = parts[0]
    if key_type not in _sshkeys.SUPPORTED_KEY_TYPES:
        raise _sshkeys.UnsupportedKeyType("unsupported key type")
    if len(parts) < 2:
        raise _sshkeys.InvalidPublicKey("no key data")
    blob = _sshkeys.decode_blob(key_type, parts[1])
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
    if first in _sshkeys.SUPPORTED_KEY_TYPES:
        try:
            key_type, blob, comment = _parse_key_at(body, 0)
            return Line(raw, eol, "key", [], key_type, blob, comment)
        except _sshkeys.InvalidPublicKey as exc:
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
    except _sshkeys.InvalidPublicKey as exc:
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
        return _sshkeys.openssh_fingerprint(self.blob)


def _check_comment(comment):
    if comment is not None and ("\n" in comment or "\r" in comment):
        raise AuthorizedKeysError("a key comment cannot contain a line break")
    return None if comment is None else comment.strip()


def desired_key(spec, index=0):
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
            options_given = ",".join(options_given)
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
            if first in _sshkeys.SUPPORTED_KEY_TYPES or first in ("ssh-dss",) or not ("=" in first or "," in first):
                _sshkeys.parse_public_key(body)
            else:
                end = _skip_options(body, 0)
                _sshkeys.parse_public_key(body[end:])
        except (_sshkeys.InvalidPublicKey, AuthorizedKeysError) as exc:
            raise AuthorizedKeysError("%s: %s" % (where, exc)) from None
        raise AuthorizedKeysError("%s: not a valid authorized_keys line" % where)
    options = line.options if options_given is None else split_options(options_given)
    try:
        check_options(options)
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
            _sshkeys.parse_public_key(spec)
        except _sshkeys.InvalidPublicKey as exc:
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
