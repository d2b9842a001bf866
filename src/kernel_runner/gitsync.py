"""Pin the exact code a kernel will run: a content hash of the experiment's inputs and a
snapshot commit that never moves the user's branch.

The hash covers the working-tree content of the files that affect a kernel
(tracked and untracked-but-not-ignored files under the experiment paths), so
it changes exactly when the experiment changes, whatever HEAD says.  When
those files differ from HEAD, :func:`snapshot` writes a commit object with a
temporary index (``git read-tree`` + ``add`` + ``write-tree`` +
``commit-tree``) parented on HEAD, and keeps it reachable under
``refs/kernel-runs/<hash>``: iterating never adds commits to a branch.
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
CREDENTIAL_NAMES = ("kaggle.json", ".env", "*.pem", "id_rsa*", "id_ed25519*", "*.key", "credentials*", ".netrc")
_CODE_SUFFIXES = {".py", ".smk", ".md", ".j2"}
_CREDENTIAL_CONTENT = re.compile(r'"key"\s*:\s*"[0-9a-f]{32}"|KAGGLE_KEY\s*=|-----BEGIN [A-Z ]*PRIVATE KEY-----')


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


def looks_like_credential(name: str, data: bytes | None = None) -> bool:
    """True for a file whose name or content suggests a secret (kaggle.json, keys, tokens)."""
    base = os.path.basename(name)
    if any(fnmatch.fnmatch(base, pat) for pat in CREDENTIAL_NAMES):
        return True
    if os.path.splitext(base)[1] in _CODE_SUFFIXES:  # code may mention the pattern (tests, this file)
        return False
    return data is not None and bool(_CREDENTIAL_CONTENT.search(data[:65536].decode("utf-8", "ignore")))


@dataclass
class Snapshot:
    """What sync.json records."""

    sha: str  #: the commit the kernel checks out
    ref: str  #: a ref that points at it (fetchable)
    content_hash: str
    remote: str  #: where the kernel fetches from
    pushed: bool
    head: str  #: the user's HEAD when the snapshot was taken
    snapshotted_changes: list[str]
    created: float

    def to_dict(self) -> dict:
        return asdict(self)


def snapshot(root: Path, paths: list[str], exclude: list[str], chash: str, remote: str | None = None,
             push: bool = False) -> Snapshot:
    """Pin the experiment: HEAD if the experiment files are committed, else a snapshot commit.

    ``remote`` is a git remote name or URL the kernel fetches from (default: this
    repository's path, for the local backend); with ``push`` the snapshot ref is
    pushed there first.  Refuses when the commit would carry a credential file.
    """
    repo = _repo(root)
    if not repo.head.is_valid():
        raise KernelRunnerError(f"{root} has no commit yet: commit the project once (`git commit`) before a run")
    head = repo.head.commit.hexsha
    files = experiment_files(root, paths, exclude)
    changed = []
    for name in files:
        try:
            blob = repo.head.commit.tree / name
            same = blob.data_stream.read() == (root / name).read_bytes()
        except KeyError:
            same = False
        if not same:
            changed.append(name)
    deleted = [
        item.path for item in repo.head.commit.tree.traverse()
        if item.type == "blob" and any(item.path == p or item.path.startswith(p.rstrip("/") + "/") for p in paths)
        and not (root / item.path).exists()
    ]
    sha = head
    if changed or deleted:
        with tempfile.TemporaryDirectory() as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            g = repo.git
            g.read_tree(head, env=env)
            if changed:
                g.update_index("--add", "--", *changed, env=env)
            if deleted:
                g.update_index("--force-remove", "--", *deleted, env=env)
            tree = g.write_tree(env=env)
            message = f"kernel-runner snapshot {chash[:12]} (uncommitted experiment changes)\n\n" + "\n".join(
                f"  {n}" for n in changed + deleted)
            sha = g.commit_tree(tree, "-p", head, "-m", message)
    _refuse_credentials(repo, sha)
    ref = f"{SNAPSHOT_REF}/{chash[:16]}"
    repo.git.update_ref(ref, sha)
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
                    snapshotted_changes=changed + deleted, created=time.time())


def _refuse_credentials(repo, sha: str) -> None:
    bad = [
        item.path for item in repo.commit(sha).tree.traverse()
        if item.type == "blob"
        and looks_like_credential(item.path, item.data_stream.read() if item.size < 65536 else None)
    ]
    if bad:
        raise KernelRunnerError(
            f"refusing to snapshot {bad[0]!r}: it looks like a credential; remove it from git "
            "(`git rm --cached`), keep kaggle.json in ~/.kaggle, and list it in .gitignore")
