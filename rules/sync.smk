rule sync:
    output:
        "results/{mode}/runs/{run}/sync.json",
    log:
        "results/{mode}/runs/{run}/logs/sync.log",
    conda:
        "../envs/workflow.yaml"
    # bookkeeping and network calls: no core held, so fanned-out runs progress side by side
    threads: 0
    params:
        root=str(ROOT),
        paths=config["git"]["experiment_paths"],
        exclude=config["git"]["exclude"],
        extra=lambda wc: run_info(wc)["extra"],
        content_hash=lambda wc: run_info(wc)["digest"],
        remote=config["git"]["remote"],
        push=config["git"]["push"],
    script:
        "../scripts/sync.py"
