"""The training stages of the recipe: config, the loop (accelerate; FSDP at paper scale), checkpoints and resume.

    from prolong.train.config import TrainParams
    from prolong.train.loop import train
    run = train(TrainParams.from_yaml("params/tiny/stages/stage1.yaml"))
"""
