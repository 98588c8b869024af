"""The per-process cache of access-control rows: flushed when the catalog's stamp moves."""

from __future__ import annotations

from furet.catalog.acl_cache import AclCache


def test_a_new_stamp_drops_everything_and_the_same_stamp_keeps_it() -> None:
    cache = AclCache()
    cache.observe(3)  # the first stamp seen flushes too: rows cached before it are unproven
    cache.put("k", "row", cache.epoch)
    cache.observe(3)
    assert cache.get("k") == "row"
    cache.observe(4)
    assert cache.get("k") is None


def test_a_row_read_before_a_flush_is_not_kept() -> None:
    cache = AclCache()
    epoch = cache.epoch  # taken before reading the catalog
    cache.flush()  # meanwhile: a change
    cache.put("k", "stale row", epoch)
    assert cache.get("k") is None
    cache.put("k", "fresh row", cache.epoch)
    assert cache.get("k") == "fresh row"


def test_least_recently_used_rows_go_first() -> None:
    cache = AclCache(max_entries=2)
    for key in ("a", "b"):
        cache.put(key, key.upper(), cache.epoch)
    assert cache.get("a") == "A"  # b is now the least recently used
    cache.put("c", "C", cache.epoch)
    assert cache.get("b") is None and cache.get("a") == "A" and cache.get("c") == "C"
