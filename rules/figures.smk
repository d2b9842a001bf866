FIGURES = ["learning_curves", "controller_comparison"]


rule learning_curves:
    input:
        downloaded,
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
        downloaded,
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
