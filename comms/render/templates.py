"""The Jinja environment and the colour theme shared by every rendered page.

Templates are looked up in the territory's own `templates/` folder first, then in the
defaults shipped with comms (`comms.templates`), so a territory can override one file
without copying the others. MJML and HTML templates are autoescaped: content goes in as data,
never as markup, except Markdown already rendered by `comms.render.markdown`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

import jinja2
from markupsafe import Markup, escape

import comms.templates
from comms import cache, dates
from comms.errors import CommsError
from comms.model import COMMON, Site
from comms.render.markdown import french_spacing, wrap

AA_CONTRAST = 4.5  # WCAG 2.x level AA for body text

# --------------------------------------------------------------------------- colours


def parse_hex(color: str) -> tuple[int, int, int]:
    """"#1f5f7a" or "#abc" -> (r, g, b)."""
    value = color.strip().lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    if len(value) != 6:
        raise ValueError(f"not a #rrggbb colour: {color!r}")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def to_hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(max(0, min(255, round(c))) for c in rgb))


def luminance(color: str) -> float:
    """WCAG relative luminance."""
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(c) for c in parse_hex(color))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(fg: str, bg: str) -> float:
    """WCAG contrast ratio, from 1 to 21."""
    a, b = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def mix(color: str, other: str, weight: float) -> str:
    """`weight` of `other` blended into `color` (0 = color, 1 = other)."""
    c, o = parse_hex(color), parse_hex(other)
    return to_hex(tuple(a + (b - a) * weight for a, b in zip(c, o, strict=True)))  # type: ignore[arg-type]


def readable_on_white(color: str, minimum: float = AA_CONTRAST) -> str:
    """`color`, darkened just enough for text on white (and white text on it)."""
    candidate = color
    step = 0
    while contrast(candidate, "#ffffff") < minimum and step < 20:
        step += 1
        candidate = mix(color, "#000000", step * 0.05)
    return candidate


FALLBACK_BRAND = "#1f5f7a"


class Theme(NamedTuple):
    """The colours of the newsletter, all checked for AA contrast where text sits on them."""

    brand: str  # header band, headings, links, buttons: white text on it, or it on white
    tint: str  # light brand tint: agenda date blocks, survey box
    page: str = "#eef2f5"  # around the 600 px sheet
    sheet: str = "#ffffff"
    text: str = "#1f2933"
    muted: str = "#4a5563"
    border: str = "#d5dde3"
    cancelled: str = "#b42318"
    on_brand: str = "#ffffff"
    labels: Mapping[str, tuple[str, str]] = MappingProxyType({
        # scheme -> (background, text): soft chips, dark text
        "ASV": ("#e3f1e8", "#1c6236"),
        "CLS": ("#e5ecfa", "#1e4a9e"),
        "CLSM": ("#f1e7f8", "#6a2a8c"),
        COMMON: ("#eceff2", "#384350"),
    })
    font: str = "'Segoe UI', Helvetica, Arial, sans-serif"

    def pairs(self) -> list[tuple[str, str, str]]:
        """Every (what, text colour, background) the templates use, for contrast tests."""
        out = [
            ("texte", self.text, self.sheet),
            ("texte secondaire", self.muted, self.sheet),
            ("pied de page", self.muted, self.page),
            ("liens et titres", self.brand, self.sheet),
            ("en-tête", self.on_brand, self.brand),
            ("bloc date", self.brand, self.tint),
            ("texte sur teinte", self.text, self.tint),
            ("annulé", self.cancelled, self.sheet),
        ]
        out += [(f"étiquette {k}", fg, bg) for k, (bg, fg) in self.labels.items()]
        return out


def theme_for(site: Site) -> Theme:
    try:
        parse_hex(site.brand_color)
        base = site.brand_color.lower()
    except ValueError:
        base = FALLBACK_BRAND
    brand = readable_on_white(base)
    return Theme(brand=brand, tint=mix(brand, "#ffffff", 0.9))


def _ratio(value: float) -> str:
    return f"{value:.1f}".replace(".", ",")


def contrast_warnings(site: Site) -> list[str]:
    """French warnings for `check` when the brand colour is too light for text."""
    try:
        parse_hex(site.brand_color)
    except ValueError:
        return [f"la couleur principale « {site.brand_color} » n’est pas une couleur "
                f"#rrggbb\u00a0: la lettre utilise {FALLBACK_BRAND} à la place — écrivez par "
                "exemple « color: \"#1f5f7a\" » sous « brand » dans comms.yaml"]
    ratio = contrast(site.brand_color, "#ffffff")
    if ratio >= AA_CONTRAST:
        return []
    used = theme_for(site).brand
    return [f"la couleur principale {site.brand_color} est trop claire pour du texte "
            f"(contraste {_ratio(ratio)}\u00a0:\u00a01 avec le blanc, il faut au moins "
            f"4,5\u00a0:\u00a01)\u00a0: la lettre utilise {used}, plus foncée, pour l’en-tête, "
            "les titres et les liens — choisissez une couleur plus foncée dans comms.yaml "
            "(brand.color) pour garder la vôtre"]


# --------------------------------------------------------------------------- Jinja


def _autoescape(name: str | None) -> bool:
    """Escape in MJML and HTML; not in plain text nor in style sheets (raw text in HTML)."""
    return not (name or "").endswith((".txt.j2", ".txt", ".css.j2", ".css"))


def _nowrap_hyphens(text: str) -> Markup:
    """Keep hyphenated names (« Val-de-Lisière ») on one line in big headings."""
    return Markup(" ").join(
        Markup('<span style="white-space:nowrap;">{}</span>').format(word) if "-" in word
        else escape(word)
        for word in str(text).split(" "))


def _underline(text: str, char: str = "-") -> str:
    return f"{text}\n{char * len(text)}"


def _wrap(text: str, width: int = 72, indent: str = "") -> str:
    return "\n".join(indent + line if line else line for line in wrap(text, width - len(indent)))


class CheckedBytecodeCache(jinja2.BytecodeCache):
    """Compiled templates as entries of comms' cache (`comms.cache`): each one checked before
    it is used, so that a damaged entry is compiled again rather than run, and written
    without ever failing, so that a folder that takes no file (made by another user, a full
    disk) only costs a compilation. Jinja checks what an entry holds against the template's
    source."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        body = cache.read_entry(self.folder, bucket.key)
        if body is not None:
            bucket.bytecode_from_string(body)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        cache.write_entry(self.folder, bucket.key, bucket.bytecode_to_string())


def bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates kept between runs in the user's cache folder
    ($XDG_CACHE_HOME/comms/jinja, else ~/.cache/comms/jinja): an edited or overriding
    template is compiled again. None when the folder cannot be created (a read-only home):
    templates are then compiled each run."""
    folder = cache.cache_folder("jinja")
    return None if folder is None else CheckedBytecodeCache(folder)


@lru_cache(maxsize=8)
def environment(root: Path | None = None) -> jinja2.Environment:
    """Templates from ROOT/templates first, then the defaults packaged as comms.templates."""
    loaders: list[jinja2.BaseLoader] = []
    if root is not None and (root / "templates").is_dir():
        loaders.append(jinja2.FileSystemLoader(str(root / "templates")))
    # The package's own folder: importlib.resources would give the same path, after loading
    # its zip readers for nothing.
    loaders.append(jinja2.FileSystemLoader(os.path.dirname(comms.templates.__file__)))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=_autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        bytecode_cache=bytecode_cache(),
    )
    env.filters.update(
        typo=french_spacing,
        day=dates.format_day,
        time=dates.format_time,
        underline=_underline,
        nowrap_hyphens=_nowrap_hyphens,
        wrap=_wrap,
        guillemets=_guillemets,
    )
    return env


def _guillemets(name: str) -> str:
    """« name », unless the name holds its own guillemets (never « … « … » … »)."""
    return name if "«" in name else f"«\u00a0{name}\u00a0»"


def render(root: Path | None, name: str, **context: Any) -> str:
    """Render one template; a broken territory template becomes a French CommsError."""
    env = environment(root)
    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateNotFound as exc:
        raise CommsError(f"modèle introuvable\u00a0: {exc.name} — il doit se trouver dans "
                         "le dossier templates du territoire ou parmi les modèles fournis") from exc
    except jinja2.TemplateSyntaxError as exc:
        where = f"{exc.filename or exc.name}, ligne {exc.lineno}"
        raise CommsError(f"erreur de syntaxe dans le modèle {where}\u00a0: {exc.message} — "
                         "corrigez ce fichier, ou supprimez-le de templates/ pour revenir au "
                         "modèle fourni") from exc
    except jinja2.UndefinedError as exc:
        raise CommsError(f"le modèle {name} utilise une valeur inconnue\u00a0: {exc.message} — "
                         "vérifiez l’orthographe de la variable, ou supprimez le modèle de "
                         "templates/ pour revenir au modèle fourni") from exc
