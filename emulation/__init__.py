"""Emulated GPUs: spec sheets, a device model calibrated to published measurements, and the sessions workers run on."""
