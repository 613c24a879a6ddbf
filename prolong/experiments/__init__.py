"""The paper's experiments: specs (config), their resolution into one graph of runs (graph), the two executors of
that graph (runner: run here, plan for the cluster), a section notebook's entry (section) and `prolong experiment`
(cli)."""
