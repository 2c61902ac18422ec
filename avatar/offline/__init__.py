"""Offline workflows, one module per command; none of them is imported by the serving path
(adaptation runs `adapt` in child processes, by name).

    extract.py        `avatar extract`: aligned face crops, landmarks and a manifest from videos
    generate.py       `avatar gan generate`: synthetic sets (GAN faces kept by identity, selected by expression)
    evaluate.py       `avatar evaluate`: the study's Tables 1-2 (FID/KID/IS, pairwise distances, matching)
    swap_evaluate.py  `avatar swap evaluate`: a presenter's identity/mouth/flicker, with the realism table
    realism.py        the realism table: rendered faces against held-out real ones and real baselines
    presenter_evaluate.py  each person's rows on his own held-out footage
    study/            `avatar study`: swap models that differ only in side B, measured alike
    recipe/           `avatar recipe`: the shipped presenter made from the package registries
    adapt.py          adaptation's steps (extract, train, export), each run in a child process of the app
"""
