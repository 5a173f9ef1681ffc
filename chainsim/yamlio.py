"""Reading YAML safely: the safe loader only, no duplicate keys, no alias bombs, a size cap."""

from __future__ import annotations

import collections.abc
from pathlib import Path
from typing import Any

import yaml

from chainsim.errors import ModelError, Problem

MAX_BYTES = 1_000_000


class _Refused(yaml.constructor.ConstructorError):
    """Valid YAML that model files do not allow; the message already says the fix."""


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (a silent overwrite) and aliases (billion-laughs)."""

    def compose_node(self, parent, index):  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise _Refused(
                None, None, "anchors and aliases (*name) are not allowed: write the values out", mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):  # type: ignore[override]
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, collections.abc.Hashable):
                raise _Refused(
                    None, None, "a key cannot be a list or a mapping: write a plain name", key_node.start_mark)
            if key in seen:
                raise _Refused(
                    None, None, f"duplicate key {key!r}: keep one", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str | bytes, source: str = "model") -> Any:
    """Parse YAML text into Python data, or raise ModelError with the line and the reason."""
    if isinstance(text, bytes):
        if len(text) > MAX_BYTES:
            raise ModelError([Problem(source, f"file is {len(text):,} bytes; the limit is {MAX_BYTES:,}")])
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ModelError([Problem(source, f"not UTF-8 text (byte {exc.start}): save the file as UTF-8")]) from None
    if len(text) > MAX_BYTES:
        raise ModelError([Problem(source, f"file is {len(text):,} characters; the limit is {MAX_BYTES:,}")])
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - _StrictLoader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        reason = getattr(exc, "problem", None) or str(exc)
        fix = "" if isinstance(exc, _Refused) else ": fix the YAML syntax"
        raise ModelError([Problem(f"{source} ({where})", f"{reason}{fix}")]) from None
    except RecursionError:
        raise ModelError([Problem(source, "nesting is too deep")]) from None


def read_yaml(path: str | Path) -> Any:
    path = Path(path)
    if path.is_dir():
        raise ModelError([Problem(str(path), "is a folder: give the path of a model file (.yaml) in it")])
    if path.exists() and not path.is_file():  # /dev/null, a pipe: not found would be untrue
        raise ModelError([Problem(str(path), "is not a regular file: give the path of a model file (.yaml)")])
    if not path.is_file():
        raise ModelError([Problem(str(path), "file not found: check the path")])
    if path.stat().st_size > MAX_BYTES:
        raise ModelError([Problem(str(path), f"file is larger than {MAX_BYTES:,} bytes")])
    return parse_yaml(path.read_bytes(), source=str(path))
