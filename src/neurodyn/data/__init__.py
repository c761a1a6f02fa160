"""Recordings, trials, binning and the binned-dataset contract: the data every later layer reads."""
