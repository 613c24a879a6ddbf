"""The training stages of the recipe: config, the loop (accelerate; FSDP at paper scale), checkpoints and resume.

    from prolong.train.config import TrainParams
    from prolong.train.loop import train
    run = train(TrainParams.from_yaml("params/tiny/stages/stage1.yaml"))
"""

from prolong.runs import ON_STATUS as _ON_STATUS
from prolong.train.model_card import on_status as _card_on_status

# Every process that trains (or evaluates a trained stage) imports this package: a done stage's model gets its card,
# and an evaluation that finishes refreshes the card of the model it evaluated (prolong.runs.ON_STATUS).
if _card_on_status not in _ON_STATUS:
    _ON_STATUS.append(_card_on_status)
