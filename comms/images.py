"""Images of the email: checked when content is read, resized and recompressed when built.

Pillow reads every image: a file that only has an image's name is refused, and so are the
formats Outlook for Windows does not show (WebP, AVIF, HEIC, SVG...). The build writes each
image at twice the width the email shows it (sharp on high-density screens, no heavier),
recompressed, under a name safe in a URL; the templates get its pixel size so that Outlook
reserves the space when images are blocked.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import PIL  # the package alone, for its version: PIL.Image loads only to compute an image
from slugify import slugify

from comms import cache

if TYPE_CHECKING:
    from PIL import Image

# Pillow format name -> file extension written. Everything else is refused.
ACCEPTED = {"PNG": ".png", "JPEG": ".jpg", "GIF": ".gif"}
REFUSED_WHY = {
    "WEBP": "Outlook pour Windows n’affiche pas les images WebP",
    "AVIF": "la plupart des messageries n’affichent pas les images AVIF",
    "HEIF": "les messageries n’affichent pas les photos HEIC d’iPhone",
    "TIFF": "les messageries n’affichent pas les images TIFF",
    "BMP": "les images BMP sont très lourdes et mal affichées",
    "ICO": "les icônes ICO ne s’affichent pas dans les messageries",
}
DENSITY = 2  # pixels per CSS pixel written: sharp on high-density screens
JPEG_QUALITY = 82  # visually lossless for photos at email sizes, about a third of quality 95
RESAVE = "enregistrez l’image à nouveau depuis votre logiciel, en PNG ou en JPEG"
MAX_PIXELS = 40_000_000  # a larger image is more likely a mistake (or a bomb) than a photo

# Results are kept in the user's cache folder (comms.cache), keyed by the file's content and
# everything else they depend on. Bump RECIPE whenever the code below changes what
# inspect_image or web_image return, so that no result of older code is used.
CACHE = "images"
RECIPE = 2
_MEMO_SIZE = 256  # web images kept in memory: `check` asks for each issue's images


class ImageProblem(ValueError):
    """An image that cannot go into the email; `message` and `hint` are French."""

    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class ImageInfo:
    format: str  # Pillow's name: PNG, JPEG, GIF
    width: int  # pixels
    height: int  # pixels


def _cache_key(what: str, original: bytes, *params: int) -> str:
    """The cache entry of one result: the file's SHA-256 and all the result depends on."""
    return cache.key(what, RECIPE, PIL.__version__, *params, hashlib.sha256(original).digest())


def _positive(value: object) -> bool:
    return type(value) is int and value > 0


def _damaged(path: Path) -> ImageProblem:
    return ImageProblem(f"l’image « {path.name} » est endommagée ou incomplète", RESAVE)


def inspect_image(path: Path) -> ImageInfo:
    """Format and pixel size of an image file, read by Pillow (or found in the cache when
    this very content was accepted before).

    Raises ImageProblem when the file is not an image, is damaged, or is in a format mail
    clients do not show (the message says which and why). Refusals are never cached.
    """
    if path.suffix.lower() == ".svg":
        raise ImageProblem("les images SVG ne s’affichent pas dans Gmail ni dans Outlook",
                           "exportez l’image en PNG (logo, schéma) ou en JPEG (photo)")
    try:
        original = path.read_bytes()
    except OSError:
        raise _damaged(path) from None
    folder = cache.cache_folder(CACHE)
    entry = _cache_key("inspect", original)
    stored = _stored_info(cache.read_entry(folder, entry))
    info = stored or _pillow_info(path, original)
    if info.format not in ACCEPTED:
        why = REFUSED_WHY.get(info.format,
                              f"les messageries n’affichent pas toutes le format {info.format}")
        raise ImageProblem(f"format d’image {info.format or 'inconnu'} refusé\u00a0: {why}",
                           "enregistrez l’image en PNG (logo, schéma) ou en JPEG (photo)")
    if info.width * info.height > MAX_PIXELS:
        raise ImageProblem(f"image de {info.width} × {info.height} pixels, bien trop grande",
                           "réduisez-la à moins de 3000 pixels de large avant de l’ajouter")
    if stored is None:
        cache.write_entry(folder, entry, json.dumps(
            {"format": info.format, "width": info.width, "height": info.height}).encode())
    return info


def _stored_info(body: bytes | None) -> ImageInfo | None:
    try:
        fields = json.loads(body) if body is not None else None
        info = ImageInfo(fields["format"], fields["width"], fields["height"])
    except (ValueError, TypeError, KeyError):
        return None
    ok = isinstance(info.format, str) and _positive(info.width) and _positive(info.height)
    return info if ok else None


def _pillow_info(path: Path, original: bytes) -> ImageInfo:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(original)) as image:
            kind = image.format or ""
            size = image.size
            image.verify()  # reads the data: a truncated or damaged file fails here
        if kind == "JPEG" and size[0] * size[1] <= MAX_PIXELS:
            # Pillow's verify() does not decode a JPEG: one cut short (an interrupted copy or
            # download) would show grey in the email. Decoding it, at an eighth of its size
            # (libjpeg still reads every byte), finds the missing end.
            with Image.open(io.BytesIO(original)) as image:
                image.draft("RGB", (max(1, size[0] // 8), max(1, size[1] // 8)))
                image.load()
    except UnidentifiedImageError:
        raise ImageProblem(f"le fichier « {path.name} » n’est pas une image, ou pas dans un "
                           "format d’image connu", RESAVE) from None
    except Image.DecompressionBombError:
        raise ImageProblem(f"l’image « {path.name} » est bien trop grande",
                           "réduisez-la à moins de 3000 pixels de large avant de "
                           "l’ajouter") from None
    except (OSError, SyntaxError, ValueError):
        raise _damaged(path) from None
    return ImageInfo(kind, size[0], size[1])


@dataclass(frozen=True)
class WebImage:
    """An image as the build writes it."""

    data: bytes
    extension: str  # ".png", ".jpg", ".gif"
    width: int  # pixels of the written file
    height: int

    def shown(self, css_width: int) -> tuple[int, int]:
        """(width, height) in CSS pixels when shown at most `css_width` wide."""
        width = min(css_width, max(1, round(self.width / DENSITY))) \
            if self.width > css_width else self.width
        return width, max(1, round(self.height * width / self.width))


_memo: dict[str, WebImage] = {}


def web_image(path: Path, css_width: int) -> WebImage:
    """The image resized to `css_width` × DENSITY pixels at most and recompressed (JPEG
    quality 82, progressive; PNG optimised; animated GIFs kept as they are); never enlarged.

    Kept in memory and in the user's cache folder, keyed by the file's content (SHA-256),
    `css_width`, DENSITY, JPEG_QUALITY, RECIPE and Pillow's version: the bytes are the same
    as computed afresh. Raises OSError when the file cannot be read, ImageProblem (or
    Pillow's OSError or ValueError) for an image inspect_image refuses.
    """
    original = path.read_bytes()
    entry = _cache_key("web", original, css_width, DENSITY, JPEG_QUALITY)
    web = _memo.get(entry)
    if web is not None:
        return web
    folder = cache.cache_folder(CACHE)
    web = _stored_web(cache.read_entry(folder, entry), original)
    if web is None:
        web = _compute_web(original, css_width)
        kept = web.data is original  # the author's own file: not stored twice
        header = {"extension": web.extension, "width": web.width, "height": web.height,
                  "original": kept}
        cache.write_entry(folder, entry, json.dumps(header).encode() + b"\n"
                          + (b"" if kept else web.data))
    if len(_memo) >= _MEMO_SIZE:
        _memo.clear()
    _memo[entry] = web
    return web


def _stored_web(body: bytes | None, original: bytes) -> WebImage | None:
    if body is None:
        return None
    line, _, data = body.partition(b"\n")
    try:
        header = json.loads(line)
        web = WebImage(original if header["original"] is True else data,
                       header["extension"], header["width"], header["height"])
    except (ValueError, TypeError, KeyError):
        return None
    ok = (web.extension in ACCEPTED.values() and _positive(web.width)
          and _positive(web.height) and (header["original"] is True or web.data))
    return web if ok else None


def _encode(image: Image.Image, kind: str) -> bytes:
    out = io.BytesIO()
    if kind == "JPEG":
        image.convert("RGB").save(out, "JPEG", quality=JPEG_QUALITY, optimize=True,
                                  progressive=True)
    elif kind == "PNG":
        image.save(out, "PNG", optimize=True)
    else:
        image.save(out, kind)
    return out.getvalue()


def _compute_web(original: bytes, css_width: int) -> WebImage:
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(original)) as image:
        kind = image.format or ""
        if kind not in ACCEPTED:
            raise ImageProblem(f"format d’image {kind} refusé",
                               "enregistrez l’image en PNG ou en JPEG")
        animated = getattr(image, "is_animated", False)
        if animated:  # re-encoding would lose frames or timing: written as is
            return WebImage(original, ACCEPTED[kind], *image.size)
        target = css_width * DENSITY
        if kind == "JPEG" and image.width > 2 * target:
            # Decode at 1/2, 1/4 or 1/8 scale, never below the target: several times faster
            # on a phone photo; LANCZOS below does the final, sharp reduction.
            image.draft("RGB", (target, target * image.height // image.width))
        image.load()
        has_metadata = bool(image.info.get("exif") or image.info.get("xmp"))
        ImageOps.exif_transpose(image, in_place=True)  # phone photos upright, EXIF dropped
        resized = image.width > target
        if resized:
            height = max(1, round(image.height * target / image.width))
            image = image.resize((target, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
        data = _encode(image, kind)
        if not resized and not has_metadata and len(data) >= len(original):
            data = original  # already well compressed, nothing to strip: the author's file
        return WebImage(data, ACCEPTED[kind], image.width, image.height)


def safe_name(path: Path, extension: str, taken: set[str]) -> str:
    """A lower-case ASCII file name safe in a URL (« Photo été 2027.JPG » ->
    « photo-ete-2027.jpg »), made unique against `taken` (which it updates)."""
    stem = slugify(path.stem, max_length=60, word_boundary=True) or "image"
    name, n = f"{stem}{extension}", 1
    while name in taken:
        n += 1
        name = f"{stem}-{n}{extension}"
    taken.add(name)
    return name
