"""The discovery bench's CpuMeter attributes CPU to the part that spent it."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace
from typing import Any

from scripts.benchmarks.workspace import CpuMeter, cpu_ticks

BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass\n"


def test_a_service_that_burns_cpu_is_charged_for_it_and_an_idle_one_is_not() -> None:
    busy = subprocess.Popen([sys.executable, "-c", BURN], start_new_session=True)
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"],
                            start_new_session=True)
    running: Any = {"busy": SimpleNamespace(proc=busy), "idle": SimpleNamespace(proc=idle)}
    meter = CpuMeter(running)
    try:
        meter.start()
        while busy.poll() is None and cpu_ticks(busy.pid) < 0.5 * meter.ticks:
            pass  # the bench's own process spends CPU here too: charged to "bench"
        spent = meter.stop()
    finally:
        busy.kill()
        idle.kill()
        busy.wait()
        idle.wait()
    assert spent["busy"] >= 0.3
    assert spent["idle"] < 0.2
    assert spent["bench"] > 0
    assert spent["total"] >= spent["busy"] + spent["bench"] - 0.2

