"""Images of the email: checked when content is read, resized and recompressed when built.

Pillow reads every image: a file that only has an image's name is refused, and so are the
formats Outlook for Windows does not show (WebP, AVIF, HEIC, SVG...). The build writes each
image at twice the width the email shows it (sharp on high-density screens, no heavier),
recompressed, under a name safe in a URL; the templates get its pixel size so that Outlook
reserves the space when images are blocked.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError
from slugify import slugify

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


def inspect_image(path: Path) -> ImageInfo:
    """Format and pixel size of an image file, read by Pillow.

    Raises ImageProblem when the file is not an image, is damaged, or is in a format mail
    clients do not show (the message says which and why).
    """
    if path.suffix.lower() == ".svg":
        raise ImageProblem("les images SVG ne s’affichent pas dans Gmail ni dans Outlook",
                           "exportez l’image en PNG (logo, schéma) ou en JPEG (photo)")
    try:
        with Image.open(path) as image:
            kind = image.format or ""
            size = image.size
            image.verify()  # reads the data: a truncated or damaged file fails here
    except UnidentifiedImageError:
        raise ImageProblem(f"le fichier « {path.name} » n’est pas une image, ou pas dans un "
                           "format d’image connu", RESAVE) from None
    except Image.DecompressionBombError:
        raise ImageProblem(f"l’image « {path.name} » est bien trop grande",
                           "réduisez-la à moins de 3000 pixels de large avant de "
                           "l’ajouter") from None
    except (OSError, SyntaxError, ValueError):
        raise ImageProblem(f"l’image « {path.name} » est endommagée ou incomplète",
                           RESAVE) from None
    if kind not in ACCEPTED:
        why = REFUSED_WHY.get(kind, f"les messageries n’affichent pas toutes le format {kind}")
        raise ImageProblem(f"format d’image {kind or 'inconnu'} refusé\u00a0: {why}",
                           "enregistrez l’image en PNG (logo, schéma) ou en JPEG (photo)")
    if size[0] * size[1] > MAX_PIXELS:
        raise ImageProblem(f"image de {size[0]} × {size[1]} pixels, bien trop grande",
                           "réduisez-la à moins de 3000 pixels de large avant de l’ajouter")
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


@lru_cache(maxsize=256)
def _web_image(path: Path, css_width: int, stamp: tuple[int, int]) -> WebImage:
    original = path.read_bytes()
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


def web_image(path: Path, css_width: int) -> WebImage:
    """The image resized to `css_width` × DENSITY pixels at most and recompressed (JPEG
    quality 82, progressive; PNG optimised; animated GIFs kept as they are); never enlarged.
    Cached per file version. Raises ImageProblem for a format inspect_image refuses."""
    stat = path.stat()
    return _web_image(path, css_width, (stat.st_mtime_ns, stat.st_size))


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
