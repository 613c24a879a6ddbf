"""The training stages of the recipe: config, the loop (accelerate; FSDP at paper scale), checkpoints and resume.

    from prolong.train import TrainParams, train
    run = train(TrainParams.from_yaml("params/tiny/stages/stage1.yaml"))
"""

from prolong.train.config import DataSection, OptimConfig, TrainConfig, TrainParams, lr_at

__all__ = ["DataSection", "OptimConfig", "TrainConfig", "TrainParams", "lr_at", "train"]


def __getattr__(name: str):
    if name == "train":  # lazy: importing the config must not pay for accelerate
        from prolong.train.loop import train

        return train
    raise AttributeError(name)
