rule render:
    input:
        sync="results/{mode}/runs/{run}/sync.json",
    output:
        script="results/{mode}/runs/{run}/kernel/kernel.py",
        metadata="results/{mode}/runs/{run}/kernel/kernel-metadata.json",
        run="results/{mode}/runs/{run}/kernel/run.json",
    log:
        "results/{mode}/runs/{run}/logs/render.log",
    conda:
        "../envs/workflow.yaml"
    # bookkeeping and network calls: no core held, so fanned-out runs progress side by side
    threads: 0
    params:
        templates=str(ROOT / "kernel"),
        run=lambda wc: {
            "run_id": wc.run,
            "mode": wc.mode,
            "device": config["device"],
            "backend": config["backend"],
            "parameters": run_info(wc)["parameters"],
            "install": config["kernel"]["install"],
            # the solver's validation feeds figures; a study has none
            "validate": wc.mode != "tune",
            **run_info(wc)["extra"].get("session", {}),
        },
        metadata=lambda wc: run_info(wc)["extra"]["metadata"],
        check=config["kernel"]["check"],
    script:
        "../scripts/render.py"


rule push:
    input:
        script="results/{mode}/runs/{run}/kernel/kernel.py",
        metadata="results/{mode}/runs/{run}/kernel/kernel-metadata.json",
        run="results/{mode}/runs/{run}/kernel/run.json",
    output:
        "results/{mode}/runs/{run}/launch.json",
    log:
        "results/{mode}/runs/{run}/logs/push.log",
    conda:
        "../envs/workflow.yaml"
    # bookkeeping and network calls: no core held, so fanned-out runs progress side by side
    threads: 0
    resources:
        **SESSION,
    params:
        backend=config["backend"],
        settings=backend_settings(),
    script:
        "../scripts/push.py"


rule poll:
    input:
        launch="results/{mode}/runs/{run}/launch.json",
    output:
        "results/{mode}/runs/{run}/complete.json",
    log:
        status="results/{mode}/runs/{run}/logs/poll.log",
        kernel="results/{mode}/runs/{run}/logs/kernel.log",
    priority: 10
    conda:
        "../envs/workflow.yaml"
    # waiting holds no core, only a session slot; launched runs are waited on before new pushes
    threads: 0
    resources:
        **SESSION,
    params:
        backend=config["backend"],
        settings=backend_settings(),
        interval=config["poll"]["interval_s"],
        deadline=config["poll"]["deadline_s"],
        progress_log=config["poll"].get("progress_log_s", 30),
        notify=config.get("notify"),
        root=str(ROOT),
        continuation=config.get("continuation"),
    script:
        "../scripts/poll.py"


rule download:
    input:
        launch="results/{mode}/runs/{run}/launch.json",
        complete="results/{mode}/runs/{run}/complete.json",
    output:
        directory("results/{mode}/runs/{run}/output"),
    log:
        "results/{mode}/runs/{run}/logs/download.log",
    conda:
        "../envs/workflow.yaml"
    # bookkeeping and network calls: no core held, so fanned-out runs progress side by side
    threads: 0
    params:
        backend=config["backend"],
        settings=backend_settings(),
        state=config.get("download", {}).get("state", False),
    script:
        "../scripts/download.py"
