"""The image cache (comms.images over comms.cache): keyed by content, never trusted when
damaged, never holding a refusal, optional when the folder cannot be written. Real files made
and read back with Pillow, a temporary XDG_CACHE_HOME."""

from __future__ import annotations

import io
import os
from pathlib import Path

import PIL
import pytest
from click.testing import CliRunner
from conftest import news_file, write
from PIL import Image

from comms import cache, images
from comms.cli import main
from comms.images import ImageProblem, inspect_image, web_image


@pytest.fixture
def cached(tmp_path, monkeypatch) -> Path:
    """A fresh cache folder, and no result kept in memory from an earlier test."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(images, "_memo", {})
    return tmp_path / "cache" / "comms" / "images"


def entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".")) \
        if folder.is_dir() else []


def noise_png(path: Path, size: tuple[int, int], seed: int) -> Path:
    """A grey-level PNG stored without compression: its file size depends only on its pixel
    count plus one filter byte per row, whatever the pixels."""
    image = Image.effect_noise(size, 40 + seed).convert("L")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "PNG", compress_level=0)
    return path


def computed(path: Path, css_width: int) -> images.WebImage:
    """What web_image computes without any cache."""
    return images._compute_web(path.read_bytes(), css_width)


def test_a_result_comes_back_from_the_cache_with_the_same_bytes(cached, tmp_path):
    path = tmp_path / "photo.jpg"
    Image.effect_noise((900, 600), 60).convert("RGB").save(path, "JPEG", quality=95)
    first = web_image(path, 200)
    assert (first.width, first.height) == (400, 267)
    assert len(entries(cached)) == 1
    images._memo.clear()  # as in a new process: only the folder remains
    again = web_image(path, 200)
    assert again is not first and again == first == computed(path, 200)
    assert inspect_image(path) == images.ImageInfo("JPEG", 900, 600)
    images._memo.clear()
    assert inspect_image(path) == images.ImageInfo("JPEG", 900, 600)  # from its entry
    assert len(entries(cached)) == 2


def test_a_changed_image_is_computed_again_even_with_the_same_size_and_mtime(cached, tmp_path):
    path = noise_png(tmp_path / "schema.png", (47, 40), seed=0)  # 48 bytes a row, 40 rows
    before = path.stat()
    first, info = web_image(path, 20), inspect_image(path)
    assert (first.width, info.width, info.height) == (40, 47, 40)  # resized to 2 × 20
    noise_png(path, (39, 48), seed=7)  # 40 bytes a row, 48 rows: as many bytes
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert inspect_image(path) == images.ImageInfo("PNG", 39, 48)
    second = web_image(path, 20)
    assert second == computed(path, 20) and second.data != first.data
    assert (second.width, second.height) == (39, 48)  # under 40 pixels: kept as it is


def test_the_key_covers_width_density_quality_recipe_and_pillow(cached, tmp_path, monkeypatch):
    path = tmp_path / "photo.jpg"
    Image.effect_noise((300, 200), 60).convert("RGB").save(path, "JPEG")
    web_image(path, 100)
    count = len(entries(cached))
    changes = [(None, None), (images, "DENSITY", 3), (images, "JPEG_QUALITY", 70),
               (images, "RECIPE", images.RECIPE + 1), (PIL, "__version__", "0.0.0")]
    for n, change in enumerate(changes):
        if change[0] is not None:
            monkeypatch.setattr(*change)
        web_image(path, 100 if n else 90)
        assert len(entries(cached)) == count + n + 1, change


@pytest.mark.parametrize("damage", ["truncated", "body changed", "header changed", "garbage",
                                    "empty"])
def test_a_damaged_cache_entry_is_never_trusted(cached, tmp_path, damage):
    path = tmp_path / "photo.png"
    Image.effect_noise((700, 350), 60).convert("RGB").save(path)
    good = web_image(path, 100)
    images._memo.clear()
    (entry,) = entries(cached)
    raw = entry.read_bytes()
    start = len(cache.ENTRY_MAGIC) + 65
    damaged = {
        "truncated": raw[:len(raw) // 2],
        "body changed": raw[:-10] + bytes(b ^ 0xFF for b in raw[-10:]),
        # A header that still reads as JSON, with another width: only the check catches it.
        "header changed": raw.replace(b'"width": 200', b'"width": 999'),
        "garbage": b"\x00\xff" * 50,
        "empty": b"",
    }[damage]
    assert damaged != raw
    entry.write_bytes(damaged)
    assert web_image(path, 100) == good == computed(path, 100)
    assert cache.read_entry(cached, entry.name) == raw[start:]  # written again, whole


def test_an_entry_with_a_valid_check_but_a_wrong_shape_is_ignored(cached, tmp_path):
    path = tmp_path / "photo.png"
    Image.effect_noise((300, 150), 60).convert("RGB").save(path)
    good = inspect_image(path)
    images._memo.clear()
    (entry,) = entries(cached)
    for body in (b"[]", b'{"format": "PNG", "width": -3, "height": 1}', b"\xff"):
        cache.write_entry(cached, entry.name, body)
        assert inspect_image(path) == good


def test_a_damaged_image_is_refused_even_after_its_good_version_was_cached(cached, tmp_path,
                                                                          root):
    path = root / "content/images/photo.png"
    Image.effect_noise((600, 300), 60).convert("RGB").save(path)
    whole = path.read_bytes()
    write(root, "content/news/2027-01-20-photo.md", news_file(
        "Photo", "2027-01-20", extra="image: content/images/photo.png\nimage_alt: Une photo\n"))
    result = CliRunner().invoke(main, ["build", "2027-1", "--root", str(root), "--out",
                                       str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    kept = entries(cached)
    assert kept
    path.write_bytes(whole[: len(whole) // 2])
    images._memo.clear()
    for _ in range(2):  # refused again: a refusal is never cached
        with pytest.raises(ImageProblem) as refused:
            inspect_image(path)
        assert refused.value.message == "l’image « photo.png » est endommagée ou incomplète"
        with pytest.raises((ImageProblem, OSError, ValueError)):
            web_image(path, images.DENSITY * 300)
    check = CliRunner().invoke(main, ["check", "--root", str(root)])
    assert check.exit_code == 1
    assert "image\u00a0: l’image « photo.png » est endommagée ou incomplète" in check.output
    assert entries(cached) == kept  # nothing stored for the damaged file


def test_an_image_pillow_cannot_read_is_refused_each_time_with_its_message(cached, tmp_path):
    path = tmp_path / "faux.png"
    path.write_text("pas une image", encoding="utf-8")
    buffer = io.BytesIO()
    Image.new("RGB", (40, 20), "red").save(buffer, "WEBP")
    webp = tmp_path / "photo.webp"
    webp.write_bytes(buffer.getvalue())
    for _ in range(2):
        with pytest.raises(ImageProblem, match="n’est pas une image, ou pas dans un format"):
            inspect_image(path)
        with pytest.raises(ImageProblem, match="format d’image WEBP refusé\u00a0: Outlook"):
            inspect_image(webp)
    assert entries(cached) == []


def test_without_a_writable_cache_folder_images_are_computed(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "_memo", {})
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # a file: no folder can go there
    assert cache.cache_folder("images") is None
    path = tmp_path / "photo.png"
    Image.effect_noise((500, 250), 60).convert("RGB").save(path)
    assert web_image(path, 100) == computed(path, 100)
    assert inspect_image(path) == images.ImageInfo("PNG", 500, 250)
    # A folder that exists but takes no file, root included: /proc is a read-only file
    # system for new files.
    unwritable = tmp_path / "cache"
    (unwritable / "comms").mkdir(parents=True)
    (unwritable / "comms" / "images").symlink_to("/proc/self")
    monkeypatch.setenv("XDG_CACHE_HOME", str(unwritable))
    images._memo.clear()
    assert cache.cache_folder("images") is not None
    assert web_image(path, 100) == computed(path, 100)
    assert inspect_image(path) == images.ImageInfo("PNG", 500, 250)


def test_an_unwritable_cache_folder_still_builds(root, tmp_path, monkeypatch):
    monkeypatch.setattr(images, "_memo", {})
    Image.effect_noise((1200, 600), 60).convert("RGB").save(root / "content/images/big.png")
    write(root, "content/news/2027-01-20-photo.md", news_file(
        "Photo", "2027-01-20", extra="image: content/images/big.png\nimage_alt: Une photo\n"))
    (tmp_path / "cache" / "comms").mkdir(parents=True)
    (tmp_path / "cache" / "comms" / "images").symlink_to("/proc/self")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["build", "2027-1", "--root", str(root), "--out",
                                       str(out)])
    assert result.exit_code == 0, result.output
    with Image.open(out / "2027-1/images/big.png") as image:
        assert image.size == (1072, 536)


def test_a_relative_xdg_cache_home_is_ignored(tmp_path, monkeypatch):
    """XDG Base Directory Specification: a relative path in $XDG_CACHE_HOME is invalid."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    monkeypatch.chdir(tmp_path)
    assert cache.cache_folder("images") == tmp_path / "home" / ".cache" / "comms" / "images"
    assert not (tmp_path / "relative").exists()


def test_an_entry_under_another_name_is_not_trusted(cached, tmp_path):
    """A whole, valid entry copied or renamed to another key (a backup restored into the
    wrong place) reads as missing: a WebP must not pass for the PNG whose entry it got."""
    good = noise_png(tmp_path / "good.png", (40, 30), 1)
    inspect_image(good)
    (entry,) = entries(cached)
    webp = tmp_path / "photo.png"
    Image.effect_noise((40, 30), 60).convert("RGB").save(webp, "WEBP")
    (cached / images._cache_key("inspect", webp.read_bytes())).write_bytes(entry.read_bytes())
    with pytest.raises(ImageProblem, match="WEBP"):
        inspect_image(webp)
