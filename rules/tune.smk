# The study of the RL controller's settings (mode tune): its kernels run the Optuna trials
# (arz_rl.tune), and the verdict is the best completed trial over every worker's record.
rule tune_best:
    input:
        parts=lambda wc: downloaded_parts("tune"),
        complete=lambda wc: [
            f"results/tune/runs/{run}/complete.json" for run in runs_of("tune")
        ],
    output:
        "results/tune/best.yaml",
    log:
        "results/tune/logs/best.log",
    conda:
        "../envs/workflow.yaml"
    script:
        "../scripts/tune_best.py"
