"""The learned answer selector: passages ranked, answer units scored, abstention decided, by weights
trained on the train questions (``rag train``) and kept in a small JSON file.

Three logistic regressions, each a list of named coefficients over standardised features, so that
``rag/models/selector.json`` can be read by eye:

- ``ranker``: a passage's ``rerank.SIGNALS`` → how likely it holds the answer;
- ``selector``: an answer unit's ``features.FEATURES`` → how likely it quotes the answer;
- ``abstain``: the best unit's features plus question-level checks (``ABSTAIN_FEATURES``) → how
  likely the question is answerable.

The ``policy`` block holds the composition settings chosen on the train split (how far below the best
unit another may score and still be quoted, the word budget, the abstention threshold).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .features import FEATURES
from .rerank import SIGNALS

DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "selector.json"
ABSTAIN_FEATURES = ("p_top", "cos_max", "overlap", "type_missing", "unknown_name",
                    "sent_top", "bm25_hit", "off_topic")


@dataclass(frozen=True)
class Linear:
    """A logistic regression over named, standardised features."""

    names: tuple[str, ...]
    coef: np.ndarray
    intercept: float
    mean: np.ndarray
    scale: np.ndarray

    def logit(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept

    def proba(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logit(x)))

    def to_json(self) -> dict[str, Any]:
        return {"intercept": round(float(self.intercept), 6),
                "features": {n: {"coef": round(float(c), 6), "mean": round(float(m), 6), "scale": round(float(s), 6)}
                             for n, c, m, s in zip(self.names, self.coef, self.mean, self.scale)}}

    @classmethod
    def from_json(cls, obj: dict[str, Any], names: tuple[str, ...]) -> Linear:
        feats = obj["features"]
        missing = [n for n in names if n not in feats]
        if missing:
            raise ValueError(f"the selector model lacks features {missing}; retrain it with: rag train")
        return cls(names, np.array([feats[n]["coef"] for n in names], dtype=np.float64), float(obj["intercept"]),
                   np.array([feats[n]["mean"] for n in names], dtype=np.float64),
                   np.array([feats[n]["scale"] or 1.0 for n in names], dtype=np.float64))


@dataclass(frozen=True)
class Policy:
    select_passages: int = 8  # ranked passages whose units are candidates
    seeds: int = 16  # sentences (closest by cosine and word overlap) around which units are built
    relative: float = 0.5  # quote further units scoring at least this share of the best unit's probability
    min_p: float = 0.2
    max_words: int = 70
    max_units: int = 3
    list_words: int = 70  # the budget when the question asks for a list ("what are the main goals")
    list_units: int = 3
    max_passages: int = 2
    abstain_below: float = 0.5  # P(answerable) under which the answer abstains
    short_min_p: float = 0.3  # the best unit's probability needed to offer a short answer


@dataclass(frozen=True)
class Model:
    ranker: Linear
    selector: Linear
    abstain: Linear
    policy: Policy = field(default_factory=Policy)
    version: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "meta": self.meta, "policy": self.policy.__dict__,
                "ranker": self.ranker.to_json(), "selector": self.selector.to_json(),
                "abstain": self.abstain.to_json()}


def from_json(obj: dict[str, Any]) -> Model:
    known = set(Policy.__dataclass_fields__)
    return Model(Linear.from_json(obj["ranker"], SIGNALS), Linear.from_json(obj["selector"], FEATURES),
                 Linear.from_json(obj["abstain"], ABSTAIN_FEATURES),
                 Policy(**{k: v for k, v in obj.get("policy", {}).items() if k in known}),
                 str(obj.get("version", "")), dict(obj.get("meta", {})))


class ModelError(Exception):
    """The selector model file is missing or unreadable; the message says how to make it."""


@lru_cache(maxsize=4)
def load(path: str = "") -> Model:
    """The model at ``path`` (default: the one shipped in ``rag/models``), read once."""
    file = Path(path) if path else DEFAULT_MODEL
    try:
        return from_json(json.loads(file.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise ModelError(f"no selector model at {file}; train one with: rag train") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ModelError(f"the selector model {file} cannot be read ({e}); retrain it with: rag train") from None
