"""The 'labels' family: several labels per answer (aggregate_labels), judges against
references (judge_agreement), and conflicting labels (used by validate). Steps are registered
in datatools/registry.py."""
