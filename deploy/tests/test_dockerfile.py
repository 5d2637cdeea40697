"""The image is multi-stage, runs as a non-root user and has a HEALTHCHECK that works without
a shell (hadolint lints the rest in validate-deploy.sh)."""

import json
import re

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
    assert command[0] == "curl"
    assert command[-1] == "http://127.0.0.1:8080/healthz"
    assert "--fail" in command
    installs = " ".join(rest for keyword, rest in runtime if keyword == "RUN")
    assert "curl" in installs
    entrypoint = [rest for keyword, rest in runtime if keyword == "ENTRYPOINT"]
    assert entrypoint == ['["/usr/local/bin/gatekey"]']


def test_the_build_context_leaves_out_build_output_and_vcs():
    ignored = (ROOT / ".dockerignore").read_text("utf-8").split()
    for entry in (".git", "target", "**/node_modules"):
        assert entry in ignored
    # Every workspace member must stay in the context.
    for member in ("crates", "tests", "Cargo.toml", "Cargo.lock"):
        assert member not in ignored


def test_backstage_image_runs_as_the_node_user():
    runtime = stages(DEPLOY / "compose" / "backstage" / "Dockerfile")[-1]
    assert [rest for keyword, rest in runtime if keyword == "USER"] == ["1000:1000"]
