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
