"""Choosing an executor (--executor, --address, reelmake.toml), how many Ray workers a backend gets and
why, and editor pieces made once when cuts run at once. No cluster is started here (see
tests/test_ray_executor.py for that)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from reelmake.cli import main
from reelmake.edit.once import make_once
from reelmake.engine.config import read_config
from reelmake.engine.executors import ExecutorChoice, choose_executor
from reelmake.errors import StoryboardError


def test_the_default_is_in_process_and_reelmake_toml_can_choose_ray(tmp_path):
    assert choose_executor(None, None, tmp_path) == ExecutorChoice("in-process", None)
    (tmp_path / "reelmake.toml").write_text('executor = "ray"\n\n[ray]\naddress = "ray://head:10001"\n')
    assert choose_executor(None, None, tmp_path) == ExecutorChoice("ray", "ray://head:10001")
    assert choose_executor(None, "127.0.0.1:6379", tmp_path) == ExecutorChoice("ray", "127.0.0.1:6379")
    assert choose_executor("in-process", None, tmp_path) == ExecutorChoice("in-process", None)


def test_reelmake_toml_mistakes_are_named(tmp_path):
    config = tmp_path / "reelmake.toml"
    config.write_text('executor = "spark"\n')
    with pytest.raises(StoryboardError, match="'spark' is not one of in-process, ray"):
        choose_executor(None, None, tmp_path)
    config.write_text('executor = "ray"\nray = "auto"\n')
    with pytest.raises(StoryboardError, match=r"reelmake.toml:2: ray must be a table \(\[ray\] with address\)"):
        choose_executor(None, None, tmp_path)
    config.write_text("executor = ray\n")
    with pytest.raises(StoryboardError, match="not valid TOML"):
        read_config(tmp_path)
    config.write_text("[ray]\naddress = 6379\n")
    with pytest.raises(StoryboardError, match=r"reelmake.toml:2: ray.address must be str \(the Ray cluster"):
        read_config(tmp_path)
    config.write_text("[ray]\naddres = 'auto'\n")
    with pytest.raises(StoryboardError, match=r"reelmake.toml:2: unknown setting 'ray.addres'"):
        read_config(tmp_path)
    config.unlink()
    with pytest.raises(StoryboardError, match="names a Ray cluster; add --executor ray"):
        choose_executor(None, "auto", tmp_path)


def test_the_cli_refuses_an_address_without_ray(project):
    path = project.write("""
        reelmake: 1
        title: T
        defaults: {backend: animatic, duration: 1}
        shots: [{id: one, prompt: "a shot"}]
    """)
    result = CliRunner().invoke(main, ["render", str(path), "--address", "127.0.0.1:6379",
                                       "--cache-dir", str(project.root / ".reelmake")])
    assert result.exit_code == 1 and "add --executor ray" in result.stderr and "Traceback" not in result.output


# -- how many workers ----------------------------------------------------------------------------

ray_render = pytest.importorskip("reelmake.engine.executors.ray_render", reason="needs the reelmake[ray] extra")
Node = ray_render.NodeFacts


def test_a_gpu_backend_gets_one_worker_per_gpu():
    nodes = [Node("a", "10.0.0.1", 32, 8), Node("b", "10.0.0.2", 32, 4)]
    place = ray_render.placement("local", True, {}, nodes, shots=1600, cap=None)
    assert (place.count, place.gpu, place.nodes) == (12, True, ())
    assert "one per GPU (12 GPU(s) on 2 nodes)" in place.reason
    settings = ray_render.actor_settings({"devices": ["cuda:0", "cuda:1"], "steps": 30}, True, place)
    assert settings == {"device": "cuda", "steps": 30}  # Ray gives each actor its own GPU, seen as cuda:0


def test_without_gpus_a_gpu_backend_gets_one_cpu_worker_per_node_and_says_why():
    nodes = [Node("a", "10.0.0.1", 16, 0), Node("b", "10.0.0.2", 16, 0)]
    place = ray_render.placement("local", True, {}, nodes, shots=10, cap=None)
    assert (place.count, place.gpu, place.nodes) == (2, False, ("a", "b"))
    assert "the cluster has no GPU: one CPU worker per node (2 nodes)" in place.reason
    assert "whole copy of the model" in place.reason
    asked = ray_render.placement("local", True, {"device": "cpu"}, [Node("a", "x", 8, 4)], shots=3, cap=None)
    assert (asked.count, asked.gpu) == (1, False) and "the storyboard says device: cpu" in asked.reason
    assert ray_render.actor_settings({"device": "cuda:1"}, True, asked)["device"] == "cpu"


def test_a_cpu_backend_gets_one_worker_per_cpu_capped_by_shots_and_jobs():
    nodes = [Node("a", "x", 8, 0), Node("b", "y", 4, 2)]
    assert ray_render.placement("animatic", False, {}, nodes, shots=100, cap=None).count == 12
    few = ray_render.placement("animatic", False, {}, nodes, shots=3, cap=None)
    assert few.count == 3 and "3 of them for 3 shot(s)" in few.reason
    capped = ray_render.placement("animatic", False, {}, nodes, shots=100, cap=5)
    assert capped.count == 5 and "capped at 5 by --jobs" in capped.reason
    assert ray_render.actor_settings({"max_concurrency": 2}, False, capped) == {"max_concurrency": 2}


def test_loopback_addresses_are_recognised():
    from reelmake.engine.executors.ray_executor import _on_loopback

    assert _on_loopback("127.0.0.1:6379") and _on_loopback("localhost:6379") and _on_loopback("ray://127.0.0.1:10001")
    assert _on_loopback("[::1]:6379")
    assert not _on_loopback("auto") and not _on_loopback("10.0.0.5:6379") and not _on_loopback("head:6379")


# -- pieces made once ----------------------------------------------------------------------------

def test_a_piece_wanted_by_concurrent_cuts_is_made_once(tmp_path):
    dest = tmp_path / "clips" / "piece.mov"
    made: list[int] = []
    results: list[bool] = []

    def make(tmp: Path) -> None:
        made.append(threading.get_ident())
        time.sleep(0.3)  # a slow encode: the others arrive while it runs
        tmp.write_bytes(b"frames")

    threads = [threading.Thread(target=lambda: results.append(make_once(dest, make, tmp_path / "locks")))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 1 and sorted(results) == [False, False, False, True]
    assert dest.read_bytes() == b"frames" and not list(dest.parent.glob(".*"))


def test_ray_workers_are_kept_from_every_hosted_backends_keys():
    pytest.importorskip("ray")
    from reelmake.backends.fal.backend import FalBackend
    from reelmake.backends.kling.backend import KlingBackend
    from reelmake.backends.wavespeed.backend import WaveSpeedBackend
    from reelmake.engine.executors.ray_executor import HOST_KEYS

    assert {*FalBackend.key_envs, *KlingBackend.key_envs, *WaveSpeedBackend.key_envs} <= set(HOST_KEYS)
