FIGURES = ["learning_curves", "controller_comparison"]
# figure rules depend on the plotting package too, so editing it reruns them (and only them)
FIGURE_CODE = sorted(str(p) for p in (ROOT / "src" / "thesis_figures").glob("*.py"))


rule merge:
    input:
        merge_inputs,
    output:
        directory("results/{mode}/merged/{merged}"),
    log:
        "results/{mode}/logs/merge-{merged}.log",
    conda:
        "../envs/figures.yaml"
    script:
        "../scripts/merge.py"


rule learning_curves:
    input:
        run=downloaded,
        code=FIGURE_CODE,
    output:
        pdf=report(
            "results/{mode}/figures/learning_curves.pdf",
            category="Training",
            caption="../report/learning_curves.rst",
        ),
        png="results/{mode}/figures/learning_curves.png",
    log:
        "results/{mode}/logs/figures/learning_curves.log",
    conda:
        "../envs/figures.yaml"
    script:
        "../scripts/figures/learning_curves.py"


rule controller_comparison:
    input:
        run=downloaded,
        code=FIGURE_CODE,
    output:
        pdf=report(
            "results/{mode}/figures/controller_comparison.pdf",
            category="Evaluation",
            caption="../report/controller_comparison.rst",
        ),
        png="results/{mode}/figures/controller_comparison.png",
    log:
        "results/{mode}/logs/figures/controller_comparison.log",
    conda:
        "../envs/figures.yaml"
    script:
        "../scripts/figures/controller_comparison.py"


rule plots:
    input:
        expand(
            "results/{{mode}}/figures/{name}.{ext}", name=FIGURES, ext=["pdf", "png"]
        ),
    output:
        directory("results/{mode}/plots"),
    log:
        "results/{mode}/logs/figures/plots.log",
    conda:
        "../envs/figures.yaml"
    shell:
        "mkdir -p {output} && cp {input} {output}/ 2> {log}"
