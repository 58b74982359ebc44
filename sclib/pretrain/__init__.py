"""Self-supervised pretraining of the backbones: SimCLR on task images, MLM on task sentences.

Nothing is re-exported here: import from the module that defines a name.
"""
