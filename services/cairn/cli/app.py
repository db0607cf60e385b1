"""The typer app, its global options, and the one place where failures become exit codes.

Exit codes: 0 done; 1 the api or the ledger refused, or the api was unreachable; 2 the
input was wrong and nothing was sent; 130 interrupted.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

from cairn.core.domain.identity import InvalidInput
from cairn.sdk.errors import CairnError

F = TypeVar("F", bound=Callable[..., Any])


class Group(TyperGroup):
    """`cairn` and its groups (`cairn token`, ...): their options (--api-url, --token,
    --progress; --help) are processed before every command below them, `cairn search --help`
    too. typer builds a pydantic TypeAdapter for an option before it looks at the value, so
    options nobody gave imported pydantic (~100 ms of CPU) on every run (issue 12). An option
    not given is None either way: only a given one goes through typer's coercion; its
    callback (--help's) still runs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            _coerce_when_given(param)

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None:
            _coerce_when_given(option)
        return option


def _coerce_when_given(param: Any) -> None:
    if getattr(param, "_cairn_coerce_when_given", False):
        return
    coerce = param.process_value

    def process_value(ctx: Any, value: Any) -> Any:
        if value is not None or param.required or param.multiple or param.nargs != 1:
            return coerce(ctx, value)
        # typer's coercion turns None into None; then comes the callback, as there
        return param.callback(ctx, param, None) if param.callback is not None else None

    param.process_value = process_value
    param._cairn_coerce_when_given = True


app = typer.Typer(
    name="cairn",
    cls=Group,
    help="Publish, find and fetch models, datasets and evaluation logs in Cairn.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # click's plain help and usage errors: typer's rich ones import its rich_utils, which
    # loads rich.markdown, rich.traceback, markdown_it, pygments and attrs, ~140 ms of CPU
    # on every `cairn --help` (issue 12: under 300 ms)
    rich_markup_mode=None,
)


@dataclass
class Options:
    api_url: str | None = None
    token: str | None = None
    progress: bool | None = None


_given = Options()  # set by the callback, which runs before every command


@app.callback()
def main(
    api_url: Annotated[str | None, typer.Option(
        "--api-url", help="The api's URL (env CAIRN_API_URL; default http://127.0.0.1:18000)",
        show_default=False)] = None,
    token: Annotated[str | None, typer.Option(
        "--token", help="Bearer token (env CAIRN_TOKEN, else the one `cairn login` stored)",
        show_default=False)] = None,
    progress: Annotated[bool | None, typer.Option(
        "--progress/--no-progress", help="Progress bars (default: on a terminal)",
        show_default=False)] = None,
) -> None:
    shown = progress if progress is not None else (True if sys.stderr.isatty() else None)
    global _given
    _given = Options(api_url, token, shown)


def client(transport: str = "http") -> Any:
    """A Client from the global options; built lazily so local checks come first."""
    from cairn.sdk.client import Client

    return Client(_given.api_url, _given.token, transport=transport,  # type: ignore[arg-type]
                  progress=_given.progress)


def write(send: Callable[[Any], dict[str, Any]], what: str | Callable[[dict[str, Any]], str], *,
          wait: bool = True, as_json: bool = False) -> dict[str, Any]:
    """Make a change with `send(client)` (a Client write method given the same `wait`) and say
    so: the answer and status as plain JSON, or one line naming `what` (or `what(answer)`).
    Every write command ends like this, so each prints and waits alike. Returns the answer."""
    from cairn.cli import render

    with client() as c:
        answer = send(c)
    if not wait:  # the api's answer as it came, without the SDK's "pending" marker
        answer = {k: v for k, v in answer.items() if k != "status"}
    if as_json:
        render.as_json(answer)
    else:
        render.written(what(answer) if callable(what) else what, answer)
    return answer


def handled(fn: F) -> F:
    """Report any failure as one line on stderr, with an exit code, never a traceback."""
    from cairn.cli import render

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except InvalidInput as exc:
            render.fail(CairnError(exc.reason, str(exc)))
            raise typer.Exit(2) from None
        except CairnError as exc:
            render.fail(exc)
            raise typer.Exit(2 if exc.local else 1) from None
        except OSError as exc:  # local files: permission denied, disk full, ...
            render.fail(CairnError("os_error", f"{exc}; fix the file or directory and retry"))
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            render.fail(CairnError("interrupted", "stopped by the user; nothing was left half-"
                                   "written (run the command again)"))
            raise typer.Exit(130) from None
        except Exception as exc:
            if not _invalid_settings(exc):
                raise
            first = exc.errors()[0]  # type: ignore[attr-defined]
            where = ".".join(str(p) for p in first.get("loc", ()))
            render.fail(CairnError("invalid_configuration", f"setting {where}: {first['msg']}; "
                                   "fix the environment variable or .env"))
            raise typer.Exit(2) from None

    _resolve_annotations(fn, wrapper)
    return wrapper  # type: ignore[return-value]


def _resolve_annotations(fn: Callable[..., Any], wrapper: Callable[..., Any]) -> None:
    """Evaluate `fn`'s annotations (strings, by `from __future__ import annotations`) once,
    here, and give `wrapper` the result: typer reads every command's signature twice while it
    builds the command tree, on every run (`--help` too), each time with
    inspect.signature(eval_str=True) and get_type_hints, compiling each annotation string
    four times; that was most of typer's ~70 ms of CPU before any command ran (issue 12).
    Left lazy if a name is not defined yet (typer then resolves it as before)."""
    try:
        signature = inspect.signature(fn, eval_str=True)
    except NameError:
        return
    wrapper.__signature__ = signature  # type: ignore[attr-defined]
    resolved = {p.name: p.annotation for p in signature.parameters.values()
                if p.annotation is not inspect.Parameter.empty}
    if signature.return_annotation is not inspect.Signature.empty:
        resolved["return"] = signature.return_annotation
    wrapper.__annotations__ = resolved


def _invalid_settings(exc: Exception) -> bool:
    """A pydantic ValidationError (bad settings), without importing pydantic for every
    command: if it was never imported, no such error can have been raised."""
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(exc, pydantic.ValidationError)


def command(*args: Any, **kwargs: Any) -> Callable[[F], F]:
    """`@app.command()` with failures handled."""
    def register(fn: F) -> F:
        app.command(*args, **kwargs)(handled(fn))
        return fn

    return register
