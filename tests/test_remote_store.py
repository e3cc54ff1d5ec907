"""The remote clip store on its own: reelmake.toml, URLs, a NAS (file://) remote with the free animatic,
push and pull, partial uploads, and the faults: an unreachable remote degrades to local-only without
paying, wrong credentials are a clear error. Planning 1,000 shots against the loopback S3 server is
timed (issue 17: under 2 s)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from reelmake.cli import main
from reelmake.engine.config import read_config
from reelmake.engine.api import render
from reelmake.engine.project import Project
from reelmake.engine.remote import RemoteStore
from reelmake.errors import RemoteRefused, StoryboardError
from tests.fakes.s3 import MotoServer, s3, s3_server  # noqa: F401 - fixtures

SHOTS = [{"id": f"s{i}", "prompt": f"Shot {i}", "duration": 1} for i in range(3)]


def checkout(root: Path, remote: str | None, shots: list[dict] = SHOTS, backend: str = "animatic",
             extra: str = "") -> Path:
    (root / ".git").mkdir(parents=True)
    if remote is not None:
        (root / "reelmake.toml").write_text(f'remote = "{remote}"\n{extra}')
    board = {"reelmake": 1, "title": "Store", "defaults": {"backend": backend, "duration": 1}, "shots": shots}
    path = root / "spot.yaml"
    path.write_text(yaml.safe_dump(board, sort_keys=False))
    return path


def open_project(path: Path) -> Project:
    return Project.open(path, cache_dir=path.parent / ".reelmake")


# -- reelmake.toml and URLs ---------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "message"), [
    ('remote = "s3://b"\nremtoe = 1\n', "reelmake.toml:2: unknown setting 'remtoe' (known: claim_heartbeat"),
    ("remote = 3\n", "reelmake.toml:1: remote must be str"),
    ('remote = "s3://b\n', "reelmake.toml: "),
])
def test_a_bad_reelmake_toml_is_an_error_naming_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "reelmake.toml").write_text(text)
    with pytest.raises(StoryboardError) as caught:
        read_config(tmp_path)
    assert message in str(caught.value)


def test_the_environment_overrides_and_turns_off_the_remote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = checkout(tmp_path, "file:///nowhere/team")
    assert open_project(path).remote().url == "file:///nowhere/team"
    monkeypatch.setenv("REELMAKE_REMOTE", "s3://other/prefix")
    assert open_project(path).remote().url == "s3://other/prefix"
    monkeypatch.setenv("REELMAKE_REMOTE", "none")
    assert open_project(path).remote() is None


@pytest.mark.parametrize("url", ["ftp://host/x", "s3://", "file://relative/path", "bucket/prefix"])
def test_a_remote_url_reelmake_cannot_use_is_a_clear_error(url: str) -> None:
    with pytest.raises(StoryboardError, match="remote"):
        RemoteStore.open(url)


# -- a NAS remote (file://) with the free animatic ------------------------------------------------------
def test_a_nas_remote_shares_clips_and_push_pull_move_them(tmp_path: Path) -> None:
    share = tmp_path / "nas"
    share.mkdir()
    alice = checkout(tmp_path / "alice", f"file://{share}")
    render(alice, cache_dir=alice.parent / ".reelmake", cut=False)
    published = sorted(p.name for p in (share / "clips").iterdir())
    assert len(published) == 6 and not any(name.endswith(".part") for name in published)

    bob = checkout(tmp_path / "bob", f"file://{share}")
    rows = open_project(bob).plan().to_json()["shots"]
    assert {(r["status"], r["where"]) for r in rows} == {("cached", "remote")}
    result = CliRunner().invoke(main, ["pull", str(bob), "--cache-dir", str(bob.parent / ".reelmake"), "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)["moved"]) == 3
    assert {r["where"] for r in open_project(bob).plan().to_json()["shots"]} == {"local"}

    carol = checkout(tmp_path / "carol", None)  # renders alone, then publishes with `reelmake push`
    render(carol, cache_dir=carol.parent / ".reelmake", cut=False)
    (carol.parent / "reelmake.toml").write_text(f'remote = "file://{tmp_path / "nas2"}"\n')
    (tmp_path / "nas2").mkdir()
    pushed = CliRunner().invoke(main, ["push", str(carol), "--cache-dir", str(carol.parent / ".reelmake")])
    assert pushed.exit_code == 0 and "pushed 3, 0 already there" in pushed.output
    again = CliRunner().invoke(main, ["push", str(carol), "--cache-dir", str(carol.parent / ".reelmake")])
    assert "pushed 0, 3 already there" in again.output


def test_a_clip_without_its_sidecar_is_not_published(tmp_path: Path) -> None:
    """A crash between uploading the clip and publishing its sidecar leaves nothing anyone uses."""
    share = tmp_path / "nas"
    alice = checkout(tmp_path / "alice", f"file://{share}")
    key = open_project(alice).jobs[""][0].key
    (share / "clips").mkdir(parents=True)
    (share / "clips" / f"{key}.mp4").write_bytes(b"half an upload")
    row = open_project(alice).plan().to_json()["shots"][0]
    assert (row["status"], row["where"]) == ("new", None)


def test_push_without_a_remote_says_how_to_set_one(tmp_path: Path) -> None:
    path = checkout(tmp_path, None)
    result = CliRunner().invoke(main, ["push", str(path)])
    assert result.exit_code == 1 and "reelmake.toml" in result.output and "Traceback" not in result.output


# -- faults -----------------------------------------------------------------------------------------------
def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_remote_degrades_to_local_only_and_never_submits(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    free = checkout(tmp_path / "free", "s3://team/prefix")
    started = time.monotonic()
    plan = open_project(free).plan()
    assert [r.status for r in plan.rows] == ["new"] * 3 and "unreachable" in caplog.text
    summary = render(free, cache_dir=free.parent / ".reelmake", cut=False)
    assert summary.result.failures() == []  # free shots render here; they are pushed later
    assert time.monotonic() - started < 30

    from tests.engine_backend import install, submissions  # a counting paid backend

    install()
    paid = checkout(tmp_path / "paid", "s3://team/prefix", backend="counting")
    board = yaml.safe_load(paid.read_text())
    board["backends"] = {"counting": {"state": str(tmp_path / "provider.json")}}
    paid.write_text(yaml.safe_dump(board))
    summary = render(paid, cache_dir=paid.parent / ".reelmake", cut=False, yes=True)
    assert submissions(tmp_path / "provider.json")["submissions"] == 0  # nobody can be told: nothing is paid
    assert {f["status"] for f in summary.result.failures()} == {"skipped"}
    assert "REELMAKE_REMOTE=none" in summary.result.failures()[0]["error"]


def test_wrong_credentials_are_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = MotoServer(auth=True)
    try:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG1")
        path = checkout(tmp_path, "s3://team/prefix")
        with pytest.raises(RemoteRefused, match="AWS_ACCESS_KEY_ID"):
            open_project(path).plan()
        result = CliRunner().invoke(main, ["plan", str(path), "--cache-dir", str(tmp_path / ".reelmake")])
        assert result.exit_code == 1 and "refused this machine" in result.output and "Traceback" not in result.output
    finally:
        server.close()


# -- scale ------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_planning_1000_shots_against_the_remote_is_one_listing(tmp_path: Path, s3: MotoServer,  # noqa: F811
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """No round trip per shot: the whole plan is one listing of the bucket (its time is printed; the
    number for the README comes from bench/bench_remote.py on a quiet machine)."""
    bucket = s3.bucket()
    shots = [{"id": f"s{i:04d}", "prompt": f"Shot {i}", "duration": 1} for i in range(1000)]
    path = checkout(tmp_path, f"s3://{bucket}/team", shots)
    project = open_project(path)
    sidecar = json.dumps({"sha256": "0" * 64, "size_bytes": 1}).encode()
    s3.filesystem().pipe({f"{bucket}/team/clips/{job.key}.{ext}": sidecar
                          for job in project.jobs[""] for ext in ("mp4", "json")})
    calls: list[str] = []
    for name in ("names", "read", "sidecar"):
        method = getattr(RemoteStore, name)
        monkeypatch.setattr(RemoteStore, name, lambda self, *a, _m=method, _n=name, **k: calls.append(_n) or _m(self, *a, **k))
    started = time.perf_counter()
    plan = open_project(path).plan()
    elapsed = time.perf_counter() - started
    assert {(r.status, r.where) for r in plan.rows} == {("cached", "remote")} and len(plan.rows) == 1000
    assert calls == ["names"]
    print(f"\nplan of 1,000 shots against the loopback S3 server: {elapsed:.2f} s")


# -- the conditional create claims rely on -------------------------------------------------------------------
@pytest.fixture(params=["file", "s3"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> RemoteStore:
    if request.param == "file":
        return RemoteStore.open(f"file://{tmp_path / 'nas'}")
    server = request.getfixturevalue("s3")
    return RemoteStore.open(f"s3://{server.bucket()}/team")


def test_exactly_one_of_many_machines_creates_a_claim(any_store: RemoteStore) -> None:
    from concurrent.futures import ThreadPoolExecutor

    path = any_store.claim_path("k" * 64)
    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(lambda i: any_store.create(path, f"machine {i}".encode()), range(8)))
    assert won.count(True) == 1
    assert any_store.read(path) == f"machine {won.index(True)}".encode()
    any_store.delete(path)
    assert any_store.read(path) is None and any_store.create(path, b"again")


# -- images and the classification of faults ------------------------------------------------------------------
def test_a_pulled_image_is_stored_and_found_as_a_rendered_one(tmp_path: Path) -> None:
    """The remote keeps every clip as <key>.mp4; a pulled .png is kept locally as .png, so get() finds it
    and the next run does not pull it again."""
    from reelmake.engine.clips import ClipStore

    key = "ab" + "0403" * 15 + "01"
    image = tmp_path / "still.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n not really an image")
    alice = ClipStore(tmp_path / "alice")
    entry = alice.put(key, image, {"backend": "animatic"})
    assert entry.clip.suffix == ".png" and entry.meta["suffix"] == ".png"
    (tmp_path / "nas").mkdir()
    remote = RemoteStore.open(f"file://{tmp_path / 'nas'}")
    assert remote.publish(entry, "alice")
    assert (tmp_path / "nas" / "clips" / f"{key}.mp4").is_file()

    bob = ClipStore(tmp_path / "bob")
    pulled = remote.pull(key, bob, tmp_path / "tmp")
    assert pulled.entry is not None and pulled.entry.clip.suffix == ".png"
    found = bob.get(key, verify=True)
    assert found is not None and found.clip == bob.clip_path(key) == pulled.entry.clip
    assert found.sha256 == entry.sha256 and found.meta["suffix"] == ".png"
    assert found.clip.read_bytes() == entry.clip.read_bytes()
    assert not any((tmp_path / "tmp").iterdir())


def test_status_digits_in_a_message_are_not_refused_credentials(tmp_path: Path) -> None:
    """A connection error names object URLs whose hex keys may hold "401" or "403": unreachable, not refused;
    the service's own code or HTTP status, or a PermissionError, is what says refused."""
    from reelmake.errors import RemoteUnavailable

    def raised(exc: Exception) -> type:
        store = RemoteStore.open(f"file://{tmp_path / 'nas'}")
        with pytest.raises((RemoteRefused, RemoteUnavailable)) as caught:
            with store._io("testing"):
                raise exc
        return type(caught.value)

    url = "http://10.0.0.1:9000/team/clips/" + "4031" * 16 + ".json"
    assert raised(ConnectionError(f"Could not connect to the endpoint URL: {url!r}")) is RemoteUnavailable
    assert raised(OSError(f"[Errno 111] Connection refused: {url} (401)")) is RemoteUnavailable

    class ClientError(Exception):
        def __init__(self, code: str, status: int) -> None:
            super().__init__(f"An error occurred ({code}) when calling the HeadObject operation: {url}")
            self.response = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}

    class HttpError(Exception):
        code = 401

    assert raised(ClientError("403", 403)) is RemoteRefused
    assert raised(ClientError("InvalidAccessKeyId", 403)) is RemoteRefused
    assert raised(ClientError("SlowDown", 503)) is RemoteUnavailable
    assert raised(HttpError("Invalid Credentials")) is RemoteRefused
    assert raised(PermissionError("The AWS Access Key Id you provided does not exist")) is RemoteRefused
    try:
        raise ClientError("AccessDenied", 403)
    except ClientError as cause:
        wrapped = OSError("something went wrong")
        wrapped.__cause__ = cause
    assert raised(wrapped) is RemoteRefused
