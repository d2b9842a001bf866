"""Pin the exact code a kernel will run: a content hash of the experiment's inputs and a snapshot
commit of just those files, with no history, that travels with the kernel as a git bundle.

The hash covers the working-tree content of the files that affect a kernel (tracked and
untracked-but-not-ignored files under the experiment paths), so it changes exactly when the
experiment changes, whatever HEAD says.  :func:`snapshot` writes those files, as they are in the
working tree, into a commit of their own: no parent (so nothing ever sent carries the
repository's history, where a credential committed once and removed later would still be),
fixed author and dates (so the same content gives the same commit id), built with a temporary
index and ``commit-tree``; it stays reachable under ``refs/kernel-runs/<hash>`` and iterating
never adds commits to a branch.  Every file of it is scanned for secrets before any object is
written (:func:`find_secrets`), and ``git bundle`` packs it into one file the rendered kernel
embeds: the kernel needs no access to any repository.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import KernelRunnerError

SNAPSHOT_REF = "refs/kernel-runs"
#: file names that hold secrets and must never be snapshotted or pushed
CREDENTIAL_NAMES = ("kaggle.json", ".env", "*.pem", "id_rsa*", "id_ed25519*", "*.key", "credentials*", ".netrc",
                    "access_token")
#: the Kaggle-specific shapes, beside detect-secrets' own rules: (rule, pattern)
KAGGLE_SHAPES = (
    ("kaggle-json-key", re.compile(r'"key"\s*:\s*"[0-9a-f]{32}"')),
    ("kaggle-key-assignment", re.compile(r"KAGGLE_KEY\s*[=:]\s*[\"']?[0-9A-Za-z]{16,}")),
    ("kaggle-api-token", re.compile(r"KAGGLE_API_TOKEN\s*[=:]\s*[\"']?[0-9A-Za-z_.-]{16,}")),
    ("key-field-32-hex", re.compile(r"(?im)^\s*[\"']?(?:api[_-]?)?key[\"']?\s*[:=]\s*[\"']?[0-9a-f]{32}\b")),
    ("private-key-block", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
)
ALLOWLIST = "pragma: allowlist secret"  #: a line carrying this is not a secret (detect-secrets' own marker)
#: a snapshot commit's fixed identity and date: the same files give the same commit id
_IDENTITY = {"GIT_AUTHOR_NAME": "kernel-runner", "GIT_AUTHOR_EMAIL": "kernel-runner@localhost",
             "GIT_COMMITTER_NAME": "kernel-runner", "GIT_COMMITTER_EMAIL": "kernel-runner@localhost",
             "GIT_AUTHOR_DATE": "2000-01-01T00:00:00+0000", "GIT_COMMITTER_DATE": "2000-01-01T00:00:00+0000"}


def _repo(root: Path):
    import git

    try:
        return git.Repo(root, search_parent_directories=False)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
        raise KernelRunnerError(f"{root} is not a git repository: run `git init` and commit the project") from exc


def experiment_files(root: Path, paths: list[str], exclude: list[str] = ()) -> list[str]:
    """Tracked and untracked (not ignored) files under ``paths``, sorted, minus ``exclude`` globs."""
    # plain git rather than GitPython here: this runs on every snakemake invocation, and
    # importing GitPython alone costs a noticeable part of a no-op run
    proc = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--", *paths],
                          cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        raise KernelRunnerError(f"{root} is not a git repository ({proc.stderr.strip()}): run `git init` and "
                                "commit the project")
    files = sorted({f for f in proc.stdout.split("\0") if f and (root / f).is_file()})
    return [f for f in files if not any(fnmatch.fnmatch(f, pat) for pat in exclude)]


def content_hash(root: Path, paths: list[str], exclude: list[str] = (), extra: object = None) -> str:
    """sha256 over the names and bytes of the experiment files, combined with ``extra`` (JSON-able)."""
    digest = hashlib.sha256()
    for name in experiment_files(root, paths, exclude):
        data = (root / name).read_bytes()
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return run_digest(digest.hexdigest(), extra)


def run_digest(files_digest: str, extra: object = None) -> str:
    """The digest of one run: the experiment files' digest and the run's own settings."""
    if extra is None:
        return files_digest
    return hashlib.sha256((files_digest + json.dumps(extra, sort_keys=True, default=str)).encode()).hexdigest()


def find_secrets(root: Path, files: list[str]) -> list[tuple[str, int, str]]:
    """(file, line, rule) of everything in ``files`` (relative to ``root``) that looks like a secret:
    a credential's file name, detect-secrets' rules (keys, tokens, high-entropy strings of every
    known provider) and the Kaggle-specific shapes.  A line marked ``pragma: allowlist secret``
    is skipped."""
    from detect_secrets import SecretsCollection
    from detect_secrets.settings import default_settings

    found = []
    with default_settings():
        for name in files:
            if any(fnmatch.fnmatch(os.path.basename(name), pat) for pat in CREDENTIAL_NAMES):
                found.append((name, 0, "credential-file-name"))
                continue
            scan = SecretsCollection(root=str(root))
            scan.scan_file(name)
            found += [(name, secret.line_number, secret.type) for _, secret in scan]
            text = (root / name).read_bytes()[:1 << 20].decode("utf-8", "ignore")
            for rule, pattern in KAGGLE_SHAPES:
                for m in pattern.finditer(text):
                    line = text.count("\n", 0, m.start()) + 1
                    if ALLOWLIST not in text.splitlines()[line - 1]:
                        found.append((name, line, rule))
    return sorted(set(found))


def looks_like_credential(name: str, data: bytes | None = None) -> bool:
    """True for a file whose name or content (``data``) looks like a secret (see :func:`find_secrets`)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / os.path.basename(name)
        path.write_bytes(data or b"")
        return bool(find_secrets(Path(tmp), [path.name]))


@dataclass
class Snapshot:
    """What sync.json records."""

    sha: str  #: the commit the kernel checks out (parentless: the experiment files only)
    ref: str  #: a ref that points at it
    content_hash: str
    remote: str  #: the repository it came from, or the remote it was pushed to
    pushed: bool
    head: str | None  #: the user's HEAD when the snapshot was taken (None: no commit yet)
    snapshotted_changes: list[str]  #: experiment files that differ from HEAD (uncommitted)
    files: int  #: experiment files in the snapshot
    bundle: dict | None  #: {path, bytes, sha256} of the git bundle the kernel carries
    created: float

    def to_dict(self) -> dict:
        return asdict(self)


def snapshot(root: Path, paths: list[str], exclude: list[str], chash: str, remote: str | None = None,
             push: bool = False, bundle: Path | None = None) -> Snapshot:
    """Pin the experiment files as they are in the working tree: a parentless snapshot commit.

    Refuses, naming the file, the line and the rule, when any of them looks like a credential.
    With ``bundle`` the commit is also packed into that git bundle file (what the kernel
    carries); ``remote`` (a git remote name or URL) with ``push`` also receives the snapshot ref,
    which brings no history along.
    """
    repo = _repo(root)
    head = repo.head.commit.hexsha if repo.head.is_valid() else None
    files = experiment_files(root, paths, exclude)
    if not files:
        raise KernelRunnerError(f"no experiment files under {paths} in {root}: check git.experiment_paths")
    secrets = find_secrets(root, files)
    if secrets:
        name, line, rule = secrets[0]
        where = f"{name!r}" + (f" line {line}" if line else "")
        raise KernelRunnerError(
            f"refusing to snapshot {where}: it looks like a credential (rule {rule}; {len(secrets)} finding(s) in "
            "all); take it out of the experiment files (kaggle.json belongs in ~/.kaggle), or mark a false "
            f"alarm with a `{ALLOWLIST}` comment on that line")
    changed = _differs_from_head(repo, root, files) if head else list(files)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(tmp) / "index"), **_IDENTITY}
        _git(root, env, "update-index", "--add", "--", *files)
        tree = _git(root, env, "write-tree")
        message = f"kernel-runner snapshot of {', '.join(paths)} (content {chash[:12]})\n"
        sha = _git(root, env, "commit-tree", tree, "-m", message)
    ref = f"{SNAPSHOT_REF}/{chash[:16]}"
    repo.git.update_ref(ref, sha)
    bundle_info = None
    if bundle is not None:
        bundle.parent.mkdir(parents=True, exist_ok=True)
        _git(root, os.environ, "bundle", "create", str(bundle), ref)
        data = bundle.read_bytes()
        bundle_info = {"path": str(bundle), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    url = str(root.resolve())
    pushed = False
    if remote:
        url = repo.remotes[remote].url if remote in [r.name for r in repo.remotes] else remote
        if push:
            try:
                repo.git.push(remote, f"{sha}:{ref}")
            except Exception as exc:  # GitCommandError carries git's own message
                raise KernelRunnerError(f"git push of the snapshot to {remote!r} failed: {exc}") from exc
            pushed = True
    return Snapshot(sha=sha, ref=ref, content_hash=chash, remote=url, pushed=pushed, head=head,
                    snapshotted_changes=changed, files=len(files), bundle=bundle_info, created=time.time())


def _git(root: Path, env: dict, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=root, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise KernelRunnerError(f"git {args[0]} failed while pinning the experiment: {proc.stderr.strip()}")
    return proc.stdout.strip()


def _differs_from_head(repo, root: Path, files: list[str]) -> list[str]:
    """The experiment files whose working-tree content is not HEAD's (uncommitted changes)."""
    changed = []
    for name in files:
        try:
            same = (repo.head.commit.tree / name).data_stream.read() == (root / name).read_bytes()
        except KeyError:
            same = False
        if not same:
            changed.append(name)
    return changed
