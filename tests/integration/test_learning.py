"""Classes, labels, rounds and evaluation through the service layer and the CLI."""

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import furet
from furet.domain.classifier import fit_linear
from furet.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from furet.services.evaluation import evaluate
from furet.services.learning import RoundSettings
from tests.conftest import FLOWERS, need


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> furet.Furet:
    """Two flower species (daisy, sunflower) and a few pansies, 100 real images."""
    root = tmp_path_factory.mktemp("learn")
    for label, n in (("daisy", 40), ("sunflower", 40), ("pansy", 20)):
        dst = root / "imgs" / label
        dst.mkdir(parents=True)
        for f in sorted((need(FLOWERS) / "images" / label).glob("*.jpg"))[:n]:
            shutil.copy(f, dst / f.name)
    home = furet.open(root / "home", furet.Settings(home=root / "home"))
    home.ensure_collection("f").ingest([root / "imgs"])
    return home


def ids_of(home: furet.Furet, label: str) -> list[int]:
    col = home.collection("f")
    infos = home.catalog.item_infos(col.matrix().item_ids.tolist())
    return sorted(i for i, info in infos.items() if f"/{label}/" in info.path)


def test_round_finds_the_class_and_never_shows_labelled(small: furet.Furet) -> None:
    learning = small.learning("alice")
    daisies = ids_of(small, "daisy")
    learning.create("daisy", "f", from_items=[daisies[0]])
    r1 = learning.round("daisy", RoundSettings("search", 10, seed=0))
    assert r1.version == 1 and r1.n_weak > 0 and len(r1.page) == 10
    assert daisies[0] not in [p.item_id for p in r1.page]
    hits = [p.item_id in daisies for p in r1.page]
    assert sum(hits) >= 8
    learning.label(
        "daisy",
        positives=[p.item_id for p in r1.page if p.item_id in daisies],
        negatives=[p.item_id for p in r1.page if p.item_id not in daisies],
    )
    r2 = learning.round("daisy", RoundSettings("search", 10, seed=0))
    assert r2.version == 2 and r2.n_neg + r2.n_pos == 11
    assert (r2.n_weak == 0) == (r2.n_neg > 0)  # weak negatives only while none is marked
    shown = {p.item_id for p in r1.page} | {daisies[0]}
    assert not shown & {p.item_id for p in r2.page}
    # Ranked by the model's score plus what the marks propagated over the k-NN graph.
    ranked = [p.score + (p.propagation or 0.0) for p in r2.page]
    assert ranked == sorted(ranked, reverse=True)


def test_cross_validation_is_refreshed_as_the_marks_grow(small: furet.Furet) -> None:
    learning = small.learning("carol")
    daisies, others = ids_of(small, "daisy"), ids_of(small, "sunflower")
    cls = learning.create("cv-daisy", "f", from_items=[daisies[0]])
    learning.label(cls, positives=daisies[1:20], negatives=others[:20])  # 39 marks + 1
    first = learning.round(cls)
    assert first.cv_score is not None
    learning.label(cls, positives=[daisies[20]], negatives=[others[20]])  # 2 events <= 10%
    kept = learning.round(cls)
    assert kept.cv_score == first.cv_score and (kept.n_pos, kept.n_neg) == (21, 21)
    learning.label(cls, positives=daisies[21:24], negatives=others[21:24])  # 8 events > 10%
    fresh = learning.round(cls)
    assert (fresh.n_pos, fresh.n_neg) == (24, 24)
    # Recomputed on the current marks: the same as a fit that always cross-validates (rows in
    # the matrix's order, as a round gathers them).
    col = small.collection("f")
    m = col.matrix()
    pos = m.vectors[np.sort(m.rows_of(daisies[:24]))].astype(np.float32)
    neg = m.vectors[np.sort(m.rows_of(others[:24]))].astype(np.float32)
    expected = fit_linear(pos, neg, background=col.mean_vector()).cv_score
    assert fresh.cv_score == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    "mode", ["most_useful", "ambiguous", "discovery", "refine", "classify_random"]
)
def test_every_mode_runs(small: furet.Furet, mode: str) -> None:
    learning = small.learning(f"user-{mode}")
    daisies, others = ids_of(small, "daisy"), ids_of(small, "sunflower")
    learning.create("c", "f", from_items=daisies[:3])
    learning.label("c", negatives=others[:3])
    r = learning.round("c", RoundSettings(mode, 7, seed=1))
    assert len(r.page) == 7 and len({p.item_id for p in r.page}) == 7
    if mode != "refine":
        assert all(p.label == 0 for p in r.page)


def test_spot_check_estimates_precision(small: furet.Furet) -> None:
    learning = small.learning("spot")
    daisies = ids_of(small, "daisy")
    learning.create("d", "f", from_items=daisies[:5])
    learning.label("d", negatives=ids_of(small, "sunflower")[:5])
    r = learning.round("d", RoundSettings("classify_random", 30, seed=3))
    truth = {p.item_id: p.item_id in daisies for p in r.page}
    learning.label(
        "d",
        positives=[i for i, t in truth.items() if t],
        negatives=[i for i, t in truth.items() if not t],
    )
    summary = learning.show("d")
    said = [p.verdict for p in r.page]
    right = [p.verdict and truth[p.item_id] for p in r.page]
    assert summary.spot_checked == 30 and summary.precision is not None
    assert summary.precision.value == pytest.approx(sum(right) / sum(said))
    assert summary.precision.low <= summary.precision.value <= summary.precision.high


def test_relabelling_keeps_history_and_latest_wins(small: furet.Furet) -> None:
    learning = small.learning("hist")
    i = ids_of(small, "pansy")[0]
    learning.create("p", "f", from_items=[i])
    learning.label("p", negatives=[i])
    learning.label("p", positives=[i])
    cls = learning.get("p")
    assert learning.classes.current_labels(cls.class_id) == {i: 1}
    assert [h.value for h in learning.classes.label_history(cls.class_id)] == [1, -1, 1]
    export = learning.export("p")
    assert len(export["history"]) == 3  # type: ignore[arg-type]


def test_concurrent_labelling_loses_nothing(small: furet.Furet) -> None:
    learning = small.learning("many")
    items = ids_of(small, "daisy") + ids_of(small, "sunflower")
    learning.create("c", "f", from_items=[items[0]])
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            mine = small.learning("many")
            for j in range(k, len(items), 8):
                mine.label(
                    "c",
                    positives=[items[j]] if j % 2 else [],
                    negatives=[] if j % 2 else [items[j]],
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    labels = learning.classes.current_labels(learning.get("c").class_id)
    assert len(labels) == len(items)
    assert all(labels[items[j]] == (1 if j % 2 else -1) for j in range(1, len(items)))
    assert len(learning.classes.label_history(learning.get("c").class_id)) == len(items) + 1


def test_privacy_and_errors(small: furet.Furet) -> None:
    alice, bob = small.learning("a2"), small.learning("b2")
    alice.create("mine", "f", from_items=[ids_of(small, "daisy")[0]])
    with pytest.raises(NotFoundError):
        bob.round("mine")
    with pytest.raises(AlreadyExistsError):
        alice.create("mine", "f", from_items=[ids_of(small, "daisy")[1]])
    with pytest.raises(NotFoundError):
        alice.create("x", "f", from_items=[10**9])
    with pytest.raises(InvalidInputError):
        alice.label("mine", positives=[1], negatives=[1])
    with pytest.raises(NotFoundError):
        alice.round("mine", RoundSettings("nonsense"))


def test_class_from_uploaded_image(small: furet.Furet) -> None:
    learning = small.learning("upl")
    img = sorted((FLOWERS / "images" / "sunflower").glob("*.jpg"))[-1]  # not ingested
    learning.create("sun", "f", from_image=img)
    r = learning.round("sun", RoundSettings("search", 10, seed=0))
    suns = set(ids_of(small, "sunflower"))
    knn = small.collection("f").search(image=img, k=10)
    # Before any negative, the round ranks like the nearest neighbours of the positive.
    assert sum(p.item_id in suns for p in r.page) >= sum(h.item_id in suns for h in knn) - 1 >= 5
    assert learning.show("sun").examples == [str(img)]


def test_cli_class_workflow(small: furet.Furet) -> None:
    home = str(small.settings.home)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "furet.cli.main", "--home", home, *args],
            capture_output=True,
            text=True,
            timeout=300,
        )

    first = ids_of(small, "sunflower")[0]
    assert cli("class", "create", "sun", "-c", "f", "--from-item", str(first)).returncode == 0
    out = cli("class", "round", "sun", "--mode", "search", "--page-size", "5", "--json")
    page = json.loads(out.stdout)["page"]
    assert len(page) == 5 and {"item_id", "path", "score", "verdict"} <= set(page[0])
    lab = cli(
        "class",
        "label",
        "sun",
        "--positive",
        str(page[0]["item_id"]),
        "--negative",
        str(page[1]["item_id"]),
    )
    assert lab.returncode == 0, lab.stderr
    shown = json.loads(cli("class", "show", "sun", "--json").stdout)
    assert (shown["positives"], shown["negatives"], len(shown["versions"])) == (2, 1, 1)
    assert "sun" in cli("class", "list").stdout
    export = json.loads(cli("class", "export", "sun").stdout)
    assert export["model"]["dim"] == 1280 and len(export["labels"]) == 3
    bad = cli("class", "round", "nosuch")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr


def test_evaluate_on_the_small_set(small: furet.Furet, tmp_path: Path) -> None:
    col = small.collection("f")
    infos = small.catalog.item_infos(col.matrix().item_ids.tolist())
    csv = tmp_path / "labels.csv"
    rows = ["path,label"] + [
        f"{Path(i.path).parent.name}/{Path(i.path).name},{Path(i.path).parent.name}"
        for i in infos.values()
    ]
    csv.write_text("\n".join(rows) + "\n")
    result, n = evaluate(col, csv, rounds=2, batch=5, seeds_per_class=2)
    assert n == 100 and result.queries == 6
    assert 0.5 < result.shown_precision <= 1 and 0 < result.final_ap <= 1
    assert np.isfinite(result.round_ms_p50)
