"""Low-rank RNNs by regression on the flip-flop and decision tasks, and input-driven flows, against BPTT."""
