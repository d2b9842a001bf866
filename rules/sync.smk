rule sync:
    output:
        "results/{mode}/runs/{run}/sync.json",
    log:
        "results/{mode}/runs/{run}/logs/sync.log",
    conda:
        "../envs/workflow.yaml"
    params:
        root=str(ROOT),
        paths=config["git"]["experiment_paths"],
        exclude=config["git"]["exclude"],
        extra=lambda wc: hash_extra(wc.mode),
        content_hash=lambda wc: run_key(wc.mode)[1],
        remote=config["git"]["remote"],
        push=config["git"]["push"],
    script:
        "../scripts/sync.py"
