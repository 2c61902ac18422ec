"""StyleGAN2 synthetic faces of one person: networks, augmentation, training (see train.py)."""
