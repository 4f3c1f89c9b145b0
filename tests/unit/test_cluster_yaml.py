import json
from pathlib import Path

import jsonschema
import ray.autoscaler
import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_cluster_yaml_matches_the_launcher_schema() -> None:
    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    cluster = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    jsonschema.validate(cluster, schema)
    types = cluster["available_node_types"]
    assert types[cluster["head_node_type"]]["node_config"]["InstanceType"].startswith("m")
    gpu = [t for name, t in types.items() if name != cluster["head_node_type"]]
    assert gpu and all(t["max_workers"] > t["min_workers"] for t in gpu)


def cluster() -> dict:
    return yaml.safe_load((ROOT / "cluster.yaml").read_text())


def test_the_dashboard_listens_on_loopback_and_every_node_asks_for_the_token() -> None:
    config = cluster()
    head = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head and "0.0.0.0" not in head
    for commands in (config["head_start_ray_commands"], config["worker_start_ray_commands"]):
        (start,) = [c for c in commands if "ray start" in c]
        assert "RAY_AUTH_MODE=token" in start and "RAY_AUTH_TOKEN_PATH=" in start
    token = next(c for c in config["head_start_ray_commands"] if "ray start" in c)
    token_path = token.split("RAY_AUTH_TOKEN_PATH=", 1)[1].split()[0]
    mounted = {k.replace("/home/ubuntu", "~") for k in config["file_mounts"]}
    assert token_path in mounted  # the token file reaches every node


def test_nodes_get_credentials_from_their_role_and_no_secret_is_written_down() -> None:
    config = cluster()
    for node_type in config["available_node_types"].values():
        assert node_type["node_config"]["IamInstanceProfile"]
    text = (ROOT / "cluster.yaml").read_text()
    assert "AWS_SECRET_ACCESS_KEY" not in text and "AWS_ACCESS_KEY_ID" not in text


def test_local_state_is_not_shipped_to_the_cluster() -> None:
    excluded = set(cluster()["rsync_exclude"])
    assert {"var", ".venv", ".git"} <= excluded
