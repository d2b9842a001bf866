"""Training of stable-baselines3 agents: monitors, validation-chosen checkpoints, resume.

One agent per (algorithm, training seed, demand level).  Every ``eval_freq`` timesteps the policy
plays the validation draws (:mod:`arz_rl.protocol`, ``validation_episodes`` of them,
deterministically); the checkpoint with the lowest mean delay there is the one the test draws see
(one evaluation episode would mostly pick noise).  A Kaggle session dies at 12 h: every
``checkpoint_freq`` timesteps the model (and DQN's replay buffer) is saved, and
:func:`train_agent` continues from the newest checkpoint it finds instead of starting over.
"""

from __future__ import annotations

import json
import re
import time
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd

from . import results as contract
from .config import RunConfig
from .device import torch_name
from .env import SignalCorridorEnv
from .evaluate import AgentController
from .progress import Progress
from .protocol import Player, env_kwargs, seed_sets, train_env_kwargs
from .resume import Deadline, OutOfTime, Units, write_atomic
from .stats import PRIMARY_METRIC


def make_env(cfg: RunConfig, algo: str, level: str, monitor_file: Path | None = None) -> gym.Env:
    """The flat training env of ``cfg`` at ``level`` (joint actions: one categorical choice)."""
    from stable_baselines3.common.monitor import Monitor

    env: gym.Env = SignalCorridorEnv(**train_env_kwargs(cfg, level))
    if monitor_file is not None:
        monitor_file.parent.mkdir(parents=True, exist_ok=True)
        env = Monitor(env, filename=str(monitor_file))  # each session writes a file of its own
    else:
        env = Monitor(env)
    return env


def _algo_class(algo: str):
    """PPO is sb3-contrib's MaskablePPO (infeasible phases masked); DQN is SB3's (the environment
    holds an infeasible request until the signal allows it)."""
    from sb3_contrib import MaskablePPO
    from stable_baselines3 import DQN

    return {"ppo": MaskablePPO, "dqn": DQN}[algo]


def is_shared(cfg: RunConfig, algo: str) -> bool:
    """Whether ``algo`` trains one policy shared by every junction (PPO with ``policy: shared``)."""
    return algo == "ppo" and cfg.policy == "shared"


def hyperparameters(cfg: RunConfig, algo: str) -> dict[str, Any]:
    """Constructor kwargs of ``algo`` from the config (``net_arch`` and ``activation`` go to
    policy_kwargs; ``learning_rate_schedule: linear`` makes ``learning_rate`` SB3's schedule from
    it to 0).  Adam runs fused (one kernel for every parameter instead of a loop over them: a
    minibatch's optimiser step costs a third of SB3's default on a CPU, bench/README.md)."""
    import torch as th
    from stable_baselines3.common.utils import LinearSchedule

    hp = dict(getattr(cfg, algo))
    net_arch = hp.pop("net_arch", [64, 64])
    activation = hp.pop("activation", "tanh")
    if hp.pop("learning_rate_schedule", "constant") == "linear":
        # SB3 calls it with the fraction of the budget left (1 -> 0; a resumed agent's counts the
        # whole budget): the rate reaches 0 at the last update
        hp["learning_rate"] = LinearSchedule(float(hp["learning_rate"]), 0.0, 1.0)
    hp["policy_kwargs"] = {"net_arch": list(net_arch),
                           "activation_fn": {"tanh": th.nn.Tanh, "relu": th.nn.ReLU}[activation],
                           # SB3 gives Adam eps 1e-5 unless optimizer_kwargs are set: keep it
                           "optimizer_kwargs": {"fused": True, "eps": 1e-5}}
    return hp


def latest_checkpoint(folder: Path, prefix: str) -> tuple[Path, int] | None:
    """Newest ``<prefix>_<steps>_steps.zip`` in ``folder`` with its step count."""
    best: tuple[Path, int] | None = None
    for path in folder.glob(f"{prefix}_*_steps.zip"):
        m = re.fullmatch(rf"{re.escape(prefix)}_(\d+)_steps\.zip", path.name)
        if m and (best is None or int(m.group(1)) > best[1]):
            best = (path, int(m.group(1)))
    return best


def _monitor(path: Path) -> tuple[float, pd.DataFrame]:
    """One monitor CSV: its start (unix s, ``t_start`` of its header line) and its rows, ``t`` made
    absolute (each file counts from its own start, and a resumed agent writes a new file each session)."""
    with path.open() as fh:
        start = float(json.loads(fh.readline().lstrip("#") or "{}").get("t_start", 0.0))
    frame = pd.read_csv(path, skiprows=1)
    frame["t"] = frame["t"] + start
    return start, frame


def learning_curve(monitor_files: list[Path]) -> dict[str, list[float]]:
    """Episodes of the monitor CSVs, in time order: cumulative timesteps, return, length, wall time
    (s since the first file's start: across a resumed agent's sessions, the gaps between them too)."""
    read = [_monitor(p) for p in monitor_files if p.exists() and p.stat().st_size > 0]
    frames = [f for _, f in read if len(f)]
    if not frames:
        return {"timesteps": [], "episode_return": [], "episode_length": [], "wall_time_s": []}
    df = pd.concat(frames).sort_values("t", kind="stable")
    df["t"] = df["t"] - min(start for start, _ in read)
    return {
        "timesteps": df["l"].cumsum().astype(int).tolist(),
        "episode_return": df["r"].astype(float).tolist(),
        "episode_length": df["l"].astype(int).tolist(),
        "wall_time_s": df["t"].astype(float).tolist(),
    }


def _drop_older_replay_buffers(newest: Path, tag: str) -> None:
    for old in newest.parent.glob(f"{tag}_replay_buffer_*_steps.pkl"):
        if old != newest:
            old.unlink(missing_ok=True)


def _checkpoints(save_freq: int, folder: Path, tag: str, replay_buffer: bool, on_save=None):
    """SB3's CheckpointCallback keeping every model checkpoint but only the newest DQN replay
    buffer (each is tens of MB, and resuming needs only the newest); ``on_save(timesteps)`` saves
    the rest of what a resumed agent needs beside each checkpoint."""
    from stable_baselines3.common.callbacks import CheckpointCallback

    class NewestReplayBuffer(CheckpointCallback):
        def _on_step(self) -> bool:
            keep_going = super()._on_step()
            if self.n_calls % self.save_freq == 0:
                if self.save_replay_buffer:
                    _drop_older_replay_buffers(Path(self._checkpoint_path("replay_buffer_", extension="pkl")), tag)
                if on_save is not None:
                    on_save(self.num_timesteps)
            return keep_going

    return NewestReplayBuffer(save_freq=save_freq, save_path=str(folder), name_prefix=tag,
                              save_replay_buffer=replay_buffer)


class ValidationScore:
    """The policy's mean delay over the validation draws, each time it is asked (deterministic play)."""

    def __init__(self, cfg: RunConfig, level: str, algo: str) -> None:
        self.player = Player(cfg, level)  # the validation draws in one batch, demand period and clearance
        self.draws = seed_sets(cfg).validation
        self.algo = algo
        self.shared = is_shared(cfg, algo)
        self.max_green = cfg.agent_max_green_s
        self.history: list[dict[str, float]] = []
        self.started = time.perf_counter()
        self.spent_s = 0.0  #: seconds spent scoring (not training)

    def __call__(self, model, timesteps: int) -> float:
        t0 = time.perf_counter()
        agent = AgentController(self.algo, model, shared=self.shared, max_green=self.max_green)
        episodes, _ = self.player.play(agent, self.draws)
        score = float(np.mean([ep[PRIMARY_METRIC] for ep in episodes]))
        self.spent_s += time.perf_counter() - t0
        self.history.append({"timesteps": int(timesteps), PRIMARY_METRIC: score,
                             "return": float(np.mean([ep["return"] for ep in episodes])),
                             # training seconds so far (this process's, scoring excluded)
                             "train_wall_s": round(time.perf_counter() - self.started - self.spent_s, 2)})
        return score


def _validation_callback(score: ValidationScore, every: int, best_path: Path, per_step: int = 1,
                         best: float = float("inf")):
    """An SB3 callback scoring the policy on the validation draws every ``every`` calls and saving
    the best one (lowest mean delay) to ``best_path``; ``best``: the score to beat (a warm start's)."""
    from stable_baselines3.common.callbacks import BaseCallback

    class ChooseOnValidation(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.best = best

        def _on_step(self) -> bool:
            if self.n_calls % every == 0:
                value = score(self.model, self.num_timesteps // per_step)
                if value < self.best:
                    self.best = value
                    best_path.parent.mkdir(parents=True, exist_ok=True)
                    self.model.save(best_path)
            return True

    return ChooseOnValidation()


def _progress_callback(progress: Progress, score: ValidationScore, per_step: int = 1):
    """An SB3 callback reporting ``progress`` (timesteps, episodes, the last validation delay)."""
    from stable_baselines3.common.callbacks import BaseCallback

    class ReportProgress(BaseCallback):
        episodes = 0

        def _on_step(self) -> bool:
            self.episodes += sum("episode" in info for info in self.locals.get("infos", ()))
            last = score.history[-1][PRIMARY_METRIC] if score.history else None
            progress.update(self.num_timesteps // per_step, episodes=self.episodes, validation_delay_s=last)
            return True

    return ReportProgress()


def _deadline_callback(deadline: Deadline):
    """An SB3 callback that ends ``learn`` once ``deadline`` has passed (the caller saves the state)."""
    from stable_baselines3.common.callbacks import BaseCallback

    class StopAtDeadline(BaseCallback):
        #: timesteps at the start of the current rollout: PPO does not learn from a rollout cut
        #: short, so its count goes back to here when it stops (a one-part run counts the same)
        rollout_start = 0

        def _on_rollout_start(self) -> None:
            self.rollout_start = self.num_timesteps

        def _on_step(self) -> bool:
            # DQN stops where a collection chunk ends, so that the counts of a resumed agent and a
            # one-part one stay equal (that chunk's gradient step is the one a cut skips)
            freq = getattr(self.model, "train_freq", None)
            if freq is not None and str(getattr(freq.unit, "value", "")) == "step" and \
                    self.num_timesteps % (freq.frequency * self.training_env.num_envs):
                return True
            return not deadline.passed()

    return StopAtDeadline()


SESSION_FILE = "session.pkl"  #: beside an agent's checkpoints: the rest of what resuming it needs


def _random_states() -> dict[str, Any]:
    import random

    import torch as th

    states = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": th.get_rng_state()}
    if th.cuda.is_available():
        states["cuda"] = th.cuda.get_rng_state_all()
    return states


def _restore_random_states(states: dict[str, Any]) -> None:
    import random

    import torch as th

    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    th.set_rng_state(states["torch"])
    if "cuda" in states and th.cuda.is_available():
        th.cuda.set_rng_state_all(states["cuda"])


def _resume_point(ckpt_dir: Path, tag: str, algo: str, cls, vec, learner: str):
    """The newest checkpoint that loads (a session killed while writing one leaves it damaged: the
    one before it is taken, the damaged one removed), as (model, steps), or None."""
    while (found := latest_checkpoint(ckpt_dir, tag)) is not None:
        try:
            model = cls.load(found[0], env=vec, device=learner)
        except Exception:  # noqa: BLE001  (a truncated zip raises several kinds)
            found[0].unlink()
            continue
        buffer = ckpt_dir / f"{tag}_replay_buffer_{found[1]}_steps.pkl"
        if algo == "dqn" and buffer.exists():
            try:
                model.load_replay_buffer(buffer)
            except Exception:  # noqa: BLE001  a damaged buffer: refill it, the model is sound
                buffer.unlink()
        return model, found[1]
    return None


def agent_tag(algo: str, seed: int, level: str) -> str:
    return f"{algo}_seed{seed}_{level}"


def train_agent(cfg: RunConfig, algo: str, seed: int, level: str, out: Path, device: str,
                tuned: dict[str, Any] | None = None, name: str | None = None, state: Path | None = None,
                deadline: Deadline | None = None) -> dict[str, Any] | None:
    """Train ``algo`` with training ``seed`` at demand ``level`` on the resolved ``device`` (cpu |
    gpu, :mod:`arz_rl.device`), resuming from a checkpoint in ``out``; returns its record.
    ``tuned``: the level's baseline tuning (``{family: {"sweep": [...]}}``), from which a warm
    start chooses its teacher (:mod:`arz_rl.warm_start`); ``name``: the agent's name (an
    ablation's, ``ppo_<variant>``; default ``algo``); ``state``: the folder of the resume state
    (default ``out/state``, :data:`arz_rl.results.STATE_DIR`).  Once ``deadline`` has passed the
    agent saves everything it needs to go on and returns None (:mod:`arz_rl.resume`).

    Writes ``out/monitor/<tag>_[batch]<k>.monitor.csv`` (one file per session), ``<state>/checkpoints/<tag>/``
    (model checkpoints, the newest DQN replay buffer, and :data:`SESSION_FILE`: the validation
    history, the warm start, the random states and the sessions so far),
    ``out/models/<algo>_seed<k>.zip`` and ``out/models/<algo>_seed<k>_best/best_model.zip``.
    """
    import pickle

    from stable_baselines3.common.callbacks import CallbackList
    from stable_baselines3.common.vec_env import DummyVecEnv

    deadline = deadline or Deadline()
    if deadline.passed():
        return None
    name = name or algo
    tag = agent_tag(name, seed, level)
    shared = is_shared(cfg, algo)
    n_envs = cfg.n_envs if algo == "ppo" else 1
    kwargs = train_env_kwargs(cfg, level)
    simulator: dict[str, Any] = {"device": "cpu", "engine": "numba", "why": "one env"}
    monitor_dir = out / "monitor"
    monitor_dir.mkdir(parents=True, exist_ok=True)
    # every session starts a monitor file of its own (each counts time from its own start)
    kind = "batch" if shared or n_envs > 1 else ""  # one row per corridor episode of a batched env
    monitor = next(p for k in range(10_000) if not (p := monitor_dir / f"{tag}_{kind}{k}.monitor.csv").exists())
    if shared:
        from .vec_env import SharedJunctionVecEnv, pick_engine

        sim_device, engine, simulator = pick_engine(n_envs, device, **kwargs)
        vec = SharedJunctionVecEnv(n_envs, device=sim_device, engine=engine, monitor_file=str(monitor), **kwargs)
        warnings.filterwarnings("ignore", message="Training and eval env are not of the same type")
    elif n_envs > 1:  # one batched simulator for all envs: numba threads or the GPU
        from stable_baselines3.common.vec_env import VecMonitor

        from .vec_env import BatchedCorridorVecEnv, pick_engine

        sim_device, engine, simulator = pick_engine(n_envs, device, **kwargs)
        vec = VecMonitor(BatchedCorridorVecEnv(n_envs, device=sim_device, engine=engine, **kwargs),
                         filename=str(monitor))
        # the evaluation env stays a plain single env (same observations and rewards)
        warnings.filterwarnings("ignore", message="Training and eval env are not of the same type")
    else:
        vec = DummyVecEnv([lambda: make_env(cfg, algo, level, monitor)])
    # a shared policy's SB3 step is one junction's decision: the budget and the intervals below
    # count corridor decisions, so that every agent simulates the same traffic
    per_step = vec.n_junctions if shared else 1
    ckpt_dir = (state or out / contract.STATE_DIR) / "checkpoints" / tag
    session_file = ckpt_dir / SESSION_FILE
    best_dir = out / "models" / f"{tag}_best"
    cls = _algo_class(algo)
    total = cfg.timesteps[algo] * per_step
    learner = torch_name(device)
    normalise = cfg.normalize_reward and algo == "ppo"
    saved = pickle.loads(session_file.read_bytes()) if session_file.exists() else None
    if normalise:  # rewards over a running std of the discounted return
        from stable_baselines3.common.vec_env import VecNormalize

        vec = VecNormalize(vec, norm_obs=False, norm_reward=True, gamma=float(cfg.ppo.get("gamma", 0.99)))
    loaded = _resume_point(ckpt_dir, tag, algo, cls, vec, learner)
    if loaded is not None:
        model = loaded[0]
        # new demand draws for the rest of training, not the first session's again
        vec.seed(seed + loaded[1])
    else:
        vec.seed(seed)
        model = cls("MlpPolicy", vec, seed=seed, device=learner, verbose=0, **hyperparameters(cfg, algo))
    # what the checkpoint alone does not hold; from a session that saved at or before it
    if saved is not None and (loaded is None or saved["timesteps"] > loaded[1]):
        saved = None if loaded is None else {**saved, "history": [h for h in saved["history"]
                                                                   if h["timesteps"] * per_step <= loaded[1]]}
    if saved is not None:
        _restore_random_states(saved["random"])
        if normalise and saved.get("return_rms") is not None:
            vec.ret_rms = saved["return_rms"]
    warm_start, demos = (saved or {}).get("warm_start"), (saved or {}).get("demos")
    if algo == "ppo" and cfg.warm_start_episodes and loaded is None:
        from .warm_start import choose_teacher, clone, demonstrations, pretrain_critic

        teacher = choose_teacher(tuned or {}, cfg.decision_interval, cfg.warm_start_teacher)
        if teacher is None:
            raise ValueError(f"warm start of {name} at {level}: no tuned {cfg.warm_start_teacher} setting decides at "
                             f"a multiple of {cfg.decision_interval} s (warm_start_teacher, tune_mp_intervals)")
        demos = demonstrations(SignalCorridorEnv(**kwargs), teacher, cfg.warm_start_episodes, seed, shared,
                               float(cfg.ppo.get("gamma", 0.99)))
        warm_start = {"teacher": teacher, "episodes": cfg.warm_start_episodes, **clone(model, demos, seed=seed)}
        if cfg.warm_start_critic:
            warm_start["critic"] = pretrain_critic(model, demos, seed=seed)
    score = ValidationScore(cfg, level, algo)
    best_path = best_dir / "best_model.zip"
    to_beat = float("inf")
    sessions = list((saved or {}).get("sessions", []))
    if saved is not None:
        score.history = list(saved["history"])
        to_beat = min([h[PRIMARY_METRIC] for h in score.history] + [saved.get("warm_start_delay", float("inf"))])
    elif warm_start is not None:  # the cloned policy is a checkpoint too: PPO must improve on it to replace it
        to_beat = score(model, 0)
        best_dir.mkdir(parents=True, exist_ok=True)
        model.save(best_path)
        warm_start["validation_delay_s"] = to_beat
    progress = Progress(f"{name} seed {seed} {level}", "train", cfg.timesteps[algo], "steps", cfg.progress_s,
                        start=model.num_timesteps // per_step)
    penalty = None
    if demos is not None and cfg.bc_weight > 0 and cfg.bc_decay_decisions > 0:
        from .warm_start import cloning_penalty

        penalty = cloning_penalty(demos, cfg.bc_weight, cfg.bc_decay_decisions, per_step, seed=seed)
        penalty.history = [tuple(h) for h in (saved or {}).get("penalty_history", [])]
    session = {"from": int(model.num_timesteps // per_step), "started": time.time()}

    def save_session(timesteps: int) -> None:
        """Beside the checkpoint of ``timesteps``: what resuming from it needs that it does not hold."""
        record = {"timesteps": int(timesteps), "history": score.history, "warm_start": warm_start,
                  "demos": demos, "random": _random_states(),
                  "warm_start_delay": (warm_start or {}).get("validation_delay_s", float("inf")),
                  "penalty_history": penalty.history if penalty is not None else [],
                  "return_rms": getattr(vec, "ret_rms", None) if normalise else None,
                  "sessions": sessions + [{**session, "to": int(timesteps // per_step), "ended": time.time()}]}
        write_atomic(session_file, pickle.dumps(record))

    stop = _deadline_callback(deadline)
    callbacks = CallbackList([
        _validation_callback(score, max(1, cfg.eval_freq // n_envs), best_path, per_step, to_beat),
        _checkpoints(max(1, cfg.checkpoint_freq // n_envs), ckpt_dir, tag, replay_buffer=(algo == "dqn"),
                     on_save=save_session),
        _progress_callback(progress, score, per_step),
        *([penalty] if penalty is not None else []),
        stop,
    ])
    start = time.perf_counter()
    remaining = total - model.num_timesteps
    if remaining > 0:
        model.learn(total_timesteps=remaining, callback=callbacks, reset_num_timesteps=loaded is None)
    wall = time.perf_counter() - start

    def checkpoint_now() -> None:
        model.save(ckpt_dir / f"{tag}_{model.num_timesteps}_steps.zip")
        if algo == "dqn":
            newest = ckpt_dir / f"{tag}_replay_buffer_{model.num_timesteps}_steps.pkl"
            model.save_replay_buffer(newest)
            _drop_older_replay_buffers(newest, tag)
        save_session(model.num_timesteps)

    if model.num_timesteps < total:  # stopped at the deadline: save, and go on in the next session
        if algo == "ppo":  # the cut rollout was simulated but not learned from
            model.num_timesteps = stop.rollout_start
        checkpoint_now()
        progress.update(model.num_timesteps // per_step, force=True)
        vec.close()
        return None
    final_path = out / "models" / f"{tag}.zip"
    model.save(final_path)
    # the finished policy competes with the checkpoints chosen along the way
    final_score = score(model, model.num_timesteps // per_step)
    if not best_path.exists() or final_score <= min(h[PRIMARY_METRIC] for h in score.history):
        best_dir.mkdir(parents=True, exist_ok=True)
        model.save(best_path)
    progress.update(model.num_timesteps // per_step, force=True, validation_delay_s=final_score)
    # the finished model is a checkpoint too: a longer run resumes from here
    checkpoint_now()
    sessions.append({**session, "to": int(model.num_timesteps // per_step), "ended": time.time()})
    vec.close()
    hp = dict(getattr(cfg, algo))  # as configured (the record is JSON)
    chosen = min(score.history, key=lambda h: h[PRIMARY_METRIC])
    best_score = min(h[PRIMARY_METRIC] for h in score.history)
    return {
        "agent": name, "algorithm": algo, "seed": seed, "level": level, "device": device, "n_envs": n_envs,
        "simulator": simulator,
        "policy": "shared" if shared else "flat", "masked": algo == "ppo",
        "environment": {k: kwargs[k] for k in ("decision_interval", "reward", "switch_penalty", "neighbour_weight",
                                                "observation", "clearance_s", "max_green")},
        "warm_start": warm_start,
        # corridor decisions (a shared policy's SB3 steps are junction decisions: per_step of them each)
        "timesteps": int(model.num_timesteps // per_step), "sb3_timesteps": int(model.num_timesteps),
        "gradient_updates": int(getattr(model, "_n_updates", 0)),
        "resumed_from": int(loaded[1]) // per_step if loaded else None, "train_wall_time_s": wall,
        "timesteps_per_s": (total - (loaded[1] if loaded else 0)) / per_step / wall if wall > 0 else None,
        # the sessions it trained in (decisions from, to; unix start, end): one unless it was resumed
        "sessions": [{k: (round(v, 1) if isinstance(v, float) else v) for k, v in s.items()} for s in sessions],
        "hyperparameters": hp, "model": str(final_path.relative_to(out)),
        "best_model": str((best_dir / "best_model.zip").relative_to(out)),
        "learning_curve": learning_curve(sorted((out / "monitor").glob(f"{tag}_*.monitor.csv"))),
        "validation_curve": score.history, "chosen_checkpoint": chosen,
        # how much the finished policy lost against the best checkpoint (decay late in training)
        "final_validation": final_score, "final_above_best_pct": 100.0 * (final_score - best_score) / best_score,
        "cloning_penalty": [list(h) for h in penalty.history] if penalty is not None else None,
    }


def load_policy(out: Path, record: dict[str, Any], device: str):
    """The best model of a training record (the final one if no evaluation ran), on ``device`` (cpu | gpu)."""
    cls = _algo_class(record["algorithm"])
    best = out / record["best_model"]
    return cls.load(best if best.exists() else out / record["model"], device=torch_name(device))


def _train_in_worker(cfg: RunConfig, algo: str, seed: int, level: str, out: Path, device: str,
                     tuned: dict[str, Any] | None, name: str, state: Path | None, deadline: Deadline | None
                     ) -> tuple[dict[str, Any] | None, float]:
    """One agent in a worker process: one thread each, the processes share the cores."""
    from .threads import set_threads

    set_threads(1, 1)
    t0 = time.perf_counter()
    return train_agent(cfg, algo, seed, level, out, device, tuned, name, state, deadline), time.perf_counter() - t0


def train_all(cfg: RunConfig, out: Path, device: str, log=print, tuned: dict[str, dict[str, Any]] | None = None,
              state: Path | None = None, deadline: Deadline | None = None, units: Units | None = None
              ) -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
    """Train every (agent, seed, level) of ``cfg`` (its algorithms and its ablations' PPO variants,
    :func:`arz_rl.config.agent_configs`): ``{level: {agent: {seed: record}}}``; ``tuned``: per
    level, the baseline tuning a warm start chooses its teacher from; ``state``: the folder of the
    resume state (see :func:`train_agent`).  ``units`` keeps each finished agent's record (a later
    part of the run skips it); once ``deadline`` has passed, every unfinished agent saves its state
    and :class:`~arz_rl.resume.OutOfTime` is raised when they all have.

    With more than one core (``cfg.workers``, 0: one per core this process may use,
    :func:`arz_rl.threads.available_cores`) the agents train side by side in spawned worker
    processes, each with one torch and one numba thread, so a kernel's training throughput grows
    with its cores; each agent writes only its own files.  One agent at a time gets every core.
    """
    from .config import agent_configs
    from .threads import available_cores, set_threads

    agents = agent_configs(cfg)
    jobs = [(name, algo, acfg, cfg.seed + k, level) for level in cfg.levels for k in range(cfg.seeds)
            for name, algo, acfg in agents]
    runs: dict[str, dict[str, dict[str, dict[str, Any]]]] = {
        level: {name: {} for name, _, _ in agents} for level in cfg.levels}
    to_train = []
    for job in jobs:  # an agent finished in an earlier part of the run is not trained again
        name, _, _, seed, level = job
        record = units.get("trained_" + agent_tag(name, seed, level)) if units is not None else None
        if record is None:
            to_train.append(job)
        else:
            runs[level][name][str(seed)] = record
    if len(to_train) < len(jobs):
        log(f"[arz_rl] {len(jobs) - len(to_train)} agent(s) trained in an earlier part of this run; "
            f"{len(to_train)} to go")
    jobs = to_train
    stopped: list[str] = []
    cores = available_cores()
    workers = max(1, min(cfg.workers or cores, len(jobs)))

    def report(name: str, seed: int, level: str, record: dict[str, Any] | None, seconds: float) -> None:
        if record is None:
            stopped.append(agent_tag(name, seed, level))
            return
        runs[level][name][str(seed)] = record
        if units is not None:
            units.put("trained_" + agent_tag(name, seed, level), record)
        log(f"[arz_rl] trained {name} seed={seed} at {level}: {record['timesteps']} steps, "
            f"{record['gradient_updates']} gradient updates, {seconds:.1f} s; checkpoint chosen at "
            f"{record['chosen_checkpoint']['timesteps']} steps (validation delay "
            f"{record['chosen_checkpoint'][PRIMARY_METRIC]:.2f} s); {record['n_envs']} env(s) simulated by "
            f"{record['simulator']['engine']} on the {record['simulator']['device']} ({record['simulator']['why']})")

    if workers <= 1:
        # one agent at a time: the simulator's and the learner's threads take turns on every core
        log(f"[arz_rl] training {len(jobs)} agent(s) one after the other: {set_threads(cores, 1)}")
        for name, algo, acfg, seed, level in jobs:
            t0 = time.perf_counter()
            record = train_agent(acfg, algo, seed, level, out, device, (tuned or {}).get(level), name, state,
                                 deadline)
            report(name, seed, level, record, time.perf_counter() - t0)
    elif jobs:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        log(f"[arz_rl] training {len(jobs)} agents (algorithm, seed, level) in {workers} worker processes")
        # compile the simulator once here: workers started on a cold numba cache would each compile
        # the same kernels at the same time (~15 s of every core in a fresh kernel)
        warm = SignalCorridorEnv(**env_kwargs(cfg, cfg.levels[0]))
        warm.reset(seed=cfg.seed)
        warm.step(warm.action_space.sample())
        if cfg.n_envs > 1 and "ppo" in cfg.algorithms:  # PPO's batched VecEnv: the SIMD-lane kernel
            from .vec_env import BatchedCorridorVecEnv, SharedJunctionVecEnv

            vec_cls = SharedJunctionVecEnv if cfg.policy == "shared" else BatchedCorridorVecEnv
            vec = vec_cls(cfg.n_envs, **env_kwargs(cfg, cfg.levels[0]))
            vec.reset()
            vec.step(np.zeros(vec.num_envs, dtype=np.int64))
        # spawn: forking a process that already runs torch and numba threads can deadlock
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(_train_in_worker, acfg, algo, seed, level, out, device,
                                   (tuned or {}).get(level), name, state, deadline): (name, seed, level)
                       for name, algo, acfg, seed, level in jobs}
            for future, (name, seed, level) in futures.items():
                try:
                    report(name, seed, level, *future.result())
                except BrokenProcessPool as exc:
                    raise RuntimeError(f"a training worker process died while training {name} seed={seed} at "
                                       f"{level} (killed, or out of memory); the checkpoints so far are kept: the "
                                       "same run resumes from them") from exc
    if stopped:
        raise OutOfTime(f"deadline passed while training: {len(stopped)} agent(s) saved to go on "
                        f"({', '.join(stopped)})")
    return {level: {algo: dict(sorted(records.items(), key=lambda kv: int(kv[0])))
                    for algo, records in algos.items()} for level, algos in runs.items()}
