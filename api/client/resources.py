"""The client's resources, each written once: ``client.workflows``, ``client.runs``... as
tables of the calls they send (``endpoint``: the answer; ``listing``: a pager).

``Client`` and ``AsyncClient`` hold the same classes, in their own mode (``Blocking``,
``Awaiting``); only what streams (``runs.stream``, ``audit.export``) is written per mode, in
``sync.py`` and ``aio.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from api.client import calls
from api.client import calls_people as people
from api.client import calls_tenant as more
from api.client.endpoints import Resource, S, endpoint, listing

if TYPE_CHECKING:
    import httpx


class Workflows(Resource[S]):
    create = endpoint(calls.workflow_create)
    submit = endpoint(calls.workflow_submit)
    validate = endpoint(calls.workflow_validate)
    list = listing(calls.workflows)
    get = endpoint(calls.workflow)
    versions = endpoint(calls.workflow_versions)
    update = endpoint(calls.workflow_update)
    activate = endpoint(calls.workflow_activate)
    pause = endpoint(calls.workflow_pause)
    archive = endpoint(calls.workflow_archive)
    schema = endpoint(calls.workflow_schema)


class Runs(Resource[S]):
    """``stream`` and ``wait`` are the clients' own (``sync.py``, ``aio.py``)."""

    start = endpoint(calls.run_start)
    list = listing(calls.runs)
    get = endpoint(calls.run)
    events = endpoint(calls.run_events)
    cancel = endpoint(calls.run_cancel)
    pause = endpoint(calls.run_pause)
    resume = endpoint(calls.run_resume)
    approve = endpoint(calls.run_approve)
    reject = endpoint(calls.run_reject)
    signal = endpoint(calls.run_signal)
    rerun = endpoint(calls.run_rerun)


class Schedules(Resource[S]):
    create = endpoint(more.schedule_create)
    list = listing(more.schedules)
    get = endpoint(more.schedule)
    update = endpoint(more.schedule_update)
    pause = endpoint(more.schedule_pause)
    resume = endpoint(more.schedule_resume)
    delete = endpoint(more.schedule_delete)


class Hooks(Resource[S]):
    create = endpoint(more.hook_create)
    list = listing(more.hooks)
    delete = endpoint(more.hook_delete)
    deliver = endpoint(more.hook_deliver)


class Audit(Resource[S]):
    """``export`` is the clients' own (it streams)."""

    events = listing(more.audit_events)
    verify = endpoint(more.audit_verify)
    checkpoints = endpoint(more.audit_checkpoints)
    checkpoint = endpoint(more.audit_checkpoint)
    public_keys = endpoint(more.audit_public_keys)
    inclusion_proof = endpoint(more.audit_inclusion_proof)
    consistency_proof = endpoint(more.audit_consistency_proof)
    history = endpoint(more.history)
    state_as_of = endpoint(more.state_as_of)


class ApiKeys(Resource[S]):
    create = endpoint(more.api_key_create)
    list = listing(more.api_keys)
    delete = endpoint(more.api_key_delete)


class Tenants(Resource[S]):
    """The platform admin's (its deploy-time token)."""

    create = endpoint(more.tenant_create)
    get = endpoint(more.tenant)
    update = endpoint(more.tenant_update)


class Users(Resource[S]):
    create = endpoint(people.user_create)
    list = listing(people.users)
    get = endpoint(people.user)
    update = endpoint(people.user_update)
    set_roles = endpoint(people.user_set_roles)
    erase = endpoint(people.user_erase)
    personal_data = endpoint(people.user_personal_data)


class Roles(Resource[S]):
    list = listing(people.roles)


class Preferences(Resource[S]):
    """The caller's own (``/v1/me/preferences``; users only, not API keys)."""

    get = endpoint(people.preference)
    set = endpoint(people.preference_set)
    delete = endpoint(people.preference_delete)


class Config(Resource[S]):
    """The tenant's configuration, one key at a time (admin)."""

    get = endpoint(people.config)
    set = endpoint(people.config_set)


class Marketplace(Resource[S]):
    publish = endpoint(people.skill_publish)
    list = listing(people.skills)
    get = endpoint(people.skill)
    approve = endpoint(people.skill_approve)
    reject = endpoint(people.skill_reject)


class Installations(Resource[S]):
    """The tenant's installed skills."""

    create = endpoint(people.install)
    list = listing(people.installations)
    get = endpoint(people.installation)
    update = endpoint(people.installation_update)
    delete = endpoint(people.uninstall)


class Notifications(Resource[S]):
    list = listing(people.notifications)
    send = endpoint(people.notification_send)
    mark_read = endpoint(people.notification_read)


class Conversations(Resource[S]):
    record = endpoint(people.conversation_record)
    list = listing(people.conversations)


class Groups(Resource[S]):
    """A client's own calls (``me``, ``health``, ``ready``) and its resources, the same on
    both clients; ``runs`` and ``audit`` (they stream), ``login`` and ``logout`` (they keep
    the token) are each client's own."""

    me = endpoint(more.me)
    health = endpoint(more.health)
    ready = endpoint(more.ready)

    _http: httpx.Client | httpx.AsyncClient
    _token: str | None

    @property
    def token(self) -> str | None:
        """The bearer token every call sends (None: no Authorization header)."""
        return self._token

    @token.setter
    def token(self, value: str | None) -> None:
        self._token = value
        self._http.headers.pop("Authorization", None)
        if value:
            self._http.headers["Authorization"] = f"Bearer {value}"

    def __init__(self) -> None:
        super().__init__(self)  # type: ignore[arg-type]  # a client: it sends and pages
        self.workflows: Workflows[S] = Workflows(self._client)
        self.schedules: Schedules[S] = Schedules(self._client)
        self.hooks: Hooks[S] = Hooks(self._client)
        self.api_keys: ApiKeys[S] = ApiKeys(self._client)
        self.tenants: Tenants[S] = Tenants(self._client)
        self.users: Users[S] = Users(self._client)
        self.roles: Roles[S] = Roles(self._client)
        self.preferences: Preferences[S] = Preferences(self._client)
        self.config: Config[S] = Config(self._client)
        self.marketplace: Marketplace[S] = Marketplace(self._client)
        self.installations: Installations[S] = Installations(self._client)
        self.notifications: Notifications[S] = Notifications(self._client)
        self.conversations: Conversations[S] = Conversations(self._client)
