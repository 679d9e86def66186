"""The command line itself, in one place: global options on either side of the subcommand, choices
without regard to case, help placeholders in words, and one style for every usage error.

CrmGroup.main (cli/common.py) calls `prepare` once on the command tree and `arrange` on the arguments
before Typer parses them, and `usage_error` for whatever the parser refuses.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

# Options of the root command that may also come after the subcommand (`crm report best --db x.db`).
# Each maps to whether it takes a value.
GLOBAL_OPTIONS = {"--db": True, "--quiet": False, "-q": False, "--crlf": False}
# Options of the leaf command that may also come before the subcommand (`crm --format csv report best`).
LEAF_OPTIONS_BEFORE = ("--format", "-f")

# Help placeholders by option name, for text options; any other text option reads TEXT.
_PLACEHOLDERS = {
    "at": "DATE", "since": "DATE", "until": "DATE", "as_of": "DATE", "due": "DATE", "resolved_at": "DATE",
    "columns": "COLUMNS", "sort": "COLUMN", "tag": "TAG", "add_tag": "TAG", "remove_tag": "TAG",
    "by": "STAFF", "email": "EMAIL", "phone": "PHONE", "customer": "REF", "delimiter": "D",
    "date_format": "FORMAT", "map": "MAP",
}


def prepare(command: Any) -> None:
    """Walk the command tree once: every parameter gets a placeholder in words (REF, TEXT, DATE, N, FILE,
    a|b|c), never Typer's `<str>` or `<list[str]>`; flags get none."""
    if getattr(command, "_crm_prepared", False):
        return
    command._crm_prepared = True
    _flag_help_option(command)
    for param in getattr(command, "params", ()):
        _name_placeholder(param)
    for sub in (getattr(command, "commands", None) or {}).values():
        prepare(sub)


def _flag_help_option(command: Any) -> None:
    """The help option is made when a command parses, not with its other parameters: no placeholder either."""
    make = command.get_help_option

    def get_help_option(ctx: Any) -> Any:
        option = make(ctx)
        if option is not None and option.metavar is None:
            option.metavar = ""
        return option

    command.get_help_option = get_help_option


def _name_placeholder(param: Any) -> None:
    descriptor = getattr(param, "type_descriptor", None)
    if param.param_type_name == "argument":
        if param.metavar is None:
            param.metavar = (param.name or "VALUE").upper()
        # An argument's name is its placeholder already: no type column beside it, no {braces} in usage.
        param.display_type_rich = lambda ctx: None
        param._usage_display_name = lambda: (param.metavar if param.required else f"[{param.metavar}]") + (
            "..." if param.nargs != 1 else "")
        return
    if getattr(param, "min", None) is not None or getattr(param, "max", None) is not None:
        param._get_number_range_help_str = lambda: _range_in_words(param.min, param.max)
    if param.metavar is not None:
        return
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        param.metavar = ""
    elif descriptor is None:
        param.metavar = "TEXT"
    elif descriptor.is_choice:
        param.metavar = "|".join(str(getattr(c, "value", c)) for c in descriptor.choices or ())
    elif descriptor.is_path:
        said = (param.help or "").lower()
        param.metavar = "PATH" if "folder" in said or "director" in said else "FILE"
    elif _is(descriptor, int):
        param.metavar = "N"
    elif _is(descriptor, float):
        param.metavar = "NUMBER"
    else:
        param.metavar = _PLACEHOLDERS.get(param.name or "", "TEXT")


def _range_in_words(low: Any, high: Any) -> str:
    """`[x>=0]` as people say it."""
    if low is not None and high is not None:
        return f"{low} to {high}"
    return f"at least {low}" if low is not None else f"at most {high}"


def _is(descriptor: Any, kind: type) -> bool:
    from typing import get_args

    annotation = descriptor.annotation
    inner = get_args(annotation) if descriptor.is_list else (annotation,)
    return any(a is kind for a in inner)


def arrange(root: Any, args: Sequence[str]) -> list[str]:
    """The arguments with the root's options (--db, -q/--quiet, --crlf) moved to the front wherever they
    were given, and a leaf's --format given before the subcommand moved after it. Values of other
    options are skipped as values (`--note --quiet` keeps its note), and nothing after `--` moves."""
    front: list[str] = []
    rest: list[str] = []
    before_leaf: list[str] = []
    command = root
    tokens = list(args)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "--":
            rest += tokens[i:]
            break
        name, has_value = token.split("=", 1)[0], "=" in token
        if name in GLOBAL_OPTIONS and command is not root:
            takes = GLOBAL_OPTIONS[name] and not has_value
            front += tokens[i:i + 1 + takes]
            i += 1 + takes
            continue
        subcommands = getattr(command, "commands", None)
        if subcommands and name in LEAF_OPTIONS_BEFORE:  # before the subcommand: keep it for the leaf
            takes = not has_value
            before_leaf += tokens[i:i + 1 + takes]
            i += 1 + takes
            continue
        if token.startswith("-") and token != "-":
            takes = _takes_value(command, name) and not has_value
            rest += tokens[i:i + 1 + takes]
            i += 1 + takes
            continue
        if subcommands and token.lower() in subcommands:
            command = subcommands[token.lower()]
            rest.append(token)
            if not getattr(command, "commands", None) and before_leaf:
                rest += before_leaf
                before_leaf = []
            i += 1
            continue
        rest.append(token)
        i += 1
    # --format before a group that never reached its leaf: left where it was, for the parser to refuse.
    return front + before_leaf + rest if before_leaf else front + rest


def _takes_value(command: Any, name: str) -> bool:
    for param in getattr(command, "params", ()):
        if name in getattr(param, "opts", ()) or name in getattr(param, "secondary_opts", ()):
            return not (getattr(param, "is_flag", False) or getattr(param, "count", False))
    return False


def usage_error(exc: Any, root: Any = None, args: Sequence[str] = ()) -> int:
    """A usage error (missing argument, bad option or choice, unknown command) in crm's one style:
    `crm: error: ...` and a hint line on stderr, exit 2. Never Typer's boxed panel."""
    ctx = getattr(exc, "ctx", None)
    message = _message(exc)
    command_path = ctx.command_path if ctx is not None else _command_path(root, args)
    with _quietly():
        print(f"crm: error: {message}", file=sys.stderr)
        print(f"Try '{command_path} --help'.", file=sys.stderr)
    return 2


def _command_path(root: Any, args: Sequence[str]) -> str:
    """`crm report best` for an error the parser raised without its context (a missing option value)."""
    path, command = ["crm"], root
    for token in args:
        subcommands = getattr(command, "commands", None) or {}
        if token.lower() in subcommands:
            command = subcommands[token.lower()]
            path.append(token.lower())
    return " ".join(path)


def _message(exc: Any) -> str:
    from typer._click import exceptions as click_errors

    param = getattr(exc, "param", None)
    if isinstance(exc, click_errors.MissingParameter) and param is not None:
        kind = "argument" if param.param_type_name == "argument" else "option"
        return f"missing {kind} {_param_hint(param)}"
    if isinstance(exc, click_errors.BadParameter) and param is not None:
        where = _param_hint(param)
        cause: Any = exc.__cause__  # pydantic's ValidationError, for the values Typer checks with it
        errors = cause.errors() if hasattr(cause, "errors") else []
        given = errors[0].get("input") if errors else None
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is not None and descriptor.is_choice and given is not None:
            choices = ", ".join(str(getattr(c, "value", c)) for c in descriptor.choices or ())
            return f"{where}: {given!r} is not one of {choices}"
        if errors:
            problem = str(errors[0].get("ctx", {}).get("error") or errors[0].get("msg", ""))
            problem = problem.removeprefix("Value error, ")
            return f"{where}: {problem}" + (f" ({given!r})" if given is not None and repr(given) not in problem
                                            else "")
        return f"{where}: {exc.message.removeprefix('Value error, ')}"
    message = exc.format_message()
    return message[:1].lower() + message[1:] if message[:2] != message[:2].upper() else message


def _param_hint(param: Any) -> str:
    if param.param_type_name == "argument":
        return param.metavar or (param.name or "").upper()
    return max(param.opts, key=len)  # --type, not -t


class _quietly:
    """Printing an error to a closed stderr has nowhere else to go."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return exc[0] is not None and issubclass(exc[0], OSError)  # type: ignore[arg-type]
