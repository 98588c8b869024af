"""The whole API fuzzed from its own OpenAPI schema (schemathesis), once authenticated by API key
and once by a browser session (cookie, CSRF token, same origin): no answer is a 500, and every
answer conforms to the schema (a declared status code, content type and body).

The app is a home of its own: the fuzzer deletes classes, revokes keys, changes accounts. It
fuzzes as an administrator (``fuzzer``) so that the admin routes run too, and half of its ids and
names are real ones (schemathesis dictionaries) so that rounds, marks and searches get past the
404. The one thing it must not do is lock itself out or delete the classes it fuzzes: a case
aimed at its own account, key or kept classes is aimed at another one.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from furet.services.enrichment import THRESHOLD, Enrichment, Rule
from furet.services.learning import Learning
from furet.web.auth import SESSION_COOKIE
from furet.web.csrf import CSRF_COOKIE
from tests.web.conftest import PASSWORD, Api, build_api

#: Examples per operation (fuzzing phase): ~35 operations, two runs, under 3 minutes on 2 cores.
MAX_EXAMPLES = 25
#: How often a path or body value is a real one rather than a generated one.
REAL = 0.6
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same cases at every run: a failure here is a regression
    database=None,
)


@dataclass
class Fuzz:
    api: Api
    user_id: int
    key_id: int
    key: str
    cookies: dict[str, str]
    #: Another account and key: what a case aimed at the fuzzer's own is sent to.
    other_user_id: int
    other_key_id: int
    #: The fuzzer's classes (rounds, marks, renames), never deleted; then alice's (404 to it).
    kept: list[int] = field(default_factory=list)
    others: list[int] = field(default_factory=list)
    items: list[int] = field(default_factory=list)
    #: Enrichment jobs of the fuzzer (a kept class applied to the collection).
    enrichments: list[str] = field(default_factory=list)
    _names: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def learning(self) -> Learning:
        return self.api.ctx.home.learning("fuzzer", user_id=self.user_id)

    def throwaway_class(self) -> int:
        """A new class of the fuzzer, for a delete to take instead of a kept one."""
        name = f"throwaway-{next(self._names)}"
        return self.learning.create(name, "flowers", from_items=self.items[:1]).class_id


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory) -> Fuzz:
    api = build_api(tmp_path_factory.mktemp("fuzz"), default_daily_quota=10**9)
    accounts = api.accounts
    me = accounts.create_user("fuzzer", PASSWORD, role="admin", daily_quota=10**9)
    key, secret = accounts.create_key(me.user_id, "fuzz")
    spare, _ = accounts.create_key(me.user_id, "spare")
    # Logged in first: the fuzzer's own wrong logins soon lock this client's address.
    browser = api.browser("fuzzer")
    daisies, sunflowers = api.ids("daisy"), api.ids("sunflower")
    fuzz = Fuzz(
        api,
        me.user_id,
        key.key_id,
        secret,
        {name: browser.cookies[name] for name in (SESSION_COOKIE, CSRF_COOKIE)},
        other_user_id=accounts.find("bob").user_id,
        other_key_id=spare.key_id,
        items=daisies[:4] + sunflowers[:4],
    )
    alice = api.ctx.home.learning("alice", user_id=accounts.find("alice").user_id)
    for kind, ids in (("daisy", daisies), ("sunflower", sunflowers)):
        cls = fuzz.learning.create(f"fuzz-{kind}", "flowers", from_items=ids[:2])
        fuzz.kept.append(cls.class_id)
        fuzz.others.append(alice.create(f"alice-{kind}", "flowers", from_items=ids[:1]).class_id)
    # A trained kept class with tags: the enrichment and tags routes get past their 404.
    trained = fuzz.learning.get_by_id(fuzz.kept[0])
    fuzz.learning.round(trained)
    enrichment = Enrichment(api.ctx.home, fuzz.learning)
    job = enrichment.submit([trained], rule=Rule(THRESHOLD, 0.0))
    fuzz.enrichments.append(enrichment.run(job.job_id).job_id)
    return fuzz


@pytest.fixture(scope="module")
def api_schema(fuzz: Fuzz) -> schemathesis.BaseSchema:
    real = {"dictionary": "", "probability": REAL}
    config = schemathesis.Config.from_dict(
        {
            "dictionaries": {
                "collections": {"values": ["flowers"]},
                "classes": {"values": fuzz.kept + fuzz.others},
                "items": {"values": fuzz.items},
                "users": {"values": [fuzz.other_user_id]},
                "keys": {"values": [fuzz.other_key_id]},
                "enrichments": {"values": fuzz.enrichments},
            },
            "parameters": {
                "path.name": {**real, "dictionary": "collections"},
                "body.collection": {**real, "dictionary": "collections"},
                "path.class_id": {**real, "dictionary": "classes"},
                "path.item_id": {**real, "dictionary": "items"},
                "body.item_ids[*]": {**real, "dictionary": "items"},
                "body.negative_item_ids[*]": {**real, "dictionary": "items"},
                "body.positive[*]": {**real, "dictionary": "items"},
                "body.negative[*]": {**real, "dictionary": "items"},
                "body.labels.positive[*]": {**real, "dictionary": "items"},
                "body.labels.negative[*]": {**real, "dictionary": "items"},
                "path.user_id": {**real, "dictionary": "users"},
                "path.key_id": {**real, "dictionary": "keys"},
                "path.enrichment_id": {**real, "dictionary": "enrichments"},
                "body.class_ids[*]": {**real, "dictionary": "classes"},
            },
            # The credentials are the test's own: generated keys and cookies would be 401s.
            "generation": {"with-security-parameters": False},
        }
    )
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz.api.app, config=config)


def spare_the_fuzzer(case: schemathesis.Case, fuzz: Fuzz) -> None:
    """Aim elsewhere a case that would disable, demote, re-quota or re-password the fuzzer,
    revoke its key or delete a kept class (path values may be ints or strings)."""
    params = case.path_parameters or {}

    def aims(name: str, *ids: int) -> bool:
        return name in params and str(params[name]) in {str(i) for i in ids}

    if case.path == "/v1/admin/users/{user_id}" and aims("user_id", fuzz.user_id):
        params["user_id"] = fuzz.other_user_id
    if case.path == "/v1/keys/{key_id}" and aims("key_id", fuzz.key_id):
        params["key_id"] = fuzz.other_key_id
    deletes_class = case.method == "DELETE" and case.path == "/v1/classes/{class_id}"
    if deletes_class and aims("class_id", *fuzz.kept):
        params["class_id"] = fuzz.throwaway_class()


@pytest.fixture(autouse=True)
def _node_id(request: pytest.FixtureRequest) -> None:
    """schemathesis 4.32's fixture-loaded schemas rename the test node through ``_nodeid``,
    which pytest 9.2 no longer has (it is ``_id``): give them one to read and write."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@FUZZ_SETTINGS
def test_fuzz_with_api_key(case: schemathesis.Case, fuzz: Fuzz) -> None:
    spare_the_fuzzer(case, fuzz)
    case.call_and_validate(headers={"X-API-Key": fuzz.key}, checks=CHECKS)


@schema.exclude(path="/v1/auth/logout").parametrize()
@FUZZ_SETTINGS
def test_fuzz_with_browser_session(case: schemathesis.Case, fuzz: Fuzz) -> None:
    spare_the_fuzzer(case, fuzz)
    headers = {"Origin": "http://testserver", "X-CSRF-Token": fuzz.cookies[CSRF_COOKIE]}
    case.call_and_validate(headers=headers, cookies=fuzz.cookies, checks=CHECKS)
