"""Physical constants of the two-class ARZ model, with units and sources.

Everything inside the simulator is SI: metres, seconds, vehicles per metre,
metres per second.  Conversions to veh/km, km/h and veh/h happen only at the
edges (configuration, metrics) through the helpers below.

Model (per class i in {m: motorcycles, c: cars})::

    d_t rho_i + d_x(rho_i v_i) = 0
    d_t(rho_i w_i) + d_x(rho_i w_i v_i) = rho_i (V_e,i(rho_eff) - v_i) / tau_i
    w_i = v_i + P_i(rho_eff)
    rho_eff = pce_m rho_m + pce_c rho_c            (car-equivalent density)
    P_i(r)  = v_max,i (r / rho_jam) ** gamma_i     (traffic "pressure")
    V_e,i(r) = max(0, v_max,i - P_i(r))           (equilibrium speed)

``rho_eff`` weights motorcycles by their passenger-car equivalent (PCE): a
motorcycle filters between cars and occupies a fraction of a car's road space,
so it contributes ``pce_m < 1`` to the density both classes perceive.  With
``V_e = v_max - P`` the equilibrium states lie on ``w = v_max`` and the
invariant region ``{0 <= v_i, w_i <= v_max,i}`` keeps ``rho_eff <= rho_jam``.
A larger pressure exponent for motorcycles keeps their equilibrium speed high
until the road is nearly jammed, which is how filtering shows macroscopically.

Sources for the default values (order of magnitude, documented per field):
- Aw & Rascle (2000), SIAM J. Appl. Math. 60(3); Zhang (2002), Transp. Res. B 36:
  the ARZ model and its relaxation term.
- Fan, Herty & Seibold (2014), Netw. Heterog. Media 9(2): relaxation times of
  a few to ~20 s and power-law pressures fitted to NGSIM data.
- Indo-HCM (CSIR-CRRI 2017) and Minh, Sano & Matsumoto (2005, J. EASTS 6):
  motorcycle PCE 0.2-0.5 in mixed traffic.
- HCM 6th ed. (TRB 2016): base saturation flow ~1,900 pc/h/lane, car jam
  density ~150 pc/km/lane.
- Lagos State Transport Sector Reform Law (2018): 50 km/h urban speed limit;
  the motorcycle free-flow speed 10 km/h above it is an assumption (no field
  data ships with this project): change it here, not elsewhere.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

KMH = 1.0 / 3.6  #: one km/h in m/s
PER_KM = 1.0e-3  #: one veh/km in veh/m
PER_HOUR = 1.0 / 3600.0  #: one veh/h in veh/s
JAM_PER_LANE = 150.0 * PER_KM  #: pc/m, one lane's jam density (HCM 6th ed.)

MOTO, CAR = 0, 1
CLASS_NAMES = ("m", "c")


@dataclass(frozen=True)
class VehicleClass:
    """Constants of one vehicle class (SI units)."""

    name: str
    v_max: float  #: free-flow speed, m/s
    gamma: float  #: pressure exponent, dimensionless (>= 1)
    tau: float  #: relaxation time towards V_e, s
    pce: float  #: passenger-car equivalent in rho_eff, dimensionless


@dataclass(frozen=True)
class ModelParams:
    """Constants of the two-class ARZ model (SI units).

    ``rho_jam`` is the jam density of the whole carriageway in car equivalents
    (veh/m): 2 lanes x 150 pc/km/lane (HCM) = 0.30 veh/m.
    """

    motorcycles: VehicleClass = field(
        default_factory=lambda: VehicleClass("m", v_max=60.0 * KMH, gamma=2.0, tau=5.0, pce=0.35)
    )
    cars: VehicleClass = field(
        default_factory=lambda: VehicleClass("c", v_max=50.0 * KMH, gamma=1.0, tau=10.0, pce=1.0)
    )
    rho_jam: float = 2 * JAM_PER_LANE  #: veh(pc)/m, 2 lanes

    def class_arrays(self) -> np.ndarray:
        """Per-class constants as a (2, 4) float64 array: v_max, gamma, tau, pce."""
        return np.array(
            [[c.v_max, c.gamma, c.tau, c.pce] for c in (self.motorcycles, self.cars)],
            dtype=np.float64,
        )

    def with_relaxation(self, enabled: bool) -> ModelParams:
        """Copy with the relaxation source switched off (tau = inf) when not ``enabled``."""
        if enabled:
            return self
        m, c = self.motorcycles, self.cars
        return ModelParams(
            motorcycles=VehicleClass(m.name, m.v_max, m.gamma, float("inf"), m.pce),
            cars=VehicleClass(c.name, c.v_max, c.gamma, float("inf"), c.pce),
            rho_jam=self.rho_jam,
        )

    def to_dict(self) -> dict:
        """Plain dict in SI units (for echoing in outputs)."""
        return asdict(self)
