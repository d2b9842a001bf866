FIGURES = {
    "learning_curves": "Training",
    "controller_comparison": "Evaluation",
    "spacetime_density": "Traffic dynamics",
    "spacetime_speed": "Traffic dynamics",
    "queues": "Traffic dynamics",
    "riemann": "Validation",
}
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
            category=FIGURES["learning_curves"],
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
            category=FIGURES["controller_comparison"],
            caption="../report/controller_comparison.rst",
        ),
        png="results/{mode}/figures/controller_comparison.png",
    log:
        "results/{mode}/logs/figures/controller_comparison.log",
    conda:
        "../envs/figures.yaml"
    script:
        "../scripts/figures/controller_comparison.py"


rule spacetime_density:
    input:
        run=downloaded,
        code=FIGURE_CODE,
    output:
        pdf=report(
            "results/{mode}/figures/spacetime_density.pdf",
            category=FIGURES["spacetime_density"],
            caption="../report/spacetime_density.rst",
        ),
        png="results/{mode}/figures/spacetime_density.png",
    log:
        "results/{mode}/logs/figures/spacetime_density.log",
    conda:
        "../envs/figures.yaml"
    script:
        "../scripts/figures/spacetime_density.py"


rule spacetime_speed:
    input:
        run=downloaded,
        code=FIGURE_CODE,
    output:
        pdf=report(
            "results/{mode}/figures/spacetime_speed.pdf",
            category=FIGURES["spacetime_speed"],
            caption="../report/spacetime_speed.rst",
        ),
        png="results/{mode}/figures/spacetime_speed.png",
    log:
        "results/{mode}/logs/figures/spacetime_speed.log",
    conda:
        "../envs/figures.yaml"
    script:
        "../scripts/figures/spacetime_speed.py"


rule queues:
    input:
        run=downloaded,
        code=FIGURE_CODE,
    output:
        pdf=report(
            "results/{mode}/figures/queues.pdf",
            category=FIGURES["queues"],
            caption="../report/queues.rst",
        ),
        png="results/{mode}/figures/queues.png",
    log:
        "results/{mode}/logs/figures/queues.log",
    conda:
        "../envs/figures.yaml"
    script:
        "../scripts/figures/queues.py"


rule riemann:
    input:
        run=downloaded,
        code=FIGURE_CODE,
    output:
        pdf=report(
            "results/{mode}/figures/riemann.pdf",
            category=FIGURES["riemann"],
            caption="../report/riemann.rst",
        ),
        png="results/{mode}/figures/riemann.png",
    log:
        "results/{mode}/logs/figures/riemann.log",
    conda:
        "../envs/figures.yaml"
    script:
        "../scripts/figures/riemann.py"


rule tables:
    input:
        run=downloaded,
        code=FIGURE_CODE,
    output:
        report(
            directory("results/{mode}/tables"),
            patterns=["{name}.csv"],
            category="Tables",
            caption="../report/tables.rst",
        ),
    log:
        "results/{mode}/logs/tables.log",
    conda:
        "../envs/figures.yaml"
    script:
        "../scripts/tables.py"


rule plots:
    input:
        figures=expand(
            "results/{{mode}}/figures/{name}.{ext}",
            name=list(FIGURES),
            ext=["pdf", "png"],
        ),
        tables="results/{mode}/tables",
    output:
        directory("results/{mode}/plots"),
    log:
        "results/{mode}/logs/figures/plots.log",
    conda:
        "../envs/figures.yaml"
    shell:
        "mkdir -p {output} && cp {input.figures} {output}/ 2> {log}"


rule thesis:
    input:
        "results/full/plots",
        "results/full/tables",
