# The thesis chapter (thesis/, compiled with the numbers, figures and tables of one mode) and the
# examiner's archive of a finished run (see kernel_runner.archive; `--config restore=<archive>`).


rule numbers:
    input:
        run=downloaded,
        complete=completions,
        code=NUMBERS_CODE,
    output:
        tex="results/{mode}/thesis/numbers.tex",
        json="results/{mode}/thesis/numbers.json",
    log:
        "results/{mode}/logs/thesis/numbers.log",
    conda:
        "../envs/workflow.yaml"
    script:
        "../scripts/numbers.py"


rule chapter:
    input:
        sources=THESIS_SOURCES,
        numbers="results/{mode}/thesis/numbers.tex",
        figures=expand(
            "results/{{mode}}/figures/{name}.pdf", name=[f.name for f in FIGURES]
        ),
        tables="results/{mode}/tables",
        code=CHAPTER_CODE,
    output:
        report(
            "results/{mode}/thesis/chapter.pdf",
            category="Thesis",
            caption="../report/chapter.rst",
        ),
    log:
        "results/{mode}/logs/thesis/latexmk.log",
    conda:
        "../envs/workflow.yaml"
    params:
        sources=lambda w, input: str(Path(input.sources[0]).parent),
        figures=lambda w, input: str(Path(input.figures[0]).parent),
        epoch=results_epoch,
    script:
        "../scripts/chapter.py"


rule archive:
    input:
        parts=lambda wc: downloaded_parts(wc.mode),
        complete=completions,
    output:
        archive="results/{mode}/archive/arz-rl-{mode}.tar.gz",
        checksum="results/{mode}/archive/arz-rl-{mode}.tar.gz.sha256",
        metadata="results/{mode}/archive/zenodo.json",
    log:
        "results/{mode}/logs/archive.log",
    conda:
        "../envs/workflow.yaml"
    params:
        runs=lambda wc: runs_of(wc.mode),
        root=str(ROOT),
        settings=config.get("archive") or {},
    script:
        "../scripts/archive.py"


rule thesis:
    input:
        "results/full/plots",
        "results/full/tables",
        "results/full/thesis/chapter.pdf",
