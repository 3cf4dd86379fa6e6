"""Upload extraction benchmark: MB/s per DLP worker and latency per file type.

Run: ``.venv/bin/python bench/uploads.py [--runs 20] [--pdf-mb 10]``.

Writes its documents (tests/documents.py's writers, no fixtures): a ``--pdf-mb`` MB PDF
(text pages with a noise image that pads it, as scanned-in reports are), and a DOCX,
XLSX, PPTX and plain-text file of realistic sizes. Each is extracted ``--runs`` times in
ONE worker process (a ``spawn`` process pool of one, as the gateway's DLP pool runs
``files.extract.extract_text``), each job timed from submission to result (the bytes'
pickling included). Prints per type: size, MB/s per worker, p50 and p99 per file; the
baseline is SHA-256 of the same bytes in the same worker (the one pass every upload gets
anyway), and each row's ratio to it.

``--scan PROFILE`` (a profile of packaging/demo/dlp-profiles.yaml) then times the whole
upload path in the gateway's own ``DlpRunner`` (one worker): extraction and the DLP scan
of each file's text, as ``addons/uploads.py`` runs it, to size ``dlp.files.timeout_s``.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import io
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import documents
from warden.files import ExtractLimits, extract_text, sniff

DEMO_PROFILES = Path(__file__).resolve().parent.parent / "packaging/demo/dlp-profiles.yaml"
LINE = (
    "Quarterly review {n}: revenue by region, contract 4111 1111 1111 1111 on file; see appendix."
)


def big_pdf(megabytes: float) -> bytes:
    """Text pages (60 lines each), padded to ``megabytes`` with a noise image (flate
    cannot shrink it), as a scanned report with a text layer is."""
    from PIL import Image
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    def document(pad_bytes: int) -> bytes:
        out = io.BytesIO()
        c = canvas.Canvas(out, pagesize=A4, pageCompression=1)
        for page in range(150):
            y = 800
            for n in range(60):
                c.drawString(30, y, LINE.format(n=page * 60 + n))
                y -= 13
            c.showPage()
        side = int((max(pad_bytes, 3) / 3) ** 0.5)
        noise = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
        c.drawImage(ImageReader(noise), 0, 0, width=500, height=500)
        c.showPage()
        c.save()
        return out.getvalue()

    text_only = len(document(0))
    pad = int(megabytes * 1e6) - text_only
    first = len(document(pad)) - text_only  # the image's encoding adds to its bytes
    return document(int(pad * pad / max(first, 1)))


def corpus(pdf_mb: float) -> dict[str, bytes]:
    paragraphs = [LINE.format(n=n) for n in range(3000)]
    return {
        "pdf": big_pdf(pdf_mb),
        "docx": documents.docx(*paragraphs),
        "xlsx": documents.xlsx(*[(n, LINE.format(n=n), n * 1.5) for n in range(5000)]),
        "pptx": documents.pptx(*["\n".join(paragraphs[i : i + 20]) for i in range(0, 600, 20)]),
        "text": "\n".join(paragraphs * 6).encode(),
    }


def _extract(data: bytes) -> int:
    kind, _ = sniff(data)
    return len(extract_text(data, kind, ExtractLimits()))


def _hash(data: bytes) -> int:
    import hashlib

    return len(hashlib.sha256(data).hexdigest())


def timed(pool: concurrent.futures.Executor, job: object, data: bytes, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        pool.submit(job, data).result()  # type: ignore[arg-type]
        times.append(time.perf_counter() - started)
    return times


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--pdf-mb", type=float, default=10.0)
    parser.add_argument("--scan", metavar="PROFILE", help="also time extraction + DLP scan")
    args = parser.parse_args()
    files = corpus(args.pdf_mb)
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        pool.submit(_extract, files["text"][:1000]).result()  # the worker's imports
        for data in files.values():
            pool.submit(_extract, data).result()  # and each library's, once
        print(f"upload extraction, one worker process, {args.runs} runs per type")
        print(
            f"{'type':<6} {'size MB':>8} {'chars':>9} {'MB/s':>8} {'p50 ms':>8} "
            f"{'p99 ms':>8} {'sha256 MB/s':>12} {'x slower':>9}"
        )
        for kind, data in files.items():
            mb = len(data) / 1e6
            chars = pool.submit(_extract, data).result()
            extract = timed(pool, _extract, data, args.runs)
            hashing = timed(pool, _hash, data, args.runs)
            rate = mb / statistics.median(extract)
            base = mb / statistics.median(hashing)
            print(
                f"{kind:<6} {mb:>8.2f} {chars:>9} {rate:>8.1f} "
                f"{statistics.median(extract) * 1000:>8.0f} {p99(extract) * 1000:>8.0f} "
                f"{base:>12.0f} {base / rate:>9.0f}"
            )
    if args.scan:
        asyncio.run(scan_path(files, args.scan, args.runs))


async def scan_path(files: dict[str, bytes], profile: str, runs: int) -> None:
    import yaml

    from warden.dlp import DlpRunner, load_profiles

    profiles = load_profiles(yaml.safe_load(DEMO_PROFILES.read_text(encoding="utf-8")))
    runner = DlpRunner(
        {profile: profiles[profile]},
        hash_keys={profile: b"k" * 32},
        workers=1,
        timeout=600,
        file_timeout=600,
    )
    await runner.start()
    try:
        print(f"\nextraction + DLP scan (profile {profile}), the gateway's DlpRunner, 1 worker")
        print(f"{'type':<6} {'size MB':>8} {'MB/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'findings':>9}")
        for kind, data in files.items():
            times: list[float] = []
            found = 0
            for _ in range(runs):
                started = time.perf_counter()
                scan = await runner.scan_file(
                    data, sniff(data)[0], profile, "files[0]", ExtractLimits()
                )
                times.append(time.perf_counter() - started)
                found = sum(f.count for f in scan.findings)
            mb = len(data) / 1e6
            print(
                f"{kind:<6} {mb:>8.2f} {mb / statistics.median(times):>8.2f} "
                f"{statistics.median(times) * 1000:>8.0f} {p99(times) * 1000:>8.0f} {found:>9}"
            )
    finally:
        await runner.close()


if __name__ == "__main__":
    main()
