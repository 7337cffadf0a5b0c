"""What commands that talk to a running service share: which server, which token, the client,
one-line errors with a hint, and output for people or (``--json``) for scripts.

The server is ``--url`` (env ``PLATINUM_URL``), else the one of the last ``platinum login``,
else ``http://127.0.0.1:8000``. The token is ``--token`` (env ``PLATINUM_TOKEN``), else the
one ``platinum login`` stored for that server in the user's config directory (a file of mode
0600; ``PLATINUM_CONFIG_DIR`` moves it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli.common import fail, printable

DEFAULT_URL = "http://127.0.0.1:8000"

Url = Annotated[
    str | None,
    typer.Option("--url", envvar="PLATINUM_URL", metavar="URL", show_default=False,
                 help="The Platinum API (default: the last login's, else " + DEFAULT_URL + ")."),
]  # fmt: skip
Token = Annotated[
    str | None,
    typer.Option("--token", envvar="PLATINUM_TOKEN", metavar="TOKEN", show_default=False,
                 help="Bearer token (session or API key); default: the one `platinum login` "
                 "stored for the server."),
]  # fmt: skip
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON, for scripts.")]


def config_dir() -> Path:
    """Where ``platinum login`` keeps its tokens."""
    explicit = os.environ.get("PLATINUM_CONFIG_DIR")
    if explicit:
        return Path(explicit)
    import platformdirs

    return Path(platformdirs.user_config_dir("platinum", appauthor=False))


def credentials_path() -> Path:
    return config_dir() / "credentials.json"


def _normal(url: str) -> str:
    return url.strip().rstrip("/")


def read_credentials() -> dict[str, Any]:
    try:
        data = json.loads(credentials_path().read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"servers": {}}
    except (OSError, ValueError) as e:
        raise fail(f"cannot read {credentials_path()}: {e}") from None
    return data if isinstance(data, dict) and isinstance(data.get("servers"), dict) else {
        "servers": {}
    }


def _write_credentials(data: dict[str, Any]) -> None:
    """Written whole to a new file of mode 0600 (never readable by others, not even for a
    moment), then renamed over the old one."""
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fresh = path.with_suffix(".tmp")
    fresh.unlink(missing_ok=True)
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
    os.replace(fresh, path)


def remember(url: str, token: str, **about: Any) -> None:
    """Keep ``token`` for ``url`` and make ``url`` the default server."""
    data = read_credentials()
    data["servers"][_normal(url)] = {"token": token, **about}
    data["current"] = _normal(url)
    _write_credentials(data)


def forget(url: str) -> bool:
    data = read_credentials()
    gone = data["servers"].pop(_normal(url), None) is not None
    if data.get("current") == _normal(url):
        data.pop("current")
    _write_credentials(data)
    return gone


def server(url: str | None) -> str:
    return _normal(url or read_credentials().get("current") or DEFAULT_URL)


def token_for(url: str, token: str | None) -> str | None:
    if token:
        return token
    stored = read_credentials()["servers"].get(_normal(url), {})
    found = stored.get("token") if isinstance(stored, dict) else None
    return found if isinstance(found, str) else None


@contextmanager
def connected(url: str | None, token: str | None, *, anonymous: bool = False) -> Iterator[Any]:
    """A ``Client`` of the server (see the module's doc); any API problem or an unreachable
    server leaves the command as one line on stderr, exit 1."""
    from api.client import APIError, Client, RetryPolicy, UnreachableError

    base = server(url)
    credential = token_for(base, token)
    if credential is None and not anonymous:
        raise fail(f"not logged in to {base}: run `platinum login --url {base}` or pass --token")
    try:
        with Client(base, credential, retry=RetryPolicy(attempts=3, initial_wait_s=0.2)) as c:
            yield c
    except UnreachableError:
        raise fail(f"cannot reach {base}: is `platinum serve` running at {base}?") from None
    except APIError as e:
        raise fail(e.summary()) from None


def plain(value: Any) -> Any:
    """Models and lists of models as JSON-ready data."""
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def print_json(value: Any) -> None:
    typer.echo(json.dumps(plain(value), indent=2, ensure_ascii=False))


def cell(value: Any) -> Any:
    """A value as rich shows it: plain text (never markup), no control codes."""
    from rich.text import Text

    return Text("" if value is None else printable(value))


def table(rows: list[dict[str, Any]], columns: list[str], title: str | None = None) -> None:
    """Rows as a table on stdout (a person reads it; scripts use ``--json``)."""
    from rich.console import Console
    from rich.table import Table

    out = Table(*columns, title=title, box=None, header_style="bold")
    for row in rows:
        out.add_row(*(cell(row.get(c)) for c in columns))
    Console(soft_wrap=True).print(out)
