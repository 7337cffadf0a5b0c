"""``platinum login``, ``logout``, ``whoami`` and ``tenants create``: who the CLI is, where."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.remote import AsJson, Token, Url, connected, forget, print_json, remember, server

tenants_app = typer.Typer(help="Tenants (the platform admin's; through the HTTP API).",
                          no_args_is_help=True)  # fmt: skip


def login(
    url: Url = None,
    token: Annotated[
        str | None,
        typer.Option("--token", metavar="TOKEN", help="Keep this token (an API key, a session "
                     "or the platform admin's) instead of signing in."),
    ] = None,
    tenant: Annotated[
        str | None, typer.Option(metavar="SLUG", help="The tenant's slug (prompted if omitted).")
    ] = None,
    email: Annotated[str | None, typer.Option(help="Prompted if omitted.")] = None,
    password: Annotated[
        str | None,
        typer.Option(envvar="PLATINUM_PASSWORD", show_envvar=True,
                     help="Prompted (hidden) if omitted."),
    ] = None,
) -> None:
    """Sign in to a server and keep the token for later commands (per server, mode 0600)."""
    from api.client import ForbiddenError

    base = server(url)
    if token is None:
        tenant = tenant or typer.prompt("Tenant (slug)")
        email = email or typer.prompt("Email")
        password = password or typer.prompt("Password", hide_input=True)
        with connected(base, None, anonymous=True) as client:
            session = client.login(tenant, email, password)
        remember(base, session.token, tenant=tenant, email=email)
        typer.echo(f"logged in to {base} as {email} (tenant {tenant})")
        return
    with connected(base, token) as client:
        try:
            me = client.me()
            who = f"{me.user.email if me.user else 'API key'} (tenant {me.tenant.slug})"
        except ForbiddenError:
            who = "a credential of no tenant (the platform admin's?)"
    remember(base, token)
    typer.echo(f"logged in to {base} as {who}")


def logout(url: Url = None) -> None:
    """End the session on the server (if it is one) and forget its token here."""
    from api.client import APIError

    base = server(url)
    try:
        with connected(base, None) as client:
            client.logout()
    except (APIError, typer.Exit):
        pass  # an API key or an expired session: nothing to end, only to forget
    typer.echo(f"logged out of {base}" if forget(base) else f"no token kept for {base}")


def whoami(url: Url = None, token: Token = None, as_json: AsJson = False) -> None:
    """The caller: tenant, role, permissions."""
    with connected(url, token) as client:
        me = client.me()
    if as_json:
        print_json(me)
        return
    who = me.user.email if me.user else f"API key {me.api_key.name if me.api_key else ''}"
    typer.echo(f"{who} — {me.role} of tenant {me.tenant.slug} ({me.tenant.status})")


@tenants_app.command("create")
def tenants_create(
    slug: Annotated[str, typer.Argument(help="Unique, kebab-case, e.g. acme.")],
    name: Annotated[str, typer.Option(help="The tenant's display name.")],
    admin_email: Annotated[str, typer.Option(help="Its first admin's email.")],
    admin_password: Annotated[
        str,
        typer.Option(prompt=True, hide_input=True, envvar="PLATINUM_ADMIN_PASSWORD",
                     help="Its first admin's password (prompted, hidden, if omitted)."),
    ],
    url: Url = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Create a tenant and its first admin (with the platform admin token)."""
    with connected(url, token) as client:
        created = client.tenants.create(name, slug, admin_email, admin_password)
    if as_json:
        print_json(created)
    else:
        typer.echo(f"created tenant {created.slug} ({created.id}); its admin: {admin_email}")

