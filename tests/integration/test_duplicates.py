"""Near-duplicates through the real chain: ingestion, the k-NN graph, thumbnails; CLI and API."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance

import furet
from furet.domain.duplicates import agreement, groups, signature
from furet.services.duplicates import find_duplicates
from tests.conftest import FLOWERS, need
from tests.integration.test_cli import furet_cli


def _copies(src: Path, dst: Path) -> dict[str, str]:
    """Three altered copies (re-encoded, half size, cropped) of three images: copy -> original."""
    out = {}
    dst.mkdir(parents=True)
    for n, f in enumerate(sorted(src.glob("*.jpg"))[:3]):
        with Image.open(f) as im:
            im = im.convert("RGB")
            if n == 0:
                buf = io.BytesIO()
                im.save(buf, "JPEG", quality=40)
                im = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
            elif n == 1:
                im = im.resize((im.width // 2, im.height // 2))
            else:
                w, h = im.size
                im = im.crop((int(w * 0.06), int(h * 0.06), int(w * 0.94), int(h * 0.94)))
            im.save(dst / f"copy-{n}.jpg", "JPEG", quality=92)
        out[str((dst / f"copy-{n}.jpg").resolve())] = f.name
    return out


@pytest.fixture(scope="module")
def dups(tmp_path_factory: pytest.TempPathFactory) -> tuple[furet.Furet, dict[str, str]]:
    root = tmp_path_factory.mktemp("dups")
    for label in ("daisy", "sunflower"):
        shutil.copytree(need(FLOWERS) / "images" / label, root / "imgs" / label)
    copies = _copies(root / "imgs" / "daisy", root / "imgs" / "copies")
    f = furet.open(root / "home", furet.Settings(home=root / "home"))
    f.ensure_collection("d").ingest([root / "imgs"])
    return f, copies


def test_every_copy_is_grouped_with_its_original(dups: tuple[furet.Furet, dict[str, str]]) -> None:
    home, copies = dups
    found = find_duplicates(home.collection("d"))
    infos = home.catalog.item_infos([i for g in found.groups for i in g])
    group_of = {
        infos[i].path: {Path(infos[j].path).name for j in g} for g in found.groups for i in g
    }
    for copy, original in copies.items():
        assert original in group_of[copy], (copy, group_of.get(copy))
    # Different photographs of daisies are not duplicates: a copy's group is small.
    assert all(len(group_of[c]) <= 3 for c in copies)
    assert found.candidates > len(found.groups)
    strict = find_duplicates(home.collection("d"), threshold=0.999, min_cosine=0.999)
    assert len(strict.groups) < len(found.groups)


def test_cli_and_api(dups: tuple[furet.Furet, dict[str, str]]) -> None:
    home, copies = dups
    out = furet_cli(home.settings.home, "duplicates", "-c", "d", "--json")
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    paths = {x["path"] for g in body["groups"] for x in g}
    assert set(copies) <= paths
    bad = furet_cli(home.settings.home, "duplicates", "-c", "d", "--threshold", "3")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr


def test_signatures_and_groups() -> None:
    rng = np.random.default_rng(0)
    img = Image.fromarray((rng.random((120, 160, 3)) * 255).astype(np.uint8)).resize((320, 240))
    other = Image.fromarray((rng.random((120, 160, 3)) * 255).astype(np.uint8)).resize((320, 240))
    a = signature(img)
    assert agreement(a, signature(img.resize((160, 120)))) > 0.95
    assert agreement(a, signature(ImageEnhance.Brightness(img).enhance(1.2))) > 0.95
    assert agreement(a, signature(other)) < 0.5
    assert groups(6, [(0, 1), (1, 2), (4, 5)]) == [[0, 1, 2], [4, 5]]
    assert groups(3, []) == []
