"""`base: <file>` in an experiment file: one definition of the tiny base chain, read as if written inline."""

import pytest
import yaml

from prolong.config import ConfigError, read_yaml
from prolong.experiments.config import ExperimentSpec
from prolong.paths import PARAMS_DIR


def test_a_base_chain_file_equals_the_chain_written_inline():
    data = read_yaml(PARAMS_DIR / "tiny" / "experiments" / "T18.yaml")
    assert data["base"] == "params/tiny/base_chain.yaml"
    inline = {**data, "base": read_yaml(PARAMS_DIR / "tiny" / "base_chain.yaml")["stages"]}
    assert ExperimentSpec.from_dict(data, "T18") == ExperimentSpec.from_dict(inline, "T18 inline")
    assert len(ExperimentSpec.from_dict(data, "T18").base) == 4


def test_a_base_file_without_stages_is_an_error_naming_it(tmp_path):
    (tmp_path / "chain.yaml").write_text(yaml.safe_dump({"stage": []}))
    data = {**read_yaml(PARAMS_DIR / "tiny" / "experiments" / "T18.yaml"), "base": str(tmp_path / "chain.yaml")}
    with pytest.raises(ConfigError, match=r"T18: base: .*chain\.yaml has no 'stages' list"):
        ExperimentSpec.from_dict(data, "T18")
