"""Run settings: one dataclass, two modes that differ only in sizes.

``quick`` is a seconds-long smoke run on a laptop CPU that still trains (both
agents do gradient updates) and evaluates every controller; ``full`` is the
thesis run.  Both use the same scenario and the same code path: only
timesteps, seeds, episode lengths and evaluation counts change.  ``tune`` runs
an Optuna study of the RL controller's settings instead (:mod:`arz_rl.tune`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .device import REQUESTS as DEVICES

ALGORITHMS = ("ppo", "dqn")
MODES = ("quick", "full", "tune")
POLICIES = ("shared", "flat")

PPO_DEFAULTS: dict[str, Any] = {
    "learning_rate": 3e-4, "n_steps": 1024, "batch_size": 64, "n_epochs": 10, "gamma": 0.99,
    "gae_lambda": 0.95, "clip_range": 0.2, "ent_coef": 0.01, "net_arch": [64, 64],
}
#: full mode's PPO gradient-norm limit: above every joint norm measured on the delay reward (the
#: critic's, 390-630), so the clip is off and Adam scales each parameter's step on its own
FULL_PPO_MAX_GRAD_NORM = 1e4
DQN_DEFAULTS: dict[str, Any] = {
    "learning_rate": 5e-4, "buffer_size": 100_000, "learning_starts": 2_000, "batch_size": 64,
    "gamma": 0.99, "train_freq": 4, "target_update_interval": 2_000, "exploration_fraction": 0.3,
    "exploration_final_eps": 0.05, "net_arch": [64, 64],
}


def _number(lo: float | None = None, hi: float | None = None, lo_open: bool = False, integer: bool = False,
            optional: bool = False):
    """A checker of one hyperparameter: (ok(value), what it must be)."""
    kind = "an integer" if integer else "a number"
    bounds = []
    if lo is not None:
        bounds.append(f"{'>' if lo_open else '>='} {lo:g}")
    if hi is not None:
        bounds.append(f"<= {hi:g}")
    what = kind + (" " + " and ".join(bounds) if bounds else "") + (" (or null)" if optional else "")

    def ok(v: Any) -> bool:
        if v is None:
            return optional
        if isinstance(v, bool) or not isinstance(v, int | float) or (integer and not isinstance(v, int)):
            return False
        return (lo is None or (v > lo if lo_open else v >= lo)) and (hi is None or v <= hi)

    return ok, what


def _layers(v: Any) -> bool:
    return isinstance(v, list | tuple) and len(v) > 0 and all(isinstance(n, int) and n >= 1 for n in v)


_LAYERS = (_layers, "a list of layer widths, e.g. [64, 64]")
#: the hidden layers' activation (SB3's policy_kwargs.activation_fn)
ACTIVATIONS = ("tanh", "relu")
#: how the learning rate moves over an agent's budget: held, or falling linearly to 0 at its end
LEARNING_RATE_SCHEDULES = ("constant", "linear")
_COMMON = {"learning_rate": _number(0, lo_open=True), "batch_size": _number(2, integer=True),
           "learning_rate_schedule": (lambda v: v in LEARNING_RATE_SCHEDULES, f"one of {LEARNING_RATE_SCHEDULES}"),
           "gamma": _number(0, 1, lo_open=True), "max_grad_norm": _number(0, lo_open=True), "net_arch": _LAYERS,
           "activation": (lambda v: v in ACTIVATIONS, f"one of {ACTIVATIONS}")}
#: what stable-baselines3 accepts for each hyperparameter this project passes on, checked before a
#: kernel is launched (SB3 itself would only fail inside the kernel)
HYPERPARAMETERS: dict[str, dict[str, tuple]] = {
    "ppo": {**_COMMON, "n_steps": _number(2, integer=True), "n_epochs": _number(1, integer=True),
            "gae_lambda": _number(0, 1), "clip_range": _number(0, lo_open=True), "ent_coef": _number(0),
            "vf_coef": _number(0), "target_kl": _number(0, lo_open=True, optional=True)},
    "dqn": {**_COMMON, "buffer_size": _number(1, integer=True), "learning_starts": _number(0, integer=True),
            "tau": _number(0, 1, lo_open=True), "train_freq": _number(1, integer=True),
            "gradient_steps": _number(-1, integer=True), "target_update_interval": _number(1, integer=True),
            "exploration_fraction": _number(0, 1), "exploration_initial_eps": _number(0, 1),
            "exploration_final_eps": _number(0, 1)},
}


def check_hyperparameters(algo: str, hp: dict[str, Any]) -> None:
    """Raise ValueError naming ``<algo>.<name>``, its value and what it must be."""
    known = HYPERPARAMETERS[algo]
    for name, value in hp.items():
        if name not in known:
            raise ValueError(f"{algo}.{name}: unknown hyperparameter; known are {sorted(known)}")
        ok, what = known[name]
        if not ok(value):
            raise ValueError(f"{algo}.{name}={value!r}: must be {what}")


#: the fields given as lists (a comma-separated string on the command line)
TUPLES = ("algorithms", "ablations", "fixed_cycles", "levels", "tune_cycles", "tune_mp_intervals", "tune_min_greens",
          "tune_max_greens", "tune_gaps", "tune_mp_thresholds")


@dataclass(frozen=True)
class RunConfig:
    """Every parameter of one experiment run (times in s)."""

    mode: str = "quick"
    device: str = "auto"
    algorithms: tuple[str, ...] = ALGORITHMS
    seeds: int = 2
    seed: int = 0  #: base seed; training seed k is seed + k
    scenario: str = "corridor"
    n_junctions: int = 3
    #: s between two decisions of the agents (the baselines' own intervals are tuned)
    decision_interval: float = 10.0
    episode_length: float = 300.0
    reward: str = "delay"  #: a name of arz_rl.core.REWARDS: delay | local_delay | pressure
    switch_penalty: float = 0.0  #: reward units per signal change started
    #: each junction's cost plus this times its main-road neighbours' (a local reward's neighbour term)
    neighbour_weight: float = 0.0
    #: PPO learns on rewards divided by a running std of the discounted return (SB3's VecNormalize)
    normalize_reward: bool = False
    observation: str = "junction"  #: junction | stopline (arz_rl.env)
    #: PPO's policy: one shared by every junction, or the flat joint policy (DQN is always flat)
    policy: str = "shared"
    #: episodes of the teacher (a tuned baseline, arz_rl.warm_start) cloned into PPO's policy
    #: before it trains (0: no warm start)
    warm_start_episodes: int = 0
    #: the teacher: the tuned setting best on validation among those the agent can imitate
    #: exactly (``best``), or among one family's (max_pressure | actuated)
    warm_start_teacher: str = "best"
    #: fit the critic to the demonstrations' discounted returns before PPO starts
    warm_start_critic: bool = True
    #: the cloning penalty during PPO: its weight at the start, falling to 0 at bc_decay_decisions
    #: corridor decisions (0: none)
    bc_weight: float = 0.0
    bc_decay_decisions: int = 0
    #: PPO variants trained beside the agents, each as agent ``ppo_<name>`` (ABLATIONS), by the
    #: kernel that trains PPO (a fan-out's other kernels leave them out)
    ablations: tuple[str, ...] = ()
    order: int = 1
    timesteps: dict[str, int] = field(default_factory=lambda: {"ppo": 3072, "dqn": 3000})
    ppo: dict[str, Any] = field(default_factory=lambda: {**PPO_DEFAULTS, "n_steps": 256})
    dqn: dict[str, Any] = field(
        default_factory=lambda: {**DQN_DEFAULTS, "learning_starts": 500, "target_update_interval": 250}
    )
    n_envs: int = 1  #: parallel environments for PPO
    workers: int = 0  #: processes training (algorithm, seed) pairs side by side; 0: one per core
    eval_episodes: int = 2  #: test draws every controller plays (every agent seed plays all of them)
    validation_episodes: int = 2  #: validation draws: checkpoint choice and baseline tuning
    eval_freq: int = 1000  #: timesteps between validation scorings of a training agent
    checkpoint_freq: int = 1000  #: timesteps between checkpoints
    fixed_cycles: tuple[float, ...] = (60.0, 90.0, 120.0)  #: the untuned reference plans (s)
    progress_s: float = 5.0  #: seconds between the progress lines each task prints
    levels: tuple[str, ...] = ("near", "over")  #: demand levels (arz_rl.sim.network.DEMAND_LEVELS)
    headline_level: str = "over"  #: the level the thesis's headline comparison is made at
    #: the agent of the one primary comparison (against the best tuned baseline at the headline
    #: level, arz_rl.stats.primary_comparison); None: the first of ``algorithms``
    primary_agent: str | None = None
    moto_share: float = 0.55  #: share of motorcycles in the arrivals (a sensitivity axis)
    #: tuning grids, each setting scored on the validation draws: fixed-time cycles (s),
    #: max-pressure decision intervals (s), minimum greens (s, max-pressure and actuated),
    #: actuated maximum greens (s) and gaps (s)
    tune_cycles: tuple[float, ...] = (40.0, 60.0, 90.0)
    tune_mp_intervals: tuple[float, ...] = (10.0, 15.0)
    tune_min_greens: tuple[float, ...] = (10.0,)
    tune_max_greens: tuple[float, ...] = (40.0,)
    tune_gaps: tuple[float, ...] = (2.5,)
    #: max-pressure's switching thresholds (pc): a junction leaves its green only for a phase
    #: whose pressure is larger by more than this
    tune_mp_thresholds: tuple[float, ...] = (0.0, 20.0)
    #: s of clearance after the demand period (no new arrivals, the same controller) to count every
    #: vehicle's delay to its exit; 0: the episode ends with the demand period
    clearance_cap_s: float = 300.0
    #: s of clearance (no new arrivals, the agent still deciding) at the end of every training
    #: episode, so that agents meet the emptying corridor the evaluation's clearance counts; 0 (the
    #: default in every mode: 900 s made PPO worse on validation at 200k decisions, README): training
    #: episodes end with the demand period
    train_clearance_s: float = 0.0
    #: s of green after which an agent's junction changes whatever the agent asks (checked at each
    #: decision; masked for PPO), in training and when it plays: the maximum green an actuated
    #: controller has; 0: none (an agent may hold a green for ever)
    agent_max_green_s: float = 0.0
    #: the RL study (mode tune, arz_rl.tune): its name, trials per worker, random trials before
    #: TPE takes over, training timesteps per trial, the demand level it is scored at
    tune_study: str = "arz-rl-ppo"
    tune_trials: int = 2
    tune_startup_trials: int = 4
    tune_timesteps: int = 1024
    tune_level: str = "over"
    #: the study's Optuna journal file (shared by parallel workers); None: optuna.journal in the output
    tune_storage: str | None = None
    #: where settings taken from a study came from (set by the workflow: results/tune/best.yaml)
    tuned_from: dict[str, Any] | None = None

    def validate(self) -> RunConfig:
        """Raise ValueError naming the field and the allowed values."""
        if self.mode not in MODES:
            raise ValueError(f"mode={self.mode!r}: allowed {MODES}")
        if self.device not in DEVICES:
            raise ValueError(f"device={self.device!r}: allowed {DEVICES}")
        bad = [a for a in self.algorithms if a not in ALGORITHMS]
        if bad or not self.algorithms:
            raise ValueError(f"algorithms={list(self.algorithms)!r}: choose among {ALGORITHMS}")
        if self.seeds < 1:
            raise ValueError(f"seeds={self.seeds}: must be >= 1")
        for a in self.algorithms:
            if self.timesteps.get(a, 0) < 1:
                raise ValueError(f"timesteps.{a}={self.timesteps.get(a)}: must be >= 1")
        for algo in ALGORITHMS:
            check_hyperparameters(algo, getattr(self, algo))
        if "dqn" in self.algorithms and self.timesteps["dqn"] <= self.dqn["learning_starts"]:
            raise ValueError(
                f"timesteps.dqn={self.timesteps['dqn']} must exceed dqn.learning_starts={self.dqn['learning_starts']}"
            )
        if self.episode_length < self.decision_interval:
            raise ValueError("episode_length must be at least one decision_interval")
        if self.eval_episodes < 1:
            raise ValueError("eval_episodes must be >= 1")
        if self.validation_episodes < 1:
            raise ValueError("validation_episodes must be >= 1")
        from .sim.network import DEMAND_LEVELS

        unknown = [lv for lv in self.levels if lv not in DEMAND_LEVELS]
        if unknown or not self.levels:
            raise ValueError(f"levels={list(self.levels)!r}: choose among {sorted(DEMAND_LEVELS)}")
        if self.primary_agent is not None and self.primary_agent not in self.algorithms:
            raise ValueError(f"primary_agent={self.primary_agent!r} is not among algorithms={list(self.algorithms)}")
        if self.headline_level not in self.levels:
            raise ValueError(f"headline_level={self.headline_level!r} is not among levels={list(self.levels)}")
        if not 0.0 <= self.moto_share <= 1.0:
            raise ValueError(f"moto_share={self.moto_share}: a share, between 0 and 1")
        for name in ("tune_cycles", "tune_mp_intervals", "tune_min_greens", "tune_max_greens", "tune_gaps"):
            if not getattr(self, name) or min(getattr(self, name)) <= 0:
                raise ValueError(f"{name}={list(getattr(self, name))}: at least one value, all > 0")
        if not self.tune_mp_thresholds or min(self.tune_mp_thresholds) < 0:
            raise ValueError(f"tune_mp_thresholds={list(self.tune_mp_thresholds)}: at least one value, all >= 0 pc")
        if self.train_clearance_s < 0:
            raise ValueError(f"train_clearance_s={self.train_clearance_s}: must be >= 0 s (0: none in training)")
        if self.agent_max_green_s < 0:
            raise ValueError(f"agent_max_green_s={self.agent_max_green_s}: must be >= 0 s (0: none)")
        if self.agent_max_green_s:
            from .sim.network import make_scenario

            min_green = make_scenario(self.scenario).min_green
            if self.agent_max_green_s <= min_green:
                raise ValueError(f"agent_max_green_s={self.agent_max_green_s}: must exceed the minimum green "
                                 f"({min_green:g} s) or be 0 (none)")
        if self.clearance_cap_s < 0:
            raise ValueError(f"clearance_cap_s={self.clearance_cap_s}: must be >= 0 s (0: no clearance)")
        from .env import OBSERVATIONS, REWARDS

        if self.reward not in REWARDS:
            raise ValueError(f"reward={self.reward!r}: allowed {tuple(REWARDS)}")
        if self.observation not in OBSERVATIONS:
            raise ValueError(f"observation={self.observation!r}: allowed {OBSERVATIONS}")
        if self.policy not in POLICIES:
            raise ValueError(f"policy={self.policy!r}: allowed {POLICIES}")
        if self.switch_penalty < 0:
            raise ValueError(f"switch_penalty={self.switch_penalty}: must be >= 0")
        if self.neighbour_weight < 0:
            raise ValueError(f"neighbour_weight={self.neighbour_weight}: must be >= 0")
        if self.warm_start_episodes < 0:
            raise ValueError(f"warm_start_episodes={self.warm_start_episodes}: must be >= 0")
        if self.warm_start_teacher not in TEACHERS:
            raise ValueError(f"warm_start_teacher={self.warm_start_teacher!r}: allowed {TEACHERS}")
        if self.bc_weight < 0 or self.bc_decay_decisions < 0:
            raise ValueError(f"bc_weight={self.bc_weight}, bc_decay_decisions={self.bc_decay_decisions}: must be >= 0")
        unknown_ablations = [a for a in self.ablations if a not in ABLATIONS]
        if unknown_ablations:
            raise ValueError(f"ablations={list(self.ablations)}: unknown {unknown_ablations}; known are "
                             f"{sorted(ABLATIONS)}")
        if self.tune_trials < 1 or self.tune_timesteps < 1 or self.tune_startup_trials < 0:
            raise ValueError("tune_trials and tune_timesteps must be >= 1, tune_startup_trials >= 0")
        if self.tune_level not in DEMAND_LEVELS:
            raise ValueError(f"tune_level={self.tune_level!r}: choose among {sorted(DEMAND_LEVELS)}")
        if self.workers < 0:
            raise ValueError(f"workers={self.workers}: must be >= 0 (0: one per core)")
        return self

    @property
    def primary(self) -> str:
        """The agent of the primary comparison (``primary_agent``, or the first algorithm)."""
        return self.primary_agent or self.algorithms[0]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in TUPLES:
            d[key] = list(getattr(self, key))
        return d


#: the full mode's tuning grids (s, pc), wide enough that every tuned optimum lies inside them
#: (tests/test_protocol.py): cycles up to 360 s (oversaturated junctions want long cycles: at
#: ``over`` fixed-time's optimum lies beyond the 180-240 s practice uses, and the 60/90/120 s
#: plans stay as reference rows); max-pressure deciding from every second; the minimum greens
#: start at the signal's own 10 s; gaps per lane
FULL_GRIDS: dict[str, tuple[float, ...]] = {
    "tune_cycles": tuple(float(c) for c in range(30, 365, 5)),
    "tune_mp_intervals": (1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0),
    "tune_min_greens": (10.0, 15.0, 20.0, 30.0),
    "tune_mp_thresholds": (0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 80.0, 100.0),
    "tune_max_greens": (30.0, 45.0, 60.0, 90.0, 120.0, 150.0, 180.0, 240.0),
    "tune_gaps": (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0),
}


TEACHERS = ("best", "max_pressure", "actuated")

#: the PPO variants an ablation trains (each an agent ``ppo_<name>`` on the same test draws): the
#: run's own PPO settings with these changed; ``warm`` stands for the run's warm_start_episodes (3
#: when the run has none)
ABLATIONS: dict[str, dict[str, Any]] = {
    "clone_only": {"warm_start_episodes": "warm", "warm_start_critic": False, "timesteps": 0},
    "scratch": {"warm_start_episodes": 0, "bc_weight": 0.0},
    "clone_ppo": {"warm_start_episodes": "warm", "warm_start_critic": False, "bc_weight": 0.0},
    "clone_critic_penalty": {"warm_start_episodes": "warm", "warm_start_critic": True, "bc_weight": 1.0,
                             "bc_decay_decisions": "half"},
    "local_reward": {"reward": "local_delay"},
    "shared_reward": {"reward": "delay"},
    "interval5": {"decision_interval": 5.0},
    "interval10": {"decision_interval": 10.0},
}


def agent_configs(cfg: RunConfig) -> list[tuple[str, str, RunConfig]]:
    """``(name, algorithm, config)`` of every agent a run trains: its algorithms, then each
    ablation as ``ppo_<name>`` (:data:`ABLATIONS`; a variant's config is not re-validated: the
    cloning-only variant trains for 0 decisions)."""
    agents = [(algo, algo, cfg) for algo in cfg.algorithms]
    for name in cfg.ablations if "ppo" in cfg.algorithms else ():
        changes: dict[str, Any] = {}
        for key, value in ABLATIONS[name].items():
            if value == "warm":
                value = cfg.warm_start_episodes or 3
            elif value == "half":
                value = max(1, cfg.timesteps["ppo"] // 2)
            if key == "timesteps":
                changes["timesteps"] = {**cfg.timesteps, "ppo": value}
            else:
                changes[key] = value
        agents.append((f"ppo_{name}", "ppo", replace(cfg, **changes)))
    return agents


def mode_defaults(mode: str) -> RunConfig:
    """The defaults of ``mode``: ``quick`` (smoke run) or ``full`` (thesis run)."""
    if mode == "quick":
        return RunConfig(mode="quick")
    if mode == "full":
        # PPO: 500k corridor decisions (1,389 simulated corridor-hours at 10 s) after a warm start
        # (the best teacher cloned, the critic fitted, a cloning penalty fading over 100k): at
        # ``over`` the validation curves of this setting fall to 200k and flatten between 400k and
        # 450k (README, "Where it stands").  Agents' greens end at 300 s (chosen on the validation
        # draws): without a maximum a trained policy strands a cross street once the main road empties.
        # PPO's gradient is not clipped (max_grad_norm far above any norm measured): SB3's 0.5 on the
        # joint norm let the critic's gradient (hundreds of times the actor's on these unscaled
        # delays) set the actor's step, and the finished policies decayed 2.6-6.9 % above their best
        # checkpoints; unclipped, 0.0-1.5 % on the same seeds (arz_rl.diagnose, README)
        return RunConfig(
            mode="full", seeds=5, episode_length=3600.0,
            timesteps={"ppo": 500_000, "dqn": 300_000},
            warm_start_episodes=3, bc_weight=1.0, bc_decay_decisions=100_000, agent_max_green_s=300.0,
            ppo={**PPO_DEFAULTS, "max_grad_norm": FULL_PPO_MAX_GRAD_NORM}, dqn=dict(DQN_DEFAULTS),
            n_envs=4, eval_episodes=30, validation_episodes=5, eval_freq=20_000, checkpoint_freq=20_000,
            progress_s=30.0, levels=("under", "near", "over"), clearance_cap_s=1800.0,
            **FULL_GRIDS,
        )
    if mode == "tune":  # a trial is a short training run; the study's settings are the tune_* fields
        return RunConfig(mode="tune", algorithms=("ppo",), seeds=1, episode_length=3600.0, levels=("over",),
                         ppo=dict(PPO_DEFAULTS), n_envs=4, validation_episodes=3, eval_freq=10_000,
                         checkpoint_freq=10_000, progress_s=30.0, tune_trials=20, tune_startup_trials=8,
                         tune_timesteps=60_000, warm_start_episodes=3,
                         # a warm start clones max-pressure tuned over these (intervals x min greens)
                         tune_mp_intervals=(5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0),
                         tune_min_greens=(10.0, 15.0, 20.0, 30.0))
    raise ValueError(f"mode={mode!r}: allowed {MODES}")


def build_config(mode: str, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Mode defaults with ``overrides`` applied (unknown keys are an error)."""
    cfg = mode_defaults(mode)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    known = {f.name for f in fields(RunConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown run parameter(s) {unknown}: known are {sorted(known)}")
    for key in ("timesteps", "ppo", "dqn"):
        if key in overrides:
            overrides[key] = {**getattr(cfg, key), **overrides[key]}
    for key in TUPLES:
        if key in overrides:
            value = overrides[key]
            items = value.split(",") if isinstance(value, str) else value
            overrides[key] = tuple(items if key in ("algorithms", "levels", "ablations") else (float(v) for v in items))
    return replace(cfg, **overrides).validate()


def load_file(path: str | Path) -> dict[str, Any]:
    """Parameters from a YAML or JSON file."""
    path = Path(path)
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text) or {}
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of run parameters")
    return data
