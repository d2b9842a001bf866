"""Exact Riemann solution of the one-class ARZ model (Aw & Rascle 2000).

When one class is alone on the road the two-class system reduces to the
classical ARZ model with pressure ``p(rho) = P_i(pce_i rho)``.  Its Riemann
solution is a 1-wave (shock or rarefaction, across which ``w`` is constant)
to the middle state ``(rho*, v_R)``, then a 2-contact moving at ``v_R``.  If
``v_R >= w_L`` the middle state is vacuum: the left state rarefies into
vacuum, whose front moves at ``w_L``.
"""

from __future__ import annotations

import numpy as np


class OneClassARZ:
    """Pressure p(rho) = v_max (pce rho / rho_jam) ** gamma of a class alone (SI units)."""

    def __init__(self, v_max: float, gamma: float, pce: float, rho_jam: float) -> None:
        self.v_max, self.gamma, self.pce, self.rho_jam = v_max, gamma, pce, rho_jam

    def p(self, rho: np.ndarray | float) -> np.ndarray | float:
        """Pressure (m/s) at density rho (veh/m)."""
        return self.v_max * (self.pce * np.asarray(rho) / self.rho_jam) ** self.gamma

    def p_inverse(self, p: np.ndarray | float) -> np.ndarray | float:
        """Density (veh/m) at which the pressure equals p (m/s), p >= 0."""
        return self.rho_jam / self.pce * (np.maximum(p, 0.0) / self.v_max) ** (1.0 / self.gamma)

    def lambda1(self, rho: float, v: float) -> float:
        """First characteristic speed v - rho p'(rho) (m/s)."""
        return v - self.gamma * float(self.p(rho))

    def solve(self, xi: np.ndarray, left: tuple[float, float], right: tuple[float, float]
              ) -> tuple[np.ndarray, np.ndarray]:
        """Density (veh/m) and speed (m/s) at self-similar coordinates ``xi = x/t`` (m/s).

        ``left`` and ``right`` are (rho, v) pairs.  Speed in vacuum is reported as NaN.
        """
        rho_l, v_l = left
        rho_r, v_r = right
        rho = np.zeros_like(xi, dtype=float)
        v = np.full_like(xi, np.nan, dtype=float)
        if rho_l <= 0.0:  # vacuum on the left: the right state moves off at v_R
            at_r = xi >= v_r
            rho[at_r], v[at_r] = rho_r, v_r
            return rho, v
        w_l = v_l + float(self.p(rho_l))
        vacuum_middle = rho_r <= 0.0 or v_r >= w_l
        if vacuum_middle:
            rho_star, v_star, head_of_middle = 0.0, w_l, w_l
        else:
            rho_star = float(self.p_inverse(w_l - v_r))
            v_star, head_of_middle = v_r, v_r
        l1_left = self.lambda1(rho_l, v_l)
        if v_star < v_l:  # 1-shock
            s = (rho_star * v_star - rho_l * v_l) / (rho_star - rho_l)
            at_l = xi < s
            mid = (xi >= s) & (xi < head_of_middle)
        else:  # 1-rarefaction (possibly into vacuum)
            l1_star = v_star - self.gamma * float(self.p(rho_star))
            at_l = xi < l1_left
            fan = (xi >= l1_left) & (xi < l1_star)
            p_fan = (w_l - xi[fan]) / (1.0 + self.gamma)
            rho[fan] = self.p_inverse(p_fan)
            v[fan] = w_l - p_fan
            mid = (xi >= l1_star) & (xi < head_of_middle)
        rho[at_l], v[at_l] = rho_l, v_l
        if not vacuum_middle:
            rho[mid], v[mid] = rho_star, v_star
        at_r = xi >= (v_r if rho_r > 0.0 else np.inf)
        if vacuum_middle:
            at_r = xi >= v_r if rho_r > 0.0 else np.zeros_like(xi, dtype=bool)
        rho[at_r], v[at_r] = rho_r, v_r
        return rho, v

    def cell_averages(self, edges: np.ndarray, x0: float, t: float, left: tuple[float, float],
                      right: tuple[float, float], samples: int = 16) -> tuple[np.ndarray, np.ndarray]:
        """Exact cell averages of rho and of the flow rho*v over cells with ``edges`` (m)."""
        n = edges.size - 1
        frac = (np.arange(samples) + 0.5) / samples
        x = edges[:-1, None] + (edges[1:] - edges[:-1])[:, None] * frac[None, :]
        rho, v = self.solve(((x - x0) / t).ravel(), left, right)
        q = np.where(rho > 0.0, rho * np.nan_to_num(v), 0.0)
        return rho.reshape(n, samples).mean(axis=1), q.reshape(n, samples).mean(axis=1)
