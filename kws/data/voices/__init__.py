"""Speech engines for synthetic corpora (`kws synth --engines`), one backend module each
behind `kws.data.voices.base.Backend`, every one found at run time."""

from __future__ import annotations

from kws.data.voices.base import Backend, Speaker
from kws.data.voices.espeak import EspeakBackend
from kws.data.voices.festival import FestivalBackend
from kws.data.voices.flite import FliteBackend
from kws.data.voices.kokoro import KokoroBackend
from kws.data.voices.mbrola import MbrolaBackend
from kws.data.voices.pico import PicoBackend
from kws.data.voices.piper import PiperBackend
from kws.data.voices.rhvoice import RhvoiceBackend
from kws.errors import KwsInputError

ENGINES: dict[str, type[Backend]] = {b.name: b for b in (
    EspeakBackend, PiperBackend, RhvoiceBackend, PicoBackend, FestivalBackend, FliteBackend,
    MbrolaBackend, KokoroBackend)}

__all__ = ["ENGINES", "Backend", "Speaker", "find_engines", "parse_engines"]


def parse_engines(spec: str) -> list[str]:
    """`all` (every engine; those missing here are reported and skipped) or a comma list."""
    names = list(ENGINES) if spec.strip() == "all" else \
        [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [n for n in names if n not in ENGINES]
    if unknown or not names:
        raise KwsInputError(f"--engines={spec}: unknown engine(s) {unknown or '(none)'} "
                            f"(known: {', '.join(ENGINES)}, or all)")
    return names


def find_engines(names: list[str]) -> tuple[list[str], dict[str, str]]:
    """The engines of `names` that run here, and why each of the others does not."""
    missing = {n: why for n in names if (why := ENGINES[n].missing())}
    return [n for n in names if n not in missing], missing
