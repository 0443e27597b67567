"""LogStitch's API keys over HTTP: `POST /api/v1/keys` (master key only, the secret once), `GET
/api/v1/keys` (prefixes, never a secret; a project key sees its project's keys), and `DELETE
/api/v1/keys/:id` (the key is refused on the very next request). In-process and through a gateway
fronting ingestd over gRPC, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import MASTER_SECRET, PROJECT_SECRET, Http
from tests.http.test_logstitch import assert_error, call, event, new_key

KEYS = "/api/v1/keys"
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3,6}Z")
LISTED = {"id", "prefix", "type", "name", "lastUsedAt", "createdAt", "revokedAt"}


async def create_project(http: Http, project: str) -> None:
    path = f"/v1/organizations/default/projects?project_id={project}"
    async with http.session.post(http.url(path), json={}, headers=http.bearer(MASTER_SECRET)) as response:
        assert response.status == 200, await response.text()


async def create_key(
    http: Http, project: str = "default", name: str = "Production API Key"
) -> dict[str, Any]:
    status, body = await call(
        http, "POST", KEYS, {"project_id": project, "type": "project", "name": name}, secret=MASTER_SECRET
    )
    assert status == 201, body
    return dict(body)


async def listed(http: Http, secret: str = MASTER_SECRET, query: str = "") -> dict[str, Any]:
    status, body = await call(http, "GET", KEYS + query, secret=secret)
    assert status == 200, body
    return dict(body)


async def test_a_created_key_shows_its_secret_once_and_works_at_once(http: Http) -> None:
    created = await create_key(http)
    assert set(created) == {"id", "key", "prefix", "type", "name", "request_id"}
    assert created["key"].startswith("pk_") and not created["key"].startswith("pk_test_")
    assert created["key"].startswith(created["prefix"]) and len(created["prefix"]) < len(created["key"])
    assert (created["type"], created["name"]) == ("project", "Production API Key")
    assert created["request_id"].startswith("req_")

    status, sent = await call(http, "POST", "/api/v1/events", event(), secret=created["key"])
    assert status == 201, sent
    status, _ = await call(http, "GET", "/api/v1/events", secret=created["key"])
    assert status == 200

    keys = (await listed(http))["keys"]
    mine = next(k for k in keys if k["id"] == created["id"])
    assert set(mine) == LISTED
    assert mine["prefix"] == created["prefix"] and mine["revokedAt"] is None
    assert ISO.fullmatch(mine["createdAt"])
    assert created["key"] not in str(keys)


async def test_only_a_master_key_creates_keys_and_the_body_is_checked(http: Http) -> None:
    body = {"project_id": "default", "type": "project", "name": "k"}
    status, refused = await call(http, "POST", KEYS, body, secret=PROJECT_SECRET)
    assert status == 403 and assert_error(refused, "forbidden")
    status, refused = await call(http, "POST", KEYS, body, secret="")
    assert status == 401 and assert_error(refused, "unauthorized")
    status, refused = await call(http, "POST", KEYS, body, secret="mk_nonsense")
    assert status == 401 and assert_error(refused, "invalid_api_key")

    status, refused = await call(http, "POST", KEYS, {"type": "master", "name": ""}, secret=MASTER_SECRET)
    assert status == 400
    details = {d["field"]: d["message"] for d in assert_error(refused, "validation_error")["details"]}
    assert set(details) == {"project_id", "type", "name"}
    assert details["project_id"] == "Required"
    status, refused = await call(http, "POST", KEYS, {**body, "name": "x" * 101}, secret=MASTER_SECRET)
    assert status == 400
    assert [d["field"] for d in assert_error(refused, "validation_error")["details"]] == ["name"]
    status, refused = await call(http, "POST", KEYS, b"{not json", secret=MASTER_SECRET)
    assert status == 400 and assert_error(refused, "validation_error")
    status, refused = await call(http, "POST", KEYS, [body], secret=MASTER_SECRET)
    assert status == 400 and assert_error(refused, "validation_error")

    status, refused = await call(http, "POST", KEYS, {**body, "project_id": "nowhere"}, secret=MASTER_SECRET)
    assert status == 404 and assert_error(refused, "not_found")
    assert len((await listed(http))["keys"]) == 2, "nothing was created"


async def test_a_master_key_lists_every_key_and_a_project_key_its_projects(http: Http) -> None:
    await create_project(http, "other")
    first = await create_key(http, name="first")
    elsewhere = await create_key(http, project="other", name="elsewhere")

    everything = await listed(http)
    assert set(everything) == {"keys", "cursor", "has_more", "request_id"}
    assert everything["has_more"] is False and everything["cursor"] is None
    types = {k["name"]: k["type"] for k in everything["keys"]}
    assert types["first"] == "project" and types["elsewhere"] == "project"
    assert "master" in types.values()
    ids = [k["id"] for k in everything["keys"]]
    assert ids[:2] == [elsewhere["id"], first["id"]], "newest first"

    own = await listed(http, secret=PROJECT_SECRET)
    assert elsewhere["id"] not in {k["id"] for k in own["keys"]}
    assert first["id"] in {k["id"] for k in own["keys"]}
    assert all(k["type"] == "project" for k in own["keys"])
    in_other = await listed(http, secret=elsewhere["key"])
    assert [k["id"] for k in in_other["keys"]] == [elsewhere["id"]]


async def test_cursor_pages_cover_every_key_once(http: Http) -> None:
    for n in range(3):
        await create_key(http, name=f"k{n}")
    seen: list[str] = []
    cursor = None
    while True:
        page = await listed(http, query="?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert len(page["keys"]) <= 2
        seen.extend(k["id"] for k in page["keys"])
        if not page["has_more"]:
            assert page["cursor"] is None
            break
        cursor = page["cursor"]
    assert seen == [k["id"] for k in (await listed(http))["keys"]]
    assert len(seen) == len(set(seen)) == 5

    for query in ("?limit=0", "?limit=101", "?limit=x", "?cursor=!!"):
        status, refused = await call(http, "GET", KEYS + query, secret=MASTER_SECRET)
        assert status == 400, query
        assert assert_error(refused, "validation_error")["details"]


async def test_a_revoked_key_is_refused_on_the_next_request(http: Http) -> None:
    created = await create_key(http)
    status, sent = await call(http, "POST", "/api/v1/events", event(), secret=created["key"])
    assert status == 201, sent

    status, revoked = await call(http, "DELETE", f"{KEYS}/{created['id']}", secret=PROJECT_SECRET)
    assert status == 200, revoked
    assert revoked["revoked"] is True and revoked["id"] == created["id"]
    assert ISO.fullmatch(revoked["revokedAt"]) and revoked["request_id"].startswith("req_")
    assert "key" not in revoked

    for method, path in (("POST", "/api/v1/events"), ("GET", "/api/v1/events"), ("GET", KEYS)):
        status, refused = await call(http, method, path, event(key="again"), secret=created["key"])
        assert status == 401 and assert_error(refused, "key_revoked"), (method, path)
    listed_key = next(k for k in (await listed(http))["keys"] if k["id"] == created["id"])
    assert listed_key["revokedAt"] == revoked["revokedAt"]

    # Revoking it again changes nothing.
    status, again = await call(http, "DELETE", f"{KEYS}/{created['id']}", secret=MASTER_SECRET)
    assert status == 200 and again["revokedAt"] == revoked["revokedAt"]


async def test_a_project_key_revokes_only_its_projects_keys_itself_included(http: Http) -> None:
    await create_project(http, "other")
    elsewhere = await create_key(http, project="other")
    mine = await create_key(http)
    master_id = next(k["id"] for k in (await listed(http))["keys"] if k["type"] == "master")

    for key_id in (elsewhere["id"], master_id, "key_unknown", "nonsense"):
        status, refused = await call(http, "DELETE", f"{KEYS}/{key_id}", secret=mine["key"])
        assert status == 404 and assert_error(refused, "not_found"), key_id
    status, _ = await call(http, "GET", "/api/v1/events", secret=elsewhere["key"])
    assert status == 200, "untouched"

    status, revoked = await call(http, "DELETE", f"{KEYS}/{mine['id']}", secret=mine["key"])
    assert status == 200 and revoked["revoked"] is True
    status, refused = await call(http, "GET", KEYS, secret=mine["key"])
    assert status == 401 and assert_error(refused, "key_revoked")

    # A master key revokes any key of its organization; an unknown id is not found.
    status, revoked = await call(http, "DELETE", f"{KEYS}/{elsewhere['id']}", secret=MASTER_SECRET)
    assert status == 200 and revoked["revoked"] is True
    status, refused = await call(http, "DELETE", f"{KEYS}/key_unknown", secret=MASTER_SECRET)
    assert status == 404 and assert_error(refused, "not_found")


async def test_a_project_key_lists_its_projects_keys_not_the_organizations(http: Http) -> None:
    """docs/vendors/logstitch.md §9.2: the decision where the document's one line says "all API
    keys for your organization": a project key sees the keys of its own project only (the ones it
    may revoke), never the master key nor another project's or another vendor's keys; a master key
    sees them all."""
    await create_project(http, "other")
    mine = await create_key(http, name="mine")
    elsewhere = await create_key(http, project="other", name="elsewhere")
    await new_key(http, "API_KEY_KIND_SERVER", project="other")

    everything = {k["id"]: k["type"] for k in (await listed(http))["keys"]}
    assert {mine["id"], elsewhere["id"]} <= set(everything)
    assert {"master", "project", "server"} <= set(everything.values())

    own = {k["id"]: k["type"] for k in (await listed(http, secret=mine["key"]))["keys"]}
    assert mine["id"] in own and elsewhere["id"] not in own
    assert set(own.values()) == {"project"}, "no master key, no other vendor's key"
    assert set(own) < set(everything)


async def test_reads_with_a_key_move_its_last_use_once_a_minute_at_most(http: Http) -> None:
    """docs/vendors/logstitch.md §9.3: `lastUsedAt` is when the key last authenticated a call,
    a read as much as a write, recorded to within a minute so a busy key costs no write per call."""
    reader = await create_key(http, name="reader")

    def last_used(keys: dict[str, Any]) -> Any:
        return next(k["lastUsedAt"] for k in keys["keys"] if k["id"] == reader["id"])

    assert last_used(await listed(http)) is None
    for path in ("/api/v1/events", "/api/v1/alerts", "/api/v1/redaction/rules"):
        status, body = await call(http, "GET", path, secret=reader["key"])
        assert status == 200, (path, body)
        first = last_used(await listed(http))
        assert first is not None and ISO.fullmatch(first), path
    status, _ = await call(http, "GET", "/api/v1/events", secret=reader["key"])
    assert status == 200
    assert last_used(await listed(http)) == first, "not again within the minute"
