"""A pre-filled HuggingFace cache that the hub code reads offline."""

import shutil

import huggingface_hub


def offline_hub_cache(monkeypatch, root, folder, repo_id):
    """Makes ``folder`` the hub repo ``repo_id`` in a cache under ``root``
    (``hub/models--ORG--NAME/{refs/main, snapshots/<hash>/...}``) and points
    huggingface_hub at it, offline."""
    cache = root / "hf_home" / "hub"
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(folder, repo / "snapshots" / commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(cache.parent))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    # huggingface_hub read the environment when it was imported.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return cache
