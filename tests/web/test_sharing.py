"""Sharing across institutions over HTTP: the authorisation matrix (owner, group member with
read, with edit, member of another group, other user, admin) for every class action (see,
list, versions, export, identify, enrich, fork, label, round, rename, delete, share); public
classes; forks; who made each label and version; identify over shared and public classes; and
that a change of rights holds from the next request in another server process."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient

from furet.web import create_app
from tests.web.conftest import PASSWORD, Api, build_api
from tests.web.test_api_auth import is_problem

#: Who is who: the owner is in "ina"; the class is shared with "bnf" (read) and "inria" (edit).
LEVELS = {
    "owner": "olga",
    "reader": "rita",  # in bnf
    "editor": "eddy",  # in inria
    "other_group": "bob",  # in mnhn, which holds no grant
    "outsider": "otto",  # in no group
    "admin": "root",
}
GRANTS = {"bnf": "read", "inria": "edit"}


@dataclass
class World:
    api: Api
    class_id: int  # olga's trained "daisy", shared as GRANTS
    made: list[int] = field(default_factory=list)

    def client(self, level: str) -> TestClient:
        return self.api.client(LEVELS[level])

    def shared_class(self, name: str) -> int:
        """A new class of olga's shared as GRANTS (for the actions that change or delete it)."""
        olga = self.client("owner")
        body = {"name": name, "collection": "flowers", "item_ids": self.api.ids("daisy")[:1]}
        r = olga.post("/v1/classes", json=body)
        assert r.status_code == 201, r.text
        cid = int(r.json()["class_id"])
        r = olga.put(f"/v1/classes/{cid}/sharing", json={"groups": GRANTS})
        assert r.status_code == 200, r.text
        return cid


def teach(api: Api, user: str, name: str, kind: str = "daisy", other: str = "sunflower") -> int:
    c = api.client(user)
    pos, neg = api.ids(kind), api.ids(other)
    r = c.post("/v1/classes", json={"name": name, "collection": "flowers", "item_ids": pos[:4]})
    assert r.status_code == 201, r.text
    cid = int(r.json()["class_id"])
    assert c.post(f"/v1/classes/{cid}/labels", json={"negative": neg[:4]}).status_code == 200
    assert c.post(f"/v1/classes/{cid}/rounds", json={"page_size": 5}).status_code == 200
    return cid


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """A home of its own: these tests share, fork and delete classes."""
    api = build_api(tmp_path_factory.mktemp("sharing"))
    for name, groups in (("olga", ["ina"]), ("rita", ["bnf"]), ("eddy", ["inria"]), ("otto", [])):
        user = api.accounts.create_user(name, PASSWORD, groups=groups)
        _, api.keys[name] = api.accounts.create_key(user.user_id, "tests")
    cid = teach(api, "olga", "daisy")
    r = api.client("olga").put(f"/v1/classes/{cid}/sharing", json={"groups": GRANTS})
    assert r.status_code == 200, r.text
    return World(api, cid)


def _query(api: Api) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("images", ("q.jpg", api.image("daisy", 14), "image/jpeg"))]


# Each action: what it sends for a level, answering its status code. Listing and identify
# answer 200 when the class is among the results, 404 when it is not. Actions that change or
# delete the class work on a class of their own.
Action = Callable[[World, TestClient], int]


def _enrich(w: World, c: TestClient) -> int:
    """Tag the collection with the class (a read right is enough), and wait for the job."""
    r = c.post("/v1/enrichments", json={"class_ids": [w.class_id], "threshold": 0.0})
    if r.status_code != 202:
        return r.status_code
    job_id = r.json()["enrichment_id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = c.get(f"/v1/enrichments/{job_id}").json()
        if job["state"] not in ("queued", "running"):
            assert job["state"] == "done", job
            break
        time.sleep(0.05)
    tags = c.get(f"/v1/classes/{w.class_id}/tags")
    assert tags.status_code == 200, tags.text
    return r.status_code


def _listed(w: World, c: TestClient) -> int:
    r = c.get("/v1/classes")
    assert r.status_code == 200, r.text
    return 200 if w.class_id in [x["class_id"] for x in r.json()] else 404


def _identified(w: World, c: TestClient) -> int:
    r = c.post("/v1/identify", files=_query(w.api))
    assert r.status_code == 200, r.text
    return 200 if w.class_id in [x["class_id"] for x in r.json()["results"]] else 404


def _label(w: World, c: TestClient) -> int:
    body = {"positive": w.api.ids("daisy")[4:5]}
    return c.post(f"/v1/classes/{w.class_id}/labels", json=body).status_code


def _round(w: World, c: TestClient) -> int:
    return c.post(f"/v1/classes/{w.class_id}/rounds", json={"page_size": 3}).status_code


def _fork(w: World, c: TestClient) -> int:
    r = c.post(f"/v1/classes/{w.class_id}/fork", json={})
    if r.status_code == 201:
        w.made.append(int(r.json()["class_id"]))
    return r.status_code


def _rename(w: World, c: TestClient) -> int:
    cid = w.shared_class(f"to-rename-{len(w.made)}")
    w.made.append(cid)
    return c.patch(f"/v1/classes/{cid}", json={"name": f"renamed-{cid}"}).status_code


def _delete(w: World, c: TestClient) -> int:
    cid = w.shared_class(f"to-delete-{len(w.made)}")
    w.made.append(cid)
    return c.delete(f"/v1/classes/{cid}").status_code


def _share(w: World, c: TestClient) -> int:
    cid = w.shared_class(f"to-share-{len(w.made)}")
    w.made.append(cid)
    body = {"groups": {**GRANTS, "mnhn": "edit"}, "public": "read"}
    return c.put(f"/v1/classes/{cid}/sharing", json=body).status_code


ACTIONS: dict[str, Action] = {
    "see": lambda w, c: c.get(f"/v1/classes/{w.class_id}").status_code,
    "list": _listed,
    "versions": lambda w, c: c.get(f"/v1/classes/{w.class_id}/versions").status_code,
    "export": lambda w, c: c.get(f"/v1/classes/{w.class_id}/export").status_code,
    "identify": _identified,
    "enrich": _enrich,
    "fork": _fork,
    "label": _label,
    "round": _round,
    "rename": _rename,
    "delete": _delete,
    "share": _share,
}

SEE = {"owner": 200, "reader": 200, "editor": 200, "admin": 200}
EDIT = {"owner": 200, "reader": 403, "editor": 200, "admin": 200}
OWN = {"owner": 200, "reader": 403, "editor": 403, "admin": 200}
EXPECTED: dict[str, dict[str, int]] = {
    "see": SEE,
    "list": SEE,
    "versions": SEE,
    "export": SEE,
    "identify": SEE,
    "enrich": {level: 202 for level in SEE},
    "fork": {level: 201 for level in SEE},
    "label": EDIT,
    "round": EDIT,
    "rename": OWN,
    "delete": {level: 204 if code == 200 else code for level, code in OWN.items()},
    "share": OWN,
}


@pytest.mark.parametrize("level", list(LEVELS))
@pytest.mark.parametrize("action", list(ACTIONS))
def test_authorisation_matrix(world: World, action: str, level: str) -> None:
    # Those who may not see the class get 404, as for an absent class.
    expected = EXPECTED[action].get(level, 404)
    got = ACTIONS[action](world, world.client(level))
    assert got == expected, f"{level} {action}: {got}, expected {expected}"


def test_what_each_level_is_told(world: World) -> None:
    url = f"/v1/classes/{world.class_id}"
    reader = world.client("reader").get(url).json()
    assert reader["right"] == "read" and reader["owner"] == "olga"
    assert reader["groups"] == {"bnf": "read"}  # the grants to their own groups only
    assert reader["visibility"] == "groups" and reader["public"] is None
    owner = world.client("owner").get(url).json()
    assert owner["right"] == "own" and owner["groups"] == GRANTS
    assert world.client("admin").get(url).json()["groups"] == GRANTS
    assert world.client("editor").get(url).json()["right"] == "edit"
    # Invisible and absent say the same; a weak right says which it takes and what to do.
    outsider = world.client("outsider")
    hidden, absent = outsider.get(url).json(), outsider.get("/v1/classes/999999").json()
    said = hidden["detail"].replace(f"class {world.class_id},", "class N,")
    assert said == absent["detail"].replace("class 999999,", "class N,")
    denied = world.client("reader").post(f"{url}/labels", json={"positive": [1]})
    is_problem(denied, 403)
    assert "edit" in denied.json()["detail"] and "fork" in denied.json()["detail"]
    denied = world.client("editor").delete(url)
    is_problem(denied, 403)
    assert "owner olga" in denied.json()["detail"]


def test_scopes_of_the_class_list(world: World) -> None:
    rita = world.client("reader")
    mine = teach(world.api, "rita", "rita-sunflower", "sunflower", "daisy")
    ids = {
        scope: [x["class_id"] for x in rita.get(f"/v1/classes?scope={scope}").json()]
        for scope in ("mine", "shared", "public", "all")
    }
    assert mine in ids["mine"] and world.class_id not in ids["mine"]
    assert world.class_id in ids["shared"] and mine not in ids["shared"]
    assert world.class_id not in ids["public"]
    assert ids["all"][: len(ids["mine"])] == ids["mine"]  # theirs first
    assert world.class_id in ids["all"]
    is_problem(rita.get("/v1/classes?scope=everything"), 422)
    listed = rita.get("/v1/classes").json()
    assert {x["right"] for x in listed if x["class_id"] == mine} == {"own"}


def test_public_classes(world: World) -> None:
    olga, otto = world.client("owner"), world.client("outsider")
    cid = teach(world.api, "olga", "public-daisy")
    url = f"/v1/classes/{cid}"
    is_problem(otto.get(url), 404)
    r = olga.put(f"{url}/sharing", json={"groups": {}, "public": "read"})
    assert r.status_code == 200 and r.json()["visibility"] == "public"
    assert r.json()["public"] == "read" and r.json()["groups"] == {}
    shown = otto.get(url).json()
    assert shown["right"] == "read" and shown["visibility"] == "public"
    assert cid in [x["class_id"] for x in otto.get("/v1/classes?scope=public").json()]
    results = otto.post("/v1/identify", files=_query(world.api)).json()["results"]
    hit = next(x for x in results if x["class_id"] == cid)
    assert hit["owner"] == "olga" and hit["right"] == "read"
    is_problem(otto.post(f"{url}/labels", json={"positive": world.api.ids("daisy")[5:6]}), 403)
    assert otto.get(f"{url}/export").status_code == 200
    # Public for edit: anyone may label and run rounds, nobody but the owner may share.
    olga.put(f"{url}/sharing", json={"public": "edit"})
    assert (
        otto.post(f"{url}/labels", json={"positive": world.api.ids("daisy")[5:6]}).status_code
        == 200
    )
    assert otto.post(f"{url}/rounds", json={"page_size": 3}).status_code == 200
    is_problem(otto.put(f"{url}/sharing", json={"public": None}), 403)
    is_problem(otto.delete(url), 403)
    # Private again: gone for otto at the next request.
    r = olga.put(f"{url}/sharing", json={"groups": {}, "public": None})
    assert r.json()["visibility"] == "private"
    is_problem(otto.get(url), 404)
    assert cid not in [x["class_id"] for x in otto.get("/v1/classes").json()]


def test_bad_sharing_requests(world: World) -> None:
    olga = world.client("owner")
    url = f"/v1/classes/{world.class_id}/sharing"
    r = olga.put(url, json={"groups": {"no-such-group": "read"}})
    is_problem(r, 422)
    assert "no group named 'no-such-group'" in r.json()["detail"]
    for body in (
        {"groups": {"bnf": "own"}},
        {"groups": {"bnf": "write"}},
        {"public": "own"},
        {"groups": {"": "read"}},
        {"groups": ["bnf"]},
    ):
        is_problem(olga.put(url, json=body), 422)
    is_problem(olga.put("/v1/classes/999999/sharing", json={}), 404)
    # Nothing changed.
    assert olga.get(f"/v1/classes/{world.class_id}").json()["groups"] == GRANTS


def test_fork_copies_labels_and_model_and_records_its_origin(world: World) -> None:
    api, rita = world.api, world.client("reader")
    olga_export = world.client("owner").get(f"/v1/classes/{world.class_id}/export").json()
    r = rita.post(f"/v1/classes/{world.class_id}/fork", json={"name": "daisy from olga"})
    assert r.status_code == 201, r.text
    fork = r.json()
    assert fork["name"] == "daisy from olga" and fork["owner"] == "rita"
    assert fork["right"] == "own" and fork["visibility"] == "private"
    assert fork["origin"] == "olga/daisy" and fork["origin_class_id"] == world.class_id
    mine = rita.get(f"/v1/classes/{fork['class_id']}/export").json()
    assert mine["labels"] == olga_export["labels"]
    assert mine["model"]["weights"] == olga_export["model"]["weights"]
    assert mine["model"]["bias"] == olga_export["model"]["bias"]
    assert mine["origin"] == "olga/daisy"
    # rita may do anything with her copy; the origin is untouched.
    url = f"/v1/classes/{fork['class_id']}"
    assert rita.post(f"{url}/labels", json={"positive": api.ids("daisy")[6:7]}).status_code == 200
    assert rita.post(f"{url}/rounds", json={"page_size": 3}).status_code == 200
    assert (
        world.client("owner").get(f"/v1/classes/{world.class_id}/export").json()["labels"]
        == (olga_export["labels"])
    )
    # A name taken is a 409; no name takes the origin's (or "NAME (fork)").
    is_problem(
        rita.post(f"/v1/classes/{world.class_id}/fork", json={"name": "daisy from olga"}), 409
    )
    again = rita.post(f"/v1/classes/{world.class_id}/fork")
    assert again.status_code == 201 and again.json()["name"].startswith("daisy")
    # The origin deleted, the fork keeps its "owner/name".
    gone = world.shared_class("short-lived")
    copy = rita.post(f"/v1/classes/{gone}/fork", json={}).json()
    assert world.client("owner").delete(f"/v1/classes/{gone}").status_code == 204
    kept = rita.get(f"/v1/classes/{copy['class_id']}").json()
    assert kept["origin"] == "olga/short-lived" and kept["origin_class_id"] is None


def test_labels_and_versions_record_the_editor(world: World) -> None:
    eddy = world.client("editor")
    cid = world.shared_class("edited")
    url = f"/v1/classes/{cid}"
    item = world.api.ids("daisy")[7]
    assert eddy.post(f"{url}/labels", json={"positive": [item]}).status_code == 200
    assert eddy.post(f"{url}/rounds", json={"page_size": 3}).status_code == 200
    export = world.client("owner").get(f"{url}/export").json()
    users = {(h["item_id"], h["user"]) for h in export["history"]}
    assert (item, "eddy") in users and (world.api.ids("daisy")[0], "olga") in users
    eddy_id = world.api.accounts.find("eddy").user_id
    assert {h["user_id"] for h in export["history"] if h["item_id"] == item} == {eddy_id}
    versions = world.client("owner").get(f"{url}/versions").json()
    assert versions[-1]["created_by"] == "eddy"


def test_identify_ranks_shared_and_public_classes(world: World) -> None:
    api = world.api
    sun = teach(api, "otto", "otto-sunflower", "sunflower", "daisy")
    api.client("otto").put(f"/v1/classes/{sun}/sharing", json={"public": "read"})
    files = [("images", ("q.jpg", api.image("sunflower", 14), "image/jpeg"))]
    results = world.client("reader").post("/v1/identify", files=files).json()["results"]
    by_id = {x["class_id"]: x for x in results}
    order = [x["class_id"] for x in results]
    assert order.index(sun) < order.index(world.class_id)  # a sunflower: otto's class first
    assert by_id[sun]["owner"] == "otto" and by_id[sun]["right"] == "read"
    assert by_id[world.class_id]["owner"] == "olga" and by_id[world.class_id]["right"] == "read"
    mine = world.client("reader").post("/v1/identify?scope=mine", files=files).json()["results"]
    assert not {sun, world.class_id} & {x["class_id"] for x in mine}
    # Bob (another group) sees otto's public class, not olga's.
    bob = {
        x["class_id"]
        for x in world.client("other_group").post("/v1/identify", files=files).json()["results"]
    }
    assert sun in bob and world.class_id not in bob


def test_a_change_of_rights_holds_at_the_next_request_of_another_process(world: World) -> None:
    api = world.api
    cid = world.shared_class("cross-process")
    url = f"/v1/classes/{cid}"
    other = create_app(api.settings)  # another worker: its own engine and cache
    otto_here = world.client("outsider")
    with (
        TestClient(other, headers={"X-API-Key": api.keys["olga"]}) as olga_there,
        TestClient(other, headers={"X-API-Key": api.keys["otto"]}) as otto_there,
    ):
        is_problem(otto_here.get(url), 404)  # cached here: invisible
        is_problem(otto_there.get(url), 404)
        assert olga_there.put(f"{url}/sharing", json={"public": "read"}).status_code == 200
        assert otto_here.get(url).json()["right"] == "read"
        assert olga_there.put(f"{url}/sharing", json={"public": "edit"}).status_code == 200
        labels = {"positive": api.ids("daisy")[8:9]}
        assert otto_here.post(f"{url}/labels", json=labels).status_code == 200
        assert olga_there.put(f"{url}/sharing", json={"public": None}).status_code == 200
        is_problem(otto_here.get(url), 404)
        # Membership changed by another process: otto joins inria (edit) there.
        other.state.furet.accounts.update_user(api.accounts.find("otto").user_id, groups=["inria"])
        got = otto_here.get(url).json()
        assert got.get("right") == "edit", got
        other.state.furet.accounts.update_user(api.accounts.find("otto").user_id, groups=[])
        is_problem(otto_here.get(url), 404)
        # And the other way round: shared here, seen there at its next request.
        world.client("owner").put(f"{url}/sharing", json={"public": "read"})
        assert otto_there.get(url).json()["right"] == "read"


def test_the_cli_of_another_process_shares_for_the_next_request(world: World) -> None:
    api = world.api
    cid = world.shared_class("cli-shared")
    url = f"/v1/classes/{cid}"
    otto = world.client("outsider")
    is_problem(otto.get(url), 404)
    cmd = [
        sys.executable,
        "-m",
        "furet.cli.main",
        "--home",
        str(api.settings.home),
        "class",
        "share",
    ]
    done = subprocess.run(
        [*cmd, "cli-shared", "--public", "read", "--user", "olga"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert otto.get(url).json()["right"] == "read"
    done = subprocess.run(
        [*cmd, "cli-shared", "--private", "--user", "olga"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    is_problem(otto.get(url), 404)
    assert world.client("reader").get(url).status_code == 404  # --private drops the groups too


def test_a_field_left_out_of_the_sharing_stays_as_it_is(world: World) -> None:
    olga = world.client("owner")
    cid = world.shared_class("partly-changed")
    url = f"/v1/classes/{cid}/sharing"
    r = olga.put(url, json={"public": "read"})
    assert r.json()["groups"] == GRANTS and r.json()["public"] == "read"
    r = olga.put(url, json={"groups": {"bnf": "edit"}})
    assert r.json()["groups"] == {"bnf": "edit"} and r.json()["public"] == "read"
    r = olga.put(url, json={})
    assert r.json()["groups"] == {"bnf": "edit"} and r.json()["visibility"] == "public"
    r = olga.put(url, json={"groups": {}, "public": None})
    assert r.json()["groups"] == {} and r.json()["visibility"] == "private"
