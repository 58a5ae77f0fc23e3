"""Logistic regression with each weight held to a known sign: the learner behind ``rag train``.

Features are standardised, the weights L2-penalised (scikit-learn's ``C = 1``) and fitted by L-BFGS-B,
whose bounds keep a weight of known direction on its side of zero.

>>> import numpy as np
>>> x = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([0, 0, 1, 1])
>>> m = fit_linear(x, y, ("f",), signs={"f": 1})
>>> bool(m.proba(np.array([[3.0]]))[0] > 0.5 > m.proba(np.array([[0.0]]))[0])
True
>>> float(fit_linear(x, y, ("f",), signs={"f": -1}).coef[0])  # held to its sign: no pull either way
0.0
"""

from __future__ import annotations

import numpy as np

from .selector import Linear

PENALTY = 1.0  # L2 on the standardised weights (scikit-learn's C = 1)


def fit_linear(x: np.ndarray, y: np.ndarray, names: tuple[str, ...], weight: np.ndarray | None = None,
               signs: dict[str, int] | None = None) -> Linear:
    """Logistic regression on standardised features, L2-penalised, each weight held to its sign in
    ``signs`` (L-BFGS-B with bounds); classes balanced unless ``weight`` is given."""
    from scipy.optimize import minimize

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = (x - mean) / scale
    y = y.astype(np.float64)
    if weight is None:
        pos = max(y.sum(), 1.0)
        weight = np.where(y > 0, len(y) / (2 * pos), len(y) / (2 * max(len(y) - pos, 1.0)))
    w = weight / weight.sum()

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        logit = z @ theta[:-1] + theta[-1]
        p = 1.0 / (1.0 + np.exp(-logit))
        value = float(np.sum(w * (np.logaddexp(0.0, logit) - y * logit))) + PENALTY / (2 * len(y)) * \
            float(theta[:-1] @ theta[:-1])
        grad = np.append(z.T @ (w * (p - y)) + PENALTY / len(y) * theta[:-1], np.sum(w * (p - y)))
        return value, grad

    signs = signs or {}
    bounds = [(0.0, None) if signs.get(n) == 1 else (None, 0.0) if signs.get(n) == -1 else (None, None)
              for n in names] + [(None, None)]
    theta = minimize(loss, np.zeros(len(names) + 1), jac=True, method="L-BFGS-B", bounds=bounds,
                     options={"maxiter": 2000}).x
    return Linear(names, theta[:-1].astype(np.float64), float(theta[-1]), mean, scale)
