"""The "speakers" of the embedded corpus: espeak-ng and flite voices with pitch and rate settings.

A speaker is one fixed engine setting. The pool is enumerated so that the first ``n``
speakers are spread over engines, accents, genders, pitches and rates: espeak-ng setting
``k`` takes ``ACCENTS[k % 8]``, ``VARIANTS[k % 11]``, ``PITCHES[k % 5]``, ``RATES[k % 3]``;
the moduli are pairwise coprime, so (Chinese remainder theorem) the first 1320 are distinct.
Every fourth speaker is a flite voice, enumerated the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rnnaudio.config import ConfigError

ESPEAK_ACCENTS = (
    "en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp",
    "en-029", "en-gb-x-gbclan", "en-us-nyc", "en-gb-x-gbcwmd",
)  # fmt: skip
# Male and female variants alternate so that any prefix of the pool mixes genders.
ESPEAK_VARIANTS = ("m1", "f1", "m3", "f2", "m2", "f3", "m4", "f4", "m7", "f5", "m6")
ESPEAK_PITCHES = (50, 38, 62, 44, 56)  # espeak-ng -p, 0..99 (50 = voice default)
ESPEAK_RATES = (165, 145, 185)  # espeak-ng -s, words per minute

FLITE_VOICES = ("slt", "rms", "awb", "kal16", "kal")
# Mean F0 in Hz each voice is built around; rms ignores int_f0_target_mean, hence None.
FLITE_BASE_F0 = {"slt": 170.0, "rms": None, "awb": 110.0, "kal16": 105.0, "kal": 105.0}
FLITE_F0_FACTORS = (1.0, 0.88, 1.14, 0.94, 1.07, 0.82, 1.22)
FLITE_STRETCHES = (1.0, 0.9, 1.12, 0.95)  # duration_stretch, > 1 is slower
# Resampling factor after synthesis: shifts pitch and formants together, like a longer or
# shorter vocal tract; it is what varies rms, whose pitch flite cannot move.
FLITE_WARPS = (1.0, 0.95, 1.05)

MAX_SPEAKERS = 1000


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker: an engine, a voice and its settings.

    ``pitch``: espeak-ng ``-p`` (0..99) or flite ``int_f0_target_mean`` in Hz (0 = the
    voice's own). ``rate``: espeak-ng ``-s`` in words per minute or flite
    ``duration_stretch`` (1 = the voice's own). ``warp``: resampling factor applied to the
    engine's output (1 = none).
    """

    engine: str
    voice: str
    variant: str
    pitch: float
    rate: float
    warp: float = 1.0

    @property
    def description(self) -> str:
        """Stable text that names every setting; its sha1 gives the speaker hash."""
        return (
            f"{self.engine}|voice={self.voice}|variant={self.variant}"
            f"|pitch={self.pitch:g}|rate={self.rate:g}|warp={self.warp:g}"
        )

    @property
    def hash(self) -> str:
        """Eight hex digits, like the speaker ids of Google Speech Commands."""
        return hashlib.sha1(self.description.encode()).hexdigest()[:8]

    def command(self, text: str, out: Path, rate_scale: float = 1.0) -> list[str]:
        """The engine command line that writes ``text`` to the WAV file ``out``.

        ``rate_scale`` > 1 speaks faster (used to vary repeats of one word).
        """
        if self.engine == "espeak-ng":
            voice = f"{self.voice}+{self.variant}"
            speed = str(round(self.rate * rate_scale))
            return ["espeak-ng", "-v", voice, "-p", f"{self.pitch:g}", "-s", speed,
                    "-w", str(out), text]  # fmt: skip
        settings = ["--setf", f"duration_stretch={self.rate / rate_scale:.4f}"]
        if self.pitch:
            settings += ["--setf", f"int_f0_target_mean={self.pitch:g}"]
        return ["flite", "-voice", self.voice, *settings, "-t", text, "-o", str(out)]


def _espeak_pool() -> Iterator[Speaker]:
    for k in range(1320):
        yield Speaker(
            engine="espeak-ng",
            voice=ESPEAK_ACCENTS[k % len(ESPEAK_ACCENTS)],
            variant=ESPEAK_VARIANTS[k % len(ESPEAK_VARIANTS)],
            pitch=ESPEAK_PITCHES[k % len(ESPEAK_PITCHES)],
            rate=ESPEAK_RATES[k % len(ESPEAK_RATES)],
        )


def _flite_pool() -> Iterator[Speaker]:
    seen: set[str] = set()
    for k in range(420):
        voice = FLITE_VOICES[k % len(FLITE_VOICES)]
        base = FLITE_BASE_F0[voice]
        factor = FLITE_F0_FACTORS[k % len(FLITE_F0_FACTORS)]
        speaker = Speaker(
            engine="flite",
            voice=voice,
            variant="",
            pitch=round(base * factor) if base else 0,
            rate=FLITE_STRETCHES[k % len(FLITE_STRETCHES)],
            warp=FLITE_WARPS[k % len(FLITE_WARPS)],
        )
        # rms ignores pitch, so settings differing only there would be the same voice.
        if speaker.description not in seen:
            seen.add(speaker.description)
            yield speaker


def synth_speakers(n: int) -> list[Speaker]:
    """The first ``n`` speakers of the pool (deterministic; a prefix of ``synth_speakers(n+1)``).

    Raises :class:`ConfigError` for ``n`` outside ``1..MAX_SPEAKERS``.
    """
    if not 1 <= n <= MAX_SPEAKERS:
        raise ConfigError(
            f"dataset.synth.speakers={n!r} is out of range; valid values are >= 1 and "
            f"<= {MAX_SPEAKERS}"
        )
    espeak, flite = _espeak_pool(), _flite_pool()
    speakers = [next(flite) if i % 4 == 3 else next(espeak) for i in range(n)]
    hashes = {s.hash for s in speakers}
    assert len(hashes) == n, "speaker hash collision; change the description format"
    return speakers


def engines_used(speakers: list[Speaker]) -> list[str]:
    """Engine programs the given speakers need, in a fixed order."""
    return sorted({s.engine for s in speakers})
