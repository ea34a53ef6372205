"""Benchmark of what a person (or cron) waits for before pairscan does anything.

Each case is a fresh `pairs` process (the installed console script of this interpreter's
environment), run `--repeat` times; prints the median and worst wall seconds, and each case's
time beyond bare interpreter start (`python -c pass`, measured in the same run). The peer is
the import of the stack the hourly job computes with (pandas, Numba, statsmodels, ccxt), which
every invocation paid before start-up was made lazy.

Cases: `pairs --help`; a usage error (`pairs scan --bogus`, exit 2); a scan whose hour is
already decided (the demo market; a cron retry: only undelivered tickets are retried).

    python benchmarks/bench_startup.py            # ~30 s
    python benchmarks/bench_startup.py --repeat 3 # quicker, noisier
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PAIRS = str(Path(sys.executable).with_name("pairs"))
PERPS = "BTC/USDT:USDT,ETH/USDT:USDT,SOL/USDT:USDT,LTC/USDT:USDT"


def wall(argv: list[str], cwd: Path, expect: int) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != expect:
        raise SystemExit(f"{argv}: exit {done.returncode}\n{done.stderr.decode()}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    repeat = parser.parse_args().repeat
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as folder:
        root = Path(folder)
        (root / "config.yaml").write_text("data_dir: data\n", encoding="utf-8")
        demo = [PAIRS, "--exchange", "demo"]
        # The hour decided once (this run compiles or loads the kernels; not timed).
        wall([*demo, "scan", "--symbols", PERPS], root, 0)
        cases = {
            "python -c pass (interpreter start)": ([sys.executable, "-c", "pass"], 0),
            "pairs --help": ([PAIRS, "--help"], 0),
            "pairs scan --bogus (usage error)": ([PAIRS, "scan", "--bogus"], 2),
            "pairs scan, hour already decided": ([*demo, "scan", "--symbols", PERPS], 0),
            "peer: import pandas, numba, statsmodels, ccxt": (
                [sys.executable, "-c", "import pandas, numba, statsmodels.api, ccxt"],
                0,
            ),
        }
        times = {
            name: [wall(argv, root, code) for _ in range(repeat)]
            for name, (argv, code) in cases.items()
        }
    bare = statistics.median(times["python -c pass (interpreter start)"])
    print(f"{'case':<48} {'median s':>9} {'worst s':>8} {'beyond start s':>15}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<48} {median:>9.3f} {max(values):>8.3f} {median - bare:>15.3f}")
    peer = statistics.median(times["peer: import pandas, numba, statsmodels, ccxt"])
    helps = statistics.median(times["pairs --help"])
    print(f"\n`pairs --help` takes {helps / peer:.2f}x the time of importing the numeric stack")


if __name__ == "__main__":
    main()
