"""The image is multi-stage, runs as a non-root user and has a HEALTHCHECK that works without
a shell (hadolint lints the rest in validate-deploy.sh)."""

import fnmatch
import json
import re
import shutil
import subprocess

from conftest import DEPLOY, ROOT


def instructions(path):
    """(instruction, arguments) pairs with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text("utf-8"))
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def stages(path):
    current: list = []
    all_stages = [current]
    for keyword, rest in instructions(path):
        if keyword == "FROM":
            current = [(keyword, rest)]
            all_stages.append(current)
        else:
            current.append((keyword, rest))
    return [stage for stage in all_stages if stage and stage[0][0] == "FROM"]


def test_gatekey_image_is_multi_stage():
    all_stages = stages(DEPLOY / "Dockerfile")
    assert len(all_stages) >= 2
    build, runtime = all_stages[0], all_stages[-1]
    assert build[0][1].startswith("rust:") and build[0][1].endswith("AS build")
    assert "slim" in runtime[0][1]
    runs = " ".join(rest for keyword, rest in build if keyword == "RUN")
    assert "cargo build --release --locked" in runs
    copies = [rest for keyword, rest in runtime if keyword == "COPY"]
    assert copies == ["--from=build /out/gatekey /usr/local/bin/gatekey"]


def test_gatekey_runtime_runs_as_a_numeric_non_root_user():
    runtime = stages(DEPLOY / "Dockerfile")[-1]
    users = [rest for keyword, rest in runtime if keyword == "USER"]
    assert users, "no USER in the runtime stage"
    uid = users[-1].split(":")[0]
    # Numeric, so Kubernetes runAsNonRoot can verify it without /etc/passwd.
    assert uid.isdigit() and int(uid) != 0
    assert uid == "10001"


def test_gatekey_healthcheck_probes_healthz_in_exec_form():
    runtime = stages(DEPLOY / "Dockerfile")[-1]
    (healthcheck,) = [rest for keyword, rest in runtime if keyword == "HEALTHCHECK"]
    command = json.loads(healthcheck.split(" CMD ", 1)[1])
    # The binary probes itself: no shell or curl needed in the image.
    assert command[:2] == ["/usr/local/bin/gatekey", "healthcheck"]
    assert command[-1] == "http://127.0.0.1:8080/healthz"
    installs = " ".join(rest for keyword, rest in runtime if keyword == "RUN")
    assert "curl" not in installs
    entrypoint = [rest for keyword, rest in runtime if keyword == "ENTRYPOINT"]
    assert entrypoint == ['["/usr/local/bin/gatekey"]']


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text("utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_the_build_context_leaves_out_build_output_and_vcs():
    ignored = dockerignore_patterns()
    for entry in (".git", "target", "**/node_modules"):
        assert entry in ignored
    # Every workspace member must stay in the context.
    for member in ("crates", "tests", "Cargo.toml", "Cargo.lock"):
        assert member not in ignored


def test_backstage_image_runs_as_the_node_user():
    runtime = stages(DEPLOY / "compose" / "backstage" / "Dockerfile")[-1]
    assert [rest for keyword, rest in runtime if keyword == "USER"] == ["1000:1000"]


def docker_context_files() -> list[str]:
    """Tracked files that `.dockerignore` leaves in the build context (its patterns are top-level
    names, directory paths, `**/name` and `*.suffix`, which this matcher covers)."""
    patterns = dockerignore_patterns()
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()

    def ignored(path: str) -> bool:
        parts = path.split("/")
        for pattern in patterns:
            if pattern.startswith("**/") and pattern[3:] in parts:
                return True
            if fnmatch.fnmatch(parts[0], pattern) or fnmatch.fnmatch(path, pattern):
                return True
            if path.startswith(pattern.rstrip("/") + "/"):
                return True
        return False

    return [path for path in tracked if not ignored(path)]


def test_the_build_context_holds_the_whole_cargo_workspace(tmp_path):
    for path in docker_context_files():
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / path, target)
    result = subprocess.run(
        ["cargo", "metadata", "--locked", "--offline", "--no-deps", "--format-version", "1"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    packages = {p["name"] for p in json.loads(result.stdout)["packages"]}
    assert {"gatekey", "gatekey-server", "gatekey-cli"} <= packages


def test_the_server_embeds_no_file_from_outside_the_build_context():
    kept = set(docker_context_files())
    for source in (ROOT / "crates").glob("*/src/**/*.rs"):
        text = source.read_text("utf-8")
        for embedded in re.findall(r'include_(?:str|bytes)!\("([^"]+)"\)', text):
            path = (source.parent / embedded).resolve().relative_to(ROOT).as_posix()
            assert path in kept, f"{source} embeds {path}, which .dockerignore leaves out"


def test_the_build_context_holds_what_build_scripts_read():
    # clients/rust/build.rs generates the Rust client (used by the CLI in the binary) from it.
    assert "openapi/gatekey.json" in set(docker_context_files())


def test_example_upstream_image_builds_its_workspace_member_and_runs_unprivileged():
    dockerfile = DEPLOY / "examples" / "orders-service" / "Dockerfile"
    build, runtime = stages(dockerfile)[0], stages(dockerfile)[-1]
    runs = " ".join(rest for keyword, rest in build if keyword == "RUN")
    assert "cargo build --release --locked -p gatekey-example-orders" in runs
    users = [rest for keyword, rest in runtime if keyword == "USER"]
    assert users and users[-1].split(":")[0].isdigit() and users[-1].split(":")[0] != "0"
    # Built from the repository root like Gatekey's image: the example is a workspace member
    # and .dockerignore must keep it in the context.
    assert any(path.startswith("deploy/examples/orders-service/src/")
               for path in docker_context_files())
