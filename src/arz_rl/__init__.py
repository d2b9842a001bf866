"""Reinforcement-learning signal control on a two-class ARZ model of a Lagos corridor."""

from gymnasium.envs.registration import register, registry

__version__ = "0.1.0"
ENV_ID = "arz_rl/SignalCorridor-v0"

if ENV_ID not in registry:
    register(id=ENV_ID, entry_point="arz_rl.env:SignalCorridorEnv")
