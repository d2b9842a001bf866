"""Simulator correctness: exact Riemann solutions, convergence, eigenvalue bounds, mass balance, positivity."""

import numpy as np
import pytest

from arz_rl.sim import ModelParams, Simulator, VehicleClass, make_scenario
from arz_rl.sim.layout import ACC_SUBSTEPS
from arz_rl.sim.network import build_network
from arz_rl.sim.physics import class_constants, hll_flux, pressure
from arz_rl.sim.riemann import OneClassARZ
from arz_rl.validate import CASES, mass_balance, riemann_study

RESOLUTIONS = (100, 200, 400)


@pytest.fixture(scope="module")
def study():
    table, profiles = riemann_study(resolutions=RESOLUTIONS)
    return table, profiles


def test_every_case_converges(study):
    table, _ = study
    assert set(table["case"]) == {c.name for c in CASES}
    for (case, scheme), g in table.groupby(["case", "scheme"]):
        err = g.sort_values("n_cells")["l1_error"].to_numpy()
        assert np.all(np.diff(err) < 0), f"{case}/{scheme} error does not decrease: {err}"
        assert err[-1] / err[0] < 0.85, f"{case}/{scheme} barely converges: {err}"


def test_second_order_beats_first_order(study):
    table, _ = study
    finest = table[table["n_cells"] == max(RESOLUTIONS)].pivot(index="case", columns="scheme", values="l1_error")
    assert (finest["muscl_rk2"] < 0.8 * finest["first_order"]).all(), finest


def test_smooth_rarefaction_is_second_order(study):
    table, _ = study
    g = table[(table["case"] == "car_rarefaction") & (table["scheme"] == "muscl_rk2")]
    assert g["order"].dropna().min() > 0.9


def test_finest_profiles_have_exact_columns(study):
    _, profiles = study
    for case in CASES:
        df = profiles[case.name]
        assert list(df.columns[:5]) == ["x", "rho_m", "v_m", "rho_c", "v_c"]
        assert ("rho_exact" in df) == (case.cls is not None)
        assert np.isfinite(df[["rho_m", "v_m", "rho_c", "v_c"]].to_numpy()).all()


def test_exact_shock_satisfies_rankine_hugoniot():
    model = OneClassARZ(v_max=50 / 3.6, gamma=1.0, pce=1.0, rho_jam=0.3)
    left, right = (0.06, 35 / 3.6), (0.2, 8 / 3.6)
    xi = np.linspace(-5, 5, 20001)
    rho, v = model.solve(xi, left, right)
    jump = np.argmax(rho > left[0] + 1e-9)
    s = xi[jump]
    rho_star, v_star = rho[jump + 1], v[jump + 1]
    assert s == pytest.approx((rho_star * v_star - left[0] * left[1]) / (rho_star - left[0]), abs=1e-3)
    # w is a Riemann invariant of the 1-wave: w* = w_L
    assert v_star + model.p(rho_star) == pytest.approx(left[1] + model.p(left[0]))


def _random_states(rng, n, params):
    cp = params.class_arrays()
    out = []
    for _ in range(n):
        e = rng.uniform(0.01, 0.99) * params.rho_jam
        share = rng.uniform(0.01, 0.99)
        rho = np.array([share * e / cp[0, 3], (1 - share) * e])
        ks = class_constants(cp)
        p = np.array([pressure(ks[i], e, params.rho_jam) for i in range(2)])
        v = np.array([rng.uniform(0, cp[i, 0] - p[i]) for i in range(2)])
        out.append((rho, v, p))
    return out


def test_eigenvalues_lie_within_hll_speeds():
    params = ModelParams()
    cp = params.class_arrays()
    a = cp[:, 3]
    for rho, v, p in _random_states(np.random.default_rng(1), 2000, params):
        e = a @ rho
        dp = cp[:, 1] * p / e
        m = np.zeros((4, 4))  # primitive Jacobian in (rho_m, v_m, rho_c, v_c)
        for i in range(2):
            m[2 * i, 2 * i], m[2 * i, 2 * i + 1], m[2 * i + 1, 2 * i + 1] = v[i], rho[i], v[i]
            for j in range(2):
                m[2 * i + 1, 2 * j] -= dp[i] * a[j] * (v[j] - v[i])
                m[2 * i + 1, 2 * j + 1] -= dp[i] * a[j] * rho[j]
        lam = np.linalg.eigvals(m).real
        assert lam.max() <= v.max() + 1e-9
        assert lam.min() >= (v - cp[:, 1] * p).min() - 1e-9


def test_hll_is_consistent():
    params = ModelParams()
    cp = params.class_arrays()
    f = np.zeros(4)
    for rho, v, p in _random_states(np.random.default_rng(2), 200, params):
        u = np.array([rho[0], rho[0] * (v[0] + p[0]), rho[1], rho[1] * (v[1] + p[1])])
        hll_flux(u, u, cp, params.rho_jam, f)
        expected = np.array([rho[0] * v[0], u[1] * v[0], rho[1] * v[1], u[3] * v[1]])
        np.testing.assert_allclose(f, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("order", [1, 2])
def test_mass_balance_to_round_off(order):
    b = mass_balance(duration=3600.0, order=order)
    assert b["arrived"] > 5000
    assert b["clamped"] == 0.0
    assert b["relative_residual"] < 1e-12, b


def test_lane_kernel_conserves_mass_to_round_off():
    b = mass_balance(duration=3600.0, lanes=True)
    assert b["arrived"] > 5000 and b["clamped"] == 0.0
    assert b["relative_residual"] < 1e-12, b


def test_torch_step_conserves_mass_to_round_off():
    b = mass_balance(duration=900.0, engine="torch")
    assert b["arrived"] > 1000 and b["clamped"] == 0.0
    assert b["relative_residual"] < 1e-12, b


@pytest.mark.parametrize("order,engine,lanes", [(1, "numba", False), (1, "numba", True), (2, "numba", False),
                                                (1, "torch", False)])
def test_random_control_keeps_states_admissible(order, engine, lanes):
    sim = Simulator(make_scenario("corridor"), batch_size=3, order=order, engine=engine, lanes=lanes or None)
    sim.reset(np.random.default_rng(3))
    rng = np.random.default_rng(4)
    for _ in range(120 if engine == "numba" else 30):  # the torch step is slow on a CPU
        sim.request[:] = rng.integers(0, 2, size=sim.request.shape)
        sim.advance(15.0)
        fields = sim.fields()
        assert np.isfinite(sim.U).all() and np.isfinite(fields).all()
        assert (fields[:, :, 0::2] >= 0).all()
        e = sim.cp[0, 3] * fields[:, :, 0] + sim.cp[1, 3] * fields[:, :, 2]
        assert e.max() <= sim.rho_jam * (1 + 1e-9)
        assert (fields[:, :, 1::2] >= 0).all()
    assert (sim.queue >= 0).all()


def test_batch_matches_single_runs():
    sc = make_scenario("corridor")
    batch = Simulator(sc, batch_size=3, parallel=True)
    batch.reset(np.random.default_rng(5))
    singles = []
    for b in range(3):
        s = Simulator(sc, batch_size=1, parallel=False)
        s.reset(None)
        s.demand_rates[0] = batch.demand_rates[b]
        s.U[0] = batch.U[b]
        singles.append(s)
    phases = np.random.default_rng(6).integers(0, 2, size=(40, 3, sc.n_junctions))
    for k in range(40):
        batch.request[:] = phases[k]
        batch.advance(15.0)
        for b, s in enumerate(singles):
            s.request[0] = phases[k, b]
            s.advance(15.0)
    for b, s in enumerate(singles):
        np.testing.assert_allclose(batch.U[b], s.U[0], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(batch.acc[b], s.acc[0], rtol=1e-12)


def test_red_light_blocks_and_min_green_is_respected():
    sim = Simulator(make_scenario("single"))
    sim.reset(None)
    sim.request[0] = 1  # cross street green; main must hold
    sim.advance(300.0)
    seg = sim.vehicles_per_segment()[0].sum(1)
    net = sim.net
    main_in, main_out = net.main_path[0], net.main_path[1]
    assert seg[main_in] > 50  # queue on the red approach
    assert sim.jq[0, 0, 2] > 30
    # only the cross street's turners reach the main exit link while main is red
    assert seg[main_out] < seg[main_in]
    assert sim.acc[0, 12] == 1.0  # one switch, honoured after min green
    assert build_network(make_scenario("corridor", n_junctions=4)).n_junctions == 4


def test_bad_geometry_is_refused():
    with pytest.raises(ValueError, match="main_link_length"):
        build_network(make_scenario("corridor", main_link_length=425.0))


@pytest.mark.parametrize("scenario", ["single", "corridor"])
def test_fused_first_order_kernel_equals_the_general_one(scenario):
    sc = make_scenario(scenario)
    fast = Simulator(sc, batch_size=4, parallel=True, lanes=False)
    ref = Simulator(sc, batch_size=4, parallel=False, reference=True)
    fast.reset(np.random.default_rng(3))
    ref.reset(np.random.default_rng(3))
    ref.set_plan(60.0, 25.0)
    fast.set_plan(60.0, 25.0)
    phases = np.random.default_rng(4).integers(0, 2, size=(120, 4, sc.n_junctions))
    for k in range(120):
        if k == 40:  # hand control back to the requests half-way
            ref.set_plan(0.0, 0.0)
            fast.set_plan(0.0, 0.0)
        ref.request[:] = phases[k]
        fast.request[:] = phases[k]
        ref.advance(15.0)
        fast.advance(15.0)
    assert fast.acc[:, ACC_SUBSTEPS].min() > 100 and (fast.queue > 0).any()
    inner = fast.valid  # ghost cells are scratch space of the general kernel only
    np.testing.assert_allclose(fast.U.transpose(0, 2, 1, 3)[:, :, inner], ref.U.transpose(0, 2, 1, 3)[:, :, inner],
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fast.queue, ref.queue, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(fast.acc, ref.acc, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(fast.jq, ref.jq, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(fast.sig, ref.sig, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("scenario", ["single", "corridor"])
def test_lane_kernel_equals_the_scalar_one_bitwise(scenario):
    sc = make_scenario(scenario)
    n = 11  # a full group of 8 lanes and a partial one
    scalar = Simulator(sc, batch_size=n, parallel=False, lanes=False)
    simd = Simulator(sc, batch_size=n, parallel=True)
    assert simd.lanes and not scalar.lanes
    for sim in (scalar, simd):
        sim.reset(np.random.default_rng(8))
        sim.plan[:3, :, 0] = 60.0  # three scenarios on a fixed-time plan, the rest on requests
        sim.plan[:3, :, 1] = 25.0
        sim.t[5] = 7.5  # lanes of one group at different times finish at different substeps
    phases = np.random.default_rng(9).integers(0, 2, size=(80, n, sc.n_junctions))
    for k in range(80):
        for sim in (scalar, simd):
            sim.request[:] = phases[k]
            sim.advance(15.0)
    assert scalar.acc[:, ACC_SUBSTEPS].min() > 500 and (scalar.queue > 0).any()
    for name in ("U", "queue", "sig", "t", "acc", "jq"):
        np.testing.assert_array_equal(getattr(simd, name), getattr(scalar, name), err_msg=name)


def test_lane_kernel_needs_integer_pressure_exponents():
    base = ModelParams()
    m = base.motorcycles
    params = ModelParams(motorcycles=VehicleClass(m.name, m.v_max, 1.5, m.tau, m.pce), cars=base.cars)
    assert not Simulator(make_scenario("single"), batch_size=8, params=params).lanes  # falls back to the scalar kernel
    with pytest.raises(ValueError, match="lanes=True"):
        Simulator(make_scenario("single"), batch_size=8, params=params, lanes=True)


@pytest.mark.parametrize("scenario", ["single", "corridor"])
def test_torch_step_equals_the_numba_kernel(scenario):
    sc = make_scenario(scenario)
    cpu = Simulator(sc, batch_size=4, parallel=False)
    tor = Simulator(sc, batch_size=4, engine="torch")  # the GPU code path, on torch's CPU
    for sim in (cpu, tor):
        sim.reset(np.random.default_rng(3))
        sim.set_plan(60.0, 25.0)
    tor.t[2] = 7.5  # scenarios at different times: the batch finishes at different substeps
    cpu.t[2] = 7.5
    phases = np.random.default_rng(4).integers(0, 2, size=(60, 4, sc.n_junctions))
    for k in range(60):
        for sim in (cpu, tor):
            if k == 20:
                sim.set_plan(0.0, 0.0)
            sim.request[:] = phases[k]
            sim.advance(15.0)
    inner = cpu.valid
    np.testing.assert_allclose(tor.U.transpose(0, 2, 1, 3)[:, :, inner], cpu.U.transpose(0, 2, 1, 3)[:, :, inner],
                               rtol=1e-9, atol=1e-12)
    for name in ("queue", "acc", "jq", "sig", "t"):
        np.testing.assert_allclose(getattr(tor, name), getattr(cpu, name), rtol=1e-9, atol=1e-9, err_msg=name)
    assert cpu.acc[:, ACC_SUBSTEPS].min() > 50


def test_torch_step_is_first_order_only():
    with pytest.raises(ValueError, match="order=1"):
        Simulator(make_scenario("single"), order=2, engine="torch")
    with pytest.raises(ValueError, match="numba runs on the cpu"):
        Simulator(make_scenario("single"), device="gpu", engine="numba")
    with pytest.raises(ValueError, match="device='cuda'"):
        Simulator(make_scenario("single"), device="cuda")


def _discharge_pc_per_s(sim, seconds: float) -> float:
    """Car equivalents leaving the network per second over the next ``seconds`` (s)."""
    from arz_rl.sim.layout import ACC_EXITED

    pce = sim.cp[:, 3]
    before = sim.acc[0, ACC_EXITED:ACC_EXITED + 2] @ pce
    sim.advance(seconds)
    return float((sim.acc[0, ACC_EXITED:ACC_EXITED + 2] @ pce - before) / seconds)


def _capacity_fit(**overrides) -> tuple[float, float, float]:
    """(s, L, worst relative residual) of discharge x C = s C - s L fitted over cycles C: a single
    junction with both approaches oversaturated, equal displayed greens."""
    saturated = {"main_flow": 20000.0, "cross_flow": 20000.0, "demand_noise": 0.0, "profile": (1.0, 1.0),
                 "duration": 8000.0}
    sc = make_scenario("single", **saturated, **overrides)
    cycles = np.array([40.0, 60.0, 90.0, 120.0, 180.0])
    served = []
    for cycle in cycles:
        sim = Simulator(sc)
        sim.reset(None)
        sim.set_plan(cycle, (cycle - 2 * (sc.yellow + sc.all_red)) / 2)
        sim.advance(10 * cycle)
        served.append(_discharge_pc_per_s(sim, cycle * (2400 // cycle)) * cycle)  # pc per cycle
    slope, intercept = np.polyfit(cycles, served, 1)
    residual = np.abs(np.asarray(served) - (slope * cycles + intercept)) / np.asarray(served)
    return slope, -intercept / slope, float(residual.max())


def test_a_signalised_approach_discharges_s_times_c_minus_l_over_c():
    """Capacity with lost time (HCM): both approaches oversaturated under a fixed plan of cycle C
    discharge s (C - L) / C, L = 2 (startup_lost + yellow + all_red - yellow_used) = 10 s.  With cars
    alone s is the fundamental diagram's capacity (3,750 pc/h on two lanes) and L exactly the
    configured lost time; with the default motorcycle share the two-class queue discharge adds its
    own lost time and runs above the stationary capacity during green, and the configured lost time
    still adds its 6 s (over the all-red's 4) to the fitted L."""
    sc = make_scenario("single")
    assert 2 * sc.lost_time() == pytest.approx(10.0)
    params = ModelParams()
    capacity = params.rho_jam / 2 * params.cars.v_max / 2  # gamma 1: flux peak at rho_jam / 2
    s, lost, residual = _capacity_fit(moto_share=0.0)
    assert s == pytest.approx(capacity, rel=0.005) and lost == pytest.approx(10.0, abs=0.2) and residual < 0.005
    s0, lost0, _ = _capacity_fit(moto_share=0.0, startup_lost=0.0, yellow_used=sc.yellow)
    assert s0 == pytest.approx(capacity, rel=0.005) and lost0 == pytest.approx(4.0, abs=0.2)  # all-red only
    s_mixed, lost_mixed, residual_mixed = _capacity_fit()
    _, lost_mixed0, _ = _capacity_fit(startup_lost=0.0, yellow_used=sc.yellow)
    assert residual_mixed < 0.03  # still linear in C, within 3 %: s (C - L)
    assert lost_mixed - lost_mixed0 == pytest.approx(6.0, abs=1.0)


def _hour_at(scale: float, starve_junction: int | None = None):
    """One hour of the corridor at ``demand_scale`` under the Webster fixed-time plan (60 s cycle,
    green wave); with ``starve_junction``, that junction gives its main street only min_green.
    Returns the entry queues (veh) at 30 and 60 min, the jam fraction (PCE density over rho_jam) of
    every segment's first cell at the end, and the network."""
    from arz_rl.baselines import FixedTime
    from arz_rl.env import SignalCorridorEnv
    from arz_rl.sim.layout import PLAN_MAIN_GREEN

    env = SignalCorridorEnv(episode_length=3600.0, scenario_overrides={"demand_scale": scale})
    plan = FixedTime(60.0, name="fixed_time")
    obs, _ = env.reset(seed=30000)
    plan.reset(env.core, [30000])
    if starve_junction is not None:
        env.sim.plan[0, starve_junction, PLAN_MAIN_GREEN] = env.scenario.min_green
    queues = {}
    for _ in range(env.n_decisions):
        obs, _, _, _, info = env.step(env.action_of(plan.decide(env.core)[0]))
        if info["time"] in (1800.0, 3600.0):
            queues[info["time"]] = env.sim.queue[0].sum()
    f = env.sim.fields()[0]
    pce = np.array([env.sim.params.motorcycles.pce, env.sim.params.cars.pce])
    first_cell = (pce[0] * f[:, 0, 0] + pce[1] * f[:, 2, 0]) / env.sim.rho_jam
    return queues, first_cell, env.sim.net


def test_a_60_s_plan_runs_from_free_flow_to_spillback():
    """A 60 s Webster plan at 0.7 of the peak demand: no entry queue, no link full; at 1.25: the
    entry queues grow through the hour and the queue of some approach reaches back to its upstream
    end (the link's first cell near jam).  (The named demand levels are defined by what the best
    tuned controller meets there: tests/test_protocol.py.)"""
    under, under_first, _ = _hour_at(0.7)
    assert under[3600.0] < 5.0 and under_first.max() < 0.5, (under, under_first)
    over, over_first, _ = _hour_at(1.25)
    assert over[3600.0] > over[1800.0] + 50.0 > 100.0, over
    assert over_first.max() > 0.8, over_first


def test_a_full_link_blocks_the_junction_upstream():
    """Spillback through a junction: junction 2 starving its main street fills the link from
    junction 1 back to junction 1's stop line, whose main-street discharge it then throttles."""
    from arz_rl.sim.layout import PHASE_MAIN, SEG_ENTRY, SEG_JUNCTION, SEG_PHASE

    _, normal_first, net = _hour_at(1.25)
    _, starved_first, _ = _hour_at(1.25, starve_junction=1)
    # the main link from junction 0 to junction 1: its stop line is junction 1's main approach, and
    # no entry feeds it (junction 0 does)
    inner = [s for s in range(net.n_segments) if net.seg_int[s, SEG_JUNCTION] == 1
             and net.seg_int[s, SEG_PHASE] == PHASE_MAIN and net.seg_int[s, SEG_ENTRY] == -1]
    assert inner, net.seg_int
    assert normal_first[inner].max() < 0.6 < 0.8 < starved_first[inner].max(), (normal_first, starved_first)
