# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to keyops.aws: may change without notice.

A line-based parser and editor for AWS shared credentials and config files.

ConfigParser loses comments, blank lines and formatting; this module keeps every line it does not
have to change byte for byte (CRLF or LF line ends, ``key=value`` or ``key = value`` or
``key: value``, indentation, continuation lines such as nested ``s3`` settings, a missing final
newline, a UTF-8 byte order mark). It reads files the way botocore's RawConfigParser does:

- ``#`` and ``;`` start a full-line comment (there are no inline comments: ``k = v # x`` has the
  value ``v # x``);
- a line indented deeper than the key line above it continues that key's value (blank and comment
  lines in between do not end the value);
- option names are case-insensitive, section names are not; a section or an option that appears
  twice is an error (botocore refuses such a file);
- a section header is ``[`` up to the last ``]`` of the line, what follows is ignored
  (``[profile foo] # comment``); a setting before the first section and a nested block line
  without ``=`` are errors (botocore refuses both files);
- ``[default]`` and ``[profile default]`` in one config file are refused although botocore reads
  such a file: botocore uses the later section, smithy-rs (the Rust SDK) the ``profile`` one.
- in a config file the profile ``NAME`` is the section ``[profile NAME]`` (``[default]`` or
  ``[profile default]`` for the default profile); in a credentials file it is ``[NAME]``.

Nothing here puts a value in an exception message: only line numbers, section and key names.
"""

import re
import shlex

from ansible_collections.keyops.aws.plugins.module_utils._key_ids import key_id_problem, mask_key_id  # noqa: F401 pylint: disable=unused-import

CREDENTIALS = "credentials"
CONFIG = "config"

ACCESS_KEY_ID = "aws_access_key_id"
SECRET_ACCESS_KEY = "aws_secret_access_key"
SESSION_TOKEN = "aws_session_token"
SECURITY_TOKEN = "aws_security_token"  # the older name of the session token, still read by botocore
CREDENTIAL_KEYS = (ACCESS_KEY_ID, SECRET_ACCESS_KEY, SESSION_TOKEN, SECURITY_TOKEN)

MASK = "********"
# Option names whose values are masked in diffs and never returned without return_secrets.
_SECRET_NAME = re.compile(r"secret|token|password|passphrase|credential_process", re.IGNORECASE)
_OPTION = re.compile(r"^(?P<indent>[ \t]*)(?P<name>[^=:]*?)(?P<sp1>[ \t]*)(?P<delim>[=:])(?P<sp2>[ \t]*)(?P<value>.*?)(?P<trail>[ \t]*)$")
# As configparser's SECTCRE, matched against the stripped line: the header runs to the LAST "]" and
# whatever follows it is ignored (``[profile foo] # comment`` and ``[profile foo];`` are profile foo).
_SECTION = re.compile(r"\[(?P<header>.+)\]")
_OPTION_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
_BOM = "\ufeff"

BLANK, COMMENT, SECTION, OPTION, CONTINUATION = "blank", "comment", "section", "option", "continuation"


class CredentialsFileError(Exception):
    """A problem with a credentials/config file or with a requested change (never holds a secret)."""


def is_secret_name(name):
    return bool(_SECRET_NAME.search(name or ""))


class Line:
    """One physical line: its text without the line end, the line end, what it is."""

    __slots__ = ("text", "eol", "kind", "number", "name", "value", "indent", "section")

    def __init__(self, text, eol, kind, number, name=None, value=None, indent=0):
        self.text = text
        self.eol = eol
        self.kind = kind
        self.number = number
        self.name = name  # option name (lowercase) or section header
        self.value = value  # option value (stripped) or continuation text (stripped)
        self.indent = indent
        self.section = None  # index of the Section the line belongs to (None: before any section)

    @property
    def raw(self):
        return self.text + self.eol


class Section:
    """A section: where its header is and which lines are its options."""

    def __init__(self, header, start):
        self.header = header
        self.start = start  # index of the header line
        self.end = start + 1  # index after its last line (set by the parser)
        self.options = {}  # lowercase name -> index of the option line

    def profile_name(self, file_type):
        """The profile this section configures, or None when it is not a profile section."""
        if file_type == CREDENTIALS:
            return self.header
        if self.header == "default":
            return "default"
        if self.header.startswith("profile"):
            try:
                parts = shlex.split(self.header)
            except ValueError:
                return None
            if len(parts) == 2 and parts[0] == "profile":
                return parts[1]
        return None


def _split_lines(text):
    """[(text, eol)] keeping CRLF, LF or nothing (last line without newline)."""
    lines = []
    parts = text.split("\n")
    for part in parts[:-1]:
        if part.endswith("\r"):
            lines.append((part[:-1], "\r\n"))
        else:
            lines.append((part, "\n"))
    if parts[-1]:
        lines.append((parts[-1], ""))
    return lines


def _check_nested(lines):
    """Refuse a nested block line botocore cannot read.

    A setting with an empty value followed by indented lines (``s3 =`` + ``  max_concurrency = 10``)
    is a nested block: botocore splits each of its lines at ``=`` and refuses the whole file when a
    line has none (configloader._parse_nested).
    """
    nested = False
    for line in lines:
        if line.kind == OPTION:
            nested = line.value == ""
        elif line.kind == SECTION:
            nested = False
        elif line.kind == CONTINUATION and nested and "=" not in line.value:
            raise CredentialsFileError(
                "line %d: a line of the nested block of %s has no '='; AWS tools refuse to read such a file"
                % (line.number, _owner_name(lines, line))
            )


def _owner_name(lines, continuation):
    name = "?"
    for line in lines:
        if line is continuation:
            break
        if line.kind == OPTION:
            name = line.name
    return name


class CredentialsFile:
    """A parsed credentials/config file that renders back to the exact bytes it was read from."""

    def __init__(self, lines, file_type=CREDENTIALS, bom=""):
        self.lines = lines
        self.file_type = file_type
        self.bom = bom
        self.sections = []
        self.warnings = []
        self._index()

    # ------------------------------------------------------------------ parsing
    @classmethod
    def parse(cls, data, file_type=CREDENTIALS):
        """Parse bytes (or text); raises CredentialsFileError naming the line of a problem."""
        if data is None:
            data = b""
        if isinstance(data, bytes):
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                line = data[: exc.start].count(b"\n") + 1
                raise CredentialsFileError("line %d is not UTF-8 text" % line) from None
        else:
            text = data
        bom = ""
        if text.startswith(_BOM):
            bom, text = _BOM, text[1:]
        lines = []
        option_indent = None  # indent of the option a continuation would belong to
        in_section = False
        for number, (body, eol) in enumerate(_split_lines(text), 1):
            stripped = body.strip()
            indent = len(body) - len(body.lstrip(" \t"))
            if not stripped:
                lines.append(Line(body, eol, BLANK, number))
                continue
            if stripped.startswith(("#", ";")):
                lines.append(Line(body, eol, COMMENT, number))
                continue
            if option_indent is not None and indent > option_indent:
                lines.append(Line(body, eol, CONTINUATION, number, value=stripped, indent=indent))
                continue
            section = _SECTION.match(stripped)
            if section:
                lines.append(Line(body, eol, SECTION, number, name=section.group("header")))
                option_indent = None
                in_section = True
                continue
            if not in_section and not stripped.startswith("["):
                # botocore (configparser) refuses the whole file: MissingSectionHeaderError
                raise CredentialsFileError(
                    "line %d: a setting before the first [section]; AWS tools refuse to read such a file" % number
                )
            option = _OPTION.match(body)
            if option and option.group("name").strip():
                name = option.group("name").strip().lower()
                lines.append(Line(body, eol, OPTION, number, name=name, value=option.group("value"), indent=indent))
                option_indent = indent
                continue
            if stripped.startswith("["):
                raise CredentialsFileError("line %d: a section header must look like [name]" % number)
            raise CredentialsFileError("line %d: expected [section], key = value, a comment or a blank line" % number)
        _check_nested(lines)
        return cls(lines, file_type, bom)

    def _index(self):
        self.sections = []
        self.warnings = []
        seen = {}
        current = None
        last_option = None
        for index, line in enumerate(self.lines):
            if line.kind == SECTION:
                if current is not None:
                    current.end = index
                current = Section(line.name, index)
                previous = seen.get(line.name)
                if previous is not None:
                    raise CredentialsFileError(
                        "section [%s] appears twice (lines %d and %d): AWS tools refuse such a file; merge them by hand"
                        % (line.name, self.lines[previous.start].number, line.number)
                    )
                seen[line.name] = current
                self.sections.append(current)
                last_option = None
            elif line.kind == OPTION:
                if current is None:
                    raise CredentialsFileError(
                        "line %d: a setting before the first [section]; AWS tools refuse to read such a file" % line.number
                    )
                elif line.name in current.options:
                    raise CredentialsFileError(
                        "line %d: %s appears twice in section [%s] (first on line %d)"
                        % (line.number, line.name, current.header, self.lines[current.options[line.name]].number)
                    )
                else:
                    current.options[line.name] = index
                last_option = index
            elif line.kind == CONTINUATION and last_option is None:
                # cannot happen through parse(); kept for safety with hand-built lines
                raise CredentialsFileError("line %d: an indented line that continues nothing" % line.number)
            line.section = len(self.sections) - 1 if current is not None else None
        if current is not None:
            current.end = len(self.lines)
        # Two sections naming the same profile ([default] and [profile default] in a config file).
        profiles = {}
        for section in self.sections:
            name = section.profile_name(self.file_type)
            if name is None:
                continue
            if name in profiles:
                raise CredentialsFileError(
                    "profile %s is defined twice (lines %d and %d): AWS tools would use only one; merge them by hand"
                    % (name, self.lines[profiles[name].start].number, self.lines[section.start].number)
                )
            profiles[name] = section
        self._profiles = profiles

    # ------------------------------------------------------------------ reading
    def render(self):
        return (self.bom + "".join(line.raw for line in self.lines)).encode("utf-8")

    def newline(self):
        for line in self.lines:
            if line.eol:
                return line.eol
        return "\n"

    def find_profile(self, profile):
        return self._profiles.get(profile)

    def option_value(self, section, name):
        """The value of an option: a string, or a dict for a nested block (``s3 =`` + indented lines)."""
        index = section.options.get(name)
        if index is None:
            return None
        line = self.lines[index]
        continuation = [self.lines[i] for i in self._continuation(index)]
        continuation = [item for item in continuation if item.kind == CONTINUATION]
        if not continuation:
            return line.value
        if line.value == "":
            nested = {}
            for item in continuation:
                # as botocore's _parse_nested: split at the first "=", names keep their case
                if "=" not in item.value:
                    return "\n".join([line.value] + [item.value for item in continuation])
                key, _sep, val = item.value.partition("=")
                nested[key.strip()] = val.strip()
            return nested
        return "\n".join([line.value] + [item.value for item in continuation])

    def _continuation(self, index):
        """Indexes of the continuation lines of the option at index (with blank/comment lines between them)."""
        result = []
        pending = []
        for position in range(index + 1, len(self.lines)):
            kind = self.lines[position].kind
            if kind == CONTINUATION:
                result.extend(pending)
                pending = []
                result.append(position)
            elif kind in (BLANK, COMMENT):
                pending.append(position)
            else:
                break
        return result

    def profiles(self):
        """[(profile name, {option: value})] in file order."""
        result = []
        for section in self.sections:
            name = section.profile_name(self.file_type)
            if name is None:
                continue
            options = {}
            for option in sorted(section.options, key=lambda key: section.options[key]):
                options[option] = self.option_value(section, option)
            result.append((name, options))
        return result

    # ------------------------------------------------------------------ editing
    def section_header_for(self, profile):
        if self.file_type == CONFIG and profile != "default":
            return "profile %s" % profile
        return profile

    def set_profile(self, profile, values):
        """Set options of a profile (creating it at the end when missing).

        values: {name: str | dict | None} in the order to add missing ones; None removes the option.
        Options not named keep their lines untouched. Returns True when something changed.
        """
        check_profile_name(profile)
        for name, value in values.items():
            check_option(name, value)
        # Linear in the file per profile: no re-rendering, and the file is re-indexed only when lines
        # move (an option added or removed, a nested block resized), so editing every profile of a
        # large file stays fast.
        section = self.find_profile(profile)
        if section is None:
            wanted = [(name, value) for name, value in values.items() if value is not None]
            self._append_section(self.section_header_for(profile), wanted)
            self._index()
            return True
        changed = False
        for name, value in values.items():
            section = self.find_profile(profile)
            changed = self._set_option(section, name.lower(), name, value) or changed
        return changed

    def remove_profile(self, profile):
        """Remove the profile's section (with the comment block right above its header). True if changed."""
        section = self.find_profile(profile)
        if section is None:
            return False
        start = section.start
        while start > 0 and self.lines[start - 1].kind == COMMENT:
            start -= 1
        end = section.end
        if end < len(self.lines):
            # the comment block directly above the next header belongs to that section
            while end - 1 > section.start and self.lines[end - 1].kind == COMMENT:
                end -= 1
        else:
            # removing the last section: also drop the blank lines that separated it
            while start > 0 and self.lines[start - 1].kind == BLANK:
                start -= 1
        del self.lines[start:end]
        self._index()
        return True

    def _append_section(self, header, options):
        eol = self.newline()
        if self.lines and not self.lines[-1].eol:
            self.lines[-1].eol = eol
        if self.lines and self.lines[-1].kind != BLANK:
            self.lines.append(Line("", eol, BLANK, 0))
        self.lines.append(Line("[%s]" % header, eol, SECTION, 0, name=header))
        for name, value in options:
            self.lines.extend(self._option_lines(name, value, eol, " = ", ""))

    def _style(self, section):
        """(separator, indent) of the section's first option, for options added to it."""
        for index in sorted(section.options.values()):
            match = _OPTION.match(self.lines[index].text)
            if match:
                sep = match.group("sp1") + match.group("delim") + (match.group("sp2") or match.group("sp1"))
                return sep, match.group("indent")
        return " = ", ""

    def _option_lines(self, name, value, eol, sep, indent):
        if isinstance(value, dict):
            lines = [Line("%s%s%s" % (indent, name, sep.rstrip()), eol, OPTION, 0, name=name.lower(), value="")]
            for key, item in value.items():
                lines.append(Line("%s    %s%s%s" % (indent, key, sep, item), eol, CONTINUATION, 0, value="%s%s%s" % (key, sep, item)))
            return lines
        return [Line("%s%s%s%s" % (indent, name, sep, value), eol, OPTION, 0, name=name.lower(), value=value)]

    def _set_option(self, section, key, name, value):
        """Set (or with None remove) one option; True when the file changed."""
        index = section.options.get(key)
        if index is None:
            if value is None:
                return False
            sep, indent = self._style(section)
            if section.options:
                last = max(section.options.values())
                continuation = self._continuation(last)
                after = (continuation[-1] if continuation else last) + 1
            else:
                after = section.start + 1
            eol = self.newline()
            insert_at = after
            new_lines = self._option_lines(name, value, eol, sep, indent)
            if self.lines[insert_at - 1].eol == "":
                # the file ended without a newline: so does it after the insertion
                self.lines[insert_at - 1].eol = eol
                new_lines[-1].eol = ""
            self.lines[insert_at:insert_at] = new_lines
            self._index()
            return True
        if self.option_value(section, key) == value:
            return False
        line = self.lines[index]
        continuation = self._continuation(index)
        span_end = (continuation[-1] + 1) if continuation else index + 1
        if value is None:
            del self.lines[index:span_end]
            self._index()
            return True
        match = _OPTION.match(line.text)
        if isinstance(value, dict):
            sep = match.group("sp1") + match.group("delim") + (match.group("sp2") or " ")
            replacement = self._option_lines(match.group("name"), value, line.eol or self.newline(), sep, match.group("indent"))
            replacement[-1].eol = self.lines[span_end - 1].eol
        else:
            sp2 = match.group("sp2") or (" " if match.group("sp1") else "")
            text = "%s%s%s%s%s%s" % (
                match.group("indent"), match.group("name"), match.group("sp1"), match.group("delim"), sp2, value
            )
            replacement = [Line(text, self.lines[span_end - 1].eol, OPTION, line.number, name=key, value=value)]
        if len(replacement) == 1 and span_end == index + 1:
            # one line for one line: every index stays valid, no re-indexing
            replacement[0].section = line.section
            self.lines[index] = replacement[0]
            return True
        self.lines[index:span_end] = replacement
        self._index()
        return True

    # ------------------------------------------------------------------ masking
    def masked_text(self, labels=None):
        """The file as text with every secret value replaced by a label (same value -> same label).

        ``labels`` is a dict shared between renderings (before/after) so a diff shows which secrets
        changed without showing any of them. Secret-looking values in comments are masked too.
        """
        labels = {} if labels is None else labels

        def label(value):
            if value not in labels:
                labels[value] = "%s(secret %d)" % (MASK, len(labels) + 1)
            return labels[value]

        out = []
        secret_block = False
        for line in self.lines:
            text = line.text
            if line.kind == OPTION:
                secret_block = is_secret_name(line.name)
                if secret_block and line.value:
                    text = _mask_option_text(text, label)
            elif line.kind == CONTINUATION:
                match = _OPTION.match(text)
                if secret_block or (match and is_secret_name(match.group("name"))):
                    text = (text[: len(text) - len(text.lstrip())] + label(line.value)) if secret_block else _mask_option_text(text, label)
            elif line.kind == COMMENT:
                text = _mask_comment(text, label)
            elif line.kind == SECTION:
                secret_block = False
            out.append(text + line.eol)
        return self.bom + "".join(out)


def _mask_option_text(text, label):
    match = _OPTION.match(text)
    if not match or not match.group("value"):
        return text
    return text[: match.start("value")] + label(match.group("value")) + text[match.end("value"):]


def _mask_comment(text, label):
    body = text.lstrip(" \t#;")
    prefix = text[: len(text) - len(body)]
    match = _OPTION.match(body)
    if match and is_secret_name(match.group("name")) and match.group("value"):
        return prefix + _mask_option_text(body, label)
    # a long token-like word in a comment may be an old secret: mask those too
    return re.sub(r"[A-Za-z0-9/+=]{30,}", lambda m: label(m.group(0)), text)


def check_profile_name(profile):
    if not isinstance(profile, str) or not profile or profile != profile.strip():
        raise CredentialsFileError("a profile name must be a non-empty string without surrounding spaces")
    if re.search(r"[\[\]\r\n\"']", profile) or (" " in profile):
        raise CredentialsFileError("profile name %r holds a character a profile name cannot have ([ ] quotes, spaces, line breaks)" % profile)


def check_option(name, value):
    """Refuse a setting that would corrupt the file or not read back the same (never echoes a value)."""
    if not isinstance(name, str) or not _OPTION_NAME.match(name):
        raise CredentialsFileError("setting name %r is not a valid option name (letters, digits, _ . -)" % (name,))
    if value is None:
        return
    items = value.items() if isinstance(value, dict) else [(None, value)]
    if isinstance(value, dict) and not value:
        raise CredentialsFileError("setting %s: a nested block needs at least one key" % name)
    for sub, item in items:
        if sub is not None and (not isinstance(sub, str) or not _OPTION_NAME.match(sub)):
            raise CredentialsFileError("setting %s: nested name %r is not a valid option name" % (name, sub))
        if not isinstance(item, str):
            raise CredentialsFileError("setting %s: values must be strings" % name)
        if "\n" in item or "\r" in item:
            raise CredentialsFileError("setting %s: a value cannot hold a line break" % name)
        if item != item.strip():
            raise CredentialsFileError("setting %s: a value cannot start or end with spaces (AWS tools strip them)" % name)
