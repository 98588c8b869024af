"""The access layer (services.sharing) over a real SQLite catalog: who sees which class with
which right, sharing, forks, and that every change reaches the per-process caches."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import furet
from furet.catalog.accounts import AccountStore
from furet.catalog.acl_cache import read_stamp
from furet.catalog.classes import ClassCatalog
from furet.errors import AlreadyExistsError, InvalidInputError, NotFoundError, PermissionDeniedError
from furet.services.sharing import Sharing, at_least, best

DIM = 8


@dataclass
class Home:
    home: furet.Furet
    accounts: AccountStore
    classes: ClassCatalog
    collection_id: int
    users: dict[str, int]

    def sharing(self, user: str) -> Sharing:
        return Sharing(self.home, self.users[user], is_admin=user == "root")

    def new_class(self, owner: str, name: str) -> int:
        row = self.classes.create_class(self.users[owner], self.collection_id, name, "lite0")
        return row.class_id


@pytest.fixture
def h(tmp_path: Path) -> Home:
    home = furet.open(tmp_path / "home", furet.Settings(home=tmp_path / "home"))
    accounts = AccountStore(home.catalog.sessions)
    users = {
        "root": accounts.create_user("root", None, role="admin").user_id,
        "olga": accounts.create_user("olga", None, groups=["ina"]).user_id,
        "rita": accounts.create_user("rita", None, groups=["bnf"]).user_id,
        "eddy": accounts.create_user("eddy", None, groups=["inria", "bnf"]).user_id,
        "otto": accounts.create_user("otto", None).user_id,
    }
    col = home.catalog.create_collection("c", "lite0")
    return Home(home, accounts, ClassCatalog(home.catalog.sessions), col.collection_id, users)


def test_rights_order() -> None:
    assert best(None, "read", "edit") == "edit" and best() is None and best("own", "read") == "own"
    assert at_least("edit", "read") and not at_least("read", "edit") and not at_least(None, "read")


def test_a_private_class_is_its_owners_and_the_admins(h: Home) -> None:
    cid = h.new_class("olga", "daisy")
    assert h.sharing("olga").right(cid) == "own"
    assert h.sharing("root").right(cid) == "own"
    for user in ("rita", "eddy", "otto"):
        s = h.sharing(user)
        assert s.right(cid) is None and s.visible() == []
        with pytest.raises(NotFoundError) as invisible:
            s.require(cid, "read")
        with pytest.raises(NotFoundError) as absent:
            s.require(999_999, "read")
        # Absent and invisible say the same (the id aside): no id of a private class leaks.
        said = str(invisible.value).replace(f"class {cid},", "class N,")
        assert said == str(absent.value).replace("class 999999,", "class N,")
    assert [v.class_id for v in h.sharing("root").visible()] == [cid]


def test_grants_to_groups_and_the_public_right(h: Home) -> None:
    cid = h.new_class("olga", "daisy")
    shown = h.sharing("olga").share(cid, groups={"bnf": "read", "inria": "edit"}, public=None)
    assert shown.right == "own" and shown.groups == {"bnf": "read", "inria": "edit"}
    assert shown.row.visibility == "groups" and shown.public is None
    assert h.sharing("rita").right(cid) == "read"
    assert h.sharing("eddy").right(cid) == "edit"  # bnf read + inria edit: the best one
    assert h.sharing("otto").right(cid) is None
    rita = h.sharing("rita").require(cid, "read")
    assert rita.class_id == cid
    with pytest.raises(PermissionDeniedError, match="edit"):
        h.sharing("rita").require(cid, "edit")
    with pytest.raises(PermissionDeniedError, match="owner olga"):
        h.sharing("eddy").require(cid, "own")
    # A member sees the grants to their own groups only; the owner sees all.
    (seen,) = h.sharing("rita").visible()
    assert seen.groups == {"bnf": "read"} and seen.owner == "olga" and seen.right == "read"

    h.sharing("olga").share(cid, groups={}, public="read")
    assert h.sharing("otto").right(cid) == "read" and h.sharing("rita").right(cid) == "read"
    assert h.sharing("eddy").right(cid) == "read"  # the inria grant is gone
    assert h.classes.get_class_by_id(cid).visibility == "public"
    h.sharing("olga").share(cid, groups={"bnf": "edit"}, public="read")
    assert h.sharing("rita").right(cid) == "edit" and h.sharing("otto").right(cid) == "read"
    h.sharing("olga").share(cid, groups={}, public=None)
    assert h.sharing("otto").right(cid) is None
    assert h.classes.get_class_by_id(cid).visibility == "private"


def test_only_the_owner_or_an_admin_shares_and_groups_must_exist(h: Home) -> None:
    cid = h.new_class("olga", "daisy")
    with pytest.raises(NotFoundError):
        h.sharing("otto").share(cid, groups={}, public="read")
    h.sharing("root").share(cid, groups={"bnf": "edit"}, public=None)
    with pytest.raises(PermissionDeniedError):
        h.sharing("rita").share(cid, groups={"bnf": "edit", "inria": "edit"}, public=None)
    with pytest.raises(InvalidInputError, match="no group named 'nope'"):
        h.sharing("olga").share(cid, groups={"nope": "read"}, public=None)
    for bad in ("own", "write", ""):
        with pytest.raises(InvalidInputError):
            h.sharing("olga").share(cid, groups={"bnf": bad}, public=None)
        with pytest.raises(InvalidInputError):
            h.sharing("olga").share(cid, groups={}, public=bad)
    # Nothing changed by the refused calls.
    assert h.sharing("olga").describe(cid).groups == {"bnf": "edit"}


def test_every_change_bumps_the_acl_stamp_and_reaches_another_process(h: Home) -> None:
    cid = h.new_class("olga", "daisy")
    # Another process: another engine over the same catalog, with its own cache.
    elsewhere = furet.open(settings=h.home.settings)
    otto_there = Sharing(elsewhere, h.users["otto"])
    assert otto_there.right(cid) is None  # cached there: no right
    with h.home.catalog.sessions() as s:
        before = read_stamp(s.connection())
    h.sharing("olga").share(cid, groups={}, public="read")
    with elsewhere.catalog.sessions() as s:
        stamp = read_stamp(s.connection())
    assert stamp == before + 1
    # What a server does at every request (its quota statement reads the stamp).
    otto_there.classes.acl.observe(stamp)
    assert Sharing(elsewhere, h.users["otto"]).right(cid) == "read"
    # A change of membership (accounts) moves it too.
    h.sharing("olga").share(cid, groups={"bnf": "edit"}, public=None)
    h.accounts.update_user(h.users["otto"], groups=["bnf"])
    with elsewhere.catalog.sessions() as s:
        otto_there.classes.acl.observe(read_stamp(s.connection()))
    assert Sharing(elsewhere, h.users["otto"]).right(cid) == "edit"


def test_visible_scopes_and_order(h: Home) -> None:
    mine = h.new_class("rita", "zinnia")
    shared = h.new_class("olga", "daisy")
    public = h.new_class("otto", "aster")
    private = h.new_class("eddy", "rose")
    h.sharing("olga").share(shared, groups={"bnf": "read"}, public=None)
    h.sharing("otto").share(public, groups={}, public="edit")
    s = h.sharing("rita")
    ids = {
        scope: [v.class_id for v in s.visible(scope=scope)]
        for scope in ("mine", "shared", "public", "all")
    }
    assert ids == {
        "mine": [mine],
        "shared": [shared],
        "public": [public],
        "all": [mine, shared, public],  # mine first, then by owner name (olga, otto)
    }
    assert private not in ids["all"]
    assert {v.class_id: v.right for v in s.visible()} == {
        mine: "own",
        shared: "read",
        public: "edit",
    }
    assert [v.class_id for v in s.visible(h.collection_id + 1)] == []
    with pytest.raises(InvalidInputError):
        s.visible(scope="everything")  # type: ignore[arg-type]
    counts = s.counts(s.visible())
    assert set(counts) == {mine, shared, public}


def test_fork_copies_labels_examples_and_the_latest_model(h: Home) -> None:
    cid = h.new_class("olga", "daisy")
    olga, eddy = h.users["olga"], h.users["eddy"]
    h.classes.add_labels(cid, olga, [(1, 1), (2, 1), (3, -1), (4, 1)])
    h.classes.add_labels(cid, eddy, [(4, 0), (5, -1)])  # eddy unmarks 4, marks 5
    h.classes.add_example(cid, "upload", np.ones(DIM, np.float32))
    w1, w2 = np.full(DIM, 0.1, np.float32), np.full(DIM, 0.2, np.float32)
    made: list[tuple[np.ndarray, dict[str, object], int]] = [
        (w1, {"mode": "classify_random", "spot_check": {"1": True, "3": True}}, olga),
        (w2, {"mode": "search", "cv_events": 5}, eddy),
    ]
    for w, params, by in made:
        h.classes.save_version(
            cid,
            n_pos=3,
            n_neg=2,
            n_weak=0,
            cv_score=0.9,
            weights=w,
            bias=-0.5,
            params=params,
            created_by=by,
        )
    h.sharing("olga").share(cid, groups={"bnf": "read"}, public=None)

    fork = h.sharing("rita").fork(cid)
    assert fork.owner_id == h.users["rita"] and fork.name == "daisy"
    assert fork.origin == "olga/daisy" and fork.origin_class_id == cid
    assert fork.visibility == "private" and fork.public_right is None
    assert h.classes.current_labels(fork.class_id) == {1: 1, 2: 1, 3: -1, 5: -1}
    makers = {lab.item_id: lab.user_id for lab in h.classes.label_history(fork.class_id)}
    assert makers == {1: olga, 2: olga, 3: olga, 5: eddy}  # who made each mark, kept
    sources, vectors = h.classes.examples(fork.class_id, DIM)
    assert sources == ["upload"] and np.array_equal(vectors[0], np.ones(DIM, np.float32))
    (v,) = h.classes.versions(fork.class_id, with_weights=True)
    assert v.version == 1 and np.array_equal(v.weights, w2) and v.bias == -0.5
    assert v.created_by == eddy and v.params["forked_from"] == {"class_id": cid, "version": 2}
    assert v.params["spot_check"] == {"1": True, "3": True} and "cv_events" not in v.params
    assert h.sharing("rita").right(fork.class_id) == "own"
    assert h.sharing("olga").right(fork.class_id) is None  # the copy is rita's, private

    # A second fork takes another name; a name given and taken is a conflict.
    assert h.sharing("rita").fork(cid).name == "daisy (fork)"
    assert h.sharing("rita").fork(cid).name == "daisy (fork 2)"
    with pytest.raises(AlreadyExistsError):
        h.sharing("rita").fork(cid, "daisy")
    assert h.sharing("rita").fork(cid, "  my daisy ").name == "my daisy"
    with pytest.raises(NotFoundError):
        h.sharing("otto").fork(cid)

    # The origin deleted: the link goes, its "owner/name" stays.
    h.classes.delete_class(cid)
    after = h.classes.get_class_by_id(fork.class_id)
    assert after.origin_class_id is None and after.origin == "olga/daisy"


def test_fork_of_an_untrained_class_has_no_version(h: Home) -> None:
    cid = h.new_class("olga", "daisy")
    h.classes.add_labels(cid, h.users["olga"], [(1, 1)])
    fork = h.sharing("olga").fork(cid, "daisy copy")
    assert h.classes.versions(fork.class_id) == [] and fork.origin == "olga/daisy"
    params = [json.dumps(v.params) for v in h.classes.versions(cid)]
    assert params == []
