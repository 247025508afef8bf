# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to keyops.aws: may change without notice.

The logic of keyops.aws.env_file_credentials: KEY=VALUE files as systemd ``EnvironmentFile=`` and
``docker run --env-file`` read them.

``EnvFile.parse()`` keeps every line as its bytes; only the value part of a managed variable's line
is ever replaced, in its own quoting. ``plan()`` is pure (current bytes + wanted entries -> new bytes
+ actions); ``run_module()`` reads under a directory lock, plans, applies unless in check mode and
exits once. No secret is ever put in a message, a result or a diff (every secret-looking value is
masked).
"""

import re
import stat

from ansible_collections.keyops.aws.plugins.module_utils import _fileops
from ansible_collections.keyops.aws.plugins.module_utils._credentials_file import MASK, is_secret_name
from ansible_collections.keyops.aws.plugins.module_utils._key_ids import key_id_problem

# NAME=VALUE with an optional `export ` prefix (as shells and many tools accept it)
_ASSIGNMENT = re.compile(
    r"^(?P<lead>[ \t]*)(?P<export>export[ \t]+)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<sp1>[ \t]*)=(?P<sp2>[ \t]*)(?P<value>.*?)(?P<trail>[ \t]*)$"
)
_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Names whose values are masked in diffs besides is_secret_name(): *_KEY, *PASS*, *PWD*, *AUTH*, *PRIVATE*, *CREDENTIAL*
_SECRETISH = re.compile(r"(^|_)(KEY|PASS|PASSWD|PWD|AUTH|PRIVATE|CREDENTIALS?|APIKEY|DSN)(_|$)|PASSWORD|SECRET|TOKEN", re.IGNORECASE)
# a value AWS tools and env-file readers take literally, without quoting
_PLAIN_VALUE = re.compile(r"^[A-Za-z0-9/+=._-]+$")

DEFAULT_ID_VAR = "AWS_ACCESS_KEY_ID"
DEFAULT_SECRET_VAR = "AWS_SECRET_ACCESS_KEY"


class EnvFileError(Exception):
    """A problem reported to the user (never holds a secret or file content)."""


def is_secret_var(name, id_vars=()):
    """True for a variable whose value must never be shown (the access key id variables are not)."""
    if name in id_vars or ("KEY_ID" in name.upper() and not is_secret_name(name)):
        return False  # access key ids are not secrets
    return is_secret_name(name) or bool(_SECRETISH.search(name))


class Line(object):
    __slots__ = ("text", "eol", "number", "name", "match")

    def __init__(self, text, eol, number):
        self.text = text
        self.eol = eol
        self.number = number
        stripped = text.strip()
        self.match = None
        self.name = None
        if stripped and not stripped.startswith(("#", ";")):
            self.match = _ASSIGNMENT.match(text)
            if self.match:
                self.name = self.match.group("name")


def _split_value(raw):
    """(quote, inner, suffix) of a raw value: quote is '', '"' or "'"; suffix is what follows a closing quote."""
    if raw[:1] in ("'", '"'):
        quote = raw[0]
        end = raw.find(quote, 1)
        while end != -1 and quote == '"' and raw[end - 1] == "\\":
            end = raw.find(quote, end + 1)
        if end != -1:
            return quote, raw[1:end], raw[end + 1:]
    return "", raw, ""


def _unquote(quote, inner):
    if quote == '"':
        return re.sub(r"\\(.)", r"\1", inner)
    return inner


class EnvFile(object):
    """An env file as lines; render() gives back the same bytes when nothing was set."""

    def __init__(self, lines, bom=""):
        self.lines = lines
        self.bom = bom

    @classmethod
    def parse(cls, data):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise EnvFileError("the file is not UTF-8 text") from None
        bom = ""
        if text.startswith("\ufeff"):
            bom, text = "\ufeff", text[1:]
        lines = []
        number = 0
        for piece in text.splitlines(True):
            number += 1
            if piece.endswith("\r\n"):
                body, eol = piece[:-2], "\r\n"
            elif piece.endswith("\n"):
                body, eol = piece[:-1], "\n"
            else:
                body, eol = piece, ""
            lines.append(Line(body, eol, number))
        return cls(lines, bom)

    def render(self):
        return (self.bom + "".join(line.text + line.eol for line in self.lines)).encode("utf-8")

    def find(self, name):
        """The one line assigning name, None when missing; EnvFileError when it is assigned twice."""
        found = [line for line in self.lines if line.name == name]
        if len(found) > 1:
            raise EnvFileError("%s is set more than once (lines %s): readers would disagree on which one counts; "
                               "remove the extra lines" % (name, ", ".join(str(line.number) for line in found)))
        return found[0] if found else None

    def value(self, name):
        line = self.find(name)
        if line is None:
            return None
        quote, inner, _suffix = _split_value(line.match.group("value"))
        return _unquote(quote, inner)

    def set(self, name, value):
        """Set name to value keeping the line's prefix, spacing and quote character; True when changed."""
        if not _PLAIN_VALUE.match(value or ""):
            raise EnvFileError("the value of %s holds characters that cannot be written unquoted" % name)
        line = self.find(name)
        if line is None:
            if self.lines and self.lines[-1].eol == "":
                # keep a missing final newline missing: the separator goes before the new line
                last = self.lines[-1]
                last.eol = "\r\n" if any(item.eol == "\r\n" for item in self.lines) else "\n"
                self.lines.append(Line("%s=%s" % (name, value), "", len(self.lines) + 1))
            else:
                eol = "\r\n" if self.lines and self.lines[-1].eol == "\r\n" else "\n"
                self.lines.append(Line("%s=%s" % (name, value), eol, len(self.lines) + 1))
            return True
        match = line.match
        raw = match.group("value")
        quote, inner, suffix = _split_value(raw)
        if _unquote(quote, inner) == value:
            return False
        new_raw = quote + value + quote + suffix if quote else value
        line.text = line.text[: match.start("value")] + new_raw + line.text[match.end("value"):]
        line.match = _ASSIGNMENT.match(line.text)
        return True

    def masked_text(self, id_vars=(), labels=None):
        """The file with every secret-looking value replaced by a label (same value -> same label)."""
        labels = {} if labels is None else labels

        def label(value):
            if value not in labels:
                labels[value] = "%s(secret %d)" % (MASK, len(labels) + 1)
            return labels[value]

        out = []
        for line in self.lines:
            text = line.text
            if line.match is not None and is_secret_var(line.name, id_vars) and line.match.group("value"):
                quote, inner, suffix = _split_value(line.match.group("value"))
                masked = quote + label(inner) + quote + suffix if quote else label(inner)
                text = text[: line.match.start("value")] + masked + text[line.match.end("value"):]
            elif line.match is None and line.text.strip():
                # a comment: mask long token-like words (an old secret kept as a note) and NAME=VALUE forms
                body = line.text.lstrip(" \t#;")
                inner_match = _ASSIGNMENT.match(body)
                if inner_match and is_secret_var(inner_match.group("name"), id_vars) and inner_match.group("value"):
                    start = len(line.text) - len(body)
                    text = line.text[: start + inner_match.start("value")] + label(inner_match.group("value")) + \
                        line.text[start + inner_match.end("value"):]
                else:
                    text = re.sub(r"[A-Za-z0-9/+=]{30,}", lambda m: label(m.group(0)), text)
            out.append(text + line.eol)
        return self.bom + "".join(out)


# ---------------------------------------------------------------------- options
def parse_mode(mode):
    return _fileops.parse_mode(mode, EnvFileError)


def wanted_entries(params):
    """The entries to manage: [{"id_var", "secret_var", "access_key_id", "secret_access_key"}] (validated)."""
    entries = []
    if params.get("entries"):
        if params.get("access_key_id") is not None or params.get("secret_access_key") is not None:
            raise EnvFileError("entries and access_key_id/secret_access_key are mutually exclusive")
        raw = params["entries"]
    else:
        raw = [{"id_var": params.get("id_var"), "secret_var": params.get("secret_var"),
                "access_key_id": params.get("access_key_id"), "secret_access_key": params.get("secret_access_key")}]
    seen = set()
    for index, entry in enumerate(raw):
        where = "entries[%d]" % index if params.get("entries") else "options"
        if not isinstance(entry, dict):
            raise EnvFileError("%s must be a dict" % where)
        unknown = sorted(set(entry) - {"id_var", "secret_var", "access_key_id", "secret_access_key"})
        if unknown:
            raise EnvFileError("%s: unknown key(s) %s" % (where, ", ".join(unknown)))
        id_var = entry.get("id_var") or DEFAULT_ID_VAR
        secret_var = entry.get("secret_var") or DEFAULT_SECRET_VAR
        for option, name in (("id_var", id_var), ("secret_var", secret_var)):
            if not isinstance(name, str) or not _VAR_NAME.match(name):
                raise EnvFileError("%s: %s %r is not a valid variable name (letters, digits, _; not starting with a digit)"
                                   % (where, option, name))
        if id_var == secret_var:
            raise EnvFileError("%s: id_var and secret_var must differ" % where)
        for name in (id_var, secret_var):
            if name in seen:
                raise EnvFileError("%s: variable %s is managed twice" % (where, name))
            seen.add(name)
        key_id = entry.get("access_key_id")
        secret = entry.get("secret_access_key")
        if key_id is not None or secret is not None:
            problem = key_id_problem(key_id)
            if problem:
                raise EnvFileError("%s: access_key_id: %s; nothing was changed" % (where, problem))
            if not isinstance(secret, str) or not secret:
                raise EnvFileError("%s: secret_access_key is required with access_key_id" % where)
            if not _PLAIN_VALUE.match(secret):
                raise EnvFileError("%s: secret_access_key holds characters a secret access key cannot have" % where)
        entries.append({"id_var": id_var, "secret_var": secret_var, "access_key_id": key_id, "secret_access_key": secret})
    return entries


# ---------------------------------------------------------------------- planning (pure)
def plan(data, attrs, entries, mode=0o600, uid=-1, gid=-1):
    """new_data (None when the content stays), actions, the before/after files and the resulting key ids."""
    actions = []
    before = EnvFile.parse(data) if data is not None else None
    after = EnvFile.parse(data) if data is not None else EnvFile([])
    results = []
    changed_content = False
    for entry in entries:
        held_id = after.value(entry["id_var"])
        after.find(entry["secret_var"])  # refuses a duplicate secret line too
        if entry["access_key_id"] is None:
            results.append({"id_var": entry["id_var"], "secret_var": entry["secret_var"], "access_key_id": held_id,
                            "has_secret": bool(after.value(entry["secret_var"])), "changed": False})
            continue
        changed = after.set(entry["id_var"], entry["access_key_id"])
        changed = after.set(entry["secret_var"], entry["secret_access_key"]) or changed
        if changed:
            changed_content = True
            actions.append({"action": "create_file" if data is None else "update_entry", "id_var": entry["id_var"],
                            "reason": "the file does not exist" if data is None else
                            ("the variables are missing" if held_id is None else "the key differs")})
        results.append({"id_var": entry["id_var"], "secret_var": entry["secret_var"], "access_key_id": entry["access_key_id"],
                        "has_secret": True, "changed": changed})
    new_data = after.render() if changed_content else None
    if new_data is None:
        actions.extend(_fileops.mode_owner_actions(attrs, mode, uid, gid))
    return {"before": before, "after": after, "new_data": new_data, "actions": actions, "entries": results}


def masked_diff(path, planned, entries):
    id_vars = tuple(entry["id_var"] for entry in entries)
    labels = {}
    before = planned["before"]
    return {
        "before_header": path,
        "after_header": path,
        "before": before.masked_text(id_vars, labels) if before is not None else "",
        "after": planned["after"].masked_text(id_vars, labels),
    }


# ---------------------------------------------------------------------- reading / applying
def _read_and_plan(path, entries, mode, uid, gid, writing):
    data = _fileops.read_regular_file(path)
    if data is None and not writing:
        return None
    # a task that only reads never changes the file's mode, owner or attributes
    attrs = _fileops.stat_attrs(path) if data is not None and writing else None
    return plan(data, attrs, entries, mode, uid, gid)


def _apply(path, planned, mode, params):
    if planned["new_data"] is not None:
        _fileops.atomic_write(path, planned["new_data"], mode=mode, owner=params.get("owner"), group=params.get("group"))


def run_module(module):
    params = module.params
    for entry in params.get("entries") or []:
        if isinstance(entry, dict) and entry.get("secret_access_key"):
            module.no_log_values.add(str(entry["secret_access_key"]))
    result = {"changed": False, "path": params["path"], "exists": False, "entries": [], "actions": []}
    fs_changed, fs_diff = False, None
    try:
        entries = wanted_entries(params)
        writing = any(entry["access_key_id"] is not None for entry in entries)
        mode = parse_mode(params.get("mode"))
        path, uid, gid = _fileops.target_and_owner(params)

        def read_and_plan(target):
            return _read_and_plan(target, entries, mode, uid, gid, writing)

        def apply(target, planned):
            _apply(target, planned, mode, params)

        path, planned, _applied, attributes = _fileops.plan_under_lock(module, params, path, read_and_plan, apply, writing, mode)
        if attributes is not None:
            fs_changed, other, fs_diff = attributes
            if other and planned["new_data"] is None:
                planned["actions"].append({"action": "set_attributes", "reason": "the SELinux context or attributes differ"})
    except (EnvFileError, _fileops.FileOpError) as exc:
        module.fail_json(msg="%s: %s" % (params["path"], exc), **result)
    except OSError as exc:
        module.fail_json(msg="cannot change the mode or owner of %s: %s" % (params["path"], exc.strerror or exc), **result)
    if planned is None:
        result["entries"] = [{"id_var": entry["id_var"], "secret_var": entry["secret_var"], "access_key_id": None,
                              "has_secret": False, "changed": False} for entry in entries]
        module.exit_json(**result)
    result.update(changed=bool(planned["actions"]) or fs_changed, path=path, exists=True, entries=planned["entries"],
                  actions=planned["actions"])
    attrs_now = _fileops.stat_attrs(path)
    if attrs_now is not None:
        result["mode"] = "%04o" % stat.S_IMODE(attrs_now["mode"])
    if len(entries) == 1:
        result["access_key_id"] = planned["entries"][0]["access_key_id"]
    if module._diff:
        diff = _fileops.combine_diffs(masked_diff(path, planned, entries) if planned["new_data"] is not None else None, fs_diff)
        if diff:
            result["diff"] = diff
    module.exit_json(**result)
