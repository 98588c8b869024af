"""Model discovery and user communities on Oxford Flowers 17 (issue 13, sections 3 and 4).

The 17 labels are taught by 17 users spread over 3 groups (every other class public, the
others shared with their owner's group), plus a second teacher for two labels and a private
class. A curator who belongs to the 3 groups reads all the shared ones.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import pytest

import furet
from furet.domain.resemblance import RELATED
from furet.errors import NotFoundError
from furet.services.communities import Communities
from furet.services.discovery import Discovery, ResemblanceEvidence
from furet.services.institutions import GROUPS, Teacher, account, share, teach_labels
from furet.services.teaching import TeachingPlan, item_labels, teach
from tests.conftest import FLOWERS

#: Labels taught a second time, from other seeds, by a colleague of the first teacher (same
#: group: each may read the other's class, whether it is public or shared with the group).
TWINS = ("tulip", "bluebell")
SECRET = "sunflower"


@dataclass
class World:
    home: furet.Furet
    truth: dict[int, str]
    teachers: list[Teacher]
    twins: dict[str, Teacher]  # label -> the second teacher
    curator: int
    outsider: int
    secret_class: int

    def label_of(self) -> dict[int, str]:
        """Class id -> label, of the scenario's shared classes."""
        out = {t.class_id: t.label for t in self.teachers}
        out.update({t.class_id: t.label for t in self.twins.values()})
        return out

    def owner(self, label: str) -> Teacher:
        return next(t for t in self.teachers if t.label == label)


@pytest.fixture(scope="module")
def world(flowers_home: furet.Furet) -> World:
    home = flowers_home
    col = home.collection("flowers")
    truth = item_labels(col, FLOWERS / "labels.csv")
    labels = sorted(set(truth.values()))
    teachers = teach_labels(home, "flowers", truth, labels, prefix="inst")
    twins = teach_labels(
        home,
        "flowers",
        truth,
        TWINS,
        prefix="inst2",
        groups=[next(t.group for t in teachers if t.label == label) for label in TWINS],
        plan=lambda j: TeachingPlan(rounds=4, batch=15, spot_checks=0, seed=100 + j),
        audience=lambda j: "public",
    )
    secret = account(home, "inst-secret", ["ina"])
    taught = teach(home.learning("inst-secret", user_id=secret), "flowers", truth, SECRET)
    share(home, secret, taught.row.class_id, "ina", "private")
    return World(
        home,
        truth,
        teachers,
        {t.label: t for t in twins},
        curator=account(home, "inst-curator", GROUPS),
        outsider=account(home, "inst-outsider", []),
        secret_class=taught.row.class_id,
    )


def test_an_item_of_each_label_ranks_that_labels_class_first(world: World) -> None:
    """Issue 13's check: >= 90% of the collection's images rank their label's class first
    (among the scenario's classes; other tests of the session may share more classes)."""
    discovery = Discovery(world.home, world.curator)
    label_of = world.label_of()
    hits: Counter[str] = Counter()
    t0 = time.perf_counter()
    for item_id, label in world.truth.items():
        result = discovery.item(item_id, limit=100, similar=0)
        ours = [f for f in result.results if f.cls.class_id in label_of]
        assert ours and result.compared >= len(label_of)
        hits[label] += label_of[ours[0].cls.class_id] == label
    per_item_ms = (time.perf_counter() - t0) * 1e3 / len(world.truth)
    per_label = {label: hits[label] / n for label, n in Counter(world.truth.values()).items()}
    overall = sum(hits.values()) / len(world.truth)
    print(f"discovery top-1 {overall:.3f}, {per_item_ms:.1f} ms an item:", per_label)
    assert overall >= 0.90
    assert min(per_label.values()) >= 0.5


def test_an_uploaded_image_finds_its_labels_class_with_evidence(world: World) -> None:
    """Uploaded files rank classes as their items do (same vectors, up to float16), and the
    best class comes with its evidence and what the caller may do with it."""
    discovery = Discovery(world.home, world.curator)
    label_of = world.label_of()
    col = world.home.collection("flowers")
    by_path = {info.path: i for i, info in world.home.catalog.item_infos(world.truth).items()}
    right = shown = 0
    for label in sorted(set(world.truth.values())):
        for path in sorted((FLOWERS / "images" / label).glob("*.jpg"))[5:80:30]:
            result = discovery.image([path], limit=100, similar=2)
            ours = [f for f in result.results if f.cls.class_id in label_of]
            best = ours[0]
            item = discovery.item(by_path[str(path.resolve())], limit=100, similar=0)
            assert best.cls.class_id == item.results[0].cls.class_id or not item.results
            assert result.query == {"kind": "image", "images": 1}
            shown += 1
            if label_of[best.cls.class_id] != label:
                continue
            right += 1
            evidence = best.evidence.as_json()
            assert evidence["percentile"] > 0.8  # type: ignore[operator]
            assert len(best.similar) == 2
            assert all(world.truth[s.item_id] == label for s in best.similar)
            ref = best.cls
            assert ref.owner.startswith("inst") and not ref.mine and ref.collection == col.name
            assert ref.right == "read" and ref.actions == ("use", "fork")
            assert ref.public == "read" or set(ref.groups) <= set(GROUPS)
    assert right / shown >= 0.85, (right, shown)


def test_similar_classes_find_the_same_label_taught_by_someone_else(world: World) -> None:
    for label, twin in world.twins.items():
        owner = world.owner(label)
        result = Discovery(world.home, owner.user_id).similar_classes(owner.class_id)
        assert result.results, label
        first = result.results[0]
        assert first.cls.class_id == twin.class_id and first.score >= RELATED
        evidence = first.evidence
        assert isinstance(evidence, ResemblanceEvidence)
        assert evidence.theirs_on_mine > RELATED and evidence.mine_on_theirs > RELATED
        assert evidence.top_overlap is not None and evidence.top_overlap > 0.3
        assert evidence.shared_top and evidence.shared_positives is not None
        assert all(f.score >= RELATED for f in result.results)


def test_two_users_who_taught_the_same_label_are_each_others_first_neighbour(
    world: World,
) -> None:
    for label, twin in world.twins.items():
        owner = world.owner(label)
        mine = Communities(world.home, owner.user_id).of_user()
        theirs = Communities(world.home, twin.user_id).of_user()
        assert mine.users[0].name == twin.user, (label, [n.name for n in mine.users])
        assert theirs.users[0].name == owner.user, (label, [n.name for n in theirs.users])
        pair = mine.users[0].pairs[0]
        assert pair.mine.class_id == owner.class_id and pair.theirs.class_id == twin.class_id
        # The twin's group is the first group, through the twin's class.
        assert mine.groups and mine.groups[0].name == twin.group
        # For the class: the users who made similar classes.
        of_class = Communities(world.home, world.curator).of_class(owner.class_id)
        assert of_class.users[0].name == twin.user
        assert all(n.name != owner.user for n in of_class.users)


def test_a_private_class_of_another_user_never_appears(world: World) -> None:
    sunflowers = [i for i, label in world.truth.items() if label == SECRET][:20]
    for user in (world.curator, world.outsider, world.owner(SECRET).user_id):
        discovery = Discovery(world.home, user)
        for item_id in sunflowers:
            found = {f.cls.class_id for f in discovery.item(item_id, limit=100).results}
            assert world.secret_class not in found
        probe = world.owner(SECRET)  # sunflowers too, shared with its owner's group
        if user == world.outsider:
            with pytest.raises(NotFoundError):  # a group's class, and no member asks
                discovery.similar_classes(probe.class_id)
        else:
            similar = discovery.similar_classes(probe.class_id, limit=100, min_score=-100)
            assert similar.results
            assert world.secret_class not in {f.cls.class_id for f in similar.results}
        community = Communities(world.home, user).of_user(limit=100)
        assert "inst-secret" not in {n.name for n in community.users}
        with pytest.raises(NotFoundError):
            discovery.similar_classes(world.secret_class)
    # Its owner finds it with include_mine, marked as theirs; an administrator sees it too.
    own = Discovery(world.home, account(world.home, "inst-secret", ["ina"]))
    listed = own.item(sunflowers[0], include_mine=True, limit=100).results
    mine = [f for f in listed if f.cls.class_id == world.secret_class]
    assert mine and mine[0].cls.mine and "fork" not in mine[0].cls.actions
    assert world.secret_class not in {f.cls.class_id for f in own.item(sunflowers[0]).results}
    admin = Discovery(world.home, world.outsider, is_admin=True)
    assert world.secret_class in {f.cls.class_id for f in admin.item(sunflowers[0]).results}


def test_a_group_shared_class_appears_to_members_only(world: World) -> None:
    item = next(iter(world.truth))
    shared = {t.class_id: t for t in world.teachers if t.audience == "group"}
    public = {t.class_id for t in world.teachers if t.audience == "public"}
    seen_by_outsider = {
        f.cls.class_id for f in Discovery(world.home, world.outsider).item(item, limit=100).results
    }
    assert public <= seen_by_outsider and not set(shared) & seen_by_outsider
    member = next(t for t in world.teachers if t.group == "bnf")
    seen = {
        f.cls.class_id: f
        for f in Discovery(world.home, member.user_id).item(item, limit=100).results
    }
    for class_id, teacher in shared.items():
        if teacher.user_id == member.user_id:
            continue
        assert (class_id in seen) == (teacher.group == "bnf"), teacher
        if class_id in seen:
            assert seen[class_id].cls.groups == {"bnf": "read"}
    outsider = Communities(world.home, world.outsider).of_user(limit=100)
    assert outsider.users == [] and outsider.compared["mine"] == 0  # no class of their own
    community = Communities(world.home, member.user_id).of_class(member.class_id, limit=100)
    owners = {p.theirs.owner for n in community.users for p in n.pairs}
    readable = {t.user for t in world.teachers if t.audience == "public" or t.group == "bnf"}
    assert owners <= readable | {t.user for t in world.twins.values()}
