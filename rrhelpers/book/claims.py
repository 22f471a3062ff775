"""Claim checks: a measured value against the threshold that the paper's claim implies.

Each check prints one line (``claim <name>: <value> needs >= <threshold>, margin <m>: ok``) and raises
``AssertionError`` when the claim fails, so a chapter that stops reproducing its claim fails the build. The line is
also what ``tools/seed_sweep.py`` reads back from executed chapters to tabulate every claim's margin per training
seed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Optional

CLAIM_LINE = re.compile(r"^claim (?P<name>\S+): (?P<value>\S+) needs (?P<op>>=|<=) (?P<threshold>\S+), "
                        r"margin (?P<margin>\S+): (?P<verdict>ok|FAILED)$", re.M)


@dataclass(frozen=True)
class Claim:
    """One checked claim: ``margin`` is how far ``value`` lies on the right side of ``threshold`` (negative: failed)."""

    name: str
    value: float
    op: str
    threshold: float

    @property
    def margin(self) -> float:
        return self.value - self.threshold if self.op == ">=" else self.threshold - self.value

    @property
    def passed(self) -> bool:
        return self.margin >= 0

    def line(self) -> str:
        return (f"claim {self.name}: {self.value:.4g} needs {self.op} {self.threshold:.4g}, margin "
                f"{self.margin:+.4g}: {'ok' if self.passed else 'FAILED'}")


def check_claim(name: str, value: float, *, at_least: Optional[float] = None, at_most: Optional[float] = None,
                why: str = "") -> None:
    """Print and assert ``value >= at_least`` (or ``value <= at_most``; exactly one of them).

    The printed line is the record (:func:`read_claims` reads it back); nothing is returned, so a check that ends a
    notebook cell adds no output of its own.

    ``name`` is one word (dots and underscores allowed) that identifies the claim across runs; ``why`` says in words
    what a failure means.
    """
    if (at_least is None) == (at_most is None):
        raise ValueError("check_claim takes exactly one of at_least= and at_most=")
    if not re.fullmatch(r"[\w.\-]+", name):
        raise ValueError(f"a claim's name is one word of letters, digits, '_', '.', '-'; got {name!r}")
    value = float(value)
    if math.isnan(value):
        raise AssertionError(f"claim {name}: the measured value is NaN")
    claim = Claim(name, value, ">=" if at_least is not None else "<=",
                  float(at_least if at_least is not None else at_most))
    print(claim.line(), flush=True)
    if not claim.passed:
        raise AssertionError(f"claim {name} failed: {claim.value:.4g} is not {claim.op} {claim.threshold:.4g}"
                             + (f" ({why})" if why else ""))


def check_claim_where_set(name: str, value: float, *, at_least: Optional[float] = None,
                          at_most: Optional[float] = None, why: str = "") -> None:
    """:func:`check_claim` where the profile sets the claim's threshold; where it sets none (both None), the value is
    printed as reported, not asserted (a line that :func:`read_claims` does not read as a claim)."""
    if at_least is None and at_most is None:
        print(f"claim {name}: {float(value):.4g}, not asserted by this profile", flush=True)
    else:
        check_claim(name, value, at_least=at_least, at_most=at_most, why=why)


def read_claims(text: str) -> list[Claim]:
    """The claims printed in ``text`` (a chapter's output), in order."""
    return [Claim(m["name"], float(m["value"]), m["op"], float(m["threshold"])) for m in CLAIM_LINE.finditer(text)]
