"""vlab's graded exercises, one folder each (task README, starter, public checks, test guests).

Installed with vlab as ``vlab.exercises``; an instructor's hidden scenarios (``hidden/``) are
never part of the package: ``vlab grade`` finds them in the exercise folder it is given, or
under ``$VLAB_EXERCISES``.
"""
