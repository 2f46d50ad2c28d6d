"""Training and judging the emotion CNN: `python -m fer.train | evaluate | calibrate | export | soup`.

`loop` is the training loop (settings in `config`, batches from `augment` and `targets`, data from `data`);
`evaluate` / `calibrate` / `export` turn a checkpoint into the app's model; `runs` / `history` are what the
training page starts, follows and promotes; `contributions` are the face crops visitors chose to give.
"""
