"""Images through `check` and `build`: real files made with Pillow, read back with Pillow."""

from __future__ import annotations

import io
import re
from pathlib import Path

from click.testing import CliRunner
from conftest import news_file, write
from PIL import Image

from comms.cli import main
from comms.images import ImageProblem, inspect_image, safe_name


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def photo(path: Path, size: tuple[int, int], kind: str = "PNG") -> Path:
    """A noisy picture (compresses like a photo, unlike a flat colour)."""
    image = Image.effect_noise(size, 60).convert("RGB")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, kind)
    return path


def with_image(root: Path, name: str, alt: str = "Une photo") -> Path:
    return write(root, "content/news/2027-01-20-photo.md", news_file(
        "Photo", "2027-01-20", extra=f"image: content/images/{name}\nimage_alt: {alt}\n"))


def errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if ": " in line and "avertissement" not in line
            and not line.startswith(("Images", "Contenu"))]


def test_oversize_png_is_resized_for_the_email_and_sized_in_the_html(root, tmp_path):
    source = photo(root / "content/images/Grande Photo Été.PNG", (3000, 1500))
    with_image(root, "Grande Photo Été.PNG")
    check = run("check", "--root", str(root))
    assert check.exit_code == 0, check.output
    out = tmp_path / "out"
    result = run("build", "2027-1", "--root", str(root), "--out", str(out))
    assert result.exit_code == 0, result.output
    written = out / "2027-1/images/grande-photo-ete.png"  # safe in a URL
    assert written.is_file()
    with Image.open(written) as image:
        assert image.size == (1072, 536)  # twice the 536 px the email shows
    assert written.stat().st_size < source.stat().st_size
    html = (out / "2027-1/newsletter.html").read_text(encoding="utf-8")
    (tag,) = [t for t in re.findall(r"<img [^>]+>", html) if "grande-photo-ete" in t]
    assert 'width="536"' in tag and 'height="268"' in tag
    archive = (out / "2027-1/index.html").read_text(encoding="utf-8")
    assert re.search(r'<img [^>]*grande-photo-ete\.png[^>]*width="536" height="268"', archive)


def test_small_image_keeps_its_size_and_is_never_enlarged(root, tmp_path):
    photo(root / "content/images/vignette.jpg", (200, 100), "JPEG")
    with_image(root, "vignette.jpg")
    out = tmp_path / "out"
    assert run("build", "2027-1", "--root", str(root), "--out", str(out)).exit_code == 0
    with Image.open(out / "2027-1/images/vignette.jpg") as image:
        assert image.size == (200, 100) and image.format == "JPEG"
    html = (out / "2027-1/newsletter.html").read_text(encoding="utf-8")
    (tag,) = [t for t in re.findall(r"<img [^>]+>", html) if "vignette" in t]
    assert 'width="200"' in tag and 'height="100"' in tag


def test_webp_is_refused_with_its_reason_and_a_single_error(root, tmp_path):
    path = root / "content/images/photo.webp"
    Image.new("RGB", (40, 20), "red").save(path, "WEBP")
    with_image(root, "photo.webp")
    result = run("check", "--root", str(root))
    assert result.exit_code == 1
    found = errors(result.output)
    assert len(found) == 1, found
    assert found[0].startswith("content/news/2027-01-20-photo.md:6: image\u00a0: ")
    assert "WEBP" in found[0] and "Outlook" in found[0] and "PNG" in found[0]
    out = tmp_path / "out"
    assert run("build", "2027-1", "--root", str(root), "--out", str(out)).exit_code == 1
    assert not out.exists()  # nothing written


def test_a_file_that_only_has_an_image_name_is_refused(root):
    (root / "content/images/faux.png").write_text("pas une image", encoding="utf-8")
    with_image(root, "faux.png")
    result = run("check", "--root", str(root))
    assert result.exit_code == 1
    found = errors(result.output)
    assert len(found) == 1 and "n’est pas une image, ou pas dans un format" in found[0], found
    assert "Error" not in found[0]  # no Pillow exception name in the French message


def test_a_webp_logo_is_refused_in_comms_yaml(root):
    Image.new("RGB", (40, 20), "red").save(root / "content/images/logo.webp", "WEBP")
    config = root / "comms.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        'brand:\n  color: "#1f5f7a"\n', 'brand:\n  color: "#1f5f7a"\n  logo: content/images/logo.webp\n'),
        encoding="utf-8")
    result = run("check", "--root", str(root))
    assert result.exit_code == 1
    assert "comms.yaml:18: brand.logo\u00a0: format d’image WEBP refusé" in result.output


def test_logo_has_its_pixel_size_and_alt_readable_on_the_brand_colour(root, tmp_path):
    photo(root / "content/images/logo.png", (600, 200))
    config = root / "comms.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        'brand:\n  color: "#1f5f7a"\n', 'brand:\n  color: "#1f5f7a"\n  logo: content/images/logo.png\n'),
        encoding="utf-8")
    out = tmp_path / "out"
    assert run("build", "2027-1", "--root", str(root), "--out", str(out)).exit_code == 0
    with Image.open(out / "2027-1/images/logo.png") as image:
        assert image.size == (300, 100)
    html = (out / "2027-1/newsletter.html").read_text(encoding="utf-8")
    (tag,) = [t for t in re.findall(r"<img [^>]+>", html) if "logo.png" in t]
    assert 'width="150"' in tag and 'height="50"' in tag
    assert "color:#ffffff" in tag.replace(" ", "")  # the alt text, when images are off


def test_every_img_in_the_email_has_width_and_height(sample, tmp_path):
    out = tmp_path / "out"
    assert run("build", "2027-1", "--root", str(sample), "--out", str(out)).exit_code == 0
    html = (out / "2027-1/newsletter.html").read_text(encoding="utf-8")
    tags = re.findall(r"<img [^>]+>", html)
    assert tags
    for tag in tags:
        src = re.search(r'src="[^"]*/images/([^"]+)"', tag).group(1)
        with Image.open(out / "2027-1/images" / src) as image:
            width, height = image.size
        shown_w = int(re.search(r'width="(\d+)"', tag).group(1))
        shown_h = int(re.search(r'height="(\d+)"', tag).group(1))
        assert abs(shown_w / shown_h - width / height) < 0.02, tag


def test_check_reports_the_total_image_weight(root):
    photo(root / "content/images/a.png", (800, 400))
    with_image(root, "a.png")
    result = run("check", "--root", str(root))
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("Images de la lettre 2027-1"))
    assert re.search(r"1 image, \d+,\d\u00a0Ko une fois réduite\.", line), line


def test_safe_names_are_unique():
    taken: set[str] = set()
    assert safe_name(Path("Photo Été 2027.JPG"), ".jpg", taken) == "photo-ete-2027.jpg"
    assert safe_name(Path("a/photo-ete-2027.jpeg"), ".jpg", taken) == "photo-ete-2027-2.jpg"


def test_inspect_reads_real_content_not_the_extension(tmp_path):
    path = tmp_path / "image.png"
    buffer = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue())
    assert inspect_image(path).format == "JPEG"
    truncated = tmp_path / "cut.png"
    photo(tmp_path / "whole.png", (50, 50))
    truncated.write_bytes((tmp_path / "whole.png").read_bytes()[:200])
    try:
        inspect_image(truncated)
    except ImageProblem as exc:
        assert "endommagée ou incomplète" in exc.message
    else:
        raise AssertionError("a truncated PNG was accepted")


def test_a_jpeg_cut_short_is_refused_by_check_and_build(root, tmp_path):
    """A JPEG whose end is missing (an interrupted copy) opens and passes Pillow's verify(),
    but would show grey in the email: it is refused like any damaged image, also after the
    whole photo was accepted once (the cache is keyed by content)."""
    whole = photo(tmp_path / "whole.jpg", (800, 600), "JPEG")
    image = root / "content/images/coupee.jpg"
    image.write_bytes(whole.read_bytes())
    with_image(root, "coupee.jpg")
    assert run("check", "--root", str(root)).exit_code == 0
    for cut in (len(whole.read_bytes()) // 2, len(whole.read_bytes()) - 200):
        image.write_bytes(whole.read_bytes()[:cut])
        result = run("check", "--root", str(root))
        assert result.exit_code == 1, (cut, result.output)
        assert "l’image « coupee.jpg » est endommagée ou incomplète" in result.output
        built = run("build", "2027-1", "--root", str(root), "--out", str(tmp_path / "out"))
        assert built.exit_code == 1
        assert not (tmp_path / "out" / "2027-1" / "newsletter.html").exists()


def test_phone_photo_is_turned_upright_and_its_exif_dropped(root, tmp_path):
    image = Image.effect_noise((200, 100), 60).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to view
    exif[0x010F] = "Téléphone"  # Make: personal metadata that must not be published
    image.save(root / "content/images/portrait.jpg", "JPEG", exif=exif.tobytes())
    with_image(root, "portrait.jpg")
    out = tmp_path / "out"
    assert run("build", "2027-1", "--root", str(root), "--out", str(out)).exit_code == 0
    with Image.open(out / "2027-1/images/portrait.jpg") as written:
        assert written.size == (100, 200)
        assert not written.getexif()


def test_one_image_agrees_in_the_singular(root, monkeypatch):
    """« 1 image, … une fois réduite » and « l’image … pèse », never « les 1 images »."""
    from comms import review

    Image.effect_noise((1400, 1000), 90).convert("RGB").save(root / "content/images/bruit.png")
    with_image(root, "bruit.png")
    monkeypatch.setattr(review, "IMAGE_BUDGET", 1)
    result = run("check", "--root", str(root))
    output = result.output.replace("\u00a0", " ")
    assert "1 image, " in output and "une fois réduite." in output, output
    assert "l’image de la lettre" in output and " pèse " in output, output
    assert "les 1 images" not in output
