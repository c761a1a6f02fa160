"""The addition problem with (r)PLRNNs trained by BPTT, against an LSTM (Schmidt et al., ICLR 2021)."""
