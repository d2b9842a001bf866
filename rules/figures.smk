

rule merge:
    input:
        parts=merge_inputs,
        complete=completions,
    output:
        directory("results/{mode}/merged/{merged}"),
    log:
        "results/{mode}/logs/merge-{merged}.log",
    conda:
        "../envs/workflow.yaml"
    script:
        "../scripts/merge.py"


# one rule per row of the figure table (thesis_figures.catalog): each reads the downloaded results
# and the plotting code it runs (the shared modules and its own), so editing one figure's module
# reruns that figure only.  The report shows the PNG (every browser draws it inline; the PDF is
# the thesis's copy)
for _figure in FIGURES:

    rule:
        name:
            _figure.name
        input:
            run=downloaded,
            complete=completions,
            code=figure_code(_figure),
        output:
            pdf=f"results/{{mode}}/figures/{_figure.name}.pdf",
            png=report(
                f"results/{{mode}}/figures/{_figure.name}.png",
                category=_figure.category,
                caption=f"../report/{_figure.name}.rst",
            ),
        log:
            f"results/{{mode}}/logs/figures/{_figure.name}.log",
        conda:
            "../envs/workflow.yaml"
        params:
            run=caption_fact("run"),
            seeds=caption_fact("seeds"),
            draws=caption_fact("draws"),
            level=caption_fact("level"),
            levels=caption_fact("levels"),
            test=caption_fact("test"),
        script:
            "../scripts/figure.py"


rule tables:
    input:
        run=downloaded,
        complete=completions,
        code=TABLE_CODE,
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
        "../envs/workflow.yaml"
    params:
        run=caption_fact("run"),
        seeds=caption_fact("seeds"),
        draws=caption_fact("draws"),
        test=caption_fact("test"),
    script:
        "../scripts/tables.py"


rule track:
    input:
        parts=lambda wc: downloaded_parts(wc.mode),
        complete=completions,
        figures=expand(
            "results/{{mode}}/figures/{name}.{ext}",
            name=[f.name for f in FIGURES],
            ext=["pdf", "png"],
        ),
        tables="results/{mode}/tables",
    output:
        "results/{mode}/mlflow.json",
    log:
        "results/{mode}/logs/mlflow.log",
    conda:
        "../envs/workflow.yaml"
    params:
        settings=config["mlflow"],
    script:
        "../scripts/track.py"


rule plots:
    input:
        figures=expand(
            "results/{{mode}}/figures/{name}.{ext}",
            name=[f.name for f in FIGURES],
            ext=["pdf", "png"],
        ),
        tables="results/{mode}/tables",
        tracked=tracking,
    output:
        directory("results/{mode}/plots"),
    log:
        "results/{mode}/logs/figures/plots.log",
    conda:
        "../envs/workflow.yaml"
    shell:
        "mkdir -p {output} && cp {input.figures} {output}/ 2> {log}"
        ' && echo "copied $(ls {output} | wc -l) figure files into {output}" >> {log}'
